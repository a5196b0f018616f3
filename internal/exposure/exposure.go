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
	acc := map[model.WorkloadRef]*Item{}
	var res Result
	add := func(w *model.Workload, v Via) {
		it := acc[w.Ref()]
		if it == nil {
			it = &Item{Workload: w.Ref()}
			acc[w.Ref()] = it
		}
		it.Via = append(it.Via, v)
		if levelRank(v.Level) > levelRank(it.Level) {
			it.Level = v.Level
		}
	}
	snap := ix.Snapshot()
	for _, s := range snap.Services {
		vias := serviceVias(s)
		if len(vias) == 0 {
			continue
		}
		targets := ix.Selected(s.Cluster, s.Namespace, s.Selector)
		if len(targets) == 0 {
			detail := "selector matches no workload"
			if len(s.Selector) == 0 {
				detail = "no selector: endpoints are managed outside Kubernetes"
			}
			res.Unmatched = append(res.Unmatched, Unmatched{Cluster: s.Cluster, Kind: ViaService, Namespace: s.Namespace, Name: s.Name, Type: vias[0].Type,
				Detail: fmt.Sprintf("%s Service exposes nothing in the inventory: %s", vias[0].Type, detail)})
			continue
		}
		for _, w := range targets {
			for _, v := range vias {
				add(w, v)
			}
		}
	}
	for _, in := range snap.Ingresses {
		for _, r := range ingressRoutes(in) {
			s := ix.Service(in.Cluster, in.Namespace, r.service)
			var targets []*model.Workload
			if s != nil {
				targets = ix.Selected(s.Cluster, s.Namespace, s.Selector)
			}
			if len(targets) == 0 {
				why := "its selector matches no workload"
				if s == nil {
					why = "the Service does not exist"
				}
				res.Unmatched = append(res.Unmatched, Unmatched{Cluster: in.Cluster, Kind: ViaIngress, Namespace: in.Namespace, Name: in.Name,
					Type: in.ClassName, Hosts: r.hosts, Backend: r.service,
					Detail: fmt.Sprintf("routes %s to Service %s, but %s", strings.Join(r.hosts, ", "), r.service, why)})
				continue
			}
			v := Via{Kind: ViaIngress, Name: in.Name, Type: in.ClassName, Hosts: r.hosts, Level: LevelInternet,
				Detail: fmt.Sprintf("Ingress routes %s to Service %s", strings.Join(r.hosts, ", "), r.service)}
			if r.port != "" {
				v.Ports = []string{r.port}
			}
			for _, w := range targets {
				add(w, v)
			}
		}
	}
	for _, w := range ix.Workloads() {
		for _, v := range hostVias(w) {
			add(w, v)
		}
	}
	for _, w := range ix.Workloads() {
		if it := acc[w.Ref()]; it != nil {
			slices.SortStableFunc(it.Via, func(a, b Via) int {
				return strings.Compare(a.Kind+"\x00"+a.Name+"\x00"+a.Type, b.Kind+"\x00"+b.Name+"\x00"+b.Type)
			})
			res.Items = append(res.Items, *it)
		}
	}
	slices.SortFunc(res.Unmatched, func(a, b Unmatched) int {
		return strings.Compare(a.Cluster+"/"+a.Namespace+"/"+a.Kind+"/"+a.Name, b.Cluster+"/"+b.Namespace+"/"+b.Kind+"/"+b.Name)
	})
	return res
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
