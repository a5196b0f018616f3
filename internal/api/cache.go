package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/inventory"
)

// cacheKey names one cached response.
type cacheKey struct {
	kind   string // "question", "report" or "inventory"
	name   string
	filter answer.Filter
}

// view is the inventory as one computation sees it. changed was taken
// before the index was read, so while it is open gen is the current
// generation; nil means the inventory does not say.
type view struct {
	ix      *inventory.Index
	gen     uint64
	changed <-chan struct{}
}

// computeFunc computes a response from a view.
type computeFunc func(v view) ([]byte, error)

// cacheEntry is one response, being computed until done is closed.
type cacheEntry struct {
	done chan struct{}
	body []byte
	err  error
	// gz is body gzip-compressed, or nil: body is small, no request has
	// wanted it compressed yet, it is being compressed, or the copy did
	// not fit the cache. It is set before done is closed or later under
	// answerCache.mu, so it is read under mu.
	gz []byte
	// zipped is set once body has been compressed or a compression has
	// started, so that each response is compressed at most once. c.mu
	// guards it once done is closed.
	zipped bool
	// gen is the generation the response is computed from, and changed
	// the view's channel: the response is current while changed is open.
	// Both are zero for a refresh that has not read the inventory yet.
	gen     uint64
	changed <-chan struct{}
	// endedAt is when the cache noticed that changed was closed, the
	// moment the response became stale; zero until then.
	endedAt time.Time
}

// size is what e counts against the cache's byte bound: both copies.
func (e *cacheEntry) size() int { return len(e.body) + len(e.gz) }

// current reports whether e's generation is known to be the inventory's
// current one.
func (e *cacheEntry) current() bool {
	if e.changed == nil {
		return false
	}
	select {
	case <-e.changed:
		return false
	default:
		return true
	}
}

// cacheSlot holds what the cache has for one key.
type cacheSlot struct {
	// ready is the newest response computed, of whatever generation.
	ready *cacheEntry
	// pending is the newest computation in progress.
	pending *cacheEntry
}

// errComputeAborted is what waiters see when the computation they waited
// for panicked or was abandoned.
var errComputeAborted = errors.New("computing the response failed")

// result is a response served from the cache.
type result struct {
	body []byte
	// gz is body gzip-compressed, when the caller asked for it and it is
	// at hand; nil means send body.
	gz  []byte
	gen uint64
	// stale is set when gen is not the current generation.
	stale bool
}

// answerCache keeps encoded responses. Concurrent requests for a missing
// response wait for one computation.
//
// Responses of gzipMin bytes or more are kept gzip-compressed too, both
// copies counting against maxBytes, and each is compressed at most once:
// background computations compress what they compute before they publish
// it, and so does a request that computes a response and wants it
// compressed. A request that wants a ready response compressed which has
// no compressed copy gets the plain one, and starts compressing it in the
// background (through spawn), so that no request waits for the
// compression of a response it could have had at once.
//
// With maxStale 0 it holds one inventory generation: every response is
// dropped when a newer generation is seen, so it never serves stale data.
// With maxStale > 0 it keeps the newest response of each key across
// generations. A request whose response was superseded less than maxStale
// ago gets it at once, marked stale, and starts one background
// recomputation through spawn; older ones wait for a fresh computation.
// Stale responses are served only while spawn accepts work, so that each
// one is followed by a refresh.
type answerCache struct {
	maxEntries int
	maxBytes   int
	maxStale   time.Duration
	// gzipMin is the smallest response kept compressed.
	gzipMin int
	now     func() time.Time
	// load reads the inventory for a background computation.
	load func() view
	// spawn runs f in the background; run is false when the background
	// ended before f could start. It returns false, without calling f,
	// when no background work may start. A nil spawn never accepts.
	spawn func(f func(run bool)) bool
	// active reports whether background work may start; nil means never.
	active func() bool

	mu      sync.Mutex
	gen     uint64 // newest generation seen
	entries map[cacheKey]*cacheSlot
	bytes   int // size of the ready responses

	hits, misses, stale, refreshes, compressions atomic.Uint64
}

