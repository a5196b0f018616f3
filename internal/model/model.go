// Package model holds Palisade's inventory model: the cluster objects that
// every analysis reads, independent of where they came from (a live API
// server through the sensor, or manifests on disk). It has no dependency on
// Kubernetes client libraries; internal/kubemodel converts API objects into it.
package model

import (
	"fmt"
	"slices"
	"time"
)

// Kind is the Kubernetes kind of a stored object.
type Kind string

// Kinds of objects in the inventory.
const (
	KindDeployment  Kind = "Deployment"
	KindStatefulSet Kind = "StatefulSet"
	KindDaemonSet   Kind = "DaemonSet"
	KindReplicaSet  Kind = "ReplicaSet"
	// KindReplicationController is the deprecated predecessor of ReplicaSet,
	// still found in older manifests.
	KindReplicationController Kind = "ReplicationController"
	KindJob                   Kind = "Job"
	KindCronJob               Kind = "CronJob"
	KindPod                   Kind = "Pod"
	KindService               Kind = "Service"
	KindIngress               Kind = "Ingress"
	KindNetworkPolicy         Kind = "NetworkPolicy"
	KindNamespace             Kind = "Namespace"
	KindNode                  Kind = "Node"
)

// WorkloadKinds are the kinds that carry a pod template (or are a pod).
var WorkloadKinds = []Kind{KindDeployment, KindStatefulSet, KindDaemonSet, KindReplicaSet, KindReplicationController, KindJob, KindCronJob, KindPod}

// AllKinds lists every kind the inventory stores.
var AllKinds = append(append([]Kind(nil), WorkloadKinds...), KindService, KindIngress, KindNetworkPolicy, KindNamespace, KindNode)

// IsWorkloadKind reports whether k carries a pod template.
func IsWorkloadKind(k Kind) bool {
	for _, w := range WorkloadKinds {
		if w == k {
			return true
		}
	}
	return false
}

// DefaultCluster names the cluster of offline input and of a server's
// built-in sensor when no name is configured.
const DefaultCluster = "default"

// Key identifies one stored object. Cluster-scoped kinds (Namespace, Node)
// have an empty Namespace.
type Key struct {
	Cluster   string `json:"cluster"`
	Kind      Kind   `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (k Key) String() string {
	if k.Namespace == "" {
		return fmt.Sprintf("%s/%s/%s", k.Cluster, k.Kind, k.Name)
	}
	return fmt.Sprintf("%s/%s/%s/%s", k.Cluster, k.Kind, k.Namespace, k.Name)
}

// WorkloadRef identifies a top-level workload in answers. Its JSON form is
// part of the documented output schema (docs/output.md).
type WorkloadRef struct {
	Cluster   string `json:"cluster"`
	Kind      Kind   `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r WorkloadRef) String() string {
	return fmt.Sprintf("%s/%s/%s", r.Kind, r.Namespace, r.Name)
}

