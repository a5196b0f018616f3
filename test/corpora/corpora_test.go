package corpora

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
)

// corpusRoot is the corpora folder relative to this package's directory:
// the repository root's ../shared/corpora.
var corpusRoot = filepath.Join("..", "..", "..", "shared", "corpora")

// corpusDir returns the path of a folder of the corpora. It skips the test
// when the folder is absent, and fails it instead when CI=true, so CI never
// passes by running nothing.
func corpusDir(t testing.TB, sub ...string) string {
	t.Helper()
	dir := filepath.Join(append([]string{corpusRoot}, sub...)...)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus folder %s is missing and CI=true: check out the shared corpora next to the repository (../shared/corpora from the repository root): %v", dir, err)
		}
		t.Skipf("corpus folder %s is missing (expected at ../shared/corpora from the repository root); skipping", dir)
	}
	return dir
}

// load reads paths with manifest.Load; only a hard failure stops the test,
// per-document errors are in the result.
func load(t testing.TB, paths ...string) *manifest.Result {
	t.Helper()
	res, err := manifest.Load(t.Context(), paths, manifest.Options{})
	if err != nil {
		t.Fatalf("manifest.Load(%v): %v", paths, err)
	}
	return res
}

// loadIndex loads paths, requires them to load without errors, and indexes
// the result.
func loadIndex(t testing.TB, paths ...string) *inventory.Index {
	t.Helper()
	res := load(t, paths...)
	for _, e := range res.Errors {
		t.Errorf("loading %v: %v", paths, e)
	}
	return inventory.New(&res.Snapshot)
}

// knownGaps lists corpus cases where Palisade's answer is wrong today, with
// the reason. A listed case is expected to fail: the test logs it, and fails
// when it starts passing (remove it from this list then) or when no test
// reaches it any more (the id is stale). Ids are "<area>/<case>".
var knownGaps = map[string]string{
	// manifest.Load
	"apps/load/kubernetes-examples/_archived/storage/vitess/vttablet-pod-template.yaml": "manifest.Load accepts an unrendered template: metadata.name \"vttablet-{{uid}}\" and label values \"{{keyspace}}\" are not valid Kubernetes names or label values (the API server rejects the object), yet it loads without error as Pod default/vttablet-{{uid}} and shows up in answers",

	// inventory.New: the same object defined in several files of one input
	"apps/unique/online-boutique":     "inventory.New keeps every copy of an object defined twice (release/kubernetes-manifests.yaml and kubernetes-manifests/*.yaml): each Deployment is listed twice in every answer; kubectl apply would leave one object (last wins)",
	"apps/unique/sock-shop":           "inventory.New keeps every copy of an object defined twice (complete-demo.yaml and manifests/*): each Deployment is listed twice in every answer",
	"apps/unique/istio-bookinfo":      "inventory.New keeps every copy of an object defined several times (bookinfo.yaml, bookinfo-psa.yaml, bookinfo-dualstack.yaml, ...): productpage-v1 is listed three times in the exposed answer, each time with every via repeated",
	"apps/unique/kubernetes-examples": "inventory.New keeps every copy of same-named objects of different examples in namespace default (frontend, guestbook, web-controller, ...): they are listed several times, each with the vias of all copies",
	"apps/unique/aks-store-demo":      "inventory.New keeps every copy of an object defined in both aks-store-all-in-one.yaml and aks-store-quickstart.yaml",

	// privilege.Check, capabilities
	"psa/baseline/fail/capabilities_baseline2.yaml": "privilege.Check normalises capability names (\"chown\" -> CHOWN) before comparing with the baseline set, so adding \"chown\" is not a finding; the Pod Security Standards compare names exactly and baseline rejects it. Arguably intentional (a runtime upper-cases it to CAP_CHOWN); see the report",
	"psa/baseline/fail/capabilities_baseline3.yaml": "privilege.Check strips a CAP_ prefix (\"CAP_CHOWN\" -> CHOWN) before comparing with the baseline set, so it is not a finding; the Pod Security Standards compare names exactly and baseline rejects it. Arguably intentional; see the report",

	// privilege.Check, allowPrivilegeEscalation on Windows
	"psa/restricted/pass/base_windows.yaml": "privilege.Check reports allowPrivilegeEscalation unset for a pod with spec.os.name windows, where the field does not apply (the API forbids setting it) and the restricted level passes; the model does not carry spec.os.name",
}

var gapsSeen = struct {
	sync.Mutex
	ids map[string]bool
}{ids: map[string]bool{}}

// expect records the outcome of corpus case id: ok reports whether Palisade
// gave the expected answer, and the message says what it answered instead.
func expect(t testing.TB, id string, ok bool, format string, args ...any) {
	t.Helper()
	gapsSeen.Lock()
	gapsSeen.ids[id] = true
	gapsSeen.Unlock()
	reason, gap := knownGaps[id]
	switch {
	case gap && ok:
		t.Errorf("%s is listed in knownGaps but now passes: remove it from knownGaps (%s)", id, reason)
	case gap:
		t.Logf("known gap %s: "+format, append([]any{id}, args...)...)
	case !ok:
		t.Errorf("%s: "+format, append([]any{id}, args...)...)
	}
}

// partialRun reports whether a -run or -skip pattern selects only some
// subtests, so a test cannot tell whether every case ran.
func partialRun() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && strings.Contains(f.Value.String(), "/") {
			return true
		}
	}
	return false
}

// checkGapsSeen fails for knownGaps ids under prefix that no case reached.
func checkGapsSeen(t *testing.T, prefix string) {
	t.Helper()
	if partialRun() || t.Skipped() {
		return
	}
	gapsSeen.Lock()
	defer gapsSeen.Unlock()
	var stale []string
	for id := range knownGaps {
		if strings.HasPrefix(id, prefix) && !gapsSeen.ids[id] {
			stale = append(stale, id)
		}
	}
	slices.Sort(stale)
	for _, id := range stale {
		t.Errorf("knownGaps lists %s but no case reached it: remove or rename it", id)
	}
}
