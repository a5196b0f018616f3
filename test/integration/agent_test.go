//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/palisade-project/palisade/internal/exectrace"
)

// agentCluster is the cluster name the agent test's server and agent use.
const agentCluster = "agent-it"

// TestAgentAttributesProcessesInContainers runs the palisade server and
// the palisade agent, as users do, against a real API server and real
// processes of this machine: a sleep in new PID and network namespaces in
// a cgroup named like a containerd container's (systemd driver), another
// in one named like a CRI-O container's, each matching the containerID of
// a pod's status. The processes answer attributes each sleep to its pod
// and container and finds nothing suspicious; a shell started later in
// the first container's cgroup and namespaces is reported as suspicious;
// the node is reported as degraded (polling, no eBPF); and the agent stops
// cleanly on SIGTERM.
//
// Between those steps, the two pods' network namespaces are joined by a
// veth pair and given the pod IPs their statuses name; a Python listener
// in cache-1 accepts a TCP connection a Python client in web-1 holds open,
// and the processes answer shows the flow between the two pods: web-1's
// container has the outbound connection to cache-1 on port 8080, cache-1's
// the inbound one from web-1. Python is no shell: nothing is suspicious.
//
// It needs root, unshare and nsenter (util-linux), ip (iproute2) with veth
// support, python3 and a writable cgroup hierarchy (v1, v2 or both): it
// skips without them, or fails when CI=true.
func TestAgentAttributesProcessesInContainers(t *testing.T) {
	t.Parallel()
	host := needContainerHost(t)
	traced := execTracing(t)
	cp := sharedControlPlane(t)
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	bin := buildPalisade(t)

	const ns = "agent-test"
	createNamespace(ctx, t, cs, ns)
	webID, cacheID := randomContainerID(t), randomContainerID(t)
	const webIP, cacheIP, cachePort, clientPort = "10.77.0.1", "10.77.0.2", 8080, 45678
	webUID := createRunningPod(ctx, t, cs, ns, "web-1", "web", "docker.io/library/nginx:1.27", "containerd://"+webID, webIP)
	cacheUID := createRunningPod(ctx, t, cs, ns, "cache-1", "redis", "docker.io/library/redis:7.4", "cri-o://"+cacheID, cacheIP)

	// containerd's systemd-driver scope on a v1 hierarchy when there is one,
	// CRI-O's on the v2 hierarchy when there is one: both formats of
	// /proc/<pid>/cgroup lines are read on a hybrid host.
	webCgroup := host.makeCgroup(t, host.v1OrV2(), "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"+
		strings.ReplaceAll(string(webUID), "-", "_")+".slice/cri-containerd-"+webID+".scope")
	cacheCgroup := host.makeCgroup(t, host.v2OrV1(), "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"+
		strings.ReplaceAll(string(cacheUID), "-", "_")+".slice/crio-"+cacheID+".scope")
	webSleep := startContainerProcess(t, webCgroup)
	cacheSleep := startContainerProcess(t, cacheCgroup)
	t.Logf("web-1: sleep pid %d in %s; cache-1: sleep pid %d in %s", webSleep, webCgroup, cacheSleep, cacheCgroup)

	srv := startAgentTestServer(t, bin, cp.Kubeconfig, filepath.Join(t.TempDir(), "palisade.db"))
	agentTokenFile := filepath.Join(t.TempDir(), "agent-token")
	if err := os.WriteFile(agentTokenFile, []byte(srv.createToken(t, "n1", "agent")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := startPalisade(t, bin, "agent", "--server", srv.url, "--token-file", agentTokenFile, "--proc-root", "/proc",
		"--node", "n1", "--cluster", agentCluster, "--interval", "200ms", "--report-interval", "500ms")

	sleepExe := exeOf(t, webSleep)
	sleepIn := func(pid int, pod string) wantProcess {
		return wantProcess{pid: pid, exe: sleepExe, pod: pod}
	}
	// Without eBPF the agent polls, and says so; with it, it does not.
	degradedNote := "node n1 (polling) sees less than it could: "
	if traced {
		degradedNote = ""
	}
	eventually(t, time.Minute, "each sleep is attributed to its pod and container, nothing suspicious", func() (bool, string) {
		a, why := askProcesses(t, bin, srv, ns)
		if a == nil {
			return false, why
		}
		return a.check(map[string][]wantProcess{
			"web-1/web":     {sleepIn(webSleep, "web-1")},
			"cache-1/redis": {sleepIn(cacheSleep, "cache-1")},
		}, 0, degradedNote)
	})

	// The pod network: a veth pair between the two pods' namespaces, each
	// end with its pod's IP; then a listener in cache-1 and a client in
	// web-1 holding a connection to it.
	connectNetNamespaces(t, webSleep, webIP, cacheSleep, cacheIP)
	python := pythonExe(t)
	listener := startInContainer(t, cacheSleep, cacheCgroup, pythonCommand(python, fmt.Sprintf(`import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((%q, %d))
s.listen(1)
c, _ = s.accept()
time.sleep(600)`, cacheIP, cachePort)), filepath.Base(python))
	client := startInContainer(t, webSleep, webCgroup, pythonCommand(python, fmt.Sprintf(`import socket, time
for _ in range(100):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((%q, %d))
    try:
        c.connect((%q, %d))
        break
    except OSError:
        c.close()
        time.sleep(0.1)
time.sleep(600)`, webIP, clientPort, cacheIP, cachePort)), filepath.Base(python))
	t.Logf("python %s: listener pid %d in cache-1, client pid %d in web-1", python, listener, client)
	pythonIn := func(pid int, pod string) wantProcess {
		return wantProcess{pid: pid, exe: python, pod: pod}
	}
	webPod, cachePod := workloadRef{Cluster: agentCluster, Kind: "Pod", Namespace: ns, Name: "web-1"},
		workloadRef{Cluster: agentCluster, Kind: "Pod", Namespace: ns, Name: "cache-1"}
	wantConnections := map[string][]wantConnection{
		"web-1/web": {{direction: "out", port: cachePort, proto: "tcp",
			peer: wantPeer{Workload: cachePod, Pod: "cache-1", Addr: fmt.Sprintf("%s:%d", cacheIP, cachePort)}}},
		"cache-1/redis": {{direction: "in", port: cachePort, proto: "tcp",
			peer: wantPeer{Workload: webPod, Pod: "web-1", Addr: fmt.Sprintf("%s:%d", webIP, clientPort)}}},
	}
	eventually(t, time.Minute, "the TCP connection from web-1 to cache-1 is a flow between the two pods, nothing suspicious", func() (bool, string) {
		a, why := askProcesses(t, bin, srv, ns)
		if a == nil {
			return false, why
		}
		if ok, why := a.check(map[string][]wantProcess{
			"web-1/web":     {pythonIn(client, "web-1"), sleepIn(webSleep, "web-1")},
			"cache-1/redis": {pythonIn(listener, "cache-1"), sleepIn(cacheSleep, "cache-1")},
		}, 0, degradedNote); !ok {
			return false, why
		}
		return a.checkConnections(wantConnections)
	})

	shell := startShellInContainer(t, webSleep, webCgroup)
	shellExe := exeOf(t, shell)
	t.Logf("shell %s pid %d started in web-1", shellExe, shell)
	eventually(t, time.Minute, "the shell started in web-1 is reported as suspicious", func() (bool, string) {
		a, why := askProcesses(t, bin, srv, ns)
		if a == nil {
			return false, why
		}
		if ok, why := a.check(map[string][]wantProcess{
			"web-1/web": {{pid: shell, exe: shellExe, pod: "web-1", rule: "shell-in-non-shell-image"},
				pythonIn(client, "web-1"), sleepIn(webSleep, "web-1")},
			"cache-1/redis": {pythonIn(listener, "cache-1"), sleepIn(cacheSleep, "cache-1")},
		}, 1, degradedNote); !ok {
			return false, why
		}
		return a.checkConnections(wantConnections)
	})

	if traced {
		// A process that lives 10 ms, far less than the poll interval, and
		// is gone before a poll could read it: the exec record is all the
		// agent has of it.
		// Its argument, unique in this test, finds it in the answer.
		runShortProcessInContainer(t, webSleep, webCgroup, "0.0123")
		eventually(t, time.Minute, "the 10 ms process in web-1 is reported, exited", func() (bool, string) {
			a, why := askProcesses(t, bin, srv, ns)
			if a == nil {
				return false, why
			}
			return a.checkExited("web-1/web", "sleep", []string{"/bin/sleep", "0.0123"})
		})

		// The same node, its agent without the capabilities eBPF needs:
		// reported to a second server, which watches the same cluster, it
		// says it is degraded and still attributes every process.
		srv2 := startAgentTestServer(t, bin, cp.Kubeconfig, filepath.Join(t.TempDir(), "palisade.db"))
		tokenFile2 := filepath.Join(t.TempDir(), "agent-token")
		if err := os.WriteFile(tokenFile2, []byte(srv2.createToken(t, "n1", "agent")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		degraded := startProgram(t, "setpriv", "--bounding-set", "-bpf,-perfmon,-sys_admin", "--", bin, "agent",
			"--server", srv2.url, "--token-file", tokenFile2, "--proc-root", "/proc",
			"--node", "n1", "--cluster", agentCluster, "--interval", "200ms", "--report-interval", "500ms")
		eventually(t, time.Minute, "without CAP_BPF the agent says it is degraded and keeps working", func() (bool, string) {
			a, why := askProcesses(t, bin, srv2, ns)
			if a == nil {
				return false, why
			}
			return a.check(map[string][]wantProcess{
				"web-1/web": {{pid: shell, exe: shellExe, pod: "web-1", rule: "shell-in-non-shell-image"},
					pythonIn(client, "web-1"), sleepIn(webSleep, "web-1")},
				"cache-1/redis": {pythonIn(listener, "cache-1"), sleepIn(cacheSleep, "cache-1")},
			}, 1, "node n1 (polling) sees less than it could: ")
		})
		if err := degraded.stop(); err != nil {
			t.Errorf("palisade agent without CAP_BPF after SIGTERM: %v (want exit 0)\n%s", err, degraded.out.String())
		}
	}

	if err := agent.stop(); err != nil {
		t.Errorf("palisade agent after SIGTERM: %v (want exit 0)\n%s", err, agent.out.String())
	}
}

// execTracing reports whether this machine lets the agent trace execs
// with eBPF (root, kernel BTF, raw tracepoints); CI machines must.
func execTracing(t *testing.T) bool {
	t.Helper()
	tr, err := exectrace.Open(0)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI machines must let the agent trace execs with eBPF: %v", err)
		}
		t.Logf("no eBPF exec tracing here, the agent polls: %v", err)
		return false
	}
	tr.Close()
	return true
}

// runShortProcessInContainer runs /bin/sleep for the given seconds in the
// namespaces and cgroup of the container whose process is target, from a
// shell that stays in the container (the sleep's parent, as a container's
// shell or init would be), and returns once the sleep has exited.
func runShortProcessInContainer(t *testing.T, target int, cg cgroup, seconds string) {
	t.Helper()
	cmd := exec.Command("nsenter", "--target", strconv.Itoa(target), "--pid", "--net", "--mount", "--", "sh")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nsenter: %v", err)
	}
	t.Cleanup(func() { stdin.Close() })
	waitOnCleanup(t, cmd, &out)
	shExe, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	sh := childRunning(t, cmd.Process.Pid, filepath.Base(shExe), &out)
	t.Cleanup(func() { _ = syscall.Kill(sh, syscall.SIGKILL) })
	joinCgroup(t, cg, sh)
	// The shell exits after it: left in the container's cgroup, a later
	// full read of /proc would find a shell there.
	if _, err := io.WriteString(stdin, "/bin/sleep "+seconds+"; echo done; exit\n"); err != nil {
		t.Fatalf("writing to the shell: %v", err)
	}
	eventually(t, 10*time.Second, "the short sleep has run and its shell exited", func() (bool, string) {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", sh))
		return strings.Contains(out.String(), "done") && errors.Is(err, os.ErrNotExist), "output " + out.String()
	})
}

// wantProcess is one process the processes answer should list; rule, when
// set, is the one suspicious-process rule it should match (none otherwise).
type wantProcess struct {
	pid            int
	exe, pod, rule string
}

// wantConnection is one connection the processes answer should list for
// a container; its count only has to be positive.
type wantConnection struct {
	direction, proto string
	peer             wantPeer
	port             int
}

// wantPeer is the peer of a connection, as the answer names it.
type wantPeer struct {
	Workload  workloadRef `json:"workload"`
	Pod       string      `json:"pod"`
	Container string      `json:"container"`
	Addr      string      `json:"addr"`
	External  bool        `json:"external"`
}

// processesAnswer is the part of the processes answer (docs/output.md)
// the test reads, decoded independently of the product's types.
type processesAnswer struct {
	Summary map[string]int `json:"summary"`
	Notes   []string       `json:"notes"`
	Items   []struct {
		Workload   workloadRef `json:"workload"`
		Container  string      `json:"container"`
		Suspicious int         `json:"suspicious"`
		Processes  []struct {
			Exe        string   `json:"exe"`
			Args       []string `json:"args"`
			PID        int      `json:"pid"`
			Pod        string   `json:"pod"`
			Node       string   `json:"node"`
			Running    bool     `json:"running"`
			Suspicious []struct {
				Rule string `json:"rule"`
			} `json:"suspicious"`
		} `json:"processes"`
		Connections []struct {
			Direction string   `json:"direction"`
			Peer      wantPeer `json:"peer"`
			Port      int      `json:"port"`
			Proto     string   `json:"proto"`
			Count     int      `json:"count"`
		} `json:"connections"`
	} `json:"items"`
}

// checkConnections compares the connections of every item with those
// wanted per "pod/container" (in the answer's order), each with a
// positive count.
func (a *processesAnswer) checkConnections(want map[string][]wantConnection) (bool, string) {
	got := map[string][]wantConnection{}
	for _, it := range a.Items {
		k := it.Workload.Name + "/" + it.Container
		for _, c := range it.Connections {
			if c.Count < 1 {
				return false, fmt.Sprintf("%s: connection %+v counted %d times, want at least once:\n%s", k, c, c.Count, pretty(a))
			}
			got[k] = append(got[k], wantConnection{direction: c.Direction, proto: c.Proto, peer: c.Peer, port: c.Port})
		}
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(wantConnection{})); d != "" {
		return false, fmt.Sprintf("connections by pod/container (-want +got):\n%s\nanswer:\n%s", d, pretty(a))
	}
	return true, ""
}

// checkExited looks for an exited process of the pod/container key whose
// executable's name is exe and whose arguments are args.
func (a *processesAnswer) checkExited(key, exe string, args []string) (bool, string) {
	for _, it := range a.Items {
		if it.Workload.Name+"/"+it.Container != key {
			continue
		}
		for _, p := range it.Processes {
			if path.Base(p.Exe) == exe && slices.Equal(p.Args, args) {
				if p.Running || p.Node != "n1" {
					return false, fmt.Sprintf("%s: %s %q running=%t on node %q, want exited on n1:\n%s", key, p.Exe, p.Args, p.Running, p.Node, pretty(a))
				}
				return true, ""
			}
		}
	}
	return false, fmt.Sprintf("no %s %q in %s:\n%s", exe, args, key, pretty(a))
}

// check compares the answer with the processes wanted per "pod/container"
// (in the answer's order: suspicious first), the suspicious count, one
// reporting node, and the node's degraded note ("" for none).
func (a *processesAnswer) check(want map[string][]wantProcess, suspicious int, note string) (bool, string) {
	got := map[string][]wantProcess{}
	for _, it := range a.Items {
		if it.Workload.Cluster != agentCluster || it.Workload.Kind != "Pod" {
			return false, fmt.Sprintf("item of workload %+v, want Pods of cluster %s:\n%s", it.Workload, agentCluster, pretty(a))
		}
		k := it.Workload.Name + "/" + it.Container
		n := 0
		for _, p := range it.Processes {
			if !p.Running || p.Node != "n1" {
				return false, fmt.Sprintf("%s: process %d running=%t on node %q, want running on n1:\n%s", k, p.PID, p.Running, p.Node, pretty(a))
			}
			w := wantProcess{pid: p.PID, exe: p.Exe, pod: p.Pod}
			if len(p.Suspicious) > 0 {
				w.rule = p.Suspicious[0].Rule
				n++
			}
			if len(p.Suspicious) > 1 {
				w.rule = fmt.Sprintf("%+v", p.Suspicious)
			}
			got[k] = append(got[k], w)
		}
		if it.Suspicious != n {
			return false, fmt.Sprintf("%s counts %d suspicious processes, lists %d:\n%s", k, it.Suspicious, n, pretty(a))
		}
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(wantProcess{})); d != "" {
		return false, fmt.Sprintf("processes by pod/container (-want +got):\n%s\nanswer:\n%s", d, pretty(a))
	}
	degraded := 0
	if note != "" {
		degraded = 1
	}
	if a.Summary["nodes"] != 1 || a.Summary["degradedNodes"] != degraded || a.Summary["suspicious"] != suspicious {
		return false, fmt.Sprintf("summary %v, want 1 node, %d degraded, %d suspicious", a.Summary, degraded, suspicious)
	}
	mentionsEBPF := slices.ContainsFunc(a.Notes, func(n string) bool { return strings.HasPrefix(n, note) && strings.Contains(n, "eBPF") })
	if note != "" && !mentionsEBPF {
		return false, fmt.Sprintf("notes %q: none starts with %q and names eBPF", a.Notes, note)
	}
	if note == "" && mentionsEBPF {
		return false, fmt.Sprintf("notes %q: the agent traces execs with eBPF, yet a note says it lacks it", a.Notes)
	}
	return true, ""
}

// askProcesses runs palisade ask processes against the server; a nil
// answer comes with why.
func askProcesses(t *testing.T, bin string, srv *agentTestServer, ns string) (*processesAnswer, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, "ask", "processes", "--server", srv.url, "-n", ns, "-o", "json")
	cmd.Env = srv.askEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Sprintf("palisade ask processes: %v\n%s", err, stderr.String())
	}
	var a processesAnswer
	if err := json.Unmarshal(stdout.Bytes(), &a); err != nil {
		t.Fatalf("palisade ask processes -o json: %v\n%s", err, stdout.String())
	}
	return &a, ""
}

