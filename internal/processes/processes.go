// Package processes answers question 8: which processes run in each
// container, and which are suspicious? It groups what the node agents
// observed (internal/activity) by workload and container, with each
// process's baseline status and the suspicious-process rules it matched.
package processes

import (
	"cmp"
	"slices"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
)

// Item is one container of one workload with the processes seen in it.
type Item struct {
	Workload  model.WorkloadRef `json:"workload"`
	Container string            `json:"container"`
	Image     string            `json:"image,omitempty"`
	Digest    string            `json:"digest,omitempty"`
	// Suspicious counts processes that matched a rule; Anomalies those
	// outside the container's locked baseline.
	Suspicious  int    `json:"suspicious"`
	Anomalies   int    `json:"anomalies"`
	MaxSeverity string `json:"maxSeverity,omitempty"`
	// Processes are those running now and those seen earlier in the
	// agents' window (Running false), suspicious first.
	Processes []Process `json:"processes"`
	// Connections are the flows the container's network namespace held in
	// the window (for a pod, on the container the agent read it through).
	Connections []Connection `json:"connections,omitempty"`
}

// Connection is one observed flow from the container's point of view.
type Connection struct {
	// Direction is "out" (the container opened it) or "in".
	Direction string               `json:"direction"`
	Peer      observation.Endpoint `json:"peer"`
	Port      uint16               `json:"port"`
	Proto     string               `json:"proto"`
	Count     uint64               `json:"count"`
	FirstSeen string               `json:"firstSeen"`
	LastSeen  string               `json:"lastSeen"`
}

// Process is one observed process.
type Process struct {
	Exe        string                  `json:"exe"`
	Args       []string                `json:"args,omitempty"`
	UID        int                     `json:"uid"`
	PID        int                     `json:"pid"`
	Pod        string                  `json:"pod"`
	Node       string                  `json:"node"`
	FirstSeen  string                  `json:"firstSeen"`
	LastSeen   string                  `json:"lastSeen"`
	Running    bool                    `json:"running"`
	Baseline   string                  `json:"baseline,omitempty"`
	Suspicious []observation.Suspicion `json:"suspicious,omitempty"`
}

// Answer groups the observed processes of the workloads ws by workload and
// container: containers with suspicious processes first (worst severity,
// then count), then with anomalies, then by workload and container.
func Answer(ix *inventory.Index, ws []*model.Workload) []Item {
	v := ix.Activity()
	if v == nil {
		return nil
	}
	keep := make(map[model.WorkloadRef]bool, len(ws))
	for _, w := range ws {
		keep[w.Ref()] = true
	}
	type key struct {
		ref       model.WorkloadRef
		container string
	}
	byKey := map[key]*Item{}
	var order []key
	for i := range v.Processes {
		pr := &v.Processes[i]
		if pr.Container == "" || !keep[pr.Workload] {
			continue
		}
		k := key{pr.Workload, pr.Container}
		it := byKey[k]
		if it == nil {
			it = &Item{Workload: pr.Workload, Container: pr.Container, Image: pr.Image, Digest: pr.Digest}
			byKey[k] = it
			order = append(order, k)
		}
		p := Process{Exe: pr.Exe, Args: pr.Args, UID: pr.UID, PID: pr.PID, Pod: pr.Pod, Node: pr.Node,
			FirstSeen: pr.FirstSeen.UTC().Format("2006-01-02T15:04:05Z"), LastSeen: pr.LastSeen.UTC().Format("2006-01-02T15:04:05Z"),
			Running: pr.Running, Baseline: pr.Baseline, Suspicious: pr.Suspicious}
		if len(p.Suspicious) > 0 {
			it.Suspicious++
			for _, s := range p.Suspicious {
				if model.Severity(s.Severity).Rank() > model.Severity(it.MaxSeverity).Rank() {
					it.MaxSeverity = s.Severity
				}
			}
		}
		if p.Baseline == observation.BaselineAnomaly {
			it.Anomalies++
		}
		it.Processes = append(it.Processes, p)
	}
	for i := range v.Flows {
		f := &v.Flows[i]
		for _, side := range []struct {
			self, peer observation.Endpoint
			dir        string
		}{{f.From, f.To, "out"}, {f.To, f.From, "in"}} {
			if side.self.Container == "" || !keep[side.self.Workload] {
				continue
			}
			k := key{side.self.Workload, side.self.Container}
			it := byKey[k]
			if it == nil {
				it = &Item{Workload: side.self.Workload, Container: side.self.Container}
				byKey[k] = it
				order = append(order, k)
			}
			it.Connections = append(it.Connections, Connection{Direction: side.dir, Peer: side.peer, Port: f.Port, Proto: f.Proto, Count: f.Count,
				FirstSeen: f.FirstSeen.UTC().Format("2006-01-02T15:04:05Z"), LastSeen: f.LastSeen.UTC().Format("2006-01-02T15:04:05Z")})
		}
	}
	out := make([]Item, 0, len(order))
	for _, k := range order {
		it := byKey[k]
		if it.Processes == nil {
			it.Processes = []Process{}
		}
		slices.SortStableFunc(it.Connections, func(a, b Connection) int {
			return cmp.Or(cmp.Compare(a.Direction, b.Direction), a.Peer.Addr.Compare(b.Peer.Addr), cmp.Compare(a.Port, b.Port))
		})
		slices.SortStableFunc(it.Processes, func(a, b Process) int {
			return cmp.Or(cmp.Compare(len(b.Suspicious), len(a.Suspicious)), boolFirst(a.Baseline == observation.BaselineAnomaly, b.Baseline == observation.BaselineAnomaly),
				boolFirst(a.Running, b.Running), cmp.Compare(a.Exe, b.Exe), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.PID, b.PID))
		})
		out = append(out, *it)
	}
	slices.SortStableFunc(out, func(a, b Item) int {
		return cmp.Or(cmp.Compare(model.Severity(b.MaxSeverity).Rank(), model.Severity(a.MaxSeverity).Rank()), cmp.Compare(b.Suspicious, a.Suspicious),
			cmp.Compare(b.Anomalies, a.Anomalies), inventory.CompareRefs(a.Workload, b.Workload), cmp.Compare(a.Container, b.Container))
	})
	return out
}

func boolFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}
