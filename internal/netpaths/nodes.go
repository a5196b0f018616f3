package netpaths

import (
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

// The cluster's nodes as a peer. A node's address is an outside address to
// NetworkPolicy (internal/netpol: pods of the host network are their node),
// so it lies in one of the matrix's outside regions, often "anywhere
// else" with the internet. Analyze lists the node addresses of a region as
// a peer of their own (Peer.Nodes), next to the rest of the region
// (Peer.WithoutNodes): the same ports are allowed to both, but traffic to a
// node is not traffic to the internet, and the workloads of the host
// network are folded into it.

// nodeAddresses returns the addresses the inventory knows for the nodes of
// a cluster, sorted: the InternalIP and ExternalIP addresses of its Node
// objects, the host IPs its pods report, and the pod IPs of its pods in
// the host network (their node's). A pod that has finished still names
// its node.
func nodeAddresses(ix *inventory.Index, cluster string) []netip.Addr {
	var out []netip.Addr
	for _, n := range ix.Snapshot().Nodes {
		if n.Cluster == cluster {
			out = appendAddrs(out, n.InternalIPs...)
			out = appendAddrs(out, n.ExternalIPs...)
		}
	}
	for _, p := range ix.Snapshot().Workloads {
		if p.Kind != model.KindPod || p.Cluster != cluster || p.Status == nil {
			continue
		}
		out = appendAddrs(out, p.Status.HostIP)
		if p.Template.HostNetwork {
			out = appendAddrs(out, p.Status.PodIP)
			out = appendAddrs(out, p.Status.PodIPs...)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// hostAddresses returns the addresses of the nodes the running pods of a
// host-network workload run on, as internal/netpol gives them to it: their
// host IPs and pod IPs.
func hostAddresses(pods []*model.Workload) []netip.Addr {
	var out []netip.Addr
	for _, p := range pods {
		if p.Status == nil || p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
			continue
		}
		out = appendAddrs(out, p.Status.HostIP, p.Status.PodIP)
		out = appendAddrs(out, p.Status.PodIPs...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func appendAddrs(out []netip.Addr, ss ...string) []netip.Addr {
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap().WithZone(""))
		}
	}
	return out
}

// nodePeers is the cluster's nodes split out of the matrix's outside
// regions. Peers are numbered after the matrix's nodes: peer n+k is the
// node addresses of region regions[k].
type nodePeers struct {
	n       int                   // the matrix's nodes
	addr    map[netip.Addr]bool   // node addresses placed in a region
	of      []int32               // per matrix node: its nodes peer, or -1
	regions []int                 // per nodes peer: its region
	count   []int                 // per nodes peer: node addresses
	only    []bool                // per matrix node: a region of node addresses only
	hostNet [][]model.WorkloadRef // per nodes peer: the host-network workloads on it
	// places are, per host-network workload node, the nodes peers of its
	// addresses (none when no running pod reports one).
	places [][]int32
}

// maxRegionBits bounds the regions checked for holding node addresses
// only: at most 2^16 addresses.
const maxRegionBits = 16

func newNodePeers(ix *inventory.Index, e *netpol.Engine, m Matrix) *nodePeers {
	nodes := m.Nodes()
	np := &nodePeers{n: len(nodes), addr: map[netip.Addr]bool{}, of: make([]int32, len(nodes)), only: make([]bool, len(nodes)), places: make([][]int32, len(nodes))}
	for i := range np.of {
		np.of[i] = -1
	}
	perRegion := map[int]int{}
	for _, a := range nodeAddresses(ix, e.Cluster()) {
		ep := e.EndpointFor(a)
		if ep.Workload != nil {
			continue // a pod's own address: not a node's
		}
		r, ok := m.NodeOf(ep)
		if !ok || nodes[r].Outside == nil {
			continue
		}
		np.addr[a] = true
		perRegion[r]++
	}
	for r := range nodes {
		c, ok := perRegion[r]
		if !ok {
			continue
		}
		np.of[r] = int32(np.n + len(np.regions))
		np.regions = append(np.regions, r)
		np.count = append(np.count, c)
		np.hostNet = append(np.hostNet, nil)
		np.only[r] = regionSize(*nodes[r].Outside) == c
	}
	for i, nd := range nodes {
		if nd.Workload == nil || !nd.HostNetwork {
			continue
		}
		for _, a := range hostAddresses(ix.Pods(*nd.Workload)) {
			r, ok := m.NodeOf(netpol.AddressEndpoint(netip.PrefixFrom(a, a.BitLen())))
			if !ok || np.of[r] < 0 || !np.addr[a] {
				continue
			}
			v := np.of[r]
			if !slices.Contains(np.places[i], v) {
				np.places[i] = append(np.places[i], v)
				np.hostNet[int(v)-np.n] = append(np.hostNet[int(v)-np.n], *nd.Workload)
			}
		}
	}
	return np
}

// regionSize returns the number of addresses of a region, or -1 when it is
// "anywhere else" or larger than 2^maxRegionBits.
func regionSize(o netpol.Outside) int {
	p, err := netip.ParsePrefix(o.CIDR)
	if err != nil {
		return -1
	}
	host := p.Addr().BitLen() - p.Bits()
	if host > maxRegionBits {
		return -1
	}
	n := 1 << host
	for _, s := range o.Except {
		if x, err := netip.ParsePrefix(s); err == nil {
			n -= 1 << (x.Addr().BitLen() - x.Bits())
		}
	}
	return n
}

// peers returns the number of nodes peers.
func (np *nodePeers) peers() int { return len(np.regions) }

// region returns the matrix node of peer i: i itself, or the region of a
// nodes peer.
func (np *nodePeers) region(i int) int {
	if i < np.n {
		return i
	}
	return np.regions[i-np.n]
}

// place returns the peers a flow's end at matrix node i counts for: the
// nodes peer of its region for a node address a, the nodes peers of its
// addresses for a workload of the host network (none when its addresses
// are unknown), or i itself.
func (np *nodePeers) place(i int, hostNet bool, a netip.Addr, buf *[1]int32) []int32 {
	switch {
	case hostNet:
		return np.places[i]
	case np.of[i] >= 0 && np.addr[a]:
		buf[0] = np.of[i]
	default:
		buf[0] = int32(i)
	}
	return buf[:]
}
