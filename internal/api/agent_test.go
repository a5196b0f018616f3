package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/store"
)

func (h *harness) postReport(body []byte, encoding string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/agent/report", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	req.Header.Set("Authorization", "Bearer "+h.secrets[auth.RoleAgent])
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func TestAgentReport(t *testing.T) {
	h := newHarness(t)
	if rec := h.postReport(gzipped(t, []byte(agentReportBody)), "gzip"); rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"processes":1`) {
		t.Fatalf("gzip report: %d %s", rec.Code, rec.Body.String())
	}
	if n := len(h.observations.reports); n != 1 || h.observations.reports[0].Processes[0].Exe != "/bin/sh" || h.observations.reports[0].Flows[0].Remote.Port() != 80 {
		t.Fatalf("recorded %d reports: %+v", n, h.observations.reports)
	}
	for _, tc := range []struct {
		name     string
		body     []byte
		encoding string
		status   int
		code     string
	}{
		{"not gzip", []byte(agentReportBody), "gzip", http.StatusBadRequest, codeBadRequest},
		{"other encoding", []byte(agentReportBody), "br", http.StatusUnsupportedMediaType, codeUnsupportedMediaType},
		{"bad node", []byte(strings.Replace(agentReportBody, `"node":"agent-token"`, `"node":""`, 1)), "", http.StatusBadRequest, codeBadRequest},
		// An agent token speaks only for the node it is named after.
		{"another node", []byte(strings.Replace(agentReportBody, `"node":"agent-token"`, `"node":"other"`, 1)), "", http.StatusForbidden, codeForbidden},
		{"bad flow", []byte(strings.Replace(agentReportBody, `"proto":"tcp"`, `"proto":"icmp"`, 1)), "", http.StatusBadRequest, codeBadRequest},
		{"not JSON", []byte("{"), "", http.StatusBadRequest, codeBadRequest},
		// 65 MiB of spaces compress to almost nothing: a decompression bomb.
		{"decompresses too large", gzipped(t, append(bytes.Repeat([]byte(" "), 65<<20), agentReportBody...)), "gzip", http.StatusRequestEntityTooLarge, codeBodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, h.postReport(tc.body, tc.encoding), tc.status, tc.code)
		})
	}
	if n := len(h.observations.reports); n != 1 {
		t.Errorf("%d reports recorded, want only the valid one", n)
	}
	// A fleet token reports for any node.
	fleet := addToken(t, h.tokens, "fleet-agents", auth.RoleAgent)
	req := httptest.NewRequest("POST", "/api/v1/agent/report", strings.NewReader(strings.Replace(agentReportBody, `"node":"agent-token"`, `"node":"any-node"`, 1)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+fleet)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Errorf("fleet token: %d %s", rec.Code, rec.Body.String())
	}
}

// reportAs posts a report of cluster and node with secret.
func (h *harness) reportAs(secret, cluster, node string) *httptest.ResponseRecorder {
	h.t.Helper()
	body := strings.Replace(strings.Replace(agentReportBody, `"node":"agent-token"`, `"node":"`+node+`"`, 1),
		`"cluster":"default"`, `"cluster":"`+cluster+`"`, 1)
	req := httptest.NewRequest("POST", "/api/v1/agent/report", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

// addAgentToken stores an agent token bound to cluster ("" as tokens
// stored before clusters were) and returns its secret.
func addAgentToken(t *testing.T, tokens Tokens, name, cluster string) string {
	t.Helper()
	secret, hash, err := auth.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.PutToken(t.Context(), store.Token{Name: name, Role: string(auth.RoleAgent), Hash: hash, CreatedAt: time.Now().UTC(), Cluster: cluster}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// Agent tokens report for their cluster only: the one stored with them,
// or the server's when they have none.
func TestAgentReportClusterBinding(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Cluster = "prod-eu" })
	node := addAgentToken(t, h.tokens, "worker-7", "edge")
	legacy := addAgentToken(t, h.tokens, "worker-8", "")
	fleet := addAgentToken(t, h.tokens, "fleet-edge", "edge")
	admin := h.secrets[auth.RoleAdmin]
	tests := []struct {
		name                  string
		secret, cluster, node string
		want                  int
		message               string
	}{
		{"node token, its node and cluster", node, "edge", "worker-7", http.StatusAccepted, ""},
		{"node token, another cluster", node, "prod-eu", "worker-7", http.StatusForbidden, `"worker-7" may report only for cluster "edge", not "prod-eu"`},
		{"node token, another node", node, "edge", "worker-9", http.StatusForbidden, `may report only for node "worker-7"`},
		{"legacy token, the server's cluster", legacy, "prod-eu", "worker-8", http.StatusAccepted, ""},
		{"legacy token, another cluster", legacy, "default", "worker-8", http.StatusForbidden, `may report only for cluster "prod-eu"`},
		{"legacy token, no cluster", legacy, "", "worker-8", http.StatusForbidden, `may report only for cluster "prod-eu", not ""`},
		{"fleet token, any node of its cluster", fleet, "edge", "worker-9", http.StatusAccepted, ""},
		{"fleet token, another cluster", fleet, "prod-eu", "worker-9", http.StatusForbidden, `"fleet-edge" may report only for cluster "edge"`},
		{"admin token, anything", admin, "anywhere", "any-node", http.StatusAccepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.reportAs(tt.secret, tt.cluster, tt.node)
			if tt.want == http.StatusAccepted {
				if rec.Code != tt.want {
					t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body.String())
				}
				return
			}
			if msg := wantError(t, rec, tt.want, codeForbidden); !strings.Contains(msg, tt.message) {
				t.Errorf("message %q lacks %q", msg, tt.message)
			}
		})
	}
	if n := len(h.observations.reports); n != 4 {
		t.Errorf("%d reports recorded, want the 4 accepted", n)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "may report only for cluster") {
		t.Errorf("refusals are not logged:\n%s", logs)
	}
	for _, secret := range []string{node, legacy, fleet, admin} {
		if strings.Contains(logs, secret) {
			t.Fatal("the log holds a secret")
		}
	}
}

// fakeServiceAccounts reviews service account tokens from a table.
type fakeServiceAccounts struct {
	mu      sync.Mutex
	scopes  map[string]auth.AgentScope
	err     error
	reviews int
	clients []string
}

func (f *fakeServiceAccounts) Review(_ context.Context, token, client string) (auth.AgentScope, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reviews++
	f.clients = append(f.clients, client)
	if f.err != nil {
		return auth.AgentScope{}, f.err
	}
	s, ok := f.scopes[token]
	if !ok {
		return auth.AgentScope{}, fmt.Errorf("%w: the Kubernetes API server does not accept the service account token", auth.ErrInvalidCredentials)
	}
	return s, nil
}

// A fake JWT as long as a projected service account token (about
// 1 KiB, longer than Palisade's secrets): the API only looks at the
// shape.
func fakeJWT(id string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"`+strings.Repeat("k", 43)+`"}`)) + "." +
		enc([]byte(`{"sub":"`+id+`","pad":"`+strings.Repeat("p", 600)+`"}`)) + "." + enc(bytes.Repeat([]byte("s"), 256))
}

