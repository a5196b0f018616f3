package match

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/sbom"
)

// loadDir parses every record under testdata/records.
func loadDir(t testing.TB, dir string) []*osv.Record {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*osv.Record
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		r, err := osv.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func testDB(t testing.TB) *DB {
	t.Helper()
	db, err := NewDB(loadDir(t, "testdata/records"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var (
	libssl3Old = sbom.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12",
		SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2", PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2"}
	libssl3Fixed = sbom.Package{Name: "libssl3", Version: "3.0.15-1~deb12u1", Ecosystem: "Debian:12",
		SourceName: "openssl", SourceVersion: "3.0.15-1~deb12u1"}
	// A binNMU: the binary version differs, the source version is compared.
	libssl3BinNMU = sbom.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2+b1", Ecosystem: "Debian:12",
		SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2"}
	opensslNoSource = sbom.Package{Name: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"}
	zlib            = sbom.Package{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Ecosystem: "Debian:12",
		SourceName: "zlib", SourceVersion: "1:1.2.13.dfsg-1"}
	xtext     = sbom.Package{Name: "golang.org/x/text", Version: "v0.3.5", Ecosystem: "Go"}
	xtextNew  = sbom.Package{Name: "golang.org/x/text", Version: "v0.3.8", Ecosystem: "Go"}
	jinja     = sbom.Package{Name: "jinja2", Version: "2.11.2", Ecosystem: "PyPI"}
	zope      = sbom.Package{Name: "Zope_Interface", Version: "5.1", Ecosystem: "PyPI"}
	zopeOther = sbom.Package{Name: "zope.interface", Version: "5.2", Ecosystem: "PyPI"}
)

func TestMatch(t *testing.T) {
	db := testDB(t)
	opensslFinding := func(p sbom.Package) Finding {
		return Finding{ID: "DEB-openssl-12", Aliases: []string{"CVE-2024-5535"}, Package: p,
			InstalledVersion: "3.0.11-1~deb12u2", FixedVersion: "3.0.15-1~deb12u1",
			Severity: osv.LevelCritical, Score: 9.1, Summary: "openssl security update (bookworm)"}
	}
	tests := []struct {
		name string
		pkgs []sbom.Package
		want []Finding
	}{
		{
			name: "binary package matched through its source",
			pkgs: []sbom.Package{libssl3Old},
			want: []Finding{opensslFinding(libssl3Old)},
		},
		{
			name: "binNMU compares the source version",
			pkgs: []sbom.Package{libssl3BinNMU},
			want: []Finding{opensslFinding(libssl3BinNMU)},
		},
		{
			name: "without a source the name is the source",
			pkgs: []sbom.Package{opensslNoSource},
			want: []Finding{opensslFinding(opensslNoSource)},
		},
		{
			name: "at the fixed version nothing",
			pkgs: []sbom.Package{libssl3Fixed},
		},
		{
			name: "release-less Debian record applies to Debian:12, unfixed",
			pkgs: []sbom.Package{zlib},
			want: []Finding{{ID: "DEB-zlib-all", Aliases: []string{"CVE-2099-0100"}, Package: zlib,
				InstalledVersion: "1:1.2.13.dfsg-1", Severity: osv.LevelLow,
				Summary: "zlib flaw in every Debian release, unfixed"}},
		},
		{
			name: "GO and GHSA records of one CVE merge; withdrawn ignored",
			pkgs: []sbom.Package{xtext},
			want: []Finding{{ID: "GHSA-ppp9-7jff-5vj2", Aliases: []string{"CVE-2021-38561", "GO-2021-0113"},
				// GHSA says 0.3.6, GO 0.3.7: at 0.3.6 the GO record still
				// matches, so the finding is fixed in 0.3.7.
				Package: xtext, InstalledVersion: "v0.3.5", FixedVersion: "0.3.7",
				Severity: osv.LevelHigh, Score: 7.5, Summary: "Out-of-bounds read in golang.org/x/text/language"}},
		},
		{
			name: "fixed module not reported",
			pkgs: []sbom.Package{xtextNew},
		},
		{
			name: "PYSEC and GHSA sharing only a CVE merge; PyPI names normalised",
			pkgs: []sbom.Package{jinja},
			want: []Finding{{ID: "GHSA-g3rq-g295-4j3m", Aliases: []string{"CVE-2020-28493", "PYSEC-2021-66"},
				Package: jinja, InstalledVersion: "2.11.2", FixedVersion: "2.11.3",
				Severity: osv.LevelMedium, Summary: "Regular Expression Denial of Service in Jinja2"}},
		},
		{
			name: "versions list",
			pkgs: []sbom.Package{zope, zopeOther},
			want: []Finding{{ID: "PYSEC-2099-1", Package: zope, InstalledVersion: "5.1", Summary: "listed versions only"}},
		},
		{
			name: "ordered by package name then id",
			pkgs: []sbom.Package{xtext, libssl3Old, zlib},
			want: []Finding{
				{ID: "GHSA-ppp9-7jff-5vj2", Aliases: []string{"CVE-2021-38561", "GO-2021-0113"},
					// GHSA says 0.3.6, GO 0.3.7: at 0.3.6 the GO record still
					// matches, so the finding is fixed in 0.3.7.
					Package: xtext, InstalledVersion: "v0.3.5", FixedVersion: "0.3.7",
					Severity: osv.LevelHigh, Score: 7.5, Summary: "Out-of-bounds read in golang.org/x/text/language"},
				opensslFinding(libssl3Old),
				{ID: "DEB-zlib-all", Aliases: []string{"CVE-2099-0100"}, Package: zlib,
					InstalledVersion: "1:1.2.13.dfsg-1", Severity: osv.LevelLow,
					Summary: "zlib flaw in every Debian release, unfixed"},
			},
		},
		{
			name: "ecosystem with no records",
			pkgs: []sbom.Package{{Name: "left-pad", Version: "1.0.0", Ecosystem: "npm"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Match(t.Context(), &sbom.SBOM{Packages: tc.pkgs})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDebian11RecordNotAppliedToDebian12(t *testing.T) {
	db := testDB(t)
	// 3.0.11 is below DEB-openssl-11's fix 9.9.9-1, but that record is for
	// bullseye only.
	got, err := db.Match(t.Context(), &sbom.SBOM{Packages: []sbom.Package{libssl3Old}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range got {
		if f.ID == "DEB-openssl-11" || strings.Contains(strings.Join(f.Aliases, " "), "DEB-openssl-11") {
			t.Errorf("Debian:11 record reported for a Debian:12 package: %+v", f)
		}
	}
	// And it does apply to a Debian:11 package.
	p := libssl3Old
	p.Ecosystem = "Debian:11"
	got, err = db.Match(t.Context(), &sbom.SBOM{Packages: []sbom.Package{p}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "DEB-openssl-11" {
		t.Errorf("Debian:11 package: got %+v, want DEB-openssl-11 only", got)
	}
}

func TestNewDB(t *testing.T) {
	recs := loadDir(t, "testdata/records")
	db, err := NewDB(recs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := db.Len(), len(recs)-1; got != want {
		t.Errorf("Len = %d, want %d (withdrawn dropped)", got, want)
	}
	// The version depends on the set, not its order.
	rev := append([]*osv.Record(nil), recs...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	db2, err := NewDB(rev)
	if err != nil {
		t.Fatal(err)
	}
	if db.Version() != db2.Version() || !strings.HasPrefix(db.Version(), "sha256:") {
		t.Errorf("Version differs by order or lacks sha256: %q vs %q", db.Version(), db2.Version())
	}
	// A modified record changes it.
	changed := *recs[0]
	changed.Modified = changed.Modified.Add(1)
	db3, err := NewDB(append([]*osv.Record{&changed}, recs[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	if db3.Version() == db.Version() {
		t.Error("Version unchanged after a record's modified time changed")
	}
	if _, err := NewDB(append(recs, recs[0])); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate id: err = %v, want ErrDuplicate", err)
	}
	if _, err := NewDB([]*osv.Record{nil}); err == nil {
		t.Error("nil record accepted")
	}
}

func TestMatchPartial(t *testing.T) {
	db := testDB(t)
	// Advisories exist for it, but "Linux" has no version comparator.
	bad := sbom.Package{Name: "kernel", Version: "6.0", Ecosystem: "Linux"}
	got, err := db.Match(t.Context(), &sbom.SBOM{Packages: []sbom.Package{bad, jinja}})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("err = %v, want ErrPartial", err)
	}
	if len(got) != 1 || got[0].Package.Name != "jinja2" {
		t.Errorf("findings for the other packages: got %+v", got)
	}
}

func TestMatchCancelled(t *testing.T) {
	db := testDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := db.Match(ctx, &sbom.SBOM{Packages: []sbom.Package{xtext}}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
