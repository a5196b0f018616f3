// Package observation is what node agents report about what actually runs:
// processes seen in containers and network flows between addresses,
// aggregated over time windows. It defines the report an agent sends to
// the server, its bounds and validation, and the view of what agents
// observed that the answers read (internal/activity builds it).
package observation

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Bounds of one report; a report over them is refused whole.
const (
	MaxProcesses  = 50_000
	MaxFlows      = 100_000
	MaxArgs       = 256
	MaxStringLen  = 4096
	MaxNodeName   = 253
	MaxDegraded   = 32
	MaxReportSize = 64 << 20 // decompressed JSON
)

// Report is one batch an agent sends.
type Report struct {
	// Node is the Kubernetes node name the agent runs on; Cluster the
	// cluster it belongs to as the server names it.
	Node    string `json:"node"`
	Cluster string `json:"cluster"`
	Agent   string `json:"agent"` // agent version
	// SentAt and the window the observations cover.
	SentAt      time.Time `json:"sentAt"`
	WindowStart time.Time `json:"windowStart"`
	// Collection says how the agent observes: "ebpf" or "polling".
	Collection string `json:"collection"`
	// Degraded lists why the agent sees less than it could (no eBPF, no
	// access to some /proc entries).
	Degraded []string `json:"degraded,omitempty"`
	// Dropped counts observations lost before this report (buffer full
	// while the server was away).
	Dropped   uint64    `json:"dropped,omitempty"`
	Processes []Process `json:"processes"`
	Flows     []Flow    `json:"flows"`
}

// Process is one executable seen running in a container (or on the host
// when ContainerID is empty), aggregated over the window.
type Process struct {
	ContainerID string    `json:"containerID,omitempty"`
	PodUID      string    `json:"podUID,omitempty"`
	PID         int       `json:"pid"`
	PPID        int       `json:"ppid"`
	Exe         string    `json:"exe"`
	Args        []string  `json:"args,omitempty"`
	UID         int       `json:"uid"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	FirstSeen   time.Time `json:"firstSeen"`
	LastSeen    time.Time `json:"lastSeen"`
	// Running is false for a process seen earlier in the window that has
	// exited.
	Running bool `json:"running"`
}

// Flow is traffic between two endpoints seen in the window: a TCP
// connection or UDP exchange, counted once per observation.
type Flow struct {
	// ContainerID is the container whose network namespace the socket
	// was in ("" for the host namespace).
	ContainerID string         `json:"containerID,omitempty"`
	Proto       string         `json:"proto"` // tcp or udp
	Local       netip.AddrPort `json:"local"`
	Remote      netip.AddrPort `json:"remote"`
	// Outbound is true when the container initiated it (the remote end
	// is the listening one).
	Outbound  bool      `json:"outbound"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Count     uint64    `json:"count"`
}

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("invalid agent report")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks a report's bounds and fields; it names the first bad
// entry.
func (r *Report) Validate() error {
	switch {
	case r.Node == "" || len(r.Node) > MaxNodeName:
		return invalid("node name %q: want 1 to %d characters", truncate(r.Node), MaxNodeName)
	case len(r.Cluster) > MaxNodeName:
		return invalid("cluster name longer than %d characters", MaxNodeName)
	case r.Collection != "ebpf" && r.Collection != "polling":
		return invalid("collection %q: want ebpf or polling", truncate(r.Collection))
	case len(r.Processes) > MaxProcesses:
		return invalid("%d processes, over the limit of %d", len(r.Processes), MaxProcesses)
	case len(r.Flows) > MaxFlows:
		return invalid("%d flows, over the limit of %d", len(r.Flows), MaxFlows)
	case len(r.Degraded) > MaxDegraded:
		return invalid("%d degraded reasons, over the limit of %d", len(r.Degraded), MaxDegraded)
	case r.SentAt.IsZero():
		return invalid("sentAt is missing")
	}
	for i, d := range r.Degraded {
		if len(d) > MaxStringLen {
			return invalid("degraded[%d] longer than %d bytes", i, MaxStringLen)
		}
	}
	for i := range r.Processes {
		p := &r.Processes[i]
		if err := p.validate(); err != nil {
			return invalid("processes[%d]: %v", i, err)
		}
	}
	for i := range r.Flows {
		f := &r.Flows[i]
		if err := f.validate(); err != nil {
			return invalid("flows[%d]: %v", i, err)
		}
	}
	return nil
}

func (p *Process) validate() error {
	switch {
	case len(p.ContainerID) > 128 || len(p.PodUID) > 64:
		return errors.New("container id or pod uid too long")
	case p.Exe == "" || len(p.Exe) > MaxStringLen:
		return fmt.Errorf("exe %q: want 1 to %d bytes", truncate(p.Exe), MaxStringLen)
	case len(p.Args) > MaxArgs:
		return fmt.Errorf("%d args, over the limit of %d", len(p.Args), MaxArgs)
	case p.PID <= 0 || p.PPID < 0:
		return fmt.Errorf("pid %d, ppid %d", p.PID, p.PPID)
	case p.FirstSeen.IsZero() || p.LastSeen.Before(p.FirstSeen):
		return errors.New("firstSeen missing or after lastSeen")
	}
	for _, a := range p.Args {
		if len(a) > MaxStringLen {
			return fmt.Errorf("an argument longer than %d bytes", MaxStringLen)
		}
	}
	return nil
}

func (f *Flow) validate() error {
	switch {
	case f.Proto != "tcp" && f.Proto != "udp":
		return fmt.Errorf("proto %q: want tcp or udp", truncate(f.Proto))
	case len(f.ContainerID) > 128:
		return errors.New("container id too long")
	case !f.Local.IsValid() || !f.Remote.IsValid():
		return errors.New("local and remote must be address:port")
	case f.FirstSeen.IsZero() || f.LastSeen.Before(f.FirstSeen):
		return errors.New("firstSeen missing or after lastSeen")
	case f.Count == 0:
		return errors.New("count is 0")
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// ErrTooManyNodes is returned when a report from a new node would exceed
// the number of nodes the server keeps.
var ErrTooManyNodes = errors.New("too many nodes reporting")
