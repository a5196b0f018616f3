// Package kubemodel converts Kubernetes API objects into Palisade's inventory
// model. Both sources, the live sensor and offline manifests, go through it,
// so both produce the same model from the same objects.
package kubemodel

import (
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-project/palisade/internal/model"
)

// ErrUnsupported is wrapped by Convert for objects Palisade does not model.
var ErrUnsupported = fmt.Errorf("kind not modelled")

// Convert turns a typed API object into an inventory object of cluster.
// source is recorded in the object's metadata (a file and document for
// offline input, "live" for the sensor).
func Convert(cluster, source string, obj any) (model.Object, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return workload(cluster, source, model.KindDeployment, &o.ObjectMeta, o.Spec.Selector, o.Spec.Replicas, &o.Spec.Template), nil
	case *appsv1.StatefulSet:
		return workload(cluster, source, model.KindStatefulSet, &o.ObjectMeta, o.Spec.Selector, o.Spec.Replicas, &o.Spec.Template), nil
	case *appsv1.DaemonSet:
		return workload(cluster, source, model.KindDaemonSet, &o.ObjectMeta, o.Spec.Selector, nil, &o.Spec.Template), nil
	case *appsv1.ReplicaSet:
		return workload(cluster, source, model.KindReplicaSet, &o.ObjectMeta, o.Spec.Selector, o.Spec.Replicas, &o.Spec.Template), nil
	case *corev1.ReplicationController:
		var sel *metav1.LabelSelector
		if len(o.Spec.Selector) > 0 {
			sel = &metav1.LabelSelector{MatchLabels: o.Spec.Selector}
		}
		var t corev1.PodTemplateSpec
		if o.Spec.Template != nil {
			t = *o.Spec.Template
		}
		return workload(cluster, source, model.KindReplicationController, &o.ObjectMeta, sel, o.Spec.Replicas, &t), nil
	case *batchv1.Job:
		return workload(cluster, source, model.KindJob, &o.ObjectMeta, o.Spec.Selector, o.Spec.Parallelism, &o.Spec.Template), nil
	case *batchv1.CronJob:
		t := o.Spec.JobTemplate.Spec.Template
		return workload(cluster, source, model.KindCronJob, &o.ObjectMeta, nil, nil, &t), nil
	case *corev1.Pod:
		return pod(cluster, source, o), nil
	case *corev1.Service:
		return service(cluster, source, o), nil
	case *networkingv1.Ingress:
		return ingress(cluster, source, o), nil
	case *networkingv1.NetworkPolicy:
		return networkPolicy(cluster, source, o), nil
	case *corev1.Namespace:
		return &model.Namespace{Meta: meta(cluster, source, &o.ObjectMeta)}, nil
	case *corev1.Node:
		return node(cluster, source, o), nil
	}
	return nil, fmt.Errorf("%T: %w", obj, ErrUnsupported)
}

func meta(cluster, source string, m *metav1.ObjectMeta) model.Meta {
	return model.Meta{
		Cluster:         cluster,
		Namespace:       m.Namespace,
		Name:            m.Name,
		UID:             string(m.UID),
		ResourceVersion: m.ResourceVersion,
		Labels:          nonEmpty(m.Labels),
		Annotations:     dropLastApplied(m.Annotations),
		CreatedAt:       m.CreationTimestamp.Time.UTC(),
		Source:          source,
	}
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// dropLastApplied removes kubectl's last-applied-configuration annotation: it
// repeats the whole object and may hold values nobody should see twice.
func dropLastApplied(m map[string]string) map[string]string {
	const k = "kubectl.kubernetes.io/last-applied-configuration"
	if _, ok := m[k]; !ok {
		return nonEmpty(m)
	}
	out := make(map[string]string, len(m)-1)
	for key, v := range m {
		if key != k {
			out[key] = v
		}
	}
	return nonEmpty(out)
}

func controller(m *metav1.ObjectMeta) *model.OwnerRef {
	for _, r := range m.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return &model.OwnerRef{Kind: r.Kind, Name: r.Name, UID: string(r.UID)}
		}
	}
	return nil
}

func workload(cluster, source string, kind model.Kind, m *metav1.ObjectMeta, sel *metav1.LabelSelector, replicas *int32, t *corev1.PodTemplateSpec) *model.Workload {
	w := &model.Workload{
		Meta:     meta(cluster, source, m),
		Kind:     kind,
		Owner:    controller(m),
		Selector: labelSelector(sel),
		Template: template(t.Labels, t.Annotations, &t.Spec),
	}
	if replicas != nil {
		r := *replicas
		w.Replicas = &r
	}
	return w
}

