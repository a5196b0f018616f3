package scanner

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/palisade-project/palisade/internal/extractor/list"
	"github.com/palisade-project/palisade/internal/imagefs"
	"github.com/palisade-project/palisade/internal/sbom"
)

// entry is a tar entry of a test layer: a regular file when typ is 0.
type entry struct {
	name, link string
	typ        byte
	mode       int64
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode}
		if e.typ == 0 {
			h.Typeflag, h.Size = tar.TypeReg, 4
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == 0 {
			tw.Write([]byte("\x7fELF"))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestScanExecutables checks that the SBOM lists the image's executables,
// as a Debian image lays them out, and records the walk's version.
func TestScanExecutables(t *testing.T) {
	img, err := mutate.AppendLayers(empty.Image,
		layer(t,
			entry{name: "usr/bin/dash", mode: 0o755},
			entry{name: "usr/bin/sh", typ: tar.TypeSymlink, link: "dash"},
			entry{name: "usr/bin/payload", mode: 0o755},
			entry{name: "etc/os-release", mode: 0o644},
			entry{name: "bin", typ: tar.TypeSymlink, link: "usr/bin"},
		),
		layer(t, entry{name: "usr/bin/.wh.payload", mode: 0o644}),
	)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Scan(t.Context(), img, list.All(), imagefs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &sbom.Executables{Files: []string{"/usr/bin/dash"}, Links: map[string]string{"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash"}}
	if diff := cmp.Diff(want, res.SBOM.Executables); diff != "" {
		t.Errorf("executables (-want +got):\n%s", diff)
	}
	if present, known := res.SBOM.Executables.Contains("/bin/sh"); !present || !known {
		t.Errorf("Contains(/bin/sh) = %v, %v; want true, true", present, known)
	}
	if present, known := res.SBOM.Executables.Contains("/usr/bin/payload"); present || !known {
		t.Errorf("Contains(/usr/bin/payload) = %v, %v; want false, true", present, known)
	}
	if diff := cmp.Diff(Versions(list.All()), res.SBOM.Extractors); diff != "" {
		t.Errorf("extractors (-want +got):\n%s", diff)
	}
	if got := res.SBOM.Extractors[WalkerName]; got != imagefs.Version {
		t.Errorf("walk version recorded = %d, want %d", got, imagefs.Version)
	}
}
