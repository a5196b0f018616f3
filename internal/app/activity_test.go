package app

import (
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/activity"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procrules"
	"github.com/palisade-project/palisade/internal/sbom"
)

// The built-in binary-not-in-image rule, through the server's adapter,
// fires for an executable a complete list of the image lacks, and for
// nothing else.
func TestRulesBinaryNotInImage(t *testing.T) {
	debian := &sbom.Executables{
		Files: []string{"/app/server", "/usr/bin/dash"},
		Links: map[string]string{"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash"},
	}
	tests := []struct {
		name string
		list *sbom.Executables // nil: the SBOM predates the list
		exe  string
		want bool
	}{
		{"absent from a complete list", debian, "/usr/local/bin/helper", true},
		{"deleted after it started", debian, "/usr/local/bin/helper (deleted)", true},
		{"in the image", debian, "/app/server", false},
		{"resolved through a symbolic link", debian, "/usr/bin/dash", false},
		{"a symbolic link's own path", debian, "/bin/sh", false},
		{"unknown: an SBOM from before the list", nil, "/usr/local/bin/helper", false},
		{"truncated list", &sbom.Executables{Truncated: true}, "/usr/local/bin/helper", false},
	}
	r := rules{procrules.Builtin()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			facts := imagescan.FactsOf(&sbom.SBOM{Executables: tc.list, Config: sbom.ImageConfig{Entrypoint: []string{"/app/server"}}})
			got := r.Evaluate(activity.Event{Exe: tc.exe, Args: []string{tc.exe}, Entrypoint: facts.Entrypoint, Executables: facts.Executables})
			fired := slices.ContainsFunc(got, func(s observation.Suspicion) bool { return s.Rule == "binary-not-in-image" })
			if fired != tc.want {
				t.Errorf("binary-not-in-image fired = %v, want %v (findings %+v)", fired, tc.want, got)
			}
		})
	}
}
