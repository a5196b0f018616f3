package sbomexport

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/sbom"
)

// SPDX identifiers of the document's fixed elements.
const (
	spdxDocumentID = "SPDXRef-DOCUMENT"
	spdxImageID    = "SPDXRef-Image"
	spdxOSID       = "SPDXRef-OperatingSystem"
	noAssertion    = "NOASSERTION"
)

type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID                string            `json:"SPDXID"`
	Name                  string            `json:"name"`
	VersionInfo           string            `json:"versionInfo,omitempty"`
	DownloadLocation      string            `json:"downloadLocation"`
	FilesAnalyzed         bool              `json:"filesAnalyzed"`
	Checksums             []spdxChecksum    `json:"checksums,omitempty"`
	SourceInfo            string            `json:"sourceInfo,omitempty"`
	Description           string            `json:"description,omitempty"`
	Comment               string            `json:"comment,omitempty"`
	ExternalRefs          []spdxExternalRef `json:"externalRefs,omitempty"`
	PrimaryPackagePurpose string            `json:"primaryPackagePurpose,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

// SPDX writes s as an SPDX 2.3 JSON document: the document DESCRIBES the
// image (a package with purpose CONTAINER, version its digest), which
// CONTAINS its operating system and every package. ref names the image (its
// digest when empty); now is the document's creation time.
func SPDX(s *sbom.SBOM, ref string, now time.Time, w io.Writer) error {
	return writeJSON(w, spdx(s, ref, now, toolVersion()))
}

func spdx(s *sbom.SBOM, ref string, now time.Time, tool string) *spdxDocument {
	name := imageName(s, ref)
	image := spdxPackage{
		SPDXID:                spdxImageID,
		Name:                  name,
		VersionInfo:           s.Digest,
		DownloadLocation:      noAssertion,
		PrimaryPackagePurpose: "CONTAINER",
	}
	if alg, sum, ok := digestHash(s.Digest); ok {
		if a, ok := map[string]string{"sha256": "SHA256", "sha512": "SHA512"}[alg]; ok {
			image.Checksums = []spdxChecksum{{Algorithm: a, ChecksumValue: sum}}
		}
	}
	doc := &spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            spdxDocumentID,
		Name:              name,
		DocumentNamespace: "https://palisade.dev/spdx/" + s.Digest + "-" + documentUUID("spdx", s.Digest, now),
		CreationInfo: spdxCreationInfo{
			Created:  timestamp(now),
			Creators: []string{"Tool: " + toolName + "-" + tool},
		},
		Packages:      []spdxPackage{image},
		Relationships: []spdxRelationship{{SPDXElementID: spdxDocumentID, RelationshipType: "DESCRIBES", RelatedSPDXElement: spdxImageID}},
	}
	contains := func(id string) {
		doc.Relationships = append(doc.Relationships, spdxRelationship{SPDXElementID: spdxImageID, RelationshipType: "CONTAINS", RelatedSPDXElement: id})
	}
	if osName(s.OS) != "" {
		doc.Packages = append(doc.Packages, spdxPackage{
			SPDXID:                spdxOSID,
			Name:                  s.OS.ID,
			VersionInfo:           s.OS.VersionID,
			Description:           s.OS.Name,
			DownloadLocation:      noAssertion,
			PrimaryPackagePurpose: "OPERATING-SYSTEM",
		})
		contains(spdxOSID)
	}
	for _, e := range entries(s.Packages) {
		p := spdxPackage{
			SPDXID:                e.spdxID,
			Name:                  e.Name,
			VersionInfo:           e.Version,
			DownloadLocation:      noAssertion,
			PrimaryPackagePurpose: "LIBRARY",
		}
		if e.PURL != "" {
			p.ExternalRefs = []spdxExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: e.PURL}}
		}
		if e.SourceName != "" {
			p.SourceInfo = strings.TrimSpace(fmt.Sprintf("built package from: %s %s", e.SourceName, e.SourceVersion))
		}
		if len(e.Locations) > 0 {
			p.Comment = "found in " + strings.Join(e.Locations, ", ")
		}
		doc.Packages = append(doc.Packages, p)
		contains(e.spdxID)
	}
	return doc
}
