package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

// decodeError checks that rec is a JSON error of exactly the documented
// shape and returns its code and message.
func decodeError(t *testing.T, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %q is not {\"error\":{\"code\",\"message\"}}: %v", rec.Body.String(), err)
	}
	if body.Error.Code == "" || body.Error.Message == "" {
		t.Errorf("error body %q has an empty code or message", rec.Body.String())
	}
	return body.Error.Code, body.Error.Message
}

func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body.String())
	}
	gotCode, msg := decodeError(t, rec)
	if gotCode != code {
		t.Errorf("error code = %q, want %q (message %q)", gotCode, code, msg)
	}
	return msg
}

// endpoint is one authenticated endpoint with a request that would succeed
// for an admin.
type endpoint struct {
	method, path, body string
	role               auth.Role
}

// agentReportBody is a small valid agent report.
const agentReportBody = `{"node":"agent-token","cluster":"default","agent":"test","sentAt":"2026-11-25T10:00:00Z","collection":"polling",
 "processes":[{"containerID":"abc","pid":7,"ppid":1,"exe":"/bin/sh","uid":0,"firstSeen":"2026-11-25T09:59:00Z","lastSeen":"2026-11-25T10:00:00Z","running":true}],
 "flows":[{"proto":"tcp","local":"10.0.0.1:43210","remote":"10.0.0.2:80","outbound":true,"firstSeen":"2026-11-25T09:59:00Z","lastSeen":"2026-11-25T10:00:00Z","count":3}]}`

func endpoints() []endpoint {
	return []endpoint{
		{"GET", "/metrics", "", auth.RoleViewer},
		{"GET", "/api/v1/questions", "", auth.RoleViewer},
		{"GET", "/api/v1/questions/privileged", "", auth.RoleViewer},
		{"GET", "/api/v1/report", "", auth.RoleViewer},
		{"GET", "/api/v1/reachable?cluster=default&from=shop/web&to=ops/node-agent&port=80", "", auth.RoleViewer},
		{"GET", "/api/v1/inventory", "", auth.RoleViewer},
		{"POST", "/api/v1/agent/report", agentReportBody, auth.RoleAgent},
		{"POST", "/api/v1/flows", flowLogBody, auth.RoleAnalyst},
		{"GET", "/api/v1/tokens", "", auth.RoleAdmin},
		{"POST", "/api/v1/tokens", `{"name":"ci","role":"viewer"}`, auth.RoleAdmin},
		{"DELETE", "/api/v1/tokens/viewer-token", "", auth.RoleAdmin},
	}
}

func TestEveryRouteIsCovered(t *testing.T) {
	h := newHarness(t)
	covered := map[string]bool{"GET /healthz": true, "GET /readyz": true, routeUnmatched: true}
	for _, e := range endpoints() {
		req := httptest.NewRequest(e.method, e.path, nil)
		_, pattern := h.srv.mux.Handler(req)
		covered[pattern] = true
	}
	for route := range h.srv.metrics.durations {
		if !covered[route] {
			t.Errorf("route %q is not in endpoints(): add it so auth and roles are tested", route)
		}
	}
}

func TestAuthRequired(t *testing.T) {
	unknown, _, err := auth.Generate()
	if err != nil {
		t.Fatal(err)
	}
	headers := []struct {
		name, header, code string
	}{
		{"no header", "", codeMissingToken},
		{"basic auth", "Basic YWRtaW46YWRtaW4=", codeMissingToken},
		{"empty bearer", "Bearer ", codeMissingToken},
		{"unknown hand-made token", "Bearer hunter2", codeInvalidToken},
		{"overlong token", "Bearer " + strings.Repeat("x", 4096), codeInvalidToken},
		{"unknown token", "Bearer " + unknown, codeInvalidToken},
	}
	for _, e := range endpoints() {
		for _, hd := range headers {
			t.Run(e.method+" "+e.path+"/"+hd.name, func(t *testing.T) {
				h := newHarness(t)
				req := httptest.NewRequest(e.method, e.path, strings.NewReader(e.body))
				req.Header.Set("Content-Type", "application/json")
				if hd.header != "" {
					req.Header.Set("Authorization", hd.header)
				}
				rec := httptest.NewRecorder()
				h.srv.ServeHTTP(rec, req)
				wantError(t, rec, http.StatusUnauthorized, hd.code)
				if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
				}
			})
		}
	}
}