// Key returns the store key of the workload.
func (r WorkloadRef) Key() Key {
	return Key{Cluster: r.Cluster, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
}

// Meta is the metadata every stored object carries.
type Meta struct {
	Cluster         string            `json:"cluster"`
	Namespace       string            `json:"namespace,omitempty"`
	Name            string            `json:"name"`
	UID             string            `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
	CreatedAt       time.Time         `json:"createdAt,omitzero"`
	// Source says where the object came from: a file and document index for
	// offline input ("deploy.yaml#2"), or "live" for the sensor.
	Source string `json:"source,omitempty"`
}

// OwnerRef is the controller owner reference of an object.
type OwnerRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	UID  string `json:"uid,omitempty"`
}

// Object is implemented by every stored inventory object.
type Object interface {
	ObjectKey() Key
	ObjectMeta() *Meta
}

// Workload is any object with a pod template, and pods themselves. A
// workload with an Owner (a ReplicaSet owned by a Deployment, a Job owned by
// a CronJob, a Pod owned by anything) is not top-level: internal/inventory
// rolls it up to its owner.
type Workload struct {
	Meta
	Kind     Kind           `json:"kind"`
	Owner    *OwnerRef      `json:"owner,omitempty"`
	Selector *LabelSelector `json:"selector,omitempty"`
	Replicas *int32         `json:"replicas,omitempty"`
	Template PodTemplate    `json:"template"`
	// Status is set for pods only.
	Status *PodStatus `json:"status,omitempty"`
}

// ObjectKey implements Object.
func (w *Workload) ObjectKey() Key {
	return Key{Cluster: w.Cluster, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}
}

// ObjectMeta implements Object.
func (w *Workload) ObjectMeta() *Meta { return &w.Meta }

// Ref returns the workload's reference.
func (w *Workload) Ref() WorkloadRef {
	return WorkloadRef{Cluster: w.Cluster, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}
}

// PodTemplate is the pod-level part of a workload.
type PodTemplate struct {
	Labels         map[string]string `json:"labels,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	HostNetwork    bool              `json:"hostNetwork,omitempty"`
	HostPID        bool              `json:"hostPID,omitempty"`
	HostIPC        bool              `json:"hostIPC,omitempty"`
	NodeName       string            `json:"nodeName,omitempty"`
	// OS is spec.os.name ("linux", "windows") when set.
	OS string `json:"os,omitempty"`
	// ImagePullSecrets names the secrets the kubelet uses to pull images.
	ImagePullSecrets []string    `json:"imagePullSecrets,omitempty"`
	Containers       []Container `json:"containers"`
	Volumes          []Volume    `json:"volumes,omitempty"`
}

// ContainerType tells regular containers from init and ephemeral ones.
type ContainerType string

// Container types.
const (
	ContainerRegular   ContainerType = "regular"
	ContainerInit      ContainerType = "init"
	ContainerEphemeral ContainerType = "ephemeral"
)

// Container is one container of a pod template, with its effective security
// context (pod and container levels merged).
type Container struct {
	Name            string          `json:"name"`
	Type            ContainerType   `json:"type"`
	Image           ImageRef        `json:"image"`
	SecurityContext SecurityContext `json:"securityContext"`
	Ports           []ContainerPort `json:"ports,omitempty"`
	VolumeMounts    []VolumeMount   `json:"volumeMounts,omitempty"`
}

// ImageRef is a parsed, normalised image reference: "nginx" is
// docker.io/library/nginx:latest.
type ImageRef struct {
	// Original is the reference as written in the spec.
	Original   string `json:"original"`
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	// Digest is the digest named in the reference itself (pinned).
	Digest string `json:"digest,omitempty"`
	// Error is set when the reference does not parse.
	Error string `json:"error,omitempty"`
}

// Name returns registry/repository.
func (r ImageRef) Name() string {
	if r.Registry == "" {
		return r.Repository
	}
	return r.Registry + "/" + r.Repository
}

// String returns the normalised reference.
func (r ImageRef) String() string {
	if r.Error != "" {
		return r.Original
	}
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// SecurityContext is the effective security context of a container. Pointer
// fields are nil when neither the pod nor the container sets them.
type SecurityContext struct {
	Privileged bool `json:"privileged,omitempty"`
	// AllowPrivilegeEscalation is nil when unset; Kubernetes then allows it.
	AllowPrivilegeEscalation *bool    `json:"allowPrivilegeEscalation,omitempty"`
	RunAsUser                *int64   `json:"runAsUser,omitempty"`
	RunAsGroup               *int64   `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool    `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   bool     `json:"readOnlyRootFilesystem,omitempty"`
	CapAdd                   []string `json:"capAdd,omitempty"`
	CapDrop                  []string `json:"capDrop,omitempty"`
	ProcMount                string   `json:"procMount,omitempty"`
	SeccompProfile           string   `json:"seccompProfile,omitempty"`
	AppArmorProfile          string   `json:"appArmorProfile,omitempty"`
	SELinuxType              string   `json:"seLinuxType,omitempty"`
	WindowsHostProcess       bool     `json:"windowsHostProcess,omitempty"`
}

// ContainerPort is a port a container declares.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
	Protocol      string `json:"protocol"`
}

// VolumeMount is a volume mounted into a container.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// Volume types Palisade tells apart.
const (
	VolumeHostPath  = "hostPath"
	VolumeSecret    = "secret"
	VolumeConfigMap = "configMap"
	VolumeProjected = "projected"
	VolumeEmptyDir  = "emptyDir"
	VolumePVC       = "persistentVolumeClaim"
	VolumeOther     = "other"
)

// Volume is a pod volume.
type Volume struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	HostPath     string `json:"hostPath,omitempty"`
	HostPathType string `json:"hostPathType,omitempty"`
	SecretName   string `json:"secretName,omitempty"`
	// ServiceAccountToken is set for projected volumes with a token source.
	ServiceAccountToken bool `json:"serviceAccountToken,omitempty"`
}

