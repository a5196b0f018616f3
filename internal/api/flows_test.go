package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/flows"
)

// fakeFlowStore keeps what imports stored. When err is set it fails.
type fakeFlowStore struct {
	mu      sync.Mutex
	sources []string
	recs    []flows.Record
	err     error
}

func (f *fakeFlowStore) AddFlows(_ context.Context, source string, recs []flows.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sources = append(f.sources, source)
	f.recs = append(f.recs, recs...)
	return nil
}

// flowLogBody is a small valid flow log.
const flowLogBody = `{"time":"2026-11-25T10:00:00Z","srcWorkload":"shop/web","dst":"10.0.0.9","dstPort":443}` + "\n"

func postFlows(t *testing.T, h *harness, query, contentType, encoding string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/flows"+query, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.secrets[auth.RoleAnalyst])
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

func TestImportFlows(t *testing.T) {
	h := newHarness(t)
	log := strings.Join([]string{
		`{"time":"2026-11-25T10:00:00Z","srcWorkload":"shop/web","dst":"10.0.0.9","dstPort":443,"count":2}`,
		`{"time":"2026-11-25T10:05:00Z","srcWorkload":"shop/web","dst":"10.0.0.9","dstPort":443}`,
		`{"time":"2026-11-25T10:06:00Z","src":"203.0.113.4","dstWorkload":"shop/Deployment/web","dstPort":80}`,
		`not json`,
		`{"time":"2026-11-25T10:07:00Z","srcWorkload":"shop/ghost","dst":"10.0.0.9","dstPort":443}`,
		`{"time":"2026-11-25T10:08:00Z","src":"10.0.0.1","dst":"10.0.0.9","dstPort":53,"protocol":"ICMP"}`,
	}, "\n")
	rec := postFlows(t, h, "?name=calls.jsonl", "application/x-ndjson", "", []byte(log))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var resp flowImportResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Source != "log:calls.jsonl" || resp.Cluster != "default" || resp.Flows != 3 || resp.Records != 2 || resp.Outside != 3 || resp.Skipped != 3 {
		t.Errorf("response %+v", resp)
	}
	var lines []int
	for _, e := range resp.Errors {
		lines = append(lines, e.Line)
	}
	if len(lines) != 3 || lines[0] != 4 || lines[1] != 5 || lines[2] != 6 || !strings.Contains(resp.Errors[1].Message, "shop/ghost") {
		t.Errorf("errors %+v, want lines 4, 5 and 6 in order", resp.Errors)
	}
	fs := h.srv.opts.Flows.(*fakeFlowStore)
	if len(fs.sources) != 1 || fs.sources[0] != "log:calls.jsonl" || len(fs.recs) != 2 {
		t.Fatalf("stored %v: %d records", fs.sources, len(fs.recs))
	}
	if r := fs.recs[0]; r.From.Workload == nil || r.From.Workload.Name != "web" || r.To.Addr.String() != "10.0.0.9" || r.Count != 3 {
		t.Errorf("record %+v", r)
	}

	// gzip, a JSON array, another cluster (that this server has no
	// inventory of: a note says so).
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(`[{"time":"2026-11-25T10:00:00Z","src":"10.1.0.1","dst":"10.1.0.2","dstPort":8080}]`))
	zw.Close()
	rec = postFlows(t, h, "?cluster=lab", "application/json", "gzip", zipped.Bytes())
	if rec.Code != http.StatusOK {
		t.Fatalf("gzip: status %d: %s", rec.Code, rec.Body.String())
	}
	resp = flowImportResponse{}
	json.Unmarshal(rec.Body.Bytes(), &resp)
	if resp.Cluster != "lab" || resp.Source != "log:api" || resp.Records != 1 || len(resp.Notes) != 1 || !strings.Contains(resp.Notes[0], `"lab" has no inventory`) {
		t.Errorf("response %+v", resp)
	}
}

func TestImportFlowsRefused(t *testing.T) {
	manyErrors := strings.Repeat("x\n", 1001)
	tests := []struct {
		name              string
		query, ctype, enc string
		body              string
		edit              func(*Options)
		status            int
		code, msg         string
	}{
		{"not JSON", "", "text/csv", "", flowLogBody, nil, 415, codeUnsupportedMediaType, "application/x-ndjson"},
		{"other encoding", "", "application/json", "br", flowLogBody, nil, 415, codeUnsupportedMediaType, "gzip"},
		{"bad gzip", "", "application/json", "gzip", flowLogBody, nil, 400, codeBadRequest, "not valid gzip"},
		{"too many bad lines", "", "application/x-ndjson", "", manyErrors, nil, 400, codeBadRequest, "line 1: not a JSON object"},
		{"unclosed array", "", "application/json", "", "[" + strings.TrimSpace(flowLogBody), nil, 400, codeBadRequest, "not closed"},
		{"control characters in the name", "?name=a%0Ab", "application/json", "", flowLogBody, nil, 400, codeBadRequest, "name"},
		{"no flow store", "", "application/json", "", flowLogBody, func(o *Options) { o.Flows = nil }, 501, codeNotImplemented, "does not import"},
		{"store down", "", "application/json", "", flowLogBody, func(o *Options) { o.Flows = &fakeFlowStore{err: errors.New("disk full")} }, 503, codeUnavailable, "could not be stored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var edits []func(*Options)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			h := newHarness(t, edits...)
			msg := wantError(t, postFlows(t, h, tt.query, tt.ctype, tt.enc, []byte(tt.body)), tt.status, tt.code)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q, want it to contain %q", msg, tt.msg)
			}
			if strings.Contains(msg, "disk full") {
				t.Errorf("message %q shows the store's error", msg)
			}
			if fs, ok := h.srv.opts.Flows.(*fakeFlowStore); ok && len(fs.recs) > 0 {
				t.Errorf("stored %d records", len(fs.recs))
			}
		})
	}
}

// One import at a time: a second waits for nothing and is told to retry.
func TestImportFlowsOneAtATime(t *testing.T) {
	h := newHarness(t)
	h.srv.flowSlots <- struct{}{}
	wantError(t, postFlows(t, h, "", "application/json", "", []byte(flowLogBody)), http.StatusTooManyRequests, codeTooManyRequests)
	<-h.srv.flowSlots
	if rec := postFlows(t, h, "", "application/json", "", []byte(flowLogBody)); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
}
