package api

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/auth"
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
