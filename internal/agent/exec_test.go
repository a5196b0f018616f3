package agent

import (
	"os"
	"path/filepath"
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
	// The shell's working directory, where "./evil" is looked up.
	if err := os.Symlink("/tmp/work", filepath.Join(root, "100", "cwd")); err != nil {
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
		{"gone, a relative path: joined to the parent's working directory", exectrace.Exec{PID: 203, PPID: 100, StartBoot: ticks(925),
			Filename: "./evil", Comm: "evil", Args: []string{"./evil"}},
			ExecFromRecord, idA, "/tmp/work/evil", []string{"./evil"}},
		{"gone, a relative path, the parent gone too: left relative (unknown to the rules)", exectrace.Exec{PID: 204, PPID: 299, StartBoot: ticks(926),
			Filename: "evil", Comm: "evil", Cgroup: "crio-" + idB + ".scope"},
			ExecFromRecord, idB, "evil", nil},
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
