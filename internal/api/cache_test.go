package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAnswerCacheRules(t *testing.T) {
	var computed atomic.Int64
	compute := func(body string) func() ([]byte, error) {
		return func() ([]byte, error) {
			computed.Add(1)
			return []byte(body), nil
		}
	}
	key := func(i int) cacheKey { return cacheKey{kind: "question", name: "q" + strconv.Itoa(i)} }
	ctx := t.Context()

	tests := []struct {
		name string
		run  func(t *testing.T, c *answerCache)
		// wantComputed is the number of computations run.
		wantComputed int64
	}{
		{"same key and generation computes once", func(t *testing.T, c *answerCache) {
			for range 3 {
				if b, err := c.get(ctx, 1, key(0), compute("a")); err != nil || string(b) != "a" {
					t.Fatalf("get = %q, %v", b, err)
				}
			}
		}, 1},
		{"a new generation drops every entry", func(t *testing.T, c *answerCache) {
			c.get(ctx, 1, key(0), compute("a"))
			c.get(ctx, 1, key(1), compute("b"))
			if b, _ := c.get(ctx, 2, key(0), compute("a2")); string(b) != "a2" {
				t.Errorf("after a new generation got %q, want a2", b)
			}
			if _, n, _ := c.stats(); n != 1 {
				t.Errorf("entries = %d, want 1", n)
			}
		}, 3},
		{"an older generation is answered but not cached", func(t *testing.T, c *answerCache) {
			c.get(ctx, 5, key(0), compute("new"))
			if b, _ := c.get(ctx, 4, key(0), compute("old")); string(b) != "old" {
				t.Errorf("older generation got %q, want old", b)
			}
			if b, _ := c.get(ctx, 5, key(0), compute("x")); string(b) != "new" {
				t.Errorf("current generation got %q, want new", b)
			}
		}, 2},
		{"errors are not cached", func(t *testing.T, c *answerCache) {
			boom := errors.New("boom")
			if _, err := c.get(ctx, 1, key(0), func() ([]byte, error) { computed.Add(1); return nil, boom }); !errors.Is(err, boom) {
				t.Errorf("err = %v, want boom", err)
			}
			if b, err := c.get(ctx, 1, key(0), compute("ok")); err != nil || string(b) != "ok" {
				t.Errorf("retry = %q, %v", b, err)
			}
		}, 2},
		{"entries beyond the cap are served, not kept", func(t *testing.T, c *answerCache) {
			for i := range 6 {
				c.get(ctx, 1, key(i), compute("x"))
			}
			if _, n, _ := c.stats(); n != 4 {
				t.Errorf("entries = %d, want 4", n)
			}
			c.get(ctx, 1, key(5), compute("x"))
		}, 7},
		{"bytes beyond the cap are served, not kept", func(t *testing.T, c *answerCache) {
			big := string(make([]byte, 80))
			c.get(ctx, 1, key(0), compute(big))
			if b, _ := c.get(ctx, 1, key(1), compute(big)); len(b) != 80 {
				t.Errorf("got %d bytes, want 80", len(b))
			}
			if _, n, bytes := c.stats(); n != 1 || bytes != 80 {
				t.Errorf("entries = %d, bytes = %d; want 1 and 80", n, bytes)
			}
			c.get(ctx, 1, key(1), compute(big))
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			computed.Store(0)
			c := newAnswerCache(4, 100)
			tt.run(t, c)
			if got := computed.Load(); got != tt.wantComputed {
				t.Errorf("computed %d times, want %d", got, tt.wantComputed)
			}
		})
	}
}

