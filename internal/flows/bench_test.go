package flows_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// BenchInventory has n Deployments in n/10 namespaces, each with one
// running pod whose IP is 10.a.b.c.
func BenchInventory(n int) *inventory.Index {
	snap := &model.Snapshot{}
	for i := range n {
		ns := fmt.Sprintf("ns-%03d", i/10)
		name := fmt.Sprintf("app-%04d", i)
		snap.Add(&model.Workload{Meta: model.Meta{Cluster: "default", Namespace: ns, Name: name}, Kind: model.KindDeployment,
			Template: model.PodTemplate{Labels: map[string]string{"app": name}, Containers: []model.Container{{Name: "app"}}}})
		snap.Add(&model.Workload{Meta: model.Meta{Cluster: "default", Namespace: ns, Name: name + "-1"}, Kind: model.KindPod,
			Owner:    &model.OwnerRef{Kind: "Deployment", Name: name},
			Template: model.PodTemplate{Labels: map[string]string{"app": name}, Containers: []model.Container{{Name: "app"}}},
			Status:   &model.PodStatus{Phase: "Running", PodIP: podIP(i)}})
	}
	return inventory.New(snap)
}

func podIP(i int) string { return fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256) }

// BenchLog is a flow log of lines flows between n workloads' pod IPs: each
// workload calls 10 others on one port (20,000 paths for 2,000), one
// flow in 20 goes to one of 1,000 outside addresses, one in 50 names its
// workloads instead of addresses; times over a week.
func BenchLog(lines, n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	b.Grow(lines * 110)
	for i := range lines {
		at := t0.Add(time.Duration(i) * 7 * 24 * time.Hour / time.Duration(lines)).Format(time.RFC3339)
		src := rng.IntN(n)
		switch {
		case i%20 == 0:
			fmt.Fprintf(&b, `{"time":%q,"src":%q,"dst":"203.0.%d.%d","dstPort":443,"protocol":"TCP","count":1}`+"\n", at, podIP(src), rng.IntN(4), rng.IntN(250))
		case i%50 == 1:
			dst := (src + 1 + rng.IntN(10)) % n
			fmt.Fprintf(&b, `{"time":%q,"srcWorkload":"ns-%03d/app-%04d","dstWorkload":"ns-%03d/app-%04d","dstPort":%d}`+"\n", at, src/10, src, dst/10, dst, 8000+dst%100)
		default:
			dst := (src + 1 + rng.IntN(10)) % n
			fmt.Fprintf(&b, `{"time":%q,"src":%q,"dst":%q,"dstPort":%d,"protocol":"TCP","count":%d}`+"\n", at, podIP(src), podIP(dst), 8000+dst%100, 1+rng.IntN(5))
		}
	}
	return b.Bytes()
}

// PeakHeap samples the live heap every 5 ms until stop is called, and
// returns the highest in MiB.
func PeakHeap() (stop func() float64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			peak = max(peak, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak) / (1 << 20)
	}
}

// BenchmarkImportLog1M reads and resolves a 1,000,000-line flow log (110
// MB) against 2,000 workloads: what an import costs the server besides
// the database.
func BenchmarkImportLog1M(b *testing.B) {
	const lines, n = 1_000_000, 2_000
	ix := BenchInventory(n)
	log := BenchLog(lines, n)
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	runtime.GC()
	var peak float64
	for b.Loop() {
		stop := PeakHeap()
		r := flows.NewResolver(ix, "default")
		errs, err := flows.ScanLog(bytes.NewReader(log), flows.Limits{}, func(f flows.LogFlow) error {
			r.Add(f)
			return nil
		})
		set := r.Set()
		peak = max(peak, stop())
		if err != nil || len(errs) > 0 || r.Flows != lines || len(set.Records) < 20_000 {
			b.Fatalf("err %v, %d line errors, %d flows, %d paths", err, len(errs), r.Flows, len(set.Records))
		}
		b.ReportMetric(float64(len(set.Records)), "paths")
	}
	b.ReportMetric(peak, "peak-heap-MiB")
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