func pod(cluster, source string, p *corev1.Pod) *model.Workload {
	w := &model.Workload{
		Meta:     meta(cluster, source, &p.ObjectMeta),
		Kind:     model.KindPod,
		Owner:    controller(&p.ObjectMeta),
		Template: template(p.Labels, p.Annotations, &p.Spec),
	}
	st := &model.PodStatus{
		Phase:    string(p.Status.Phase),
		NodeName: p.Spec.NodeName,
		PodIP:    p.Status.PodIP,
		HostIP:   p.Status.HostIP,
	}
	for _, ip := range p.Status.PodIPs {
		st.PodIPs = append(st.PodIPs, ip.IP)
	}
	add := func(typ model.ContainerType, list []corev1.ContainerStatus) {
		for _, cs := range list {
			st.Containers = append(st.Containers, model.ContainerStatus{
				Name:        cs.Name,
				Type:        typ,
				Image:       cs.Image,
				ImageID:     cs.ImageID,
				Digest:      DigestFromImageID(cs.ImageID),
				ContainerID: cs.ContainerID,
				Ready:       cs.Ready,
				Running:     cs.State.Running != nil,
			})
		}
	}
	add(model.ContainerInit, p.Status.InitContainerStatuses)
	add(model.ContainerRegular, p.Status.ContainerStatuses)
	add(model.ContainerEphemeral, p.Status.EphemeralContainerStatuses)
	if st.Phase != "" || st.NodeName != "" || len(st.Containers) > 0 {
		w.Status = st
	}
	return w
}

func template(labels, annotations map[string]string, s *corev1.PodSpec) model.PodTemplate {
	t := model.PodTemplate{
		Labels:         nonEmpty(labels),
		Annotations:    dropLastApplied(annotations),
		ServiceAccount: s.ServiceAccountName,
		HostNetwork:    s.HostNetwork,
		HostPID:        s.HostPID,
		HostIPC:        s.HostIPC,
		NodeName:       s.NodeName,
	}
	if s.OS != nil {
		t.OS = string(s.OS.Name)
	}
	if t.ServiceAccount == "" {
		t.ServiceAccount = s.DeprecatedServiceAccount
	}
	for _, r := range s.ImagePullSecrets {
		t.ImagePullSecrets = append(t.ImagePullSecrets, r.Name)
	}
	psc := s.SecurityContext
	for i := range s.InitContainers {
		t.Containers = append(t.Containers, container(model.ContainerInit, &s.InitContainers[i], psc, annotations))
	}
	for i := range s.Containers {
		t.Containers = append(t.Containers, container(model.ContainerRegular, &s.Containers[i], psc, annotations))
	}
	for i := range s.EphemeralContainers {
		c := corev1.Container(s.EphemeralContainers[i].EphemeralContainerCommon)
		t.Containers = append(t.Containers, container(model.ContainerEphemeral, &c, psc, annotations))
	}
	for _, v := range s.Volumes {
		t.Volumes = append(t.Volumes, volume(v))
	}
	return t
}

