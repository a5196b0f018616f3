//go:build integration

package integration

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/palisade-project/palisade/internal/match/matchtest"
	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/testenv"
)

// scanCluster is the cluster name the scan test's server reports.
const scanCluster = "scan-e2e"

// debianOSV is the real Debian 12 data of ../shared/vulndata.
const debianOSV = "debian12-derived-osv.zip"

// debPackage is one installed Debian binary package of a test image.
type debPackage struct{ Name, Source, Version string }

// The test images. Each version is below the fixed versions of several
// real records of debian12-derived-osv.zip, so the findings are real.
var (
	// app/one and app/two share openssl at different versions: the
	// flaws fixed in 3.0.17-1~deb12u3 and later affect both, the one
	// fixed in 3.0.16-1~deb12u1 only app/one.
	pkgsOne = []debPackage{
		{"libssl3", "openssl", "3.0.15-1~deb12u1"},
		{"libexpat1", "expat", "2.5.0-1+deb12u2"},
	}
	pkgsTwo = []debPackage{
		{"libssl3", "openssl", "3.0.17-1~deb12u2"},
		{"libc6", "glibc", "2.36-9+deb12u3"},
		{"libcurl4", "curl", "7.88.1-10+deb12u3"},
		{"perl-base", "perl", "5.36.0-7+deb12u1"},
	}
	pkgsPrivate = []debPackage{
		{"libxml2", "libxml2", "2.9.14+dfsg-1.3~deb12u1"},
	}
	pkgsPrivateNoSecret = []debPackage{
		{"liblzma5", "xz-utils", "5.4.1-0.2"},
	}
	// oldRecordIDs are the "old" vulnerability data: four real records,
	// unmodified, out of the zip's 917. The newer data is the whole zip.
	oldRecordIDs = []string{
		"DEBDERIVED-openssl-3.0.16-1_deb12u1",
		"DEBDERIVED-curl-7.88.1-10+deb12u5",
		"DEBDERIVED-glibc-2.36-9+deb12u6",
		"DEBDERIVED-libxml2-2.9.14+dfsg-1.3_deb12u4",
	}
)

// Registry credentials of the private repositories.
const (
	registryUser     = "puller"
	registryPassword = "pull-s3cret"
)

