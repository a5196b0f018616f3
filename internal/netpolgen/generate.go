package netpolgen

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/kubemodel"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

// Labels and annotations of generated policies.
const (
	// LabelGenerated marks a policy Palisade generated; select them with
	// `kubectl get networkpolicy -l palisade.io/generated`.
	LabelGenerated = "palisade.io/generated"
	// AnnotationWindow is the window of the flows, as an RFC 3339
	// interval "SINCE/UNTIL".
	AnnotationWindow = "palisade.io/flow-window"
	// AnnotationSources names where the flows came from.
	AnnotationSources = "palisade.io/flow-sources"
	// AnnotationWorkloads lists the workloads the policy selects
	// (KIND/NAMESPACE/NAME, comma-separated).
	AnnotationWorkloads = "palisade.io/workloads"
)

// DefaultMaxAddresses is how many outside addresses a policy lists one by
// one in a direction before it groups them (Options.MaxAddresses).
const DefaultMaxAddresses = 16

// DNSPort is the port name resolution uses.
const DNSPort = 53

// ShortWindow is the flow window under which a result carries a note
// that rarer traffic is missing.
const ShortWindow = 24 * time.Hour

// Options choose what Generate suggests policies for.
type Options struct {
	// Cluster is the cluster of the index; empty takes its only cluster.
	Cluster string
	// Namespace, when set, limits the suggestions to its workloads.
	Namespace string
	// Workload, when set, limits the suggestions to this workload.
	Workload *model.WorkloadRef
	// MaxAddresses is how many outside addresses one direction of a
	// policy lists as /32 (/128) ipBlocks; more are grouped into the
	// smallest prefix per address family that covers them. Zero is
	// DefaultMaxAddresses; negative never groups.
	MaxAddresses int
}

