package netpolgen

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

// Mode says how a proposed set of policies meets the cluster's own.
type Mode string

// Modes of a simulation.
const (
	// ModeAdd applies the proposal next to the cluster's policies, as
	// `kubectl apply` would: a proposed policy replaces the cluster's
	// policy of the same namespace and name, the others stay.
	ModeAdd Mode = "add"
	// ModeReplace takes the proposal as the cluster's complete set: every
	// policy of the cluster not in it is gone.
	ModeReplace Mode = "replace"
)

// SimOptions configure Simulate.
type SimOptions struct {
	// Cluster is the cluster of the index; empty takes its only cluster.
	Cluster string
	// Mode is ModeAdd when empty.
	Mode Mode
	// Namespace, when set, limits the path counts to the paths from or to
	// its workloads; flows are checked in the whole cluster.
	Namespace string
}

// Report is what a proposed set of policies would change: the used flows
// it would break, and the allowed paths it closes or opens.
type Report struct {
	Cluster string `json:"cluster"`
	Mode    Mode   `json:"mode"`
	// Proposed counts the proposed policies; Replaced lists the cluster's
	// policies they take the place of.
	Proposed int                `json:"proposed"`
	Replaced []netpol.PolicyRef `json:"replaced,omitempty"`
	Flows    FlowCounts         `json:"flows"`
	// Broken are the used flows the cluster's policies allow and the
	// proposal denies, each with the proposal's verdict.
	Broken []FlowResult `json:"broken"`
	// Denied are the used flows denied now and under the proposal (a
	// misconfiguration, a CNI that does not enforce, or an attack).
	Denied []FlowResult `json:"denied,omitempty"`
	// Skipped counts the records that cannot be checked, by reason.
	Skipped []Skip `json:"skipped,omitempty"`
	// Truncated is set when the flows were truncated: a flow missing from
	// them may have been used, and may be broken.
	Truncated bool        `json:"truncated,omitempty"`
	Paths     PathChanges `json:"paths"`
	// Problems are those the engine found in the proposed policies.
	Problems []netpol.Problem `json:"problems,omitempty"`
}

// FlowCounts summarises the used flows (records) checked.
type FlowCounts struct {
	Checked int `json:"checked"`
	// Allowed under the proposal.
	Allowed int `json:"allowed"`
	// Broken: allowed now, denied under the proposal.
	Broken int `json:"broken"`
	// Denied: denied now and under the proposal.
	Denied int `json:"denied"`
	// Fixed: denied now, allowed under the proposal.
	Fixed int `json:"fixed"`
}

// FlowResult is a used flow and the proposal's verdict on it.
type FlowResult struct {
	Record  flows.Record   `json:"record"`
	Verdict netpol.Verdict `json:"verdict"`
}

// PathChanges compares the allowed-path matrices of the cluster's
// policies and of the proposal.
type PathChanges struct {
	// Namespace is the scope of the counts; empty is the whole cluster.
	Namespace string `json:"namespace,omitempty"`
	// Workloads counts paths between two workloads.
	Workloads PathCounts `json:"workloads"`
	// Outside counts paths between a workload and a region of outside
	// addresses, both directions; the regions are those the ipBlocks of
	// both sets cut the address space into ("anywhere else" is one).
	Outside PathCounts `json:"outside"`
}

// PathCounts counts paths (ordered pairs with at least one port allowed).
type PathCounts struct {
	Before int `json:"before"`
	After  int `json:"after"`
	// Closed: allowed now, no port allowed under the proposal.
	Closed int `json:"closed"`
	// Narrowed: allowed both ways, some ports no longer allowed.
	Narrowed int `json:"narrowed"`
	// Opened: nothing allowed now, some port allowed under the proposal.
	Opened int `json:"opened"`
	// Widened: allowed both ways, some ports allowed only under the
	// proposal.
	Widened int `json:"widened"`
}

func (p *PathCounts) add(before, after netpol.PortSet) {
	b, a := !before.Empty(), !after.Empty()
	if b {
		p.Before++
	}
	if a {
		p.After++
	}
	switch {
	case b && !a:
		p.Closed++
	case !b && a:
		p.Opened++
	case b && a && !before.Equal(after):
		common := before.Intersect(after)
		if !common.Equal(before) {
			p.Narrowed++
		}
		if !common.Equal(after) {
			p.Widened++
		}
	}
}

