// Package agent is Palisade's node agent: it polls a /proc tree for the
// processes running in containers and the connections their network
// namespaces hold, aggregates them over a window (first seen, last seen,
// count) and sends one observation.Report per window to the server.
//
// Polling and sending are separate: closing a window only appends its
// report to a bounded buffer (the oldest are dropped, and counted, when it
// is full), and one sender goroutine delivers the buffer oldest first,
// backing off while the server fails. A server that is slow or away never
// delays a poll. A report still buffered when the next window closes is
// kept packed (gzip JSON, about 40 times smaller on a busy node), so an
// hour of reports fits in a few megabytes.
package agent

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procfs"
)

// Defaults of Options.
const (
	DefaultInterval       = 5 * time.Second
	DefaultReportInterval = 30 * time.Second
	DefaultMaxBuffered    = 120 // an hour of reports at the default interval
	// maxTracked bounds the processes and flows of one window.
	maxTracked = observation.MaxProcesses
	maxFlows   = observation.MaxFlows
	// maxBackoff caps the wait between two attempts while the server
	// fails (unless the report interval is longer).
	maxBackoff = 5 * time.Minute
	// finalFlush bounds the last attempt to send when the agent stops.
	finalFlush = 5 * time.Second
	// warnEvery rate-limits the warning that sends fail.
	warnEvery = time.Minute
	// maxErrLen bounds Status.LastError.
	maxErrLen = 200
)

// Proc is the part of procfs.FS the agent reads.
type Proc interface {
	Processes(ctx context.Context) ([]procfs.Process, procfs.Stats, error)
	Sockets(ctx context.Context, pid int) ([]procfs.Socket, error)
}

// Options configures an Agent. Proc, Node and Send are required.
type Options struct {
	Proc    Proc
	Node    string
	Cluster string
	Version string
	// Send delivers one report; an error keeps it buffered for later. It
	// runs on the sender goroutine, never on the polling one.
	Send func(ctx context.Context, r *observation.Report) error
	// Interval is how often /proc is read; ReportInterval how often a
	// window is closed into a report (and the first wait after a failed
	// send, doubling up to a few minutes).
	Interval, ReportInterval time.Duration
	// MaxBuffered bounds the reports kept while the server is away.
	MaxBuffered int
	// Collection is how processes are seen: "ebpf" when exec events are
	// Observed besides polling, "polling" (the default) otherwise.
	Collection string
	// Degraded says why the agent sees less than it could (no eBPF: short
	// processes between two polls are missed).
	Degraded []string
	Logger   *slog.Logger
	Now      func() time.Time
}

// Agent observes one node.
type Agent struct {
	opts Options
	log  *slog.Logger
	// ready wakes the sender when a window was closed.
	ready chan struct{}
	// sending serialises Flush: reports go out one at a time, in order.
	sending sync.Mutex

	mu          sync.Mutex
	windowStart time.Time
	procs       map[procKey]*observation.Process
	flows       map[flowKey]*observation.Flow
	buffer      []*entry
	lastStats   procfs.Stats
	// dropped counts observations lost and not yet reported to the
	// server; droppedTotal those lost since start.
	dropped, droppedTotal uint64
	failures, consecutive uint64
	lastSent              time.Time
	lastErr               string
	lastWarn              time.Time
}

// procKey identifies a process image across polls: the pid with its start
// in clock ticks since boot (which, unlike the wall-clock start, does not
// move when the clock is stepped) and its executable, so that an exec (same
// pid, same start) ends the old record and opens a new one.
type procKey struct {
	containerID string
	pid         int
	startTicks  uint64
	exe         string
}

// entry is one buffered report: as built, or packed once it has waited
// for a window.
type entry struct {
	r       *observation.Report
	packed  []byte
	records uint64 // processes and flows: what dropping it loses
}

type flowKey struct {
	containerID   string
	proto         string
	local, remote netip.AddrPort
}

// New returns an agent.
func New(opts Options) *Agent {
	if opts.Proc == nil || opts.Node == "" || opts.Send == nil {
		panic("agent.New: Options.Proc, Options.Node and Options.Send are required")
	}
	opts.Interval = cmp.Or(opts.Interval, DefaultInterval)
	opts.ReportInterval = cmp.Or(opts.ReportInterval, DefaultReportInterval)
	opts.MaxBuffered = cmp.Or(opts.MaxBuffered, DefaultMaxBuffered)
	opts.Collection = cmp.Or(opts.Collection, "polling")
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Agent{opts: opts, log: opts.Logger, ready: make(chan struct{}, 1),
		procs: map[procKey]*observation.Process{}, flows: map[flowKey]*observation.Flow{}}
	a.windowStart = opts.Now().UTC()
	return a
}

