package imagefs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/palisade-project/palisade/internal/extractor"
)

const tenGB = 10 << 30

// gzipBomb is a layer whose tar holds one file declaring 10 GB of zeros,
// compressed as repeated gzip members of 1 MiB of zeros each (about 1 KiB
// compressed): about 10 MB of gzip, generated as it is read.
func gzipBomb(t testing.TB) v1.Layer {
	t.Helper()
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Size: tenGB, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	tw.Flush() // header only; the content follows
	head := gzipBytes(t, hdr.Bytes())
	member := gzipBytes(t, make([]byte, 1<<20))
	return &streamLayer{id: "gzip-bomb", gzip: true, size: int64(len(head) + len(member)*(tenGB>>20)), gen: func(w io.Writer) error {
		if _, err := w.Write(head); err != nil {
			return err
		}
		for range tenGB >> 20 {
			if _, err := w.Write(member); err != nil {
				return err
			}
		}
		return nil
	}}
}

// manyEntries is an uncompressed layer of n empty files, generated as it
// is read.
func manyEntries(n int) v1.Layer {
	return &streamLayer{id: fmt.Sprintf("entries-%d", n), size: int64(n) * 1024, gen: func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for i := range n {
			if err := tw.WriteHeader(&tar.Header{Name: "f/" + strconv.Itoa(i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
				return err
			}
		}
		return tw.Close()
	}}
}

// sparseHuge is a layer with an old-GNU sparse file of 10 GB logical size
// and 512 bytes of data: the tar reader would expand it to 10 GB.
func sparseHuge(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "sparse", Typeflag: tar.TypeReg, Size: 512, Mode: 0o644, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	tw.Write(bytes.Repeat([]byte{'s'}, 512))
	tw.Close()
	b := buf.Bytes()
	h := b[:512]
	h[156] = tar.TypeGNUSparse
	octal := func(off, n int, v int64) {
		s := fmt.Sprintf("%0*o", n-1, v)
		copy(h[off:off+n], s+"\x00")
	}
	octal(386, 12, tenGB-512) // sparse entry 0: offset
	octal(398, 12, 512)       // sparse entry 0: length
	h[482] = 0                // not extended
	octal(483, 12, tenGB)     // real size
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func TestWalkHostile(t *testing.T) {
	truncated := gzipBytes(t, tarBytes(t, file("a", strings.Repeat("x", 1<<20)), file("b", "b")))
	truncated = truncated[:len(truncated)/2]
	hugeDeclared := tarBytes(t, file("big", "small"))
	// Declare 10 GB in the size field (octal, 11 digits) without the data.
	copy(hugeDeclared[124:136], fmt.Sprintf("%011o\x00", int64(tenGB)))
	copy(hugeDeclared[148:156], "        ")
	var sum int64
	for _, c := range hugeDeclared[:512] {
		sum += int64(c)
	}
	copy(hugeDeclared[148:156], fmt.Sprintf("%06o\x00 ", sum))

	tests := []struct {
		name   string
		layers func(t *testing.T) []v1.Layer
		opts   Options
		want   map[string]string // files handed to the extractor
		err    error             // wanted errors.Is target of Walk's error
		msg    string            // wanted in the error message
		check  func(t *testing.T, res *Result)
	}{
		{
			name: "dot-dot paths are skipped",
			layers: func(t *testing.T) []v1.Layer {
				return []v1.Layer{layerOf(t, file("../../etc/passwd", "x"), file("a/../../b", "x"), file("/../c", "x"),
					file("./../d", "x"), file("ok", "ok"), file("a/../e", "e"), file("../.wh.ok", ""))}
			},
			want: map[string]string{"ok": "ok", "e": "e"},
			check: func(t *testing.T, res *Result) {
				if res.Stats.Unsafe != 5 {
					t.Errorf("Stats.Unsafe = %d, want 5", res.Stats.Unsafe)
				}
			},
		},
		{
			name: "absolute symlink outside is not followed",
			layers: func(t *testing.T) []v1.Layer {
				return []v1.Layer{
					layerOf(t, file("etc/shadow", "root:secret")),
					layerOf(t, symlink("etc/passwd", "/etc/shadow"), symlink("etc/os-release", "/../../../etc/shadow"), symlink("x", "../../../../etc/shadow")),
				}
			},
			want: map[string]string{"etc/shadow": "root:secret"}, // the image's own, not the host's
			check: func(t *testing.T, res *Result) {
				if res.Stats.Symlinks != 3 || res.OS.ID != "" {
					t.Errorf("Symlinks = %d, OS = %+v; want 3 symlinks and no OS", res.Stats.Symlinks, res.OS)
				}
			},
		},
		{
			name: "hard-link loop",
			layers: func(t *testing.T) []v1.Layer {
				return []v1.Layer{layerOf(t, hardlink("etc/passwd", "etc/group"), hardlink("etc/group", "etc/passwd"), hardlink("x", "x"))}
			},
			want: map[string]string{},
			check: func(t *testing.T, res *Result) {
				if len(res.Errors) != 3 {
					t.Errorf("got errors %v, want 3", res.Errors)
				}
			},
		},
		{
			name:   "gzip bomb",
			layers: func(t *testing.T) []v1.Layer { return []v1.Layer{gzipBomb(t)} },
			opts:   Options{MaxLayerBytes: 64 << 20, MaxLayerCompressedBytes: 1 << 30},
			err:    ErrLimit,
			msg:    "MaxLayerBytes",
		},
		{
			name:   "gzip bomb over the image total",
			layers: func(t *testing.T) []v1.Layer { return []v1.Layer{gzipBomb(t)} },
			opts:   Options{MaxBytes: 32 << 20, MaxLayerCompressedBytes: 1 << 30},
			err:    ErrLimit,
			msg:    "MaxBytes",
		},
		{
			name:   "declared compressed size over the bound",
			layers: func(t *testing.T) []v1.Layer { return []v1.Layer{gzipBomb(t)} },
			err:    ErrLimit,
			msg:    "MaxLayerCompressedBytes",
			opts:   Options{MaxLayerCompressedBytes: 1 << 20},
		},
		{
			name:   "entry declaring 10 GB without the data",
			layers: func(t *testing.T) []v1.Layer { return []v1.Layer{layerFromBytes(t, hugeDeclared)} },
			err:    ErrInvalidLayer,
		},
		{
			name:   "sparse entry of 10 GB",
			layers: func(t *testing.T) []v1.Layer { return []v1.Layer{layerFromBytes(t, sparseHuge(t))} },
			want:   map[string]string{},
			check: func(t *testing.T, res *Result) {
				if len(res.Errors) != 1 || !errors.Is(res.Errors[0], extractor.ErrTooLarge) {
					t.Errorf("errors %v, want one ErrTooLarge", res.Errors)
				}
			},
		},
		{
			name: "truncated layer",
			layers: func(t *testing.T) []v1.Layer {
				return []v1.Layer{&streamLayer{id: "truncated", gzip: true, size: int64(len(truncated)), gen: func(w io.Writer) error {
					_, err := w.Write(truncated)
					return err
				}}}
			},
			err: io.ErrUnexpectedEOF,
			msg: "sha256:",
		},
		{
			name:   "a million tiny entries",
			layers: func(t *testing.T) []v1.Layer { return []v1.Layer{manyEntries(1_000_000)} },
			opts:   Options{MaxLayerEntries: 10_000},
			err:    ErrLimit,
			msg:    "MaxLayerEntries",
		},
		{
			name: "too many layers",
			layers: func(t *testing.T) []v1.Layer {
				l := layerOf(t, file("a", "a"))
				return []v1.Layer{l, l, l}
			},
			opts: Options{MaxLayers: 2},
			err:  ErrLimit,
			msg:  "MaxLayers",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFake("fake/all", wantAll)
			res, err := Walk(t.Context(), imageOf(t, tt.layers(t)...), []extractor.Extractor{fx}, tt.opts)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Walk error = %v, want %v", err, tt.err)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not mention %q", err, tt.msg)
				}
				if len(fx.got) != 0 {
					t.Errorf("extractor called on a failed walk: %v", fx.got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if diff := cmpMap(tt.want, fx.got); diff != "" {
				t.Errorf("files: %s", diff)
			}
			if res.Stats.BufferedBytes > 1<<10 {
				t.Errorf("BufferedBytes = %d for a hostile layer", res.Stats.BufferedBytes)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

func cmpMap(want, got map[string]string) string {
	if len(want) != len(got) {
		return fmt.Sprintf("want %v, got %v", want, got)
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Sprintf("want %v, got %v", want, got)
		}
	}
	return ""
}

func TestWalkDefaultEntryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 500,000 tar headers")
	}
	_, err := Walk(t.Context(), imageOf(t, manyEntries(1_000_000)), nil, Options{})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("Walk error = %v, want ErrLimit", err)
	}
}

func TestWalkCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Walk(ctx, imageOf(t, gzipBomb(t)), nil, Options{MaxLayerCompressedBytes: 1 << 30})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk error = %v, want context.Canceled", err)
	}
}
