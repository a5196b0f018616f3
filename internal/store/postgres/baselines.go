package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.Baselines = (*Store)(nil)

const upsertBaselines = `INSERT INTO baselines (digest, container, body, locked_at)
SELECT d, c, b::json, l
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(d, c, b, l)
ON CONFLICT (digest, container) DO UPDATE SET body = excluded.body, locked_at = excluded.locked_at`

const deleteBaselines = `DELETE FROM baselines b
USING unnest($1::text[], $2::text[]) AS t(d, c)
WHERE b.digest = t.d AND b.container = t.c`

// baselineBytes bounds the JSON one PutBaselines statement sends, far
// below PostgreSQL's limit of 1 GB for one array.
const baselineBytes = 16 << 20

// PutBaselines implements store.Baselines, with multi-row upserts in one
// transaction, in key order so that concurrent writers lock rows in one
// order; inTx retries a deadlock that happens nonetheless.
func (s *Store) PutBaselines(ctx context.Context, bs []baseline.Baseline) error {
	enc, err := validate.Baselines(bs)
	if err != nil {
		return err
	}
	if len(enc) == 0 {
		return ctx.Err()
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		for part := range validate.BaselineChunks(enc, chunk, baselineBytes) {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := len(part)
			digests, containers, bodies, locked := make([]string, n), make([]string, n), make([]string, n), make([]*time.Time, n)
			for i, b := range part {
				digests[i], containers[i], bodies[i], locked[i] = b.Key.Digest, b.Key.Container, string(b.Body), nullTime(b.LockedAt)
			}
			if _, err := tx.Exec(ctx, upsertBaselines, digests, containers, bodies, locked); err != nil {
				return fmt.Errorf("upserting baselines: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing %d baselines in %s: %w", len(enc), s.where, err))
	}
	return nil
}

// AllBaselines implements store.Baselines.
func (s *Store) AllBaselines(ctx context.Context) ([]baseline.Baseline, error) {
	rows, err := s.pool.Query(ctx, "SELECT digest, container, body::text FROM baselines ORDER BY digest, container")
	if err != nil {
		return nil, s.scrub(fmt.Errorf("loading baselines from %s: %w", s.where, err))
	}
	defer rows.Close()
	out := []baseline.Baseline{}
	for n := 0; rows.Next(); n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("loading baselines: %w", err)
			}
		}
		var k baseline.Key
		var body string
		if err := rows.Scan(&k.Digest, &k.Container, &body); err != nil {
			return nil, s.scrub(fmt.Errorf("loading baselines from %s: %w", s.where, err))
		}
		b, err := validate.DecodeBaseline(k, []byte(body))
		if err != nil {
			return nil, fmt.Errorf("loading baselines from %s: %w", s.where, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, s.scrub(fmt.Errorf("loading baselines from %s: %w", s.where, err))
	}
	return out, nil
}

// DeleteBaselines implements store.Baselines, in key order so that
// concurrent deletes lock rows in one order; inTx retries a deadlock that
// happens nonetheless.
func (s *Store) DeleteBaselines(ctx context.Context, keys []baseline.Key) error {
	keys = validate.BaselineKeys(keys)
	if len(keys) == 0 {
		return ctx.Err()
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for start := 0; start < len(keys); start += chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := keys[start:min(start+chunk, len(keys))]
			digests, containers := make([]string, len(part)), make([]string, len(part))
			for i, k := range part {
				digests[i], containers[i] = k.Digest, k.Container
			}
			if _, err := tx.Exec(ctx, deleteBaselines, digests, containers); err != nil {
				return fmt.Errorf("deleting baselines: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("deleting %d baselines from %s: %w", len(keys), s.where, err))
	}
	return nil
}
