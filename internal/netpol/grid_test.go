package netpol

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/synth"
)

// gridPaths renders the rows of g as "from → to ports", checking their
// order.
func gridPaths(t *testing.T, g *Grid) []string {
	t.Helper()
	var out []string
	last := [2]int{-1, -1}
	err := g.Rows(t.Context(), func(from int, paths []Path) error {
		for _, p := range paths {
			if p.From != from {
				t.Fatalf("row %d holds a path from %d", from, p.From)
			}
			if k := [2]int{p.From, p.To}; k[0] < last[0] || k[0] == last[0] && k[1] <= last[1] {
				t.Fatalf("path %v after %v", k, last)
			} else {
				last = k
			}
			if p.Ports.Empty() {
				t.Fatalf("empty path %d → %d", p.From, p.To)
			}
			out = append(out, fmt.Sprintf("%d → %d %s", p.From, p.To, p.Ports))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func matrixPaths(m *Matrix) []string {
	var out []string
	for p := range m.Paths() {
		out = append(out, fmt.Sprintf("%d → %d %s", p.From, p.To, p.Ports))
	}
	return out
}

// checkGrid holds the rows and cells of e's grid of scope equal to its
// matrix's, with blocks of the given rows (0: the default).
func checkGrid(t *testing.T, e *Engine, scope Scope, rows int) {
	t.Helper()
	m, err := e.Matrix(t.Context(), scope)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.Grid(scope)
	if err != nil {
		t.Fatal(err)
	}
	if rows > 0 {
		g.rows = rows
	}
	if diff := cmp.Diff(m.Nodes(), g.Nodes()); diff != "" {
		t.Fatalf("%+v: nodes (-matrix +grid):\n%s", scope, diff)
	}
	if diff := cmp.Diff(matrixPaths(m), gridPaths(t, g)); diff != "" {
		t.Fatalf("%+v: paths (-matrix +grid):\n%s", scope, diff)
	}
	// Cells one by one, after Rows and (default blocks) on a fresh grid.
	grids := []*Grid{g}
	if rows == 0 {
		fresh, _ := e.Grid(scope)
		grids = append(grids, fresh)
	}
	for _, gr := range grids {
		for f := range m.Nodes() {
			for to := range m.Nodes() {
				want, wantOK := m.Allowed(f, to)
				got, gotOK := gr.Allowed(f, to)
				if gotOK != wantOK || !got.Equal(want) {
					t.Fatalf("%+v: Allowed(%d, %d) = %v %v, matrix %v %v", scope, f, to, got, gotOK, want, wantOK)
				}
			}
		}
	}
}

// The grid gives exactly the matrix's paths and cells, on the random
// policies of TestMatrixMatchesQuerySemantics, with workloads of the host
// network, pods on their nodes (nodePods: every port open between them)
// and a class whose workloads are not contiguous (a/aa-web and a/web) and
// of which only one runs on a host-network workload's node, in blocks of
// one row and of the default size.
func TestGridMatchesMatrix(t *testing.T) {
	docs := append(append(world(), hostPods()...), nodePods()...)
	for seed := range 120 {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			snap := loadYAML(t, docs...)
			rng := rand.New(rand.NewPCG(uint64(seed), 11))
			var pols []*model.NetworkPolicy
			for i := range 1 + rng.IntN(8) {
				pols = append(pols, randomPolicy(rng, i))
			}
			e, err := New(t.Context(), inventory.New(snap), Options{Policies: pols})
			if err != nil {
				t.Fatal(err)
			}
			if len(e.classes[e.workloads[0].class].members) < 2 {
				t.Fatal("a/aa-web shares no class")
			}
			if aaWeb, web := e.byRef[podRef("a", "aa-web")], e.byRef[podRef("a", "web")]; len(e.own[aaWeb]) == 0 || len(e.own[web]) > 0 {
				t.Fatalf("own nodes: a/aa-web %v, a/web %v", e.own[aaWeb], e.own[web])
			}
			for _, scope := range []Scope{{}, {Namespace: "a"}, {Namespace: "b"}, {Namespace: "c"}} {
				checkGrid(t, e, scope, 0)
				checkGrid(t, e, scope, 64)
			}
		})
	}
}

// Several blocks, classes spread over blocks, ipBlocks, named ports and
// more than 64 groups: synth's cluster where every third workload of a
// namespace copies the first one's pod template, with varied policies.
func TestGridBlocks(t *testing.T) {
	snap := synth.Generate(synth.Spec{Workloads: 400, ContainersPerWorkload: 2, NetworkPolicies: 60, Namespaces: 4, Seed: 3})
	first := map[string]*model.Workload{}
	n := map[string]int{}
	for _, w := range snap.Workloads {
		f, ok := first[w.Namespace]
		if !ok {
			first[w.Namespace] = w
			continue
		}
		if n[w.Namespace]++; n[w.Namespace]%3 == 0 {
			w.Template.Labels, w.Template.Containers, w.Template.HostNetwork = f.Template.Labels, f.Template.Containers, f.Template.HostNetwork
		}
	}
	pols := append(densePolicies(snap, 150), snap.NetworkPolicies...)
	many := &model.NetworkPolicy{Meta: model.Meta{Cluster: model.DefaultCluster, Namespace: snap.Namespaces[0].Name, Name: "many"}, PolicyTypes: []string{Ingress, Egress}}
	for i := range 70 {
		peer := []model.NetworkPolicyPeer{{NamespaceSelector: &model.LabelSelector{}}}
		port := []model.NetworkPolicyPort{{Protocol: TCP, Port: strconv.Itoa(2000 + i)}}
		many.Ingress = append(many.Ingress, model.NetworkPolicyRule{Peers: peer, Ports: port})
		many.Egress = append(many.Egress, model.NetworkPolicyRule{Peers: peer, Ports: port})
	}
	pols = append(pols, many)
	e, err := New(t.Context(), inventory.New(snap), Options{Policies: pols})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.classes) == len(e.workloads) {
		t.Fatal("every workload has a class of its own")
	}
	for _, scope := range []Scope{{}, {Namespace: snap.Namespaces[1].Name}} {
		for _, rows := range []int{64, 128, 0} {
			t.Run(fmt.Sprintf("%s/%d", scope.Namespace, rows), func(t *testing.T) {
				checkGrid(t, e, scope, rows)
			})
		}
	}
}
