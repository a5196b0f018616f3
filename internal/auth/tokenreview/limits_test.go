package tokenreview

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"

	"github.com/palisade-project/palisade/internal/auth"
)

// A token the API server refuses (its pod deleted) costs one review
// however often it is sent, until the refusal expires.
func TestReviewCachesRefusals(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	revoked := jwt("revoked", 0)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}} // authenticates nothing
	r := newTestReviewer(t, client, &now)
	for i := range 100 {
		_, err := r.Review(t.Context(), revoked, fmt.Sprint("198.51.100.", i%7))
		if !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), "does not accept the service account token") {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := client.count(); n != 1 {
		t.Fatalf("%d reviews for 100 identical revoked tokens, want 1", n)
	}
	now = now.Add(DefaultRejectedTTL)
	if _, err := r.Review(t.Context(), revoked, "198.51.100.1"); !errors.Is(err, auth.ErrInvalidCredentials) || client.count() != 2 {
		t.Fatalf("after the refusal expired: %v, %d reviews, want 2", err, client.count())
	}
	// Failed reviews are not refusals: they are not kept.
	client.mu.Lock()
	client.err = errors.New("connection refused")
	client.mu.Unlock()
	other := jwt("other", 0)
	for range 2 {
		if _, err := r.Review(t.Context(), other, "198.51.100.1"); err == nil || errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("API server down: %v", err)
		}
	}
	if n := client.count(); n != 4 {
		t.Errorf("%d reviews, want 4: a failed review is not cached", n)
	}
}

// The refusal cache is bounded like the accepted one.
func TestReviewRefusalCacheIsBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	r := newTestReviewer(t, client, &now, func(o *Options) { o.MaxEntries = 3; o.ClientBurst = 100 })
	for i := range 5 {
		r.Review(t.Context(), jwt(fmt.Sprint(i), 0), "192.0.2.1")
	}
	if n := len(r.rejected); n != 3 {
		t.Fatalf("refusal cache holds %d entries, want the bound, 3", n)
	}
	now = now.Add(time.Minute)
	r.Review(t.Context(), jwt("later", 0), "192.0.2.1")
	if n := len(r.rejected); n != 1 {
		t.Fatalf("refusal cache holds %d entries after expiry, want 1", n)
	}
}

// Requests with the same token wait for the review in flight instead of
// asking again.
func TestReviewJoinsTheReviewInFlight(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	revoked := jwt("revoked", 0)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}, block: make(chan struct{})}
	r := newTestReviewer(t, client, &now)
	const n = 50
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := r.Review(t.Context(), revoked, fmt.Sprint("198.51.100.", i))
			errs <- err
		})
	}
	// Let them all arrive before the review is answered.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		c := r.inflight[keyOf(revoked)]
		r.mu.Unlock()
		if c != nil && client.count() == 1 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	close(client.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("Review() = %v, want ErrInvalidCredentials", err)
		}
	}
	if got := client.count(); got != 1 {
		t.Errorf("%d reviews for %d concurrent identical tokens, want 1", got, n)
	}
}

