package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.Scans = (*Store)(nil)

// nullTime is t as stored: NULL for the zero time, else t truncated to the
// microsecond (PostgreSQL would round; the SQLite store truncates).
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t
}

// fromNull reads a time nullTime stored.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return validate.UTC(*t)
}

// PutSBOM implements store.Scans. The SBOM's JSON may not exceed 64 MiB.
func (s *Store) PutSBOM(ctx context.Context, sb *sbom.SBOM) error {
	body, err := validate.EncodeSBOM(sb)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sboms (digest, body, created_at) VALUES ($1, $2::text::json, $3)
			ON CONFLICT (digest) DO UPDATE SET body = excluded.body, created_at = excluded.created_at`,
			sb.Digest, string(body), nullTime(sb.CreatedAt))
		return err
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing SBOM of %s in %s: %w", sb.Digest, s.where, err))
	}
	return nil
}

// SBOM implements store.Scans.
func (s *Store) SBOM(ctx context.Context, digest string) (*sbom.SBOM, error) {
	var body string
	err := s.pool.QueryRow(ctx, "SELECT body::text FROM sboms WHERE digest = $1", digest).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("loading SBOM of %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.scrub(fmt.Errorf("loading SBOM of %s from %s: %w", digest, s.where, err))
	}
	var sb sbom.SBOM
	if err := json.Unmarshal([]byte(body), &sb); err != nil {
		return nil, fmt.Errorf("loading SBOM of %s from %s: decoding: %w", digest, s.where, err)
	}
	sb.CreatedAt = validate.UTC(sb.CreatedAt)
	sb.Config.Created = validate.UTC(sb.Config.Created)
	return &sb, nil
}

// SBOMDigests implements store.Scans.
func (s *Store) SBOMDigests(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT digest FROM sboms ORDER BY digest")
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing SBOMs in %s: %w", s.where, err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing SBOMs in %s: %w", s.where, err))
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// PutMatch implements store.Scans. MatchedAt is kept to the microsecond;
// Findings must be valid JSON of at most 64 MiB.
func (s *Store) PutMatch(ctx context.Context, m store.MatchResult) error {
	if err := validate.Match(m); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO matches (digest, db_version, matched_at, findings) VALUES ($1, $2, $3, $4::text::json)
			ON CONFLICT (digest) DO UPDATE SET db_version = excluded.db_version, matched_at = excluded.matched_at, findings = excluded.findings`,
			m.Digest, m.DBVersion, nullTime(m.MatchedAt), string(m.Findings))
		return err
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing match of %s in %s: %w", m.Digest, s.where, err))
	}
	return nil
}

const upsertMatches = `INSERT INTO matches (digest, db_version, matched_at, findings)
SELECT d, v, a, f::json
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS t(d, v, a, f)
ON CONFLICT (digest) DO UPDATE SET db_version = excluded.db_version, matched_at = excluded.matched_at, findings = excluded.findings`

// matchBytes bounds the findings JSON one PutMatches statement sends, far
// below PostgreSQL's limit of 1 GB for one array.
const matchBytes = 16 << 20

// PutMatches implements store.Scans, with multi-row upserts in one
// transaction, in digest order so that concurrent writers lock rows in one
// order; inTx retries a deadlock that happens nonetheless.
func (s *Store) PutMatches(ctx context.Context, ms []store.MatchResult) error {
	ms, err := validate.Matches(ms)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return ctx.Err()
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		for part := range validate.MatchChunks(ms, chunk, matchBytes) {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := len(part)
			digests, versions, at, findings := make([]string, n), make([]string, n), make([]*time.Time, n), make([]string, n)
			for i, m := range part {
				digests[i], versions[i], at[i], findings[i] = m.Digest, m.DBVersion, nullTime(m.MatchedAt), string(m.Findings)
			}
			if _, err := tx.Exec(ctx, upsertMatches, digests, versions, at, findings); err != nil {
				return fmt.Errorf("upserting matches: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing %d matches in %s: %w", len(ms), s.where, err))
	}
	return nil
}

// Match implements store.Scans.
func (s *Store) Match(ctx context.Context, digest string) (store.MatchResult, error) {
	var m store.MatchResult
	var at *time.Time
	var findings string
	err := s.pool.QueryRow(ctx, "SELECT digest, db_version, matched_at, findings::text FROM matches WHERE digest = $1", digest).
		Scan(&m.Digest, &m.DBVersion, &at, &findings)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.MatchResult{}, fmt.Errorf("loading match of %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return store.MatchResult{}, s.scrub(fmt.Errorf("loading match of %s from %s: %w", digest, s.where, err))
	}
	m.MatchedAt = fromNull(at)
	m.Findings = json.RawMessage(findings)
	return m, nil
}

// PutScanStatus implements store.Scans. Times are kept to the microsecond;
// zero times stay zero.
func (s *Store) PutScanStatus(ctx context.Context, st store.ScanStatus) error {
	if err := validate.ScanStatus(st); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO scan_status (digest, last_attempt, last_success, failures, last_error, next_attempt)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (digest) DO UPDATE SET last_attempt = excluded.last_attempt, last_success = excluded.last_success,
				failures = excluded.failures, last_error = excluded.last_error, next_attempt = excluded.next_attempt`,
			st.Digest, nullTime(st.LastAttempt), nullTime(st.LastSuccess), st.Failures, st.LastError, nullTime(st.NextAttempt))
		return err
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing scan status of %s in %s: %w", st.Digest, s.where, err))
	}
	return nil
}

// ScanStatuses implements store.Scans.
func (s *Store) ScanStatuses(ctx context.Context) ([]store.ScanStatus, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT digest, last_attempt, last_success, failures, last_error, next_attempt FROM scan_status ORDER BY digest")
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing scan statuses in %s: %w", s.where, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.ScanStatus, error) {
		var st store.ScanStatus
		var attempt, success, next *time.Time
		err := row.Scan(&st.Digest, &attempt, &success, &st.Failures, &st.LastError, &next)
		st.LastAttempt, st.LastSuccess, st.NextAttempt = fromNull(attempt), fromNull(success), fromNull(next)
		return st, err
	})
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing scan statuses in %s: %w", s.where, err))
	}
	if out == nil {
		out = []store.ScanStatus{}
	}
	return out, nil
}

// DeleteScans implements store.Scans. It clears one table after the
// other, each in digest order, so that concurrent deletes lock rows in
// one order; inTx retries a deadlock that happens nonetheless.
func (s *Store) DeleteScans(ctx context.Context, digests []string) error {
	digests = validate.Digests(digests)
	if len(digests) == 0 {
		return ctx.Err()
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, table := range []string{"sboms", "matches", "scan_status"} {
			for start := 0; start < len(digests); start += chunk {
				if err := ctx.Err(); err != nil {
					return err
				}
				part := digests[start:min(start+chunk, len(digests))]
				if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE digest = ANY($1::text[])", part); err != nil {
					return fmt.Errorf("deleting from %s: %w", table, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("deleting scans of %d digests from %s: %w", len(digests), s.where, err))
	}
	return nil
}
