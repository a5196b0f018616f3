package synth

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Catalogues the generator draws from. Changing any of them changes the
// cluster every seed gives, and so the benchmark figures: note it in
// docs/benchmarks.md.
var (
	teams = []string{"payments", "checkout", "search", "identity", "platform", "data", "ml", "growth", "catalog", "shipping",
		"notifications", "billing", "fraud", "support", "mobile", "web", "infra", "observability", "security", "analytics"}
	envs        = []string{"prod", "staging", "dev"}
	appPrefixes = []string{"orders", "users", "cart", "pricing", "inventory", "reviews", "media", "ledger", "events", "reports", "feeds", "accounts"}
	appWords    = []string{"api", "worker", "frontend", "gateway", "cache", "db", "queue", "scheduler", "indexer", "exporter", "proxy", "auth", "recommender", "ingest", "renderer", "mailer", "sync", "broker"}
	tiers       = []string{"frontend", "backend", "data", "ops"}
	// appImages are images of a workload's main container: mostly the
	// organisation's own registries, some public ones.
	appImages = []string{
		"ghcr.io/acme/%s", "ghcr.io/acme/%s", "ghcr.io/acme/%s",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/%s", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/%s",
		"registry.internal.example.com:5000/apps/%s", "registry.internal.example.com:5000/apps/%s",
		"docker.io/acmecorp/%s", "quay.io/acme/%s",
		"nginx", "redis", "postgres", "python", "node", "bitnami/kafka", "mcr.microsoft.com/dotnet/aspnet",
	}
	// sidecarImages are images of sidecars and init containers.
	sidecarImages = []string{
		"envoyproxy/envoy", "docker.io/istio/proxyv2", "fluent/fluent-bit", "otel/opentelemetry-collector",
		"busybox", "alpine", "gcr.io/distroless/static", "registry.k8s.io/git-sync/git-sync",
		"quay.io/prometheus/node-exporter", "quay.io/jetstack/cert-manager-controller", "public.ecr.aws/aws-observability/aws-for-fluent-bit",
		"ghcr.io/acme/vault-agent", "registry.internal.example.com:5000/platform/log-shipper",
	}
	tags       = []string{"1.25.3", "v2.4.1", "latest", "", "7.2-alpine", "3.19", "v1.29.1", "2024.11.02", "stable", "1.0.0-rc.1"}
	hostPaths  = []string{"/var/log", "/var/run/docker.sock", "/var/lib/kubelet", "/proc", "/etc/ssl/certs", "/run/containerd/containerd.sock", "/sys", "/var/lib/docker/containers", "/opt/agent"}
	addedCaps  = []corev1.Capability{"NET_ADMIN", "NET_BIND_SERVICE", "SYS_ADMIN", "SYS_PTRACE", "NET_RAW", "SYS_TIME", "CAP_CHOWN"}
	paths      = []string{"/", "/api", "/static", "/v1", "/admin", "/graphql", "/healthz", "/assets", "/login"}
	lbInternal = []struct{ key, value string }{
		{"service.beta.kubernetes.io/aws-load-balancer-internal", "true"},
		{"networking.gke.io/load-balancer-type", "Internal"},
		{"service.beta.kubernetes.io/azure-load-balancer-internal", "true"},
	}
	// base is the creation time of the oldest object.
	base = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
)

// kindWeights sets the mix of workload kinds, in thousandths.
var kindWeights = []struct {
	kind   string
	weight int
}{
	{"Deployment", 600}, {"StatefulSet", 100}, {"DaemonSet", 40}, {"ReplicaSet", 30},
	{"ReplicationController", 10}, {"Job", 60}, {"CronJob", 80}, {"Pod", 80},
}

type nsPlan struct{ name, team string }

type wlPlan struct {
	ns int
	// product is the application the workload is part of; app, its name,
	// adds the workload number to it.
	product, app string
	kind         string
}

type svcPlan struct{ name string }

