package answer

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/netpol"
	"github.com/palisade-project/palisade/internal/synth"
)

func netpolSnapshot(t *testing.T) *model.Snapshot {
	t.Helper()
	res, err := manifest.Load(t.Context(), []string{"testdata/netpol-shop.yaml"}, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	return &res.Snapshot
}

func wref(kind model.Kind, ns, name string) *model.WorkloadRef {
	return &model.WorkloadRef{Cluster: model.DefaultCluster, Kind: kind, Namespace: ns, Name: name}
}

// netpolFlows is a week and a half of the shop's traffic, with debug
// poking the api, which the policies deny.
func netpolFlows() *flows.Set {
	since := reportNow.Add(-10 * 24 * time.Hour)
	r := func(from, to flows.Endpoint, port uint16, proto string, n uint64) flows.Record {
		return flows.Record{Cluster: model.DefaultCluster, From: from, To: to, Port: port, Protocol: proto, Count: n, FirstSeen: since, LastSeen: reportNow}
	}
	w := func(kind model.Kind, ns, name string) flows.Endpoint {
		return flows.Endpoint{Workload: wref(kind, ns, name)}
	}
	return &flows.Set{Since: since, Until: reportNow, Sources: []string{"test"}, Records: []flows.Record{
		r(w(model.KindDeployment, "shop", "frontend"), w(model.KindDeployment, "shop", "api"), 8080, "TCP", 100),
		r(w(model.KindDeployment, "shop", "api"), w(model.KindStatefulSet, "data", "db"), 5432, "TCP", 50),
		r(flows.Endpoint{Addr: netip.MustParseAddr("203.0.113.5")}, w(model.KindDeployment, "shop", "frontend"), 8080, "TCP", 1000),
		r(w(model.KindDeployment, "ops", "debug"), w(model.KindDeployment, "shop", "api"), 8080, "TCP", 3),
	}}
}

func TestUnusedPathsAnswer(t *testing.T) {
	e := reportEngine(t, Config{})
	ix := inventory.New(netpolSnapshot(t)).WithFlows(netpolFlows())
	a := e.UnusedPaths(ix, Filter{})
	want := map[string]int{"workloads": 2, "unprotected": 3, "paths": 35, "usedPaths": 3, "unusedPaths": 32, "partlyUsedPaths": 0, "deniedFlows": 1, "policyProblems": 0}
	if diff := cmp.Diff(want, a.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if len(a.Notes) == 0 || !strings.Contains(a.Notes[0], "1 flow record was used although the NetworkPolicies deny it") {
		t.Errorf("the denied flow is not the first note: %q", a.Notes)
	}
	if a.Usage == nil || a.Usage.Confidence != netpaths.ConfidenceHigh || a.Usage.Records != 4 {
		t.Errorf("usage %+v", a.Usage)
	}
	if len(a.Denied) != 1 || a.Denied[0].To.Workload.Name != "api" {
		t.Errorf("denied %+v", a.Denied)
	}

	// The JSON envelope carries usage, unprotected and denied, and
	// decodes to the same answer.
	b, err := a.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"usage", "unprotected", "denied", "items", "summary"} {
		if _, ok := top[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	back, err := Decode(UnusedPaths, b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, back, cmp.Comparer(func(x, y netpol.PortSet) bool { return x.Equal(y) }), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("JSON round trip (-answer +decoded):\n%s", diff)
	}

	var table bytes.Buffer
	if err := WriteTable(&table, a); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	for _, s := range []string{"USED BUT DENIED", "ops/Deployment/debug → shop/Deployment/api", "StatefulSet/data/db", "anywhere else (internet)", "NO NETWORKPOLICY", "CronJob/ops/backup", "summary: deniedFlows=1"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if strings.Index(out, "USED BUT DENIED") > strings.Index(out, "WORKLOAD") {
		t.Errorf("denied flows are not shown first:\n%s", out)
	}
}

// Without flows nothing is called unused, in the answer and the report.
func TestUnusedPathsWithoutFlows(t *testing.T) {
	e := reportEngine(t, Config{})
	ix := inventory.New(netpolSnapshot(t))
	a := e.UnusedPaths(ix, Filter{})
	for _, k := range []string{"usedPaths", "unusedPaths", "partlyUsedPaths"} {
		if _, ok := a.Summary[k]; ok {
			t.Errorf("summary has %s without flows: %v", k, a.Summary)
		}
	}
	for _, it := range a.Items {
		for _, p := range it.Paths {
			if p.State != netpaths.StateUnknown {
				t.Errorf("%s: path %s is %s", it.Workload, describePath(p), p.State)
			}
		}
	}
	r, err := e.Report(ix, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	s := sectionNamed(t, r, UnusedPaths)
	if !s.Answered || s.State != StateAttention || !strings.Contains(s.Status, "usage unknown") || strings.Contains(s.Status, "unused (") {
		t.Errorf("section %+v", s)
	}
	for _, h := range s.Highlights {
		if strings.Contains(h, ", unused") {
			t.Errorf("highlight calls a path unused without flows: %q", h)
		}
	}
}

func TestUnusedPathsReport(t *testing.T) {
	e := reportEngine(t, Config{})
	r, err := e.Report(inventory.New(netpolSnapshot(t)).WithFlows(netpolFlows()), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	s := sectionNamed(t, r, UnusedPaths)
	if s.State != StateAttention || s.Path != "/api/v1/questions/unused-paths" {
		t.Errorf("section %+v", s)
	}
	if !strings.HasPrefix(s.Status, "1 used flow DENIED by the policies; 35 allowed paths: 3 used, 32 unused (high confidence); 3 workloads without any NetworkPolicy") {
		t.Errorf("status %q", s.Status)
	}
	want := []string{
		"USED BUT DENIED: ops/Deployment/debug → shop/Deployment/api TCP/8080 (3 times), denied by ingress (shop/api, shop/default-deny)",
		"StatefulSet/data/db, score 85.2: egress to anywhere else (internet) on all, unused (and 4 more paths)",
		"Deployment/shop/frontend, score 47.4: egress to 0.0.0.0/0 (internet) on all, unused (and 3 more paths)",
		"no NetworkPolicy, everything allowed: CronJob/ops/backup, CronJob/ops/vacuum, Deployment/ops/debug",
	}
	if diff := cmp.Diff(want, s.Highlights); diff != "" {
		t.Errorf("highlights (-want +got):\n%s", diff)
	}
}

func TestReachable(t *testing.T) {
	e := reportEngine(t, Config{ClusterNotes: map[string]string{model.DefaultCluster: "EXAMPLE DATA"}})
	ix := inventory.New(netpolSnapshot(t))
	tests := []struct {
		name    string
		q       ReachableQuery
		allowed bool
		err     error
		msg     string
	}{
		{name: "allowed", q: ReachableQuery{From: "shop/frontend", To: "shop/api", Port: "8080"}, allowed: true},
		{name: "kind and protocol", q: ReachableQuery{From: "shop/Deployment/frontend", To: "shop/deployment/api", Port: "8080/tcp"}, allowed: true},
		{name: "named port", q: ReachableQuery{From: "ops/debug", To: "data/db", Port: "pg"}, allowed: true},
		{name: "denied by ingress", q: ReachableQuery{From: "ops/debug", To: "shop/api", Port: "8080"}},
		{name: "internet egress", q: ReachableQuery{Cluster: model.DefaultCluster, From: "shop/frontend", To: "8.8.8.8", Port: "53/UDP"}, allowed: true},
		{name: "from a CIDR", q: ReachableQuery{From: "0.0.0.0/0", To: "shop/frontend", Port: "http"}, allowed: true},
		{name: "unknown workload", q: ReachableQuery{From: "shop/nope", To: "shop/api", Port: "80"}, err: netpol.ErrUnknownWorkload, msg: `from: no such workload "shop/nope"`},
		{name: "bad port", q: ReachableQuery{From: "shop/frontend", To: "shop/api", Port: "70000"}, err: ErrBadQuery, msg: "not between 1 and 65535"},
		{name: "bad protocol", q: ReachableQuery{From: "shop/frontend", To: "shop/api", Port: "80/icmp"}, err: ErrBadQuery, msg: "is not TCP, UDP or SCTP"},
		{name: "unknown port name", q: ReachableQuery{From: "shop/frontend", To: "shop/api", Port: "grpc"}, err: ErrBadQuery, msg: `port "grpc"`},
		{name: "bad endpoint", q: ReachableQuery{From: "frontend", To: "shop/api", Port: "80"}, err: ErrBadQuery, msg: "want NAMESPACE/NAME"},
		{name: "two outside ends", q: ReachableQuery{From: "1.2.3.4", To: "10.0.0.0/8", Port: "80"}, err: netpol.ErrNoWorkload},
		{name: "missing port", q: ReachableQuery{From: "shop/frontend", To: "shop/api"}, err: ErrBadQuery, msg: "--port"},
		{name: "unknown cluster", q: ReachableQuery{Cluster: "prod", From: "shop/frontend", To: "shop/api", Port: "80"}, err: ErrBadQuery, msg: `cluster "prod" is not in the inventory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.Reachable(t.Context(), ix, tt.q)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %v, want %v with %q (and a bad query)", err, tt.err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Allowed != tt.allowed || r.Question != Reachable || !slices.Contains(r.Notes, "EXAMPLE DATA") {
				t.Errorf("allowed %v (want %v), question %q, notes %q; %s / %s", r.Allowed, tt.allowed, r.Question, r.Notes, r.Egress.Reason, r.Ingress.Reason)
			}
			var table bytes.Buffer
			if err := WriteTable(&table, r); err != nil || !strings.Contains(table.String(), "allowed: "+yesNo(tt.allowed)) {
				t.Errorf("table (%v):\n%s", err, table.String())
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeReachability(b)
			if err != nil || back.Allowed != r.Allowed || back.Port != r.Port {
				t.Errorf("decoded %+v, %v", back, err)
			}
		})
	}
}

// The answers follow the inventory: a new snapshot with a changed
// NetworkPolicy changes them at once, and an index that differs only in
// its flows reuses the compiled policies.
func TestNetCacheFollowsTheSnapshot(t *testing.T) {
	e := reportEngine(t, Config{})
	snap := netpolSnapshot(t)
	ix := inventory.New(snap)
	q := ReachableQuery{From: "ops/debug", To: "shop/api", Port: "8080"}
	r, err := e.Reachable(t.Context(), ix, q)
	if err != nil || r.Allowed {
		t.Fatalf("before: allowed %v, %v", r != nil && r.Allowed, err)
	}
	eng, _ := e.nets.engine(t.Context(), ix, model.DefaultCluster)
	if again, _ := e.nets.engine(t.Context(), ix.WithFlows(netpolFlows()), model.DefaultCluster); again != eng {
		t.Error("an index with flows added recompiled the policies")
	}
	before := e.UnusedPaths(ix, Filter{})

	// Open the api to ops, as an edit of the live policy would.
	edited := &model.Snapshot{}
	for _, o := range snap.Objects() {
		if np, ok := o.(*model.NetworkPolicy); ok && np.Name == "api" {
			c := *np
			c.Ingress = append(slices.Clone(np.Ingress), model.NetworkPolicyRule{Peers: []model.NetworkPolicyPeer{{NamespaceSelector: &model.LabelSelector{MatchLabels: map[string]string{netpol.NamespaceNameLabel: "ops"}}}}})
			o = &c
		}
		edited.Add(o)
	}
	ix2 := inventory.New(edited)
	r, err = e.Reachable(t.Context(), ix2, q)
	if err != nil || !r.Allowed {
		t.Fatalf("after the edit: allowed %v, %v", r != nil && r.Allowed, err)
	}
	after := e.UnusedPaths(ix2, Filter{})
	if after.Summary["paths"] == before.Summary["paths"] {
		t.Errorf("the edit did not change the allowed paths: %d", after.Summary["paths"])
	}
}

// Filters narrow the matrix to a namespace or keep workloads of a
// cluster or environment: the items must be exactly those of the
// unfiltered answer that pass the filter.
func TestUnusedPathsFiltered(t *testing.T) {
	snap := twoClusters()
	e := reportEngine(t, Config{})
	ix := inventory.New(snap)
	all := e.UnusedPaths(ix, Filter{})
	if len(all.Items) == 0 || len(all.Unprotected) == 0 {
		t.Fatalf("%d items, %d unprotected: the test checks too little", len(all.Items), len(all.Unprotected))
	}
	filters := []Filter{{Cluster: "default"}, {Cluster: "edge"}, {Cluster: "nowhere"}, {Environment: "production"}}
	for _, n := range snap.Namespaces[:4] {
		filters = append(filters, Filter{Namespace: n.Name}, Filter{Cluster: n.Cluster, Namespace: n.Name})
	}
	opts := cmp.Options{cmp.Comparer(func(x, y netpol.PortSet) bool { return x.Equal(y) })}
	for _, f := range filters {
		got := e.UnusedPaths(ix, f)
		keep := map[model.WorkloadRef]bool{}
		for _, w := range e.workloads(ix, f) {
			keep[w.Ref()] = true
		}
		want := []netpaths.Item{}
		for _, it := range all.Items {
			if keep[it.Workload] {
				want = append(want, it)
			}
		}
		if diff := cmp.Diff(want, got.Items, opts); diff != "" {
			t.Errorf("%+v: items (-filtered afterwards +filtered first):\n%s", f, diff)
		}
		var wantU []netpaths.Unprotected
		for _, u := range all.Unprotected {
			if keep[u.Workload] {
				wantU = append(wantU, u)
			}
		}
		if diff := cmp.Diff(wantU, got.Unprotected); diff != "" {
			t.Errorf("%+v: unprotected (-filtered afterwards +filtered first):\n%s", f, diff)
		}
	}
}

// BenchmarkUnusedPathsAnswer2000 is question 9 as the API computes it for
// issue 6's target cluster (2,000 workloads, 200 namespaces, 3,000
// policies; no flows): a fresh engine each time, so the policies are
// compiled and the matrix computed in every iteration, and the JSON
// encoding. internal/netpaths' BenchmarkUnusedPaths2000 adds 20,000 flow
// records.
func BenchmarkUnusedPathsAnswer2000(b *testing.B) {
	snap := synth.Generate(synth.Spec{Workloads: 2000, ContainersPerWorkload: 3, NetworkPolicies: 3000, Namespaces: 200, Seed: 1})
	ix := inventory.New(snap)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		e, err := NewEngine(Config{})
		if err != nil {
			b.Fatal(err)
		}
		out, err := e.UnusedPaths(ix, Filter{}).AppendJSON(nil)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size)/1e6, "json-MB")
}

// A cluster with too many workloads to compare at once is answered in
// part, and in full per namespace.
func TestUnusedPathsPartial(t *testing.T) {
	e := reportEngine(t, Config{})
	ix := inventory.New(netpolSnapshot(t)).WithFlows(netpolFlows())
	full := e.UnusedPaths(ix, Filter{})
	defer func(old int) { maxComparedWorkloads = old }(maxComparedWorkloads)
	maxComparedWorkloads = 0
	a := e.UnusedPaths(ix, Filter{})
	if len(a.Items) != 0 || a.Summary["partialClusters"] != 1 || a.Summary["paths"] != 0 || a.Summary["deniedFlows"] != 1 {
		t.Errorf("partial answer: %d items, summary %v", len(a.Items), a.Summary)
	}
	if len(a.Unprotected) != len(full.Unprotected) || len(a.Denied) != 1 || !strings.Contains(strings.Join(a.Notes, " "), "too many to compare every path at once") {
		t.Errorf("unprotected %v, denied %v, notes %q", a.Unprotected, a.Denied, a.Notes)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, a); err != nil || !strings.Contains(table.String(), "CronJob/ops/backup                     -") {
		t.Errorf("table (%v):\n%s", err, table.String())
	}
	if ns := e.UnusedPaths(ix, Filter{Namespace: "data"}); len(ns.Items) != 1 || ns.Summary["partialClusters"] != 0 {
		t.Errorf("per namespace: %d items, summary %v", len(ns.Items), ns.Summary)
	}
	r, err := e.Report(ix, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if s := sectionNamed(t, r, UnusedPaths); !strings.Contains(s.Status, "paths not compared in 1 cluster too large to compare at once") || s.State != StateAttention {
		t.Errorf("section %+v", s)
	}
}

// Workloads of the host network are listed apart from the unprotected
// ones and counted on their own: no NetworkPolicy can select them. Their
// nodes are a peer of their own, not the internet.
func TestUnusedPathsHostNetwork(t *testing.T) {
	res, err := manifest.Load(t.Context(), []string{"testdata/netpol-hostnet.yaml"}, manifest.Options{})
	if err != nil || len(res.Errors) > 0 {
		t.Fatal(err, res.Errors)
	}
	prom := flows.Endpoint{Workload: wref(model.KindPod, "monitoring", "prometheus")}
	since := reportNow.Add(-10 * 24 * time.Hour)
	fs := &flows.Set{Since: since, Until: reportNow, Sources: []string{"test"}, Records: []flows.Record{
		{Cluster: model.DefaultCluster, From: prom, To: flows.Endpoint{Addr: netip.MustParseAddr("10.0.0.11")}, Port: 9100, Protocol: "TCP", Count: 60, FirstSeen: since, LastSeen: reportNow},
	}}
	e := reportEngine(t, Config{})
	ix := inventory.New(&res.Snapshot).WithFlows(fs)
	a := e.UnusedPaths(ix, Filter{})

	// web runs on node-2: its paths to and from the cluster nodes in
	// 10.0.0.12/32 are its own node's, always allowed, and not counted.
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"summary", a.Summary, map[string]int{"workloads": 1, "unprotected": 1, "hostNetwork": 1, "paths": 8, "usedPaths": 1, "unusedPaths": 7, "partlyUsedPaths": 0, "deniedFlows": 0, "policyProblems": 0}},
		{"unprotected", a.Unprotected, []netpaths.Unprotected{
			{Workload: *wref(model.KindDaemonSet, "monitoring", "node-exporter"), HostNetwork: true},
			{Workload: *wref(model.KindPod, "shop", "web"), AllowedPaths: 5},
		}},
		{"paths", func() []string {
			var out []string
			for _, p := range a.Items[0].Paths {
				out = append(out, describePath(p))
			}
			return out
		}(), []string{
			"egress to anywhere else other than cluster nodes (internet) on TCP/9100, unused",
			"egress to cluster nodes in 10.0.0.12/32 (host network: DaemonSet/monitoring/node-exporter) on TCP/9100, TCP/10250, unused",
			"egress to Pod/shop/web on TCP/9100, unused",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if !strings.Contains(strings.Join(a.Notes, "\n"), "1 workload in the host network (listed in unprotected with hostNetwork): NetworkPolicy does not apply") {
		t.Errorf("notes %q", a.Notes)
	}

	var table bytes.Buffer
	if err := WriteTable(&table, a); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	noPolicy, hostNet := strings.Index(out, "NO NETWORKPOLICY"), strings.Index(out, "HOST NETWORK")
	if noPolicy < 0 || hostNet < noPolicy || strings.Index(out, "Pod/shop/web") > hostNet || strings.LastIndex(out, "DaemonSet/monitoring/node-exporter") < hostNet {
		t.Errorf("the host-network workload is not listed apart:\n%s", out)
	}

	r, err := e.Report(ix, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	s := sectionNamed(t, r, UnusedPaths)
	if want := "8 allowed paths: 1 used, 7 unused (high confidence); 1 workload without any NetworkPolicy; 1 workload in the host network (NetworkPolicy does not apply)"; s.Status != want {
		t.Errorf("status %q, want %q", s.Status, want)
	}
	if h := s.Highlights[len(s.Highlights)-1]; h != "no NetworkPolicy, everything allowed: Pod/shop/web" {
		t.Errorf("last highlight %q", h)
	}
}

// The unused-paths answer's AppendJSON writes what json.Marshal writes:
// real answers (with flows, without, with the host network, at 2,000
// workloads) and items with every field set or empty.
func TestAppendJSONPathsMatchesMarshal(t *testing.T) {
	e := reportEngine(t, Config{})
	shop := inventory.New(netpolSnapshot(t))
	hostnet, err := manifest.Load(t.Context(), []string{"testdata/netpol-hostnet.yaml"}, manifest.Options{})
	if err != nil || len(hostnet.Errors) > 0 {
		t.Fatal(err, hostnet.Errors)
	}
	big := inventory.New(synth.Generate(synth.Spec{Workloads: 2000, ContainersPerWorkload: 3, NetworkPolicies: 3000, Namespaces: 200, Seed: 1}))
	for name, ix := range map[string]*inventory.Index{
		"shop with flows": shop.WithFlows(netpolFlows()),
		"shop":            shop,
		"hostnet":         inventory.New(&hostnet.Snapshot).WithFlows(netpolFlows()),
		"synth 2000":      big,
	} {
		a := e.UnusedPaths(ix, Filter{})
		if len(a.Items) == 0 {
			t.Errorf("%s: no items", name)
		}
		checkAppend(t, name, a)
	}

	ref := *wref(model.KindDeployment, tricky, tricky)
	outside := &netpol.Outside{CIDR: tricky, Except: []string{"10.0.0.0/8", tricky}}
	full := netpaths.Item{
		Workload:        ref,
		IngressPolicies: []netpol.PolicyRef{{Namespace: tricky, Name: "a"}, {}},
		EgressPolicies:  []netpol.PolicyRef{},
		Score:           1e21,
		MorePaths:       -3,
		AllowedPaths:    1, UsedPaths: 2, UnusedPaths: 3, DeniedFlows: 4,
		Paths: []netpaths.Path{
			{
				Direction: tricky,
				Peer:      netpaths.Peer{Namespace: tricky, Workloads: []model.WorkloadRef{ref, {}}, Count: 7, Of: 9, Outside: outside, Internet: true, Nodes: true, Addresses: 2, HostNetwork: []model.WorkloadRef{ref}, HostNetworkCount: 5, WithoutNodes: true},
				State:     tricky,
				Allowed:   netpol.AllPorts(),
				Used:      netpol.Port(netpol.TCP, 80),
				Unused:    netpol.Ports(netpol.PortRange{Protocol: netpol.UDP, From: 53, To: 54}, netpol.PortRange{Protocol: netpol.SCTP, From: 1, To: 9}),
				Score:     1e-7,
				Factors:   []netpaths.Factor{{Name: tricky, Value: 2.5, Detail: tricky}, {}},
			},
			{Peer: netpaths.Peer{Outside: &netpol.Outside{}, Workloads: []model.WorkloadRef{}, HostNetwork: []model.WorkloadRef{}}, Factors: []netpaths.Factor{}, Score: -0.000001},
			{Score: 123456789.125},
		},
	}
	for name, a := range map[string]*Answer[netpaths.Item]{
		"filled": {Question: UnusedPaths, Items: []netpaths.Item{full, {}}, Notes: []string{tricky}, Summary: map[string]int{"paths": 3},
			Usage:       &netpaths.Usage{Known: true, Records: 3},
			Unprotected: []netpaths.Unprotected{{Workload: ref, AllowedPaths: 1, UsedPaths: 2, DeniedFlows: 3, HostNetwork: true}, {}},
			Denied:      []netpaths.Denied{{Cluster: tricky, Protocol: "TCP", DeniedBy: []string{"egress"}}}},
		"empty":       {Items: []netpaths.Item{{}}, Unprotected: []netpaths.Unprotected{}, Denied: []netpaths.Denied{}},
		"nil items":   {},
		"empty items": {Items: []netpaths.Item{}},
	} {
		checkAppend(t, name, a)
	}
	if _, err := (&Answer[netpaths.Item]{Items: []netpaths.Item{{Score: math.NaN()}}}).AppendJSON(nil); err == nil {
		t.Error("AppendJSON accepted a NaN score")
	}
}
