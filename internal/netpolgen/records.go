package netpolgen

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

// Reasons a flow record is left out of a suggestion or a simulation.
const (
	SkipOtherCluster    = "recorded in another cluster"
	SkipProtocol        = "protocol NetworkPolicy cannot express (not TCP, UDP or SCTP)"
	SkipNoPort          = "no destination port"
	SkipBothOutside     = "both ends outside the cluster's workloads (no NetworkPolicy applies)"
	SkipUnknownWorkload = "workload not in the inventory"
	SkipBadEndpoint     = "an end is neither a workload nor an address"
)

// Skip counts the records left out for one reason.
type Skip struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	// Example is the first such record, as "FROM -> TO PORT/PROTO".
	Example string `json:"example"`
}

// flow is a usable record: its ends resolved against the cluster's
// workloads.
type flow struct {
	rec      flows.Record
	from, to end
	protocol string
	port     int32
}

// end is one end of a flow: a workload (index into cluster.workloads) or
// an outside address.
type end struct {
	w    int // -1 when outside
	addr netip.Addr
}

func (e end) outside() bool { return e.w < 0 }

// cluster is what generation and simulation read of one cluster.
type cluster struct {
	name      string
	workloads []*model.Workload // top-level, sorted by reference
	byRef     map[model.WorkloadRef]int
	byNS      map[string][]int
	// hostAddrs are, per workload of the host network, its nodes'
	// addresses as internal/netpol gives them to it (hostAddresses).
	hostAddrs map[int][]netip.Addr
}

func newCluster(ix *inventory.Index, name string) *cluster {
	c := &cluster{name: name, byRef: map[model.WorkloadRef]int{}, byNS: map[string][]int{}, hostAddrs: map[int][]netip.Addr{}}
	for _, w := range ix.Workloads() {
		if w.Cluster != name {
			continue
		}
		i := len(c.workloads)
		c.workloads = append(c.workloads, w)
		c.byRef[w.Ref()] = i
		c.byNS[w.Namespace] = append(c.byNS[w.Namespace], i)
		if w.Template.HostNetwork {
			c.hostAddrs[i] = hostAddresses(ix.Pods(w.Ref()))
		}
	}
	return c
}

// hostAddresses returns the addresses of the nodes the running pods of a
// host-network workload run on, sorted: their host IPs and pod IPs, which
// for such a pod are the node's. These are the addresses internal/netpol
// matches ipBlocks against for the workload (one in the block suffices).
func hostAddresses(pods []*model.Workload) []netip.Addr {
	var out []netip.Addr
	for _, p := range pods {
		if p.Status == nil || p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
			continue
		}
		for _, s := range append([]string{p.Status.HostIP, p.Status.PodIP}, p.Status.PodIPs...) {
			if a, err := netip.ParseAddr(s); err == nil {
				out = append(out, a.Unmap().WithZone(""))
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// skips counts skipped records by reason, in the order first seen.
type skips struct {
	list []Skip
}

func (s *skips) add(reason string, r flows.Record) {
	for i := range s.list {
		if s.list[i].Reason == reason {
			s.list[i].Count++
			return
		}
	}
	s.list = append(s.list, Skip{Reason: reason, Count: 1, Example: describe(r)})
}

// describe renders a record as "FROM -> TO PORT/PROTO".
func describe(r flows.Record) string {
	return fmt.Sprintf("%s -> %s %d/%s", r.From, r.To, r.Port, r.Protocol)
}

// usable resolves the records of the cluster that NetworkPolicy can
// express; the others are counted in sk. A record without a cluster is
// taken to be of this one (a flow log names none).
func (c *cluster) usable(set *flows.Set, sk *skips) []flow {
	if set == nil {
		return nil
	}
	var out []flow
	for _, r := range set.Records {
		if r.Cluster != "" && r.Cluster != c.name {
			sk.add(SkipOtherCluster, r)
			continue
		}
		proto, ok := netpol.NormalizeProtocol(r.Protocol)
		if !ok {
			sk.add(SkipProtocol, r)
			continue
		}
		if r.Port == 0 {
			sk.add(SkipNoPort, r)
			continue
		}
		from, reason := c.end(r.From)
		if reason == "" {
			var to end
			to, reason = c.end(r.To)
			if reason == "" && from.outside() && to.outside() {
				reason = SkipBothOutside
			}
			if reason == "" {
				out = append(out, flow{rec: r, from: from, to: to, protocol: proto, port: int32(r.Port)})
				continue
			}
		}
		sk.add(reason, r)
	}
	return out
}

func (c *cluster) end(e flows.Endpoint) (end, string) {
	if e.Workload != nil {
		ref := *e.Workload
		if ref.Cluster == "" {
			ref.Cluster = c.name
		}
		i, ok := c.byRef[ref]
		if !ok {
			return end{}, SkipUnknownWorkload
		}
		return end{w: i}, ""
	}
	if !e.Addr.IsValid() {
		return end{}, SkipBadEndpoint
	}
	return end{w: -1, addr: e.Addr.Unmap().WithZone("")}, ""
}

// endpoint is the netpol endpoint of an end.
func (c *cluster) endpoint(e end) netpol.Endpoint {
	if e.outside() {
		return netpol.AddressEndpoint(netip.PrefixFrom(e.addr, e.addr.BitLen()))
	}
	return netpol.WorkloadEndpoint(c.workloads[e.w].Ref())
}

// serviceIPs maps the cluster IPs of the cluster's Services to their
// names: a flow recorded to one was captured before the Service's
// translation to a pod, which NetworkPolicy never sees.
func serviceIPs(ix *inventory.Index, cluster string) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, s := range ix.Snapshot().Services {
		if s.Cluster != cluster {
			continue
		}
		if a, err := netip.ParseAddr(s.ClusterIP); err == nil {
			out[a.Unmap()] = s.Namespace + "/" + s.Name
		}
	}
	return out
}
