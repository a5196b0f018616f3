package netpaths

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

// Directions of a path, seen from the workload of an item.
const (
	Egress  = "egress"  // the workload opens connections to the peer
	Ingress = "ingress" // the peer opens connections to the workload
)

// States of a listed path.
const (
	StateUnused     = "unused"      // allowed, no traffic in the window
	StatePartlyUsed = "partly-used" // some allowed ports used, the rest not
	StateUnknown    = "unknown"     // allowed; usage is not known (no flows)
)

// Defaults of Options.
const (
	DefaultMaxPaths  = 5
	DefaultMaxDenied = 200
	// MaxListedPeers bounds the workloads a grouped peer names.
	MaxListedPeers = 3
)

// Options configure Analyze.
type Options struct {
	// Keep chooses the workloads reported (items, unprotected workloads,
	// denied flows touching them); nil keeps every workload of the
	// matrix's scope. Paths of kept workloads are complete whatever Keep
	// says of their peers.
	Keep func(model.WorkloadRef) bool
	// MaxPaths bounds the paths listed per workload, the best first; 0
	// means DefaultMaxPaths. The rest are counted in Item.MorePaths.
	MaxPaths int
	// MaxDenied bounds the denied flows listed, the most frequent first;
	// 0 means DefaultMaxDenied. Result.DeniedTotal counts them all.
	MaxDenied int
	// Weights rank the paths; nil means DefaultWeights.
	Weights *Weights
}

// Peer is the other end of a listed path: workloads of one namespace that
// the policies treat alike on this path (Count of the namespace's Of,
// the first MaxListedPeers named), a region of outside addresses, or the
// cluster's nodes in such a region (Nodes).
type Peer struct {
	Namespace string              `json:"namespace,omitempty"`
	Workloads []model.WorkloadRef `json:"workloads,omitempty"`
	Count     int                 `json:"count"`
	// Of is the number of workloads of Namespace.
	Of int `json:"of,omitempty"`
	// Outside is the region of addresses, as the policies' ipBlocks cut
	// the address space ("anywhere else" has no cidr).
	Outside *netpol.Outside `json:"outside,omitempty"`
	// Internet is set for an outside region holding internet addresses.
	Internet bool `json:"internet,omitempty"`
	// Nodes is set for the cluster's nodes in region Outside: the
	// Addresses the inventory knows for them (Node objects' InternalIP
	// and ExternalIP, pods' host IPs), and with them the workloads of the
	// host network, which are their node (HostNetwork, the first
	// MaxListedPeers named; HostNetworkCount counts them).
	Nodes            bool                `json:"nodes,omitempty"`
	Addresses        int                 `json:"addresses,omitempty"`
	HostNetwork      []model.WorkloadRef `json:"hostNetwork,omitempty"`
	HostNetworkCount int                 `json:"hostNetworkCount,omitempty"`
	// WithoutNodes is set for a region whose node addresses are the
	// Nodes peer of their own: the peer is the rest of the region.
	WithoutNodes bool `json:"withoutNodes,omitempty"`
}

func (p Peer) String() string {
	switch {
	case p.Nodes:
		return "cluster nodes in " + p.Outside.String()
	case p.Outside != nil && p.WithoutNodes:
		return p.Outside.String() + " other than cluster nodes"
	case p.Outside != nil:
		return p.Outside.String()
	case p.Count == 1 && len(p.Workloads) == 1:
		return p.Workloads[0].String()
	case p.Count == p.Of:
		return fmt.Sprintf("every workload of namespace %s (%d)", p.Namespace, p.Count)
	}
	return fmt.Sprintf("%d of the %d workloads of namespace %s", p.Count, p.Of, p.Namespace)
}

// Path is one listed path of a workload: to or from a peer, the ports the
// policies allow, those used and the unused rest, ranked by Score, the
// product of Factors.
type Path struct {
	Direction string         `json:"direction"`
	Peer      Peer           `json:"peer"`
	State     string         `json:"state"`
	Allowed   netpol.PortSet `json:"allowed"`
	// Used is the allowed ports with traffic (partly-used paths only).
	Used netpol.PortSet `json:"used,omitzero"`
	// Unused is the allowed ports without traffic (omitted when usage is
	// unknown).
	Unused  netpol.PortSet `json:"unused,omitzero"`
	Score   float64        `json:"score"`
	Factors []Factor       `json:"factors"`
}

// Item is one workload that some policy selects, with its allowed paths
// left unused (all allowed paths when usage is unknown).
type Item struct {
	Workload        model.WorkloadRef  `json:"workload"`
	IngressPolicies []netpol.PolicyRef `json:"ingressPolicies"`
	EgressPolicies  []netpol.PolicyRef `json:"egressPolicies"`
	// Score is the sum of the scores of all its unused paths, listed or
	// not.
	Score float64 `json:"score"`
	// Paths are the best MaxPaths; MorePaths counts the rest.
	Paths     []Path `json:"paths"`
	MorePaths int    `json:"morePaths,omitempty"`
	// AllowedPaths counts the workload's allowed paths, one per peer
	// workload, outside region or cluster nodes of a region (Peer.Nodes)
	// and direction; UsedPaths those with
	// traffic, UnusedPaths those without (both 0 when usage is unknown).
	AllowedPaths int `json:"allowedPaths"`
	UsedPaths    int `json:"usedPaths"`
	UnusedPaths  int `json:"unusedPaths"`
	// DeniedFlows counts the used-but-denied flow records from or to it.
	DeniedFlows int `json:"deniedFlows"`
}

