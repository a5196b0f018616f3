package netpol

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// Endpoint is one end of a connection: a workload of the cluster, or an
// outside address (an IP as a /32 or /128, or a CIDR).
type Endpoint struct {
	Workload *model.WorkloadRef `json:"workload,omitempty"`
	// CIDR is the outside address range when Workload is nil.
	CIDR string `json:"cidr,omitempty"`
}

// WorkloadEndpoint returns the endpoint of a workload.
func WorkloadEndpoint(ref model.WorkloadRef) Endpoint { return Endpoint{Workload: &ref} }

// AddressEndpoint returns an outside endpoint; p is masked.
func AddressEndpoint(p netip.Prefix) Endpoint {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return Endpoint{CIDR: p.Masked().String()}
}

func (e Endpoint) String() string {
	if e.Workload != nil {
		return e.Workload.Namespace + "/" + string(e.Workload.Kind) + "/" + e.Workload.Name
	}
	return e.CIDR
}

// Connection is a question: may From open a connection to To on
// Port/Protocol?
type Connection struct {
	From     Endpoint
	To       Endpoint
	Port     int32
	Protocol string // TCP when empty
}

// Side is how the policies of one end decide a connection: the egress
// policies of the source, or the ingress policies of the destination.
type Side struct {
	Direction string `json:"direction"`
	// Outside is set when this end is an outside address, or a workload
	// of the host network (then HostNetwork is set too): no NetworkPolicy
	// applies to it, so this side allows.
	Outside bool `json:"outside,omitempty"`
	// HostNetwork is set when this end is a workload whose pods run in the
	// host network: its traffic is its node's, an outside address.
	HostNetwork bool `json:"hostNetwork,omitempty"`
	// OwnNode names the node (its name and addresses, or its addresses)
	// when the connection is between a workload's pod and the node that
	// pod runs on: always allowed, whatever the policies. A pod's side
	// then allows with no rule; Isolated and Policies still say which
	// policies select it.
	OwnNode string `json:"ownNode,omitempty"`
	// Isolated is set when some policy selects the workload for this
	// direction; otherwise everything is allowed on this side.
	Isolated bool `json:"isolated"`
	Allowed  bool `json:"allowed"`
	// Policies are the policies selecting the workload for Direction.
	Policies []PolicyRef `json:"policies,omitempty"`
	// Rules are the rules that allow the connection (empty when denied).
	Rules []RuleRef `json:"rules,omitempty"`
	// Reason says the same in a sentence.
	Reason string `json:"reason"`
}

// RuleRef names a rule of a policy and the entries of it that matched.
type RuleRef struct {
	Policy    PolicyRef `json:"policy"`
	Direction string    `json:"direction"`
	// Rule is the index in spec.ingress or spec.egress.
	Rule int `json:"rule"`
	// Peers are the indexes of the from/to entries matching the other
	// end; empty when the rule has none (every peer).
	Peers []int `json:"peers,omitempty"`
	// Ports are the indexes of the ports entries matching; empty when the
	// rule has none (every port).
	Ports []int `json:"ports,omitempty"`
}

func (r RuleRef) String() string {
	return fmt.Sprintf("%s %s[%d]", r.Policy, strings.ToLower(r.Direction), r.Rule)
}

// Verdict answers a Connection.
type Verdict struct {
	From     Endpoint `json:"from"`
	To       Endpoint `json:"to"`
	Port     int32    `json:"port"`
	Protocol string   `json:"protocol"`
	// Allowed is set when the source's egress and the destination's
	// ingress both allow the connection; for a CIDR end, for every address
	// of it.
	Allowed bool `json:"allowed"`
	// Partial is set when a CIDR end is allowed for some of its addresses
	// only; Parts then says which.
	Partial bool `json:"partial,omitempty"`
	Egress  Side `json:"egress"`
	Ingress Side `json:"ingress"`
	// Parts splits a CIDR end that the policies' ipBlocks cut into
	// regions treated differently; Egress and Ingress above are those of
	// the first denied part, or of the first part when all are allowed.
	Parts []Part `json:"parts,omitempty"`
	// Problems are those of the policies that took part in the decision.
	Problems []Problem `json:"problems,omitempty"`
}

// Part is the verdict for one region of a CIDR end.
type Part struct {
	Region  Outside `json:"region"`
	Allowed bool    `json:"allowed"`
	Egress  Side    `json:"egress"`
	Ingress Side    `json:"ingress"`
}

