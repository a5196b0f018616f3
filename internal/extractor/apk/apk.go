// Package apk finds Alpine packages in apk's database,
// lib/apk/db/installed. Each package records its origin, the aports
// package it was built from, as its source.
package apk

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
const Name = "os/apk"

const dbPath = "lib/apk/db/installed"

// Extractor reads apk's installed database.
type Extractor struct{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements extractor.Extractor.
func (Extractor) Name() string { return Name }

// Version implements extractor.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements extractor.Extractor.
func (Extractor) Required(path string, mode fs.FileMode, _ int64) bool {
	return path == dbPath && mode.IsRegular()
}

type record struct {
	line                     int
	name, version, arch, src string
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
	var recs []record
	var cur *record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line := sc.Text()
		if line == "" {
			cur = nil
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, fmt.Errorf("line %d: want K:value, got %q", n, truncate(line))
		}
		if cur == nil {
			recs = append(recs, record{line: n})
			cur = &recs[len(recs)-1]
		}
		val := line[2:]
		switch line[0] {
		case 'P':
			cur.name = val
		case 'V':
			cur.version = val
		case 'A':
			cur.arch = val
		case 'o':
			cur.src = val
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	eco, distro := ecosystem(in.OS)
	pkgs := make([]sbom.Package, 0, len(recs))
	for _, r := range recs {
		if r.name == "" || r.version == "" {
			return nil, fmt.Errorf("line %d: package without P: or V:", r.line)
		}
		src := r.src
		if src == "" {
			src = r.name
		}
		pkgs = append(pkgs, sbom.Package{
			Name:          r.name,
			Version:       r.version,
			Ecosystem:     eco,
			PURL:          purl(r.name, r.version, r.arch, distro),
			SourceName:    src,
			SourceVersion: r.version,
			Locations:     []string{in.Path},
			Extractor:     Name,
		})
	}
	return pkgs, nil
}

// ecosystem returns "Alpine:vMAJOR.MINOR" (as OSV names Alpine releases)
// and the purl distro qualifier.
func ecosystem(osr sbom.OS) (eco, distro string) {
	if osr.VersionID == "" {
		return sbom.EcosystemAlpine, ""
	}
	parts := strings.SplitN(osr.VersionID, ".", 3)
	eco = sbom.EcosystemAlpine
	if len(parts) >= 2 {
		minor, _, _ := strings.Cut(parts[1], "_") // 3.21_alpha20240807
		eco += ":v" + parts[0] + "." + minor
	}
	return eco, "alpine-" + osr.VersionID
}

func purl(name, version, arch, distro string) string {
	var q []string
	if arch != "" {
		q = append(q, "arch="+url.QueryEscape(arch))
	}
	if distro != "" {
		q = append(q, "distro="+url.QueryEscape(distro))
	}
	s := "pkg:apk/alpine/" + url.PathEscape(strings.ToLower(name)) + "@" + url.PathEscape(version)
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
