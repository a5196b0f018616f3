// Package storetest is the conformance suite of store.Store: every
// implementation runs Run from its tests, so that SQLite and PostgreSQL
// behave the same. It also holds the fixtures, the benchmarks and the crash
// test that the implementations share.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/objcodec"
)

// Run runs the conformance suite against the stores open returns. Each
// subtest opens its own, empty store, and they run in parallel; open must
// close the store at cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTripEveryKind", testRoundTrip},
		{"EmptyStore", testEmpty},
		{"OddStrings", testOddStrings},
		{"ApplyIdempotent", testApplyIdempotent},
		{"ApplyDeletes", testApplyDeletes},
		{"ApplyInvalid", testApplyInvalid},
		{"Replace", testReplace},
		{"SnapshotOrder", testSnapshotOrder},
		{"SnapshotPerCluster", testSnapshotPerCluster},
		{"Clusters", testClusters},
		{"Tokens", testTokens},
		{"ConcurrentApply", testConcurrentApply},
		{"LargeBatch", testLargeBatch},
		{"ContextCanceled", testContextCanceled},
		{"CancelMidApplyIsAtomic", testCancelMidApply},
		{"AdvisoriesRoundTrip", testAdvisoriesRoundTrip},
		{"AdvisoriesReplace", testAdvisoriesReplace},
		{"AdvisoriesFailedImport", testAdvisoriesFailedImport},
		{"AdvisoriesOrder", testAdvisoriesOrder},
		{"AdvisoriesLarge", testAdvisoriesLarge},
		{"KEVRoundTrip", testKEVRoundTrip},
		{"KEVReplace", testKEVReplace},
		{"KEVRefused", testKEVRefused},
		{"KEVCanceled", testKEVCanceled},
		{"KEVConsistentReads", testKEVConsistentReads},
		{"SBOMRoundTrip", testSBOMRoundTrip},
		{"SBOMReplace", testSBOMReplace},
		{"SBOMDigestsOrder", testSBOMDigestsOrder},
		{"SBOMTooLarge", testSBOMTooLarge},
		{"ConcurrentPutSBOM", testConcurrentPutSBOM},
		{"Matches", testMatches},
		{"ScanStatus", testScanStatus},
		{"DeleteScans", testDeleteScans},
		{"DeleteScansLarge", testDeleteScansLarge},
		{"DeleteScansCanceled", testDeleteScansCanceled},
		{"PutMatches", testPutMatches},
		{"PutMatchesLarge", testPutMatchesLarge},
		{"PutMatchesCanceled", testPutMatchesCanceled},
		{"BaselinesRoundTrip", testBaselinesRoundTrip},
		{"BaselinesOrder", testBaselinesOrder},
		{"PutBaselines", testPutBaselines},
		{"DeleteBaselines", testDeleteBaselines},
		{"BaselinesLarge", testBaselinesLarge},
		{"BaselinesCanceled", testBaselinesCanceled},
		{"FlowsRoundTrip", testFlowsRoundTrip},
		{"FlowsMerge", testFlowsMerge},
		{"FlowsWindow", testFlowsWindow},
		{"FlowsPerCluster", testFlowsPerCluster},
		{"FlowsLimit", testFlowsLimit},
		{"FlowsPrune", testFlowsPrune},
		{"FlowsRefused", testFlowsRefused},
		{"FlowsLarge", testFlowsLarge},
		{"FlowsConcurrent", testFlowsConcurrent},
		{"FlowsCanceled", testFlowsCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// snapshotOf builds the snapshot the store must return for objs: sorted by
// key, the last object of a key winning.
func snapshotOf(objs ...model.Object) *model.Snapshot {
	byKey := map[model.Key]model.Object{}
	for _, o := range objs {
		byKey[o.ObjectKey()] = o
	}
	sorted := make([]model.Object, 0, len(byKey))
	for _, o := range byKey {
		sorted = append(sorted, o)
	}
	sortObjects(sorted)
	snap := &model.Snapshot{}
	for _, o := range sorted {
		snap.Add(o)
	}
	return snap
}

func sortObjects(objs []model.Object) {
	slices.SortFunc(objs, func(a, b model.Object) int { return objcodec.CompareKeys(a.ObjectKey(), b.ObjectKey()) })
}

// diffOpts treats nil and empty slices alike: JSON drops empty slices.
var diffOpts = []cmp.Option{cmpopts.EquateEmpty()}

func mustApply(t *testing.T, s store.Store, upserts []model.Object, deletes []model.Key) {
	t.Helper()
	if err := s.Apply(t.Context(), upserts, deletes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func mustSnapshot(t *testing.T, s store.Store, cluster string) *model.Snapshot {
	t.Helper()
	snap, err := s.Snapshot(t.Context(), cluster)
	if err != nil {
		t.Fatalf("Snapshot(%q): %v", cluster, err)
	}
	if snap == nil {
		t.Fatalf("Snapshot(%q) returned nil", cluster)
	}
	return snap
}

func checkSnapshot(t *testing.T, s store.Store, cluster string, want *model.Snapshot) {
	t.Helper()
	got := mustSnapshot(t, s, cluster)
	if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("Snapshot(%q) mismatch (-want +got):\n%s", cluster, diff)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	objs := EveryKind("prod-eu")
	mustApply(t, s, objs, nil)
	checkSnapshot(t, s, "prod-eu", snapshotOf(objs...))
	checkSnapshot(t, s, "", snapshotOf(objs...))
}

// testOddStrings stores strings a cluster's users control and a database
// may choke on. Annotations are free text: one that a store refused would
// keep its workload out of the inventory.
func testOddStrings(t *testing.T, s store.Store) {
	odd := []string{"nul\x00byte", "\x01\x1f\x7f", "\u2028\u2029", "quote\" back\\slash", "<script>&amp;", "日本語 ✓ 🚀", "'; DROP TABLE objects; --", strings.Repeat("x", 100000)}
	var objs []model.Object
	for i, v := range odd {
		w := FullWorkload("c", model.KindPod, "ns", fmt.Sprintf("odd-%d", i))
		w.Annotations = map[string]string{"note": v, v: "as key"}
		w.Template.Containers[0].Image.Error = v
		objs = append(objs, w)
	}
	mustApply(t, s, objs, nil)
	checkSnapshot(t, s, "c", snapshotOf(objs...))
}

func testEmpty(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	checkSnapshot(t, s, "", &model.Snapshot{})
	checkSnapshot(t, s, "nope", &model.Snapshot{})
	clusters, err := s.Clusters(t.Context())
	if err != nil {
		t.Fatalf("Clusters: %v", err)
	}
	if len(clusters) != 0 {
		t.Errorf("Clusters() = %q, want none", clusters)
	}
	tokens, err := s.Tokens(t.Context())
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	if len(tokens) != 0 {
		t.Errorf("Tokens() = %v, want none", tokens)
	}
	// Applying nothing is fine.
	mustApply(t, s, nil, nil)
}

func testApplyIdempotent(t *testing.T, s store.Store) {
	w := FullWorkload("c", model.KindDeployment, "ns", "web")
	mustApply(t, s, []model.Object{w}, nil)
	mustApply(t, s, []model.Object{w}, nil)
	checkSnapshot(t, s, "", snapshotOf(w))

	// A later upsert replaces the stored object, fields it drops included.
	w2 := Workload("c", "ns", "web")
	w2.ResourceVersion = "43"
	mustApply(t, s, []model.Object{w2}, nil)
	checkSnapshot(t, s, "", snapshotOf(w2))

	// Within one batch, the last upsert of a key wins.
	w3 := Workload("c", "ns", "web")
	w3.ResourceVersion = "44"
	other := Workload("c", "ns", "other")
	mustApply(t, s, []model.Object{w2, other, w3}, nil)
	checkSnapshot(t, s, "", snapshotOf(other, w3))
}

func testApplyDeletes(t *testing.T, s store.Store) {
	a := FullObject("c", model.KindService, "ns", "a")
	b := FullObject("c", model.KindService, "ns", "b")
	n := FullObject("c", model.KindNode, "", "node-1")
	mustApply(t, s, []model.Object{a, b, n}, nil)

	tests := []struct {
		name    string
		upserts []model.Object
		deletes []model.Key
		want    *model.Snapshot
	}{{
		name:    "missing key",
		deletes: []model.Key{{Cluster: "c", Kind: model.KindService, Namespace: "ns", Name: "missing"}, {Cluster: "gone", Kind: model.KindNode, Name: "x"}},
		want:    snapshotOf(a, b, n),
	}, {
		name:    "one of two",
		deletes: []model.Key{a.ObjectKey()},
		want:    snapshotOf(b, n),
	}, {
		name:    "twice in one batch, cluster-scoped",
		deletes: []model.Key{n.ObjectKey(), n.ObjectKey()},
		want:    snapshotOf(b),
	}, {
		name:    "again",
		deletes: []model.Key{a.ObjectKey(), n.ObjectKey()},
		want:    snapshotOf(b),
	}, {
		// Upserts apply before deletes: a key in both ends up deleted.
		name:    "upsert and delete of one key",
		upserts: []model.Object{a},
		deletes: []model.Key{a.ObjectKey()},
		want:    snapshotOf(b),
	}, {
		name:    "upsert one, delete another",
		upserts: []model.Object{a},
		deletes: []model.Key{b.ObjectKey()},
		want:    snapshotOf(a),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustApply(t, s, tc.upserts, tc.deletes)
			checkSnapshot(t, s, "", tc.want)
		})
	}
}

func testApplyInvalid(t *testing.T, s store.Store) {
	good := Workload("c", "ns", "good")
	noName := Workload("c", "ns", "")
	noCluster := Workload("", "ns", "x")
	badKind := Workload("c", "ns", "x")
	badKind.Kind = "Secret"
	tests := []struct {
		name    string
		upserts []model.Object
		deletes []model.Key
	}{
		{"nil object", []model.Object{good, nil}, nil},
		{"typed nil object", []model.Object{good, (*model.Service)(nil)}, nil},
		{"no name", []model.Object{good, noName}, nil},
		{"no cluster", []model.Object{good, noCluster}, nil},
		{"unknown kind", []model.Object{good, badKind}, nil},
		{"delete of unknown kind", []model.Object{good}, []model.Key{{Cluster: "c", Kind: "Secret", Namespace: "ns", Name: "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Apply(t.Context(), tc.upserts, tc.deletes); err == nil {
				t.Fatal("Apply succeeded, want an error")
			}
			// Nothing of a rejected batch is written.
			checkSnapshot(t, s, "", &model.Snapshot{})
		})
	}
}

func testReplace(t *testing.T, s store.Store) {
	dep := func(cluster, name string) model.Object { return Workload(cluster, "ns", name) }
	svc := func(cluster, name string) model.Object { return FullObject(cluster, model.KindService, "ns", name) }
	node := func(cluster, name string) model.Object { return FullObject(cluster, model.KindNode, "", name) }
	initial := []model.Object{dep("a", "d1"), dep("a", "d2"), svc("a", "s1"), node("a", "n1"), dep("b", "d1"), svc("b", "s1")}
	updated := Workload("a", "ns", "d2")
	updated.ResourceVersion = "99"

	tests := []struct {
		name    string
		cluster string
		kinds   []model.Kind
		objs    []model.Object
		want    []model.Object // the whole store afterwards
		wantErr bool
	}{{
		name:    "add, update and remove one kind",
		cluster: "a",
		kinds:   []model.Kind{model.KindDeployment},
		objs:    []model.Object{updated, dep("a", "d3")},
		want:    []model.Object{updated, dep("a", "d3"), svc("a", "s1"), node("a", "n1"), dep("b", "d1"), svc("b", "s1")},
	}, {
		name:    "empty list clears those kinds of that cluster only",
		cluster: "a",
		kinds:   []model.Kind{model.KindDeployment, model.KindService},
		want:    []model.Object{node("a", "n1"), dep("b", "d1"), svc("b", "s1")},
	}, {
		name:    "several kinds",
		cluster: "b",
		kinds:   []model.Kind{model.KindService, model.KindNode},
		objs:    []model.Object{node("b", "n9"), svc("b", "s2")},
		want:    []model.Object{dep("a", "d1"), dep("a", "d2"), svc("a", "s1"), node("a", "n1"), dep("b", "d1"), svc("b", "s2"), node("b", "n9")},
	}, {
		name:    "new cluster",
		cluster: "c",
		kinds:   model.AllKinds,
		objs:    EveryKind("c"),
		want:    append(slices.Clone(initial), EveryKind("c")...),
	}, {
		name:    "no kinds changes nothing",
		cluster: "a",
		want:    initial,
	}, {
		name:    "object of another cluster",
		cluster: "a",
		kinds:   []model.Kind{model.KindDeployment},
		objs:    []model.Object{dep("b", "d9")},
		want:    initial,
		wantErr: true,
	}, {
		name:    "object of another kind",
		cluster: "a",
		kinds:   []model.Kind{model.KindDeployment},
		objs:    []model.Object{svc("a", "s9")},
		want:    initial,
		wantErr: true,
	}, {
		name:    "invalid object",
		cluster: "a",
		kinds:   []model.Kind{model.KindDeployment},
		objs:    []model.Object{dep("a", "")},
		want:    initial,
		wantErr: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Reset the store to initial, with Replace itself.
			mustApply(t, s, nil, allKeys(t, s))
			mustApply(t, s, initial, nil)
			err := s.Replace(t.Context(), tc.cluster, tc.kinds, tc.objs)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("Replace() error = %v, want error %v", err, tc.wantErr)
			}
			checkSnapshot(t, s, "", snapshotOf(tc.want...))
		})
	}

	t.Run("twice", func(t *testing.T) {
		mustApply(t, s, nil, allKeys(t, s))
		objs := Workloads("a", 50)
		for range 2 {
			if err := s.Replace(t.Context(), "a", model.WorkloadKinds, objs); err != nil {
				t.Fatalf("Replace: %v", err)
			}
		}
		checkSnapshot(t, s, "", snapshotOf(objs...))
	})
}

