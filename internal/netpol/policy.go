package netpol

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// Directions of traffic a policy isolates.
const (
	Ingress = "Ingress"
	Egress  = "Egress"
)

// PolicyRef names a NetworkPolicy.
type PolicyRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r PolicyRef) String() string { return r.Namespace + "/" + r.Name }

func comparePolicyRefs(a, b PolicyRef) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Problem is a part of a NetworkPolicy the engine cannot read as written:
// something the API server would have rejected. Field is the path in the
// policy ("spec.ingress[0].from[1].ipBlock.cidr"); Effect says how the
// engine treats the part instead.
type Problem struct {
	Policy  PolicyRef `json:"policy"`
	Field   string    `json:"field"`
	Message string    `json:"message"`
	Effect  string    `json:"effect"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s: %s (%s)", p.Policy, p.Field, p.Message, p.Effect)
}

// Effects of problems.
const (
	effectPeer     = "this peer matches nothing"
	effectPort     = "this port entry matches nothing"
	effectSelector = "the policy selects every pod of its namespace and allows nothing in its directions"
	effectType     = "the entry is ignored"
	effectNoTypes  = "the policy isolates both directions"
	effectAsIs     = "evaluated as written"
)

// policy is a NetworkPolicy compiled for evaluation.
type policy struct {
	ref     PolicyRef
	src     *model.NetworkPolicy
	ingress bool // isolates the pods it selects for ingress
	egress  bool
	// denyAll is set when the pod selector is invalid: the policy then
	// selects every pod of its namespace and its rules allow nothing.
	denyAll  bool
	rules    [2][]*rule // by direction index (dirIngress, dirEgress)
	problems []Problem
}

const (
	dirIngress = 0
	dirEgress  = 1
)

func dirName(d int) string {
	if d == dirIngress {
		return Ingress
	}
	return Egress
}

// rule is one ingress (from) or egress (to) rule.
type rule struct {
	pol   *policy
	dir   int
	index int
	// allPeers is set for a rule without peers (every source or
	// destination, in the cluster or not).
	allPeers bool
	peers    []*peer
	ports    rulePorts
}

// peer is one entry of from/to. bad peers match nothing.
type peer struct {
	index int
	pod   *model.LabelSelector
	ns    *model.LabelSelector
	block *ipBlock
	bad   bool
}

// rulePorts is the ports list of a rule.
type rulePorts struct {
	// all is set for a rule without ports: every port of every protocol.
	all bool
	// fixed holds the numbered entries (and whole protocols).
	fixed PortSet
	// named holds the entries naming a container port, resolved against
	// the destination.
	named []namedPort
	// entries maps each valid entry to what it allows, for explanations.
	entries []portEntry
}

type namedPort struct {
	protocol, name string
}

type portEntry struct {
	index int
	set   PortSet // numbered entry
	named *namedPort
}

// resolve returns the ports the rule allows to a destination with the
// container ports cps (nil for an outside address: named ports then match
// nothing).
func (rp *rulePorts) resolve(cps []model.ContainerPort) PortSet {
	if rp.all {
		return AllPorts()
	}
	out := rp.fixed
	for _, n := range rp.named {
		out = out.Union(resolveNamed(n, cps))
	}
	return out
}

// resolveNamed returns the ports of the destination's containers that
// carry the name with the protocol.
func resolveNamed(n namedPort, cps []model.ContainerPort) PortSet {
	var r []PortRange
	for _, cp := range cps {
		proto, _ := NormalizeProtocol(cp.Protocol)
		if cp.Name == n.name && proto == n.protocol {
			r = append(r, PortRange{Protocol: proto, From: cp.ContainerPort, To: cp.ContainerPort})
		}
	}
	return Ports(r...)
}

// matchingEntries returns the indexes of the port entries that allow
// protocol/port to a destination with container ports cps; nil with ok
// when the rule has no ports list.
func (rp *rulePorts) matchingEntries(protocol string, port int32, cps []model.ContainerPort) (idx []int, ok bool) {
	if rp.all {
		return nil, true
	}
	for _, e := range rp.entries {
		s := e.set
		if e.named != nil {
			s = resolveNamed(*e.named, cps)
		}
		if s.Contains(protocol, port) {
			idx = append(idx, e.index)
		}
	}
	return idx, len(idx) > 0
}

// compile reads a NetworkPolicy, recording what it cannot read.
func compile(np *model.NetworkPolicy) *policy {
	p := &policy{ref: PolicyRef{Namespace: np.Namespace, Name: np.Name}, src: np}
	problem := func(field, msg, effect string) {
		p.problems = append(p.problems, Problem{Policy: p.ref, Field: field, Message: msg, Effect: effect})
	}

	if err := validateSelector(&np.PodSelector); err != nil {
		problem("spec.podSelector", err.Error(), effectSelector)
		p.denyAll = true
	}

	// policyTypes: Ingress always, Egress when there are egress rules,
	// unless listed.
	if len(np.PolicyTypes) == 0 {
		p.ingress = true
		p.egress = len(np.Egress) > 0
	} else {
		valid := 0
		for i, t := range np.PolicyTypes {
			switch t {
			case Ingress:
				p.ingress = true
				valid++
			case Egress:
				p.egress = true
				valid++
			default:
				problem(fmt.Sprintf("spec.policyTypes[%d]", i), fmt.Sprintf("unknown policy type %q: Ingress or Egress", t), effectType)
			}
		}
		if valid == 0 {
			p.problems[len(p.problems)-1].Effect = effectNoTypes
			p.ingress, p.egress = true, true
		}
	}
	if p.denyAll {
		return p
	}
	for d, rules := range [2][]model.NetworkPolicyRule{np.Ingress, np.Egress} {
		peersField := "from"
		if d == dirEgress {
			peersField = "to"
		}
		for i := range rules {
			r := &rules[i]
			field := fmt.Sprintf("spec.%s[%d]", strings.ToLower(dirName(d)), i)
			cr := &rule{pol: p, dir: d, index: i, allPeers: len(r.Peers) == 0}
			for j := range r.Peers {
				cr.peers = append(cr.peers, compilePeer(&r.Peers[j], j, fmt.Sprintf("%s.%s[%d]", field, peersField, j), problem))
			}
			cr.ports = compilePorts(r.Ports, field, problem)
			p.rules[d] = append(p.rules[d], cr)
		}
	}
	return p
}

func compilePeer(mp *model.NetworkPolicyPeer, index int, field string, problem func(field, msg, effect string)) *peer {
	pr := &peer{index: index, pod: mp.PodSelector, ns: mp.NamespaceSelector}
	bad := func(f, msg string) {
		problem(f, msg, effectPeer)
		pr.bad = true
	}
	if mp.IPBlock != nil {
		if mp.PodSelector != nil || mp.NamespaceSelector != nil {
			bad(field, "ipBlock cannot be combined with podSelector or namespaceSelector")
			return pr
		}
		cidr, err := parseCIDR(mp.IPBlock.CIDR)
		if err != nil {
			bad(field+".ipBlock.cidr", err.Error())
			return pr
		}
		b := &ipBlock{cidr: cidr}
		for k, e := range mp.IPBlock.Except {
			f := fmt.Sprintf("%s.ipBlock.except[%d]", field, k)
			ep, err := parseCIDR(e)
			if err != nil {
				// An except that cannot be read might have excluded
				// anything: the peer allows nothing rather than too much.
				bad(f, err.Error())
				return pr
			}
			if !covers(cidr, ep) || ep.Bits() == cidr.Bits() {
				problem(f, fmt.Sprintf("except %s is not strictly inside cidr %s", ep, cidr), effectAsIs)
			}
			b.except = append(b.except, ep)
		}
		pr.block = b
		return pr
	}
	if mp.PodSelector == nil && mp.NamespaceSelector == nil {
		bad(field, "peer sets none of podSelector, namespaceSelector and ipBlock")
		return pr
	}
	if err := validateSelector(mp.PodSelector); err != nil {
		bad(field+".podSelector", err.Error())
	}
	if err := validateSelector(mp.NamespaceSelector); err != nil {
		bad(field+".namespaceSelector", err.Error())
	}
	return pr
}

// parseCIDR parses a CIDR; an address with host bits set is masked (the
// API server accepts it so), a bare address is not a CIDR.
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		if p.Bits() < 0 {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
	}
	return p.Masked(), nil
}

func compilePorts(ports []model.NetworkPolicyPort, field string, problem func(field, msg, effect string)) rulePorts {
	if len(ports) == 0 {
		return rulePorts{all: true}
	}
	var rp rulePorts
	var fixed []PortRange
	for i, mp := range ports {
		f := fmt.Sprintf("%s.ports[%d]", field, i)
		proto, ok := NormalizeProtocol(mp.Protocol)
		if !ok {
			problem(f+".protocol", fmt.Sprintf("unknown protocol %q: TCP, UDP or SCTP", mp.Protocol), effectPort)
			continue
		}
		if mp.Protocol != "" && mp.Protocol != proto {
			// Protocols are case-sensitive in the API: "tcp" is rejected,
			// but its meaning is clear.
			problem(f+".protocol", fmt.Sprintf("protocol %q must be upper case", mp.Protocol), "read as "+proto)
		}
		if mp.Port == "" {
			if mp.EndPort != nil {
				problem(f+".endPort", "endPort requires a numbered port", effectPort)
				continue
			}
			r := PortRange{Protocol: proto, From: 1, To: MaxPort}
			fixed = append(fixed, r)
			rp.entries = append(rp.entries, portEntry{index: i, set: Ports(r)})
			continue
		}
		n, err := strconv.Atoi(mp.Port)
		if err != nil {
			if mp.EndPort != nil {
				problem(f+".endPort", "endPort cannot be used with a named port", effectPort)
				continue
			}
			np := namedPort{protocol: proto, name: mp.Port}
			rp.named = append(rp.named, np)
			rp.entries = append(rp.entries, portEntry{index: i, named: &np})
			continue
		}
		if n < 1 || n > MaxPort {
			problem(f+".port", fmt.Sprintf("port %d is not between 1 and %d", n, MaxPort), effectPort)
			continue
		}
		r := PortRange{Protocol: proto, From: int32(n), To: int32(n)}
		if mp.EndPort != nil {
			e := *mp.EndPort
			if e < int32(n) || e > MaxPort {
				problem(f+".endPort", fmt.Sprintf("endPort %d is not between port %d and %d", e, n, MaxPort), effectPort)
				continue
			}
			r.To = e
		}
		fixed = append(fixed, r)
		rp.entries = append(rp.entries, portEntry{index: i, set: Ports(r)})
	}
	rp.fixed = Ports(fixed...)
	return rp
}

// validateSelector reports what makes a label selector invalid for the
// API server in a way that changes its meaning: unknown operators, In and
// NotIn without values, Exists and DoesNotExist with values, empty keys.
// (Label syntax is not checked: a selector with an odd key still has a
// clear meaning.)
func validateSelector(s *model.LabelSelector) error {
	if s == nil {
		return nil
	}
	for k := range s.MatchLabels {
		if k == "" {
			return fmt.Errorf("matchLabels has an empty key")
		}
	}
	for i, r := range s.MatchExpressions {
		if r.Key == "" {
			return fmt.Errorf("matchExpressions[%d] has an empty key", i)
		}
		switch r.Operator {
		case "In", "NotIn":
			if len(r.Values) == 0 {
				return fmt.Errorf("matchExpressions[%d]: operator %s needs values", i, r.Operator)
			}
		case "Exists", "DoesNotExist":
			if len(r.Values) > 0 {
				return fmt.Errorf("matchExpressions[%d]: operator %s takes no values", i, r.Operator)
			}
		default:
			return fmt.Errorf("matchExpressions[%d]: unknown operator %q: In, NotIn, Exists or DoesNotExist", i, r.Operator)
		}
	}
	return nil
}

// selectorKey returns a canonical string for a selector: equal keys match
// the same labels. nil is "-".
func selectorKey(s *model.LabelSelector) string {
	if s == nil {
		return "-"
	}
	var b strings.Builder
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q,", k, s.MatchLabels[k])
	}
	exprs := make([]string, 0, len(s.MatchExpressions))
	for _, r := range s.MatchExpressions {
		v := slices.Clone(r.Values)
		slices.Sort(v)
		exprs = append(exprs, fmt.Sprintf("%q %s %q", r.Key, r.Operator, v))
	}
	slices.Sort(exprs)
	b.WriteString(strings.Join(exprs, ","))
	return b.String()
}
