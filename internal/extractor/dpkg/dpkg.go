// Package dpkg finds Debian packages in dpkg's status database
// (var/lib/dpkg/status) and in the per-package files distroless images use
// instead (var/lib/dpkg/status.d/NAME). Each binary package records the
// source package it was built from, which Debian advisories name.
package dpkg

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Name of the extractor.
const Name = "os/dpkg"

const (
	statusPath = "var/lib/dpkg/status"
	statusDir  = "var/lib/dpkg/status.d/"
	// maxLine caps one line of a status file (long Description lines are
	// a few KiB).
	maxLine = 1 << 20
)

// Extractor reads dpkg status files.
type Extractor struct{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements extractor.Extractor.
func (Extractor) Name() string { return Name }

// Version implements extractor.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements extractor.Extractor.
func (Extractor) Required(path string, mode fs.FileMode, _ int64) bool {
	if !mode.IsRegular() {
		return false
	}
	if path == statusPath {
		return true
	}
	name, ok := strings.CutPrefix(path, statusDir)
	return ok && name != "" && !strings.Contains(name, "/") && !strings.HasSuffix(name, ".md5sums")
}

// Extract implements extractor.Extractor.
func (Extractor) Extract(ctx context.Context, in *extractor.Input) ([]sbom.Package, error) {
	if in.Size > extractor.MaxFileSize {
		return nil, fmt.Errorf("%d bytes: %w", in.Size, extractor.ErrTooLarge)
	}
	b, err := extractor.ReadAll(in.Reader, extractor.MaxFileSize)
	if err != nil {
		return nil, err
	}
	// status.d files hold installed packages only and have no Status field.
	distroless := strings.HasPrefix(in.Path, statusDir)
	paras, err := parse(ctx, b)
	if err != nil {
		return nil, err
	}
	eco, distro := ecosystem(in.OS)
	var pkgs []sbom.Package
	for _, p := range paras {
		if !distroless && !installed(p.fields["Status"]) {
			continue
		}
		name, version := p.fields["Package"], p.fields["Version"]
		if name == "" || version == "" {
			return nil, fmt.Errorf("line %d: installed package without Package or Version field", p.line)
		}
		srcName, srcVersion := source(p.fields["Source"])
		if srcName == "" {
			srcName = name
		}
		if srcVersion == "" {
			srcVersion = version
		}
		pkgs = append(pkgs, sbom.Package{
			Name:          name,
			Version:       version,
			Ecosystem:     eco,
			PURL:          purl(in.OS.ID, name, version, p.fields["Architecture"], distro),
			SourceName:    srcName,
			SourceVersion: srcVersion,
			Locations:     []string{in.Path},
			Extractor:     Name,
		})
	}
	return pkgs, nil
}

type paragraph struct {
	line   int // first line, for error messages
	fields map[string]string
}

// parse splits a deb822 file into paragraphs. Continuation lines (starting
// with a space or tab) extend the previous field.
func parse(ctx context.Context, b []byte) ([]paragraph, error) {
	var paras []paragraph
	var cur *paragraph
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			cur, last = nil, ""
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur == nil || last == "" {
				return nil, fmt.Errorf("line %d: continuation line outside a field", n)
			}
			cur.fields[last] += "\n" + strings.TrimSpace(line)
			continue
		}
		if line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("line %d: malformed field %q", n, truncate(line))
		}
		if cur == nil {
			paras = append(paras, paragraph{line: n, fields: map[string]string{}})
			cur = &paras[len(paras)-1]
		}
		last = key
		cur.fields[key] = strings.TrimSpace(val)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return paras, nil
}

// installed reports whether a Status field ("want flag status") says the
// package is installed.
func installed(status string) bool {
	f := strings.Fields(status)
	return len(f) == 3 && f[2] == "installed"
}

// source splits a Source field, "name" or "name (version)".
func source(s string) (name, version string) {
	name, rest, ok := strings.Cut(s, "(")
	name = strings.TrimSpace(name)
	if ok {
		version = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), ")"))
	}
	return name, version
}

// ecosystem returns the OSV ecosystem and the purl distro qualifier for
// the image's OS.
func ecosystem(osr sbom.OS) (eco, distro string) {
	switch osr.ID {
	case "ubuntu":
		eco = sbom.EcosystemUbuntu
	default:
		eco = sbom.EcosystemDebian
	}
	if osr.VersionID != "" {
		eco += ":" + osr.VersionID
		if osr.ID != "" {
			distro = osr.ID + "-" + osr.VersionID
		}
	}
	return eco, distro
}

func purl(osID, name, version, arch, distro string) string {
	ns := osID
	if ns == "" || ns == "linux" {
		ns = "debian"
	}
	var q []string
	if arch != "" {
		q = append(q, "arch="+url.QueryEscape(arch))
	}
	if distro != "" {
		q = append(q, "distro="+url.QueryEscape(distro))
	}
	s := "pkg:deb/" + ns + "/" + url.PathEscape(name) + "@" + url.PathEscape(version)
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
