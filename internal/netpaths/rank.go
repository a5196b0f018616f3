package netpaths

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

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

// sensitiveNames names the first two sensitive ports the set holds, and
// says how many more there are; "" when it holds none. It runs for every
// listed path, so it allocates only the names.
func sensitiveNames(s netpol.PortSet) string {
	var names [3]string
	n := 0
	for _, p := range SensitivePorts {
		if s.Contains(p.Protocol, p.Port) {
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

// hasSensitive reports whether the set holds a sensitive port, without
// allocating: it runs for every group of paths.
func hasSensitive(s netpol.PortSet) bool {
	for _, p := range SensitivePorts {
		if s.Contains(p.Protocol, p.Port) {
			return true
		}
	}
	return false
}

// hasEveryPort reports whether the set holds every port of a protocol.
func hasEveryPort(s netpol.PortSet) bool {
	if s.All() {
		return true
	}
	for _, p := range [...]string{netpol.TCP, netpol.UDP, netpol.SCTP} {
		if s.Contains(p, 1) && s.Contains(p, netpol.MaxPort) && len(everyPortOf(s)) > 0 {
			return true
		}
	}
	return false
}

// everyPortOf returns the protocols whose every port the set holds.
func everyPortOf(s netpol.PortSet) []string {
	var out []string
	for _, r := range s.Ranges() {
		if r.From == 1 && r.To == netpol.MaxPort {
			out = append(out, r.Protocol)
		}
	}
	return out
}

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
	if hasSensitive(in.ports) {
		s *= w.SensitivePorts
	}
	if hasEveryPort(in.ports) {
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
	out := make([]Factor, 0, 4)
	switch in.kind {
	case peerInternet:
		out = append(out, Factor{FactorInternet, w.Internet, peer.String() + " holds internet addresses"})
	case peerOutside:
		out = append(out, Factor{FactorOutside, w.Outside, peer.String() + ": addresses outside the cluster"})
	case peerNodes:
		out = append(out, Factor{FactorNodes, w.Nodes, nodesDetail(peer)})
	case peerOtherNamespace:
		out = append(out, Factor{FactorCrossNamespace, w.CrossNamespace, "namespace " + peer.Namespace + ", not " + ns})
	}
	if in.apiServer {
		if p, ok := apiServerPort(in.ports); ok {
			out = append(out, Factor{FactorAPIServer, w.APIServer, fmt.Sprintf("the Kubernetes API server's address, on TCP/%d", p)})
		}
	}
	if names := sensitiveNames(in.ports); names != "" {
		out = append(out, Factor{FactorSensitivePorts, w.SensitivePorts, names})
	}
	if ps := everyPortOf(in.ports); len(ps) > 0 {
		out = append(out, Factor{FactorEveryPort, w.EveryPort, "every " + strings.Join(ps, ", ") + " port"})
	}
	if in.count > 1 {
		out = append(out, Factor{FactorPeers, peersFactor(in.count), fmt.Sprintf("%d workloads", in.count)})
	}
	return out
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
