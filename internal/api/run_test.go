package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// gateAnswerer holds Ask calls while closed.
type gateAnswerer struct {
	next Answerer
	mu   sync.Mutex
	gate chan struct{} // nil when open
}

func (g *gateAnswerer) Ask(ix *inventory.Index, q string, f answer.Filter) (any, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.next.Ask(ix, q, f)
}

func (g *gateAnswerer) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
}

func (g *gateAnswerer) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.gate)
	g.gate = nil
}

// waitFor polls cond until it holds. The deadline only keeps a broken
// test from hanging; nothing here measures time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// run starts h's background work and stops it when the test ends.
func (h *harness) run(t *testing.T) {
	t.Helper()
	h.srv.warmQuiet, h.srv.warmMaxDelay = time.Millisecond, 10*time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "Run to start", func() bool {
		h.srv.bg.mu.Lock()
		defer h.srv.bg.mu.Unlock()
		return h.srv.bg.done != nil
	})
}

// warmed reports whether the unfiltered answer of every question is
// cached and current at generation gen.
func (h *harness) warmed(gen uint64) bool {
	c := h.srv.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range answer.Questions {
		slot := c.entries[cacheKey{kind: kindQuestion, name: q.Name}]
		if slot == nil || slot.ready == nil || slot.ready.gen != gen || !slot.ready.current() {
			return false
		}
	}
	return true
}

func (h *harness) owners() (gen string, stale bool, body string) {
	h.t.Helper()
	rec := h.do("GET", "/api/v1/questions/owners", h.secrets[auth.RoleViewer], "")
	if rec.Code != http.StatusOK {
		h.t.Fatalf("status %d, body %s", rec.Code, rec.Body)
	}
	return rec.Header().Get(generationHeader), rec.Header().Get(staleHeader) == "true", rec.Body.String()
}

func withWorkload(name string) *model.Snapshot {
	snap := smallSnapshot()
	snap.Add(&model.Workload{Meta: model.Meta{Cluster: "default", Namespace: "shop", Name: name},
		Kind: model.KindDeployment, Template: model.PodTemplate{Containers: []model.Container{{Name: "c", Image: model.ImageRef{Original: "x", Registry: "docker.io", Repository: "library/x"}}}}})
	return snap
}

func TestRunServesStaleWhileRecomputing(t *testing.T) {
	engine, err := answer.NewEngine(answer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	gate := &gateAnswerer{next: engine}
	h := newHarness(t, func(o *Options) { o.Answers = gate; o.MaxStale = time.Hour })
	h.run(t)
	waitFor(t, "the warm-up of generation 1", func() bool { return h.warmed(1) })
	gen, stale, before := h.owners()
	if gen != "1" || stale {
		t.Fatalf("before the change: generation %s, stale %v; want 1, fresh", gen, stale)
	}
	misses := h.srv.cache.misses.Load()

	gate.close() // recomputations now wait
	h.inv.set(withWorkload("checkout"))
	for range 3 {
		gen, stale, body := h.owners()
		if gen != "1" || !stale || body != before {
			t.Errorf("after the change: generation %s, stale %v, same body %v; want 1, stale, the answer from before", gen, stale, body == before)
		}
	}
	gate.open()
	waitFor(t, "the fresh answer", func() bool {
		gen, stale, _ := h.owners()
		return gen == "2" && !stale
	})
	if _, _, body := h.owners(); !strings.Contains(body, `"checkout"`) {
		t.Errorf("the fresh answer lacks the new workload: %s", body)
	}
	if got := h.srv.cache.misses.Load(); got != misses {
		t.Errorf("%d requests computed their answer, want none", got-misses)
	}
}

func TestRunWarmsUpAfterChanges(t *testing.T) {
	h := newHarness(t)
	h.run(t)
	for gen := uint64(2); gen <= 4; gen++ {
		h.inv.set(withWorkload("w" + string(rune('a'+gen))))
	}
	waitFor(t, "the warm-up of generation 4", func() bool { return h.warmed(4) })
	misses := h.srv.cache.misses.Load()
	for _, q := range answer.Questions {
		rec := h.do("GET", "/api/v1/questions/"+q.Name, h.secrets[auth.RoleViewer], "")
		if rec.Code != http.StatusOK || rec.Header().Get(generationHeader) != "4" || rec.Header().Get(staleHeader) != "" {
			t.Errorf("%s: status %d, generation %q, stale %q; want 200, 4, fresh", q.Name, rec.Code, rec.Header().Get(generationHeader), rec.Header().Get(staleHeader))
		}
	}
	if got := h.srv.cache.misses.Load(); got != misses {
		t.Errorf("%d requests computed their answer, want none", got-misses)
	}
}

func TestRunStops(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.srv.Run(ctx) }()
	waitFor(t, "the warm-up", func() bool { return h.warmed(1) })
	if err := h.srv.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	// Without Run, a change is answered fresh, by the request.
	h.inv.set(withWorkload("late"))
	if gen, stale, _ := h.owners(); gen != "2" || stale {
		t.Errorf("after Run: generation %s, stale %v; want 2, fresh", gen, stale)
	}
	// Run can start again.
	ctx, cancel = context.WithCancel(t.Context())
	go func() { done <- h.srv.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run again = %v", err)
	}
}

// A panic in a background computation is logged, and the server goes on.
func TestRunSurvivesPanics(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Answers = panicAnswerer{} })
	h.run(t)
	waitFor(t, "the panic to be logged", func() bool {
		return strings.Contains(h.logs.String(), "panic computing an answer in the background")
	})
	if rec := h.do("GET", "/healthz", "", ""); rec.Code != http.StatusOK {
		t.Errorf("healthz: %d", rec.Code)
	}
}
