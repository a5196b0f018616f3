// Package inventory indexes a snapshot of the inventory model for the
// analyses: it rolls pods and controlled objects up to their top-level
// workload, groups objects by namespace, and resolves Service selectors. An
// Index is immutable once built and safe for concurrent readers.
package inventory

import (
	"cmp"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
)

// Index is a read-only view of one snapshot.
type Index struct {
	snap *model.Snapshot
	// top-level workloads, sorted by reference
	workloads  []*model.Workload
	all        map[model.Key]*model.Workload
	pods       map[model.WorkloadRef][]*model.Workload
	byNS       map[nsKey][]*model.Workload
	namespaces map[nsKey]*model.Namespace
	services   map[model.Key]*model.Service
	clusters   []string
	// images is what scanning found, nil when nothing is known.
	images *imagescan.View
	// activity is what node agents observed, nil when nothing is.
	activity *observation.View
	flows    *flows.Set
}

type nsKey struct{ cluster, namespace string }

// New indexes snap. snap must not be modified afterwards.
func New(snap *model.Snapshot) *Index {
	ix := &Index{
		snap:       snap,
		all:        make(map[model.Key]*model.Workload, len(snap.Workloads)),
		pods:       map[model.WorkloadRef][]*model.Workload{},
		byNS:       map[nsKey][]*model.Workload{},
		namespaces: make(map[nsKey]*model.Namespace, len(snap.Namespaces)),
		services:   make(map[model.Key]*model.Service, len(snap.Services)),
	}
	for _, w := range snap.Workloads {
		ix.all[w.ObjectKey()] = w
	}
	for _, n := range snap.Namespaces {
		ix.namespaces[nsKey{n.Cluster, n.Name}] = n
	}
	for _, s := range snap.Services {
		ix.services[s.ObjectKey()] = s
	}
	synthetic := map[model.Key]*model.Workload{}
	for _, w := range snap.Workloads {
		if w.Owner == nil {
			if w.Kind == model.KindPod {
				ix.pods[w.Ref()] = append(ix.pods[w.Ref()], w)
			}
			ix.workloads = append(ix.workloads, w)
			continue
		}
		top := ix.resolve(w)
		if top == nil {
			// The owner is not in the inventory (offline input with pods
			// only, or an owner kind Palisade does not model): the pod's
			// own spec stands in for it, once per owner.
			k := model.Key{Cluster: w.Cluster, Kind: model.Kind(w.Owner.Kind), Namespace: w.Namespace, Name: w.Owner.Name}
			if !model.IsWorkloadKind(k.Kind) {
				k.Kind = w.Kind
				k.Name = w.Name
			}
			top = synthetic[k]
			if top == nil {
				top = &model.Workload{Meta: w.Meta, Kind: k.Kind, Template: w.Template}
				top.Name = k.Name
				top.Status = nil
				synthetic[k] = top
				ix.workloads = append(ix.workloads, top)
			}
		}
		if w.Kind == model.KindPod {
			ix.pods[top.Ref()] = append(ix.pods[top.Ref()], w)
		}
	}
	slices.SortFunc(ix.workloads, func(a, b *model.Workload) int { return CompareRefs(a.Ref(), b.Ref()) })
	for _, o := range snap.Objects() {
		if c := o.ObjectKey().Cluster; !slices.Contains(ix.clusters, c) {
			ix.clusters = append(ix.clusters, c)
		}
	}
	slices.Sort(ix.clusters)
	for _, w := range ix.workloads {
		k := nsKey{w.Cluster, w.Namespace}
		ix.byNS[k] = append(ix.byNS[k], w)
	}
	return ix
}

// resolve follows controller owners from w to the top-level workload that
// exists in the inventory, or returns nil when w's direct owner is unknown.
func (ix *Index) resolve(w *model.Workload) *model.Workload {
	var top *model.Workload
	cur := w
	for depth := 0; cur.Owner != nil && depth < 8; depth++ {
		next := ix.owner(cur)
		if next == nil {
			break
		}
		top, cur = next, next
	}
	return top
}

