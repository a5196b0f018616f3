package netpol

import (
	"bufio"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/inventory"
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
	ix := inventory.New(snap)
	runtime.GC()
	base := heapBytes()
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
				peak = max(peak, heapBytes())
			}
		}
	}()
	b.ReportAllocs()
	var m *Matrix
	var e *Engine
	for b.Loop() {
		var err error
		e, err = New(b.Context(), ix, Options{})
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
	peak = max(peak, heapBytes())
	b.ReportMetric(float64(peak-min(peak, base))/1e6, "peak-heap-MB")
	b.ReportMetric(float64(vmHWM())/1e6, "VmHWM-MB")
	b.ReportMetric(float64(len(e.workloads)), "workloads")
	b.ReportMetric(float64(len(e.classes)), "classes")
	b.ReportMetric(float64(len(m.Nodes())-len(e.workloads)), "outside")
	b.ReportMetric(float64(len(m.sets)), "portsets")
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// vmHWM returns the process's peak resident set, 0 when /proc is absent.
func vmHWM() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
