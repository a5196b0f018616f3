//go:build images

package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

const goOSV = "vulndata/go-vulndb-osv-20261105.zip"

// TestGoBinaryImage builds a Go program linked against golang.org/x/text
// v0.3.5, scans an image holding it from a loopback registry, and checks
// the findings are exactly the Go records affecting its modules and
// standard library.
func TestGoBinaryImage(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	osvZip := sharedFile(t, goOSV)
	records := loadRecords(t, osvZip)

	mod := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/tiny\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.5\n")
	write("main.go", `package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tags, _, err := language.ParseAcceptLanguage(os.Getenv("LANG"))
	fmt.Println(tags, err)
}
`)
	bin := filepath.Join(mod, "tiny")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = mod
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}

	host := newRegistry(t)
	img := buildImage(t, host, "test/tiny", filepath.Join(t.TempDir(), "tiny"), "65532", bytesLayer(t, tarOfMode(t, "app/bin", body, 0o755)))
	rep := scan(t, img.ref, "--osv", osvZip)
	if rep.Image.Digest != img.digest.String() {
		t.Errorf("digest = %s, want %s", rep.Image.Digest, img.digest)
	}
	if rep.Config.User != "65532" {
		t.Errorf("config user = %q", rep.Config.User)
	}
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	var names []string
	for _, p := range rep.Packages {
		names = append(names, p.Name+"@"+p.Version)
		if p.Ecosystem != "Go" {
			t.Errorf("package %s: ecosystem %q, want Go", p.Name, p.Ecosystem)
		}
	}
	for _, want := range []string{"golang.org/x/text@v0.3.5", "stdlib@" + goVersion} {
		if !slices.ContainsFunc(names, func(n string) bool { return n == want || n == strings.Replace(want, "@", "@v", 1) }) {
			t.Errorf("packages %q: want %s", names, want)
		}
	}
	t.Logf("packages %q, %d findings", names, len(rep.Vulnerabilities))

	want := expectedFindings(t, rep, records)
	if diff := gocmp.Diff(want, scannedFindings(rep)); diff != "" {
		t.Errorf("findings differ from osv.Affects brute force (-want +got):\n%s", diff)
	}
	found := false
	for _, v := range rep.Vulnerabilities {
		if v.ID == "GO-2021-0113" || slices.Contains(v.Aliases, "GO-2021-0113") {
			found = true
			if v.Package != "golang.org/x/text" || v.FixedVersion != "0.3.7" {
				t.Errorf("GO-2021-0113: %+v, want golang.org/x/text fixed in 0.3.7", v)
			}
		}
	}
	if !found {
		t.Error("GO-2021-0113 (golang.org/x/text language out-of-bounds read) not reported")
	}
}
