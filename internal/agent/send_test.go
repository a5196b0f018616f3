package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procfs"
)

// countingProc is a fakeProc that counts polls and signals each one on
// tick without ever blocking the poll.
type countingProc struct {
	fakeProc
	polls atomic.Int64
	tick  chan struct{}
}

func (c *countingProc) Processes(ctx context.Context) ([]procfs.Process, procfs.Stats, error) {
	c.polls.Add(1)
	select {
	case c.tick <- struct{}{}:
	default: // a signal is already pending
	}
	return c.fakeProc.Processes(ctx)
}

// waitPolls waits until c has been polled n times, failing the test if
// that takes absurdly long (polling has stopped).
func (c *countingProc) waitPolls(t *testing.T, n int64) {
	t.Helper()
	for c.polls.Load() < n {
		select {
		case <-c.tick:
		case <-time.After(time.Minute):
			t.Fatalf("polling stopped at %d polls, want %d", c.polls.Load(), n)
		}
	}
}

// A send that hangs until its context ends (a black-holed server) does
// not stop polling: Collect keeps running while it hangs.
func TestAHangingSendDoesNotStopPolling(t *testing.T) {
	p := &countingProc{tick: make(chan struct{}, 1)}
	p.set(procfs.Process{PID: 10, PPID: 1, Exe: "/app", ContainerID: "c1"})
	started, release := make(chan struct{}), make(chan struct{})
	var sends atomic.Int64
	send := func(ctx context.Context, _ *observation.Report) error {
		if sends.Add(1) == 1 {
			close(started)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-release: // lets the test end without the 5 s final flush
			return errors.New("server away")
		}
	}
	a := New(Options{Proc: p, Node: "n1", Send: send, Interval: time.Millisecond, ReportInterval: time.Millisecond, MaxBuffered: 4})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("no report was ever sent")
	}
	from := p.polls.Load()
	p.waitPolls(t, from+50)
	if n := sends.Load(); n != 1 {
		t.Errorf("%d sends started, want the one still hanging", n)
	}
	if st := a.Status(); st.Buffered > 4 {
		t.Errorf("buffered %d reports, want at most 4", st.Buffered)
	}
	close(release)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.SendFailures == 0 || st.LastError == "" {
		t.Errorf("status after the hanging send %+v, want failures counted", st)
	}
}