// PodStatus is what a running pod reports.
type PodStatus struct {
	Phase      string            `json:"phase,omitempty"`
	NodeName   string            `json:"nodeName,omitempty"`
	PodIP      string            `json:"podIP,omitempty"`
	PodIPs     []string          `json:"podIPs,omitempty"`
	HostIP     string            `json:"hostIP,omitempty"`
	Containers []ContainerStatus `json:"containers,omitempty"`
}

// ContainerStatus is the runtime state of one container of a pod.
type ContainerStatus struct {
	Name  string        `json:"name"`
	Type  ContainerType `json:"type"`
	Image string        `json:"image,omitempty"`
	// ImageID is the running image as the runtime reports it.
	ImageID string `json:"imageID,omitempty"`
	// Digest is the sha256 digest parsed from ImageID.
	Digest      string `json:"digest,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
	Ready       bool   `json:"ready,omitempty"`
	Running     bool   `json:"running,omitempty"`
}

// LabelSelector is a Kubernetes label selector.
type LabelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []Requirement     `json:"matchExpressions,omitempty"`
}

// Requirement is one match expression of a label selector.
type Requirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Matches reports whether labels satisfy the selector. A nil selector matches
// nothing; an empty one matches everything (Kubernetes semantics for
// metav1.LabelSelector). Unknown operators match nothing.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := labels[r.Key]
		switch r.Operator {
		case "In":
			if !ok || !contains(r.Values, v) {
				return false
			}
		case "NotIn":
			if ok && contains(r.Values, v) {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MatchesMap reports whether labels contain every key/value of selector, the
// semantics of a Service selector. An empty selector matches nothing: a
// Service without a selector has manually managed endpoints.
func MatchesMap(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Service is a Kubernetes Service.
type Service struct {
	Meta
	Type                     string            `json:"type"`
	Selector                 map[string]string `json:"selector,omitempty"`
	ClusterIP                string            `json:"clusterIP,omitempty"`
	Ports                    []ServicePort     `json:"ports,omitempty"`
	ExternalIPs              []string          `json:"externalIPs,omitempty"`
	ExternalName             string            `json:"externalName,omitempty"`
	LoadBalancerIngress      []string          `json:"loadBalancerIngress,omitempty"`
	LoadBalancerSourceRanges []string          `json:"loadBalancerSourceRanges,omitempty"`
}

// ObjectKey implements Object.
func (s *Service) ObjectKey() Key {
	return Key{Cluster: s.Cluster, Kind: KindService, Namespace: s.Namespace, Name: s.Name}
}

// ObjectMeta implements Object.
func (s *Service) ObjectMeta() *Meta { return &s.Meta }

// ServicePort is one port of a Service.
type ServicePort struct {
	Name     string `json:"name,omitempty"`
	Protocol string `json:"protocol"`
	Port     int32  `json:"port"`
	// TargetPort is a number or a container port name.
	TargetPort string `json:"targetPort,omitempty"`
	NodePort   int32  `json:"nodePort,omitempty"`
}

// Ingress is a networking.k8s.io/v1 Ingress.
type Ingress struct {
	Meta
	ClassName           string          `json:"className,omitempty"`
	DefaultBackend      *IngressBackend `json:"defaultBackend,omitempty"`
	Rules               []IngressRule   `json:"rules,omitempty"`
	TLSHosts            []string        `json:"tlsHosts,omitempty"`
	LoadBalancerIngress []string        `json:"loadBalancerIngress,omitempty"`
}

// ObjectKey implements Object.
func (i *Ingress) ObjectKey() Key {
	return Key{Cluster: i.Cluster, Kind: KindIngress, Namespace: i.Namespace, Name: i.Name}
}

// ObjectMeta implements Object.
func (i *Ingress) ObjectMeta() *Meta { return &i.Meta }

// IngressRule is one host rule of an Ingress. An empty Host matches all hosts.
type IngressRule struct {
	Host  string        `json:"host,omitempty"`
	Paths []IngressPath `json:"paths,omitempty"`
}

// IngressPath routes one path to a backend.
type IngressPath struct {
	Path     string         `json:"path,omitempty"`
	PathType string         `json:"pathType,omitempty"`
	Backend  IngressBackend `json:"backend"`
}

// IngressBackend is a Service backend (resource backends have an empty
// Service and a Resource description).
type IngressBackend struct {
	Service  string `json:"service,omitempty"`
	Port     string `json:"port,omitempty"`
	Resource string `json:"resource,omitempty"`
}

// NetworkPolicy is a networking.k8s.io/v1 NetworkPolicy.
type NetworkPolicy struct {
	Meta
	PodSelector LabelSelector       `json:"podSelector"`
	PolicyTypes []string            `json:"policyTypes,omitempty"`
	Ingress     []NetworkPolicyRule `json:"ingress,omitempty"`
	Egress      []NetworkPolicyRule `json:"egress,omitempty"`
}

// ObjectKey implements Object.
func (p *NetworkPolicy) ObjectKey() Key {
	return Key{Cluster: p.Cluster, Kind: KindNetworkPolicy, Namespace: p.Namespace, Name: p.Name}
}

// ObjectMeta implements Object.
func (p *NetworkPolicy) ObjectMeta() *Meta { return &p.Meta }

// NetworkPolicyRule is one ingress (From) or egress (To) rule.
type NetworkPolicyRule struct {
	Peers []NetworkPolicyPeer `json:"peers,omitempty"`
	Ports []NetworkPolicyPort `json:"ports,omitempty"`
}

// NetworkPolicyPeer selects pods, namespaces or an IP block.
type NetworkPolicyPeer struct {
	PodSelector       *LabelSelector `json:"podSelector,omitempty"`
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`
	IPBlock           *IPBlock       `json:"ipBlock,omitempty"`
}

