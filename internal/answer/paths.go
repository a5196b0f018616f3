package answer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/netpol"
)

// UnusedPaths answers question 9: per workload some NetworkPolicy
// selects, its allowed paths left unused, ranked; the workloads no policy
// selects (those of the host network marked, and counted apart: no policy
// can select them); and the used flows the policies deny.
func (e *Engine) UnusedPaths(ix *inventory.Index, f Filter) *Answer[netpaths.Item] {
	// Ask takes no context: the computation is bounded by the index.
	ctx := context.Background()
	kept := map[model.WorkloadRef]bool{}
	clusters := map[string]bool{}
	for _, w := range e.workloads(ix, f) {
		kept[w.Ref()] = true
		clusters[w.Cluster] = true
	}
	usage := netpaths.UsageOf(ix.Flows())
	var (
		items       []netpaths.Item
		unprotected []netpaths.Unprotected
		denied      []netpaths.Denied
		counts      netpaths.Counts
		notes       []string
		deniedTotal int
		problems    int
		partial     int
	)
	for _, c := range ix.Clusters() {
		if !clusters[c] {
			continue // nothing of this cluster is reported
		}
		opts := netpaths.Options{Keep: func(r model.WorkloadRef) bool { return kept[r] }}
		var res *netpaths.Result
		eng, err := e.nets.engine(ctx, ix, c)
		if err == nil && f.Namespace == "" && len(eng.Workloads()) > maxComparedWorkloads {
			partial++
			notes = append(notes, fmt.Sprintf("cluster %s: %d workloads are too many to compare every path at once (the comparison grows with the square of the workloads): only the workloads without any policy and the used flows the policies deny are listed; ask per namespace (--namespace, namespace=) for the unused paths", c, len(eng.Workloads())))
			res, err = netpaths.Partial(ctx, ix, eng, opts)
		} else if err == nil {
			// The grid computes the paths block by block of sources, so
			// memory grows with the workloads, not their pairs.
			var g *netpol.Grid
			if g, err = eng.Grid(netpol.Scope{Namespace: f.Namespace}); err == nil {
				res, err = netpaths.Analyze(ctx, ix, eng, g, opts)
			}
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("cluster %s: %v", c, err))
			continue
		}
		if items == nil {
			items = res.Items
		} else {
			items = append(items, res.Items...)
		}
		unprotected = append(unprotected, res.Unprotected...)
		denied = append(denied, res.Denied...)
		deniedTotal += res.DeniedTotal
		counts.Paths += res.Counts.Paths
		counts.Used += res.Counts.Used
		counts.Unused += res.Counts.Unused
		counts.PartlyUsed += res.Counts.PartlyUsed
		usage.Records += res.Usage.Records
		usage.Unmatched += res.Usage.Unmatched
		problems += len(res.Problems)
		for i, p := range res.Problems {
			if i == 3 {
				notes = append(notes, fmt.Sprintf("cluster %s: %d more NetworkPolicy problems; palisade ask reachable lists those of the policies deciding a connection", c, len(res.Problems)-i))
				break
			}
			notes = append(notes, fmt.Sprintf("cluster %s: NetworkPolicy %s", c, p))
		}
	}
	byScore := func(x, y netpaths.Item) int {
		return cmp.Or(cmp.Compare(y.Score, x.Score), inventory.CompareRefs(x.Workload, y.Workload))
	}
	// Each cluster's items are ranked already: sorting items moves
	// hundreds of bytes per swap.
	if !slices.IsSortedFunc(items, byScore) {
		slices.SortStableFunc(items, byScore)
	}
	slices.SortStableFunc(denied, func(x, y netpaths.Denied) int { return cmp.Compare(y.Count, x.Count) })
	if len(denied) > netpaths.DefaultMaxDenied {
		denied = denied[:netpaths.DefaultMaxDenied]
	}

	a := newAnswer(e, ix, UnusedPaths, f, items)
	a.Usage, a.Unprotected, a.Denied = &usage, unprotected, denied
	if deniedTotal > 0 {
		// First: it may be an attack.
		n := plural(deniedTotal, "flow record was", "flow records were") + " used although the NetworkPolicies deny them: a misconfiguration or an attack; see denied"
		if deniedTotal == 1 {
			n = strings.Replace(n, "deny them", "deny it", 1)
		}
		if deniedTotal > len(denied) {
			n += fmt.Sprintf(" (the %d most frequent are listed)", len(denied))
		}
		a.Notes = append(a.Notes, n)
	}
	a.Notes = append(a.Notes, usage.Notes()...)
	a.Notes = append(a.Notes, notes...)
	a.Notes = append(a.Notes, "paths are grouped per workload by direction, peer namespace (or outside region) and ports; a path between two workloads that policies select shows under both; score = product of the factors listed per path, a workload's score the sum of its paths'")
	hostNet := 0
	for _, u := range unprotected {
		if u.HostNetwork {
			hostNet++
		}
	}
	if hostNet > 0 {
		a.Notes = append(a.Notes, plural(hostNet, "workload", "workloads")+" in the host network (listed in unprotected with hostNetwork): NetworkPolicy does not apply to pods in the host network, whose traffic is their node's; their paths are the cluster nodes' (\"cluster nodes in …\")")
		a.Summary["hostNetwork"] = hostNet
	}
	a.Summary["workloads"] = len(items)
	a.Summary["unprotected"] = len(unprotected) - hostNet
	a.Summary["paths"] = counts.Paths
	a.Summary["deniedFlows"] = deniedTotal
	a.Summary["policyProblems"] = problems
	if partial > 0 {
		a.Summary["partialClusters"] = partial
	}
	if usage.Known {
		a.Summary["usedPaths"] = counts.Used
		a.Summary["unusedPaths"] = counts.Unused
		a.Summary["partlyUsedPaths"] = counts.PartlyUsed
	}
	return a
}

