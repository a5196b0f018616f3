package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procfs/procfstest"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

// flakyFlows fails PutFlows while down is set.
type flakyFlows struct {
	store.Flows
	mu   sync.Mutex
	down bool
}

func (f *flakyFlows) PutFlows(ctx context.Context, source string, recs []flows.Record) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return errors.New("database away")
	}
	return f.Flows.PutFlows(ctx, source, recs)
}

func (f *flakyFlows) set(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// published keeps the last set a keeper published.
type published struct {
	mu  sync.Mutex
	set *flows.Set
	n   int
}

func (p *published) publish(s *flows.Set) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set, p.n = s, p.n+1
}

func (p *published) last() *flows.Set {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.set
}

func observed(at time.Time, to string, port uint16, count uint64) observation.FlowRecord {
	web := model.WorkloadRef{Cluster: "default", Kind: model.KindDeployment, Namespace: "shop", Name: "web"}
	return observation.FlowRecord{Cluster: "default", Node: "n1", Proto: "tcp",
		From: observation.Endpoint{Workload: web, Pod: "web-1", Addr: netip.MustParseAddrPort("10.0.0.1:40000")},
		To:   observation.Endpoint{External: true, Addr: netip.AddrPortFrom(netip.MustParseAddr(to), port)},
		Port: port, FirstSeen: at.Add(-time.Minute), LastSeen: at, Count: count}
}

func TestFlowKeeper(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	flaky := &flakyFlows{Flows: st}
	var pub published
	newKeeper := func() *flowKeeper {
		k := newFlowKeeper(flaky, pub.publish, slog.New(slog.DiscardHandler), 7*24*time.Hour, 30*24*time.Hour)
		k.now = func() time.Time { return now }
		return k
	}
	k := newKeeper()
	if err := k.load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if pub.last() != nil {
		t.Fatalf("an empty store published %+v, want nil (usage unknown)", pub.last())
	}

	// Two reports of one path merge; a flush stores and publishes them.
	k.observe([]observation.FlowRecord{observed(now.Add(-2*time.Hour), "203.0.113.5", 443, 2)})
	k.observe([]observation.FlowRecord{observed(now.Add(-time.Hour), "203.0.113.5", 443, 3), observed(now.Add(-time.Hour), "8.8.8.8", 53, 1)})
	k.flush(t.Context())
	set := pub.last()
	if set == nil || len(set.Records) != 2 || set.Records[1].Count != 5 || !slices.Equal(set.Sources, []string{flows.SourceAgents}) {
		t.Fatalf("published %+v", set)
	}
	// The window starts at the earliest sighting, not a week ago.
	if want := now.Add(-2*time.Hour - time.Minute); !set.Since.Equal(want) || !set.Until.Equal(now) {
		t.Errorf("window %v to %v, want %v to %v", set.Since, set.Until, want, now)
	}
	stored, err := st.FlowRecords(t.Context(), store.FlowQuery{})
	if err != nil || len(stored.Records) != 2 {
		t.Fatalf("stored %v, %v", stored, err)
	}

	// An import is stored and published at once.
	imported := flows.Record{Cluster: "default", From: flows.Endpoint{Addr: netip.MustParseAddr("198.51.100.1")}, To: set.Records[0].From,
		Port: 80, Protocol: flows.TCP, FirstSeen: now.Add(-10 * 24 * time.Hour), LastSeen: now.Add(-30 * time.Minute), Count: 7}
	if err := k.AddFlows(t.Context(), "log:calls", []flows.Record{imported}); err != nil {
		t.Fatal(err)
	}
	set = pub.last()
	if len(set.Records) != 3 || !slices.Equal(set.Sources, []string{flows.SourceAgents, "log:calls"}) || !set.Since.Equal(now.Add(-7*24*time.Hour)) {
		t.Fatalf("after the import: %d records, sources %v, since %v", len(set.Records), set.Sources, set.Since)
	}

	// While the store is away, agents' flows still reach the answers, and
	// are stored once it is back; an import fails.
	flaky.set(true)
	k.observe([]observation.FlowRecord{observed(now, "192.0.2.9", 25, 1)})
	k.flush(t.Context())
	if len(pub.last().Records) != 4 {
		t.Errorf("with the store away: %d records published, want 4", len(pub.last().Records))
	}
	if err := k.AddFlows(t.Context(), "log:x", []flows.Record{imported}); err == nil {
		t.Error("AddFlows succeeded with the store away")
	}
	if err := k.load(t.Context()); err != nil || len(pub.last().Records) != 4 {
		t.Errorf("a reload with flows not yet stored dropped them: %v", err)
	}
	flaky.set(false)
	k.flush(t.Context())

	// A new keeper (a restarted server) publishes what was stored.
	k2 := newKeeper()
	if err := k2.load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := pub.last(); len(got.Records) != 4 || got.Records[3].Count != 5 && got.Records[2].Count != 5 {
		t.Errorf("after a restart: %+v", got)
	}

	// Old traffic leaves the window, then the store.
	now = now.Add(8 * 24 * time.Hour)
	if err := k2.load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := pub.last(); got != nil {
		t.Errorf("a week later: %d records still published", len(got.Records))
	}
	now = now.Add(30 * 24 * time.Hour)
	k2.prune(t.Context())
	if stored, _ := st.FlowRecords(t.Context(), store.FlowQuery{}); len(stored.Records) != 0 {
		t.Errorf("after the retention: %d records stored", len(stored.Records))
	}
}

