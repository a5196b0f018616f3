package sbomexport

import (
	"io"
	"time"

	"github.com/palisade-project/palisade/internal/sbom"
)

// CycloneDX property names, namespaced as the CycloneDX property taxonomy
// asks.
const (
	propEcosystem     = "palisade:package:ecosystem"
	propSourceName    = "palisade:package:sourceName"
	propSourceVersion = "palisade:package:sourceVersion"
	propLocation      = "palisade:package:location"
	propExtractor     = "palisade:package:extractor"
)

type cdxBOM struct {
	BOMFormat    string          `json:"bomFormat"`
	SpecVersion  string          `json:"specVersion"`
	SerialNumber string          `json:"serialNumber"`
	Version      int             `json:"version"`
	Metadata     cdxMetadata     `json:"metadata"`
	Components   []cdxComponent  `json:"components"`
	Dependencies []cdxDependency `json:"dependencies"`
}

type cdxMetadata struct {
	Timestamp string       `json:"timestamp"`
	Tools     cdxTools     `json:"tools"`
	Component cdxComponent `json:"component"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	BOMRef      string        `json:"bom-ref,omitempty"`
	Type        string        `json:"type"`
	Name        string        `json:"name"`
	Version     string        `json:"version,omitempty"`
	Description string        `json:"description,omitempty"`
	Hashes      []cdxHash     `json:"hashes,omitempty"`
	PURL        string        `json:"purl,omitempty"`
	Properties  []cdxProperty `json:"properties,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxDependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn,omitempty"`
}

// CycloneDX writes s as a CycloneDX 1.6 JSON document: the image is the
// metadata component (type container, version its digest), its OS and
// packages are the components, and the image depends on each of them. ref
// names the image (its digest when empty); now is the document's time.
func CycloneDX(s *sbom.SBOM, ref string, now time.Time, w io.Writer) error {
	return writeJSON(w, cycloneDX(s, ref, now, toolVersion()))
}

func cycloneDX(s *sbom.SBOM, ref string, now time.Time, tool string) *cdxBOM {
	image := cdxComponent{
		BOMRef:  "image:" + s.Digest,
		Type:    "container",
		Name:    imageName(s, ref),
		Version: s.Digest,
	}
	if alg, sum, ok := digestHash(s.Digest); ok {
		if a, ok := map[string]string{"sha256": "SHA-256", "sha512": "SHA-512"}[alg]; ok {
			image.Hashes = []cdxHash{{Alg: a, Content: sum}}
		}
	}
	bom := &cdxBOM{
		BOMFormat:    "CycloneDX",
		SpecVersion:  "1.6",
		SerialNumber: "urn:uuid:" + documentUUID("cyclonedx", s.Digest, now),
		Version:      1,
		Metadata: cdxMetadata{
			Timestamp: timestamp(now),
			Tools:     cdxTools{Components: []cdxComponent{{Type: "application", Name: toolName, Version: tool}}},
			Component: image,
		},
		Components: []cdxComponent{},
	}
	deps := []string{}
	if osName(s.OS) != "" {
		c := cdxComponent{
			BOMRef:      "os:" + s.OS.ID + "@" + s.OS.VersionID,
			Type:        "operating-system",
			Name:        s.OS.ID,
			Version:     s.OS.VersionID,
			Description: s.OS.Name,
		}
		bom.Components = append(bom.Components, c)
		deps = append(deps, c.BOMRef)
	}
	for _, e := range entries(s.Packages) {
		c := cdxComponent{
			BOMRef:  e.ref,
			Type:    "library",
			Name:    e.Name,
			Version: e.Version,
			PURL:    e.PURL,
		}
		add := func(name, value string) {
			if value != "" {
				c.Properties = append(c.Properties, cdxProperty{Name: name, Value: value})
			}
		}
		add(propEcosystem, e.Ecosystem)
		add(propExtractor, e.Extractor)
		for _, l := range e.Locations {
			add(propLocation, l)
		}
		add(propSourceName, e.SourceName)
		add(propSourceVersion, e.SourceVersion)
		bom.Components = append(bom.Components, c)
		deps = append(deps, c.BOMRef)
	}
	bom.Dependencies = []cdxDependency{{Ref: image.BOMRef, DependsOn: deps}}
	return bom
}
