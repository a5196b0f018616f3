package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// flowsOf returns s as a store.Flows, failing the test when it is not
// one: both stores must keep the used traffic.
func flowsOf(t *testing.T, s store.Store) store.Flows {
	t.Helper()
	f, ok := s.(store.Flows)
	if !ok {
		t.Fatalf("%T does not implement store.Flows", s)
	}
	return f
}

var flowTime = time.Date(2026, 11, 25, 10, 30, 0, 123456789, time.UTC)

// FlowWorkload is an endpoint of a Deployment.
func FlowWorkload(cluster, ns, name string) flows.Endpoint {
	return flows.Endpoint{Workload: &model.WorkloadRef{Cluster: cluster, Kind: model.KindDeployment, Namespace: ns, Name: name}}
}

// FlowAddr is an outside endpoint.
func FlowAddr(s string) flows.Endpoint { return flows.Endpoint{Addr: netip.MustParseAddr(s)} }

// FlowRecord is a valid record from a Deployment of cluster to to, seen
// count times up to at (from a minute before).
func FlowRecord(cluster, from string, to flows.Endpoint, port uint16, at time.Time, count uint64) flows.Record {
	return flows.Record{Cluster: cluster, From: FlowWorkload(cluster, "shop", from), To: to, Port: port, Protocol: flows.TCP,
		FirstSeen: at.Add(-time.Minute), LastSeen: at, Count: count}
}

var addrComparer = gocmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func mustPutFlows(t *testing.T, f store.Flows, source string, recs []flows.Record) {
	t.Helper()
	if err := f.PutFlows(t.Context(), source, recs); err != nil {
		t.Fatalf("PutFlows(%d records): %v", len(recs), err)
	}
}

func mustFlowRecords(t *testing.T, f store.Flows, q store.FlowQuery) *flows.Set {
	t.Helper()
	set, err := f.FlowRecords(t.Context(), q)
	if err != nil {
		t.Fatalf("FlowRecords(%+v): %v", q, err)
	}
	for _, r := range set.Records {
		if r.FirstSeen.Location() != time.UTC || r.LastSeen.Location() != time.UTC {
			t.Errorf("record %s → %s: times not in UTC", r.From, r.To)
		}
	}
	return set
}

