package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/procfs/procfstest"
)

// With --service-account-token the agent sends the file's token, read
// again for every report: the kubelet replaces it before it expires.
func TestAgentSendsTheCurrentServiceAccountToken(t *testing.T) {
	dir := t.TempDir()
	proc := filepath.Join(dir, "proc")
	if err := procfstest.Build(proc, time.Now().Add(-time.Hour).Unix(),
		procfstest.Proc{PID: 1, Exe: "/sbin/init", Cmdline: procfstest.Args("/sbin/init"), Cgroup: "0::/init.scope\n", NetNS: 4026531992},
	); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	saw := func(want string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range seen {
			if s == want {
				return true
			}
		}
		return false
	}

	ctx, cancel := context.WithCancel(t.Context())
	var agentErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"agent", "--server", srv.URL, "--service-account-token", tokenFile, "--proc-root", proc,
			"--node", "n1", "--interval", "50ms", "--report-interval", "100ms"}, strings.NewReader(""), &bytes.Buffer{}, &agentErr)
	}()
	waitFor := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !saw("Bearer " + want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no report sent with %s; agent: %s", want, agentErr.String())
			}
		}
	}
	waitFor("first-token")
	// The kubelet writes the new token aside and swaps it in.
	next := filepath.Join(dir, "token.new")
	if err := os.WriteFile(next, []byte("second-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, tokenFile); err != nil {
		t.Fatal(err)
	}
	waitFor("second-token")
	cancel()
	if c := <-done; c != 0 {
		t.Errorf("agent exited %d: %s", c, agentErr.String())
	}
}

func TestAgentCredentialFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"agent", "--server", "http://127.0.0.1:1", "--proc-root", dir, "--node", "n1"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"both kinds", []string{"--service-account-token", empty, "--token", "pls_x"}, ExitUsage, "choose one"},
		{"missing file", []string{"--service-account-token", filepath.Join(dir, "nope")}, ExitError, "reading --service-account-token"},
		{"empty file", []string{"--service-account-token", empty}, ExitError, "is empty"},
		{"none", nil, ExitUsage, "--service-account-token, or an agent token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PALISADE_TOKEN", "")
			code, _, stderr := run(t, "", append(base, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr %q lacks %q", code, tc.code, stderr, tc.want)
			}
		})
	}
}

// A bad --agent-service-account is refused before anything starts.
func TestServerAgentServiceAccountFlag(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	code, _, stderr := run(t, "", "server", "--listen", freeAddr(t), "--database", filepath.Join(t.TempDir(), "p.db"),
		"--manifests", demoDir, "--agent-service-account", "palisade-agent")
	if code != ExitUsage || !strings.Contains(stderr, "--agent-service-account") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
