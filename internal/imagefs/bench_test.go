package imagefs

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/palisade-project/palisade/internal/extractor"
)

// benchImage writes a synthetic image of about 100 MB (decompressed) in
// four gzip layers with 4,000 files to dir and returns it with its
// decompressed size.
func benchImage(b *testing.B, dir string) (v1.Image, int64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	const layers, filesPerLayer, avg = 4, 1000, 25 << 10
	var total int64
	var ls []v1.Layer
	chunk := make([]byte, 1<<20)
	for i := range chunk { // text-like: compresses about 2:1
		chunk[i] = "abcdefghijklmnop"[rng.IntN(16)]
	}
	for li := range layers {
		p := filepath.Join(dir, fmt.Sprintf("layer%d.tar.gz", li))
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		for fi := range filesPerLayer {
			size := rng.IntN(2 * avg)
			name := fmt.Sprintf("usr/lib/pkg%d/file%d", fi%50, fi)
			switch {
			case fi%100 == 0:
				name = fmt.Sprintf("usr/lib/python3/site-packages/p%d-%d.dist-info/METADATA", li, fi)
			case fi%250 == 1:
				name = fmt.Sprintf("usr/local/bin/tool%d-%d", li, fi)
			}
			off := rng.IntN(len(chunk) - size)
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: int64(size), Mode: 0o755}); err != nil {
				b.Fatal(err)
			}
			tw.Write(chunk[off : off+size])
			total += int64(size)
		}
		if li == 0 {
			body := "ID=debian\nVERSION_ID=12\n"
			tw.WriteHeader(&tar.Header{Name: "etc/os-release", Typeflag: tar.TypeReg, Size: int64(len(body)), Mode: 0o644})
			tw.Write([]byte(body))
		}
		if err := tw.Close(); err != nil {
			b.Fatal(err)
		}
		zw.Close()
		f.Close()
		l, err := tarball.LayerFromFile(p)
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
	}
	return imageOf(b, ls...), total
}

// BenchmarkWalk walks a ~100 MB, 4,000-file image whose extractors ask for
// about 60 files (Python metadata, executables under usr/local/bin).
func BenchmarkWalk(b *testing.B) {
	img, size := benchImage(b, b.TempDir())
	exts := []extractor.Extractor{
		newFake("fake/python", func(p string, _ fs.FileMode, _ int64) bool {
			return strings.HasSuffix(p, ".dist-info/METADATA")
		}),
		newFake("fake/binary", func(p string, m fs.FileMode, _ int64) bool {
			return strings.HasPrefix(p, "usr/local/bin/") && m&0o111 != 0
		}),
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var res *Result
	for b.Loop() {
		var err error
		res, err = Walk(b.Context(), img, exts, Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.Stats.Entries), "entries")
	b.ReportMetric(float64(res.Stats.BufferedBytes)/(1<<20), "MB-buffered")
}
