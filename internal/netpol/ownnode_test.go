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

// nodeWorld is the cluster of the own-node tests (review 2, finding 6):
//
//	node-1: InternalIP 192.168.1.10, ExternalIP 203.0.113.10
//	        shop/web 10.244.0.7 (http 8080/TCP), shop/cache 10.244.0.8,
//	        monitoring/node-agent (host network, 9100/TCP),
//	        shop/done 10.244.0.9 (finished)
//	node-2: InternalIP 192.168.1.11
//	        shop/api 10.244.1.3, monitoring/agent-2 (host network)
//	192.168.1.12, no Node object and no node name: shop/bare 10.244.2.2
//	shop/manifest: a Deployment without pods
//
// shop is denied everything, both ways.
func nodeWorld() []string {
	return []string{
		nsDoc("shop", nil), nsDoc("monitoring", nil),
		nodeDoc("node-1", []string{"192.168.1.10"}, []string{"203.0.113.10"}),
		nodeDoc("node-2", []string{"192.168.1.11"}, nil),
		onNode(podDoc("shop", "web", map[string]string{"app": "web"}, "10.244.0.7", port{"http", 8080, "TCP"}), "node-1", "192.168.1.10"),
		onNode(podDoc("shop", "cache", map[string]string{"app": "cache"}, "10.244.0.8"), "node-1", "192.168.1.10"),
		strings.Replace(onNode(podDoc("shop", "done", map[string]string{"app": "done"}, "10.244.0.9"), "node-1", "192.168.1.10"), "phase: Running", "phase: Succeeded", 1),
		onNode(podDoc("shop", "api", map[string]string{"app": "api"}, "10.244.1.3"), "node-2", "192.168.1.11"),
		onNode(podDoc("shop", "bare", map[string]string{"app": "bare"}, "10.244.2.2"), "", "192.168.1.12"),
		onNode(hostPodDoc("monitoring", "node-agent", map[string]string{"app": "node-agent"}, "192.168.1.10", port{"metrics", 9100, "TCP"}), "node-1", ""),
		onNode(hostPodDoc("monitoring", "agent-2", map[string]string{"app": "node-agent"}, "192.168.1.11"), "node-2", ""),
		`
apiVersion: apps/v1
kind: Deployment
metadata: {name: manifest, namespace: shop}
spec:
  selector: {matchLabels: {app: manifest}}
  template:
    metadata: {labels: {app: manifest}}
    spec: {containers: [{name: c, image: "registry.example/app:1"}]}`,
		`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]`,
	}
}

