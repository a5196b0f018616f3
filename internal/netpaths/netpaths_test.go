package netpaths

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
	"github.com/palisade-project/palisade/internal/synth"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func loadIndex(t testing.TB, paths ...string) *inventory.Index {
	t.Helper()
	res, err := manifest.Load(t.Context(), paths, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Fatalf("loading %v: %v", paths, e)
	}
	return inventory.New(&res.Snapshot)
}

func ref(kind model.Kind, ns, name string) *model.WorkloadRef {
	return &model.WorkloadRef{Cluster: model.DefaultCluster, Kind: kind, Namespace: ns, Name: name}
}

var (
	frontend = ref(model.KindDeployment, "shop", "frontend")
	api      = ref(model.KindDeployment, "shop", "api")
	db       = ref(model.KindStatefulSet, "data", "db")
	debug    = ref(model.KindDeployment, "ops", "debug")
)

func wl(r *model.WorkloadRef) flows.Endpoint { return flows.Endpoint{Workload: r} }
func ip(s string) flows.Endpoint             { return flows.Endpoint{Addr: netip.MustParseAddr(s)} }

func rec(from, to flows.Endpoint, port uint16, proto string, count uint64) flows.Record {
	return flows.Record{Cluster: model.DefaultCluster, From: from, To: to, Port: port, Protocol: proto, Count: count, FirstSeen: t0, LastSeen: t0.Add(time.Hour)}
}

// shopFlows is the traffic of the shop fixture over window: the call
// graph, an answer from outside, DNS to the internet, and debug poking
// the api, which the policies deny.
func shopFlows(window time.Duration) *flows.Set {
	return &flows.Set{Since: t0, Until: t0.Add(window), Sources: []string{"test"}, Records: []flows.Record{
		rec(wl(frontend), wl(api), 8080, "TCP", 100),
		rec(wl(api), wl(db), 5432, "TCP", 50),
		rec(ip("203.0.113.5"), wl(frontend), 8080, "TCP", 1000),
		rec(wl(frontend), ip("8.8.8.8"), 53, "UDP", 20),
		rec(wl(debug), wl(api), 8080, "TCP", 3),
		rec(wl(debug), wl(db), 5432, "TCP", 2),
		// A workload deleted since: counted as unmatched.
		rec(wl(ref(model.KindDeployment, "shop", "gone")), wl(api), 8080, "TCP", 1),
		// Another cluster's record: ignored.
		{Cluster: "elsewhere", From: wl(frontend), To: wl(api), Port: 9, Protocol: "TCP", Count: 1},
	}}
}