func allKeys(t *testing.T, s store.Store) []model.Key {
	t.Helper()
	var keys []model.Key
	for _, o := range mustSnapshot(t, s, "").Objects() {
		keys = append(keys, o.ObjectKey())
	}
	return keys
}

// testSnapshotOrder checks that keys sort by bytes, whatever the database's
// collation: upper case before lower case, punctuation by code point.
func testSnapshotOrder(t *testing.T, s store.Store) {
	var objs []model.Object
	for _, c := range []string{"b", "B", "a", "a-b", "a_b", "é"} {
		for _, ns := range []string{"z", "Z", "", "a.b"} {
			for _, n := range []string{"x", "X", "x1", "x-1", "ä"} {
				for _, k := range []model.Kind{model.KindPod, model.KindDeployment, model.KindNode} {
					if k == model.KindNode {
						objs = append(objs, FullObject(c, k, "", n))
						continue
					}
					if ns == "" {
						continue
					}
					w := Workload(c, ns, n)
					w.Kind = k
					objs = append(objs, w)
				}
			}
		}
	}
	// Apply in reverse to catch a store that returns insertion order.
	rev := slices.Clone(objs)
	slices.Reverse(rev)
	mustApply(t, s, rev, nil)

	got := mustSnapshot(t, s, "")
	var gotKeys, wantKeys []model.Key
	for _, o := range got.Workloads {
		gotKeys = append(gotKeys, o.ObjectKey())
	}
	for _, o := range got.Nodes {
		gotKeys = append(gotKeys, o.ObjectKey())
	}
	for _, o := range snapshotOf(objs...).Objects() {
		wantKeys = append(wantKeys, o.ObjectKey())
	}
	if diff := cmp.Diff(wantKeys, gotKeys); diff != "" {
		t.Errorf("Snapshot key order mismatch (-want +got):\n%s", diff)
	}
}

