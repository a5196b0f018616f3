package validate

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// maxFlowName bounds a cluster, namespace and name in a flow record.
const maxFlowName = 253

// FlowEnd is an endpoint as the stores write it: a workload's kind,
// namespace and name with an empty Addr, or an address with the rest
// empty.
type FlowEnd struct {
	Kind, Namespace, Name, Addr string
}

// FlowRow is one stored row: a path's traffic from one source on one day.
type FlowRow struct {
	Cluster  string
	Src, Dst FlowEnd
	Port     uint16
	Protocol string
	// Day is the UTC day of LastSeen, at midnight.
	Day                 time.Time
	FirstSeen, LastSeen time.Time
	Count               uint64
}

// DayFormat is how SQLite keeps a row's day.
const DayFormat = "2006-01-02"

func (r *FlowRow) key() string {
	return strings.Join([]string{r.Cluster, r.Src.Kind, r.Src.Namespace, r.Src.Name, r.Src.Addr,
		r.Dst.Kind, r.Dst.Namespace, r.Dst.Name, r.Dst.Addr, fmt.Sprint(r.Port), r.Protocol, r.Day.Format(DayFormat)}, "\x00")
}

func compareRows(a, b FlowRow) int {
	return cmp.Or(strings.Compare(a.Cluster, b.Cluster),
		strings.Compare(a.Src.Kind, b.Src.Kind), strings.Compare(a.Src.Namespace, b.Src.Namespace),
		strings.Compare(a.Src.Name, b.Src.Name), strings.Compare(a.Src.Addr, b.Src.Addr),
		strings.Compare(a.Dst.Kind, b.Dst.Kind), strings.Compare(a.Dst.Namespace, b.Dst.Namespace),
		strings.Compare(a.Dst.Name, b.Dst.Name), strings.Compare(a.Dst.Addr, b.Dst.Addr),
		cmp.Compare(a.Port, b.Port), strings.Compare(a.Protocol, b.Protocol), a.Day.Compare(b.Day))
}

// FlowSource refuses a source name the stores could not keep.
func FlowSource(source string) error {
	if source == "" || len(source) > store.MaxFlowSourceLen || !utf8.ValidString(source) || strings.ContainsRune(source, 0) {
		return fmt.Errorf("flow source %.80q: want 1 to %d bytes of UTF-8", source, store.MaxFlowSourceLen)
	}
	return nil
}

// Flows refuses a batch of which any record the stores could not keep,
// naming the first bad one, and returns the rows to write: one per path
// and day (records of one merged as PutFlows merges them), sorted, so
// that writers lock rows in one order and PostgreSQL's ON CONFLICT DO
// UPDATE never meets a key twice in one statement. Times are in UTC,
// truncated to the microsecond.
func Flows(source string, recs []flows.Record) ([]FlowRow, error) {
	if err := FlowSource(source); err != nil {
		return nil, fmt.Errorf("storing %d flow records: %w; nothing was stored", len(recs), err)
	}
	rows := make([]FlowRow, 0, len(recs))
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		row, err := flowRow(r)
		if err != nil {
			return nil, fmt.Errorf("storing %d flow records: record %d (%s → %s): %w; nothing was stored", len(recs), i, r.From, r.To, err)
		}
		k := row.key()
		if j, ok := index[k]; ok {
			p := &rows[j]
			p.FirstSeen = minTime(p.FirstSeen, row.FirstSeen)
			p.LastSeen = maxTime(p.LastSeen, row.LastSeen)
			p.Count = flows.AddCounts(p.Count, row.Count)
			continue
		}
		index[k] = len(rows)
		rows = append(rows, row)
	}
	slices.SortFunc(rows, compareRows)
	return rows, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func flowRow(r flows.Record) (FlowRow, error) {
	row := FlowRow{Cluster: r.Cluster, Port: r.Port, Protocol: r.Protocol, Count: r.Count}
	if err := flowName("cluster", r.Cluster); err != nil {
		return row, err
	}
	var err error
	if row.Src, err = flowEnd(r.Cluster, r.From); err != nil {
		return row, fmt.Errorf("from: %w", err)
	}
	if row.Dst, err = flowEnd(r.Cluster, r.To); err != nil {
		return row, fmt.Errorf("to: %w", err)
	}
	switch {
	case r.Port == 0:
		return row, errors.New("port 0")
	case r.Protocol != flows.TCP && r.Protocol != flows.UDP && r.Protocol != flows.SCTP:
		return row, fmt.Errorf("protocol %.20q: want TCP, UDP or SCTP", r.Protocol)
	case r.FirstSeen.IsZero() || r.LastSeen.Before(r.FirstSeen):
		return row, errors.New("first seen missing or after last seen")
	case r.Count == 0 || r.Count > flows.MaxCount:
		return row, fmt.Errorf("count %d: want 1 to %d", r.Count, uint64(flows.MaxCount))
	}
	row.FirstSeen = r.FirstSeen.UTC().Truncate(time.Microsecond)
	row.LastSeen = r.LastSeen.UTC().Truncate(time.Microsecond)
	y, m, d := row.LastSeen.Date()
	row.Day = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return row, nil
}

