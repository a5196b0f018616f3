package tokenreview

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// LimitError refuses a review over a budget: the client's (Client is set:
// an IP address, or an IPv6 /64), or the Reviewer's when every review
// slot stayed busy. Nothing was sent
// to the API server; the client may retry after RetryAfter.
type LimitError struct {
	Client string
	Wait   time.Duration
}

func (e *LimitError) Error() string {
	if e.Client != "" {
		return fmt.Sprintf("too many service account tokens to review from %s: retry in %s", clip(e.Client, 64), e.Wait.Round(time.Second))
	}
	return fmt.Sprintf("the server is busy reviewing other service account tokens: retry in %s", e.Wait.Round(time.Second))
}

// RetryAfter is how long to wait before a review could be had.
func (e *LimitError) RetryAfter() time.Duration { return e.Wait }

// budgetKey is the budget a client spends: its IP address, or for an
// IPv6 address its /64, the smallest network a host or a site is given
// (one host may use any address of it); an IPv4-mapped IPv6 address is
// its IPv4 address. A client that is no IP address is its own budget.
func budgetKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// budgets are token buckets of reviews, one per client, bounded in
// number. A bucket that has filled up again is the same as none, so
// those are the ones dropped when the map is full; if none has, the
// least recently used goes (its client gets a full bucket again).
type budgets struct {
	rate  float64 // reviews per second
	burst float64
	max   int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed; also the last use
}

func newBudgets(rate float64, burst, max int) *budgets {
	return &budgets{rate: rate, burst: float64(burst), max: max, buckets: map[string]*bucket{}}
}

// take spends one review of client's budget at now, or returns how long
// until one is available.
func (b *budgets) take(client string, now time.Time) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.buckets[client]
	if !ok {
		if len(b.buckets) >= b.max {
			b.evict(now)
		}
		k = &bucket{tokens: b.burst, at: now}
		b.buckets[client] = k
	}
	if now.After(k.at) {
		k.tokens = min(b.burst, k.tokens+now.Sub(k.at).Seconds()*b.rate)
		k.at = now
	}
	if k.tokens < 1 {
		return time.Duration((1 - k.tokens) / b.rate * float64(time.Second)), false
	}
	k.tokens--
	return 0, true
}

// evict makes room for one more client. It runs only when the map is
// full, and then frees all the full buckets at once.
func (b *budgets) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	found := false
	for c, k := range b.buckets {
		if k.tokens+now.Sub(k.at).Seconds()*b.rate >= b.burst {
			delete(b.buckets, c)
			continue
		}
		if !found || k.at.Before(oldestAt) {
			oldest, oldestAt, found = c, k.at, true
		}
	}
	if len(b.buckets) >= b.max {
		delete(b.buckets, oldest)
	}
}
