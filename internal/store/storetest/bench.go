package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// BenchPutMatches compares the two ways of writing what the scan queue
// writes after a vulnerability database change, the re-match of 1,000
// stored images: 1,000 PutMatch calls, one transaction each, against one
// PutMatches of 1,000. Every match carries about 5 KB of findings and
// replaces a stored one. The ratio of the two, measured in the same run,
// is logged.
func BenchPutMatches(b *testing.B, open func(b *testing.B) store.Store) {
	const batch, findingsSize = 1000, 5000
	ways := []struct {
		name string
		put  func(ctx context.Context, sc store.Scans, ms []store.MatchResult) error
	}{
		{"PutMatch", func(ctx context.Context, sc store.Scans, ms []store.MatchResult) error {
			for _, m := range ms {
				if err := sc.PutMatch(ctx, m); err != nil {
					return err
				}
			}
			return nil
		}},
		{"PutMatches", func(ctx context.Context, sc store.Scans, ms []store.MatchResult) error {
			return sc.PutMatches(ctx, ms)
		}},
	}
	perOp := make([]time.Duration, len(ways))
	for i, w := range ways {
		b.Run(w.name, func(b *testing.B) {
			sc, ok := open(b).(store.Scans)
			if !ok {
				b.Fatal("the store does not implement store.Scans")
			}
			ms := make([]store.MatchResult, batch)
			for j := range ms {
				ms[j] = store.MatchResult{
					Digest:    fmt.Sprintf("sha256:bench-%05d", j),
					DBVersion: "v0",
					MatchedAt: scanTime,
					Findings:  findingsJSON(j, findingsSize),
				}
			}
			if err := sc.PutMatches(b.Context(), ms); err != nil {
				b.Fatalf("PutMatches: %v", err)
			}
			round := 0
			for b.Loop() {
				round++
				for j := range ms {
					ms[j].DBVersion = fmt.Sprintf("v%d", round)
					ms[j].MatchedAt = scanTime.Add(time.Duration(round) * time.Second)
				}
				if err := w.put(b.Context(), sc, ms); err != nil {
					b.Fatalf("%s: %v", w.name, err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "matches/s")
			perOp[i] = b.Elapsed() / time.Duration(b.N)
		})
	}
	if perOp[0] > 0 && perOp[1] > 0 {
		b.Logf("%d matches of %d B findings: %d PutMatch calls take %v, one PutMatches %v: %.1f× faster",
			batch, findingsSize, batch, perOp[0].Round(time.Millisecond), perOp[1].Round(time.Millisecond), float64(perOp[0])/float64(perOp[1]))
	}
}
