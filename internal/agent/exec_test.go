package agent

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/exectrace"
	"github.com/palisade-project/palisade/internal/procfs"
	"github.com/palisade-project/palisade/internal/procfs/procfstest"
)

func TestExecResolver(t *testing.T) {
	const btime = 1_700_000_000
	idA, idB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	root := t.TempDir()
	if err := procfstest.Build(root, btime,
		procfstest.Proc{PID: 1, PPID: 0, Comm: "systemd", Exe: "/usr/lib/systemd/systemd", StartTicks: 1, Cgroup: "0::/init.scope\n"},
		// A shell in container A, parent of the execs below.
		procfstest.Proc{PID: 100, PPID: 1, Comm: "sh", Exe: "/usr/bin/dash", Cmdline: procfstest.Args("sh"), StartTicks: 500,
			Cgroup: "0::/system.slice/cri-containerd-" + idA + ".scope\n", NetNS: 4026532001},
		// A process still running when its record is read.
		procfstest.Proc{PID: 200, PPID: 100, Comm: "curl", Exe: "/usr/bin/curl", Cmdline: procfstest.Args("curl", "--password", "s3cret", "http://x"),
			StartTicks: 900, Cgroup: "0::/system.slice/cri-containerd-" + idA + ".scope\n"},
		// pid 300 was reused by another process of the container since
		// the exec (pids are handed out in a cycle: in practice, only
		// after millions of others).
		procfstest.Proc{PID: 300, PPID: 100, Comm: "other", Exe: "/usr/bin/other", StartTicks: 99999,
			Cgroup: "0::/system.slice/cri-containerd-" + idA + ".scope\n"},
		// A host process.
		procfstest.Proc{PID: 400, PPID: 1, Comm: "ls", Exe: "/usr/bin/ls", StartTicks: 950, Cgroup: "0::/user.slice\n"},
	); err != nil {
		t.Fatal(err)
	}
	r := ExecResolver{FS: procfs.New(root, procfs.Options{})}
	ticks := func(n uint64) time.Duration { return time.Duration(n) * 10 * time.Millisecond }

	tests := []struct {
		name       string
		exec       exectrace.Exec
		wantSource ExecSource
		wantID     string
		wantExe    string
		wantArgs   []string
	}{
		{"still running: the executable from /proc, the record's arguments, redacted", exectrace.Exec{PID: 200, PPID: 100, StartBoot: ticks(900),
			Filename: "/bin/curl", Comm: "curl", Args: []string{"curl", "--password", "s3cret", "http://y"}, Cgroup: "cri-containerd-" + idA + ".scope"},
			ExecFromProc, idA, "/usr/bin/curl", []string{"curl", "--password", procfs.Redacted, "http://y"}},
		{"executed something else since: the record, not /proc", exectrace.Exec{PID: 200, PPID: 100, StartBoot: ticks(900),
			Filename: "/tmp/evil", Comm: "evil", Args: []string{"/tmp/evil"}},
			ExecFromRecord, idA, "/tmp/evil", []string{"/tmp/evil"}},
		{"gone, a relative path: left relative (unknown to the rules; the parent's directory need not be the exec's)", exectrace.Exec{PID: 203, PPID: 100, StartBoot: ticks(925),
			Filename: "./evil", Comm: "evil", Args: []string{"./evil"}},
			ExecFromRecord, idA, "./evil", []string{"./evil"}},
		{"runc init from a memory file, started from the host: the runtime's", exectrace.Exec{PID: 205, PPID: 1, StartBoot: ticks(927),
			Filename: "/proc/self/fd/5", Comm: "5", Args: []string{"runc", "init"}, Cgroup: "crio-" + idB + ".scope"},
			ExecHost, "", "", nil},
		{"a memory file run from inside the container: the container's", exectrace.Exec{PID: 206, PPID: 100, StartBoot: ticks(928),
			Filename: "/proc/self/fd/3", Comm: "3", Args: []string{"[kworker]"}},
			ExecFromRecord, idA, "/proc/self/fd/3", []string{"[kworker]"}},
		{"gone, the cgroup names the container", exectrace.Exec{PID: 201, PPID: 100, StartBoot: ticks(910), Filename: "/bin/sleep", Comm: "sleep",
			Args: []string{"sleep", "0.01"}, Cgroup: "crio-" + idB + ".scope"},
			ExecFromRecord, idB, "/bin/sleep", []string{"sleep", "0.01"}},
		{"gone on cgroup v1: the parent's container, arguments redacted", exectrace.Exec{PID: 202, PPID: 100, StartBoot: ticks(920), Filename: "/usr/bin/wget",
			Args: []string{"wget", "--password=hunter2", "x"}, ArgsTruncated: true},
			ExecFromRecord, idA, "/usr/bin/wget", []string{"wget", "--password=" + procfs.Redacted, "x"}},
		{"pid reused: the record, not the new process", exectrace.Exec{PID: 300, PPID: 100, StartBoot: ticks(930), Filename: "/tmp/x"},
			ExecFromRecord, idA, "/tmp/x", nil},
		{"on the host", exectrace.Exec{PID: 400, PPID: 1, StartBoot: ticks(950), Filename: "/usr/bin/ls"}, ExecHost, "", "", nil},
		{"gone, parent gone too, no container cgroup", exectrace.Exec{PID: 500, PPID: 499, StartBoot: ticks(960), Filename: "/bin/true"}, ExecHost, "", "", nil},
		{"CRI-O's monitor", exectrace.Exec{PID: 501, PPID: 1, StartBoot: ticks(970), Filename: "/usr/bin/conmon", Cgroup: "crio-conmon-" + idB + ".scope"}, ExecHost, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, src := r.Resolve(tt.exec)
			if src != tt.wantSource {
				t.Fatalf("source %d, want %d (%+v)", src, tt.wantSource, p)
			}
			if src == ExecHost {
				return
			}
			if p.ContainerID != tt.wantID || p.Exe != tt.wantExe || !slices.Equal(p.Args, tt.wantArgs) {
				t.Errorf("container %q exe %q args %q, want %q %q %q", p.ContainerID, p.Exe, p.Args, tt.wantID, tt.wantExe, tt.wantArgs)
			}
			if p.PID != tt.exec.PID || p.StartTicks != tt.exec.StartTicks() {
				t.Errorf("pid %d start %d, want %d %d", p.PID, p.StartTicks, tt.exec.PID, tt.exec.StartTicks())
			}
			if want := time.Unix(btime, 0).Add(ticks(p.StartTicks)); !p.StartTime.Equal(want) {
				t.Errorf("start time %v, want %v", p.StartTime, want)
			}
			if src == ExecFromRecord && p.ArgsTruncated != tt.exec.ArgsTruncated {
				t.Errorf("args truncated %v, want %v", p.ArgsTruncated, tt.exec.ArgsTruncated)
			}
		})
	}
}

