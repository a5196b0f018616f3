package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.Advisories = (*Store)(nil)

// advisoryBatch is how many rows one INSERT carries: 4 parameters each,
// well under SQLite's limit of 32766.
const advisoryBatch = 256

// ReplaceAdvisories implements store.Advisories. The stored source's
// Records is len(recs); a zero ImportedAt means now.
func (s *Store) ReplaceAdvisories(ctx context.Context, source store.AdvisorySource, recs []store.Advisory) error {
	if err := validate.Advisories(source, recs); err != nil {
		return err
	}
	importedAt := source.ImportedAt
	if importedAt.IsZero() {
		importedAt = time.Now()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM advisories WHERE source = ?", source.Name); err != nil {
			return fmt.Errorf("deleting old advisories: %w", err)
		}
		for start := 0; start < len(recs); start += advisoryBatch {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := recs[start:min(start+advisoryBatch, len(recs))]
			q := "INSERT INTO advisories (source, id, modified, body) VALUES (?, ?, ?, ?)" +
				strings.Repeat(", (?, ?, ?, ?)", len(part)-1)
			args := make([]any, 0, 4*len(part))
			for _, r := range part {
				args = append(args, source.Name, r.ID, r.Modified.UTC().Format(timeFormat), string(r.Body))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("inserting advisories: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO advisory_sources (name, location, records, imported_at, digest) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET location = excluded.location, records = excluded.records,
				imported_at = excluded.imported_at, digest = excluded.digest`,
			source.Name, source.Location, len(recs), importedAt.UTC().Format(timeFormat), source.Digest)
		if err != nil {
			return fmt.Errorf("recording the import: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing %d advisories of source %q in %s: %w", len(recs), source.Name, s.path, err)
	}
	return nil
}

// AllAdvisories implements store.Advisories.
func (s *Store) AllAdvisories(ctx context.Context) ([]store.Advisory, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading advisories: %w", err)
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT source, id, modified, body FROM advisories ORDER BY source, id")
	if err != nil {
		return nil, fmt.Errorf("loading advisories from %s: %w", s.path, err)
	}
	defer rows.Close()
	out := []store.Advisory{}
	for n := 0; rows.Next(); n++ {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("loading advisories: %w", err)
			}
		}
		var a store.Advisory
		var modified string
		if err := rows.Scan(&a.Source, &a.ID, &modified, &a.Body); err != nil {
			return nil, fmt.Errorf("loading advisories from %s: %w", s.path, err)
		}
		if a.Modified, err = time.Parse(timeFormat, modified); err != nil {
			return nil, fmt.Errorf("loading advisories from %s: advisory %s/%s: bad modified %q: %w", s.path, a.Source, a.ID, modified, err)
		}
		if a.Modified.IsZero() {
			a.Modified = time.Time{}
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading advisories from %s: %w", s.path, err)
	}
	return out, nil
}

// AdvisorySources implements store.Advisories.
func (s *Store) AdvisorySources(ctx context.Context) ([]store.AdvisorySource, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT name, location, records, imported_at, digest FROM advisory_sources ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing advisory sources in %s: %w", s.path, err)
	}
	defer rows.Close()
	out := []store.AdvisorySource{}
	for rows.Next() {
		var src store.AdvisorySource
		var at string
		if err := rows.Scan(&src.Name, &src.Location, &src.Records, &at, &src.Digest); err != nil {
			return nil, fmt.Errorf("listing advisory sources in %s: %w", s.path, err)
		}
		if src.ImportedAt, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("listing advisory sources in %s: source %q: bad imported_at %q: %w", s.path, src.Name, at, err)
		}
		out = append(out, src)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing advisory sources in %s: %w", s.path, err)
	}
	return out, nil
}
