// Package kev owns CISA's Known Exploited Vulnerabilities catalog
// (https://www.cisa.gov/known-exploited-vulnerabilities-catalog): parsing
// and strictly validating its JSON feed within bounds, recognising the feed
// from its first bytes, and looking entries up by CVE id.
//
// A catalog is all or nothing: one malformed entry makes Parse refuse the
// whole file, so that an importer keeps its previous catalog rather than
// storing part of a broken one. Fields the schema does not know are
// ignored, as CISA adds fields over time (cwes came in 2024).
package kev

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Bounds on untrusted input. The 2025 catalog is 1.3 MB with 1,404
// entries whose longest text is under 600 bytes.
const (
	// DefaultMaxBytes is the size cap Parse applies when given none.
	DefaultMaxBytes = 64 << 20
	// MaxEntries bounds the entries of one catalog.
	MaxEntries = 100_000
	// MaxNameLen bounds vendorProject, product, vulnerabilityName and the
	// catalogVersion, in bytes.
	MaxNameLen = 1 << 10
	// MaxTextLen bounds shortDescription, requiredAction and notes, in
	// bytes.
	MaxTextLen = 16 << 10
	// MaxCWEs bounds the cwes of one entry.
	MaxCWEs = 64
)

// Values of Entry.KnownRansomwareCampaignUse.
const (
	RansomwareKnown   = "Known"
	RansomwareUnknown = "Unknown"
)

// ErrInvalid is wrapped by every error about the content of a catalog.
var ErrInvalid = errors.New("invalid KEV catalog")

// ErrTooLarge is returned for input over the size cap.
var ErrTooLarge = errors.New("KEV catalog too large")

// Entry is one known exploited vulnerability. Its JSON form is the
// catalog's.
type Entry struct {
	// CVEID is the CVE id, CVE-YYYY-NNNN (4 to 19 digits), upper case.
	CVEID             string `json:"cveID"`
	VendorProject     string `json:"vendorProject"`
	Product           string `json:"product"`
	VulnerabilityName string `json:"vulnerabilityName"`
	// DateAdded is when CISA added the CVE to the catalog.
	DateAdded        Date   `json:"dateAdded"`
	ShortDescription string `json:"shortDescription"`
	// RequiredAction is what CISA requires agencies to do.
	RequiredAction string `json:"requiredAction"`
	// DueDate is when agencies must have done it.
	DueDate Date `json:"dueDate"`
	// KnownRansomwareCampaignUse is RansomwareKnown or RansomwareUnknown
	// (also when the feed omits it).
	KnownRansomwareCampaignUse string `json:"knownRansomwareCampaignUse"`
	Notes                      string `json:"notes"`
	// CWEs are CWE-N ids. The slice is shared by every copy of the entry
	// a Catalog hands out: do not modify it.
	CWEs []string `json:"cwes"`
}

// KnownRansomware reports whether CISA knows the CVE to have been used in
// a ransomware campaign.
func (e Entry) KnownRansomware() bool { return e.KnownRansomwareCampaignUse == RansomwareKnown }

// Validate checks an entry as Parse does: a well-formed CVE id, the
// required fields present, real dates, a known ransomware value, CWE ids,
// the length caps and no NUL characters (PostgreSQL text cannot hold one).
// Errors start with the entry's CVE id.
func (e Entry) Validate() error {
	if !validCVE(e.CVEID) {
		return badCVE(e.CVEID)
	}
	if err := e.validate(); err != nil {
		return fmt.Errorf("%s: %w", e.CVEID, err)
	}
	return nil
}

func (e Entry) validate() error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"vendorProject", e.VendorProject, MaxNameLen},
		{"product", e.Product, MaxNameLen},
		{"vulnerabilityName", e.VulnerabilityName, MaxNameLen},
		{"shortDescription", e.ShortDescription, MaxTextLen},
		{"requiredAction", e.RequiredAction, MaxTextLen},
		{"notes", e.Notes, MaxTextLen},
	} {
		if err := checkText(f.name, f.value, f.max, f.name != "notes"); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name string
		date Date
	}{{"dateAdded", e.DateAdded}, {"dueDate", e.DueDate}} {
		switch {
		case d.date.IsZero():
			return fmt.Errorf("%s is missing", d.name)
		case !d.date.valid():
			return fmt.Errorf("%s %04d-%02d-%02d is not a real date from %d to %d", d.name, d.date.Year, int(d.date.Month), d.date.Day, minYear, maxYear)
		}
	}
	if e.KnownRansomwareCampaignUse != RansomwareKnown && e.KnownRansomwareCampaignUse != RansomwareUnknown {
		return fmt.Errorf("knownRansomwareCampaignUse %q is neither %q nor %q", truncate(e.KnownRansomwareCampaignUse), RansomwareKnown, RansomwareUnknown)
	}
	if len(e.CWEs) > MaxCWEs {
		return fmt.Errorf("%d cwes, over the limit of %d", len(e.CWEs), MaxCWEs)
	}
	for i, c := range e.CWEs {
		if !validCWE(c) {
			return fmt.Errorf("cwes[%d] %q is not a CWE id (want CWE-N)", i, truncate(c))
		}
	}
	return nil
}

