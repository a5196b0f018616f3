package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.KEV = (*Store)(nil)

var kevColumns = []string{"cve_id", "vendor_project", "product", "vulnerability_name", "date_added", "short_description",
	"required_action", "due_date", "known_ransomware_campaign_use", "notes", "cwes"}

// ReplaceKEV implements store.KEV. Entries are sent with COPY, in one
// transaction with the delete of the previous catalog.
func (s *Store) ReplaceKEV(ctx context.Context, src store.KEVSource, entries []kev.Entry) error {
	entries, err := validate.KEV(src, entries)
	if err != nil {
		return err
	}
	importedAt := src.ImportedAt
	if importedAt.IsZero() {
		importedAt = time.Now()
	}
	importedAt = importedAt.UTC().Truncate(time.Microsecond)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM kev_entries"); err != nil {
			return fmt.Errorf("deleting the previous catalog: %w", err)
		}
		rows := make([][]any, len(entries))
		for i, e := range entries {
			cwes := e.CWEs
			if cwes == nil {
				cwes = []string{} // a nil slice would be NULL
			}
			rows[i] = []any{e.CVEID, e.VendorProject, e.Product, e.VulnerabilityName, e.DateAdded.Time(), e.ShortDescription,
				e.RequiredAction, e.DueDate.Time(), e.KnownRansomwareCampaignUse, e.Notes, cwes}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"kev_entries"}, kevColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("inserting entries: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO kev_catalog (singleton, name, location, version, released, entries, imported_at, digest)
			VALUES (1, $1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (singleton) DO UPDATE SET name = excluded.name, location = excluded.location, version = excluded.version,
				released = excluded.released, entries = excluded.entries, imported_at = excluded.imported_at, digest = excluded.digest`,
			src.Name, src.Location, src.Version, nullTime(src.Released), len(entries), importedAt, src.Digest)
		if err != nil {
			return fmt.Errorf("recording the import: %w", err)
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing KEV catalog %q (%d entries) in %s: %w", src.Name, len(entries), s.where, err))
	}
	return nil
}

// KEVEntries implements store.KEV, in one repeatable-read transaction so
// that the description and the entries are of the same import.
func (s *Store) KEVEntries(ctx context.Context) (store.KEVSource, []kev.Entry, error) {
	if err := ctx.Err(); err != nil {
		return store.KEVSource{}, nil, fmt.Errorf("loading KEV catalog: %w", err)
	}
	var src store.KEVSource
	var entries []kev.Entry
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var released *time.Time
		err := tx.QueryRow(ctx, "SELECT name, location, version, released, entries, imported_at, digest FROM kev_catalog WHERE singleton = 1").
			Scan(&src.Name, &src.Location, &src.Version, &released, &src.Entries, &src.ImportedAt, &src.Digest)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		src.Released, src.ImportedAt = fromNull(released), validate.UTC(src.ImportedAt)
		rows, err := tx.Query(ctx, "SELECT cve_id, vendor_project, product, vulnerability_name, date_added, short_description, "+
			"required_action, due_date, known_ransomware_campaign_use, notes, cwes FROM kev_entries ORDER BY cve_id")
		if err != nil {
			return err
		}
		defer rows.Close()
		entries = make([]kev.Entry, 0, src.Entries)
		var added, due time.Time
		for n := 0; rows.Next(); n++ {
			if n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var e kev.Entry
			if err := rows.Scan(&e.CVEID, &e.VendorProject, &e.Product, &e.VulnerabilityName, &added, &e.ShortDescription,
				&e.RequiredAction, &due, &e.KnownRansomwareCampaignUse, &e.Notes, &e.CWEs); err != nil {
				return err
			}
			e.DateAdded, e.DueDate = kev.DateOf(added), kev.DateOf(due)
			entries = append(entries, e)
		}
		return rows.Err()
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.KEVSource{}, nil, fmt.Errorf("loading KEV catalog: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.KEVSource{}, nil, s.scrub(fmt.Errorf("loading KEV catalog from %s: %w", s.where, err))
	}
	return src, entries, nil
}
