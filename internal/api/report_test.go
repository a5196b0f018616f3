package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// getReport fetches /api/v1/report with query and decodes it as the CLI
// does.
func (h *harness) getReport(query string) (*answer.Report, *http.Response) {
	h.t.Helper()
	rec := h.do("GET", "/api/v1/report"+query, h.secrets[auth.RoleViewer], "")
	if rec.Code != http.StatusOK {
		h.t.Fatalf("GET /api/v1/report%s: status %d, body %s", query, rec.Code, rec.Body.String())
	}
	r, err := answer.DecodeReport(rec.Body.Bytes())
	if err != nil {
		h.t.Fatal(err)
	}
	return r, rec.Result()
}

func TestReport(t *testing.T) {
	h := newHarness(t)
	r, resp := h.getReport("")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if g := resp.Header.Get(generationHeader); g != "1" {
		t.Errorf("%s = %q, want 1", generationHeader, g)
	}
	if resp.Header.Get("ETag") == "" {
		t.Error("no ETag")
	}
	var got []string
	for _, s := range r.Sections {
		got = append(got, s.Name)
	}
	want := []string{"image-sources", "scan-age", "vulnerable", "production", "priorities", "privileged", "exposed", "processes", "unused-paths", "owners"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("sections (-want +got):\n%s", diff)
	}
	for i, s := range r.Sections {
		if s.Number != i+1 {
			t.Errorf("section %d has number %d", i, s.Number)
		}
		if !s.Answered {
			t.Errorf("section %d (%s) is not answered", s.Number, s.Name)
		}
		if s.Path != "/api/v1/questions/"+s.Name || s.Summary == nil || s.Status == "" {
			t.Errorf("section %d: path %q, summary %v, status %q", s.Number, s.Path, s.Summary, s.Status)
		}
		// The path is where the full answer is, and its summary is the
		// section's.
		rec := h.do("GET", s.Path, h.secrets[auth.RoleViewer], "")
		var a struct {
			Summary map[string]int `json:"summary"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", s.Path, rec.Code, err)
		}
		if diff := cmp.Diff(a.Summary, s.Summary); diff != "" {
			t.Errorf("%s: summary (-answer +report):\n%s", s.Name, diff)
		}
	}
	// The harness has something for each to highlight.
	for _, name := range []string{"vulnerable", "priorities", "privileged", "exposed"} {
		s := section(t, r, name)
		if s.State != answer.StateAttention || len(s.Highlights) == 0 {
			t.Errorf("%s: state %q, highlights %q", name, s.State, s.Highlights)
		}
	}
	if hl := section(t, r, "priorities").Highlights; !strings.Contains(hl[0], "#1 ") || !strings.Contains(hl[0], "CVE-2026-0001") {
		t.Errorf("priorities highlights = %q", hl)
	}
}

func section(t *testing.T, r *answer.Report, name string) answer.Section {
	t.Helper()
	for _, s := range r.Sections {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no section %s", name)
	return answer.Section{}
}

func TestReportFilters(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		query  string
		filter answer.Filter
		// owners is the workloads the owners answer covers.
		owners int
	}{
		{"", answer.Filter{}, 3},
		{"?cluster=edge", answer.Filter{Cluster: "edge"}, 1},
		{"?namespace=shop", answer.Filter{Namespace: "shop"}, 2},
		{"?cluster=default&namespace=ops", answer.Filter{Cluster: "default", Namespace: "ops"}, 1},
		{"?environment=production", answer.Filter{Environment: "production"}, 2},
		{"?cluster=nowhere", answer.Filter{Cluster: "nowhere"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r, _ := h.getReport(tt.query)
			if r.Filter != tt.filter {
				t.Errorf("filter = %+v, want %+v", r.Filter, tt.filter)
			}
			owners := section(t, r, "owners")
			if got := owners.Summary["workloads"]; got != tt.owners {
				t.Errorf("owners covers %d workloads, want %d", got, tt.owners)
			}
			if want := "/api/v1/questions/owners" + tt.query; owners.Path != want {
				t.Errorf("owners path = %q, want %q", owners.Path, want)
			}
			for _, s := range r.Sections {
				for _, hl := range s.Highlights {
					if tt.filter.Cluster == "edge" && (strings.Contains(hl, "/web") || strings.Contains(hl, "node-agent")) {
						t.Errorf("%s highlight %q is outside cluster edge", s.Name, hl)
					}
				}
			}
		})
	}
}

func TestReportRejects(t *testing.T) {
	h := newHarness(t)
	for _, q := range []string{"?cve=CVE-2026-0001", "?team=x", "?cluster=a&cluster=b", "?namespace=" + strings.Repeat("n", 300)} {
		rec := h.do("GET", "/api/v1/report"+q, h.secrets[auth.RoleViewer], "")
		msg := wantError(t, rec, http.StatusBadRequest, codeBadRequest)
		if q == "?cve=CVE-2026-0001" && !strings.Contains(msg, "vulnerable") {
			t.Errorf("cve: message %q does not say where to ask", msg)
		}
	}
	rec := h.do("GET", "/api/v1/report", "", "")
	wantError(t, rec, http.StatusUnauthorized, codeMissingToken)
	rec = h.do("POST", "/api/v1/report", h.secrets[auth.RoleAdmin], "{}")
	wantError(t, rec, http.StatusMethodNotAllowed, codeMethodNotAllowed)
}

// An Answerer that builds no reports gets a 501 that says what to use.
func TestReportNotImplemented(t *testing.T) {
	engine, err := answer.NewEngine(answer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *Options) { o.Answers = askOnly{engine} })
	msg := wantError(t, h.do("GET", "/api/v1/report", h.secrets[auth.RoleViewer], ""), http.StatusNotImplemented, codeNotImplemented)
	if !strings.Contains(msg, "/api/v1/questions/") {
		t.Errorf("message %q", msg)
	}
	if rec := h.do("GET", "/api/v1/questions/owners", h.secrets[auth.RoleViewer], ""); rec.Code != http.StatusOK {
		t.Errorf("questions: status %d", rec.Code)
	}
}

// askOnly hides everything of an Answerer but Ask.
type askOnly struct{ a Answerer }

func (a askOnly) Ask(ix *inventory.Index, q string, f answer.Filter) (any, error) {
	return a.a.Ask(ix, q, f)
}

// The report is cached like the answers: one computation per generation
// and filter, validated by ETag, compressed for gzip clients.
func TestReportCache(t *testing.T) {
	h := newHarness(t)
	get := func(query string, header ...string) *http.Response {
		t.Helper()
		req := httptest.NewRequest("GET", "/api/v1/report"+query, nil)
		req.Header.Set("Authorization", "Bearer "+h.secrets[auth.RoleViewer])
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req)
		return rec.Result()
	}
	first, second := get("?cluster=default"), get("?cluster=default")
	b1, b2 := readAll(t, first), readAll(t, second)
	if !bytes.Equal(b1, b2) {
		t.Errorf("same generation, different bytes")
	}
	if first.Header.Get("ETag") == "" || first.Header.Get("ETag") == h.do("GET", "/api/v1/questions/owners?cluster=default", h.secrets[auth.RoleViewer], "").Header().Get("ETag") {
		t.Errorf("report ETag %q is missing or an answer's", first.Header.Get("ETag"))
	}
	if nm := get("?cluster=default", "If-None-Match", first.Header.Get("ETag")); nm.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", nm.StatusCode)
	}
	// A gzip client that computes a report gets it compressed; without
	// Run, a report first computed plain stays plain (as answers do).
	gz := get("", "Accept-Encoding", "gzip")
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("Content-Encoding = %q, Vary = %q", gz.Header.Get("Content-Encoding"), gz.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(readAll(t, gz)))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, readAll(t, get(""))) {
		t.Errorf("gzip body differs from the plain one (%v)", err)
	}

	snap := smallSnapshot()
	snap.Add(&model.Workload{Meta: model.Meta{Cluster: "default", Namespace: "shop", Name: "checkout"},
		Kind: model.KindDeployment, Template: model.PodTemplate{Containers: []model.Container{{Name: "c", Image: model.ImageRef{Original: "x", Registry: "docker.io", Repository: "library/x"}}}}})
	h.inv.set(snap)
	third := get("?cluster=default")
	if g := third.Header.Get(generationHeader); g != "2" {
		t.Errorf("%s = %q after a change, want 2", generationHeader, g)
	}
	r, err := answer.DecodeReport(readAll(t, third))
	if err != nil {
		t.Fatal(err)
	}
	before, err := answer.DecodeReport(b1)
	if err != nil {
		t.Fatal(err)
	}
	if n, was := section(t, r, "owners").Summary["workloads"], section(t, before, "owners").Summary["workloads"]; n != was+1 {
		t.Errorf("owners covers %d workloads after one was added to %d", n, was)
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The report's fields are those of the Report and ReportSection schemas,
// and their required fields are always present.
func TestOpenAPIReport(t *testing.T) {
	schemas := loadSpec(t).Components.Schemas
	h := newHarness(t)
	rec := h.do("GET", "/api/v1/report?cluster=default", h.secrets[auth.RoleViewer], "")
	var top map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	checkSchema(t, "Report", schemas["Report"], top)
	var sections []map[string]json.RawMessage
	if err := json.Unmarshal(top["sections"], &sections); err != nil {
		t.Fatal(err)
	}
	for _, s := range sections {
		checkSchema(t, "ReportSection", schemas["ReportSection"], s)
	}
}

func checkSchema(t *testing.T, name string, sc schema, obj map[string]json.RawMessage) {
	t.Helper()
	if len(sc.Properties) == 0 {
		t.Fatalf("no %s schema in docs/openapi.yaml", name)
	}
	for k := range obj {
		if _, ok := sc.Properties[k]; !ok {
			t.Errorf("field %q is not in the %s schema", k, name)
		}
	}
	for _, k := range sc.Required {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s: required field %q missing", name, k)
		}
	}
}
