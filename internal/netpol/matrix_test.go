package netpol

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/synth"
)

// representative returns an address of an outside region.
func representative(o *Outside) (netip.Addr, bool) {
	var holes []netip.Prefix
	for _, h := range o.Except {
		holes = append(holes, netip.MustParsePrefix(h))
	}
	var cands []netip.Addr
	var in func(netip.Addr) bool
	if o.CIDR == "" {
		cands = []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("0.0.0.1"), netip.MustParseAddr("255.255.255.254"), netip.MustParseAddr("2001:db8::1")}
		in = func(netip.Addr) bool { return true }
	} else {
		p := netip.MustParsePrefix(o.CIDR)
		cands = []netip.Addr{p.Addr(), lastAddr(p)}
		in = p.Contains
	}
	for _, h := range holes {
		cands = append(cands, h.Addr().Prev(), lastAddr(h).Next())
	}
	for _, c := range cands {
		if !c.IsValid() || !in(c) {
			continue
		}
		if !slices.ContainsFunc(holes, func(h netip.Prefix) bool { return h.Contains(c) }) {
			return c, true
		}
	}
	return netip.Addr{}, false
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

type portProbe struct {
	proto string
	port  int32
}

// probePorts returns ports around every port the policies and containers
// name, for each protocol.
func probePorts(e *Engine) []portProbe {
	nums := []int32{1, 80, 443, MaxPort}
	for _, p := range e.policies {
		for _, rules := range p.rules {
			for _, r := range rules {
				for _, x := range r.ports.fixed.Ranges() {
					nums = append(nums, x.From-1, x.From, x.To, x.To+1)
				}
			}
		}
	}
	for _, c := range e.classes {
		for _, p := range c.ports {
			nums = append(nums, p.ContainerPort)
		}
	}
	slices.Sort(nums)
	nums = slices.Compact(nums)
	var out []portProbe
	for _, proto := range protocols {
		for _, n := range nums {
			if n >= 1 && n <= MaxPort {
				out = append(out, portProbe{proto, n})
			}
		}
	}
	return out
}

// checkMatrix holds every cell of m equal to what Query answers.
func checkMatrix(t *testing.T, e *Engine, m *Matrix) {
	t.Helper()
	nodes := m.Nodes()
	eps := make([]Endpoint, len(nodes))
	ok := make([]bool, len(nodes))
	for i, n := range nodes {
		if n.Workload != nil {
			eps[i], ok[i] = WorkloadEndpoint(*n.Workload), true
			continue
		}
		a, found := representative(n.Outside)
		if !found {
			t.Errorf("no address found in region %s", n.Outside)
			continue
		}
		eps[i], ok[i] = AddressEndpoint(netip.PrefixFrom(a, a.BitLen())), true
		if got, _ := m.NodeOf(eps[i]); got != i {
			t.Errorf("NodeOf(%s) = %d (%s), want %d (%s)", a, got, nodes[got], i, n)
		}
	}
	ports := probePorts(e)
	bad := 0
	// check compares Query between two endpoints with the cell of their
	// nodes, opened on every port for a workload and its own node's
	// address.
	check := func(fe, te Endpoint, f, to int) {
		set, inScope := m.Allowed(f, to)
		if !inScope {
			return
		}
		own := nodes[to].Outside != nil && m.OwnNode(f, netip.MustParsePrefix(te.CIDR).Addr()) ||
			nodes[f].Outside != nil && m.OwnNode(to, netip.MustParsePrefix(fe.CIDR).Addr())
		for _, p := range ports {
			v, err := e.Query(Connection{From: fe, To: te, Port: p.port, Protocol: p.proto})
			if err != nil {
				t.Fatal(err)
			}
			if got := own || set.Contains(p.proto, p.port); got != v.Allowed {
				bad++
				if bad <= 10 {
					t.Errorf("%s → %s %s/%d: matrix %v (%s, own node %v), query %v (egress: %s; ingress: %s)", fe, te, p.proto, p.port, got, set, own, v.Allowed, v.Egress.Reason, v.Ingress.Reason)
				}
			}
		}
	}
	for f := range nodes {
		for to := range nodes {
			if ok[f] && ok[to] {
				check(eps[f], eps[to], f, to)
			}
		}
	}
	// The nodes' addresses, from and to every workload.
	var addrs []netip.Addr
	for i, n := range nodes {
		if n.Workload != nil {
			addrs = append(addrs, m.NodeAddrs(i)...)
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, a := range slices.Compact(addrs) {
		ep := e.EndpointFor(a)
		if ep.Workload != nil {
			continue
		}
		r, found := m.NodeOf(ep)
		if !found {
			t.Errorf("NodeOf(%s) not found", a)
			continue
		}
		for w, n := range nodes {
			if n.Workload != nil {
				check(eps[w], ep, w, r)
				check(ep, eps[w], r, w)
			}
		}
	}
	if bad > 10 {
		t.Errorf("%d disagreements in all", bad)
	}
}

func TestMatrixMatchesQuerySemantics(t *testing.T) {
	for seed := range 80 {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			snap := loadYAML(t, world()...)
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			n := 1 + rng.IntN(6)
			var pols []*model.NetworkPolicy
			for i := range n {
				pols = append(pols, randomPolicy(rng, i))
			}
			e, err := New(t.Context(), inventory.New(snap), Options{Policies: pols})
			if err != nil {
				t.Fatal(err)
			}
			m, err := e.Matrix(t.Context(), Scope{})
			if err != nil {
				t.Fatal(err)
			}
			checkMatrix(t, e, m)
		})
	}
}

