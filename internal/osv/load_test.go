package osv

import (
	"archive/zip"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const goodRecord = `{"id":"TEST-1","aliases":["CVE-2099-0001"],"affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`
const brokenRecord = `{"id":"TEST-2","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1.0.0"}]}]}]}`

func TestLoadDirZipAndFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, "records", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/TEST-1.json", goodRecord)
	write("b/TEST-2.json", brokenRecord)
	write("b/README.md", "not a record")

	zipPath := filepath.Join(dir, "all.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range map[string]string{"TEST-1.json": goodRecord, "TEST-2.json": brokenRecord, "index/db.json": `{}`} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	f.Close()

	for _, src := range []string{filepath.Join(dir, "records"), zipPath} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			recs, errs, err := Load(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].ID != "TEST-1" {
				t.Errorf("records = %v, want TEST-1", recs)
			}
			if len(errs) != 1 || !errors.Is(errs[0], ErrInvalid) {
				t.Errorf("errors = %v, want TEST-2 rejected", errs)
			}
		})
	}
	recs, errs, err := Load(t.Context(), filepath.Join(dir, "records", "a", "TEST-1.json"))
	if err != nil || len(recs) != 1 || len(errs) != 0 {
		t.Errorf("single file: %v %v %v", recs, errs, err)
	}
	if _, _, err := Load(t.Context(), filepath.Join(dir, "missing.zip")); err == nil {
		t.Error("missing source accepted")
	}
}

func TestLoadRealData(t *testing.T) {
	for _, tc := range []struct {
		zip          string
		records      int
		brokenAtMost int
	}{
		{"go-vulndb-osv-20261105.zip", 4789, 0},
		{"debian12-derived-osv.zip", 917, 0},
		{"pypa-advisory-db.zip", 2661, 0},
	} {
		t.Run(tc.zip, func(t *testing.T) {
			src := sharedPath(t, "vulndata/"+tc.zip)
			recs, errs, err := Load(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.records || len(errs) > tc.brokenAtMost {
				t.Errorf("loaded %d records with %d errors (%v), want %d", len(recs), len(errs), errs, tc.records)
			}
		})
	}
}