// createRunningPod creates a Pod on node n1 whose status says its one
// container runs image with containerID and the pod has podIP, as a
// kubelet would write it, and returns the pod's UID.
func createRunningPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, container, image, containerID, podIP string) types.UID {
	t.Helper()
	repo, _, _ := strings.Cut(image, ":")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: container, Image: image}}},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIP:  podIP,
			PodIPs: []corev1.PodIP{{IP: podIP}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:        container,
				Image:       image,
				ImageID:     repo + "@sha256:" + strings.Repeat(hex.EncodeToString([]byte(name))[:8], 8),
				ContainerID: containerID,
				Ready:       true,
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
			}},
		},
	}
	uid, err := createObject(ctx, cs, pod)
	if err != nil {
		t.Fatalf("creating Pod %s/%s: %v", ns, name, err)
	}
	return uid
}

func randomContainerID(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// needHost skips the test, or fails it when CI=true, because this machine
// cannot run it.
func needHost(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: the agent test must run)", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// containerHost is where this machine's cgroup hierarchies are mounted:
// v1 is one v1 controller hierarchy, v2 the unified one ("" when absent).
type containerHost struct{ v1, v2 string }

func (h containerHost) v1OrV2() string {
	if h.v1 != "" {
		return h.v1
	}
	return h.v2
}

func (h containerHost) v2OrV1() string {
	if h.v2 != "" {
		return h.v2
	}
	return h.v1
}

// needContainerHost checks what the test needs of the machine: root,
// unshare and nsenter that can make PID and network namespaces, and a
// cgroup hierarchy it can create cgroups in.
func needContainerHost(t *testing.T) containerHost {
	t.Helper()
	if os.Geteuid() != 0 {
		needHost(t, "the agent test starts processes in new namespaces and cgroups: run it as root")
	}
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			needHost(t, "%s (util-linux) is not installed", tool)
		}
	}
	if out, err := exec.CommandContext(t.Context(), "unshare", "--pid", "--net", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		needHost(t, "unshare cannot create PID and network namespaces here: %v: %s", err, bytes.TrimSpace(out))
	}
	h, err := cgroupMounts()
	if err != nil {
		needHost(t, "reading the cgroup mounts: %v", err)
	}
	if h.v1 == "" && h.v2 == "" {
		needHost(t, "no cgroup hierarchy is mounted (want a v1 controller such as pids, or cgroup2)")
	}
	for _, root := range []string{h.v1, h.v2} {
		if root == "" {
			continue
		}
		probe := filepath.Join(root, "palisade-probe-"+randomContainerID(t)[:12])
		if err := os.Mkdir(probe, 0o755); err != nil {
			needHost(t, "cannot create cgroups in %s: %v", root, err)
		}
		if err := os.Remove(probe); err != nil {
			t.Fatalf("removing the probe cgroup: %v", err)
		}
	}
	t.Logf("cgroup hierarchies: v1 %q, v2 %q", h.v1, h.v2)
	return h
}

