package netpaths

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

// Partial is the comparison without any path, for a cluster with too many
// workloads to compare at once (the time of Analyze grows with the square
// of the workloads; internal/answer's last-resort bound): it lists
// the workloads no policy selects and the used flows the policies deny,
// asking the engine about each flow record, but compares no paths. The
// result has Partial set, no items and no path counts; its unprotected
// workloads have no path counts, and its denied flows no Allowed.
// Options.Keep chooses the workloads as for Analyze.
func Partial(ctx context.Context, ix *inventory.Index, e *netpol.Engine, opts Options) (*Result, error) {
	res := &Result{Cluster: e.Cluster(), Usage: UsageOf(ix.Flows()), Problems: e.Problems(), Partial: true}
	keep := func(r model.WorkloadRef) bool { return opts.Keep == nil || opts.Keep(r) }
	maxDeny := cmp.Or(opts.MaxDenied, DefaultMaxDenied)
	deniedBy := map[model.WorkloadRef]int{}
	for i, ref := range e.Workloads() {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if !keep(ref) {
			continue
		}
		if iso, err := e.Isolation(ref); err == nil && len(iso.Ingress) == 0 && len(iso.Egress) == 0 {
			res.Unprotected = append(res.Unprotected, Unprotected{Workload: ref, HostNetwork: iso.HostNetwork})
		}
	}
	fs := ix.Flows()
	if fs == nil {
		return res, nil
	}
	cluster := e.Cluster()
	endpoint := func(ep flows.Endpoint) (netpol.Endpoint, bool) {
		if ep.Workload != nil {
			ref := *ep.Workload
			if ref.Cluster == "" {
				ref.Cluster = cluster
			}
			_, err := e.Isolation(ref)
			return netpol.WorkloadEndpoint(ref), err == nil
		}
		if !ep.Addr.IsValid() {
			return netpol.Endpoint{}, false
		}
		return e.EndpointFor(ep.Addr), true
	}
	kept := func(ep netpol.Endpoint) bool { return ep.Workload != nil && keep(*ep.Workload) }
	var denied []Denied
	for i := range fs.Records {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		r := &fs.Records[i]
		if r.Cluster != cluster && r.Cluster != "" {
			continue
		}
		res.Usage.Records++
		from, okf := endpoint(r.From)
		to, okt := endpoint(r.To)
		if !okf || !okt {
			if (r.From.Workload != nil && !okf) || (r.To.Workload != nil && !okt) {
				res.Usage.Unmatched++
			}
			continue
		}
		if !kept(from) && !kept(to) {
			continue
		}
		v, err := e.Query(netpol.Connection{From: from, To: to, Port: int32(r.Port), Protocol: r.Protocol})
		if err != nil || v.Allowed {
			continue // two outside ends, or allowed
		}
		d := Denied{Cluster: cluster, From: r.From, To: r.To, Port: r.Port, Protocol: r.Protocol, Count: r.Count,
			FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, DeniedBy: []string{}, Reasons: []string{}}
		for _, s := range []netpol.Side{v.Egress, v.Ingress} {
			if !s.Allowed {
				d.DeniedBy = append(d.DeniedBy, strings.ToLower(s.Direction))
				d.Policies = append(d.Policies, s.Policies...)
				d.Reasons = append(d.Reasons, s.Reason)
			}
		}
		for _, ep := range []netpol.Endpoint{from, to} {
			if ep.Workload != nil {
				deniedBy[*ep.Workload]++
			}
		}
		denied = append(denied, d)
	}
	for i := range res.Unprotected {
		res.Unprotected[i].DeniedFlows = deniedBy[res.Unprotected[i].Workload]
	}
	res.DeniedTotal = len(denied)
	// Records come sorted by path; keep that order among equal counts.
	slices.SortStableFunc(denied, func(x, y Denied) int { return cmp.Compare(y.Count, x.Count) })
	if len(denied) > maxDeny {
		denied = denied[:maxDeny]
	}
	res.Denied = denied
	return res, nil
}
