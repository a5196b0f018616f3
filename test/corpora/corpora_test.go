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
	// Empty: every gap found so far is fixed. Add an entry (id → reason)
	// when a corpus case shows a Palisade bug that cannot be fixed at once.
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
