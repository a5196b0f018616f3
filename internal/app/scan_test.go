package app

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// debianLayout writes an OCI layout of a one-layer Debian 12 image whose
// dpkg database lists libssl3 built from openssl at version.
func debianLayout(t *testing.T, version string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, body string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n")
	add("var/lib/dpkg/status", "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: "+version+"\n\nPackage: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\n")
	tw.Close()
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}

const opensslRecord = `{"id":"TEST-OPENSSL-1","aliases":["CVE-2099-1234"],"summary":"example flaw",
 "database_specific":{"severity":"high"},
 "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
  "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.15-1~deb12u1"}]}]}]}`

func TestScanLayout(t *testing.T) {
	// No stored vulnerability data may leak in from the developer's own
	// database.
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	osvDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(osvDir, "TEST-OPENSSL-1.json"), []byte(opensslRecord), 0o644); err != nil {
		t.Fatal(err)
	}
	vulnerable := debianLayout(t, "3.0.11-1~deb12u2")
	code, out, stderr := run(t, "", "scan", "--input", vulnerable, "--osv", osvDir, "-o", "json", "--fail-on", "high")
	if code != ExitFinding {
		t.Fatalf("exit %d, want %d: %s", code, ExitFinding, stderr)
	}
	var rep struct {
		Image struct {
			Digest string `json:"digest"`
			OS     struct {
				ID        string `json:"id"`
				VersionID string `json:"versionID"`
			} `json:"os"`
		} `json:"image"`
		Packages []struct {
			Name, Version, Ecosystem, PURL, SourceName string
		} `json:"packages"`
		Vulnerabilities []struct {
			ID, Package, SourcePackage, InstalledVersion, FixedVersion, Severity string
			Aliases                                                              []string
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.HasPrefix(rep.Image.Digest, "sha256:") || rep.Image.OS.ID != "debian" || rep.Image.OS.VersionID != "12" {
		t.Errorf("image = %+v", rep.Image)
	}
	if len(rep.Packages) != 2 {
		t.Errorf("packages = %+v, want libssl3 and base-files", rep.Packages)
	}
	if len(rep.Vulnerabilities) != 1 {
		t.Fatalf("vulnerabilities = %+v, want one", rep.Vulnerabilities)
	}
	v := rep.Vulnerabilities[0]
	if v.ID != "TEST-OPENSSL-1" || v.Package != "libssl3" || v.SourcePackage != "openssl" || v.FixedVersion != "3.0.15-1~deb12u1" || v.Severity != "high" {
		t.Errorf("vulnerability = %+v", v)
	}

	fixed := debianLayout(t, "3.0.15-1~deb12u1")
	if code, out, stderr := run(t, "", "scan", "--input", fixed, "--osv", osvDir, "--fail-on", "low"); code != 0 {
		t.Errorf("fixed image: exit %d: %s %s", code, out, stderr)
	}
	code, out, _ = run(t, "", "scan", "--input", vulnerable)
	if code != 0 || !strings.Contains(out, "libssl3") || !strings.Contains(out, "no vulnerability data") {
		t.Errorf("scan without data: exit %d\n%s", code, out)
	}
}

func TestScanErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"scan"}, ExitUsage, "image reference or --input"},
		{[]string{"scan", "--input", filepath.Join(dir, "nope")}, ExitError, "no such file"},
		{[]string{"scan", "--input", dir}, ExitError, "without index.json"},
		{[]string{"scan", "--input", dir, "--fail-on", "urgent"}, ExitUsage, "--fail-on"},
	} {
		code, _, stderr := run(t, "", tc.args...)
		if code != tc.wantCode || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q, want %d and %q", tc.args, code, stderr, tc.wantCode, tc.want)
		}
	}
}

// With a KEV catalog imported into the database, scan marks the findings
// whose id or alias it lists.
func TestScanMarksKnownExploited(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	dir := t.TempDir()
	osvDir := filepath.Join(dir, "osv")
	if err := os.Mkdir(osvDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(osvDir, "TEST-OPENSSL-1.json"), []byte(opensslRecord), 0o644); err != nil {
		t.Fatal(err)
	}
	catalog := filepath.Join(dir, "kev.json")
	if err := os.WriteFile(catalog, []byte(`{"title":"CISA Catalog of Known Exploited Vulnerabilities","catalogVersion":"2099.01.01","dateReleased":"2099-01-01T00:00:00Z","count":1,"vulnerabilities":[
 {"cveID":"CVE-2099-1234","vendorProject":"OpenSSL","product":"OpenSSL","vulnerabilityName":"Example","dateAdded":"2099-01-01","shortDescription":"x","requiredAction":"Apply updates.","dueDate":"2099-01-22","knownRansomwareCampaignUse":"Unknown","notes":"","cwes":[]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "p.db")
	if code, _, stderr := run(t, "", "db", "import", "--database", db, osvDir, catalog); code != 0 {
		t.Fatalf("db import: exit %d: %s", code, stderr)
	}
	code, out, stderr := run(t, "", "scan", "--input", debianLayout(t, "3.0.11-1~deb12u2"), "--database", db, "-o", "json")
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	var rep struct {
		Vulnerabilities []struct {
			ID             string `json:"id"`
			KnownExploited *struct {
				CVE, DateAdded, RequiredAction string
			} `json:"knownExploited"`
		} `json:"vulnerabilities"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Vulnerabilities) != 1 || rep.Vulnerabilities[0].KnownExploited == nil || rep.Vulnerabilities[0].KnownExploited.DateAdded != "2099-01-01" || rep.Summary["knownExploited"] != 1 {
		t.Errorf("scan output: %s", out)
	}
}