// TestExecResolverSeq: with the kernel's exec counts, a /proc read is
// trusted only while the count is the record's, whatever the names say.
func TestExecResolverSeq(t *testing.T) {
	id := strings.Repeat("a", 64)
	root := t.TempDir()
	if err := procfstest.Build(root, 1_700_000_000,
		procfstest.Proc{PID: 100, PPID: 1, Comm: "sh", Exe: "/usr/bin/dash", StartTicks: 500, Cgroup: "0::/system.slice/cri-containerd-" + id + ".scope\n"},
		// A dropped /tmp/x/sh that executed the real shell since: same
		// command name, sh.
		procfstest.Proc{PID: 200, PPID: 100, Comm: "sh", Exe: "/usr/bin/dash", StartTicks: 900, Cgroup: "0::/system.slice/cri-containerd-" + id + ".scope\n"},
	); err != nil {
		t.Fatal(err)
	}
	counts := map[int]uint64{200: 2}
	r := ExecResolver{FS: procfs.New(root, procfs.Options{}), Seq: func(pid int) (uint64, bool) { n, ok := counts[pid]; return n, ok }}
	first := exectrace.Exec{PID: 200, PPID: 100, StartBoot: 9 * time.Second, Filename: "/tmp/x/sh", Comm: "sh", Args: []string{"/tmp/x/sh"}, Seq: 1}
	if p, src := r.Resolve(first); src != ExecFromRecord || p.Exe != "/tmp/x/sh" {
		t.Errorf("the first exec, counted 1 while the kernel counts 2: %q from %d, want /tmp/x/sh from the record", p.Exe, src)
	}
	second := first
	second.Filename, second.Seq = "/bin/sh", 2
	if p, src := r.Resolve(second); src != ExecFromProc || p.Exe != "/usr/bin/dash" {
		t.Errorf("the second exec, still the current one: %q from %d, want /usr/bin/dash from /proc", p.Exe, src)
	}
}

func TestRuntimeInit(t *testing.T) {
	tests := []struct {
		exe, container, parent string
		want                   bool
	}{
		{"/memfd:runc_cloned:/proc/self/exe (deleted)", "c1", "", true},
		{"/proc/self/fd/5", "c1", "", true},
		{"/memfd:x (deleted)", "c1", "c1", false}, // from inside the container
		{"/usr/bin/sh", "c1", "", false},          // kubectl exec of a shell
		{"/proc/self/fd/5", "", "", false},        // the host's
	}
	for _, tt := range tests {
		if got := RuntimeInit(tt.exe, tt.container, tt.parent); got != tt.want {
			t.Errorf("RuntimeInit(%q, %q, %q) = %t, want %t", tt.exe, tt.container, tt.parent, got, tt.want)
		}
	}
}