// gzipMinSize is the smallest response worth compressing: below it the
// gzip header and the work outweigh the bytes saved.
const gzipMinSize = 1 << 10

func newAnswerCache(maxEntries, maxBytes int) *answerCache {
	return &answerCache{maxEntries: maxEntries, maxBytes: maxBytes, gzipMin: gzipMinSize, now: time.Now, entries: map[cacheKey]*cacheSlot{}}
}

// serve returns the response for key: from the cache when it is current
// (or, if allowStale, stale within maxStale), else computed from the
// current inventory. With zip, the result carries the gzip copy when
// there is one (see answerCache). The returned bytes are shared: callers
// must not modify them.
func (c *answerCache) serve(ctx context.Context, key cacheKey, allowStale, zip bool, compute computeFunc) (result, error) {
	if r, ok, err := c.lookup(ctx, key, allowStale, zip, compute); ok || err != nil {
		return r, err
	}
	return c.getView(ctx, c.load(), key, zip, compute)
}

// lookup answers key without reading the inventory when it can. ok is
// false when the caller must read the inventory and call getView.
func (c *answerCache) lookup(ctx context.Context, key cacheKey, allowStale, zip bool, compute computeFunc) (r result, ok bool, err error) {
	c.mu.Lock()
	slot := c.entries[key]
	if slot == nil {
		c.mu.Unlock()
		return result{}, false, nil
	}
	if e := slot.ready; e != nil && e.changed != nil {
		if e.current() {
			r := c.served(key, e, zip, false)
			c.mu.Unlock()
			c.hits.Add(1)
			return r, true, nil
		}
		now := c.now()
		if e.endedAt.IsZero() {
			e.endedAt = now
		}
		if allowStale && c.maxStale > 0 && now.Sub(e.endedAt) <= c.maxStale && c.refresh(key, slot, compute) {
			r := c.served(key, e, zip, true)
			c.mu.Unlock()
			c.hits.Add(1)
			c.stale.Add(1)
			return r, true, nil
		}
	}
	if p := slot.pending; p != nil && p.current() {
		c.mu.Unlock()
		c.hits.Add(1)
		r, err := c.wait(ctx, key, p, zip)
		return r, true, err
	}
	c.mu.Unlock()
	return result{}, false, nil
}

// refresh makes sure a computation of key is in progress, starting one in
// the background if none is. It reports false when the background does
// not run, or when none is in progress and none could start. c.mu is
// held.
func (c *answerCache) refresh(key cacheKey, slot *cacheSlot, compute computeFunc) bool {
	if c.active == nil || !c.active() || c.spawn == nil {
		return false
	}
	if slot.pending != nil {
		return true
	}
	p := &cacheEntry{done: make(chan struct{})}
	if !c.spawn(func(run bool) { c.recompute(key, p, run, compute) }) {
		return false
	}
	slot.pending = p
	c.refreshes.Add(1)
	return true
}

// warm computes key from the current inventory unless the cache has it
// current or a computation of it is in progress. It runs in the caller's
// goroutine.
func (c *answerCache) warm(key cacheKey, compute computeFunc) {
	c.mu.Lock()
	slot := c.entries[key]
	if slot == nil {
		if len(c.entries) >= c.maxEntries && !c.evictOne(key) {
			c.mu.Unlock()
			return
		}
		slot = &cacheSlot{}
		c.entries[key] = slot
	}
	if slot.pending != nil || slot.ready != nil && slot.ready.current() {
		c.mu.Unlock()
		return
	}
	p := &cacheEntry{done: make(chan struct{})}
	slot.pending = p
	c.mu.Unlock()
	c.refreshes.Add(1)
	c.recompute(key, p, true, compute)
}