// checkText checks one text field: present when required, within max
// bytes, without NUL.
func checkText(name, v string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return fmt.Errorf("%s is empty", name)
	case len(v) > max:
		return fmt.Errorf("%s is %d bytes, over the limit of %d", name, len(v), max)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%s contains a NUL character", name)
	}
	return nil
}

func badCVE(id string) error {
	return fmt.Errorf("cveID %q is not a CVE id (want CVE-YYYY-NNNN, 4 to 19 digits, upper case)", truncate(id))
}

// validCVE reports whether id is CVE-YYYY-NNNN with 4 to 19 digits, as the
// catalog's schema requires.
func validCVE(id string) bool {
	rest, ok := strings.CutPrefix(id, "CVE-")
	if !ok || len(rest) < 9 || rest[4] != '-' {
		return false
	}
	return allDigits(rest[:4]) && len(rest)-5 <= 19 && len(rest)-5 >= 4 && allDigits(rest[5:])
}

// validCWE reports whether id is CWE- followed by 1 to 10 digits.
func validCWE(id string) bool {
	n, ok := strings.CutPrefix(id, "CWE-")
	return ok && len(n) >= 1 && len(n) <= 10 && allDigits(n)
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate shortens a bad value for an error message.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Catalog is an immutable, validated KEV catalog with an index by CVE id.
// It is safe for concurrent use.
type Catalog struct {
	version  string
	released time.Time
	entries  []Entry // sorted by CVEID
	byID     map[string]int
}

// New builds a catalog from entries already parsed (a store reading back
// what it kept), validating them as Parse does: each entry, no CVE id
// twice, a non-empty version of at most MaxNameLen bytes. released may be
// zero. entries is not modified.
func New(version string, released time.Time, entries []Entry) (*Catalog, error) {
	if err := checkText("catalogVersion", version, MaxNameLen, true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(entries) > MaxEntries {
		return nil, fmt.Errorf("%w: %d entries, over the limit of %d", ErrInvalid, len(entries), MaxEntries)
	}
	for i, e := range entries {
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrInvalid, i, err)
		}
	}
	c, err := build(version, released, entries, func(i int) string { return fmt.Sprintf("entry %d", i) })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

// build indexes validated entries, refusing a repeated CVE id; where names
// an entry by its position for the error.
func build(version string, released time.Time, entries []Entry, where func(int) string) (*Catalog, error) {
	c := &Catalog{version: version, released: released, byID: make(map[string]int, len(entries))}
	first := make(map[string]int, len(entries))
	for i, e := range entries {
		if j, dup := first[e.CVEID]; dup {
			return nil, fmt.Errorf("%s (%s): cveID appears twice, first at %s", where(i), e.CVEID, where(j))
		}
		first[e.CVEID] = i
	}
	c.entries = slices.Clone(entries)
	slices.SortFunc(c.entries, func(a, b Entry) int { return strings.Compare(a.CVEID, b.CVEID) })
	for i, e := range c.entries {
		c.byID[e.CVEID] = i
	}
	return c, nil
}

// Version is the catalog's catalogVersion ("2025.08.25").
func (c *Catalog) Version() string { return c.version }

// Released is the catalog's dateReleased, in UTC; zero when unknown.
func (c *Catalog) Released() time.Time { return c.released }

// Len is the number of entries.
func (c *Catalog) Len() int { return len(c.entries) }

// Entries returns a copy of the entries, sorted by CVE id (bytewise).
func (c *Catalog) Entries() []Entry { return slices.Clone(c.entries) }

// Lookup returns the entry of a CVE id, in any letter case.
func (c *Catalog) Lookup(id string) (Entry, bool) {
	i, ok := c.byID[strings.ToUpper(id)]
	if !ok {
		return Entry{}, false
	}
	return c.entries[i], true
}

// Find returns the entry of a flaw known by id and aliases (a finding's
// GHSA or DSA id and its CVE alias): the first of them the catalog lists.
func (c *Catalog) Find(id string, aliases []string) (Entry, bool) {
	if e, ok := c.Lookup(id); ok {
		return e, true
	}
	for _, a := range aliases {
		if e, ok := c.Lookup(a); ok {
			return e, true
		}
	}
	return Entry{}, false
}

// rawEntry is an entry as decoded, before validation; nil means absent
// (or null).
type rawEntry struct {
	CVEID                      *string  `json:"cveID"`
	VendorProject              *string  `json:"vendorProject"`
	Product                    *string  `json:"product"`
	VulnerabilityName          *string  `json:"vulnerabilityName"`
	DateAdded                  *string  `json:"dateAdded"`
	ShortDescription           *string  `json:"shortDescription"`
	RequiredAction             *string  `json:"requiredAction"`
	DueDate                    *string  `json:"dueDate"`
	KnownRansomwareCampaignUse *string  `json:"knownRansomwareCampaignUse"`
	Notes                      *string  `json:"notes"`
	CWEs                       []string `json:"cwes"`
}

// entry converts and validates a decoded entry.
func (r *rawEntry) entry() (Entry, error) {
	if r.CVEID == nil {
		return Entry{}, errors.New("cveID is missing")
	}
	e := Entry{CVEID: *r.CVEID, CWEs: r.CWEs}
	if !validCVE(e.CVEID) {
		return Entry{}, badCVE(e.CVEID)
	}
	for _, f := range []struct {
		name string
		src  *string
		dst  *string
	}{
		{"vendorProject", r.VendorProject, &e.VendorProject},
		{"product", r.Product, &e.Product},
		{"vulnerabilityName", r.VulnerabilityName, &e.VulnerabilityName},
		{"shortDescription", r.ShortDescription, &e.ShortDescription},
		{"requiredAction", r.RequiredAction, &e.RequiredAction},
	} {
		if f.src == nil {
			return Entry{}, fmt.Errorf("%s: %s is missing", e.CVEID, f.name)
		}
		*f.dst = *f.src
	}
	if r.Notes != nil {
		e.Notes = *r.Notes
	}
	for _, f := range []struct {
		name string
		src  *string
		dst  *Date
	}{{"dateAdded", r.DateAdded, &e.DateAdded}, {"dueDate", r.DueDate, &e.DueDate}} {
		if f.src == nil {
			return Entry{}, fmt.Errorf("%s: %s is missing", e.CVEID, f.name)
		}
		d, err := ParseDate(*f.src)
		if err != nil {
			return Entry{}, fmt.Errorf("%s: %s %w", e.CVEID, f.name, err)
		}
		*f.dst = d
	}
	// The schema lets the field out; CISA's definition of Unknown is "not
	// confirmed", which is also what an absent value says.
	switch {
	case r.KnownRansomwareCampaignUse == nil || *r.KnownRansomwareCampaignUse == "":
		e.KnownRansomwareCampaignUse = RansomwareUnknown
	case strings.EqualFold(*r.KnownRansomwareCampaignUse, RansomwareKnown):
		e.KnownRansomwareCampaignUse = RansomwareKnown
	case strings.EqualFold(*r.KnownRansomwareCampaignUse, RansomwareUnknown):
		e.KnownRansomwareCampaignUse = RansomwareUnknown
	default:
		e.KnownRansomwareCampaignUse = *r.KnownRansomwareCampaignUse
	}
	if err := e.validate(); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", e.CVEID, err)
	}
	return e, nil
}