// maxComparedWorkloads bounds the workloads of a cluster whose paths
// question 9 compares at once: above, the cluster-wide answer is partial
// (netpaths.Partial), and per namespace complete. It is a last resort:
// the comparison's memory grows with the workloads (netpol.Grid), but its
// time with their square, about 1 s at 10,000 on two cores, so 25 s here.
var maxComparedWorkloads = 50_000

// netCache keeps the NetworkPolicy engines of the newest inventory
// snapshot, so that the answers, the report and reachability questions of
// one inventory compile its policies once. A new snapshot (any inventory
// change, NetworkPolicies included) drops them all; scan results, agents'
// activity and flows do not change the snapshot, so they reuse them. The
// paths (netpol.Grid) are computed per answer and not kept: a server
// should not hold hundreds of megabytes for question 9.
type netCache struct {
	mu      sync.Mutex
	snap    *model.Snapshot
	engines map[string]*netEntry
}

// netEntry is computed once, by the first caller that needs it.
type netEntry struct {
	once sync.Once
	eng  *netpol.Engine
	err  error
}

func newNetCache() *netCache { return &netCache{} }

// resetFor empties the cache when ix's snapshot is not the one it holds.
// c.mu is held.
func (c *netCache) resetFor(ix *inventory.Index) {
	if c.snap != ix.Snapshot() || c.engines == nil {
		c.snap = ix.Snapshot()
		c.engines = map[string]*netEntry{}
	}
}

// engine returns the engine of a cluster of ix.
func (c *netCache) engine(ctx context.Context, ix *inventory.Index, cluster string) (*netpol.Engine, error) {
	c.mu.Lock()
	c.resetFor(ix)
	en := c.engines[cluster]
	if en == nil {
		en = &netEntry{}
		c.engines[cluster] = en
	}
	c.mu.Unlock()
	// A caller that goes away must not leave its cancellation cached.
	en.once.Do(func() { en.eng, en.err = netpol.New(context.WithoutCancel(ctx), ix, netpol.Options{Cluster: cluster}) })
	return en.eng, en.err
}

// Reachable is the name of `palisade ask reachable` and the kind of its
// answer.
const Reachable = "reachable"

