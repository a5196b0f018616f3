package tokenreview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/palisade-project/palisade/internal/auth"
)

const agentUser = "system:serviceaccount:palisade:palisade-agent"

func reviewed(user string, audiences []string, extra map[string]authv1.ExtraValue) authv1.TokenReviewStatus {
	return authv1.TokenReviewStatus{Authenticated: true, Audiences: audiences,
		User: authv1.UserInfo{Username: user, Extra: extra}}
}

func onNode(node string) map[string]authv1.ExtraValue {
	return map[string]authv1.ExtraValue{ExtraNodeName: {node}, ExtraPodName: {"palisade-agent-x1"}}
}

func TestDecide(t *testing.T) {
	accounts := map[string]bool{"palisade:palisade-agent": true}
	tests := []struct {
		name     string
		status   authv1.TokenReviewStatus
		audience string
		want     auth.AgentScope
		wantErr  string
	}{
		{"agent on its node", reviewed(agentUser, []string{"palisade"}, onNode("n1")), "palisade",
			auth.AgentScope{Name: agentUser, Node: "n1"}, ""},
		{"API server audiences when none is set", reviewed(agentUser, []string{"https://kubernetes.default.svc"}, onNode("n1")), "",
			auth.AgentScope{Name: agentUser, Node: "n1"}, ""},
		{"not authenticated", authv1.TokenReviewStatus{Error: "token audiences [api] is invalid for the target audiences [palisade]"}, "palisade",
			auth.AgentScope{}, "does not accept the service account token: token audiences"},
		{"not authenticated, no reason", authv1.TokenReviewStatus{}, "palisade", auth.AgentScope{}, "expired, revoked"},
		// An authenticator that ignores audiences says so by naming none.
		{"audience not confirmed", reviewed(agentUser, nil, onNode("n1")), "palisade", auth.AgentScope{}, `not issued for audience "palisade"`},
		{"another audience", reviewed(agentUser, []string{"vault"}, onNode("n1")), "palisade", auth.AgentScope{}, `not issued for audience "palisade"`},
		{"another service account", reviewed("system:serviceaccount:palisade:default", []string{"palisade"}, onNode("n1")), "palisade",
			auth.AgentScope{}, "service account palisade/default is not a Palisade agent's"},
		{"same name in another namespace", reviewed("system:serviceaccount:kube-system:palisade-agent", []string{"palisade"}, onNode("n1")), "palisade",
			auth.AgentScope{}, "kube-system/palisade-agent is not"},
		{"a user", reviewed("alice", []string{"palisade"}, onNode("n1")), "palisade", auth.AgentScope{}, `"alice" is not a service account`},
		{"a malformed service account user", reviewed("system:serviceaccount:palisade", []string{"palisade"}, onNode("n1")), "palisade",
			auth.AgentScope{}, "is not a service account"},
		{"no node (a token bound to no pod, or an old cluster)", reviewed(agentUser, []string{"palisade"}, nil), "palisade",
			auth.AgentScope{}, "names no node"},
		{"empty node", reviewed(agentUser, []string{"palisade"}, onNode("")), "palisade", auth.AgentScope{}, "names no node"},
		{"two nodes", reviewed(agentUser, []string{"palisade"}, map[string]authv1.ExtraValue{ExtraNodeName: {"n1", "n2"}}), "palisade",
			auth.AgentScope{}, "names no node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decide(tt.status, tt.audience, accounts)
			if tt.wantErr != "" {
				if !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decide() error = %v, want ErrInvalidCredentials containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("decide() (-want +got):\n%s", d)
			}
		})
	}
}

// fakeClient answers reviews from a table of tokens and counts them.
type fakeClient struct {
	mu       sync.Mutex
	statuses map[string]authv1.TokenReviewStatus
	err      error
	calls    int
	// audiences records the audiences of the last review.
	audiences []string
	// block, when set, holds every review until it is closed.
	block chan struct{}
}

func (f *fakeClient) Create(ctx context.Context, tr *authv1.TokenReview, _ metav1.CreateOptions) (*authv1.TokenReview, error) {
	f.mu.Lock()
	f.calls++
	f.audiences = tr.Spec.Audiences
	block, err, status := f.block, f.err, f.statuses[tr.Spec.Token]
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	out := tr.DeepCopy()
	out.Spec.Token = ""
	out.Status = status
	return out, nil
}

func (f *fakeClient) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// jwt returns a token with the claims of an agent's projected token,
// told apart by id, expiring at exp (0: no exp claim).
func jwt(id string, exp int64) string {
	c := agentClaims(id)
	if exp != 0 {
		c["exp"] = exp
	}
	return jwtOf(c)
}

// agentClaims are the claims of an agent's projected token on node n1
// (what a real API server issues; see claims.go), without exp.
func agentClaims(id string) map[string]any {
	return map[string]any{"aud": []string{"palisade"}, "iss": "https://kubernetes.default.svc.cluster.local", "jti": id,
		"sub": agentUser, "kubernetes.io": map[string]any{"namespace": "palisade", "node": map[string]any{"name": "n1", "uid": "u1"},
			"pod": map[string]any{"name": "palisade-agent-x1"}, "serviceaccount": map[string]any{"name": "palisade-agent"}}}
}

func jwtOf(claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return jwtRaw(payload)
}

// jwtRaw returns a token of payload signed by the cluster's key (ES256,
// testKeys.ec).
func jwtRaw(payload []byte) string {
	return sign(testKeys.ec, `{"alg":"ES256","kid":"ec-1"}`, payload)
}

