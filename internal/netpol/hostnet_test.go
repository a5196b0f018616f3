package netpol

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// hostWorld is the cluster of the host-network tests (review finding 5.1):
//
//	monitoring: prometheus 10.244.0.5 (web 9090/TCP);
//	            node-exporter, host network on node 192.168.1.10 (metrics 9100/TCP);
//	            exporter-pod 10.244.0.6, a pod with node-exporter's labels and ports;
//	            agent, host network, no status (its node's address unknown)
//	kube-system: kube-proxy, host network on the same node 192.168.1.10
func hostWorld() []string {
	return []string{
		nsDoc("monitoring", nil),
		nsDoc("kube-system", nil),
		podDoc("monitoring", "prometheus", map[string]string{"app": "prometheus"}, "10.244.0.5", port{"web", 9090, "TCP"}),
		hostPodDoc("monitoring", "node-exporter", map[string]string{"app": "node-exporter"}, "192.168.1.10", port{"metrics", 9100, "TCP"}),
		podDoc("monitoring", "exporter-pod", map[string]string{"app": "node-exporter"}, "10.244.0.6", port{"metrics", 9100, "TCP"}),
		hostPodDoc("monitoring", "agent", map[string]string{"app": "agent"}, ""),
		hostPodDoc("kube-system", "kube-proxy", map[string]string{"app": "kube-proxy"}, "192.168.1.10"),
	}
}

var (
	prometheus   = WorkloadEndpoint(podRef("monitoring", "prometheus"))
	nodeExporter = WorkloadEndpoint(podRef("monitoring", "node-exporter"))
	exporterPod  = WorkloadEndpoint(podRef("monitoring", "exporter-pod"))
	agent        = WorkloadEndpoint(podRef("monitoring", "agent"))
	kubeProxy    = WorkloadEndpoint(podRef("kube-system", "kube-proxy"))
	nodeAddr     = addr("192.168.1.10/32")
)

