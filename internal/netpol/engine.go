package netpol

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// NamespaceNameLabel is the label the API server puts on every namespace,
// holding its name. The engine adds it to namespaces that lack it
// (manifests written before Kubernetes 1.21, or no Namespace object at
// all), as the API server would.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Options configure New. The zero value analyses the index's only cluster
// with its own policies.
type Options struct {
	// Cluster names the cluster to analyse. Empty takes the index's only
	// cluster (model.DefaultCluster for an empty index).
	Cluster string
	// Policies, when not nil, replace the cluster's NetworkPolicies of the
	// index: a proposed set to simulate. An empty, non-nil slice means no
	// policy at all.
	Policies []*model.NetworkPolicy
}

// Errors callers branch on.
var (
	ErrUnknownWorkload = errors.New("no such workload")
	ErrAmbiguous       = errors.New("ambiguous workload name")
	ErrNoWorkload      = errors.New("neither end is a workload")
	ErrCluster         = errors.New("cluster not chosen")
)

// Engine evaluates the NetworkPolicies of one cluster of an inventory
// index. It is immutable once built and safe for concurrent use.
type Engine struct {
	cluster    string
	workloads  []*workload // sorted by reference, as the index sorts them
	byRef      map[model.WorkloadRef]int
	byName     map[string][]int // "namespace/name" → workloads
	namespaces []*namespace     // sorted by name
	nsIndex    map[string]int
	policies   []*policy // sorted by reference
	problems   []Problem
	space      *space
	ipOwners   map[netip.Addr][]int
	classes    []*class

	// The cluster's nodes (see ownnode.go): hostsOf maps an address to
	// the nodes holding it, and own lists, per workload, the workloads of
	// the other kind (host network or not) running on one of its nodes.
	hosts   []*host
	hostsOf map[netip.Addr][]int32
	own     [][]int32

	// Compiled for the matrix: per rule, the classes and outside atoms
	// its peers match.
	rulePeers map[*rule]peerSets
}

type namespace struct {
	name    string
	labels  map[string]string
	classes []int
}

// workload is one top-level workload with what the policies look at.
type workload struct {
	ref model.WorkloadRef
	// ips are the pod IPs of its running pods; for a workload of the host
	// network, its pods' host IPs (the node's addresses), which it does
	// not own (see hostNet).
	ips   []netip.Addr
	class int
	// hostNet is set for a workload whose pods run in the host network:
	// no policy selects it, and its traffic is its node's.
	hostNet bool
	// hosts are the nodes its running pods run on, sorted: traffic
	// between it and them is always allowed.
	hosts []int32
}

// class groups the workloads no policy can tell apart: same namespace,
// pod template labels, outside atoms of their pods' IPs and named
// container ports. Everything the engine computes, it computes per class.
type class struct {
	ns      int
	labels  map[string]string
	atoms   []int                 // atoms of the members' pod IPs, sorted
	ports   []model.ContainerPort // container ports (named ports resolve here)
	portSig int                   // equal for classes whose named ports resolve alike
	// hostNet is set for a class of host-network workloads: policies
	// never select it (neither as subject nor as a selector peer), ipBlocks
	// match it by its atoms (its node's addresses), and named ports never
	// resolve on it, as on an outside address.
	hostNet bool
	members []int
	// selectedBy lists the policies selecting the class, per direction.
	selectedBy [2][]int
}

// ResolveCluster picks the cluster an engine is for: name, or else the
// index's only cluster (model.DefaultCluster for an empty index). Several
// clusters and no name is an error wrapping ErrCluster.
func ResolveCluster(ix *inventory.Index, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	switch cs := ix.Clusters(); len(cs) {
	case 0:
		return model.DefaultCluster, nil
	case 1:
		return cs[0], nil
	default:
		return "", fmt.Errorf("%w: the inventory holds clusters %s; name one", ErrCluster, strings.Join(cs, ", "))
	}
}

