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
		Links: map[string]string{"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash", "/var/run": "/run"},
	}
	// /a -> b, /b/c -> /d, as a scan now lists them.
	chain := &sbom.Executables{Files: []string{"/d/exe"}, Links: map[string]string{"/a": "/b", "/b/c": "/d"}}
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
		{"a chain of directory links", chain, "/a/c/exe", true, true},
		{".. after a link, as the kernel climbs", list, "/bin/../usr/bin/dash", false, true},
		{".. after a link, back", list, "/bin/../bin/dash", true, true},
		{".. after a link to a directory without executables", list, "/var/run/../usr/bin/dash", true, true},
		{"relative", list, "./evil", false, false},
		{"a name", list, "evil", false, false},
		{"empty", list, "", false, false},
		{"/proc/self/exe", list, "/proc/self/exe", false, false},
		{"a descriptor", list, "/dev/fd/3", false, false},
		{"file-less", list, "/memfd:x", false, false},
		{"shared memory", list, "/dev/shm/evil", false, true},
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