// Parse reads a catalog in CISA's JSON form from r, at most maxBytes bytes
// (DefaultMaxBytes when maxBytes <= 0), and validates all of it:
// catalogVersion, dateReleased (RFC 3339), count (which must equal the
// number of entries) and vulnerabilities are required; each entry must pass
// Validate; no CVE id may appear twice; nothing may follow the catalog.
// Errors wrap ErrInvalid or ErrTooLarge and name the entry by its position
// and CVE id.
func Parse(r io.Reader, maxBytes int64) (*Catalog, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading KEV catalog: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxBytes)
	}
	p := &parser{data: bytes.TrimPrefix(data, utf8BOM)}
	c, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

var utf8BOM = []byte("\ufeff")

// topLevel are the catalog's required top-level fields.
var topLevel = []string{"catalogVersion", "dateReleased", "count", "vulnerabilities"}

type parser struct {
	data []byte
	dec  *json.Decoder
}

func (p *parser) parse() (*Catalog, error) {
	if len(bytes.TrimSpace(p.data)) == 0 {
		return nil, errors.New("empty input")
	}
	p.dec = json.NewDecoder(bytes.NewReader(p.data))
	p.dec.UseNumber()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("the top level is %s, not an object; a KEV catalog is an object with %s", describe(tok), strings.Join(topLevel, ", "))
	}
	var (
		version  string
		released time.Time
		count    int64
		entries  []Entry
		seen     = map[string]bool{}
	)
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.syntax(err)
		}
		key := tok.(string) // object keys are strings, or Token fails
		if seen[key] {
			return nil, fmt.Errorf("top-level field %q appears twice", truncate(key))
		}
		seen[key] = true
		switch key {
		case "catalogVersion":
			if err := p.decodeString(key, &version); err != nil {
				return nil, err
			}
			if err := checkText(key, version, MaxNameLen, true); err != nil {
				return nil, err
			}
		case "dateReleased":
			var s string
			if err := p.decodeString(key, &s); err != nil {
				return nil, err
			}
			if released, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return nil, fmt.Errorf("dateReleased %q is not an RFC 3339 date-time", truncate(s))
			}
			released = released.UTC()
		case "count":
			var raw json.RawMessage
			if err := p.dec.Decode(&raw); err != nil {
				return nil, p.syntax(err)
			}
			var n json.Number
			if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
				return nil, fmt.Errorf("count is %s, not a number", truncate(string(raw)))
			}
			if count, err = n.Int64(); err != nil || count < 0 {
				return nil, fmt.Errorf("count %s is not a non-negative integer", truncate(n.String()))
			}
		case "vulnerabilities":
			if entries, err = p.entries(); err != nil {
				return nil, err
			}
		default: // "title" and fields CISA may add
			var skip json.RawMessage
			if err := p.dec.Decode(&skip); err != nil {
				return nil, p.syntax(err)
			}
		}
	}
	if _, err := p.dec.Token(); err != nil { // the closing brace
		return nil, p.syntax(err)
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the catalog at byte %d", p.dec.InputOffset())
	}
	var missing []string
	for _, k := range topLevel {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	switch {
	case len(missing) == len(topLevel):
		return nil, fmt.Errorf("not a KEV catalog: the object has none of %s", strings.Join(topLevel, ", "))
	case len(missing) == 1:
		return nil, fmt.Errorf("%s is missing", missing[0])
	case len(missing) > 1:
		return nil, fmt.Errorf("%s are missing", strings.Join(missing, ", "))
	case count != int64(len(entries)):
		return nil, fmt.Errorf("count is %d but vulnerabilities has %d entries", count, len(entries))
	}
	return build(version, released, entries, func(i int) string {
		return fmt.Sprintf("vulnerabilities[%d]", i)
	})
}

