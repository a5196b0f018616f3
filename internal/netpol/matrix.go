package netpol

import (
	"context"
	"fmt"
	"iter"
	"math/bits"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// Scope chooses the paths of a matrix.
type Scope struct {
	// Namespace limits the matrix to the paths from or to the workloads of
	// one namespace; empty is the whole cluster.
	Namespace string
}

// Node is a row or column of a matrix: a workload, or a region of outside
// addresses.
type Node struct {
	Workload *model.WorkloadRef `json:"workload,omitempty"`
	Outside  *Outside           `json:"outside,omitempty"`
	// IngressIsolated and EgressIsolated are set when some policy selects
	// the workload for that direction. A workload with neither has no
	// policy at all: everything is allowed to and from it.
	IngressIsolated bool `json:"ingressIsolated,omitempty"`
	EgressIsolated  bool `json:"egressIsolated,omitempty"`
	// HostNetwork is set for a workload whose pods run in the host
	// network. No policy isolates it; its cells are those of its node's
	// addresses (see Matrix).
	HostNetwork bool `json:"hostNetwork,omitempty"`
}

func (n Node) String() string {
	if n.Workload != nil {
		return WorkloadEndpoint(*n.Workload).String()
	}
	return n.Outside.String()
}

// Path is one allowed path of a matrix: From may open connections to To
// on Ports (indexes into Matrix.Nodes).
type Path struct {
	From  int
	To    int
	Ports PortSet
}

// Matrix is the set of paths the policies allow between the workloads of
// a cluster, and between them and the outside, computed per class of
// workloads that no policy tells apart. Outside regions are the pieces the
// policies' ipBlocks cut the address space into, plus "anywhere else";
// NetworkPolicy does not restrict traffic between two outside addresses,
// so the matrix has no such paths. A Matrix is immutable.
//
// A workload of the host network is a workload node that no policy
// isolates (Node.HostNetwork), so that flows and simulations naming it
// find it; its cells are what the policies allow to and from its node's
// addresses (ipBlocks only, as Query answers it), and its paths to outside
// regions allow everything. An observed address of a node is not that
// node: EndpointFor makes it outside, and NodeOf its outside region.
//
// Traffic between a pod and its own node is always allowed: the cells
// between a workload and a workload of the host network with a running
// pod on one of its nodes allow every port, both ways. An outside region
// is shared by many workloads, so its cells stay what the policies allow,
// and OwnNode tells a workload's own node's address apart.
type Matrix struct {
	layout
	sets   []PortSet
	rowPos []int32 // class → row in rows (in scope), or -1
	colPos []int32 // class → column in cols (in scope), or -1
	outPos []int32 // class → row in cols block (out of scope), or -1
	ncls   int
	natoms int
	// rows: classes in scope × (every class, then every outside node).
	rows []uint32
	// cols: (classes out of scope, then outside nodes) × classes in scope.
	cols   []uint32
	rowLen int // length of a row of rows: every class, then outside nodes
	colLen int // length of a row of cols: the classes in scope
	nout   int
}

// layout is the rows and columns of a matrix, shared by Matrix and Grid:
// the workloads, then the outside regions.
type layout struct {
	scope   Scope
	nodes   []Node
	nw      int   // nodes[:nw] are workloads, nodes[nw:] outside regions
	classOf []int // workload node → class
	atomOf  []int // outside node - nw → atom
	atomPos []int // atom → outside node - nw, or -1
	// for NodeOf
	byRef      map[model.WorkloadRef]int
	space      *space
	nodeOfAtom map[int]int
	// own is, per workload node, the workload nodes its traffic with is
	// between a pod and its own node (Engine.own); eng answers OwnNode.
	own [][]int32
	eng *Engine
}

// layout returns the nodes of a matrix of scope.
func (e *Engine) layout(scope Scope) (layout, error) {
	if scope.Namespace != "" {
		if _, ok := e.nsIndex[scope.Namespace]; !ok {
			return layout{}, fmt.Errorf("namespace %q has no workloads or policies in cluster %s", scope.Namespace, e.cluster)
		}
	}
	l := layout{scope: scope, byRef: e.byRef, space: e.space, nodeOfAtom: map[int]int{}, own: e.own, eng: e}
	for _, w := range e.workloads {
		ref := w.ref
		cl := e.classes[w.class]
		l.nodes = append(l.nodes, Node{Workload: &ref, IngressIsolated: len(cl.selectedBy[dirIngress]) > 0, EgressIsolated: len(cl.selectedBy[dirEgress]) > 0, HostNetwork: cl.hostNet})
		l.classOf = append(l.classOf, w.class)
	}
	l.nw = len(l.nodes)
	l.atomPos = make([]int, len(e.space.atoms))
	for a, at := range e.space.atoms {
		l.atomPos[a] = -1
		if a == 0 && e.space.rootEmpty {
			continue
		}
		o := at.outside()
		l.atomPos[a] = len(l.atomOf)
		l.nodeOfAtom[a] = len(l.nodes)
		l.nodes = append(l.nodes, Node{Outside: &o})
		l.atomOf = append(l.atomOf, a)
	}
	return l, nil
}

// Nodes returns the rows and columns: the workloads (sorted by reference),
// then the outside regions, "anywhere else" first.
func (l *layout) Nodes() []Node { return l.nodes }

// Scope returns the scope the matrix or grid was computed for.
func (l *layout) Scope() Scope { return l.scope }

// NodeOf returns the node of an endpoint: a workload, or the outside
// region holding an address (a CIDR endpoint must be a single address).
// A node's address is outside, in a region shared by every workload: the
// cell of a workload and that region is what the policies allow, and
// OwnNode says whether the address is the workload's own node.
func (l *layout) NodeOf(ep Endpoint) (int, bool) {
	if ep.Workload != nil {
		i, ok := l.byRef[*ep.Workload]
		return i, ok
	}
	p, err := parseCIDR(ep.CIDR)
	if err != nil || !p.IsSingleIP() {
		return 0, false
	}
	n, ok := l.nodeOfAtom[l.space.atom(p.Addr())]
	return n, ok
}

// Allowed returns the ports From may use to reach To, and false when the
// pair is outside the matrix's scope (or both are outside regions).
func (m *Matrix) Allowed(from, to int) (PortSet, bool) {
	id, ok := m.cell(from, to)
	if !ok {
		return PortSet{}, false
	}
	return m.sets[id], true
}

// cell returns the cell of a pair: its classes', or every port for a
// workload and a workload of the host network on one of its nodes.
func (m *Matrix) cell(from, to int) (uint32, bool) {
	id, ok := m.classCell(from, to)
	if ok && id != setAll && m.ownPair(from, to) {
		id = setAll
	}
	return id, ok
}

func (m *Matrix) classCell(from, to int) (uint32, bool) {
	if from < 0 || to < 0 || from >= len(m.nodes) || to >= len(m.nodes) {
		return 0, false
	}
	if from < m.nw {
		s := m.classOf[from]
		if r := m.rowPos[s]; r >= 0 {
			col := 0
			if to < m.nw {
				col = m.classOf[to]
			} else {
				col = m.ncls + (to - m.nw)
			}
			return m.rows[int(r)*m.rowLen+col], true
		}
		if to < m.nw {
			if c := m.colPos[m.classOf[to]]; c >= 0 {
				return m.cols[int(m.outPos[s])*m.colLen+int(c)], true
			}
		}
		return 0, false
	}
	if to < m.nw {
		if c := m.colPos[m.classOf[to]]; c >= 0 {
			return m.cols[(m.nout+from-m.nw)*m.colLen+int(c)], true
		}
	}
	return 0, false
}

// Paths yields the allowed paths of the scope (those with at least one
// port), by From then To.
func (m *Matrix) Paths() iter.Seq[Path] {
	return func(yield func(Path) bool) {
		for f := range m.nodes {
			for t := range m.nodes {
				id, ok := m.cell(f, t)
				if !ok || id == setEmpty {
					continue
				}
				if !yield(Path{From: f, To: t, Ports: m.sets[id]}) {
					return
				}
			}
		}
	}
}

// Rows calls fn with the allowed paths of the scope from each node that
// has some, as Grid.Rows does; the paths slice is reused after fn returns.
func (m *Matrix) Rows(ctx context.Context, fn func(from int, paths []Path) error) error {
	var out []Path
	for f := range m.nodes {
		if f%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		out = out[:0]
		for t := range m.nodes {
			if id, ok := m.cell(f, t); ok && id != setEmpty {
				out = append(out, Path{From: f, To: t, Ports: m.sets[id]})
			}
		}
		if len(out) > 0 {
			if err := fn(f, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// Count returns the number of allowed paths and of those allowing every
// port.
func (m *Matrix) Count() (paths, open int) {
	for p := range m.Paths() {
		paths++
		if p.Ports.All() {
			open++
		}
	}
	return paths, open
}

// Interned port sets: 0 is empty, 1 is all.
const (
	setEmpty uint32 = 0
	setAll   uint32 = 1
)

type setTable struct {
	sets      []PortSet
	ids       map[string]uint32
	intersect map[uint64]uint32
	union     map[uint64]uint32
	// andFront caches recent intersections in front of the map.
	andFront [512]frontEntry
}

func newSetTable() *setTable {
	t := &setTable{ids: map[string]uint32{}, intersect: map[uint64]uint32{}, union: map[uint64]uint32{}}
	for i := range t.andFront {
		t.andFront[i].val = noSet
	}
	t.id(PortSet{})
	t.id(AllPorts())
	return t
}

func (t *setTable) id(s PortSet) uint32 {
	k := s.String()
	if id, ok := t.ids[k]; ok {
		return id
	}
	id := uint32(len(t.sets))
	t.sets = append(t.sets, s)
	t.ids[k] = id
	return id
}

func (t *setTable) and(a, b uint32) uint32 {
	switch {
	case a == setEmpty || b == setEmpty:
		return setEmpty
	case a == setAll || a == b:
		return b
	case b == setAll:
		return a
	}
	if a > b {
		a, b = b, a
	}
	k := uint64(a)<<32 | uint64(b)
	f := &t.andFront[frontSlot(k, 0)]
	if f.val != noSet && f.mask == k {
		return f.val
	}
	id, ok := t.intersect[k]
	if !ok {
		id = t.id(t.sets[a].Intersect(t.sets[b]))
		t.intersect[k] = id
	}
	*f = frontEntry{mask: k, val: id}
	return id
}

func (t *setTable) or(a, b uint32) uint32 {
	switch {
	case a == setAll || b == setAll:
		return setAll
	case a == setEmpty || a == b:
		return b
	case b == setEmpty:
		return a
	}
	if a > b {
		a, b = b, a
	}
	k := uint64(a)<<32 | uint64(b)
	if id, ok := t.union[k]; ok {
		return id
	}
	id := t.id(t.sets[a].Union(t.sets[b]))
	t.union[k] = id
	return id
}

// group is what one side allows to a set of peers: the union of the
// rules with the same ports.
type group struct {
	egress  bool
	spec    int    // egress: rule ports spec, resolved per destination
	set     uint32 // ingress: resolved ports
	classes bitset
	atoms   bitset
}

// groupCache memoizes the union of the groups a peer is in, by the mask
// of those groups (and, for egress with named ports, the destination's
// port signature): a slice for few groups, else a map with a small
// direct-mapped cache in front.
type groupCache struct {
	small  []uint32
	big    map[[2]uint64]uint32
	front  [512]frontEntry
	useBig bool
}

type frontEntry struct {
	mask, sig uint64
	val       uint32
}

const noSet = ^uint32(0)

func (c *groupCache) reset(k int, bySig bool) {
	c.useBig = k > 10 || bySig
	if !c.useBig {
		n := 1 << k
		if cap(c.small) < n {
			c.small = make([]uint32, n)
		}
		c.small = c.small[:n]
		for i := range c.small {
			c.small[i] = noSet
		}
		return
	}
	if c.big == nil {
		c.big = map[[2]uint64]uint32{}
	}
	clear(c.big)
	for i := range c.front {
		c.front[i].val = noSet
	}
}

func frontSlot(a, b uint64) int {
	return int((a*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f) >> (64 - 9))
}

func (c *groupCache) get(mask uint64, sig int) uint32 {
	if !c.useBig {
		return c.small[mask]
	}
	s := uint64(sig)
	f := &c.front[frontSlot(mask, s)]
	if f.val != noSet && f.mask == mask && f.sig == s {
		return f.val
	}
	if v, ok := c.big[[2]uint64{mask, s}]; ok {
		*f = frontEntry{mask, s, v}
		return v
	}
	return noSet
}

func (c *groupCache) put(mask uint64, sig int, v uint32) {
	if !c.useBig {
		c.small[mask] = v
		return
	}
	s := uint64(sig)
	c.big[[2]uint64{mask, s}] = v
	c.front[frontSlot(mask, s)] = frontEntry{mask, s, v}
}

// matrixBuilder holds the state of one Matrix computation.
type matrixBuilder struct {
	e       *Engine
	t       *setTable
	specs   []*rulePorts
	specOf  map[*rule]int
	specIDs map[string]int
	named   []bool            // per spec: has named ports
	res     map[[2]int]uint32 // (spec, port signature or -1) → set
	atoms   []int             // outside nodes' atoms
}

func (b *matrixBuilder) spec(r *rule) int {
	if s, ok := b.specOf[r]; ok {
		return s
	}
	rp := &r.ports
	key := "*"
	if !rp.all {
		var sb strings.Builder
		sb.WriteString(rp.fixed.String())
		for _, n := range rp.named {
			fmt.Fprintf(&sb, "|%s/%s", n.name, n.protocol)
		}
		key = sb.String()
	}
	s, ok := b.specIDs[key]
	if !ok {
		s = len(b.specs)
		b.specIDs[key] = s
		b.specs = append(b.specs, rp)
		b.named = append(b.named, len(rp.named) > 0)
	}
	b.specOf[r] = s
	return s
}

// resolve returns the set of spec s for a destination class (cls < 0:
// outside). Named ports resolve on pods only: a host-network class is
// resolved as an outside address.
func (b *matrixBuilder) resolve(s, cls int) uint32 {
	if cls >= 0 && b.e.classes[cls].hostNet {
		cls = -1
	}
	sig := -1
	if cls >= 0 {
		sig = b.e.classes[cls].portSig
	}
	if !b.named[s] {
		sig = -1 // named ports absent: the same for every destination
	}
	k := [2]int{s, sig}
	if id, ok := b.res[k]; ok {
		return id
	}
	var ports []model.ContainerPort
	if cls >= 0 {
		ports = b.e.classes[cls].ports
	}
	id := b.t.id(b.specs[s].resolve(ports))
	b.res[k] = id
	return id
}

// Matrix computes the allowed paths of scope. Its time and memory grow
// with the number of classes of workloads (pairs of classes), not pods.
//
// It runs in two passes over the cells. The ingress pass goes destination
// by destination: the destination's ingress groups mark, in one array, the
// groups each source is in, and the union of those groups' ports is
// looked up by that mask. The egress pass goes source by source the same
// way and intersects its result into the cell; sources that no policy
// isolates for egress are skipped, as are destinations for ingress.
func (e *Engine) Matrix(ctx context.Context, scope Scope) (*Matrix, error) {
	l, err := e.layout(scope)
	if err != nil {
		return nil, err
	}
	b := &matrixBuilder{e: e, t: newSetTable(), specOf: map[*rule]int{}, specIDs: map[string]int{}, res: map[[2]int]uint32{}, atoms: l.atomOf}
	nc := len(e.classes)
	m := &Matrix{layout: l, ncls: nc}
	atomPos := l.atomPos
	m.natoms = len(l.atomOf)

	// Which classes are in scope.
	m.rowPos, m.colPos, m.outPos = make([]int32, nc), make([]int32, nc), make([]int32, nc)
	var in, out []int
	for c, cl := range e.classes {
		m.rowPos[c], m.colPos[c], m.outPos[c] = -1, -1, -1
		if scope.Namespace == "" || e.namespaces[cl.ns].name == scope.Namespace {
			m.rowPos[c], m.colPos[c] = int32(len(in)), int32(len(in))
			in = append(in, c)
		} else {
			m.outPos[c] = int32(len(out))
			out = append(out, c)
		}
	}
	m.rowLen = nc + m.natoms
	m.colLen = len(in)
	m.nout = len(out)
	m.rows = make([]uint32, len(in)*m.rowLen)
	m.cols = make([]uint32, (len(out)+m.natoms)*m.colLen)

	// cellOf returns the cell of a source (a class, or nc+i for outside
	// node i) and a destination (a class, or nc+i), nil when out of scope.
	cellOf := func(src, dst int) *uint32 {
		if src < nc && m.rowPos[src] >= 0 {
			return &m.rows[int(m.rowPos[src])*m.rowLen+dst]
		}
		if dst >= nc || m.colPos[dst] < 0 {
			return nil
		}
		r := src - nc + m.nout
		if src < nc {
			r = int(m.outPos[src])
		}
		return &m.cols[r*m.colLen+int(m.colPos[dst])]
	}
	nsrc := nc + m.natoms
	masks := make([]uint64, nsrc)
	var cache groupCache

	// mark sets bit i in masks for every class and outside node of g.
	mark := func(i int, classes, atoms bitset) {
		for wi, w := range classes {
			for w != 0 {
				masks[wi*64+bits.TrailingZeros64(w)] |= 1 << i
				w &= w - 1
			}
		}
		for wi, w := range atoms {
			for w != 0 {
				if p := atomPos[wi*64+bits.TrailingZeros64(w)]; p >= 0 {
					masks[nc+p] |= 1 << i
				}
				w &= w - 1
			}
		}
	}

	// Ingress pass: every cell gets what the destination's ingress allows.
	for d := range nc {
		if d%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		var gs []group
		if len(e.classes[d].selectedBy[dirIngress]) > 0 {
			gs = b.ingressGroups(d)
		}
		isolated := len(e.classes[d].selectedBy[dirIngress]) > 0
		if len(gs) > 64 {
			for src := range nsrc {
				if c := cellOf(src, d); c != nil {
					*c = b.unionOf(gs, src, nc, -1)
				}
			}
			continue
		}
		clear(masks)
		for i := range gs {
			mark(i, gs[i].classes, gs[i].atoms)
		}
		cache.reset(len(gs), false)
		for src := range nsrc {
			c := cellOf(src, d)
			if c == nil {
				continue
			}
			if !isolated {
				*c = setAll
				continue
			}
			v := cache.get(masks[src], 0)
			if v == noSet {
				v = setEmpty
				for i := range gs {
					if masks[src]&(1<<i) != 0 {
						v = b.t.or(v, gs[i].set)
					}
				}
				cache.put(masks[src], 0, v)
			}
			*c = v
		}
	}

	// Outside destinations have no ingress policies.
	for r := range in {
		row := m.rows[r*m.rowLen : (r+1)*m.rowLen]
		for i := nc; i < m.rowLen; i++ {
			row[i] = setAll
		}
	}

	// Egress pass: sources isolated for egress narrow their cells.
	ndst := nc + m.natoms
	for s := range nc {
		if s%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if len(e.classes[s].selectedBy[dirEgress]) == 0 {
			continue
		}
		if m.rowPos[s] < 0 && m.colLen == 0 {
			continue
		}
		gs, named := b.egressGroups(s)
		if len(gs) > 64 {
			for d := range ndst {
				if c := cellOf(s, d); c != nil && *c != setEmpty {
					*c = b.t.and(*c, b.unionOf(gs, d, nc, d))
				}
			}
			continue
		}
		clear(masks)
		for i := range gs {
			mark(i, gs[i].classes, gs[i].atoms)
		}
		cache.reset(len(gs), named)
		for d := range ndst {
			c := cellOf(s, d)
			if c == nil || *c == setEmpty {
				continue
			}
			dst, sig := -1, -1 // outside and host-network destinations resolve alike
			if d < nc && !e.classes[d].hostNet {
				dst, sig = d, e.classes[d].portSig
			}
			v := cache.get(masks[d], sig)
			if v == noSet {
				v = setEmpty
				for i := range gs {
					if masks[d]&(1<<i) != 0 {
						v = b.t.or(v, b.resolve(gs[i].spec, dst))
					}
				}
				cache.put(masks[d], sig, v)
			}
			*c = b.t.and(*c, v)
		}
	}
	m.sets = b.t.sets
	return m, nil
}

// unionOf is the slow path for more than 64 groups: the union of the
// groups holding peer p (a class, or nc+i for outside node i), resolved
// for destination dst (egress groups; -1 for ingress groups, whose set is
// resolved already, and for outside destinations).
func (b *matrixBuilder) unionOf(gs []group, p, nc, dst int) uint32 {
	v := setEmpty
	for i := range gs {
		var in bool
		if p < nc {
			in = gs[i].classes.has(p)
		} else {
			in = gs[i].atoms.has(b.atoms[p-nc])
		}
		if !in {
			continue
		}
		set := gs[i].set
		if gs[i].egress {
			d := dst
			if d >= nc {
				d = -1
			}
			set = b.resolve(gs[i].spec, d)
		}
		v = b.t.or(v, set)
	}
	return v
}

// ingressGroups returns the ingress rules of the policies selecting class
// d, merged by the ports they allow to d.
func (b *matrixBuilder) ingressGroups(d int) []group {
	e := b.e
	var gs []group
	for _, pi := range e.classes[d].selectedBy[dirIngress] {
		p := e.policies[pi]
		if p.denyAll {
			continue
		}
		for _, r := range p.rules[dirIngress] {
			set := b.resolve(b.spec(r), d)
			if set == setEmpty {
				continue
			}
			ps := e.rulePeers[r]
			i := 0
			for i < len(gs) && gs[i].set != set {
				i++
			}
			if i == len(gs) {
				gs = append(gs, group{set: set, classes: newBitset(len(e.classes)), atoms: newBitset(len(e.space.atoms))})
			}
			gs[i].classes.or(ps.classes)
			gs[i].atoms.or(ps.atoms)
		}
	}
	return gs
}

// egressGroups returns the egress rules of the policies selecting class s,
// merged by their ports spec, and whether any names a port.
func (b *matrixBuilder) egressGroups(s int) ([]group, bool) {
	e := b.e
	var gs []group
	named := false
	for _, pi := range e.classes[s].selectedBy[dirEgress] {
		p := e.policies[pi]
		if p.denyAll {
			continue
		}
		for _, r := range p.rules[dirEgress] {
			spec := b.spec(r)
			if !b.named[spec] && b.specs[spec].resolve(nil).Empty() {
				continue // every port entry was invalid
			}
			named = named || b.named[spec]
			ps := e.rulePeers[r]
			i := 0
			for i < len(gs) && gs[i].spec != spec {
				i++
			}
			if i == len(gs) {
				gs = append(gs, group{egress: true, spec: spec, classes: newBitset(len(e.classes)), atoms: newBitset(len(e.space.atoms))})
			}
			gs[i].classes.or(ps.classes)
			gs[i].atoms.or(ps.atoms)
		}
	}
	return gs, named
}