// gen draws the cluster of one spec. Objects are produced in a fixed order
// from one random stream, so that the same spec always gives the same
// objects whoever consumes them.
type gen struct {
	s    Spec
	rng  *rand.Rand
	emit func(obj any) error
	rv   int

	namespaces []nsPlan
	workloads  []wlPlan
	wlByNS     [][]int
	svcByNS    [][]svcPlan
	// services lists the namespace of every Service with a selector, for
	// Ingresses to pick from.
	services []int
}

// each calls emit with every object of the cluster of s, as typed
// Kubernetes API objects: namespaces, workloads, Services, Ingresses and
// NetworkPolicies, in that order. It stops at the first error of emit.
func each(s Spec, emit func(obj any) error) error {
	s = s.Normalized()
	g := &gen{
		s:       s,
		rng:     rand.New(rand.NewPCG(uint64(s.Seed), 0x5eed_0f_9a1153de)),
		emit:    emit,
		wlByNS:  make([][]int, s.Namespaces),
		svcByNS: make([][]svcPlan, s.Namespaces),
	}
	for i := range s.Namespaces {
		if err := g.namespace(i); err != nil {
			return err
		}
	}
	for i := range s.Workloads {
		if err := g.workload(i); err != nil {
			return err
		}
	}
	for i := range s.Services {
		if err := g.service(i); err != nil {
			return err
		}
	}
	for i := range s.Ingresses {
		if err := g.ingress(i); err != nil {
			return err
		}
	}
	for i := range s.NetworkPolicies {
		if err := g.networkPolicy(i); err != nil {
			return err
		}
	}
	return nil
}

// chance reports true with probability per thousand.
func (g *gen) chance(perMille int) bool { return g.rng.IntN(1000) < perMille }

func pick[T any](g *gen, list []T) T { return list[g.rng.IntN(len(list))] }

func ptr[T any](v T) *T { return &v }

// either returns yes when cond holds, else no.
func either(cond bool, yes, no int) int {
	if cond {
		return yes
	}
	return no
}

// repository returns an image reference without its tag and digest.
func repository(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}

func (g *gen) hex64() string {
	return fmt.Sprintf("%016x%016x%016x%016x", g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint64())
}

func (g *gen) meta(name, namespace string, labels, annotations map[string]string) metav1.ObjectMeta {
	g.rv++
	uid := fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", g.rng.Uint32(), g.rng.Uint32()&0xffff, g.rng.Uint32()&0xfff,
		g.rng.Uint32()&0x3fff|0x8000, g.rng.Uint64()&0xffff_ffff_ffff)
	return metav1.ObjectMeta{
		Name:              name,
		Namespace:         namespace,
		UID:               types.UID(uid),
		ResourceVersion:   strconv.Itoa(100_000 + 7*g.rv),
		CreationTimestamp: metav1.NewTime(base.Add(time.Duration(g.rng.IntN(300*24*60)) * time.Minute)),
		Labels:            labels,
		Annotations:       annotations,
	}
}

func (g *gen) namespace(i int) error {
	p := nsPlan{team: teams[i%len(teams)]}
	env := pick(g, envs)
	p.name = fmt.Sprintf("%s-%s-%d", p.team, env, i)
	g.namespaces = append(g.namespaces, p)
	labels := map[string]string{"kubernetes.io/metadata.name": p.name, "env": env}
	var annotations map[string]string
	switch r := g.rng.IntN(100); {
	case r < 85:
		labels["team"] = p.team
	case r < 90:
		annotations = map[string]string{"owner": p.team + "@example.com"}
	}
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: g.meta(p.name, "", labels, annotations),
	}
	return g.emit(ns)
}

func (g *gen) kind() string {
	r := g.rng.IntN(1000)
	for _, k := range kindWeights {
		if r < k.weight {
			return k.kind
		}
		r -= k.weight
	}
	return "Deployment"
}