// TestScanRunningImagesLive runs the palisade binary as a server against a
// real API server and a loopback registry: the images of new workloads are
// scanned without anyone asking, scan-age and vulnerable follow, an import
// of newer vulnerability data changes the findings without pulling any
// image again (checked on the registry's request log), and private images
// are pulled with the pod's imagePullSecrets, failing visibly without them.
func TestScanRunningImagesLive(t *testing.T) {
	t.Parallel()
	osvZip := sharedVulnData(t, debianOSV)
	// A control plane of its own: the shared one holds other tests' pods
	// (docker.io images the scanner would try to pull from the internet).
	cp := testenv.StartT(t, testenv.Options{})
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	bin := buildPalisade(t)

	allRecords, broken, err := osv.Load(ctx, osvZip)
	if err != nil || len(broken) > 0 {
		t.Fatalf("loading %s: %v (%d broken records)", osvZip, err, len(broken))
	}
	oldRecords := slices.DeleteFunc(slices.Clone(allRecords), func(r *osv.Record) bool { return !slices.Contains(oldRecordIDs, r.ID) })
	if len(oldRecords) != len(oldRecordIDs) {
		t.Fatalf("%d of the old records %q are in %s", len(oldRecords), oldRecordIDs, osvZip)
	}
	oldDir := filepath.Join(t.TempDir(), "debian")
	copyRecords(t, osvZip, oldDir, oldRecordIDs)

	reg := startRegistry(t)
	one := reg.push(t, "app/one:v1", pkgsOne, false)
	two := reg.push(t, "app/two:v1", pkgsTwo, false)
	three := reg.push(t, "private/three:v1", pkgsPrivate, true)
	four := reg.push(t, "private/three:v2", pkgsPrivateNoSecret, true)
	pushed := reg.count()

	// Expected findings, per image and data set, computed from the records
	// with osv.Affects, independently of the matcher.
	oneOld, oneNew := expectedFindings(t, pkgsOne, oldRecords), expectedFindings(t, pkgsOne, allRecords)
	twoOld, twoNew := expectedFindings(t, pkgsTwo, oldRecords), expectedFindings(t, pkgsTwo, allRecords)
	threeNew := expectedFindings(t, pkgsPrivate, allRecords)
	for _, c := range []struct {
		name     string
		old, new []finding
	}{{"app/one", oneOld, oneNew}, {"app/two", twoOld, twoNew}} {
		if len(c.old) == 0 || len(idsOf(c.new)) <= len(idsOf(c.old)) {
			t.Fatalf("test data: %s has %d old findings and %d ids in the newer data; want some, and more", c.name, len(c.old), len(idsOf(c.new)))
		}
	}
	t.Logf("expected findings: app/one %d old, %d new; app/two %d old, %d new; private/three %d new",
		len(oneOld), len(oneNew), len(twoOld), len(twoNew), len(threeNew))

	db := filepath.Join(t.TempDir(), "palisade.db")
	runPalisade(t, bin, "db", "import", "--database", db, "--name", "debian", oldDir)

	const ns = "scan-apps"
	createNamespace(ctx, t, cs, ns)
	runWorkload(ctx, t, cs, ns, "one", one, nil)

	srv := startScanServer(t, bin, cp.Kubeconfig, db)

	// 1. The running image is scanned and matched against the old data.
	// (Answers may be served up to 2 s stale: every check polls.)
	var oneItem scanAgeItem
	eventually(t, time.Minute, "app/one is scanned and matched against the old data", func() (bool, string) {
		age, why := srv.scanAge(t, ns)
		if age == nil {
			return false, why
		}
		it := age.item(one.digest)
		failFast(t, it)
		if it == nil || it.State != "fresh" || it.MatchState != "current" {
			return false, fmt.Sprintf("scan-age: %s", pretty(age.Items))
		}
		oneItem = *it
		return checkVulnerable(srv.vulnerable(t, ns, ""), map[string][]finding{"one": oneOld})
	})
	if it := oneItem; it.Packages != len(pkgsOne) || it.Findings != len(oneOld) || it.DBVersion == "" ||
		!slices.Equal(it.Images, []string{reg.host + "/app/one"}) || !slices.Equal(it.Workloads, []workloadRef{deploymentRef(ns, "one")}) {
		t.Errorf("scan-age item of app/one = %s; want %d packages, %d findings, a database version, image %s/app/one run by Deployment %s/one",
			pretty(it), len(pkgsOne), len(oneOld), reg.host, ns)
	}
	oneScanned := oneItem.ScannedAt
	oldDB := oneItem.DBVersion

	// 2. A new workload: scanned without being asked.
	runWorkload(ctx, t, cs, ns, "two", two, nil)
	var twoScanned time.Time
	eventually(t, time.Minute, "the new workload's image app/two is scanned and matched", func() (bool, string) {
		age, why := srv.scanAge(t, ns)
		if age == nil {
			return false, why
		}
		it := age.item(two.digest)
		failFast(t, it)
		if it == nil || it.State != "fresh" || it.MatchState != "current" {
			return false, fmt.Sprintf("scan-age: %s", pretty(age.Items))
		}
		twoScanned = it.ScannedAt
		return checkVulnerable(srv.vulnerable(t, ns, ""), map[string][]finding{"one": oneOld, "two": twoOld})
	})

	// 3. Newer data while the server runs: the findings change, and no
	// image is pulled again.
	before := reg.count()
	runPalisade(t, bin, "db", "import", "--database", db, "--name", "debian", osvZip)
	eventually(t, time.Minute, "the findings follow the newer data", func() (bool, string) {
		return checkVulnerable(srv.vulnerable(t, ns, ""), map[string][]finding{"one": oneNew, "two": twoNew})
	})
	if pulls := pullRequests(reg.since(before)); len(pulls) > 0 {
		t.Errorf("the registry served %d manifest or blob requests after the import; want none (re-matching needs no pull):\n%s", len(pulls), pretty(pulls))
	}
	eventually(t, time.Minute, "scan-age shows the new matches of the images scanned before", func() (bool, string) {
		age, why := srv.scanAge(t, ns)
		if age == nil {
			return false, why
		}
		for _, c := range []struct {
			img     pushedImage
			scanned time.Time
			want    int
		}{{one, oneScanned, len(oneNew)}, {two, twoScanned, len(twoNew)}} {
			it := age.item(c.img.digest)
			if it == nil || it.MatchState != "current" || it.DBVersion == oldDB {
				return false, fmt.Sprintf("scan-age: %s", pretty(age.Items))
			}
			if !it.ScannedAt.Equal(c.scanned) || it.State != "fresh" || it.Findings != c.want {
				t.Errorf("scan-age item of %s after the import = %s; want scannedAt %s unchanged and %d findings",
					c.img.ref, pretty(it), c.scanned, c.want)
			}
		}
		return true, ""
	})

	// 4. The CLI asks the server about one flaw: exactly the workloads
	// whose images have it.
	for _, c := range []struct {
		cve  string
		want []string
	}{
		{"CVE-2025-9230", []string{"one", "two"}}, // openssl 3.0.17-1~deb12u3
		{"CVE-2024-13176", []string{"one"}},       // openssl 3.0.16-1~deb12u1
		{"CVE-2024-2961", []string{"two"}},        // glibc 2.36-9+deb12u6
		{"CVE-1999-0001", nil},
	} {
		out := runPalisade(t, bin, "ask", "vulnerable", "--cve", c.cve, "--server", srv.url, "--token", srv.token, "-o", "json")
		var a vulnerableAnswer
		if err := json.Unmarshal([]byte(out), &a); err != nil {
			t.Fatalf("ask vulnerable --cve %s: %v\n%s", c.cve, err, out)
		}
		var got []string
		for _, it := range a.Items {
			if it.Workload.Cluster != scanCluster || it.Workload.Kind != "Deployment" || it.Workload.Namespace != ns {
				t.Errorf("--cve %s: item of %+v", c.cve, it.Workload)
			}
			for _, v := range it.Vulnerabilities {
				if v.ID != c.cve && !slices.Contains(v.Aliases, c.cve) {
					t.Errorf("--cve %s: %s lists %s (aliases %q)", c.cve, it.Workload.Name, v.ID, v.Aliases)
				}
			}
			got = append(got, it.Workload.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("palisade ask vulnerable --cve %s lists %q, want %q", c.cve, got, c.want)
		}
	}

	// 5. Pull secrets: the pod's imagePullSecrets open the private
	// repository; without them the scan fails, and says why.
	const withSecret, withoutSecret = "scan-private", "scan-nosecret"
	createNamespace(ctx, t, cs, withSecret)
	createNamespace(ctx, t, cs, withoutSecret)
	createPullSecret(ctx, t, cs, withSecret, "regcred", reg.host)
	beforePrivate := reg.count()
	runWorkload(ctx, t, cs, withSecret, "three", three, []string{"regcred"})
	runWorkload(ctx, t, cs, withoutSecret, "four", four, nil)
	eventually(t, time.Minute, "the private image is scanned with the pod's pull secret", func() (bool, string) {
		age, why := srv.scanAge(t, withSecret)
		if age == nil {
			return false, why
		}
		it := age.item(three.digest)
		failFast(t, it)
		if it == nil || it.State != "fresh" || it.MatchState != "current" {
			return false, fmt.Sprintf("scan-age: %s", pretty(age.Items))
		}
		return checkVulnerable(srv.vulnerable(t, withSecret, ""), map[string][]finding{"three": threeNew})
	})
	eventually(t, time.Minute, "the private image without a pull secret fails with 401", func() (bool, string) {
		age, why := srv.scanAge(t, withoutSecret)
		if age == nil {
			return false, why
		}
		it := age.item(four.digest)
		if it == nil || it.State != "failing" || it.Failures < 1 ||
			!strings.Contains(it.LastError, "UNAUTHORIZED") && !strings.Contains(it.LastError, "401") {
			return false, fmt.Sprintf("scan-age: %s", pretty(age.Items))
		}
		if it.NextAttempt.IsZero() || !it.ScannedAt.IsZero() || it.MatchState != "none" {
			return false, fmt.Sprintf("failing item without a next attempt, or with a scan: %s", pretty(it))
		}
		return true, ""
	})
	eventually(t, time.Minute, "vulnerable counts the failing image's container as not matched", func() (bool, string) {
		v := srv.vulnerable(t, withoutSecret, "")
		if v == nil || len(v.Items) != 0 || v.Summary["containersNotMatched"] != 1 {
			return false, fmt.Sprintf("vulnerable in %s = %s; want no items and one container not matched", withoutSecret, pretty(v))
		}
		return true, ""
	})
	privateReqs := reg.since(beforePrivate)
	for _, c := range []struct {
		img        pushedImage
		authorized bool
		status     int
	}{{three, true, http.StatusOK}, {four, false, http.StatusUnauthorized}} {
		path := "/v2/private/three/manifests/" + c.img.digest
		reqs := slices.DeleteFunc(slices.Clone(privateReqs), func(r registryRequest) bool { return r.Path != path })
		if len(reqs) == 0 {
			t.Errorf("no request for %s in the registry log:\n%s", path, pretty(privateReqs))
		}
		for _, r := range reqs {
			if r.Authorized != c.authorized || r.Status != c.status {
				t.Errorf("%s %s: authorized %v, status %d; want %v, %d", r.Method, r.Path, r.Authorized, r.Status, c.authorized, c.status)
			}
		}
	}

	// Over the whole run, each public image was pulled exactly once: its
	// manifest fetched once by digest, never again for the new data.
	afterPush := reg.since(pushed)
	for _, img := range []pushedImage{one, two} {
		repo := strings.TrimPrefix(strings.Split(img.ref, "@")[0], reg.host+"/")
		path := "/v2/" + repo + "/manifests/" + img.digest
		n := 0
		for _, r := range afterPush {
			if r.Method == http.MethodGet && r.Path == path {
				n++
			}
		}
		if n != 1 {
			t.Errorf("GET %s: %d times, want once", path, n)
		}
	}
	if t.Failed() {
		t.Logf("registry requests after the pushes:\n%s", pretty(afterPush))
	}
}

// failFast ends the test when an image that must be scanned failed: the
// next attempt is a minute away, so waiting would only delay the report.
func failFast(t *testing.T, it *scanAgeItem) {
	t.Helper()
	if it != nil && it.State == "failing" {
		t.Fatalf("the scan of %s failed: %s", it.Digest, it.LastError)
	}
}

// sharedVulnData returns a file of ../shared/vulndata next to the
// repository: the test is skipped without it, or fails under CI=true.
func sharedVulnData(t *testing.T, file string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "..", "shared", "vulndata", file)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data %s is missing (CI=true): %v", p, err)
		}
		t.Skipf("shared data %s is missing; check out ../shared next to the repository to run this test", p)
	}
	return p
}