// Simulate checks a proposed set of policies against the flows in used:
// which flows the cluster's policies allow and the proposal would deny
// (Broken), and how the allowed paths change. The proposal is added to
// the cluster's policies or replaces them (opts.Mode). The policies
// Generate suggests, simulated against the flows they came from, break
// none in either mode.
func Simulate(ctx context.Context, ix *inventory.Index, proposed []*model.NetworkPolicy, used *flows.Set, opts SimOptions) (*Report, error) {
	name, err := netpol.ResolveCluster(ix, opts.Cluster)
	if err != nil {
		return nil, err
	}
	mode := opts.Mode
	switch mode {
	case "":
		mode = ModeAdd
	case ModeAdd, ModeReplace:
	default:
		return nil, fmt.Errorf("simulation mode %q: want %s or %s", mode, ModeAdd, ModeReplace)
	}
	rep := &Report{Cluster: name, Mode: mode, Proposed: len(proposed), Broken: []FlowResult{}, Paths: PathChanges{Namespace: opts.Namespace}}

	// The proposal in the cluster, and what it replaces.
	after := make([]*model.NetworkPolicy, 0, len(proposed))
	names := map[netpol.PolicyRef]bool{}
	for _, p := range proposed {
		cp := *p
		cp.Cluster = name
		after = append(after, &cp)
		names[netpol.PolicyRef{Namespace: p.Namespace, Name: p.Name}] = true
	}
	for _, p := range ix.Snapshot().NetworkPolicies {
		if p.Cluster != name {
			continue
		}
		ref := netpol.PolicyRef{Namespace: p.Namespace, Name: p.Name}
		switch {
		case mode == ModeReplace || names[ref]:
			rep.Replaced = append(rep.Replaced, ref)
		default:
			after = append(after, p)
		}
	}
	slices.SortFunc(rep.Replaced, func(a, b netpol.PolicyRef) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	rep.Replaced = slices.Compact(rep.Replaced)

	// The engines and matrices of now and of the proposal, side by side.
	var (
		ea         *netpol.Engine
		mb, ma     *netpol.Matrix
		errb, erra error
		wg         sync.WaitGroup
	)
	wg.Go(func() { _, mb, errb = matrix(ctx, ix, netpol.Options{Cluster: name}) })
	wg.Go(func() { ea, ma, erra = matrix(ctx, ix, netpol.Options{Cluster: name, Policies: after}) })
	wg.Wait()
	if err := cmp.Or(errb, erra); err != nil {
		return nil, err
	}
	for _, pr := range ea.Problems() {
		if names[pr.Policy] {
			rep.Problems = append(rep.Problems, pr)
		}
	}

	// Flows.
	c := newCluster(ix, name)
	var sk skips
	for i, f := range c.usable(used, &sk) {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		from, to := c.endpoint(f.from), c.endpoint(f.to)
		before := allows(mb, from, to, f.protocol, f.port)
		now := allows(ma, from, to, f.protocol, f.port)
		rep.Flows.Checked++
		switch {
		case now:
			rep.Flows.Allowed++
			if !before {
				rep.Flows.Fixed++
			}
			continue
		case before:
			rep.Flows.Broken++
		default:
			rep.Flows.Denied++
		}
		v, err := ea.Query(netpol.Connection{From: from, To: to, Port: f.port, Protocol: f.protocol})
		if err != nil {
			return nil, fmt.Errorf("explaining %s: %w", describe(f.rec), err)
		}
		fr := FlowResult{Record: f.rec, Verdict: v}
		if before {
			rep.Broken = append(rep.Broken, fr)
		} else {
			rep.Denied = append(rep.Denied, fr)
		}
	}
	rep.Skipped = sk.list
	rep.Truncated = used != nil && used.Truncated

	if err := comparePaths(ctx, mb, ma, opts.Namespace, &rep.Paths); err != nil {
		return nil, err
	}
	return rep, nil
}

// matrix builds an engine and its whole-cluster matrix.
func matrix(ctx context.Context, ix *inventory.Index, opts netpol.Options) (*netpol.Engine, *netpol.Matrix, error) {
	e, err := netpol.New(ctx, ix, opts)
	if err != nil {
		return nil, nil, err
	}
	m, err := e.Matrix(ctx, netpol.Scope{})
	return e, m, err
}

// allows reports whether the matrix allows port/protocol from → to.
func allows(m *netpol.Matrix, from, to netpol.Endpoint, protocol string, port int32) bool {
	f, ok := m.NodeOf(from)
	if !ok {
		return false
	}
	t, ok := m.NodeOf(to)
	if !ok {
		return false
	}
	ps, ok := m.Allowed(f, t)
	return ok && ps.Contains(protocol, port)
}

// comparePaths counts the paths of mb and ma and how they differ. Both
// matrices have the same workloads; their outside regions are compared on
// the regions both sets of ipBlocks cut the space into, each through one
// address of it.
func comparePaths(ctx context.Context, mb, ma *netpol.Matrix, namespace string, out *PathChanges) error {
	nb, na := mb.Nodes(), ma.Nodes()
	var ws []int // workload nodes (the same index in both)
	for i, n := range nb {
		if n.Workload == nil {
			break
		}
		if i >= len(na) || na[i].Workload == nil || *na[i].Workload != *n.Workload {
			return fmt.Errorf("matrices disagree on workload %d", i)
		}
		ws = append(ws, i)
	}
	in := func(i int) bool { return namespace == "" || nb[i].Workload.Namespace == namespace }
	for k, f := range ws {
		if k%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for _, t := range ws {
			if !in(f) && !in(t) {
				continue
			}
			before, _ := mb.Allowed(f, t)
			after, _ := ma.Allowed(f, t)
			out.Workloads.add(before, after)
		}
	}

	// The outside regions common to both, through one address each.
	var prefixes []netip.Prefix
	for _, nodes := range [][]netpol.Node{nb, na} {
		for _, n := range nodes {
			if n.Outside == nil {
				continue
			}
			for _, s := range append([]string{n.Outside.CIDR}, n.Outside.Except...) {
				if p, err := netip.ParsePrefix(s); err == nil {
					prefixes = append(prefixes, p.Masked())
				}
			}
		}
	}
	type pair struct{ b, a int }
	var regions []pair
	for _, addr := range representatives(prefixes) {
		ep := netpol.AddressEndpoint(netip.PrefixFrom(addr, addr.BitLen()))
		b, okb := mb.NodeOf(ep)
		a, oka := ma.NodeOf(ep)
		if okb && oka {
			regions = append(regions, pair{b, a})
		}
	}
	for _, w := range ws {
		if !in(w) {
			continue
		}
		for _, r := range regions {
			before, _ := mb.Allowed(w, r.b)
			after, _ := ma.Allowed(w, r.a)
			out.Outside.add(before, after)
			before, _ = mb.Allowed(r.b, w)
			after, _ = ma.Allowed(r.a, w)
			out.Outside.add(before, after)
		}
	}
	return nil
}

// representatives returns one address of each non-empty region the
// prefixes cut the address space into: the addresses of a prefix in none
// of the prefixes inside it, and the addresses in no prefix at all.
func representatives(prefixes []netip.Prefix) []netip.Addr {
	slices.SortFunc(prefixes, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	prefixes = slices.Compact(prefixes)
	// Sorted by address then length, a prefix follows those covering it.
	kids := make([][]netip.Prefix, len(prefixes))
	var top4, top6 []netip.Prefix
	var stack []int
	for i, p := range prefixes {
		for len(stack) > 0 && !covers(prefixes[stack[len(stack)-1]], p) {
			stack = stack[:len(stack)-1]
		}
		switch {
		case len(stack) > 0:
			kids[stack[len(stack)-1]] = append(kids[stack[len(stack)-1]], p)
		case p.Addr().Is4():
			top4 = append(top4, p)
		default:
			top6 = append(top6, p)
		}
		stack = append(stack, i)
	}
	var out []netip.Addr
	// "Anywhere else": one address is enough, both families are in the
	// same region of either matrix.
	if a, ok := gap(netip.MustParsePrefix("0.0.0.0/0"), top4); ok {
		out = append(out, a)
	} else if a, ok := gap(netip.MustParsePrefix("::/0"), top6); ok {
		out = append(out, a)
	}
	for i, p := range prefixes {
		if a, ok := gap(p, kids[i]); ok {
			out = append(out, a)
		}
	}
	return out
}

func covers(outer, inner netip.Prefix) bool {
	return outer.Addr().Is4() == inner.Addr().Is4() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// gap returns the first address of p in none of kids (disjoint prefixes
// inside p, sorted by address).
func gap(p netip.Prefix, kids []netip.Prefix) (netip.Addr, bool) {
	a := p.Masked().Addr()
	for _, k := range kids {
		if k.Addr().Compare(a) > 0 {
			break
		}
		if k.Contains(a) {
			next := lastAddr(k).Next()
			if !next.IsValid() {
				return netip.Addr{}, false
			}
			a = next
		}
	}
	return a, p.Contains(a)
}

// lastAddr is the last address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
