package agent

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procfs"
)

// fakeProc serves a scripted /proc.
type fakeProc struct {
	mu    sync.Mutex
	procs []procfs.Process
	socks map[int][]procfs.Socket
}

func (f *fakeProc) Processes(context.Context) ([]procfs.Process, procfs.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]procfs.Process(nil), f.procs...), procfs.Stats{Processes: len(f.procs)}, nil
}

func (f *fakeProc) Sockets(_ context.Context, pid int) ([]procfs.Socket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.socks[pid]
	if !ok {
		return nil, procfs.ErrNoProcess
	}
	return s, nil
}

func (f *fakeProc) set(procs ...procfs.Process) {
	f.mu.Lock()
	f.procs = procs
	f.mu.Unlock()
}

type sink struct {
	mu      sync.Mutex
	fail    bool
	reports []observation.Report
}

func (s *sink) send(_ context.Context, r *observation.Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("server away")
	}
	if err := r.Validate(); err != nil {
		return err
	}
	s.reports = append(s.reports, *r)
	return nil
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestWindowsFlowsAndExitedProcesses(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	now := start
	web := procfs.Process{PID: 10, PPID: 1, Exe: "/usr/sbin/nginx", ContainerID: "c1", NetNS: 111, StartTime: start}
	sh := procfs.Process{PID: 11, PPID: 10, Exe: "/bin/sh", ContainerID: "c1", NetNS: 111, StartTime: start.Add(time.Second)}
	host := procfs.Process{PID: 1, Exe: "/sbin/init"}
	p := &fakeProc{socks: map[int][]procfs.Socket{10: {
		{Proto: "tcp", Local: ap("10.0.0.1:80"), Remote: ap("0.0.0.0:0"), State: "LISTEN"},
		{Proto: "tcp", Local: ap("10.0.0.1:80"), Remote: ap("10.0.0.9:40000"), State: "ESTABLISHED"},
		{Proto: "tcp", Local: ap("10.0.0.1:41000"), Remote: ap("10.0.0.2:5432"), State: "ESTABLISHED"},
		{Proto: "udp", Local: ap("10.0.0.1:5353"), Remote: ap("0.0.0.0:0"), State: "UNCONN"},
	}}}
	s := &sink{}
	a := New(Options{Proc: p, Node: "n1", Cluster: "c", Send: s.send, Now: func() time.Time { return now }})
	p.set(web, sh, host)
	a.Collect(context.Background())
	now = now.Add(5 * time.Second)
	p.set(web, host) // the shell exited
	a.Collect(context.Background())
	a.CloseWindow()
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.reports) != 1 {
		t.Fatalf("%d reports", len(s.reports))
	}
	r := s.reports[0]
	if len(r.Processes) != 2 {
		t.Fatalf("processes = %+v, want nginx and the exited shell (not the host's init)", r.Processes)
	}
	for _, pr := range r.Processes {
		if want := pr.Exe == "/usr/sbin/nginx"; pr.Running != want {
			t.Errorf("%s running = %v", pr.Exe, pr.Running)
		}
	}
	if len(r.Flows) != 2 {
		t.Fatalf("flows = %+v, want the two established connections", r.Flows)
	}
	for _, f := range r.Flows {
		inbound := f.Local.Port() == 80
		if f.Outbound == inbound || f.Count != 2 || !f.LastSeen.Equal(start.Add(5*time.Second)) {
			t.Errorf("flow %+v", f)
		}
	}
	// The next window: the shell, reported once, is gone; nginx stays.
	now = now.Add(30 * time.Second)
	a.Collect(context.Background())
	a.CloseWindow()
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := s.reports[1]; len(r.Processes) != 1 || r.Processes[0].Exe != "/usr/sbin/nginx" || !r.WindowStart.Equal(start.Add(5*time.Second)) {
		t.Errorf("second report %+v", r)
	}
}