// ErrBadQuery is returned for a reachability question that cannot be
// asked as given: an unknown or ambiguous workload, a bad address, port
// or protocol, several clusters and none named.
var ErrBadQuery = errors.New("bad query")

// queryError is a bad query, with the engine's own error kept for
// errors.Is (netpol.ErrUnknownWorkload, netpol.ErrAmbiguous).
type queryError struct{ err error }

func (q *queryError) Error() string   { return q.err.Error() }
func (q *queryError) Unwrap() []error { return []error{ErrBadQuery, q.err} }

func badQuery(format string, args ...any) error {
	return &queryError{err: fmt.Errorf(format, args...)}
}

// ReachableQuery asks whether From may open a connection to To on Port.
type ReachableQuery struct {
	// Cluster may be empty when the inventory holds one cluster.
	Cluster string
	// From and To are NAMESPACE/NAME or NAMESPACE/KIND/NAME (a workload),
	// an IP address or a CIDR (outside addresses).
	From, To string
	// Port is PORT[/PROTOCOL] or NAME[/PROTOCOL], a container port name
	// of the destination; the protocol defaults to TCP.
	Port string
}

// Reachability is the answer to a ReachableQuery: the envelope of the
// questions (question "reachable", title, generatedAt, filter, notes)
// around netpol's verdict, whose fields are inline (allowed, egress,
// ingress, …). Its JSON form is documented in docs/output.md.
type Reachability struct {
	Question    string    `json:"question"`
	Title       string    `json:"title"`
	GeneratedAt time.Time `json:"generatedAt"`
	Filter      Filter    `json:"filter,omitzero"`
	Notes       []string  `json:"notes,omitempty"`
	netpol.Verdict
}

// Reachable answers a reachability question over ix. Bad input returns
// an error that wraps ErrBadQuery.
func (e *Engine) Reachable(ctx context.Context, ix *inventory.Index, q ReachableQuery) (*Reachability, error) {
	if q.From == "" || q.To == "" || q.Port == "" {
		return nil, badQuery("give the source, the destination and the port (--from, --to and --port; from=, to= and port=)")
	}
	cluster := q.Cluster
	switch cs := ix.Clusters(); {
	case cluster != "" && !slices.Contains(cs, cluster) && len(cs) > 0:
		return nil, badQuery("cluster %q is not in the inventory (it holds %s)", cluster, strings.Join(cs, ", "))
	case cluster == "" && len(cs) > 1:
		return nil, badQuery("the inventory holds clusters %s: name one (--cluster, cluster=)", strings.Join(cs, ", "))
	case cluster == "" && len(cs) == 1:
		cluster = cs[0]
	case cluster == "":
		cluster = model.DefaultCluster
	}
	eng, err := e.nets.engine(ctx, ix, cluster)
	if err != nil {
		return nil, err
	}
	port, name, proto, err := netpol.ParsePort(q.Port)
	if err != nil {
		return nil, badQuery("%v", err)
	}
	from, err := eng.ParseEndpoint(q.From)
	if err != nil {
		return nil, &queryError{err: fmt.Errorf("from: %w", err)}
	}
	to, err := eng.ParseEndpoint(q.To)
	if err != nil {
		return nil, &queryError{err: fmt.Errorf("to: %w", err)}
	}
	if name != "" {
		if port, err = eng.NamedPort(to, name, proto); err != nil {
			return nil, badQuery("%v", err)
		}
	}
	v, err := eng.Query(netpol.Connection{From: from, To: to, Port: port, Protocol: proto})
	if err != nil {
		return nil, &queryError{err: err}
	}
	r := &Reachability{Question: Reachable, Title: "May " + from.String() + " connect to " + to.String() + "?", GeneratedAt: e.now().UTC(), Filter: Filter{Cluster: q.Cluster}, Verdict: v}
	if n, ok := e.clusterNotes[cluster]; ok {
		r.Notes = append(r.Notes, n)
	}
	if v.Partial {
		r.Notes = append(r.Notes, "allowed for part of the address range only: see parts")
	}
	if len(v.Problems) > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d problems in the policies that decided this: see problems", len(v.Problems)))
	}
	return r, nil
}
