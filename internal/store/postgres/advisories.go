package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.Advisories = (*Store)(nil)

const insertAdvisories = `INSERT INTO advisories (source, id, modified, body)
SELECT $1, i, m, b::json
FROM unnest($2::text[], $3::timestamptz[], $4::text[]) AS t(i, m, b)`

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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM advisories WHERE source = $1", source.Name); err != nil {
			return fmt.Errorf("deleting old advisories: %w", err)
		}
		for start := 0; start < len(recs); start += chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := recs[start:min(start+chunk, len(recs))]
			ids, mods, bodies := make([]string, len(part)), make([]time.Time, len(part)), make([]string, len(part))
			for i, r := range part {
				ids[i], mods[i], bodies[i] = r.ID, r.Modified.UTC(), string(r.Body)
			}
			if _, err := tx.Exec(ctx, insertAdvisories, source.Name, ids, mods, bodies); err != nil {
				return fmt.Errorf("inserting advisories: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO advisory_sources (name, location, records, imported_at, digest) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (name) DO UPDATE SET location = excluded.location, records = excluded.records,
				imported_at = excluded.imported_at, digest = excluded.digest`,
			source.Name, source.Location, len(recs), importedAt, source.Digest)
		if err != nil {
			return fmt.Errorf("recording the import: %w", err)
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing %d advisories of source %q in %s: %w", len(recs), source.Name, s.where, err))
	}
	return nil
}

// AllAdvisories implements store.Advisories.
func (s *Store) AllAdvisories(ctx context.Context) ([]store.Advisory, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading advisories: %w", err)
	}
	rows, err := s.pool.Query(ctx, "SELECT source, id, modified, body FROM advisories ORDER BY source, id")
	if err != nil {
		return nil, s.scrub(fmt.Errorf("loading advisories from %s: %w", s.where, err))
	}
	defer rows.Close()
	out := []store.Advisory{}
	for n := 0; rows.Next(); n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("loading advisories: %w", err)
			}
		}
		var a store.Advisory
		if err := rows.Scan(&a.Source, &a.ID, &a.Modified, &a.Body); err != nil {
			return nil, s.scrub(fmt.Errorf("loading advisories from %s: %w", s.where, err))
		}
		a.Modified = validate.UTC(a.Modified)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.scrub(fmt.Errorf("loading advisories from %s: %w", s.where, err))
	}
	return out, nil
}

// AdvisorySources implements store.Advisories.
func (s *Store) AdvisorySources(ctx context.Context) ([]store.AdvisorySource, error) {
	rows, err := s.pool.Query(ctx, "SELECT name, location, records, imported_at, digest FROM advisory_sources ORDER BY name")
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing advisory sources in %s: %w", s.where, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.AdvisorySource, error) {
		var src store.AdvisorySource
		err := row.Scan(&src.Name, &src.Location, &src.Records, &src.ImportedAt, &src.Digest)
		src.ImportedAt = validate.UTC(src.ImportedAt)
		return src, err
	})
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing advisory sources in %s: %w", s.where, err))
	}
	if out == nil {
		out = []store.AdvisorySource{}
	}
	return out, nil
}
