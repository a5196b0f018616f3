package flows

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// Inventory is what resolution reads; *inventory.Index implements it.
type Inventory interface {
	// Workloads returns the top-level workloads.
	Workloads() []*model.Workload
	// Pods returns the pods that roll up to a top-level workload.
	Pods(ref model.WorkloadRef) []*model.Workload
	// Selected returns the top-level workloads a Service selector picks.
	Selected(cluster, namespace string, selector map[string]string) []*model.Workload
	// Snapshot returns the inventory's objects (for Services).
	Snapshot() *model.Snapshot
}

// PodAddrs returns the addresses a pod holds for traffic: its pod IPs,
// unmapped, while it runs in its own network namespace. A pod on the
// host's network shares the node's address, and a finished pod holds
// none: traffic from those addresses is not the pod's.
func PodAddrs(pod *model.Workload) []netip.Addr {
	if pod.Status == nil || pod.Template.HostNetwork {
		return nil
	}
	if ph := pod.Status.Phase; ph == "Succeeded" || ph == "Failed" {
		return nil
	}
	var out []netip.Addr
	for _, s := range append([]string{pod.Status.PodIP}, pod.Status.PodIPs...) {
		if a, err := netip.ParseAddr(s); err == nil && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

type clusterAddr struct {
	cluster string
	addr    netip.Addr
}

type nsName struct{ cluster, namespace, name string }

// maxResolveErrors bounds the errors a Resolver keeps.
const maxResolveErrors = 1000

// Resolver turns a flow log's flows into records: addresses become the
// workloads whose pods hold them, or outside endpoints; named workloads
// are looked up; a Service's ClusterIP becomes the workloads it selects,
// on the target port. It aggregates one record per path. It is not safe
// for concurrent use.
type Resolver struct {
	inv      Inventory
	cluster  string
	addrs    map[clusterAddr]model.WorkloadRef
	services map[clusterAddr]*model.Service
	names    map[nsName][]model.WorkloadRef
	pods     map[nsName]model.WorkloadRef
	agg      Aggregator
	since    time.Time
	until    time.Time

	// Errors are the flows skipped because a named workload is not in
	// the inventory (the first 1,000); Skipped counts all of them.
	Errors  []LineError
	Skipped int
	// Flows counts the flows added; Outside the ends that resolved to an
	// outside address.
	Flows, Outside int
}

// NewResolver indexes inv's pod addresses, names and Services. cluster is
// the cluster of flows that name none.
func NewResolver(inv Inventory, cluster string) *Resolver {
	r := &Resolver{
		inv:      inv,
		cluster:  cluster,
		addrs:    map[clusterAddr]model.WorkloadRef{},
		services: map[clusterAddr]*model.Service{},
		names:    map[nsName][]model.WorkloadRef{},
		pods:     map[nsName]model.WorkloadRef{},
	}
	for _, w := range inv.Workloads() {
		ref := w.Ref()
		k := nsName{w.Cluster, w.Namespace, w.Name}
		r.names[k] = append(r.names[k], ref)
		for _, p := range inv.Pods(ref) {
			r.pods[nsName{p.Cluster, p.Namespace, p.Name}] = ref
			for _, a := range PodAddrs(p) {
				r.addrs[clusterAddr{p.Cluster, a}] = ref
			}
		}
	}
	if snap := inv.Snapshot(); snap != nil {
		for _, s := range snap.Services {
			if a, err := netip.ParseAddr(s.ClusterIP); err == nil && len(s.Selector) > 0 {
				r.services[clusterAddr{s.Cluster, a.Unmap()}] = s
			}
		}
	}
	return r
}

// Add resolves one flow into the records. A flow naming a workload that
// is not in the inventory is skipped and recorded in Errors.
func (r *Resolver) Add(f LogFlow) {
	cluster := f.Cluster
	if cluster == "" {
		cluster = r.cluster
	}
	from, err := r.end(cluster, "src", f.Src, f.SrcWorkload)
	if err != nil {
		r.skip(f.Line, err)
		return
	}
	rec := Record{Cluster: cluster, From: from, Port: f.Port, Protocol: f.Protocol, FirstSeen: f.Start, LastSeen: f.End, Count: f.Count}
	var tos []Record
	if f.DstWorkload.IsZero() {
		tos = r.toAddr(rec, f.Dst)
	} else {
		if rec.To, err = r.end(cluster, "dst", f.Dst, f.DstWorkload); err != nil {
			r.skip(f.Line, err)
			return
		}
		tos = []Record{rec}
	}
	r.Flows++
	if from.External() {
		r.Outside++
	}
	for _, t := range tos {
		if t.To.External() {
			r.Outside++
		}
		r.agg.Add(t)
	}
	if r.since.IsZero() || f.Start.Before(r.since) {
		r.since = f.Start
	}
	if f.End.After(r.until) {
		r.until = f.End
	}
}

func (r *Resolver) skip(line int, err error) {
	r.Skipped++
	if len(r.Errors) < maxResolveErrors {
		r.Errors = append(r.Errors, LineError{Line: line, Message: err.Error()})
	}
}

// end resolves a source, or a destination named by workload.
func (r *Resolver) end(cluster, field string, a netip.Addr, n WorkloadName) (Endpoint, error) {
	if !n.IsZero() {
		ref, err := r.named(cluster, n)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%sWorkload %s", field, err)
		}
		return Endpoint{Workload: &ref}, nil
	}
	if ref, ok := r.addrs[clusterAddr{cluster, a}]; ok {
		return Endpoint{Workload: &ref}, nil
	}
	return Endpoint{Addr: a}, nil
}

// toAddr resolves a destination address: a pod's, a Service's ClusterIP
// (one record per workload the Service selects, on the target port), or
// an outside address.
func (r *Resolver) toAddr(rec Record, a netip.Addr) []Record {
	if ref, ok := r.addrs[clusterAddr{rec.Cluster, a}]; ok {
		rec.To = Endpoint{Workload: &ref}
		return []Record{rec}
	}
	if s := r.services[clusterAddr{rec.Cluster, a}]; s != nil {
		if out := r.viaService(rec, s); len(out) > 0 {
			return out
		}
	}
	rec.To = Endpoint{Addr: a}
	return []Record{rec}
}

func (r *Resolver) viaService(rec Record, s *model.Service) []Record {
	var sp *model.ServicePort
	for i := range s.Ports {
		p := &s.Ports[i]
		proto := p.Protocol
		if proto == "" {
			proto = TCP
		}
		if int(p.Port) == int(rec.Port) && strings.EqualFold(proto, rec.Protocol) {
			sp = p
		}
	}
	if sp == nil {
		return nil
	}
	var out []Record
	for _, w := range r.inv.Selected(s.Cluster, s.Namespace, s.Selector) {
		port, ok := targetPort(w, sp, rec.Protocol)
		if !ok {
			continue
		}
		ref := w.Ref()
		t := rec
		t.To, t.Port = Endpoint{Workload: &ref}, port
		out = append(out, t)
	}
	return out
}

// targetPort is the port of w a Service port sends to.
func targetPort(w *model.Workload, sp *model.ServicePort, proto string) (uint16, bool) {
	switch n, err := strconv.Atoi(sp.TargetPort); {
	case sp.TargetPort == "":
		return uint16(sp.Port), true
	case err == nil:
		return uint16(n), n > 0 && n < 65536
	}
	for _, c := range w.Template.Containers {
		for _, p := range c.Ports {
			pp := p.Protocol
			if pp == "" {
				pp = TCP
			}
			if p.Name == sp.TargetPort && strings.EqualFold(pp, proto) && p.ContainerPort > 0 && p.ContainerPort < 65536 {
				return uint16(p.ContainerPort), true
			}
		}
	}
	return 0, false
}

// named looks a workload name up: a top-level workload, or a pod (rolled
// up to its workload).
func (r *Resolver) named(cluster string, n WorkloadName) (model.WorkloadRef, error) {
	k := nsName{cluster, n.Namespace, n.Name}
	refs := r.names[k]
	if n.Kind != "" {
		for _, ref := range refs {
			if ref.Kind == n.Kind {
				return ref, nil
			}
		}
		if ref, ok := r.pods[k]; ok && n.Kind == model.KindPod {
			return ref, nil
		}
		return model.WorkloadRef{}, fmt.Errorf("%s: no such workload in cluster %q", n, cluster)
	}
	switch len(refs) {
	case 1:
		return refs[0], nil
	case 0:
		if ref, ok := r.pods[k]; ok {
			return ref, nil
		}
		return model.WorkloadRef{}, fmt.Errorf("%s: no such workload in cluster %q", n, cluster)
	}
	kinds := make([]string, len(refs))
	for i, ref := range refs {
		kinds[i] = string(ref.Kind)
	}
	return model.WorkloadRef{}, fmt.Errorf("%s names %d workloads (%s): write NAMESPACE/KIND/NAME", n, len(refs), strings.Join(kinds, ", "))
}

// Paths returns the number of paths of the flows added so far.
func (r *Resolver) Paths() int { return r.agg.Len() }

// Set returns the records of the flows added, one per path, sorted, with
// the window they span; the resolver must not be used afterwards.
func (r *Resolver) Set() *Set {
	return &Set{Since: r.since, Until: r.until, Records: r.agg.Records()}
}

// Resolve resolves a flow log's flows against inv (see Resolver); cluster
// is the cluster of flows that name none. It returns the records and the
// flows skipped because a workload they name is not in inv.
func Resolve(inv Inventory, cluster string, log []LogFlow) (*Set, []LineError) {
	r := NewResolver(inv, cluster)
	for _, f := range log {
		r.Add(f)
	}
	return r.Set(), r.Errors
}
