// Package gobinary finds the modules compiled into Go executables, read
// with debug/buildinfo: the main module when it has a real version, every
// dependency with replacements applied, and the Go standard library as the
// package "stdlib", as the Go vulnerability database names it.
package gobinary

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Name of the extractor.
const Name = "go/binary"

// MaxSize caps the executables looked at. buildinfo reads only headers and
// one small section through the ReaderAt, so large binaries cost little;
// the cap only keeps absurd inputs out.
const MaxSize = 1 << 30

// Extractor reads Go build information from executables.
type Extractor struct{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements extractor.Extractor.
func (Extractor) Name() string { return Name }

// Version implements extractor.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements extractor.Extractor: every executable regular file.
func (Extractor) Required(_ string, mode fs.FileMode, size int64) bool {
	return mode.IsRegular() && mode&0o111 != 0 && size > 0 && size <= MaxSize
}

// Extract implements extractor.Extractor. Files that are not Go
// executables give no packages and no error.
func (Extractor) Extract(ctx context.Context, in *extractor.Input) ([]sbom.Package, error) {
	if in.Size > MaxSize {
		return nil, fmt.Errorf("%d bytes: %w", in.Size, extractor.ErrTooLarge)
	}
	if !executable(in.Reader) {
		return nil, nil
	}
	bi, err := buildinfo.Read(in.Reader)
	if err != nil {
		// Not a Go binary (a C program, a script), or one without build
		// information: nothing to report.
		return nil, nil
	}
	return Packages(ctx, bi, in.Path)
}

// executable cheaply checks the magic number of the formats buildinfo reads
// (ELF, Mach-O, PE, XCOFF) so scripts and data files are skipped early.
func executable(r interface {
	ReadAt([]byte, int64) (int, error)
}) bool {
	var m [4]byte
	if n, _ := r.ReadAt(m[:], 0); n < 4 {
		return false
	}
	switch {
	case string(m[:]) == "\x7fELF",
		string(m[:2]) == "MZ",
		string(m[:]) == "\xfe\xed\xfa\xce", string(m[:]) == "\xce\xfa\xed\xfe",
		string(m[:]) == "\xfe\xed\xfa\xcf", string(m[:]) == "\xcf\xfa\xed\xfe",
		string(m[:2]) == "\x01\xdf", string(m[:2]) == "\x01\xf7",
		m[0] == 0 && m[1] == 0 && m[2] == 0x01 && m[3] == 0x07: // Plan 9 i386
		return true
	}
	return false
}

// Packages converts build information into packages found at path.
func Packages(ctx context.Context, bi *buildinfo.BuildInfo, path string) ([]sbom.Package, error) {
	var pkgs []sbom.Package
	add := func(name, version string) {
		pkgs = append(pkgs, sbom.Package{
			Name:      name,
			Version:   version,
			Ecosystem: sbom.EcosystemGo,
			PURL:      purl(name, version),
			Locations: []string{path},
			Extractor: Name,
		})
	}
	if v := bi.Main.Version; bi.Main.Path != "" && v != "" && v != "(devel)" {
		add(bi.Main.Path, v)
	}
	for _, d := range bi.Deps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := module(d)
		if m.Path == "" || m.Version == "" {
			// Replaced by a local directory: no version to match.
			continue
		}
		add(m.Path, m.Version)
	}
	if v := StdlibVersion(bi.GoVersion); v != "" {
		add("stdlib", v)
	}
	return pkgs, nil
}

func module(d *debug.Module) *debug.Module {
	for d.Replace != nil && d.Replace != d {
		d = d.Replace
	}
	return d
}

var goVersion = regexp.MustCompile(`^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(rc|beta)(\d+))?$`)

// StdlibVersion turns a Go toolchain version ("go1.21.3", "go1.20",
// "go1.22rc1", "go1.21.3 X:boringcrypto") into the semantic version the Go
// vulnerability database uses for stdlib, with a "v" like module versions
// ("v1.21.3", "v1.20.0", "v1.22.0-rc.1"). It returns "" for development
// toolchains.
func StdlibVersion(v string) string {
	v, _, _ = strings.Cut(strings.TrimSpace(v), " ")
	m := goVersion.FindStringSubmatch(v)
	if m == nil {
		return ""
	}
	minor, patch := m[2], m[3]
	if minor == "" {
		minor = "0"
	}
	if patch == "" {
		patch = "0"
	}
	s := "v" + m[1] + "." + minor + "." + patch
	if m[4] != "" {
		s += "-" + m[4] + "." + m[5]
	}
	return s
}

func purl(name, version string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "pkg:golang/" + strings.Join(segs, "/") + "@" + url.PathEscape(version)
}
