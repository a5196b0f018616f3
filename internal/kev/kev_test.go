package kev

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func parseFile(t *testing.T, path string) (*Catalog, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Parse(f, 0)
}

func date(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestParseValid(t *testing.T) {
	c, err := parseFile(t, "testdata/valid/small.json")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Version() != "2024.01.31" || !c.Released().Equal(time.Date(2024, 1, 31, 15, 0, 2, 123400000, time.UTC)) || c.Released().Location() != time.UTC {
		t.Errorf("Version, Released = %q, %v", c.Version(), c.Released())
	}
	want := []Entry{
		{
			CVEID: "CVE-2019-1003029", VendorProject: "Jenkins", Product: "Script Security Plugin",
			VulnerabilityName: "Example Widget Remote Code Execution Vulnerability",
			DateAdded:         date("2022-03-25"), DueDate: date("2022-04-15"),
			ShortDescription:           "Example Widget contains a flaw that lets an attacker run code.",
			RequiredAction:             "Apply mitigations per vendor instructions or discontinue use of the product if mitigations are unavailable.",
			KnownRansomwareCampaignUse: RansomwareUnknown, CWEs: []string{},
		},
		{
			CVEID: "CVE-2021-44228", VendorProject: "Apache", Product: "Log4j2",
			VulnerabilityName: "Apache Log4j2 Remote Code Execution Vulnerability",
			DateAdded:         date("2021-12-10"), DueDate: date("2021-12-24"),
			ShortDescription:           "Apache Log4j2 contains a vulnerability where JNDI features do not protect against attacker-controlled JNDI-related endpoints, allowing for remote code execution.",
			RequiredAction:             "For all affected software assets for which updates exist, the only acceptable remediation actions are: 1) Apply updates; OR 2) remove affected assets from agency networks.",
			KnownRansomwareCampaignUse: RansomwareKnown,
			Notes:                      "https://example.com/advisory ; https://nvd.nist.gov/vuln/detail/CVE-2021-44228",
			CWEs:                       []string{"CWE-20", "CWE-400", "CWE-502"},
		},
		{
			// notes, cwes and knownRansomwareCampaignUse left out; an
			// unknown field ignored.
			CVEID: "CVE-2024-3400", VendorProject: "Example", Product: "Widget",
			VulnerabilityName: "Example Widget Remote Code Execution Vulnerability",
			DateAdded:         date("2024-04-12"), DueDate: date("2024-04-19"),
			ShortDescription:           "Example Widget contains a flaw that lets an attacker run code.",
			RequiredAction:             "Apply mitigations per vendor instructions or discontinue use of the product if mitigations are unavailable.",
			KnownRansomwareCampaignUse: RansomwareUnknown,
		},
	}
	if diff := cmp.Diff(want, c.Entries()); diff != "" {
		t.Errorf("Entries mismatch (-want +got):\n%s", diff)
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}

	for _, tc := range []struct {
		id   string
		want string // the CVEID found, "" for none
	}{
		{"CVE-2021-44228", "CVE-2021-44228"},
		{"cve-2021-44228", "CVE-2021-44228"},
		{"Cve-2019-1003029", "CVE-2019-1003029"},
		{"CVE-2021-4422", ""},
		{"CVE-2021-442288", ""},
		{"GHSA-jfh8-c2jp-5v3q", ""},
		{"", ""},
	} {
		e, ok := c.Lookup(tc.id)
		if ok != (tc.want != "") || e.CVEID != tc.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tc.id, e.CVEID, ok, tc.want)
		}
	}
	if e, _ := c.Lookup("CVE-2021-44228"); !e.KnownRansomware() || e.DateAdded != date("2021-12-10") || e.DueDate.String() != "2021-12-24" {
		t.Errorf("Lookup(CVE-2021-44228) = %+v", e)
	}
	if e, _ := c.Lookup("CVE-2024-3400"); e.KnownRansomware() {
		t.Errorf("CVE-2024-3400 without knownRansomwareCampaignUse reads as known ransomware use")
	}

	// Entries hands out a copy.
	c.Entries()[0].CVEID = "changed"
	if c.Entries()[0].CVEID != "CVE-2019-1003029" {
		t.Error("modifying the result of Entries changed the catalog")
	}
}

