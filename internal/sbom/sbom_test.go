package sbom

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestExecutablesContains(t *testing.T) {
	usrMerged := &Executables{
		Files: []string{"/usr/bin/dash", "/usr/bin/python3.11", "/usr/lib/git-core/git", "/var/lib/tool"},
		Links: map[string]string{
			"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash", "/usr/bin/python3": "/usr/bin/python3.11", "/lib": "/usr/lib",
			"/var/run":      "/run",              // a link to a directory without executables, kept for ".."
			"/dev/tool":     "/usr/bin/dash",     // hidden by the runtime's /dev
			"/etc/mtab":     "/proc/self/mounts", // into /proc
			"/usr/bin/self": "/proc/self/exe",    // into /proc
			"/usr/bin/fd":   "/dev/fd/3",         // into /proc through the runtime's /dev/fd
		},
	}
	// /a -> b, /b/c -> /d: a link to a directory that holds only a link.
	chain := &Executables{Files: []string{"/d/x"}, Links: map[string]string{"/a": "/b", "/b/c": "/d"}}
	// Hostile lists: a real scan stores neither loops nor targets that
	// are links or relative.
	looping := &Executables{Files: []string{"/a/x"}, Links: map[string]string{"/a": "/b", "/b": "/a"}}
	unresolved := &Executables{Files: []string{"/usr/bin/dash"}, Links: map[string]string{"/x": "/y", "/y": "/usr/bin", "/usr/bin/rel": "dash"}}
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
		{"the root", usrMerged, "/", false, true},
		{"the root's parent is the root", usrMerged, "/../../usr/bin/dash", true, true},

		// ".." climbs from where a link led, as the kernel does.
		{".. after a directory link", usrMerged, "/bin/../usr/bin/dash", false, true}, // /usr/usr/bin/dash
		{".. after a directory link, back", usrMerged, "/bin/../bin/dash", true, true},
		{".. after a directory link, above the root", usrMerged, "/bin/../../bin/sh", true, true},
		{".. after a link to a directory without executables", usrMerged, "/var/run/../lib/tool", false, true}, // /usr/lib/tool
		{".. after a link to a directory without executables, back", usrMerged, "/var/run/../usr/bin/dash", true, true},
		{"a link chain through directories", chain, "/a/c/x", true, true},
		{"a link chain through directories, then ..", chain, "/a/c/../c/x", false, true}, // /c/x
		{"a link chain, .. back to the link's parent", chain, "/a/c/../../a/c/x", true, true},
		{"targets that are links", unresolved, "/x/dash", true, true},
		{"a relative target", unresolved, "/usr/bin/rel", true, true},

		// Not paths of the image's file system: unknown, never absent.
		{"relative", usrMerged, "usr/bin/dash", false, false},
		{"relative with a dot", usrMerged, "./evil", false, false},
		{"relative, a name", usrMerged, "evil", false, false},
		{"relative with ..", usrMerged, "../tmp/evil", false, false},
		{"empty", usrMerged, "", false, false},
		{"PATH_MAX long", usrMerged, "/" + strings.Repeat("d/", MaxPath/2) + "x", false, false},
		{"/proc/self/exe", usrMerged, "/proc/self/exe", false, false},
		{"a process's root", usrMerged, "/proc/1/root/usr/bin/dash", false, false},
		{"through /proc and back", usrMerged, "/proc/self/../../tmp/evil", false, false},
		{"a link into /proc", usrMerged, "/usr/bin/self", false, false},
		{"a descriptor", usrMerged, "/dev/fd/3", false, false},
		{"a descriptor, then a name", usrMerged, "/dev/fd/3/evil", false, false},
		{"a descriptor, then ..", usrMerged, "/dev/fd/3/../../../usr/bin/dash", false, false},
		{"stdin", usrMerged, "/dev/stdin", false, false},
		{"a link to a descriptor", usrMerged, "/usr/bin/fd", false, false},
		{"a file-less executable", usrMerged, "/memfd:payload", false, false},
		{"a file-less executable named like a path", usrMerged, "/memfd:../../usr/bin/dash", false, false},
		{"a link loop", looping, "/a/x", false, false},

		// Near those, paths of the image (or of a runtime mount with no
		// executables of the image) are known.
		{"/proc itself, then ..", usrMerged, "/proc/../tmp/payload", false, true},
		{"/proc itself, then .. to the image", usrMerged, "/proc/../usr/bin/dash", true, true},
		{"shared memory", usrMerged, "/dev/shm/evil", false, true},
		{"an image link under the runtime's /dev", usrMerged, "/dev/tool", false, true},
		{"a name starting with memfd: deeper down", usrMerged, "/tmp/memfd:x", false, true},

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

// TestResolve checks the paths Resolve reaches, the form Contains looks
// up.
func TestResolve(t *testing.T) {
	links := map[string]string{"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash", "/var/run": "/run", "/a": "/b", "/b/c": "/d"}
	for _, tc := range []struct{ path, want string }{
		{"/bin/sh", "/usr/bin/dash"},
		{"/bin/../usr/bin/ls", "/usr/usr/bin/ls"},
		{"/bin/../../../bin/ls", "/usr/bin/ls"},
		{"/var/run/../lib/tool", "/lib/tool"},
		{"/a/c/x", "/d/x"},
		{"/a/c/..", "/"},
		{"/usr//bin/./dash/", "/usr/bin/dash"},
		{"/..", "/"},
		{"/", "/"},
	} {
		got, ok := Resolve(links, tc.path)
		if !ok || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q, true", tc.path, got, ok, tc.want)
		}
	}
	// 40 links are followed, not 41.
	deep := map[string]string{}
	for i := range MaxLinkHops + 1 {
		deep[fmt.Sprintf("/l%d", i)] = fmt.Sprintf("/l%d", i+1)
	}
	if got, ok := Resolve(deep, fmt.Sprintf("/l%d", 1)); !ok || got != fmt.Sprintf("/l%d", MaxLinkHops+1) {
		t.Errorf("Resolve through %d links = %q, %v; want /l%d, true", MaxLinkHops, got, ok, MaxLinkHops+1)
	}
	if got, ok := Resolve(deep, "/l0"); ok {
		t.Errorf("Resolve through %d links = %q, true; want false", MaxLinkHops+1, got)
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
