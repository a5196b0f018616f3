package osv

import (
	"archive/zip"
	"testing"
)

// BenchmarkParseGoVulnDB parses every record of the Go vulnerability
// database zip (4,789 records); the import target is under 3 s.
// Reading the zip entries is included, storing them is not.
func BenchmarkParseGoVulnDB(b *testing.B) {
	path := sharedPath(b, "vulndata/go-vulndb-osv-20261105.zip")
	zr, err := zip.OpenReader(path)
	if err != nil {
		b.Fatal(err)
	}
	defer zr.Close()
	n := 0
	for b.Loop() {
		n = 0
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ParseReader(rc); err != nil {
				b.Fatalf("%s: %v", f.Name, err)
			}
			rc.Close()
			n++
		}
	}
	b.ReportMetric(float64(n), "records/op")
}