func TestProbesNeedNoAuth(t *testing.T) {
	notReady := errors.New("store unreachable")
	tests := []struct {
		name       string
		ready      func(context.Context) error
		path       string
		wantStatus int
		wantBody   string
	}{
		{"healthz", nil, "/healthz", 200, `{"status":"ok"}`},
		{"readyz without check", nil, "/readyz", 200, `{"status":"ready"}`},
		{"readyz ready", func(context.Context) error { return nil }, "/readyz", 200, `{"status":"ready"}`},
		{"readyz not ready", func(context.Context) error { return notReady }, "/readyz", 503, ""},
		{"healthz while not ready", func(context.Context) error { return notReady }, "/healthz", 200, `{"status":"ok"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.Ready = tt.ready })
			rec := h.do("GET", tt.path, "", "")
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if tt.wantBody != "" {
				if got := strings.TrimSpace(rec.Body.String()); got != tt.wantBody {
					t.Errorf("body = %s, want %s", got, tt.wantBody)
				}
				return
			}
			msg := wantError(t, rec, http.StatusServiceUnavailable, codeNotReady)
			if !strings.Contains(msg, "store unreachable") {
				t.Errorf("message %q does not give the reason", msg)
			}
		})
	}
}

func TestRoles(t *testing.T) {
	for _, role := range auth.Roles {
		for _, e := range endpoints() {
			t.Run(string(role)+"/"+e.method+" "+e.path, func(t *testing.T) {
				h := newHarness(t)
				// Deleting needs a second admin around so it is not the
				// last one.
				addToken(t, h.tokens, "other-admin", auth.RoleAdmin)
				rec := h.do(e.method, e.path, h.secrets[role], e.body)
				if !role.Allows(e.role) {
					msg := wantError(t, rec, http.StatusForbidden, codeForbidden)
					if !strings.Contains(msg, string(e.role)) {
						t.Errorf("message %q does not name the role needed", msg)
					}
					return
				}
				if rec.Code >= 300 {
					t.Fatalf("status = %d, want success; body %s", rec.Code, rec.Body.String())
				}
			})
		}
	}
}

func TestTokenLifecycle(t *testing.T) {
	tests := []struct {
		name   string
		tokens func(t *testing.T) Tokens
	}{
		{"fake", func(t *testing.T) Tokens { return newFakeTokens() }},
		{"sqlite", func(t *testing.T) Tokens {
			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "palisade.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := tt.tokens(t)
			h := newHarness(t, func(o *Options) { o.Tokens = tokens })
			admin := addToken(t, tokens, "root", auth.RoleAdmin)

			rec := h.do("POST", "/api/v1/tokens", admin, `{"name":"grafana","role":"viewer"}`)
			if rec.Code != http.StatusCreated {
				t.Fatalf("create: status %d, body %s", rec.Code, rec.Body.String())
			}
			if loc := rec.Header().Get("Location"); loc != "/api/v1/tokens/grafana" {
				t.Errorf("Location = %q", loc)
			}
			var created struct {
				Name, Role, Token string
				CreatedAt         string `json:"createdAt"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil {
				t.Fatal(err)
			}
			if created.Name != "grafana" || created.Role != "viewer" || !auth.WellFormed(created.Token) || created.CreatedAt == "" {
				t.Fatalf("created = %+v", created)
			}

			// The new token reads, but cannot manage tokens.
			if rec := h.do("GET", "/api/v1/questions/owners", created.Token, ""); rec.Code != http.StatusOK {
				t.Fatalf("new token reading: status %d, body %s", rec.Code, rec.Body.String())
			}
			wantError(t, h.do("POST", "/api/v1/tokens", created.Token, `{"name":"x","role":"admin"}`), http.StatusForbidden, codeForbidden)

			// Names are unique.
			wantError(t, h.do("POST", "/api/v1/tokens", admin, `{"name":"grafana","role":"admin"}`), http.StatusConflict, codeConflict)

			// The list shows names, roles and times; never secrets or hashes.
			rec = h.do("GET", "/api/v1/tokens", admin, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("list: status %d", rec.Code)
			}
			var list struct {
				Items []map[string]any `json:"items"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, it := range list.Items {
				names = append(names, it["name"].(string))
				keys := slices.Sorted(func(yield func(string) bool) {
					for k := range it {
						if !yield(k) {
							return
						}
					}
				})
				if diff := cmp.Diff([]string{"createdAt", "name", "role"}, keys); diff != "" {
					t.Errorf("token fields (-want +got):\n%s", diff)
				}
			}
			if !slices.Contains(names, "grafana") {
				t.Errorf("list %v lacks grafana", names)
			}
			if strings.Contains(rec.Body.String(), created.Token) || strings.Contains(rec.Body.String(), auth.Hash(created.Token)) {
				t.Error("token list shows a secret or a hash")
			}

			// Deleting revokes at once.
			if rec := h.do("DELETE", "/api/v1/tokens/grafana", admin, ""); rec.Code != http.StatusNoContent {
				t.Fatalf("delete: status %d, body %s", rec.Code, rec.Body.String())
			}
			wantError(t, h.do("GET", "/api/v1/questions/owners", created.Token, ""), http.StatusUnauthorized, codeInvalidToken)
			wantError(t, h.do("DELETE", "/api/v1/tokens/grafana", admin, ""), http.StatusNotFound, codeNotFound)

			// The last admin token cannot be deleted.
			ts, err := tokens.Tokens(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range ts {
				if tok.Name != "root" && tok.Role == string(auth.RoleAdmin) {
					if err := tokens.DeleteToken(t.Context(), tok.Name); err != nil {
						t.Fatal(err)
					}
				}
			}
			wantError(t, h.do("DELETE", "/api/v1/tokens/root", admin, ""), http.StatusConflict, codeConflict)

			// The log names tokens and never holds a secret.
			logs := h.logs.String()
			if strings.Contains(logs, auth.SecretPrefix) {
				t.Errorf("logs hold a secret:\n%s", logs)
			}
			for _, want := range []string{`"msg":"token created"`, `"msg":"token deleted"`, `"token":"root"`, `"route":"POST /api/v1/tokens"`} {
				if !strings.Contains(logs, want) {
					t.Errorf("logs lack %s:\n%s", want, logs)
				}
			}
		})
	}
}

func TestCreateTokenRejects(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `","role":"viewer"}`
	tests := []struct {
		name        string
		contentType string
		body        string
		chunked     bool
		maxBody     int64
		wantStatus  int
		wantCode    string
	}{
		{"unknown field", "application/json", `{"name":"ci","role":"viewer","admin":true}`, false, 0, 400, codeBadRequest},
		{"not JSON", "application/json", `name=ci`, false, 0, 400, codeBadRequest},
		{"empty body", "application/json", ``, false, 0, 400, codeBadRequest},
		{"two objects", "application/json", `{"name":"ci","role":"viewer"}{}`, false, 0, 400, codeBadRequest},
		{"array", "application/json", `[]`, false, 0, 400, codeBadRequest},
		{"bad role", "application/json", `{"name":"ci","role":"root"}`, false, 0, 400, codeBadRequest},
		{"bad name", "application/json", `{"name":"CI/CD","role":"viewer"}`, false, 0, 400, codeBadRequest},
		{"missing name", "application/json", `{"role":"viewer"}`, false, 0, 400, codeBadRequest},
		{"form post", "application/x-www-form-urlencoded", `name=ci&role=viewer`, false, 0, 415, codeUnsupportedMediaType},
		{"no content type", "", `{"name":"ci","role":"viewer"}`, false, 0, 415, codeUnsupportedMediaType},
		{"over 1 MiB", "application/json", big, false, 0, 413, codeBodyTooLarge},
		{"over 1 MiB, chunked", "application/json", big, true, 0, 413, codeBodyTooLarge},
		{"over a custom cap", "application/json", `{"name":"ci","role":"viewer"}`, false, 16, 413, codeBodyTooLarge},
		{"padding over a custom cap, chunked", "application/json", `{"name":"ci","role":"viewer"}` + strings.Repeat(" ", 64), true, 40, 413, codeBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(o *Options) { o.MaxBodyBytes = tt.maxBody })
			req := httptest.NewRequest("POST", "/api/v1/tokens", strings.NewReader(tt.body))
			if tt.chunked {
				req.ContentLength = -1
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			req.Header.Set("Authorization", "Bearer "+h.secrets[auth.RoleAdmin])
			rec := httptest.NewRecorder()
			h.srv.ServeHTTP(rec, req)
			wantError(t, rec, tt.wantStatus, tt.wantCode)
			if ts, _ := h.tokens.Tokens(t.Context()); len(ts) != len(auth.Roles) {
				t.Errorf("a rejected request stored a token: %d tokens", len(ts))
			}
		})
	}
}

func TestOversizeBodyThroughServer(t *testing.T) {
	h := newHarness(t)
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	body := `{"name":"ci","role":"viewer","pad":"` + strings.Repeat("x", 2<<20) + `"}`
	req, err := http.NewRequestWithContext(t.Context(), "POST", ts.URL+"/api/v1/tokens", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.secrets[auth.RoleAdmin])
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413", resp.StatusCode)
	}
	var e errorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error.Code != codeBodyTooLarge {
		t.Errorf("body = %+v, %v; want code %s", e, err, codeBodyTooLarge)
	}
}

func TestStoreDown(t *testing.T) {
	h := newHarness(t)
	h.tokens.fail(errStore)
	msg := wantError(t, h.do("GET", "/api/v1/questions", h.secrets[auth.RoleViewer], ""), http.StatusServiceUnavailable, codeUnavailable)
	if strings.Contains(msg, "10.0.0.5") {
		t.Errorf("message %q shows the store's error", msg)
	}
	if !strings.Contains(h.logs.String(), "10.0.0.5") {
		t.Error("the store's error is not logged")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantCode           string
	}{
		{"unknown question", "GET", "/api/v1/questions/cost", 404, codeUnknownQuestion},
		{"unknown query parameter", "GET", "/api/v1/questions/owners?ns=shop", 400, codeBadRequest},
		{"repeated query parameter", "GET", "/api/v1/questions/owners?namespace=a&namespace=b", 400, codeBadRequest},
		{"overlong filter", "GET", "/api/v1/questions/owners?cluster=" + strings.Repeat("c", 300), 400, codeBadRequest},
		{"no such endpoint", "GET", "/api/v2/questions", 404, codeNotFound},
		{"root", "GET", "/", 404, codeNotFound},
		{"wrong method", "PUT", "/api/v1/questions", 405, codeMethodNotAllowed},
		{"delete a missing token", "DELETE", "/api/v1/tokens/nobody", 404, codeNotFound},
		{"delete a name the API would not create", "DELETE", "/api/v1/tokens/No%20Body", 404, codeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			rec := h.do(tt.method, tt.path, h.secrets[auth.RoleAdmin], "")
			wantError(t, rec, tt.wantStatus, tt.wantCode)
			if tt.wantStatus == http.StatusMethodNotAllowed && !strings.Contains(rec.Header().Get("Allow"), "GET") {
				t.Errorf("Allow = %q, want GET in it", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	for _, rec := range []*httptest.ResponseRecorder{
		h.do("GET", "/healthz", "", ""),
		h.do("GET", "/api/v1/questions/owners", h.secrets[auth.RoleViewer], ""),
		h.do("GET", "/api/v1/questions/owners", "", ""),
		h.do("GET", "/nope", "", ""),
		h.do("GET", "/metrics", h.secrets[auth.RoleViewer], ""),
	} {
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("%s = %q, want %q (status %d)", k, got, want, rec.Code)
			}
		}
	}
}

func TestQuestionsList(t *testing.T) {
	h := newHarness(t)
	rec := h.do("GET", "/api/v1/questions", h.secrets[auth.RoleViewer], "")
	var got struct {
		Items []questionView `json:"items"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var want []questionView
	for _, q := range answer.Questions {
		want = append(want, questionView{Question: q, Path: "/api/v1/questions/" + q.Name})
	}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("questions (-want +got):\n%s", diff)
	}
}

func TestAnswers(t *testing.T) {
	for _, q := range answer.Questions {
		for _, filter := range []string{"", "?namespace=shop", "?cluster=edge&namespace=shop"} {
			t.Run(q.Name+filter, func(t *testing.T) {
				h := newHarness(t)
				rec := h.do("GET", "/api/v1/questions/"+q.Name+filter, h.secrets[auth.RoleViewer], "")
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d, body %s", rec.Code, rec.Body.String())
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				if g := rec.Header().Get(generationHeader); g != "1" {
					t.Errorf("%s = %q, want 1", generationHeader, g)
				}
				var top map[string]json.RawMessage
				if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"question", "title", "generatedAt", "summary", "items"} {
					if _, ok := top[k]; !ok {
						t.Errorf("answer lacks %q: %s", k, rec.Body.String())
					}
				}
				var name string
				if err := json.Unmarshal(top["question"], &name); err != nil || name != q.Name {
					t.Errorf("question = %s, want %q", top["question"], q.Name)
				}
				var items []struct {
					Workload  model.WorkloadRef   `json:"workload"`
					Workloads []model.WorkloadRef `json:"workloads"`
				}
				if err := json.Unmarshal(top["items"], &items); err != nil {
					t.Fatalf("items is not a list of workload items: %v", err)
				}
				if q.Name == answer.ScanAge {
					// Items are images, each run by one workload here.
					for i := range items {
						if len(items[i].Workloads) != 1 {
							t.Fatalf("scan-age item %d has workloads %v", i, items[i].Workloads)
						}
						items[i].Workload = items[i].Workloads[0]
					}
				}
				if q.Name == answer.UnusedPaths {
					// No policy selects anything here: every workload is
					// unprotected.
					var unprotected []struct {
						Workload model.WorkloadRef `json:"workload"`
					}
					if err := json.Unmarshal(top["unprotected"], &unprotected); err != nil {
						t.Fatalf("unprotected: %v", err)
					}
					for _, u := range unprotected {
						items = append(items, struct {
							Workload  model.WorkloadRef   `json:"workload"`
							Workloads []model.WorkloadRef `json:"workloads"`
						}{Workload: u.Workload})
					}
				}
				if len(items) == 0 {
					t.Errorf("no items for %s", q.Name)
				}
				for _, it := range items {
					if filter != "" && it.Workload.Namespace != "shop" {
						t.Errorf("item %v passes filter %s", it.Workload, filter)
					}
					if strings.Contains(filter, "edge") && it.Workload.Cluster != "edge" {
						t.Errorf("item %v passes filter %s", it.Workload, filter)
					}
				}
				// The CLI decodes what the server sends.
				if _, err := answer.Decode(q.Name, rec.Body.Bytes()); err != nil {
					t.Errorf("answer.Decode: %v", err)
				}
			})
		}
	}
}

func TestAnswerCache(t *testing.T) {
	h := newHarness(t)
	get := func() *httptest.ResponseRecorder {
		t.Helper()
		rec := h.do("GET", "/api/v1/questions/owners?cluster=default", h.secrets[auth.RoleViewer], "")
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d, body %s", rec.Code, rec.Body.String())
		}
		return rec
	}
	first, second := get(), get()
	// generatedAt has nanoseconds: equal bytes mean one computation.
	if !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
		t.Errorf("same generation, different bytes:\n%s\n%s", first.Body, second.Body)
	}
	if hits := h.srv.cache.hits.Load(); hits != 1 {
		t.Errorf("cache hits = %d, want 1", hits)
	}

	snap := smallSnapshot()
	snap.Add(&model.Workload{Meta: model.Meta{Cluster: "default", Namespace: "shop", Name: "checkout", Labels: map[string]string{"team": "checkout"}},
		Kind: model.KindDeployment, Template: model.PodTemplate{Containers: []model.Container{{Name: "c", Image: model.ImageRef{Original: "x", Registry: "docker.io", Repository: "library/x"}}}}})
	h.inv.set(snap)
	third := get()
	if bytes.Equal(second.Body.Bytes(), third.Body.Bytes()) {
		t.Fatal("new generation served the old bytes")
	}
	if !strings.Contains(third.Body.String(), `"name":"checkout"`) {
		t.Errorf("new generation lacks the new workload: %s", third.Body)
	}
	if g := third.Header().Get(generationHeader); g != "2" {
		t.Errorf("%s = %q, want 2", generationHeader, g)
	}
	if gen, entries, _ := h.srv.cache.stats(); gen != 2 || entries != 1 {
		t.Errorf("cache holds generation %d with %d entries, want generation 2 with 1", gen, entries)
	}
}

// countingAnswerer counts Ask calls and holds them until release closes.
type countingAnswerer struct {
	next    Answerer
	mu      sync.Mutex
	n       int
	release chan struct{}
}

func (c *countingAnswerer) Ask(ix *inventory.Index, q string, f answer.Filter) (any, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	<-c.release
	return c.next.Ask(ix, q, f)
}

func TestConcurrentRequestsComputeOnce(t *testing.T) {
	engine, err := answer.NewEngine(answer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ca := &countingAnswerer{next: engine, release: make(chan struct{})}
	h := newHarness(t, func(o *Options) { o.Answers = ca })
	const n = 16
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := h.do("GET", "/api/v1/questions/exposed", h.secrets[auth.RoleViewer], "")
			if rec.Code != http.StatusOK {
				t.Errorf("status %d", rec.Code)
			}
			bodies[i] = rec.Body.Bytes()
		})
	}
	// Wait until every request but the computing one is waiting for it.
	for h.srv.cache.hits.Load() < n-1 {
		runtime.Gosched()
	}
	close(ca.release)
	wg.Wait()
	if ca.n != 1 {
		t.Errorf("Ask called %d times, want 1", ca.n)
	}
	for i := range bodies {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Errorf("response %d differs from response 0", i)
		}
	}
}

func TestInventorySummary(t *testing.T) {
	h := newHarness(t)
	rec := h.do("GET", "/api/v1/inventory", h.secrets[auth.RoleViewer], "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body.String())
	}
	var got inventorySummary
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := inventorySummary{Generation: 1, Objects: 11, Workloads: 3, Clusters: []clusterSummary{
		{Cluster: "default", Objects: 8, Workloads: 2, Kinds: map[model.Kind]int{"Namespace": 2, "Deployment": 1, "DaemonSet": 1, "Service": 2, "Ingress": 1, "Pod": 1}},
		{Cluster: "edge", Objects: 3, Workloads: 1, Kinds: map[model.Kind]int{"Namespace": 1, "StatefulSet": 1, "Pod": 1}},
	}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported()); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
}

var metricLine = regexp.MustCompile(`^[a-z_]+(\{[a-z_]+="(?:[^"\\\n]|\\.)*"(,[a-z_]+="(?:[^"\\\n]|\\.)*")*\})? [0-9.e+-]+$`)

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	viewer := h.secrets[auth.RoleViewer]
	h.do("GET", "/api/v1/questions/owners", viewer, "")
	h.do("GET", "/api/v1/questions/owners", viewer, "")
	h.do("GET", "/api/v1/questions/cost", viewer, "")
	h.do("GET", "/api/v1/tokens", viewer, "")
	h.do("GET", "/healthz", "", "")
	h.do("GET", "/nope", "", "")
	rec := h.do("GET", "/metrics", viewer, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`palisade_http_requests_total{route="GET /api/v1/questions/{name}",code="200"} 2`,
		`palisade_http_requests_total{route="GET /api/v1/questions/{name}",code="404"} 1`,
		`palisade_http_requests_total{route="GET /api/v1/tokens",code="403"} 1`,
		`palisade_http_requests_total{route="GET /healthz",code="200"} 1`,
		`palisade_http_requests_total{route="unmatched",code="404"} 1`,
		`palisade_http_request_duration_seconds_count{route="GET /api/v1/questions/{name}"} 3`,
		`palisade_http_request_duration_seconds_bucket{route="GET /api/v1/questions/{name}",le="+Inf"} 3`,
		`palisade_http_request_duration_seconds_sum{route="GET /api/v1/questions/{name}"} `,
		`palisade_http_request_duration_seconds_count{route="POST /api/v1/tokens"} 0`,
		`palisade_api_cache_hits_total 1`,
		`palisade_build_info{version="v0.0.0-test"} 1`,
		"# TYPE palisade_http_request_duration_seconds histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if !strings.HasPrefix(line, "# ") && !metricLine.MatchString(line) {
			t.Errorf("not a Prometheus sample line: %q", line)
		}
	}
}

func TestLabelEscaping(t *testing.T) {
	if got, want := label("a\"b\\c\nd"), `"a\"b\\c\nd"`; got != want {
		t.Errorf("label = %s, want %s", got, want)
	}
}

func TestRequestLog(t *testing.T) {
	h := newHarness(t)
	h.do("GET", "/api/v1/questions/privileged?namespace=shop", h.secrets[auth.RoleAnalyst], "")
	var rec map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
	}
	for k, want := range map[string]any{"msg": "http request", "method": "GET", "route": "GET /api/v1/questions/{name}", "status": float64(200), "token": "analyst-token"} {
		if rec[k] != want {
			t.Errorf("log %s = %v, want %v", k, rec[k], want)
		}
	}
	if _, ok := rec["duration"]; !ok {
		t.Error("log lacks duration")
	}
	if strings.Contains(h.logs.String(), h.secrets[auth.RoleAnalyst]) {
		t.Error("log holds the secret")
	}
}

func TestPanicInAnswer(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Answers = panicAnswerer{} })
	rec := h.do("GET", "/api/v1/questions/owners", h.secrets[auth.RoleViewer], "")
	wantError(t, rec, http.StatusInternalServerError, codeInternal)
	if !strings.Contains(h.logs.String(), "panic serving request") {
		t.Error("panic not logged")
	}
	// A later request is not stuck behind the failed computation.
	rec = h.do("GET", "/api/v1/questions/owners", h.secrets[auth.RoleViewer], "")
	wantError(t, rec, http.StatusInternalServerError, codeInternal)
}

type panicAnswerer struct{}

func (panicAnswerer) Ask(*inventory.Index, string, answer.Filter) (any, error) { panic("boom") }

func TestNewPanicsWithoutDependencies(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with empty Options did not panic")
		}
	}()
	New(Options{})
}

// Tokens made outside the API (the config file takes a hash of any secret;
// the palisade token command takes any name) work and can be deleted.
func TestTokensMadeElsewhere(t *testing.T) {
	h := newHarness(t)
	const secret = "correct horse battery staple"
	if err := h.tokens.PutToken(t.Context(), store.Token{Name: "CI Bot", Role: "viewer", Hash: auth.Hash(secret)}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/v1/questions", nil)
	// A secret with spaces cannot be sent as a bearer token; one without
	// can, whatever its shape.
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	wantError(t, rec, http.StatusUnauthorized, codeMissingToken)

	const plain = "0123456789abcdef0123456789abcdef"
	if err := h.tokens.PutToken(t.Context(), store.Token{Name: "CI Bot", Role: "viewer", Hash: auth.Hash(plain)}); err != nil {
		t.Fatal(err)
	}
	if rec := h.do("GET", "/api/v1/questions", plain, ""); rec.Code != http.StatusOK {
		t.Fatalf("hand-made secret: status %d, body %s", rec.Code, rec.Body.String())
	}
	if rec := h.do("DELETE", "/api/v1/tokens/CI%20Bot", h.secrets[auth.RoleAdmin], ""); rec.Code != http.StatusNoContent {
		t.Fatalf("deleting %q: status %d, body %s", "CI Bot", rec.Code, rec.Body.String())
	}
	wantError(t, h.do("GET", "/api/v1/questions", plain, ""), http.StatusUnauthorized, codeInvalidToken)
}

func TestStoreDownKeepsRecentlyVerifiedTokens(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	h.srv.now = func() time.Time { return now }
	viewer, analyst := h.secrets[auth.RoleViewer], h.secrets[auth.RoleAnalyst]
	if rec := h.do("GET", "/api/v1/questions/owners", viewer, ""); rec.Code != http.StatusOK {
		t.Fatalf("status %d before the outage", rec.Code)
	}
	h.tokens.fail(errStore)
	if rec := h.do("GET", "/api/v1/questions/owners", viewer, ""); rec.Code != http.StatusOK {
		t.Errorf("recently verified token during the outage: status %d, want 200 (answers are in memory)", rec.Code)
	}
	// A token never verified before the outage cannot be checked.
	wantError(t, h.do("GET", "/api/v1/questions/owners", analyst, ""), http.StatusServiceUnavailable, codeUnavailable)
	// Nor can one verified too long ago.
	now = now.Add(verifiedGrace + time.Minute)
	wantError(t, h.do("GET", "/api/v1/questions/owners", viewer, ""), http.StatusServiceUnavailable, codeUnavailable)
	// When the store answers, it decides: a revoked token stops at once.
	h.tokens.fail(nil)
	if rec := h.do("GET", "/api/v1/questions/owners", viewer, ""); rec.Code != http.StatusOK {
		t.Fatalf("status %d after the outage", rec.Code)
	}
	if err := h.tokens.DeleteToken(t.Context(), "viewer-token"); err != nil {
		t.Fatal(err)
	}
	wantError(t, h.do("GET", "/api/v1/questions/owners", viewer, ""), http.StatusUnauthorized, codeInvalidToken)
	h.tokens.fail(errStore)
	wantError(t, h.do("GET", "/api/v1/questions/owners", viewer, ""), http.StatusServiceUnavailable, codeUnavailable)
}
