package osv

import (
	"fmt"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/version"
)

// Affects reports whether the record affects version of the package name in
// ecosystem, and if so the smallest fixed version above it ("" when no fix
// is known). It evaluates the versions lists and the SEMVER and ECOSYSTEM
// ranges by OSV's rules (events sorted by version, introduced "0" is the
// beginning of time, fixed exclusive, last_affected inclusive, limit an
// upper bound); GIT ranges are ignored.
//
// A record for "Debian" applies to every Debian release; one for
// "Debian:12" only to packages whose ecosystem is "Debian:12" (or a
// further-suffixed form). Go records name modules, "stdlib" or "toolchain".
// Withdrawn records affect nothing.
func (r *Record) Affects(ecosystem, name, ver string) (affected bool, fixed string, err error) {
	if r.Withdrawn() {
		return false, "", nil
	}
	var fixedV version.Version
	for i, a := range r.Affected {
		if a.Package == nil || !EcosystemMatches(a.Package.Ecosystem, ecosystem) || !NameMatches(ecosystem, a.Package.Name, name) {
			continue
		}
		hit, fix, err := a.affects(ecosystem, ver)
		if err != nil {
			return false, "", fmt.Errorf("%s affected[%d] (%s %s): %w", r.ID, i, a.Package.Ecosystem, a.Package.Name, err)
		}
		if !hit {
			continue
		}
		affected = true
		if fix != nil {
			if fixedV == nil {
				fixedV = fix
			} else if c, err := fix.Compare(fixedV); err == nil && c < 0 {
				fixedV = fix
			}
		}
	}
	if fixedV != nil {
		fixed = fixedV.String()
	}
	return affected, fixed, nil
}

// EcosystemMatches reports whether a record's ecosystem applies to a
// package's: equal, or the record's is the package's without a release
// suffix ("Debian" for "Debian:12"), or the package's is a release prefix
// of the record's ("Ubuntu:22.04" for "Ubuntu:22.04:LTS").
func EcosystemMatches(record, pkg string) bool {
	if record == pkg {
		return true
	}
	if rest, ok := strings.CutPrefix(pkg, record); ok && strings.HasPrefix(rest, ":") {
		return true
	}
	if rest, ok := strings.CutPrefix(record, pkg); ok && strings.Contains(pkg, ":") && strings.HasPrefix(rest, ":") {
		return true
	}
	return false
}

// NameMatches compares package names, normalised where the ecosystem
// says names are case- and punctuation-insensitive (PyPI, PEP 503).
func NameMatches(ecosystem, record, pkg string) bool {
	return record == pkg || NormaliseName(ecosystem, record) == NormaliseName(ecosystem, pkg)
}

// NormaliseName returns the form of a package name that NameMatches
// compares: PEP 503 for PyPI, the name itself elsewhere.
func NormaliseName(ecosystem, name string) string {
	if version.Base(ecosystem) == "PyPI" {
		return normalisePyPI(name)
	}
	return name
}

func normalisePyPI(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	sep := false
	for _, c := range s {
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteRune(c)
	}
	return b.String()
}

type event struct {
	kind string
	v    version.Version // nil for introduced "0" and limit "*"
}

// affects evaluates one affected entry; fix is the smallest fixed version
// above ver in its ranges, when it is affected.
func (a Affected) affects(ecosystem, ver string) (bool, version.Version, error) {
	v, err := version.Parse(ecosystem, ver)
	if err != nil {
		return false, nil, err
	}
	hit := false
	for _, lv := range a.Versions {
		if lv == ver {
			hit = true
			break
		}
		if w, err := version.Parse(ecosystem, lv); err == nil {
			if c, err := v.Compare(w); err == nil && c == 0 {
				hit = true
				break
			}
		}
	}
	var fix version.Version
	for _, rg := range a.Ranges {
		if rg.Type != RangeSemVer && rg.Type != RangeEcosystem {
			continue
		}
		in, f, err := rangeAffects(ecosystem, rg, v)
		if err != nil {
			return false, nil, err
		}
		hit = hit || in
		if f != nil && (in || hit) {
			if fix == nil {
				fix = f
			} else if c, _ := f.Compare(fix); c < 0 {
				fix = f
			}
		}
	}
	return hit, fix, nil
}

