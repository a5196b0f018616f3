package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/palisade-project/palisade/internal/answer"
)

// cacheKey names one cached response.
type cacheKey struct {
	kind   string // "question" or "inventory"
	name   string
	filter answer.Filter
}

// cacheEntry is one response, being computed until done is closed.
type cacheEntry struct {
	done chan struct{}
	body []byte
	err  error
}

// errComputeAborted is what waiters see when the computation they waited
// for panicked.
var errComputeAborted = errors.New("computing the response failed")

// answerCache keeps encoded responses for one inventory generation: every
// entry is dropped when a newer generation is seen, so the cache never
// serves stale data and never holds more than one generation. Concurrent
// requests for the same missing key wait for one computation.
type answerCache struct {
	maxEntries int
	maxBytes   int

	mu      sync.Mutex
	gen     uint64
	entries map[cacheKey]*cacheEntry
	bytes   int // size of the completed entries

	hits, misses atomic.Uint64
}

func newAnswerCache(maxEntries, maxBytes int) *answerCache {
	return &answerCache{maxEntries: maxEntries, maxBytes: maxBytes, entries: map[cacheKey]*cacheEntry{}}
}

// get returns the response for key at generation gen, from the cache or
// from compute. The returned bytes are shared: callers must not modify
// them.
func (c *answerCache) get(ctx context.Context, gen uint64, key cacheKey, compute func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if gen > c.gen {
		c.gen = gen
		clear(c.entries)
		c.bytes = 0
	}
	if gen < c.gen {
		// The caller read an older index than the cache has moved on to:
		// answer from its index without caching.
		c.mu.Unlock()
		c.misses.Add(1)
		return compute()
	}
	if e, ok := c.entries[key]; ok {
		c.mu.Unlock()
		c.hits.Add(1)
		select {
		case <-e.done:
			return e.body, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.misses.Add(1)
	if len(c.entries) >= c.maxEntries {
		c.mu.Unlock()
		return compute()
	}
	e := &cacheEntry{done: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()
	c.fill(gen, key, e, compute)
	return e.body, e.err
}

// fill computes e and then keeps it, or drops it when it failed, when it
// does not fit, or when the generation moved on meanwhile.
func (c *answerCache) fill(gen uint64, key cacheKey, e *cacheEntry, compute func() ([]byte, error)) {
	e.err = errComputeAborted
	defer func() {
		close(e.done)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.gen != gen || c.entries[key] != e {
			return
		}
		if e.err != nil || c.bytes+len(e.body) > c.maxBytes {
			delete(c.entries, key)
			return
		}
		c.bytes += len(e.body)
	}()
	e.body, e.err = compute()
}

// stats returns the cache's size for metrics.
func (c *answerCache) stats() (gen uint64, entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, len(c.entries), c.bytes
}