// The agents' flows wait within a bound.
func TestFlowKeeperPendingBound(t *testing.T) {
	var pub published
	k := newFlowKeeper(nil, pub.publish, slog.New(slog.DiscardHandler), time.Hour, time.Hour)
	batch := make([]observation.FlowRecord, 0, 1000)
	now := time.Now()
	for i := range 1000 {
		batch = append(batch, observed(now, fmt.Sprintf("10.%d.%d.1", i/256, i%256), 443, 1))
	}
	for range maxPendingFlows/1000 + 3 {
		k.observe(batch)
		batch = slices.Clone(batch)
		for i := range batch {
			batch[i].Port++
		}
	}
	if k.pending.Len() > maxPendingFlows || k.dropped != 3000 {
		t.Errorf("%d pending, %d dropped; want at most %d and 3000", k.pending.Len(), k.dropped, maxPendingFlows)
	}
}

// testPods are a web Deployment's pod (10.0.0.1) and a db Deployment's
// pod (10.0.0.2) in namespace shop, running, with container IDs.
func testPods(t *testing.T, dir string) (manifests, webID string) {
	webID = strings.Repeat("ab", 32)
	doc := func(name, ip, id string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: shop}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec: {containers: [{name: ` + name + `, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `-1
  namespace: shop
  uid: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f` + ip[len(ip)-1:] + `
  labels: {app: ` + name + `}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: ` + name + `, controller: true}]
spec:
  nodeName: node-1
  containers: [{name: ` + name + `, image: "nginx:1.27"}]
status:
  phase: Running
  podIP: ` + ip + `
  containerStatuses:
  - name: ` + name + `
    image: nginx:1.27
    imageID: docker.io/library/nginx@sha256:` + strings.Repeat("1", 64) + `
    containerID: containerd://` + id + `
    ready: true
    state: {running: {startedAt: "2026-11-25T10:00:00Z"}}
`
	}
	manifests = filepath.Join(dir, "shop.yaml")
	content := doc("web", "10.0.0.1", webID) + "---\n" + doc("db", "10.0.0.2", strings.Repeat("cd", 32))
	if err := os.WriteFile(manifests, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifests, webID
}

// startFlowServer runs palisade server until the returned stop is called.
func startFlowServer(t *testing.T, args ...string) (addr string, stop func() string) {
	t.Helper()
	addr = freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"server", "--listen", addr, "--no-scan"}, args...), strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	for deadline := time.Now().Add(30 * time.Second); !ready(addr); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not start: %s", stderr.String())
		}
	}
	return addr, func() string {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("server exited %d: %s", code, stderr.String())
		}
		return stderr.String()
	}
}

type usageAnswer struct {
	Usage struct {
		Known   bool     `json:"known"`
		Sources []string `json:"sources"`
		Records int      `json:"records"`
	} `json:"usage"`
}