func (ix *Index) owner(w *model.Workload) *model.Workload {
	k := model.Key{Cluster: w.Cluster, Kind: model.Kind(w.Owner.Kind), Namespace: w.Namespace, Name: w.Owner.Name}
	if o := ix.all[k]; o != nil {
		return o
	}
	// A pod of a Deployment whose ReplicaSet is not in the input: the
	// ReplicaSet is named <deployment>-<pod-template-hash>.
	if k.Kind == model.KindReplicaSet {
		if h := w.Template.Labels["pod-template-hash"]; h != "" {
			if name, ok := strings.CutSuffix(k.Name, "-"+h); ok {
				k.Kind, k.Name = model.KindDeployment, name
				return ix.all[k]
			}
		}
	}
	return nil
}

// CompareRefs orders workload references by cluster, namespace, kind, name.
func CompareRefs(a, b model.WorkloadRef) int {
	return cmp.Or(
		strings.Compare(a.Cluster, b.Cluster),
		strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(string(a.Kind), string(b.Kind)),
		strings.Compare(a.Name, b.Name),
	)
}

// WithImages returns a copy of ix that carries the scan results v. The
// copy shares everything else with ix, so it costs nothing to make.
func (ix *Index) WithImages(v *imagescan.View) *Index {
	c := *ix
	c.images = v
	return &c
}

// WithActivity returns a copy of ix that carries the agents'
// observations v; like WithImages it shares everything else.
func (ix *Index) WithActivity(v *observation.View) *Index {
	c := *ix
	c.activity = v
	return &c
}

// Activity returns the agents' observations the index carries, nil when
// none.
func (ix *Index) Activity() *observation.View { return ix.activity }

// WithFlows returns a copy of ix that carries the traffic known to have
// been used (observed by agents or imported); like WithImages it shares
// everything else.
func (ix *Index) WithFlows(f *flows.Set) *Index {
	c := *ix
	c.flows = f
	return &c
}

// Flows returns the used traffic the index carries, nil when none is
// known (no agent, no flow log).
func (ix *Index) Flows() *flows.Set { return ix.flows }

// Images returns the scan results the index carries; nil (a view that
// knows no image) when there are none.
func (ix *Index) Images() *imagescan.View { return ix.images }

// Snapshot returns the indexed snapshot.
func (ix *Index) Snapshot() *model.Snapshot { return ix.snap }

// Clusters returns the clusters that have objects in the index, sorted.
func (ix *Index) Clusters() []string { return ix.clusters }

// Workloads returns the top-level workloads, sorted by reference.
func (ix *Index) Workloads() []*model.Workload { return ix.workloads }

// Workload returns the top-level workload ref names, or nil.
func (ix *Index) Workload(ref model.WorkloadRef) *model.Workload {
	i, ok := slices.BinarySearchFunc(ix.workloads, ref, func(w *model.Workload, r model.WorkloadRef) int { return CompareRefs(w.Ref(), r) })
	if !ok {
		return nil
	}
	return ix.workloads[i]
}

// Pods returns the pods that roll up to the workload ref.
func (ix *Index) Pods(ref model.WorkloadRef) []*model.Workload { return ix.pods[ref] }

// Namespace returns a namespace, or nil when it is not in the inventory.
func (ix *Index) Namespace(cluster, name string) *model.Namespace {
	return ix.namespaces[nsKey{cluster, name}]
}

// Service returns a Service by namespace and name, or nil.
func (ix *Index) Service(cluster, namespace, name string) *model.Service {
	return ix.services[model.Key{Cluster: cluster, Kind: model.KindService, Namespace: namespace, Name: name}]
}

// WorkloadsInNamespace returns the top-level workloads of a namespace.
func (ix *Index) WorkloadsInNamespace(cluster, namespace string) []*model.Workload {
	return ix.byNS[nsKey{cluster, namespace}]
}

// Selected returns the top-level workloads of a namespace whose pod template
// labels match a Service-style selector (an empty selector matches nothing).
func (ix *Index) Selected(cluster, namespace string, selector map[string]string) []*model.Workload {
	if len(selector) == 0 {
		return nil
	}
	var out []*model.Workload
	for _, w := range ix.byNS[nsKey{cluster, namespace}] {
		if model.MatchesMap(selector, w.Template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// RunningDigests returns the distinct image digests that the pods of ref
// report for the container named name, sorted.
func (ix *Index) RunningDigests(ref model.WorkloadRef, container string) []string {
	var out []string
	for _, p := range ix.pods[ref] {
		if p.Status == nil {
			continue
		}
		for _, cs := range p.Status.Containers {
			if cs.Name == container && cs.Digest != "" && !slices.Contains(out, cs.Digest) {
				out = append(out, cs.Digest)
			}
		}
	}
	slices.Sort(out)
	return out
}
