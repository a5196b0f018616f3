// Package matchtest computes, independently of the matcher, what matching
// must report for one package: every record that osv.Affects says affects
// it, merged with the records sharing an id or alias, each merged group
// with the version at which none of its records affects the package. Tests of internal/match,
// the image tests and the live integration test hold the matcher to it.
package matchtest

import (
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/version"
)

// Finding is one expected finding: its ids and aliases, sorted, and its
// fixed version ("" when no version fixes every flaw).
type Finding struct {
	IDs   []string
	Fixed string
}

// Hit is one record affecting the package, with its fixed version above
// the installed one ("" when none).
type Hit struct {
	IDs   []string
	Fixed string
}

// Expected returns the findings for the package name at ver in eco (for
// Debian and Ubuntu, the source package and version), by brute force over
// records.
func Expected(t testing.TB, eco, name, ver string, records []*osv.Record) []Finding {
	t.Helper()
	var hits []Hit
	for _, r := range records {
		ok, fixed, err := r.Affects(eco, name, ver)
		if err != nil {
			t.Errorf("osv.Affects(%s, %s, %s) for %s: %v", eco, name, ver, r.ID, err)
			continue
		}
		if ok {
			hits = append(hits, Hit{r.IDs(), fixed})
		}
	}
	// Group hits sharing any id, until nothing changes.
	var groups [][]Hit
	for _, h := range hits {
		groups = append(groups, []Hit{h})
	}
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(groups) && !merged; i++ {
			for j := i + 1; j < len(groups) && !merged; j++ {
				if shareID(groups[i], groups[j]) {
					groups[i] = append(groups[i], groups[j]...)
					groups = slices.Delete(groups, j, j+1)
					merged = true
				}
			}
		}
	}
	out := make([]Finding, 0, len(groups))
	for _, g := range groups {
		var ids []string
		for _, h := range g {
			ids = append(ids, h.IDs...)
		}
		slices.Sort(ids)
		out = append(out, Finding{IDs: slices.Compact(ids), Fixed: GroupFixed(t, eco, g)})
	}
	slices.SortFunc(out, func(a, b Finding) int { return slices.Compare(a.IDs, b.IDs) })
	return out
}

func shareID(a, b []Hit) bool {
	for _, x := range a {
		for _, y := range b {
			if slices.ContainsFunc(x.IDs, func(id string) bool { return slices.Contains(y.IDs, id) }) {
				return true
			}
		}
	}
	return false
}

// GroupFixed is the version at which no record of a merged group affects
// the package any more: the largest of their fixed versions, "" when one
// has none.
func GroupFixed(t testing.TB, eco string, g []Hit) string {
	t.Helper()
	out := ""
	for _, h := range g {
		if h.Fixed == "" {
			return ""
		}
		if out == "" || compare(t, eco, h.Fixed, out) > 0 {
			out = h.Fixed
		}
	}
	return out
}

func compare(t testing.TB, eco, a, b string) int {
	t.Helper()
	c, err := version.Compare(eco, a, b)
	if err != nil {
		t.Errorf("comparing %s versions %q and %q: %v", eco, a, b, err)
	}
	return c
}