// IPBlock is a CIDR with exceptions.
type IPBlock struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except,omitempty"`
}

// NetworkPolicyPort is a port (number or name) with an optional range end.
type NetworkPolicyPort struct {
	Protocol string `json:"protocol,omitempty"`
	Port     string `json:"port,omitempty"`
	EndPort  *int32 `json:"endPort,omitempty"`
}

// Namespace is a Kubernetes Namespace.
type Namespace struct {
	Meta
}

// ObjectKey implements Object.
func (n *Namespace) ObjectKey() Key {
	return Key{Cluster: n.Cluster, Kind: KindNamespace, Name: n.Name}
}

// ObjectMeta implements Object.
func (n *Namespace) ObjectMeta() *Meta { return &n.Meta }

// Node is a Kubernetes Node.
type Node struct {
	Meta
	InternalIPs []string `json:"internalIPs,omitempty"`
	ExternalIPs []string `json:"externalIPs,omitempty"`
	Kubelet     string   `json:"kubeletVersion,omitempty"`
	OSImage     string   `json:"osImage,omitempty"`
	Runtime     string   `json:"containerRuntime,omitempty"`
}

// ObjectKey implements Object.
func (n *Node) ObjectKey() Key {
	return Key{Cluster: n.Cluster, Kind: KindNode, Name: n.Name}
}