func TestParseEmptyCatalog(t *testing.T) {
	c, err := parseFile(t, "testdata/valid/empty.json")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Len() != 0 || len(c.Entries()) != 0 || c.Version() != "2024.01.31" {
		t.Errorf("empty catalog: Len %d, Version %q", c.Len(), c.Version())
	}
	if _, ok := c.Lookup("CVE-2021-44228"); ok {
		t.Error("Lookup found an entry in an empty catalog")
	}
}

// invalidFixtures maps each file of testdata/invalid to the error it must
// give; TestParseInvalid fails on a file missing from the table and on an
// entry without its file.
var invalidFixtures = map[string]string{
	"bad-cve-id.json":                `vulnerabilities[1]: cveID "CVE-24-0002" is not a CVE id`,
	"lowercase-cve-id.json":          `vulnerabilities[1]: cveID "cve-2024-0002" is not a CVE id`,
	"duplicate-cve-id.json":          "vulnerabilities[2] (CVE-2024-0001): cveID appears twice, first at vulnerabilities[0]",
	"bad-date-added.json":            `vulnerabilities[1]: CVE-2024-0002: dateAdded "2024/01/10" is not a date in the form YYYY-MM-DD`,
	"bad-due-date.json":              `vulnerabilities[1]: CVE-2024-0002: dueDate "2024-02-30" is not a date in the form YYYY-MM-DD`,
	"count-mismatch.json":            "count is 3 but vulnerabilities has 2 entries",
	"missing-required-field.json":    "vulnerabilities[1]: CVE-2024-0002: requiredAction is missing",
	"empty-required-field.json":      "vulnerabilities[1]: CVE-2024-0002: vendorProject is empty",
	"bad-ransomware.json":            `vulnerabilities[1]: CVE-2024-0002: knownRansomwareCampaignUse "Maybe" is neither "Known" nor "Unknown"`,
	"bad-cwe.json":                   `vulnerabilities[1]: CVE-2024-0002: cwes[1] "NVD-CWE-noinfo" is not a CWE id`,
	"cve-id-not-string.json":         "vulnerabilities[1]: cveID is a JSON number, want a string",
	"count-not-number.json":          `count is "2", not a number`,
	"missing-top-level.json":         "dateReleased, count are missing",
	"bad-date-released.json":         `dateReleased "31 January 2024" is not an RFC 3339 date-time`,
	"entry-not-object.json":          `vulnerabilities[1]: "CVE-2024-0002" is not an object`,
	"vulnerabilities-not-array.json": "vulnerabilities is an object, not an array",
	"osv-record.json":                "not a KEV catalog: the object has none of catalogVersion, dateReleased, count, vulnerabilities",
	"top-level-array.json":           "the top level is an array, not an object",
	"trailing-garbage.json":          "unexpected data after the catalog",
	"truncated.json":                 "the JSON ends early",
	"duplicate-top-level-key.json":   `top-level field "count" appears twice`,
	"syntax-error.json":              "malformed JSON at line 9",
	"empty.json":                     "empty input",
}

func TestParseInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := invalidFixtures[name]
			if !ok {
				t.Fatalf("no expected error for %s in invalidFixtures", f)
			}
			c, err := parseFile(t, f)
			if err == nil {
				t.Fatalf("Parse accepted %s (%d entries)", f, c.Len())
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Errorf("Parse error = %q, want ErrInvalid containing %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), "invalid KEV catalog: ") {
				t.Errorf("Parse error %q does not say it is about a KEV catalog", err)
			}
		})
	}
	for name := range invalidFixtures {
		if !seen[name] {
			t.Errorf("invalidFixtures names %s, which is not in testdata/invalid", name)
		}
	}
}