// Unprotected is a workload no NetworkPolicy selects: everything is
// allowed to and from it.
type Unprotected struct {
	Workload     model.WorkloadRef `json:"workload"`
	AllowedPaths int               `json:"allowedPaths"`
	// UsedPaths counts its paths with traffic (0 when usage is unknown):
	// a policy allowing just those would close the rest.
	UsedPaths   int `json:"usedPaths"`
	DeniedFlows int `json:"deniedFlows"`
	// HostNetwork is set for a workload whose pods run in the host
	// network: no NetworkPolicy can select it (its traffic is its node's),
	// so no policy would protect it. Its paths are those of the cluster
	// nodes (Peer.Nodes), counted there: AllowedPaths and UsedPaths are 0.
	HostNetwork bool `json:"hostNetwork,omitempty"`
}

// Denied is traffic that was used although the policies do not allow it:
// a misconfiguration (the policies are stricter than the application
// needs, or the flow predates them) or an attack.
type Denied struct {
	Cluster   string         `json:"cluster"`
	From      flows.Endpoint `json:"from"`
	To        flows.Endpoint `json:"to"`
	Port      uint16         `json:"port"`
	Protocol  string         `json:"protocol"`
	Count     uint64         `json:"count"`
	FirstSeen time.Time      `json:"firstSeen,omitzero"`
	LastSeen  time.Time      `json:"lastSeen,omitzero"`
	// Allowed is what the policies allow on this path ([] for nothing);
	// nil when the cluster was compared without a matrix (Partial).
	Allowed *netpol.PortSet `json:"allowed,omitempty"`
	// DeniedBy names the sides that deny: egress (the source's
	// policies), ingress (the destination's).
	DeniedBy []string `json:"deniedBy"`
	// Policies select the denying side(s); Reasons say why in words.
	Policies []netpol.PolicyRef `json:"policies,omitempty"`
	Reasons  []string           `json:"reasons"`
}

// Counts are the paths of the scope, each counted once.
type Counts struct {
	Paths      int // allowed
	Used       int // allowed, with traffic
	PartlyUsed int // of Used: some allowed ports without traffic
	Unused     int // allowed, without traffic
}

// Result is the comparison of one cluster (or namespace).
type Result struct {
	Cluster     string
	Usage       Usage
	Items       []Item
	Unprotected []Unprotected
	// Denied lists at most Options.MaxDenied; DeniedTotal counts all.
	Denied      []Denied
	DeniedTotal int
	Counts      Counts
	// Problems are what the engine could not read in the policies.
	Problems []netpol.Problem
	// Partial is set by Partial: no paths were compared (no items, no
	// path counts), only unprotected workloads and denied flows.
	Partial bool
}

// Matrix is what Analyze reads of the paths the policies allow: a
// *netpol.Grid, which computes them block by block of sources in memory
// that grows with the workloads, or a *netpol.Matrix. Analyze reads every
// path once, source by source (Rows), and looks up the cells of the flow
// records (NodeOf, Allowed) before.
type Matrix interface {
	Nodes() []netpol.Node
	Scope() netpol.Scope
	NodeOf(netpol.Endpoint) (int, bool)
	Allowed(from, to int) (netpol.PortSet, bool)
	// OwnNode reports whether an address is one of workload node i's
	// own nodes' (always allowed both ways, whatever the cell of i and
	// the address's region says); NodeAddrs lists them.
	OwnNode(i int, a netip.Addr) bool
	NodeAddrs(i int) []netip.Addr
	Rows(ctx context.Context, fn func(from int, paths []netpol.Path) error) error
}

// Analyze compares the paths m allows with the flows ix carries. e must
// be the engine m was computed by, over ix's inventory. Flow records of
// other clusters are ignored; a record without a cluster counts for
// every cluster. m is read from one goroutine.
func Analyze(ctx context.Context, ix *inventory.Index, e *netpol.Engine, m Matrix, opts Options) (*Result, error) {
	a := newAnalysis(ix, e, m, opts)
	res := &Result{Cluster: e.Cluster(), Usage: UsageOf(ix.Flows()), Problems: e.Problems()}
	used, denied := a.readFlows(ix.Flows(), &res.Usage)
	if err := a.walk(ctx, used, res); err != nil {
		return nil, err
	}
	a.explainDenied(res, denied)
	res.Items = a.items()
	res.Unprotected = a.unprotected()
	return res, nil
}

// pair is a cell of the matrix: from and to node.
type pair [2]int32