func flowName(what, s string) error {
	if s == "" || len(s) > maxFlowName || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return fmt.Errorf("%s %.80q: want 1 to %d bytes of UTF-8", what, s, maxFlowName)
	}
	return nil
}

func flowEnd(cluster string, e flows.Endpoint) (FlowEnd, error) {
	if e.Workload == nil {
		if !e.Addr.IsValid() || e.Addr.Zone() != "" {
			return FlowEnd{}, errors.New("neither a workload nor an address without zone")
		}
		return FlowEnd{Addr: e.Addr.Unmap().String()}, nil
	}
	w := e.Workload
	switch {
	case w.Cluster != cluster:
		return FlowEnd{}, fmt.Errorf("workload %s of cluster %.80q, not the record's", w, w.Cluster)
	case !model.IsWorkloadKind(w.Kind):
		return FlowEnd{}, fmt.Errorf("kind %.40q is not a workload kind", w.Kind)
	}
	if err := flowName("namespace", w.Namespace); err != nil {
		return FlowEnd{}, err
	}
	if err := flowName("name", w.Name); err != nil {
		return FlowEnd{}, err
	}
	return FlowEnd{Kind: string(w.Kind), Namespace: w.Namespace, Name: w.Name}, nil
}

// FlowDecoder rebuilds records from stored columns; records of one
// workload share its reference. The zero value is ready to use.
type FlowDecoder struct {
	refs map[model.WorkloadRef]*model.WorkloadRef
}

// Record rebuilds one record.
func (d *FlowDecoder) Record(cluster string, src, dst FlowEnd, port int64, protocol string, first, last time.Time, count uint64) (flows.Record, error) {
	r := flows.Record{Cluster: cluster, Protocol: protocol, FirstSeen: UTC(first), LastSeen: UTC(last), Count: min(count, flows.MaxCount)}
	if port < 1 || port > 65535 {
		return r, fmt.Errorf("stored flow with port %d", port)
	}
	r.Port = uint16(port)
	var err error
	if r.From, err = d.end(cluster, src); err != nil {
		return r, err
	}
	if r.To, err = d.end(cluster, dst); err != nil {
		return r, err
	}
	return r, nil
}

func (d *FlowDecoder) end(cluster string, e FlowEnd) (flows.Endpoint, error) {
	if e.Addr == "" {
		ref := model.WorkloadRef{Cluster: cluster, Kind: model.Kind(e.Kind), Namespace: e.Namespace, Name: e.Name}
		if d.refs == nil {
			d.refs = map[model.WorkloadRef]*model.WorkloadRef{}
		}
		p, ok := d.refs[ref]
		if !ok {
			p = &ref
			d.refs[ref] = p
		}
		return flows.Endpoint{Workload: p}, nil
	}
	a, err := netip.ParseAddr(e.Addr)
	if err != nil {
		return flows.Endpoint{}, fmt.Errorf("stored flow endpoint %.80q: %w", e.Addr, err)
	}
	return flows.Endpoint{Addr: a}, nil
}

// FlowSet sorts recs into the set FlowRecords returns. recs may hold one
// more record than limit, which tells that the query was truncated.
func FlowSet(q store.FlowQuery, limit int, recs []flows.Record, sources []string) *flows.Set {
	set := &flows.Set{Since: q.Since, Sources: sources}
	if len(recs) > limit {
		recs, set.Truncated = recs[:limit], true
	}
	for _, r := range recs {
		if r.LastSeen.After(set.Until) {
			set.Until = r.LastSeen
		}
	}
	slices.SortFunc(recs, flows.CompareRecords)
	set.Records = recs
	return set
}

// FlowLimit is the limit of q.
func FlowLimit(q store.FlowQuery) int {
	if q.Limit <= 0 {
		return store.DefaultFlowLimit
	}
	return q.Limit
}

// FlowCount converts a sum of counts read back from a database (a float
// in SQLite, whose sums of integers may overflow) to a record's count,
// saturating at flows.MaxCount.
func FlowCount(f float64) uint64 {
	switch {
	case f != f || f >= flows.MaxCount: // NaN or too large
		return flows.MaxCount
	case f < 1:
		return 1
	}
	return uint64(f)
}