func testSnapshotPerCluster(t *testing.T, s store.Store) {
	a, b := EveryKind("a"), EveryKind("b")
	mustApply(t, s, append(slices.Clone(b), a...), nil)
	tests := []struct {
		cluster string
		want    *model.Snapshot
	}{
		{"a", snapshotOf(a...)},
		{"b", snapshotOf(b...)},
		{"", snapshotOf(append(slices.Clone(a), b...)...)},
		{"c", &model.Snapshot{}},
		// Cluster names are matched exactly.
		{"A", &model.Snapshot{}},
	}
	for _, tc := range tests {
		t.Run("cluster="+tc.cluster, func(t *testing.T) {
			checkSnapshot(t, s, tc.cluster, tc.want)
		})
	}
}

func testClusters(t *testing.T, s store.Store) {
	check := func(want ...string) {
		t.Helper()
		got, err := s.Clusters(t.Context())
		if err != nil {
			t.Fatalf("Clusters: %v", err)
		}
		if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
			t.Errorf("Clusters() mismatch (-want +got):\n%s", diff)
		}
	}
	mustApply(t, s, []model.Object{Workload("prod", "ns", "a"), Workload("prod", "ns", "b"), Workload("dev", "ns", "a"), FullObject("Z", model.KindNode, "", "n")}, nil)
	check("Z", "dev", "prod")
	mustApply(t, s, nil, []model.Key{Workload("dev", "ns", "a").ObjectKey()})
	check("Z", "prod")
	if err := s.Replace(t.Context(), "prod", model.AllKinds, nil); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	check("Z")
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	admin := store.Token{Name: "admin", Role: "admin", Hash: "aa01", CreatedAt: at}
	ci := store.Token{Name: "ci", Role: "viewer", Hash: "bb02", CreatedAt: at.Add(time.Hour), Source: store.TokenFromConfig}
	bob := store.Token{Name: "Bob", Role: "analyst", Hash: "cc03", CreatedAt: at.Add(-time.Hour)}
	// An agent token keeps the cluster it is bound to.
	agent := store.Token{Name: "worker-7", Role: "agent", Hash: "ee05", CreatedAt: at, Cluster: "prod-eu"}

	for _, tok := range []store.Token{ci, admin, bob, agent} {
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatalf("PutToken(%s): %v", tok.Name, err)
		}
	}
	checkTokens := func(want ...store.Token) {
		t.Helper()
		got, err := s.Tokens(ctx)
		if err != nil {
			t.Fatalf("Tokens: %v", err)
		}
		if diff := cmp.Diff(want, got, diffOpts...); diff != "" {
			t.Errorf("Tokens() mismatch (-want +got):\n%s", diff)
		}
	}
	checkTokens(bob, admin, ci, agent)

	lookups := []struct {
		hash    string
		want    store.Token
		wantErr error
	}{
		{"aa01", admin, nil},
		{"bb02", ci, nil},
		{"ee05", agent, nil},
		{"AA01", store.Token{}, store.ErrNotFound},
		{"", store.Token{}, store.ErrNotFound},
		{"zz99", store.Token{}, store.ErrNotFound},
	}
	for _, tc := range lookups {
		got, err := s.TokenByHash(ctx, tc.hash)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("TokenByHash(%q) error = %v, want %v", tc.hash, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("TokenByHash(%q) mismatch (-want +got):\n%s", tc.hash, diff)
		}
	}

	// Putting a token of the same name replaces it; its old hash is gone.
	rotated := store.Token{Name: "ci", Role: "analyst", Hash: "dd04", CreatedAt: at.Add(2 * time.Hour)}
	if err := s.PutToken(ctx, rotated); err != nil {
		t.Fatalf("PutToken(rotated): %v", err)
	}
	if _, err := s.TokenByHash(ctx, "bb02"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash(old hash) error = %v, want ErrNotFound", err)
	}
	checkTokens(bob, admin, rotated, agent)
	// Replacing an agent token replaces its cluster too.
	moved := store.Token{Name: "worker-7", Role: "agent", Hash: "ff06", CreatedAt: at, Cluster: "edge"}
	if err := s.PutToken(ctx, moved); err != nil {
		t.Fatalf("PutToken(moved): %v", err)
	}
	if got, err := s.TokenByHash(ctx, "ff06"); err != nil || got.Cluster != "edge" {
		t.Errorf("TokenByHash(moved) = %+v, %v, want cluster edge", got, err)
	}

	// Two tokens cannot share a hash.
	if err := s.PutToken(ctx, store.Token{Name: "dup", Role: "viewer", Hash: "aa01", CreatedAt: at}); err == nil {
		t.Error("PutToken with another token's hash succeeded, want an error")
	}
	checkTokens(bob, admin, rotated, moved)

	if err := s.DeleteToken(ctx, "admin"); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if err := s.DeleteToken(ctx, "admin"); err != nil {
		t.Errorf("DeleteToken of a missing token: %v, want nil", err)
	}
	if _, err := s.TokenByHash(ctx, "aa01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash(deleted) error = %v, want ErrNotFound", err)
	}
	checkTokens(bob, rotated, moved)
}

