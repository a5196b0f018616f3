package match

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/palisade-project/palisade/internal/match/matchtest"
	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/version"
)

// shared is ../shared seen from this package's directory.
const shared = "../../../shared"

const (
	goZip     = "vulndata/go-vulndb-osv-20261105.zip"
	debianZip = "vulndata/debian12-derived-osv.zip"
	pypaZip   = "vulndata/pypa-advisory-db.zip"
)

// sharedPath returns the path of a file under ../shared, skipping the test
// when it is absent, unless CI=true, where it fails.
func sharedPath(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(shared, rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data %s is missing (CI=true): %v", p, err)
		}
		t.Skipf("shared data %s is missing; check out ../shared next to the repository to run this test", p)
	}
	return p
}

var zipCache sync.Map // path → []*osv.Record

// loadZip parses every .json/.yaml/.yml entry of an OSV zip. Records that
// fail to parse are counted and logged: some feeds carry broken records.
func loadZip(t testing.TB, rel string) []*osv.Record {
	t.Helper()
	p := sharedPath(t, rel)
	if v, ok := zipCache.Load(p); ok {
		return v.([]*osv.Record)
	}
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var recs []*osv.Record
	bad := 0
	for _, f := range zr.File {
		ext := filepath.Ext(f.Name)
		if f.FileInfo().IsDir() || (ext != ".json" && ext != ".yaml" && ext != ".yml") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, osv.MaxRecordSize+1))
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		r, err := osv.Parse(data)
		if err != nil {
			bad++
			continue
		}
		recs = append(recs, r)
	}
	if bad > 0 {
		t.Logf("%s: %d records rejected by osv.Parse", rel, bad)
	}
	zipCache.Store(p, recs)
	return recs
}

func allRecords(t testing.TB) []*osv.Record {
	var recs []*osv.Record
	for _, z := range []string{goZip, debianZip, pypaZip} {
		recs = append(recs, loadZip(t, z)...)
	}
	return recs
}

// pair is one record affecting one package, with its fixed version.
type pair struct {
	pkg, record, fixed string
}

// bruteForce evaluates every record against every package with
// osv.Affects, the reference the matcher must agree with.
func bruteForce(t *testing.T, recs []*osv.Record, pkgs []sbom.Package) []pair {
	t.Helper()
	var out []pair
	for i := range pkgs {
		eco, name, ver := Query(&pkgs[i])
		for _, r := range recs {
			ok, fixed, err := r.Affects(eco, name, ver)
			if err != nil || !ok {
				continue
			}
			out = append(out, pair{pkgs[i].Name, r.ID, fixed})
		}
	}
	slices.SortFunc(out, func(a, b pair) int { return strings.Compare(a.pkg+" "+a.record, b.pkg+" "+b.record) })
	return out
}