func TestMatrixMatchesQuerySynth(t *testing.T) {
	for seed := range 2 {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			snap := synth.Generate(synth.Spec{Workloads: 40, ContainersPerWorkload: 2, NetworkPolicies: 40, Namespaces: 4, Seed: int64(seed + 1)})
			e := newEngine(t, snap)
			m, err := e.Matrix(t.Context(), Scope{})
			if err != nil {
				t.Fatal(err)
			}
			checkMatrix(t, e, m)

			// A namespace's matrix is the cluster's, cut to the paths from
			// or to the namespace.
			ns := snap.Namespaces[1].Name
			mn, err := e.Matrix(t.Context(), Scope{Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			nodes := m.Nodes()
			inNS := func(i int) bool { return nodes[i].Workload != nil && nodes[i].Workload.Namespace == ns }
			for f := range nodes {
				for to := range nodes {
					want, wantOK := m.Allowed(f, to)
					got, gotOK := mn.Allowed(f, to)
					if !inNS(f) && !inNS(to) {
						wantOK = false
					}
					if gotOK != wantOK || wantOK && !got.Equal(want) {
						t.Fatalf("%s → %s: namespace matrix %v %v, cluster %v %v", nodes[f], nodes[to], got, gotOK, want, wantOK)
					}
				}
			}
		})
	}
}

