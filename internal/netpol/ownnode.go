package netpol

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// The Kubernetes documentation (Network Policies): "When the pod's node is
// involved, traffic to and from that node is always allowed regardless of
// NetworkPolicy". A connection between a workload's pod and the node it
// runs on is allowed in both directions, on every port, whatever the
// policies say. The engine decides it per pair: an address, or a workload
// of the host network, is a workload's own node when one of the workload's
// running pods runs on that node (see doc.go).

// host is a node of the cluster, as its Node object and the pods running
// on it give it.
type host struct {
	// name is the Node's name; empty when no Node object or pod names
	// it (then the node is known by its address alone).
	name  string
	addrs []netip.Addr // sorted
}

// hostBuilder collects the cluster's nodes while New reads the pods.
type hostBuilder struct {
	hosts  []*host
	byName map[string]int32
	byAddr map[netip.Addr]int32 // the addresses of Node objects, and of nameless nodes
}

// newHostBuilder starts with the Node objects of the cluster: their
// InternalIP and ExternalIP addresses are theirs.
func newHostBuilder(nodes []*model.Node, cluster string) *hostBuilder {
	b := &hostBuilder{byName: map[string]int32{}, byAddr: map[netip.Addr]int32{}}
	for _, n := range nodes {
		if n.Cluster != cluster || n.Name == "" {
			continue
		}
		h := b.named(n.Name)
		for _, a := range appendAddrs(appendAddrs(nil, n.InternalIPs...), n.ExternalIPs...) {
			b.hosts[h].addrs = append(b.hosts[h].addrs, a)
			if _, ok := b.byAddr[a]; !ok {
				b.byAddr[a] = h
			}
		}
	}
	return b
}

func (b *hostBuilder) named(name string) int32 {
	if h, ok := b.byName[name]; ok {
		return h
	}
	h := int32(len(b.hosts))
	b.hosts = append(b.hosts, &host{name: name})
	b.byName[name] = h
	return h
}

// add records the node of a pod and returns it, or -1 when the pod names
// none: the node is the one the pod names (status, then spec), else the
// Node holding its host IP, else a node known by that address alone. The
// pod's host IP is an address of its node, and so are the pod IPs of a
// pod of the host network. Nodes are never merged: a pod naming one node
// and reporting another Node's address adds that address to the node it
// names.
func (b *hostBuilder) add(p *model.Workload) int32 {
	if p.Status == nil {
		return -1
	}
	addrs := appendAddrs(nil, p.Status.HostIP)
	if p.Template.HostNetwork {
		addrs = appendAddrs(addrs, append([]string{p.Status.PodIP}, p.Status.PodIPs...)...)
	}
	name := p.Status.NodeName
	if name == "" {
		name = p.Template.NodeName
	}
	var h int32
	switch {
	case name != "":
		h = b.named(name)
	case len(addrs) == 0:
		return -1
	default:
		var ok bool
		if h, ok = b.byAddr[addrs[0]]; !ok {
			h = int32(len(b.hosts))
			b.hosts = append(b.hosts, &host{})
			b.byAddr[addrs[0]] = h
		}
	}
	b.hosts[h].addrs = append(b.hosts[h].addrs, addrs...)
	return h
}

// finish sorts the nodes' addresses and indexes them.
func (b *hostBuilder) finish() ([]*host, map[netip.Addr][]int32) {
	of := map[netip.Addr][]int32{}
	for i, h := range b.hosts {
		slices.SortFunc(h.addrs, netip.Addr.Compare)
		h.addrs = slices.Compact(h.addrs)
		for _, a := range h.addrs {
			of[a] = append(of[a], int32(i))
		}
	}
	return b.hosts, of
}

// compileOwn lists, per workload, the workloads of the other kind (of the
// host network or not) with a running pod on one of its nodes: the pairs
// whose traffic is between a pod and its own node. It grows with those
// pairs, not with the pods.
func (e *Engine) compileOwn() {
	pods := make([][]int32, len(e.hosts))
	hostNet := make([][]int32, len(e.hosts))
	for i, w := range e.workloads {
		for _, h := range w.hosts {
			if w.hostNet {
				hostNet[h] = append(hostNet[h], int32(i))
			} else {
				pods[h] = append(pods[h], int32(i))
			}
		}
	}
	e.own = make([][]int32, len(e.workloads))
	for h := range e.hosts {
		if len(pods[h]) == 0 || len(hostNet[h]) == 0 {
			continue
		}
		for _, n := range hostNet[h] {
			e.own[n] = append(e.own[n], pods[h]...)
		}
		for _, p := range pods[h] {
			e.own[p] = append(e.own[p], hostNet[h]...)
		}
	}
	for i, o := range e.own {
		if len(o) > 0 {
			slices.Sort(o)
			e.own[i] = slices.Compact(o)
		}
	}
}

