package procfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/procfs/procfstest"
)

const (
	testBtime = 1_795_635_205 // seconds since the epoch
	hostNetNS = 4026531840
	hostPIDNS = 4026531836
)

// fakeTree writes a /proc tree with one process of each kind the reader
// must handle and returns its root and the processes Processes must
// return, by pid.
func fakeTree(t *testing.T) (string, map[int]Process) {
	t.Helper()
	root := t.TempDir()
	nginx, crio, docker, unknown := testID("nginx"), testID("crio"), testID("docker"), testID("nerdctl")
	sdPod := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testPodUIDSd + ".slice"
	huge := make([]string, 0, 3000)
	huge = append(huge, "/usr/bin/java")
	for i := range 2999 {
		huge = append(huge, "-Dprop"+strings.Repeat("x", i%7)+"=v")
	}
	procs := []procfstest.Proc{
		{PID: 1, Comm: "systemd", StartTicks: 3, Exe: "/usr/lib/systemd/systemd", Cmdline: procfstest.Args("/sbin/init", "splash"),
			Cgroup: "0::/init.scope\n", NetNS: hostNetNS, PIDNS: hostPIDNS},
		{PID: 2, Comm: "kthreadd", Kernel: true, StartTicks: 3, Cgroup: "0::/\n", NetNS: hostNetNS, PIDNS: hostPIDNS},
		{PID: 14, PPID: 2, Comm: "kworker/u8:0-events_unbound", State: 'I', Kernel: true, StartTicks: 10, Cgroup: "0::/\n", NetNS: hostNetNS, PIDNS: hostPIDNS},
		// A container's entrypoint, with a secret argument and a comm
		// holding spaces and parentheses.
		{PID: 4100, PPID: 4000, Comm: "nginx: ma) (x", State: 'S', StartTicks: 123_456, UID: 101, NSpid: []int{4100, 1},
			Exe: "/usr/sbin/nginx", Cmdline: procfstest.Args("nginx", "-g", "daemon off;", "--password=hunter2"),
			Cgroup: "0::" + sdPod + "/cri-containerd-" + nginx + ".scope\n", NetNS: 4026532800, PIDNS: 4026532801},
		// setuid: real uid 1000, effective 0.
		{PID: 4200, PPID: 1, Comm: "sudo", StartTicks: 200_000, UID: 1000, EUID: 4242, Exe: "/usr/bin/sudo", Cmdline: procfstest.Args("sudo", "-i"),
			Cgroup: "0::/user.slice/user-1000.slice/session-3.scope\n", NetNS: hostNetNS, PIDNS: hostPIDNS},
		// Vanished between the listing and the reading.
		{PID: 4300, Vanished: true},
		// A zombie: no exe, no arguments, no namespaces.
		{PID: 4400, PPID: 4100, Comm: "sh", State: 'Z', StartTicks: 130_000, UID: 101, Cgroup: "0::" + sdPod + "/cri-containerd-" + nginx + ".scope\n"},
		// A huge command line.
		{PID: 4500, PPID: 1, Comm: "java", StartTicks: 140_000, Exe: "/usr/lib/jvm/bin/java", Cmdline: procfstest.Args(huge...),
			Cgroup: v1Lines("/kubepods/burstable/pod"+testPodUID+"/crio-"+crio, "/"), NetNS: 4026532900, PIDNS: 4026532901},
		// CRI-O's conmon, beside the container.
		{PID: 4600, PPID: 1, Comm: "conmon", StartTicks: 139_000, Exe: "/usr/bin/conmon", Cmdline: procfstest.Args("/usr/bin/conmon", "-c", crio),
			Cgroup: "0::/kubepods/burstable/pod" + testPodUID + "/crio-conmon-" + crio + "\n", NetNS: hostNetNS, PIDNS: hostPIDNS},
		// Unreadable files: exe and status (and the namespaces missing).
		{PID: 4700, PPID: 1, Comm: "secretive", StartTicks: 150_000, Exe: "/bin/x", Cmdline: procfstest.Args("secretive"),
			Cgroup: "0::/system.slice/docker-" + docker + ".scope\n", Unreadable: []string{"exe", "status"}},
		// An unreadable stat: skipped.
		{PID: 4800, PPID: 1, Unreadable: []string{"stat"}},
		// An unknown cgroup format, and a deleted executable.
		{PID: 4900, PPID: 1, Comm: "app", StartTicks: 160_000, Exe: "/tmp/app (deleted)", Cmdline: procfstest.Args("./app"),
			Cgroup: "0::/default/" + unknown + "\n", NetNS: hostNetNS, PIDNS: hostPIDNS},
	}
	if err := procfstest.Build(root, testBtime, procs...); err != nil {
		t.Fatal(err)
	}
	// What a real /proc also holds: non-pid entries, a self link.
	for _, d := range []string{"sys", "net", "driver"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("4100", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "uptime"), []byte("13247.49 13415.16\n"), 0o444); err != nil {
		t.Fatal(err)
	}

	start := func(ticks uint64) time.Time {
		return time.Unix(testBtime, 0).Add(time.Duration(ticks) * 10 * time.Millisecond)
	}
	hugeArgs := huge[:DefaultMaxArgs]
	want := map[int]Process{
		1: {PID: 1, NSPID: 1, State: "S", Exe: "/usr/lib/systemd/systemd", Comm: "systemd", Args: []string{"/sbin/init", "splash"},
			StartTicks: 3, StartTime: start(3), NetNS: hostNetNS, PIDNS: hostPIDNS},
		2: {PID: 2, NSPID: 2, State: "S", Kernel: true, Comm: "kthreadd", StartTicks: 3, StartTime: start(3), NetNS: hostNetNS, PIDNS: hostPIDNS},
		14: {PID: 14, PPID: 2, NSPID: 14, State: "I", Kernel: true, Comm: "kworker/u8:0-events_unbound", StartTicks: 10, StartTime: start(10),
			NetNS: hostNetNS, PIDNS: hostPIDNS},
		4100: {PID: 4100, PPID: 4000, NSPID: 1, State: "S", Exe: "/usr/sbin/nginx", Comm: "nginx: ma) (x",
			Args: []string{"nginx", "-g", "daemon off;", "--password=" + Redacted}, UID: 101,
			StartTicks: 123_456, StartTime: start(123_456), ContainerID: nginx, Runtime: "containerd", PodUID: testPodUID,
			NetNS: 4026532800, PIDNS: 4026532801},
		4200: {PID: 4200, PPID: 1, NSPID: 4200, State: "S", Exe: "/usr/bin/sudo", Comm: "sudo", Args: []string{"sudo", "-i"}, UID: 1000,
			StartTicks: 200_000, StartTime: start(200_000), NetNS: hostNetNS, PIDNS: hostPIDNS},
		4400: {PID: 4400, PPID: 4100, NSPID: 4400, State: "Z", Comm: "sh", UID: 101, StartTicks: 130_000, StartTime: start(130_000),
			ContainerID: nginx, Runtime: "containerd", PodUID: testPodUID},
		4500: {PID: 4500, PPID: 1, NSPID: 4500, State: "S", Exe: "/usr/lib/jvm/bin/java", Comm: "java", Args: hugeArgs, ArgsTruncated: true,
			StartTicks: 140_000, StartTime: start(140_000), ContainerID: crio, Runtime: "cri-o", PodUID: testPodUID,
			NetNS: 4026532900, PIDNS: 4026532901},
		4600: {PID: 4600, PPID: 1, NSPID: 4600, State: "S", Exe: "/usr/bin/conmon", Comm: "conmon", Args: []string{"/usr/bin/conmon", "-c", crio},
			StartTicks: 139_000, StartTime: start(139_000), Runtime: "cri-o", PodUID: testPodUID, MonitorOf: crio,
			NetNS: hostNetNS, PIDNS: hostPIDNS},
		4700: {PID: 4700, PPID: 1, State: "S", Comm: "secretive", Args: []string{"secretive"}, UID: -1,
			StartTicks: 150_000, StartTime: start(150_000), ContainerID: docker, Runtime: "docker"},
		4900: {PID: 4900, PPID: 1, NSPID: 4900, State: "S", Exe: "/tmp/app", ExeDeleted: true, Comm: "app", Args: []string{"./app"},
			StartTicks: 160_000, StartTime: start(160_000), NetNS: hostNetNS, PIDNS: hostPIDNS},
	}
	return root, want
}

