// Package scanage answers question 2: how long ago was each running image
// scanned? It lists every digest the pods report running with when its SBOM
// was made, when it was last matched and against which vulnerability
// database, and what went wrong if it could not be scanned.
package scanage

import (
	"cmp"
	"slices"
	"time"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// States of an image.
const (
	// StateFresh: scanned within the maximum age.
	StateFresh = "fresh"
	// StateStale: the SBOM is older than the maximum age.
	StateStale = "stale"
	// StateNeverScanned: no SBOM yet and no failed attempt.
	StateNeverScanned = "never-scanned"
	// StateFailing: the last attempt failed (an older SBOM may exist).
	StateFailing = "failing"
)

// Match states of an image.
const (
	// MatchCurrent: matched against the database in use.
	MatchCurrent = "current"
	// MatchOutdated: matched against an older database version.
	MatchOutdated = "outdated"
	// MatchNone: never matched (not scanned, or no database imported).
	MatchNone = "none"
)

// DefaultMaxAge is the maximum age when the view names none.
const DefaultMaxAge = 24 * time.Hour

// Item is one running image digest.
type Item struct {
	Digest string `json:"digest"`
	// Images are the repositories the containers running it name.
	Images []string `json:"images"`
	// Workloads run it, sorted.
	Workloads  []model.WorkloadRef `json:"workloads"`
	State      string              `json:"state"`
	ScannedAt  time.Time           `json:"scannedAt,omitzero"`
	AgeSeconds int64               `json:"ageSeconds,omitempty"`
	OS         string              `json:"os,omitempty"`
	Packages   int                 `json:"packages,omitempty"`
	MatchState string              `json:"matchState"`
	MatchedAt  time.Time           `json:"matchedAt,omitzero"`
	DBVersion  string              `json:"dbVersion,omitempty"`
	// Findings is the number of vulnerabilities of the latest match.
	Findings    int       `json:"findings"`
	Failures    int       `json:"failures,omitempty"`
	LastError   string    `json:"lastError,omitempty"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
}

// Running is one running digest of a set of workloads.
type Running struct {
	Digest    string
	Images    []string
	Workloads []model.WorkloadRef
}

// RunningImages returns the digests the pods of ws report running, sorted,
// with the images and workloads that run each, and the number of running
// containers whose status names no digest.
func RunningImages(ix *inventory.Index, ws []*model.Workload) ([]Running, int) {
	byDigest := map[string]*Running{}
	noDigest := 0
	for _, w := range ws {
		ref := w.Ref()
		for _, p := range ix.Pods(ref) {
			if p.Status == nil {
				continue
			}
			for _, cs := range p.Status.Containers {
				if cs.Digest == "" {
					if cs.Running {
						noDigest++
					}
					continue
				}
				r := byDigest[cs.Digest]
				if r == nil {
					r = &Running{Digest: cs.Digest}
					byDigest[cs.Digest] = r
				}
				if !slices.Contains(r.Workloads, ref) {
					r.Workloads = append(r.Workloads, ref)
				}
				for _, c := range p.Template.Containers {
					if c.Name == cs.Name && c.Image.Error == "" {
						if n := c.Image.Name(); !slices.Contains(r.Images, n) {
							r.Images = append(r.Images, n)
						}
					}
				}
			}
		}
	}
	out := make([]Running, 0, len(byDigest))
	for _, r := range byDigest {
		slices.SortFunc(r.Workloads, inventory.CompareRefs)
		slices.Sort(r.Images)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Running) int { return cmp.Compare(a.Digest, b.Digest) })
	return out, noDigest
}

// Answer returns one item per running digest of ws, the most urgent first:
// failing, never scanned, stale, fresh; then oldest scan first, then by
// digest.
func Answer(ix *inventory.Index, ws []*model.Workload, now time.Time) ([]Item, int) {
	running, noDigest := RunningImages(ix, ws)
	v := ix.Images()
	sched := v.Scheduler()
	maxAge := cmp.Or(sched.MaxAge, DefaultMaxAge)
	items := make([]Item, 0, len(running))
	for _, r := range running {
		it := Item{Digest: r.Digest, Images: r.Images, Workloads: r.Workloads, State: StateNeverScanned, MatchState: MatchNone}
		if it.Images == nil {
			it.Images = []string{}
		}
		im := v.Image(r.Digest)
		if im != nil {
			if s := im.SBOM; s != nil {
				it.ScannedAt = s.ScannedAt
				it.AgeSeconds = int64(now.Sub(s.ScannedAt) / time.Second)
				it.OS = s.OS.Name
				it.Packages = s.Packages
				it.State = StateFresh
				if now.Sub(s.ScannedAt) > maxAge {
					it.State = StateStale
				}
			}
			if m := im.Match; m != nil {
				it.MatchedAt, it.DBVersion, it.Findings = m.MatchedAt, m.DBVersion, len(m.Findings)
				it.MatchState = MatchCurrent
				if sched.DBVersion != "" && m.DBVersion != sched.DBVersion {
					it.MatchState = MatchOutdated
				}
			}
			if st := im.Status; st.Failures > 0 {
				it.State = StateFailing
				it.Failures, it.LastError, it.NextAttempt = st.Failures, st.LastError, st.NextAttempt
			}
			it.LastAttempt = im.Status.LastAttempt
		}
		items = append(items, it)
	}
	rank := map[string]int{StateFailing: 0, StateNeverScanned: 1, StateStale: 2, StateFresh: 3}
	slices.SortStableFunc(items, func(a, b Item) int {
		return cmp.Or(cmp.Compare(rank[a.State], rank[b.State]), a.ScannedAt.Compare(b.ScannedAt), cmp.Compare(a.Digest, b.Digest))
	})
	return items, noDigest
}
