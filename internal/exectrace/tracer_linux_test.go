package exectrace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
)

// openTracer opens a tracer, skipping where eBPF cannot be used (not root,
// no BTF), except in CI, whose machines must trace.
func openTracer(t *testing.T) *Tracer {
	t.Helper()
	tr, err := Open(0)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI machines must trace execs with eBPF: %v", err)
		}
		t.Skipf("eBPF exec tracing is not available here (run as root on a kernel with BTF): %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestKernelOffsets(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI machines must have kernel BTF: %v", err)
		}
		t.Skipf("no kernel BTF: %v", err)
	}
	o, err := kernelOffsets()
	if err != nil {
		t.Fatal(err)
	}
	// Fields that are not the first of their struct have non-zero offsets.
	for name, off := range map[string]int32{"task_struct.real_parent": o.taskRealParent, "task_struct.tgid": o.taskTgid,
		"task_struct.mm": o.taskMM, "mm_struct.arg_end": o.mmArgEnd, "cgroup.kn": o.cgroupKn} {
		if off <= 0 {
			t.Errorf("%s at offset %d", name, off)
		}
	}
}

func TestOffsetsFromIncompleteBTF(t *testing.T) {
	var b btf.Builder
	u64 := &btf.Int{Name: "u64", Size: 8}
	if _, err := b.Add(&btf.Struct{Name: "task_struct", Size: 16, Members: []btf.Member{
		{Name: "tgid", Type: u64},
		{Name: "", Type: &btf.Struct{Size: 8, Members: []btf.Member{{Name: "mm", Type: u64}}}, Offset: 64},
	}}); err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	o, err := offsetsFrom(spec)
	if err == nil {
		t.Fatal("offsets from a BTF without most structures: no error")
	}
	if o.taskMM != 8 {
		t.Errorf("task_struct.mm inside an anonymous struct at offset %d, want 8", o.taskMM)
	}
	for _, want := range []string{"struct mm_struct", "struct task_struct has no field real_parent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestShortProcessIsRecorded runs a process that lives about 10 ms and is
// gone before anyone could read /proc for it: the tracer still has its pid,
// parent, path, arguments and start time.
func TestShortProcessIsRecorded(t *testing.T) {
	tr := openTracer(t)
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan Exec, 1024)
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, func(e Exec) {
			select {
			case got <- e:
			default:
			}
		})
	}()

	marker := fmt.Sprintf("0.0%d", 10000+os.Getpid()%10000) // a unique sleep of about 10 ms
	cmd := exec.Command("/bin/sleep", marker)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid %d is still in /proc (%v): the test proves nothing", pid, err)
	}
	deadline := time.After(30 * time.Second)
	var e Exec
wait:
	for {
		select {
		case e = <-got:
			if e.PID == pid {
				break wait
			}
		case <-deadline:
			t.Fatalf("no exec record for pid %d", pid)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}

	if e.PPID != os.Getpid() {
		t.Errorf("PPID %d, want the test's pid %d", e.PPID, os.Getpid())
	}
	if e.Filename != "/bin/sleep" || e.Comm != "sleep" {
		t.Errorf("filename %q comm %q, want /bin/sleep and sleep", e.Filename, e.Comm)
	}
	if !slices.Equal(e.Args, []string{"/bin/sleep", marker}) || e.ArgsTruncated {
		t.Errorf("args %q (truncated %v), want [/bin/sleep %s]", e.Args, e.ArgsTruncated, marker)
	}
	if e.UID != uint32(os.Getuid()) {
		t.Errorf("uid %d, want %d", e.UID, os.Getuid())
	}
	// The start time is since boot, as /proc/self/stat counts it: between
	// this process's start and now.
	self, err := startTicks("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if e.StartTicks() < self {
		t.Errorf("start tick %d before the test process's %d", e.StartTicks(), self)
	}
	// The cgroup's name is the last element of the unified hierarchy's path
	// of this process (which the child inherited).
	// The root cgroup's name is empty.
	if p, ok := unifiedCgroup(t); ok {
		want := path.Base(p)
		if p == "/" {
			want = ""
		}
		if e.Cgroup != want {
			t.Errorf("cgroup %q, want %q (from /proc/self/cgroup %q)", e.Cgroup, want, p)
		}
	}
	if n := tr.Lost(); n != 0 {
		t.Errorf("%d execs lost with a nearly idle ring buffer", n)
	}
}

// TestExecCount: a process that executes twice (sh, then exec true) gives
// two records of one pid, counted one after the other, and the tracer
// tells the count.
func TestExecCount(t *testing.T) {
	tr := openTracer(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan Exec, 1024)
	go tr.Run(ctx, func(e Exec) {
		select {
		case got <- e:
		default:
		}
	})
	cmd := exec.Command("/bin/sh", "-c", "exec /bin/true palisade-exec-count")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var mine []Exec
	deadline := time.After(30 * time.Second)
	for len(mine) < 2 {
		select {
		case e := <-got:
			if e.PID == pid {
				mine = append(mine, e)
			}
		case <-deadline:
			t.Fatalf("records of pid %d: %+v, want two", pid, mine)
		}
	}
	if mine[0].Comm != "sh" || mine[1].Comm != "true" || mine[0].Seq < 1 || mine[1].Seq != mine[0].Seq+1 {
		t.Errorf("records %q seq %d, %q seq %d: want sh then true, counted one after the other", mine[0].Comm, mine[0].Seq, mine[1].Comm, mine[1].Seq)
	}
	if n, ok := tr.Seq(pid); !ok || n != mine[1].Seq {
		t.Errorf("Seq(%d) = %d, %t; want %d", pid, n, ok, mine[1].Seq)
	}
}

func TestRunEndsOnClose(t *testing.T) {
	tr := openTracer(t)
	done := make(chan error, 1)
	go func() { done <- tr.Run(context.Background(), func(Exec) {}) }()
	tr.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Close returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	tr.Close() // twice is fine
}

func startTicks(statPath string) (uint64, error) {
	b, err := os.ReadFile(statPath)
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	var v uint64
	_, err = fmt.Sscan(f[19], &v) // field 22, counting from the state (field 3)
	return v, err
}

func unifiedCgroup(t *testing.T) (string, bool) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return p, true
		}
	}
	return "", false
}
