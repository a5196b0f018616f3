package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.Flows = (*Store)(nil)

// flowRows bounds the rows of one upsert: 16 parameters each, well under
// SQLite's limit of 32766.
const flowRows = 1000

const flowKeyColumns = `cluster, src_kind, src_namespace, src_name, src_addr, dst_kind, dst_namespace, dst_name, dst_addr, port, protocol`

var upsertFlowSet = fmt.Sprintf(` ON CONFLICT (%s, source, day) DO UPDATE SET
	first_seen = min(first_seen, excluded.first_seen),
	last_seen = max(last_seen, excluded.last_seen),
	count = CASE WHEN count > %[2]d - excluded.count THEN %[2]d ELSE count + excluded.count END`, flowKeyColumns, uint64(flows.MaxCount))

// PutFlows implements store.Flows: multi-row upserts in one transaction.
func (s *Store) PutFlows(ctx context.Context, source string, recs []flows.Record) error {
	rows, err := validate.Flows(source, recs)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return ctx.Err()
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(rows); start += flowRows {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := rows[start:min(start+flowRows, len(rows))]
			q := "INSERT INTO flows (" + flowKeyColumns + ", source, day, first_seen, last_seen, count) VALUES " +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", len(part)), ", ") + upsertFlowSet
			args := make([]any, 0, 16*len(part))
			for _, r := range part {
				args = append(args, r.Cluster, r.Src.Kind, r.Src.Namespace, r.Src.Name, r.Src.Addr, r.Dst.Kind, r.Dst.Namespace, r.Dst.Name, r.Dst.Addr,
					int64(r.Port), r.Protocol, source, r.Day.Format(validate.DayFormat), r.FirstSeen.Format(timeFormat), r.LastSeen.Format(timeFormat), int64(r.Count))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("upserting flows: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing %d flow records in %s: %w", len(rows), s.path, err)
	}
	return nil
}

// FlowRecords implements store.Flows, in one read transaction so that the
// records and their sources belong together.
func (s *Store) FlowRecords(ctx context.Context, q store.FlowQuery) (*flows.Set, error) {
	limit := validate.FlowLimit(q)
	where := "last_seen >= ?"
	args := []any{q.Since.UTC().Format(timeFormat)}
	if q.Cluster != "" {
		where += " AND cluster = ?"
		args = append(args, q.Cluster)
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("loading flows from %s: %w", s.path, err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	rows, err := tx.QueryContext(ctx, "SELECT "+flowKeyColumns+", min(first_seen), max(last_seen), total(count) FROM flows WHERE "+where+
		" GROUP BY "+flowKeyColumns+" ORDER BY max(last_seen) DESC, "+flowKeyColumns+" LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("loading flows from %s: %w", s.path, err)
	}
	defer rows.Close()
	var (
		dec  validate.FlowDecoder
		recs []flows.Record
	)
	for n := 0; rows.Next(); n++ {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("loading flows: %w", err)
			}
		}
		var (
			cluster, protocol, first, last string
			src, dst                       validate.FlowEnd
			port                           int64
			count                          float64
		)
		if err := rows.Scan(&cluster, &src.Kind, &src.Namespace, &src.Name, &src.Addr, &dst.Kind, &dst.Namespace, &dst.Name, &dst.Addr,
			&port, &protocol, &first, &last, &count); err != nil {
			return nil, fmt.Errorf("loading flows from %s: %w", s.path, err)
		}
		ft, err1 := time.Parse(timeFormat, first)
		lt, err2 := time.Parse(timeFormat, last)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("loading flows from %s: bad time %q or %q", s.path, first, last)
		}
		r, err := dec.Record(cluster, src, dst, port, protocol, ft, lt, validate.FlowCount(count))
		if err != nil {
			return nil, fmt.Errorf("loading flows from %s: %w", s.path, err)
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading flows from %s: %w", s.path, err)
	}
	srcRows, err := tx.QueryContext(ctx, "SELECT DISTINCT source FROM flows WHERE "+where+" ORDER BY source", args...)
	if err != nil {
		return nil, fmt.Errorf("loading flow sources from %s: %w", s.path, err)
	}
	defer srcRows.Close()
	var sources []string
	for srcRows.Next() {
		var src string
		if err := srcRows.Scan(&src); err != nil {
			return nil, fmt.Errorf("loading flow sources from %s: %w", s.path, err)
		}
		sources = append(sources, src)
	}
	if err := srcRows.Err(); err != nil {
		return nil, fmt.Errorf("loading flow sources from %s: %w", s.path, err)
	}
	return validate.FlowSet(q, limit, recs, sources), nil
}

// PruneFlows implements store.Flows.
func (s *Store) PruneFlows(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM flows WHERE last_seen < ?", before.UTC().Format(timeFormat))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pruning flows in %s: %w", s.path, err)
	}
	return n, nil
}
