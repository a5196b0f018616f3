package observation

import (
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
}

// View is an immutable picture of what the agents observed.
type View struct {
	Nodes     []NodeSummary
	Processes []ProcessRecord
	Flows     []Flow
}
