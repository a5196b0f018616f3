// Package osv owns the OSV advisory record (https://ossf.github.io/osv-schema/):
// parsing JSON or YAML records with bounds and the validation matching needs,
// deciding whether a record affects a package version, the identifiers a
// record is known by, and its severity.
//
// It is the one internal advisory format: importers of other feeds convert
// to Record; the matcher calls Affects.
package osv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"sigs.k8s.io/yaml"
)

// MaxRecordSize bounds one record; larger input is rejected unread.
const MaxRecordSize = 4 << 20

// ErrInvalid is wrapped by every validation error of Parse.
var ErrInvalid = errors.New("invalid OSV record")

// ErrTooLarge is returned for a record over MaxRecordSize.
var ErrTooLarge = errors.New("OSV record too large")

// Range types.
const (
	RangeSemVer    = "SEMVER"
	RangeEcosystem = "ECOSYSTEM"
	RangeGit       = "GIT"
)

// Severity types.
const (
	SeverityCVSSv2 = "CVSS_V2"
	SeverityCVSSv3 = "CVSS_V3"
	SeverityCVSSv4 = "CVSS_V4"
)

// Record is one OSV advisory.
type Record struct {
	SchemaVersion string      `json:"schema_version,omitempty"`
	ID            string      `json:"id"`
	Modified      time.Time   `json:"modified"`
	Published     time.Time   `json:"published,omitzero"`
	WithdrawnAt   time.Time   `json:"withdrawn,omitzero"`
	Aliases       []string    `json:"aliases,omitempty"`
	Related       []string    `json:"related,omitempty"`
	Upstream      []string    `json:"upstream,omitempty"`
	Summary       string      `json:"summary,omitempty"`
	Details       string      `json:"details,omitempty"`
	Severity      []Severity  `json:"severity,omitempty"`
	Affected      []Affected  `json:"affected,omitempty"`
	References    []Reference `json:"references,omitempty"`
	// DatabaseSpecific is kept raw; Severity reads a "severity" text from it.
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is one severity score: a CVSS vector for the CVSS types, or a
// free score for others ("Ubuntu", …).
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Package names the package an Affected entry is about.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Affected is one affected package with its version ranges and lists.
type Affected struct {
	Package           *Package        `json:"package,omitempty"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Range is one range of affected versions, as events.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about the advisory.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Parse parses and validates one OSV record in JSON or YAML.
func Parse(data []byte) (*Record, error) {
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxRecordSize)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrInvalid)
	}
	js := trimmed
	if trimmed[0] != '{' {
		var err error
		if js, err = yaml.YAMLToJSON(data); err != nil {
			return nil, fmt.Errorf("%w: decoding YAML: %v", ErrInvalid, err)
		}
	}
	var r Record
	if err := json.Unmarshal(js, &r); err != nil {
		id := peekID(js)
		return nil, fmt.Errorf("%w %s: decoding: %v", ErrInvalid, id, err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// ParseReader reads at most MaxRecordSize bytes from rd and parses them.
func ParseReader(rd io.Reader) (*Record, error) {
	data, err := io.ReadAll(io.LimitReader(rd, MaxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading OSV record: %w", err)
	}
	return Parse(data)
}

// peekID recovers the id of a record that failed to decode, for the error.
func peekID(js []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(js, &v) != nil || v.ID == "" {
		return "(no id)"
	}
	return v.ID
}

// Validate checks what matching depends on: an id; each affected entry
// names a package (ecosystem and name, or a purl) unless it only has GIT
// ranges; each range has a known type and a sensible event sequence.
func (r *Record) Validate() error {
	if r.ID == "" {
		return fmt.Errorf("%w: id is missing", ErrInvalid)
	}
	for i, a := range r.Affected {
		field := fmt.Sprintf("affected[%d]", i)
		gitOnly := len(a.Ranges) > 0 && len(a.Versions) == 0
		for _, rg := range a.Ranges {
			gitOnly = gitOnly && rg.Type == RangeGit
		}
		switch {
		case a.Package == nil && !gitOnly:
			return fmt.Errorf("%w %s: %s.package is missing", ErrInvalid, r.ID, field)
		case a.Package != nil && a.Package.PURL == "" && a.Package.Ecosystem == "":
			return fmt.Errorf("%w %s: %s.package.ecosystem is missing", ErrInvalid, r.ID, field)
		case a.Package != nil && a.Package.PURL == "" && a.Package.Name == "":
			return fmt.Errorf("%w %s: %s.package.name is missing", ErrInvalid, r.ID, field)
		}
		for j, rg := range a.Ranges {
			if err := rg.validate(); err != nil {
				return fmt.Errorf("%w %s: %s.ranges[%d]: %v", ErrInvalid, r.ID, field, j, err)
			}
		}
		for j, v := range a.Versions {
			if v == "" {
				return fmt.Errorf("%w %s: %s.versions[%d] is empty", ErrInvalid, r.ID, field, j)
			}
		}
	}
	return nil
}

func (rg Range) validate() error {
	switch rg.Type {
	case RangeSemVer, RangeEcosystem:
	case RangeGit:
		if rg.Repo == "" {
			return errors.New("GIT range without repo")
		}
	case "":
		return errors.New("type is missing")
	default:
		return fmt.Errorf("unknown type %q (want SEMVER, ECOSYSTEM or GIT)", rg.Type)
	}
	if len(rg.Events) == 0 {
		return errors.New("no events")
	}
	var fixed, lastAffected int
	seen := make(map[string]bool, len(rg.Events))
	prevKind, prevV := "", ""
	for k, e := range rg.Events {
		kind, v, n := e.kind()
		if n != 1 {
			return fmt.Errorf("events[%d] has %d of introduced/fixed/last_affected/limit, want exactly one", k, n)
		}
		if k == 0 && kind != "introduced" {
			return fmt.Errorf("events[0] is %q, the first event must be introduced", kind)
		}
		if seen[kind+"\x00"+v] {
			return fmt.Errorf("events[%d]: %s %q appears twice; events must be distinct", k, kind, v)
		}
		seen[kind+"\x00"+v] = true
		if prevKind == "introduced" && kind != "introduced" && kind != "limit" && v == prevV {
			return fmt.Errorf("events[%d]: %s %q equals the introduced version before it, an empty range; events must be distinct", k, kind, v)
		}
		prevKind, prevV = kind, v
		switch kind {
		case "fixed":
			fixed++
		case "last_affected":
			lastAffected++
		}
	}
	if fixed > 0 && lastAffected > 0 {
		return errors.New("both fixed and last_affected events; a range has one kind of upper bound")
	}
	return nil
}

// kind returns the event's kind, its version and how many fields are set.
func (e Event) kind() (kind, v string, n int) {
	if e.Introduced != "" {
		kind, v, n = "introduced", e.Introduced, n+1
	}
	if e.Fixed != "" {
		kind, v, n = "fixed", e.Fixed, n+1
	}
	if e.LastAffected != "" {
		kind, v, n = "last_affected", e.LastAffected, n+1
	}
	if e.Limit != "" {
		kind, v, n = "limit", e.Limit, n+1
	}
	return kind, v, n
}

// Withdrawn reports whether the record has been withdrawn; withdrawn
// records are kept for history but never matched.
func (r *Record) Withdrawn() bool { return !r.WithdrawnAt.IsZero() }

// IDs returns the record's id followed by its aliases, without duplicates:
// the keys under which records describing one flaw are merged.
func (r *Record) IDs() []string {
	ids := make([]string, 0, 1+len(r.Aliases))
	seen := make(map[string]bool, 1+len(r.Aliases))
	for _, id := range append([]string{r.ID}, r.Aliases...) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}
