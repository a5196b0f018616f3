package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-project/palisade/internal/auth/tokenreview"
)

// reportFrom sends a report as reportAs does, from the address remote.
func (h *harness) reportFrom(remote, secret, cluster, node string) *httptest.ResponseRecorder {
	h.t.Helper()
	body := strings.Replace(strings.Replace(agentReportBody, `"node":"agent-token"`, `"node":"`+node+`"`, 1),
		`"cluster":"default"`, `"cluster":"`+cluster+`"`, 1)
	req := httptest.NewRequest("POST", "/api/v1/agent/report", strings.NewReader(body))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

// fakeTokenReviews is the Kubernetes API server's tokenreviews: it
// authenticates the tokens of a table and counts the reviews.
type fakeTokenReviews struct {
	mu      sync.Mutex
	nodes   map[string]string // token → node
	reviews int
}

func (f *fakeTokenReviews) Create(_ context.Context, tr *authv1.TokenReview, _ metav1.CreateOptions) (*authv1.TokenReview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reviews++
	out := &authv1.TokenReview{}
	if node, ok := f.nodes[tr.Spec.Token]; ok {
		out.Status = authv1.TokenReviewStatus{Authenticated: true, Audiences: tr.Spec.Audiences, User: authv1.UserInfo{
			Username: "system:serviceaccount:palisade:palisade-agent", Extra: map[string]authv1.ExtraValue{tokenreview.ExtraNodeName: {node}}}}
	}
	return out, nil
}

func (f *fakeTokenReviews) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reviews
}

// projectedToken has the claims of an agent's projected token on node,
// told apart by id; its signature is whatever fakeTokenReviews says.
func projectedToken(id, node string) string {
	claims, _ := json.Marshal(map[string]any{"aud": []string{"palisade"}, "jti": id, "exp": time.Now().Add(time.Hour).Unix(),
		"sub": "system:serviceaccount:palisade:palisade-agent", "kubernetes.io": map[string]any{"node": map[string]any{"name": node}}})
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256"}`)) + "." + enc(claims) + "." + enc([]byte(strings.Repeat("s", 64)))
}

// Junk service account tokens cost reviews only within a budget per
// address; over it they get 429 with Retry-After, and agents on other
// addresses, or whose tokens are cached, are unaffected.
func TestAgentReportServiceAccountTokenBudget(t *testing.T) {
	n1, n2 := projectedToken("n1", "n1"), projectedToken("n2", "n2")
	kube := &fakeTokenReviews{nodes: map[string]string{n1: "n1", n2: "n2"}}
	reviewer, err := tokenreview.New(tokenreview.Options{Client: kube, Cluster: "prod", ServiceAccounts: []string{tokenreview.DefaultServiceAccount},
		Audience: tokenreview.DefaultAudience, ClientRate: 1, ClientBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *Options) { o.Cluster = "prod"; o.ServiceAccounts = reviewer })
	const attacker = "203.0.113.66:40000"

	if rec := h.reportFrom("10.0.0.1:50000", n1, "prod", "n1"); rec.Code != http.StatusAccepted {
		t.Fatalf("agent n1: %d %s", rec.Code, rec.Body.String())
	}
	// Junk that could never pass is refused without a review.
	for _, junk := range []string{fakeJWT("junk"), "eyJhbGciOiJFUzI1NiJ9.e30.c2ln" /* claims {} */} {
		wantError(t, h.reportFrom(attacker, junk, "prod", "n1"), http.StatusUnauthorized, codeInvalidToken)
	}
	if n := kube.count(); n != 1 {
		t.Fatalf("%d reviews, want 1: junk is not reviewed", n)
	}
	// Forgeries with plausible claims: the budget, then 429.
	var rec *httptest.ResponseRecorder
	for i := range 10 {
		rec = h.reportFrom(attacker, projectedToken(fmt.Sprint("forged", i), "n1"), "prod", "n1")
	}
	msg := wantError(t, rec, http.StatusTooManyRequests, codeTooManyRequests)
	if !strings.Contains(msg, "too many service account tokens to review from 203.0.113.66") || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("over the budget: %q, Retry-After %q", msg, rec.Header().Get("Retry-After"))
	}
	if n := kube.count(); n != 1+3 {
		t.Fatalf("%d reviews, want 4: the attacker's burst of 3", n)
	}
	// The same forgery again is refused from the cache, not reviewed.
	wantError(t, h.reportFrom("198.51.100.9:1", projectedToken("forged0", "n1"), "prod", "n1"), http.StatusUnauthorized, codeInvalidToken)
	// n1's cached token and n2 on its own address are accepted.
	for _, tc := range []struct{ remote, token, node string }{{"10.0.0.1:50000", n1, "n1"}, {"[fd00::2]:50000", n2, "n2"}, {"10.0.0.1:50001", n1, "n1"}} {
		if rec := h.reportFrom(tc.remote, tc.token, "prod", tc.node); rec.Code != http.StatusAccepted {
			t.Errorf("agent %s from %s: %d %s", tc.node, tc.remote, rec.Code, rec.Body.String())
		}
	}
	if n := kube.count(); n != 5 {
		t.Errorf("%d reviews, want 5", n)
	}
	// 429s are not logged as failures, whose volume the attacker sets.
	if strings.Contains(h.logs.String(), "too many service account tokens") {
		t.Errorf("the log holds the refusals over the budget:\n%s", h.logs.String())
	}
}

// The server sends a service account's budget refusal as 429.
func TestAgentReportServiceAccountTokenLimit(t *testing.T) {
	sas := &fakeServiceAccounts{err: &tokenreview.LimitError{Wait: 1500 * time.Millisecond}}
	h := newHarness(t, func(o *Options) { o.ServiceAccounts = sas })
	rec := h.reportFrom("[2001:db8::1%eth0]:443", fakeJWT("n1"), "default", "n1")
	msg := wantError(t, rec, http.StatusTooManyRequests, codeTooManyRequests)
	if got := rec.Header().Get("Retry-After"); got != "2" || !strings.Contains(msg, "busy reviewing") {
		t.Errorf("Retry-After %q, message %q", got, msg)
	}
	if len(sas.clients) != 1 || sas.clients[0] != "2001:db8::1" {
		t.Errorf("reviewed for clients %q, want 2001:db8::1", sas.clients)
	}
}

func TestClientAddr(t *testing.T) {
	for remote, want := range map[string]string{
		"10.0.0.1:1234":          "10.0.0.1",
		"[fd00::1]:443":          "fd00::1",
		"[fe80::1%eth0]:443":     "fe80::1",
		"[::ffff:10.0.0.1]:1234": "10.0.0.1",
		"[2001:DB8:0::1]:1":      "2001:db8::1",
		"unix-socket-peer":       "unix-socket-peer",
		"host.example:80":        "host.example",
		"":                       "",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got := clientAddr(r); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", remote, got, want)
		}
	}
}