func TestProcessesFake(t *testing.T) {
	root, want := fakeTree(t)
	procs, st, err := New(root, Options{}).Processes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]Process{}
	for _, p := range procs {
		if _, dup := got[p.PID]; dup {
			t.Errorf("pid %d returned twice", p.PID)
		}
		got[p.PID] = p
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Processes (-want +got):\n%s", diff)
	}
	wantStats := Stats{
		Listed:              12,
		Processes:           10,
		Vanished:            1, // 4300
		Unreadable:          1, // 4800
		ExeUnreadable:       1, // 4700
		NamespaceUnreadable: 1, // 4700
		FileUnreadable:      1, // 4700's status
		ArgsTruncated:       1, // 4500
		ArgsRedacted:        1, // 4100
		CgroupUnknown:       1, // 4900
	}
	if diff := cmp.Diff(wantStats, st); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestProcessesBounds(t *testing.T) {
	root, _ := fakeTree(t)
	t.Run("MaxProcesses", func(t *testing.T) {
		procs, st, err := New(root, Options{MaxProcesses: 3}).Processes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(procs) != 3 || st.Processes != 3 || !st.Truncated {
			t.Errorf("got %d processes, stats %+v; want 3 and Truncated", len(procs), st)
		}
	})
	t.Run("MaxArgsBytes drops the cut argument", func(t *testing.T) {
		fs := New(root, Options{MaxArgsBytes: len("nginx\x00-g\x00daemon")})
		p, st, err := fs.Process(4100)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"nginx", "-g"}; !slices.Equal(p.Args, want) || !p.ArgsTruncated || st.ArgsTruncated != 1 {
			t.Errorf("Args = %q, truncated %v (stats %d); want %q, true", p.Args, p.ArgsTruncated, st.ArgsTruncated, want)
		}
	})
	t.Run("MaxArgsBytes at a NUL keeps every whole argument", func(t *testing.T) {
		fs := New(root, Options{MaxArgsBytes: len("nginx\x00-g\x00")})
		p, _, err := fs.Process(4100)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"nginx", "-g"}; !slices.Equal(p.Args, want) || !p.ArgsTruncated {
			t.Errorf("Args = %q, truncated %v; want %q, true", p.Args, p.ArgsTruncated, want)
		}
	})
	t.Run("MaxArgs", func(t *testing.T) {
		p, _, err := New(root, Options{MaxArgs: 2}).Process(4100)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"nginx", "-g"}; !slices.Equal(p.Args, want) || !p.ArgsTruncated {
			t.Errorf("Args = %q, truncated %v; want %q, true", p.Args, p.ArgsTruncated, want)
		}
	})
	t.Run("secret cut by the bound is dropped, not leaked", func(t *testing.T) {
		dir := t.TempDir()
		url := "postgres://app:hunter2@db/app"
		if err := procfstest.Build(dir, testBtime, procfstest.Proc{PID: 7, Cmdline: procfstest.Args("app", "--db", url)}); err != nil {
			t.Fatal(err)
		}
		p, _, err := New(dir, Options{MaxArgsBytes: len("app\x00--db\x00postgres://app:hunt")}).Process(7)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"app", "--db"}; !slices.Equal(p.Args, want) {
			t.Errorf("Args = %q, want %q", p.Args, want)
		}
	})
}

