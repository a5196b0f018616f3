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
	} {
		present, known := res.Executables.Contains(tc.path)
		if present != tc.present || !known {
			t.Errorf("Contains(%q) = %v, %v; want %v, true", tc.path, present, known, tc.present)
		}
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
