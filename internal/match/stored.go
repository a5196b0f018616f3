package match

import (
	"context"
	"fmt"

	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/store"
)

// Stored is the part of store.Advisories a database is loaded from.
type Stored interface {
	AllAdvisories(ctx context.Context) ([]store.Advisory, error)
	AdvisorySources(ctx context.Context) ([]store.AdvisorySource, error)
}

// Load builds the database from the stored advisories and returns it with
// the sources it came from. A record stored by several sources counts
// once: the most recently modified copy, the first source's on a tie. A
// stored record that no longer parses is skipped and reported to warn.
func Load(ctx context.Context, st Stored, warn func(error)) (*DB, []store.AdvisorySource, error) {
	sources, err := st.AdvisorySources(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing advisory sources: %w", err)
	}
	all, err := st.AllAdvisories(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading advisories: %w", err)
	}
	byID := make(map[string]*osv.Record, len(all))
	ids := make([]string, 0, len(all))
	for _, a := range all {
		r, err := osv.Parse(a.Body)
		if err != nil {
			if warn != nil {
				warn(fmt.Errorf("skipped stored record %s of source %q: %w; re-import the source", a.ID, a.Source, err))
			}
			continue
		}
		if prev, dup := byID[r.ID]; dup {
			if r.Modified.After(prev.Modified) {
				byID[r.ID] = r
			}
			continue
		}
		byID[r.ID] = r
		ids = append(ids, r.ID)
	}
	recs := make([]*osv.Record, len(ids))
	for i, id := range ids {
		recs[i] = byID[id]
	}
	db, err := NewDB(recs)
	if err != nil {
		return nil, nil, fmt.Errorf("building the vulnerability database: %w", err)
	}
	return db, sources, nil
}