func TestProcess(t *testing.T) {
	root, want := fakeTree(t)
	fs := New(root, Options{})
	p, st, err := fs.Process(4100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[4100], p); diff != "" {
		t.Errorf("Process(4100) (-want +got):\n%s", diff)
	}
	if st.Processes != 1 || st.ArgsRedacted != 1 {
		t.Errorf("stats %+v", st)
	}
	for _, pid := range []int{4300, 99999} {
		if _, st, err := fs.Process(pid); !errors.Is(err, ErrNoProcess) || st.Vanished != 1 {
			t.Errorf("Process(%d) = %v, %+v; want ErrNoProcess and Vanished 1", pid, err, st)
		}
	}
	if _, st, err := fs.Process(4800); err == nil || errors.Is(err, ErrNoProcess) || st.Unreadable != 1 {
		t.Errorf("Process(4800) = %v, %+v; want an unreadable error", err, st)
	}
}

func TestProcessesErrors(t *testing.T) {
	t.Run("missing root", func(t *testing.T) {
		if _, _, err := New(filepath.Join(t.TempDir(), "nope"), Options{}).Processes(t.Context()); err == nil {
			t.Error("no error for a missing root")
		}
	})
	t.Run("no btime", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu 1 2 3\n"), 0o444); err != nil {
			t.Fatal(err)
		}
		if _, _, err := New(dir, Options{}).Processes(t.Context()); err == nil || !strings.Contains(err.Error(), "btime") {
			t.Errorf("err = %v, want one about btime", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		root, _ := fakeTree(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, _, err := New(root, Options{}).Processes(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

// TestProcessHostileFiles feeds malformed stat, status and cmdline content.
func TestProcessHostileFiles(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		content   string
		skipped   bool // stat unusable: process skipped
		check     func(t *testing.T, p Process)
		wantStats Stats
	}{
		{name: "stat without parentheses", file: "stat", content: "7 app S 1 7 7 0", skipped: true},
		{name: "stat too short", file: "stat", content: "7 (app) S 1 7 7 0 -1\n", skipped: true},
		{name: "stat with a letter for ppid", file: "stat", content: "7 (app) S x 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 1 1\n", skipped: true},
		{name: "stat binary", file: "stat", content: "\x00\xff\xfe)(\x01", skipped: true},
		{name: "stat overlong", file: "stat", content: "7 (" + strings.Repeat("a", 10000) + ") S 1", skipped: true},
		{name: "status garbage: uid unknown", file: "status", content: "Uid:\tnope\nNSpid:\t-3\n",
			check: func(t *testing.T, p Process) {
				if p.UID != -1 || p.NSPID != 0 {
					t.Errorf("UID %d NSPID %d, want -1 and 0", p.UID, p.NSPID)
				}
			}},
		{name: "cmdline without NUL, nginx-style title", file: "cmdline", content: "nginx: worker process" + strings.Repeat(" ", 40),
			check: func(t *testing.T, p Process) {
				if len(p.Args) != 1 || !strings.HasPrefix(p.Args[0], "nginx: worker process") {
					t.Errorf("Args = %q", p.Args)
				}
			}},
		{name: "cmdline binary", file: "cmdline", content: "\xff\xfe\x00\x01\x02\x00",
			check: func(t *testing.T, p Process) {
				if want := []string{"\xff\xfe", "\x01\x02"}; !slices.Equal(p.Args, want) {
					t.Errorf("Args = %q, want %q", p.Args, want)
				}
			}},
		{name: "cmdline one huge argument", file: "cmdline", content: strings.Repeat("x", 100_000),
			check: func(t *testing.T, p Process) {
				if p.Args != nil || !p.ArgsTruncated {
					t.Errorf("Args = %.20q…, truncated %v; want none and truncated", p.Args, p.ArgsTruncated)
				}
			}},
		{name: "cgroup binary", file: "cgroup", content: "\x00\x01\x02\xff",
			check: func(t *testing.T, p Process) {
				if p.ContainerID != "" {
					t.Errorf("ContainerID = %q", p.ContainerID)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := procfstest.Build(dir, testBtime, procfstest.Proc{PID: 7, PPID: 1, Exe: "/app", Cmdline: procfstest.Args("app"), Cgroup: "0::/\n"}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "7", tc.file), []byte(tc.content), 0o444); err != nil {
				t.Fatal(err)
			}
			procs, st, err := New(dir, Options{}).Processes(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tc.skipped {
				if len(procs) != 0 || st.Unreadable != 1 {
					t.Errorf("got %d processes, stats %+v; want the process skipped as unreadable", len(procs), st)
				}
				return
			}
			if len(procs) != 1 {
				t.Fatalf("got %d processes, stats %+v", len(procs), st)
			}
			tc.check(t, procs[0])
		})
	}
}

func TestNSInode(t *testing.T) {
	for in, want := range map[string]uint64{
		"net:[4026531992]":              4026531992,
		"pid:[4026531836]":              4026531836,
		"socket:[770574]":               770574,
		"net:[]":                        0,
		"net:[x]":                       0,
		"net:4026531992":                0,
		"[":                             0,
		"":                              0,
		"net:[0]":                       0,
		"net:[-1]":                      0,
		"net:[99999999999999999999999]": 0,
	} {
		got, ok := nsInode(in)
		if got != want || ok != (want != 0) {
			t.Errorf("nsInode(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

func TestScanner(t *testing.T) {
	root, want := fakeTree(t)
	fs := New(root, Options{})
	sc := fs.NewScanner()
	scan := func() (map[int]Process, Stats) {
		t.Helper()
		procs, st, err := sc.Scan(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		m := map[int]Process{}
		for _, p := range procs {
			m[p.PID] = p
		}
		return m, st
	}
	got, st := scan()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first Scan (-want +got):\n%s", diff)
	}
	if st.Reused != 0 {
		t.Errorf("first Scan reused %d", st.Reused)
	}
	full := st

	got, st = scan()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("second Scan (-want +got):\n%s", diff)
	}
	// Every process is reused, and the counters repeat.
	wantSt := full
	wantSt.Reused = full.Processes
	if diff := cmp.Diff(wantSt, st); diff != "" {
		t.Errorf("second Scan stats (-want +got):\n%s", diff)
	}

	// Changes: 4100 execs /bin/sh (same pid and start time); 4200 renames
	// itself; 4900's pid is reused by a new process; 1 sets a new
	// process title without exec (not seen until the refresh); 4500 exits.
	dir := func(pid int) string { return filepath.Join(root, strconv.Itoa(pid)) }
	if err := os.Remove(filepath.Join(dir(4100), "exe")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/sh", filepath.Join(dir(4100), "exe")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir(4100), "cmdline"), []byte(procfstest.Args("/bin/sh", "-c", "id")), 0o444); err != nil {
		t.Fatal(err)
	}
	rewriteStat := func(pid int, from, to string) {
		t.Helper()
		path := filepath.Join(dir(pid), "stat")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), from) {
			t.Fatalf("%s has no %q: %s", path, from, b)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), from, to, 1)), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	rewriteStat(4200, "(sudo)", "(sudo-worker)")
	rewriteStat(4900, " 160000 ", " 170000 ")
	if err := os.WriteFile(filepath.Join(dir(1), "cmdline"), []byte(procfstest.Args("systemd: new title")), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir(4500)); err != nil {
		t.Fatal(err)
	}

	got, st = scan()
	if p := got[4100]; p.Exe != "/bin/sh" || !slices.Equal(p.Args, []string{"/bin/sh", "-c", "id"}) {
		t.Errorf("after exec: Exe %q Args %q", p.Exe, p.Args)
	}
	if p := got[4200]; p.Comm != "sudo-worker" {
		t.Errorf("after rename: Comm %q", p.Comm)
	}
	if p := got[4900]; p.StartTicks != 170_000 {
		t.Errorf("reused pid: StartTicks %d", p.StartTicks)
	}
	if p := got[1]; !slices.Equal(p.Args, want[1].Args) {
		t.Errorf("pid 1 re-read before the refresh: Args %q", p.Args)
	}
	if _, ok := got[4500]; ok {
		t.Error("exited process 4500 still listed")
	}
	if st.Reused != len(got)-3 {
		t.Errorf("Reused = %d, want %d", st.Reused, len(got)-3)
	}

	// With no reuse window, everything is read in full.
	sc = New(root, Options{Refresh: time.Nanosecond}).NewScanner()
	scan()
	got, st = scan()
	if st.Reused != 0 || !slices.Equal(got[1].Args, []string{"systemd: new title"}) {
		t.Errorf("Refresh 1ns: Reused %d, pid 1 Args %q", st.Reused, got[1].Args)
	}
}

// TestProcessesConcurrent: an FS is safe for concurrent use (run with
// -race).
func TestProcessesConcurrent(t *testing.T) {
	root, want := fakeTree(t)
	fs := New(root, Options{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			procs, _, err := fs.Processes(t.Context())
			if err != nil || len(procs) != len(want) {
				t.Errorf("Processes = %d processes, %v; want %d", len(procs), err, len(want))
			}
		})
	}
	wg.Wait()
}
