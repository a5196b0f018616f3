package scanqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

// BenchmarkRematchStored measures what a vulnerability database change
// costs the server: loading the new database from the store and
// re-matching 1,000 stored SBOMs of about 100 packages each (read back
// from SQLite, matched, the findings written), against the Debian 12, Go
// and PyPA data of ../shared/vulndata. No image is pulled.
func BenchmarkRematchStored(b *testing.B) {
	ctx := context.Background()
	var recs []*osv.Record
	for _, f := range []string{"debian12-derived-osv.zip", "go-vulndb-osv-20261105.zip", "pypa-advisory-db.zip"} {
		path := filepath.Join("..", "..", "..", "shared", "vulndata", f)
		if _, err := os.Stat(path); err != nil {
			b.Skipf("no %s (../shared is absent): %v", f, err)
		}
		r, _, err := osv.Load(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r...)
	}
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "p.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	advs := make([]store.Advisory, 0, len(recs))
	for _, r := range recs {
		body, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		advs = append(advs, store.Advisory{Source: "all", ID: r.ID, Modified: r.Modified, Body: body})
	}
	if err := st.ReplaceAdvisories(ctx, store.AdvisorySource{Name: "all", Location: "bench", Records: len(advs), ImportedAt: time.Now().UTC(), Digest: "1"}, advs); err != nil {
		b.Fatal(err)
	}
	for _, s := range benchSBOMs(recs, 1000) {
		if err := st.PutSBOM(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	images, err := imagescan.Load(ctx, st, nil)
	if err != nil {
		b.Fatal(err)
	}
	var load time.Duration
	b.ResetTimer()
	for b.Loop() {
		q := New(Options{Inventory: newInventory(), Store: st, Publish: func(*imagescan.View) {}})
		for _, im := range images {
			q.images[im.Digest] = im
		}
		start := time.Now()
		q.refreshDB(ctx)
		load += time.Since(start)
		q.rematch(ctx)
		if q.db == nil {
			b.Fatal("no database loaded")
		}
		for _, im := range q.images {
			if im.Match == nil {
				b.Fatalf("%s not re-matched", im.Digest)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/change")
	b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "ms-db-load/change")
}

// benchSBOMs makes n SBOMs of 100 packages named after the records'
// packages: 60 Debian binaries (half from sources the data names, at one
// of their fixed versions), 25 Go modules and 15 PyPI packages.
func benchSBOMs(recs []*osv.Record, n int) []*sbom.SBOM {
	names := map[string][]string{}
	fixed := map[string]string{}
	for _, r := range recs {
		for _, a := range r.Affected {
			if a.Package == nil {
				continue
			}
			eco := a.Package.Ecosystem
			if !slices.Contains(names[eco], a.Package.Name) {
				names[eco] = append(names[eco], a.Package.Name)
			}
			for _, rg := range a.Ranges {
				for _, e := range rg.Events {
					if e.Fixed != "" {
						fixed[eco+"/"+a.Package.Name] = e.Fixed
					}
				}
			}
		}
	}
	for _, v := range names {
		slices.Sort(v)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(eco string) string { return names[eco][rng.IntN(len(names[eco]))] }
	out := make([]*sbom.SBOM, n)
	for i := range out {
		s := &sbom.SBOM{Digest: fmt.Sprintf("sha256:%064d", i), Extractors: map[string]int{}, CreatedAt: time.Now().UTC()}
		for j := range 30 {
			src := pick("Debian:12")
			ver := fixed["Debian:12/"+src]
			s.Packages = append(s.Packages, sbom.Package{Name: fmt.Sprintf("%s-bin%d", src, j), Version: ver, Ecosystem: "Debian:12", SourceName: src, SourceVersion: ver})
		}
		for j := range 30 {
			v := fmt.Sprintf("1.%d-%d", j, i%7)
			s.Packages = append(s.Packages, sbom.Package{Name: fmt.Sprintf("quiet%d", rng.IntN(500)), Version: v, Ecosystem: "Debian:12", SourceName: fmt.Sprintf("quiet-src%d", rng.IntN(500)), SourceVersion: v})
		}
		s.Packages = append(s.Packages, sbom.Package{Name: "stdlib", Version: fmt.Sprintf("v1.%d.%d", 16+rng.IntN(10), rng.IntN(10)), Ecosystem: "Go"})
		for range 24 {
			s.Packages = append(s.Packages, sbom.Package{Name: pick("Go"), Version: fmt.Sprintf("v0.%d.%d", rng.IntN(20), rng.IntN(10)), Ecosystem: "Go"})
		}
		for range 15 {
			s.Packages = append(s.Packages, sbom.Package{Name: pick("PyPI"), Version: fmt.Sprintf("%d.%d.%d", rng.IntN(4), rng.IntN(20), rng.IntN(5)), Ecosystem: "PyPI"})
		}
		out[i] = s
	}
	return out
}