// analysis is the state of one Analyze.
type analysis struct {
	e        *netpol.Engine
	m        Matrix
	nodes    []netpol.Node
	nw       int        // nodes[:nw] are workloads
	nsID     []int32    // per workload node: its namespace in nsNames
	nsNames  []string   // the namespaces of the workloads
	nsCount  []int      // per namespace: its workloads
	kept     []bool     // per workload node: reported
	accOf    []int32    // per node: index in accs, or -1
	accs     []*acc     // the workloads some policy selects, kept
	peerKind []peerKind // per peer (see nodePeers)
	api      []bool     // per peer: holds an API server address
	hostNet  []bool     // per workload node: of the host network
	np       *nodePeers
	w        Weights
	maxPaths int
	maxDeny  int
	known    bool
	// per peer, both directions
	allowedN, usedN, unusedN, deniedN []int32
	// maskCache remembers the masks of the last port sets (masks).
	maskCache [8]maskEntry
	maskNext  int
	// outsides are copies of the outside nodes' regions, shared by the
	// paths listed to them.
	outsides []*netpol.Outside
	// ownPeers are, per workload node, the nodes peers all of whose
	// addresses are its own nodes' (see ownNodesPeers).
	ownPeers [][]int32
}

func newAnalysis(ix *inventory.Index, e *netpol.Engine, m Matrix, opts Options) *analysis {
	a := &analysis{e: e, m: m, nodes: m.Nodes(), w: DefaultWeights, maxPaths: opts.MaxPaths, maxDeny: opts.MaxDenied}
	if opts.Weights != nil {
		a.w = *opts.Weights
	}
	if a.maxPaths <= 0 {
		a.maxPaths = DefaultMaxPaths
	}
	if a.maxDeny <= 0 {
		a.maxDeny = DefaultMaxDenied
	}
	a.np = newNodePeers(ix, e, m)
	n := len(a.nodes)
	np := n + a.np.peers()
	a.accOf = make([]int32, n)
	a.peerKind = make([]peerKind, np)
	a.api = make([]bool, np)
	a.allowedN, a.usedN, a.unusedN, a.deniedN = make([]int32, np), make([]int32, np), make([]int32, np), make([]int32, np)
	for i := n; i < np; i++ {
		a.peerKind[i] = peerNodes
	}
	scopeNS := m.Scope().Namespace
	nsIDs := map[string]int32{}
	a.outsides = make([]*netpol.Outside, n)
	for i, nd := range a.nodes {
		a.accOf[i] = -1
		if nd.Workload == nil {
			o := *nd.Outside
			a.outsides[i] = &o
			if internet(nd.Outside) {
				a.peerKind[i] = peerInternet
			} else {
				a.peerKind[i] = peerOutside
			}
			continue
		}
		a.nw = i + 1
		a.hostNet = append(a.hostNet, nd.HostNetwork)
		ref := *nd.Workload
		id, ok := nsIDs[ref.Namespace]
		if !ok {
			id = int32(len(a.nsNames))
			nsIDs[ref.Namespace] = id
			a.nsNames = append(a.nsNames, ref.Namespace)
			a.nsCount = append(a.nsCount, 0)
		}
		a.nsID = append(a.nsID, id)
		a.nsCount[id]++
		keep := (scopeNS == "" || ref.Namespace == scopeNS) && (opts.Keep == nil || opts.Keep(ref))
		a.kept = append(a.kept, keep)
		if keep && (nd.IngressIsolated || nd.EgressIsolated) {
			a.accOf[i] = int32(len(a.accs))
			a.accs = append(a.accs, &acc{node: i})
		}
		if ref.Namespace != "kube-system" {
			continue
		}
		if w := ix.Workload(ref); w != nil && w.Template.Labels["component"] == "kube-apiserver" {
			a.api[i] = true
			for _, v := range a.np.places[i] {
				a.api[v] = true // in the host network, as kubeadm runs it
			}
		}
	}
	a.ownPeers = a.ownNodesPeers()
	for _, addr := range apiServerAddrs(ix, e.Cluster()) {
		if i, ok := m.NodeOf(e.EndpointFor(addr)); ok {
			if v := a.np.of[i]; v >= 0 && a.np.addr[addr] {
				a.api[v] = true // a control-plane node's address
			} else {
				a.api[i] = true
			}
		}
	}
	return a
}

// ownNodesPeers returns, per workload node, the nodes peers whose
// addresses are all its own nodes' (Matrix.NodeAddrs), as in a cluster of
// one node. Traffic between a pod and its own node is always allowed
// (internal/netpol): no NetworkPolicy can close such a path, so it is
// neither counted nor listed. Workloads of the host network have none.
func (a *analysis) ownNodesPeers() [][]int32 {
	if a.np.peers() == 0 {
		return nil
	}
	out := make([][]int32, a.nw)
	peerOf := map[netip.Addr]int32{}
	var counts map[int32]int
	for i := range a.nw {
		if a.hostNet[i] {
			continue
		}
		clear(counts)
		for _, addr := range a.m.NodeAddrs(i) {
			if !a.np.addr[addr] {
				continue // not a node address of a region (a pod's)
			}
			v, ok := peerOf[addr]
			if !ok {
				v = -1
				if r, ok := a.m.NodeOf(netpol.AddressEndpoint(netip.PrefixFrom(addr, addr.BitLen()))); ok {
					v = a.np.of[r]
				}
				peerOf[addr] = v
			}
			if v >= 0 {
				if counts == nil {
					counts = map[int32]int{}
				}
				counts[v]++
			}
		}
		for v, c := range counts {
			if c == a.np.count[int(v)-a.np.n] {
				out[i] = append(out[i], v)
			}
		}
		slices.Sort(out[i])
	}
	return out
}