// ObjectMeta implements Object.
func (n *Node) ObjectMeta() *Meta { return &n.Meta }

// Snapshot is a set of inventory objects, from one or more clusters.
type Snapshot struct {
	Workloads       []*Workload      `json:"workloads,omitempty"`
	Services        []*Service       `json:"services,omitempty"`
	Ingresses       []*Ingress       `json:"ingresses,omitempty"`
	NetworkPolicies []*NetworkPolicy `json:"networkPolicies,omitempty"`
	Namespaces      []*Namespace     `json:"namespaces,omitempty"`
	Nodes           []*Node          `json:"nodes,omitempty"`
}

// Add appends an object to the snapshot.
func (s *Snapshot) Add(o Object) {
	switch v := o.(type) {
	case *Workload:
		s.Workloads = append(s.Workloads, v)
	case *Service:
		s.Services = append(s.Services, v)
	case *Ingress:
		s.Ingresses = append(s.Ingresses, v)
	case *NetworkPolicy:
		s.NetworkPolicies = append(s.NetworkPolicies, v)
	case *Namespace:
		s.Namespaces = append(s.Namespaces, v)
	case *Node:
		s.Nodes = append(s.Nodes, v)
	default:
		panic(fmt.Sprintf("model: unknown object type %T", o))
	}
}

// Remove deletes the object with key k from the snapshot, if present.
func (s *Snapshot) Remove(k Key) {
	del := func(o Object) bool { return o.ObjectKey() == k }
	s.Workloads = slices.DeleteFunc(s.Workloads, func(o *Workload) bool { return del(o) })
	s.Services = slices.DeleteFunc(s.Services, func(o *Service) bool { return del(o) })
	s.Ingresses = slices.DeleteFunc(s.Ingresses, func(o *Ingress) bool { return del(o) })
	s.NetworkPolicies = slices.DeleteFunc(s.NetworkPolicies, func(o *NetworkPolicy) bool { return del(o) })
	s.Namespaces = slices.DeleteFunc(s.Namespaces, func(o *Namespace) bool { return del(o) })
	s.Nodes = slices.DeleteFunc(s.Nodes, func(o *Node) bool { return del(o) })
}

// Objects returns every object of the snapshot.
func (s *Snapshot) Objects() []Object {
	out := make([]Object, 0, s.Len())
	for _, o := range s.Workloads {
		out = append(out, o)
	}
	for _, o := range s.Services {
		out = append(out, o)
	}
	for _, o := range s.Ingresses {
		out = append(out, o)
	}
	for _, o := range s.NetworkPolicies {
		out = append(out, o)
	}
	for _, o := range s.Namespaces {
		out = append(out, o)
	}
	for _, o := range s.Nodes {
		out = append(out, o)
	}
	return out
}

// Len returns the number of objects.
func (s *Snapshot) Len() int {
	return len(s.Workloads) + len(s.Services) + len(s.Ingresses) + len(s.NetworkPolicies) + len(s.Namespaces) + len(s.Nodes)
}

// NewObject returns an empty object of the Go type that stores kind.
func NewObject(kind Kind) (Object, error) {
	switch kind {
	case KindService:
		return &Service{}, nil
	case KindIngress:
		return &Ingress{}, nil
	case KindNetworkPolicy:
		return &NetworkPolicy{}, nil
	case KindNamespace:
		return &Namespace{}, nil
	case KindNode:
		return &Node{}, nil
	}
	if IsWorkloadKind(kind) {
		return &Workload{Kind: kind}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// Severity grades a finding.
type Severity string

// Severities, most severe first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

// Rank orders severities: critical is 4, info 0, unknown -1.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 4
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	case SeverityInfo:
		return 0
	}
	return -1
}
