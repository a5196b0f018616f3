package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.Baselines = (*Store)(nil)

// Bounds of one PutBaselines statement: baselineRows rows of 4 parameters
// each, well under SQLite's limit of 32766, and baselineBytes of JSON.
const (
	baselineRows  = 256
	baselineBytes = 16 << 20
)

const upsertBaselineSet = ` ON CONFLICT (digest, container) DO UPDATE SET body = excluded.body, locked_at = excluded.locked_at`

// PutBaselines implements store.Baselines, with multi-row upserts in one
// transaction: one fsync for the batch.
func (s *Store) PutBaselines(ctx context.Context, bs []baseline.Baseline) error {
	enc, err := validate.Baselines(bs)
	if err != nil {
		return err
	}
	if len(enc) == 0 {
		return ctx.Err()
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for part := range validate.BaselineChunks(enc, baselineRows, baselineBytes) {
			if err := ctx.Err(); err != nil {
				return err
			}
			q := "INSERT INTO baselines (digest, container, body, locked_at) VALUES (?, ?, ?, ?)" +
				strings.Repeat(", (?, ?, ?, ?)", len(part)-1) + upsertBaselineSet
			args := make([]any, 0, 4*len(part))
			for _, b := range part {
				args = append(args, b.Key.Digest, b.Key.Container, string(b.Body), nullTime(b.LockedAt))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("upserting baselines: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing %d baselines in %s: %w", len(enc), s.path, err)
	}
	return nil
}

// AllBaselines implements store.Baselines.
func (s *Store) AllBaselines(ctx context.Context) ([]baseline.Baseline, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT digest, container, body FROM baselines ORDER BY digest, container")
	if err != nil {
		return nil, fmt.Errorf("loading baselines from %s: %w", s.path, err)
	}
	defer rows.Close()
	out := []baseline.Baseline{}
	for n := 0; rows.Next(); n++ {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("loading baselines: %w", err)
			}
		}
		var k baseline.Key
		var body []byte
		if err := rows.Scan(&k.Digest, &k.Container, &body); err != nil {
			return nil, fmt.Errorf("loading baselines from %s: %w", s.path, err)
		}
		b, err := validate.DecodeBaseline(k, body)
		if err != nil {
			return nil, fmt.Errorf("loading baselines from %s: %w", s.path, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading baselines from %s: %w", s.path, err)
	}
	return out, nil
}

// DeleteBaselines implements store.Baselines.
func (s *Store) DeleteBaselines(ctx context.Context, keys []baseline.Key) error {
	keys = validate.BaselineKeys(keys)
	if len(keys) == 0 {
		return ctx.Err()
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(keys); start += deleteChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := keys[start:min(start+deleteChunk, len(keys))]
			args := make([]any, 0, 2*len(part))
			for _, k := range part {
				args = append(args, k.Digest, k.Container)
			}
			q := "DELETE FROM baselines WHERE (digest, container) IN (VALUES (?, ?)" + strings.Repeat(", (?, ?)", len(part)-1) + ")"
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("deleting baselines: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting %d baselines from %s: %w", len(keys), s.path, err)
	}
	return nil
}