// ownPeer reports whether nodes peer v is all workload node i's own nodes.
func (a *analysis) ownPeer(i int, v int32) bool {
	return i < len(a.ownPeers) && slices.Contains(a.ownPeers[i], v)
}

// apiServerAddrs returns the addresses the Kubernetes API server is known
// by: the ClusterIP of default/kubernetes and the internal IPs of
// control-plane nodes.
func apiServerAddrs(ix *inventory.Index, cluster string) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	for _, s := range ix.Snapshot().Services {
		if s.Cluster == cluster && s.Namespace == "default" && s.Name == "kubernetes" {
			add(s.ClusterIP)
		}
	}
	for _, n := range ix.Snapshot().Nodes {
		if n.Cluster != cluster {
			continue
		}
		_, cp := n.Labels["node-role.kubernetes.io/control-plane"]
		_, master := n.Labels["node-role.kubernetes.io/master"]
		if cp || master {
			for _, s := range n.InternalIPs {
				add(s)
			}
		}
	}
	return out
}

// keptNode reports whether node i is a workload reported.
func (a *analysis) keptNode(i int) bool { return i < a.nw && a.kept[i] }

// deniedRecord is a record the policies do not allow, with its cells.
type deniedRecord struct {
	rec      *flows.Record
	from, to int
	allowed  netpol.PortSet
}

// readFlows maps the records of the engine's cluster to cells: the ports
// used per cell (those the cell allows), and the records it denies. It
// counts records and unmatched ones into u.
func (a *analysis) readFlows(fs *flows.Set, u *Usage) (map[pair]netpol.PortSet, []deniedRecord) {
	a.known = u.Known
	if fs == nil {
		return nil, nil
	}
	cluster := a.e.Cluster()
	addrNode := map[netip.Addr]int{}
	nodeOf := func(ep flows.Endpoint) (int, bool) {
		if ep.Workload != nil {
			ref := *ep.Workload
			if ref.Cluster == "" {
				ref.Cluster = cluster
			}
			return a.m.NodeOf(netpol.WorkloadEndpoint(ref))
		}
		if !ep.Addr.IsValid() {
			return 0, false
		}
		if n, ok := addrNode[ep.Addr]; ok {
			return n, n >= 0
		}
		n, ok := a.m.NodeOf(a.e.EndpointFor(ep.Addr))
		if !ok {
			n = -1
		}
		addrNode[ep.Addr] = n
		return n, ok
	}
	used := map[pair]netpol.PortSet{}
	var denied []deniedRecord
	for i := range fs.Records {
		r := &fs.Records[i]
		if r.Cluster != cluster && r.Cluster != "" {
			continue
		}
		u.Records++
		f, okf := nodeOf(r.From)
		t, okt := nodeOf(r.To)
		if !okf || !okt {
			if (r.From.Workload != nil && !okf) || (r.To.Workload != nil && !okt) {
				u.Unmatched++
			}
			continue
		}
		allowed, ok := a.m.Allowed(f, t)
		if !ok {
			continue // outside the scope, or between two outside regions
		}
		addr, own := a.ownNode(f, t, r)
		if allowed.Contains(r.Protocol, int32(r.Port)) {
			// Traffic with its own node may count for the cluster nodes
			// of the address's region (the workload's path), never for
			// the rest of the region.
			if !own || a.np.addr[addr] {
				a.use(used, f, t, r)
			}
			continue
		}
		if own {
			// Allowed whatever the policies say, on a port the cell does
			// not allow: no path of the policies was used.
			continue
		}
		denied = append(denied, deniedRecord{rec: r, from: f, to: t, allowed: allowed})
	}
	return used, denied
}

// ownNode returns the outside address of record r, between matrix nodes
// f and t, when r is traffic between a pod and its own node
// (internal/netpol): one end is a workload not of the host network, the
// other an address of a node one of its running pods runs on. Such
// traffic is always allowed, but the address stays in a region shared by
// every workload, so the matrix's cell does not say so. (A record naming
// a workload of the host network on the workload's node is allowed by its
// cell.)
func (a *analysis) ownNode(f, t int, r *flows.Record) (netip.Addr, bool) {
	w, ep := f, r.To
	switch {
	case f < a.nw && t >= a.nw:
	case t < a.nw && f >= a.nw:
		w, ep = t, r.From
	default:
		return netip.Addr{}, false
	}
	addr := ep.Addr.Unmap().WithZone("")
	return addr, ep.Workload == nil && addr.IsValid() && !a.hostNet[w] && a.m.OwnNode(w, addr)
}

