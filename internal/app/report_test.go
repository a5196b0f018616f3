package app

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/answer"
)

func TestReportManifests(t *testing.T) {
	code, out, stderr := run(t, "", "report", "--manifests", demoDir, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, err := answer.DecodeReport([]byte(out))
	if err != nil {
		t.Fatalf("output is not a report: %v\n%s", err, out)
	}
	if len(r.Sections) != 10 {
		t.Fatalf("%d sections, want 10", len(r.Sections))
	}
	for i, s := range r.Sections {
		if s.Number != i+1 {
			t.Errorf("section %d is question %d", i+1, s.Number)
		}
		if !s.Answered {
			t.Errorf("question %d (%s) is not answered: %q", s.Number, s.Name, s.Status)
		}
	}
	// The example has exposed and privileged workloads to highlight.
	for _, s := range r.Sections {
		if (s.Name == "exposed" || s.Name == "privileged") && (s.State != answer.StateAttention || len(s.Highlights) == 0) {
			t.Errorf("%s: state %q, highlights %q", s.Name, s.State, s.Highlights)
		}
	}

	code, text, stderr := run(t, "", "report", "--manifests", demoDir)
	if code != 0 {
		t.Fatalf("text: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"[??]  8  Which processes run in each container, and which are suspicious?  (processes)",
		"no node agent has reported",
		"allowed paths, usage unknown (no node agent reports flows, no flow log is imported)",
		"Deployment/payments/payment-api from the internet via Service payment-api (LoadBalancer)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^\[(!!|ok|\?\?|--)\] +\d+  `).FindAllString(text, -1)); n != 10 {
		t.Errorf("text has %d question lines, want 10:\n%s", n, text)
	}

	code, md, stderr := run(t, "", "report", "--manifests", demoDir, "-o", "markdown")
	if code != 0 {
		t.Fatalf("markdown: exit %d: %s", code, stderr)
	}
	headings := regexp.MustCompile(`(?m)^## (\d+)\. `).FindAllStringSubmatch(md, -1)
	var got []string
	for _, h := range headings {
		got = append(got, h[1])
	}
	if diff := cmp.Diff([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, got); diff != "" {
		t.Errorf("markdown headings (-want +got):\n%s\n%s", diff, md)
	}
	if !strings.HasPrefix(md, "# Palisade report\n") {
		t.Errorf("markdown does not start with its title:\n%s", md)
	}

	// Filters narrow every section.
	code, out, stderr = run(t, "", "report", "--manifests", demoDir, "--namespace", "payments", "-o", "json")
	if code != 0 {
		t.Fatalf("filtered: exit %d: %s", code, stderr)
	}
	if r, err = answer.DecodeReport([]byte(out)); err != nil {
		t.Fatal(err)
	}
	if r.Filter.Namespace != "payments" {
		t.Errorf("filter = %+v", r.Filter)
	}
	for _, s := range r.Sections {
		for _, h := range s.Highlights {
			if strings.Contains(h, "/shop/") || strings.Contains(h, "/monitoring/") {
				t.Errorf("%s highlight %q is outside namespace payments", s.Name, h)
			}
		}
	}
}

func TestReportErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"bad output", []string{"report", "--manifests", demoDir, "-o", "yaml"}, ExitUsage, "want text, markdown, json"},
		{"no cve", []string{"report", "--manifests", demoDir, "--cve", "CVE-2021-44228"}, ExitUsage, "unknown flag"},
		{"arguments", []string{"report", "owners", "--manifests", demoDir}, ExitUsage, "unknown command"},
		{"two sources", []string{"report", "--manifests", demoDir, "--server", "http://127.0.0.1:1"}, ExitUsage, "exclude each other"},
		{"server without token", []string{"report", "--server", "http://127.0.0.1:1"}, ExitUsage, "PALISADE_TOKEN"},
		{"server down", []string{"report", "--server", "http://127.0.0.1:1", "--token", "pls_x"}, ExitError, "127.0.0.1:1"},
		{"server config", []string{"report", "--server", "http://127.0.0.1:1", "--token", "pls_x", "--trusted-registry", "ghcr.io"}, ExitUsage, "configure the server"},
		{"bad trusted registry", []string{"report", "--manifests", demoDir, "--trusted-registry", "https://x"}, ExitUsage, "trusted registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PALISADE_TOKEN", "")
			code, _, stderr := run(t, "", tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// TestReportFromDemoServer asks the demo server for its report: the
// example's scans, KEV excerpt and EXAMPLE DATA label reach it, and each
// section's summary is that of the answer the server gives on its own.
func TestReportFromDemoServer(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"demo", "--listen", addr}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("demo exited %d: %s", code, stderr.String())
			}
		}
	}
	defer stop()
	for deadline := time.Now().Add(30 * time.Second); !ready(addr); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start: %s", stderr.String())
		}
	}
	token := regexp.MustCompile(`pls_[A-Za-z0-9_-]+`).FindString(stderr.String())
	if !strings.Contains(stderr.String(), "palisade report") {
		t.Errorf("the demo's welcome does not mention palisade report")
	}
	server := "http://" + addr

	code, out, errOut := run(t, "", "report", "--server", server, "--token", token, "-o", "json")
	if code != 0 {
		t.Fatalf("report --server: exit %d: %s", code, errOut)
	}
	r, err := answer.DecodeReport([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sections) != 10 || !strings.Contains(strings.Join(r.Notes, " "), "EXAMPLE DATA") {
		t.Fatalf("%d sections, notes %q", len(r.Sections), r.Notes)
	}
	for _, s := range r.Sections {
		if !s.Answered {
			t.Errorf("question %d (%s) not answered", s.Number, s.Name)
			continue
		}
		code, one, errOut := run(t, "", "ask", s.Name, "--server", server, "--token", token, "-o", "json")
		if code != 0 {
			t.Fatalf("ask %s: exit %d: %s", s.Name, code, errOut)
		}
		var a struct {
			Summary map[string]int `json:"summary"`
		}
		if err := json.Unmarshal([]byte(one), &a); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a.Summary, s.Summary); diff != "" {
			t.Errorf("%s: summary (-answer +report):\n%s", s.Name, diff)
		}
	}
	// The example's scans reach the brief: the known-exploited flaw in
	// production, and the failing scan.
	for name, want := range map[string]string{
		"production": "KNOWN EXPLOITED",
		"priorities": "#1 ",
		"scan-age":   "failing: ",
		"vulnerable": "CVE-2021-44228",
	} {
		var hl string
		for _, s := range r.Sections {
			if s.Name == name {
				hl = strings.Join(s.Highlights, "\n")
				if s.State != answer.StateAttention {
					t.Errorf("%s: state %q", name, s.State)
				}
			}
		}
		if !strings.Contains(hl, want) {
			t.Errorf("%s highlights lack %q:\n%s", name, want, hl)
		}
	}

	code, text, errOut := run(t, "", "report", "--server", server, "--token", token, "--environment", "production")
	if code != 0 {
		t.Fatalf("report --server text: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"environment production", "note: EXAMPLE DATA", "[!!]  9  "} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	code, _, errOut = run(t, "", "report", "--server", server, "--token", "pls_wrong")
	if code != ExitError || !strings.Contains(errOut, "401") {
		t.Errorf("wrong token: exit %d, %q", code, errOut)
	}

	// The demo's database holds its inventory (not its example scans,
	// which live in memory): the local report reads it.
	stop()
	code, md, errOut := run(t, "", "report", "--database", filepath.Join(data, "palisade", "demo.db"), "-o", "markdown")
	if code != 0 {
		t.Fatalf("report --database: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"> **Note:** EXAMPLE DATA", "## 7. Which services are exposed outside the cluster?", "Deployment/payments/payment-api"} {
		if !strings.Contains(md, want) {
			t.Errorf("local report lacks %q:\n%s", want, md)
		}
	}
}
