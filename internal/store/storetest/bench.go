package storetest

import (
	"fmt"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// BenchApply measures Apply of a batch of 1,000 workloads that are already
// stored, what a sensor sends after a burst of updates.
func BenchApply(b *testing.B, open func(b *testing.B) store.Store) {
	const batch = 1000
	s := open(b)
	objs := Workloads("bench", batch)
	if err := s.Apply(b.Context(), objs, nil); err != nil {
		b.Fatalf("Apply: %v", err)
	}
	i := 0
	for b.Loop() {
		i++
		for _, o := range objs {
			o.ObjectMeta().ResourceVersion = fmt.Sprint(i)
		}
		if err := s.Apply(b.Context(), objs, nil); err != nil {
			b.Fatalf("Apply: %v", err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "objects/s")
}

// BenchSnapshot measures Snapshot of a cluster of 10,000 workloads.
func BenchSnapshot(b *testing.B, open func(b *testing.B) store.Store) {
	const n, batch = 10000, 1000
	s := open(b)
	objs := Workloads("bench", n)
	for i := 0; i < n; i += batch {
		if err := s.Apply(b.Context(), objs[i:i+batch], nil); err != nil {
			b.Fatalf("Apply: %v", err)
		}
	}
	var snap *model.Snapshot
	for b.Loop() {
		var err error
		if snap, err = s.Snapshot(b.Context(), "bench"); err != nil {
			b.Fatalf("Snapshot: %v", err)
		}
	}
	if snap.Len() != n {
		b.Fatalf("Snapshot has %d objects, want %d", snap.Len(), n)
	}
}
