package netpol

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/memstat"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/synth"
)

// BenchmarkMatrix2000 measures the acceptance target of issue 6: the
// allowed matrix of 2,000 workloads in 200 namespaces with 3,000
// NetworkPolicies (internal/synth, seed 1), from the inventory index to
// the finished matrix (New + Matrix). Targets: under 2 s and 500 MB.
//
// Reported besides ns/op and B/op: peak-heap-MB, the largest live heap
// above the heap before the loop (sampled every millisecond); VmHWM-MB,
// the process's peak RSS, which includes generating the cluster; and the
// matrix's size.
func BenchmarkMatrix2000(b *testing.B) {
	snap := synth.Generate(synth.Spec{Workloads: 2000, ContainersPerWorkload: 3, NetworkPolicies: 3000, Namespaces: 200, Seed: 1})
	benchMatrix(b, inventory.New(snap), nil)
}

// BenchmarkMatrix2000Dense is the same cluster with 3,000 policies of
// more variety than synth's four shapes: random selectors, peers across
// namespaces, numbered, ranged and named ports and ipBlocks, so that
// cells hold many different port sets.
func BenchmarkMatrix2000Dense(b *testing.B) {
	snap := synth.Generate(synth.Spec{Workloads: 2000, ContainersPerWorkload: 3, NetworkPolicies: 0, Namespaces: 200, Seed: 1})
	benchMatrix(b, inventory.New(snap), densePolicies(snap, 3000))
}

func benchMatrix(b *testing.B, ix *inventory.Index, policies []*model.NetworkPolicy) {
	runtime.GC()
	base := memstat.HeapObjects()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
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
	}()
	b.ReportAllocs()
	var m *Matrix
	var e *Engine
	for b.Loop() {
		var err error
		e, err = New(b.Context(), ix, Options{Policies: policies})
		if err != nil {
			b.Fatal(err)
		}
		m, err = e.Matrix(b.Context(), Scope{})
		if err != nil {
			b.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	peak = max(peak, memstat.HeapObjects())
	b.ReportMetric(float64(peak-min(peak, base))/1e6, "peak-heap-MB")
	b.ReportMetric(float64(memstat.PeakRSS())/1e6, "VmHWM-MB")
	b.ReportMetric(float64(len(e.workloads)), "workloads")
	b.ReportMetric(float64(len(e.classes)), "classes")
	b.ReportMetric(float64(len(m.Nodes())-len(e.workloads)), "outside")
	b.ReportMetric(float64(len(m.sets)), "portsets")
}

// densePolicies returns n policies over the workloads of snap.
func densePolicies(snap *model.Snapshot, n int) []*model.NetworkPolicy {
	rng := rand.New(rand.NewPCG(2, 3))
	byNS := map[string][]*model.Workload{}
	var nss []*model.Namespace
	for _, w := range snap.Workloads {
		byNS[w.Namespace] = append(byNS[w.Namespace], w)
	}
	nss = append(nss, snap.Namespaces...)
	tiers := []string{"frontend", "backend", "data", "ops"}
	pick := func(ns string) *model.LabelSelector {
		switch ws := byNS[ns]; {
		case len(ws) > 0 && rng.IntN(3) > 0:
			return &model.LabelSelector{MatchLabels: map[string]string{"app": ws[rng.IntN(len(ws))].Template.Labels["app"]}}
		case rng.IntN(2) == 0:
			return &model.LabelSelector{MatchExpressions: []model.Requirement{{Key: "tier", Operator: "In", Values: []string{tiers[rng.IntN(4)], tiers[rng.IntN(4)]}}}}
		}
		return &model.LabelSelector{}
	}
	ports := func() []model.NetworkPolicyPort {
		var out []model.NetworkPolicyPort
		for range rng.IntN(4) {
			switch rng.IntN(4) {
			case 0:
				out = append(out, model.NetworkPolicyPort{Protocol: TCP, Port: "http"})
			case 1:
				end := int32(9000 + rng.IntN(1000))
				out = append(out, model.NetworkPolicyPort{Protocol: TCP, Port: "8000", EndPort: &end})
			default:
				out = append(out, model.NetworkPolicyPort{Protocol: []string{TCP, UDP}[rng.IntN(2)], Port: strconv.Itoa(1 + rng.IntN(20000))})
			}
		}
		return out
	}
	peers := func(ns string) []model.NetworkPolicyPeer {
		var out []model.NetworkPolicyPeer
		for range rng.IntN(3) {
			switch rng.IntN(4) {
			case 0:
				out = append(out, model.NetworkPolicyPeer{PodSelector: pick(ns)})
			case 1:
				other := nss[rng.IntN(len(nss))]
				out = append(out, model.NetworkPolicyPeer{NamespaceSelector: &model.LabelSelector{MatchLabels: map[string]string{"team": other.Labels["team"]}}, PodSelector: pick(other.Name)})
			case 2:
				out = append(out, model.NetworkPolicyPeer{NamespaceSelector: &model.LabelSelector{}, PodSelector: &model.LabelSelector{MatchLabels: map[string]string{"tier": tiers[rng.IntN(4)]}}})
			default:
				out = append(out, model.NetworkPolicyPeer{IPBlock: &model.IPBlock{CIDR: fmt.Sprintf("10.%d.0.0/16", 200+rng.IntN(56)), Except: []string{fmt.Sprintf("10.244.%d.0/24", rng.IntN(256))}}})
			}
		}
		return out
	}
	var out []*model.NetworkPolicy
	for i := range n {
		ns := nss[rng.IntN(len(nss))].Name
		np := &model.NetworkPolicy{
			Meta:        model.Meta{Cluster: model.DefaultCluster, Namespace: ns, Name: fmt.Sprintf("dense-%d", i)},
			PodSelector: *pick(ns),
			PolicyTypes: []string{Ingress, Egress},
		}
		for range 1 + rng.IntN(3) {
			np.Ingress = append(np.Ingress, model.NetworkPolicyRule{Peers: peers(ns), Ports: ports()})
		}
		for range rng.IntN(3) {
			np.Egress = append(np.Egress, model.NetworkPolicyRule{Peers: peers(ns), Ports: ports()})
		}
		out = append(out, np)
	}
	return out
}
