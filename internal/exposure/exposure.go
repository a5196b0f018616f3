// Package exposure answers question 7: which workloads can be reached from
// outside the cluster, and how? It follows Ingress rules, LoadBalancer,
// NodePort and externalIPs Services, hostPorts and hostNetwork to the
// workloads their selectors reach, and gives each workload a level.
package exposure

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// Levels of exposure, most exposed first.
const (
	LevelInternet = "internet"
	LevelNode     = "node"
)

func levelRank(l string) int {
	switch l {
	case LevelInternet:
		return 2
	case LevelNode:
		return 1
	}
	return 0
}

// Path kinds in Via.
const (
	ViaService     = "Service"
	ViaIngress     = "Ingress"
	ViaHostPort    = "hostPort"
	ViaHostNetwork = "hostNetwork"
)

// Via is one way a workload is exposed.
type Via struct {
	// Kind is Service, Ingress, hostPort or hostNetwork.
	Kind string `json:"kind"`
	// Name is the Service or Ingress name, or the container name.
	Name string `json:"name"`
	// Type is the Service type (LoadBalancer, NodePort, ClusterIP with
	// externalIPs) or, for an Ingress, its class.
	Type  string   `json:"type,omitempty"`
	Ports []string `json:"ports,omitempty"`
	// Hosts are Ingress hosts with paths ("shop.example.com/api"), external
	// IPs or load-balancer addresses.
	Hosts  []string `json:"hosts,omitempty"`
	Level  string   `json:"level"`
	Detail string   `json:"detail"`
}

// Item is one exposed workload.
type Item struct {
	Workload model.WorkloadRef `json:"workload"`
	Level    string            `json:"level"`
	Via      []Via             `json:"via"`
}

