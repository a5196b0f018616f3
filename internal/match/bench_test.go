package match

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/sbom"
)

// syntheticSBOMs makes n SBOMs of about 100 packages each from the names in
// the records: 60 Debian binaries (half built from a source the Debian data
// names, at one of its fixed versions, half from sources it does not), 25
// Go modules (stdlib among them) and 15 PyPI packages, deterministically.
func syntheticSBOMs(recs []*osv.Record, n int) []*sbom.SBOM {
	debFixed := map[string][]string{}
	var goNames, pyNames []string
	seen := map[string]bool{}
	for _, r := range recs {
		for _, a := range r.Affected {
			if a.Package == nil || seen[a.Package.Ecosystem+a.Package.Name] {
				if a.Package != nil && a.Package.Ecosystem == "Debian:12" {
					debFixed[a.Package.Name] = append(debFixed[a.Package.Name], fixedOf(a))
				}
				continue
			}
			seen[a.Package.Ecosystem+a.Package.Name] = true
			switch a.Package.Ecosystem {
			case "Debian:12":
				debFixed[a.Package.Name] = append(debFixed[a.Package.Name], fixedOf(a))
			case "Go":
				goNames = append(goNames, a.Package.Name)
			case "PyPI":
				pyNames = append(pyNames, a.Package.Name)
			}
		}
	}
	var debNames []string
	for name := range debFixed {
		debNames = append(debNames, name)
	}
	slices.Sort(debNames)
	slices.Sort(goNames)
	slices.Sort(pyNames)
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]*sbom.SBOM, n)
	for i := range out {
		s := &sbom.SBOM{Digest: fmt.Sprintf("sha256:%064d", i)}
		for j := range 30 {
			src := debNames[rng.IntN(len(debNames))]
			fixes := debFixed[src]
			ver := fixes[rng.IntN(len(fixes))]
			s.Packages = append(s.Packages, sbom.Package{Name: fmt.Sprintf("lib%s-bin%d", src, j), Version: ver + "+b1",
				Ecosystem: "Debian:12", SourceName: src, SourceVersion: ver})
		}
		for j := range 30 {
			s.Packages = append(s.Packages, sbom.Package{Name: fmt.Sprintf("quiet%d", rng.IntN(500)), Version: fmt.Sprintf("1.%d-%d", j, i%7),
				Ecosystem: "Debian:12", SourceName: fmt.Sprintf("quiet-src%d", rng.IntN(500)), SourceVersion: fmt.Sprintf("1.%d-%d", j, i%7)})
		}
		s.Packages = append(s.Packages, sbom.Package{Name: "stdlib", Version: fmt.Sprintf("v1.%d.%d", 16+rng.IntN(10), rng.IntN(10)), Ecosystem: "Go"})
		for range 24 {
			s.Packages = append(s.Packages, sbom.Package{Name: goNames[rng.IntN(len(goNames))],
				Version: fmt.Sprintf("v0.%d.%d", rng.IntN(20), rng.IntN(10)), Ecosystem: "Go"})
		}
		for range 15 {
			s.Packages = append(s.Packages, sbom.Package{Name: pyNames[rng.IntN(len(pyNames))],
				Version: fmt.Sprintf("%d.%d.%d", rng.IntN(4), rng.IntN(20), rng.IntN(5)), Ecosystem: "PyPI"})
		}
		out[i] = s
	}
	return out
}

func fixedOf(a osv.Affected) string {
	for _, rg := range a.Ranges {
		for _, e := range rg.Events {
			if e.Fixed != "" {
				return e.Fixed
			}
		}
	}
	return "0"
}

func benchDB(b *testing.B) (*DB, []*osv.Record) {
	recs := allRecords(b)
	db, err := NewDB(recs)
	if err != nil {
		b.Fatal(err)
	}
	return db, recs
}

// BenchmarkNewDB indexes the Go, Debian 12 and PyPA records (parsed
// beforehand; osv's BenchmarkParseGoVulnDB measures parsing).
func BenchmarkNewDB(b *testing.B) {
	recs := allRecords(b)
	for b.Loop() {
		if _, err := NewDB(recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs)), "records")
}

// BenchmarkRematch1000 re-matches 1,000 stored SBOMs of 100 packages each,
// one goroutine; the target is under 5 s for all of them.
func BenchmarkRematch1000(b *testing.B) {
	db, recs := benchDB(b)
	sboms := syntheticSBOMs(recs, 1000)
	findings := 0
	for b.Loop() {
		findings = 0
		for _, s := range sboms {
			fs, err := db.Match(b.Context(), s)
			if err != nil {
				b.Fatal(err)
			}
			findings += len(fs)
		}
	}
	b.ReportMetric(float64(len(sboms))*float64(b.N)/b.Elapsed().Seconds(), "SBOMs/s")
	b.ReportMetric(float64(findings)/float64(len(sboms)), "findings/SBOM")
}

// BenchmarkRematch1000Parallel is the same with one goroutine per CPU, as
// a re-match after a DB change would run.
func BenchmarkRematch1000Parallel(b *testing.B) {
	db, recs := benchDB(b)
	sboms := syntheticSBOMs(recs, 1000)
	workers := runtime.GOMAXPROCS(0)
	for b.Loop() {
		var wg sync.WaitGroup
		next := make(chan *sbom.SBOM)
		for range workers {
			wg.Go(func() {
				for s := range next {
					if _, err := db.Match(b.Context(), s); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for _, s := range sboms {
			next <- s
		}
		close(next)
		wg.Wait()
	}
	b.ReportMetric(float64(len(sboms))*float64(b.N)/b.Elapsed().Seconds(), "SBOMs/s")
	b.ReportMetric(float64(workers), "workers")
}