// cgroupMounts reads /proc/self/mountinfo for a v1 controller hierarchy
// (pids or cpu preferred: moving a test process out of its memory cgroup
// would lift its limits) and the v2 hierarchy, each mounted at its root.
func cgroupMounts() (containerHost, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return containerHost{}, err
	}
	defer f.Close()
	var h containerHost
	v1 := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, fs := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(fs) < 3 || fields[3] != "/" {
			continue
		}
		switch fs[0] {
		case "cgroup2":
			if h.v2 == "" {
				h.v2 = fields[4]
			}
		case "cgroup":
			for _, opt := range strings.Split(fs[2], ",") {
				v1[opt] = fields[4]
			}
		}
	}
	for _, c := range []string{"pids", "cpu", "cpuacct", "devices", "freezer", "blkio"} {
		if v1[c] != "" {
			h.v1 = v1[c]
			break
		}
	}
	return h, sc.Err()
}

// cgroup is a cgroup: the mount point of its hierarchy and its path in it
// (as /proc/<pid>/cgroup shows it).
type cgroup struct{ root, path string }

func (c cgroup) String() string { return c.root + c.path }

// makeCgroup creates the cgroup path (and its missing parents) in the
// hierarchy mounted at root and removes what it created when the test
// ends, after the processes in it are gone. Parents another test or
// runtime still uses are left in place.
func (containerHost) makeCgroup(t *testing.T, root, path string) cgroup {
	t.Helper()
	var created []string
	dir := root
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		dir = filepath.Join(dir, seg)
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			needHost(t, "creating cgroup %s: %v", dir, err)
		}
		created = append(created, dir)
	}
	t.Cleanup(func() {
		for i := len(created) - 1; i >= 0; i-- {
			d := created[i]
			var err error
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				// A killed process leaves its cgroup once it has exited.
				if err = syscall.Rmdir(d); err != syscall.EBUSY || time.Now().After(deadline) {
					break
				}
			}
			switch {
			case err == nil:
			case i == len(created)-1:
				t.Errorf("removing cgroup %s: %v", d, err)
				return
			case err == syscall.ENOTEMPTY || err == syscall.EBUSY:
				return // a parent someone else uses too
			default:
				t.Errorf("removing cgroup %s: %v", d, err)
				return
			}
		}
	})
	return cgroup{root, path}
}

