package netpaths

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

// Factor names, in the order they multiply.
const (
	FactorInternet       = "internet"
	FactorOutside        = "outside"
	FactorNodes          = "nodes"
	FactorCrossNamespace = "cross-namespace"
	FactorAPIServer      = "api-server"
	FactorSensitivePorts = "sensitive-ports"
	FactorEveryPort      = "every-port"
	FactorPeers          = "peers"
)

// Weights are the multipliers of the factors.
type Weights struct {
	Internet       float64 // the peer is an internet address (anywhere else, or a public range)
	Outside        float64 // the peer is a private address range outside the cluster
	Nodes          float64 // the peer is the cluster's nodes (and the workloads of the host network)
	CrossNamespace float64 // the peer workloads are of another namespace
	APIServer      float64 // egress on 443 or 6443 to an address of the API server
	SensitivePorts float64 // the unused ports include a SensitivePorts entry
	EveryPort      float64 // the unused ports include every port of a protocol
}

// DefaultWeights rank the internet first, then other namespaces, the
// cluster's nodes and private ranges outside, with sensitive ports (the
// kubelet's and SSH, for nodes) and breadth multiplying.
var DefaultWeights = Weights{Internet: 10, Outside: 3, Nodes: 3, CrossNamespace: 3, APIServer: 3, SensitivePorts: 2, EveryPort: 1.5}

// SensitivePort is a port an unused path should not leave open.
type SensitivePort struct {
	Protocol string
	Port     int32
	Service  string
}

func (p SensitivePort) String() string {
	return p.Protocol + "/" + strconv.Itoa(int(p.Port)) + " (" + p.Service + ")"
}

// SensitivePorts are the ports of remote shells, cluster control and data
// stores.
var SensitivePorts = []SensitivePort{
	{netpol.TCP, 22, "SSH"},
	{netpol.TCP, 2379, "etcd"},
	{netpol.TCP, 2380, "etcd peers"},
	{netpol.TCP, 3306, "MySQL"},
	{netpol.TCP, 5432, "PostgreSQL"},
	{netpol.TCP, 6379, "Redis"},
	{netpol.TCP, 6443, "Kubernetes API server"},
	{netpol.TCP, 9200, "Elasticsearch"},
	{netpol.TCP, 10250, "kubelet"},
	{netpol.TCP, 27017, "MongoDB"},
}

// apiServerPorts are the ports the API server listens on.
var apiServerPorts = []int32{443, 6443}

// privateRanges are address ranges that are not the internet.
var privateRanges = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// internet reports whether an outside region holds internet addresses:
// "anywhere else", or a range not wholly private.
func internet(o *netpol.Outside) bool {
	if o.CIDR == "" {
		return true
	}
	p, err := netip.ParsePrefix(o.CIDR)
	if err != nil {
		return true
	}
	for _, r := range privateRanges {
		if r.Addr().Is4() == p.Addr().Is4() && r.Bits() <= p.Bits() && r.Contains(p.Addr()) {
			return false
		}
	}
	return true
}

// sensitiveMask returns the SensitivePorts entries the set holds, one
// bit each, without allocating.
func sensitiveMask(s netpol.PortSet) uint32 {
	var m uint32
	for i, p := range SensitivePorts {
		if s.Contains(p.Protocol, p.Port) {
			m |= 1 << i
		}
	}
	return m
}

// sensitiveNames names the first two sensitive ports of a mask
// (sensitiveMask), and says how many more there are; "" when it holds
// none.
func sensitiveNames(m uint32) string {
	var names [3]string
	n := 0
	for i, p := range SensitivePorts {
		if m&(1<<i) != 0 {
			if n < 2 {
				names[n] = p.String()
			}
			n++
		}
	}
	switch {
	case n == 0:
		return ""
	case n > 2:
		names[2] = fmt.Sprintf("and %d more", n-2)
		return strings.Join(names[:], ", ")
	}
	return strings.Join(names[:n], ", ")
}

// everyPortMask returns the protocols whose every port the set holds, a
// bit each in the order of protocols. It copies the set's ranges only
// when a protocol's first and last ports are both in it.
func everyPortMask(s netpol.PortSet) uint8 {
	if s.All() {
		return 1<<len(protocols) - 1
	}
	var m uint8
	for i, p := range protocols {
		if s.Contains(p, 1) && s.Contains(p, netpol.MaxPort) {
			m |= 1 << i
		}
	}
	if m == 0 {
		return 0
	}
	m = 0
	for _, r := range s.Ranges() {
		if i := slices.Index(protocols[:], r.Protocol); i >= 0 && r.From == 1 && r.To == netpol.MaxPort {
			m |= 1 << i
		}
	}
	return m
}

// protocols lists the protocols as netpol orders them in a set.
var protocols = [...]string{netpol.TCP, netpol.UDP, netpol.SCTP}

// everyPortDetails are the every-port factor's details per mask
// (everyPortMask): "every TCP, UDP port".
var everyPortDetails = func() (out [1 << len(protocols)]string) {
	for m := 1; m < len(out); m++ {
		var ps []string
		for i, p := range protocols {
			if m&(1<<i) != 0 {
				ps = append(ps, p)
			}
		}
		out[m] = "every " + strings.Join(ps, ", ") + " port"
	}
	return out
}()

// apiServerPort returns the first API server port the set holds.
func apiServerPort(s netpol.PortSet) (int32, bool) {
	for _, p := range apiServerPorts {
		if s.Contains(netpol.TCP, p) {
			return p, true
		}
	}
	return 0, false
}

// peerKind classifies the other end of a path.
type peerKind int

const (
	peerSameNamespace peerKind = iota
	peerOtherNamespace
	peerOutside
	peerInternet
	peerNodes
)