func container(typ model.ContainerType, c *corev1.Container, psc *corev1.PodSecurityContext, podAnnotations map[string]string) model.Container {
	out := model.Container{
		Name:            c.Name,
		Type:            typ,
		Image:           ParseImage(c.Image),
		SecurityContext: EffectiveSecurityContext(psc, c.SecurityContext),
	}
	if out.SecurityContext.AppArmorProfile == "" {
		out.SecurityContext.AppArmorProfile = podAnnotations["container.apparmor.security.beta.kubernetes.io/"+c.Name]
	}
	for _, p := range c.Ports {
		out.Ports = append(out.Ports, model.ContainerPort{
			Name:          p.Name,
			ContainerPort: p.ContainerPort,
			HostPort:      p.HostPort,
			HostIP:        p.HostIP,
			Protocol:      protocol(p.Protocol),
		})
	}
	for _, m := range c.VolumeMounts {
		out.VolumeMounts = append(out.VolumeMounts, model.VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return out
}

func protocol(p corev1.Protocol) string {
	if p == "" {
		return string(corev1.ProtocolTCP)
	}
	return string(p)
}

// EffectiveSecurityContext merges the pod-level and container-level security
// contexts the way the kubelet does: container settings win; fields that only
// exist on the container (privileged, capabilities, allowPrivilegeEscalation,
// readOnlyRootFilesystem, procMount) come from it alone.
func EffectiveSecurityContext(psc *corev1.PodSecurityContext, sc *corev1.SecurityContext) model.SecurityContext {
	var out model.SecurityContext
	if psc != nil {
		out.RunAsUser = copyPtr(psc.RunAsUser)
		out.RunAsGroup = copyPtr(psc.RunAsGroup)
		out.RunAsNonRoot = copyPtr(psc.RunAsNonRoot)
		if psc.SeccompProfile != nil {
			out.SeccompProfile = seccomp(psc.SeccompProfile)
		}
		if psc.AppArmorProfile != nil {
			out.AppArmorProfile = string(psc.AppArmorProfile.Type)
		}
		if psc.SELinuxOptions != nil {
			out.SELinuxType = psc.SELinuxOptions.Type
		}
		if psc.WindowsOptions != nil && psc.WindowsOptions.HostProcess != nil {
			out.WindowsHostProcess = *psc.WindowsOptions.HostProcess
		}
	}
	if sc == nil {
		return out
	}
	if sc.Privileged != nil {
		out.Privileged = *sc.Privileged
	}
	out.AllowPrivilegeEscalation = copyPtr(sc.AllowPrivilegeEscalation)
	if sc.ReadOnlyRootFilesystem != nil {
		out.ReadOnlyRootFilesystem = *sc.ReadOnlyRootFilesystem
	}
	if sc.Capabilities != nil {
		for _, c := range sc.Capabilities.Add {
			out.CapAdd = append(out.CapAdd, string(c))
		}
		for _, c := range sc.Capabilities.Drop {
			out.CapDrop = append(out.CapDrop, string(c))
		}
	}
	if sc.ProcMount != nil {
		out.ProcMount = string(*sc.ProcMount)
	}
	if sc.RunAsUser != nil {
		out.RunAsUser = copyPtr(sc.RunAsUser)
	}
	if sc.RunAsGroup != nil {
		out.RunAsGroup = copyPtr(sc.RunAsGroup)
	}
	if sc.RunAsNonRoot != nil {
		out.RunAsNonRoot = copyPtr(sc.RunAsNonRoot)
	}
	if sc.SeccompProfile != nil {
		out.SeccompProfile = seccomp(sc.SeccompProfile)
	}
	if sc.AppArmorProfile != nil {
		out.AppArmorProfile = string(sc.AppArmorProfile.Type)
	}
	if sc.SELinuxOptions != nil && sc.SELinuxOptions.Type != "" {
		out.SELinuxType = sc.SELinuxOptions.Type
	}
	if sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil {
		out.WindowsHostProcess = *sc.WindowsOptions.HostProcess
	}
	return out
}

func seccomp(p *corev1.SeccompProfile) string {
	if p.Type == corev1.SeccompProfileTypeLocalhost && p.LocalhostProfile != nil {
		return "Localhost/" + *p.LocalhostProfile
	}
	return string(p.Type)
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func volume(v corev1.Volume) model.Volume {
	out := model.Volume{Name: v.Name, Type: model.VolumeOther}
	switch {
	case v.HostPath != nil:
		out.Type = model.VolumeHostPath
		out.HostPath = v.HostPath.Path
		if v.HostPath.Type != nil {
			out.HostPathType = string(*v.HostPath.Type)
		}
	case v.Secret != nil:
		out.Type = model.VolumeSecret
		out.SecretName = v.Secret.SecretName
	case v.ConfigMap != nil:
		out.Type = model.VolumeConfigMap
	case v.EmptyDir != nil:
		out.Type = model.VolumeEmptyDir
	case v.PersistentVolumeClaim != nil:
		out.Type = model.VolumePVC
	case v.Projected != nil:
		out.Type = model.VolumeProjected
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				out.ServiceAccountToken = true
			}
		}
	}
	return out
}

func labelSelector(s *metav1.LabelSelector) *model.LabelSelector {
	if s == nil {
		return nil
	}
	out := &model.LabelSelector{MatchLabels: nonEmpty(s.MatchLabels)}
	for _, r := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, model.Requirement{
			Key: r.Key, Operator: string(r.Operator), Values: r.Values,
		})
	}
	return out
}

