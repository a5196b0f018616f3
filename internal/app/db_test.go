package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goRecord = `{"id":"GO-2099-0001","modified":"2099-01-02T03:04:05Z","summary":"example Go flaw",
 "affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/text"},
  "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.3.8"}]}]}]}`

// writeRecords writes files (name → content) into a new directory named
// name and returns it.
func writeRecords(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, body := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type dbStatusJSON struct {
	Version string `json:"version"`
	Records int    `json:"records"`
	Sources []struct {
		Name, Location, Digest string
		Records                int
		ImportedAt             time.Time
	} `json:"sources"`
}

func dbStatusOf(t *testing.T, args ...string) dbStatusJSON {
	t.Helper()
	code, out, stderr := run(t, "", append([]string{"db", "status", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("db status: exit %d: %s", code, stderr)
	}
	var st dbStatusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("db status output: %v\n%s", err, out)
	}
	return st
}

// TestDBImportAndScan imports into the default database (under
// XDG_DATA_HOME), checks status, re-imports, refuses a source without any
// valid record, and scans against the stored data without --osv.
func TestDBImportAndScan(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	vulnerable := debianLayout(t, "3.0.11-1~deb12u2")

	// Without a database, scan lists packages and status says what to do.
	code, out, _ := run(t, "", "scan", "--input", vulnerable)
	if code != 0 || !strings.Contains(out, "no vulnerability data") {
		t.Errorf("scan before any import: exit %d\n%s", code, out)
	}
	if code, _, stderr := run(t, "", "db", "status"); code != ExitError || !strings.Contains(stderr, "palisade db import") {
		t.Errorf("db status before any import: exit %d %q", code, stderr)
	}

	dir := writeRecords(t, "advisories", map[string]string{
		"TEST-OPENSSL-1.json": opensslRecord,
		"GO-2099-0001.json":   goRecord,
		"broken.json":         `{"id": "BROKEN-1", "affected": [`,
	})
	code, out, stderr := run(t, "", "db", "import", dir)
	if code != 0 {
		t.Fatalf("db import: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `imported 2 records`) || !strings.Contains(out, `source "advisories"`) || !strings.Contains(out, "database version sha256:") {
		t.Errorf("db import output:\n%s", out)
	}
	if !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "broken.json") {
		t.Errorf("db import did not warn about the broken record: %q", stderr)
	}

	st := dbStatusOf(t)
	if len(st.Sources) != 1 || st.Sources[0].Name != "advisories" || st.Sources[0].Records != 2 || st.Records != 2 ||
		!strings.HasPrefix(st.Sources[0].Digest, "sha256:") || !strings.HasPrefix(st.Version, "sha256:") ||
		st.Sources[0].Location != dir || time.Since(st.Sources[0].ImportedAt) > time.Minute {
		t.Errorf("db status after import = %+v", st)
	}
	code, out, _ = run(t, "", "db", "status")
	if code != 0 || !strings.Contains(out, "advisories") || !strings.Contains(out, st.Version) {
		t.Errorf("db status table: exit %d\n%s", code, out)
	}

	// scan without --osv matches the stored advisories.
	code, out, stderr = run(t, "", "scan", "--input", vulnerable, "-o", "json", "--fail-on", "high")
	if code != ExitFinding {
		t.Fatalf("scan with the stored data: exit %d, want %d: %s\n%s", code, ExitFinding, stderr, out)
	}
	var rep struct {
		Vulnerabilities []struct{ ID, FixedVersion string } `json:"vulnerabilities"`
		Database        *struct {
			Version string
			Records int
			Sources []string
		} `json:"database"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Vulnerabilities) != 1 || rep.Vulnerabilities[0].ID != "TEST-OPENSSL-1" || rep.Vulnerabilities[0].FixedVersion != "3.0.15-1~deb12u1" {
		t.Errorf("scan vulnerabilities = %+v", rep.Vulnerabilities)
	}
	if rep.Database == nil || rep.Database.Version != st.Version || rep.Database.Records != 2 || len(rep.Database.Sources) != 1 || rep.Database.Sources[0] != "advisories" {
		t.Errorf("scan database = %+v, want version %s, 2 records from advisories", rep.Database, st.Version)
	}
	// --osv takes precedence over the stored data.
	empty := writeRecords(t, "go-only", map[string]string{"GO-2099-0001.json": goRecord})
	if code, out, stderr := run(t, "", "scan", "--input", vulnerable, "--osv", empty, "--fail-on", "low"); code != 0 {
		t.Errorf("scan --osv with no matching record: exit %d: %s %s", code, out, stderr)
	}

	// Re-import replaces the source's records.
	only := writeRecords(t, "v2", map[string]string{"GO-2099-0001.json": goRecord})
	if code, _, stderr := run(t, "", "db", "import", only, "--name", "advisories"); code != 0 {
		t.Fatalf("re-import: exit %d: %s", code, stderr)
	}
	st2 := dbStatusOf(t)
	if len(st2.Sources) != 1 || st2.Sources[0].Records != 1 || st2.Records != 1 || st2.Version == st.Version || st2.Sources[0].Digest == st.Sources[0].Digest {
		t.Errorf("db status after re-import = %+v (before: %+v)", st2, st)
	}
	if code, out, stderr := run(t, "", "scan", "--input", vulnerable, "--fail-on", "low"); code != 0 {
		t.Errorf("scan after re-import without the openssl record: exit %d: %s %s", code, out, stderr)
	}

	// A source with only broken records fails and keeps the previous data.
	broken := writeRecords(t, "broken", map[string]string{"a.json": `{"id": "X-1", "affected": [`, "b.yaml": "id: [unclosed"})
	code, _, stderr = run(t, "", "db", "import", broken, "--name", "advisories")
	if code != ExitError || !strings.Contains(stderr, "no valid OSV records") {
		t.Errorf("import of only broken records: exit %d %q", code, stderr)
	}
	if st3 := dbStatusOf(t); st3.Version != st2.Version || len(st3.Sources) != 1 || st3.Sources[0].Digest != st2.Sources[0].Digest {
		t.Errorf("db status after a failed import = %+v, want it unchanged: %+v", st3, st2)
	}
}

func TestDBImportErrors(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	a := writeRecords(t, "a", map[string]string{"r.json": goRecord})
	for _, tc := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"db", "import"}, ExitUsage, "requires at least 1 arg"},
		{[]string{"db", "import", a, a}, ExitUsage, "both be imported"},
		{[]string{"db", "import", a, a, "--name", "x"}, ExitUsage, "--name names one source"},
		{[]string{"db", "import", filepath.Join(a, "missing.zip")}, ExitError, "no such file"},
		{[]string{"db", "status", "-o", "xml"}, ExitUsage, "output format"},
	} {
		code, _, stderr := run(t, "", tc.args...)
		if code != tc.wantCode || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q, want %d and %q", tc.args, code, stderr, tc.wantCode, tc.want)
		}
	}
}

// TestDBImportGoVulnDB imports the full Go vulnerability database; the
// target is under 3 s.
func TestDBImportGoVulnDB(t *testing.T) {
	zip := filepath.Join("../../../shared", "vulndata/go-vulndb-osv-20261105.zip")
	if _, err := os.Stat(zip); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data %s is missing (CI=true): %v", zip, err)
		}
		t.Skipf("shared data %s is missing; check out ../shared next to the repository to run this test", zip)
	}
	db := filepath.Join(t.TempDir(), "palisade.db")
	start := time.Now()
	code, out, stderr := run(t, "", "db", "import", zip, "--database", db)
	elapsed := time.Since(start)
	if code != 0 {
		t.Fatalf("db import: exit %d: %s", code, stderr)
	}
	t.Logf("imported the Go vulnerability database in %v: %s", elapsed, strings.TrimSpace(out))
	st := dbStatusOf(t, "--database", db)
	if len(st.Sources) != 1 || st.Sources[0].Name != "go-vulndb-osv-20261105" || st.Sources[0].Records < 1000 || st.Records == 0 {
		t.Errorf("db status = %+v", st)
	}
	// Re-importing the same data gives the same digest and version.
	if code, _, stderr := run(t, "", "db", "import", zip, "--database", db); code != 0 {
		t.Fatalf("re-import: exit %d: %s", code, stderr)
	}
	if st2 := dbStatusOf(t, "--database", db); st2.Version != st.Version || st2.Sources[0].Digest != st.Sources[0].Digest {
		t.Errorf("re-import of the same data changed version or digest: %+v, was %+v", st2, st)
	}
}

// kevEntryJSON is one KEV catalog entry.
func kevEntryJSON(id, added string) string {
	return fmt.Sprintf(`{"cveID": %q, "vendorProject": "Example", "product": "Widget",
  "vulnerabilityName": "Example Widget Vulnerability", "dateAdded": %q,
  "shortDescription": "A flaw.", "requiredAction": "Apply updates per vendor instructions.",
  "dueDate": "2025-12-31", "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": ["CWE-79"]}`, id, added)
}

// kevJSON is a KEV catalog of version holding entries.
func kevJSON(version string, entries ...string) string {
	return fmt.Sprintf(`{"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": %q,
 "dateReleased": "2025-08-25T17:04:19.9796Z", "count": %d, "vulnerabilities": [%s]}`, version, len(entries), strings.Join(entries, ",\n"))
}

// writeFile writes body to a new file named name and returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type kevStatusJSON struct {
	Name, Location, Version, Digest string
	Released, ImportedAt            time.Time
	Entries                         int
}

// kevStatusOf returns the kev object of db status -o json, nil when null.
func kevStatusOf(t *testing.T, args ...string) *kevStatusJSON {
	t.Helper()
	code, out, stderr := run(t, "", append([]string{"db", "status", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("db status: exit %d: %s", code, stderr)
	}
	var st struct {
		Version *string         `json:"version"`
		Sources json.RawMessage `json:"sources"`
		KEV     *kevStatusJSON  `json:"kev"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("db status output: %v\n%s", err, out)
	}
	if st.Version == nil || st.Sources == nil || !strings.Contains(out, `"kev":`) {
		t.Errorf("db status JSON lacks version, sources or kev:\n%s", out)
	}
	return st.KEV
}

// TestDBImportKEV imports a KEV catalog next to OSV data, shows it in db
// status, refuses malformed catalogs while keeping the stored one, and
// replaces it with a newer one.
func TestDBImportKEV(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	v1 := writeFile(t, "known_exploited_vulnerabilities.json", kevJSON("2025.08.24",
		kevEntryJSON("CVE-2021-44228", "2021-12-10"), kevEntryJSON("CVE-2024-3400", "2024-04-12")))
	osvDir := writeRecords(t, "advisories", map[string]string{"GO-2099-0001.json": goRecord})

	// One command, both kinds.
	code, out, stderr := run(t, "", "db", "import", osvDir, v1)
	if code != 0 {
		t.Fatalf("db import: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`imported KEV catalog version 2025.08.24 (2 entries) from ` + v1 + ` as source "cisa-kev"`, `source "advisories"`, "1 records from 1 sources"} {
		if !strings.Contains(out, want) {
			t.Errorf("db import output lacks %q:\n%s", want, out)
		}
	}
	st := dbStatusOf(t)
	if len(st.Sources) != 1 || st.Sources[0].Name != "advisories" || st.Records != 1 {
		t.Errorf("db status sources after importing OSV and KEV = %+v; the KEV catalog is not an OSV source", st)
	}
	k := kevStatusOf(t)
	if k == nil || k.Name != "cisa-kev" || k.Version != "2025.08.24" || k.Entries != 2 || k.Location != v1 ||
		!strings.HasPrefix(k.Digest, "sha256:") || time.Since(k.ImportedAt) > time.Minute ||
		!k.Released.Equal(time.Date(2025, 8, 25, 17, 4, 19, 979600000, time.UTC)) {
		t.Fatalf("db status kev = %+v", k)
	}
	code, out, _ = run(t, "", "db", "status")
	if code != 0 || !strings.Contains(out, "KEV CATALOG") || !strings.Contains(out, "2025.08.24") || !strings.Contains(out, k.Digest) || !strings.Contains(out, "advisories") {
		t.Errorf("db status table: exit %d\n%s", code, out)
	}

	// Malformed catalogs fail with a clear error and keep the stored one.
	for _, tc := range []struct {
		name, body, want string
	}{
		{"bad date", kevJSON("2025.08.25", kevEntryJSON("CVE-2021-44228", "10/12/2021")), `vulnerabilities[0]: CVE-2021-44228: dateAdded "10/12/2021" is not a date in the form YYYY-MM-DD`},
		{"duplicate", kevJSON("2025.08.25", kevEntryJSON("CVE-2021-44228", "2021-12-10"), kevEntryJSON("CVE-2021-44228", "2021-12-11")), "vulnerabilities[1] (CVE-2021-44228): cveID appears twice"},
		{"bad id", kevJSON("2025.08.25", kevEntryJSON("CVE-2021-1", "2021-12-10")), `cveID "CVE-2021-1" is not a CVE id`},
		{"count", strings.Replace(kevJSON("2025.08.25", kevEntryJSON("CVE-2021-44228", "2021-12-10")), `"count": 1`, `"count": 2`, 1), "count is 2 but vulnerabilities has 1 entries"},
		{"truncated", kevJSON("2025.08.25", kevEntryJSON("CVE-2021-44228", "2021-12-10"))[:300], "the JSON ends early"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := writeFile(t, "kev.json", tc.body)
			code, out, stderr := run(t, "", "db", "import", bad)
			if code != ExitError {
				t.Errorf("db import of a malformed catalog: exit %d, want %d\n%s", code, ExitError, out)
			}
			for _, want := range []string{"importing " + bad, "invalid KEV catalog", tc.want, "the stored KEV catalog is kept"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q: %q", want, stderr)
				}
			}
			if strings.Contains(stderr, "OSV") {
				t.Errorf("a malformed KEV catalog was reported as OSV data: %q", stderr)
			}
			if k2 := kevStatusOf(t); k2 == nil || *k2 != *k {
				t.Errorf("db status kev after a failed import = %+v, want it unchanged: %+v", k2, k)
			}
		})
	}

	// A newer catalog replaces it; the OSV data stays.
	v2 := writeFile(t, "kev-2025.08.25.json", kevJSON("2025.08.25", kevEntryJSON("CVE-2025-48384", "2025-08-25")))
	if code, out, stderr := run(t, "", "db", "import", v2, "--name", "ignored"); code != 0 || !strings.Contains(out, `(1 entries)`) {
		t.Fatalf("db import of a newer catalog: exit %d: %s %s", code, out, stderr)
	}
	if k2 := kevStatusOf(t); k2 == nil || k2.Version != "2025.08.25" || k2.Entries != 1 || k2.Location != v2 || k2.Name != "cisa-kev" || k2.Digest == k.Digest {
		t.Errorf("db status kev after a newer import = %+v", k2)
	}
	if st2 := dbStatusOf(t); st2.Version != st.Version {
		t.Errorf("importing a KEV catalog changed the OSV database version: %s, was %s", st2.Version, st.Version)
	}
}

func TestDBStatusWithoutKEV(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	if code, _, stderr := run(t, "", "db", "import", writeRecords(t, "advisories", map[string]string{"GO-2099-0001.json": goRecord})); code != 0 {
		t.Fatalf("db import: exit %d: %s", code, stderr)
	}
	if k := kevStatusOf(t); k != nil {
		t.Errorf("db status kev without any KEV import = %+v, want null", k)
	}
	code, out, _ := run(t, "", "db", "status")
	if code != 0 || !strings.Contains(out, "no KEV catalog imported") || !strings.Contains(out, "advisories") {
		t.Errorf("db status table without KEV: exit %d\n%s", code, out)
	}

	// Only a KEV catalog: the table says that no OSV data is there.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	if code, out, stderr := run(t, "", "db", "import", writeFile(t, "kev.json", kevJSON("1", kevEntryJSON("CVE-2021-44228", "2021-12-10")))); code != 0 || strings.Contains(out, "database version") {
		t.Fatalf("db import of only a KEV catalog: exit %d: %s %s", code, out, stderr)
	}
	code, out, _ = run(t, "", "db", "status")
	if code != 0 || !strings.Contains(out, "no OSV advisories imported") || !strings.Contains(out, "KEV CATALOG") {
		t.Errorf("db status table with only KEV: exit %d\n%s", code, out)
	}
}

// sharedKEV is CISA's catalog of 2025-08-25 in ../shared.
const sharedKEV = "../../../shared/vulndata/cisa-kev-2025-08-25.json"

func readSharedKEV(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(sharedKEV)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data %s is missing (CI=true): %v", sharedKEV, err)
		}
		t.Skipf("shared data %s is missing; check out ../shared next to the repository to run this test", sharedKEV)
	}
	return data
}

