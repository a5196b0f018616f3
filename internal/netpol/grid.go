package netpol

import (
	"context"
	"math/bits"
	"slices"
)

// Grid is the matrix of a scope without its cells in memory: Rows computes
// them block by block of sources and hands them out row by row, and
// Allowed computes one cell. Its memory grows with the classes of
// workloads times the rule groups of their policies, and one block of
// rows (about gridBlockBytes), not with the pairs of classes, so it answers
// clusters whose Matrix would not fit. Nodes, Scope and NodeOf are those
// of the Matrix of the same scope, and its cells are the Matrix's.
//
// A Grid keeps the port sets it has met, so it is used by one goroutine at
// a time; the Engine it comes from may serve other Grids concurrently.
type Grid struct {
	layout
	e    *Engine
	b    *matrixBuilder
	nc   int // classes
	ndst int // classes, then outside nodes: the columns of a block
	bw   int // words of a row's bitset of non-empty cells
	rows int // rows of a block (a multiple of 64)
	// inScope is, per class, whether its workloads are in the scope;
	// scoped is the bitset of those classes (nil for the whole cluster)
	// and scopedList their list.
	inScope    []bool
	scoped     []uint64
	scopedList []int
	// ingress and egress are, per class, the rule groups of the policies
	// selecting it (computed on first use); egressNamed says whether an
	// egress group names a port.
	ingress     [][]ruleGroup
	egress      [][]ruleGroup
	egressNamed []bool
	done        [2][]bool
	lastMember  []int // per class: its last workload node
	identity    bool  // workload node i is of class i, for every i
	cache       maskCache
	gw          [64]uint64
}

// ruleGroup is what one side allows to the union of its rules' peers. The
// peers are kept as the rules' own sets, not merged into one: merged sets
// per class would take a bit per pair of classes.
type ruleGroup struct {
	set   uint32 // ingress: the ports, resolved for the destination
	spec  int    // egress: the ports spec, resolved per destination
	peers []peerSets
}

// gridBlockBytes bounds the cells of one block of rows.
const gridBlockBytes = 8 << 20

// Grid returns the matrix of scope, to be computed by Rows (every path) or
// Allowed (one cell). It computes nothing yet.
func (e *Engine) Grid(scope Scope) (*Grid, error) {
	l, err := e.layout(scope)
	if err != nil {
		return nil, err
	}
	nc := len(e.classes)
	g := &Grid{
		layout: l, e: e, nc: nc, ndst: nc + len(l.atomOf),
		b:       &matrixBuilder{e: e, t: newSetTable(), specOf: map[*rule]int{}, specIDs: map[string]int{}, res: map[[2]int]uint32{}, atoms: l.atomOf},
		inScope: make([]bool, nc), ingress: make([][]ruleGroup, nc), egress: make([][]ruleGroup, nc), egressNamed: make([]bool, nc),
		done: [2][]bool{make([]bool, nc), make([]bool, nc)}, lastMember: make([]int, nc),
	}
	g.bw = (g.ndst + 63) / 64
	g.rows = max(64, gridBlockBytes/(4*max(g.ndst, 1))/64*64)
	if scope.Namespace != "" {
		g.scoped = make([]uint64, g.bw)
	}
	for c, cl := range e.classes {
		g.lastMember[c] = cl.members[len(cl.members)-1]
		if scope.Namespace == "" || e.namespaces[cl.ns].name == scope.Namespace {
			g.inScope[c] = true
			if g.scoped != nil {
				g.scoped[c/64] |= 1 << (c % 64)
				g.scopedList = append(g.scopedList, c)
			}
		}
	}
	g.identity = nc == l.nw
	for i, c := range l.classOf {
		if c != i {
			g.identity = false
			break
		}
	}
	return g, nil
}

// index returns the class of a workload node, or nc+i for outside node i.
func (g *Grid) index(node int) int {
	if node < g.nw {
		return g.classOf[node]
	}
	return g.nc + node - g.nw
}

