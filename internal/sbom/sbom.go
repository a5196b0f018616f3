// Package sbom holds the software bill of materials model: the packages
// found in one image, keyed by the image's digest. Extractors produce it,
// the matcher reads it, and it is exported as CycloneDX and SPDX.
package sbom

import "time"

// Ecosystems, spelled as OSV spells them.
const (
	EcosystemDebian = "Debian"
	EcosystemUbuntu = "Ubuntu"
	EcosystemAlpine = "Alpine"
	EcosystemRedHat = "Red Hat"
	EcosystemGo     = "Go"
	EcosystemNPM    = "npm"
	EcosystemPyPI   = "PyPI"
	EcosystemMaven  = "Maven"
)

// Package is one installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Ecosystem is the OSV ecosystem, with the distribution release for OS
	// packages where known ("Debian:12", "Alpine:v3.20").
	Ecosystem string `json:"ecosystem"`
	// PURL is the package URL (https://github.com/package-url/purl-spec).
	PURL string `json:"purl"`
	// SourceName and SourceVersion name the source package a binary package
	// was built from (dpkg, rpm, apk origin), when it differs or is known.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Locations are the files the package was found in.
	Locations []string `json:"locations,omitempty"`
	// Extractor names the plug-in that found it.
	Extractor string `json:"extractor"`
}

// OS is the operating system an image is built on, from os-release.
type OS struct {
	ID        string `json:"id,omitempty"`
	VersionID string `json:"versionID,omitempty"`
	Name      string `json:"prettyName,omitempty"`
}

// ImageConfig is what the image's config says about how it runs.
type ImageConfig struct {
	User       string            `json:"user,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Created    time.Time         `json:"created,omitzero"`
}

// SBOM is the bill of materials of one image.
type SBOM struct {
	// Digest is the image manifest digest the SBOM describes.
	Digest   string      `json:"digest"`
	OS       OS          `json:"os"`
	Config   ImageConfig `json:"config"`
	Packages []Package   `json:"packages"`
	// Extractors records each extractor's name and version: part of the
	// cache key, so a better extractor causes a rescan.
	Extractors map[string]int `json:"extractors"`
	CreatedAt  time.Time      `json:"createdAt"`
}