// use records the allowed record r, between matrix nodes f and t, on the
// peers its ends count for: a node's address, or a workload of the host
// network, counts for the cluster's nodes (see nodePeers).
func (a *analysis) use(used map[pair]netpol.PortSet, f, t int, r *flows.Record) {
	port := netpol.Port(r.Protocol, int32(r.Port))
	var bf, bt [1]int32
	pf := a.np.place(f, f < a.nw && a.hostNet[f], r.From.Addr.Unmap().WithZone(""), &bf)
	pt := a.np.place(t, t < a.nw && a.hostNet[t], r.To.Addr.Unmap().WithZone(""), &bt)
	for _, x := range pf {
		for _, y := range pt {
			if a.np.region(int(x)) != f || a.np.region(int(y)) != t {
				// Another cell: count the record where it allows the port
				// (the nodes of a host-network workload may be in
				// regions the ipBlocks treat apart).
				if ps, ok := a.m.Allowed(a.np.region(int(x)), a.np.region(int(y))); !ok || !ps.Contains(r.Protocol, int32(r.Port)) {
					continue
				}
			}
			k := pair{x, y}
			used[k] = used[k].Union(port)
		}
	}
}

// walk streams the allowed paths of the matrix, counts them and feeds the
// workloads' accumulators. Paths from or to a workload of the host
// network are the cluster nodes' (its node's addresses): they are not
// listed apart. A region holding node addresses gives two paths, one to
// its nodes and one to the rest (none when the region is nodes only).
//
// The paths are compared on a goroutine of their own, in batches in the
// order the matrix gives them, so that a netpol.Grid computes its next
// block on another core meanwhile; the result is the same.
func (a *analysis) walk(ctx context.Context, used map[pair]netpol.PortSet, res *Result) error {
	keys := make([]pair, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y pair) int { return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1])) })
	next := 0
	compare := func(paths []netpol.Path) {
		for _, p := range paths {
			if !a.np.only[p.From] && !a.np.only[p.To] {
				k := pair{int32(p.From), int32(p.To)}
				for next < len(keys) && (keys[next][0] < k[0] || keys[next][0] == k[0] && keys[next][1] < k[1]) {
					next++
				}
				var u netpol.PortSet
				if next < len(keys) && keys[next] == k {
					u = used[k]
				}
				a.visit(res, p.From, p.To, p.Ports, u)
			}
			// The cluster's nodes in an outside end's region (only one end
			// is outside).
			// A workload's own nodes are not a path (ownNodesPeers).
			if v := a.np.of[p.From]; v >= 0 && !a.ownPeer(p.To, v) {
				a.visit(res, int(v), p.To, p.Ports, used[pair{v, int32(p.To)}])
			}
			if v := a.np.of[p.To]; v >= 0 && !a.ownPeer(p.From, v) {
				a.visit(res, p.From, int(v), p.Ports, used[pair{int32(p.From), v}])
			}
		}
	}

	// A batch is being filled, one being compared and walkQueue wait:
	// their arrays are reused.
	batches := make(chan []netpol.Path, walkQueue)
	free := make(chan []netpol.Path, walkQueue+2)
	done := make(chan struct{})
	var panicked any
	go func() {
		defer close(done)
		defer func() {
			if panicked = recover(); panicked != nil {
				for range batches { // let Rows finish
				}
			}
		}()
		for b := range batches {
			compare(b)
			select {
			case free <- b[:0]:
			default: // never full: at most walkQueue+2 arrays are made
			}
		}
	}()
	var batch []netpol.Path
	err := a.m.Rows(ctx, func(from int, paths []netpol.Path) error {
		if a.hostNetNode(from) {
			return nil
		}
		if batch == nil {
			select {
			case batch = <-free:
			default:
				batch = make([]netpol.Path, 0, walkBatch)
			}
		}
		// The matrix reuses paths once fn returns. A workload's paths to
		// itself and to the host network are not compared; the others are
		// copied a run at a time.
		b, start := batch, 0
		for i, p := range paths {
			if p.From == p.To || a.hostNetNode(p.To) {
				b = append(b, paths[start:i]...)
				start = i + 1
			}
		}
		batch = append(b, paths[start:]...)
		if len(batch) >= walkBatch {
			batches <- batch
			batch = nil
		}
		return nil
	})
	if len(batch) > 0 && err == nil {
		batches <- batch
	}
	close(batches)
	<-done
	if panicked != nil {
		panic(panicked)
	}
	if err != nil {
		return err
	}
	for _, ac := range a.accs {
		a.flush(ac, dirEgress)
		a.flush(ac, dirIngress)
	}
	return nil
}

// walkBatch is the paths walk hands over at once (about 320 KB), and
// walkQueue the batches that may wait.
const (
	walkBatch = 8192
	walkQueue = 8
)

