package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

// storeFlows is a FlowStore that writes to a store, as the server's does.
type storeFlows struct{ st store.Flows }

func (s storeFlows) AddFlows(ctx context.Context, source string, recs []flows.Record) error {
	return s.st.PutFlows(ctx, source, recs)
}

// BenchmarkImportFlows1M imports a 1,000,000-line flow log (gzip, as
// "palisade flows import" sends it) into a SQLite store through the
// handler: reading, resolving against 2,000 workloads, storing.
func BenchmarkImportFlows1M(b *testing.B) {
	const lines, n = 1_000_000, 2_000
	snap := &model.Snapshot{}
	ip := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256) }
	for i := range n {
		ns, name := fmt.Sprintf("ns-%03d", i/10), fmt.Sprintf("app-%04d", i)
		snap.Add(&model.Workload{Meta: model.Meta{Cluster: "default", Namespace: ns, Name: name}, Kind: model.KindDeployment,
			Template: model.PodTemplate{Containers: []model.Container{{Name: "app"}}}})
		snap.Add(&model.Workload{Meta: model.Meta{Cluster: "default", Namespace: ns, Name: name + "-1"}, Kind: model.KindPod,
			Owner: &model.OwnerRef{Kind: "Deployment", Name: name}, Template: model.PodTemplate{Containers: []model.Container{{Name: "app"}}},
			Status: &model.PodStatus{Phase: "Running", PodIP: ip(i)}})
	}
	// The log of internal/flows' BenchmarkImportLog1M.
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now().UTC().Add(-7 * 24 * time.Hour)
	var raw bytes.Buffer
	for i := range lines {
		at := t0.Add(time.Duration(i) * 6 * 24 * time.Hour / lines).Format(time.RFC3339)
		src := rng.IntN(n)
		dst := (src + 1 + rng.IntN(10)) % n
		if i%20 == 0 {
			fmt.Fprintf(&raw, `{"time":%q,"src":%q,"dst":"203.0.%d.%d","dstPort":443,"protocol":"TCP","count":1}`+"\n", at, ip(src), rng.IntN(4), rng.IntN(250))
			continue
		}
		fmt.Fprintf(&raw, `{"time":%q,"src":%q,"dst":%q,"dstPort":%d,"protocol":"TCP","count":%d}`+"\n", at, ip(src), ip(dst), 8000+dst%100, 1+rng.IntN(5))
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(raw.Bytes())
	zw.Close()
	b.Logf("log: %d lines, %d MB, %d MB gzip", lines, raw.Len()>>20, zipped.Len()>>20)
	raw = bytes.Buffer{}

	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "p.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		h := newBenchHarness(b, snap, storeFlows{st})
		runtime.GC()
		sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				rtmetrics.Read(sample)
				peak = max(peak, sample[0].Value.Uint64())
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
		b.StartTimer()
		req := httptest.NewRequest("POST", "/api/v1/flows", bytes.NewReader(zipped.Bytes()))
		req.Header.Set("Authorization", "Bearer "+h.secret)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Content-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req)
		b.StopTimer()
		close(done)
		wg.Wait()
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		set, err := st.FlowRecords(b.Context(), store.FlowQuery{})
		if err != nil || len(set.Records) < 20_000 {
			b.Fatalf("%v: %d records stored", err, len(set.Records))
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(len(set.Records)), "paths")
		st.Close()
		b.StartTimer()
	}
}

type benchHarness struct {
	srv    *Server
	secret string
}

func newBenchHarness(b *testing.B, snap *model.Snapshot, fs FlowStore) benchHarness {
	tokens := newFakeTokens()
	secret := addToken(b, tokens, "analyst", auth.RoleAnalyst)
	srv := New(Options{Inventory: newFakeInventory(snap), Answers: noAnswers{}, Tokens: tokens, Flows: fs})
	return benchHarness{srv: srv, secret: secret}
}

// noAnswers answers nothing: an import asks no question.
type noAnswers struct{}

func (noAnswers) Ask(ix *inventory.Index, question string, f answer.Filter) (any, error) {
	return nil, nil
}