func askUsage(t *testing.T, args ...string) usageAnswer {
	t.Helper()
	code, out, stderr := run(t, "", append([]string{"ask", answer.UnusedPaths, "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("ask: exit %d: %s", code, stderr)
	}
	var a usageAnswer
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("ask: %v: %s", err, out)
	}
	return a
}

// A flow log imported through the API reaches the answers, and a
// restarted server still has it.
func TestFlowsImportSurvivesRestart(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	manifests, _ := testPods(t, dir)
	code, analyst, stderr := run(t, "", "token", "create", "analyst", "--role", "analyst", "--database", db)
	if code != 0 {
		t.Fatalf("token: %s", stderr)
	}
	_, viewer, _ := run(t, "", "token", "create", "viewer", "--role", "viewer", "--database", db)
	analyst, viewer = strings.TrimSpace(analyst), strings.TrimSpace(viewer)
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	log := filepath.Join(dir, "calls.jsonl")
	if err := os.WriteFile(log, []byte(strings.Join([]string{
		`{"time":"` + at + `","src":"10.0.0.1","dst":"10.0.0.2","dstPort":5432,"count":4}`,
		`{"time":"` + at + `","srcWorkload":"shop/web","dst":"8.8.8.8","dstPort":53,"protocol":"udp"}`,
		`{"time":"` + at + `","src":"10.0.0.1","dst":"10.0.0.2","dstPort":5432,"protocol":"ICMP"}`,
		`{"time":"` + at + `","srcWorkload":"shop/ghost","dst":"10.0.0.2","dstPort":5432}`,
	}, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}

	addr, stop := startFlowServer(t, "--database", db, "--manifests", manifests, "--token-file", filepath.Join(dir, "admin.token"))
	server := "http://" + addr
	if u := askUsage(t, "--server", server, "--token", viewer); u.Usage.Known {
		t.Fatalf("before the import: %+v", u)
	}
	// A viewer may not import.
	if code, _, stderr := run(t, "", "flows", "import", log, "--server", server, "--token", viewer); code == 0 || !strings.Contains(stderr, "403") {
		t.Errorf("viewer import: exit %d: %s", code, stderr)
	}
	code, out, stderr := run(t, "", "flows", "import", log, "--server", server, "--token", analyst)
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "imported calls.jsonl into cluster default: 2 flows, 2 paths (1 outside ends), 2 lines skipped; source log:calls.jsonl") {
		t.Errorf("import output: %s", out)
	}
	if !strings.Contains(stderr, `line 3: protocol "ICMP"`) || !strings.Contains(stderr, "line 4: srcWorkload shop/ghost: no such workload") {
		t.Errorf("import warnings: %s", stderr)
	}
	// Answers may be up to 2 s stale.
	var u usageAnswer
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if u = askUsage(t, "--server", server, "--token", viewer); u.Usage.Known {
			break
		}
	}
	if !u.Usage.Known || u.Usage.Records != 2 || !slices.Equal(u.Usage.Sources, []string{"log:calls.jsonl"}) {
		t.Errorf("after the import: %+v", u)
	}
	stop()

	addr, stop = startFlowServer(t, "--database", db)
	defer stop()
	u = askUsage(t, "--server", "http://"+addr, "--token", viewer)
	if !u.Usage.Known || u.Usage.Records != 2 || !slices.Equal(u.Usage.Sources, []string{"log:calls.jsonl"}) {
		t.Errorf("after a restart: %+v", u)
	}
	// The local database answers with the stored traffic too.
	if u := askUsage(t, "--database", db); !u.Usage.Known || u.Usage.Records != 2 {
		t.Errorf("from the local database: %+v", u)
	}
}

// An agent's observed connection reaches the database.
func TestAgentFlowsAreStored(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	dir := t.TempDir()
	db := filepath.Join(dir, "p.db")
	manifests, webID := testPods(t, dir)
	code, agentToken, stderr := run(t, "", "token", "create", "node-1", "--role", "agent", "--database", db)
	if code != 0 {
		t.Fatalf("token: %s", stderr)
	}
	_, viewer, _ := run(t, "", "token", "create", "viewer", "--role", "viewer", "--database", db)
	cgroup := "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f1.slice/cri-containerd-" + webID + ".scope\n"
	proc := filepath.Join(dir, "proc")
	tcp := procfstest.Table("tcp",
		procfstest.Socket{Local: netip.MustParseAddrPort("10.0.0.1:43210"), Remote: netip.MustParseAddrPort("10.0.0.2:5432"), State: 0x01, Inode: 7001},
		procfstest.Socket{Local: netip.MustParseAddrPort("10.0.0.1:43211"), Remote: netip.MustParseAddrPort("203.0.113.5:443"), State: 0x01, Inode: 7002})
	if err := procfstest.Build(proc, time.Now().Add(-time.Hour).Unix(),
		procfstest.Proc{PID: 1, Exe: "/sbin/init", Cmdline: procfstest.Args("/sbin/init"), Cgroup: "0::/init.scope\n", NetNS: 4026531992},
		procfstest.Proc{PID: 100, PPID: 1, Exe: "/usr/sbin/nginx", Cmdline: procfstest.Args("nginx"), Cgroup: cgroup, NetNS: 4026532100,
			FDs: map[int]string{3: "socket:[7001]", 4: "socket:[7002]"}, Net: map[string]string{"tcp": tcp}},
	); err != nil {
		t.Fatal(err)
	}
	addr, stop := startFlowServer(t, "--database", db, "--manifests", manifests, "--token-file", filepath.Join(dir, "admin.token"))
	agentCtx, stopAgent := context.WithCancel(t.Context())
	var agentErr syncBuffer
	agentDone := make(chan int, 1)
	go func() {
		agentDone <- Main(agentCtx, []string{"agent", "--server", "http://" + addr, "--token", strings.TrimSpace(agentToken), "--proc-root", proc,
			"--node", "node-1", "--interval", "50ms", "--report-interval", "100ms"}, strings.NewReader(""), &bytes.Buffer{}, &agentErr)
	}()
	// The server stores the agents' flows every 30 s and when it stops:
	// wait for a report to be taken (its process shows), then stop.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, out, _ := run(t, "", "ask", "processes", "--server", "http://"+addr, "--token", strings.TrimSpace(viewer), "-o", "json")
		if c == 0 && strings.Contains(out, `"/usr/sbin/nginx"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report taken: %s\nagent: %s", out, agentErr.String())
		}
	}
	stopAgent()
	<-agentDone
	serverLog := stop()

	st, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	set, err := st.FlowRecords(t.Context(), store.FlowQuery{Cluster: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range set.Records {
		got = append(got, fmt.Sprintf("%s -> %s:%d/%s", r.From, r.To, r.Port, r.Protocol))
	}
	want := []string{"shop/Deployment/web -> shop/Deployment/db:5432/TCP", "shop/Deployment/web -> 203.0.113.5:443/TCP"}
	if !slices.Equal(got, want) || !slices.Equal(set.Sources, []string{flows.SourceAgents}) {
		t.Errorf("stored flows %q from %v, want %q\nagent: %s\nserver: %s", got, set.Sources, want, agentErr.String(), serverLog)
	}
}

// --flows is accepted by every question offline, and refused with --server.
func TestAskFlowsOffline(t *testing.T) {
	dir := t.TempDir()
	manifests, _ := testPods(t, dir)
	at := time.Now().UTC().Add(-48 * time.Hour).Format(time.RFC3339)
	log := filepath.Join(dir, "calls.jsonl")
	if err := os.WriteFile(log, []byte(`{"time":"`+at+`","src":"10.0.0.1","dst":"10.0.0.2","dstPort":5432}`+"\n"+`oops`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, q := range answer.Questions {
		t.Run(q.Name, func(t *testing.T) {
			code, _, stderr := run(t, "", "ask", q.Name, "--manifests", manifests, "--flows", log, "-o", "json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, "line 2: not a JSON object") {
				t.Errorf("stderr %q does not report the bad line", stderr)
			}
		})
	}
	u := askUsage(t, "--manifests", manifests, "--flows", log)
	if !u.Usage.Known || u.Usage.Records != 1 || !slices.Equal(u.Usage.Sources, []string{"log:calls.jsonl"}) {
		t.Errorf("usage %+v", u)
	}
	if code, _, stderr := run(t, "", "report", "--manifests", manifests, "--flows", log); code != 0 {
		t.Errorf("report --flows: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, "", "ask", "owners", "--server", "http://127.0.0.1:1", "--token", "x", "--flows", log); code != ExitUsage || !strings.Contains(stderr, "--flows works offline") {
		t.Errorf("--flows with --server: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, "", "ask", "owners", "--manifests", manifests, "--flows", filepath.Join(dir, "none.jsonl")); code == 0 || !strings.Contains(stderr, "none.jsonl") {
		t.Errorf("missing log: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, "", "flows", "import", log); code != ExitUsage || !strings.Contains(stderr, "--server is required") {
		t.Errorf("import without --server: exit %d: %s", code, stderr)
	}
}
