// Package agent is Palisade's node agent: it polls a /proc tree for the
// processes running in containers and the connections their network
// namespaces hold, aggregates them over a window (first seen, last seen,
// count) and sends one observation.Report per window to the server. While
// the server is away, reports wait in a bounded buffer; the oldest are
// dropped, and counted, when it is full.
package agent

import (
	"cmp"
	"context"
	"log/slog"
	"net/netip"
	"slices"
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
	// Send delivers one report; an error keeps it buffered for later.
	Send func(ctx context.Context, r *observation.Report) error
	// Interval is how often /proc is read; ReportInterval how often a
	// report is sent.
	Interval, ReportInterval time.Duration
	// MaxBuffered bounds the reports kept while the server is away.
	MaxBuffered int
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

	mu          sync.Mutex
	windowStart time.Time
	procs       map[procKey]*observation.Process
	flows       map[flowKey]*observation.Flow
	buffer      []*observation.Report
	dropped     uint64
	lastStats   procfs.Stats
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Agent{opts: opts, log: opts.Logger, procs: map[procKey]*observation.Process{}, flows: map[flowKey]*observation.Flow{}}
	a.windowStart = opts.Now().UTC()
	return a
}

// Run polls and reports until ctx ends, then sends what it has once more.
func (a *Agent) Run(ctx context.Context) error {
	poll := time.NewTicker(a.opts.Interval)
	defer poll.Stop()
	report := time.NewTicker(a.opts.ReportInterval)
	defer report.Stop()
	a.Collect(ctx)
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			a.Flush(flushCtx)
			cancel()
			return nil
		case <-poll.C:
			a.Collect(ctx)
		case <-report.C:
			a.Flush(ctx)
		}
	}
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
	for _, p := range procs {
		if p.PID == 1 {
			hostNetNS = p.NetNS
		}
	}
	a.mu.Lock()
	a.lastStats = stats
	for _, p := range a.procs {
		p.Running = false
	}
	for _, p := range procs {
		if p.ContainerID == "" || p.Kernel || p.MonitorOf != "" {
			continue // host processes and runtime monitors are not reported
		}
		exe := p.Exe
		if exe == "" {
			exe = p.Comm // unreadable exe: the command name stands in
		}
		if exe == "" {
			continue
		}
		k := procKey{p.ContainerID, p.PID, p.StartTicks, exe}
		o := a.procs[k]
		if o == nil {
			if len(a.procs) >= maxTracked {
				a.dropped++
				continue
			}
			o = &observation.Process{ContainerID: p.ContainerID, PodUID: p.PodUID, PID: p.PID, PPID: p.PPID, Exe: exe, Args: p.Args,
				UID: p.UID, StartedAt: p.StartTime, FirstSeen: now}
			a.procs[k] = o
		}
		o.LastSeen, o.Running = now, true
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
				a.dropped++
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

// Flush closes the window into a report and sends it with any buffered
// before it; what cannot be sent stays buffered (bounded).
func (a *Agent) Flush(ctx context.Context) {
	a.mu.Lock()
	now := a.opts.Now().UTC()
	r := &observation.Report{Node: a.opts.Node, Cluster: a.opts.Cluster, Agent: a.opts.Version, SentAt: now, WindowStart: a.windowStart,
		Collection: "polling", Degraded: a.opts.Degraded, Processes: []observation.Process{}, Flows: []observation.Flow{}}
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
	a.buffer = append(a.buffer, r)
	if over := len(a.buffer) - a.opts.MaxBuffered; over > 0 {
		for _, old := range a.buffer[:over] {
			a.dropped += uint64(len(old.Processes) + len(old.Flows))
		}
		a.buffer = slices.Delete(a.buffer, 0, over)
	}
	pending := slices.Clone(a.buffer)
	a.mu.Unlock()

	for _, rep := range pending {
		a.mu.Lock()
		rep.Dropped = a.dropped
		a.mu.Unlock()
		if err := a.opts.Send(ctx, rep); err != nil {
			a.log.Warn("sending a report; kept for later", "buffered", len(pending), "err", err)
			return
		}
		a.mu.Lock()
		a.dropped = 0
		if i := slices.Index(a.buffer, rep); i >= 0 {
			a.buffer = slices.Delete(a.buffer, i, i+1)
		}
		a.mu.Unlock()
	}
}

// Status is the agent's own counters.
type Status struct {
	Buffered int
	Dropped  uint64
	Tracked  int
	Stats    procfs.Stats
}

// Status returns the agent's counters.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Status{Buffered: len(a.buffer), Dropped: a.dropped, Tracked: len(a.procs), Stats: a.lastStats}
}
