package answer

import (
	"fmt"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/processes"
	"github.com/palisade-project/palisade/internal/safetext"
	"github.com/palisade-project/palisade/internal/scanage"
	"github.com/palisade-project/palisade/internal/vulnerable"
)

// scanNotes says where scan results come from when no scheduler is
// behind them, and what is wrong with the vulnerability database.
func scanNotes(ix *inventory.Index) []string {
	s := ix.Images().Scheduler()
	var notes []string
	switch {
	case !s.Running && ix.Images().Len() == 0:
		notes = append(notes, "no scan results: images are scanned by \"palisade server\" for the clusters it watches; offline answers from manifests have none (use \"palisade scan IMAGE\" for one image)")
	case !s.Running:
		notes = append(notes, "scan results as stored by \"palisade server\"; no scheduler is refreshing them in this process")
	}
	if s.DBError != "" {
		notes = append(notes, "the vulnerability database could not be loaded: "+s.DBError)
	} else if s.Running && s.DBVersion == "" {
		notes = append(notes, "no vulnerability data is imported: images are scanned but not matched; run \"palisade db import\" or \"palisade db update\"")
	}
	return notes
}

// ScanAge answers question 2.
func (e *Engine) ScanAge(ix *inventory.Index, f Filter) *Answer[scanage.Item] {
	now := e.now().UTC()
	items, noDigest := scanage.Answer(ix, e.workloads(ix, f), now)
	a := newAnswer(e, ix, ScanAge, f, items)
	a.Notes = append(a.Notes, scanNotes(ix)...)
	s := ix.Images().Scheduler()
	if s.Running {
		a.Notes = append(a.Notes, fmt.Sprintf("images are rescanned when their SBOM is older than %s; new digests are scanned when they appear", s.MaxAge))
	}
	if noDigest > 0 {
		a.Notes = append(a.Notes, fmt.Sprintf("%d running containers report no image digest (their runtime gave only a local image ID): they cannot be scanned by digest", noDigest))
	}
	a.Summary["images"] = len(items)
	for _, k := range []string{scanage.StateFresh, scanage.StateStale, scanage.StateNeverScanned, scanage.StateFailing} {
		a.Summary[k] = 0
	}
	for _, it := range items {
		a.Summary[it.State]++
		if it.MatchState == scanage.MatchOutdated {
			a.Summary["matchOutdated"]++
		}
	}
	a.Summary["containersWithoutDigest"] = noDigest
	return a
}

// Vulnerable answers question 3.
func (e *Engine) Vulnerable(ix *inventory.Index, f Filter) *Answer[vulnerable.Item] {
	items, cov := vulnerable.Answer(ix, e.workloads(ix, f), f.CVE)
	a := newAnswer(e, ix, Vulnerable, f, items)
	a.Notes = append(a.Notes, scanNotes(ix)...)
	if cov.Unmatched > 0 {
		a.Notes = append(a.Notes, fmt.Sprintf("%d running containers run an image not matched yet (never scanned, scan failing, or no vulnerability data): see the scan-age answer", cov.Unmatched))
	}
	workloads := map[string]bool{}
	digests := map[string]bool{}
	for _, l := range vulnerable.Levels {
		a.Summary[l] = 0
	}
	for _, it := range items {
		workloads[it.Workload.String()] = true
		digests[it.Digest] = true
		for l, n := range it.Counts {
			a.Summary[l] += n
		}
		a.Summary["fixable"] += it.Fixable
		a.Summary["knownExploited"] += it.KnownExploited
	}
	a.Summary["workloads"] = len(workloads)
	a.Summary["containers"] = len(items)
	a.Summary["images"] = len(digests)
	a.Summary["containersMatched"] = cov.Matched
	a.Summary["containersNotMatched"] = cov.Unmatched
	return a
}

// Processes answers question 8.
func (e *Engine) Processes(ix *inventory.Index, f Filter) *Answer[processes.Item] {
	items := processes.Answer(ix, e.workloads(ix, f))
	a := newAnswer(e, ix, Processes, f, items)
	v := ix.Activity()
	a.Summary["containers"] = len(items)
	for _, k := range []string{"processes", "suspicious", "anomalies", "nodes", "degradedNodes", "unattributed"} {
		a.Summary[k] = 0
	}
	if v == nil || len(v.Nodes) == 0 {
		a.Notes = append(a.Notes, "no node agent has reported: run \"palisade agent\" on the nodes (a DaemonSet) to see processes")
		return a
	}
	for _, n := range v.Nodes {
		if f.Cluster != "" && n.Cluster != f.Cluster {
			continue
		}
		a.Summary["nodes"]++
		a.Summary["unattributed"] += n.Unattributed
		if len(n.Degraded) > 0 {
			a.Summary["degradedNodes"]++
			a.Notes = append(a.Notes, fmt.Sprintf("node %s (%s) sees less than it could: %s", n.Node, n.Collection, safetext.OneLine(strings.Join(n.Degraded, "; "))))
		}
		if n.Dropped > 0 {
			a.Notes = append(a.Notes, fmt.Sprintf("node %s dropped %d observations while the server was away", n.Node, n.Dropped))
		}
		if n.UnattributedFlows > 0 {
			a.Notes = append(a.Notes, fmt.Sprintf("node %s reported %d connections of network namespaces that are none of its known pods: left out", n.Node, n.UnattributedFlows))
		}
		if age := e.now().Sub(n.ReceivedAt); age > 5*time.Minute {
			a.Notes = append(a.Notes, fmt.Sprintf("node %s last reported %s ago: what it shows may be out of date", n.Node, age.Round(time.Minute)))
		}
	}
	for _, it := range items {
		a.Summary["processes"] += len(it.Processes)
		a.Summary["suspicious"] += it.Suspicious
		a.Summary["anomalies"] += it.Anomalies
	}
	return a
}
