// Package list is the explicit registry of extractors: the scanner runs
// exactly the plug-ins All returns, in that order. Adding an extractor means
// adding one line here and fixtures in its testdata/valid (a test checks).
package list

import (
	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/extractor/apk"
	"github.com/palisade-project/palisade/internal/extractor/dpkg"
	"github.com/palisade-project/palisade/internal/extractor/gobinary"
	"github.com/palisade-project/palisade/internal/extractor/java"
	"github.com/palisade-project/palisade/internal/extractor/npm"
	"github.com/palisade-project/palisade/internal/extractor/osrelease"
	"github.com/palisade-project/palisade/internal/extractor/python"
	"github.com/palisade-project/palisade/internal/extractor/rpm"
)

// All returns every extractor, os-release first.
func All() []extractor.Extractor {
	return []extractor.Extractor{
		osrelease.New(),
		dpkg.New(),
		apk.New(),
		rpm.New(),
		gobinary.New(),
		python.New(),
		npm.New(),
		java.New(),
	}
}