// Result is the suggested policies and how they were made.
type Result struct {
	Cluster string    `json:"cluster"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
	// Window is Until - Since, as a Go duration ("168h0m0s").
	Window  string   `json:"window"`
	Sources []string `json:"sources,omitempty"`
	// Flows counts the records the suggestions were built from; Skipped
	// the others, by reason.
	Flows   int    `json:"flows"`
	Skipped []Skip `json:"skipped,omitempty"`
	// Notes apply to every suggestion (a short window, workloads left out).
	Notes []string `json:"notes,omitempty"`
	// HostNetwork lists the workloads in scope whose pods run in the host
	// network: NetworkPolicy does not apply to them (no policy can select
	// them; their traffic is their node's), so none is suggested.
	HostNetwork []model.WorkloadRef `json:"hostNetwork,omitempty"`
	Suggestions []Suggestion        `json:"suggestions"`
}

// Suggestion is the least-privilege policy of one workload (or of the
// workloads its selector cannot tell apart).
type Suggestion struct {
	// Workload is the workload the policy is named after.
	Workload model.WorkloadRef `json:"workload"`
	// Selects lists every workload the pod selector selects: Workload,
	// and others of its namespace when no label set tells them apart.
	Selects []model.WorkloadRef `json:"selects"`
	// Exact is set when the selector selects Workload's pods only.
	Exact bool `json:"exact"`
	// IngressFlows and EgressFlows count the records the rules come from.
	IngressFlows int      `json:"ingressFlows"`
	EgressFlows  int      `json:"egressFlows"`
	Warnings     []string `json:"warnings,omitempty"`
	// Policy is the NetworkPolicy as the API server takes it.
	Policy *networkingv1.NetworkPolicy `json:"policy"`
	// Model is Policy in the inventory model, for netpol and Simulate.
	Model *model.NetworkPolicy `json:"-"`
}

// Policies returns the suggested policies in the inventory model.
func (r *Result) Policies() []*model.NetworkPolicy {
	out := make([]*model.NetworkPolicy, len(r.Suggestions))
	for i, s := range r.Suggestions {
		out[i] = s.Model
	}
	return out
}

// group is the workloads one selector selects, and the traffic of all of
// them.
type group struct {
	ns       string
	sel      selection
	members  []int // selected workloads, sorted
	named    int   // the in-scope workload the policy is named after
	ingress  map[string]*peerAgg
	egress   map[string]*peerAgg
	inFlows  int
	outFlows int
	dns      map[string]bool // protocols seen to port 53
}

// peerAgg is one peer of a direction and the ports used with it.
type peerAgg struct {
	// A workload peer: its namespace and selector; an outside one: addr
	// or, once grouped, prefix.
	ns     string
	labels map[string]string
	key    string // selectorString(labels)
	addr   netip.Addr
	prefix netip.Prefix
	ports  map[portKey]bool
	// hostNet are the workloads of the host network whose node has addr:
	// such a peer is its nodes' addresses, as NetworkPolicy sees it.
	hostNet []int
	// unknownHost is a host-network workload (hostNet[0]) whose node's
	// address no running pod reports: no rule can name it.
	unknownHost bool
}

type portKey struct {
	protocol string
	port     int32
}

func (p *peerAgg) outside() bool { return p.labels == nil }

// Generate suggests, for each workload in scope, a NetworkPolicy that
// isolates it for ingress and egress and allows exactly the traffic of
// set (see docs/netpol-suggestions.md). The output is deterministic.
func Generate(ctx context.Context, ix *inventory.Index, set *flows.Set, opts Options) (*Result, error) {
	name, err := netpol.ResolveCluster(ix, opts.Cluster)
	if err != nil {
		return nil, err
	}
	c := newCluster(ix, name)
	if opts.Workload != nil {
		ref := *opts.Workload
		if ref.Cluster == "" {
			ref.Cluster = name
		}
		if _, ok := c.byRef[ref]; !ok {
			return nil, fmt.Errorf("%w %s in cluster %s", netpol.ErrUnknownWorkload, ref, name)
		}
		opts.Workload = &ref
	}
	maxAddr := opts.MaxAddresses
	if maxAddr == 0 {
		maxAddr = DefaultMaxAddresses
	}

	res := &Result{Cluster: name}
	if set != nil {
		res.Since, res.Until, res.Sources = set.Since, set.Until, set.Sources
		res.Window = set.Window().String()
		if set.Truncated {
			res.Notes = append(res.Notes, "the flows were truncated (more paths in the window than were kept): a path missing from them may have been used, and the suggested policies would block it")
		}
		if w := set.Window(); w < ShortWindow {
			res.Notes = append(res.Notes, fmt.Sprintf("the flows cover %s: traffic that happens less often (nightly or weekly jobs, failovers, month-end runs) is not in them and the suggested policies would block it; a window of a week or more gives more confidence", w))
		}
	}
	var sk skips
	fl := c.usable(set, &sk)
	res.Flows = len(fl)
	res.Skipped = sk.list
	byFrom := map[int][]int{}
	byTo := map[int][]int{}
	for i, f := range fl {
		if !f.from.outside() {
			byFrom[f.from.w] = append(byFrom[f.from.w], i)
		}
		if !f.to.outside() {
			byTo[f.to.w] = append(byTo[f.to.w], i)
		}
	}

	sels := map[int]selection{}
	selOf := func(i int) selection {
		if s, ok := sels[i]; ok {
			return s
		}
		w := c.workloads[i]
		var others []*model.Workload
		for _, j := range c.byNS[w.Namespace] {
			// No selector matches a pod of the host network: there is
			// no need to tell the workload apart from those.
			if j == i || !c.workloads[j].Template.HostNetwork {
				others = append(others, c.workloads[j])
			}
		}
		s := chooseSelector(w, others)
		sels[i] = s
		return s
	}

	// The groups, in the order of the workloads they are named after.
	var groups []*group
	byKey := map[string]*group{}
	var hostNet []string
	for i, w := range c.workloads {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if opts.Namespace != "" && w.Namespace != opts.Namespace || opts.Workload != nil && w.Ref() != *opts.Workload {
			continue
		}
		if w.Template.HostNetwork {
			hostNet = append(hostNet, w.Ref().String())
			res.HostNetwork = append(res.HostNetwork, w.Ref())
			continue
		}
		s := selOf(i)
		key := w.Namespace + "\x00" + s.key
		if _, ok := byKey[key]; ok {
			continue
		}
		g := &group{ns: w.Namespace, sel: s, named: i, ingress: map[string]*peerAgg{}, egress: map[string]*peerAgg{}, dns: map[string]bool{}}
		for _, j := range c.byNS[w.Namespace] {
			if !c.workloads[j].Template.HostNetwork && (&model.LabelSelector{MatchLabels: s.labels}).Matches(c.workloads[j].Template.Labels) {
				g.members = append(g.members, j)
			}
		}
		byKey[key] = g
		groups = append(groups, g)
	}
	if len(hostNet) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("no policy for %s: NetworkPolicy does not apply to pods in the host network (no policy can select them; their traffic is their node's), so a policy for them could not be enforced", strings.Join(hostNet, ", ")))
	}

	svcIPs := serviceIPs(ix, name)
	for gi, g := range groups {
		if gi%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		for _, m := range g.members {
			for _, fi := range byTo[m] {
				g.inFlows++
				g.add(g.ingress, c, fl[fi].from, fl[fi], selOf)
			}
			for _, fi := range byFrom[m] {
				g.outFlows++
				f := fl[fi]
				g.add(g.egress, c, f.to, f, selOf)
				if f.port == DNSPort {
					g.dns[f.protocol] = true
				}
			}
		}
		s, err := g.suggestion(c, res, maxAddr, svcIPs)
		if err != nil {
			return nil, err
		}
		res.Suggestions = append(res.Suggestions, s)
	}
	nameSuggestions(res.Suggestions)
	for i := range res.Suggestions {
		s := &res.Suggestions[i]
		obj, err := kubemodel.Convert(name, "palisade-suggestion", s.Policy)
		if err != nil {
			return nil, fmt.Errorf("converting the suggestion for %s: %w", s.Workload, err)
		}
		s.Model = obj.(*model.NetworkPolicy)
	}
	return res, nil
}

// add records the flow f with the peer p in a direction's peers. A peer
// of the host network is its nodes' addresses: NetworkPolicy sees those,
// and only ipBlocks match them.
func (g *group) add(peers map[string]*peerAgg, c *cluster, p end, f flow, selOf func(int) selection) {
	if !p.outside() && c.workloads[p.w].Template.HostNetwork {
		addrs := c.hostAddrs[p.w]
		if len(addrs) == 0 {
			key := "\x02" + c.workloads[p.w].Ref().String()
			agg := peers[key]
			if agg == nil {
				agg = &peerAgg{unknownHost: true, hostNet: []int{p.w}, ports: map[portKey]bool{}}
				peers[key] = agg
			}
			agg.ports[portKey{f.protocol, f.port}] = true
			return
		}
		for _, a := range addrs {
			agg := g.add1(peers, c, end{w: -1, addr: a}, f, selOf)
			if !slices.Contains(agg.hostNet, p.w) {
				agg.hostNet = append(agg.hostNet, p.w)
			}
		}
		return
	}
	g.add1(peers, c, p, f, selOf)
}

// add1 records the flow f with a workload or outside peer p.
func (g *group) add1(peers map[string]*peerAgg, c *cluster, p end, f flow, selOf func(int) selection) *peerAgg {
	var key string
	var agg *peerAgg
	if p.outside() {
		key = "\x01" + p.addr.String()
		agg = peers[key]
		if agg == nil {
			agg = &peerAgg{addr: p.addr, ports: map[portKey]bool{}}
		}
	} else {
		w := c.workloads[p.w]
		s := selOf(p.w)
		key = w.Namespace + "\x00" + s.key
		agg = peers[key]
		if agg == nil {
			agg = &peerAgg{ns: w.Namespace, labels: s.labels, key: s.key, ports: map[portKey]bool{}}
		}
	}
	agg.ports[portKey{f.protocol, f.port}] = true
	peers[key] = agg
	return agg
}

// suggestion builds the policy of a group.
func (g *group) suggestion(c *cluster, res *Result, maxAddr int, svcIPs map[netip.Addr]string) (Suggestion, error) {
	named := c.workloads[g.named]
	s := Suggestion{
		Workload:     named.Ref(),
		Exact:        g.sel.exact,
		IngressFlows: g.inFlows,
		EgressFlows:  g.outFlows,
	}
	var names []string
	for _, m := range g.members {
		s.Selects = append(s.Selects, c.workloads[m].Ref())
		names = append(names, c.workloads[m].Ref().String())
	}
	sel := g.sel.key
	switch {
	case len(g.sel.labels) == 0 && len(g.members) > 1:
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s has no pod labels: the policy selects every pod of namespace %s (%s) and allows the traffic of all of them; label its pods to narrow it", named.Ref(), g.ns, strings.Join(names, ", ")))
	case len(g.sel.labels) == 0:
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s has no pod labels: the policy selects every pod of namespace %s, including pods created later", named.Ref(), g.ns))
	case !g.sel.exact:
		var others []string
		for _, m := range g.members {
			if m != g.named {
				others = append(others, c.workloads[m].Ref().String())
			}
		}
		s.Warnings = append(s.Warnings, fmt.Sprintf("no set of %s's labels tells it apart from %s: the selector %s selects them all and the policy allows the traffic of all of them", named.Ref(), strings.Join(others, ", "), sel))
	}
	if g.inFlows == 0 && g.outFlows == 0 {
		s.Warnings = append(s.Warnings, "no traffic observed in the window: the policy denies all ingress and egress")
	}
	if g.outFlows > 0 && len(g.dns) == 0 {
		s.Warnings = append(s.Warnings, "egress observed but no DNS (port 53): the policy blocks name resolution; if the workload resolves names, the DNS flows were not captured: add an egress rule to kube-dns (port 53, UDP and TCP)")
	} else if g.dns[netpol.UDP] && !g.dns[netpol.TCP] {
		s.Warnings = append(s.Warnings, "DNS over UDP observed but not over TCP: resolvers fall back to TCP port 53 for large answers, which the policy blocks")
	}

	ingress, iw := g.rules(c, g.ingress, maxAddr, "from", nil)
	egress, ew := g.rules(c, g.egress, maxAddr, "to", svcIPs)
	s.Warnings = append(s.Warnings, iw...)
	s.Warnings = append(s.Warnings, ew...)

	np := &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: g.ns,
			Labels:    map[string]string{LabelGenerated: "least-privilege"},
			Annotations: map[string]string{
				AnnotationWorkloads: listed(names),
				AnnotationWindow:    window(res.Since, res.Until),
			},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: g.sel.labels},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	if len(res.Sources) > 0 {
		np.Annotations[AnnotationSources] = strings.Join(res.Sources, ",")
	}
	for _, r := range ingress {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: r.peers, Ports: r.ports})
	}
	for _, r := range egress {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: r.peers, Ports: r.ports})
	}
	s.Policy = np
	return s, nil
}

// maxListed bounds the workloads named in AnnotationWorkloads.
const maxListed = 20

func listed(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ",")
	}
	return strings.Join(names[:maxListed], ",") + fmt.Sprintf(",and %d more", len(names)-maxListed)
}

func window(since, until time.Time) string {
	if since.IsZero() && until.IsZero() {
		return "unknown"
	}
	return since.UTC().Format(time.RFC3339) + "/" + until.UTC().Format(time.RFC3339)
}

type rule struct {
	peers []networkingv1.NetworkPolicyPeer
	ports []networkingv1.NetworkPolicyPort
}

// rules turns a direction's peers into rules: one per workload peer
// (same namespace first, then by namespace and selector), then one per
// outside address, or one for all of them when there are more than
// maxAddr.
func (g *group) rules(c *cluster, peers map[string]*peerAgg, maxAddr int, dir string, svcIPs map[netip.Addr]string) ([]rule, []string) {
	var ws, outs, unknown []*peerAgg
	for _, p := range peers {
		switch {
		case p.unknownHost:
			unknown = append(unknown, p)
		case p.outside():
			outs = append(outs, p)
		default:
			ws = append(ws, p)
		}
	}
	slices.SortFunc(ws, func(a, b *peerAgg) int {
		if (a.ns == g.ns) != (b.ns == g.ns) {
			if a.ns == g.ns {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(a.ns, b.ns), strings.Compare(a.key, b.key))
	})
	slices.SortFunc(outs, func(a, b *peerAgg) int { return a.addr.Compare(b.addr) })

	var warnings []string
	var out []rule
	for _, p := range ws {
		peer := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: p.labels}}
		if p.ns != g.ns {
			peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{netpol.NamespaceNameLabel: p.ns}}
		}
		out = append(out, rule{peers: []networkingv1.NetworkPolicyPeer{peer}, ports: policyPorts(p.ports)})
	}
	grouped := maxAddr >= 0 && len(outs) > maxAddr
	warnings = append(warnings, hostNetWarnings(c, outs, unknown, dir, grouped)...)
	for _, p := range outs {
		if svc, ok := svcIPs[p.addr]; ok && dir == "to" {
			warnings = append(warnings, fmt.Sprintf("%s is the cluster IP of Service %s: NetworkPolicy sees the Service's pods, not this address, so the rule for it does not allow the traffic; record flows after the Service's translation, or by workload", p.addr, svc))
		}
	}
	if grouped {
		ports := map[portKey]bool{}
		var v4, v6 []netip.Addr
		for _, p := range outs {
			for k := range p.ports {
				ports[k] = true
			}
			if p.addr.Is4() {
				v4 = append(v4, p.addr)
			} else {
				v6 = append(v6, p.addr)
			}
		}
		var ps []networkingv1.NetworkPolicyPeer
		var names []string
		for _, fam := range [][]netip.Addr{v4, v6} {
			if len(fam) == 0 {
				continue
			}
			pr := covering(fam)
			ps = append(ps, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: pr.String()}})
			names = append(names, pr.String())
		}
		warnings = append(warnings, fmt.Sprintf("%d outside addresses %s: grouped into %s (more than %d); narrow the block if the addresses have a known range", len(outs), map[string]string{"from": "connect in", "to": "connected to"}[dir], strings.Join(names, " and "), maxAddr))
		return append(out, rule{peers: ps, ports: policyPorts(ports)}), warnings
	}
	for _, p := range outs {
		peer := networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(p.addr, p.addr.BitLen()).String()}}
		out = append(out, rule{peers: []networkingv1.NetworkPolicyPeer{peer}, ports: policyPorts(p.ports)})
	}
	return out, warnings
}

// hostNetWarnings say how the rules of a direction treat its peers of the
// host network: as ipBlocks of their nodes' addresses (outs; grouped with
// the other outside addresses when there are too many), or not at all
// when no address is known (unknown). dir is "from" or "to".
func hostNetWarnings(c *cluster, outs, unknown []*peerAgg, dir string, grouped bool) []string {
	addrs := map[int][]netip.Addr{}
	for _, p := range outs {
		for _, w := range p.hostNet {
			addrs[w] = append(addrs[w], p.addr)
		}
	}
	for _, p := range unknown {
		addrs[p.hostNet[0]] = nil
	}
	traffic := map[string]string{"from": "its traffic comes from its nodes' addresses", "to": "traffic to it goes to its nodes' addresses"}[dir]
	also := map[string]string{"from": "lets in anything else on those nodes too", "to": "lets out to anything else on those nodes too"}[dir]
	var out []string
	for _, w := range slices.Sorted(maps.Keys(addrs)) {
		ref := c.workloads[w].Ref()
		as := addrs[w]
		if len(as) == 0 {
			out = append(out, fmt.Sprintf("%s runs in the host network and no running pod of it reports its node's address: no rule allows traffic %s it (NetworkPolicy sees its nodes' addresses, which only ipBlocks match); add an ipBlock of its nodes' addresses", ref, dir))
			continue
		}
		slices.SortFunc(as, netip.Addr.Compare)
		var names []string
		for i, a := range as {
			if i == 4 {
				names = append(names, fmt.Sprintf("and %d more", len(as)-i))
				break
			}
			names = append(names, netip.PrefixFrom(a, a.BitLen()).String())
		}
		how := "an ipBlock of each (" + strings.Join(names, ", ") + ")"
		if grouped {
			how += ", grouped with the other outside addresses"
		}
		out = append(out, fmt.Sprintf("%s runs in the host network: %s, so the rule for it is %s, which %s", ref, traffic, how, also))
	}
	return out
}

// covering returns the smallest prefix holding every address (one
// family).
func covering(addrs []netip.Addr) netip.Prefix {
	first := addrs[0]
	bits := first.BitLen()
	for _, a := range addrs[1:] {
		for bits > 0 {
			p := netip.PrefixFrom(first, bits).Masked()
			if p.Contains(a) {
				break
			}
			bits--
		}
	}
	return netip.PrefixFrom(first, bits).Masked()
}

// policyPorts renders a set of ports, TCP then UDP then SCTP, by number.
func policyPorts(ports map[portKey]bool) []networkingv1.NetworkPolicyPort {
	keys := make([]portKey, 0, len(ports))
	for k := range ports {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b portKey) int {
		return cmp.Or(protoOrder(a.protocol)-protoOrder(b.protocol), cmp.Compare(a.port, b.port))
	})
	out := make([]networkingv1.NetworkPolicyPort, len(keys))
	for i, k := range keys {
		proto := corev1.Protocol(k.protocol)
		port := intstr.FromInt32(k.port)
		out[i] = networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port}
	}
	return out
}

func protoOrder(p string) int {
	switch p {
	case netpol.TCP:
		return 0
	case netpol.UDP:
		return 1
	}
	return 2
}

// maxName is the longest object name the API server accepts (a DNS
// subdomain).
const maxName = 253

// nameSuggestions names each policy palisade-<workload>-least-privilege,
// or palisade-<kind>-<workload>-least-privilege when two workloads of a
// namespace share a name; names too long are cut and end in a hash.
func nameSuggestions(ss []Suggestion) {
	count := map[string]int{}
	for _, s := range ss {
		count[s.Workload.Namespace+"/"+s.Workload.Name]++
	}
	for i := range ss {
		w := ss[i].Workload
		base := w.Name
		if count[w.Namespace+"/"+w.Name] > 1 {
			base = strings.ToLower(string(w.Kind)) + "-" + w.Name
		}
		ss[i].Policy.Name = policyName(base)
	}
	// A kind-qualified name may still meet a workload named like it
	// ("deployment-web"): those get the hash of their reference.
	seen := map[string]int{}
	for _, s := range ss {
		seen[s.Workload.Namespace+"/"+s.Policy.Name]++
	}
	for i := range ss {
		w := ss[i].Workload
		if seen[w.Namespace+"/"+ss[i].Policy.Name] > 1 {
			sum := sha256.Sum256([]byte(w.String()))
			ss[i].Policy.Name = policyName(strings.ToLower(string(w.Kind)) + "-" + w.Name + "-" + hex.EncodeToString(sum[:3]))
		}
	}
}

func policyName(base string) string {
	const prefix, suffix = "palisade-", "-least-privilege"
	n := prefix + base + suffix
	if len(n) <= maxName {
		return n
	}
	sum := sha256.Sum256([]byte(base))
	h := hex.EncodeToString(sum[:4])
	keep := maxName - len(prefix) - len(suffix) - len(h) - 1
	return prefix + strings.TrimRight(base[:keep], "-.") + "-" + h + suffix
}