// scoreInput is what a path's score depends on.
type scoreInput struct {
	kind      peerKind
	apiServer bool // the peer region holds an API server address (egress only)
	ports     netpol.PortSet
	count     int
	// sensitive and every are sensitiveMask and everyPortMask of ports
	// when masked is set (withMasks).
	sensitive uint32
	every     uint8
	masked    bool
}

// withMasks returns in with the masks of its ports set.
func (in scoreInput) withMasks() scoreInput {
	if !in.masked {
		in.sensitive, in.every, in.masked = sensitiveMask(in.ports), everyPortMask(in.ports), true
	}
	return in
}

// score returns the path's score, without describing it.
func (w Weights) score(in scoreInput) float64 {
	s := 1.0
	switch in.kind {
	case peerInternet:
		s *= w.Internet
	case peerOutside:
		s *= w.Outside
	case peerNodes:
		s *= w.Nodes
	case peerOtherNamespace:
		s *= w.CrossNamespace
	}
	if in.apiServer {
		if _, ok := apiServerPort(in.ports); ok {
			s *= w.APIServer
		}
	}
	in = in.withMasks()
	if in.sensitive != 0 {
		s *= w.SensitivePorts
	}
	if in.every != 0 {
		s *= w.EveryPort
	}
	if in.count > 1 {
		s *= peersFactor(in.count)
	}
	return round2(s)
}

func peersFactor(n int) float64 { return round2(1 + math.Log10(float64(n))) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Factor is one named multiplier of a path's score and why it applies.
type Factor struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Detail string  `json:"detail"`
}

// factors describes a score: the factors that apply, in order. peer names
// the peer for the details; ns is the workload's namespace.
func (w Weights) factors(in scoreInput, peer Peer, ns string) []Factor {
	var d details
	return d.factors(nil, w, in, &peer, ns, -1)
}

// details builds the factors and peers of listed paths. The same few
// details recur on thousands of paths (a peer region, a set of sensitive
// ports, a count of workloads, a pair of namespaces, the workloads a peer
// lists), so each is built once and shared.
type details struct {
	peer      map[int]string    // per outside peer (see group.outside)
	sensitive map[uint32]string // per sensitiveMask
	workloads map[int]string    // per count of peer workloads
	namespace map[[2]string]string
	// lists are the peer workloads listed (analysis.peer).
	lists map[listKey][]model.WorkloadRef
}

// factors appends the factors of a path to out. outside is the peer's
// index when it is outside (group.outside), -1 otherwise.
func (d *details) factors(out []Factor, w Weights, in scoreInput, peer *Peer, ns string, outside int) []Factor {
	switch in.kind {
	case peerInternet:
		out = append(out, Factor{FactorInternet, w.Internet, d.peerDetail(outside, func() string { return peer.String() + " holds internet addresses" })})
	case peerOutside:
		out = append(out, Factor{FactorOutside, w.Outside, d.peerDetail(outside, func() string { return peer.String() + ": addresses outside the cluster" })})
	case peerNodes:
		out = append(out, Factor{FactorNodes, w.Nodes, d.peerDetail(outside, func() string { return nodesDetail(*peer) })})
	case peerOtherNamespace:
		k := [2]string{peer.Namespace, ns}
		s, ok := d.namespace[k]
		if !ok {
			s = "namespace " + peer.Namespace + ", not " + ns
			d.namespace = cache(d.namespace, k, s)
		}
		out = append(out, Factor{FactorCrossNamespace, w.CrossNamespace, s})
	}
	if in.apiServer {
		if p, ok := apiServerPort(in.ports); ok {
			out = append(out, Factor{FactorAPIServer, w.APIServer, "the Kubernetes API server's address, on TCP/" + strconv.Itoa(int(p))})
		}
	}
	in = in.withMasks()
	if m := in.sensitive; m != 0 {
		s, ok := d.sensitive[m]
		if !ok {
			s = sensitiveNames(m)
			d.sensitive = cache(d.sensitive, m, s)
		}
		out = append(out, Factor{FactorSensitivePorts, w.SensitivePorts, s})
	}
	if m := in.every; m != 0 {
		out = append(out, Factor{FactorEveryPort, w.EveryPort, everyPortDetails[m]})
	}
	if in.count > 1 {
		s, ok := d.workloads[in.count]
		if !ok {
			s = strconv.Itoa(in.count) + " workloads"
			d.workloads = cache(d.workloads, in.count, s)
		}
		out = append(out, Factor{FactorPeers, peersFactor(in.count), s})
	}
	return out
}

// peerDetail returns the detail of outside peer i, built by build once;
// i < 0 is not cached.
func (d *details) peerDetail(i int, build func() string) string {
	if i < 0 {
		return build()
	}
	s, ok := d.peer[i]
	if !ok {
		s = build()
		d.peer = cache(d.peer, i, s)
	}
	return s
}

// cache sets m[k] = v, making m if needed.
func cache[K comparable](m map[K]string, k K, v string) map[K]string {
	if m == nil {
		m = map[K]string{}
	}
	m[k] = v
	return m
}

// nodesDetail says why a nodes peer weighs: what it holds.
func nodesDetail(p Peer) string {
	s := fmt.Sprintf("%s: %d node %s (the kubelet, node ports, the host's services)", p, p.Addresses, map[bool]string{true: "address", false: "addresses"}[p.Addresses == 1])
	if p.HostNetworkCount > 0 {
		names := make([]string, 0, len(p.HostNetwork)+1)
		for _, w := range p.HostNetwork {
			names = append(names, w.String())
		}
		if more := p.HostNetworkCount - len(p.HostNetwork); more > 0 {
			names = append(names, fmt.Sprintf("%d more", more))
		}
		s += " and the host-network workloads on them: " + strings.Join(names, ", ")
	}
	return s
}
