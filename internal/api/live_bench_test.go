package api

import (
	"context"
	"flag"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/state"
	"github.com/palisade-project/palisade/internal/synth"
)

var (
	liveDuration = flag.Duration("live.duration", 5*time.Second, "how long BenchmarkLiveQuestions sends requests")
	liveClients  = flag.Int("live.clients", 8, "concurrent clients of BenchmarkLiveQuestions")
	liveEvery    = flag.Duration("live.every", 100*time.Millisecond, "interval between inventory changes in BenchmarkLiveQuestions")
	liveGzip     = flag.Bool("live.gzip", false, "BenchmarkLiveQuestions clients send Accept-Encoding: gzip")
)

// nopStore is a state.Store that keeps nothing: the benchmark measures the
// memory copy and the API, not a database.
type nopStore struct{}

func (nopStore) Apply(context.Context, []model.Object, []model.Key) error { return nil }
func (nopStore) Replace(context.Context, string, []model.Kind, []model.Object) error {
	return nil
}
func (nopStore) Snapshot(context.Context, string) (*model.Snapshot, error) {
	return &model.Snapshot{}, nil
}

// BenchmarkLiveQuestions serves every question over the 10k cluster of the
// acceptance target (synth.Default10k) while the inventory changes: a
// goroutine applies a change to a real *state.State every -live.every
// (default 100 ms, so every answer's generation is soon out of date), and
// -live.clients clients (default 8) each ask the four questions in turn,
// pausing 5 ms between requests, for -live.duration (default 5 s).
// Requests go through the whole handler, as in BenchmarkQuestion. It
// reports the p50, p99 and maximum latency of each question in ms, the
// share of stale answers, and how stale they were: the p99 and maximum
// time since the change that ended their generation. With -live.gzip the
// clients ask for gzip, and it also reports the share of gzip answers.
//
// "run" is the handler with Run: stale-while-revalidate and warm-up.
// "no-run" is the same handler without Run, which answers like the cache
// before them: a request after a change waits for its answer to be
// computed. Run it with -benchtime 1x:
//
//	go test -run '^$' -bench BenchmarkLiveQuestions -benchtime 1x ./internal/api/
func BenchmarkLiveQuestions(b *testing.B) {
	snap := synth.Generate(synth.Default10k())
	engine, err := answer.NewEngine(answer.Config{TrustedRegistries: []string{"ghcr.io/acme"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"run", "no-run"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				live := state.New(nopStore{}, slog.New(slog.DiscardHandler))
				if err := live.Replace(b.Context(), model.DefaultCluster, model.AllKinds, snap.Objects()); err != nil {
					b.Fatal(err)
				}
				tokens := newFakeTokens()
				secret := addToken(b, tokens, "bench", auth.RoleViewer)
				srv := New(Options{Inventory: live, Answers: engine, Tokens: tokens, Logger: slog.New(slog.DiscardHandler)})
				lat, stale, zipped := liveLoad(b, live, srv, secret, snap.Workloads, mode == "run")
				slices.Sort(stale)
				if len(stale) > 0 {
					b.ReportMetric(ms(stale[len(stale)*99/100]), "staleness-p99-ms")
					b.ReportMetric(ms(stale[len(stale)-1]), "staleness-max-ms")
				}
				total := 0
				for _, q := range answer.Questions {
					l := lat[q.Name]
					slices.Sort(l)
					total += len(l)
					b.ReportMetric(ms(l[len(l)/2]), q.Name+"-p50-ms")
					b.ReportMetric(ms(l[len(l)*99/100]), q.Name+"-p99-ms")
					b.ReportMetric(ms(l[len(l)-1]), q.Name+"-max-ms")
				}
				b.ReportMetric(float64(len(stale))/float64(total), "stale/req")
				if *liveGzip {
					b.ReportMetric(float64(zipped)/float64(total), "gzip/req")
				}
				b.ReportMetric(float64(total), "requests")
			}
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// liveLoad changes live and sends requests as BenchmarkLiveQuestions
// describes, and returns the latencies of each question and the staleness
// of each stale answer, and how many answers were gzip-compressed.
func liveLoad(b *testing.B, live *state.State, srv *Server, secret string, workloads []*model.Workload, run bool) (map[string][]time.Duration, []time.Duration, int) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	if run {
		wg.Go(func() { _ = srv.Run(ctx) })
	}
	request := func(q string, w *discard) {
		req := httptest.NewRequest("GET", "/api/v1/questions/"+q, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		if *liveGzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		w.header, w.n, w.status = http.Header{}, 0, 0
		srv.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Errorf("%s: status %d", q, w.status)
		}
	}
	// Every answer computed once before the clock starts.
	for _, q := range answer.Questions {
		request(q.Name, &discard{})
	}
	// Only the goroutine below changes live, one generation at a time:
	// generation gen0+i ends at the i-th change, at ended[i] or just
	// after.
	_, gen0 := live.Index()
	var (
		mu    sync.Mutex
		ended []time.Time
	)
	endOf := func(gen uint64) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return ended[gen-gen0]
	}

	deadline := time.Now().Add(*liveDuration)
	wg.Go(func() {
		t := time.NewTicker(*liveEvery)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// A new revision of one workload, as a sensor would record a
			// rollout; the original objects stay untouched, since older
			// indexes share them.
			w := *workloads[i%len(workloads)]
			w.Annotations = maps.Clone(w.Annotations)
			if w.Annotations == nil {
				w.Annotations = map[string]string{}
			}
			w.Annotations["bench.palisade.dev/revision"] = strconv.Itoa(i)
			mu.Lock()
			ended = append(ended, time.Now())
			mu.Unlock()
			_ = live.Apply(ctx, []model.Object{&w}, nil)
		}
	})
	var (
		lat    = map[string][]time.Duration{}
		stale  []time.Duration
		zipped int
	)
	var clients sync.WaitGroup
	for c := range *liveClients {
		clients.Go(func() {
			mine := map[string][]time.Duration{}
			var myStale []time.Duration
			myZipped := 0
			w := &discard{}
			for i := c; time.Now().Before(deadline); i++ {
				q := answer.Questions[i%len(answer.Questions)].Name
				start := time.Now()
				request(q, w)
				done := time.Now()
				mine[q] = append(mine[q], done.Sub(start))
				if w.header.Get("Content-Encoding") == "gzip" {
					myZipped++
				}
				if w.header.Get(staleHeader) == "true" {
					gen, err := strconv.ParseUint(w.header.Get(generationHeader), 10, 64)
					if err != nil {
						b.Errorf("%s: %v", generationHeader, err)
					}
					myStale = append(myStale, done.Sub(endOf(gen)))
				}
				time.Sleep(5 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			for q, l := range mine {
				lat[q] = append(lat[q], l...)
			}
			stale = append(stale, myStale...)
			zipped += myZipped
		})
	}
	clients.Wait()
	cancel()
	return lat, stale, zipped
}