// TestOwnNodeAlwaysAllowed: traffic between a pod and the node it runs on
// (the node's addresses, and host-network workloads on it) is allowed both
// ways on every port, whatever the policies; other nodes, finished pods
// and workloads known from manifests only are the policies'. The first
// three probes are the reviewer's reproduction.
func TestOwnNodeAlwaysAllowed(t *testing.T) {
	web := WorkloadEndpoint(podRef("shop", "web"))
	cache := WorkloadEndpoint(podRef("shop", "cache"))
	done := WorkloadEndpoint(podRef("shop", "done"))
	api := WorkloadEndpoint(podRef("shop", "api"))
	bare := WorkloadEndpoint(podRef("shop", "bare"))
	agentNode1 := WorkloadEndpoint(podRef("monitoring", "node-agent"))
	agentNode2 := WorkloadEndpoint(podRef("monitoring", "agent-2"))
	manifest := WorkloadEndpoint(model.WorkloadRef{Cluster: model.DefaultCluster, Kind: model.KindDeployment, Namespace: "shop", Name: "manifest"})
	const deny = "deny shop/default-deny"
	probes := []probe{
		{from: agentNode1, to: web, port: 8080, allowed: true, egress: "host", ingress: "own node"},
		{from: addr("192.168.1.10/32"), to: web, port: 8080, allowed: true, egress: "outside", ingress: "own node"},
		{from: web, to: agentNode1, port: 9100, allowed: true, egress: "own node", ingress: "host"},

		{from: web, to: addr("192.168.1.10/32"), port: 10250, allowed: true, egress: "own node", ingress: "outside"},
		{from: web, to: addr("203.0.113.10/32"), port: 22, proto: UDP, allowed: true, egress: "own node", ingress: "outside"},
		{from: addr("203.0.113.10/32"), to: cache, port: 1, allowed: true, egress: "outside", ingress: "own node"},
		{from: cache, to: agentNode1, port: 65535, proto: SCTP, allowed: true, egress: "own node", ingress: "host"},
		{from: bare, to: addr("192.168.1.12/32"), port: 10250, allowed: true, egress: "own node", ingress: "outside"},
		{from: api, to: addr("192.168.1.11/32"), port: 10250, allowed: true, egress: "own node", ingress: "outside"},
		{from: agentNode2, to: api, port: 80, allowed: true, egress: "host", ingress: "own node"},

		// Another node, a pod on the same node, a range, a finished pod, a
		// workload without pods: the policies decide.
		{from: web, to: addr("192.168.1.11/32"), port: 10250, allowed: false, egress: deny, ingress: "outside"},
		{from: agentNode2, to: web, port: 8080, allowed: false, egress: "host", ingress: deny},
		{from: addr("192.168.1.10/32"), to: api, port: 80, allowed: false, egress: "outside", ingress: deny},
		{from: web, to: cache, port: 80, allowed: false, egress: deny, ingress: deny},
		{from: web, to: addr("192.168.1.10/31"), port: 10250, allowed: false, egress: deny, ingress: "outside"},
		{from: done, to: addr("192.168.1.10/32"), port: 10250, allowed: false, egress: deny, ingress: "outside"},
		{from: agentNode1, to: done, port: 80, allowed: false, egress: "host", ingress: deny},
		{from: manifest, to: addr("192.168.1.10/32"), port: 10250, allowed: false, egress: deny, ingress: "outside"},
		{from: agentNode1, to: manifest, port: 80, allowed: false, egress: "host", ingress: deny},
		{from: bare, to: addr("192.168.1.10/32"), port: 10250, allowed: false, egress: deny, ingress: "outside"},
	}
	e := newEngine(t, loadYAML(t, nodeWorld()...))
	if p := e.Problems(); len(p) > 0 {
		t.Fatalf("unexpected problems: %v", p)
	}
	m, err := e.Matrix(t.Context(), Scope{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.Grid(Scope{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range probes {
		t.Run(pr.from.String()+"→"+pr.to.String(), func(t *testing.T) {
			v, err := e.Query(Connection{From: pr.from, To: pr.to, Port: pr.port, Protocol: pr.proto})
			if err != nil {
				t.Fatal(err)
			}
			got := probe{from: pr.from, to: pr.to, port: pr.port, proto: pr.proto, allowed: v.Allowed, egress: summary(v.Egress), ingress: summary(v.Ingress)}
			if diff := cmp.Diff(pr, got, cmp.AllowUnexported(probe{}, Endpoint{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if v.Egress.OwnNode != v.Ingress.OwnNode || (v.Egress.OwnNode != "") != (pr.egress == "own node" || pr.ingress == "own node") {
				t.Errorf("own node: egress %q, ingress %q", v.Egress.OwnNode, v.Ingress.OwnNode)
			}
			if strings.Contains(pr.from.CIDR+pr.to.CIDR, "/31") {
				return // a range: not a matrix node
			}
			// The matrix and the grid: the cell, or every port for a
			// workload and its own node's address.
			f, _ := m.NodeOf(pr.from)
			to, _ := m.NodeOf(pr.to)
			proto := pr.proto
			if proto == "" {
				proto = TCP
			}
			for name, mx := range map[string]interface {
				Allowed(int, int) (PortSet, bool)
				OwnNode(int, netip.Addr) bool
			}{"matrix": m, "grid": g} {
				ps, ok := mx.Allowed(f, to)
				got := ps.Contains(proto, pr.port)
				if pr.to.Workload == nil {
					got = got || mx.OwnNode(f, netip.MustParsePrefix(pr.to.CIDR).Addr())
				}
				if pr.from.Workload == nil {
					got = got || mx.OwnNode(to, netip.MustParsePrefix(pr.from.CIDR).Addr())
				}
				if !ok || got != v.Allowed {
					t.Errorf("%s: %v (cell %v, %v), query %v", name, got, ps, ok, v.Allowed)
				}
			}
		})
	}
}

// TestOwnNodeLookups: the reasons, the nodes' addresses, and the lookups
// a caller with flows uses.
func TestOwnNodeLookups(t *testing.T) {
	e := newEngine(t, loadYAML(t, nodeWorld()...))
	web := podRef("shop", "web")
	for _, tc := range []struct {
		from, to        Endpoint
		egress, ingress string
	}{
		{WorkloadEndpoint(web), addr("192.168.1.10/32"),
			"shop/Pod/web runs on node node-1 (192.168.1.10, 203.0.113.10): traffic between a pod and its own node is always allowed",
			"192.168.1.10/32 is outside the cluster's workloads: no NetworkPolicy applies to it; shop/Pod/web runs on node node-1 (192.168.1.10, 203.0.113.10): traffic between a pod and its own node is always allowed"},
		{WorkloadEndpoint(podRef("shop", "bare")), addr("192.168.1.12/32"),
			"shop/Pod/bare runs on node 192.168.1.12: traffic between a pod and its own node is always allowed", ""},
		{WorkloadEndpoint(podRef("monitoring", "node-agent")), WorkloadEndpoint(web),
			"monitoring/Pod/node-agent runs in the host network: its traffic is its node's (192.168.1.10), an outside address to which no NetworkPolicy applies; shop/Pod/web runs on node node-1 (192.168.1.10, 203.0.113.10): traffic between a pod and its own node is always allowed",
			"shop/Pod/web runs on node node-1 (192.168.1.10, 203.0.113.10): traffic between a pod and its own node is always allowed"},
	} {
		v, err := e.Query(Connection{From: tc.from, To: tc.to, Port: 10250})
		if err != nil {
			t.Fatal(err)
		}
		if v.Egress.Reason != tc.egress {
			t.Errorf("%s → %s: egress reason\n got %q\nwant %q", tc.from, tc.to, v.Egress.Reason, tc.egress)
		}
		if tc.ingress != "" && v.Ingress.Reason != tc.ingress {
			t.Errorf("%s → %s: ingress reason\n got %q\nwant %q", tc.from, tc.to, v.Ingress.Reason, tc.ingress)
		}
		// The pod's side keeps the policies selecting it.
		if !v.Allowed || !v.Egress.Isolated && v.Egress.OwnNode != "" && tc.from.Workload != nil && tc.from.Workload.Namespace == "shop" {
			t.Errorf("%s → %s: %+v", tc.from, tc.to, v)
		}
	}

	m, err := e.Matrix(t.Context(), Scope{Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.Grid(Scope{Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	wi, _ := m.NodeOf(WorkloadEndpoint(web))
	want := []netip.Addr{netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("203.0.113.10")}
	for name, got := range map[string][]netip.Addr{"matrix": m.NodeAddrs(wi), "grid": g.NodeAddrs(wi)} {
		if !cmp.Equal(got, want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
			t.Errorf("%s: NodeAddrs(web) = %v, want %v", name, got, want)
		}
	}
	for _, tc := range []struct {
		ref  model.WorkloadRef
		addr string
		want bool
	}{
		{web, "192.168.1.10", true},
		{web, "::ffff:192.168.1.10", true},
		{web, "203.0.113.10", true},
		{web, "192.168.1.11", false},
		{podRef("shop", "done"), "192.168.1.10", false},
		{podRef("shop", "api"), "192.168.1.11", true},
		{podRef("monitoring", "node-agent"), "192.168.1.10", true},
		{model.WorkloadRef{Cluster: model.DefaultCluster, Kind: model.KindDeployment, Namespace: "shop", Name: "manifest"}, "192.168.1.10", false},
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := e.OwnNode(tc.ref, a); got != tc.want {
			t.Errorf("Engine.OwnNode(%s, %s) = %v, want %v", tc.ref, a, got, tc.want)
		}
		i, _ := m.NodeOf(WorkloadEndpoint(tc.ref))
		if got := m.OwnNode(i, a); got != tc.want {
			t.Errorf("Matrix.OwnNode(%s, %s) = %v, want %v", tc.ref, a, got, tc.want)
		}
		if got := g.OwnNode(i, a); got != tc.want {
			t.Errorf("Grid.OwnNode(%s, %s) = %v, want %v", tc.ref, a, got, tc.want)
		}
		// A node's address stays outside: the pair, not the address,
		// is special.
		if ep := e.EndpointFor(a); ep.Workload != nil {
			t.Errorf("EndpointFor(%s) = %s, want outside", a, ep)
		}
	}
	if r, _ := m.NodeOf(addr("192.168.1.10/32")); m.OwnNode(r, netip.MustParseAddr("192.168.1.10")) {
		t.Error("an outside node has an own node")
	}
}

// TestMatrixMatchesQueryOwnNode holds the matrix equal to Query (with
// OwnNode for addresses) on random policies over a world where pods share
// nodes with host-network pods, one of two workloads of a class does, and
// Node objects give more addresses.
func TestMatrixMatchesQueryOwnNode(t *testing.T) {
	docs := append(append(world(), hostPods()...), nodePods()...)
	for seed := range 60 {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 13))
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

// nodePods puts pods of the semantics world on the nodes of hostPods:
// a/aa-web (of a/web's class) on host-web's node, which a Node object
// also gives an external address, b/db-2 and b/db-3 on host-db's and
// host-db-2's nodes, and c/tool-2 on a node without host-network pods.
func nodePods() []string {
	return []string{
		nodeDoc("node-a", []string{"10.0.1.7"}, []string{"198.51.100.7"}),
		onNode(podDoc("a", "aa-web", map[string]string{"app": "web"}, "10.0.1.1", port{"http", 8080, "TCP"}, port{"dns", 53, "UDP"}), "node-a", "10.0.1.7"),
		onNode(podDoc("b", "db-2", map[string]string{"app": "db"}, "10.0.2.5", port{"pg", 5432, "TCP"}), "", "192.168.5.5"),
		onNode(podDoc("b", "db-3", map[string]string{"app": "db"}, "10.0.2.6", port{"pg", 5432, "TCP"}), "", "10.0.2.9"),
		onNode(podDoc("c", "tool-2", map[string]string{"app": "tool"}, "10.0.3.2"), "node-c", "10.0.3.9"),
	}
}
