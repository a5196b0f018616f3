// Package extractortest runs an extractor over the fixture trees in its
// package's testdata/{valid,invalid,empty} directories and compares the
// result with golden JSON files, the way the scanner would call it: the
// fixture's os-release is parsed first, then every file the extractor asks
// for is handed to it.
//
// Layout, per extractor package:
//
//	testdata/valid/CASE/...          a root file system (files only)
//	testdata/valid/CASE.golden.json  the expected Result
//
// Valid cases must give no errors, invalid cases at least one, empty cases
// neither packages nor errors. Regenerate goldens with
// `go test ./internal/extractor/... -update`.
package extractortest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/extractor/osrelease"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Update rewrites golden files instead of comparing with them.
var Update = flag.Bool("update", false, "rewrite golden files of extractor fixtures")

// Kinds are the fixture directories under testdata.
var Kinds = []string{"valid", "invalid", "empty"}

// GoldenSuffix ends the name of a case's golden file.
const GoldenSuffix = ".golden.json"

// Result is what a golden file holds for one case.
type Result struct {
	OS       sbom.OS        `json:"os,omitzero"`
	Packages []sbom.Package `json:"packages"`
	// Errors are "path: message" for every file whose extraction failed.
	Errors []string `json:"errors,omitempty"`
}

// Cases lists the case names (fixture directories) of one kind.
func Cases(testdata, kind string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(testdata, kind))
	if err != nil {
		return nil, err
	}
	var cases []string
	for _, e := range entries {
		if e.IsDir() {
			cases = append(cases, e.Name())
		}
	}
	return cases, nil
}

// Run runs every case of every kind found under testdata.
func Run(t *testing.T, ext extractor.Extractor, testdata string) {
	t.Helper()
	for _, kind := range Kinds {
		cases, err := Cases(testdata, kind)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(kind+"/"+c, func(t *testing.T) {
				root := filepath.Join(testdata, kind, c)
				got := Extract(t, ext, root)
				switch kind {
				case "valid":
					if len(got.Errors) > 0 {
						t.Errorf("valid fixture gave errors: %q", got.Errors)
					}
				case "invalid":
					if len(got.Errors) == 0 {
						t.Errorf("invalid fixture gave no error")
					}
				case "empty":
					if len(got.Errors) > 0 || len(got.Packages) > 0 {
						t.Errorf("empty fixture gave %d packages, errors %q", len(got.Packages), got.Errors)
					}
				}
				Golden(t, root+GoldenSuffix, got)
			})
		}
	}
}

// Extract walks the root file system at dir as the scanner would and
// returns what ext finds in it, sorted.
func Extract(t *testing.T, ext extractor.Extractor, dir string) Result {
	t.Helper()
	var res Result
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			continue
		}
		if osr, err := osrelease.Parse(bytes.NewReader(b)); err == nil {
			res.OS = osr
		}
		break
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !ext.Required(rel, info.Mode(), info.Size()) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		pkgs, err := ext.Extract(t.Context(), &extractor.Input{
			Path: rel, Mode: info.Mode(), Size: info.Size(),
			Reader: bytes.NewReader(b), OS: res.OS,
		})
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", rel, err))
		}
		res.Packages = append(res.Packages, pkgs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	Sort(res.Packages)
	return res
}

// Sort orders packages by ecosystem, name, version and location.
func Sort(pkgs []sbom.Package) {
	sort.SliceStable(pkgs, func(i, j int) bool {
		a, b := pkgs[i], pkgs[j]
		if a.Ecosystem != b.Ecosystem {
			return a.Ecosystem < b.Ecosystem
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return strings.Join(a.Locations, ",") < strings.Join(b.Locations, ",")
	})
}

// Golden compares got with the JSON file at path, or rewrites it with -update.
func Golden(t *testing.T, path string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if *Update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	wantV := reflect.New(reflect.TypeOf(got))
	if err := json.Unmarshal(want, wantV.Interface()); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	gotV := reflect.New(reflect.TypeOf(got))
	if err := json.Unmarshal(b, gotV.Interface()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantV.Elem().Interface(), gotV.Elem().Interface()); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