func (g *gen) workload(i int) error {
	ns := i % g.s.Namespaces
	p := wlPlan{ns: ns, kind: g.kind(), product: pick(g, appPrefixes) + "-" + pick(g, appWords)}
	p.app = fmt.Sprintf("%s-%d", p.product, i)
	g.workloads = append(g.workloads, p)
	g.wlByNS[ns] = append(g.wlByNS[ns], i)
	team := g.namespaces[ns].team
	if g.chance(150) {
		team = pick(g, teams) // shared namespaces hold other teams' apps
	}

	labels := map[string]string{"app.kubernetes.io/name": p.app, "app.kubernetes.io/part-of": p.product}
	podLabels := map[string]string{"app": p.app, "app.kubernetes.io/name": p.app, "tier": pick(g, tiers), "version": "v1"}
	var annotations map[string]string
	switch r := g.rng.IntN(100); {
	case r < 75:
		labels["team"] = team
	case r < 80:
		labels["app.kubernetes.io/team"] = team
	case r < 85:
		podLabels["team"] = team
	case r < 88:
		annotations = map[string]string{"owner": team}
	}
	if g.chance(100) {
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations["deployment.kubernetes.io/revision"] = strconv.Itoa(1 + g.rng.IntN(40))
	}
	m := g.meta(p.app, g.namespaces[ns].name, labels, annotations)
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
		Spec:       g.podSpec(p),
	}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": p.app}}
	replicas := ptr(int32(1 + g.rng.IntN(5)))

	var obj any
	switch p.kind {
	case "Deployment":
		obj = &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: p.kind},
			ObjectMeta: m,
			Spec:       appsv1.DeploymentSpec{Replicas: replicas, Selector: selector, Template: tmpl},
		}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: p.kind},
			ObjectMeta: m,
			Spec:       appsv1.StatefulSetSpec{Replicas: replicas, Selector: selector, Template: tmpl, ServiceName: p.app},
		}
	case "DaemonSet":
		obj = &appsv1.DaemonSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: p.kind},
			ObjectMeta: m,
			Spec:       appsv1.DaemonSetSpec{Selector: selector, Template: tmpl},
		}
	case "ReplicaSet":
		obj = &appsv1.ReplicaSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: p.kind},
			ObjectMeta: m,
			Spec:       appsv1.ReplicaSetSpec{Replicas: replicas, Selector: selector, Template: tmpl},
		}
	case "ReplicationController":
		obj = &corev1.ReplicationController{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: p.kind},
			ObjectMeta: m,
			Spec:       corev1.ReplicationControllerSpec{Replicas: replicas, Selector: map[string]string{"app": p.app}, Template: &tmpl},
		}
	case "Job":
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		obj = &batchv1.Job{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: p.kind},
			ObjectMeta: m,
			Spec:       batchv1.JobSpec{BackoffLimit: ptr(int32(4)), Template: tmpl},
		}
	case "CronJob":
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		obj = &batchv1.CronJob{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: p.kind},
			ObjectMeta: m,
			Spec: batchv1.CronJobSpec{
				Schedule:    fmt.Sprintf("%d */%d * * *", g.rng.IntN(60), 1+g.rng.IntN(6)),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
			},
		}
	case "Pod":
		// A bare pod, as found in a live cluster: the spec and labels of
		// its template, and a status with running image digests.
		for k, v := range podLabels {
			if _, ok := m.Labels[k]; !ok {
				m.Labels[k] = v
			}
		}
		tmpl.Spec.NodeName = fmt.Sprintf("node-%03d", g.rng.IntN(150))
		obj = &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: p.kind},
			ObjectMeta: m,
			Spec:       tmpl.Spec,
			Status:     g.podStatus(&tmpl.Spec),
		}
	default:
		return fmt.Errorf("unknown workload kind %q", p.kind)
	}
	return g.emit(obj)
}