// hostNetNode reports whether matrix node i is a workload of the host
// network.
func (a *analysis) hostNetNode(i int) bool { return i < a.nw && a.hostNet[i] }

// visit counts one allowed path between peers from and to, with the ports
// u used on it, and feeds it to the accumulators of its workloads.
func (a *analysis) visit(res *Result, from, to int, ports, u netpol.PortSet) {
	res.Counts.Paths++
	a.allowedN[from]++
	a.allowedN[to]++
	state := stateUnknown
	if a.known {
		switch {
		case u.Empty():
			state = stateUnused
			res.Counts.Unused++
			a.unusedN[from]++
			a.unusedN[to]++
		default:
			res.Counts.Used++
			a.usedN[from]++
			a.usedN[to]++
			state = statePartlyUsed
			if u.Equal(ports) {
				return // wholly used: nothing to report
			}
			res.Counts.PartlyUsed++
		}
	}
	if from < len(a.accOf) {
		if i := a.accOf[from]; i >= 0 {
			a.add(a.accs[i], dirEgress, to, ports, u, state)
		}
	}
	if to < len(a.accOf) {
		if i := a.accOf[to]; i >= 0 {
			a.add(a.accs[i], dirIngress, from, ports, u, state)
		}
	}
}

const (
	dirEgress  = 0
	dirIngress = 1
)

var dirNames = [2]string{Egress, Ingress}

// States of a group (see stateNames).
const (
	stateUnknown uint8 = iota
	stateUnused
	statePartlyUsed
)

var stateNames = [...]string{StateUnknown, StateUnused, StatePartlyUsed}

// group is paths of one workload and direction to peers of one namespace
// (or one outside region) that allow and use the same ports. It is
// copied as the best groups are kept, so it is kept small.
type group struct {
	allowed netpol.PortSet
	used    netpol.PortSet
	unused  netpol.PortSet // set by flush
	score   float64        // set by flush
	count   int32
	seq     int32 // order of flush within the workload
	outside int32 // an outside peer (region or nodes), or -1
	ns      int32 // the peer workloads' namespace (a.nsNames), or -1
	listed  [MaxListedPeers]int32
	// sensitive and every are the unused ports' sensitiveMask and
	// everyPortMask, set by flush.
	sensitive uint32
	every     uint8
	nlisted   uint8
	dir       uint8
	state     uint8
}

// run is the groups of the peers seen last: paths stream by source then
// destination, and workloads are sorted by namespace, so the peers of one
// namespace arrive together for each workload and direction.
type run struct {
	active  bool
	ns      int32
	outside int32
	groups  []group
}

// acc accumulates one reported workload's paths.
type acc struct {
	node   int
	cur    [2]run
	top    []group // the best, by score then order of arrival
	total  float64
	groups int
	seq    int32
}

func (a *analysis) add(ac *acc, dir, peer int, allowed, used netpol.PortSet, state uint8) {
	r := &ac.cur[dir]
	ns, out := int32(-1), int32(-1)
	if peer < a.nw {
		ns = a.nsID[peer]
	} else {
		out = int32(peer)
	}
	if !r.active || r.ns != ns || r.outside != out {
		a.flush(ac, dir)
		*r = run{active: true, ns: ns, outside: out, groups: r.groups[:0]}
	}
	for i := range r.groups {
		g := &r.groups[i]
		if g.allowed.Equal(allowed) && g.used.Equal(used) {
			g.count++
			if g.nlisted < MaxListedPeers {
				g.listed[g.nlisted] = int32(peer)
				g.nlisted++
			}
			return
		}
	}
	g := group{ns: ns, outside: out, allowed: allowed, used: used, state: state, count: 1, nlisted: 1, dir: uint8(dir)}
	g.listed[0] = int32(peer)
	r.groups = append(r.groups, g)
}

// flush scores the groups of the current run of one direction and keeps
// the best.
func (a *analysis) flush(ac *acc, dir int) {
	r := &ac.cur[dir]
	if !r.active {
		return
	}
	for i := range r.groups {
		g := &r.groups[i]
		g.unused = g.allowed
		if g.state != stateUnknown {
			g.unused = Subtract(g.allowed, g.used)
		}
		g.sensitive, g.every = a.masks(g.unused)
		g.score = a.w.score(a.scoreInput(ac, g))
		g.seq = ac.seq
		ac.seq++
		ac.total += g.score
		ac.groups++
		a.keep(ac, g)
	}
	r.active = false
	r.groups = r.groups[:0]
}

// masks returns sensitiveMask and everyPortMask of s. The groups of a
// cluster have a few port sets, so the last ones are remembered: comparing
// sets is cheaper than looking up a dozen ports.
func (a *analysis) masks(s netpol.PortSet) (uint32, uint8) {
	for i := range a.maskCache {
		if c := &a.maskCache[i]; c.set && c.ports.Equal(s) {
			return c.sensitive, c.every
		}
	}
	c := &a.maskCache[a.maskNext]
	a.maskNext = (a.maskNext + 1) % len(a.maskCache)
	*c = maskEntry{ports: s, sensitive: sensitiveMask(s), every: everyPortMask(s), set: true}
	return c.sensitive, c.every
}

