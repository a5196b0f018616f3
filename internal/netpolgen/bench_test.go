package netpolgen

import (
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/synth"
)

// benchCluster is issue 6's scale: 2,000 workloads in 200 namespaces
// with 3,000 NetworkPolicies (internal/synth, seed 1), and 20,000 random
// flow records between them and outside addresses.
func benchCluster(b *testing.B) (*inventory.Index, *flows.Set) {
	b.Helper()
	ix := inventory.New(synth.Generate(synth.Spec{Workloads: 2000, ContainersPerWorkload: 3, Services: 1000, NetworkPolicies: 3000, Namespaces: 200, Seed: 1}))
	return ix, randomFlows(rand.New(rand.NewPCG(1, 2)), ix, 20000)
}

// peakHeap runs fn and reports the largest live heap above the heap
// before it (sampled every millisecond) as peak-heap-MB.
func peakHeap(b *testing.B, fn func()) {
	heap := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	runtime.GC()
	base := heap()
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
				peak = max(peak, heap())
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	peak = max(peak, heap())
	b.ReportMetric(float64(peak-min(peak, base))/1e6, "peak-heap-MB")
}

// BenchmarkGenerate2000 suggests a policy for every workload.
func BenchmarkGenerate2000(b *testing.B) {
	ix, used := benchCluster(b)
	b.ReportAllocs()
	peakHeap(b, func() {
		for b.Loop() {
			if _, err := Generate(b.Context(), ix, used, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSimulate2000 simulates the suggestions against the flows,
// added to the cluster's 3,000 policies: two engines, two whole-cluster
// matrices, a lookup per flow and the comparison of the matrices.
func BenchmarkSimulate2000(b *testing.B) {
	ix, used := benchCluster(b)
	res, err := Generate(b.Context(), ix, used, Options{})
	if err != nil {
		b.Fatal(err)
	}
	proposed := res.Policies()
	b.ReportAllocs()
	peakHeap(b, func() {
		for b.Loop() {
			rep, err := Simulate(b.Context(), ix, proposed, used, SimOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Broken) > 0 {
				b.Fatalf("%d flows broken", len(rep.Broken))
			}
		}
	})
}
