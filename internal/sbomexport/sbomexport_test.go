package sbomexport

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/sbom"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// testSBOM is a small image: Debian packages (one built from a differently
// named source), a Go binary and npm packages, one of them installed twice.
func testSBOM() *sbom.SBOM {
	return &sbom.SBOM{
		Digest: "sha256:2f2c1a4b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708",
		OS:     sbom.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"},
		Packages: []sbom.Package{
			{Name: "lodash", Version: "4.17.20", Ecosystem: sbom.EcosystemNPM, PURL: "pkg:npm/lodash@4.17.20", Locations: []string{"app/node_modules/lodash/package.json"}, Extractor: "npm"},
			{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2", Locations: []string{"var/lib/dpkg/status"}, Extractor: "dpkg"},
			{Name: "base-files", Version: "12.4+deb12u5", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12", Locations: []string{"var/lib/dpkg/status"}, Extractor: "dpkg"},
			{Name: "golang.org/x/text", Version: "v0.3.5", Ecosystem: sbom.EcosystemGo, PURL: "pkg:golang/golang.org/x/text@v0.3.5", Locations: []string{"usr/local/bin/server"}, Extractor: "gobinary"},
			{Name: "stdlib", Version: "1.22.1", Ecosystem: sbom.EcosystemGo, PURL: "pkg:golang/stdlib@1.22.1", Locations: []string{"usr/local/bin/server"}, Extractor: "gobinary"},
			{Name: "@babel/core", Version: "7.24.0", Ecosystem: sbom.EcosystemNPM, PURL: "pkg:npm/%40babel/core@7.24.0", Locations: []string{"app/package-lock.json"}, Extractor: "npm"},
			{Name: "lodash", Version: "4.17.20", Ecosystem: sbom.EcosystemNPM, PURL: "pkg:npm/lodash@4.17.20", Locations: []string{"app/node_modules/other/node_modules/lodash/package.json"}, Extractor: "npm"},
		},
		Extractors: map[string]int{"dpkg": 1, "gobinary": 1, "npm": 1},
		CreatedAt:  testTime,
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file  string
		write func(s *sbom.SBOM) any
	}{
		{"cyclonedx.json", func(s *sbom.SBOM) any { return cycloneDX(s, "registry.example/shop/api:1.4", testTime, "test") }},
		{"spdx.json", func(s *sbom.SBOM) any { return spdx(s, "registry.example/shop/api:1.4", testTime, "test") }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var got bytes.Buffer
			if err := writeJSON(&got, tc.write(testSBOM())); err != nil {
				t.Fatal(err)
			}
			// The same SBOM with its packages in another order gives the
			// same document.
			s := testSBOM()
			for i, j := 0, len(s.Packages)-1; i < j; i, j = i+1, j-1 {
				s.Packages[i], s.Packages[j] = s.Packages[j], s.Packages[i]
			}
			var again bytes.Buffer
			if err := writeJSON(&again, tc.write(s)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got.String(), again.String()); diff != "" {
				t.Errorf("output depends on package order (-first +reversed):\n%s", diff)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestCycloneDXStructure(t *testing.T) {
	var buf bytes.Buffer
	if err := CycloneDX(testSBOM(), "", testTime, &buf); err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat, SpecVersion, SerialNumber string
		Version                              int
		Metadata                             struct {
			Timestamp string
			Tools     struct {
				Components []struct{ Type, Name, Version string }
			}
			Component struct {
				BOMRef              string `json:"bom-ref"`
				Type, Name, Version string
			}
		}
		Components []struct {
			BOMRef              string `json:"bom-ref"`
			Type, Name, Version string
			PURL                string
			Properties          []struct{ Name, Value string }
		}
		Dependencies []struct {
			Ref       string
			DependsOn []string
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &bom); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	s := testSBOM()
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion != "1.6" || bom.Version != 1 {
		t.Errorf("header = %q %q %d", bom.BOMFormat, bom.SpecVersion, bom.Version)
	}
	if !regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(bom.SerialNumber) {
		t.Errorf("serialNumber %q is not a v5 UUID URN", bom.SerialNumber)
	}
	if bom.Metadata.Timestamp != "2026-03-14T15:09:26Z" {
		t.Errorf("timestamp = %q", bom.Metadata.Timestamp)
	}
	if tools := bom.Metadata.Tools.Components; len(tools) != 1 || tools[0].Name != "palisade" || tools[0].Type != "application" || tools[0].Version == "" {
		t.Errorf("tools = %+v", tools)
	}
	img := bom.Metadata.Component
	if img.Type != "container" || img.Name != s.Digest || img.Version != s.Digest || img.BOMRef == "" {
		t.Errorf("image component = %+v (the digest names it when no reference is given)", img)
	}
	refs := map[string]bool{img.BOMRef: true}
	libraries := 0
	for _, c := range bom.Components {
		if c.BOMRef == "" || refs[c.BOMRef] {
			t.Errorf("component %s %s: bom-ref %q empty or not unique", c.Name, c.Version, c.BOMRef)
		}
		refs[c.BOMRef] = true
		switch c.Type {
		case "library":
			libraries++
			if !strings.HasPrefix(c.PURL, "pkg:") {
				t.Errorf("component %s %s has no purl", c.Name, c.Version)
			}
		case "operating-system":
			if c.Name != "debian" || c.Version != "12" {
				t.Errorf("operating system = %+v", c)
			}
		default:
			t.Errorf("component %s has type %q", c.Name, c.Type)
		}
	}
	if libraries != len(s.Packages) {
		t.Errorf("%d library components, want %d", libraries, len(s.Packages))
	}
	if len(bom.Dependencies) != 1 || bom.Dependencies[0].Ref != img.BOMRef || len(bom.Dependencies[0].DependsOn) != len(bom.Components) {
		t.Fatalf("dependencies = %+v, want the image depending on all %d components", bom.Dependencies, len(bom.Components))
	}
	for _, d := range bom.Dependencies[0].DependsOn {
		if !refs[d] || d == img.BOMRef {
			t.Errorf("dependency on %q, which is no component", d)
		}
	}
}

func TestSPDXStructure(t *testing.T) {
	var buf bytes.Buffer
	if err := SPDX(testSBOM(), "registry.example/shop/api:1.4", testTime, &buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXVersion, DataLicense, SPDXID, Name, DocumentNamespace string
		CreationInfo                                              struct {
			Created  string
			Creators []string
		}
		Packages []struct {
			SPDXID, Name, VersionInfo, DownloadLocation, SourceInfo, PrimaryPackagePurpose string
			FilesAnalyzed                                                                  *bool
			ExternalRefs                                                                   []struct{ ReferenceCategory, ReferenceType, ReferenceLocator string }
		}
		Relationships []struct {
			SPDXElementID      string `json:"spdxElementId"`
			RelationshipType   string
			RelatedSPDXElement string `json:"relatedSpdxElement"`
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	s := testSBOM()
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXID != "SPDXRef-DOCUMENT" || doc.Name != "registry.example/shop/api:1.4" {
		t.Errorf("header = %q %q %q %q", doc.SPDXVersion, doc.DataLicense, doc.SPDXID, doc.Name)
	}
	if !strings.HasPrefix(doc.DocumentNamespace, "https://palisade.dev/spdx/"+s.Digest+"-") {
		t.Errorf("documentNamespace = %q", doc.DocumentNamespace)
	}
	if doc.CreationInfo.Created != "2026-03-14T15:09:26Z" || len(doc.CreationInfo.Creators) != 1 || !strings.HasPrefix(doc.CreationInfo.Creators[0], "Tool: palisade-") {
		t.Errorf("creationInfo = %+v", doc.CreationInfo)
	}
	validID := regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.\-]+$`)
	ids := map[string]bool{doc.SPDXID: true}
	purls := map[string]bool{}
	for i, p := range doc.Packages {
		if !validID.MatchString(p.SPDXID) || ids[p.SPDXID] {
			t.Errorf("package %s: SPDXID %q invalid or not unique", p.Name, p.SPDXID)
		}
		ids[p.SPDXID] = true
		if p.DownloadLocation != "NOASSERTION" || p.FilesAnalyzed == nil || *p.FilesAnalyzed {
			t.Errorf("package %s: downloadLocation %q filesAnalyzed %v", p.Name, p.DownloadLocation, p.FilesAnalyzed)
		}
		switch {
		case i == 0:
			if p.PrimaryPackagePurpose != "CONTAINER" || p.VersionInfo != s.Digest {
				t.Errorf("first package = %+v, want the image", p)
			}
		case p.PrimaryPackagePurpose == "LIBRARY":
			if len(p.ExternalRefs) != 1 || p.ExternalRefs[0].ReferenceCategory != "PACKAGE-MANAGER" || p.ExternalRefs[0].ReferenceType != "purl" {
				t.Errorf("package %s: externalRefs = %+v", p.Name, p.ExternalRefs)
			} else {
				purls[p.ExternalRefs[0].ReferenceLocator] = true
			}
			if p.Name == "libssl3" && p.SourceInfo != "built package from: openssl 3.0.11-1~deb12u2" {
				t.Errorf("libssl3 sourceInfo = %q", p.SourceInfo)
			}
		}
	}
	if len(doc.Packages) != len(s.Packages)+2 {
		t.Errorf("%d packages, want the image, the OS and %d packages", len(doc.Packages), len(s.Packages))
	}
	for _, p := range s.Packages {
		if !purls[p.PURL] {
			t.Errorf("purl %s missing", p.PURL)
		}
	}
	describes, contains := 0, 0
	for _, r := range doc.Relationships {
		if !ids[r.SPDXElementID] || !ids[r.RelatedSPDXElement] {
			t.Errorf("relationship %+v names an element that is not in the document", r)
		}
		switch {
		case r.SPDXElementID == "SPDXRef-DOCUMENT" && r.RelationshipType == "DESCRIBES" && r.RelatedSPDXElement == doc.Packages[0].SPDXID:
			describes++
		case r.SPDXElementID == doc.Packages[0].SPDXID && r.RelationshipType == "CONTAINS":
			contains++
		default:
			t.Errorf("unexpected relationship %+v", r)
		}
	}
	if describes != 1 || contains != len(doc.Packages)-1 {
		t.Errorf("%d DESCRIBES and %d CONTAINS, want 1 and %d", describes, contains, len(doc.Packages)-1)
	}
}

func TestIdentifiers(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkgs []sbom.Package
	}{
		{"no purl", []sbom.Package{{Name: "weird name/with spaces+plus", Version: "1"}, {Name: "weird name/with spaces+plus", Version: "2"}}},
		{"same purl twice", []sbom.Package{{Name: "a", PURL: "pkg:npm/a@1"}, {Name: "a", PURL: "pkg:npm/a@1"}}},
		{"identical packages", []sbom.Package{{Name: "a", PURL: "pkg:npm/a@1"}, {Name: "a", PURL: "pkg:npm/a@1"}, {Name: "a", PURL: "pkg:npm/a@1"}}},
		{"non-ASCII name", []sbom.Package{{Name: "ünïcödé", PURL: "pkg:pypi/x@1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refs, ids := map[string]bool{}, map[string]bool{}
			for _, e := range entries(tc.pkgs) {
				if e.ref == "" || refs[e.ref] {
					t.Errorf("ref %q empty or repeated", e.ref)
				}
				if !regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.\-]+$`).MatchString(e.spdxID) || ids[e.spdxID] {
					t.Errorf("SPDXID %q invalid or repeated", e.spdxID)
				}
				refs[e.ref], ids[e.spdxID] = true, true
			}
		})
	}
}

func TestDocumentUUIDChangesWithTime(t *testing.T) {
	d := testSBOM().Digest
	a, b := documentUUID("spdx", d, testTime), documentUUID("spdx", d, testTime.Add(time.Hour))
	if a == b || a != documentUUID("spdx", d, testTime) {
		t.Errorf("document UUIDs %s and %s: want stable for one time, new for another", a, b)
	}
}