func TestBufferIsBoundedWhileTheServerIsAway(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := &fakeProc{socks: map[int][]procfs.Socket{}}
	p.set(procfs.Process{PID: 10, PPID: 1, Exe: "/app", ContainerID: "c1"})
	s := &sink{fail: true}
	a := New(Options{Proc: p, Node: "n1", Send: s.send, MaxBuffered: 3, Now: func() time.Time { return now }})
	for range 10 { // "an hour" of windows with the server down
		now = now.Add(time.Minute)
		a.Collect(context.Background())
		a.CloseWindow()
		if err := a.Flush(context.Background()); err == nil {
			t.Fatal("Flush succeeded with the server away")
		}
	}
	st := a.Status()
	if st.Buffered != 3 || st.Dropped != 7 {
		t.Fatalf("status %+v, want 3 buffered and 7 observations dropped", st)
	}
	s.mu.Lock()
	s.fail = false
	s.mu.Unlock()
	now = now.Add(time.Minute)
	a.Collect(context.Background())
	a.CloseWindow()
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The window closed on return makes a fourth report: the oldest
	// buffered one goes too.
	if len(s.reports) != 3 || s.reports[0].Dropped != 8 || a.Status().Buffered != 0 || a.Status().Dropped != 0 {
		t.Errorf("after the server came back: %d reports, first dropped %d, status %+v", len(s.reports), s.reports[0].Dropped, a.Status())
	}
}

// An exec keeps the pid and start time but is a new process image: the
// old record ends, a new one begins.
func TestExecIsANewRecord(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := &fakeProc{socks: map[int][]procfs.Socket{}}
	s := &sink{}
	a := New(Options{Proc: p, Node: "n1", Send: s.send, Now: func() time.Time { return now }})
	p.set(procfs.Process{PID: 20, PPID: 1, Exe: "/bin/dash", ContainerID: "c1", StartTicks: 7})
	a.Collect(context.Background())
	now = now.Add(time.Second)
	p.set(procfs.Process{PID: 20, PPID: 1, Exe: "/usr/bin/nc", ContainerID: "c1", StartTicks: 7})
	a.Collect(context.Background())
	a.CloseWindow()
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, pr := range s.reports[0].Processes {
		got[pr.Exe] = pr.Running
	}
	if len(got) != 2 || got["/bin/dash"] || !got["/usr/bin/nc"] {
		t.Errorf("after the exec: %v, want dash ended and nc running", got)
	}
}

// A process from another source (an exec event) joins the window; one
// already gone is reported once as exited, one still running is marked
// exited by the next poll that misses it.
func TestObserve(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := &fakeProc{socks: map[int][]procfs.Socket{}}
	s := &sink{}
	a := New(Options{Proc: p, Node: "n1", Send: s.send, Now: func() time.Time { return now }})
	a.Observe(procfs.Process{PID: 30, PPID: 1, Exe: "/usr/bin/curl", ContainerID: "c1", StartTicks: 9}, false)
	a.Observe(procfs.Process{PID: 31, PPID: 1, Exe: "/bin/sleep", ContainerID: "c1", StartTicks: 10}, true)
	a.Observe(procfs.Process{PID: 32, PPID: 1, Exe: "/usr/bin/ls"}, false) // the host's: not reported
	a.CloseWindow()
	now = now.Add(time.Second)
	a.Collect(t.Context()) // /proc has neither
	a.CloseWindow()
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := func(r observation.Report) map[string]bool {
		m := map[string]bool{}
		for _, pr := range r.Processes {
			m[pr.Exe] = pr.Running
		}
		return m
	}
	if len(s.reports) != 2 {
		t.Fatalf("%d reports", len(s.reports))
	}
	if diff := cmp.Diff(map[string]bool{"/usr/bin/curl": false, "/bin/sleep": true}, got(s.reports[0])); diff != "" {
		t.Errorf("first window (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"/bin/sleep": false}, got(s.reports[1])); diff != "" {
		t.Errorf("second window (-want +got):\n%s", diff)
	}
}

func TestDegradeSwitchesToPolling(t *testing.T) {
	s := &sink{}
	a := New(Options{Proc: &fakeProc{socks: map[int][]procfs.Socket{}}, Node: "n1", Send: s.send, Collection: "ebpf"})
	a.CloseWindow()
	a.Degrade("eBPF exec tracing stopped")
	a.CloseWindow()
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(s.reports) != 2 {
		t.Fatalf("%d reports", len(s.reports))
	}
	if r := s.reports[0]; r.Collection != "ebpf" || len(r.Degraded) != 0 {
		t.Errorf("before: collection %q degraded %q", r.Collection, r.Degraded)
	}
	if r := s.reports[1]; r.Collection != "polling" || !slices.Equal(r.Degraded, []string{"eBPF exec tracing stopped"}) {
		t.Errorf("after: collection %q degraded %q", r.Collection, r.Degraded)
	}
}
