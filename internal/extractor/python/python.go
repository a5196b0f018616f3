// Package python finds installed Python distributions from their core
// metadata: wheels' NAME.dist-info/METADATA and setuptools'
// NAME.egg-info/PKG-INFO (or a single-file NAME.egg-info).
package python

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"regexp"
	"strings"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Name of the extractor.
const Name = "python/metadata"

// maxHeader caps the metadata headers read; the long description after
// them is never read.
const maxHeader = 1 << 20

// Extractor reads Python core metadata files.
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
	return strings.HasSuffix(path, ".dist-info/METADATA") ||
		strings.HasSuffix(path, ".egg-info/PKG-INFO") ||
		strings.HasSuffix(path, ".egg-info")
}

// Extract implements extractor.Extractor.
func (Extractor) Extract(ctx context.Context, in *extractor.Input) ([]sbom.Package, error) {
	lr := &io.LimitedReader{R: in.Reader, N: maxHeader + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxHeader)
	var name, version string
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
			break // end of headers
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a multi-line header
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: malformed header %q", n, truncate(line))
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "name":
			if name == "" {
				name = strings.TrimSpace(val)
			}
		case "version":
			if version == "" {
				version = strings.TrimSpace(val)
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: %w", n+1, extractor.ErrTooLarge)
		}
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("metadata headers over %d bytes: %w", maxHeader, extractor.ErrTooLarge)
	}
	if name == "" || version == "" {
		return nil, fmt.Errorf("metadata without Name and Version headers")
	}
	return []sbom.Package{{
		Name:      name,
		Version:   version,
		Ecosystem: sbom.EcosystemPyPI,
		PURL:      "pkg:pypi/" + url.PathEscape(Normalize(name)) + "@" + url.PathEscape(version),
		Locations: []string{in.Path},
		Extractor: Name,
	}}, nil
}

var separators = regexp.MustCompile(`[-_.]+`)

// Normalize returns a distribution name normalised per PEP 503.
func Normalize(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
