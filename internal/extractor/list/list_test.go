package list_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/extractor/extractortest"
	"github.com/palisade-project/palisade/internal/extractor/list"
)

const pkgPrefix = "github.com/palisade-project/palisade/internal/extractor/"

func TestNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range list.All() {
		if e.Name() == "" || e.Version() < 1 {
			t.Errorf("%T: name %q version %d: want a name and a version >= 1", e, e.Name(), e.Version())
		}
		if seen[e.Name()] {
			t.Errorf("duplicate extractor name %q", e.Name())
		}
		seen[e.Name()] = true
	}
}

// TestEveryExtractorHasFixtures fails for a plug-in without at least one
// valid fixture and its golden expectation.
func TestEveryExtractorHasFixtures(t *testing.T) {
	for _, e := range list.All() {
		typ := reflect.TypeOf(e)
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		pkg, ok := strings.CutPrefix(typ.PkgPath(), pkgPrefix)
		if !ok {
			t.Errorf("%s: package %s is not under internal/extractor", e.Name(), typ.PkgPath())
			continue
		}
		testdata := filepath.Join("..", filepath.FromSlash(pkg), "testdata")
		cases, err := extractortest.Cases(testdata, "valid")
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		n := 0
		for _, c := range cases {
			if _, err := os.Stat(filepath.Join(testdata, "valid", c+extractortest.GoldenSuffix)); err == nil {
				n++
			} else {
				t.Errorf("%s: fixture %s has no golden file", e.Name(), c)
			}
		}
		if n == 0 {
			t.Errorf("%s: no valid fixture with a golden expectation in %s", e.Name(), testdata)
		}
	}
}
