//go:build images

package images

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/match/matchtest"
	"github.com/palisade-project/palisade/internal/osv"
)

// repoRoot is the directory holding go.mod, found by walking up.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// sharedFile is a file of ../shared (next to the repository).
func sharedFile(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(repoRoot(tb), "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared test data: %v", err)
	}
	return p
}

// cachedArtefact returns the path of an artefact built by
// hack/build-test-images.sh. When the cache is missing the test is skipped,
// or fails under CI=true, where hack/test.sh has built it.
func cachedArtefact(tb testing.TB, file string) string {
	tb.Helper()
	root := repoRoot(tb)
	cmd := exec.Command("bash", filepath.Join(root, "hack", "build-test-images.sh"), "--check")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := fmt.Sprintf("test images not built (%v: %s); run: bash hack/build-test-images.sh", err, strings.TrimSpace(stderr.String()))
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return filepath.Join(strings.TrimSpace(string(out)), file)
}

// image is one test image: pushed to a registry and written as a layout.
type image struct {
	ref    string // registry reference by digest
	layout string // OCI layout directory
	digest v1.Hash
}

// newRegistry starts an in-memory OCI registry on loopback and returns its
// host:port. go-containerregistry talks plain HTTP to 127.0.0.1.
func newRegistry(tb testing.TB) string {
	tb.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// buildImage makes an image of layers on a config running as user, writes
// it as an OCI layout under dir, and pushes it to host as repo.
func buildImage(tb testing.TB, host, repo, dir, user string, layers ...v1.Layer) image {
	tb.Helper()
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      v1.Time{Time: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
		Config: v1.Config{
			User:       user,
			Entrypoint: []string{"/bin/sh"},
			Labels:     map[string]string{"org.opencontainers.image.title": repo},
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		tb.Fatalf("writing the layout: %v", err)
	}
	digest, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	// Push what the layout holds, so the layers are compressed only once.
	stored, err := p.Image(digest)
	if err != nil {
		tb.Fatal(err)
	}
	tag, err := name.NewTag(host + "/" + repo + ":latest")
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(tag, stored); err != nil {
		tb.Fatalf("pushing %s: %v", tag, err)
	}
	return image{ref: host + "/" + repo + "@" + digest.String(), layout: dir, digest: digest}
}

// fileLayer is a layer over an uncompressed tar file.
func fileLayer(tb testing.TB, path string) v1.Layer {
	tb.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(path) },
		tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// bytesLayer is a layer over an in-memory tar.
func bytesLayer(tb testing.TB, data []byte) v1.Layer {
	tb.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// report is the part of `palisade scan -o json` the tests read.
type report struct {
	Image struct {
		Reference string `json:"reference"`
		Digest    string `json:"digest"`
		OS        struct {
			ID        string `json:"id"`
			VersionID string `json:"versionID"`
		} `json:"os"`
	} `json:"image"`
	Packages        []packageJSON `json:"packages"`
	Vulnerabilities []struct {
		ID               string   `json:"id"`
		Aliases          []string `json:"aliases"`
		Package          string   `json:"package"`
		Ecosystem        string   `json:"ecosystem"`
		SourcePackage    string   `json:"sourcePackage"`
		InstalledVersion string   `json:"installedVersion"`
		FixedVersion     string   `json:"fixedVersion"`
	} `json:"vulnerabilities"`
	Config struct {
		User string `json:"user"`
	} `json:"config"`
	Errors []string `json:"errors"`
}

// scan runs `palisade scan args... -o json` in process and reports the
// wall time and the growth of the process's peak RSS during the scan.
func scan(t *testing.T, args ...string) *report {
	t.Helper()
	var out, stderr bytes.Buffer
	before := resetPeakRSS(t)
	start := time.Now()
	code := app.Main(t.Context(), append(append([]string{"scan"}, args...), "-o", "json"), strings.NewReader(""), &out, &stderr)
	elapsed := time.Since(start)
	peak := procStatusKB(t, "VmHWM")
	if code != 0 {
		t.Fatalf("palisade scan %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("scan output: %v\n%.2000s", err, out.String())
	}
	t.Logf("scan %s: %v wall, peak RSS %d MB (+%d MB over %d MB before), %d packages, %d vulnerabilities",
		rep.Image.Reference, elapsed.Round(time.Millisecond), peak/1024, (peak-before)/1024, before/1024,
		len(rep.Packages), len(rep.Vulnerabilities))
	if len(rep.Errors) > 0 {
		t.Errorf("scan errors: %q", rep.Errors)
	}
	return &rep
}

// resetPeakRSS resets VmHWM to the current RSS (Linux clear_refs 5) and
// returns the current RSS in kB.
func resetPeakRSS(tb testing.TB) int {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Logf("cannot reset the peak RSS: %v (growth figures include earlier peaks)", err)
	}
	return procStatusKB(tb, "VmRSS")
}

// procStatusKB reads a kB field of /proc/self/status.
func procStatusKB(tb testing.TB, field string) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Logf("reading /proc/self/status: %v", err)
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}

var (
	recordsMu    sync.Mutex
	recordsCache = map[string][]*osv.Record{}
)

// loadRecords loads an OSV source once per test binary.
func loadRecords(tb testing.TB, src string) []*osv.Record {
	tb.Helper()
	recordsMu.Lock()
	defer recordsMu.Unlock()
	if recs, ok := recordsCache[src]; ok {
		return recs
	}
	recs, broken, err := osv.Load(context.Background(), src)
	if err != nil {
		tb.Fatalf("loading %s: %v", src, err)
	}
	if len(broken) > 0 {
		tb.Logf("%s: %d broken records skipped (first: %v)", src, len(broken), broken[0])
	}
	recordsCache[src] = recs
	return recs
}

// finding is one flaw in one package, in a form both sides produce.
type finding struct {
	Package string   // name@version (ecosystem)
	IDs     []string // id and aliases of the merged records, sorted
	Fixed   string
}

// expectedFindings computes, independently of the matcher, what the scan
// must report for rep's packages (internal/match/matchtest): through the
// source name and version for Debian.
func expectedFindings(t *testing.T, rep *report, records []*osv.Record) []finding {
	t.Helper()
	var out []finding
	for _, p := range rep.Packages {
		qname, qver := p.Name, p.Version
		if strings.HasPrefix(p.Ecosystem, "Debian") || strings.HasPrefix(p.Ecosystem, "Ubuntu") {
			qname, qver = cmp.Or(p.SourceName, p.Name), cmp.Or(p.SourceVersion, p.Version)
		}
		for _, f := range matchtest.Expected(t, p.Ecosystem, qname, qver, records) {
			out = append(out, finding{Package: pkgKey(p.Name, qver, p.Ecosystem), IDs: f.IDs, Fixed: f.Fixed})
		}
	}
	sortFindings(out)
	return out
}

// scannedFindings is rep's vulnerabilities as findings.
func scannedFindings(rep *report) []finding {
	var out []finding
	for _, v := range rep.Vulnerabilities {
		ids := append([]string{v.ID}, v.Aliases...)
		slices.Sort(ids)
		out = append(out, finding{Package: pkgKey(v.Package, v.InstalledVersion, v.Ecosystem), IDs: slices.Compact(ids), Fixed: v.FixedVersion})
	}
	sortFindings(out)
	return out
}

func pkgKey(name, ver, eco string) string { return name + "@" + ver + " (" + eco + ")" }

func sortFindings(fs []finding) {
	slices.SortFunc(fs, func(a, b finding) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), slices.Compare(a.IDs, b.IDs))
	})
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