// decodeString decodes the next value, which must be a string.
func (p *parser) decodeString(key string, dst *string) error {
	var raw json.RawMessage
	if err := p.dec.Decode(&raw); err != nil {
		return p.syntax(err)
	}
	if json.Unmarshal(raw, dst) != nil || raw[0] != '"' {
		return fmt.Errorf("%s is %s, not a string", key, truncate(string(raw)))
	}
	return nil
}

// entries decodes the vulnerabilities array, one entry at a time.
func (p *parser) entries() ([]Entry, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf("vulnerabilities is %s, not an array", describe(tok))
	}
	out := []Entry{}
	for i := 0; p.dec.More(); i++ {
		if i == MaxEntries {
			return nil, fmt.Errorf("vulnerabilities has more than %d entries", MaxEntries)
		}
		var raw json.RawMessage
		if err := p.dec.Decode(&raw); err != nil {
			return nil, p.syntax(err)
		}
		e, err := decodeEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("vulnerabilities[%d]: %w", i, err)
		}
		out = append(out, e)
	}
	if _, err := p.dec.Token(); err != nil { // the closing bracket
		return nil, p.syntax(err)
	}
	return out, nil
}

func decodeEntry(raw json.RawMessage) (Entry, error) {
	if raw[0] != '{' {
		return Entry{}, fmt.Errorf("%s is not an object", truncate(string(raw)))
	}
	var r rawEntry
	if err := json.Unmarshal(raw, &r); err != nil {
		// Name the entry when its id at least decodes.
		var id struct {
			CVEID string `json:"cveID"`
		}
		prefix := ""
		if json.Unmarshal(raw, &id) == nil && id.CVEID != "" {
			prefix = truncate(id.CVEID) + ": "
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Entry{}, fmt.Errorf("%s%s is a JSON %s, want %s", prefix, te.Field, te.Value, jsonType(te.Type.String()))
		}
		return Entry{}, fmt.Errorf("%s%v", prefix, err)
	}
	return r.entry()
}

// jsonType names a Go type of rawEntry as the JSON type it wants.
func jsonType(goType string) string {
	switch goType {
	case "string", "*string":
		return "a string"
	case "[]string":
		return "an array of strings"
	}
	return goType
}

// syntax turns a decoding error into one giving the line.
func (p *parser) syntax(err error) error {
	var se *json.SyntaxError
	off := p.dec.InputOffset()
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the JSON ends early at byte %d (truncated download?)", len(p.data))
	}
	line := 1 + bytes.Count(p.data[:min(max(off, 0), int64(len(p.data)))], []byte("\n"))
	return fmt.Errorf("malformed JSON at line %d (byte %d): %v", line, off, err)
}

// describe names a JSON token for a message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}