// recompute fills p, the pending entry of key, from the current inventory,
// or abandons it when run is false.
func (c *answerCache) recompute(key cacheKey, p *cacheEntry, run bool, compute computeFunc) {
	if !run {
		c.abandon(key, p)
		return
	}
	v := c.load()
	c.mu.Lock()
	c.advance(v.gen)
	if slot := c.entries[key]; slot != nil && slot.ready != nil && slot.ready.gen >= v.gen {
		// Computed meanwhile, by a request that did not wait for p.
		r := slot.ready
		p.body, p.gz, p.gen, p.changed = r.body, r.gz, r.gen, r.changed
		if slot.pending == p {
			slot.pending = nil
		}
		c.mu.Unlock()
		close(p.done)
		return
	}
	p.gen, p.changed = v.gen, v.changed
	c.mu.Unlock()
	// Off the request path: compress now, so that the response is
	// published with its gzip copy and gzip requests never get the plain
	// one meanwhile.
	c.fill(key, p, compute, v, true)
}

// abandon drops p, a refresh that never ran.
func (c *answerCache) abandon(key cacheKey, p *cacheEntry) {
	p.err = errComputeAborted
	close(p.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	if slot := c.entries[key]; slot != nil && slot.pending == p {
		slot.pending = nil
		if slot.ready == nil {
			delete(c.entries, key)
		}
	}
}

// wait returns e, key's response, once it is computed, or ctx's error if
// ctx ends first.
func (c *answerCache) wait(ctx context.Context, key cacheKey, e *cacheEntry, zip bool) (result, error) {
	select {
	case <-e.done:
	default:
		select {
		case <-e.done:
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
	}
	if e.err != nil {
		return result{gen: e.gen}, e.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served(key, e, zip, false), nil
}

// served returns e, a computed response of key, as a result; with zip,
// with its gzip copy if it has one, and otherwise it starts compressing e
// for the next requests. c.mu is held.
func (c *answerCache) served(key cacheKey, e *cacheEntry, zip, stale bool) result {
	r := result{body: e.body, gen: e.gen, stale: stale}
	if zip {
		r.gz = e.gz
		if r.gz == nil {
			c.compressLater(key, e)
		}
	}
	return r
}

// compressLater starts compressing e, the ready response of key, in the
// background, unless it is small, has been compressed or is being
// compressed, is superseded, or no background work may start. c.mu is
// held.
func (c *answerCache) compressLater(key cacheKey, e *cacheEntry) {
	if e.zipped || len(e.body) < c.gzipMin || c.superseded(e) || c.active == nil || !c.active() || c.spawn == nil {
		return
	}
	if slot := c.entries[key]; slot == nil || slot.ready != e {
		return
	}
	e.zipped = true
	if !c.spawn(func(run bool) { c.attachGzip(key, e, run) }) {
		e.zipped = false
	}
}

// attachGzip compresses e and adds the copy to it if e is still key's
// ready response and the copy fits; with run false it only lets a later
// request start the compression again.
func (c *answerCache) attachGzip(key cacheKey, e *cacheEntry, run bool) {
	var gz []byte
	if run {
		gz = c.compress(e.body)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !run {
		e.zipped = false
		return
	}
	if slot := c.entries[key]; gz == nil || slot == nil || slot.ready != e || !c.makeRoom(key, len(gz)) {
		return
	}
	e.gz = gz
	c.bytes += len(gz)
}

// compress returns body gzip-compressed, or nil when that is no smaller.
// It uses gzip.BestSpeed: JSON answers shrink eight- to twentyfold at
// 350 to 500 MB/s on one core, where levels 2 to 4 take up to 2.5 times
// as long to save another 10 to 30%, and Huffman-only is slower and five
// to ten times bigger (docs/api.md, Performance).
func (c *answerCache) compress(body []byte) []byte {
	c.compressions.Add(1)
	var buf bytes.Buffer
	buf.Grow(len(body)/8 + 64)
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil
	}
	if _, err := zw.Write(body); err != nil {
		return nil
	}
	if err := zw.Close(); err != nil {
		return nil
	}
	if buf.Len() >= len(body) {
		return nil
	}
	gz := buf.Bytes()
	if cap(gz)-len(gz) > len(gz)/4 {
		// The buffer grew past its guess: keep only what the cache counts.
		gz = bytes.Clone(gz)
	}
	return gz
}

// get returns the response for key at generation gen, from the cache or
// from compute. The returned bytes are shared: callers must not modify
// them.
func (c *answerCache) get(ctx context.Context, gen uint64, key cacheKey, compute func() ([]byte, error)) ([]byte, error) {
	r, err := c.getView(ctx, view{gen: gen}, key, false, func(view) ([]byte, error) { return compute() })
	return r.body, err
}

// getView returns the response for key as of v: one of v's generation or
// newer from the cache, or one computed from v. A request that computes
// the response and wants it compressed compresses it before it is
// published: nothing is cached yet that it could send instead.
func (c *answerCache) getView(ctx context.Context, v view, key cacheKey, zip bool, compute computeFunc) (result, error) {
	c.mu.Lock()
	c.advance(v.gen)
	if v.gen < c.gen && c.maxStale <= 0 {
		// The caller read an older index than the cache has moved on to:
		// answer from its index without caching.
		c.mu.Unlock()
		c.misses.Add(1)
		return c.uncached(v, zip, compute)
	}
	slot := c.entries[key]
	if slot != nil {
		if e := slot.ready; e != nil && e.gen >= v.gen {
			if e.gen == v.gen && !e.current() && v.changed != nil {
				// e's channel closed at a change before v was read: v
				// shows that e is current.
				e.changed, e.endedAt = v.changed, time.Time{}
			}
			r := c.served(key, e, zip, false)
			c.mu.Unlock()
			c.hits.Add(1)
			return r, nil
		}
		if p := slot.pending; p != nil && p.gen >= v.gen {
			c.mu.Unlock()
			c.hits.Add(1)
			return c.wait(ctx, key, p, zip)
		}
	}
	c.misses.Add(1)
	if slot == nil {
		if len(c.entries) >= c.maxEntries && !c.evictOne(key) {
			c.mu.Unlock()
			return c.uncached(v, zip, compute)
		}
		slot = &cacheSlot{}
		c.entries[key] = slot
	}
	p := &cacheEntry{done: make(chan struct{}), gen: v.gen, changed: v.changed}
	slot.pending = p
	c.mu.Unlock()
	gz := c.fill(key, p, compute, v, zip)
	r, err := c.wait(ctx, key, p, zip)
	if err == nil && r.gz == nil {
		// The copy did not fit the cache; this request made it anyway.
		r.gz = gz
	}
	return r, err
}

// uncached computes a response that is not kept, and with zip compresses
// it.
func (c *answerCache) uncached(v view, zip bool, compute computeFunc) (result, error) {
	b, err := compute(v)
	r := result{body: b, gen: v.gen}
	if err == nil && zip && len(b) >= c.gzipMin {
		r.gz = c.compress(b)
	}
	return r, err
}

// fill computes p from v, with zip also its gzip copy, and then keeps it
// as key's response, unless it failed, a newer response is kept already,
// or it does not fit. It returns the gzip copy it made, if any.
func (c *answerCache) fill(key cacheKey, p *cacheEntry, compute computeFunc, v view, zip bool) (gz []byte) {
	p.err = errComputeAborted
	defer func() {
		close(p.done)
		c.mu.Lock()
		defer c.mu.Unlock()
		slot := c.entries[key]
		if slot == nil {
			return
		}
		if slot.pending == p {
			slot.pending = nil
		}
		if p.err == nil && (c.maxStale > 0 || p.gen == c.gen) && (slot.ready == nil || p.gen > slot.ready.gen) {
			c.keep(key, slot, p)
		}
		if slot.ready == nil && slot.pending == nil {
			delete(c.entries, key)
		}
	}()
	p.body, p.err = compute(v)
	if zip && p.err == nil && len(p.body) >= c.gzipMin {
		p.zipped = true
		p.gz = c.compress(p.body)
	}
	return p.gz
}

// keep makes p the ready response of key's slot in place of the one it
// has, if p fits, evicting superseded responses of other keys to make
// room. If p fits only without its gzip copy, it is kept without it.
// c.mu is held.
func (c *answerCache) keep(key cacheKey, slot *cacheSlot, p *cacheEntry) {
	if slot.ready != nil {
		c.bytes -= slot.ready.size()
		slot.ready = nil
	}
	if p.gz != nil && !c.makeRoom(key, p.size()) {
		p.gz = nil
	}
	if !c.makeRoom(key, p.size()) {
		return
	}
	slot.ready = p
	c.bytes += p.size()
}

// makeRoom evicts superseded responses of other keys than key until n
// more bytes fit, and reports whether they do. c.mu is held.
func (c *answerCache) makeRoom(key cacheKey, n int) bool {
	if n > c.maxBytes {
		return false
	}
	for c.bytes+n > c.maxBytes {
		if !c.evictOne(key) {
			return false
		}
	}
	return true
}

// advance records that generation gen exists. With maxStale 0 a newer
// generation drops every entry. c.mu is held.
func (c *answerCache) advance(gen uint64) {
	if gen <= c.gen {
		return
	}
	c.gen = gen
	if c.maxStale <= 0 {
		clear(c.entries)
		c.bytes = 0
		return
	}
	c.prune(c.now())
}

// superseded reports whether e is no longer current. c.mu is held.
func (c *answerCache) superseded(e *cacheEntry) bool {
	return e.gen < c.gen || e.changed != nil && !e.current()
}

// notice records when ready responses became stale and drops those that
// can no longer be served. The handler calls it at every change.
func (c *answerCache) notice() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(c.now())
}

// prune stamps the ready responses whose generation ended with now, and
// drops those superseded more than maxStale ago, or at an unknown time.
// c.mu is held.
func (c *answerCache) prune(now time.Time) {
	for k, slot := range c.entries {
		e := slot.ready
		if e == nil || !c.superseded(e) {
			continue
		}
		if e.endedAt.IsZero() && e.changed != nil && !e.current() {
			e.endedAt = now
		}
		if e.endedAt.IsZero() || now.Sub(e.endedAt) > c.maxStale {
			c.bytes -= e.size()
			slot.ready = nil
			if slot.pending == nil {
				delete(c.entries, k)
			}
		}
	}
}

// evictOne drops the superseded response, of another key than except,
// that became stale first, and its slot when nothing is computing it. It
// reports false when there is none. c.mu is held.
func (c *answerCache) evictOne(except cacheKey) bool {
	var (
		victim cacheKey
		oldest *cacheEntry
	)
	for k, slot := range c.entries {
		e := slot.ready
		if k == except || e == nil || !c.superseded(e) {
			continue
		}
		if oldest == nil || e.endedAt.Before(oldest.endedAt) {
			victim, oldest = k, e
		}
	}
	if oldest == nil {
		return false
	}
	slot := c.entries[victim]
	c.bytes -= oldest.size()
	slot.ready = nil
	if slot.pending == nil {
		delete(c.entries, victim)
	}
	return true
}

// sizeOf returns the size of key's ready response, or 0: a hint for
// encoding the next one.
func (c *answerCache) sizeOf(key cacheKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if slot := c.entries[key]; slot != nil && slot.ready != nil {
		return len(slot.ready.body)
	}
	return 0
}

// stats returns the cache's size for metrics.
func (c *answerCache) stats() (gen uint64, entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, len(c.entries), c.bytes
}