func analyze(t testing.TB, ix *inventory.Index, scope netpol.Scope, opts Options) *Result {
	t.Helper()
	e, err := netpol.New(t.Context(), ix, netpol.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Matrix(t.Context(), scope)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Analyze(t.Context(), ix, e, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.Grid(scope)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Analyze(t.Context(), ix, e, g, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The grid, computed block by block, gives the matrix's answer.
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(res)
	if diff := cmp.Diff(string(wj), string(gj)); diff != "" {
		t.Fatalf("%+v: result (-matrix +grid):\n%s", scope, diff)
	}
	return res
}

// brief condenses a result for table tests: one line per item and path,
// unprotected workload and denied flow.
func brief(res *Result) []string {
	var out []string
	for _, it := range res.Items {
		out = append(out, fmt.Sprintf("%s %.2f allowed=%d used=%d unused=%d denied=%d more=%d", it.Workload, it.Score, it.AllowedPaths, it.UsedPaths, it.UnusedPaths, it.DeniedFlows, it.MorePaths))
		for _, p := range it.Paths {
			var fs []string
			for _, f := range p.Factors {
				fs = append(fs, fmt.Sprintf("%s×%g", f.Name, f.Value))
			}
			ports := p.Unused
			if p.State == StateUnknown {
				ports = p.Allowed
			}
			out = append(out, fmt.Sprintf("  %s %s %s [%s] %.2f %s", p.Direction, p.Peer, p.State, ports, p.Score, strings.Join(fs, " ")))
		}
	}
	for _, u := range res.Unprotected {
		line := fmt.Sprintf("unprotected %s allowed=%d used=%d denied=%d", u.Workload, u.AllowedPaths, u.UsedPaths, u.DeniedFlows)
		if u.HostNetwork {
			line += " hostNetwork"
		}
		out = append(out, line)
	}
	for _, d := range res.Denied {
		var ps []string
		for _, p := range d.Policies {
			ps = append(ps, p.String())
		}
		out = append(out, fmt.Sprintf("denied %s → %s %s/%d ×%d by %s (%s) allowed [%s]", d.From, d.To, d.Protocol, d.Port, d.Count, strings.Join(d.DeniedBy, "+"), strings.Join(ps, ", "), *d.Allowed))
	}
	return out
}

func TestAnalyzeShop(t *testing.T) {
	const (
		internetAll = "internet×10 sensitive-ports×2 every-port×1.5"
	)
	tests := []struct {
		name   string
		scope  netpol.Scope
		keep   func(model.WorkloadRef) bool
		counts Counts
		want   []string
	}{
		{
			name:   "cluster",
			counts: Counts{Paths: 35, Used: 5, PartlyUsed: 1, Unused: 30},
			want: []string{
				"StatefulSet/data/db 84.12 allowed=10 used=2 unused=8 denied=0 more=0",
				"  egress anywhere else unused [all] 30.00 " + internetAll,
				"  egress 0.0.0.0/0 unused [all] 30.00 " + internetAll,
				"  egress every workload of namespace ops (3) unused [all] 13.32 cross-namespace×3 sensitive-ports×2 every-port×1.5 peers×1.48",
				"  ingress 2 of the 3 workloads of namespace ops unused [TCP/5432] 7.80 cross-namespace×3 sensitive-ports×2 peers×1.3",
				"  egress Deployment/shop/frontend unused [TCP/8080] 3.00 cross-namespace×3",
				"Deployment/shop/frontend 47.44 allowed=8 used=3 unused=5 denied=0 more=0",
				"  egress 0.0.0.0/0 partly-used [TCP/*, UDP/1-52, UDP/54-65535, SCTP/*] 30.00 " + internetAll,
				"  ingress anywhere else unused [TCP/8080] 10.00 internet×10",
				"  ingress every workload of namespace ops (3) unused [TCP/8080] 4.44 cross-namespace×3 peers×1.48",
				"  ingress StatefulSet/data/db unused [TCP/8080] 3.00 cross-namespace×3",
				"unprotected CronJob/ops/backup allowed=11 used=0 denied=0",
				"unprotected CronJob/ops/vacuum allowed=11 used=0 denied=0",
				"unprotected Deployment/ops/debug allowed=11 used=1 denied=1",
				"denied ops/Deployment/debug → shop/Deployment/api TCP/8080 ×3 by ingress (shop/api, shop/default-deny) allowed [none]",
			},
		},
		{
			name:   "namespace data",
			scope:  netpol.Scope{Namespace: "data"},
			counts: Counts{Paths: 10, Used: 2, Unused: 8},
			want: []string{
				"StatefulSet/data/db 84.12 allowed=10 used=2 unused=8 denied=0 more=0",
				"  egress anywhere else unused [all] 30.00 " + internetAll,
				"  egress 0.0.0.0/0 unused [all] 30.00 " + internetAll,
				"  egress every workload of namespace ops (3) unused [all] 13.32 cross-namespace×3 sensitive-ports×2 every-port×1.5 peers×1.48",
				"  ingress 2 of the 3 workloads of namespace ops unused [TCP/5432] 7.80 cross-namespace×3 sensitive-ports×2 peers×1.3",
				"  egress Deployment/shop/frontend unused [TCP/8080] 3.00 cross-namespace×3",
			},
		},
		{
			name:   "keep ops only",
			keep:   func(r model.WorkloadRef) bool { return r.Namespace == "ops" },
			counts: Counts{Paths: 35, Used: 5, PartlyUsed: 1, Unused: 30},
			want: []string{
				"unprotected CronJob/ops/backup allowed=11 used=0 denied=0",
				"unprotected CronJob/ops/vacuum allowed=11 used=0 denied=0",
				"unprotected Deployment/ops/debug allowed=11 used=1 denied=1",
				"denied ops/Deployment/debug → shop/Deployment/api TCP/8080 ×3 by ingress (shop/api, shop/default-deny) allowed [none]",
			},
		},
	}
	ix := loadIndex(t, "testdata/shop.yaml").WithFlows(shopFlows(10 * 24 * time.Hour))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := analyze(t, ix, tt.scope, Options{Keep: tt.keep})
			if diff := cmp.Diff(tt.want, brief(res)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if res.Counts != tt.counts {
				t.Errorf("counts %+v, want %+v", res.Counts, tt.counts)
			}
			if u := res.Usage; !u.Known || u.Confidence != ConfidenceHigh || u.Records != 7 || u.Unmatched != 1 {
				t.Errorf("usage %+v", u)
			}
		})
	}
}

// With no flows nothing is called unused: every allowed path of a
// workload some policy selects is listed as unknown, ranked the same way.
func TestAnalyzeWithoutFlows(t *testing.T) {
	for name, fs := range map[string]*flows.Set{"nil": nil, "empty": {}} {
		t.Run(name, func(t *testing.T) {
			res := analyze(t, loadIndex(t, "testdata/shop.yaml").WithFlows(fs), netpol.Scope{}, Options{})
			if u := res.Usage; u.Known || u.Confidence != ConfidenceUnknown {
				t.Errorf("usage %+v, want unknown", u)
			}
			if !strings.Contains(strings.Join(res.Usage.Notes(), " "), "usage unknown") {
				t.Errorf("notes %q do not say usage is unknown", res.Usage.Notes())
			}
			if res.Counts != (Counts{Paths: 35}) {
				t.Errorf("counts %+v: nothing may be counted used or unused", res.Counts)
			}
			var names []string
			for _, it := range res.Items {
				names = append(names, it.Workload.String())
				if it.UsedPaths != 0 || it.UnusedPaths != 0 {
					t.Errorf("%s: used %d, unused %d", it.Workload, it.UsedPaths, it.UnusedPaths)
				}
				for _, p := range it.Paths {
					if p.State != StateUnknown || !p.Unused.Empty() || !p.Used.Empty() {
						t.Errorf("%s: path %s %s is %s, unused [%s]", it.Workload, p.Direction, p.Peer, p.State, p.Unused)
					}
				}
			}
			if diff := cmp.Diff([]string{"StatefulSet/data/db", "Deployment/shop/frontend", "Deployment/shop/api"}, names); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if len(res.Unprotected) != 3 || len(res.Denied) != 0 {
				t.Errorf("%d unprotected, %d denied", len(res.Unprotected), len(res.Denied))
			}
		})
	}
}

func TestUsageConfidence(t *testing.T) {
	tests := []struct {
		window time.Duration
		want   string
		note   string
	}{
		{2 * time.Hour, ConfidenceLow, "short windows overstate unused paths"},
		{23 * time.Hour, ConfidenceLow, "under 24 hours"},
		{24 * time.Hour, ConfidenceMedium, "under 7 days"},
		{3 * 24 * time.Hour, ConfidenceMedium, "3d"},
		{7 * 24 * time.Hour, ConfidenceHigh, "flows cover 7d"},
		{30*24*time.Hour + 5*time.Hour, ConfidenceHigh, "30d 5h"},
	}
	for _, tt := range tests {
		t.Run(tt.window.String(), func(t *testing.T) {
			u := UsageOf(shopFlows(tt.window))
			if !u.Known || u.Confidence != tt.want || u.WindowSeconds != int64(tt.window/time.Second) {
				t.Errorf("usage %+v, want confidence %s", u, tt.want)
			}
			if notes := strings.Join(u.Notes(), " | "); !strings.Contains(notes, tt.note) {
				t.Errorf("notes %q lack %q", notes, tt.note)
			}
		})
	}
}

// A truncated set cannot say much about unused paths, however long.
func TestUsageTruncated(t *testing.T) {
	fs := shopFlows(30 * 24 * time.Hour)
	fs.Truncated = true
	u := UsageOf(fs)
	if !u.Truncated || u.Confidence != ConfidenceLow || !strings.Contains(strings.Join(u.Notes(), " "), "more paths than were kept") {
		t.Errorf("usage %+v, notes %q", u, u.Notes())
	}
}

// The denied list is bounded and ordered by count; the total counts all.
func TestDeniedBounded(t *testing.T) {
	fs := shopFlows(10 * 24 * time.Hour)
	for i := range 5 {
		fs.Records = append(fs.Records, rec(wl(debug), wl(api), uint16(9000+i), "TCP", uint64(10+i)))
	}
	res := analyze(t, loadIndex(t, "testdata/shop.yaml").WithFlows(fs), netpol.Scope{}, Options{MaxDenied: 2})
	if res.DeniedTotal != 6 || len(res.Denied) != 2 {
		t.Fatalf("%d denied listed of %d", len(res.Denied), res.DeniedTotal)
	}
	if res.Denied[0].Port != 9004 || res.Denied[1].Port != 9003 {
		t.Errorf("denied ports %d, %d: want the most frequent first", res.Denied[0].Port, res.Denied[1].Port)
	}
	for _, u := range res.Unprotected {
		if u.Workload == *debug && u.DeniedFlows != 6 {
			t.Errorf("debug: %d denied flows, want 6", u.DeniedFlows)
		}
	}
}

// MaxPaths keeps the best paths and counts the rest.
func TestMaxPaths(t *testing.T) {
	res := analyze(t, loadIndex(t, "testdata/shop.yaml").WithFlows(shopFlows(10*24*time.Hour)), netpol.Scope{}, Options{MaxPaths: 2})
	it := res.Items[0]
	if len(it.Paths) != 2 || it.MorePaths != 3 || it.Score != 84.12 {
		t.Errorf("%s: %d paths, %d more, score %v", it.Workload, len(it.Paths), it.MorePaths, it.Score)
	}
	if it.Paths[0].Score != 30 || it.Paths[1].Score != 30 {
		t.Errorf("kept %v and %v, want the two best", it.Paths[0].Score, it.Paths[1].Score)
	}
}

// An outside address that a pod holds is that pod's workload; an address
// of the API server makes 443 and 6443 weigh more.
func TestAPIServerAndPodAddresses(t *testing.T) {
	ix := loadIndex(t, "testdata/apiserver.yaml")
	ix = ix.WithFlows(&flows.Set{Since: t0, Until: t0.Add(8 * 24 * time.Hour), Records: []flows.Record{
		// 10.244.0.7 is client's pod: the record is client → api.
		rec(ip("10.244.0.7"), ip("10.96.0.1"), 443, "TCP", 5),
	}})
	res := analyze(t, ix, netpol.Scope{}, Options{})
	var got []string
	for _, line := range brief(res) {
		if strings.Contains(line, "egress") {
			got = append(got, line)
		}
	}
	// The control-plane node's address is the cluster's nodes, apart
	// from the rest of its ipBlock.
	want := []string{
		"  egress cluster nodes in 192.168.0.0/24 unused [TCP/*] 27.00 nodes×3 api-server×3 sensitive-ports×2 every-port×1.5",
		"  egress 10.96.0.0/12 partly-used [TCP/6443] 18.00 outside×3 api-server×3 sensitive-ports×2",
		"  egress 192.168.0.0/24 other than cluster nodes unused [TCP/*] 9.00 outside×3 sensitive-ports×2 every-port×1.5",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("egress paths (-want +got):\n%s\n%s", diff, strings.Join(brief(res), "\n"))
	}
	if res.Counts.Used != 1 || res.Usage.Unmatched != 0 {
		t.Errorf("counts %+v, usage %+v: the record from a pod IP is the pod's", res.Counts, res.Usage)
	}
}

// Without a matrix, the unprotected workloads and the denied flows are
// those Analyze finds; no path is compared.
func TestPartial(t *testing.T) {
	ix := loadIndex(t, "testdata/shop.yaml").WithFlows(shopFlows(10 * 24 * time.Hour))
	full := analyze(t, ix, netpol.Scope{}, Options{})
	e, err := netpol.New(t.Context(), ix, netpol.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Partial(t.Context(), ix, e, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || len(res.Items) != 0 || res.Counts != (Counts{}) {
		t.Errorf("partial result has %d items, counts %+v", len(res.Items), res.Counts)
	}
	var want, got []string
	for _, u := range full.Unprotected {
		want = append(want, fmt.Sprintf("%s denied=%d", u.Workload, u.DeniedFlows))
	}
	for _, u := range res.Unprotected {
		got = append(got, fmt.Sprintf("%s denied=%d", u.Workload, u.DeniedFlows))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unprotected (-Analyze +Partial):\n%s", diff)
	}
	if len(res.Denied) != 1 || res.DeniedTotal != 1 || res.Denied[0].Allowed != nil {
		t.Fatalf("denied %+v", res.Denied)
	}
	d, fd := res.Denied[0], full.Denied[0]
	fd.Allowed = nil
	if diff := cmp.Diff(fd, d, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("denied (-Analyze +Partial):\n%s", diff)
	}
	if res.Usage.Records != full.Usage.Records || res.Usage.Unmatched != full.Usage.Unmatched {
		t.Errorf("usage %+v, Analyze's %+v", res.Usage, full.Usage)
	}
}

// On a synthetic cluster with flows, the grid gives the matrix's answer
// (analyze compares them), for the cluster and a namespace.
func TestGridMatchesMatrixSynth(t *testing.T) {
	snap := synth.Generate(synth.Spec{Workloads: 300, ContainersPerWorkload: 2, NetworkPolicies: 200, Namespaces: 6, Seed: 2})
	ix := inventory.New(snap)
	ix = ix.WithFlows(synthFlows(t, ix, 3000))
	for _, scope := range []netpol.Scope{{}, {Namespace: snap.Namespaces[2].Name}} {
		res := analyze(t, ix, scope, Options{})
		if len(res.Items) == 0 || res.Counts.Used == 0 || res.DeniedTotal == 0 {
			t.Errorf("%+v: %d items, counts %+v, %d denied", scope, len(res.Items), res.Counts, res.DeniedTotal)
		}
	}
}
