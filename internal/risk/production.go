package risk

import (
	"cmp"
	"slices"

	"github.com/palisade-project/palisade/internal/environment"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// ProductionItem is one production workload affected by known
// vulnerabilities (question 4).
type ProductionItem struct {
	Workload    model.WorkloadRef  `json:"workload"`
	Environment environment.Result `json:"environment"`
	// KnownExploited counts its vulnerabilities in the KEV catalog.
	KnownExploited int `json:"knownExploited"`
	// RuntimeEvidence is what suggests it may be under attack.
	RuntimeEvidence []string       `json:"runtimeEvidence,omitempty"`
	MaxSeverity     string         `json:"maxSeverity"`
	Counts          map[string]int `json:"counts"`
	Fixable         int            `json:"fixable"`
	// Vulnerabilities are all of them: known exploited first, then by
	// weight (severity and fixability).
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// Production lists the production workloads of ws with known
// vulnerabilities: possibly under attack or known exploited first, then by
// severity counts, then by workload.
func (r *Ranker) Production(ix *inventory.Index, ws []*model.Workload) []ProductionItem {
	var out []ProductionItem
	for _, w := range ws {
		env := r.env.Of(w, ix.Namespace(w.Cluster, w.Namespace))
		if !env.Production {
			continue
		}
		vulns := r.Vulnerabilities(ix, w)
		if len(vulns) == 0 {
			continue
		}
		it := ProductionItem{Workload: w.Ref(), Environment: env, Counts: make(map[string]int, len(Levels)), Vulnerabilities: vulns}
		for _, l := range Levels {
			it.Counts[l] = 0
		}
		for _, vu := range vulns {
			it.Counts[vu.Severity]++
			if vu.FixedVersion != "" {
				it.Fixable++
			}
			if vu.KnownExploited != nil {
				it.KnownExploited++
			}
		}
		for _, l := range Levels {
			if it.Counts[l] > 0 {
				it.MaxSeverity = l
				break
			}
		}
		if r.runtime != nil {
			it.RuntimeEvidence = r.runtime(w.Ref())
		}
		out = append(out, it)
	}
	slices.SortStableFunc(out, func(a, b ProductionItem) int {
		if c := boolFirst(len(a.RuntimeEvidence) > 0, len(b.RuntimeEvidence) > 0); c != 0 {
			return c
		}
		if c := cmp.Compare(b.KnownExploited, a.KnownExploited); c != 0 {
			return c
		}
		for _, l := range Levels {
			if c := cmp.Compare(b.Counts[l], a.Counts[l]); c != 0 {
				return c
			}
		}
		return inventory.CompareRefs(a.Workload, b.Workload)
	})
	return out
}
