package app

import (
	"encoding/json"
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