func testConcurrentApply(t *testing.T, s store.Store) {
	const workers, rounds, batch = 8, 10, 20
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*2)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				objs := make([]model.Object, 0, batch+1)
				for i := range batch {
					objs = append(objs, Workload("c", fmt.Sprintf("w%d", w), fmt.Sprintf("r%02d-%02d", r, i)))
				}
				// Every worker also writes a shared key, so they contend for
				// the same rows.
				shared := Workload("c", "shared", "hot")
				shared.ResourceVersion = fmt.Sprint(w)
				objs = append(objs, shared)
				if err := s.Apply(ctx, objs, nil); err != nil {
					errs <- fmt.Errorf("worker %d round %d: Apply: %w", w, r, err)
					return
				}
				if _, err := s.Snapshot(ctx, "c"); err != nil {
					errs <- fmt.Errorf("worker %d round %d: Snapshot: %w", w, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	snap := mustSnapshot(t, s, "c")
	if got, want := len(snap.Workloads), workers*rounds*batch+1; got != want {
		t.Errorf("stored %d workloads, want %d", got, want)
	}
}

func testLargeBatch(t *testing.T, s store.Store) {
	const n = 5000
	objs := Workloads("big", n)
	mustApply(t, s, objs, nil)
	checkSnapshot(t, s, "big", snapshotOf(objs...))

	if err := s.Replace(t.Context(), "big", []model.Kind{model.KindDeployment}, objs[:n/2]); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	checkSnapshot(t, s, "big", snapshotOf(objs[:n/2]...))

	keys := make([]model.Key, n)
	for i, o := range objs {
		keys[i] = o.ObjectKey()
	}
	mustApply(t, s, nil, keys)
	checkSnapshot(t, s, "", &model.Snapshot{})
}

func testContextCanceled(t *testing.T, s store.Store) {
	mustApply(t, s, []model.Object{Workload("c", "ns", "kept")}, nil)
	if err := s.PutToken(t.Context(), store.Token{Name: "t", Role: "viewer", Hash: "h", CreatedAt: time.Now()}); err != nil {
		t.Fatalf("PutToken: %v", err)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()

	ops := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"Apply", func(ctx context.Context) error {
			return s.Apply(ctx, []model.Object{Workload("c", "ns", "new")}, []model.Key{Workload("c", "ns", "kept").ObjectKey()})
		}},
		{"Replace", func(ctx context.Context) error { return s.Replace(ctx, "c", model.AllKinds, nil) }},
		{"Snapshot", func(ctx context.Context) error { _, err := s.Snapshot(ctx, ""); return err }},
		{"Clusters", func(ctx context.Context) error { _, err := s.Clusters(ctx); return err }},
		{"PutToken", func(ctx context.Context) error {
			return s.PutToken(ctx, store.Token{Name: "t2", Role: "viewer", Hash: "h2", CreatedAt: time.Now()})
		}},
		{"TokenByHash", func(ctx context.Context) error { _, err := s.TokenByHash(ctx, "h"); return err }},
		{"Tokens", func(ctx context.Context) error { _, err := s.Tokens(ctx); return err }},
		{"DeleteToken", func(ctx context.Context) error { return s.DeleteToken(ctx, "t") }},
		{"Ping", func(ctx context.Context) error { return s.Ping(ctx) }},
	}
	for _, op := range ops {
		for _, c := range []struct {
			name string
			ctx  context.Context
			want error
		}{{"canceled", canceled, context.Canceled}, {"deadline", expired, context.DeadlineExceeded}} {
			t.Run(op.name+"/"+c.name, func(t *testing.T) {
				if err := op.fn(c.ctx); !errors.Is(err, c.want) {
					t.Errorf("%s error = %v, want %v", op.name, err, c.want)
				}
			})
		}
	}
	// None of the writes happened.
	checkSnapshot(t, s, "", snapshotOf(Workload("c", "ns", "kept")))
	tokens, err := s.Tokens(t.Context())
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	if len(tokens) != 1 || tokens[0].Name != "t" {
		t.Errorf("Tokens() = %v, want only t", tokens)
	}
}

// testCancelMidApply cancels large Applys while they run: each must either
// succeed whole or fail with the context's error, atomically. A
// cancellation that races the commit can leave the commit done and its
// acknowledgement lost (store.Store.Apply says so), so after an error the
// cluster holds nothing or everything; never part.
func testCancelMidApply(t *testing.T, s store.Store) {
	const n = 2000
	for i, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, time.Second} {
		cluster := fmt.Sprintf("cancel-%d", i)
		objs := Workloads(cluster, n)
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := s.Apply(ctx, objs, nil)
		timer.Stop()
		cancel()
		snap := mustSnapshot(t, s, cluster)
		switch {
		case err == nil:
			if got := snap.Len(); got != n {
				t.Errorf("after cancel at %v: Apply succeeded but stored %d of %d objects", delay, got, n)
			}
		case errors.Is(err, context.Canceled):
			if got := snap.Len(); got != 0 && got != n {
				t.Errorf("after cancel at %v: Apply failed (%v) but stored %d of %d objects", delay, err, got, n)
			}
		default:
			t.Errorf("after cancel at %v: Apply error = %v, want nil or context.Canceled", delay, err)
		}
	}
}
