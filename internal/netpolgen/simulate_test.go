package netpolgen

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

func policies(t testing.TB, docs ...string) []*model.NetworkPolicy {
	t.Helper()
	return loadYAML(t, docs...).Snapshot().NetworkPolicies
}

func brokenList(rep *Report) []string {
	out := []string{}
	for _, b := range rep.Broken {
		out = append(out, describe(b.Record))
	}
	return out
}

func TestSimulateGeneratedBreaksNothing(t *testing.T) {
	ix := shopIndex(t)
	used := set(shopFlows...)
	for _, scope := range []Options{{}, {Namespace: "shop"}, {Workload: deploy("shop", "cart")}} {
		res, err := Generate(t.Context(), ix, used, scope)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []Mode{ModeAdd, ModeReplace} {
			rep, err := Simulate(t.Context(), ix, res.Policies(), used, SimOptions{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Broken) > 0 || rep.Flows.Denied > 0 || rep.Flows.Allowed != rep.Flows.Checked {
				t.Errorf("%+v %s: flows %+v, broken %v", scope, mode, rep.Flows, brokenList(rep))
			}
			if len(rep.Problems) > 0 {
				t.Errorf("%+v %s: problems %v", scope, mode, rep.Problems)
			}
		}
	}
}

func TestSimulate(t *testing.T) {
	// shop has a policy letting only the frontend into the cart.
	existing := npDoc("shop", "  name: cart-in\nspec:\n  podSelector:\n    matchLabels:\n      app: cart\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          app: frontend\n")
	ix := loadYAML(t,
		deployDoc("shop", "frontend", map[string]string{"app": "frontend"}, 8080),
		deployDoc("shop", "cart", map[string]string{"app": "cart"}, 7070),
		deployDoc("shop", "db", map[string]string{"app": "db"}, 5432),
		existing,
	)
	used := set(
		"shop/frontend shop/cart 7070/TCP",
		"shop/cart shop/db 5432/TCP",
		"shop/db shop/cart 7070/TCP", // denied by cart-in today
		"shop/frontend 192.0.2.10 443/TCP",
	)
	denyDB := npDoc("shop", "  name: db-deny\nspec:\n  podSelector:\n    matchLabels:\n      app: db\n  policyTypes: [Ingress]\n")
	openCart := npDoc("shop", "  name: cart-in\nspec:\n  podSelector:\n    matchLabels:\n      app: cart\n  ingress:\n  - {}\n")
	egressOnlyDNS := npDoc("shop", "  name: egress\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n    - port: 53\n      protocol: UDP\n")
	tests := []struct {
		name     string
		proposed []*model.NetworkPolicy
		mode     Mode
		broken   []string
		counts   FlowCounts
		replaced []netpol.PolicyRef
	}{
		{
			name: "deny into db, added", proposed: policies(t, denyDB), mode: ModeAdd,
			broken: []string{"shop/Deployment/cart -> shop/Deployment/db 5432/TCP"},
			counts: FlowCounts{Checked: 4, Allowed: 2, Broken: 1, Denied: 1},
		},
		{
			name: "deny into db, replacing: cart-in is gone", proposed: policies(t, denyDB), mode: ModeReplace,
			broken:   []string{"shop/Deployment/cart -> shop/Deployment/db 5432/TCP"},
			counts:   FlowCounts{Checked: 4, Allowed: 3, Broken: 1, Fixed: 1},
			replaced: []netpol.PolicyRef{{Namespace: "shop", Name: "cart-in"}},
		},
		{
			name: "same name replaces in add mode", proposed: policies(t, openCart), mode: ModeAdd,
			broken:   []string{},
			counts:   FlowCounts{Checked: 4, Allowed: 4, Fixed: 1},
			replaced: []netpol.PolicyRef{{Namespace: "shop", Name: "cart-in"}},
		},
		{
			name: "egress only DNS", proposed: policies(t, egressOnlyDNS), mode: ModeAdd,
			broken: []string{
				"shop/Deployment/cart -> shop/Deployment/db 5432/TCP",
				"shop/Deployment/frontend -> 192.0.2.10 443/TCP",
				"shop/Deployment/frontend -> shop/Deployment/cart 7070/TCP",
			},
			counts: FlowCounts{Checked: 4, Broken: 3, Denied: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Simulate(t.Context(), ix, tt.proposed, used, SimOptions{Mode: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			got := brokenList(rep)
			slices.Sort(got)
			if diff := cmp.Diff(tt.broken, got); diff != "" {
				t.Errorf("broken (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.counts, rep.Flows); diff != "" {
				t.Errorf("flows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.replaced, rep.Replaced); diff != "" {
				t.Errorf("replaced (-want +got):\n%s", diff)
			}
			for _, b := range rep.Broken {
				if b.Verdict.Allowed {
					t.Errorf("broken flow %s has an allowing verdict", describe(b.Record))
				}
			}
		})
	}
}

func TestSimulatePaths(t *testing.T) {
	ix := loadYAML(t,
		deployDoc("shop", "a", map[string]string{"app": "a"}, 80),
		deployDoc("shop", "b", map[string]string{"app": "b"}, 80),
		deployDoc("other", "c", map[string]string{"app": "c"}, 80),
	)
	used := set("shop/a shop/b 80/TCP", "shop/a 192.0.2.1 443/TCP")
	res, err := Generate(t.Context(), ix, used, Options{Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Simulate(t.Context(), ix, res.Policies(), used, SimOptions{Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	// Workload paths touching shop: a→a, a→b, a→c, b→a, b→b, b→c, c→a,
	// c→b: 8, all open today; afterwards only a→b on 80/TCP.
	want := PathChanges{
		Namespace: "shop",
		Workloads: PathCounts{Before: 8, After: 1, Closed: 7, Narrowed: 1},
		// Regions: anywhere else and 192.0.2.1/32; a and b, both ways:
		// 8 paths, all open today; afterwards a→192.0.2.1 on 443.
		Outside: PathCounts{Before: 8, After: 1, Closed: 7, Narrowed: 1},
	}
	if diff := cmp.Diff(want, rep.Paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestRepresentatives(t *testing.T) {
	pp := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	tests := []struct {
		prefixes []netip.Prefix
		want     []string
	}{
		{nil, []string{"0.0.0.0"}},
		{pp("0.0.0.0/0"), []string{"::", "0.0.0.0"}},
		{pp("10.0.0.0/8", "10.0.0.0/9", "10.128.0.0/9"), []string{"0.0.0.0", "10.0.0.0", "10.128.0.0"}},
		{pp("0.0.0.0/1", "128.0.0.0/1", "::/0", "192.0.2.1/32"), []string{"0.0.0.0", "128.0.0.0", "192.0.2.1", "::"}},
		{pp("10.0.0.0/8", "10.0.0.0/24", "10.0.1.0/24"), []string{"0.0.0.0", "10.0.2.0", "10.0.0.0", "10.0.1.0"}},
	}
	for _, tt := range tests {
		var got []string
		for _, a := range representatives(tt.prefixes) {
			got = append(got, a.String())
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.prefixes, diff)
		}
	}
}