// buildPalisade builds the palisade command into a temporary directory:
// the test runs the binary as users do, in processes of its own.
func buildPalisade(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "palisade")
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/palisade")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/palisade: %v\n%s", err, out)
	}
	t.Logf("built palisade in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// isolatedEnv is the environment of the palisade processes: the
// registry credentials they may use come from the cluster only, never
// from the docker config of whoever runs the test.
func isolatedEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "DOCKER_CONFIG="+dir, "REGISTRY_AUTH_FILE="+filepath.Join(dir, "config.json"))
}

// runPalisade runs the binary to completion and returns its stdout.
func runPalisade(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = isolatedEnv(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("palisade %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// scanServer is a running `palisade server` process.
type scanServer struct {
	url, token string
	log        *lockedBuffer
}

// startScanServer starts `palisade server` against kubeconfig with the
// SQLite database db, polling for new vulnerability data every 200 ms, and
// stops it (SIGTERM, expecting exit 0) when the test ends.
func startScanServer(t *testing.T, bin, kubeconfig, db string) *scanServer {
	t.Helper()
	addr := freeAddr(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	cmd := exec.Command(bin, "server", "--kubeconfig", kubeconfig, "--cluster", scanCluster, "--listen", addr,
		"--database", db, "--token-file", tokenFile, "--scan-db-poll", "200ms")
	cmd.Env = isolatedEnv(t)
	s := &scanServer{url: "http://" + addr, log: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("palisade server: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("palisade server did not stop 30 s after SIGTERM")
		}
		if t.Failed() {
			t.Logf("palisade server output:\n%s", s.log.String())
		}
	})
	eventually(t, time.Minute, "the server is ready", func() (bool, string) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("palisade server exited: %v\n%s", err, s.log.String())
		default:
		}
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return false, err.Error()
		}
		s.token = strings.TrimSpace(string(b))
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return s
}

// get decodes the answer to question in namespace (and for cve) into out;
// it returns why not when the server does not answer 200.
func (s *scanServer) get(t *testing.T, question, namespace, cve string, out any) string {
	t.Helper()
	q := url.Values{"namespace": {namespace}}
	if cve != "" {
		q.Set("cve", cve)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+"/api/v1/questions/"+question+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%s: %s", resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("%s answer: %v\n%s", question, err, body)
	}
	return ""
}

func (s *scanServer) scanAge(t *testing.T, namespace string) (*scanAgeAnswer, string) {
	t.Helper()
	var a scanAgeAnswer
	if why := s.get(t, "scan-age", namespace, "", &a); why != "" {
		return nil, why
	}
	return &a, ""
}

// vulnerable returns the answer, or nil when the server gave none.
func (s *scanServer) vulnerable(t *testing.T, namespace, cve string) *vulnerableAnswer {
	t.Helper()
	var a vulnerableAnswer
	if why := s.get(t, "vulnerable", namespace, cve, &a); why != "" {
		t.Logf("vulnerable: %s", why)
		return nil
	}
	return &a
}

// workloadRef, scanAgeAnswer and vulnerableAnswer are the parts of the
// answers (docs/output.md) the test reads, decoded independently of the
// product's types.
type workloadRef struct{ Cluster, Kind, Namespace, Name string }

func deploymentRef(ns, name string) workloadRef {
	return workloadRef{Cluster: scanCluster, Kind: "Deployment", Namespace: ns, Name: name}
}

type scanAgeItem struct {
	Digest      string        `json:"digest"`
	Images      []string      `json:"images"`
	Workloads   []workloadRef `json:"workloads"`
	State       string        `json:"state"`
	ScannedAt   time.Time     `json:"scannedAt"`
	Packages    int           `json:"packages"`
	MatchState  string        `json:"matchState"`
	DBVersion   string        `json:"dbVersion"`
	Findings    int           `json:"findings"`
	Failures    int           `json:"failures"`
	LastError   string        `json:"lastError"`
	NextAttempt time.Time     `json:"nextAttempt"`
}

type scanAgeAnswer struct {
	Notes []string      `json:"notes"`
	Items []scanAgeItem `json:"items"`
}

func (a *scanAgeAnswer) item(digest string) *scanAgeItem {
	for i := range a.Items {
		if a.Items[i].Digest == digest {
			return &a.Items[i]
		}
	}
	return nil
}

type vulnerableAnswer struct {
	Notes   []string       `json:"notes"`
	Summary map[string]int `json:"summary"`
	Items   []struct {
		Workload        workloadRef `json:"workload"`
		Container       string      `json:"container"`
		Image           string      `json:"image"`
		Digest          string      `json:"digest"`
		DBVersion       string      `json:"dbVersion"`
		Vulnerabilities []struct {
			ID               string   `json:"id"`
			Aliases          []string `json:"aliases"`
			Package          string   `json:"package"`
			Ecosystem        string   `json:"ecosystem"`
			InstalledVersion string   `json:"installedVersion"`
			FixedVersion     string   `json:"fixedVersion"`
		} `json:"vulnerabilities"`
	} `json:"items"`
}

// finding is one flaw of one package, in a form both the records and the
// answer give.
type finding struct {
	Package   string   // binary package name
	Installed string   // the version the records are compared with
	IDs       []string // ids and aliases of the merged records, sorted
	Fixed     string
}

// checkVulnerable reports whether the vulnerable answer lists exactly the
// Deployments of want, each with exactly its findings.
func checkVulnerable(a *vulnerableAnswer, want map[string][]finding) (bool, string) {
	if a == nil {
		return false, "no vulnerable answer"
	}
	got := map[string][]finding{}
	for _, it := range a.Items {
		if it.Workload.Cluster != scanCluster || it.Workload.Kind != "Deployment" {
			return false, fmt.Sprintf("unexpected workload %+v", it.Workload)
		}
		for _, v := range it.Vulnerabilities {
			if v.Ecosystem != "Debian:12" {
				return false, fmt.Sprintf("%s: ecosystem %q", v.ID, v.Ecosystem)
			}
			ids := append([]string{v.ID}, v.Aliases...)
			slices.Sort(ids)
			got[it.Workload.Name] = append(got[it.Workload.Name], finding{v.Package, v.InstalledVersion, slices.Compact(ids), v.FixedVersion})
		}
	}
	for _, fs := range got {
		sortFindings(fs)
	}
	if d := gocmp.Diff(want, got); d != "" {
		return false, "vulnerable findings differ (-want +got):\n" + d + "\nnotes: " + strings.Join(a.Notes, "; ")
	}
	return true, ""
}

// expectedFindings is what matching pkgs against records must report,
// computed independently of the matcher (internal/match/matchtest) through
// each package's source and version.
func expectedFindings(t *testing.T, pkgs []debPackage, records []*osv.Record) []finding {
	t.Helper()
	const eco = "Debian:12"
	var out []finding
	for _, p := range pkgs {
		for _, f := range matchtest.Expected(t, eco, cmp.Or(p.Source, p.Name), p.Version, records) {
			out = append(out, finding{p.Name, p.Version, f.IDs, f.Fixed})
		}
	}
	sortFindings(out)
	return out
}

func sortFindings(fs []finding) {
	slices.SortFunc(fs, func(a, b finding) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), slices.Compare(a.IDs, b.IDs))
	})
}