// joinCgroup moves pid into the cgroup cg.
func joinCgroup(t *testing.T, cg cgroup, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cg.String(), "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("moving pid %d into cgroup %s: %v", pid, cg, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), ":"+cg.path+"\n") {
		t.Fatalf("/proc/%d/cgroup does not name %s:\n%s", pid, cg.path, b)
	}
}

// startContainerProcess starts the "container's main process", a sleep
// that is PID 1 of new PID, network and mount namespaces (unshare stays
// outside, as a container runtime's shim does), and moves it into the
// cgroup cg once it runs sleep (the agent, started later, first sees it
// there). It returns the sleep's pid on the host; the sleep is
// killed when the test ends (and ends by itself after 10 minutes).
func startContainerProcess(t *testing.T, cg cgroup) int {
	t.Helper()
	cmd := exec.Command("unshare", "--pid", "--net", "--fork", "--mount-proc", "--kill-child", "sleep", "600")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting unshare: %v", err)
	}
	waitOnCleanup(t, cmd, &out)
	pid := childRunning(t, cmd.Process.Pid, "sleep", &out)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	checkOwnNamespaces(t, pid, "pid", "net")
	joinCgroup(t, cg, pid)
	return pid
}

// startShellInContainer starts a shell in the PID, network and mount
// namespaces of the container whose process is target and in its cgroup
// cg (see startInContainer): the same shell through a link of another
// name, so that its command name changes on the exec. The shell waits on
// its standard input until the test ends.
func startShellInContainer(t *testing.T, target int, cg cgroup) int {
	t.Helper()
	shExe, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "shell")
	if err := os.Symlink(shExe, link); err != nil {
		t.Fatal(err)
	}
	return startInContainer(t, target, cg, "exec "+link, "shell")
}