// maskEntry is a port set's masks (analysis.masks).
type maskEntry struct {
	ports     netpol.PortSet
	sensitive uint32
	every     uint8
	set       bool
}

// scoreInput is what g's score depends on; g has been flushed.
func (a *analysis) scoreInput(ac *acc, g *group) scoreInput {
	in := scoreInput{ports: g.unused, count: int(g.count), sensitive: g.sensitive, every: g.every, masked: true}
	switch {
	case g.outside >= 0:
		in.kind = a.peerKind[g.outside]
	case g.ns != a.nsID[ac.node]:
		in.kind = peerOtherNamespace
	}
	if g.dir == dirEgress {
		for i := range g.nlisted {
			if a.api[g.listed[i]] {
				in.apiServer = true
			}
		}
	}
	return in
}

// keep inserts g among the best a.maxPaths groups of ac.
func (a *analysis) keep(ac *acc, g *group) {
	if len(ac.top) == a.maxPaths && g.score <= ac.top[len(ac.top)-1].score {
		return // later groups lose ties
	}
	i, _ := slices.BinarySearchFunc(ac.top, g, func(x group, y *group) int {
		return cmp.Or(cmp.Compare(y.score, x.score), cmp.Compare(x.seq, y.seq))
	})
	if ac.top == nil {
		ac.top = make([]group, 0, a.maxPaths)
	}
	if len(ac.top) == a.maxPaths {
		ac.top = ac.top[:a.maxPaths-1]
	}
	ac.top = slices.Insert(ac.top, i, *g)
}

// peer describes a group's peer. The lists of workloads it names are
// shared by the paths that name the same (d's cache), and so are an outside
// region and the host-network workloads of a nodes peer: read them, do not
// change them.
func (a *analysis) peer(g *group, d *details) Peer {
	if int(g.outside) >= len(a.nodes) {
		k := int(g.outside) - len(a.nodes)
		hn := a.np.hostNet[k]
		p := Peer{Outside: a.outsides[a.np.regions[k]], Count: 1, Nodes: true, Addresses: a.np.count[k], HostNetworkCount: len(hn)}
		if len(hn) > 0 {
			p.HostNetwork = hn[:min(len(hn), MaxListedPeers):min(len(hn), MaxListedPeers)]
		}
		return p
	}
	if g.outside >= 0 {
		return Peer{Outside: a.outsides[g.outside], Count: 1, Internet: a.peerKind[g.outside] == peerInternet, WithoutNodes: a.np.of[g.outside] >= 0}
	}
	k := listKey{n: g.nlisted, listed: g.listed}
	refs, ok := d.lists[k]
	if !ok {
		refs = make([]model.WorkloadRef, g.nlisted)
		for i := range refs {
			refs[i] = *a.nodes[g.listed[i]].Workload
		}
		if d.lists == nil {
			d.lists = map[listKey][]model.WorkloadRef{}
		}
		d.lists[k] = refs
	}
	return Peer{Namespace: a.nsNames[g.ns], Count: int(g.count), Of: a.nsCount[g.ns], Workloads: refs}
}

// listKey names the workloads a group lists (group.listed[:n]).
type listKey struct {
	n      uint8
	listed [MaxListedPeers]int32
}

// items describes the accumulated workloads, ranked. Only the listed
// paths (the best maxPaths of each) are described, half of many items on
// another goroutine; each item's paths share one array of factors.
func (a *analysis) items() []Item {
	// Ranked before they are described: sorting the items would move
	// hundreds of bytes per swap.
	ranked := make([]*acc, 0, len(a.accs))
	for _, ac := range a.accs {
		if ac.groups > 0 {
			ranked = append(ranked, ac)
		}
	}
	slices.SortFunc(ranked, func(x, y *acc) int {
		return cmp.Or(cmp.Compare(round2(y.total), round2(x.total)), inventory.CompareRefs(*a.nodes[x.node].Workload, *a.nodes[y.node].Workload))
	})
	out := make([]Item, len(ranked))
	describe := func(lo, hi int) {
		var d details // not shared: its maps are written
		var scratch []Factor
		for i := lo; i < hi; i++ {
			out[i] = a.item(ranked[i], &d, &scratch)
		}
	}
	if len(ranked) < minConcurrentItems {
		describe(0, len(ranked))
		return out
	}
	half := len(ranked) / 2
	wait := concurrently(func() { describe(0, half) })
	describe(half, len(ranked))
	wait()
	return out
}

// minConcurrentItems is the fewest items described on two goroutines.
const minConcurrentItems = 256