// entryJSON is one valid entry with field set to value (raw JSON), or
// without it when value is "".
func entryJSON(field, value string) string {
	fields := [][2]string{
		{"cveID", `"CVE-2024-1234"`},
		{"vendorProject", `"V"`},
		{"product", `"P"`},
		{"vulnerabilityName", `"N"`},
		{"dateAdded", `"2024-01-02"`},
		{"shortDescription", `"S"`},
		{"requiredAction", `"A"`},
		{"dueDate", `"2024-01-23"`},
		{"knownRansomwareCampaignUse", `"Unknown"`},
		{"notes", `""`},
		{"cwes", `[]`},
	}
	var parts []string
	for _, f := range fields {
		if f[0] == field {
			if value == "" {
				continue
			}
			f[1] = value
		}
		parts = append(parts, fmt.Sprintf("%q:%s", f[0], f[1]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func catalogJSON(entries ...string) string {
	return fmt.Sprintf(`{"catalogVersion":"1","dateReleased":"2024-01-02T03:04:05Z","count":%d,"vulnerabilities":[%s]}`,
		len(entries), strings.Join(entries, ","))
}

func TestParseFields(t *testing.T) {
	quoted := func(s string) string { return fmt.Sprintf("%q", s) }
	tests := []struct {
		name    string
		input   string
		wantErr string // "" when valid
	}{
		{"valid", catalogJSON(entryJSON("", "")), ""},
		{"byte order mark", "\ufeff" + catalogJSON(entryJSON("", "")), ""},
		{"19 digit CVE", catalogJSON(entryJSON("cveID", `"CVE-2024-1234567890123456789"`)), ""},
		{"20 digit CVE", catalogJSON(entryJSON("cveID", `"CVE-2024-12345678901234567890"`)), "is not a CVE id"},
		{"3 digit CVE", catalogJSON(entryJSON("cveID", `"CVE-2024-123"`)), "is not a CVE id"},
		{"CVE with suffix", catalogJSON(entryJSON("cveID", `"CVE-2024-1234 "`)), "is not a CVE id"},
		{"CVE missing", catalogJSON(entryJSON("cveID", "")), "vulnerabilities[0]: cveID is missing"},
		{"CVE null", catalogJSON(entryJSON("cveID", "null")), "vulnerabilities[0]: cveID is missing"},
		{"dueDate missing", catalogJSON(entryJSON("dueDate", "")), "CVE-2024-1234: dueDate is missing"},
		{"date with time", catalogJSON(entryJSON("dateAdded", `"2024-01-02T00:00:00Z"`)), "is not a date in the form YYYY-MM-DD"},
		{"date one-digit month", catalogJSON(entryJSON("dateAdded", `"2024-1-02"`)), "is not a date in the form YYYY-MM-DD"},
		{"date year 0001", catalogJSON(entryJSON("dateAdded", `"0001-01-02"`)), "out of range"},
		{"ransomware lower case", catalogJSON(entryJSON("knownRansomwareCampaignUse", `"known"`)), ""},
		{"ransomware empty", catalogJSON(entryJSON("knownRansomwareCampaignUse", `""`)), ""},
		{"notes null", catalogJSON(entryJSON("notes", "null")), ""},
		{"cwes null", catalogJSON(entryJSON("cwes", "null")), ""},
		{"cwes not array", catalogJSON(entryJSON("cwes", `"CWE-79"`)), "CVE-2024-1234: cwes is a JSON string, want an array of strings"},
		{"too many cwes", catalogJSON(entryJSON("cwes", `["CWE-1"`+strings.Repeat(`,"CWE-1"`, MaxCWEs)+`]`)), "65 cwes, over the limit of 64"},
		{"name too long", catalogJSON(entryJSON("product", quoted(strings.Repeat("p", MaxNameLen+1)))), "product is 1025 bytes, over the limit of 1024"},
		{"name at the cap", catalogJSON(entryJSON("product", quoted(strings.Repeat("p", MaxNameLen)))), ""},
		{"text too long", catalogJSON(entryJSON("notes", quoted(strings.Repeat("n", MaxTextLen+1)))), "notes is 16385 bytes, over the limit of 16384"},
		{"NUL in text", catalogJSON(entryJSON("shortDescription", `"a\u0000b"`)), "shortDescription contains a NUL character"},
		{"odd text kept", catalogJSON(entryJSON("notes", `"quote \" emoji 🐛 ünïcode\nnew line"`)), ""},
		{"version missing", `{"dateReleased":"2024-01-02T03:04:05Z","count":0,"vulnerabilities":[]}`, "catalogVersion is missing"},
		{"version empty", `{"catalogVersion":"","dateReleased":"2024-01-02T03:04:05Z","count":0,"vulnerabilities":[]}`, "catalogVersion is empty"},
		{"version not string", `{"catalogVersion":2024,"dateReleased":"2024-01-02T03:04:05Z","count":0,"vulnerabilities":[]}`, "catalogVersion is 2024, not a string"},
		{"count negative", `{"catalogVersion":"1","dateReleased":"2024-01-02T03:04:05Z","count":-1,"vulnerabilities":[]}`, "count -1 is not a non-negative integer"},
		{"count fraction", `{"catalogVersion":"1","dateReleased":"2024-01-02T03:04:05Z","count":1.5,"vulnerabilities":[]}`, "count 1.5 is not a non-negative integer"},
		{"vulnerabilities null", `{"catalogVersion":"1","dateReleased":"2024-01-02T03:04:05Z","count":0,"vulnerabilities":null}`, "vulnerabilities is null, not an array"},
		{"top level string", `"catalog"`, "the top level is a string, not an object"},
		{"two catalogs", catalogJSON() + catalogJSON(), "unexpected data after the catalog"},
		{"trailing whitespace", catalogJSON() + "\n\t \n", ""},
		{"not JSON", "<html><body>Access denied</body></html>", "malformed JSON at line 1 (byte 1): invalid character '<'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tc.input), 0)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if c.Len() != strings.Count(tc.input, "cveID") {
					t.Errorf("Len = %d", c.Len())
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse error = %v, want ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseNormalises(t *testing.T) {
	c, err := Parse(strings.NewReader(catalogJSON(entryJSON("knownRansomwareCampaignUse", `"KNOWN"`))), 0)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Lookup("CVE-2024-1234"); e.KnownRansomwareCampaignUse != RansomwareKnown || !e.KnownRansomware() {
		t.Errorf("knownRansomwareCampaignUse KNOWN read as %q", e.KnownRansomwareCampaignUse)
	}
	c, err = Parse(strings.NewReader(catalogJSON(entryJSON("knownRansomwareCampaignUse", ""))), 0)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Lookup("CVE-2024-1234"); e.KnownRansomwareCampaignUse != RansomwareUnknown {
		t.Errorf("absent knownRansomwareCampaignUse read as %q, want Unknown", e.KnownRansomwareCampaignUse)
	}
}

func TestParseBounds(t *testing.T) {
	input := catalogJSON(entryJSON("", ""))
	if _, err := Parse(strings.NewReader(input), int64(len(input))); err != nil {
		t.Errorf("Parse at exactly the size cap: %v", err)
	}
	_, err := Parse(strings.NewReader(input), int64(len(input)-1))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", len(input)-1)) {
		t.Errorf("Parse over the size cap: error = %v, want ErrTooLarge", err)
	}

	// One entry over MaxEntries is refused before the count is compared.
	var b bytes.Buffer
	b.WriteString(`{"catalogVersion":"1","dateReleased":"2024-01-02T03:04:05Z","count":100001,"vulnerabilities":[`)
	for i := range MaxEntries + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"cveID":"CVE-2024-%06d","vendorProject":"V","product":"P","vulnerabilityName":"N","dateAdded":"2024-01-02","shortDescription":"S","requiredAction":"A","dueDate":"2024-01-23"}`, i)
	}
	b.WriteString("]}")
	_, err = Parse(&b, 0)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "vulnerabilities has more than 100000 entries") {
		t.Errorf("Parse of %d entries: error = %v, want the entry cap", MaxEntries+1, err)
	}
}

func TestNew(t *testing.T) {
	c, err := parseFile(t, "testdata/valid/small.json")
	if err != nil {
		t.Fatal(err)
	}
	// What a store gives back builds the same catalog.
	rebuilt, err := New(c.Version(), c.Released(), c.Entries())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if diff := cmp.Diff(c.Entries(), rebuilt.Entries()); diff != "" || rebuilt.Version() != c.Version() || !rebuilt.Released().Equal(c.Released()) {
		t.Errorf("New(Entries()) differs (-parsed +rebuilt):\n%s", diff)
	}

	good := c.Entries()[0]
	withBad := func(f func(e *Entry)) []Entry {
		e := good
		f(&e)
		return []Entry{good, e}
	}
	for _, tc := range []struct {
		name    string
		version string
		entries []Entry
		want    string
	}{
		{"no version", "", nil, "catalogVersion is empty"},
		{"duplicate", "1", []Entry{good, good}, "entry 1 (CVE-2019-1003029): cveID appears twice, first at entry 0"},
		{"bad id", "1", withBad(func(e *Entry) { e.CVEID = "cve-2019-1003029" }), `entry 1: cveID "cve-2019-1003029" is not a CVE id`},
		{"zero date", "1", withBad(func(e *Entry) { e.CVEID, e.DueDate = "CVE-2024-0001", Date{} }), "entry 1: CVE-2024-0001: dueDate is missing"},
		{"impossible date", "1", withBad(func(e *Entry) { e.CVEID, e.DateAdded = "CVE-2024-0001", Date{2024, 2, 30} }), "entry 1: CVE-2024-0001: dateAdded 2024-02-30 is not a real date"},
		{"ransomware empty", "1", withBad(func(e *Entry) { e.CVEID, e.KnownRansomwareCampaignUse = "CVE-2024-0001", "" }), `knownRansomwareCampaignUse "" is neither`},
		{"required empty", "1", withBad(func(e *Entry) { e.CVEID, e.RequiredAction = "CVE-2024-0001", "" }), "CVE-2024-0001: requiredAction is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.version, time.Time{}, tc.entries)
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestDate(t *testing.T) {
	d := date("2025-08-25")
	if d != (Date{2025, time.August, 25}) || d.String() != "2025-08-25" || !d.Time().Equal(time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseDate(2025-08-25) = %+v (%s, %v)", d, d, d.Time())
	}
	if !d.Before(date("2025-09-01")) || !d.After(date("2024-12-31")) || d.Compare(date("2025-08-25")) != 0 {
		t.Error("Date comparisons are wrong")
	}
	if DateOf(time.Date(2025, 8, 25, 23, 59, 0, 0, time.UTC)) != d {
		t.Error("DateOf lost the day")
	}
	b, _ := d.MarshalText()
	var back Date
	if err := back.UnmarshalText(b); err != nil || back != d {
		t.Errorf("text round trip: %q → %+v, %v", b, back, err)
	}
	if (Date{}).String() != "" || !(Date{}).IsZero() {
		t.Error("the zero Date is not empty")
	}
	for _, bad := range []string{"2025-02-29", "2025-13-01", "25-08-25", "2025-08-25 ", "2025/08/25", "10000-01-01", "1969-12-31"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) accepted it", bad)
		}
	}
}

// sharedCatalog is CISA's catalog of 2025-08-25 in ../shared.
const sharedCatalog = "../../../shared/vulndata/cisa-kev-2025-08-25.json"

// TestParseRealCatalog parses CISA's real catalog. It skips when ../shared
// is not checked out next to the repository, and fails then when CI=true.
func TestParseRealCatalog(t *testing.T) {
	if _, err := os.Stat(sharedCatalog); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data %s is missing (CI=true): %v", sharedCatalog, err)
		}
		t.Skipf("shared data %s is missing; check out ../shared next to the repository to run this test", sharedCatalog)
	}
	data, err := os.ReadFile(sharedCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if !Sniff(data[:SniffLen]) {
		t.Error("Sniff does not recognise the real catalog")
	}
	c, err := Parse(bytes.NewReader(data), 0)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Len() != 1404 || c.Version() != "2025.08.25" || !c.Released().Equal(time.Date(2025, 8, 25, 17, 4, 19, 979600000, time.UTC)) {
		t.Errorf("catalog: %d entries, version %q, released %v; want 1404, 2025.08.25, 2025-08-25T17:04:19.9796Z", c.Len(), c.Version(), c.Released())
	}
	e, ok := c.Lookup("cve-2021-44228")
	if !ok {
		t.Fatal("Log4Shell is not in the catalog")
	}
	if e.VendorProject != "Apache" || e.DateAdded != date("2021-12-10") || e.DueDate != date("2021-12-24") || !e.KnownRansomware() ||
		!strings.Contains(e.VulnerabilityName, "Log4j2") || e.RequiredAction == "" {
		t.Errorf("CVE-2021-44228 = %+v", e)
	}
	git, _ := c.Lookup("CVE-2025-48384")
	if diff := cmp.Diff([]string{"CWE-59", "CWE-436"}, git.CWEs); diff != "" || git.KnownRansomware() {
		t.Errorf("CVE-2025-48384 cwes (-want +got):\n%s (ransomware %v)", diff, git.KnownRansomware())
	}
	known := 0
	for _, e := range c.Entries() {
		if e.KnownRansomware() {
			known++
		}
	}
	if known != 293 {
		t.Errorf("%d entries with known ransomware use, want 293", known)
	}
	// A copy with one entry broken is refused as a whole.
	broken := bytes.Replace(data, []byte(`"dueDate": "2021-12-24"`), []byte(`"dueDate": "24/12/2021"`), 1)
	if _, err := Parse(bytes.NewReader(broken), 0); err == nil || !strings.Contains(err.Error(), `dueDate "24/12/2021"`) {
		t.Errorf("Parse of the real catalog with one bad date: %v", err)
	}
}

func BenchmarkParseRealCatalog(b *testing.B) {
	data, err := os.ReadFile(sharedCatalog)
	if err != nil {
		b.Skipf("shared data missing: %v", err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), 0); err != nil {
			b.Fatal(err)
		}
	}
}