func idsOf(fs []finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.IDs...)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// copyRecords writes the records ids of the OSV zip, byte for byte, into
// the new directory dir.
func copyRecords(t *testing.T, zipPath, dir string, ids []string) {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var rec struct{ ID string }
		if err := json.Unmarshal(data, &rec); err != nil || !slices.Contains(ids, rec.ID) {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.Name)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != len(ids) {
		t.Fatalf("copied %d of the records %q from %s", n, ids, zipPath)
	}
}

// registryRequest is one request the test registry served.
type registryRequest struct {
	Method, Path string
	Status       int
	Authorized   bool
}

// testRegistry is go-containerregistry's in-memory registry on loopback,
// logging every request, with basic authentication on the repositories
// under private/ (the scheme of a registry that keeps some repositories
// private; a correct pull secret opens them).
type testRegistry struct {
	host string
	mu   sync.Mutex
	log  []registryRequest
}

func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		user, pass, ok := req.BasicAuth()
		authorized := ok && user == registryUser && pass == registryPassword
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			r.mu.Lock()
			r.log = append(r.log, registryRequest{req.Method, req.URL.Path, rec.status, authorized})
			r.mu.Unlock()
		}()
		if strings.HasPrefix(req.URL.Path, "/v2/private/") && !authorized {
			rec.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			rec.Header().Set("Content-Type", "application/json")
			rec.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(rec, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		inner.ServeHTTP(rec, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (r *testRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

// since returns the requests logged after the first n.
func (r *testRegistry) since(n int) []registryRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log[n:])
}

// pullRequests keeps the manifest and blob requests.
func pullRequests(reqs []registryRequest) []registryRequest {
	return slices.DeleteFunc(reqs, func(r registryRequest) bool {
		return !strings.Contains(r.Path, "/manifests/") && !strings.Contains(r.Path, "/blobs/")
	})
}

// pushedImage is an image in the test registry.
type pushedImage struct {
	tag    string // host/repo:tag, the pod spec's image
	ref    string // host/repo@digest, the container status's imageID
	digest string
}

// push builds a Debian 12 image whose dpkg database lists pkgs and pushes
// it as repoTag ("repo:tag"), with the registry credentials when private.
func (r *testRegistry) push(t *testing.T, repoTag string, pkgs []debPackage, private bool) pushedImage {
	t.Helper()
	var status strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\n", p.Name)
		if p.Source != "" && p.Source != p.Name {
			fmt.Fprintf(&status, "Source: %s\n", p.Source)
		}
		fmt.Fprintf(&status, "Version: %s\nDescription: %s for a Palisade test image\n\n", p.Version, p.Name)
	}
	layer := tarLayer(t, map[string]string{
		"etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n" +
			"VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
		"var/lib/dpkg/status": status.String(),
	})
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      v1.Time{Time: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
		Config:       v1.Config{User: "1000", Entrypoint: []string{"/app"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(r.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.Anonymous
	if private {
		auth = &authn.Basic{Username: registryUser, Password: registryPassword}
	}
	if err := remote.Write(tag, img, remote.WithAuth(auth), remote.WithContext(t.Context())); err != nil {
		t.Fatalf("pushing %s: %v", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return pushedImage{tag: tag.String(), ref: tag.Context().Digest(d.String()).String(), digest: d.String()}
}

// tarLayer is a layer of regular files.
func tarLayer(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		hdr := &tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), Typeflag: tar.TypeReg, ModTime: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, files[p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// createNamespace creates ns and its default ServiceAccount (no
// controller manager runs to create it).
func createNamespace(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	for _, obj := range []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}},
	} {
		if _, err := createObject(ctx, cs, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, ns, err)
		}
	}
}

// createPullSecret creates a kubernetes.io/dockerconfigjson Secret with
// the registry's credentials.
func createPullSecret(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, host string) {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"username": registryUser, "password": registryPassword,
		"auth": base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + registryPassword)),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runWorkload creates what a Deployment named name running img looks like
// once a kubelet runs it: the Deployment, its ReplicaSet, and a Pod whose
// status (written through the status subresource) reports the container
// running img's digest. No controller manager or kubelet is needed.
func runWorkload(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, img pushedImage, pullSecrets []string) {
	t.Helper()
	d := deployment(ns, name, img.tag)
	d.Spec.Template.Spec.Containers[0].Name = "app"
	for _, s := range pullSecrets {
		d.Spec.Template.Spec.ImagePullSecrets = append(d.Spec.Template.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	dUID, err := createObject(ctx, cs, d)
	if err != nil {
		t.Fatalf("creating Deployment %s/%s: %v", ns, name, err)
	}
	labels := map[string]string{"app": name, "pod-template-hash": "5d8f7c9b6"}
	owner := func(kind, name string, uid types.UID) []metav1.OwnerReference {
		yes := true
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: &yes}}
	}
	rsName := name + "-5d8f7c9b6"
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: rsName, Namespace: ns, Labels: labels, OwnerReferences: owner("Deployment", name, dUID)},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: d.Spec.Template.Spec},
		},
	}
	rsUID, err := createObject(ctx, cs, rs)
	if err != nil {
		t.Fatalf("creating ReplicaSet %s/%s: %v", ns, rsName, err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: rsName + "-x7k2p", Namespace: ns, Labels: labels, OwnerReferences: owner("ReplicaSet", rsName, rsUID)},
		Spec:       d.Spec.Template.Spec,
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:        "app",
				Image:       img.tag,
				ImageID:     img.ref,
				ContainerID: "containerd://" + strings.TrimPrefix(img.digest, "sha256:")[:12],
				Ready:       true,
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
			}},
		},
	}
	if _, err := createObject(ctx, cs, pod); err != nil {
		t.Fatalf("creating Pod %s/%s: %v", ns, pod.Name, err)
	}
}

// pretty renders v as indented JSON for failure messages.
func pretty(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}