// Each client has a budget of reviews; tokens answered from the cache
// spend none, and other clients keep theirs.
func TestReviewClientBudget(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	good := jwt("good", 0)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{good: reviewed(agentUser, []string{"palisade"}, onNode("n1"))}}
	r := newTestReviewer(t, client, &now, func(o *Options) { o.ClientRate, o.ClientBurst = 2, 4 })
	const attacker, agent, other = "203.0.113.66", "10.0.0.7", "10.0.0.8"

	// The agent is accepted once: its token is cached.
	if _, err := r.Review(t.Context(), good, agent); err != nil {
		t.Fatal(err)
	}
	// Junk from one address: the burst is reviewed, then it waits.
	for i := range 4 {
		if _, err := r.Review(t.Context(), jwt(fmt.Sprint("junk", i), 0), attacker); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("junk %d within the budget: %v", i, err)
		}
	}
	_, err := r.Review(t.Context(), jwt("junk-over", 0), attacker)
	var limit *LimitError
	if !errors.As(err, &limit) || limit.Client != attacker || limit.RetryAfter() != 500*time.Millisecond {
		t.Fatalf("over the budget: %v, want a LimitError for %s, retry after 500ms", err, attacker)
	}
	if errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), "too many service account tokens to review from 203.0.113.66") {
		t.Errorf("over the budget: message %q", err)
	}
	if n := client.count(); n != 5 {
		t.Fatalf("%d reviews, want 5: none over the budget", n)
	}
	// Cached tokens spend no budget, even from the exhausted address.
	for _, from := range []string{agent, attacker} {
		if _, err := r.Review(t.Context(), good, from); err != nil {
			t.Errorf("cached token from %s: %v", from, err)
		}
	}
	// Other clients keep their budget.
	if _, err := r.Review(t.Context(), jwt("new-agent", 0), other); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("another client: %v, want a review", err)
	}
	if n := client.count(); n != 6 {
		t.Errorf("%d reviews, want 6", n)
	}
	// The budget refills.
	now = now.Add(500 * time.Millisecond)
	if _, err := r.Review(t.Context(), jwt("junk-later", 0), attacker); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("after the refill: %v, want a review", err)
	}
	if _, err := r.Review(t.Context(), jwt("junk-later2", 0), attacker); !errors.As(err, &limit) {
		t.Errorf("after one refill: %v, want a LimitError", err)
	}
}

func TestBudgetsAreBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b := newBudgets(1, 2, 3)
	for i := range 3 {
		b.take(fmt.Sprint("c", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	// Full, with no bucket refilled: the least recently used goes.
	b.take("c3", now.Add(10*time.Millisecond))
	if _, ok := b.buckets["c0"]; ok || len(b.buckets) != 3 {
		t.Fatalf("buckets %v: want c0 evicted, 3 left", keys(b.buckets))
	}
	// c1 is empty: eviction does not hand it a new burst while it is kept.
	b.take("c1", now.Add(11*time.Millisecond))
	if _, ok := b.take("c1", now.Add(12*time.Millisecond)); ok {
		t.Fatal("c1 took a third review from a burst of 2")
	}
	// Refilled buckets are the same as none: all go at once.
	later := now.Add(time.Minute)
	b.take("c4", later)
	if len(b.buckets) != 1 {
		t.Fatalf("buckets %v after they refilled: want only c4", keys(b.buckets))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// When every review slot stays busy, further reviews are refused after
// MaxWait rather than queued without bound.
func TestReviewWaitsForASlotBriefly(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}, block: make(chan struct{})}
	r := newTestReviewer(t, client, &now, func(o *Options) { o.MaxConcurrent, o.MaxWait = 1, 20*time.Millisecond })
	done := make(chan error)
	go func() {
		_, err := r.Review(t.Context(), jwt("slow", 0), "192.0.2.1")
		done <- err
	}()
	for client.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := r.Review(t.Context(), jwt("next", 0), "192.0.2.2")
	var limit *LimitError
	if !errors.As(err, &limit) || limit.Client != "" || limit.RetryAfter() != 20*time.Millisecond ||
		!strings.Contains(err.Error(), "busy reviewing other service account tokens") {
		t.Fatalf("with every slot busy: %v, want a LimitError of the reviewer", err)
	}
	close(client.block)
	if err := <-done; !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("the slow review: %v", err)
	}
	if n := client.count(); n != 1 {
		t.Errorf("%d reviews, want 1", n)
	}
	// The refusal for a busy server is not cached: the token is reviewed
	// when a slot is free.
	if _, err := r.Review(t.Context(), jwt("next", 0), "192.0.2.2"); !errors.Is(err, auth.ErrInvalidCredentials) || client.count() != 2 {
		t.Errorf("once a slot is free: %v, %d reviews", err, client.count())
	}
}

func keyOf(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }
