// Package ownership answers question 10: which team owns each running
// application? It resolves an owner through an ordered list of label and
// annotation keys on the workload, then on its namespace.
package ownership

import (
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// DefaultKeys is the resolution order used when none is configured.
var DefaultKeys = []string{"team", "owner", "app.kubernetes.io/team"}

// Item is the owner of one workload. Owner is nil when nobody owns it.
type Item struct {
	Workload model.WorkloadRef `json:"workload"`
	Owner    *string           `json:"owner"`
	// Source says which key answered, e.g. "workload label team" or
	// "namespace annotation owner"; empty when unowned.
	Source string `json:"source"`
}

// Resolver resolves owners with an ordered key list.
type Resolver struct {
	keys []string
}

// NewResolver returns a resolver over keys, or DefaultKeys when empty.
func NewResolver(keys []string) *Resolver {
	if len(keys) == 0 {
		keys = DefaultKeys
	}
	return &Resolver{keys: append([]string(nil), keys...)}
}

// Keys returns the resolution order.
func (r *Resolver) Keys() []string { return r.keys }

// Answer resolves the owner of every workload in the index.
func (r *Resolver) Answer(ix *inventory.Index) []Item {
	return r.AnswerWorkloads(ix, ix.Workloads())
}

// AnswerWorkloads resolves the owner of each workload of ws, top-level
// workloads of ix, in the order of ws.
func (r *Resolver) AnswerWorkloads(ix *inventory.Index, ws []*model.Workload) []Item {
	out := make([]Item, 0, len(ws))
	for _, w := range ws {
		out = append(out, r.Resolve(w, ix.Namespace(w.Cluster, w.Namespace)))
	}
	return out
}

// Resolve finds the owner of w. For each key in order, the workload's labels
// and annotations are tried, then its pod template's labels; only when no key
// answers on the workload is the namespace consulted, in the same order.
func (r *Resolver) Resolve(w *model.Workload, ns *model.Namespace) Item {
	it := Item{Workload: w.Ref()}
	for _, k := range r.keys {
		for _, c := range []struct {
			m    map[string]string
			what string
		}{
			{w.Labels, "workload label "},
			{w.Annotations, "workload annotation "},
			{w.Template.Labels, "pod template label "},
		} {
			if v := c.m[k]; v != "" {
				it.Owner, it.Source = &v, c.what+k
				return it
			}
		}
	}
	if ns == nil {
		return it
	}
	for _, k := range r.keys {
		if v := ns.Labels[k]; v != "" {
			it.Owner, it.Source = &v, "namespace label "+k
			return it
		}
		if v := ns.Annotations[k]; v != "" {
			it.Owner, it.Source = &v, "namespace annotation "+k
			return it
		}
	}
	return it
}
