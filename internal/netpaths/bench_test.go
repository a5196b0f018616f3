package netpaths

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/memstat"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
	"github.com/palisade-project/palisade/internal/synth"
)

// BenchmarkUnusedPaths2000 measures question 9 at the size of issue 6's
// acceptance target: 2,000 workloads in 200 namespaces with 3,000
// NetworkPolicies (internal/synth, seed 1) and 20,000 flow records, from
// the inventory index to the finished result: netpol.New, the cluster's
// Grid and Analyze. Targets: under 2 s and 500 MB.
//
// Half the records follow allowed paths, a quarter join random workloads
// (mostly denied), a quarter go to or come from random outside
// addresses. Reported besides ns/op and B/op: peak-heap-MB (the largest
// live heap above the heap before the loop, sampled every millisecond),
// VmHWM-MB (the process's peak RSS, generating the cluster included), and
// the result's size.
func BenchmarkUnusedPaths2000(b *testing.B) {
	snap := synth.Generate(synth.Spec{Workloads: 2000, ContainersPerWorkload: 3, NetworkPolicies: 3000, Namespaces: 200, Seed: 1})
	ix := inventory.New(snap)
	ix = ix.WithFlows(synthFlows(b, ix, 20_000))
	runtime.GC()
	base := memstat.HeapObjects()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				peak = max(peak, memstat.HeapObjects())
			}
		}
	})
	b.ReportAllocs()
	var res *Result
	for b.Loop() {
		res = analyzeAll(b, ix)
	}
	close(stop)
	wg.Wait()
	peak = max(peak, memstat.HeapObjects())
	paths := 0
	for _, it := range res.Items {
		paths += len(it.Paths)
	}
	b.ReportMetric(float64(peak-min(peak, base))/1e6, "peak-heap-MB")
	b.ReportMetric(float64(memstat.PeakRSS())/1e6, "VmHWM-MB")
	b.ReportMetric(float64(res.Counts.Paths), "allowed-paths")
	b.ReportMetric(float64(res.Counts.Used), "used-paths")
	b.ReportMetric(float64(res.DeniedTotal), "denied-flows")
	b.ReportMetric(float64(len(res.Items)), "items")
	b.ReportMetric(float64(paths), "listed-paths")
	b.ReportMetric(float64(len(res.Unprotected)), "unprotected")
}

// BenchmarkUnusedPaths2000Open is the worst case for the comparison:
// the same workloads, each namespace with one policy that isolates its
// pods for ingress and lets every pod of the cluster in on every port, so
// that all 4 million workload pairs are allowed paths and every workload
// is an item with a path per namespace and direction.
func BenchmarkUnusedPaths2000Open(b *testing.B) {
	snap := synth.Generate(synth.Spec{Workloads: 2000, ContainersPerWorkload: 3, NetworkPolicies: 0, Namespaces: 200, Seed: 1})
	for _, n := range snap.Namespaces {
		snap.Add(&model.NetworkPolicy{
			Meta:        model.Meta{Cluster: model.DefaultCluster, Namespace: n.Name, Name: "from-cluster"},
			PolicyTypes: []string{netpol.Ingress},
			Ingress:     []model.NetworkPolicyRule{{Peers: []model.NetworkPolicyPeer{{NamespaceSelector: &model.LabelSelector{}}}}},
		})
	}
	ix := inventory.New(snap)
	ix = ix.WithFlows(synthFlows(b, ix, 20_000))
	var res *Result
	b.ReportAllocs()
	for b.Loop() {
		res = analyzeAll(b, ix)
	}
	b.ReportMetric(float64(memstat.PeakRSS())/1e6, "VmHWM-MB")
	b.ReportMetric(float64(res.Counts.Paths), "allowed-paths")
	b.ReportMetric(float64(len(res.Items)), "items")
}

func analyzeAll(tb testing.TB, ix *inventory.Index) *Result {
	ctx := tb.Context()
	e, err := netpol.New(ctx, ix, netpol.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	g, err := e.Grid(netpol.Scope{})
	if err != nil {
		tb.Fatal(err)
	}
	res, err := Analyze(ctx, ix, e, g, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// synthFlows returns n records over ix's workloads, a week long.
func synthFlows(tb testing.TB, ix *inventory.Index, n int) *flows.Set {
	e, err := netpol.New(tb.Context(), ix, netpol.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := e.Matrix(tb.Context(), netpol.Scope{})
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	nodes := m.Nodes()
	var nw int
	for nw < len(nodes) && nodes[nw].Workload != nil {
		nw++
	}
	common := []uint16{80, 443, 8080, 5432, 6379, 53, 9090, 3306, 22}
	outside := func() flows.Endpoint {
		return flows.Endpoint{Addr: netip.AddrFrom4([4]byte{byte(1 + rng.IntN(220)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})}
	}
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	set := &flows.Set{Since: since, Until: since.Add(7 * 24 * time.Hour), Sources: []string{"bench"}}
	for len(set.Records) < n {
		r := flows.Record{Cluster: model.DefaultCluster, Protocol: netpol.TCP, Port: common[rng.IntN(len(common))], FirstSeen: since, LastSeen: since.Add(time.Hour), Count: 1 + uint64(rng.IntN(1000))}
		f, t := rng.IntN(nw), rng.IntN(nw)
		r.From, r.To = flows.Endpoint{Workload: nodes[f].Workload}, flows.Endpoint{Workload: nodes[t].Workload}
		switch k := len(set.Records) % 4; {
		case k < 2:
			// Follow an allowed path: keep drawing destinations.
			for range 50 {
				if ps, ok := m.Allowed(f, t); ok && !ps.Empty() && f != t {
					if rs := ps.Ranges(); len(rs) > 0 {
						x := rs[rng.IntN(len(rs))]
						r.Protocol, r.Port = x.Protocol, uint16(x.From+rng.Int32N(min(x.To-x.From+1, 1000)))
					}
					break
				}
				t = rng.IntN(nw)
				r.To = flows.Endpoint{Workload: nodes[t].Workload}
			}
		case k == 2 && rng.IntN(2) == 0:
			r.To = outside()
		case k == 2:
			r.From = outside()
		}
		key := r.From.String() + ">" + r.To.String() + ":" + r.Protocol + strconv.Itoa(int(r.Port))
		if seen[key] {
			continue
		}
		seen[key] = true
		set.Records = append(set.Records, r)
	}
	return set
}
