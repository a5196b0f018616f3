package match

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/version"
)

// ErrPartial is wrapped by Match's error when some packages could not be
// evaluated (a version their ecosystem's rules reject, a record whose
// versions do not compare). The findings returned with it are valid for
// every other package; callers show the error rather than drop the result.
var ErrPartial = errors.New("some packages could not be matched")

// Finding is one flaw in one installed package. Records that share an id or
// alias (a GO and a GHSA record for one CVE, DSA and changelog records of
// one CVE) are one finding.
type Finding struct {
	// ID is the id of the finding's record; when records were merged, the
	// smallest of their ids.
	ID string `json:"id"`
	// Aliases are every other id and alias of the merged records, sorted.
	Aliases []string `json:"aliases,omitempty"`
	// Package is the installed package. For Debian and Ubuntu packages the
	// match goes through Package.SourceName, as the distributions' advisories
	// name source packages.
	Package sbom.Package `json:"package"`
	// InstalledVersion is the version compared with the advisories: the
	// source version for Debian and Ubuntu binary packages that have one.
	InstalledVersion string `json:"installedVersion"`
	// FixedVersion is the smallest version at which none of the merged
	// records affects the package (groupFix): the largest of their fixed
	// versions; "" when one of them has no fix.
	FixedVersion string `json:"fixedVersion,omitempty"`
	// Severity is the highest level among the merged records (osv
	// SeverityOf), "" when none says; Score its CVSS base score, 0 if none.
	Severity string  `json:"severity,omitempty"`
	Score    float64 `json:"score,omitempty"`
	Summary  string  `json:"summary,omitempty"`
}

// hit is one record affecting one package.
type hit struct {
	r     *record
	fixed version.Version
}

// Match returns the findings for every package of s, ordered by package
// name, then id. Packages with no advisory are cheap: one map lookup.
// The error is ctx's when it is cancelled, or wraps ErrPartial (with the
// findings still returned) when some packages could not be evaluated.
func (db *DB) Match(ctx context.Context, s *sbom.SBOM) ([]Finding, error) {
	var findings []Finding
	var problems []error
	for i := range s.Packages {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		fs, err := db.matchPackage(&s.Packages[i])
		if err != nil {
			problems = append(problems, err)
		}
		findings = append(findings, fs...)
	}
	slices.SortStableFunc(findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Package.Name, b.Package.Name),
			cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Package.Ecosystem, b.Package.Ecosystem),
			cmp.Compare(a.InstalledVersion, b.InstalledVersion),
		)
	})
	if len(problems) > 0 {
		return findings, fmt.Errorf("%w: %w", ErrPartial, errors.Join(problems...))
	}
	return findings, nil
}

// Query returns the ecosystem, name and version under which p is looked up
// in advisories: the source package's for Debian and Ubuntu.
func Query(p *sbom.Package) (ecosystem, name, ver string) {
	name, ver = p.Name, p.Version
	switch version.Base(p.Ecosystem) {
	case sbom.EcosystemDebian, sbom.EcosystemUbuntu:
		if p.SourceName != "" {
			name = p.SourceName
		}
		if p.SourceVersion != "" {
			ver = p.SourceVersion
		}
	}
	return p.Ecosystem, name, ver
}

func (db *DB) matchPackage(p *sbom.Package) ([]Finding, error) {
	eco, name, raw := Query(p)
	base := version.Base(eco)
	cands := db.index[indexKey(base, name)]
	if len(cands) == 0 {
		return nil, nil
	}
	v, err := version.Parse(eco, raw)
	if err != nil {
		return nil, fmt.Errorf("package %s %s: %w", p.Name, p.Version, err)
	}
	var hits []hit
	var problems []error
	for _, c := range cands {
		h, ok, err := c.evaluate(eco, name, raw, v)
		if err != nil {
			problems = append(problems, fmt.Errorf("package %s %s: %s: %w", p.Name, p.Version, c.r.rec.ID, err))
			continue
		}
		if ok {
			hits = append(hits, h)
		}
	}
	return merge(p, raw, hits), errors.Join(problems...)
}

// evaluate is osv.Record.Affects over the candidate's pre-parsed entries.
func (c candidate) evaluate(eco, name, raw string, v version.Version) (hit, bool, error) {
	h := hit{r: c.r}
	affected := false
	for _, a := range c.affs {
		if !osv.EcosystemMatches(a.ecosystem, eco) || !osv.NameMatches(eco, a.name, name) {
			continue
		}
		if a.err != nil {
			return hit{}, false, a.err
		}
		in, fix, err := a.affects(raw, v)
		if err != nil {
			return hit{}, false, err
		}
		if !in {
			continue
		}
		affected = true
		if fix != nil {
			if h.fixed == nil {
				h.fixed = fix
			} else if c, err := fix.Compare(h.fixed); err == nil && c < 0 {
				h.fixed = fix
			}
		}
	}
	return h, affected, nil
}

var levelRank = map[string]int{
	osv.LevelNone:     1,
	osv.LevelLow:      2,
	osv.LevelMedium:   3,
	osv.LevelHigh:     4,
	osv.LevelCritical: 5,
}

// groupFix returns the smallest version at which none of a group of
// merged records affects the package any more: the largest of their fixed
// versions. Records can bundle flaws (one fixing four CVEs, of which an
// earlier one fixed one), so the smallest fix among them may leave some
// open. A record without a fix leaves the group without one (fixable
// false). Versions that do not compare keep the first, in id order.
func groupFix(g []hit) (fixed version.Version, fixable bool) {
	for _, h := range g {
		if h.fixed == nil {
			return nil, false
		}
		if fixed == nil {
			fixed = h.fixed
		} else if c, err := h.fixed.Compare(fixed); err == nil && c > 0 {
			fixed = h.fixed
		}
	}
	return fixed, fixed != nil
}

// merge turns one package's hits into findings, one per group of records
// connected by a shared id or alias.
func merge(p *sbom.Package, installed string, hits []hit) []Finding {
	if len(hits) == 0 {
		return nil
	}
	parent := make([]int, len(hits))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := make(map[string]int)
	for i, h := range hits {
		for _, id := range h.r.ids {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := make(map[int][]hit)
	var roots []int
	for i, h := range hits {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], h)
	}
	out := make([]Finding, 0, len(roots))
	for _, root := range roots {
		g := groups[root]
		slices.SortFunc(g, func(a, b hit) int { return cmp.Compare(a.r.rec.ID, b.r.rec.ID) })
		f := Finding{
			ID:               g[0].r.rec.ID,
			Package:          *p,
			InstalledVersion: installed,
			Summary:          g[0].r.rec.Summary,
		}
		ids := make(map[string]bool)
		for _, h := range g {
			for _, id := range h.r.ids {
				ids[id] = true
			}
			if f.Summary == "" {
				f.Summary = h.r.rec.Summary
			}
			rank, best := levelRank[h.r.level], levelRank[f.Severity]
			if rank > best || (rank == best && h.r.score > f.Score) {
				f.Severity, f.Score = h.r.level, h.r.score
			}
		}
		fixed, fixable := groupFix(g)
		delete(ids, f.ID)
		if len(ids) > 0 {
			f.Aliases = make([]string, 0, len(ids))
			for id := range ids {
				f.Aliases = append(f.Aliases, id)
			}
			slices.Sort(f.Aliases)
		}
		if fixable && fixed != nil {
			f.FixedVersion = fixed.String()
		}
		out = append(out, f)
	}
	return out
}
