// Package osrelease reads os-release(5) into the image's sbom.OS. The
// scanner calls Parse before any other extractor runs so that OS package
// extractors know the distribution release; the extractor itself finds no
// packages.
package osrelease

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Name of the extractor.
const Name = "os/release"

// MaxSize caps an os-release file; real ones are under 1 KiB.
const MaxSize = 64 << 10

// Paths are where os-release lives, in the order they are consulted.
var Paths = []string{"etc/os-release", "usr/lib/os-release"}

// Extractor validates os-release files. It returns no packages.
type Extractor struct{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements extractor.Extractor.
func (Extractor) Name() string { return Name }

// Version implements extractor.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements extractor.Extractor.
func (Extractor) Required(path string, _ fs.FileMode, _ int64) bool {
	return path == Paths[0] || path == Paths[1]
}

// Extract implements extractor.Extractor: it reports a malformed file.
func (Extractor) Extract(_ context.Context, in *extractor.Input) ([]sbom.Package, error) {
	_, err := Parse(in.Reader)
	return nil, err
}

// Parse reads an os-release file.
func Parse(r io.Reader) (sbom.OS, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return sbom.OS{}, fmt.Errorf("reading os-release: %w", err)
	}
	if len(b) > MaxSize {
		return sbom.OS{}, fmt.Errorf("os-release over %d bytes: %w", MaxSize, extractor.ErrTooLarge)
	}
	var osr sbom.OS
	var name string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), MaxSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
			return sbom.OS{}, fmt.Errorf("os-release line %d: want KEY=value, got %q", n, truncate(line))
		}
		val, err := unquote(raw)
		if err != nil {
			return sbom.OS{}, fmt.Errorf("os-release line %d: %w", n, err)
		}
		switch key {
		case "ID":
			osr.ID = strings.ToLower(val)
		case "VERSION_ID":
			osr.VersionID = val
		case "PRETTY_NAME":
			osr.Name = val
		case "NAME":
			name = val
		}
	}
	if err := sc.Err(); err != nil {
		return sbom.OS{}, fmt.Errorf("reading os-release: %w", err)
	}
	if osr.Name == "" {
		osr.Name = name
	}
	if osr.ID == "" {
		// os-release(5): ID defaults to "linux".
		osr.ID = "linux"
	}
	return osr, nil
}

// unquote undoes shell-style quoting as os-release(5) allows it.
func unquote(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	q := s[0]
	if q != '"' && q != '\'' {
		return s, nil
	}
	if len(s) < 2 || s[len(s)-1] != q {
		return "", fmt.Errorf("unterminated quote in %q", truncate(s))
	}
	s = s[1 : len(s)-1]
	if q == '\'' {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