// Run polls and closes windows until ctx ends, while a sender goroutine
// delivers the closed windows. When ctx ends it closes the window and
// tries once more to send what is buffered, for at most 5 s.
func (a *Agent) Run(ctx context.Context) error {
	sendCtx, stopSender := context.WithCancel(ctx)
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		a.sendLoop(sendCtx)
	}()
	poll := time.NewTicker(a.opts.Interval)
	defer poll.Stop()
	report := time.NewTicker(a.opts.ReportInterval)
	defer report.Stop()
	a.Collect(ctx)
	for {
		select {
		case <-ctx.Done():
			stopSender()
			<-senderDone
			a.CloseWindow()
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlush)
			err := a.Flush(flushCtx)
			cancel()
			if err != nil {
				a.log.Warn("agent stopped with reports unsent", a.counters()...)
			}
			return nil
		case <-poll.C:
			a.Collect(ctx)
		case <-report.C:
			a.CloseWindow()
			select {
			case a.ready <- struct{}{}:
			default: // the sender is already due to look
			}
		}
	}
}

// sendLoop flushes the buffer whenever a window closes; after a failure it
// waits (the report interval, doubling up to maxBackoff, with jitter) and
// ignores closed windows until the wait is over.
func (a *Agent) sendLoop(ctx context.Context) {
	var delay time.Duration
	for {
		if delay == 0 {
			select {
			case <-ctx.Done():
				return
			case <-a.ready:
			}
		} else {
			t := time.NewTimer(jitter(delay))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if err := a.Flush(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			delay = nextBackoff(delay, a.opts.ReportInterval)
		} else {
			delay = 0
		}
	}
}

// nextBackoff is the wait after one more failure: base first, then
// doubling, capped at maxBackoff (or base, if longer).
func nextBackoff(prev, base time.Duration) time.Duration {
	if prev == 0 {
		return base
	}
	return min(2*prev, max(maxBackoff, base))
}

// jitter spreads d over [d/2, d], so that the agents of a whole cluster do
// not all retry at once when the server comes back.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// Collect reads /proc once into the current window.
func (a *Agent) Collect(ctx context.Context) {
	now := a.opts.Now().UTC()
	procs, stats, err := a.opts.Proc.Processes(ctx)
	if err != nil && len(procs) == 0 {
		a.log.Warn("reading processes", "err", err)
		return
	}
	// One process per network namespace is enough to read its sockets; the
	// host's namespace (pid 1's) is skipped: hostNetwork pods share it, and
	// the node's own sockets are not theirs.
	netns := map[uint64]procfs.Process{}
	var hostNetNS uint64
	containerOf := make(map[int]string, len(procs))
	for _, p := range procs {
		if p.PID == 1 {
			hostNetNS = p.NetNS
		}
		containerOf[p.PID] = p.ContainerID
	}
	a.mu.Lock()
	a.lastStats = stats
	for _, p := range a.procs {
		p.Running = false
	}
	for _, p := range procs {
		if RuntimeInit(p.Exe, p.ContainerID, containerOf[p.PPID]) {
			continue
		}
		if a.observe(p, now) == nil {
			continue
		}
		if p.NetNS != 0 && p.NetNS != hostNetNS {
			if _, ok := netns[p.NetNS]; !ok {
				netns[p.NetNS] = p
			}
		}
	}
	a.mu.Unlock()
	for _, p := range netns {
		socks, err := a.opts.Proc.Sockets(ctx, p.PID)
		if err != nil {
			continue // the process exited, or its tables are unreadable
		}
		a.addFlows(p.ContainerID, socks, now)
	}
}

// Observe records one process seen by another source than polling (an
// exec event, say) in the current window: running if it still is, else
// as exited (reported once). A running one that Collect no longer finds
// is marked exited then, as polled ones are.
func (a *Agent) Observe(p procfs.Process, running bool) {
	now := a.opts.Now().UTC()
	a.mu.Lock()
	defer a.mu.Unlock()
	if o := a.observe(p, now); o != nil {
		o.Running = running
	}
}

// Degrade switches the agent to polling only, from the next report on,
// with the reason why (an exec tracer that stopped).
func (a *Agent) Degrade(reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.opts.Collection = "polling"
	a.opts.Degraded = append(slices.Clip(a.opts.Degraded), reason)
}

// Missed counts n observations another source lost before they reached
// the agent (exec events the kernel could not queue), as dropped ones.
func (a *Agent) Missed(n uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.drop(n)
}

// observe records p as running at now, under a.mu, and returns its record;
// nil when p is not reported (a host process, a runtime monitor) or the
// window is full.
func (a *Agent) observe(p procfs.Process, now time.Time) *observation.Process {
	if p.ContainerID == "" || p.Kernel || p.MonitorOf != "" {
		return nil // host processes and runtime monitors are not reported
	}
	exe := p.Exe
	if exe == "" {
		exe = p.Comm // unreadable exe: the command name stands in
	}
	if exe == "" {
		return nil
	}
	k := procKey{p.ContainerID, p.PID, p.StartTicks, exe}
	o := a.procs[k]
	if o == nil {
		if len(a.procs) >= maxTracked {
			a.drop(1)
			return nil
		}
		o = &observation.Process{ContainerID: p.ContainerID, PodUID: p.PodUID, PID: p.PID, PPID: p.PPID, Exe: exe, Args: p.Args,
			UID: p.UID, StartedAt: p.StartTime, FirstSeen: now}
		a.procs[k] = o
	}
	o.LastSeen, o.Running = now, true
	return o
}

// addFlows records the connected sockets of one network namespace.
func (a *Agent) addFlows(containerID string, socks []procfs.Socket, now time.Time) {
	listening := map[uint16]bool{}
	for _, s := range socks {
		if s.State == "LISTEN" {
			listening[s.Local.Port()] = true
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range socks {
		proto := "tcp"
		switch s.Proto {
		case "tcp", "tcp6":
			if s.State != "ESTABLISHED" {
				continue
			}
		case "udp", "udp6":
			proto = "udp"
			if s.Remote.Port() == 0 {
				continue // unconnected: no peer to report
			}
		default:
			continue
		}
		k := flowKey{containerID, proto, s.Local, s.Remote}
		f := a.flows[k]
		if f == nil {
			if len(a.flows) >= maxFlows {
				a.drop(1)
				continue
			}
			f = &observation.Flow{ContainerID: containerID, Proto: proto, Local: s.Local, Remote: s.Remote,
				Outbound: !listening[s.Local.Port()], FirstSeen: now}
			a.flows[k] = f
		}
		f.LastSeen = now
		f.Count++
	}
}

// drop counts n lost observations, under a.mu.
func (a *Agent) drop(n uint64) {
	a.dropped += n
	a.droppedTotal += n
}

// CloseWindow turns the current window into a report at the end of the
// buffer and starts the next window. It sends nothing. Reports already
// waiting in the buffer are packed; when the buffer is over MaxBuffered,
// the oldest reports are dropped and their observations counted.
func (a *Agent) CloseWindow() {
	a.mu.Lock()
	now := a.opts.Now().UTC()
	r := &observation.Report{Node: a.opts.Node, Cluster: a.opts.Cluster, Agent: a.opts.Version, SentAt: now, WindowStart: a.windowStart,
		Collection: a.opts.Collection, Degraded: a.opts.Degraded,
		Processes: make([]observation.Process, 0, len(a.procs)), Flows: make([]observation.Flow, 0, len(a.flows))}
	for k, p := range a.procs {
		r.Processes = append(r.Processes, *p)
		if !p.Running {
			delete(a.procs, k) // exited: reported once
		} else {
			p.FirstSeen = now // the next window starts now for those still running
		}
	}
	for _, f := range a.flows {
		r.Flows = append(r.Flows, *f)
	}
	clear(a.flows)
	a.windowStart = now
	slices.SortFunc(r.Processes, func(x, y observation.Process) int {
		return cmp.Or(cmp.Compare(x.ContainerID, y.ContainerID), cmp.Compare(x.PID, y.PID))
	})
	a.buffer = append(a.buffer, &entry{r: r, records: records(r)})
	if over := len(a.buffer) - a.opts.MaxBuffered; over > 0 {
		for _, old := range a.buffer[:over] {
			a.drop(old.records)
		}
		a.buffer = slices.Delete(a.buffer, 0, over)
	}
	var waiting []*entry // built before this window: the server is late
	for _, e := range a.buffer[:len(a.buffer)-1] {
		if e.r != nil {
			waiting = append(waiting, &entry{r: e.r})
		}
	}
	a.mu.Unlock()

	// A buffered report is read-only (Flush sends a copy), so it is
	// packed without the lock, then swapped in if still there.
	for _, w := range waiting {
		b, err := pack(w.r)
		if err != nil {
			continue // kept as it is
		}
		a.mu.Lock()
		for _, e := range a.buffer {
			if e.r == w.r {
				e.r, e.packed = nil, b
			}
		}
		a.mu.Unlock()
	}
}

func records(r *observation.Report) uint64 { return uint64(len(r.Processes) + len(r.Flows)) }

// gzipWriters saves pack allocating a compressor (hundreds of KB) per
// report.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// pack encodes r as gzip JSON.
func pack(r *observation.Report) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return slices.Clip(buf.Bytes()), nil
}

// unpack decodes what pack encoded.
func unpack(b []byte) (*observation.Report, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	r := new(observation.Report)
	if err := json.NewDecoder(zr).Decode(r); err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, zr) // checks the gzip trailer
	return r, err
}

// Flush sends the buffered reports, oldest first, until one fails; that
// one and those after it stay buffered. Each report carries the count of
// observations dropped and not yet reported. Flush returns the error of
// the failed send.
func (a *Agent) Flush(ctx context.Context) error {
	a.sending.Lock()
	defer a.sending.Unlock()
	for {
		a.mu.Lock()
		if len(a.buffer) == 0 {
			a.mu.Unlock()
			return nil
		}
		e := a.buffer[0]
		r, packed, dropped := e.r, e.packed, a.dropped
		a.mu.Unlock()

		var rep *observation.Report
		if r != nil {
			c := *r // the buffered report is shared with CloseWindow's packing
			rep = &c
		} else if u, err := unpack(packed); err == nil {
			rep = u
		} else {
			// Cannot happen short of memory corruption; losing one
			// report beats retrying it forever.
			a.mu.Lock()
			a.buffer = slices.DeleteFunc(a.buffer, func(x *entry) bool { return x == e })
			a.drop(e.records)
			a.mu.Unlock()
			a.log.Error("unpacking a buffered report; dropped", "err", err)
			continue
		}
		rep.Dropped = dropped

		err := a.opts.Send(ctx, rep)

		a.mu.Lock()
		now := a.opts.Now().UTC()
		if err != nil {
			a.failures++
			a.consecutive++
			a.lastErr = shortError(err)
			warn := a.lastWarn.IsZero() || now.Sub(a.lastWarn) >= warnEvery
			if warn {
				a.lastWarn = now
			}
			a.mu.Unlock()
			if warn {
				a.log.Warn("sending reports fails; they stay buffered", a.counters()...)
			}
			return err
		}
		a.dropped -= dropped // drops counted meanwhile wait for the next report
		if i := slices.Index(a.buffer, e); i >= 0 {
			a.buffer = slices.Delete(a.buffer, i, i+1)
		} else {
			// Dropped from the full buffer while it was being sent: it
			// arrived after all.
			a.dropped -= e.records
			a.droppedTotal -= e.records
		}
		recovered := a.consecutive > 0
		a.consecutive = 0
		a.lastSent = now
		a.lastWarn = time.Time{}
		a.mu.Unlock()
		if recovered {
			a.log.Info("sending reports works again", a.counters()...)
		}
	}
}

// shortError is err on one line of at most maxErrLen bytes.
func shortError(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > maxErrLen {
		s = s[:maxErrLen] + "…"
	}
	return s
}

// Status is the agent's own counters.
type Status struct {
	// Buffered is the number of reports waiting to be sent, and
	// BufferedBytes the size of those packed.
	Buffered, BufferedBytes int
	// Dropped counts observations (processes and flows) lost and not yet
	// reported to the server; DroppedTotal those lost since start.
	Dropped, DroppedTotal uint64
	// SendFailures counts failed sends since start; ConsecutiveFailures
	// those since the last success.
	SendFailures, ConsecutiveFailures uint64
	// LastSent is when a report last went through (zero: never);
	// LastError the last send error (kept after a success).
	LastSent  time.Time
	LastError string
	// Tracked is the number of processes in the current window.
	Tracked int
	Stats   procfs.Stats
}

// Status returns the agent's counters.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status()
}

func (a *Agent) status() Status {
	packed := 0
	for _, e := range a.buffer {
		packed += len(e.packed)
	}
	return Status{Buffered: len(a.buffer), BufferedBytes: packed, Dropped: a.dropped, DroppedTotal: a.droppedTotal,
		SendFailures: a.failures, ConsecutiveFailures: a.consecutive, LastSent: a.lastSent, LastError: a.lastErr,
		Tracked: len(a.procs), Stats: a.lastStats}
}

// counters are the Status fields as log attributes.
func (a *Agent) counters() []any {
	st := a.Status()
	lastSent := "never"
	if !st.LastSent.IsZero() {
		lastSent = st.LastSent.Format(time.RFC3339)
	}
	return []any{"buffered", st.Buffered, "bufferedKB", st.BufferedBytes >> 10, "dropped", st.Dropped, "droppedTotal", st.DroppedTotal,
		"sendFailures", st.SendFailures, "consecutiveFailures", st.ConsecutiveFailures,
		"lastSent", lastSent, "lastError", st.LastError}
}