// Allowed returns the ports From may use to reach To, and false when the
// pair is outside the grid's scope (or both are outside regions), as
// Matrix.Allowed does. It computes the cell from the rules of both ends.
func (g *Grid) Allowed(from, to int) (PortSet, bool) {
	if from < 0 || to < 0 || from >= len(g.nodes) || to >= len(g.nodes) {
		return PortSet{}, false
	}
	s, d := g.index(from), g.index(to)
	if s >= g.nc && d >= g.nc || !(s < g.nc && g.inScope[s]) && !(d < g.nc && g.inScope[d]) {
		return PortSet{}, false
	}
	if g.ownPair(from, to) {
		return AllPorts(), true
	}
	return g.b.t.sets[g.cell(s, d)], true
}

// cell computes the cell of source s and destination d (classes, or nc+i
// for outside node i).
func (g *Grid) cell(s, d int) uint32 {
	t := g.b.t
	v := setAll
	if d < g.nc && g.isolated(d, dirIngress) {
		v = setEmpty
		for _, gr := range g.ingressOf(d) {
			if g.member(gr.peers, s) {
				v = t.or(v, gr.set)
			}
		}
		if v == setEmpty {
			return v
		}
	}
	if s < g.nc && g.isolated(s, dirEgress) {
		w := setEmpty
		gs, _ := g.egressOf(s)
		for _, gr := range gs {
			if g.member(gr.peers, d) {
				w = t.or(w, g.b.resolve(gr.spec, g.dst(d)))
			}
		}
		v = t.and(v, w)
	}
	return v
}

func (g *Grid) isolated(c, dir int) bool { return len(g.e.classes[c].selectedBy[dir]) > 0 }

// dst is the class a destination's named ports resolve on, -1 for an
// outside node (resolve treats host-network classes as outside).
func (g *Grid) dst(d int) int {
	if d < g.nc {
		return d
	}
	return -1
}

// member reports whether some peer set holds p (a class, or nc+i for
// outside node i).
func (g *Grid) member(peers []peerSets, p int) bool {
	for _, ps := range peers {
		if p < g.nc {
			if ps.classes.has(p) {
				return true
			}
		} else if ps.atoms.has(g.atomOf[p-g.nc]) {
			return true
		}
	}
	return false
}

// ingressOf returns the ingress rules of the policies selecting class d,
// grouped by the ports they allow to d (as Matrix's ingress groups).
func (g *Grid) ingressOf(d int) []ruleGroup {
	if g.done[dirIngress][d] {
		return g.ingress[d]
	}
	e, b := g.e, g.b
	var gs []ruleGroup
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
			i := 0
			for i < len(gs) && gs[i].set != set {
				i++
			}
			if i == len(gs) {
				gs = append(gs, ruleGroup{set: set})
			}
			gs[i].peers = append(gs[i].peers, e.rulePeers[r])
		}
	}
	g.ingress[d], g.done[dirIngress][d] = gs, true
	return gs
}

// egressOf returns the egress rules of the policies selecting class s,
// grouped by their ports spec, and whether any names a port.
func (g *Grid) egressOf(s int) ([]ruleGroup, bool) {
	if g.done[dirEgress][s] {
		return g.egress[s], g.egressNamed[s]
	}
	e, b := g.e, g.b
	var gs []ruleGroup
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
			i := 0
			for i < len(gs) && gs[i].spec != spec {
				i++
			}
			if i == len(gs) {
				gs = append(gs, ruleGroup{spec: spec})
			}
			gs[i].peers = append(gs[i].peers, e.rulePeers[r])
		}
	}
	g.egress[s], g.egressNamed[s], g.done[dirEgress][s] = gs, named, true
	return gs, named
}

