package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.Scans = (*Store)(nil)

// nullTime is t as stored: NULL for the zero time, else UTC text to the
// microsecond.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeFormat)
}

// parseNullTime reads a time nullTime stored.
func parseNullTime(column string, v sql.NullString) (time.Time, error) {
	if !v.Valid {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeFormat, v.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad %s %q: %w", column, v.String, err)
	}
	return validate.UTC(t), nil
}

// PutSBOM implements store.Scans. The SBOM's JSON may not exceed 64 MiB.
func (s *Store) PutSBOM(ctx context.Context, sb *sbom.SBOM) error {
	body, err := validate.EncodeSBOM(sb)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sboms (digest, body, created_at) VALUES (?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET body = excluded.body, created_at = excluded.created_at`,
			sb.Digest, string(body), nullTime(sb.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("storing SBOM of %s in %s: %w", sb.Digest, s.path, err)
	}
	return nil
}

// SBOM implements store.Scans.
func (s *Store) SBOM(ctx context.Context, digest string) (*sbom.SBOM, error) {
	var body []byte
	err := s.reader.QueryRowContext(ctx, "SELECT body FROM sboms WHERE digest = ?", digest).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("loading SBOM of %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading SBOM of %s from %s: %w", digest, s.path, err)
	}
	var sb sbom.SBOM
	if err := json.Unmarshal(body, &sb); err != nil {
		return nil, fmt.Errorf("loading SBOM of %s from %s: decoding: %w", digest, s.path, err)
	}
	sb.CreatedAt = validate.UTC(sb.CreatedAt)
	sb.Config.Created = validate.UTC(sb.Config.Created)
	return &sb, nil
}

// SBOMDigests implements store.Scans.
func (s *Store) SBOMDigests(ctx context.Context) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT digest FROM sboms ORDER BY digest")
	if err != nil {
		return nil, fmt.Errorf("listing SBOMs in %s: %w", s.path, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("listing SBOMs in %s: %w", s.path, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing SBOMs in %s: %w", s.path, err)
	}
	return out, nil
}

// PutMatch implements store.Scans. MatchedAt is kept to the microsecond;
// Findings must be valid JSON of at most 64 MiB.
func (s *Store) PutMatch(ctx context.Context, m store.MatchResult) error {
	if err := validate.Match(m); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO matches (digest, db_version, matched_at, findings) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET db_version = excluded.db_version, matched_at = excluded.matched_at, findings = excluded.findings`,
			m.Digest, m.DBVersion, nullTime(m.MatchedAt), string(m.Findings))
		return err
	})
	if err != nil {
		return fmt.Errorf("storing match of %s in %s: %w", m.Digest, s.path, err)
	}
	return nil
}

const upsertMatchSet = ` ON CONFLICT (digest) DO UPDATE SET db_version = excluded.db_version, matched_at = excluded.matched_at, findings = excluded.findings`

// Bounds of one PutMatches statement: matchRows rows of 4 parameters each,
// well under SQLite's limit of 32766, and matchBytes of findings JSON, so
// that binding them copies little at a time.
const (
	matchRows  = 256
	matchBytes = 16 << 20
)