func (g *gen) podSpec(p wlPlan) corev1.PodSpec {
	daemon := p.kind == "DaemonSet"
	var s corev1.PodSpec
	s.ServiceAccountName = p.app
	if g.chance(300) {
		s.ServiceAccountName = "default"
	}
	s.HostNetwork = g.chance(either(daemon, 300, 15))
	s.HostPID = g.chance(either(daemon, 150, 5))
	s.HostIPC = g.chance(3)
	switch r := g.rng.IntN(100); {
	case r < 50:
		s.SecurityContext = &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr(true),
			RunAsUser:      ptr(int64(10001)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
	case r < 60:
		s.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))}
	}
	if g.chance(300) {
		s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	}

	// Volumes, and the mounts of the main container.
	var mounts []corev1.VolumeMount
	if g.chance(500) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: p.app + "-config"}}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "config", MountPath: "/etc/" + p.app, ReadOnly: true})
	}
	if g.chance(300) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: p.app + "-tls"}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "tls", MountPath: "/etc/tls", ReadOnly: true})
	}
	if g.chance(300) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
	}
	if g.chance(100) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", Path: "token", ExpirationSeconds: ptr(int64(3600))}}}}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "token", MountPath: "/var/run/secrets/vault", ReadOnly: true})
	}
	if p.kind == "StatefulSet" {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-" + p.app}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	}
	if g.chance(either(daemon, 500, 20)) {
		hp := pick(g, hostPaths)
		s.Volumes = append(s.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: hp, Type: ptr(corev1.HostPathDirectoryOrCreate)}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "host", MountPath: "/host" + hp, ReadOnly: g.chance(500)})
	}

	n := g.s.ContainersPerWorkload
	inits := 0
	if n >= 2 && g.chance(200) {
		inits = 1
	}
	for c := range n {
		var ct corev1.Container
		switch {
		case c < inits:
			ct = g.container(fmt.Sprintf("init-%d", c), pick(g, sidecarImages), daemon)
			ct.Command = []string{"sh", "-c", "until nslookup db; do sleep 2; done"}
			s.InitContainers = append(s.InitContainers, ct)
			continue
		case c == inits:
			img := pick(g, appImages)
			if strings.HasSuffix(img, "%s") {
				img = fmt.Sprintf(img, p.product)
			}
			ct = g.container("main", img, daemon)
			ct.VolumeMounts = mounts
			ct.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
			if g.chance(200) {
				ct.Ports = append(ct.Ports, corev1.ContainerPort{Name: "metrics", ContainerPort: 9090})
			}
			if g.chance(10) || daemon && g.chance(100) {
				ct.Ports[0].HostPort = 8080
			}
			ct.Env = []corev1.EnvVar{{Name: "APP_NAME", Value: p.app}, {Name: "LOG_LEVEL", Value: "info"}}
			if g.chance(700) {
				ct.Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
				}
			}
			if g.chance(600) {
				ct.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 10}
			}
		default:
			ct = g.container(fmt.Sprintf("sidecar-%d", c-inits), pick(g, sidecarImages), daemon)
			if len(mounts) > 0 && mounts[0].Name == "config" {
				ct.VolumeMounts = mounts[:1]
			}
		}
		s.Containers = append(s.Containers, ct)
	}
	return s
}

func (g *gen) container(name, image string, daemon bool) corev1.Container {
	if g.chance(2) {
		image = "ghcr.io/acme/Billing_API:1.0" // upper case: not a valid reference
	} else {
		if t := pick(g, tags); t != "" {
			image += ":" + t
		}
		if g.chance(200) {
			image += "@sha256:" + g.hex64()
		}
	}
	c := corev1.Container{Name: name, Image: image, ImagePullPolicy: corev1.PullIfNotPresent}
	if g.chance(500) {
		return c
	}
	sc := &corev1.SecurityContext{}
	if g.chance(either(daemon, 250, 15)) {
		sc.Privileged = ptr(true)
	}
	if g.chance(450) {
		sc.AllowPrivilegeEscalation = ptr(false)
	}
	if g.chance(350) {
		sc.ReadOnlyRootFilesystem = ptr(true)
	}
	switch r := g.rng.IntN(100); {
	case r < 40:
		sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	case r < 48:
		sc.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{pick(g, addedCaps)}}
		if g.chance(500) {
			sc.Capabilities.Drop = []corev1.Capability{"ALL"}
		}
	}
	if g.chance(60) {
		sc.RunAsUser = ptr(int64(0))
	}
	c.SecurityContext = sc
	return c
}

