package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// syncBuffer is a bytes.Buffer safe for a server goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const demoDir = "../demo/environment"

func TestAskManifestsJSON(t *testing.T) {
	for _, q := range []string{"image-sources", "privileged", "exposed", "owners"} {
		t.Run(q, func(t *testing.T) {
			code, out, stderr := run(t, "", "ask", q, "--manifests", demoDir, "-o", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var a struct {
				Question string            `json:"question"`
				Items    []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal([]byte(out), &a); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if a.Question != q || len(a.Items) == 0 {
				t.Errorf("question %q with %d items", a.Question, len(a.Items))
			}
		})
	}
}

func TestAskStdinAndTable(t *testing.T) {
	in := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  hostPID: true\n  containers: [{name: c, image: nginx}]\n"
	code, out, stderr := run(t, in, "ask", "privileged", "--manifests", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Pod/x/p", "hostPID", "summary:"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestAskErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown question", []string{"ask", "everything", "--manifests", demoDir}, ExitUsage, `unknown question "everything"`},
		{"bad output", []string{"ask", "owners", "--manifests", demoDir, "-o", "xml"}, ExitUsage, "output format"},
		{"nothing loadable", []string{"ask", "owners", "--manifests", bad}, ExitError, "bad.yaml: document 1"},
		{"missing file", []string{"ask", "owners", "--manifests", filepath.Join(dir, "nope")}, ExitError, "no such file"},
		{"no local database", []string{"ask", "owners", "--database", filepath.Join(dir, "none.db")}, ExitError, "no Palisade database"},
		{"wrong database URL", []string{"ask", "owners", "--database", "postgres://u:secret@127.0.0.1:1/x?connect_timeout=2"}, ExitError, "127.0.0.1:1"},
		{"server without token", []string{"ask", "owners", "--server", "http://127.0.0.1:1"}, ExitUsage, "PALISADE_TOKEN"},
		{"unknown flag", []string{"ask", "owners", "--bogus"}, ExitUsage, "unknown flag"},
		{"bad trusted registry", []string{"ask", "owners", "--manifests", demoDir, "--trusted-registry", "https://x"}, ExitUsage, "trusted registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PALISADE_TOKEN", "")
			code, _, stderr := run(t, "", tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("stderr leaks the database password: %s", stderr)
			}
			if strings.Contains(stderr, "panic") {
				t.Errorf("panicked: %s", stderr)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServerAnswersLikeOffline starts a real server on the example
// manifests and checks that every answer through the API equals the
// offline answer for the same files: one code path.
func TestServerAnswersLikeOffline(t *testing.T) {
	addr := freeAddr(t)
	db := filepath.Join(t.TempDir(), "p.db")
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"server", "--listen", addr, "--database", db, "--manifests", demoDir, "--cluster", "default"}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("server exited %d: %s", code, stderr.String())
		}
	}()
	tokenRE := regexp.MustCompile(`PALISADE_TOKEN=(pls_\S+)`)
	var token string
	for deadline := time.Now().Add(30 * time.Second); token == "" || !ready(addr); {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", stderr.String())
		}
		if m := tokenRE.FindStringSubmatch(stderr.String()); m != nil {
			token = m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Count(stderr.String(), token) != 1 {
		t.Errorf("the token is printed more than once or logged")
	}
	for _, q := range []string{"image-sources", "privileged", "exposed", "owners"} {
		t.Run(q, func(t *testing.T) {
			code, viaServer, errOut := run(t, "", "ask", q, "--server", "http://"+addr, "--token", token, "-o", "json")
			if code != 0 {
				t.Fatalf("ask --server exit %d: %s", code, errOut)
			}
			code, offline, errOut := run(t, "", "ask", q, "--manifests", demoDir, "-o", "json")
			if code != 0 {
				t.Fatalf("ask --manifests exit %d: %s", code, errOut)
			}
			var a, b map[string]any
			if err := json.Unmarshal([]byte(viaServer), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(offline), &b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(b, a, cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "generatedAt" })); diff != "" {
				t.Errorf("server and offline answers differ (-offline +server):\n%s", diff)
			}
		})
	}
	code, _, errOut := run(t, "", "ask", "owners", "--server", "http://"+addr, "--token", "pls_wrong")
	if code != ExitError || !strings.Contains(errOut, "401") {
		t.Errorf("wrong token: exit %d, %q", code, errOut)
	}
	// The local database answers too, with the server still running.
	code, out, errOut := run(t, "", "ask", "exposed", "--database", db)
	if code != 0 || !strings.Contains(out, "payment-api") {
		t.Errorf("ask from the local database: exit %d %s %s", code, out, errOut)
	}
}

func ready(addr string) bool {
	resp, err := http.Get(fmt.Sprintf("http://%s/readyz", addr))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestServerBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("listen: nowhere\nunknownField: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "", "server", "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "unknownField") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	code, _, stderr = run(t, "", "server", "--listen", "nowhere", "--database", filepath.Join(dir, "x.db"))
	if code != ExitUsage || !strings.Contains(stderr, "host:port") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	code, _, stderr = run(t, "", "server", "--database", "mysql://x", "--listen", "127.0.0.1:0")
	if code != ExitUsage || !strings.Contains(stderr, "unsupported URL scheme") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

func TestBenchSmall(t *testing.T) {
	code, out, stderr := run(t, "", "bench", "--memory-limit", "", "--workloads", "50", "--services", "20", "--ingresses", "5", "--network-policies", "5", "--namespaces", "3", "--requests", "5", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		Verdicts []json.RawMessage `json:"verdicts"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Verdicts) == 0 {
		t.Fatalf("bench -o json: %v, %d verdicts\n%s", err, len(r.Verdicts), out)
	}
}

func TestServerFailsBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	code, _, stderr := run(t, "", "server", "--database", db, "--listen", freeAddr(t), "--tls-cert", filepath.Join(dir, "no.crt"), "--tls-key", filepath.Join(dir, "no.key"))
	if code != ExitError || !strings.Contains(stderr, "TLS certificate") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	if strings.Contains(stderr, "pls_") {
		t.Errorf("a token was created although the server could not start: %s", stderr)
	}
	if _, err := os.Stat(db); err == nil {
		t.Errorf("the database was created although the server could not start")
	}
	code, _, stderr = run(t, "", "server", "--demo", "--manifests", demoDir, "--database", db)
	if code != ExitUsage || !strings.Contains(stderr, "choose one source") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

func TestDemoUsesItsOwnDatabaseAndToken(t *testing.T) {
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"demo", "--listen", addr}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	for deadline := time.Now().Add(30 * time.Second); !ready(addr); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start: %s", stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "EXAMPLE DATA") {
		t.Errorf("the demo does not say it serves example data")
	}
	// Questions 2 and 3 have example scans to show, labelled as such.
	token := regexp.MustCompile(`pls_[A-Za-z0-9_-]+`).FindString(stderr.String())
	for q, want := range map[string][]string{
		"scan-age":   {`"state": "failing"`, `"state": "stale"`, `"state": "never-scanned"`, `"state": "fresh"`},
		"vulnerable": {`"CVE-2021-44228"`, `"maxSeverity": "critical"`},
		"privileged": {`the scanned image sets no user`},
		"production": {`"dateAdded": "2021-12-10"`, `"name": "payment-api"`},
		"priorities": {`"rank": 1`, `known exploited: `, `possibly under attack: `},
		"processes":  {`"rule": "shell-in-non-shell-image"`, `"pod": "payment-api-demo-0"`},
	} {
		code, out, errOut := run(t, "", "ask", q, "--server", "http://"+addr, "--token", token, "-o", "json")
		if code != 0 {
			t.Errorf("ask %s: exit %d: %s", q, code, errOut)
			continue
		}
		for _, w := range append(want, "EXAMPLE DATA") {
			if !strings.Contains(out, w) {
				t.Errorf("demo %s answer lacks %s", q, w)
			}
		}
	}
	// One workload's score, factor by factor.
	code, out, errOut := run(t, "", "ask", "priorities", "--server", "http://"+addr, "--token", token, "--explain", "payments/payment-api")
	if code != 0 {
		t.Errorf("explain: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Deployment/payments/payment-api: rank 1", "exploitation", "CVE-2021-44228", "production: namespace label environment=production", "vulnerabilities 11.6 × exploitation 4 ×"} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := run(t, "", "ask", "priorities", "--server", "http://"+addr, "--token", token, "--explain", "shop/nothing"); code != 1 || !strings.Contains(errOut, "is not ranked") {
		t.Errorf("explain of an unranked workload: exit %d: %s", code, errOut)
	}
	// The environment filter.
	code, out, _ = run(t, "", "ask", "vulnerable", "--server", "http://"+addr, "--token", token, "--environment", "production", "-o", "json")
	if code != 0 || strings.Contains(out, `"namespace": "monitoring"`) || !strings.Contains(out, `"namespace": "payments"`) {
		t.Errorf("vulnerable --environment production: exit %d\n%s", code, out)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("demo exited %d: %s", code, stderr.String())
	}
	demoDB := filepath.Join(data, "palisade", "demo.db")
	if _, err := os.Stat(demoDB); err != nil {
		t.Fatalf("demo database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "palisade", "palisade.db")); err == nil {
		t.Errorf("the demo wrote into the default database")
	}
	_, out, errOut = run(t, "", "token", "list", "--database", demoDB)
	if strings.Contains(out, "demo") {
		t.Errorf("the demo token outlived the demo: %q %s", out, errOut)
	}
}

func TestTokenCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	code, secret, stderr := run(t, "", "token", "create", "ci", "--role", "viewer", "--database", db)
	if code != 0 || !strings.HasPrefix(secret, "pls_") {
		t.Fatalf("create: exit %d %q %s", code, secret, stderr)
	}
	if code, _, stderr := run(t, "", "token", "create", "ci", "--database", db); code != ExitUsage || !strings.Contains(stderr, "exists") {
		t.Errorf("duplicate create: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "", "token", "create", "Bad Name", "--database", db); code != ExitUsage {
		t.Errorf("bad name: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "", "token", "create", "x", "--role", "root", "--database", db); code != ExitUsage {
		t.Errorf("bad role: exit %d %s", code, stderr)
	}
	_, out, _ := run(t, "", "token", "list", "--database", db)
	if !strings.Contains(out, "ci\tviewer") || strings.Contains(out, strings.TrimSpace(secret)) {
		t.Errorf("list = %q", out)
	}
	_, hash, _ := run(t, secret, "token", "hash")
	if len(strings.TrimSpace(hash)) != 64 {
		t.Errorf("hash = %q", hash)
	}
	if code, _, stderr := run(t, "", "token", "delete", "nope", "--database", db); code != ExitError || !strings.Contains(stderr, "no token named") {
		t.Errorf("delete missing: exit %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "", "token", "delete", "ci", "--database", db); code != 0 {
		t.Errorf("delete: exit %d %s", code, stderr)
	}
	if _, out, _ := run(t, "", "token", "list", "--database", db); strings.Contains(out, "ci") {
		t.Errorf("token survived delete: %q", out)
	}
}

func TestConfigTokensAreRevokedWhenRemoved(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	cfg := filepath.Join(dir, "c.yaml")
	hash := strings.Repeat("ab", 32)
	start := func(config string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		addr := freeAddr(t)
		done := make(chan int)
		var stderr syncBuffer
		go func() {
			done <- Main(ctx, []string{"server", "--config", cfg, "--listen", addr, "--database", db, "--manifests", demoDir}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		}()
		for deadline := time.Now().Add(30 * time.Second); !ready(addr); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("server did not start: %s", stderr.String())
			}
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("server exited %d: %s", code, stderr.String())
		}
	}
	start("tokens:\n- {name: ci, role: viewer, sha256: " + hash + "}\n")
	_, out, _ := run(t, "", "token", "list", "--database", db)
	if !strings.Contains(out, "ci\tviewer") {
		t.Fatalf("config token not stored: %q", out)
	}
	start("listen: 127.0.0.1:0\n")
	_, out, _ = run(t, "", "token", "list", "--database", db)
	if strings.Contains(out, "ci\t") {
		t.Errorf("token removed from the config file still works: %q", out)
	}
}