func TestHostNetworkSemantics(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		probes   []probe
	}{
		{
			// The reviewer's reproduction: Prometheus scraping
			// node-exporter, and the same flows by address.
			name: "default-deny ingress does not isolate host-network pods",
			policies: []string{`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: monitoring}
spec:
  podSelector: {}
  policyTypes: [Ingress]`},
			probes: []probe{
				{from: prometheus, to: nodeExporter, port: 9100, allowed: true, egress: "open", ingress: "host"},
				{from: prometheus, to: nodeAddr, port: 9100, allowed: true, egress: "open", ingress: "outside"},
				{from: prometheus, to: exporterPod, port: 9100, allowed: false, egress: "open", ingress: "deny monitoring/default-deny"},
				{from: prometheus, to: agent, port: 9100, allowed: true, egress: "open", ingress: "host"},
				{from: nodeExporter, to: prometheus, port: 9090, allowed: false, egress: "host", ingress: "deny monitoring/default-deny"},
				{from: nodeAddr, to: prometheus, port: 9090, allowed: false, egress: "outside", ingress: "deny monitoring/default-deny"},
				{from: kubeProxy, to: nodeExporter, port: 9100, allowed: true, egress: "host", ingress: "host"},
			},
		},
		{
			name: "pod and namespace selectors never match host-network pods",
			policies: []string{`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-exporters, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app: prometheus}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: node-exporter}}
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
    ports: [{port: 9090}]`},
			probes: []probe{
				{from: exporterPod, to: prometheus, port: 9090, allowed: true, egress: "open", ingress: "allow monitoring/from-exporters ingress[0]"},
				{from: nodeExporter, to: prometheus, port: 9090, allowed: false, egress: "host", ingress: "deny monitoring/from-exporters"},
				{from: kubeProxy, to: prometheus, port: 9090, allowed: false, egress: "host", ingress: "deny monitoring/from-exporters"},
			},
		},
		{
			name: "ipBlocks match the node's address; an unknown one only rules without from",
			policies: []string{`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-nodes, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app: prometheus}}
  ingress:
  - from: [{ipBlock: {cidr: 192.168.1.0/24}}]
    ports: [{port: 9090}]
  - ports: [{port: 9091}]`},
			probes: []probe{
				{from: nodeExporter, to: prometheus, port: 9090, allowed: true, egress: "host", ingress: "allow monitoring/from-nodes ingress[0]"},
				{from: kubeProxy, to: prometheus, port: 9090, allowed: true, egress: "host", ingress: "allow monitoring/from-nodes ingress[0]"},
				{from: nodeAddr, to: prometheus, port: 9090, allowed: true, egress: "outside", ingress: "allow monitoring/from-nodes ingress[0]"},
				{from: exporterPod, to: prometheus, port: 9090, allowed: false, egress: "open", ingress: "deny monitoring/from-nodes"},
				{from: agent, to: prometheus, port: 9090, allowed: false, egress: "host", ingress: "deny monitoring/from-nodes"},
				{from: agent, to: prometheus, port: 9091, allowed: true, egress: "host", ingress: "allow monitoring/from-nodes ingress[1]"},
			},
		},
		{
			name: "egress to a node: ipBlocks and port numbers, never named ports",
			policies: []string{`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: scrape, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app: prometheus}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 192.168.1.0/24}}]
    ports: [{port: metrics}]
  - to: [{ipBlock: {cidr: 192.168.1.10/32}}]
    ports: [{port: 9100}]
  - to: [{podSelector: {matchLabels: {app: node-exporter}}}]
    ports: [{port: metrics}]`},
			probes: []probe{
				{from: prometheus, to: nodeExporter, port: 9100, allowed: true, egress: "allow monitoring/scrape egress[1]", ingress: "host"},
				{from: prometheus, to: nodeAddr, port: 9100, allowed: true, egress: "allow monitoring/scrape egress[1]", ingress: "outside"},
				{from: prometheus, to: nodeExporter, port: 9101, allowed: false, egress: "deny monitoring/scrape", ingress: "host"},
				{from: prometheus, to: exporterPod, port: 9100, allowed: true, egress: "allow monitoring/scrape egress[2]", ingress: "open"},
				{from: prometheus, to: agent, port: 9100, allowed: false, egress: "deny monitoring/scrape", ingress: "host"},
			},
		},
		{
			name: "a policy selecting a host-network pod's labels isolates only the pods",
			policies: []string{`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lockdown, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app: node-exporter}}
  policyTypes: [Ingress, Egress]`},
			probes: []probe{
				{from: nodeExporter, to: addr("8.8.8.8/32"), port: 443, allowed: true, egress: "host", ingress: "outside"},
				{from: prometheus, to: nodeExporter, port: 9100, allowed: true, egress: "open", ingress: "host"},
				{from: exporterPod, to: addr("8.8.8.8/32"), port: 443, allowed: false, egress: "deny monitoring/lockdown", ingress: "outside"},
				{from: prometheus, to: exporterPod, port: 9100, allowed: false, egress: "open", ingress: "deny monitoring/lockdown"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, loadYAML(t, append(hostWorld(), tc.policies...)...))
			if p := e.Problems(); len(p) > 0 {
				t.Fatalf("unexpected problems: %v", p)
			}
			m, err := e.Matrix(t.Context(), Scope{})
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range tc.probes {
				v, err := e.Query(Connection{From: pr.from, To: pr.to, Port: pr.port, Protocol: pr.proto})
				if err != nil {
					t.Fatalf("%s → %s: %v", pr.from, pr.to, err)
				}
				got := probe{from: pr.from, to: pr.to, port: pr.port, proto: pr.proto, allowed: v.Allowed, egress: summary(v.Egress), ingress: summary(v.Ingress)}
				if diff := cmp.Diff(pr, got, cmp.AllowUnexported(probe{}, Endpoint{})); diff != "" {
					t.Errorf("%s → %s:%d/%s (-want +got):\n%s", pr.from, pr.to, pr.port, pr.proto, diff)
				}
				// The matrix, as question 9 and netpolgen's
				// simulation read it, agrees.
				f, okf := m.NodeOf(pr.from)
				to, okt := m.NodeOf(pr.to)
				ps, ok := m.Allowed(f, to)
				if !okf || !okt || !ok || ps.Contains(TCP, pr.port) != v.Allowed {
					t.Errorf("%s → %s:%d: matrix %v (%v %v %v), query %v", pr.from, pr.to, pr.port, ps, okf, okt, ok, v.Allowed)
				}
			}
		})
	}
}

