package tokenreview

import (
	"errors"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"

	"github.com/palisade-project/palisade/internal/auth"
)

func TestPrecheck(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	with := func(edit func(c map[string]any)) string {
		c := agentClaims("x")
		c["exp"], c["nbf"], c["iat"] = now.Add(50*time.Minute).Unix(), now.Add(-10*time.Minute).Unix(), now.Add(-10*time.Minute).Unix()
		edit(c)
		return jwtOf(c)
	}
	node := func(n any) func(map[string]any) {
		return func(c map[string]any) { c["kubernetes.io"].(map[string]any)["node"] = n }
	}
	tests := []struct {
		name     string
		token    string
		audience string
		wantErr  string // "" accepts
	}{
		{"an agent's projected token", with(func(map[string]any) {}), "palisade", ""},
		{"one audience as a string", with(func(c map[string]any) { c["aud"] = "palisade" }), "palisade", ""},
		{"expired within the skew", with(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() }), "palisade", ""},
		{"no exp (the review decides)", with(func(c map[string]any) { delete(c, "exp") }), "palisade", ""},
		{"exp out of any range", with(func(c map[string]any) { c["exp"] = 1e300 }), "palisade", ""},
		{"fractional dates", with(func(c map[string]any) { c["exp"] = float64(now.Add(time.Hour).Unix()) + 0.5 }), "palisade", ""},
		{"any audience when none is set", with(func(c map[string]any) { c["aud"] = []string{"https://kubernetes.default.svc"} }), "", ""},

		{"expired", with(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), "palisade",
			"the service account token expired at 2026-12-01T09:58:00Z"},
		{"exp far in the past", with(func(c map[string]any) { c["exp"] = -1e300 }), "palisade", "expired"},
		{"not yet valid", with(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }), "palisade",
			"not valid before 2026-12-01T10:05:00Z"},
		{"the API server's audience", with(func(c map[string]any) { c["aud"] = []string{"https://kubernetes.default.svc.cluster.local"} }), "palisade",
			`does not accept the service account token: it is issued for https://kubernetes.default.svc.cluster.local, not for audience "palisade"`},
		{"no audience", with(func(c map[string]any) { delete(c, "aud") }), "palisade", `not for audience "palisade"`},
		{"another service account", with(func(c map[string]any) { c["sub"] = "system:serviceaccount:palisade:default" }), "palisade",
			"service account palisade/default is not a Palisade agent's"},
		{"the agent's name in another namespace", with(func(c map[string]any) { c["sub"] = "system:serviceaccount:kube-system:palisade-agent" }), "palisade",
			"kube-system/palisade-agent is not"},
		{"a user", with(func(c map[string]any) { c["sub"] = "alice" }), "palisade", `"alice" is not a service account`},
		{"no sub", with(func(c map[string]any) { delete(c, "sub") }), "palisade", `"" is not a service account`},
		{"no node (a token bound to a Secret, or a cluster before 1.30)", with(node(nil)), "palisade", "names no node"},
		{"an empty node name", with(node(map[string]any{"name": ""})), "palisade", "names no node"},
		{"no kubernetes.io claim", with(func(c map[string]any) { delete(c, "kubernetes.io") }), "palisade", "names no node"},

		{"two parts", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0", "palisade", "not a Kubernetes service account token: 2 parts"},
		{"claims not base64url", "eyJhbGciOiJFUzI1NiJ9.e$J9.c2ln", "palisade", "not base64url"},
		{"claims not JSON", jwtRaw([]byte("not json")), "palisade", "not a JSON object"},
		{"claims a JSON array", jwtRaw([]byte(`["sub"]`)), "palisade", "not a JSON object"},
		{"exp a string", with(func(c map[string]any) { c["exp"] = "tomorrow" }), "palisade", "not a JSON object of the expected types"},
		{"aud a number", with(func(c map[string]any) { c["aud"] = 7 }), "palisade", "not a JSON object"},
		{"oversized claims", with(func(c map[string]any) { c["pad"] = strings.Repeat("p", maxClaimsLen) }), "palisade",
			"claims of more than 8192 bytes"},
	}
	accounts := map[string]bool{"palisade:palisade-agent": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := precheck(tt.token, now, tt.audience, accounts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("precheck() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("precheck() = %v, want ErrInvalidCredentials containing %q", err, tt.wantErr)
			}
		})
	}
}

// Tokens that could never pass are refused without a review.
func TestReviewRefusesWithoutReview(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	expired := agentClaims("expired")
	expired["exp"] = now.Add(-time.Hour).Unix()
	otherAudience := agentClaims("api")
	otherAudience["aud"] = []string{"https://kubernetes.default.svc"}
	otherAccount := agentClaims("default")
	otherAccount["sub"] = "system:serviceaccount:palisade:default"
	noNode := agentClaims("no-node")
	delete(noNode, "kubernetes.io")
	oversized := agentClaims("big")
	oversized["pad"] = strings.Repeat("p", maxClaimsLen)

	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	r := newTestReviewer(t, client, &now)
	for name, tok := range map[string]string{
		"expired": jwtOf(expired), "another audience": jwtOf(otherAudience), "another service account": jwtOf(otherAccount),
		"no node": jwtOf(noNode), "malformed": jwtRaw([]byte("{")), "oversized claims": jwtOf(oversized),
		"oversized token": jwtRaw([]byte(strings.Repeat("x", maxTokenLen))),
	} {
		for range 3 {
			if _, err := r.Review(t.Context(), tok, "192.0.2.1"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Errorf("%s: %v, want ErrInvalidCredentials", name, err)
			}
		}
	}
	if n := client.count(); n != 0 {
		t.Errorf("%d reviews, want none", n)
	}
	// They cost no budget either.
	if _, ok := r.budgets.buckets["192.0.2.1"]; ok {
		t.Error("refusals without a review spent the client's budget")
	}
}