// When Run stops, it closes the window and sends it.
func TestRunSendsTheLastWindowWhenItStops(t *testing.T) {
	p := &countingProc{tick: make(chan struct{}, 1)}
	p.set(procfs.Process{PID: 10, PPID: 1, Exe: "/app", ContainerID: "c1"})
	s := &sink{}
	a := New(Options{Proc: p, Node: "n1", Send: s.send, Interval: time.Hour, ReportInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	p.waitPolls(t, 1)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(s.reports) != 1 || len(s.reports[0].Processes) != 1 || s.reports[0].Processes[0].Exe != "/app" {
		t.Errorf("reports %+v, want the last window with /app", s.reports)
	}
}

// Thousands of windows with the server away: the buffer stays at its
// bound, the counters say what happened, and when the server comes back
// the kept reports arrive oldest first, the first carrying the count of
// what was dropped.
func TestServerAwayForThousandsOfWindows(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	now := start
	p := &fakeProc{socks: map[int][]procfs.Socket{10: {
		{Proto: "tcp", Local: ap("10.0.0.1:41000"), Remote: ap("10.0.0.2:5432"), State: "ESTABLISHED"},
	}}}
	p.set(procfs.Process{PID: 10, PPID: 1, Exe: "/app", ContainerID: "c1", NetNS: 5},
		procfs.Process{PID: 11, PPID: 10, Exe: "/app-worker", ContainerID: "c1", NetNS: 5})
	s := &sink{fail: true}
	a := New(Options{Proc: p, Node: "n1", Send: s.send, Now: func() time.Time { return now }})
	const windows = 5000
	for range windows {
		now = now.Add(2 * time.Second)
		a.Collect(t.Context())
		a.CloseWindow()
		if err := a.Flush(t.Context()); err == nil {
			t.Fatal("Flush succeeded with the server away")
		}
	}
	const perWindow = 3 // two processes, one flow
	dropped := uint64((windows - DefaultMaxBuffered) * perWindow)
	want := Status{Buffered: DefaultMaxBuffered, Dropped: dropped, DroppedTotal: dropped,
		SendFailures: windows, ConsecutiveFailures: windows, LastError: "server away",
		Tracked: 2, Stats: procfs.Stats{Processes: 2}}
	got := a.Status()
	// All but the newest report are packed, and small.
	if got.BufferedBytes == 0 || got.BufferedBytes > 1000*DefaultMaxBuffered {
		t.Errorf("%d bytes buffered in %d reports", got.BufferedBytes, got.Buffered)
	}
	got.BufferedBytes = 0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("status with the server away (-want +got):\n%s", diff)
	}

	s.mu.Lock()
	s.fail = false
	s.mu.Unlock()
	now = now.Add(time.Second)
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(s.reports) != DefaultMaxBuffered {
		t.Fatalf("%d reports delivered, want the %d kept", len(s.reports), DefaultMaxBuffered)
	}
	firstKept := start.Add((windows - DefaultMaxBuffered) * 2 * time.Second)
	for i, r := range s.reports {
		if want := firstKept.Add(time.Duration(i) * 2 * time.Second); !r.WindowStart.Equal(want) {
			t.Fatalf("report %d covers the window from %s, want %s (oldest first)", i, r.WindowStart, want)
		}
		if want := map[bool]uint64{true: dropped}[i == 0]; r.Dropped != want {
			t.Errorf("report %d says %d dropped, want %d", i, r.Dropped, want)
		}
	}
	want = Status{DroppedTotal: dropped, SendFailures: windows, LastSent: now, LastError: "server away",
		Tracked: 2, Stats: procfs.Stats{Processes: 2}}
	if diff := cmp.Diff(want, a.Status()); diff != "" {
		t.Errorf("status after recovery (-want +got):\n%s", diff)
	}
}

// Windows closed while a send is in flight can push the report being sent
// out of the full buffer: if that send then succeeds, the report is not
// counted as dropped, and what was really dropped meanwhile is reported
// in the next report.
func TestDropsDuringASendAreReportedNext(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := &fakeProc{socks: map[int][]procfs.Socket{}}
	p.set(procfs.Process{PID: 10, PPID: 1, Exe: "/app", ContainerID: "c1"})
	var (
		a       *Agent
		got     []observation.Report
		inSends int
	)
	send := func(_ context.Context, r *observation.Report) error {
		inSends++
		if inSends == 1 { // two windows close while the first report is on its way
			for range 2 {
				now = now.Add(time.Second)
				a.Collect(context.Background())
				a.CloseWindow()
			}
		}
		got = append(got, *r)
		return nil
	}
	a = New(Options{Proc: p, Node: "n1", Send: send, MaxBuffered: 1, Now: func() time.Time { return now }})
	a.Collect(t.Context())
	a.CloseWindow()
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The first report arrived; the second was pushed out by the third,
	// which says so.
	if len(got) != 2 || got[0].Dropped != 0 || got[1].Dropped != 1 {
		t.Fatalf("reports %+v, want two, the second saying one observation was dropped", got)
	}
	if st := a.Status(); st.Buffered != 0 || st.Dropped != 0 || st.DroppedTotal != 1 {
		t.Errorf("status %+v, want nothing buffered or pending, one dropped in total", st)
	}
}

// Failing sends are logged at most once a minute, with the counters, and
// the recovery once.
func TestSendFailuresAreLoggedRateLimited(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := &fakeProc{socks: map[int][]procfs.Socket{}}
	s := &sink{fail: true}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	a := New(Options{Proc: p, Node: "n1", Send: s.send, Logger: log, Now: func() time.Time { return now }})
	for range 10 { // 10 attempts within the first minute: one warning
		a.CloseWindow()
		_ = a.Flush(t.Context())
		now = now.Add(5 * time.Second)
	}
	now = now.Add(20 * time.Second) // a minute after the first warning: another
	a.CloseWindow()
	_ = a.Flush(t.Context())
	s.mu.Lock()
	s.fail = false
	s.mu.Unlock()
	a.CloseWindow()
	if err := a.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`level=WARN msg="sending reports fails; they stay buffered" buffered=1 bufferedKB=0 dropped=0 droppedTotal=0 sendFailures=1 consecutiveFailures=1 lastSent=never lastError="server away"`,
		`level=WARN msg="sending reports fails; they stay buffered" buffered=11 bufferedKB=1 dropped=0 droppedTotal=0 sendFailures=11 consecutiveFailures=11 lastSent=never lastError="server away"`,
		`level=INFO msg="sending reports works again" buffered=11 bufferedKB=1 dropped=0 droppedTotal=0 sendFailures=11 consecutiveFailures=0 lastSent=2026-11-25T10:01:10Z lastError="server away"`,
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(logs.String()), "\n")); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestBackoff(t *testing.T) {
	for _, tt := range []struct {
		name string
		base time.Duration
		want []time.Duration
	}{
		{"doubles from the report interval to the cap", 30 * time.Second,
			[]time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}},
		{"a report interval over the cap is the cap", 10 * time.Minute,
			[]time.Duration{10 * time.Minute, 10 * time.Minute}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []time.Duration
			var d time.Duration
			for range tt.want {
				d = nextBackoff(d, tt.base)
				got = append(got, d)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("backoff (-want +got):\n%s", diff)
			}
			for _, d := range got {
				if j := jitter(d); j < d/2 || j > d {
					t.Errorf("jitter(%s) = %s, want within [%s, %s]", d, j, d/2, d)
				}
			}
		})
	}
}

func TestPackRoundTrip(t *testing.T) {
	r := bigReport()
	b, err := pack(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got, cmp.Comparer(func(x, y netip.AddrPort) bool { return x == y })); diff != "" {
		t.Errorf("unpacked (-want +got):\n%s", diff)
	}
	if _, err := unpack(b[:len(b)-4]); err == nil {
		t.Error("a truncated report unpacked")
	}
}