// rangeAffects applies OSV's evaluation to one range: it returns whether v
// is inside and the smallest fixed version above v.
func rangeAffects(ecosystem string, rg Range, v version.Version) (bool, version.Version, error) {
	cr, err := CompileRange(ecosystem, rg)
	if err != nil {
		return false, nil, err
	}
	return cr.Affects(v)
}

// CompiledRange is a SEMVER or ECOSYSTEM range with its versions parsed and
// its events sorted, so that many versions can be evaluated against it
// without parsing again (the matcher keeps one per indexed range).
type CompiledRange struct {
	events   []event
	hasLimit bool
	limits   []version.Version // nil element for limit "*"
	// sortErr is a failed comparison while ordering the events; Affects
	// reports it for versions below the range's limits.
	sortErr error
}

// CompileRange parses rg's event versions in ecosystem and orders them as
// OSV evaluation requires.
func CompileRange(ecosystem string, rg Range) (*CompiledRange, error) {
	cr := &CompiledRange{events: make([]event, 0, len(rg.Events))}
	for _, e := range rg.Events {
		kind, s, _ := e.kind()
		if (kind == "introduced" && s == "0") || (kind == "limit" && s == "*") {
			cr.events = append(cr.events, event{kind: kind})
			if kind == "limit" {
				cr.hasLimit = true
				cr.limits = append(cr.limits, nil)
			}
			continue
		}
		w, err := version.Parse(ecosystem, s)
		if err != nil {
			return nil, fmt.Errorf("%s event: %w", kind, err)
		}
		if kind == "limit" {
			cr.hasLimit = true
			cr.limits = append(cr.limits, w)
			continue
		}
		cr.events = append(cr.events, event{kind: kind, v: w})
	}
	slices.SortStableFunc(cr.events, func(x, y event) int {
		switch {
		case x.v == nil && y.v == nil:
			return 0
		case x.v == nil:
			return -1
		case y.v == nil:
			return 1
		}
		c, err := x.v.Compare(y.v)
		if err != nil && cr.sortErr == nil {
			cr.sortErr = err
		}
		if c == 0 {
			// At one version a range that ends (fixed) and one that
			// begins (introduced) are adjacent: end first, so the version
			// is inside the second.
			return kindOrder(x.kind) - kindOrder(y.kind)
		}
		return c
	})
	return cr, nil
}

// Affects reports whether v is inside the range and the smallest fixed
// version above v.
func (cr *CompiledRange) Affects(v version.Version) (bool, version.Version, error) {
	if cr.hasLimit {
		below := false
		for _, l := range cr.limits {
			if l == nil {
				below = true
				break
			}
			if c, err := v.Compare(l); err == nil && c < 0 {
				below = true
				break
			}
		}
		if !below {
			return false, nil, nil
		}
	}
	if cr.sortErr != nil {
		return false, nil, cr.sortErr
	}
	in := false
	var fix version.Version
	for _, e := range cr.events {
		c := 1 // v against the event's version; introduced "0" is below all
		if e.v != nil {
			var err error
			if c, err = v.Compare(e.v); err != nil {
				return false, nil, err
			}
		}
		switch e.kind {
		case "introduced":
			if c >= 0 {
				in = true
			}
		case "fixed":
			if c >= 0 {
				in = false
			} else if fix == nil {
				fix = e.v // sorted: the first fixed above v is the smallest
			}
		case "last_affected":
			if c > 0 {
				in = false
			}
		}
	}
	return in, fix, nil
}

func kindOrder(kind string) int {
	if kind == "fixed" {
		return 0
	}
	return 1
}
