//go:build images

package images

import (
	"archive/tar"
	"bytes"
	"cmp"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/version"
)

const debianOSV = "vulndata/debian12-derived-osv.zip"

// TestDebianImage scans the debootstrap image from a loopback registry by
// digest and from an OCI layout, then again with a second layer that
// downgrades one package's dpkg record, and checks every finding against
// osv.Affects over every Debian 12 record.
func TestDebianImage(t *testing.T) {
	rootfs := cachedArtefact(t, "debian12-minbase.tar")
	osvZip := sharedFile(t, debianOSV)
	records := loadRecords(t, osvZip)
	host := newRegistry(t)
	base := fileLayer(t, rootfs)
	img := buildImage(t, host, "test/debian", filepath.Join(t.TempDir(), "debian"), "1000:1000", base)

	var fromRegistry *report
	t.Run("registry", func(t *testing.T) {
		rep := scan(t, img.ref, "--osv", osvZip)
		checkDebian(t, rep, img.digest.String(), records)
		fromRegistry = rep
	})
	t.Run("layout", func(t *testing.T) {
		rep := scan(t, "--input", img.layout, "--osv", osvZip)
		checkDebian(t, rep, img.digest.String(), records)
		if fromRegistry != nil {
			if diff := gocmp.Diff(scannedFindings(fromRegistry), scannedFindings(rep)); diff != "" {
				t.Errorf("layout and registry scans differ (-registry +layout):\n%s", diff)
			}
		}
	})

	// The cached root filesystem has the current bookworm versions, which
	// few records affect: downgrade one package in an upper layer.
	status := readTarFile(t, rootfs, "var/lib/dpkg/status")
	pkg, src, installed, wantFixed, wantID := pickDowngrade(t, status, records)
	t.Logf("downgrading %s (source %s) to %s: %s must be reported fixed in %s", pkg, src, installed, wantID, wantFixed)
	upper := bytesLayer(t, tarOf(t, "var/lib/dpkg/status", downgrade(t, status, pkg, src, installed)))
	old := buildImage(t, host, "test/debian-old", filepath.Join(t.TempDir(), "debian-old"), "0", base, upper)
	t.Run("downgraded", func(t *testing.T) {
		rep := scan(t, old.ref, "--osv", osvZip)
		checkDebian(t, rep, old.digest.String(), records)
		found := false
		for _, v := range rep.Vulnerabilities {
			if v.Package == pkg && (v.ID == wantID || slices.Contains(v.Aliases, wantID)) {
				found = true
				if v.InstalledVersion != installed || v.SourcePackage != src {
					t.Errorf("%s: installed %s from %s, want %s from %s", wantID, v.InstalledVersion, v.SourcePackage, installed, src)
				}
				// The merged finding's exact fixed version (which fixes each
				// of its CVEs) is checked by the brute force above.
				if v.FixedVersion == "" {
					t.Errorf("%s: no fixed version, want one (%s fixes it)", wantID, wantFixed)
				}
			}
		}
		if !found {
			t.Errorf("%s in %s %s not reported", wantID, pkg, installed)
		}
		if rep.Config.User != "0" {
			t.Errorf("config user = %q, want 0", rep.Config.User)
		}
	})
}

func checkDebian(t *testing.T, rep *report, digest string, records []*osv.Record) {
	t.Helper()
	if rep.Image.Digest != digest {
		t.Errorf("digest = %s, want %s", rep.Image.Digest, digest)
	}
	if rep.Image.OS.ID != "debian" || rep.Image.OS.VersionID != "12" {
		t.Errorf("os = %+v, want debian 12", rep.Image.OS)
	}
	if n := len(rep.Packages); n < 80 || n > 100 {
		t.Errorf("%d packages, want the ~88 of a minbase bookworm", n)
	}
	withSource := 0
	for _, p := range rep.Packages {
		if p.Ecosystem != "Debian:12" {
			t.Errorf("package %s: ecosystem %q, want Debian:12", p.Name, p.Ecosystem)
		}
		if !strings.HasPrefix(p.PURL, "pkg:deb/debian/"+p.Name+"@") {
			t.Errorf("package %s: purl %q", p.Name, p.PURL)
		}
		if p.SourceName != "" {
			withSource++
		}
	}
	// dpkg records a Source: field for most minbase packages (libc6 from
	// glibc, …); the extractor must carry each one.
	for _, name := range []string{"libc6", "libgcc-s1", "libstdc++6", "libsystemd0"} {
		if !slices.ContainsFunc(rep.Packages, func(p packageJSON) bool { return p.Name == name && p.SourceName != "" && p.SourceVersion != "" }) {
			t.Errorf("package %s: no source name and version", name)
		}
	}
	t.Logf("%d packages, %d with a source package, %d findings", len(rep.Packages), withSource, len(rep.Vulnerabilities))
	want := expectedFindings(t, rep, records)
	if diff := gocmp.Diff(want, scannedFindings(rep)); diff != "" {
		t.Errorf("findings differ from osv.Affects brute force (-want +got):\n%s", diff)
	}
}

