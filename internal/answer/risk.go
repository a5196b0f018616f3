package answer

import (
	"fmt"
	"strings"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/risk"
)

// ranker returns the ranker for ix: the engine's configuration with the
// KEV catalog that came with ix's scan results.
func (e *Engine) ranker(ix *inventory.Index) *risk.Ranker {
	cfg := e.risk
	cfg.KnownExploited = knownExploited(ix)
	cfg.Runtime = runtimeEvidence(ix)
	r, err := risk.New(cfg)
	if err != nil {
		panic(err) // validated by NewEngine
	}
	return r
}

// maxRuntimeEvidence bounds the evidence lines kept per workload.
const maxRuntimeEvidence = 10

// runtimeEvidence is the suspicious activity the node agents observed, per
// workload: it marks a workload as possibly under attack (questions 4 and
// 5). Nil when no agent reported.
func runtimeEvidence(ix *inventory.Index) risk.RuntimeEvidence {
	v := ix.Activity()
	if v == nil {
		return nil
	}
	byRef := map[model.WorkloadRef][]string{}
	seen := map[string]bool{}
	for _, p := range v.Processes {
		for _, s := range p.Suspicious {
			if p.Container == "" || len(byRef[p.Workload]) >= maxRuntimeEvidence {
				continue
			}
			ev := fmt.Sprintf("%s (%s) in container %s of pod %s on %s: %s", p.Exe, s.Severity, p.Container, p.Pod, p.Node, s.Title)
			if k := p.Workload.String() + "\x00" + ev; !seen[k] {
				seen[k] = true
				byRef[p.Workload] = append(byRef[p.Workload], ev)
			}
		}
	}
	if len(byRef) == 0 {
		return nil
	}
	return func(ref model.WorkloadRef) []string { return byRef[ref] }
}

// riskNotes explains what the exploitation evidence rests on.
func riskNotes(ix *inventory.Index) []string {
	if knownExploited(ix) == nil {
		return []string{"no KEV catalog is imported: nothing can be marked known-exploited; run \"palisade db import known_exploited_vulnerabilities.json\" or \"palisade db update\""}
	}
	return nil
}

// Production answers question 4.
func (e *Engine) Production(ix *inventory.Index, f Filter) *Answer[risk.ProductionItem] {
	items := e.ranker(ix).Production(ix, e.workloads(ix, f))
	a := newAnswer(e, ix, Production, f, items)
	a.Notes = append(a.Notes, scanNotes(ix)...)
	a.Notes = append(a.Notes, riskNotes(ix)...)
	def := e.env.Definition()
	a.Notes = append(a.Notes, "production: "+describeProduction(def.LabelKeys, def.ProductionValues, def.Clusters, def.Namespaces))
	if v := ix.Activity(); v == nil || len(v.Nodes) == 0 {
		a.Notes = append(a.Notes, "no node agent has reported: exploitation evidence is the KEV catalog only")
	}
	a.Summary["workloads"] = len(items)
	for _, l := range risk.Levels {
		a.Summary[l] = 0
	}
	for _, it := range items {
		if it.KnownExploited > 0 {
			a.Summary["knownExploitedWorkloads"]++
		}
		a.Summary["knownExploited"] += it.KnownExploited
		for l, n := range it.Counts {
			a.Summary[l] += n
		}
		a.Summary["fixable"] += it.Fixable
	}
	return a
}

func describeProduction(keys, values, clusters, namespaces []string) string {
	s := fmt.Sprintf("workloads or namespaces labelled %s = %s", strings.Join(keys, " or "), strings.Join(values, " or "))
	if len(clusters) > 0 {
		s += "; clusters " + strings.Join(clusters, ", ")
	}
	if len(namespaces) > 0 {
		s += "; namespaces " + strings.Join(namespaces, ", ")
	}
	return s
}

// Priorities answers question 5.
func (e *Engine) Priorities(ix *inventory.Index, f Filter) *Answer[risk.Assessment] {
	items := e.ranker(ix).Assess(ix, e.workloads(ix, f))
	a := newAnswer(e, ix, Priorities, f, items)
	a.Notes = append(a.Notes, scanNotes(ix)...)
	a.Notes = append(a.Notes, riskNotes(ix)...)
	a.Notes = append(a.Notes, "score = vulnerabilities × exploitation × exposure × privilege × root × production × criticality (docs/risk.md); ties: known-exploited count, worst severity, then cluster, namespace, kind, name")
	a.Summary["workloads"] = len(items)
	for _, it := range items {
		if it.KnownExploited > 0 {
			a.Summary["knownExploited"]++
		}
		if it.Environment.Production {
			a.Summary["production"]++
		}
	}
	return a
}

// knownExploited is the KEV lookup of ix's scan results, nil without a
// catalog.
func knownExploited(ix *inventory.Index) risk.KnownExploited {
	c := ix.Images().Scheduler().KEV
	if c == nil {
		return nil
	}
	return func(id string, aliases []string) (risk.Exploit, bool) {
		e, ok := c.Find(id, aliases)
		if !ok {
			return risk.Exploit{}, false
		}
		return risk.Exploit{CVE: e.CVEID, Name: e.VulnerabilityName, DateAdded: e.DateAdded.String(), DueDate: e.DueDate.String(),
			RequiredAction: e.RequiredAction, Ransomware: e.KnownRansomwareCampaignUse}, true
	}
}
