package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.KEV = (*Store)(nil)

// kevBatch is how many rows one INSERT carries: 11 parameters each, well
// under SQLite's limit of 32766.
const kevBatch = 256

const kevColumns = `cve_id, vendor_project, product, vulnerability_name, date_added, short_description,
	required_action, due_date, known_ransomware_campaign_use, notes, cwes`

// ReplaceKEV implements store.KEV.
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
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM kev_entries"); err != nil {
			return fmt.Errorf("deleting the previous catalog: %w", err)
		}
		for start := 0; start < len(entries); start += kevBatch {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := entries[start:min(start+kevBatch, len(entries))]
			q := "INSERT INTO kev_entries (" + kevColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" +
				strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", len(part)-1)
			args := make([]any, 0, 11*len(part))
			for _, e := range part {
				cwes, err := json.Marshal(nonNil(e.CWEs))
				if err != nil {
					return fmt.Errorf("encoding the cwes of %s: %w", e.CVEID, err)
				}
				args = append(args, e.CVEID, e.VendorProject, e.Product, e.VulnerabilityName, e.DateAdded.String(), e.ShortDescription,
					e.RequiredAction, e.DueDate.String(), e.KnownRansomwareCampaignUse, e.Notes, string(cwes))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("inserting entries: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO kev_catalog (singleton, name, location, version, released, entries, imported_at, digest)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (singleton) DO UPDATE SET name = excluded.name, location = excluded.location, version = excluded.version,
				released = excluded.released, entries = excluded.entries, imported_at = excluded.imported_at, digest = excluded.digest`,
			src.Name, src.Location, src.Version, nullTime(src.Released), len(entries), importedAt.Format(timeFormat), src.Digest)
		if err != nil {
			return fmt.Errorf("recording the import: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing KEV catalog %q (%d entries) in %s: %w", src.Name, len(entries), s.path, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// KEVEntries implements store.KEV.
func (s *Store) KEVEntries(ctx context.Context) (store.KEVSource, []kev.Entry, error) {
	src, entries, err := s.kevEntries(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.KEVSource{}, nil, fmt.Errorf("loading KEV catalog from %s: %w", s.path, err)
	}
	return src, entries, err
}

func (s *Store) kevEntries(ctx context.Context) (store.KEVSource, []kev.Entry, error) {
	if err := ctx.Err(); err != nil {
		return store.KEVSource{}, nil, err
	}
	// One read transaction: WAL gives it one snapshot, so a concurrent
	// import cannot pair one catalog's description with another's entries.
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return store.KEVSource{}, nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to undo

	var src store.KEVSource
	var released sql.NullString
	var importedAt string
	err = tx.QueryRowContext(ctx, "SELECT name, location, version, released, entries, imported_at, digest FROM kev_catalog WHERE singleton = 1").
		Scan(&src.Name, &src.Location, &src.Version, &released, &src.Entries, &importedAt, &src.Digest)
	if errors.Is(err, sql.ErrNoRows) {
		return store.KEVSource{}, nil, fmt.Errorf("loading KEV catalog: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.KEVSource{}, nil, err
	}
	if src.Released, err = parseNullTime("released", released); err != nil {
		return store.KEVSource{}, nil, err
	}
	if src.ImportedAt, err = time.Parse(timeFormat, importedAt); err != nil {
		return store.KEVSource{}, nil, fmt.Errorf("bad imported_at %q: %w", importedAt, err)
	}

	rows, err := tx.QueryContext(ctx, "SELECT "+kevColumns+" FROM kev_entries ORDER BY cve_id")
	if err != nil {
		return store.KEVSource{}, nil, err
	}
	defer rows.Close()
	entries := make([]kev.Entry, 0, src.Entries)
	for n := 0; rows.Next(); n++ {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return store.KEVSource{}, nil, err
			}
		}
		var e kev.Entry
		var added, due, cwes string
		if err := rows.Scan(&e.CVEID, &e.VendorProject, &e.Product, &e.VulnerabilityName, &added, &e.ShortDescription,
			&e.RequiredAction, &due, &e.KnownRansomwareCampaignUse, &e.Notes, &cwes); err != nil {
			return store.KEVSource{}, nil, err
		}
		if e.DateAdded, err = kev.ParseDate(added); err != nil {
			return store.KEVSource{}, nil, fmt.Errorf("entry %s: date_added %w", e.CVEID, err)
		}
		if e.DueDate, err = kev.ParseDate(due); err != nil {
			return store.KEVSource{}, nil, fmt.Errorf("entry %s: due_date %w", e.CVEID, err)
		}
		if err := json.Unmarshal([]byte(cwes), &e.CWEs); err != nil {
			return store.KEVSource{}, nil, fmt.Errorf("entry %s: cwes %q: %w", e.CVEID, cwes, err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return store.KEVSource{}, nil, err
	}
	return src, entries, nil
}