// startInContainer runs command (a line of sh that execs the program) in
// the PID, network and mount namespaces of the container whose process is
// target and in its cgroup cg, and returns its pid once its command name
// is comm. Like runc, it has the process join the cgroup before the
// program the agent should see is executed: nsenter starts sh outside the
// cgroup, the test moves it in, then sh runs command. The agent re-reads a
// process in full only when it execs (or every few minutes), so a move
// without an exec would go unseen for minutes. The program's standard
// input is a pipe closed when the test ends, and it is killed then.
func startInContainer(t *testing.T, target int, cg cgroup, command, comm string) int {
	t.Helper()
	cmd := exec.Command("nsenter", "--target", strconv.Itoa(target), "--pid", "--net", "--mount", "--", "sh")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nsenter: %v", err)
	}
	t.Cleanup(func() { stdin.Close() }) // a shell exits at the end of its input
	waitOnCleanup(t, cmd, &out)
	shExe, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	pid := childRunning(t, cmd.Process.Pid, filepath.Base(shExe), &out)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	for _, typ := range []string{"pid", "net"} {
		if a, b := nsOf(t, pid, typ), nsOf(t, target, typ); a != b {
			t.Fatalf("the process is in %s, the container in %s", a, b)
		}
	}
	joinCgroup(t, cg, pid)
	if _, err := io.WriteString(stdin, command+"\n"); err != nil {
		t.Fatalf("writing to the shell: %v", err)
	}
	if len(comm) > 15 {
		comm = comm[:15] // the kernel's TASK_COMM_LEN
	}
	eventually(t, 10*time.Second, fmt.Sprintf("the process execs %s in the container's cgroup", comm), func() (bool, string) {
		got, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return strings.TrimSpace(string(got)) == comm, fmt.Sprintf("comm %q (%v); output %s", got, err, out.String())
	})
	return pid
}

