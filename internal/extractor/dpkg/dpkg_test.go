package dpkg_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/extractor"

	"github.com/palisade-project/palisade/internal/extractor/dpkg"
	"github.com/palisade-project/palisade/internal/extractor/extractortest"
)

func TestFixtures(t *testing.T) {
	extractortest.Run(t, dpkg.New(), "testdata")
}

func TestTooLarge(t *testing.T) {
	in := &extractor.Input{Path: "var/lib/dpkg/status", Size: extractor.MaxFileSize + 1, Reader: strings.NewReader("")}
	if _, err := dpkg.New().Extract(t.Context(), in); !errors.Is(err, extractor.ErrTooLarge) {
		t.Fatalf("Extract() error = %v, want ErrTooLarge", err)
	}
}

func TestRequired(t *testing.T) {
	for path, want := range map[string]bool{
		"var/lib/dpkg/status":                   true,
		"var/lib/dpkg/status.d/libssl3":         true,
		"var/lib/dpkg/status.d/libssl3.md5sums": false,
		"var/lib/dpkg/status-old":               false,
		"var/lib/dpkg/status.d/sub/x":           false,
		"usr/share/doc/var/lib/dpkg/status":     false,
	} {
		if got := dpkg.New().Required(path, 0o644, 10); got != want {
			t.Errorf("Required(%q) = %v, want %v", path, got, want)
		}
	}
}