// Rows calls fn with the allowed paths of the scope (those with at least
// one port) from each node that has some, by From then To, the order of
// Matrix.Paths: workloads first, then outside regions. The paths slice
// is reused after fn returns. Rows stops at fn's first error and returns
// it, and checks ctx between blocks.
//
// It computes the cells of a block of source classes at a time (the
// ingress of every destination for the block's sources, then the egress
// of each source over the cells left non-empty), hands out the rows of
// the block's workloads, and forgets the block. A class whose workloads
// are not contiguous in node order keeps its row, as paths, until its last
// workload is handed out.
func (g *Grid) Rows(ctx context.Context, fn func(from int, paths []Path) error) error {
	if g.nc == 0 && len(g.atomOf) == 0 {
		return nil
	}
	cells := make([]uint32, g.rows*g.ndst)
	nz := make([]uint64, g.rows*g.bw)
	row := func(i int) ([]uint32, []uint64) {
		return cells[i*g.ndst : (i+1)*g.ndst], nz[i*g.bw : (i+1)*g.bw]
	}
	var out, own []Path
	kept := map[int][]Path{}
	pos := 0 // the next workload node
	for lo := 0; lo < g.nc; lo += g.rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+g.rows, g.nc)
		g.classBlock(lo, hi, cells, nz)
		for ; pos < g.nw; pos++ {
			c := g.classOf[pos]
			if c >= hi {
				break // classes are numbered in order of their first workload
			}
			if c >= lo {
				rc, rn := row(c - lo)
				out = g.expand(out[:0], pos, rc, rn)
			} else {
				out = append(out[:0], kept[c]...)
				for i := range out {
					out[i].From = pos
				}
				if g.lastMember[c] == pos {
					delete(kept, c)
				}
			}
			paths := out
			if len(g.own[pos]) > 0 {
				own = g.withOwn(own[:0], out, pos)
				paths = own
			}
			if len(paths) > 0 {
				if err := fn(pos, paths); err != nil {
					return err
				}
			}
		}
		for c := lo; c < hi; c++ {
			if g.lastMember[c] >= pos {
				rc, rn := row(c - lo)
				kept[c] = g.expand(nil, -1, rc, rn)
			}
		}
	}
	for lo := g.nc; lo < g.ndst; lo += g.rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+g.rows, g.ndst)
		g.outsideBlock(lo, hi, cells, nz)
		for s := lo; s < hi; s++ {
			rc, rn := row(s - lo)
			from := g.nw + s - g.nc
			if out = g.expand(out[:0], from, rc, rn); len(out) > 0 {
				if err := fn(from, out); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// expand appends the paths of a row of cells (by class, then outside
// node) from node from, by destination node.
func (g *Grid) expand(out []Path, from int, cells []uint32, nz []uint64) []Path {
	sets := g.b.t.sets
	start := len(out)
	sorted := true
	for wi, w := range nz {
		for w != 0 {
			d := wi*64 + bits.TrailingZeros64(w)
			w &= w - 1
			ports := sets[cells[d]]
			switch {
			case d >= g.nc:
				out = append(out, Path{From: from, To: g.nw + d - g.nc, Ports: ports})
			case g.identity:
				out = append(out, Path{From: from, To: d, Ports: ports})
			default:
				ms := g.e.classes[d].members
				if len(ms) > 1 || len(out) > start && out[len(out)-1].To > ms[0] {
					sorted = false
				}
				for _, t := range ms {
					out = append(out, Path{From: from, To: t, Ports: ports})
				}
			}
		}
	}
	if !sorted {
		// Outside nodes come after every workload: sorting keeps them last.
		slices.SortFunc(out[start:], func(x, y Path) int { return x.To - y.To })
	}
	return out
}

// setCell writes cell d of row i of a block and marks it non-empty.
func (g *Grid) setCell(cells []uint32, nz []uint64, i, d int, v uint32) {
	cells[i*g.ndst+d] = v
	nz[i*g.bw+d/64] |= 1 << (d % 64)
}

// dests returns the destination classes of a block: every class when
// some source of the block is in scope, else those in scope.
func (g *Grid) dests(anyIn bool) (all bool, list []int) {
	if g.scoped == nil || anyIn {
		return true, nil
	}
	return false, g.scopedList
}

// classBlock computes the cells of source classes [lo, hi) (lo a multiple
// of 64) into rows 0..hi-lo-1 of cells and nz.
func (g *Grid) classBlock(lo, hi int, cells []uint32, nz []uint64) {
	n := hi - lo
	clear(nz[:n*g.bw])
	anyIn := false
	for c := lo; c < hi; c++ {
		anyIn = anyIn || g.inScope[c]
	}
	all, list := g.dests(anyIn)
	column := func(d int) {
		if !g.isolated(d, dirIngress) {
			for i := range n {
				g.setCell(cells, nz, i, d, setAll)
			}
			return
		}
		g.ingressColumn(lo, hi, d, cells, nz)
	}
	if all {
		for d := range g.nc {
			column(d)
		}
	} else {
		for _, d := range list {
			column(d)
		}
	}
	for c := lo; c < hi; c++ {
		i := c - lo
		if g.inScope[c] {
			// Outside destinations have no ingress policies.
			for d := g.nc; d < g.ndst; d++ {
				g.setCell(cells, nz, i, d, setAll)
			}
		} else if g.scoped != nil {
			// Out of scope: only the paths to classes in scope.
			rn := nz[i*g.bw : (i+1)*g.bw]
			for w := range rn {
				rn[w] &= g.scoped[w]
			}
		}
		if g.isolated(c, dirEgress) {
			g.egressRow(c, cells[i*g.ndst:(i+1)*g.ndst], nz[i*g.bw:(i+1)*g.bw])
		}
	}
}

// ingressColumn fills column d (a class some policy isolates for ingress)
// for source classes [lo, hi): each source gets the union of the ports of
// the groups whose peers hold it, looked up by the mask of those groups.
func (g *Grid) ingressColumn(lo, hi, d int, cells []uint32, nz []uint64) {
	gs := g.ingressOf(d)
	t := g.b.t
	switch {
	case len(gs) == 0:
		return
	case len(gs) > 64:
		for s := lo; s < hi; s++ {
			v := setEmpty
			for _, gr := range gs {
				if g.member(gr.peers, s) {
					v = t.or(v, gr.set)
				}
			}
			if v != setEmpty {
				g.setCell(cells, nz, s-lo, d, v)
			}
		}
		return
	}
	g.cache.reset(len(gs), false)
	for wi := lo / 64; wi < (hi+63)/64; wi++ {
		var any uint64
		for i := range gs {
			var w uint64
			for _, ps := range gs[i].peers {
				w |= ps.classes[wi]
			}
			g.gw[i] = w
			any |= w
		}
		for any != 0 {
			b := bits.TrailingZeros64(any)
			any &= any - 1
			var mask uint64
			for i := range gs {
				mask |= (g.gw[i] >> b & 1) << i
			}
			v := g.cache.get(mask, 0)
			if v == noSet {
				v = setEmpty
				for i := range gs {
					if mask&(1<<i) != 0 {
						v = t.or(v, gs[i].set)
					}
				}
				g.cache.put(mask, 0, v)
			}
			g.setCell(cells, nz, wi*64+b-lo, d, v)
		}
	}
}

// egressRow narrows the non-empty cells of source class s, which some
// policy isolates for egress, to the union of the ports of its groups
// whose peers hold the destination.
func (g *Grid) egressRow(s int, cells []uint32, nz []uint64) {
	gs, named := g.egressOf(s)
	t := g.b.t
	if len(gs) == 0 {
		clear(nz)
		return
	}
	narrow := func(d int, mask uint64) {
		if mask == 0 {
			nz[d/64] &^= 1 << (d % 64)
			return
		}
		dst, sig := -1, -1 // outside and host-network destinations resolve alike
		if d < g.nc && !g.e.classes[d].hostNet {
			dst, sig = d, g.e.classes[d].portSig
		}
		v := g.cache.get(mask, sig)
		if v == noSet {
			v = setEmpty
			for i := range gs {
				if mask&(1<<i) != 0 {
					v = t.or(v, g.b.resolve(gs[i].spec, dst))
				}
			}
			g.cache.put(mask, sig, v)
		}
		if c := t.and(cells[d], v); c != setEmpty {
			cells[d] = c
		} else {
			nz[d/64] &^= 1 << (d % 64)
		}
	}
	if len(gs) > 64 {
		for wi, w := range nz {
			for w != 0 {
				d := wi*64 + bits.TrailingZeros64(w)
				w &= w - 1
				v := setEmpty
				for _, gr := range gs {
					if g.member(gr.peers, d) {
						v = t.or(v, g.b.resolve(gr.spec, g.dst(d)))
					}
				}
				if c := t.and(cells[d], v); c != setEmpty {
					cells[d] = c
				} else {
					nz[wi] &^= 1 << (d % 64)
				}
			}
		}
		return
	}
	g.cache.reset(len(gs), named)
	classWords := (g.nc + 63) / 64
	for wi, w := range nz {
		if w == 0 {
			continue
		}
		var union uint64
		if wi < classWords {
			for i := range gs {
				var x uint64
				for _, ps := range gs[i].peers {
					x |= ps.classes[wi]
				}
				g.gw[i] = x
				union |= x
			}
			// Class destinations no group holds are closed at once.
			classBits := ^uint64(0)
			if rest := g.nc - wi*64; rest < 64 {
				classBits = 1<<rest - 1
			}
			w &^= classBits &^ union
			nz[wi] = w
		}
		for w != 0 {
			b := bits.TrailingZeros64(w)
			w &= w - 1
			d := wi*64 + b
			var mask uint64
			if d < g.nc {
				for i := range gs {
					mask |= (g.gw[i] >> b & 1) << i
				}
			} else {
				a := g.atomOf[d-g.nc]
				for i := range gs {
					for _, ps := range gs[i].peers {
						if ps.atoms.has(a) {
							mask |= 1 << i
							break
						}
					}
				}
			}
			narrow(d, mask)
		}
	}
}

// outsideBlock computes the cells of outside sources [lo, hi) (nc+i for
// outside node i) into rows 0..hi-lo-1: they reach the classes in scope,
// as their ingress allows (an outside address has no egress policies).
func (g *Grid) outsideBlock(lo, hi int, cells []uint32, nz []uint64) {
	n := hi - lo
	clear(nz[:n*g.bw])
	t := g.b.t
	column := func(d int) {
		if !g.isolated(d, dirIngress) {
			for i := range n {
				g.setCell(cells, nz, i, d, setAll)
			}
			return
		}
		gs := g.ingressOf(d)
		for s := lo; s < hi; s++ {
			v := setEmpty
			for _, gr := range gs {
				if g.member(gr.peers, s) {
					v = t.or(v, gr.set)
				}
			}
			if v != setEmpty {
				g.setCell(cells, nz, s-lo, d, v)
			}
		}
	}
	if all, list := g.dests(false); !all {
		for _, d := range list {
			column(d)
		}
		return
	}
	for d := range g.nc {
		column(d)
	}
}

// maskCache memoizes the union of the groups a peer is in, by the mask of
// those groups (and, for egress with named ports, the destination's port
// signature), for one destination's or source's groups: a slice for few
// groups, stamped with a generation so that a reset costs nothing, else
// a map.
type maskCache struct {
	gen    uint32
	small  []genEntry
	big    map[[2]uint64]uint32
	useBig bool
}

type genEntry struct{ gen, val uint32 }

func (c *maskCache) reset(k int, bySig bool) {
	c.useBig = k > 10 || bySig
	if !c.useBig {
		if n := 1 << k; len(c.small) < n {
			c.small = make([]genEntry, max(n, 16))
			c.gen = 0
		}
		if c.gen++; c.gen == 0 {
			clear(c.small)
			c.gen = 1
		}
		return
	}
	if c.big == nil || len(c.big) > 4096 {
		c.big = map[[2]uint64]uint32{}
	} else {
		clear(c.big)
	}
}

func (c *maskCache) get(mask uint64, sig int) uint32 {
	if !c.useBig {
		if e := c.small[mask]; e.gen == c.gen {
			return e.val
		}
		return noSet
	}
	if v, ok := c.big[[2]uint64{mask, uint64(sig)}]; ok {
		return v
	}
	return noSet
}

func (c *maskCache) put(mask uint64, sig int, v uint32) {
	if !c.useBig {
		c.small[mask] = genEntry{c.gen, v}
		return
	}
	c.big[[2]uint64{mask, uint64(sig)}] = v
}
