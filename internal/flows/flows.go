// Package flows is the traffic Palisade knows was used: connections
// between workloads, and between workloads and outside addresses,
// aggregated per path and port over a window (first seen, last seen,
// count). Records come from the node agents' observed flows and from flow
// logs imported in the documented JSON format (docs/flows.md); question 9
// compares them with what the NetworkPolicies allow (internal/netpaths),
// and least-privilege policies are generated from them (internal/netpolgen).
package flows

import (
	"net/netip"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// Endpoint is one end of a record: a workload of the cluster, or an
// address no pod of the inventory holds (an outside address).
type Endpoint struct {
	Workload *model.WorkloadRef `json:"workload,omitempty"`
	// Addr is the outside address when Workload is nil.
	Addr netip.Addr `json:"addr,omitzero"`
}

// External reports whether e is an outside address.
func (e Endpoint) External() bool { return e.Workload == nil }

func (e Endpoint) String() string {
	if e.Workload != nil {
		return e.Workload.Namespace + "/" + string(e.Workload.Kind) + "/" + e.Workload.Name
	}
	return e.Addr.String()
}

// Record is the traffic on one path: From opened connections to To on
// Port/Protocol (the destination's port; the source's ephemeral port is
// not kept), Count times between FirstSeen and LastSeen.
type Record struct {
	Cluster   string    `json:"cluster"`
	From      Endpoint  `json:"from"`
	To        Endpoint  `json:"to"`
	Port      uint16    `json:"port"`
	Protocol  string    `json:"protocol"` // TCP, UDP or SCTP
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Count     uint64    `json:"count"`
}

// Set is the records of a window: the traffic seen between Since and
// Until. Sources names where they came from ("agents", a flow log's file
// name). Records are sorted and one per (Cluster, From, To, Port,
// Protocol).
type Set struct {
	Since, Until time.Time
	Sources      []string
	Records      []Record
	// Truncated is true when the window held more paths than were kept
	// (the most recently seen are): a path missing from Records may then
	// have been used.
	Truncated bool
}

// Window is how long the set covers; the longer, the more confident an
// answer that a path is unused.
func (s *Set) Window() time.Duration {
	if s == nil || s.Until.Before(s.Since) {
		return 0
	}
	return s.Until.Sub(s.Since)
}