func TestAgentReportServiceAccountTokens(t *testing.T) {
	const agentUser = "system:serviceaccount:palisade:palisade-agent"
	n1, other := fakeJWT("n1"), fakeJWT("other")
	sas := &fakeServiceAccounts{scopes: map[string]auth.AgentScope{
		n1: {Name: agentUser, Cluster: "prod", Node: "n1"},
	}}
	h := newHarness(t, func(o *Options) { o.Cluster = "prod"; o.ServiceAccounts = sas })
	// Reviews never reach the token store: they work while it is down.
	h.tokens.fail(errStore)

	if rec := h.reportAs(n1, "prod", "n1"); rec.Code != http.StatusAccepted {
		t.Fatalf("own node: %d %s", rec.Code, rec.Body.String())
	}
	msg := wantError(t, h.reportAs(n1, "prod", "n2"), http.StatusForbidden, codeForbidden)
	if !strings.Contains(msg, `may report only for node "n1", not "n2"`) || strings.Contains(msg, auth.FleetTokenPrefix) {
		t.Errorf("another node: message %q", msg)
	}
	wantError(t, h.reportAs(n1, "staging", "n1"), http.StatusForbidden, codeForbidden)
	rec := h.reportAs(other, "prod", "n1")
	wantError(t, rec, http.StatusUnauthorized, codeInvalidToken)
	if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	// A service account token reads nothing and is not even reviewed
	// elsewhere: it is no Palisade token.
	before := sas.reviews
	h.tokens.fail(nil)
	wantError(t, h.do("GET", "/api/v1/questions/owners", n1, ""), http.StatusUnauthorized, codeInvalidToken)
	if sas.reviews != before {
		t.Errorf("a service account token was reviewed for a read")
	}
	// The API server unreachable: retry later.
	sas.err = errors.New("dial tcp 10.96.0.1:443: connection refused")
	wantError(t, h.reportAs(n1, "prod", "n1"), http.StatusServiceUnavailable, codeUnavailable)

	if n := len(h.observations.reports); n != 1 {
		t.Errorf("%d reports recorded, want 1", n)
	}
	logs := h.logs.String()
	for _, tok := range []string{n1, other} {
		if strings.Contains(logs, tok) {
			t.Fatalf("the log holds a service account token:\n%s", logs)
		}
	}
	if !strings.Contains(logs, `"token":"`+agentUser+`"`) {
		t.Errorf("requests are not logged with the service account:\n%s", logs)
	}
}

