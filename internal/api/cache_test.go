package api

import (
	"context"
	"errors"
	"strconv"
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