// pickDowngrade chooses an installed package built from a source with at
// least two fixed versions in the records (openssl's when installed) and
// returns the lower fixed version as the version to install, and the id
// and fixed version of a record it leaves vulnerable.
func pickDowngrade(t *testing.T, status []byte, records []*osv.Record) (pkg, src, installed, fixed, id string) {
	t.Helper()
	type cand struct{ pkg, src string }
	var cands []cand
	for stanza := range strings.SplitSeq(string(status), "\n\n") {
		f := fields(stanza)
		if f["Package"] == "" {
			continue
		}
		s, _, _ := strings.Cut(cmp.Or(f["Source"], f["Package"]), " ")
		cands = append(cands, cand{f["Package"], s})
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		return cmp.Or(-cmp.Compare(btoi(a.src == "openssl"), btoi(b.src == "openssl")), cmp.Compare(a.src, b.src), cmp.Compare(a.pkg, b.pkg))
	})
	for _, c := range cands {
		type fix struct{ id, v string }
		var fixes []fix
		for _, r := range records {
			for _, a := range r.Affected {
				if a.Package == nil || a.Package.Name != c.src {
					continue
				}
				for _, rg := range a.Ranges {
					for _, e := range rg.Events {
						if e.Fixed != "" {
							fixes = append(fixes, fix{r.ID, e.Fixed})
						}
					}
				}
			}
		}
		slices.SortFunc(fixes, func(a, b fix) int { return cmp.Or(compareDebian(t, a.v, b.v), cmp.Compare(a.id, b.id)) })
		for i := 1; i < len(fixes); i++ {
			if fixes[i].v != fixes[0].v {
				return c.pkg, c.src, fixes[0].v, fixes[i].v, fixes[i].id
			}
		}
	}
	t.Fatal("no installed package has a source with two fixed versions in the records")
	return
}

type packageJSON = struct {
	Name          string `json:"name"`
	Version       string `json:"version"`
	Ecosystem     string `json:"ecosystem"`
	PURL          string `json:"purl"`
	SourceName    string `json:"sourceName"`
	SourceVersion string `json:"sourceVersion"`
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fields parses one dpkg status stanza's single-line fields.
func fields(stanza string) map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(stanza, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
			m[k] = v
		}
	}
	return m
}

// downgrade rewrites pkg's stanza to version ver, built from src at ver.
func downgrade(t *testing.T, status []byte, pkg, src, ver string) []byte {
	t.Helper()
	stanzas := strings.Split(string(status), "\n\n")
	done := false
	for i, stanza := range stanzas {
		if fields(stanza)["Package"] != pkg {
			continue
		}
		var lines []string
		for line := range strings.SplitSeq(stanza, "\n") {
			switch {
			case strings.HasPrefix(line, "Version: "):
				line = "Version: " + ver
			case strings.HasPrefix(line, "Source: "):
				continue
			}
			lines = append(lines, line)
		}
		if src != pkg {
			lines = slices.Insert(lines, 1, "Source: "+src)
		}
		stanzas[i] = strings.Join(lines, "\n")
		done = true
	}
	if !done {
		t.Fatalf("package %s not in the dpkg status", pkg)
	}
	return []byte(strings.Join(stanzas, "\n\n"))
}

func compareDebian(t *testing.T, a, b string) int {
	t.Helper()
	va, err1 := version.Parse("Debian:12", a)
	vb, err2 := version.Parse("Debian:12", b)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("comparing %q and %q: %v", a, b, err)
	}
	c, err := va.Compare(vb)
	if err != nil {
		t.Fatalf("comparing %q and %q: %v", a, b, err)
	}
	return c
}

// readTarFile returns one file of a tar (names with or without "./").
func readTarFile(t *testing.T, path, name string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s: no %s", path, name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}

// tarOf is a tar holding one regular file.
func tarOf(t *testing.T, name string, body []byte) []byte {
	t.Helper()
	return tarOfMode(t, name, body, 0o644)
}

// tarOfMode is a tar holding one regular file with permissions mode.
func tarOfMode(t *testing.T, name string, body []byte, mode int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