// TestDBUpdateKEV runs db update against a loopback server that serves an
// OSV feed and CISA's real catalog, then a broken catalog, then none.
func TestDBUpdateKEV(t *testing.T) {
	real := readSharedKEV(t)
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	goZip := zipOf(t, map[string]string{"GO-2099-0001.json": goRecord})
	var kevBody []byte
	kevRequests := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/osv/Go/all.zip", func(w http.ResponseWriter, r *http.Request) { w.Write(goZip) })
	mux.HandleFunc("/sites/default/files/feeds/known_exploited_vulnerabilities.json", func(w http.ResponseWriter, r *http.Request) {
		kevRequests++
		if kevBody == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(kevBody)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	kevURL := srv.URL + "/sites/default/files/feeds/known_exploited_vulnerabilities.json"
	update := func(extra ...string) (int, string, string) {
		return run(t, "", append([]string{"db", "update", "--feed-base-url", srv.URL + "/osv", "--ecosystem", "Go", "--kev-url", kevURL}, extra...)...)
	}

	kevBody = real
	code, out, stderr := update()
	if code != 0 {
		t.Fatalf("db update: exit %d: %s\n%s", code, stderr, out)
	}
	if !strings.Contains(out, `imported KEV catalog version 2025.08.25 (1404 entries) from `+kevURL+` as source "cisa-kev"`) || !strings.Contains(out, `source "Go-all"`) {
		t.Errorf("db update output:\n%s", out)
	}
	k := kevStatusOf(t)
	if k == nil || k.Version != "2025.08.25" || k.Entries != 1404 || k.Location != kevURL {
		t.Fatalf("db status kev after update = %+v", k)
	}

	// A broken feed fails the update, reported as the KEV catalog's, and
	// keeps the stored catalog; the OSV feed is still imported.
	kevBody = bytes.Replace(real, []byte(`"cveID": "CVE-2021-44228"`), []byte(`"cveID": "CVE-2021-44228 "`), 1)
	code, _, stderr = update()
	if code != ExitError || !strings.Contains(stderr, "error: KEV catalog:") || !strings.Contains(stderr, `cveID "CVE-2021-44228 " is not a CVE id`) ||
		!strings.Contains(stderr, "1 of 2 feeds failed (KEV catalog)") {
		t.Errorf("db update with a broken KEV feed: exit %d: %q", code, stderr)
	}
	if k2 := kevStatusOf(t); k2 == nil || *k2 != *k {
		t.Errorf("db status kev after a failed update = %+v, want it unchanged: %+v", k2, k)
	}
	// A feed that is not a catalog at all (an error page served with 200).
	kevBody = []byte("<html><body>Access Denied</body></html>")
	if code, _, stderr = update(); code != ExitError || !strings.Contains(stderr, "invalid KEV catalog: malformed JSON") {
		t.Errorf("db update with an HTML page as the KEV feed: exit %d: %q", code, stderr)
	}
	kevBody = nil
	if code, _, stderr = update(); code != ExitError || !strings.Contains(stderr, "404 Not Found") {
		t.Errorf("db update with a missing KEV feed: exit %d: %q", code, stderr)
	}
	if k2 := kevStatusOf(t); k2 == nil || *k2 != *k {
		t.Errorf("db status kev after failed updates = %+v, want it unchanged: %+v", k2, k)
	}

	// --kev=false does not ask for it.
	before := kevRequests
	if code, _, stderr := update("--kev=false"); code != 0 || kevRequests != before {
		t.Errorf("db update --kev=false: exit %d, %d KEV requests: %s", code, kevRequests-before, stderr)
	}
	if code, _, _ := run(t, "", "db", "update", "--kev-url", "ftp://x"); code != ExitUsage {
		t.Errorf("db update --kev-url ftp://x: exit %d, want %d", code, ExitUsage)
	}
}

// TestDBImportKEVURL imports the real catalog from a URL, as db import
// does for OSV data: recognised from its first bytes after the download.
func TestDBImportKEVURL(t *testing.T) {
	real := readSharedKEV(t)
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(real)
	}))
	t.Cleanup(srv.Close)
	code, out, stderr := run(t, "", "db", "import", srv.URL+"/feeds/kev")
	if code != 0 || !strings.Contains(out, "imported KEV catalog version 2025.08.25 (1404 entries)") {
		t.Fatalf("db import URL of the KEV catalog: exit %d: %s %s", code, out, stderr)
	}
	// The same file from disk gives the same digest.
	code, _, stderr = run(t, "", "db", "import", sharedKEV)
	if code != 0 {
		t.Fatalf("db import %s: exit %d: %s", sharedKEV, code, stderr)
	}
	k := kevStatusOf(t)
	sum := sha256.Sum256(real)
	if k == nil || k.Entries != 1404 || k.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("db status kev = %+v, want 1404 entries and the file's SHA-256", k)
	}
}