// TestHostNetworkAddresses: a node's address is outside, never the
// host-network workload sorting first (kube-proxy here), nor is the
// address of a finished pod; Isolation, the matrix's nodes and the
// reasons say what a host-network workload is.
func TestHostNetworkAddresses(t *testing.T) {
	docs := append(hostWorld(), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: monitoring}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]`,
		// A finished pod whose address a running one holds now.
		strings.Replace(podDoc("monitoring", "a-old-job", nil, "10.244.0.7"), "phase: Running", "phase: Succeeded", 1),
		podDoc("monitoring", "b-new", nil, "10.244.0.7"),
		strings.Replace(podDoc("monitoring", "c-done", nil, "10.244.0.8"), "phase: Running", "phase: Failed", 1),
	)
	e := newEngine(t, loadYAML(t, docs...))
	for _, tc := range []struct{ addr, want string }{
		{"192.168.1.10", "192.168.1.10/32"},
		{"10.244.0.5", "monitoring/Pod/prometheus"},
		{"10.244.0.7", "monitoring/Pod/b-new"},
		{"10.244.0.8", "10.244.0.8/32"},
	} {
		if got := e.EndpointFor(netip.MustParseAddr(tc.addr)); got.String() != tc.want {
			t.Errorf("EndpointFor(%s) = %s, want %s", tc.addr, got, tc.want)
		}
		if got, err := e.ParseEndpoint(tc.addr); err != nil || got.String() != tc.want {
			t.Errorf("ParseEndpoint(%s) = %s, %v; want %s", tc.addr, got, err, tc.want)
		}
	}

	iso, err := e.Isolation(podRef("monitoring", "node-exporter"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Isolation{Workload: podRef("monitoring", "node-exporter"), Ingress: []PolicyRef{}, Egress: []PolicyRef{}, HostNetwork: true}); !cmp.Equal(iso, want) {
		t.Errorf("Isolation(node-exporter) (-want +got):\n%s", cmp.Diff(want, iso))
	}
	if p, err := e.NamedPort(nodeExporter, "metrics", TCP); err != nil || p != 9100 {
		t.Errorf("NamedPort(node-exporter, metrics) = %d, %v; want 9100 (the port it listens on)", p, err)
	}

	m, err := e.Matrix(t.Context(), Scope{Namespace: "monitoring"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ep                 Endpoint
		host, in, eg, node bool
	}{
		{nodeExporter, true, false, false, true},
		{kubeProxy, true, false, false, true},
		{agent, true, false, false, true},
		{exporterPod, false, true, true, true},
		{e.EndpointFor(netip.MustParseAddr("192.168.1.10")), false, false, false, false},
	} {
		i, ok := m.NodeOf(tc.ep)
		if !ok {
			t.Errorf("NodeOf(%s) not found", tc.ep)
			continue
		}
		n := m.Nodes()[i]
		if n.HostNetwork != tc.host || n.IngressIsolated != tc.in || n.EgressIsolated != tc.eg || (n.Workload != nil) != tc.node {
			t.Errorf("node of %s = %+v, want hostNetwork %v, isolated %v/%v, workload %v", tc.ep, n, tc.host, tc.in, tc.eg, tc.node)
		}
	}

	// The reasons.
	for _, tc := range []struct {
		from, to        Endpoint
		egress, ingress []string
	}{
		{nodeExporter, prometheus,
			[]string{"monitoring/Pod/node-exporter runs in the host network: its traffic is its node's (192.168.1.10), an outside address to which no NetworkPolicy applies"},
			[]string{"isolated by monitoring/default-deny", "; monitoring/Pod/node-exporter runs in the host network, so the policies see its node's address (192.168.1.10), an outside address"}},
		{prometheus, agent,
			[]string{"isolated by monitoring/default-deny", "monitoring/Pod/agent runs in the host network, so the policies see its node's address, an outside address unknown here (no running pod reports one)"},
			[]string{"its traffic is its node's (address unknown: no running pod reports one)"}},
	} {
		v, err := e.Query(Connection{From: tc.from, To: tc.to, Port: 9100})
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range tc.egress {
			if !strings.Contains(v.Egress.Reason, want) {
				t.Errorf("%s → %s: egress reason %q lacks %q", tc.from, tc.to, v.Egress.Reason, want)
			}
		}
		for _, want := range tc.ingress {
			if !strings.Contains(v.Ingress.Reason, want) {
				t.Errorf("%s → %s: ingress reason %q lacks %q", tc.from, tc.to, v.Ingress.Reason, want)
			}
		}
	}
}

// TestHostNetworkDaemonSet: a host-network workload on several nodes is
// each of its nodes' addresses; an ipBlock matches it when it holds one
// of them, as for pod IPs.
func TestHostNetworkDaemonSet(t *testing.T) {
	pod := func(name, ip string) string {
		return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: monitoring
  labels: {app: node-exporter}
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: node-exporter, controller: true}]
spec:
  hostNetwork: true
  containers: [{name: c, image: "registry.example/exporter:1", ports: [{name: metrics, containerPort: 9100}]}]
status:
  phase: Running
  hostIP: ` + ip + `
  podIP: ` + ip + `
`
	}
	snap := loadYAML(t, append(hostWorld(), `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-exporter, namespace: monitoring}
spec:
  selector: {matchLabels: {app: node-exporter}}
  template:
    metadata: {labels: {app: node-exporter}}
    spec:
      hostNetwork: true
      containers: [{name: c, image: "registry.example/exporter:1", ports: [{name: metrics, containerPort: 9100}]}]`,
		pod("node-exporter-a", "192.168.1.11"), pod("node-exporter-b", "192.168.1.12"), pod("node-exporter-c", "192.168.1.13"),
		pod("node-exporter-d", "192.168.1.14"), pod("node-exporter-e", "192.168.1.15"), `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-one-node, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app: prometheus}}
  ingress:
  - from: [{ipBlock: {cidr: 192.168.1.15/32}}]`)...)
	e := newEngine(t, snap)
	ds := WorkloadEndpoint(model.WorkloadRef{Cluster: model.DefaultCluster, Kind: model.KindDaemonSet, Namespace: "monitoring", Name: "node-exporter"})
	v, err := e.Query(Connection{From: ds, To: prometheus, Port: 9090})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Allowed || summary(v.Egress) != "host" || summary(v.Ingress) != "allow monitoring/from-one-node ingress[0]" {
		t.Errorf("DaemonSet → prometheus: %v, egress %s, ingress %s", v.Allowed, summary(v.Egress), summary(v.Ingress))
	}
	if want := "(192.168.1.11, 192.168.1.12, 192.168.1.13, 192.168.1.14, and 1 more)"; !strings.Contains(v.Egress.Reason, want) {
		t.Errorf("egress reason %q lacks %q", v.Egress.Reason, want)
	}
	for _, a := range []string{"192.168.1.11", "192.168.1.15"} {
		if got := e.EndpointFor(netip.MustParseAddr(a)); got.Workload != nil {
			t.Errorf("EndpointFor(%s) = %s, want outside", a, got)
		}
	}
}

