package npm_test

import (
	"testing"

	"github.com/palisade-project/palisade/internal/extractor/extractortest"
	"github.com/palisade-project/palisade/internal/extractor/npm"
)

func TestFixtures(t *testing.T) {
	extractortest.Run(t, npm.New(), "testdata")
}

func TestRequired(t *testing.T) {
	for p, want := range map[string]bool{
		"app/node_modules/lodash/package.json":                          true,
		"app/node_modules/@babel/core/package.json":                     true,
		"app/node_modules/a/node_modules/b/package.json":                true,
		"app/node_modules/lodash/lib/package.json":                      false,
		"app/node_modules/.package-lock.json":                           false,
		"app/package.json":                                              false,
		"app/package-lock.json":                                         true,
		"app/node_modules/x/package-lock.json":                          false,
		"usr/lib/node_modules/npm/node_modules/@npmcli/fs/package.json": true,
	} {
		if got := npm.New().Required(p, 0o644, 10); got != want {
			t.Errorf("Required(%q) = %v, want %v", p, got, want)
		}
	}
}
