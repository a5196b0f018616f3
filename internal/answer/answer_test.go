package answer

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/ownership"
	"github.com/palisade-project/palisade/internal/privilege"
	"github.com/palisade-project/palisade/internal/synth"
)

// twoClusters is a synthetic inventory of two clusters that share
// namespace names.
func twoClusters() *model.Snapshot {
	spec := synth.Spec{Workloads: 400, ContainersPerWorkload: 3, Services: 250, Ingresses: 120, NetworkPolicies: 20, Namespaces: 8, Seed: 5}
	snap := synth.Generate(spec)
	spec.Seed = 6
	for _, o := range synth.Generate(spec).Objects() {
		switch o := o.(type) {
		case *model.Workload:
			o.Cluster = "edge"
		case *model.Service:
			o.Cluster = "edge"
		case *model.Ingress:
			o.Cluster = "edge"
		case *model.NetworkPolicy:
			o.Cluster = "edge"
		case *model.Namespace:
			o.Cluster = "edge"
		case *model.Node:
			o.Cluster = "edge"
		}
		snap.Add(o)
	}
	return snap
}

// Filters are applied before the analyses run: the items of a filtered
// answer must be exactly those of the unfiltered answer that pass the
// filter, in the same order.
func TestFilteredAnswersAreFilteredAnswers(t *testing.T) {
	snap := twoClusters()
	ix := inventory.New(snap)
	e, err := NewEngine(Config{TrustedRegistries: []string{"ghcr.io/acme", "docker.io/library"}})
	if err != nil {
		t.Fatal(err)
	}
	filters := []Filter{{Cluster: "default"}, {Cluster: "edge"}, {Cluster: "nowhere"}, {Namespace: "nowhere"}}
	for _, n := range snap.Namespaces {
		filters = append(filters, Filter{Namespace: n.Name}, Filter{Cluster: n.Cluster, Namespace: n.Name})
	}
	all := map[string]any{}
	for _, q := range Questions {
		if all[q.Name], err = e.Ask(ix, q.Name, Filter{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range filters {
		checkFiltered(t, f, all[ImageSources].(*Answer[imagetrust.Item]), e.ImageSources(ix, f), func(i imagetrust.Item) model.WorkloadRef { return i.Workload })
		checkFiltered(t, f, all[Privileged].(*Answer[privilege.Item]), e.Privileged(ix, f), func(i privilege.Item) model.WorkloadRef { return i.Workload })
		checkFiltered(t, f, all[Owners].(*Answer[ownership.Item]), e.Owners(ix, f), func(i ownership.Item) model.WorkloadRef { return i.Workload })
		exposed := all[Exposed].(*Answer[exposure.Item])
		got := e.Exposed(ix, f)
		checkFiltered(t, f, exposed, got, func(i exposure.Item) model.WorkloadRef { return i.Workload })
		var want []exposure.Unmatched
		for _, u := range exposed.Unmatched {
			if f.Match(model.WorkloadRef{Cluster: u.Cluster, Namespace: u.Namespace}) {
				want = append(want, u)
			}
		}
		if diff := cmp.Diff(want, got.Unmatched); diff != "" {
			t.Errorf("exposed %+v: unmatched (-filtered afterwards +filtered first):\n%s", f, diff)
		}
	}
	if n := len(all[Exposed].(*Answer[exposure.Item]).Unmatched); n == 0 {
		t.Errorf("the inventory has nothing unmatched: the test checks too little")
	}
}

func checkFiltered[T any](t *testing.T, f Filter, all, got *Answer[T], ref func(T) model.WorkloadRef) {
	t.Helper()
	want := []T{}
	for _, it := range all.Items {
		if f.Match(ref(it)) {
			want = append(want, it)
		}
	}
	if diff := cmp.Diff(want, got.Items); diff != "" {
		t.Errorf("%s %+v: items (-filtered afterwards +filtered first):\n%s", all.Question, f, diff)
	}
}