// newTestReviewer returns a Reviewer of client, whose keys are served by
// a JWKS server of testKeys.
func newTestReviewer(t *testing.T, client *fakeClient, now *time.Time, edit ...func(*Options)) *Reviewer {
	t.Helper()
	opts := Options{Client: client, Cluster: "prod", ServiceAccounts: []string{DefaultServiceAccount}, Audience: DefaultAudience,
		Now: func() time.Time { return *now }, Keys: newJWKSServer(t, testKeys.jwks()).client(t)}
	for _, e := range edit {
		e(&opts)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReviewCachesAcceptedTokens(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	good, bad := jwt("good", 0), jwt("bad", 0)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{
		good: reviewed(agentUser, []string{"palisade"}, onNode("n1")),
	}}
	r := newTestReviewer(t, client, &now)

	got, err := r.Review(t.Context(), good, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (auth.AgentScope{Name: agentUser, Cluster: "prod", Node: "n1"}); got != want {
		t.Errorf("Review() = %+v, want %+v", got, want)
	}
	if d := cmp.Diff([]string{"palisade"}, client.audiences); d != "" {
		t.Errorf("reviewed audiences (-want +got):\n%s", d)
	}
	// Within the TTL the review is reused.
	now = now.Add(59 * time.Second)
	if _, err := r.Review(t.Context(), good, "10.0.0.1"); err != nil || client.count() != 1 {
		t.Fatalf("second review: %v, %d calls, want 1", err, client.count())
	}
	// After it, the token is reviewed again.
	now = now.Add(2 * time.Second)
	if _, err := r.Review(t.Context(), good, "10.0.0.1"); err != nil || client.count() != 2 {
		t.Fatalf("review after the TTL: %v, %d calls, want 2", err, client.count())
	}
	// Refusals are cached too, for RejectedTTL.
	for range 3 {
		if _, err := r.Review(t.Context(), bad, "10.0.0.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("bad token: %v", err)
		}
		if client.count() != 3 {
			t.Fatalf("%d calls, want 3", client.count())
		}
	}
}

func TestReviewCacheIsBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	var tokens []string
	for i := range 5 {
		tok := jwt(fmt.Sprint(i), 0)
		tokens = append(tokens, tok)
		client.statuses[tok] = reviewed(agentUser, []string{"palisade"}, onNode(fmt.Sprint("n", i)))
	}
	later := jwt("later", 0)
	client.statuses[later] = reviewed(agentUser, []string{"palisade"}, onNode("n9"))
	r := newTestReviewer(t, client, &now, func(o *Options) { o.MaxEntries = 3 })
	for _, tok := range tokens {
		if _, err := r.Review(t.Context(), tok, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.accepted); n != 3 {
		t.Fatalf("cache holds %d entries, want the bound, 3", n)
	}
	// Expired entries make room.
	now = now.Add(2 * time.Minute)
	if _, err := r.Review(t.Context(), later, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if n := len(r.accepted); n != 1 {
		t.Fatalf("cache holds %d entries after expiry, want 1", n)
	}
}

func TestReviewTokenExpiryShortensTheCache(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tok := jwt("short", now.Add(10*time.Second).Unix())
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{tok: reviewed(agentUser, []string{"palisade"}, onNode("n1"))}}
	r := newTestReviewer(t, client, &now)
	for _, step := range []struct {
		after time.Duration
		calls int
	}{{0, 1}, {9 * time.Second, 1}, {2 * time.Second, 2}} {
		now = now.Add(step.after)
		if _, err := r.Review(t.Context(), tok, "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if client.count() != step.calls {
			t.Fatalf("after %s: %d reviews, want %d", step.after, client.count(), step.calls)
		}
	}
}

func TestReviewErrors(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	down := &fakeClient{err: errors.New("dial tcp 10.96.0.1:443: connection refused")}
	r := newTestReviewer(t, down, &now)
	_, err := r.Review(t.Context(), jwt("x", 0), "10.0.0.1")
	if err == nil || errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("API server down: %v, want an error that is not ErrInvalidCredentials", err)
	}
	// Without RBAC the error says what to grant.
	forbidden := &fakeClient{err: apierrors.NewForbidden(schema.GroupResource{Group: "authentication.k8s.io", Resource: "tokenreviews"}, "", errors.New("RBAC: no"))}
	if _, err := newTestReviewer(t, forbidden, &now).Review(t.Context(), jwt("x", 0), "10.0.0.1"); err == nil || errors.Is(err, auth.ErrInvalidCredentials) ||
		!strings.Contains(err.Error(), "grant the Palisade server create on tokenreviews") {
		t.Errorf("forbidden: %v", err)
	}
	for _, tok := range []string{"", strings.Repeat("a", maxTokenLen+1)} {
		if _, err := r.Review(t.Context(), tok, "10.0.0.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("token of %d bytes: %v, want ErrInvalidCredentials", len(tok), err)
		}
	}
	if down.count() != 1 {
		t.Errorf("%d reviews, want 1: empty and huge tokens are never sent", down.count())
	}
}

func TestNewValidates(t *testing.T) {
	client := &fakeClient{}
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no client", Options{Cluster: "c", ServiceAccounts: []string{"a/b"}}},
		{"no cluster", Options{Client: client, ServiceAccounts: []string{"a/b"}}},
		{"no account", Options{Client: client, Cluster: "c"}},
		{"bad account", Options{Client: client, Cluster: "c", ServiceAccounts: []string{"palisade-agent"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil {
				t.Error("New() = nil error")
			}
		})
	}
}
