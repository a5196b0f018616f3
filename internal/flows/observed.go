package flows

import (
	"strings"

	"github.com/palisade-project/palisade/internal/observation"
)

// Source names of records.
const (
	// SourceAgents marks the traffic node agents observed.
	SourceAgents = "agents"
	// SourceLogPrefix starts the source of an imported flow log:
	// "log:" and the name it was imported under.
	SourceLogPrefix = "log:"
)

// FromObservations turns the node agents' resolved flows into records,
// one per path: an end the agent attributed to a workload is that
// workload, any other end is its address (an outside endpoint). Flows of
// protocols a NetworkPolicy cannot name are left out. A connection
// between two observed pods is seen from both ends, and each sighting
// counts.
func FromObservations(obs []observation.FlowRecord) []Record {
	var a Aggregator
	for _, o := range obs {
		proto, ok := ParseProtocol(o.Proto)
		if !ok || o.Port == 0 {
			continue
		}
		a.Add(Record{
			Cluster:   o.Cluster,
			From:      observedEnd(o.From),
			To:        observedEnd(o.To),
			Port:      o.Port,
			Protocol:  proto,
			FirstSeen: o.FirstSeen.UTC(),
			LastSeen:  o.LastSeen.UTC(),
			Count:     max(o.Count, 1),
		})
	}
	return a.Records()
}

func observedEnd(e observation.Endpoint) Endpoint {
	if !e.External && e.Workload.Name != "" {
		ref := e.Workload
		return Endpoint{Workload: &ref}
	}
	return Endpoint{Addr: e.Addr.Addr().Unmap()}
}

// LogSource returns the source of a flow log imported under name.
func LogSource(name string) string {
	return SourceLogPrefix + strings.TrimSpace(name)
}
