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
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The demo's payments namespace denies everything but ingress from
// payment-api to ledger-db; shop has no policy at all.
func TestAskReachableManifests(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		allowed bool
		out     string
	}{
		{"no policy", []string{"--from", "shop/frontend", "--to", "shop/checkout", "--port", "8080"}, true, "not isolated"},
		{"egress denied", []string{"--from", "payments/payment-api", "--to", "payments/ledger-db", "--port", "5432"}, false, "isolated by payments/default-deny"},
		{"namespace flag", []string{"-n", "payments", "--from", "payment-api", "--to", "ledger-db", "--port", "5432/TCP"}, false, "ingress  of the destination: allowed by payments/ledger-from-api ingress[0]"},
		{"from outside", []string{"--from", "203.0.113.9", "--to", "shop/frontend", "--port", "443"}, true, "outside the cluster's workloads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"ask", "reachable", "--manifests", demoDir}, tt.args...)
			code, out, stderr := run(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			want := "allowed: no"
			if tt.allowed {
				want = "allowed: yes"
			}
			if !strings.HasPrefix(out, want) || !strings.Contains(out, tt.out) {
				t.Errorf("table lacks %q or %q:\n%s", want, tt.out, out)
			}
			code, js, stderr := run(t, "", append(args, "-o", "json")...)
			if code != 0 {
				t.Fatalf("-o json: exit %d: %s", code, stderr)
			}
			var v struct {
				Question string `json:"question"`
				Allowed  *bool  `json:"allowed"`
				Egress   struct {
					Reason string `json:"reason"`
				} `json:"egress"`
				Ingress struct {
					Policies []struct{ Namespace, Name string } `json:"policies"`
				} `json:"ingress"`
			}
			if err := json.Unmarshal([]byte(js), &v); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, js)
			}
			if v.Question != "reachable" || v.Allowed == nil || *v.Allowed != tt.allowed || v.Egress.Reason == "" {
				t.Errorf("JSON %s", js)
			}
		})
	}
}

func TestAskReachableErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown workload", []string{"--from", "shop/nope", "--to", "shop/frontend", "--port", "80"}, `from: no such workload "shop/nope" in cluster default`},
		{"port zero", []string{"--from", "shop/frontend", "--to", "shop-staging/frontend", "--port", "0"}, "not between 1 and 65535"},
		{"bad protocol", []string{"--from", "shop/frontend", "--to", "shop/checkout", "--port", "80/icmp"}, "not TCP, UDP or SCTP"},
		{"unknown port name", []string{"--from", "shop/frontend", "--to", "shop/checkout", "--port", "grpc"}, `port "grpc"`},
		{"bare name", []string{"--from", "frontend", "--to", "shop/checkout", "--port", "80"}, "want NAMESPACE/NAME"},
		{"two addresses", []string{"--from", "1.2.3.4", "--to", "10.0.0.0/8", "--port", "80"}, "neither end is a workload"},
		{"missing port", []string{"--from", "shop/frontend", "--to", "shop/checkout"}, `required flag(s) "port" not set`},
		{"environment", []string{"--from", "shop/frontend", "--to", "shop/checkout", "--port", "80", "--environment", "production"}, "--environment does not apply"},
		{"output", []string{"--from", "shop/frontend", "--to", "shop/checkout", "--port", "80", "-o", "xml"}, "output format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := run(t, "", append([]string{"ask", "reachable", "--manifests", demoDir}, tt.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d and %q", code, stderr, out, ExitUsage, tt.wantErr)
			}
		})
	}
}

// startServer runs "palisade server" on the demo's manifests and returns
// its URL and an admin token.
func startServer(t *testing.T) (server, token string) {
	t.Helper()
	addr := freeAddr(t)
	db := filepath.Join(t.TempDir(), "p.db")
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"server", "--listen", addr, "--database", db, "--manifests", demoDir, "--cluster", "default"}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("server exited %d: %s", code, stderr.String())
		}
	})
	tokenRE := regexp.MustCompile(`PALISADE_TOKEN=(pls_\S+)`)
	for deadline := time.Now().Add(30 * time.Second); token == "" || !ready(addr); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", stderr.String())
		}
		if m := tokenRE.FindStringSubmatch(stderr.String()); m != nil {
			token = m[1]
		}
	}
	return "http://" + addr, token
}

// Through a server, reachable and unused-paths give what they give
// offline, and bad input is a usage error with the server's message.
func TestReachableAndUnusedPathsFromServer(t *testing.T) {
	server, token := startServer(t)
	ignoreTime := cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "generatedAt" })
	for name, args := range map[string][]string{
		"reachable denied":  {"ask", "reachable", "--from", "payments/payment-api", "--to", "payments/ledger-db", "--port", "5432"},
		"reachable allowed": {"ask", "reachable", "--from", "10.0.0.0/8", "--to", "shop/frontend", "--port", "8080", "--cluster", "default"},
		"unused-paths":      {"ask", "unused-paths"},
		"unused-paths ns":   {"ask", "unused-paths", "-n", "payments"},
	} {
		t.Run(name, func(t *testing.T) {
			code, viaServer, errOut := run(t, "", append(args, "--server", server, "--token", token, "-o", "json")...)
			if code != 0 {
				t.Fatalf("--server: exit %d: %s", code, errOut)
			}
			code, offline, errOut := run(t, "", append(args, "--manifests", demoDir, "-o", "json")...)
			if code != 0 {
				t.Fatalf("--manifests: exit %d: %s", code, errOut)
			}
			var a, b map[string]any
			if err := json.Unmarshal([]byte(viaServer), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(offline), &b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(b, a, ignoreTime); diff != "" {
				t.Errorf("server and offline differ (-offline +server):\n%s", diff)
			}
			code, table, errOut := run(t, "", append(args, "--server", server, "--token", token)...)
			if code != 0 || table == "" {
				t.Errorf("table: exit %d: %s", code, errOut)
			}
		})
	}
	code, _, errOut := run(t, "", "ask", "reachable", "--server", server, "--token", token, "--from", "shop/nope", "--to", "shop/frontend", "--port", "80")
	if code != ExitUsage || !strings.Contains(errOut, "400 Bad Request") || !strings.Contains(errOut, `no such workload "shop/nope"`) {
		t.Errorf("bad input through the server: exit %d, %q", code, errOut)
	}
}
