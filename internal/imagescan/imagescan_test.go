package imagescan

import (
	"testing"

	"github.com/palisade-project/palisade/internal/sbom"
)

func TestRunsAsRoot(t *testing.T) {
	for user, want := range map[string]bool{
		"": true, "root": true, "0": true, "0:0": true, "root:root": true, "000": true, " 0 ": true,
		"1000": false, "1000:0": false, "nobody": false, "app:app": false, "65532": false,
	} {
		if got := RunsAsRoot(user); got != want {
			t.Errorf("RunsAsRoot(%q) = %v, want %v", user, got, want)
		}
	}
}

func TestExecutablesContains(t *testing.T) {
	list := &sbom.Executables{
		Files: []string{"/app/server", "/usr/bin/dash", "/usr/bin/python3.11"},
		Links: map[string]string{"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash"},
	}
	tests := []struct {
		name           string
		e              *sbom.Executables
		path           string
		present, known bool
	}{
		{"a file", list, "/app/server", true, true},
		{"a link", list, "/bin/sh", true, true},
		{"absent", list, "/tmp/payload", false, true},
		{"a directory", list, "/usr/bin", false, true},
		{"unknown", nil, "/tmp/payload", false, false},
		{"truncated", &sbom.Executables{Truncated: true}, "/tmp/payload", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through the facts of an SBOM, as the server builds them.
			facts := FactsOf(&sbom.SBOM{Executables: tc.e})
			present, known := facts.Executables.Contains(tc.path)
			if present != tc.present || known != tc.known {
				t.Errorf("Contains(%q) = %v, %v; want %v, %v", tc.path, present, known, tc.present, tc.known)
			}
			// The lookup form answers as the stored list does.
			if p, k := tc.e.Contains(tc.path); p != present || k != known {
				t.Errorf("sbom.Executables.Contains(%q) = %v, %v; the view says %v, %v", tc.path, p, k, present, known)
			}
		})
	}
	if e := FactsOf(&sbom.SBOM{Executables: list}).Executables; e.Files() != 3 || e.Truncated() {
		t.Errorf("Files() = %d, Truncated() = %v; want 3, false", e.Files(), e.Truncated())
	}
}