func service(cluster, source string, s *corev1.Service) *model.Service {
	out := &model.Service{
		Meta:                     meta(cluster, source, &s.ObjectMeta),
		Type:                     string(s.Spec.Type),
		Selector:                 nonEmpty(s.Spec.Selector),
		ClusterIP:                s.Spec.ClusterIP,
		ExternalIPs:              s.Spec.ExternalIPs,
		ExternalName:             s.Spec.ExternalName,
		LoadBalancerSourceRanges: s.Spec.LoadBalancerSourceRanges,
	}
	if out.Type == "" {
		out.Type = string(corev1.ServiceTypeClusterIP)
	}
	for _, p := range s.Spec.Ports {
		sp := model.ServicePort{Name: p.Name, Protocol: protocol(p.Protocol), Port: p.Port, NodePort: p.NodePort}
		if p.TargetPort.Type == intstr.String || p.TargetPort.IntVal != 0 {
			sp.TargetPort = p.TargetPort.String()
		} else {
			sp.TargetPort = strconv.Itoa(int(p.Port))
		}
		out.Ports = append(out.Ports, sp)
	}
	for _, in := range s.Status.LoadBalancer.Ingress {
		out.LoadBalancerIngress = append(out.LoadBalancerIngress, firstNonEmpty(in.IP, in.Hostname))
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func ingressBackend(b *networkingv1.IngressBackend) model.IngressBackend {
	var out model.IngressBackend
	if b.Service != nil {
		out.Service = b.Service.Name
		if b.Service.Port.Name != "" {
			out.Port = b.Service.Port.Name
		} else if b.Service.Port.Number != 0 {
			out.Port = strconv.Itoa(int(b.Service.Port.Number))
		}
	}
	if b.Resource != nil {
		out.Resource = b.Resource.Kind + "/" + b.Resource.Name
	}
	return out
}

func ingress(cluster, source string, i *networkingv1.Ingress) *model.Ingress {
	out := &model.Ingress{Meta: meta(cluster, source, &i.ObjectMeta)}
	if i.Spec.IngressClassName != nil {
		out.ClassName = *i.Spec.IngressClassName
	} else {
		out.ClassName = i.Annotations["kubernetes.io/ingress.class"]
	}
	if i.Spec.DefaultBackend != nil {
		b := ingressBackend(i.Spec.DefaultBackend)
		out.DefaultBackend = &b
	}
	for _, r := range i.Spec.Rules {
		rule := model.IngressRule{Host: r.Host}
		if r.HTTP != nil {
			for _, p := range r.HTTP.Paths {
				ip := model.IngressPath{Path: p.Path, Backend: ingressBackend(&p.Backend)}
				if p.PathType != nil {
					ip.PathType = string(*p.PathType)
				}
				rule.Paths = append(rule.Paths, ip)
			}
		}
		out.Rules = append(out.Rules, rule)
	}
	for _, t := range i.Spec.TLS {
		out.TLSHosts = append(out.TLSHosts, t.Hosts...)
	}
	for _, in := range i.Status.LoadBalancer.Ingress {
		out.LoadBalancerIngress = append(out.LoadBalancerIngress, firstNonEmpty(in.IP, in.Hostname))
	}
	return out
}

func networkPolicy(cluster, source string, p *networkingv1.NetworkPolicy) *model.NetworkPolicy {
	out := &model.NetworkPolicy{Meta: meta(cluster, source, &p.ObjectMeta)}
	if s := labelSelector(&p.Spec.PodSelector); s != nil {
		out.PodSelector = *s
	}
	for _, t := range p.Spec.PolicyTypes {
		out.PolicyTypes = append(out.PolicyTypes, string(t))
	}
	for _, r := range p.Spec.Ingress {
		out.Ingress = append(out.Ingress, policyRule(r.From, r.Ports))
	}
	for _, r := range p.Spec.Egress {
		out.Egress = append(out.Egress, policyRule(r.To, r.Ports))
	}
	return out
}

func policyRule(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) model.NetworkPolicyRule {
	var out model.NetworkPolicyRule
	for _, p := range peers {
		mp := model.NetworkPolicyPeer{
			PodSelector:       labelSelector(p.PodSelector),
			NamespaceSelector: labelSelector(p.NamespaceSelector),
		}
		if p.IPBlock != nil {
			mp.IPBlock = &model.IPBlock{CIDR: p.IPBlock.CIDR, Except: p.IPBlock.Except}
		}
		out.Peers = append(out.Peers, mp)
	}
	for _, p := range ports {
		mp := model.NetworkPolicyPort{EndPort: copyPtr(p.EndPort)}
		if p.Protocol != nil {
			mp.Protocol = string(*p.Protocol)
		} else {
			mp.Protocol = string(corev1.ProtocolTCP)
		}
		if p.Port != nil {
			mp.Port = p.Port.String()
		}
		out.Ports = append(out.Ports, mp)
	}
	return out
}

func node(cluster, source string, n *corev1.Node) *model.Node {
	out := &model.Node{
		Meta:    meta(cluster, source, &n.ObjectMeta),
		Kubelet: n.Status.NodeInfo.KubeletVersion,
		OSImage: n.Status.NodeInfo.OSImage,
		Runtime: n.Status.NodeInfo.ContainerRuntimeVersion,
	}
	for _, a := range n.Status.Addresses {
		switch a.Type {
		case corev1.NodeInternalIP:
			out.InternalIPs = append(out.InternalIPs, a.Address)
		case corev1.NodeExternalIP:
			out.ExternalIPs = append(out.ExternalIPs, a.Address)
		}
	}
	sort.Strings(out.InternalIPs)
	sort.Strings(out.ExternalIPs)
	return out
}