// A server that reviews no service account tokens says so.
func TestAgentReportServiceAccountTokensOff(t *testing.T) {
	h := newHarness(t)
	msg := wantError(t, h.reportAs(fakeJWT("n1"), "default", "n1"), http.StatusUnauthorized, codeInvalidToken)
	if !strings.Contains(msg, "does not accept Kubernetes service account tokens") {
		t.Errorf("message %q", msg)
	}
}

// Agent tokens created through the API are bound to a cluster, the
// server's by default; other roles take none.
func TestCreateAgentToken(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Cluster = "prod" })
	admin := h.secrets[auth.RoleAdmin]
	for _, tc := range []struct {
		body, want string
	}{
		{`{"name":"n1","role":"agent"}`, "prod"},
		{`{"name":"fleet-edge","role":"agent","cluster":"edge"}`, "edge"},
	} {
		rec := h.do("POST", "/api/v1/tokens", admin, tc.body)
		var created struct{ Cluster, Token string }
		if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &created) != nil || created.Cluster != tc.want {
			t.Fatalf("%s: %d %s, want cluster %q", tc.body, rec.Code, rec.Body.String(), tc.want)
		}
		if rec := h.reportAs(created.Token, tc.want, "n1"); rec.Code != http.StatusAccepted {
			t.Errorf("%s reporting for %s: %d %s", tc.body, tc.want, rec.Code, rec.Body.String())
		}
	}
	wantError(t, h.do("POST", "/api/v1/tokens", admin, `{"name":"ci","role":"viewer","cluster":"prod"}`), http.StatusBadRequest, codeBadRequest)
	wantError(t, h.do("POST", "/api/v1/tokens", admin, `{"name":"n2","role":"agent","cluster":"two words"}`), http.StatusBadRequest, codeBadRequest)

	// The list shows agent tokens' clusters, stored or the server's.
	addAgentToken(t, h.tokens, "old", "")
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(h.do("GET", "/api/v1/tokens", admin, "").Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, it := range list.Items {
		got[it["name"].(string)] = it["cluster"]
	}
	want := map[string]any{"admin-token": nil, "analyst-token": nil, "viewer-token": nil, "agent-token": "prod",
		"n1": "prod", "fleet-edge": "edge", "old": "prod"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("clusters by token (-want +got):\n%s", d)
	}
}
