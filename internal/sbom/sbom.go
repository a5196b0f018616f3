// Package sbom holds the software bill of materials model: the packages
// found in one image, keyed by the image's digest. Extractors produce it,
// the matcher reads it, and it is exported as CycloneDX and SPDX.
package sbom

import (
	"bytes"
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
	// Links maps symbolic links of the image to where they finally lead:
	// every link that leads, within the image, to one of Files or to a
	// directory above one or above another kept link ("/usr/bin/sh" →
	// "/usr/bin/dash", "/bin" → "/usr/bin" on usr-merged images), and
	// every link whose target is in another directory than the link
	// ("/var/run" → "/run"), so that a ".." after it climbs from where the
	// kernel climbs. A link's own path has no link in its directories. So
	// the unresolved form a process was started by ("/bin/sh",
	// "/bin/../usr/bin/ls") is resolved too (Resolve).
	Links map[string]string `json:"links"`
	// Truncated is set when the image held more than the scanner keeps;
	// Files and Links are then empty and whether a path is absent is
	// unknown.
	Truncated bool `json:"truncated,omitempty"`
}

// MaxLinkHops bounds the symbolic links followed to resolve one path, as
// the kernel's 40 (MAXSYMLINKS) does.
const MaxLinkHops = 40

// MaxPath bounds the paths Resolve accepts: the kernel's PATH_MAX, which
// counts the final NUL, so no executed path is this long.
const MaxPath = 4096

// runtimeLinks are the links the container runtime creates in the /dev it
// mounts over the image's: they lead into /proc, file descriptors rather
// than files.
var runtimeLinks = map[string]string{
	"/dev/fd":     "/proc/self/fd",
	"/dev/stdin":  "/proc/self/fd/0",
	"/dev/stdout": "/proc/self/fd/1",
	"/dev/stderr": "/proc/self/fd/2",
}

// Resolve follows the links of links (as in Executables.Links) in the
// absolute path p as the kernel resolves an executed path in the
// container: component by component from the root, a link replaced by its
// target (an absolute target from the root, a relative one from the
// link's directory) and the rest looked up from there, ".." climbing from
// where the path has led so far and stopping at the root. It returns the
// path reached, clean.
//
// It reports false for what is not a path of the image's file system, so
// that the image's list can say neither present nor absent:
//   - a path that is empty, relative ("./evil", "evil": relative to a
//     working directory Resolve does not know), or MaxPath bytes or
//     longer;
//   - a path that leads into /proc, directly or through a link
//     ("/proc/self/exe", "/proc/1234/root/...", "/dev/fd/3" and
//     "/dev/stdin", which the runtime links to /proc/self/fd, as fexecve
//     and execveat report a descriptor): procfs's magic links lead
//     anywhere, often to no file at all;
//   - a file-less executable as /proc/PID/exe names it ("/memfd:name");
//   - a path that follows more than MaxLinkHops links (a loop).
//
// Other components are taken as directories: a link the image's list
// leaves out leads to no executable, and either to a data file (a ".."
// after it fails) or within its own directory (a ".." after it climbs
// from there, as from the link). Under /dev, which the runtime mounts
// over the image's, the image's links are not used.
func Resolve(links map[string]string, p string) (string, bool) {
	if !strings.HasPrefix(p, "/") || len(p) >= MaxPath || strings.HasPrefix(p, memfdPrefix) {
		return "", false
	}
	cur := make([]byte, 0, len(p)) // the path so far, without a trailing slash; empty is the root
	hops := 0
	for rest := p; rest != ""; {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		switch comp {
		case "", ".":
			continue
		case "..":
			if i := bytes.LastIndexByte(cur, '/'); i >= 0 {
				cur = cur[:i]
			}
			continue
		}
		dir := len(cur)
		cur = append(append(cur, '/'), comp...)
		var target string
		var ok bool
		switch m := mountedAt(cur); {
		case m == procMount && len(cur) > len(procMount):
			return "", false
		case m == procMount:
			continue
		case m == devMount:
			target, ok = runtimeLinks[string(cur)]
		default:
			target, ok = links[string(cur)]
		}
		if !ok {
			continue
		}
		if hops++; hops > MaxLinkHops {
			return "", false
		}
		if strings.HasPrefix(target, "/") {
			dir = 0
		}
		cur = cur[:dir]
		if rest != "" {
			target += "/" + rest
		}
		rest = target
	}
	if len(cur) == 0 {
		return "/", true
	}
	return string(cur), true
}

// The file systems the container runtime mounts over the image's, and the
// prefix /proc/PID/exe gives a file-less executable (memfd_create).
const (
	procMount   = "/proc"
	devMount    = "/dev"
	memfdPrefix = "/memfd:"
)

// mountedAt returns the runtime mount p (absolute, without a trailing
// slash) is on: procMount, devMount or "" for the image's file system.
func mountedAt(p []byte) string {
	for _, m := range [...]string{procMount, devMount} {
		if string(p) == m || len(p) > len(m) && p[len(m)] == '/' && string(p[:len(m)]) == m {
			return m
		}
	}
	return ""
}

// Contains reports whether p names one of the image's executables,
// directly or through its links, and whether the list can tell: not when
// e is nil (an SBOM from before the list) or truncated, and not for a path
// that Resolve does not take as a path of the image (relative, in /proc,
// a file descriptor, a file-less executable). A path found is present even
// in a truncated list.
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