// New compiles the NetworkPolicies of one cluster of ix against its
// workloads. Policies with problems are kept (see Problems); New fails
// only when the cluster is not clear or ctx ends.
func New(ctx context.Context, ix *inventory.Index, opts Options) (*Engine, error) {
	cluster, err := ResolveCluster(ix, opts.Cluster)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cluster:   cluster,
		byRef:     map[model.WorkloadRef]int{},
		byName:    map[string][]int{},
		nsIndex:   map[string]int{},
		ipOwners:  map[netip.Addr][]int{},
		rulePeers: map[*rule]peerSets{},
	}

	// Policies.
	nps := opts.Policies
	if nps == nil {
		for _, np := range ix.Snapshot().NetworkPolicies {
			if np.Cluster == cluster {
				nps = append(nps, np)
			}
		}
	}
	for _, np := range nps {
		e.policies = append(e.policies, compile(np))
	}
	slices.SortFunc(e.policies, func(a, b *policy) int { return comparePolicyRefs(a.ref, b.ref) })
	for _, p := range e.policies {
		e.problems = append(e.problems, p.problems...)
	}

	// The outside address space, cut by every ipBlock.
	var prefixes []netip.Prefix
	for _, p := range e.policies {
		for _, rules := range p.rules {
			for _, r := range rules {
				for _, pr := range r.peers {
					if pr.block != nil {
						prefixes = append(prefixes, pr.block.cidr)
						prefixes = append(prefixes, pr.block.except...)
					}
				}
			}
		}
	}
	e.space = newSpace(prefixes)

	// Namespaces: the Namespace objects, and every namespace a workload
	// or policy names.
	nsLabels := map[string]map[string]string{}
	for _, n := range ix.Snapshot().Namespaces {
		if n.Cluster == cluster {
			nsLabels[n.Name] = n.Labels
		}
	}
	var workloads []*model.Workload
	for _, w := range ix.Workloads() {
		if w.Cluster == cluster {
			workloads = append(workloads, w)
			if _, ok := nsLabels[w.Namespace]; !ok {
				nsLabels[w.Namespace] = nil
			}
		}
	}
	for _, p := range e.policies {
		if _, ok := nsLabels[p.ref.Namespace]; !ok {
			nsLabels[p.ref.Namespace] = nil
		}
	}
	for _, name := range slices.Sorted(maps.Keys(nsLabels)) {
		labels := maps.Clone(nsLabels[name])
		if labels == nil {
			labels = map[string]string{}
		}
		if _, ok := labels[NamespaceNameLabel]; !ok {
			labels[NamespaceNameLabel] = name
		}
		e.nsIndex[name] = len(e.namespaces)
		e.namespaces = append(e.namespaces, &namespace{name: name, labels: labels})
	}

	// Workloads, their nodes and their classes.
	hb := newHostBuilder(ix.Snapshot().Nodes, cluster)
	classOf := map[string]int{}
	portSigs := map[string]int{}
	for i, w := range workloads {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		wl := &workload{ref: w.Ref(), hostNet: w.Template.HostNetwork}
		pods := ix.Pods(w.Ref())
		if wl.hostNet {
			wl.ips = hostIPs(pods)
		} else {
			wl.ips = podIPs(pods)
		}
		for _, p := range pods {
			if h := hb.add(p); h >= 0 && running(p) {
				wl.hosts = append(wl.hosts, h)
			}
		}
		slices.Sort(wl.hosts)
		wl.hosts = slices.Compact(wl.hosts)
		e.byRef[wl.ref] = i
		key := w.Namespace + "/" + w.Name
		e.byName[key] = append(e.byName[key], i)
		for _, ip := range wl.ips {
			if wl.hostNet {
				break // its node's addresses: outside, not the workload's
			}
			if owners := e.ipOwners[ip]; !slices.Contains(owners, i) {
				e.ipOwners[ip] = append(owners, i)
			}
		}
		var atoms []int
		for _, ip := range wl.ips {
			atoms = append(atoms, e.space.atom(ip))
		}
		slices.Sort(atoms)
		atoms = slices.Compact(atoms)
		ports := containerPorts(w)
		psig := portSignature(ports)
		ck := fmt.Sprintf("%s\x00%s\x00%v\x00%s\x00%t", w.Namespace, labelsKey(w.Template.Labels), atoms, psig, wl.hostNet)
		c, ok := classOf[ck]
		if !ok {
			c = len(e.classes)
			classOf[ck] = c
			ps, ok := portSigs[psig]
			if !ok {
				ps = len(portSigs)
				portSigs[psig] = ps
			}
			ns := e.nsIndex[w.Namespace]
			e.classes = append(e.classes, &class{ns: ns, labels: w.Template.Labels, atoms: atoms, ports: ports, portSig: ps, hostNet: wl.hostNet})
			e.namespaces[ns].classes = append(e.namespaces[ns].classes, c)
		}
		wl.class = c
		e.classes[c].members = append(e.classes[c].members, i)
		e.workloads = append(e.workloads, wl)
	}
	e.hosts, e.hostsOf = hb.finish()
	e.compileOwn()

	// Which policies select which classes. Host-network workloads are
	// never selected: their traffic is the node's.
	for pi, p := range e.policies {
		ns, ok := e.nsIndex[p.ref.Namespace]
		if !ok {
			continue
		}
		for _, c := range e.namespaces[ns].classes {
			cl := e.classes[c]
			if cl.hostNet || !p.denyAll && !p.src.PodSelector.Matches(cl.labels) {
				continue
			}
			if p.ingress {
				cl.selectedBy[dirIngress] = append(cl.selectedBy[dirIngress], pi)
			}
			if p.egress {
				cl.selectedBy[dirEgress] = append(cl.selectedBy[dirEgress], pi)
			}
		}
	}
	if err := e.compilePeers(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// podIPs returns the distinct IPs the running pods of a workload hold for
// traffic, sorted: the rule of flows.PodAddrs, so that an address the
// engine gives a workload is one flows attribute to it. A pod of the host
// network holds none (its IPs are its node's; see hostIPs), nor does a
// finished pod.
func podIPs(pods []*model.Workload) []netip.Addr {
	var out []netip.Addr
	for _, p := range pods {
		if !running(p) || p.Template.HostNetwork {
			continue
		}
		out = appendAddrs(out, append([]string{p.Status.PodIP}, p.Status.PodIPs...)...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// hostIPs returns the distinct addresses of the nodes the running pods of
// a host-network workload run on, sorted: their host IP and pod IPs,
// which for such a pod are the node's.
func hostIPs(pods []*model.Workload) []netip.Addr {
	var out []netip.Addr
	for _, p := range pods {
		if !running(p) {
			continue
		}
		out = appendAddrs(out, append([]string{p.Status.HostIP, p.Status.PodIP}, p.Status.PodIPs...)...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// running reports whether a pod has a status and has not finished.
func running(p *model.Workload) bool {
	return p.Status != nil && p.Status.Phase != "Succeeded" && p.Status.Phase != "Failed"
}

// appendAddrs appends the addresses of ss that parse, unmapped.
func appendAddrs(out []netip.Addr, ss ...string) []netip.Addr {
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap().WithZone(""))
		}
	}
	return out
}

// containerPorts returns the ports of the regular and init containers
// (sidecars are init containers that serve); ephemeral containers
// declare none.
func containerPorts(w *model.Workload) []model.ContainerPort {
	var out []model.ContainerPort
	for _, c := range w.Template.Containers {
		if c.Type == model.ContainerEphemeral {
			continue
		}
		for _, p := range c.Ports {
			p.Protocol, _ = NormalizeProtocol(p.Protocol)
			p.HostPort, p.HostIP = 0, ""
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// portSignature keys what named ports resolve to.
func portSignature(ports []model.ContainerPort) string {
	var parts []string
	for _, p := range ports {
		if p.Name != "" {
			parts = append(parts, fmt.Sprintf("%s/%s=%d", p.Name, p.Protocol, p.ContainerPort))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func labelsKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "%q=%q,", k, labels[k])
	}
	return b.String()
}

// Cluster returns the cluster the engine analyses.
func (e *Engine) Cluster() string { return e.cluster }

// Problems returns what the engine could not read in the policies, sorted
// by policy.
func (e *Engine) Problems() []Problem { return slices.Clone(e.problems) }

// Policies returns the references of the policies the engine evaluates.
func (e *Engine) Policies() []PolicyRef {
	out := make([]PolicyRef, len(e.policies))
	for i, p := range e.policies {
		out[i] = p.ref
	}
	return out
}

// Workloads returns the workloads of the cluster, sorted by reference.
func (e *Engine) Workloads() []model.WorkloadRef {
	out := make([]model.WorkloadRef, len(e.workloads))
	for i, w := range e.workloads {
		out[i] = w.ref
	}
	return out
}

// Isolation says which policies select a workload for each direction; a
// direction with none is not isolated (everything is allowed).
type Isolation struct {
	Workload model.WorkloadRef `json:"workload"`
	Ingress  []PolicyRef       `json:"ingress"`
	Egress   []PolicyRef       `json:"egress"`
	// HostNetwork is set when the workload's pods run in the host
	// network: no policy selects them, whatever their labels, and their
	// traffic is their node's.
	HostNetwork bool `json:"hostNetwork,omitempty"`
}

// Isolation returns the policies selecting ref.
func (e *Engine) Isolation(ref model.WorkloadRef) (Isolation, error) {
	i, ok := e.byRef[ref]
	if !ok {
		return Isolation{}, fmt.Errorf("%w: %s", ErrUnknownWorkload, ref)
	}
	cl := e.classes[e.workloads[i].class]
	return Isolation{Workload: ref, Ingress: e.refs(cl.selectedBy[dirIngress]), Egress: e.refs(cl.selectedBy[dirEgress]), HostNetwork: cl.hostNet}, nil
}

func (e *Engine) refs(pols []int) []PolicyRef {
	out := make([]PolicyRef, 0, len(pols))
	for _, p := range pols {
		out = append(out, e.policies[p].ref)
	}
	return out
}

// Outside returns the regions the policies' ipBlocks cut the outside
// address space into; the first is "anywhere else".
func (e *Engine) Outside() []Outside {
	var out []Outside
	for i, a := range e.space.atoms {
		if i == 0 && e.space.rootEmpty {
			continue
		}
		out = append(out, a.outside())
	}
	return out
}

// FindWorkload returns the workload named "NAMESPACE/NAME" or
// "NAMESPACE/KIND/NAME" (kind case-insensitive).
func (e *Engine) FindWorkload(s string) (model.WorkloadRef, error) {
	parts := strings.Split(s, "/")
	var kind string
	switch len(parts) {
	case 2:
	case 3:
		kind = parts[1]
		parts = []string{parts[0], parts[2]}
	default:
		return model.WorkloadRef{}, fmt.Errorf("%q: want NAMESPACE/NAME or NAMESPACE/KIND/NAME", s)
	}
	var found []model.WorkloadRef
	for _, i := range e.byName[parts[0]+"/"+parts[1]] {
		if ref := e.workloads[i].ref; kind == "" || strings.EqualFold(string(ref.Kind), kind) {
			found = append(found, ref)
		}
	}
	switch len(found) {
	case 0:
		return model.WorkloadRef{}, fmt.Errorf("%w %q in cluster %s", ErrUnknownWorkload, s, e.cluster)
	case 1:
		return found[0], nil
	}
	var kinds []string
	for _, r := range found {
		kinds = append(kinds, parts[0]+"/"+string(r.Kind)+"/"+parts[1])
	}
	return model.WorkloadRef{}, fmt.Errorf("%w %q: %s", ErrAmbiguous, s, strings.Join(kinds, ", "))
}

// ParseEndpoint reads an end of a connection as the command line gives
// it: a workload ("NAMESPACE/NAME" or "NAMESPACE/KIND/NAME"), an IP
// address or a CIDR. An address that a pod of the cluster holds is that
// pod's workload (see EndpointFor); other addresses, node addresses among
// them, and CIDRs are outside.
func (e *Engine) ParseEndpoint(s string) (Endpoint, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return e.EndpointFor(a), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return AddressEndpoint(p), nil
	}
	ref, err := e.FindWorkload(s)
	if err != nil {
		return Endpoint{}, err
	}
	return WorkloadEndpoint(ref), nil
}

// EndpointFor returns the workload whose running pod holds address a
// (the first by reference when stale pods of several hold it), or a as an
// outside address. Pods of the host network hold no address of their own:
// a node's address is outside, even when host-network pods report it
// (the rule of flows.PodAddrs).
func (e *Engine) EndpointFor(a netip.Addr) Endpoint {
	a = a.Unmap().WithZone("")
	if owners := e.ipOwners[a]; len(owners) > 0 {
		return WorkloadEndpoint(e.workloads[owners[0]].ref)
	}
	return AddressEndpoint(netip.PrefixFrom(a, a.BitLen()))
}

// NamedPort resolves a container port name of the destination workload
// to its number.
func (e *Engine) NamedPort(to Endpoint, name, protocol string) (int32, error) {
	if to.Workload == nil {
		return 0, fmt.Errorf("port %q: an outside address has no named ports", name)
	}
	i, ok := e.byRef[*to.Workload]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrUnknownWorkload, to.Workload)
	}
	protocol, _ = NormalizeProtocol(protocol)
	for _, p := range e.classes[e.workloads[i].class].ports {
		if p.Name == name && p.Protocol == protocol {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("port %q: %s has no %s container port of that name", name, to.Workload, protocol)
}