// end is a resolved endpoint: a workload, or one region of an outside
// CIDR.
type end struct {
	w      *workload // nil when outside
	region region
	// addr is the address of an outside end given as a single address:
	// the one end that can be a workload's own node.
	addr  netip.Addr
	label string
}

func (e *Engine) resolve(ep Endpoint) ([]end, error) {
	if ep.Workload != nil {
		i, ok := e.byRef[*ep.Workload]
		if !ok {
			return nil, fmt.Errorf("%w %s in cluster %s", ErrUnknownWorkload, ep, e.cluster)
		}
		return []end{{w: e.workloads[i], label: ep.String()}}, nil
	}
	p, err := parseCIDR(ep.CIDR)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	var out []end
	for _, pc := range e.space.pieces(p) {
		out = append(out, end{region: pc.region, label: pc.region.outside().String()})
	}
	if p.IsSingleIP() && len(out) == 1 {
		out[0].addr = p.Addr()
	}
	return out, nil
}

// Query answers whether a connection is allowed, and which policies and
// rules decided it on each side. At least one end must be a workload.
//
// A workload of the host network is answered as its node: its side is
// outside (no policy applies to it), and the other side sees its pods'
// host IPs, which ipBlocks match (one of them in the block suffices, as
// for a workload's pod IPs) and selectors and named ports never do. When
// no running pod reports a host IP, it is an outside address of unknown
// value, which only rules without from/to match. The reasons say so.
//
// A connection between a workload (not of the host network) and its own
// node, an address of a node one of its running pods runs on (given as a
// single address) or a workload of the host network with a running pod on
// such a node, is allowed on every port: the pod's side allows whatever
// its policies, and both sides name the node (Side.OwnNode).
func (e *Engine) Query(c Connection) (Verdict, error) {
	proto, ok := NormalizeProtocol(c.Protocol)
	if !ok {
		return Verdict{}, fmt.Errorf("protocol %q is not TCP, UDP or SCTP", c.Protocol)
	}
	if c.Port < 1 || c.Port > MaxPort {
		return Verdict{}, fmt.Errorf("port %d is not between 1 and %d", c.Port, MaxPort)
	}
	if c.From.Workload == nil && c.To.Workload == nil {
		return Verdict{}, ErrNoWorkload
	}
	froms, err := e.resolve(c.From)
	if err != nil {
		return Verdict{}, err
	}
	tos, err := e.resolve(c.To)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{From: c.From, To: c.To, Port: c.Port, Protocol: proto}
	var parts []Part
	for _, f := range froms {
		for _, t := range tos {
			p := Part{
				Egress:  e.side(dirEgress, f, t, proto, c.Port),
				Ingress: e.side(dirIngress, t, f, proto, c.Port),
			}
			if h := e.ownHost(f, t); h >= 0 {
				pod := f
				if f.w == nil || f.w.hostNet {
					pod = t
				}
				e.ownNodeSide(&p.Egress, f, pod, h)
				e.ownNodeSide(&p.Ingress, t, pod, h)
			}
			p.Allowed = p.Egress.Allowed && p.Ingress.Allowed
			if f.w == nil {
				p.Region = f.region.outside()
			} else if t.w == nil {
				p.Region = t.region.outside()
			}
			parts = append(parts, p)
		}
	}
	allowed, denied := 0, -1
	for i, p := range parts {
		if p.Allowed {
			allowed++
		} else if denied < 0 {
			denied = i
		}
	}
	v.Allowed = allowed == len(parts) && len(parts) > 0
	v.Partial = allowed > 0 && !v.Allowed
	show := 0
	if denied >= 0 {
		show = denied
	}
	if len(parts) > 0 {
		v.Egress, v.Ingress = parts[show].Egress, parts[show].Ingress
	}
	if len(parts) > 1 {
		v.Parts = parts
	}
	var involved []PolicyRef
	for _, p := range parts {
		involved = append(involved, p.Egress.Policies...)
		involved = append(involved, p.Ingress.Policies...)
	}
	for _, pr := range e.problems {
		if slices.Contains(involved, pr.Policy) {
			v.Problems = append(v.Problems, pr)
		}
	}
	return v, nil
}

