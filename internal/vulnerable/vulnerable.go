// Package vulnerable answers question 3: which containers carry known
// vulnerabilities, and how severe are they? It joins the digests each
// workload's containers run with the latest match of those digests.
package vulnerable

import (
	"cmp"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/osv"
)

// Severity keys of Item.Counts; "unknown" counts findings no advisory rates.
const Unknown = "unknown"

// Levels lists the severity keys from worst to least.
var Levels = []string{osv.LevelCritical, osv.LevelHigh, osv.LevelMedium, osv.LevelLow, Unknown}

// Item is one container of one workload running one vulnerable digest.
type Item struct {
	Workload      model.WorkloadRef `json:"workload"`
	Container     string            `json:"container"`
	ContainerType string            `json:"containerType"`
	Image         string            `json:"image"`
	Digest        string            `json:"digest"`
	// MaxSeverity is the worst level among the vulnerabilities.
	MaxSeverity string `json:"maxSeverity"`
	// Counts has a key per level of Levels.
	Counts map[string]int `json:"counts"`
	// Fixable counts the vulnerabilities with a known fixed version.
	Fixable int `json:"fixable"`
	// KnownExploited counts those in the KEV catalog.
	KnownExploited  int             `json:"knownExploited"`
	DBVersion       string          `json:"dbVersion"`
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// Vulnerability is one finding.
type Vulnerability struct {
	ID               string   `json:"id"`
	Aliases          []string `json:"aliases,omitempty"`
	Package          string   `json:"package"`
	Ecosystem        string   `json:"ecosystem"`
	Version          string   `json:"version"`
	SourcePackage    string   `json:"sourcePackage,omitempty"`
	InstalledVersion string   `json:"installedVersion"`
	FixedVersion     string   `json:"fixedVersion,omitempty"`
	Severity         string   `json:"severity"`
	Score            float64  `json:"score,omitempty"`
	Summary          string   `json:"summary,omitempty"`
	// KnownExploited is set when one of its ids is in the KEV catalog.
	KnownExploited *Exploit `json:"knownExploited,omitempty"`
}

// Exploit is the KEV catalog entry of a known-exploited vulnerability.
type Exploit struct {
	CVE            string `json:"cve"`
	DateAdded      string `json:"dateAdded"`
	DueDate        string `json:"dueDate,omitempty"`
	RequiredAction string `json:"requiredAction,omitempty"`
}

// Coverage counts the running containers of the answer by what is known
// of their image.
type Coverage struct {
	// Matched containers have a digest with a current or older match.
	Matched int
	// Unmatched containers run a digest never matched (not scanned yet,
	// scan failed, or no database).
	Unmatched int
	// NoDigest containers report no image digest.
	NoDigest int
}

// Rank orders severity levels: critical 4 … low 1, unknown 0.
func Rank(level string) int {
	switch level {
	case osv.LevelCritical:
		return 4
	case osv.LevelHigh:
		return 3
	case osv.LevelMedium:
		return 2
	case osv.LevelLow:
		return 1
	}
	return 0
}

// level maps a finding's severity to a key of Levels.
func level(s string) string {
	if Rank(s) == 0 {
		return Unknown
	}
	return s
}

// Has reports whether f is the flaw id: its id or one of its aliases,
// ignoring case.
func Has(f *match.Finding, id string) bool {
	if strings.EqualFold(f.ID, id) {
		return true
	}
	for _, a := range f.Aliases {
		if strings.EqualFold(a, id) {
			return true
		}
	}
	return false
}

// Answer returns the containers of ws that run a digest with known
// vulnerabilities, worst first (then most critical, most high…, then by
// workload, container and digest). With cve set, only the findings that
// are that flaw (by id or alias) count.
func Answer(ix *inventory.Index, ws []*model.Workload, cve string) ([]Item, Coverage) {
	v := ix.Images()
	catalog := v.Scheduler().KEV
	var out []Item
	var cov Coverage
	for _, w := range ws {
		ref := w.Ref()
		type ck struct{ container, digest string }
		seen := map[ck]bool{}
		for _, p := range ix.Pods(ref) {
			if p.Status == nil {
				continue
			}
			for _, cs := range p.Status.Containers {
				if cs.Digest == "" {
					if cs.Running {
						cov.NoDigest++
					}
					continue
				}
				k := ck{cs.Name, cs.Digest}
				if seen[k] {
					continue
				}
				seen[k] = true
				im := v.Image(cs.Digest)
				if im == nil || im.Match == nil {
					cov.Unmatched++
					continue
				}
				cov.Matched++
				it := Item{Workload: ref, Container: cs.Name, ContainerType: string(cs.Type), Digest: cs.Digest, DBVersion: im.Match.DBVersion, Counts: make(map[string]int, len(Levels))}
				for _, l := range Levels {
					it.Counts[l] = 0
				}
				for _, c := range p.Template.Containers {
					if c.Name == cs.Name {
						it.Image = c.Image.Original
						if c.Image.Error == "" {
							it.Image = c.Image.String()
						}
					}
				}
				for i := range im.Match.Findings {
					f := &im.Match.Findings[i]
					if cve != "" && !Has(f, cve) {
						continue
					}
					it.add(f, catalog)
				}
				if len(it.Vulnerabilities) == 0 {
					continue
				}
				out = append(out, it)
			}
		}
	}
	slices.SortStableFunc(out, compareItems)
	return out, cov
}

func (it *Item) add(f *match.Finding, catalog *kev.Catalog) {
	l := level(f.Severity)
	it.Counts[l]++
	if f.FixedVersion != "" {
		it.Fixable++
	}
	if it.MaxSeverity == "" || Rank(l) > Rank(it.MaxSeverity) {
		it.MaxSeverity = l
	}
	src := ""
	if f.Package.SourceName != "" && f.Package.SourceName != f.Package.Name {
		src = f.Package.SourceName
	}
	it.Vulnerabilities = append(it.Vulnerabilities, Vulnerability{
		ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Ecosystem: f.Package.Ecosystem, Version: f.Package.Version,
		SourcePackage: src, InstalledVersion: f.InstalledVersion, FixedVersion: f.FixedVersion,
		Severity: l, Score: f.Score, Summary: f.Summary,
	})
	if catalog == nil {
		return
	}
	if e, ok := catalog.Find(f.ID, f.Aliases); ok {
		it.KnownExploited++
		it.Vulnerabilities[len(it.Vulnerabilities)-1].KnownExploited = ExploitOf(e)
	}
}

// ExploitOf is the part of a KEV entry a finding shows.
func ExploitOf(e kev.Entry) *Exploit {
	return &Exploit{CVE: e.CVEID, DateAdded: e.DateAdded.String(), DueDate: e.DueDate.String(), RequiredAction: e.RequiredAction}
}

func compareItems(a, b Item) int {
	for _, l := range Levels {
		if c := cmp.Compare(b.Counts[l], a.Counts[l]); c != 0 {
			return c
		}
	}
	return cmp.Or(inventory.CompareRefs(a.Workload, b.Workload), cmp.Compare(a.Container, b.Container), cmp.Compare(a.Digest, b.Digest))
}