func (g *gen) podStatus(s *corev1.PodSpec) corev1.PodStatus {
	st := corev1.PodStatus{
		Phase:  corev1.PodRunning,
		HostIP: fmt.Sprintf("10.0.%d.%d", g.rng.IntN(8), 1+g.rng.IntN(250)),
		PodIP:  fmt.Sprintf("10.244.%d.%d", g.rng.IntN(256), 1+g.rng.IntN(250)),
	}
	st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	status := func(c corev1.Container, running bool) corev1.ContainerStatus {
		// The runtime reports the digest it pulled: the pinned one, or
		// whatever the tag pointed to.
		digest := "sha256:" + g.hex64()
		if _, d, ok := strings.Cut(c.Image, "@"); ok {
			digest = d
		}
		cs := corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     repository(c.Image) + "@" + digest,
			ContainerID: "containerd://" + g.hex64(),
			Ready:       running,
		}
		if running {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(base.Add(time.Duration(g.rng.IntN(1000)) * time.Hour))}
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{Reason: "Completed"}
		}
		return cs
	}
	for _, c := range s.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, status(c, false))
	}
	for _, c := range s.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, status(c, true))
	}
	return st
}

func (g *gen) service(j int) error {
	if len(g.workloads) == 0 {
		// Without workloads, Services select nothing, spread over the
		// namespaces.
		return g.emitService(j, j%g.s.Namespaces, fmt.Sprintf("orphan-%d", j), nil)
	}
	t := g.rng.IntN(len(g.workloads))
	for try := 0; try < 3 && (g.workloads[t].kind == "Job" || g.workloads[t].kind == "CronJob"); try++ {
		t = g.rng.IntN(len(g.workloads))
	}
	w := g.workloads[t]
	selector := map[string]string{"app": w.app}
	switch r := g.rng.IntN(100); {
	case r < 2:
		selector = map[string]string{"app": fmt.Sprintf("retired-%d", j)} // matches nothing
	case r < 3:
		selector = nil // endpoints managed by hand
	}
	return g.emitService(j, w.ns, w.app, selector)
}

func (g *gen) emitService(j, ns int, app string, selector map[string]string) error {
	name := fmt.Sprintf("%s-%d", app, j)
	s := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: g.meta(name, g.namespaces[ns].name, map[string]string{"app": app}, nil),
	}
	s.Spec.Selector = selector
	s.Spec.Ports = []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}}
	if g.chance(300) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(8443)})
	}
	nodePorts := func() {
		for k := range s.Spec.Ports {
			s.Spec.Ports[k].NodePort = int32(30000 + (j*7+k)%2768)
		}
	}
	clusterIP := fmt.Sprintf("10.96.%d.%d", j/250%256, 1+j%250)
	switch r := g.rng.IntN(1000); {
	case r < 30:
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = fmt.Sprintf("%s.db.example.com", app)
		s.Spec.Selector = nil
		s.Spec.Ports = nil
	case r < 130:
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ClusterIP = clusterIP
		nodePorts()
	case r < 260:
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.ClusterIP = clusterIP
		nodePorts()
		if g.chance(300) {
			a := pick(g, lbInternal)
			s.Annotations = map[string]string{a.key: a.value}
		}
		if g.chance(200) {
			s.Spec.LoadBalancerSourceRanges = []string{"192.0.2.0/24", "198.51.100.0/24"}
		}
		if g.chance(800) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: fmt.Sprintf("203.0.113.%d", 1+j%250)}}
		}
	default:
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.ClusterIP = clusterIP
		if g.chance(100) {
			s.Spec.ClusterIP = corev1.ClusterIPNone // headless
		}
	}
	if s.Spec.Type != corev1.ServiceTypeExternalName && g.chance(10) {
		s.Spec.ExternalIPs = []string{fmt.Sprintf("198.51.100.%d", 1+j%250)}
	}
	if s.Spec.Type != corev1.ServiceTypeExternalName {
		g.svcByNS[ns] = append(g.svcByNS[ns], svcPlan{name: name})
		g.services = append(g.services, ns)
	}
	return g.emit(s)
}