// hostOf returns a node of workload w that holds address a, or -1.
func (e *Engine) hostOf(w *workload, a netip.Addr) int32 {
	for _, h := range e.hostsOf[a.Unmap().WithZone("")] {
		if _, ok := slices.BinarySearch(w.hosts, h); ok {
			return h
		}
	}
	return -1
}

// ownHost returns the node a connection between ends a and b is a pod's
// traffic with, or -1: one end is a workload not of the host network,
// and the other a single address of one of its nodes, or a workload of
// the host network running on one of them.
func (e *Engine) ownHost(a, b end) int32 {
	if a.w == nil || a.w.hostNet {
		a, b = b, a
	}
	switch {
	case a.w == nil || a.w.hostNet || len(a.w.hosts) == 0:
		return -1
	case b.w == nil:
		if !b.addr.IsValid() {
			return -1
		}
		return e.hostOf(a.w, b.addr)
	case b.w.hostNet:
		for _, h := range b.w.hosts {
			if _, ok := slices.BinarySearch(a.w.hosts, h); ok {
				return h
			}
		}
	}
	return -1
}

// ownNodeSide rewrites the side of subject for a connection between pod
// (a workload's end) and its own node h: the pod's side allows, whatever
// its policies, and both sides say why.
func (e *Engine) ownNodeSide(s *Side, subject, pod end, h int32) {
	s.OwnNode = e.hostLabel(h)
	why := fmt.Sprintf("%s runs on node %s: traffic between a pod and its own node is always allowed", pod.label, s.OwnNode)
	if subject.w != pod.w {
		s.Reason += "; " + why
		return
	}
	s.Allowed, s.Rules, s.Reason = true, nil, why
}

// hostLabel names a node: its name and first addresses, or its addresses.
func (e *Engine) hostLabel(h int32) string {
	const most = 4
	hs := e.hosts[h]
	var parts []string
	for _, a := range hs.addrs[:min(len(hs.addrs), most)] {
		parts = append(parts, a.String())
	}
	if n := len(hs.addrs) - most; n > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", n))
	}
	addrs := strings.Join(parts, ", ")
	switch {
	case hs.name == "":
		return addrs
	case addrs == "":
		return hs.name
	}
	return hs.name + " (" + addrs + ")"
}

// OwnNode reports whether address a is an address of a node that one of
// the running pods of workload ref runs on: traffic between them is
// between a pod and its own node, always allowed. A workload known only
// from manifests runs on no node.
func (e *Engine) OwnNode(ref model.WorkloadRef, a netip.Addr) bool {
	i, ok := e.byRef[ref]
	return ok && e.hostOf(e.workloads[i], a) >= 0
}

// ownPair reports whether workload nodes from and to are a workload and a
// workload of the host network running on one of its nodes.
func (l *layout) ownPair(from, to int) bool {
	if from >= l.nw || to >= l.nw || len(l.own[from]) == 0 {
		return false
	}
	_, ok := slices.BinarySearch(l.own[from], int32(to))
	return ok
}

// OwnNode reports whether address a is an address of a node that one of
// the running pods of workload node i runs on: traffic between them is
// always allowed, on every port, whatever the cell of i and a's region
// says. It is false for outside nodes and for workloads known only from
// manifests.
func (l *layout) OwnNode(i int, a netip.Addr) bool {
	return i >= 0 && i < l.nw && l.eng.hostOf(l.eng.workloads[i], a) >= 0
}

// NodeAddrs returns the addresses of the nodes the running pods of
// workload node i run on, sorted: its own nodes, always reachable both
// ways (see OwnNode).
func (l *layout) NodeAddrs(i int) []netip.Addr {
	if i < 0 || i >= l.nw {
		return nil
	}
	var out []netip.Addr
	for _, h := range l.eng.workloads[i].hosts {
		out = append(out, l.eng.hosts[h].addrs...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// inScope reports whether the pair of workload nodes is in the scope.
func (l *layout) pairInScope(from, to int) bool {
	ns := l.scope.Namespace
	return ns == "" || l.nodes[from].Workload.Namespace == ns || l.nodes[to].Workload.Namespace == ns
}

// withOwn appends to dst the paths of row from (out, sorted by To) with
// the workloads of the host network on its nodes, or the workloads on the
// nodes of a host-network from, open on every port.
func (l *layout) withOwn(dst, out []Path, from int) []Path {
	i := 0
	for _, t := range l.own[from] {
		to := int(t)
		if !l.pairInScope(from, to) {
			continue
		}
		for i < len(out) && out[i].To < to {
			dst = append(dst, out[i])
			i++
		}
		if i < len(out) && out[i].To == to {
			i++
		}
		dst = append(dst, Path{From: from, To: to, Ports: AllPorts()})
	}
	return append(dst, out[i:]...)
}
