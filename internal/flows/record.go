package flows

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// Protocols a record may carry, as NetworkPolicies name them.
const (
	TCP  = "TCP"
	UDP  = "UDP"
	SCTP = "SCTP"
)

// ParseProtocol returns the protocol named s in any case ("tcp", "TCP"),
// or false.
func ParseProtocol(s string) (string, bool) {
	switch strings.ToUpper(s) {
	case TCP:
		return TCP, true
	case UDP:
		return UDP, true
	case SCTP:
		return SCTP, true
	}
	return "", false
}

// MaxCount bounds a record's Count: merges saturate there, so sums over
// any number of records and days never overflow an int64.
const MaxCount = 1 << 53

// AddCounts returns a+b, saturating at MaxCount.
func AddCounts(a, b uint64) uint64 {
	if a >= MaxCount || b >= MaxCount-a {
		return MaxCount
	}
	return a + b
}

// EndpointKey is an Endpoint as a comparable value: the workload, or the
// zero WorkloadRef and the address.
type EndpointKey struct {
	Workload model.WorkloadRef
	Addr     netip.Addr
}

// Key returns e as a comparable value.
func (e Endpoint) Key() EndpointKey {
	if e.Workload != nil {
		return EndpointKey{Workload: *e.Workload}
	}
	return EndpointKey{Addr: e.Addr}
}

// Key identifies a record's path: a Set holds one record per key.
type Key struct {
	Cluster  string
	From, To EndpointKey
	Port     uint16
	Protocol string
}

// Key returns the path r is the traffic of.
func (r *Record) Key() Key {
	return Key{Cluster: r.Cluster, From: r.From.Key(), To: r.To.Key(), Port: r.Port, Protocol: r.Protocol}
}

// Merge adds o's traffic, which must be on the same path, to r: the
// earliest first seen, the latest last seen, the sum of the counts.
func (r *Record) Merge(o Record) {
	if r.FirstSeen.IsZero() || (!o.FirstSeen.IsZero() && o.FirstSeen.Before(r.FirstSeen)) {
		r.FirstSeen = o.FirstSeen
	}
	if o.LastSeen.After(r.LastSeen) {
		r.LastSeen = o.LastSeen
	}
	r.Count = AddCounts(r.Count, o.Count)
}

// CompareEndpoints orders workloads (by cluster, namespace, kind, name)
// before outside addresses (by address).
func CompareEndpoints(a, b Endpoint) int {
	switch {
	case a.Workload != nil && b.Workload != nil:
		return compareRefs(*a.Workload, *b.Workload)
	case a.Workload != nil:
		return -1
	case b.Workload != nil:
		return 1
	}
	return a.Addr.Compare(b.Addr)
}

func compareRefs(a, b model.WorkloadRef) int {
	return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Name, b.Name))
}

// CompareRecords orders records by cluster, From, To, port and protocol:
// the order of a Set.
func CompareRecords(a, b Record) int {
	return cmp.Or(strings.Compare(a.Cluster, b.Cluster), CompareEndpoints(a.From, b.From), CompareEndpoints(a.To, b.To),
		cmp.Compare(a.Port, b.Port), strings.Compare(a.Protocol, b.Protocol))
}

// Aggregator merges records into one per path. The zero value is ready to
// use; it is not safe for concurrent use.
type Aggregator struct {
	index map[Key]int
	recs  []Record
	refs  map[model.WorkloadRef]*model.WorkloadRef
}

// Add merges r into the record of its path.
func (a *Aggregator) Add(r Record) {
	if a.index == nil {
		a.index = map[Key]int{}
		a.refs = map[model.WorkloadRef]*model.WorkloadRef{}
	}
	k := r.Key()
	if i, ok := a.index[k]; ok {
		a.recs[i].Merge(r)
		return
	}
	// Records of one workload share its reference.
	r.From.Workload, r.To.Workload = a.intern(r.From.Workload), a.intern(r.To.Workload)
	r.Count = min(r.Count, MaxCount)
	a.index[k] = len(a.recs)
	a.recs = append(a.recs, r)
}

func (a *Aggregator) intern(ref *model.WorkloadRef) *model.WorkloadRef {
	if ref == nil {
		return nil
	}
	if p, ok := a.refs[*ref]; ok {
		return p
	}
	p := new(model.WorkloadRef)
	*p = *ref
	a.refs[*ref] = p
	return p
}

// Len returns the number of paths.
func (a *Aggregator) Len() int { return len(a.recs) }

// Records returns one record per path, sorted; the aggregator must not be
// used afterwards.
func (a *Aggregator) Records() []Record {
	out := a.recs
	a.recs, a.index, a.refs = nil, nil, nil
	slices.SortFunc(out, CompareRecords)
	return out
}

// Aggregate returns recs merged into one record per path, sorted.
func Aggregate(recs []Record) []Record {
	var a Aggregator
	for _, r := range recs {
		a.Add(r)
	}
	return a.Records()
}
