package python_test

import (
	"testing"

	"github.com/palisade-project/palisade/internal/extractor/extractortest"
	"github.com/palisade-project/palisade/internal/extractor/python"
)

func TestFixtures(t *testing.T) {
	extractortest.Run(t, python.New(), "testdata")
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Django":            "django",
		"zope.interface":    "zope-interface",
		"typing_extensions": "typing-extensions",
		"A-_.b":             "a-b",
	} {
		if got := python.Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
