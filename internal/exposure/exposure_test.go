package exposure

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/synth"
)

func load(t *testing.T, path string) *inventory.Index {
	t.Helper()
	res, err := manifest.Load(t.Context(), []string{path}, manifest.Options{Cluster: "c"})
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("loading %s: %v %v", path, err, res.Errors)
	}
	return inventory.New(&res.Snapshot)
}

func TestAnswer(t *testing.T) {
	res := Answer(load(t, "testdata/cluster.yaml"))
	type via struct{ Kind, Name, Type, Level string }
	type item struct {
		Workload, Level string
		Via             []via
	}
	var got []item
	for _, it := range res.Items {
		i := item{Workload: it.Workload.String(), Level: it.Level}
		for _, v := range it.Via {
			i.Via = append(i.Via, via{v.Kind, v.Name, v.Type, v.Level})
		}
		got = append(got, i)
	}
	want := []item{
		{"DaemonSet/ops/agent", LevelNode, []via{{ViaHostNetwork, "agent", "", LevelNode}}},
		{"Pod/ops/debug", LevelNode, []via{{ViaHostPort, "debug", "", LevelNode}}},
		{"Deployment/shop/api", LevelInternet, []via{
			{ViaIngress, "shop", "nginx", LevelInternet},
			{ViaService, "api-ext", "externalIPs", LevelInternet},
		}},
		{"Deployment/shop/web", LevelInternet, []via{
			{ViaService, "web-internal-lb", "LoadBalancer", LevelNode},
			{ViaService, "web-lb", "LoadBalancer", LevelInternet},
			{ViaService, "web-lb", "NodePort", LevelNode},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exposed (-want +got):\n%s", diff)
	}
	var unmatched []string
	for _, u := range res.Unmatched {
		unmatched = append(unmatched, u.Kind+" "+u.Namespace+"/"+u.Name)
	}
	wantUnmatched := []string{"Service ops/web-other-ns", "Ingress shop/shop", "Service shop/orphan-np"}
	if diff := cmp.Diff(wantUnmatched, unmatched); diff != "" {
		t.Errorf("unmatched (-want +got):\n%s", diff)
	}
	// The two /api and /v2 paths to the same backend are one route.
	for _, it := range res.Items {
		for _, v := range it.Via {
			if v.Kind == ViaIngress {
				if diff := cmp.Diff([]string{"shop.example.com/api", "shop.example.com/v2"}, v.Hosts); diff != "" {
					t.Errorf("ingress hosts (-want +got):\n%s", diff)
				}
			}
		}
	}
}

// selection answers exactly what inventory.Index.Selected answers.
func TestSelectionMatchesIndex(t *testing.T) {
	snap := synth.Generate(synth.Spec{Workloads: 500, ContainersPerWorkload: 2, Services: 400, Ingresses: 50, Namespaces: 6, Seed: 3})
	// Selectors of several labels, and of none.
	snap.Services[0].Selector = nil
	snap.Services[1].Selector = map[string]string{}
	for k, v := range snap.Workloads[1].Template.Labels {
		snap.Services[1].Selector[k] = v
	}
	snap.Services[1].Namespace = snap.Workloads[1].Namespace
	ix := inventory.New(snap)
	sel := newSelection(ix)
	matched := 0
	for _, s := range snap.Services {
		want := ix.Selected(s.Cluster, s.Namespace, s.Selector)
		got := sel.selected(s.Cluster, s.Namespace, s.Selector)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Service %s/%s (-Selected +selection):\n%s", s.Namespace, s.Name, diff)
		}
		matched += len(got)
	}
	if matched == 0 {
		t.Error("no selector matched: the test checks too little")
	}
}