// item describes one workload's listed paths. scratch is reused from item
// to item.
func (a *analysis) item(ac *acc, d *details, scratch *[]Factor) Item {
	ref := *a.nodes[ac.node].Workload
	iso, _ := a.e.Isolation(ref)
	it := Item{
		Workload:        ref,
		IngressPolicies: iso.Ingress,
		EgressPolicies:  iso.Egress,
		Score:           round2(ac.total),
		MorePaths:       ac.groups - len(ac.top),
		AllowedPaths:    int(a.allowedN[ac.node]),
		UsedPaths:       int(a.usedN[ac.node]),
		UnusedPaths:     int(a.unusedN[ac.node]),
		DeniedFlows:     int(a.deniedN[ac.node]),
		Paths:           make([]Path, len(ac.top)),
	}
	factors := (*scratch)[:0]
	var buf [DefaultMaxPaths]int
	ends := buf[:0] // of each path's factors in factors
	for i := range ac.top {
		g := &ac.top[i]
		p := &it.Paths[i]
		*p = Path{Direction: dirNames[g.dir], Peer: a.peer(g, d), State: stateNames[g.state], Allowed: g.allowed, Score: g.score}
		if g.state != stateUnknown {
			p.Unused = g.unused
		}
		if g.state == statePartlyUsed {
			p.Used = g.used
		}
		factors = d.factors(factors, a.w, a.scoreInput(ac, g), &p.Peer, ref.Namespace, int(g.outside))
		ends = append(ends, len(factors))
	}
	*scratch = factors
	// One array for the item's factors, each path's a slice that appends
	// cannot grow into the next path's ([] when it has none).
	all := make([]Factor, len(factors))
	copy(all, factors)
	start := 0
	for i, end := range ends {
		it.Paths[i].Factors = all[start:end:end]
		start = end
	}
	return it
}

// concurrently runs f on another goroutine; wait waits for it to return,
// and panics with f's panic, on the caller's goroutine.
func concurrently(f func()) (wait func()) {
	done := make(chan struct{})
	var panicked any
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		f()
	}()
	return func() {
		<-done
		if panicked != nil {
			panic(panicked)
		}
	}
}

// unprotected lists the reported workloads no policy selects.
func (a *analysis) unprotected() []Unprotected {
	var out []Unprotected
	for i := range a.nw {
		nd := a.nodes[i]
		if !a.kept[i] || nd.IngressIsolated || nd.EgressIsolated {
			continue
		}
		out = append(out, Unprotected{Workload: *nd.Workload, AllowedPaths: int(a.allowedN[i]), UsedPaths: int(a.usedN[i]), DeniedFlows: int(a.deniedN[i]), HostNetwork: nd.HostNetwork})
	}
	return out
}

// explainDenied keeps the denied records that touch a reported workload,
// the most frequent first, and asks the engine why each listed one is
// denied.
func (a *analysis) explainDenied(res *Result, denied []deniedRecord) {
	denied = slices.DeleteFunc(denied, func(d deniedRecord) bool { return !a.keptNode(d.from) && !a.keptNode(d.to) })
	for _, d := range denied {
		a.deniedN[d.from]++
		if d.to != d.from {
			a.deniedN[d.to]++
		}
	}
	res.DeniedTotal = len(denied)
	slices.SortStableFunc(denied, func(x, y deniedRecord) int {
		// Nodes are sorted by workload, then outside region; the
		// address breaks ties within a region.
		return cmp.Or(cmp.Compare(y.rec.Count, x.rec.Count), cmp.Compare(x.from, y.from), cmp.Compare(x.to, y.to),
			x.rec.From.Addr.Compare(y.rec.From.Addr), x.rec.To.Addr.Compare(y.rec.To.Addr),
			cmp.Compare(x.rec.Port, y.rec.Port), strings.Compare(x.rec.Protocol, y.rec.Protocol))
	})
	if len(denied) > a.maxDeny {
		denied = denied[:a.maxDeny]
	}
	for _, d := range denied {
		r := d.rec
		out := Denied{
			Cluster: res.Cluster, From: r.From, To: r.To, Port: r.Port, Protocol: r.Protocol, Count: r.Count,
			FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Allowed: &d.allowed, DeniedBy: []string{}, Reasons: []string{},
		}
		v, err := a.e.Query(netpol.Connection{From: a.endpoint(d.from, r.From), To: a.endpoint(d.to, r.To), Port: int32(r.Port), Protocol: r.Protocol})
		if err != nil {
			out.Reasons = append(out.Reasons, err.Error())
		} else {
			for _, s := range []netpol.Side{v.Egress, v.Ingress} {
				if s.Allowed {
					continue
				}
				out.DeniedBy = append(out.DeniedBy, strings.ToLower(s.Direction))
				out.Policies = append(out.Policies, s.Policies...)
				out.Reasons = append(out.Reasons, s.Reason)
			}
		}
		res.Denied = append(res.Denied, out)
	}
}

// endpoint is the end of a record at node i as the engine's endpoint:
// the workload, or the record's outside address.
func (a *analysis) endpoint(i int, ep flows.Endpoint) netpol.Endpoint {
	if nd := a.nodes[i]; nd.Workload != nil {
		return netpol.WorkloadEndpoint(*nd.Workload)
	}
	return netpol.AddressEndpoint(netip.PrefixFrom(ep.Addr, ep.Addr.BitLen()))
}
