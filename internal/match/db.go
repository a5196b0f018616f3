// Package match owns vulnerability matching: it indexes a set of OSV
// records into a DB once and matches software bills of materials against
// it, turning installed packages into findings.
//
// A DB is built once per advisory data set and is immutable, so it can be
// shared by goroutines re-matching every stored SBOM after a data change.
// Its evaluation of a record follows osv.Record.Affects exactly (the tests
// compare the two over the real data); it only does the parsing and sorting
// of range events once, at NewDB, instead of on every comparison.
package match

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/version"
)

// ErrDuplicate is returned by NewDB when two records share an id.
var ErrDuplicate = errors.New("duplicate OSV record id")

// DB is an immutable index of OSV records for matching. Build it with
// NewDB; it is safe for concurrent use.
type DB struct {
	version string
	records int
	// index maps indexKey(base ecosystem, normalised name) to the records
	// with an affected entry for that package.
	index map[string][]candidate
}

// record is one indexed advisory with what every finding needs from it,
// computed once.
type record struct {
	rec   *osv.Record
	ids   []string // id then aliases, deduplicated
	level string
	score float64
}

// candidate is one record's affected entries for one index key, in the
// record's order.
type candidate struct {
	r    *record
	affs []*affected
}

// affected is an osv.Affected entry with its versions pre-parsed.
type affected struct {
	ecosystem string // the record's, e.g. "Debian:12"
	name      string
	versions  []listed
	ranges    []*osv.CompiledRange
	// err is a version in the entry's ranges that does not parse:
	// osv.Affects fails the whole record for a package this entry applies
	// to, and so does the matcher (events that cannot be ordered fail in
	// CompiledRange.Affects, as in osv.Affects).
	err error
}

type listed struct {
	raw string
	v   version.Version // nil when it does not parse
}

// NewDB indexes records for matching. Withdrawn records are dropped. Each
// affected package is indexed under its base ecosystem (version.Base) and
// its name (normalised for PyPI, PEP 503), and its range events are parsed
// and sorted once. It fails on a nil record or a duplicate id; a record
// whose versions do not parse is kept and, like osv.Affects, never reported
// for the packages it names.
func NewDB(records []*osv.Record) (*DB, error) {
	db := &DB{index: make(map[string][]candidate)}
	seen := make(map[string]bool, len(records))
	for i, r := range records {
		if r == nil {
			return nil, fmt.Errorf("record %d is nil", i)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("%w %s", ErrDuplicate, r.ID)
		}
		seen[r.ID] = true
	}
	db.version = contentVersion(records)
	for _, r := range records {
		if r.Withdrawn() {
			continue
		}
		db.records++
		rec := &record{rec: r, ids: r.IDs()}
		rec.level, rec.score = osv.SeverityOf(r)
		byKey := make(map[string]int) // key → index in keys
		var keys []string
		var cands []candidate
		for _, a := range r.Affected {
			if a.Package == nil || a.Package.Name == "" {
				continue
			}
			base := version.Base(a.Package.Ecosystem)
			key := indexKey(base, a.Package.Name)
			k, ok := byKey[key]
			if !ok {
				k = len(keys)
				byKey[key] = k
				keys = append(keys, key)
				cands = append(cands, candidate{r: rec})
			}
			cands[k].affs = append(cands[k].affs, compile(a))
		}
		for k, key := range keys {
			db.index[key] = append(db.index[key], cands[k])
		}
	}
	return db, nil
}

// Version identifies the record set: a SHA-256 over the sorted record ids
// with their modified and withdrawn times. Findings record it.
func (db *DB) Version() string { return db.version }

// Len returns how many records are indexed (withdrawn ones excluded).
func (db *DB) Len() int { return db.records }

func contentVersion(records []*osv.Record) string {
	lines := make([]string, 0, len(records))
	for _, r := range records {
		lines = append(lines, r.ID+"\t"+r.Modified.UTC().Format(time.RFC3339Nano)+"\t"+r.WithdrawnAt.UTC().Format(time.RFC3339Nano)+"\n")
	}
	slices.Sort(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// indexKey is the index key of a package: its base ecosystem and name,
// the name normalised where the ecosystem compares names loosely.
func indexKey(base, name string) string {
	return base + "\x00" + osv.NormaliseName(base, name)
}

// compile pre-parses one affected entry by its own ecosystem, which has the
// same base, hence the same comparator, as every package it is indexed for.
func compile(a osv.Affected) *affected {
	eco := a.Package.Ecosystem
	out := &affected{ecosystem: eco, name: a.Package.Name}
	for _, lv := range a.Versions {
		w, err := version.Parse(eco, lv)
		if err != nil {
			w = nil
		}
		out.versions = append(out.versions, listed{raw: lv, v: w})
	}
	for _, rg := range a.Ranges {
		if rg.Type != osv.RangeSemVer && rg.Type != osv.RangeEcosystem {
			continue
		}
		pr, err := osv.CompileRange(eco, rg)
		if err != nil {
			out.err = err
			return out
		}
		out.ranges = append(out.ranges, pr)
	}
	return out
}

// affects mirrors osv's evaluation of one affected entry for the parsed
// installed version v (raw is its text): whether v is affected, and the
// smallest fixed version above v.
func (a *affected) affects(raw string, v version.Version) (bool, version.Version, error) {
	hit := false
	for _, lv := range a.versions {
		if lv.raw == raw {
			hit = true
			break
		}
		if lv.v != nil {
			if c, err := v.Compare(lv.v); err == nil && c == 0 {
				hit = true
				break
			}
		}
	}
	var fix version.Version
	for _, rg := range a.ranges {
		in, f, err := rg.Affects(v)
		if err != nil {
			return false, nil, err
		}
		hit = hit || in
		if f != nil && (in || hit) {
			if fix == nil {
				fix = f
			} else if c, _ := f.Compare(fix); c < 0 {
				fix = f
			}
		}
	}
	return hit, fix, nil
}