func TestAnswerCacheWaiterGivesUp(t *testing.T) {
	c := newAnswerCache(4, 1<<20)
	release := make(chan struct{})
	done := make(chan []byte)
	go func() {
		b, _ := c.get(t.Context(), 1, cacheKey{name: "slow"}, func() ([]byte, error) { <-release; return []byte("slow"), nil })
		done <- b
	}()
	for {
		c.mu.Lock()
		n := len(c.entries)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.get(ctx, 1, cacheKey{name: "slow"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("waiter err = %v, want context.Canceled", err)
	}
	close(release)
	if b := <-done; string(b) != "slow" {
		t.Errorf("leader got %q", b)
	}
}

// staleInventory is a view source for cache tests: a generation and the
// channel that closes when it ends.
type staleInventory struct {
	mu      sync.Mutex
	gen     uint64
	changed chan struct{}
	loads   int
}

func newStaleInventory() *staleInventory {
	return &staleInventory{gen: 1, changed: make(chan struct{})}
}

func (s *staleInventory) load() view {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	return view{gen: s.gen, changed: s.changed}
}

func (s *staleInventory) change() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *staleInventory) loaded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// staleFixture is a cache with a fake clock whose background work waits
// in spawned until the test runs it.
type staleFixture struct {
	c       *answerCache
	inv     *staleInventory
	clock   time.Time
	refuse  bool
	spawned []func(run bool)
	// computed counts computations by generation.
	computed map[uint64]int
}

func newStaleFixture(maxStale time.Duration) *staleFixture {
	fx := &staleFixture{inv: newStaleInventory(), clock: time.Unix(1000, 0), computed: map[uint64]int{}}
	fx.c = newAnswerCache(4, 1<<20)
	fx.c.maxStale = maxStale
	fx.c.now = func() time.Time { return fx.clock }
	fx.c.load = fx.inv.load
	fx.c.active = func() bool { return !fx.refuse }
	fx.c.spawn = func(f func(run bool)) bool {
		if fx.refuse {
			return false
		}
		fx.spawned = append(fx.spawned, f)
		return true
	}
	return fx
}

func (fx *staleFixture) compute(v view) ([]byte, error) {
	fx.computed[v.gen]++
	return []byte("gen" + strconv.FormatUint(v.gen, 10)), nil
}

func (fx *staleFixture) serve(t *testing.T, key cacheKey) result {
	t.Helper()
	r, err := fx.c.serve(t.Context(), key, true, false, fx.compute)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	return r
}

// runSpawned runs the background work started so far.
func (fx *staleFixture) runSpawned(run bool) {
	fs := fx.spawned
	fx.spawned = nil
	for _, f := range fs {
		f(run)
	}
}

func TestAnswerCacheStale(t *testing.T) {
	const maxStale = 2 * time.Second
	key := cacheKey{kind: kindQuestion, name: "q"}
	type want struct {
		body  string
		gen   uint64
		stale bool
	}
	check := func(t *testing.T, r result, w want) {
		t.Helper()
		if got := (want{string(r.body), r.gen, r.stale}); got != w {
			t.Errorf("served %+v, want %+v", got, w)
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T, fx *staleFixture)
	}{
		{"a current answer is served without reading the inventory", func(t *testing.T, fx *staleFixture) {
			check(t, fx.serve(t, key), want{"gen1", 1, false})
			loads := fx.inv.loaded()
			for range 3 {
				check(t, fx.serve(t, key), want{"gen1", 1, false})
			}
			if got := fx.inv.loaded(); got != loads {
				t.Errorf("the inventory was read %d more times", got-loads)
			}
		}},
		{"after a change the old answer is served stale and refreshed once", func(t *testing.T, fx *staleFixture) {
			fx.serve(t, key)
			fx.inv.change()
			fx.clock = fx.clock.Add(time.Second)
			for range 3 {
				check(t, fx.serve(t, key), want{"gen1", 1, true})
			}
			if len(fx.spawned) != 1 {
				t.Fatalf("%d refreshes started, want 1", len(fx.spawned))
			}
			fx.runSpawned(true)
			check(t, fx.serve(t, key), want{"gen2", 2, false})
			if fx.computed[2] != 1 {
				t.Errorf("generation 2 computed %d times, want 1", fx.computed[2])
			}
			if got := fx.c.stale.Load(); got != 3 {
				t.Errorf("stale count = %d, want 3", got)
			}
		}},
		{"staleness counts from the change, not from the computation", func(t *testing.T, fx *staleFixture) {
			fx.serve(t, key)
			fx.clock = fx.clock.Add(time.Hour)
			fx.inv.change()
			fx.c.notice()
			fx.clock = fx.clock.Add(maxStale)
			check(t, fx.serve(t, key), want{"gen1", 1, true})
		}},
		{"an answer stale for longer than maxStale waits for the fresh one", func(t *testing.T, fx *staleFixture) {
			fx.serve(t, key)
			fx.inv.change()
			fx.c.notice()
			fx.clock = fx.clock.Add(maxStale + time.Millisecond)
			check(t, fx.serve(t, key), want{"gen2", 2, false})
			if len(fx.spawned) != 0 {
				t.Errorf("%d refreshes started, want none", len(fx.spawned))
			}
		}},
		{"nothing is served stale when no background work may start", func(t *testing.T, fx *staleFixture) {
			fx.serve(t, key)
			fx.refuse = true
			fx.inv.change()
			check(t, fx.serve(t, key), want{"gen2", 2, false})
		}},
		{"an abandoned refresh is started again by the next request", func(t *testing.T, fx *staleFixture) {
			fx.serve(t, key)
			fx.inv.change()
			check(t, fx.serve(t, key), want{"gen1", 1, true})
			fx.runSpawned(false)
			check(t, fx.serve(t, key), want{"gen1", 1, true})
			if len(fx.spawned) != 1 {
				t.Fatalf("%d refreshes started after the abandoned one, want 1", len(fx.spawned))
			}
			fx.runSpawned(true)
			check(t, fx.serve(t, key), want{"gen2", 2, false})
		}},
		{"a refresh reads the inventory when it runs", func(t *testing.T, fx *staleFixture) {
			fx.serve(t, key)
			fx.inv.change()
			fx.serve(t, key)
			fx.inv.change()
			fx.runSpawned(true)
			check(t, fx.serve(t, key), want{"gen3", 3, false})
			if fx.computed[2] != 0 {
				t.Errorf("generation 2 computed %d times, want 0", fx.computed[2])
			}
		}},
		{"the inventory summary is never stale", func(t *testing.T, fx *staleFixture) {
			inv := cacheKey{kind: kindInventory}
			fx.c.serve(t.Context(), inv, false, false, fx.compute)
			fx.inv.change()
			r, err := fx.c.serve(t.Context(), inv, false, false, fx.compute)
			if err != nil {
				t.Fatal(err)
			}
			check(t, r, want{"gen2", 2, false})
		}},
		{"with maxStale 0 nothing is stale", func(t *testing.T, fx *staleFixture) {
			fx.c.maxStale = 0
			fx.serve(t, key)
			fx.inv.change()
			check(t, fx.serve(t, key), want{"gen2", 2, false})
			if _, n, _ := fx.c.stats(); n != 1 {
				t.Errorf("entries = %d, want 1", n)
			}
		}},
		{"stale answers are dropped once they cannot be served", func(t *testing.T, fx *staleFixture) {
			other := cacheKey{kind: kindQuestion, name: "other"}
			fx.serve(t, key)
			fx.serve(t, other)
			fx.inv.change()
			fx.c.notice()
			if _, n, _ := fx.c.stats(); n != 2 {
				t.Fatalf("entries = %d right after the change, want 2", n)
			}
			fx.clock = fx.clock.Add(maxStale + time.Millisecond)
			fx.c.notice()
			if _, n, bytes := fx.c.stats(); n != 0 || bytes != 0 {
				t.Errorf("entries = %d, bytes = %d; want none", n, bytes)
			}
		}},
		{"stale answers make room for current ones", func(t *testing.T, fx *staleFixture) {
			for i := range 4 {
				fx.serve(t, cacheKey{kind: kindQuestion, name: strconv.Itoa(i)})
			}
			fx.inv.change()
			fx.c.notice()
			r := fx.serve(t, cacheKey{kind: kindQuestion, name: "new"})
			check(t, r, want{"gen2", 2, false})
			if _, n, _ := fx.c.stats(); n != 4 {
				t.Errorf("entries = %d, want 4", n)
			}
			if fx.serve(t, cacheKey{kind: kindQuestion, name: "new"}); fx.computed[2] != 1 {
				t.Errorf("the new answer was not kept")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStaleFixture(maxStale))
		})
	}
}

// A request whose answer is too stale joins the refresh in progress.
func TestAnswerCacheJoinsRefresh(t *testing.T) {
	fx := newStaleFixture(time.Second)
	key := cacheKey{kind: kindQuestion, name: "q"}
	fx.serve(t, key)
	fx.inv.change()
	release := make(chan struct{})
	slow := func(v view) ([]byte, error) { <-release; return fx.compute(v) }
	if r, err := fx.c.serve(t.Context(), key, true, false, slow); err != nil || !r.stale {
		t.Fatalf("serve = %+v, %v; want a stale answer", r, err)
	}
	fx.clock = fx.clock.Add(time.Hour) // from now on the old answer is too stale
	go fx.runSpawned(true)
	for {
		fx.c.mu.Lock()
		started := fx.c.entries[key].pending.gen != 0
		fx.c.mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	got := make(chan result)
	go func() {
		r, _ := fx.c.serve(t.Context(), key, true, false, fx.compute)
		got <- r
	}()
	// One hit was the stale answer, the next is the request joining.
	for fx.c.hits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if r := <-got; string(r.body) != "gen2" || r.stale {
		t.Errorf("served %q stale=%v, want gen2 fresh", r.body, r.stale)
	}
	if fx.computed[2] != 1 {
		t.Errorf("generation 2 computed %d times, want 1", fx.computed[2])
	}
}

// gunzip returns b decompressed.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bigCompute is fx.compute with bodies over gzipMinSize that compress well.
func (fx *staleFixture) bigCompute(v view) ([]byte, error) {
	b, err := fx.compute(v)
	return bytes.Repeat(append(b, ' '), 400), err
}

func (fx *staleFixture) serveZip(t *testing.T, key cacheKey, zip bool) result {
	t.Helper()
	r, err := fx.c.serve(t.Context(), key, true, zip, fx.bigCompute)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	return r
}

func TestAnswerCacheGzip(t *testing.T) {
	const maxStale = 2 * time.Second
	key := cacheKey{kind: kindQuestion, name: "q"}
	// check verifies r: its generation and staleness, whether it has a
	// gzip copy, and that the copy holds the plain bytes.
	check := func(t *testing.T, r result, gen uint64, stale, zipped bool) {
		t.Helper()
		if r.gen != gen || r.stale != stale || (r.gz != nil) != zipped {
			t.Errorf("served generation %d, stale %v, gzip %v; want %d, %v, %v", r.gen, r.stale, r.gz != nil, gen, stale, zipped)
		}
		if want := "gen" + strconv.FormatUint(gen, 10) + " "; !strings.HasPrefix(string(r.body), want) {
			t.Errorf("body starts %.10q, want %q", r.body, want)
		}
		if r.gz != nil && !bytes.Equal(gunzip(t, r.gz), r.body) {
			t.Error("the gzip copy does not hold the plain bytes")
		}
	}
	bytesHeld := func(fx *staleFixture) int {
		_, _, n := fx.c.stats()
		return n
	}
	tests := []struct {
		name string
		run  func(t *testing.T, fx *staleFixture)
	}{
		{"a request that computes and wants gzip compresses, and both copies count", func(t *testing.T, fx *staleFixture) {
			r := fx.serveZip(t, key, true)
			check(t, r, 1, false, true)
			if got, want := bytesHeld(fx), len(r.body)+len(r.gz); got != want {
				t.Errorf("cache bytes = %d, want %d (plain %d + gzip %d)", got, want, len(r.body), len(r.gz))
			}
			check(t, fx.serveZip(t, key, false), 1, false, false)
			check(t, fx.serveZip(t, key, true), 1, false, true)
			if n := fx.c.compressions.Load(); n != 1 {
				t.Errorf("%d compressions, want 1", n)
			}
		}},
		{"a plain answer is compressed once, in the background, meanwhile served plain", func(t *testing.T, fx *staleFixture) {
			r := fx.serveZip(t, key, false)
			plainBytes := bytesHeld(fx)
			if plainBytes != len(r.body) {
				t.Errorf("cache bytes = %d, want %d", plainBytes, len(r.body))
			}
			for range 3 {
				check(t, fx.serveZip(t, key, true), 1, false, false)
			}
			if len(fx.spawned) != 1 || fx.c.compressions.Load() != 0 {
				t.Fatalf("%d compressions started, %d done; want 1 started in the background", len(fx.spawned), fx.c.compressions.Load())
			}
			fx.runSpawned(true)
			r = fx.serveZip(t, key, true)
			check(t, r, 1, false, true)
			if got, want := bytesHeld(fx), plainBytes+len(r.gz); got != want {
				t.Errorf("cache bytes = %d, want %d", got, want)
			}
			fx.serveZip(t, key, true)
			if len(fx.spawned) != 0 || fx.c.compressions.Load() != 1 {
				t.Errorf("%d more compressions started, %d done; want none and 1", len(fx.spawned), fx.c.compressions.Load())
			}
		}},
		{"an abandoned compression is started again", func(t *testing.T, fx *staleFixture) {
			fx.serveZip(t, key, false)
			fx.serveZip(t, key, true)
			fx.runSpawned(false)
			check(t, fx.serveZip(t, key, true), 1, false, false)
			if len(fx.spawned) != 1 {
				t.Fatalf("%d compressions started after the abandoned one, want 1", len(fx.spawned))
			}
			fx.runSpawned(true)
			check(t, fx.serveZip(t, key, true), 1, false, true)
		}},
		{"no compression starts without background work", func(t *testing.T, fx *staleFixture) {
			fx.refuse = true
			fx.serveZip(t, key, false)
			check(t, fx.serveZip(t, key, true), 1, false, false)
			if fx.c.compressions.Load() != 0 {
				t.Errorf("%d compressions, want none", fx.c.compressions.Load())
			}
		}},
		{"small answers are not compressed", func(t *testing.T, fx *staleFixture) {
			r, err := fx.c.serve(t.Context(), key, true, true, fx.compute)
			if err != nil || r.gz != nil || fx.c.compressions.Load() != 0 {
				t.Errorf("serve = %q, gzip %v, %v; %d compressions; want plain, none", r.body, r.gz != nil, err, fx.c.compressions.Load())
			}
			fx.c.serve(t.Context(), key, true, true, fx.compute)
			if len(fx.spawned) != 0 {
				t.Errorf("%d compressions started, want none", len(fx.spawned))
			}
		}},
		{"stale answers are served with their gzip copy, and the refresh compresses", func(t *testing.T, fx *staleFixture) {
			fx.serveZip(t, key, true)
			fx.inv.change()
			for range 3 {
				check(t, fx.serveZip(t, key, true), 1, true, true)
				check(t, fx.serveZip(t, key, false), 1, true, false)
			}
			if len(fx.spawned) != 1 {
				t.Fatalf("%d background jobs started, want the one refresh", len(fx.spawned))
			}
			fx.runSpawned(true)
			check(t, fx.serveZip(t, key, true), 2, false, true)
			if n := fx.c.compressions.Load(); n != 2 {
				t.Errorf("%d compressions, want 2: one per generation", n)
			}
			if fx.computed[2] != 1 {
				t.Errorf("generation 2 computed %d times, want 1", fx.computed[2])
			}
		}},
		{"a stale plain answer is not compressed", func(t *testing.T, fx *staleFixture) {
			fx.serveZip(t, key, false)
			fx.inv.change()
			check(t, fx.serveZip(t, key, true), 1, true, false)
			fx.runSpawned(true)
			if n := fx.c.compressions.Load(); n != 1 {
				t.Errorf("%d compressions, want 1: the refresh only", n)
			}
			check(t, fx.serveZip(t, key, true), 2, false, true)
		}},
		{"a compression of a replaced answer is dropped", func(t *testing.T, fx *staleFixture) {
			fx.serveZip(t, key, false)
			fx.serveZip(t, key, true) // starts compressing generation 1
			fx.inv.change()
			fx.c.notice()
			fx.clock = fx.clock.Add(maxStale + time.Millisecond)
			r := fx.serveZip(t, key, false) // too stale: computes generation 2
			fx.runSpawned(true)
			if got := bytesHeld(fx); got != len(r.body) {
				t.Errorf("cache bytes = %d, want %d: generation 2 alone", got, len(r.body))
			}
		}},
		{"dropping an answer frees both copies", func(t *testing.T, fx *staleFixture) {
			fx.serveZip(t, key, true)
			fx.inv.change()
			fx.c.notice()
			fx.clock = fx.clock.Add(maxStale + time.Millisecond)
			fx.c.notice()
			if _, n, b := fx.c.stats(); n != 0 || b != 0 {
				t.Errorf("entries = %d, bytes = %d; want none", n, b)
			}
		}},
		{"an answer that fits only plain is kept plain", func(t *testing.T, fx *staleFixture) {
			body, _ := fx.bigCompute(view{gen: 1})
			fx.c.maxBytes = len(body) + 10
			check(t, fx.serveZip(t, key, true), 1, false, true) // the request gets its copy
			if got := bytesHeld(fx); got != len(body) {
				t.Errorf("cache bytes = %d, want %d: the plain answer alone", got, len(body))
			}
			check(t, fx.serveZip(t, key, true), 1, false, false)
			fx.runSpawned(true)
			check(t, fx.serveZip(t, key, true), 1, false, false)
			if n := fx.c.compressions.Load(); n != 1 {
				t.Errorf("%d compressions, want 1", n)
			}
		}},
		{"a lazy gzip copy makes room by evicting stale answers", func(t *testing.T, fx *staleFixture) {
			other := cacheKey{kind: kindQuestion, name: "other"}
			fx.serveZip(t, other, false)
			fx.inv.change()
			fx.c.notice()
			r := fx.serveZip(t, key, false)
			fx.c.maxBytes = 2*len(r.body) + 10 // room for the gzip copy only without other
			fx.serveZip(t, key, true)
			fx.runSpawned(true)
			check(t, fx.serveZip(t, key, true), 2, false, true)
			if _, n, _ := fx.c.stats(); n != 1 {
				t.Errorf("entries = %d, want 1", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStaleFixture(maxStale))
		})
	}
}
