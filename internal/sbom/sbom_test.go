package sbom

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestExecutablesContains(t *testing.T) {
	usrMerged := &Executables{
		Files: []string{"/usr/bin/dash", "/usr/bin/python3.11", "/usr/lib/git-core/git"},
		Links: map[string]string{"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash", "/usr/bin/python3": "/usr/bin/python3.11", "/lib": "/usr/lib"},
	}
	// A hostile list whose links loop: a real scan never stores one.
	looping := &Executables{Files: []string{"/a/x"}, Links: map[string]string{"/a": "/b", "/b": "/a"}}
	tests := []struct {
		name           string
		e              *Executables
		path           string
		present, known bool
	}{
		{"a file", usrMerged, "/usr/bin/dash", true, true},
		{"a file link", usrMerged, "/usr/bin/sh", true, true},
		{"a directory link then a file link", usrMerged, "/bin/sh", true, true},
		{"a directory link", usrMerged, "/lib/git-core/git", true, true},
		{"unclean", usrMerged, "/usr//bin/./x/../dash", true, true},
		{"absent", usrMerged, "/tmp/payload", false, true},
		{"absent behind a link", usrMerged, "/bin/curl", false, true},
		{"a directory", usrMerged, "/usr/bin", false, true},
		{"relative", usrMerged, "usr/bin/dash", false, false},
		{"empty", usrMerged, "", false, false},
		{"a link loop", looping, "/a/x", false, false},
		{"unknown", nil, "/usr/bin/dash", false, false},
		{"truncated", &Executables{Truncated: true}, "/tmp/payload", false, false},
		{"an empty complete list", &Executables{}, "/app", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			present, known := tc.e.Contains(tc.path)
			if present != tc.present || known != tc.known {
				t.Errorf("Contains(%q) = %v, %v; want %v, %v", tc.path, present, known, tc.present, tc.known)
			}
		})
	}
}

// TestExecutablesJSON checks that an SBOM without the list (made before
// it existed) decodes as unknown, and an empty list as known.
func TestExecutablesJSON(t *testing.T) {
	for body, wantKnown := range map[string]bool{
		`{"digest":"sha256:a","packages":[]}`:                                  false,
		`{"digest":"sha256:a","packages":[],"executables":{}}`:                 true,
		`{"digest":"sha256:a","packages":[],"executables":{"truncated":true}}`: false,
	} {
		var s SBOM
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if _, known := s.Executables.Contains("/x"); known != wantKnown {
			t.Errorf("%s: known = %v, want %v", body, known, wantKnown)
		}
	}
}

func BenchmarkExecutablesContains(b *testing.B) {
	e := &Executables{Links: map[string]string{"/bin": "/usr/bin", "/sbin": "/usr/sbin", "/lib": "/usr/lib"}}
	for i := range 3000 {
		e.Files = append(e.Files, fmt.Sprintf("/usr/bin/tool%05d", i))
	}
	for b.Loop() {
		e.Contains("/bin/tool01234")
	}
}
