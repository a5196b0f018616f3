package imagefs

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/palisade-project/palisade/internal/sbom"
)

func exe(name string) ent           { return ent{name: name, body: "\x7fELF", mode: 0o755} }
func withMode(e ent, m int64) ent   { e.mode = m; return e }
func whiteout(dir, name string) ent { return file(dir+"/.wh."+name, "") }

// TestWalkExecutables builds an image of two real layer tarballs and
// checks the executables of its final file system.
func TestWalkExecutables(t *testing.T) {
	base := layerOf(t,
		dir("usr"), dir("usr/bin"), dir("usr/sbin"), dir("etc"),
		exe("usr/bin/dash"),
		symlink("usr/bin/sh", "dash"),
		exe("usr/bin/python3.11"),
		symlink("usr/bin/python3", "python3.11"),
		symlink("usr/bin/python", "/usr/bin/python3"), // a chain of two
		hardlink("usr/bin/dash-hard", "usr/bin/dash"),
		file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		file("usr/bin/not-exec", "data"),
		withMode(exe("usr/local/bin/tool"), 0o700), // owner-only execute bit
		exe("usr/sbin/nologin"),
		symlink("bin", "usr/bin"), // usr-merge
		symlink("sbin", "usr/sbin"),
		exe("usr/bin/removed"),  // whited out by the upper layer
		exe("usr/bin/chmodded"), // made non-executable by the upper layer
		symlink("usr/bin/abs", "/usr/bin/dash"),
		// Traversal: ".." stops at the image's root, as in the container.
		symlink("usr/bin/clamped", "../../../../../../usr/bin/dash"),
		symlink("usr/bin/escape", "../../../../../../host/bin/bash"),
		symlink("usr/bin/escape-abs", "/../../host/usr/bin/dash/.."),
		symlink("usr/bin/loop1", "loop2"),
		symlink("usr/bin/loop2", "loop1"),
		symlink("usr/bin/to-data", "/etc/passwd"),
		symlink("usr/bin/dangling", "nowhere"),
		symlink("usr/bin/to-removed", "removed"),
		file("usr/share/doc/README", "docs"),
		symlink("doc", "usr/share/doc"), // a directory without executables
	)
	upper := layerOf(t,
		whiteout("usr/bin", "removed"),
		exe("usr/bin/added"),
		withMode(file("usr/bin/chmodded", "x"), 0o644),
	)
	res, err := Walk(t.Context(), imageOf(t, base, upper), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &sbom.Executables{
		Files: []string{"/usr/bin/added", "/usr/bin/dash", "/usr/bin/dash-hard", "/usr/bin/python3.11", "/usr/local/bin/tool", "/usr/sbin/nologin"},
		Links: map[string]string{
			"/bin": "/usr/bin", "/sbin": "/usr/sbin",
			"/usr/bin/sh": "/usr/bin/dash", "/usr/bin/abs": "/usr/bin/dash", "/usr/bin/clamped": "/usr/bin/dash",
			"/usr/bin/python3": "/usr/bin/python3.11", "/usr/bin/python": "/usr/bin/python3.11",
			// Links to other directories, or to nothing in the image, for
			// a ".." after them; not to-data, a link to a data file.
			"/doc": "/usr/share/doc", "/usr/bin/escape": "/host/bin/bash", "/usr/bin/escape-abs": "/host/usr/bin",
		},
	}
	if diff := cmp.Diff(want, res.Executables); diff != "" {
		t.Fatalf("executables (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		path    string
		present bool
	}{
		{"/usr/bin/dash", true},
		{"/bin/sh", true}, // through the directory link, then the file link
		{"/bin/dash", true},
		{"/usr/bin/sh", true},
		{"/sbin/nologin", true},
		{"/bin/python", true},
		{"/usr/bin/../bin/dash", true},
		{"/usr/bin/added", true},
		{"/usr/bin/removed", false},
		{"/usr/bin/to-removed", false},
		{"/usr/bin/chmodded", false},
		{"/usr/bin/not-exec", false},
		{"/etc/passwd", false},
		{"/usr/bin/to-data", false},
		{"/host/bin/bash", false},
		{"/usr/bin/escape", false},
		{"/usr/bin/loop1", false},
		{"/tmp/payload", false},
		{"/doc/README", false},
		{"/doc/../usr/bin/dash", false}, // /usr/share/usr/bin/dash
		{"/doc/../../bin/sh", true},
		{"/bin/../usr/bin/dash", false}, // /usr/usr/bin/dash
	} {
		present, known := res.Executables.Contains(tc.path)
		if present != tc.present || !known {
			t.Errorf("Contains(%q) = %v, %v; want %v, true", tc.path, present, known, tc.present)
		}
	}
}

// TestExecutableLinks checks which links the list keeps, through the
// answers of Contains: a path the kernel resolves to an executable of the
// image is present, whatever links and ".." it goes through, and one it
// resolves elsewhere is absent.
func TestExecutableLinks(t *testing.T) {
	type link struct{ name, target string }
	tests := []struct {
		name    string
		execs   []string // executable files
		data    []string // files without an execute bit
		links   []link
		present []string
		absent  []string
		unknown []string
	}{
		{
			// The reviewer's case: /a is a link to a directory that holds
			// only a link to the executables' directory.
			name:    "a directory link to a directory link",
			execs:   []string{"d/exe"},
			links:   []link{{"a", "b"}, {"b/c", "/d"}},
			present: []string{"/d/exe", "/b/c/exe", "/a/c/exe", "/a/c/../d/exe", "/a/../a/c/exe"},
			absent:  []string{"/a/exe", "/a/c/../c/exe", "/b/exe"},
		},
		{
			name:    "a chain of three, written in any order",
			execs:   []string{"opt/tool/bin/run"},
			links:   []link{{"x/y/z", "/opt/tool"}, {"x/y0", "y"}, {"x0", "x"}, {"top", "x0"}},
			present: []string{"/top/y0/z/bin/run", "/x0/y/z/bin/run", "/x/y0/z/bin/run"},
			absent:  []string{"/top/y0/bin/run", "/top/y0/z/run"},
		},
		{
			name:    "usr-merge: .. climbs from where /bin leads",
			execs:   []string{"usr/bin/ls", "usr/bin/dash"},
			links:   []link{{"bin", "usr/bin"}, {"usr/bin/sh", "dash"}},
			present: []string{"/bin/ls", "/bin/sh", "/bin/../bin/ls", "/bin/../../bin/sh", "/usr/bin/../bin/ls"},
			absent:  []string{"/bin/../usr/bin/ls", "/bin/../ls"},
		},
		{
			// /var/run leads to a directory without executables: kept
			// anyway, since a ".." after it climbs from /run.
			name:    "a link to a directory without executables elsewhere",
			execs:   []string{"var/lib/dpkg/info/x.postinst", "usr/bin/dash"},
			data:    []string{"run/lock/.keep"},
			links:   []link{{"var/run", "/run"}},
			present: []string{"/var/run/../usr/bin/dash", "/var/lib/dpkg/info/x.postinst"},
			absent:  []string{"/var/run/../lib/dpkg/info/x.postinst", "/var/run/lock"},
		},
		{
			name:    "a dangling link elsewhere: the container can create its target",
			execs:   []string{"usr/bin/dash", "etc/bin/dash"},
			links:   []link{{"etc/missing", "/opt/none/dir"}},
			present: []string{"/etc/missing/../../../usr/bin/dash"},
			absent:  []string{"/etc/missing/../bin/dash", "/etc/missing/x"},
		},
		{
			name:    "a link in its own directory without executables is not needed",
			execs:   []string{"usr/bin/dash"},
			data:    []string{"usr/share/doc/a/copyright"},
			links:   []link{{"usr/share/doc/b", "a"}},
			present: []string{"/usr/share/doc/b/../../../bin/dash"},
			absent:  []string{"/usr/share/doc/b/copyright"},
		},
		{
			name:    "links to data files are left out",
			execs:   []string{"usr/bin/dash"},
			data:    []string{"etc/passwd", "usr/share/zoneinfo/Etc/UTC"},
			links:   []link{{"usr/bin/to-data", "/etc/passwd"}, {"etc/localtime", "/usr/share/zoneinfo/Etc/UTC"}},
			present: []string{"/usr/bin/dash"},
			absent:  []string{"/usr/bin/to-data", "/etc/localtime"},
		},
		{
			name:    "the runtime mounts its own /proc and /dev",
			execs:   []string{"dev/evil", "proc/evil", "usr/bin/dash"},
			links:   []link{{"dev/fd", "/usr/bin"}, {"usr/bin/self", "/proc/self/exe"}, {"usr/bin/stdin", "/dev/stdin"}},
			present: []string{"/usr/bin/dash", "/proc/../usr/bin/dash"},
			absent:  []string{"/dev/evil", "/dev/shm/evil"},
			unknown: []string{"/proc/evil", "/proc/self/exe", "/dev/fd/dash", "/usr/bin/self", "/usr/bin/stdin"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newExecCollector(Options{}.withDefaults())
			for _, f := range tc.execs {
				c.file(f, 0o755)
			}
			for _, f := range tc.data {
				c.file(f, 0o644)
			}
			for _, l := range tc.links {
				c.link(l.name, l.target)
			}
			ex, err := c.result(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			check := func(paths []string, wantPresent, wantKnown bool) {
				for _, p := range paths {
					if present, known := ex.Contains(p); present != wantPresent || known != wantKnown {
						t.Errorf("Contains(%q) = %v, %v; want %v, %v (links %v)", p, present, known, wantPresent, wantKnown, ex.Links)
					}
				}
			}
			check(tc.present, true, true)
			check(tc.absent, false, true)
			check(tc.unknown, false, false)
		})
	}
}

// TestExecutableLinksDeepChain checks that keeping links to a fixed point
// stays bounded: a chain of 500 directory links (their names near
// PATH_MAX), each kept only because of the next, would need 500 rounds of
// a pass over all links repeated until nothing changes.
func TestExecutableLinksDeepChain(t *testing.T) {
	const n = 500
	c := newExecCollector(Options{}.withDefaults())
	c.file("opt/exe", 0o755)
	dir, via := "", ""
	for i := range n {
		// d/l0 -> t0 and d/t0/l1 -> t1, ...: each link is in the same
		// directory as its target, which holds the next link.
		c.link(join(dir, fmt.Sprintf("l%d", i)), fmt.Sprintf("t%d", i))
		via = join(via, fmt.Sprintf("l%d", i))
		dir = join(dir, fmt.Sprintf("t%d", i))
	}
	c.link(join(dir, "opt"), "/opt")
	ex, err := c.result(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ex.Truncated || len(ex.Links) != n+1 {
		t.Fatalf("%d links kept (truncated %v), want %d", len(ex.Links), ex.Truncated, n+1)
	}
	// The kernel follows at most 40 links per path: take the last ones.
	p := "/" + dir[:strings.LastIndex(dir, fmt.Sprintf("/t%d", n-30))] + "/" + strings.Join(strings.Split(via, "/")[n-30:], "/") + "/opt/exe"
	if present, known := ex.Contains(p); !present || !known {
		t.Errorf("Contains(%.60q...) = %v, %v; want true, true", p, present, known)
	}
}

// TestWalkExecutablesSameLayer checks entries replaced within one layer
// and links in the directories of other entries.
func TestWalkExecutablesSameLayer(t *testing.T) {
	img := imageOf(t, layerOf(t,
		exe("app/run"),
		file("app/run", "replaced by a data file"),
		file("app/tool", "first a data file"),
		exe("app/tool"),
		symlink("opt", "app"),
		exe("opt/extra"), // written through the link: it lands in /app
	))
	res, err := Walk(t.Context(), img, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &sbom.Executables{Files: []string{"/app/extra", "/app/tool"}, Links: map[string]string{"/opt": "/app"}}
	if diff := cmp.Diff(want, res.Executables); diff != "" {
		t.Errorf("executables (-want +got):\n%s", diff)
	}
}

// TestWalkExecutablesBounds checks that an image over the bounds gets a
// list marked truncated, with nothing in it, and that the walk's memory
// for the list stays bounded.
func TestWalkExecutablesBounds(t *testing.T) {
	many := func(n int, typ byte) v1.Layer {
		return &streamLayer{id: fmt.Sprintf("execs-%d-%c", n, typ), size: int64(n) * 1024, gen: func(w io.Writer) error {
			tw := tar.NewWriter(w)
			for i := range n {
				h := &tar.Header{Name: fmt.Sprintf("bin/x%d", i), Typeflag: typ, Mode: 0o755}
				if typ == tar.TypeSymlink {
					h.Linkname = "/bin/x0"
				}
				if err := tw.WriteHeader(h); err != nil {
					return err
				}
			}
			return tw.Close()
		}}
	}
	truncated := &sbom.Executables{Truncated: true}
	tests := []struct {
		name   string
		layers []v1.Layer
		opts   Options
		want   *sbom.Executables
	}{
		{"files over the count", []v1.Layer{many(1001, tar.TypeReg)}, Options{MaxExecutables: 1000}, truncated},
		{"files at the count", []v1.Layer{many(1000, tar.TypeReg)}, Options{MaxExecutables: 1000}, nil},
		{"files over the bytes", []v1.Layer{many(1000, tar.TypeReg)}, Options{MaxExecutableBytes: 3000}, truncated},
		{"links over the count", []v1.Layer{many(1, tar.TypeReg), many(1001, tar.TypeSymlink)}, Options{MaxExecutables: 1000}, truncated},
		{"files and links together over the count", []v1.Layer{many(600, tar.TypeReg), layerOf(t, func() []ent {
			var es []ent
			for i := range 500 {
				es = append(es, symlink(fmt.Sprintf("usr/bin/l%d", i), "/bin/x0"))
			}
			return es
		}()...)}, Options{MaxExecutables: 1000}, truncated},
		{"a path longer than PATH_MAX", []v1.Layer{layerOf(t, exe(strings.Repeat("d/", 2100)+"x"))}, Options{}, truncated},
		{"a huge image of executables at the default bound", []v1.Layer{many(DefaultMaxExecutables+1, tar.TypeReg)}, Options{}, truncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Walk(t.Context(), imageOf(t, tc.layers...), nil, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Executables
			if tc.want == nil {
				if got.Truncated || len(got.Files) == 0 {
					t.Fatalf("executables truncated = %v with %d files, want a complete list", got.Truncated, len(got.Files))
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("executables (-want +got):\n%s", diff)
			}
			if present, known := got.Contains("/tmp/payload"); present || known {
				t.Errorf("a truncated list answers Contains(/tmp/payload) = %v, %v; want false, false", present, known)
			}
		})
	}
}
