package version

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus is the osv-scalibr version vectors, relative to this package.
const corpus = "../../../shared/corpora/osv/osv-scalibr/semantic/testdata"

// sharedDir returns dir, or skips the test when the shared corpora are not
// checked out next to the repository (and fails when CI=true).
func sharedDir(t *testing.T, dir string) string {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared corpus %s is missing (CI=true): %v", dir, err)
		}
		t.Skipf("shared corpus %s is missing; check out ../shared next to the repository to run this test", dir)
	}
	return dir
}

func TestCorpus(t *testing.T) {
	dir := sharedDir(t, corpus)
	// file prefix → ecosystems (as OSV names them) that must pass every line.
	tests := []struct {
		prefix     string
		ecosystems []string
	}{
		{"debian", []string{"Debian", "Debian:12", "Ubuntu:22.04", "dpkg"}},
		{"alpine", []string{"Alpine", "Alpine:v3.20", "apk"}},
		{"pypi", []string{"PyPI"}},
		{"semver", []string{"npm", "Go", "SemVer", "crates.io", "Hex"}},
		{"maven", []string{"Maven"}},
		{"redhat", []string{"Red Hat", "Red Hat:enterprise_linux:9::appstream", "rpm", "Rocky Linux:9"}},
		{"rubygems", []string{"RubyGems"}},
		{"packagist", []string{"Packagist"}},
		{"nuget", []string{"NuGet"}},
		{"cran", []string{"CRAN"}},
		{"hackage", []string{"Hackage"}},
		{"pub", []string{"Pub"}},
	}
	files, err := filepath.Glob(filepath.Join(dir, "*-versions*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		for _, eco := range tt.ecosystems {
			t.Run(eco, func(t *testing.T) {
				lines := 0
				for _, f := range files {
					if !strings.HasPrefix(filepath.Base(f), tt.prefix+"-") {
						continue
					}
					covered[f] = true
					lines += checkFile(t, eco, f)
				}
				if lines == 0 {
					t.Fatalf("no %s-versions*.txt lines in %s", tt.prefix, dir)
				}
				t.Logf("%s: %d lines from %s-versions*.txt pass", eco, lines, tt.prefix)
			})
		}
	}
	for _, f := range files {
		if !covered[f] {
			t.Errorf("corpus file %s is not mapped to an ecosystem", filepath.Base(f))
		}
	}
}

// checkFile checks every "A op B" line of file in both directions and
// returns the number of lines checked.
func checkFile(t *testing.T, eco, file string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]int{"<": -1, "=": 0, ">": 1}
	n, failed := 0, 0
	sc := bufio.NewScanner(f)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "//") {
			continue
		}
		fields := strings.Fields(line)
		w, ok := want[fieldAt(fields, 1)]
		if len(fields) != 3 || !ok {
			t.Fatalf("%s:%d: malformed line %q", filepath.Base(file), lineNo, line)
		}
		n++
		a, b := fields[0], fields[2]
		for _, c := range []struct {
			a, b string
			want int
		}{{a, b, w}, {b, a, -w}} {
			got, err := Compare(eco, c.a, c.b)
			if err != nil || got != c.want {
				failed++
				if failed <= 20 {
					t.Errorf("%s:%d: Compare(%q, %q, %q) = %d, %v; want %d", filepath.Base(file), lineNo, eco, c.a, c.b, got, err, c.want)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if failed > 0 {
		t.Errorf("%s: %d comparisons failed", filepath.Base(file), failed)
	}
	return n
}

func fieldAt(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

func TestCompare(t *testing.T) {
	tests := []struct {
		eco, a, b string
		want      int
	}{
		{"Debian:12", "1.2.3-1", "1.2.3-1+deb12u1", -1},
		{"Debian", "1:1.0", "2.0", 1},
		{"Ubuntu:22.04", "2.35-0ubuntu3.1", "2.35-0ubuntu3", 1},
		{"Alpine:v3.20", "1.36.1-r29", "1.36.1-r3", 1},
		{"Red Hat", "1.0-1.el9", "1.0-1.el9_2", -1},
		{"PyPI", "2.0rc1", "2.0", -1},
		{"PyPI", "1.0.post1", "1.0", 1},
		{"npm", "1.0.0-alpha", "1.0.0", -1},
		{"Maven", "1.0-SNAPSHOT", "1.0", -1},
		{"Go", "v0.3.5", "0.3.7", -1},
		{"Go", "v0.0.0-20210226172049-e18ecbb05110", "0.7.0", -1},
		{"Go", "go1.22.3", "1.22.10", -1},
		{"SemVer", "1.10.0", "1.9.0", 1},
		{"Go", "1.21.0", "1.21.0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.eco+"/"+tt.a+"/"+tt.b, func(t *testing.T) {
			got, err := Compare(tt.eco, tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Compare(%q, %q, %q) = %d, want %d", tt.eco, tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, eco := range []string{"GIT", "Linux", "OSS-Fuzz", ""} {
		if _, err := Compare(eco, "1", "2"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Compare(%q): err = %v, want ErrUnsupported", eco, err)
		}
		if Supported(eco) {
			t.Errorf("Supported(%q) = true", eco)
		}
	}
	for _, eco := range []string{"Debian:12", "Alpine:v3.20", "Ubuntu:22.04", "Red Hat", "Go", "npm", "PyPI", "Maven"} {
		if !Supported(eco) {
			t.Errorf("Supported(%q) = false", eco)
		}
	}
	if _, err := Parse("Debian", "1.0-not-a-debian:version!@#$"); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid Debian version: err = %v, want ErrInvalid", err)
	}
	a, _ := Parse("Debian", "1.0")
	b, _ := Parse("PyPI", "1.0")
	if _, err := a.Compare(b); !errors.Is(err, ErrMismatch) {
		t.Errorf("Debian vs PyPI: err = %v, want ErrMismatch", err)
	}
	c, _ := Parse("Debian:12", "1.0")
	if got, err := a.Compare(c); err != nil || got != 0 {
		t.Errorf("Debian vs Debian:12 = %d, %v; want 0", got, err)
	}
}
