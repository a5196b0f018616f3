package imagefs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// ent is one tar entry of a test layer.
type ent struct {
	name string
	typ  byte // 0 means a regular file
	body string
	link string
	mode int64
}

func file(name, body string) ent  { return ent{name: name, body: body} }
func dir(name string) ent         { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, to string) ent { return ent{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) ent {
	return ent{name: name, typ: tar.TypeLink, link: to}
}

func tarBytes(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Mode: mode, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layerOf is a gzip layer made with tarball.LayerFromOpener.
func layerOf(t testing.TB, ents ...ent) v1.Layer {
	t.Helper()
	return layerFromBytes(t, gzipBytes(t, tarBytes(t, ents...)))
}

func layerFromBytes(t testing.TB, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	return l
}

func imageOf(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	return img
}

// streamLayer is a layer whose content is generated on every read, so huge
// hostile layers cost no memory or disk. Its digests are fake: nothing
// verifies them for an in-memory image.
type streamLayer struct {
	id   string
	gzip bool
	size int64
	gen  func(w io.Writer) error
}

func (l *streamLayer) hash() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256([]byte(l.id)))}
}
func (l *streamLayer) Digest() (v1.Hash, error)            { return l.hash(), nil }
func (l *streamLayer) DiffID() (v1.Hash, error)            { return l.hash(), nil }
func (l *streamLayer) Size() (int64, error)                { return l.size, nil }
func (l *streamLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }

func (l *streamLayer) Compressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(l.gen(pw)) }()
	return pr, nil
}

func (l *streamLayer) Uncompressed() (io.ReadCloser, error) {
	rc, _ := l.Compressed()
	if !l.gzip {
		return rc, nil
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, rc}, nil
}

// fakeExtractor wants the paths its want function accepts and returns one
// package per file, named after the path with the content as version.
type fakeExtractor struct {
	name string
	want func(path string, mode fs.FileMode, size int64) bool
	// fail and panic name paths on which Extract fails.
	fail, panicOn string

	mu   sync.Mutex
	got  map[string]string // path -> content
	oses map[string]sbom.OS
}

func newFake(name string, want func(string, fs.FileMode, int64) bool) *fakeExtractor {
	return &fakeExtractor{name: name, want: want, got: map[string]string{}, oses: map[string]sbom.OS{}}
}

func wantPaths(paths ...string) func(string, fs.FileMode, int64) bool {
	return func(p string, _ fs.FileMode, _ int64) bool {
		for _, q := range paths {
			if p == q {
				return true
			}
		}
		return false
	}
}

func wantAll(string, fs.FileMode, int64) bool { return true }

func (f *fakeExtractor) Name() string { return f.name }
func (f *fakeExtractor) Version() int { return 1 }
func (f *fakeExtractor) Required(p string, m fs.FileMode, s int64) bool {
	return f.want(p, m, s)
}

func (f *fakeExtractor) Extract(ctx context.Context, in *extractor.Input) ([]sbom.Package, error) {
	b, err := io.ReadAll(in.Reader)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.got[in.Path] = string(b)
	f.oses[in.Path] = in.OS
	f.mu.Unlock()
	if in.Path == f.panicOn {
		panic("boom")
	}
	if in.Path == f.fail {
		return nil, fmt.Errorf("cannot parse %s", in.Path)
	}
	return []sbom.Package{{Name: in.Path, Version: strings.TrimSpace(string(b))}}, nil
}