// pythonExe returns the path of the Python 3 interpreter itself (not a
// wrapper script such as a pyenv shim, which would run a shell first).
func pythonExe(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		needHost(t, "python3 is needed for the listener and the client of the pod network: %v", err)
	}
	exe, err := filepath.EvalSymlinks(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// pythonCommand is the sh line that execs python with script.
func pythonCommand(python, script string) string {
	return "exec " + python + " -c '" + strings.ReplaceAll(script, "'", `'\''`) + "'"
}

// connectNetNamespaces joins the network namespaces of the processes a and
// b with a veth pair, each end up with its address in a /24, and brings
// up the loopback of both. The pair is deleted when the test ends (it
// also goes away with the namespaces).
func connectNetNamespaces(t *testing.T, a int, aIP string, b int, bIP string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		needHost(t, "ip (iproute2) is not installed")
	}
	suffix := randomContainerID(t)[:8]
	va, vb := "pla"+suffix, "plb"+suffix
	run := func(args ...string) error {
		out, err := exec.CommandContext(t.Context(), args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := run("ip", "link", "add", va, "type", "veth", "peer", "name", vb); err != nil {
		needHost(t, "cannot create a veth pair: %v", err)
	}
	t.Cleanup(func() {
		// Wherever the pair is, deleting one end deletes both; the
		// namespaces may be gone already, and the pair with them.
		_ = exec.Command("ip", "link", "del", va).Run()
		_ = exec.Command("nsenter", "--target", strconv.Itoa(a), "--net", "--", "ip", "link", "del", va).Run()
		_ = exec.Command("nsenter", "--target", strconv.Itoa(b), "--net", "--", "ip", "link", "del", vb).Run()
		if exec.Command("ip", "link", "show", va).Run() == nil || exec.Command("ip", "link", "show", vb).Run() == nil {
			t.Errorf("veth pair %s/%s is still on the host", va, vb)
		}
	})
	for _, end := range []struct {
		pid     int
		dev, ip string
	}{{a, va, aIP}, {b, vb, bIP}} {
		in := []string{"nsenter", "--target", strconv.Itoa(end.pid), "--net", "--"}
		for _, args := range [][]string{
			{"ip", "link", "set", end.dev, "netns", strconv.Itoa(end.pid)},
			append(slices.Clone(in), "ip", "addr", "add", end.ip+"/24", "dev", end.dev),
			append(slices.Clone(in), "ip", "link", "set", end.dev, "up"),
			append(slices.Clone(in), "ip", "link", "set", "lo", "up"),
		} {
			if err := run(args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("veth pair %s (%s, pid %d) / %s (%s, pid %d)", va, aIP, a, vb, bIP, b)
}

// waitOnCleanup kills cmd when the test ends, if still running, and reaps it.
func waitOnCleanup(t *testing.T, cmd *exec.Cmd, out *lockedBuffer) {
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if err := cmd.Wait(); err != nil && !strings.Contains(err.Error(), "killed") {
			t.Logf("%s: %v: %s", strings.Join(cmd.Args, " "), err, out.String())
		}
	})
}

// childRunning waits for the child of parent that has executed a program
// named name, and returns its pid.
func childRunning(t *testing.T, parent int, name string, out *lockedBuffer) int {
	t.Helper()
	var pid int
	eventually(t, 10*time.Second, fmt.Sprintf("%d's child runs %s", parent, name), func() (bool, string) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
		if err != nil {
			return false, fmt.Sprintf("%v; output %s", err, out.String())
		}
		for _, f := range strings.Fields(string(b)) {
			p, _ := strconv.Atoi(f)
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); err == nil && filepath.Base(exe) == name {
				pid = p
				return true, ""
			}
		}
		return false, fmt.Sprintf("children %q; output %s", b, out.String())
	})
	return pid
}

// checkOwnNamespaces fails the test unless pid is in namespaces of its own
// of the given types.
func checkOwnNamespaces(t *testing.T, pid int, kinds ...string) {
	t.Helper()
	for _, typ := range kinds {
		if a, b := nsOf(t, pid, typ), nsOf(t, os.Getpid(), typ); a == b {
			t.Fatalf("pid %d shares the test's %s namespace %s", pid, typ, a)
		}
	}
}

func nsOf(t *testing.T, pid int, typ string) string {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, typ))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func exeOf(t *testing.T, pid int) string {
	t.Helper()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// palisadeProcess is a running palisade command.
type palisadeProcess struct {
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan error
	stopped bool
	err     error
}

// startPalisade starts the palisade binary with args; it is stopped with
// SIGTERM when the test ends, and must exit 0.
func startPalisade(t *testing.T, bin string, args ...string) *palisadeProcess {
	t.Helper()
	return startProgram(t, bin, args...)
}

// startProgram starts a program that runs palisade (bin itself, or a
// wrapper such as setpriv that executes it) like startPalisade.
func startProgram(t *testing.T, name string, args ...string) *palisadeProcess {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = isolatedEnv(t)
	p := &palisadeProcess{cmd: cmd, out: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		checked := p.stopped // the test checked the exit itself
		if err := p.stop(); err != nil && !checked {
			t.Errorf("palisade %s: %v", args[0], err)
		}
		if t.Failed() {
			t.Logf("palisade %s output:\n%s", args[0], p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for the process (30 s, then kills it); it
// returns the exit error, nil for exit 0.
func (p *palisadeProcess) stop() error {
	if p.stopped {
		return p.err
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case p.err = <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.err = errors.New("still running 30 s after SIGTERM")
	}
	return p.err
}

// agentTestServer is a running palisade server with its admin token.
type agentTestServer struct {
	*palisadeProcess
	url, token string
	// askEnv is the environment of palisade ask, with the admin token.
	askEnv []string
}

// startAgentTestServer starts palisade server against kubeconfig, without
// image scanning, and waits until it is ready and has written its admin
// token.
func startAgentTestServer(t *testing.T, bin, kubeconfig, db string) *agentTestServer {
	t.Helper()
	addr := freeAddr(t)
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	s := &agentTestServer{url: "http://" + addr}
	s.palisadeProcess = startPalisade(t, bin, "server", "--kubeconfig", kubeconfig, "--cluster", agentCluster, "--listen", addr,
		"--database", db, "--token-file", tokenFile, "--no-scan")
	eventually(t, time.Minute, "the server is ready", func() (bool, string) {
		select {
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("palisade server exited: %v\n%s", err, s.out.String())
		default:
		}
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return false, err.Error()
		}
		s.token = strings.TrimSpace(string(b))
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	s.askEnv = append(isolatedEnv(t), "PALISADE_TOKEN="+s.token)
	return s
}

// createToken creates an API token with the admin token, through the
// API, and returns its secret.
func (s *agentTestServer) createToken(t *testing.T, name, role string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "role": role})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.url+"/api/v1/tokens", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var created struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &created) != nil || created.Token == "" {
		t.Fatalf("creating the %s token %q: %s: %s", role, name, resp.Status, b)
	}
	return created.Token
}
