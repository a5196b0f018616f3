package kev

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  bool
	}{
		{"CISA layout", `{"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2025.08.25"`, true},
		{"title only, cut", `{"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogV`, true},
		{"sorted keys", `{"catalogVersion":"1","count":0,`, true},
		{"dateReleased first", "\ufeff\n  {\"dateReleased\": \"2025-08-25T17:04:19Z\"", true},
		{"vulnerabilities first", `{"vulnerabilities": [{"cveID": "CVE-2021-44228", "vendorProject": "Apache"`, true},
		{"vulnerabilities, entry without cveID first", `{"vulnerabilities": [{"vendorProject": "Apache", "cveID": "CVE`, true},
		{"OSV record", `{"id": "GO-2099-0001", "modified": "2099-01-02T03:04:05Z", "summary": "catalogVersion in text"}`, false},
		{"OSV record mentioning cveID in details", `{"id": "X-1", "details": "cveID", "aliases": ["CVE-2021-44228"]}`, false},
		{"catalogVersion nested", `{"id": "X-1", "database_specific": {"catalogVersion": "1"}}`, false},
		{"other title", `{"title": "Some other catalog", "id": "X"}`, false},
		{"CycloneDX vulnerabilities", `{"bomFormat": "CycloneDX", "vulnerabilities": [{"id": "CVE-2021-44228"`, false},
		{"cveID outside vulnerabilities", `{"items": [{"cveID": "CVE-2021-44228"}]}`, false},
		{"array", `[{"catalogVersion": "1"}]`, false},
		{"YAML", "id: GO-2099-0001\ncatalogVersion: 1\n", false},
		{"zip", "PK\x03\x04\x14\x00", false},
		{"empty", "", false},
		{"cut before any key", `{`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sniff([]byte(tc.input)); got != tc.want {
				t.Errorf("Sniff(%q) = %v, want %v", tc.input, got, tc.want)
			}
		})
	}
}

// TestSniffFixtures checks Sniff on the first SniffLen bytes of every
// fixture: the valid catalogs and every invalid one that still is a
// catalog are recognised (so that the importer reports why they are
// broken), the rest are not.
func TestSniffFixtures(t *testing.T) {
	notCatalogs := map[string]bool{"osv-record.json": true, "top-level-array.json": true, "empty.json": true}
	files, err := filepath.Glob("testdata/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := !(strings.Contains(f, "invalid") && notCatalogs[filepath.Base(f)])
		if got := Sniff(data[:min(len(data), SniffLen)]); got != want {
			t.Errorf("Sniff(%s) = %v, want %v", f, got, want)
		}
	}
}
