package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/validate"
)

var _ store.Flows = (*Store)(nil)

const flowKeyColumns = `cluster, src_kind, src_namespace, src_name, src_addr, dst_kind, dst_namespace, dst_name, dst_addr, port, protocol`

var upsertFlows = fmt.Sprintf(`INSERT INTO flows (%s, source, day, first_seen, last_seen, count)
SELECT c, sk, sns, sn, sa, dk, dns, dn, da, p, pr, $12, d, f, l, n
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::integer[], $11::text[],
	$13::date[], $14::timestamptz[], $15::timestamptz[], $16::bigint[]) AS t(c, sk, sns, sn, sa, dk, dns, dn, da, p, pr, d, f, l, n)
ON CONFLICT (%[1]s, source, day) DO UPDATE SET
	first_seen = LEAST(flows.first_seen, excluded.first_seen),
	last_seen = GREATEST(flows.last_seen, excluded.last_seen),
	count = CASE WHEN flows.count > %[2]d - excluded.count THEN %[2]d ELSE flows.count + excluded.count END`, flowKeyColumns, uint64(flows.MaxCount))

// PutFlows implements store.Flows: array upserts in one transaction, in
// key order so that concurrent writers lock rows in one order; inTx
// retries a deadlock that happens nonetheless.
func (s *Store) PutFlows(ctx context.Context, source string, recs []flows.Record) error {
	rows, err := validate.Flows(source, recs)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return ctx.Err()
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		for start := 0; start < len(rows); start += chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			part := rows[start:min(start+chunk, len(rows))]
			n := len(part)
			cols := make([][]string, 10)
			for i := range cols {
				cols[i] = make([]string, n)
			}
			ports, days, firsts, lasts, counts := make([]int32, n), make([]time.Time, n), make([]time.Time, n), make([]time.Time, n), make([]int64, n)
			for i, r := range part {
				cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i] = r.Cluster, r.Src.Kind, r.Src.Namespace, r.Src.Name, r.Src.Addr
				cols[5][i], cols[6][i], cols[7][i], cols[8][i], cols[9][i] = r.Dst.Kind, r.Dst.Namespace, r.Dst.Name, r.Dst.Addr, r.Protocol
				ports[i], days[i], firsts[i], lasts[i], counts[i] = int32(r.Port), r.Day, r.FirstSeen, r.LastSeen, int64(r.Count)
			}
			if _, err := tx.Exec(ctx, upsertFlows, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8],
				ports, cols[9], source, days, firsts, lasts, counts); err != nil {
				return fmt.Errorf("upserting flows: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing %d flow records in %s: %w", len(rows), s.where, err))
	}
	return nil
}

// FlowRecords implements store.Flows, in one repeatable-read transaction
// so that the records and their sources belong together.
func (s *Store) FlowRecords(ctx context.Context, q store.FlowQuery) (*flows.Set, error) {
	limit := validate.FlowLimit(q)
	where := "last_seen >= $1"
	args := []any{q.Since.UTC()}
	if q.Cluster != "" {
		where += " AND cluster = $2"
		args = append(args, q.Cluster)
	}
	var set *flows.Set
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, fmt.Sprintf("SELECT %s, min(first_seen), max(last_seen), LEAST(sum(count), %d)::bigint FROM flows WHERE %s"+
			" GROUP BY %[1]s ORDER BY max(last_seen) DESC, %[1]s LIMIT %d", flowKeyColumns, uint64(flows.MaxCount), where, limit+1), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var (
			dec  validate.FlowDecoder
			recs []flows.Record
		)
		for n := 0; rows.Next(); n++ {
			if n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var (
				cluster, protocol string
				src, dst          validate.FlowEnd
				port              int32
				first, last       time.Time
				count             int64
			)
			if err := rows.Scan(&cluster, &src.Kind, &src.Namespace, &src.Name, &src.Addr, &dst.Kind, &dst.Namespace, &dst.Name, &dst.Addr,
				&port, &protocol, &first, &last, &count); err != nil {
				return err
			}
			r, err := dec.Record(cluster, src, dst, int64(port), protocol, first, last, uint64(max(count, 1)))
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		srcRows, err := tx.Query(ctx, "SELECT DISTINCT source FROM flows WHERE "+where+" ORDER BY source", args...)
		if err != nil {
			return err
		}
		sources, err := pgx.CollectRows(srcRows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		set = validate.FlowSet(q, limit, recs, sources)
		return nil
	})
	if err != nil {
		return nil, s.scrub(fmt.Errorf("loading flows from %s: %w", s.where, err))
	}
	return set, nil
}

// PruneFlows implements store.Flows.
func (s *Store) PruneFlows(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM flows WHERE last_seen < $1", before.UTC())
	if err != nil {
		return 0, s.scrub(fmt.Errorf("pruning flows in %s: %w", s.where, err))
	}
	return tag.RowsAffected(), nil
}
