package netpol

import (
	"context"
	"fmt"
	"iter"
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
type Matrix struct {
	scope   Scope
	nodes   []Node
	nw      int   // nodes[:nw] are workloads, nodes[nw:] outside regions
	classOf []int // workload node → class
	atomOf  []int // outside node - nw → atom
	sets    []PortSet
	inScope []bool  // per class
	rowPos  []int32 // class → row in rows (in scope), or -1
	colPos  []int32 // class → column in cols (in scope), or -1
	outPos  []int32 // class → row in cols block (out of scope), or -1
	ncls    int
	natoms  int
	// rows: classes in scope × (every class, then every outside node).
	rows []uint32
	// cols: (classes out of scope, then outside nodes) × classes in scope.
	cols   []uint32
	rowLen int // length of a row of rows: every class, then outside nodes
	colLen int // length of a row of cols: the classes in scope
	nout   int
	// for NodeOf
	byRef      map[model.WorkloadRef]int
	space      *space
	nodeOfAtom map[int]int
}

// Nodes returns the rows and columns: the workloads (sorted by reference),
// then the outside regions, "anywhere else" first.
func (m *Matrix) Nodes() []Node { return m.nodes }

// Scope returns the scope the matrix was computed for.
func (m *Matrix) Scope() Scope { return m.scope }

// NodeOf returns the node of an endpoint: a workload, or the outside
// region holding an address (a CIDR endpoint must be a single address).
func (m *Matrix) NodeOf(ep Endpoint) (int, bool) {
	if ep.Workload != nil {
		i, ok := m.byRef[*ep.Workload]
		return i, ok
	}
	p, err := parseCIDR(ep.CIDR)
	if err != nil || !p.IsSingleIP() {
		return 0, false
	}
	n, ok := m.nodeOfAtom[m.space.atom(p.Addr())]
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

func (m *Matrix) cell(from, to int) (uint32, bool) {
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
}

func newSetTable() *setTable {
	t := &setTable{ids: map[string]uint32{}, intersect: map[uint64]uint32{}, union: map[uint64]uint32{}}
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
	if id, ok := t.intersect[k]; ok {
		return id
	}
	id := t.id(t.sets[a].Intersect(t.sets[b]))
	t.intersect[k] = id
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
	spec    int    // egress: rule ports spec, resolved per destination
	set     uint32 // ingress: resolved ports
	classes bitset
	atoms   bitset
}

// groupCache memoizes the union of the groups a peer is in, by the mask
// of those groups (and, for egress with named ports, the destination's
// port signature).
type groupCache struct {
	small []uint32
	big   map[[2]uint64]uint32
}

const noSet = ^uint32(0)

func (c *groupCache) reset(k int, bySig bool) {
	if k <= 10 && !bySig {
		n := 1 << k
		if cap(c.small) < n {
			c.small = make([]uint32, n)
		}
		c.small = c.small[:n]
		for i := range c.small {
			c.small[i] = noSet
		}
		c.big = nil
		return
	}
	c.small = c.small[:0]
	c.big = map[[2]uint64]uint32{}
}

func (c *groupCache) get(mask uint64, sig int) uint32 {
	if c.big == nil {
		return c.small[mask]
	}
	if v, ok := c.big[[2]uint64{mask, uint64(sig)}]; ok {
		return v
	}
	return noSet
}

func (c *groupCache) put(mask uint64, sig int, v uint32) {
	if c.big == nil {
		c.small[mask] = v
		return
	}
	c.big[[2]uint64{mask, uint64(sig)}] = v
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
// outside).
func (b *matrixBuilder) resolve(s, cls int) uint32 {
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
func (e *Engine) Matrix(ctx context.Context, scope Scope) (*Matrix, error) {
	if scope.Namespace != "" {
		if _, ok := e.nsIndex[scope.Namespace]; !ok {
			return nil, fmt.Errorf("namespace %q has no workloads or policies in cluster %s", scope.Namespace, e.cluster)
		}
	}
	b := &matrixBuilder{e: e, t: newSetTable(), specOf: map[*rule]int{}, specIDs: map[string]int{}, res: map[[2]int]uint32{}}
	nc := len(e.classes)
	m := &Matrix{scope: scope, ncls: nc, byRef: e.byRef, space: e.space, nodeOfAtom: map[int]int{}}

	// Nodes.
	for _, w := range e.workloads {
		ref := w.ref
		cl := e.classes[w.class]
		m.nodes = append(m.nodes, Node{Workload: &ref, IngressIsolated: len(cl.selectedBy[dirIngress]) > 0, EgressIsolated: len(cl.selectedBy[dirEgress]) > 0})
		m.classOf = append(m.classOf, w.class)
	}
	m.nw = len(m.nodes)
	for a, at := range e.space.atoms {
		if a == 0 && e.space.rootEmpty {
			continue
		}
		o := at.outside()
		m.nodeOfAtom[a] = len(m.nodes)
		m.nodes = append(m.nodes, Node{Outside: &o})
		m.atomOf = append(m.atomOf, a)
		b.atoms = append(b.atoms, a)
	}
	m.natoms = len(b.atoms)

	// Which classes are in scope.
	m.inScope = make([]bool, nc)
	m.rowPos, m.colPos, m.outPos = make([]int32, nc), make([]int32, nc), make([]int32, nc)
	var in, out []int
	for c, cl := range e.classes {
		m.inScope[c] = scope.Namespace == "" || e.namespaces[cl.ns].name == scope.Namespace
		m.rowPos[c], m.colPos[c], m.outPos[c] = -1, -1, -1
		if m.inScope[c] {
			m.rowPos[c], m.colPos[c] = int32(len(in)), int32(len(in))
			in = append(in, c)
		} else {
			m.outPos[c] = int32(len(out))
			out = append(out, c)
		}
	}
	m.rowLen = nc + m.natoms // row length of rows
	m.colLen = len(in)       // row length of cols
	m.nout = len(out)
	m.rows = make([]uint32, len(in)*m.rowLen)
	m.cols = make([]uint32, (len(out)+m.natoms)*m.colLen)

	// Ingress groups of every class in scope as a destination, and of
	// every class when rows need them (a row covers every destination).
	ing := make([][]group, nc)
	ingCache := make([]groupCache, nc)
	for d := range e.classes {
		if d%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		ing[d] = b.ingressGroups(d)
		ingCache[d].reset(len(ing[d]), false)
	}

	ingOf := func(d int, isSrc func(g *group) bool) uint32 {
		cl := e.classes[d]
		if len(cl.selectedBy[dirIngress]) == 0 {
			return setAll
		}
		gs := ing[d]
		if len(gs) > 64 {
			acc := setEmpty
			for i := range gs {
				if isSrc(&gs[i]) {
					acc = b.t.or(acc, gs[i].set)
				}
			}
			return acc
		}
		var mask uint64
		for i := range gs {
			if isSrc(&gs[i]) {
				mask |= 1 << i
			}
		}
		if v := ingCache[d].get(mask, 0); v != noSet {
			return v
		}
		acc := setEmpty
		for i := range gs {
			if mask&(1<<i) != 0 {
				acc = b.t.or(acc, gs[i].set)
			}
		}
		ingCache[d].put(mask, 0, acc)
		return acc
	}

	var egCache groupCache
	egOf := func(s int, gs []group, named bool, dst int, isDst func(g *group) bool) uint32 {
		if len(e.classes[s].selectedBy[dirEgress]) == 0 {
			return setAll
		}
		sig := -1
		if dst >= 0 {
			sig = e.classes[dst].portSig
		}
		var mask uint64
		if len(gs) <= 64 {
			for i := range gs {
				if isDst(&gs[i]) {
					mask |= 1 << i
				}
			}
			if v := egCache.get(mask, sig); v != noSet {
				return v
			}
		}
		acc := setEmpty
		for i := range gs {
			if len(gs) <= 64 && mask&(1<<i) == 0 || len(gs) > 64 && !isDst(&gs[i]) {
				continue
			}
			acc = b.t.or(acc, b.resolve(gs[i].spec, dst))
		}
		if len(gs) <= 64 {
			egCache.put(mask, sig, acc)
		}
		return acc
	}

	// Rows: classes in scope to every class and outside region.
	for r, s := range in {
		if r%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		gs, named := b.egressGroups(s)
		egCache.reset(len(gs), named || len(gs) > 10)
		row := m.rows[r*m.rowLen : (r+1)*m.rowLen]
		for d := range e.classes {
			ig := ingOf(d, func(g *group) bool { return g.classes.has(s) })
			if ig == setEmpty {
				row[d] = setEmpty
				continue
			}
			eg := egOf(s, gs, named, d, func(g *group) bool { return g.classes.has(d) })
			row[d] = b.t.and(eg, ig)
		}
		for i, a := range b.atoms {
			row[nc+i] = egOf(s, gs, named, -1, func(g *group) bool { return g.atoms.has(a) })
		}
	}
	// Columns: classes out of scope, then outside regions, to classes in
	// scope.
	for r, s := range out {
		if r%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		gs, named := b.egressGroups(s)
		egCache.reset(len(gs), named || len(gs) > 10)
		row := m.cols[r*m.colLen : (r+1)*m.colLen]
		for c, d := range in {
			ig := ingOf(d, func(g *group) bool { return g.classes.has(s) })
			if ig == setEmpty {
				row[c] = setEmpty
				continue
			}
			eg := egOf(s, gs, named, d, func(g *group) bool { return g.classes.has(d) })
			row[c] = b.t.and(eg, ig)
		}
	}
	for i, a := range b.atoms {
		row := m.cols[(len(out)+i)*m.colLen : (len(out)+i+1)*m.colLen]
		for c, d := range in {
			row[c] = ingOf(d, func(g *group) bool { return g.atoms.has(a) })
		}
	}
	m.sets = b.t.sets
	return m, nil
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
				gs = append(gs, group{spec: spec, classes: newBitset(len(e.classes)), atoms: newBitset(len(e.space.atoms))})
			}
			gs[i].classes.or(ps.classes)
			gs[i].atoms.or(ps.atoms)
		}
	}
	return gs, named
}
