package netpolgen

// Acceptance on Online Boutique (issue 6): with a flow log covering its
// call graph, the generated policies allow exactly the observed flows, and
// removing one flow from the log makes its path allowed-but-unused under
// the policies the project ships (internal/netpaths, question 9, and
// netpol's matrix directly).

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/netpol"
)

const boutique = "apps/online-boutique"

// boutiqueIndex loads the Online Boutique manifests, the cluster DNS of
// testdata and, with shipped, the project's NetworkPolicies.
func boutiqueIndex(t *testing.T, shipped bool) *inventory.Index {
	t.Helper()
	root := sharedPath(t, boutique)
	paths := []string{filepath.Join(root, "kubernetes-manifests"), "testdata/online-boutique/kube-dns.yaml"}
	if shipped {
		paths = append(paths, filepath.Join(root, "kustomize/components/network-policies"))
	}
	res, err := manifest.Load(t.Context(), paths, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Fatalf("loading %v: %v", paths, e)
	}
	return inventory.New(&res.Snapshot)
}

// boutiqueFlows reads testdata's flow log with internal/flows, leaving out
// the lines drop says to.
func boutiqueFlows(t *testing.T, ix *inventory.Index, drop func(flows.LogFlow) bool) *flows.Set {
	t.Helper()
	f, err := os.Open("testdata/online-boutique/flows.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log, lineErrs, err := flows.ReadLog(f, flows.Limits{})
	if err != nil || len(lineErrs) > 0 {
		t.Fatalf("reading the flow log: %v %v", err, lineErrs)
	}
	if drop != nil {
		log = slices.DeleteFunc(log, drop)
	}
	set, skipped := flows.Resolve(ix, model.DefaultCluster, log)
	if len(skipped) > 0 {
		t.Fatalf("flows naming unknown workloads: %v", skipped)
	}
	set.Sources = []string{flows.LogSource("flows.jsonl")} // as palisade netpol suggest names it
	return set
}

func ref(ns, name string) model.WorkloadRef { return *deploy(ns, name) }

// pathKey is a path and port of the flows, for comparisons.
type pathKey struct {
	from, to string
	port     int32
	protocol string
}

// usedPorts returns the ports each path of set used, keyed by the
// matrix's node names.
func usedPorts(t *testing.T, m *netpol.Matrix, set *flows.Set) map[[2]int]netpol.PortSet {
	t.Helper()
	out := map[[2]int]netpol.PortSet{}
	for _, r := range set.Records {
		f, ok1 := m.NodeOf(endpointOf(r.From))
		to, ok2 := m.NodeOf(endpointOf(r.To))
		if !ok1 || !ok2 {
			t.Fatalf("no node for %s", describe(r))
		}
		k := [2]int{f, to}
		out[k] = out[k].Union(netpol.Port(r.Protocol, int32(r.Port)))
	}
	return out
}

func endpointOf(e flows.Endpoint) netpol.Endpoint {
	if e.Workload != nil {
		return netpol.WorkloadEndpoint(*e.Workload)
	}
	return netpol.AddressEndpoint(netipPrefix(e))
}

func TestOnlineBoutique(t *testing.T) {
	ix := boutiqueIndex(t, false)
	used := boutiqueFlows(t, ix, nil)
	if got, want := len(used.Records), 32-4; got != want {
		t.Fatalf("%d records, want %d", got, want)
	}
	res, err := Generate(t.Context(), ix, used, Options{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Suggestions) != 12 || len(res.Skipped) > 0 || len(res.Notes) > 0 {
		t.Fatalf("%d suggestions, skipped %v, notes %v", len(res.Suggestions), res.Skipped, res.Notes)
	}
	for _, s := range res.Suggestions {
		if !s.Exact || len(s.Warnings) > 0 {
			t.Errorf("%s: exact %v, warnings %v", s.Workload, s.Exact, s.Warnings)
		}
	}
	var y bytes.Buffer
	if err := res.WriteYAML(&y); err != nil {
		t.Fatal(err)
	}
	golden(t, "online-boutique/suggested.golden.yaml", y.Bytes())

	// Exactly the observed flows: the matrix of the namespace under the
	// generated policies (replacing the shipped ones) has a path where a
	// flow was seen, on exactly its ports, and no other.
	e, err := netpol.New(t.Context(), ix, netpol.Options{Policies: res.Policies()})
	if err != nil {
		t.Fatal(err)
	}
	if p := e.Problems(); len(p) > 0 {
		t.Fatalf("problems in the generated policies: %v", p)
	}
	m, err := e.Matrix(t.Context(), netpol.Scope{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	want := usedPorts(t, m, used)
	seen := 0
	for p := range m.Paths() {
		w, ok := want[[2]int{p.From, p.To}]
		from, to := m.Nodes()[p.From], m.Nodes()[p.To]
		switch {
		case from.Workload != nil && from.Workload.Namespace == "kube-system" && from.Workload.Name == "coredns" && to.Workload == nil:
			// Documented exception: coredns has no generated policy (it
			// is out of the namespace), so it may reach outside
			// addresses; nothing of the namespace is involved.
			continue
		case !ok:
			t.Errorf("path %s -> %s open on %s but never used", from, to, p.Ports)
		case !p.Ports.Equal(w):
			t.Errorf("path %s -> %s open on %s, used %s", from, to, p.Ports, w)
		default:
			seen++
		}
	}
	if seen != len(want) {
		for k, ports := range want {
			if ps, _ := m.Allowed(k[0], k[1]); !ps.Equal(ports) {
				t.Errorf("used path %s -> %s on %s: allowed %s", m.Nodes()[k[0]], m.Nodes()[k[1]], ports, ps)
			}
		}
	}

	// Simulated against the shipped policies, in both modes, the
	// generated ones break nothing; replacing them closes paths, adding
	// them next to them closes none (policies only add to each other,
	// and the shipped ones leave egress open).
	shipped := boutiqueIndex(t, true)
	for _, mode := range []Mode{ModeReplace, ModeAdd} {
		rep, err := Simulate(t.Context(), shipped, res.Policies(), used, SimOptions{Mode: mode, Namespace: "default"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Flows.Broken > 0 || rep.Flows.Allowed != rep.Flows.Checked || rep.Flows.Checked != len(used.Records) {
			t.Errorf("%s: flows %+v, broken %v", mode, rep.Flows, brokenList(rep))
		}
		closed := rep.Paths.Workloads.Closed + rep.Paths.Workloads.Narrowed
		if mode == ModeReplace && closed == 0 || mode == ModeAdd && closed != 0 {
			t.Errorf("%s: workload paths %+v", mode, rep.Paths.Workloads)
		}
		t.Logf("%s: %+v", mode, rep.Paths)
	}
}

func TestOnlineBoutiqueRemovedFlow(t *testing.T) {
	shipped := boutiqueIndex(t, true)
	checkout, email := ref("default", "checkoutservice"), ref("default", "emailservice")
	isCheckoutEmail := func(f flows.LogFlow) bool {
		return f.SrcWorkload.Name == "checkoutservice" && f.DstWorkload.Name == "emailservice"
	}
	full := boutiqueFlows(t, shipped, nil)
	reduced := boutiqueFlows(t, shipped, isCheckoutEmail)
	if len(full.Records) != len(reduced.Records)+1 {
		t.Fatalf("removing checkout -> email left %d of %d records", len(reduced.Records), len(full.Records))
	}

	// Allowed-but-unused under the shipped policies, with netpol's matrix
	// directly: the ports of each allowed path that no flow used.
	e, err := netpol.New(t.Context(), shipped, netpol.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Matrix(t.Context(), netpol.Scope{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	unused := func(set *flows.Set) map[pathKey]bool {
		used := usedPorts(t, m, set)
		out := map[pathKey]bool{}
		for p := range m.Paths() {
			if p.Ports.All() {
				continue // open paths are reported as such, not per port
			}
			for _, r := range p.Ports.Ranges() {
				for port := r.From; port <= r.To; port++ {
					if !used[[2]int{p.From, p.To}].Contains(r.Protocol, port) {
						out[pathKey{m.Nodes()[p.From].String(), m.Nodes()[p.To].String(), port, r.Protocol}] = true
					}
				}
			}
		}
		return out
	}
	before, after := unused(full), unused(reduced)
	key := pathKey{netpol.WorkloadEndpoint(checkout).String(), netpol.WorkloadEndpoint(email).String(), 8080, netpol.TCP}
	if before[key] {
		t.Errorf("%v is unused with the full log", key)
	}
	if !after[key] {
		t.Errorf("%v is not allowed-but-unused once its flow is removed", key)
	}
	for k := range after {
		if !before[k] && k != key {
			t.Errorf("%v became unused too", k)
		}
	}

	// The unused-paths analysis (question 9) on the shipped policies says
	// the same: emailservice's ingress from checkoutservice is unused
	// with the reduced log only.
	unusedFrom := func(set *flows.Set) *netpaths.Path {
		r, err := netpaths.Analyze(t.Context(), shipped.WithFlows(set), e, m, netpaths.Options{MaxPaths: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range r.Items {
			if it.Workload != email {
				continue
			}
			for _, p := range it.Paths {
				if p.Direction == netpaths.Ingress && slices.Contains(p.Peer.Workloads, checkout) {
					return &p
				}
			}
		}
		return nil
	}
	if p := unusedFrom(full); p != nil {
		t.Errorf("netpaths: checkout -> email listed as %s with the full log", p.State)
	}
	if p := unusedFrom(reduced); p == nil || p.State != netpaths.StateUnused || !p.Unused.Contains(netpol.TCP, 8080) {
		t.Errorf("netpaths: checkout -> email once its flow is removed: %+v, want unused on TCP/8080", p)
	}

	// Generated from the reduced log, the policies close the path, and
	// the simulation against the full log says so: exactly that flow.
	res, err := Generate(t.Context(), shipped, reduced, Options{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Simulate(t.Context(), shipped, res.Policies(), full, SimOptions{Mode: ModeReplace})
	if err != nil {
		t.Fatal(err)
	}
	if got := brokenList(rep); len(got) != 1 || got[0] != "default/Deployment/checkoutservice -> default/Deployment/emailservice 8080/TCP" {
		t.Errorf("broken %v, want only checkout -> email", got)
	}
}
