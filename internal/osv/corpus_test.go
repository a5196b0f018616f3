package osv

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const shared = "../../../shared"

// sharedPath returns shared/rel, or skips the test when ../shared is not
// checked out next to the repository (and fails when CI=true).
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

// zipRecords calls fn for each .json/.yaml/.yml entry of the zip at path.
func zipRecords(t testing.TB, path string, fn func(name string, data []byte)) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		switch strings.ToLower(filepath.Ext(f.Name)) {
		case ".json", ".yaml", ".yml":
		default:
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, MaxRecordSize+1))
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		fn(f.Name, data)
	}
}

// loadZip parses every record of a shared zip, failing on any error, and
// returns the records by id.
func loadZip(t testing.TB, rel string) map[string]*Record {
	t.Helper()
	recs := map[string]*Record{}
	zipRecords(t, sharedPath(t, rel), func(name string, data []byte) {
		r, err := Parse(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		recs[r.ID] = r
	})
	return recs
}

func TestVulnDataZips(t *testing.T) {
	tests := []struct {
		zip string
		min int
		eco string
	}{
		{"vulndata/go-vulndb-osv-20261105.zip", 4789, "Go"},
		{"vulndata/debian12-derived-osv.zip", 917, "Debian:12"},
		{"vulndata/pypa-advisory-db.zip", 2661, "PyPI"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.zip), func(t *testing.T) {
			recs := loadZip(t, tt.zip)
			withdrawn, affected, scored, rated := 0, 0, 0, 0
			for _, r := range recs {
				if r.Withdrawn() {
					withdrawn++
				}
				if level, score := SeverityOf(r); score > 0 {
					scored++
				} else if level != "" {
					rated++
				}
				for _, a := range r.Affected {
					affected++
					if a.Package != nil && a.Package.Ecosystem != tt.eco {
						t.Errorf("%s: ecosystem %q, want %q", r.ID, a.Package.Ecosystem, tt.eco)
					}
				}
			}
			if len(recs) < tt.min {
				t.Errorf("parsed %d records, want at least %d", len(recs), tt.min)
			}
			t.Logf("%s: %d records parsed (%d withdrawn, %d affected entries, %d with a CVSS score, %d with only a rating text)", tt.zip, len(recs), withdrawn, affected, scored, rated)
		})
	}
}
