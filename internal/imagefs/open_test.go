package imagefs

import (
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/palisade-project/palisade/internal/extractor"
)

func testImage(t *testing.T) v1.Image {
	return imageOf(t,
		layerOf(t, file("etc/os-release", "ID=debian\nVERSION_ID=12\n"), file("var/lib/dpkg/status", "base")),
		layerOf(t, file("var/lib/dpkg/status", "top")),
	)
}

func walkStatus(t *testing.T, img v1.Image) string {
	t.Helper()
	fx := newFake("fake/dpkg", wantPaths("var/lib/dpkg/status"))
	res, err := Walk(t.Context(), img, []extractor.Extractor{fx}, Options{})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if res.OS.ID != "debian" {
		t.Errorf("OS = %+v, want debian", res.OS)
	}
	return fx.got["var/lib/dpkg/status"]
}

// bigIndex is an index with n entries (all the same image, with distinct
// annotations).
func bigIndex(t *testing.T, img v1.Image, n int) v1.ImageIndex {
	adds := make([]mutate.IndexAddendum, n)
	for i := range adds {
		adds[i] = mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Annotations: map[string]string{"n": strconv.Itoa(i)},
			Platform:    &v1.Platform{OS: "linux", Architecture: "arch" + strconv.Itoa(i)},
		}}
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

func TestOpenLayout(t *testing.T) {
	img := testImage(t)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}

	got, err := OpenLayout(dir, d.String())
	if err != nil {
		t.Fatalf("OpenLayout: %v", err)
	}
	if s := walkStatus(t, got); s != "top" {
		t.Errorf("status = %q, want top", s)
	}
	if _, err := OpenLayout(dir, ""); err != nil {
		t.Errorf("OpenLayout without digest of a one-image layout: %v", err)
	}
	other := "sha256:" + strings.Repeat("0", 64)
	if _, err := OpenLayout(dir, other); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenLayout(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := OpenLayout(filepath.Join(dir, "nope"), d.String()); err == nil {
		t.Errorf("OpenLayout(missing dir) succeeded")
	}

	// An index entry resolves to the platform's image; one with thousands
	// of entries is rejected.
	multi := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	if err := p.AppendIndex(multi); err != nil {
		t.Fatal(err)
	}
	md, _ := multi.Digest()
	got, err = OpenLayout(dir, md.String())
	if err != nil {
		t.Fatalf("OpenLayout(index): %v", err)
	}
	if s := walkStatus(t, got); s != "top" {
		t.Errorf("status via index = %q, want top", s)
	}
	if _, err := OpenLayout(dir, md.String(), WithPlatform(v1.Platform{OS: "linux", Architecture: "s390x"})); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenLayout(other platform) error = %v, want ErrNotFound", err)
	}

	big := bigIndex(t, img, 5000)
	bigDir := t.TempDir()
	if _, err := layout.Write(bigDir, big); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLayout(bigDir, ""); !errors.Is(err, ErrLimit) {
		t.Errorf("OpenLayout(5000 entries) error = %v, want ErrLimit", err)
	}
}

func TestOpenTarball(t *testing.T) {
	img := testImage(t)
	path := filepath.Join(t.TempDir(), "image.tar")
	tag, _ := name.NewTag("example.com/app:1")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	got, err := OpenTarball(path)
	if err != nil {
		t.Fatalf("OpenTarball: %v", err)
	}
	if s := walkStatus(t, got); s != "top" {
		t.Errorf("status = %q, want top", s)
	}
	if _, err := OpenTarball(filepath.Join(t.TempDir(), "missing.tar")); err == nil || !strings.Contains(err.Error(), "docker save") {
		t.Errorf("OpenTarball(missing) error = %v, want a hint", err)
	}
}

func TestOpenRemote(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img := testImage(t)
	d, _ := img.Digest()
	ref, _ := name.NewTag(host + "/app:1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}

	got, err := OpenRemote(t.Context(), host+"/app@"+d.String(), nil)
	if err != nil {
		t.Fatalf("OpenRemote: %v", err)
	}
	gd, _ := got.Digest()
	if diff := cmp.Diff(d, gd); diff != "" {
		t.Errorf("digest (-want +got):\n%s", diff)
	}
	if s := walkStatus(t, got); s != "top" {
		t.Errorf("status = %q, want top", s)
	}

	if _, err := OpenRemote(t.Context(), host+"/missing:1", nil); err == nil {
		t.Errorf("OpenRemote(missing) succeeded")
	}

	bigRef, _ := name.NewTag(host + "/big:1")
	if err := remote.WriteIndex(bigRef, bigIndex(t, img, 3000)); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRemote(t.Context(), bigRef.String(), nil); !errors.Is(err, ErrLimit) {
		t.Errorf("OpenRemote(3000 entries) error = %v, want ErrLimit", err)
	}
}