// µs is t as the stores keep it.
func µs(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func stored(recs ...flows.Record) []flows.Record {
	out := make([]flows.Record, len(recs))
	for i, r := range recs {
		r.FirstSeen, r.LastSeen = µs(r.FirstSeen), µs(r.LastSeen)
		out[i] = r
	}
	return flows.Aggregate(out)
}

func checkFlows(t *testing.T, f store.Flows, q store.FlowQuery, want []flows.Record, sources ...string) {
	t.Helper()
	set := mustFlowRecords(t, f, q)
	if diff := gocmp.Diff(want, set.Records, addrComparer, diffOpts[0]); diff != "" {
		t.Errorf("FlowRecords(%+v) mismatch (-want +got):\n%s", q, diff)
	}
	if diff := gocmp.Diff(sources, set.Sources, diffOpts[0]); diff != "" {
		t.Errorf("FlowRecords(%+v) sources (-want +got):\n%s", q, diff)
	}
}

// testFlowsRoundTrip stores workload and address endpoints (IPv4, IPv6,
// odd names at the limits, times out of UTC) and reads them back merged.
func testFlowsRoundTrip(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	checkFlows(t, f, store.FlowQuery{}, nil)
	paris := time.FixedZone("CET", 3600)
	odd := flows.Record{Cluster: "quote \" 🐛 '; DROP TABLE flows; --",
		From:     flows.Endpoint{Workload: &model.WorkloadRef{Kind: model.KindStatefulSet, Namespace: strings.Repeat("n", 253), Name: "db"}},
		To:       FlowAddr("2001:db8::1"),
		Port:     65535,
		Protocol: flows.SCTP, FirstSeen: time.Date(2026, 11, 25, 11, 0, 0, 999, paris), LastSeen: time.Date(2026, 11, 25, 12, 30, 0, 1001, paris), Count: flows.MaxCount}
	odd.From.Workload.Cluster = odd.Cluster
	recs := []flows.Record{
		FlowRecord("c", "frontend", FlowWorkload("c", "shop", "cart"), 8080, flowTime, 3),
		FlowRecord("c", "frontend", FlowAddr("8.8.8.8"), 53, flowTime, 1),
		{Cluster: "c", From: FlowAddr("203.0.113.7"), To: FlowWorkload("c", "shop", "frontend"), Port: 443, Protocol: flows.UDP, FirstSeen: flowTime, LastSeen: flowTime, Count: 1},
		odd,
	}
	recs[1].Protocol = flows.UDP
	mustPutFlows(t, f, "agents", recs)
	checkFlows(t, f, store.FlowQuery{}, stored(recs...), "agents")
	set := mustFlowRecords(t, f, store.FlowQuery{Since: flowTime.Add(-time.Hour)})
	if want := µs(odd.LastSeen); !set.Until.Equal(want) || !set.Since.Equal(flowTime.Add(-time.Hour)) || set.Truncated {
		t.Errorf("set window %v to %v, truncated %v; want until %v", set.Since, set.Until, set.Truncated, want)
	}
}

// testFlowsMerge: a path's records merge (counts add, earliest first
// seen, latest last seen), within a batch, across batches and sources.
func testFlowsMerge(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	to := FlowWorkload("c", "shop", "cart")
	a := FlowRecord("c", "frontend", to, 8080, flowTime, 2)
	b := FlowRecord("c", "frontend", to, 8080, flowTime.Add(time.Hour), 3)
	early := FlowRecord("c", "frontend", to, 8080, flowTime.Add(-time.Hour), 1)
	mustPutFlows(t, f, "agents", []flows.Record{a, b})
	mustPutFlows(t, f, "agents", []flows.Record{early})
	mustPutFlows(t, f, "log:calls.jsonl", []flows.Record{a})
	want := a
	want.FirstSeen, want.LastSeen, want.Count = early.FirstSeen, b.LastSeen, 8
	checkFlows(t, f, store.FlowQuery{}, stored(want), "agents", "log:calls.jsonl")

	// Counts saturate.
	sat := FlowRecord("c", "frontend", FlowAddr("10.1.1.1"), 80, flowTime, flows.MaxCount-1)
	mustPutFlows(t, f, "agents", []flows.Record{sat})
	mustPutFlows(t, f, "agents", []flows.Record{sat, sat})
	mustPutFlows(t, f, "log:x", []flows.Record{sat})
	set := mustFlowRecords(t, f, store.FlowQuery{})
	for _, r := range set.Records {
		if r.To.Addr == sat.To.Addr && r.Count != flows.MaxCount {
			t.Errorf("saturated count = %d, want %d", r.Count, uint64(flows.MaxCount))
		}
	}
}

// testFlowsWindow: rows are kept per day, so a window counts its own days.
func testFlowsWindow(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	to := FlowWorkload("c", "shop", "cart")
	old := FlowRecord("c", "frontend", to, 8080, flowTime.Add(-10*24*time.Hour), 5)
	recent := FlowRecord("c", "frontend", to, 8080, flowTime.Add(-24*time.Hour), 2)
	gone := FlowRecord("c", "frontend", FlowAddr("192.0.2.1"), 25, flowTime.Add(-9*24*time.Hour), 1)
	mustPutFlows(t, f, "agents", []flows.Record{old, recent, gone})
	checkFlows(t, f, store.FlowQuery{Since: flowTime.Add(-5 * 24 * time.Hour)}, stored(recent), "agents")
	checkFlows(t, f, store.FlowQuery{Since: flowTime.Add(-30 * 24 * time.Hour)}, stored(old, recent, gone), "agents")
	// Since is inclusive.
	checkFlows(t, f, store.FlowQuery{Since: µs(recent.LastSeen)}, stored(recent), "agents")
	checkFlows(t, f, store.FlowQuery{Since: flowTime}, nil)
}

func testFlowsPerCluster(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	a := FlowRecord("a", "frontend", FlowAddr("10.0.0.1"), 80, flowTime, 1)
	b := FlowRecord("b", "frontend", FlowAddr("10.0.0.1"), 80, flowTime, 1)
	mustPutFlows(t, f, "agents", []flows.Record{a})
	mustPutFlows(t, f, "log:b", []flows.Record{b})
	checkFlows(t, f, store.FlowQuery{Cluster: "a"}, stored(a), "agents")
	checkFlows(t, f, store.FlowQuery{Cluster: "b"}, stored(b), "log:b")
	checkFlows(t, f, store.FlowQuery{Cluster: "nope"}, nil)
	checkFlows(t, f, store.FlowQuery{}, stored(a, b), "agents", "log:b")
}

// testFlowsLimit: over the limit, the most recently seen paths are kept.
func testFlowsLimit(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	var recs []flows.Record
	for i := range 10 {
		recs = append(recs, FlowRecord("c", "frontend", FlowAddr(fmt.Sprintf("10.0.0.%d", i+1)), 80, flowTime.Add(time.Duration(i)*time.Minute), 1))
	}
	mustPutFlows(t, f, "agents", recs)
	set := mustFlowRecords(t, f, store.FlowQuery{Limit: 3})
	if diff := gocmp.Diff(stored(recs[7:]...), set.Records, addrComparer); diff != "" || !set.Truncated {
		t.Errorf("limited (truncated %v) (-want +got):\n%s", set.Truncated, diff)
	}
	set = mustFlowRecords(t, f, store.FlowQuery{Limit: 10})
	if len(set.Records) != 10 || set.Truncated {
		t.Errorf("at the limit: %d records, truncated %v", len(set.Records), set.Truncated)
	}
}

func testFlowsPrune(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	to := FlowWorkload("c", "shop", "cart")
	old := FlowRecord("c", "frontend", to, 8080, flowTime.Add(-40*24*time.Hour), 5)
	recent := FlowRecord("c", "frontend", to, 8080, flowTime, 2)
	mustPutFlows(t, f, "agents", []flows.Record{old, recent})
	mustPutFlows(t, f, "log:x", []flows.Record{old})
	n, err := f.PruneFlows(t.Context(), flowTime.Add(-30*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneFlows = %d, %v; want 2 rows", n, err)
	}
	checkFlows(t, f, store.FlowQuery{}, stored(recent), "agents")
	if n, err := f.PruneFlows(t.Context(), flowTime.Add(-30*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneFlows again = %d, %v; want 0", n, err)
	}
}

// testFlowsRefused: a bad record refuses the batch, and nothing of it is
// stored.
func testFlowsRefused(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	good := FlowRecord("c", "frontend", FlowAddr("10.0.0.1"), 80, flowTime, 1)
	bad := func(edit func(r *flows.Record)) flows.Record {
		r := FlowRecord("c", "other", FlowAddr("10.0.0.2"), 81, flowTime, 1)
		edit(&r)
		return r
	}
	tests := []struct {
		name   string
		source string
		rec    flows.Record
	}{
		{"empty source", "", good},
		{"long source", strings.Repeat("s", store.MaxFlowSourceLen+1), good},
		{"NUL in source", "log:a\x00b", good},
		{"no cluster", "agents", bad(func(r *flows.Record) { r.Cluster = ""; r.From.Workload.Cluster = "" })},
		{"workload of another cluster", "agents", bad(func(r *flows.Record) { r.From.Workload.Cluster = "other" })},
		{"not a workload kind", "agents", bad(func(r *flows.Record) { r.From.Workload.Kind = model.KindService })},
		{"empty name", "agents", bad(func(r *flows.Record) { r.From.Workload.Name = "" })},
		{"NUL in a name", "agents", bad(func(r *flows.Record) { r.From.Workload.Name = "a\x00" })},
		{"no address", "agents", bad(func(r *flows.Record) { r.To = flows.Endpoint{} })},
		{"address with a zone", "agents", bad(func(r *flows.Record) { r.To = FlowAddr("fe80::1%eth0") })},
		{"port 0", "agents", bad(func(r *flows.Record) { r.Port = 0 })},
		{"unknown protocol", "agents", bad(func(r *flows.Record) { r.Protocol = "tcp" })},
		{"no first seen", "agents", bad(func(r *flows.Record) { r.FirstSeen = time.Time{} })},
		{"first after last", "agents", bad(func(r *flows.Record) { r.FirstSeen = r.LastSeen.Add(time.Second) })},
		{"count 0", "agents", bad(func(r *flows.Record) { r.Count = 0 })},
		{"count over the maximum", "agents", bad(func(r *flows.Record) { r.Count = flows.MaxCount + 1 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.PutFlows(t.Context(), tt.source, []flows.Record{good, tt.rec}); err == nil {
				t.Fatal("PutFlows accepted it")
			}
		})
	}
	checkFlows(t, f, store.FlowQuery{}, nil)
	// An empty batch writes nothing and is no error.
	mustPutFlows(t, f, "agents", nil)
}

// testFlowsLarge stores a batch of many paths over several statements.
func testFlowsLarge(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	var recs []flows.Record
	for i := range 12_000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		recs = append(recs, FlowRecord("c", fmt.Sprintf("w%03d", i%100), flows.Endpoint{Addr: addr}, uint16(1+i%1000), flowTime, uint64(i+1)))
	}
	mustPutFlows(t, f, "agents", recs)
	mustPutFlows(t, f, "agents", recs)
	set := mustFlowRecords(t, f, store.FlowQuery{})
	if len(set.Records) != len(recs) {
		t.Fatalf("%d records, want %d", len(set.Records), len(recs))
	}
	var sum uint64
	for _, r := range set.Records {
		sum += r.Count
	}
	if want := uint64(12_000 * 12_001); sum != want {
		t.Errorf("counts sum to %d, want %d", sum, want)
	}
}

// testFlowsConcurrent: writers merging into the same paths at once lose
// no count.
func testFlowsConcurrent(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	var recs []flows.Record
	for i := range 50 {
		recs = append(recs, FlowRecord("c", "frontend", FlowAddr(fmt.Sprintf("10.0.1.%d", i+1)), 80, flowTime, 1))
	}
	const writers, rounds = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Go(func() {
			for range rounds {
				// Each writer sends the paths in another order.
				batch := append(recs[w*10:], recs[:w*10]...)
				errs <- f.PutFlows(t.Context(), "agents", batch)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("PutFlows: %v", err)
		}
	}
	for _, r := range mustFlowRecords(t, f, store.FlowQuery{}).Records {
		if r.Count != writers*rounds {
			t.Errorf("%s: count %d, want %d", r.To, r.Count, writers*rounds)
		}
	}
}

func testFlowsCanceled(t *testing.T, s store.Store) {
	f := flowsOf(t, s)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.PutFlows(canceled, "agents", []flows.Record{FlowRecord("c", "frontend", FlowAddr("10.0.0.1"), 80, flowTime, 1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("PutFlows(canceled) error = %v", err)
	}
	if _, err := f.FlowRecords(canceled, store.FlowQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("FlowRecords(canceled) error = %v", err)
	}
	if _, err := f.PruneFlows(canceled, flowTime); !errors.Is(err, context.Canceled) {
		t.Errorf("PruneFlows(canceled) error = %v", err)
	}
	checkFlows(t, f, store.FlowQuery{}, nil)
}
