package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSBOMLayout(t *testing.T) {
	dir := debianLayout(t, "3.0.11-1~deb12u2")
	const purlPrefix = "pkg:deb/debian/libssl3@3.0.11-1~deb12u2"

	t.Run("spdx", func(t *testing.T) {
		code, out, stderr := run(t, "", "sbom", "--input", dir, "--format", "spdx")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var doc struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				SPDXID       string `json:"SPDXID"`
				Name         string `json:"name"`
				VersionInfo  string `json:"versionInfo"`
				SourceInfo   string `json:"sourceInfo"`
				ExternalRefs []struct {
					ReferenceType    string `json:"referenceType"`
					ReferenceLocator string `json:"referenceLocator"`
				} `json:"externalRefs"`
				PrimaryPackagePurpose string `json:"primaryPackagePurpose"`
			} `json:"packages"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) == 0 || doc.Packages[0].PrimaryPackagePurpose != "CONTAINER" || !strings.HasPrefix(doc.Packages[0].VersionInfo, "sha256:") {
			t.Fatalf("document = %s", out)
		}
		found := false
		for _, p := range doc.Packages {
			if p.Name != "libssl3" {
				continue
			}
			found = true
			if len(p.ExternalRefs) != 1 || p.ExternalRefs[0].ReferenceType != "purl" || !strings.HasPrefix(p.ExternalRefs[0].ReferenceLocator, purlPrefix) {
				t.Errorf("libssl3 externalRefs = %+v, want a purl starting %s", p.ExternalRefs, purlPrefix)
			}
			if p.SourceInfo != "built package from: openssl 3.0.11-1~deb12u2" {
				t.Errorf("libssl3 sourceInfo = %q", p.SourceInfo)
			}
		}
		if !found {
			t.Errorf("libssl3 missing:\n%s", out)
		}
	})

	t.Run("cyclonedx", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "bom.json")
		code, out, stderr := run(t, "", "sbom", "--input", dir, "--format", "cyclonedx", "-o", file)
		if code != 0 || out != "" {
			t.Fatalf("exit %d, stdout %q: %s", code, out, stderr)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var bom struct {
			BOMFormat   string `json:"bomFormat"`
			SpecVersion string `json:"specVersion"`
			Metadata    struct {
				Component struct {
					Type, Name, Version string
				} `json:"component"`
			} `json:"metadata"`
			Components []struct {
				BOMRef string `json:"bom-ref"`
				Type   string `json:"type"`
				Name   string `json:"name"`
				PURL   string `json:"purl"`
			} `json:"components"`
		}
		if err := json.Unmarshal(data, &bom); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, data)
		}
		if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != "1.6" || bom.Metadata.Component.Type != "container" || bom.Metadata.Component.Name != dir {
			t.Errorf("header = %s %s %+v", bom.BOMFormat, bom.SpecVersion, bom.Metadata.Component)
		}
		names := map[string]string{}
		for _, c := range bom.Components {
			names[c.Name] = c.PURL
		}
		if !strings.HasPrefix(names["libssl3"], purlPrefix) || names["base-files"] == "" {
			t.Errorf("components = %+v, want libssl3 (purl %s…) and base-files", bom.Components, purlPrefix)
		}
		if _, ok := names["debian"]; !ok {
			t.Errorf("components = %+v, want the debian operating system", bom.Components)
		}
	})

	// The default format is CycloneDX, on stdout.
	if code, out, stderr := run(t, "", "sbom", "--input", dir); code != 0 || !strings.Contains(out, `"bomFormat": "CycloneDX"`) {
		t.Errorf("default format: exit %d: %s %s", code, out, stderr)
	}
}

func TestSBOMErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"sbom"}, ExitUsage, "image reference or --input"},
		{[]string{"sbom", "--input", dir, "--format", "swid"}, ExitUsage, "want cyclonedx or spdx"},
		{[]string{"sbom", "--input", filepath.Join(dir, "nope")}, ExitError, "no such file"},
		{[]string{"sbom", "--input", dir}, ExitError, "without index.json"},
		{[]string{"sbom", "a", "b"}, ExitUsage, "accepts at most 1 arg"},
	} {
		code, _, stderr := run(t, "", tc.args...)
		if code != tc.wantCode || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q, want %d and %q", tc.args, code, stderr, tc.wantCode, tc.want)
		}
	}
}
