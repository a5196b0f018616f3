package observation

import (
	"net/netip"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// Baseline states of a process record.
const (
	BaselineLearning   = "learning"
	BaselineIn         = "in-baseline"
	BaselineAnomaly    = "anomaly"
	BaselineUnknown    = "unknown" // no image digest to key a baseline on
	BaselineNotTracked = ""        // host processes
)

// ProcessRecord is one observed process attributed to its workload.
type ProcessRecord struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	// Workload, Pod and Container are empty for processes whose
	// container is not (yet) in the inventory.
	Workload    model.WorkloadRef `json:"workload,omitzero"`
	Pod         string            `json:"pod,omitempty"`
	Container   string            `json:"container,omitempty"`
	ContainerID string            `json:"containerID,omitempty"`
	Digest      string            `json:"digest,omitempty"`
	Image       string            `json:"image,omitempty"`
	Exe         string            `json:"exe"`
	Args        []string          `json:"args,omitempty"`
	UID         int               `json:"uid"`
	PID         int               `json:"pid"`
	FirstSeen   time.Time         `json:"firstSeen"`
	LastSeen    time.Time         `json:"lastSeen"`
	Running     bool              `json:"running"`
	Baseline    string            `json:"baseline,omitempty"`
	Suspicious  []Suspicion       `json:"suspicious,omitempty"`
}

// Suspicion is one rule a process matched.
type Suspicion struct {
	Rule        string `json:"rule"`
	Title       string `json:"title"`
	Severity    string `json:"severity"`
	Rationale   string `json:"rationale,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	Evidence    string `json:"evidence,omitempty"`
}

// NodeSummary is what a node's agent last said about itself.
type NodeSummary struct {
	Cluster    string    `json:"cluster"`
	Node       string    `json:"node"`
	Agent      string    `json:"agent"`
	Collection string    `json:"collection"`
	Degraded   []string  `json:"degraded,omitempty"`
	Dropped    uint64    `json:"dropped,omitempty"`
	SentAt     time.Time `json:"sentAt"`
	ReceivedAt time.Time `json:"receivedAt"`
	Processes  int       `json:"processes"`
	Flows      int       `json:"flows"`
	// Unattributed counts container processes whose container is not in
	// the inventory.
	Unattributed int `json:"unattributed,omitempty"`
	// UnattributedFlows counts flows left out because the namespace that
	// held the socket is not one of the node's known pods: a node speaks
	// for its own pods only, at both ends.
	UnattributedFlows int `json:"unattributedFlows,omitempty"`
}

// Endpoint is one end of a flow: a workload's pod, or an address outside
// the inventory.
type Endpoint struct {
	Workload  model.WorkloadRef `json:"workload,omitzero"`
	Pod       string            `json:"pod,omitempty"`
	Container string            `json:"container,omitempty"`
	// Addr is the endpoint's address and port as seen.
	Addr netip.AddrPort `json:"addr"`
	// External is true when no pod of the inventory has the address.
	External bool `json:"external,omitempty"`
}

// FlowRecord is one observed flow with both ends resolved: From opened it,
// To accepted it on Port.
type FlowRecord struct {
	Cluster   string    `json:"cluster"`
	Node      string    `json:"node"`
	Proto     string    `json:"proto"`
	From      Endpoint  `json:"from"`
	To        Endpoint  `json:"to"`
	Port      uint16    `json:"port"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Count     uint64    `json:"count"`
}

// View is an immutable picture of what the agents observed.
type View struct {
	Nodes     []NodeSummary
	Processes []ProcessRecord
	Flows     []FlowRecord
}