// Unmatched is an exposing Service or Ingress backend that reaches no
// workload.
type Unmatched struct {
	Cluster   string `json:"cluster"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Type is the exposing Service type, or the Ingress class.
	Type string `json:"type,omitempty"`
	// Hosts are the Ingress hosts and paths routed to nothing.
	Hosts []string `json:"hosts,omitempty"`
	// Backend is the Service an Ingress routes to.
	Backend string `json:"backend,omitempty"`
	Detail  string `json:"detail"`
}

// Result is the answer: exposed workloads, and what exposes nothing.
type Result struct {
	Items     []Item      `json:"items"`
	Unmatched []Unmatched `json:"unmatched"`
}

// internalLBAnnotations mark a LoadBalancer as reachable only from the
// cloud network around the cluster.
var internalLBAnnotations = map[string]string{
	"service.beta.kubernetes.io/aws-load-balancer-internal":          "",
	"service.beta.kubernetes.io/aws-load-balancer-scheme":            "internal",
	"service.beta.kubernetes.io/azure-load-balancer-internal":        "true",
	"networking.gke.io/load-balancer-type":                           "Internal",
	"cloud.google.com/load-balancer-type":                            "Internal",
	"service.beta.kubernetes.io/openstack-internal-load-balancer":    "true",
	"service.beta.kubernetes.io/oci-load-balancer-internal":          "true",
	"service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type": "private",
}

func internalLB(s *model.Service) bool {
	for k, want := range internalLBAnnotations {
		v, ok := s.Annotations[k]
		if !ok {
			continue
		}
		if want == "" && v != "false" || strings.EqualFold(v, want) {
			return true
		}
	}
	return false
}

// Answer computes the exposure of every workload in the index.
func Answer(ix *inventory.Index) Result {
	return AnswerWhere(ix, nil)
}

// AnswerWhere computes the exposure of the workloads of the namespaces
// keep accepts, and lists what exposes nothing there; a nil keep accepts
// every namespace. The result is Answer's less what is outside those
// namespaces. Services and Ingresses reach only workloads of their own
// namespace, so those of other namespaces are not even looked at.
func AnswerWhere(ix *inventory.Index, keep func(cluster, namespace string) bool) Result {
	if keep == nil {
		keep = func(string, string) bool { return true }
	}
	acc := map[model.WorkloadRef]*Item{}
	var res Result
	add := func(w *model.Workload, v Via) {
		ref := w.Ref()
		it := acc[ref]
		if it == nil {
			it = &Item{Workload: ref}
			acc[ref] = it
		}
		it.Via = append(it.Via, v)
		if levelRank(v.Level) > levelRank(it.Level) {
			it.Level = v.Level
		}
	}
	sel := newSelection(ix)
	snap := ix.Snapshot()
	for _, s := range snap.Services {
		if !keep(s.Cluster, s.Namespace) {
			continue
		}
		vias := serviceVias(s)
		if len(vias) == 0 {
			continue
		}
		targets := sel.selected(s.Cluster, s.Namespace, s.Selector)
		if len(targets) == 0 {
			detail := "selector matches no workload"
			if len(s.Selector) == 0 {
				detail = "no selector: endpoints are managed outside Kubernetes"
			}
			res.Unmatched = append(res.Unmatched, Unmatched{Cluster: s.Cluster, Kind: ViaService, Namespace: s.Namespace, Name: s.Name, Type: vias[0].Type,
				Detail: vias[0].Type + " Service exposes nothing in the inventory: " + detail})
			continue
		}
		for _, w := range targets {
			for _, v := range vias {
				add(w, v)
			}
		}
	}
	for _, in := range snap.Ingresses {
		if !keep(in.Cluster, in.Namespace) {
			continue
		}
		for _, r := range ingressRoutes(in) {
			s := ix.Service(in.Cluster, in.Namespace, r.service)
			var targets []*model.Workload
			if s != nil {
				targets = sel.selected(s.Cluster, s.Namespace, s.Selector)
			}
			if len(targets) == 0 {
				why := "its selector matches no workload"
				if s == nil {
					why = "the Service does not exist"
				}
				res.Unmatched = append(res.Unmatched, Unmatched{Cluster: in.Cluster, Kind: ViaIngress, Namespace: in.Namespace, Name: in.Name,
					Type: in.ClassName, Hosts: r.hosts, Backend: r.service,
					Detail: "routes " + strings.Join(r.hosts, ", ") + " to Service " + r.service + ", but " + why})
				continue
			}
			v := Via{Kind: ViaIngress, Name: in.Name, Type: in.ClassName, Hosts: r.hosts, Level: LevelInternet,
				Detail: "Ingress routes " + strings.Join(r.hosts, ", ") + " to Service " + r.service}
			if r.port != "" {
				v.Ports = []string{r.port}
			}
			for _, w := range targets {
				add(w, v)
			}
		}
	}
	ws := ix.Workloads()
	for _, w := range ws {
		if !keep(w.Cluster, w.Namespace) {
			continue
		}
		for _, v := range hostVias(w) {
			add(w, v)
		}
	}
	if len(acc) > 0 {
		res.Items = make([]Item, 0, len(acc))
	}
	for _, w := range ws {
		if !keep(w.Cluster, w.Namespace) {
			continue
		}
		if it := acc[w.Ref()]; it != nil {
			if len(it.Via) > 1 {
				slices.SortStableFunc(it.Via, func(a, b Via) int {
					return strings.Compare(a.Kind+"\x00"+a.Name+"\x00"+a.Type, b.Kind+"\x00"+b.Name+"\x00"+b.Type)
				})
			}
			res.Items = append(res.Items, *it)
		}
	}
	// Sorted on a key computed once per entry; stable, so that entries
	// with the same key (routes of one Ingress) keep their order whatever
	// else is in the list.
	keys := make([]string, len(res.Unmatched))
	for i, u := range res.Unmatched {
		keys[i] = u.Cluster + "/" + u.Namespace + "/" + u.Kind + "/" + u.Name
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	sorted := make([]Unmatched, len(order))
	for i, j := range order {
		sorted[i] = res.Unmatched[j]
	}
	if len(sorted) > 0 {
		res.Unmatched = sorted
	}
	return res
}

// selection answers inventory.Index.Selected, the same workloads in the
// same order, from an index of pod template labels built for each
// namespace the first time it is asked about. Selected compares a
// selector with every workload of the namespace; here it costs about the
// workloads that carry the selector's rarest label. Only labels whose key
// some Service selects on are indexed.
type selection struct {
	ix    *inventory.Index
	keys  []string
	pairs map[labelPair][]*model.Workload
	done  map[[2]string]bool
}

type labelPair struct{ cluster, namespace, key, value string }

func newSelection(ix *inventory.Index) *selection {
	s := &selection{ix: ix, pairs: map[labelPair][]*model.Workload{}, done: map[[2]string]bool{}}
	seen := map[string]bool{}
	for _, svc := range ix.Snapshot().Services {
		for k := range svc.Selector {
			if !seen[k] {
				seen[k] = true
				s.keys = append(s.keys, k)
			}
		}
	}
	return s
}

func (s *selection) selected(cluster, namespace string, selector map[string]string) []*model.Workload {
	if len(selector) == 0 {
		return nil
	}
	if ns := [2]string{cluster, namespace}; !s.done[ns] {
		s.done[ns] = true
		for _, w := range s.ix.WorkloadsInNamespace(cluster, namespace) {
			for _, k := range s.keys {
				if v, ok := w.Template.Labels[k]; ok {
					p := labelPair{cluster, namespace, k, v}
					s.pairs[p] = append(s.pairs[p], w)
				}
			}
		}
	}
	// Every match carries every pair of the selector: check the
	// workloads of the rarest pair against the rest. The lists are in
	// index order, and so is the result.
	var candidates []*model.Workload
	first := true
	for k, v := range selector {
		ws := s.pairs[labelPair{cluster, namespace, k, v}]
		if len(ws) == 0 {
			return nil
		}
		if first || len(ws) < len(candidates) {
			candidates, first = ws, false
		}
	}
	var out []*model.Workload
	for _, w := range candidates {
		if model.MatchesMap(selector, w.Template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

func serviceVias(s *model.Service) []Via {
	var out []Via
	ports := func(withNode bool) []string {
		var ps []string
		for _, p := range s.Ports {
			x := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
			if withNode && p.NodePort != 0 {
				x = fmt.Sprintf("%d/%s (node port %d)", p.Port, p.Protocol, p.NodePort)
			}
			ps = append(ps, x)
		}
		return ps
	}
	switch s.Type {
	case "LoadBalancer":
		v := Via{Kind: ViaService, Name: s.Name, Type: s.Type, Ports: ports(false), Hosts: s.LoadBalancerIngress, Level: LevelInternet,
			Detail: "LoadBalancer Service: reachable from outside the cluster"}
		if internalLB(s) {
			v.Level = LevelNode
			v.Detail = "internal LoadBalancer Service: reachable from the network around the cluster"
		}
		if len(s.LoadBalancerSourceRanges) > 0 {
			v.Detail += "; source ranges " + strings.Join(s.LoadBalancerSourceRanges, ", ")
		}
		out = append(out, v)
		if np := nodePorts(s); len(np) > 0 {
			out = append(out, Via{Kind: ViaService, Name: s.Name, Type: "NodePort", Ports: np, Level: LevelNode,
				Detail: "LoadBalancer Service also opens node ports on every node"})
		}
	case "NodePort":
		out = append(out, Via{Kind: ViaService, Name: s.Name, Type: s.Type, Ports: ports(true), Level: LevelNode,
			Detail: "NodePort Service: reachable on every node's address"})
	}
	if len(s.ExternalIPs) > 0 {
		out = append(out, Via{Kind: ViaService, Name: s.Name, Type: "externalIPs", Ports: ports(false), Hosts: s.ExternalIPs, Level: LevelInternet,
			Detail: "Service with externalIPs: traffic to those addresses reaches it"})
	}
	return out
}

func nodePorts(s *model.Service) []string {
	var out []string
	for _, p := range s.Ports {
		if p.NodePort != 0 {
			out = append(out, fmt.Sprintf("%d/%s", p.NodePort, p.Protocol))
		}
	}
	return out
}

type route struct {
	service string
	port    string
	hosts   []string
}

// ingressRoutes groups an Ingress's rules by backend Service.
func ingressRoutes(in *model.Ingress) []route {
	var out []route
	addRoute := func(b model.IngressBackend, host string) {
		if b.Service == "" {
			return
		}
		for i := range out {
			if out[i].service == b.Service && out[i].port == b.Port {
				if !slices.Contains(out[i].hosts, host) {
					out[i].hosts = append(out[i].hosts, host)
				}
				return
			}
		}
		out = append(out, route{service: b.Service, port: b.Port, hosts: []string{host}})
	}
	if in.DefaultBackend != nil {
		addRoute(*in.DefaultBackend, "* (default backend)")
	}
	for _, r := range in.Rules {
		host := r.Host
		if host == "" {
			host = "*"
		}
		for _, p := range r.Paths {
			path := p.Path
			if path == "" {
				path = "/"
			}
			addRoute(p.Backend, host+path)
		}
	}
	return out
}

func hostVias(w *model.Workload) []Via {
	var out []Via
	t := &w.Template
	for _, c := range t.Containers {
		var ports []string
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				ports = append(ports, fmt.Sprintf("%d/%s", p.HostPort, p.Protocol))
			}
		}
		if len(ports) > 0 && !t.HostNetwork {
			out = append(out, Via{Kind: ViaHostPort, Name: c.Name, Ports: ports, Level: LevelNode,
				Detail: "hostPort: reachable on the node's address"})
		}
	}
	if t.HostNetwork {
		var ports []string
		for _, c := range t.Containers {
			for _, p := range c.Ports {
				port := p.ContainerPort
				if p.HostPort != 0 {
					port = p.HostPort
				}
				ports = append(ports, strconv.Itoa(int(port))+"/"+p.Protocol)
			}
		}
		v := Via{Kind: ViaHostNetwork, Name: w.Name, Ports: ports, Level: LevelNode,
			Detail: "hostNetwork: listening ports are open on the node's addresses"}
		if len(ports) == 0 {
			v.Detail = "hostNetwork: any port it listens on is open on the node's addresses (no ports declared)"
		}
		out = append(out, v)
	}
	return out
}