// side evaluates the policies of subject for direction dir against the
// other end. Named ports resolve against the destination: other for
// egress, subject for ingress.
func (e *Engine) side(dir int, subject, other end, proto string, port int32) Side {
	s := Side{Direction: dirName(dir)}
	if subject.w == nil {
		s.Outside, s.Allowed = true, true
		s.Reason = fmt.Sprintf("%s is outside the cluster's workloads: no NetworkPolicy applies to it", subject.label)
		return s
	}
	if subject.w.hostNet {
		s.Outside, s.HostNetwork, s.Allowed = true, true, true
		s.Reason = fmt.Sprintf("%s runs in the host network: its traffic is its node's (%s), an outside address to which no NetworkPolicy applies", subject.label, nodeAddrs(subject.w))
		return s
	}
	cl := e.classes[subject.w.class]
	var dstPorts []model.ContainerPort // named ports resolve on pods only
	switch {
	case dir == dirIngress:
		dstPorts = cl.ports
	case other.w != nil && !other.w.hostNet:
		dstPorts = e.classes[other.w.class].ports
	}
	pols := cl.selectedBy[dir]
	if len(pols) == 0 {
		s.Allowed = true
		s.Reason = fmt.Sprintf("no NetworkPolicy selects %s for %s: not isolated, everything is allowed", subject.label, strings.ToLower(s.Direction))
		return s
	}
	s.Isolated = true
	for _, pi := range pols {
		p := e.policies[pi]
		s.Policies = append(s.Policies, p.ref)
		if p.denyAll {
			continue
		}
		for _, r := range p.rules[dir] {
			var peers []int
			if !r.allPeers {
				for _, pr := range r.peers {
					if e.peerMatches(p, pr, other) {
						peers = append(peers, pr.index)
					}
				}
				if len(peers) == 0 {
					continue
				}
			}
			ports, ok := r.ports.matchingEntries(proto, port, dstPorts)
			if !ok {
				continue
			}
			s.Rules = append(s.Rules, RuleRef{Policy: p.ref, Direction: s.Direction, Rule: r.index, Peers: peers, Ports: ports})
		}
	}
	s.Allowed = len(s.Rules) > 0
	var names []string
	for _, p := range s.Policies {
		names = append(names, p.String())
	}
	if s.Allowed {
		var rules []string
		for _, r := range s.Rules {
			rules = append(rules, r.String())
		}
		s.Reason = fmt.Sprintf("allowed by %s", strings.Join(rules, ", "))
	} else {
		s.Reason = fmt.Sprintf("%s isolated by %s, and no rule allows %s on %s/%d", subject.label, strings.Join(names, ", "), other.label, proto, port)
	}
	if other.w != nil && other.w.hostNet {
		s.Reason += "; " + seenAsNode(other)
	}
	return s
}

// seenAsNode says how the policies of the other end see a host-network
// workload.
func seenAsNode(x end) string {
	if len(x.w.ips) == 0 {
		return fmt.Sprintf("%s runs in the host network, so the policies see its node's address, an outside address unknown here (no running pod reports one): only rules without from/to match it", x.label)
	}
	return fmt.Sprintf("%s runs in the host network, so the policies see its node's address (%s), an outside address: ipBlocks match it, pod and namespace selectors and named ports never do", x.label, nodeAddrs(x.w))
}

// nodeAddrs lists the node addresses of a host-network workload, the
// first few of them.
func nodeAddrs(w *workload) string {
	const most = 4
	if len(w.ips) == 0 {
		return "address unknown: no running pod reports one"
	}
	var parts []string
	for _, a := range w.ips[:min(len(w.ips), most)] {
		parts = append(parts, a.String())
	}
	if n := len(w.ips) - most; n > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", n))
	}
	return strings.Join(parts, ", ")
}

// peerMatches reports whether a peer of policy p matches the other end,
// evaluated directly on labels and addresses (the matrix uses the
// precomputed sets instead; tests hold the two equal).
func (e *Engine) peerMatches(p *policy, pr *peer, other end) bool {
	if pr.bad {
		return false
	}
	if pr.block != nil {
		if other.w == nil {
			return other.region.prefix.IsValid() && pr.block.containsRegion(other.region.prefix)
		}
		for _, ip := range other.w.ips {
			if pr.block.contains(ip) {
				return true
			}
		}
		return false
	}
	if other.w == nil || other.w.hostNet {
		return false // selectors pick pods, never outside or node addresses
	}
	cl := e.classes[other.w.class]
	ns := e.namespaces[cl.ns]
	if pr.ns == nil {
		if ns.name != p.ref.Namespace {
			return false
		}
	} else if !pr.ns.Matches(ns.labels) {
		return false
	}
	return pr.pod == nil || pr.pod.Matches(cl.labels)
}