// TestMatrixMatchesQueryHostNetwork holds the matrix equal to Query on
// random policies over a world with host-network pods that share labels
// and named ports with ordinary pods, whose node addresses fall in the
// ipBlocks of randomPolicy, or are unknown.
func TestMatrixMatchesQueryHostNetwork(t *testing.T) {
	docs := append(world(), hostPods()...)
	for seed := range 80 {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 11))
			var pols []*model.NetworkPolicy
			for i := range 1 + rng.IntN(6) {
				pols = append(pols, randomPolicy(rng, i))
			}
			e, err := New(t.Context(), inventory.New(loadYAML(t, docs...)), Options{Policies: pols})
			if err != nil {
				t.Fatal(err)
			}
			for _, scope := range []Scope{{}, {Namespace: "b"}} {
				m, err := e.Matrix(t.Context(), scope)
				if err != nil {
					t.Fatal(err)
				}
				checkMatrix(t, e, m)
			}
		})
	}
}

// hostPods are host-network pods for the semantics world, with the labels
// and named ports of its ordinary pods, and node addresses in the
// ipBlocks of randomPolicy, or unknown.
func hostPods() []string {
	return []string{
		hostPodDoc("a", "host-web", map[string]string{"app": "web"}, "10.0.1.7", port{"http", 8080, "TCP"}, port{"dns", 53, "UDP"}),
		hostPodDoc("b", "host-db", map[string]string{"app": "db"}, "192.168.5.5", port{"pg", 5432, "TCP"}),
		hostPodDoc("b", "host-db-2", map[string]string{"app": "db"}, "10.0.2.9", port{"pg", 5432, "TCP"}),
		hostPodDoc("c", "host-tool", map[string]string{"app": "tool"}, ""),
	}
}
