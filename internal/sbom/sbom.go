// Package sbom holds the software bill of materials model: the packages
// found in one image, keyed by the image's digest. Extractors produce it,
// the matcher reads it, and it is exported as CycloneDX and SPDX.
package sbom

import (
	"path"
	"slices"
	"strings"
	"time"
)

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
	// Executables are the image's executable files; nil in SBOMs made
	// before the scanner listed them, which means unknown, not none.
	Executables *Executables `json:"executables,omitempty"`
	// Extractors records each extractor's name and version, and the
	// walker's (as "imagefs"): part of the cache key, so a better
	// extractor or walk causes a rescan.
	Extractors map[string]int `json:"extractors"`
	CreatedAt  time.Time      `json:"createdAt"`
}

// Executables lists what a container of the image can execute from the
// image itself: the regular files with an execute bit of its final file
// system (layers applied, whiteouts honoured) and the symbolic links that
// lead to them. Paths are absolute and clean.
type Executables struct {
	// Files are the regular files (hard links included) with any execute
	// bit, sorted and distinct: the resolved form /proc/PID/exe gives
	// ("/usr/bin/dash").
	Files []string `json:"files"`
	// Links maps each symbolic link that leads, within the image, to one
	// of Files, or to a directory above one, to where it finally leads:
	// "/usr/bin/sh" → "/usr/bin/dash", "/bin" → "/usr/bin" (usr-merge). A
	// link's own path has no link in its directories. So the unresolved
	// form a process was started by ("/bin/sh") is found too (Resolve).
	Links map[string]string `json:"links"`
	// Truncated is set when the image held more than the scanner keeps;
	// Files and Links are then empty and whether a path is absent is
	// unknown.
	Truncated bool `json:"truncated,omitempty"`
}

// MaxLinkHops bounds the symbolic links followed to resolve one path, as
// the kernel's 40 (MAXSYMLINKS) does.
const MaxLinkHops = 40

// Resolve replaces the links of links (as in Executables.Links: targets
// absolute and already resolved) in the absolute path p until none is
// left, and returns the result, cleaned. It reports false for a relative
// path and after MaxLinkHops replacements (a loop).
func Resolve(links map[string]string, p string) (string, bool) {
	if !strings.HasPrefix(p, "/") {
		return "", false
	}
	p = path.Clean(p)
	if len(links) == 0 {
		return p, true
	}
	for hops := 0; ; {
		replaced := false
		// The shortest prefix that is a link goes first: its target is
		// resolved, so what follows it is looked up anew.
		for i := 1; i <= len(p); i++ {
			if i < len(p) && p[i] != '/' {
				continue
			}
			t, ok := links[p[:i]]
			if !ok {
				continue
			}
			if hops++; hops > MaxLinkHops {
				return "", false
			}
			p = path.Join(t, p[i:])
			replaced = true
			break
		}
		if !replaced {
			return p, true
		}
	}
}

// Contains reports whether p names one of the image's executables,
// directly or through its links, and whether the list can tell: not when
// e is nil (an SBOM from before the list) or truncated. A path found is
// present even in a truncated list.
func (e *Executables) Contains(p string) (present, known bool) {
	if e == nil {
		return false, false
	}
	r, ok := Resolve(e.Links, p)
	if !ok {
		return false, false
	}
	if _, found := slices.BinarySearch(e.Files, r); found {
		return true, true
	}
	return false, !e.Truncated
}
