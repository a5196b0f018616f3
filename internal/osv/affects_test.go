package osv

import (
	"errors"
	"testing"

	"github.com/palisade-project/palisade/internal/version"
)

func mustParse(t *testing.T, s string) *Record {
	t.Helper()
	r, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAffects(t *testing.T) {
	goRec := `{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[
		{"introduced":"1.22.0-0"},{"fixed":"1.22.5"},{"introduced":"0"},{"fixed":"1.21.12"}]}]}]}`
	lastAff := `{"id":"X-2","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"ranges":[{"type":"SEMVER","events":[
		{"introduced":"1.0.0"},{"last_affected":"1.2.0"}]}]}]}`
	limit := `{"id":"X-3","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"ranges":[{"type":"ECOSYSTEM","events":[
		{"introduced":"0"},{"limit":"2.0"}]},{"type":"GIT","repo":"https://x","events":[{"introduced":"0"},{"fixed":"abc"}]}]}]}`
	debian := `{"id":"DSA-1","affected":[
		{"package":{"ecosystem":"Debian","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u1"}]}]},
		{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}`
	debian11 := `{"id":"DSA-2","affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1w-0+deb11u1"}]}]}]}`
	list := `{"id":"PYSEC-1","affected":[{"package":{"ecosystem":"PyPI","name":"zstd"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}],"versions":["1.4.9.1"]}]}`
	listOnly := `{"id":"PYSEC-2","affected":[{"package":{"ecosystem":"PyPI","name":"zstd"},"versions":["1.4.9.1","1.5.0"]}]}`
	withdrawn := `{"id":"GO-W","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`
	tests := []struct {
		name, rec, eco, pkg, ver string
		affected                 bool
		fixed                    string
	}{
		{"go first range", goRec, "Go", "stdlib", "go1.21.3", true, "1.21.12"},
		{"go fixed is exclusive", goRec, "Go", "stdlib", "1.21.12", false, ""},
		{"go between ranges", goRec, "Go", "stdlib", "1.21.20", false, ""},
		{"go second range", goRec, "Go", "stdlib", "v1.22.1", true, "1.22.5"},
		{"go prerelease introduced", goRec, "Go", "stdlib", "1.22.0-rc.1", true, "1.22.5"},
		{"go above", goRec, "Go", "stdlib", "1.23.0", false, ""},
		{"other package", goRec, "Go", "toolchain", "1.21.0", false, ""},
		{"other ecosystem", goRec, "npm", "stdlib", "1.21.0", false, ""},
		{"last_affected inclusive", lastAff, "npm", "left-pad", "1.2.0", true, ""},
		{"last_affected above", lastAff, "npm", "left-pad", "1.2.1", false, ""},
		{"below introduced", lastAff, "npm", "left-pad", "0.9.0", false, ""},
		{"limit below, PEP 503 name", limit, "PyPI", "foo-bar", "1.9", true, ""},
		{"limit reached", limit, "PyPI", "foo.bar", "2.0", false, ""},
		{"plain Debian applies to Debian:12, smallest fix", debian, "Debian:12", "openssl", "3.0.9-1", true, "3.0.11-1~deb12u1"},
		{"Debian:12 record, fixed", debian, "Debian:12", "openssl", "3.0.11-1~deb12u1", true, "3.0.11-1~deb12u2"},
		{"Debian:11 record not for Debian:12", debian11, "Debian:12", "openssl", "1.1.1n-0+deb11u1", false, ""},
		{"Debian:11 record for Debian:11", debian11, "Debian:11", "openssl", "1.1.1n-0+deb11u1", true, "1.1.1w-0+deb11u1"},
		{"versions list and open range", list, "PyPI", "zstd", "1.5.5", true, ""},
		{"versions list only, listed", listOnly, "PyPI", "zstd", "1.5.0", true, ""},
		{"versions list only, not listed", listOnly, "PyPI", "zstd", "1.5.1", false, ""},
		{"withdrawn", withdrawn, "Go", "m", "1.0.0", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.rec)
			affected, fixed, err := r.Affects(tt.eco, tt.pkg, tt.ver)
			if err != nil {
				t.Fatal(err)
			}
			if affected != tt.affected || fixed != tt.fixed {
				t.Errorf("Affects(%q, %q, %q) = %v, %q; want %v, %q", tt.eco, tt.pkg, tt.ver, affected, fixed, tt.affected, tt.fixed)
			}
		})
	}
}

func TestAffectsErrors(t *testing.T) {
	r := mustParse(t, `{"id":"L-1","affected":[{"package":{"ecosystem":"Linux","name":"kernel"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"6.1"}]}]}]}`)
	if _, _, err := r.Affects("Linux", "kernel", "5.0"); !errors.Is(err, version.ErrUnsupported) {
		t.Errorf("unsupported ecosystem: err = %v, want version.ErrUnsupported", err)
	}
}

// TestAffectsRealRecords checks a few records of the shared data.
func TestAffectsRealRecords(t *testing.T) {
	goDB := loadZip(t, "vulndata/go-vulndb-osv-20261105.zip")
	debDB := loadZip(t, "vulndata/debian12-derived-osv.zip")
	pyDB := loadZip(t, "vulndata/pypa-advisory-db.zip")
	tests := []struct {
		db                map[string]*Record
		id, eco, pkg, ver string
		affected          bool
		fixed             string
	}{
		{goDB, "GO-2021-0113", "Go", "golang.org/x/text", "v0.3.5", true, "0.3.7"},
		{goDB, "GO-2021-0113", "Go", "golang.org/x/text", "v0.3.7", false, ""},
		{goDB, "GO-2024-2963", "Go", "stdlib", "go1.22.3", true, "1.22.5"},
		{goDB, "GO-2024-2963", "Go", "stdlib", "go1.21.12", false, ""},
		{debDB, "DEBDERIVED-openssl-3.0.16-1_deb12u1", "Debian:12", "openssl", "3.0.15-1~deb12u1", true, "3.0.16-1~deb12u1"},
		{debDB, "DEBDERIVED-openssl-3.0.16-1_deb12u1", "Debian:12", "openssl", "3.0.16-1~deb12u1", false, ""},
		{debDB, "DEBDERIVED-openssl-3.0.16-1_deb12u1", "Debian:11", "openssl", "1.1.1n-0+deb11u1", false, ""},
		{pyDB, "PYSEC-2023-121", "PyPI", "zstd", "1.5.4.1", true, ""},
		{pyDB, "PYSEC-2022-42972", "PyPI", "apache-iotdb", "0.13.0", true, "0.14.0rc1"},
		{pyDB, "PYSEC-2022-42972", "PyPI", "apache-iotdb", "0.12.1", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.ver, func(t *testing.T) {
			r := tt.db[tt.id]
			if r == nil {
				t.Fatalf("record %s not in the data", tt.id)
			}
			if !containsID(r.IDs(), tt.id) {
				t.Errorf("IDs() = %v", r.IDs())
			}
			affected, fixed, err := r.Affects(tt.eco, tt.pkg, tt.ver)
			if err != nil {
				t.Fatal(err)
			}
			if affected != tt.affected || fixed != tt.fixed {
				t.Errorf("%s.Affects(%q, %q, %q) = %v, %q; want %v, %q", tt.id, tt.eco, tt.pkg, tt.ver, affected, fixed, tt.affected, tt.fixed)
			}
		})
	}
	if r := goDB["GO-2021-0113"]; r != nil && !containsID(r.IDs(), "CVE-2021-38561") {
		t.Errorf("GO-2021-0113 IDs() = %v, want CVE-2021-38561 among them", r.IDs())
	}
}

func containsID(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
