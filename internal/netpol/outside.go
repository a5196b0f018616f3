package netpol

import (
	"math/big"
	"net/netip"
	"slices"
	"strings"
)

// ipBlock is a parsed ipBlock peer: addresses in cidr and in no except.
type ipBlock struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

func (b *ipBlock) contains(a netip.Addr) bool {
	if !b.cidr.Contains(a) {
		return false
	}
	for _, e := range b.except {
		if e.Contains(a) {
			return false
		}
	}
	return true
}

// covers reports whether every address of inner is in outer. Both are
// masked.
func covers(outer, inner netip.Prefix) bool {
	return outer.Addr().Is4() == inner.Addr().Is4() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// containsRegion reports whether the block holds the region of a prefix P
// of the outside space (P minus the space's prefixes inside it). Because
// the block's cidr and excepts are themselves prefixes of the space, each
// either covers P or misses the region entirely.
func (b *ipBlock) containsRegion(p netip.Prefix) bool {
	if !covers(b.cidr, p) {
		return false
	}
	for _, e := range b.except {
		if covers(e, p) {
			return false
		}
	}
	return true
}

// Outside is a region of addresses outside the cluster's workloads, as
// the policies' ipBlocks cut the address space: the addresses of CIDR
// that are in none of Except. The region with an empty CIDR is "anywhere
// else": every address in none of the ipBlocks' prefixes.
type Outside struct {
	CIDR   string   `json:"cidr,omitempty"`
	Except []string `json:"except,omitempty"`
}

// AnywhereElse names the region outside every ipBlock.
const AnywhereElse = "anywhere else"

func (o Outside) String() string {
	s := o.CIDR
	if s == "" {
		s = AnywhereElse
	}
	if len(o.Except) > 0 && o.CIDR != "" {
		s += " except " + strings.Join(o.Except, ", ")
	}
	return s
}

// region is one piece of the outside space: the addresses of prefix (or,
// for the root, of every address) minus holes. Every address of a region
// is in exactly the same ipBlocks.
type region struct {
	prefix netip.Prefix // invalid for the root
	holes  []netip.Prefix
}

func (r region) outside() Outside {
	o := Outside{}
	if r.prefix.IsValid() {
		o.CIDR = r.prefix.String()
	}
	for _, h := range r.holes {
		o.Except = append(o.Except, h.String())
	}
	return o
}

// space cuts the address space by every prefix the policies' ipBlocks
// name (cidr and except): its regions (atoms) are the classes of
// addresses that no ipBlock tells apart. Atom 0 is the root ("anywhere
// else"); rootEmpty is set when the prefixes cover both address families
// entirely.
type space struct {
	prefixes  []netip.Prefix // distinct, sorted
	atoms     []region
	rootEmpty bool
	// atomOf maps a prefix to its atom; prefixes whose region is empty
	// (wholly covered by deeper prefixes) have none.
	atomOf map[netip.Prefix]int
}

func newSpace(prefixes []netip.Prefix) *space {
	ps := slices.Clone(prefixes)
	slices.SortFunc(ps, comparePrefix)
	ps = slices.Compact(ps)
	sp := &space{prefixes: ps, atomOf: map[netip.Prefix]int{}}
	// Sorted by address then length, a prefix follows the prefixes that
	// cover it: a stack of the open prefixes gives each its parent.
	kids := make([][]netip.Prefix, len(ps))
	var top []netip.Prefix
	var stack []int
	for i, p := range ps {
		for len(stack) > 0 && !covers(ps[stack[len(stack)-1]], p) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			top = append(top, p)
		} else {
			parent := stack[len(stack)-1]
			kids[parent] = append(kids[parent], p)
		}
		stack = append(stack, i)
	}
	sp.rootEmpty = rootEmpty(top)
	sp.atoms = append(sp.atoms, region{holes: top})
	for i, p := range ps {
		if regionEmpty(p, kids[i]) {
			continue
		}
		sp.atomOf[p] = len(sp.atoms)
		sp.atoms = append(sp.atoms, region{prefix: p, holes: kids[i]})
	}
	return sp
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func size(p netip.Prefix) *big.Int {
	return new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
}

func regionEmpty(p netip.Prefix, kids []netip.Prefix) bool {
	sum := new(big.Int)
	for _, k := range kids {
		sum.Add(sum, size(k))
	}
	return sum.Cmp(size(p)) >= 0
}

func rootEmpty(top []netip.Prefix) bool {
	v4 := regionEmpty(netip.MustParsePrefix("0.0.0.0/0"), filterFamily(top, true))
	v6 := regionEmpty(netip.MustParsePrefix("::/0"), filterFamily(top, false))
	return v4 && v6
}

func filterFamily(ps []netip.Prefix, v4 bool) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is4() == v4 {
			out = append(out, p)
		}
	}
	return out
}

// deepest returns the deepest prefix of the space that covers q, or the
// invalid prefix when none does.
func (sp *space) deepest(q netip.Prefix) netip.Prefix {
	var best netip.Prefix
	for _, p := range sp.prefixes {
		if covers(p, q) && (!best.IsValid() || p.Bits() > best.Bits()) {
			best = p
		}
	}
	return best
}

// atom returns the atom holding address a.
func (sp *space) atom(a netip.Addr) int {
	d := sp.deepest(netip.PrefixFrom(a, a.BitLen()))
	if !d.IsValid() {
		return 0
	}
	return sp.atomOf[d]
}

// piece is the part of a queried CIDR in one atom.
type piece struct {
	region region
	atom   int
}

// pieces cuts q (masked) into the parts that lie in different atoms.
func (sp *space) pieces(q netip.Prefix) []piece {
	var out []piece
	var inner []netip.Prefix
	for _, p := range sp.prefixes {
		if p != q && covers(q, p) {
			inner = append(inner, p)
		}
	}
	// The part of q in no prefix inside q: the atom of the deepest prefix
	// covering q.
	var top []netip.Prefix
	for _, p := range inner {
		direct := true
		for _, r := range inner {
			if r != p && covers(r, p) {
				direct = false
				break
			}
		}
		if direct {
			top = append(top, p)
		}
	}
	if !regionEmpty(q, top) {
		a := 0
		if d := sp.deepest(q); d.IsValid() {
			a = sp.atomOf[d]
		}
		out = append(out, piece{region: region{prefix: q, holes: top}, atom: a})
	}
	for _, p := range inner {
		if a, ok := sp.atomOf[p]; ok {
			out = append(out, piece{region: sp.atoms[a], atom: a})
		}
	}
	return out
}
