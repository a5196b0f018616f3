package osv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSchemaCorpus(t *testing.T) {
	dir := sharedPath(t, "corpora/osv/ossf-osv-schema/tools")
	files, err := filepath.Glob(filepath.Join(dir, "osv-linter/testdata/*.json"))
	if err != nil {
		t.Fatal(err)
	}
	ghsa, _ := filepath.Glob(filepath.Join(dir, "ghsa/testdata/*.osv.json"))
	files = append(files, ghsa...)
	// The linter's deliberately broken records are named for their fault.
	// nopackage- names a package that does not exist in its registry
	// (Gradi0): only a registry lookup can tell, so it parses offline.
	invalid := map[string]string{
		"nointroduced-": "first event must be introduced",
		"nondistinct-":  "events must be distinct",
	}
	valid, rejected := 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(data)
			for prefix, want := range invalid {
				if strings.HasPrefix(name, prefix) {
					if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
						t.Fatalf("Parse(%s) error = %v, want ErrInvalid mentioning %q", name, err, want)
					}
					t.Logf("rejected: %v", err)
					rejected++
					return
				}
			}
			if err != nil {
				t.Fatalf("Parse(%s): %v", name, err)
			}
			valid++
		})
	}
	t.Logf("ossf-osv-schema: %d valid records parsed, %d broken records rejected", valid, rejected)
	if rejected != len(invalid) {
		t.Errorf("rejected %d broken records, want %d", rejected, len(invalid))
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty input"},
		{"no id", `{"modified":"2024-01-01T00:00:00Z"}`, "id is missing"},
		{"bad json", `{"id":"X-1","affected":[}`, "decoding"},
		{"bad yaml", "id: [", "decoding YAML"},
		{"no package", `{"id":"X-1","affected":[{"versions":["1"]}]}`, "X-1: affected[0].package is missing"},
		{"no ecosystem", `{"id":"X-1","affected":[{"package":{"name":"a"}}]}`, "affected[0].package.ecosystem is missing"},
		{"no name", `{"id":"X-1","affected":[{"package":{"ecosystem":"Go"}}]}`, "affected[0].package.name is missing"},
		{"unknown range type", `{"id":"X-1","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"FOO","events":[{"introduced":"0"}]}]}]}`, `ranges[0]: unknown type "FOO"`},
		{"no events", `{"id":"X-1","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER"}]}]}`, "no events"},
		{"fixed first", `{"id":"X-1","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1.0.0"}]}]}]}`, "first event must be introduced"},
		{"two fields", `{"id":"X-1","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1.0.0"}]}]}]}`, "want exactly one"},
		{"fixed and last_affected", `{"id":"X-1","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"},{"introduced":"2.0.0"},{"last_affected":"2.1.0"}]}]}]}`, "both fixed and last_affected"},
		{"git without repo", `{"id":"X-1","affected":[{"ranges":[{"type":"GIT","events":[{"introduced":"0"}]}]}]}`, "GIT range without repo"},
		{"empty version", `{"id":"X-1","affected":[{"package":{"ecosystem":"Go","name":"a"},"versions":[""]}]}`, "versions[0] is empty"},
		{"too large", `{"id":"X-1","details":"` + strings.Repeat("a", MaxRecordSize) + `"}`, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("error %v wraps neither ErrInvalid nor ErrTooLarge", err)
			}
		})
	}
}

func TestParseYAMLAndIDs(t *testing.T) {
	r, err := Parse([]byte(`id: PYSEC-2023-1
modified: 2023-07-25T16:31:58.309647Z
withdrawn: 2024-01-01T00:00:00Z
aliases: [CVE-2023-1, GHSA-xxxx, CVE-2023-1]
affected:
- package: {ecosystem: PyPI, name: zstd}
  ranges:
  - type: ECOSYSTEM
    events: [{introduced: "0"}, {fixed: "1.5.5.1"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Withdrawn() {
		t.Error("Withdrawn() = false")
	}
	if got := strings.Join(r.IDs(), ","); got != "PYSEC-2023-1,CVE-2023-1,GHSA-xxxx" {
		t.Errorf("IDs() = %s", got)
	}
}