// randomPolicy returns a policy over the semantics world, now and then
// with an invalid part.
func randomPolicy(rng *rand.Rand, i int) *model.NetworkPolicy {
	nss := []string{"a", "b", "c"}
	apps := []string{"web", "db", "client", "tool"}
	sel := func() *model.LabelSelector {
		switch rng.IntN(6) {
		case 0:
			return &model.LabelSelector{}
		case 1:
			return &model.LabelSelector{MatchExpressions: []model.Requirement{{Key: "app", Operator: "In", Values: []string{apps[rng.IntN(4)], apps[rng.IntN(4)]}}}}
		case 2:
			return &model.LabelSelector{MatchExpressions: []model.Requirement{{Key: "app", Operator: "NotIn", Values: []string{apps[rng.IntN(4)]}}}}
		case 3:
			if rng.IntN(10) == 0 {
				return &model.LabelSelector{MatchExpressions: []model.Requirement{{Key: "app", Operator: "Bogus"}}}
			}
			fallthrough
		default:
			return &model.LabelSelector{MatchLabels: map[string]string{"app": apps[rng.IntN(4)]}}
		}
	}
	nsSel := func() *model.LabelSelector {
		switch rng.IntN(4) {
		case 0:
			return &model.LabelSelector{}
		case 1:
			return &model.LabelSelector{MatchLabels: map[string]string{"team": []string{"red", "blue"}[rng.IntN(2)]}}
		default:
			return &model.LabelSelector{MatchLabels: map[string]string{NamespaceNameLabel: nss[rng.IntN(3)]}}
		}
	}
	blocks := []model.IPBlock{
		{CIDR: "10.0.0.0/8", Except: []string{"10.0.1.0/24"}},
		{CIDR: "10.0.2.0/24"},
		{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}},
		{CIDR: "192.168.0.0/16"},
		{CIDR: "10.0.1.1/32"},
		{CIDR: "::/0"},
		{CIDR: "10.0.0.0/16", Except: []string{"10.0.0.0/17", "10.0.128.0/17"}},
		{CIDR: "300.0.0.0/8"},
	}
	rules := func() []model.NetworkPolicyRule {
		var out []model.NetworkPolicyRule
		for range rng.IntN(4) {
			var r model.NetworkPolicyRule
			if rng.IntN(4) > 0 {
				for range 1 + rng.IntN(3) {
					var p model.NetworkPolicyPeer
					switch rng.IntN(4) {
					case 0:
						p.PodSelector = sel()
					case 1:
						p.NamespaceSelector = nsSel()
					case 2:
						p.PodSelector, p.NamespaceSelector = sel(), nsSel()
					default:
						b := blocks[rng.IntN(len(blocks))]
						p.IPBlock = &b
					}
					r.Peers = append(r.Peers, p)
				}
			}
			if rng.IntN(3) > 0 {
				for range 1 + rng.IntN(3) {
					proto := []string{"TCP", "UDP", "SCTP", ""}[rng.IntN(4)]
					var pp model.NetworkPolicyPort
					switch rng.IntN(5) {
					case 0:
						pp = model.NetworkPolicyPort{Protocol: proto, Port: fmt.Sprint([]int{53, 80, 5432, 8080, 9090}[rng.IntN(5)])}
					case 1:
						end := int32(8100)
						pp = model.NetworkPolicyPort{Protocol: proto, Port: "8000", EndPort: &end}
					case 2:
						pp = model.NetworkPolicyPort{Protocol: proto, Port: []string{"http", "dns", "pg"}[rng.IntN(3)]}
					case 3:
						pp = model.NetworkPolicyPort{Protocol: proto}
					default:
						pp = model.NetworkPolicyPort{Protocol: proto, Port: "70000"}
					}
					r.Ports = append(r.Ports, pp)
				}
			}
			out = append(out, r)
		}
		return out
	}
	np := &model.NetworkPolicy{
		Meta:        model.Meta{Cluster: model.DefaultCluster, Namespace: nss[rng.IntN(3)], Name: fmt.Sprintf("p%d", i)},
		PodSelector: *sel(),
		Ingress:     rules(),
		Egress:      rules(),
	}
	switch rng.IntN(4) {
	case 0:
		np.PolicyTypes = []string{Ingress}
	case 1:
		np.PolicyTypes = []string{Egress}
	case 2:
		np.PolicyTypes = []string{Ingress, Egress}
	}
	return np
}

// TestMatrixManyGroups covers destinations and sources with more than 64
// groups of rules (the slow path), and more than 10 (the map cache).
func TestMatrixManyGroups(t *testing.T) {
	for _, n := range []int{12, 90} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			np := &model.NetworkPolicy{
				Meta:        model.Meta{Cluster: model.DefaultCluster, Namespace: "a", Name: "many"},
				PolicyTypes: []string{Ingress, Egress},
			}
			for i := range n {
				peer := model.NetworkPolicyPeer{PodSelector: &model.LabelSelector{MatchLabels: map[string]string{"app": []string{"web", "db"}[i%2]}}}
				if i%3 == 0 {
					peer = model.NetworkPolicyPeer{IPBlock: &model.IPBlock{CIDR: fmt.Sprintf("10.%d.0.0/16", i)}}
				}
				port := []model.NetworkPolicyPort{{Protocol: TCP, Port: strconv.Itoa(1000 + i)}}
				if i%5 == 0 {
					port = []model.NetworkPolicyPort{{Protocol: TCP, Port: "http"}}
				}
				np.Ingress = append(np.Ingress, model.NetworkPolicyRule{Peers: []model.NetworkPolicyPeer{peer}, Ports: port})
				np.Egress = append(np.Egress, model.NetworkPolicyRule{Peers: []model.NetworkPolicyPeer{peer}, Ports: port})
			}
			e, err := New(t.Context(), inventory.New(loadYAML(t, append(world(), hostPods()...)...)), Options{Policies: []*model.NetworkPolicy{np}})
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
