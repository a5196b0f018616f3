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
	Total           int            `json:"total"`
	// Vulnerabilities lists at most MaxProductionListed: known exploited
	// first, then by weight (severity and fixability).
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// MaxProductionListed is the number of vulnerabilities a production item
// lists: the known-exploited ones first, then the heaviest.
const MaxProductionListed = 50

// Production lists the production workloads of ws with known
// vulnerabilities or runtime evidence of an attack: possibly under attack
// first, then known exploited, then by severity counts, then by workload.
func (r *Ranker) Production(ix *inventory.Index, ws []*model.Workload) []ProductionItem {
	var out []ProductionItem
	cache := map[string]*aggregate{}
	for _, w := range ws {
		env := r.env.Of(w, ix.Namespace(w.Cluster, w.Namespace))
		if !env.Production {
			continue
		}
		var evidence []string
		if r.runtime != nil {
			evidence = r.runtime(w.Ref())
		}
		agg := r.workloadAggregate(ix, w, cache, MaxProductionListed)
		if (agg == nil || agg.n == 0) && len(evidence) == 0 {
			continue
		}
		if agg == nil {
			agg = newAggregate(0)
		}
		it := ProductionItem{Workload: w.Ref(), Environment: env, Counts: make(map[string]int, len(Levels)), RuntimeEvidence: evidence,
			KnownExploited: agg.kev, Fixable: agg.fixable, Total: agg.n, Vulnerabilities: agg.listed}
		if it.Vulnerabilities == nil {
			it.Vulnerabilities = []Vulnerability{}
		}
		for i, l := range Levels {
			it.Counts[l] = agg.counts[i]
			if it.MaxSeverity == "" && agg.counts[i] > 0 {
				it.MaxSeverity = l
			}
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