// checkAgainstBruteForce asserts that the findings cover exactly the
// (package, record) pairs of the brute force, and that each finding's
// fixed version is the smallest of its records'.
func checkAgainstBruteForce(t *testing.T, recs []*osv.Record, pkgs []sbom.Package, got []Finding) {
	t.Helper()
	want := bruteForce(t, recs, pkgs)
	isRecord := make(map[string]bool, len(recs))
	for _, r := range recs {
		isRecord[r.ID] = true
	}
	fixedOf := make(map[string]string)
	for _, p := range want {
		fixedOf[p.pkg+" "+p.record] = p.fixed
	}
	byID := make(map[string]*osv.Record, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	var gotPairs []pair
	for _, f := range got {
		eco, _, _ := Query(&f.Package)
		var mine []matchtest.Hit
		for _, id := range append([]string{f.ID}, f.Aliases...) {
			if !isRecord[id] {
				continue
			}
			fx := fixedOf[f.Package.Name+" "+id]
			gotPairs = append(gotPairs, pair{f.Package.Name, id, fx})
			mine = append(mine, matchtest.Hit{IDs: byID[id].IDs(), Fixed: fx})
		}
		want := matchtest.GroupFixed(t, eco, mine)
		if f.FixedVersion != want {
			t.Errorf("%s %s: fixed %q, want %q (the smallest version that fixes each of its CVEs)", f.Package.Name, f.ID, f.FixedVersion, want)
		}
	}
	slices.SortFunc(gotPairs, func(a, b pair) int { return strings.Compare(a.pkg+" "+a.record, b.pkg+" "+b.record) })
	if diff := cmp.Diff(want, gotPairs, cmp.AllowUnexported(pair{})); diff != "" {
		t.Errorf("matcher vs brute force over all records (-want +got):\n%s", diff)
	}
}

// checkFixedClearsFinding holds each finding's fixed version to what it
// promises: the package at that version matches none of the finding's ids.
func checkFixedClearsFinding(t *testing.T, db *DB, got []Finding) {
	t.Helper()
	for _, f := range got {
		if f.FixedVersion == "" {
			continue
		}
		p := f.Package
		if p.SourceVersion != "" {
			p.SourceVersion = f.FixedVersion
		} else {
			p.Version = f.FixedVersion
		}
		again, err := db.Match(t.Context(), &sbom.SBOM{Packages: []sbom.Package{p}})
		if err != nil {
			t.Fatal(err)
		}
		ids := append([]string{f.ID}, f.Aliases...)
		for _, g := range again {
			for _, id := range append([]string{g.ID}, g.Aliases...) {
				if slices.Contains(ids, id) {
					t.Errorf("%s at its fixed version %s still matches %s (finding %s)", p.Name, f.FixedVersion, id, f.ID)
				}
			}
		}
	}
}

func mustCompare(t *testing.T, eco, a, b string) int {
	t.Helper()
	c, err := version.Compare(eco, a, b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRealGo(t *testing.T) {
	recs := allRecords(t)
	db, err := NewDB(recs)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := []sbom.Package{
		{Name: "golang.org/x/text", Version: "v0.3.5", Ecosystem: sbom.EcosystemGo},
		{Name: "golang.org/x/net", Version: "v0.0.0-20210226172049-e18ecbb05110", Ecosystem: sbom.EcosystemGo},
		{Name: "stdlib", Version: "v1.20.0", Ecosystem: sbom.EcosystemGo},
	}
	got, err := db.Match(t.Context(), &sbom.SBOM{Packages: pkgs})
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstBruteForce(t, recs, pkgs, got)
	found := false
	for _, f := range got {
		if f.ID == "GO-2021-0113" || slices.Contains(f.Aliases, "GO-2021-0113") {
			found = true
			if f.Package.Name != "golang.org/x/text" || f.FixedVersion != "0.3.7" {
				t.Errorf("GO-2021-0113: package %s fixed %q, want golang.org/x/text fixed 0.3.7", f.Package.Name, f.FixedVersion)
			}
		}
	}
	if !found {
		t.Error("GO-2021-0113 not reported for golang.org/x/text v0.3.5")
	}
	perPkg := map[string]int{}
	for _, f := range got {
		perPkg[f.Package.Name]++
	}
	t.Logf("findings: %d (%v)", len(got), perPkg)
	if perPkg["stdlib"] == 0 || perPkg["golang.org/x/net"] == 0 {
		t.Errorf("expected findings for stdlib and golang.org/x/net, got %v", perPkg)
	}
}

func debianPkg(bin, src, ver string) sbom.Package {
	return sbom.Package{Name: bin, Version: ver, Ecosystem: "Debian:12", SourceName: src, SourceVersion: ver,
		PURL: fmt.Sprintf("pkg:deb/debian/%s@%s?distro=debian-12", bin, ver)}
}

func TestRealDebian(t *testing.T) {
	recs := allRecords(t)
	db, err := NewDB(recs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pkg  sbom.Package
		// fixed is a fixed version some finding must carry: the largest
		// fix of its merged records; "" for none.
		fixed string
		// cve, when set, must be reported with cveFixed (or not at all
		// when cveFixed is "").
		cve, cveFixed string
	}{
		{name: "libssl3 below a fix", pkg: debianPkg("libssl3", "openssl", "3.0.11-1~deb12u2"),
			fixed: "3.0.13-1~deb12u1", cve: "CVE-2024-5535", cveFixed: "3.0.15-1~deb12u1"},
		{name: "libssl3 at the fix", pkg: debianPkg("libssl3", "openssl", "3.0.15-1~deb12u1"),
			fixed: "3.0.16-1~deb12u1", cve: "CVE-2024-5535"},
		{name: "libssl3 at the newest fix", pkg: debianPkg("libssl3", "openssl", "3.0.22-1~deb12u2")},
		// deb12u4 fixes CVE-2023-6246, -6779 and -6780, but the deb12u5
		// record names them and CVE-2023-4911 as open before deb12u5: the
		// merged finding is fixed in deb12u5, not deb12u4.
		{name: "libc6 below a fix", pkg: debianPkg("libc6", "glibc", "2.36-9+deb12u3"), fixed: "2.36-9+deb12u5"},
		{name: "libc6 at the newest fix", pkg: debianPkg("libc6", "glibc", "2.36-9+deb12u7")},
		{name: "libcurl4 below a fix", pkg: debianPkg("libcurl4", "curl", "7.88.1-10+deb12u1"), fixed: "7.88.1-10+deb12u3"},
		{name: "libexpat1 below a fix", pkg: debianPkg("libexpat1", "expat", "2.5.0-1"), fixed: "2.5.0-1+deb12u1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkgs := []sbom.Package{tc.pkg}
			got, err := db.Match(t.Context(), &sbom.SBOM{Packages: pkgs})
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstBruteForce(t, recs, pkgs, got)
			checkFixedClearsFinding(t, db, got)
			if tc.fixed == "" && len(got) > 0 {
				t.Errorf("at the newest fixed version: %d findings, want none; first %+v", len(got), got[0])
			}
			fixes := map[string]bool{}
			for _, f := range got {
				fixes[f.FixedVersion] = true
				if f.Package.Name != tc.pkg.Name || f.Package.SourceName != tc.pkg.SourceName {
					t.Errorf("finding names %s (source %s), want %s (source %s)", f.Package.Name, f.Package.SourceName, tc.pkg.Name, tc.pkg.SourceName)
				}
				if tc.cve != "" && slices.Contains(f.Aliases, tc.cve) && f.FixedVersion != tc.cveFixed {
					t.Errorf("%s: fixed %q, want %q", tc.cve, f.FixedVersion, tc.cveFixed)
				}
			}
			if tc.fixed != "" && !fixes[tc.fixed] {
				t.Errorf("no finding with fixed version %s; fixed versions %v", tc.fixed, fixes)
			}
			if tc.cve != "" && tc.cveFixed != "" {
				if !slices.ContainsFunc(got, func(f Finding) bool { return slices.Contains(f.Aliases, tc.cve) }) {
					t.Errorf("%s not reported", tc.cve)
				}
			}
			if tc.cve != "" && tc.cveFixed == "" {
				if slices.ContainsFunc(got, func(f Finding) bool { return slices.Contains(f.Aliases, tc.cve) }) {
					t.Errorf("%s reported at its fixed version", tc.cve)
				}
			}
		})
	}
}
