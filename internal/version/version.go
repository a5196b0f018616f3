// Package version compares package versions by the rules of each OSV
// ecosystem (dpkg, apk, rpm, SemVer/Go, npm, PEP 440, Maven and others).
//
// It does not implement the comparators itself: it maps OSV ecosystem names,
// including release-suffixed ones such as "Debian:12" or "Alpine:v3.20", onto
// github.com/google/osv-scalibr/semantic, whose comparators are verified
// against the version vectors in ../shared/corpora/osv.
package version

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// ErrUnsupported is returned (wrapped) for an ecosystem with no comparator,
// such as "GIT", "Linux" or "OSS-Fuzz". Callers matching advisories should
// skip such ranges rather than fail.
var ErrUnsupported = errors.New("unsupported ecosystem")

// ErrInvalid is returned (wrapped) for a version string the ecosystem's
// rules reject.
var ErrInvalid = errors.New("invalid version")

// ErrMismatch is returned (wrapped) when comparing versions of different
// comparison families (a Debian version with a PyPI version).
var ErrMismatch = errors.New("versions of different ecosystems")

// Version is one parsed version. Versions are immutable and safe for
// concurrent use.
type Version interface {
	// Compare returns -1, 0 or +1 as the version is lower than, equal to or
	// higher than w. Both must come from the same ecosystem family.
	Compare(w Version) (int, error)
	// String returns the version as it was given.
	String() string
}

// aliases maps other spellings (package-manager names, OSV range types,
// lower case) to the ecosystem name the library understands.
var aliases = map[string]string{
	"dpkg":      "Debian",
	"deb":       "Debian",
	"debian":    "Debian",
	"ubuntu":    "Ubuntu",
	"apk":       "Alpine",
	"alpine":    "Alpine",
	"wolfi":     "Wolfi",
	"rpm":       "Red Hat",
	"redhat":    "Red Hat",
	"red hat":   "Red Hat",
	"rhel":      "Red Hat",
	"semver":    "Go", // SemVer 2.0 rules; Go's are the plain SemVer ones.
	"go":        "Go",
	"golang":    "Go",
	"npm":       "npm",
	"pypi":      "PyPI",
	"pep440":    "PyPI",
	"python":    "PyPI",
	"maven":     "Maven",
	"nuget":     "NuGet",
	"rubygems":  "RubyGems",
	"gem":       "RubyGems",
	"packagist": "Packagist",
	"crates.io": "crates.io",
	"cargo":     "crates.io",
	"hex":       "Hex",
	"pub":       "Pub",
	"cran":      "CRAN",
	"hackage":   "Hackage",
}

// family groups ecosystems that share a comparator, so that versions from
// "Debian:12" and "Debian" (or "Go" and "SemVer") compare with each other.
func family(eco string) string {
	switch eco {
	case "Ubuntu":
		return "Debian"
	case "AlmaLinux", "Mageia", "openEuler", "openSUSE", "Rocky Linux", "SUSE":
		return "Red Hat"
	case "Alpaquita", "BellSoft Hardened Containers", "Chainguard", "MinimOS", "Wolfi":
		return "Alpine"
	case "Bitnami", "Bioconductor", "ConanCenter", "crates.io", "Docker Hardened Images",
		"GHC", "Hex", "Julia", "npm", "SwiftURL":
		return "Go"
	}
	return eco
}

// Base returns the ecosystem the comparator rules come from: the OSV name
// without its release suffix ("Debian:12" → "Debian", "Alpine:v3.20" →
// "Alpine"), with aliases such as "dpkg", "apk", "rpm" and "SemVer" resolved.
func Base(ecosystem string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	base = strings.TrimSpace(base)
	if a, ok := aliases[strings.ToLower(base)]; ok {
		return a
	}
	return base
}

type parsed struct {
	raw    string
	family string
	v      semantic.Version
}

func (p parsed) String() string { return p.raw }

func (p parsed) Compare(w Version) (int, error) {
	q, ok := w.(parsed)
	if !ok {
		return 0, fmt.Errorf("comparing %q with %T: %w", p.raw, w, ErrMismatch)
	}
	if p.family != q.family {
		return 0, fmt.Errorf("comparing %s version %q with %s version %q: %w", p.family, p.raw, q.family, q.raw, ErrMismatch)
	}
	c, err := p.v.Compare(q.v)
	if err != nil {
		return 0, fmt.Errorf("comparing %q with %q: %w", p.raw, q.raw, err)
	}
	return c, nil
}

// Parse parses v by the rules of ecosystem. Ecosystem is an OSV ecosystem
// name, optionally with a release suffix. For Go, the "go" prefix of
// toolchain versions ("go1.22.3") is accepted, as OSV ranges omit it.
func Parse(ecosystem, v string) (Version, error) {
	base := Base(ecosystem)
	if base == "Go" || base == "SemVer" {
		if rest, ok := strings.CutPrefix(v, "go"); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			v = rest
		}
	}
	sv, err := semantic.Parse(v, base)
	if err != nil {
		if errors.Is(err, semantic.ErrUnsupportedEcosystem) {
			return nil, fmt.Errorf("parsing version %q: %w %q", v, ErrUnsupported, ecosystem)
		}
		return nil, fmt.Errorf("parsing %s version %q: %w: %v", ecosystem, v, ErrInvalid, err)
	}
	return parsed{raw: v, family: family(base), v: sv}, nil
}

// Supported reports whether ecosystem has a comparator.
func Supported(ecosystem string) bool {
	_, err := semantic.Parse("0", Base(ecosystem))
	return !errors.Is(err, semantic.ErrUnsupportedEcosystem)
}

// Compare compares a and b by the rules of ecosystem, returning -1, 0 or +1.
func Compare(ecosystem, a, b string) (int, error) {
	va, err := Parse(ecosystem, a)
	if err != nil {
		return 0, err
	}
	vb, err := Parse(ecosystem, b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb)
}