// PutMatches implements store.Scans, with multi-row upserts in one
// transaction: one fsync for the batch.
func (s *Store) PutMatches(ctx context.Context, ms []store.MatchResult) error {
	ms, err := validate.Matches(ms)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return ctx.Err()
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for part := range validate.MatchChunks(ms, matchRows, matchBytes) {
			if err := ctx.Err(); err != nil {
				return err
			}
			q := "INSERT INTO matches (digest, db_version, matched_at, findings) VALUES (?, ?, ?, ?)" +
				strings.Repeat(", (?, ?, ?, ?)", len(part)-1) + upsertMatchSet
			args := make([]any, 0, 4*len(part))
			for _, m := range part {
				args = append(args, m.Digest, m.DBVersion, nullTime(m.MatchedAt), string(m.Findings))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("upserting matches: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing %d matches in %s: %w", len(ms), s.path, err)
	}
	return nil
}

// Match implements store.Scans.
func (s *Store) Match(ctx context.Context, digest string) (store.MatchResult, error) {
	var m store.MatchResult
	var at sql.NullString
	var findings string
	err := s.reader.QueryRowContext(ctx, "SELECT digest, db_version, matched_at, findings FROM matches WHERE digest = ?", digest).
		Scan(&m.Digest, &m.DBVersion, &at, &findings)
	if errors.Is(err, sql.ErrNoRows) {
		return store.MatchResult{}, fmt.Errorf("loading match of %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return store.MatchResult{}, fmt.Errorf("loading match of %s from %s: %w", digest, s.path, err)
	}
	if m.MatchedAt, err = parseNullTime("matched_at", at); err != nil {
		return store.MatchResult{}, fmt.Errorf("loading match of %s from %s: %w", digest, s.path, err)
	}
	m.Findings = json.RawMessage(findings)
	return m, nil
}

// PutScanStatus implements store.Scans. Times are kept to the microsecond;
// zero times stay zero.
func (s *Store) PutScanStatus(ctx context.Context, st store.ScanStatus) error {
	if err := validate.ScanStatus(st); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO scan_status (digest, last_attempt, last_success, failures, last_error, next_attempt)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET last_attempt = excluded.last_attempt, last_success = excluded.last_success,
				failures = excluded.failures, last_error = excluded.last_error, next_attempt = excluded.next_attempt`,
			st.Digest, nullTime(st.LastAttempt), nullTime(st.LastSuccess), st.Failures, st.LastError, nullTime(st.NextAttempt))
		return err
	})
	if err != nil {
		return fmt.Errorf("storing scan status of %s in %s: %w", st.Digest, s.path, err)
	}
	return nil
}

// ScanStatuses implements store.Scans.
func (s *Store) ScanStatuses(ctx context.Context) ([]store.ScanStatus, error) {
	rows, err := s.reader.QueryContext(ctx,
		"SELECT digest, last_attempt, last_success, failures, last_error, next_attempt FROM scan_status ORDER BY digest")
	if err != nil {
		return nil, fmt.Errorf("listing scan statuses in %s: %w", s.path, err)
	}
	defer rows.Close()
	out := []store.ScanStatus{}
	for n := 0; rows.Next(); n++ {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("listing scan statuses: %w", err)
			}
		}
		var st store.ScanStatus
		var attempt, success, next sql.NullString
		if err := rows.Scan(&st.Digest, &attempt, &success, &st.Failures, &st.LastError, &next); err != nil {
			return nil, fmt.Errorf("listing scan statuses in %s: %w", s.path, err)
		}
		var errs [3]error
		st.LastAttempt, errs[0] = parseNullTime("last_attempt", attempt)
		st.LastSuccess, errs[1] = parseNullTime("last_success", success)
		st.NextAttempt, errs[2] = parseNullTime("next_attempt", next)
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("listing scan statuses in %s: digest %s: %w", s.path, st.Digest, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing scan statuses in %s: %w", s.path, err)
	}
	return out, nil
}

// deleteChunk bounds the digests in one DELETE's IN list, far below
// SQLite's limit of bound parameters.
const deleteChunk = 500

// DeleteScans implements store.Scans.
func (s *Store) DeleteScans(ctx context.Context, digests []string) error {
	digests = validate.Digests(digests)
	if len(digests) == 0 {
		return ctx.Err()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(digests); start += deleteChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := digests[start:min(start+deleteChunk, len(digests))]
			args := make([]any, len(part))
			for i, d := range part {
				args[i] = d
			}
			in := "(?" + strings.Repeat(", ?", len(part)-1) + ")"
			for _, table := range []string{"sboms", "matches", "scan_status"} {
				if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE digest IN "+in, args...); err != nil {
					return fmt.Errorf("deleting from %s: %w", table, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting scans of %d digests from %s: %w", len(digests), s.path, err)
	}
	return nil
}