func (g *gen) ingress(k int) error {
	ns := k % g.s.Namespaces
	if len(g.services) > 0 {
		ns = pick(g, g.services)
	}
	nsName := g.namespaces[ns].name
	word := pick(g, appPrefixes)
	in := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: g.meta(fmt.Sprintf("%s-ingress-%d", word, k), nsName, map[string]string{"app": word}, nil),
	}
	switch r := g.rng.IntN(100); {
	case r < 60:
		in.Spec.IngressClassName = ptr("nginx")
	case r < 80:
		in.Spec.IngressClassName = ptr("alb")
	case r < 90:
		in.Spec.IngressClassName = ptr("traefik")
	default:
		in.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
	}
	backend := func() networkingv1.IngressBackend {
		svc := fmt.Sprintf("legacy-%d", k) // does not exist
		if list := g.svcByNS[ns]; len(list) > 0 && !g.chance(20) {
			svc = pick(g, list).name
		}
		b := &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}
		if g.chance(500) {
			b.Port = networkingv1.ServiceBackendPort{Name: "http"}
		}
		return networkingv1.IngressBackend{Service: b}
	}
	if g.chance(50) {
		b := backend()
		in.Spec.DefaultBackend = &b
	}
	var tlsHosts []string
	for h := range 1 + g.rng.IntN(3) {
		host := fmt.Sprintf("%s%d-%d.%s.example.com", word, k, h, nsName)
		if g.chance(50) {
			host = ""
		} else {
			tlsHosts = append(tlsHosts, host)
		}
		rule := networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{}}}
		first := g.rng.IntN(len(paths))
		for q := range 1 + g.rng.IntN(3) {
			pt := networkingv1.PathTypePrefix
			switch r := g.rng.IntN(10); {
			case r == 0:
				pt = networkingv1.PathTypeExact
			case r < 3:
				pt = networkingv1.PathTypeImplementationSpecific
			}
			rule.HTTP.Paths = append(rule.HTTP.Paths, networkingv1.HTTPIngressPath{
				Path: paths[(first+q)%len(paths)], PathType: ptr(pt), Backend: backend(),
			})
		}
		in.Spec.Rules = append(in.Spec.Rules, rule)
	}
	if len(tlsHosts) > 0 && g.chance(600) {
		in.Spec.TLS = []networkingv1.IngressTLS{{Hosts: tlsHosts, SecretName: in.Name + "-tls"}}
	}
	if g.chance(500) {
		in.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{Hostname: fmt.Sprintf("lb-%d.elb.example.com", k%40)}}
	}
	return g.emit(in)
}

func (g *gen) networkPolicy(p int) error {
	ns := g.rng.IntN(g.s.Namespaces)
	nsName := g.namespaces[ns].name
	np := &networkingv1.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}}
	tcp, udp := ptr(corev1.ProtocolTCP), ptr(corev1.ProtocolUDP)
	port := func(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }
	app := func() string {
		if list := g.wlByNS[ns]; len(list) > 0 {
			return g.workloads[pick(g, list)].app
		}
		return fmt.Sprintf("absent-%d", p)
	}
	var name string
	switch r := g.rng.IntN(100); {
	case r < 15:
		name = fmt.Sprintf("default-deny-%d", p)
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if g.chance(500) {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	case r < 65:
		target := app()
		name = fmt.Sprintf("allow-%s-%d", target, p)
		np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": target}}
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{
				{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app()}}},
				{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}}},
			},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp, Port: port(8080)}},
		}}
	case r < 80:
		name = fmt.Sprintf("egress-%d", p)
		np.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"backend", "data"}},
		}}
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{
			{
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.96.0.0/12"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp, Port: port(5432)}, {Protocol: tcp, Port: port(30000), EndPort: ptr(int32(32767))}},
			},
			{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: udp, Port: port(53)}},
			},
		}
	default:
		name = fmt.Sprintf("allow-team-%d", p)
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": g.namespaces[ns].team}}}},
		}}
	}
	np.ObjectMeta = g.meta(name, nsName, nil, nil)
	return g.emit(np)
}
