package environment

import (
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

func TestOf(t *testing.T) {
	c, err := New(Definition{Clusters: []string{"prod-*"}, Namespaces: []string{"payments", "*-live"}})
	if err != nil {
		t.Fatal(err)
	}
	wl := func(cluster, ns string, labels, tmpl map[string]string) *model.Workload {
		return &model.Workload{Meta: model.Meta{Cluster: cluster, Namespace: ns, Name: "w", Labels: labels}, Kind: model.KindDeployment, Template: model.PodTemplate{Labels: tmpl}}
	}
	nsl := func(labels map[string]string) *model.Namespace {
		return &model.Namespace{Meta: model.Meta{Name: "x", Labels: labels}}
	}
	for _, tc := range []struct {
		name string
		w    *model.Workload
		ns   *model.Namespace
		want Result
	}{
		{"workload label", wl("dev", "shop", map[string]string{"env": "Prod"}, nil), nil, Result{Production, true, "workload label env=Prod"}},
		{"environment before env", wl("dev", "shop", map[string]string{"env": "prod", "environment": "staging"}, nil), nil, Result{"staging", false, "workload label environment=staging"}},
		{"template label", wl("dev", "shop", nil, map[string]string{"environment": "production"}), nil, Result{Production, true, "pod template label environment=production"}},
		{"namespace label", wl("dev", "shop", nil, nil), nsl(map[string]string{"environment": "prod"}), Result{Production, true, "namespace label environment=prod"}},
		{"workload label wins over namespace", wl("dev", "shop", map[string]string{"env": "qa"}, nil), nsl(map[string]string{"env": "prod"}), Result{"qa", false, "workload label env=qa"}},
		{"a production cluster wins over a label", wl("prod-eu", "shop", map[string]string{"env": "canary"}, nil), nil, Result{Production, true, "cluster prod-eu matches prod-*"}},
		{"cluster pattern", wl("prod-eu", "shop", nil, nil), nil, Result{Production, true, "cluster prod-eu matches prod-*"}},
		{"namespace name", wl("dev", "payments", nil, nil), nil, Result{Production, true, "namespace payments matches payments"}},
		{"namespace pattern", wl("dev", "shop-live", nil, nil), nil, Result{Production, true, "namespace shop-live matches *-live"}},
		{"nothing", wl("dev", "shop", map[string]string{"team": "a"}, nil), nsl(nil), Result{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Of(tc.w, tc.ns); got != tc.want {
				t.Errorf("Of = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNewRejectsBadPatterns(t *testing.T) {
	for _, d := range []Definition{{Clusters: []string{"prod-["}}, {Namespaces: []string{""}}, {LabelKeys: []string{""}}} {
		if _, err := New(d); err == nil {
			t.Errorf("New(%+v) accepted", d)
		}
	}
}
