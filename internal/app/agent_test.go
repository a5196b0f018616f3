package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/procfs/procfstest"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

// The agent reads a /proc tree, reports to the server, and the processes
// answer attributes what it saw to the pod whose status names the
// container, with the shell flagged as suspicious.
func TestAgentReportsProcessesToTheServer(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	id := strings.Repeat("ab", 32)
	pod := `apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, uid: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}
spec:
  nodeName: node-1
  containers: [{name: web, image: "nginx:1.27"}]
status:
  phase: Running
  containerStatuses:
  - name: web
    image: nginx:1.27
    imageID: docker.io/library/nginx@sha256:` + strings.Repeat("1", 64) + `
    containerID: containerd://` + id + `
    ready: true
    state: {running: {startedAt: "2026-11-25T10:00:00Z"}}
`
	manifests := filepath.Join(dir, "pod.yaml")
	if err := os.WriteFile(manifests, []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	code, agentToken, stderr := run(t, "", "token", "create", "node-1", "--role", "agent", "--database", db)
	if code != 0 {
		t.Fatalf("token: %d %s", code, stderr)
	}
	code, viewer, stderr := run(t, "", "token", "create", "reader", "--role", "viewer", "--database", db)
	if code != 0 {
		t.Fatalf("token: %d %s", code, stderr)
	}
	agentToken, viewer = strings.TrimSpace(agentToken), strings.TrimSpace(viewer)

	cgroup := "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-" + id + ".scope\n"
	proc := filepath.Join(dir, "proc")
	if err := procfstest.Build(proc, time.Now().Add(-time.Hour).Unix(),
		procfstest.Proc{PID: 1, Exe: "/sbin/init", Cmdline: procfstest.Args("/sbin/init"), Cgroup: "0::/init.scope\n", NetNS: 4026531992},
		procfstest.Proc{PID: 100, PPID: 1, Exe: "/usr/sbin/nginx", Cmdline: procfstest.Args("nginx", "-g", "daemon off;"), Cgroup: cgroup, NetNS: 4026532100},
		procfstest.Proc{PID: 101, PPID: 100, Exe: "/bin/sh", Cmdline: procfstest.Args("sh"), Cgroup: cgroup, NetNS: 4026532100},
	); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var serverErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"server", "--listen", addr, "--database", db, "--manifests", manifests, "--no-scan"}, strings.NewReader(""), &bytes.Buffer{}, &serverErr)
	}()
	for deadline := time.Now().Add(30 * time.Second); !ready(addr); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", serverErr.String())
		}
	}
	agentCtx, stopAgent := context.WithCancel(ctx)
	var agentErr syncBuffer
	agentDone := make(chan int, 1)
	go func() {
		agentDone <- Main(agentCtx, []string{"agent", "--server", "http://" + addr, "--token", agentToken, "--proc-root", proc,
			"--node", "node-1", "--interval", "50ms", "--report-interval", "100ms"}, strings.NewReader(""), &bytes.Buffer{}, &agentErr)
	}()
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var c int
		c, out, _ = run(t, "", "ask", "processes", "--server", "http://"+addr, "--token", viewer, "-o", "json")
		if c == 0 && strings.Contains(out, `"/bin/sh"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell never showed up: %s\nagent: %s\nserver: %s", out, agentErr.String(), serverErr.String())
		}
	}
	stopAgent()
	if c := <-agentDone; c != 0 {
		t.Errorf("agent exited %d: %s", c, agentErr.String())
	}
	var a struct {
		Summary map[string]int `json:"summary"`
		Items   []struct {
			Workload struct {
				Kind, Namespace, Name string
			} `json:"workload"`
			Container  string `json:"container"`
			Suspicious int    `json:"suspicious"`
			Processes  []struct {
				Exe        string `json:"exe"`
				Pod        string `json:"pod"`
				Node       string `json:"node"`
				Suspicious []struct {
					Rule string `json:"rule"`
				} `json:"suspicious"`
			} `json:"processes"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Items) != 1 || a.Items[0].Workload.Name != "web-1" || a.Items[0].Container != "web" || a.Items[0].Suspicious != 1 || len(a.Items[0].Processes) != 2 {
		t.Fatalf("processes answer: %s", out)
	}
	sh := a.Items[0].Processes[0]
	if sh.Exe != "/bin/sh" || sh.Pod != "web-1" || sh.Node != "node-1" || len(sh.Suspicious) == 0 || sh.Suspicious[0].Rule != "shell-in-non-shell-image" {
		t.Errorf("the shell: %+v", sh)
	}
	if a.Summary["nodes"] != 1 || a.Summary["processes"] != 2 {
		t.Errorf("summary %v", a.Summary)
	}
	// An agent token reads nothing.
	if c, _, errOut := run(t, "", "ask", "processes", "--server", "http://"+addr, "--token", agentToken); c == 0 || !strings.Contains(errOut, "403") && !strings.Contains(errOut, "forbidden") {
		t.Errorf("an agent token could read answers: exit %d %s", c, errOut)
	}
	cancel()
	if c := <-done; c != 0 {
		t.Fatalf("server exited %d: %s", c, serverErr.String())
	}
	// The learned baseline outlives the server.
	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs, err := st.AllBaselines(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].Container != "web" || len(bs[0].Executables) != 2 {
		t.Errorf("stored baselines = %+v, want web's with nginx and sh", bs)
	}
}

// The shipped DaemonSet loads cleanly, and Palisade is honest about what
// it grants its own agent.
func TestAgentDaemonSetManifest(t *testing.T) {
	code, out, stderr := run(t, "", "ask", "privileged", "--manifests", "../../deploy/agent.yaml", "-o", "json")
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"name": "palisade-agent"`, `"check": "hostPID"`, `"capability": "SYS_PTRACE"`} {
		if !strings.Contains(out, want) {
			t.Errorf("privileged answer lacks %s", want)
		}
	}
}

// An agent token made before the first start does not stop the server
// from creating its admin token.
func TestAdminTokenCreatedBesideAnAgentToken(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	if code, _, stderr := run(t, "", "token", "create", "admin", "--role", "agent", "--database", db); code != 0 {
		t.Fatalf("token: %s", stderr)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan int, 1)
	tokenFile := filepath.Join(dir, "admin.token")
	go func() {
		done <- Main(ctx, []string{"server", "--listen", addr, "--database", db, "--token-file", tokenFile, "--no-scan", "--manifests", "../demo/environment"}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	for deadline := time.Now().Add(30 * time.Second); !ready(addr); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", stderr.String())
		}
	}
	cancel()
	<-done
	if _, err := os.Stat(tokenFile); err != nil {
		t.Fatalf("no admin token written: %v\n%s", err, stderr.String())
	}
	_, out, _ := run(t, "", "token", "list", "--database", db)
	if !strings.Contains(out, "admin-2") || !strings.Contains(out, "agent") {
		t.Errorf("tokens:\n%s", out)
	}
}
