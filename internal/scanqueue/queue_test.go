package scanqueue

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/palisade-project/palisade/internal/extractor/list"
	"github.com/palisade-project/palisade/internal/imagefs"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/kubemodel"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/scanner"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

// loggedRegistry is a real OCI registry on loopback that records the
// manifest and blob reads it serves.
type loggedRegistry struct {
	host string
	mu   sync.Mutex
	gets []string
}

func newRegistry(t *testing.T) *loggedRegistry {
	t.Helper()
	r := &loggedRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && (strings.Contains(req.URL.Path, "/manifests/") || strings.Contains(req.URL.Path, "/blobs/")) {
			r.mu.Lock()
			r.gets = append(r.gets, req.URL.Path)
			r.mu.Unlock()
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// reads returns the number of manifest and blob reads so far, and of those
// the manifest reads of digest.
func (r *loggedRegistry) reads(digest string) (all, manifests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.gets {
		if strings.HasSuffix(p, "/manifests/"+digest) {
			manifests++
		}
	}
	return len(r.gets), manifests
}

// push builds a Debian 12 image whose dpkg database lists pkgs (name,
// source, version) and pushes it as repo; it returns the digest.
func (r *loggedRegistry) push(t *testing.T, repo, user string, pkgs ...[3]string) string {
	t.Helper()
	var status strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nSource: %s\nVersion: %s\nArchitecture: amd64\n\n", p[0], p[1], p[2])
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"},
		{"var/lib/dpkg/status", status.String()},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	base, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: "amd64", OS: "linux", Config: v1.Config{User: user}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(r.host + "/" + repo + ":latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// fakeInventory is an Inventory over snapshots set by the test.
type fakeInventory struct {
	mu      sync.Mutex
	ix      *inventory.Index
	gen     uint64
	changed chan struct{}
}

func newInventory() *fakeInventory {
	return &fakeInventory{ix: inventory.New(&model.Snapshot{}), changed: make(chan struct{})}
}

func (f *fakeInventory) Index() (*inventory.Index, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ix, f.gen
}

func (f *fakeInventory) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeInventory) set(pods ...*model.Workload) {
	snap := &model.Snapshot{}
	for _, p := range pods {
		snap.Add(p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ix = inventory.New(snap)
	f.gen++
	close(f.changed)
	f.changed = make(chan struct{})
}

// pod is a running bare pod whose one container runs image at digest.
func pod(cluster, namespace, podName, image, digest string) *model.Workload {
	ref := kubemodel.ParseImage(image)
	return &model.Workload{
		Meta: model.Meta{Cluster: cluster, Namespace: namespace, Name: podName},
		Kind: model.KindPod,
		Template: model.PodTemplate{Containers: []model.Container{{
			Name: "app", Type: model.ContainerRegular,
			Image: ref,
		}}},
		Status: &model.PodStatus{Phase: "Running", Containers: []model.ContainerStatus{{
			Name: "app", Type: model.ContainerRegular, ImageID: ref.Name() + "@" + digest, Digest: digest, Running: true,
		}}},
	}
}

// harness runs a queue over a real SQLite store and collects its views.
type harness struct {
	t     *testing.T
	st    *sqlite.Store
	inv   *fakeInventory
	mu    sync.Mutex
	view  *imagescan.View
	views chan struct{}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &harness{t: t, st: st, inv: newInventory(), views: make(chan struct{}, 1)}
}

func (h *harness) publish(v *imagescan.View) {
	h.mu.Lock()
	h.view = v
	h.mu.Unlock()
	select {
	case h.views <- struct{}{}:
	default:
	}
}

// start runs a queue with opts (Inventory, Store and Publish filled in)
// until the test ends.
func (h *harness) start(opts Options) {
	opts.Inventory, opts.Store, opts.Publish = h.inv, h.st, h.publish
	if opts.Extractors == nil {
		opts.Extractors = list.All()
	}
	opts.DBPoll = max(opts.DBPoll, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	q := New(opts)
	go func() { done <- q.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	})
}

// wait waits until cond holds for the latest view.
func (h *harness) wait(what string, cond func(*imagescan.View) bool) *imagescan.View {
	h.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		h.mu.Lock()
		v := h.view
		h.mu.Unlock()
		if v != nil && cond(v) {
			return v
		}
		select {
		case <-h.views:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s; view:\n%s", what, h.dump())
		}
	}
}

// importOSV stores records as the advisories of source, as db import does.
func (h *harness) importOSV(source string, records ...string) {
	h.t.Helper()
	var advs []store.Advisory
	for i, r := range records {
		advs = append(advs, store.Advisory{Source: source, ID: fmt.Sprintf("R-%d", i), Body: []byte(r)})
	}
	if err := h.st.ReplaceAdvisories(context.Background(), store.AdvisorySource{Name: source, Location: "test", Records: len(advs), ImportedAt: time.Now().UTC(), Digest: fmt.Sprint(time.Now().UnixNano())}, advs); err != nil {
		h.t.Fatal(err)
	}
}

// debianRecord is an OSV record fixing source package pkg in fixed.
func debianRecord(id, pkg, fixed string) string {
	return fmt.Sprintf(`{"schema_version":"1.6.0","id":%q,"modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`, id, pkg, fixed)
}

func findingIDs(im *imagescan.Image) []string {
	if im == nil || im.Match == nil {
		return nil
	}
	var ids []string
	for _, f := range im.Match.Findings {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestNewDigestIsScannedAndRematchedWithoutPulling(t *testing.T) {
	reg := newRegistry(t)
	h := newHarness(t)
	digest := reg.push(t, "shop/web", "", [3]string{"libssl3", "openssl", "3.0.11-1~deb12u1"}, [3]string{"zlib1g", "zlib", "1:1.2.13.dfsg-1"})
	h.importOSV("debian", debianRecord("DSA-0001-1", "openssl", "3.0.13-1~deb12u1"))
	h.start(Options{})
	h.inv.set(pod("prod", "shop", "web-1", reg.host+"/shop/web:latest", digest))

	v := h.wait("the first match", func(v *imagescan.View) bool { return v.Image(digest) != nil && v.Image(digest).Match != nil })
	im := v.Image(digest)
	if got := findingIDs(im); !slices.Equal(got, []string{"DSA-0001-1"}) {
		t.Fatalf("findings = %v, want [DSA-0001-1]", got)
	}
	if im.SBOM.Packages != 2 || im.SBOM.OS.ID != "debian" || im.SBOM.User != "" {
		t.Errorf("SBOM facts = %+v", im.SBOM)
	}
	if im.Status.Failures != 0 || im.Status.LastSuccess.IsZero() {
		t.Errorf("status = %+v, want a success", im.Status)
	}
	firstDB := im.Match.DBVersion
	if firstDB == "" || v.Scheduler().DBVersion != firstDB {
		t.Errorf("match DB version %q, scheduler's %q", firstDB, v.Scheduler().DBVersion)
	}
	stored, err := h.st.SBOM(context.Background(), digest)
	if err != nil || len(stored.Packages) != 2 {
		t.Fatalf("stored SBOM: %v, %v", stored, err)
	}
	readsBefore, _ := reg.reads(digest)

	// Newer data: one more record. The stored SBOM is re-matched.
	h.importOSV("debian", debianRecord("DSA-0001-1", "openssl", "3.0.13-1~deb12u1"), debianRecord("DSA-0002-1", "zlib", "1:1.2.13.dfsg-1+deb12u1"))
	v = h.wait("the re-match", func(v *imagescan.View) bool { return len(findingIDs(v.Image(digest))) == 2 })
	if got := findingIDs(v.Image(digest)); !slices.Equal(got, []string{"DSA-0001-1", "DSA-0002-1"}) {
		t.Errorf("findings after the new data = %v", got)
	}
	if m := v.Image(digest).Match; m.DBVersion == firstDB || m.DBVersion != v.Scheduler().DBVersion {
		t.Errorf("re-match DB version %q (first %q, scheduler %q)", m.DBVersion, firstDB, v.Scheduler().DBVersion)
	}
	if after, _ := reg.reads(digest); after != readsBefore {
		t.Errorf("the registry served %d manifest or blob reads during the re-match, want none", after-readsBefore)
	}
	m, err := h.st.Match(context.Background(), digest)
	if err != nil || m.DBVersion != v.Image(digest).Match.DBVersion {
		t.Errorf("stored match %+v, %v", m, err)
	}
}

func (h *harness) dump() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.view == nil {
		return "no view"
	}
	var b strings.Builder
	for _, im := range h.view.All() {
		fmt.Fprintf(&b, "%s sbom=%+v match=%+v status=%+v\n", im.Digest, im.SBOM, im.Match, im.Status)
	}
	fmt.Fprintf(&b, "sched=%+v", h.view.Scheduler())
	return b.String()
}

func TestOneScanPerDigestAcrossWorkloadsAndClusters(t *testing.T) {
	reg := newRegistry(t)
	h := newHarness(t)
	digest := reg.push(t, "shared/base", "app", [3]string{"zlib1g", "zlib", "1:1.2.13.dfsg-1"})
	h.start(Options{Workers: 4})
	image := reg.host + "/shared/base:latest"
	h.inv.set(
		pod("prod", "a", "one", image, digest), pod("prod", "b", "two", image, digest),
		pod("staging", "a", "one", image, digest), pod("staging", "c", "three", image, digest),
	)
	v := h.wait("the scan", func(v *imagescan.View) bool { im := v.Image(digest); return im != nil && im.SBOM != nil })
	if u := v.Image(digest).SBOM.User; u != "app" {
		t.Errorf("image user = %q, want app", u)
	}
	// More changes to the inventory do not scan it again.
	h.inv.set(pod("prod", "a", "one", image, digest), pod("prod", "d", "four", image, digest))
	h.inv.set(pod("prod", "a", "one", image, digest))
	time.Sleep(100 * time.Millisecond)
	if _, manifests := reg.reads(digest); manifests != 1 {
		t.Errorf("the manifest of %s was read %d times, want 1", digest, manifests)
	}
	if v := h.wait("a view", func(*imagescan.View) bool { return true }); v.Image(digest).Match != nil {
		t.Errorf("matched without any vulnerability data: %+v", v.Image(digest).Match)
	}
}

func TestFailuresAreRetriedWithBackoffAndShown(t *testing.T) {
	reg := newRegistry(t)
	h := newHarness(t)
	missing := "sha256:" + strings.Repeat("0", 64)
	h.start(Options{RetryMin: 30 * time.Millisecond, RetryMax: 60 * time.Millisecond})
	h.inv.set(pod("prod", "shop", "ghost", reg.host+"/shop/ghost:latest", missing))
	v := h.wait("three failures", func(v *imagescan.View) bool { im := v.Image(missing); return im != nil && im.Status.Failures >= 3 })
	st := v.Image(missing).Status
	if !strings.Contains(st.LastError, "shop/ghost@"+missing) || !strings.Contains(st.LastError, "NAME_UNKNOWN") {
		t.Errorf("last error %q does not say which pull failed and why", st.LastError)
	}
	if st.NextAttempt.Before(st.LastAttempt) || st.LastSuccess != (time.Time{}) || v.Image(missing).SBOM != nil {
		t.Errorf("status %+v", st)
	}
	stored, err := h.st.ScanStatuses(context.Background())
	if err != nil || len(stored) != 1 || stored[0].Failures < 3 {
		t.Errorf("stored statuses %+v, %v", stored, err)
	}
	// The image appears: the next retry succeeds and clears the failures.
	digest := reg.push(t, "shop/real", "", [3]string{"zlib1g", "zlib", "1:1.2.13.dfsg-1"})
	h.inv.set(pod("prod", "shop", "real", reg.host+"/shop/real:latest", digest))
	v = h.wait("the real image", func(v *imagescan.View) bool { im := v.Image(digest); return im != nil && im.SBOM != nil })
	if st := v.Image(digest).Status; st.Failures != 0 || st.LastError != "" {
		t.Errorf("status after success %+v", st)
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	h := newHarness(t)
	q := New(Options{Inventory: h.inv, Store: h.st, Publish: h.publish, RetryMin: time.Minute, RetryMax: 10 * time.Minute, MaxAge: 5 * time.Minute})
	var got []time.Duration
	for f := 1; f <= 5; f++ {
		got = append(got, q.backoff(f))
	}
	// RetryMax is capped by MaxAge: a failing image is retried at least
	// as often as a healthy one is rescanned.
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
}

func TestStaleAndOutdatedImagesAreRescanned(t *testing.T) {
	reg := newRegistry(t)
	h := newHarness(t)
	digest := reg.push(t, "shop/web", "", [3]string{"zlib1g", "zlib", "1:1.2.13.dfsg-1"})
	// An SBOM stored by an older extractor, as after an upgrade.
	old := &sbom.SBOM{Digest: digest, Packages: []sbom.Package{}, Extractors: map[string]int{"dpkg": -1}, CreatedAt: time.Now().UTC()}
	if err := h.st.PutSBOM(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	h.start(Options{MaxAge: 300 * time.Millisecond})
	h.inv.set(pod("prod", "shop", "web", reg.host+"/shop/web:latest", digest))
	v := h.wait("the rescan by the new extractors", func(v *imagescan.View) bool {
		im := v.Image(digest)
		return im != nil && im.SBOM != nil && im.SBOM.Packages == 1
	})
	first := v.Image(digest).SBOM.ScannedAt
	// Older than MaxAge: scanned again without any change.
	v = h.wait("the rescan of a stale SBOM", func(v *imagescan.View) bool {
		im := v.Image(digest)
		return im != nil && im.SBOM != nil && im.SBOM.ScannedAt.After(first)
	})
	if _, manifests := reg.reads(digest); manifests < 2 {
		t.Errorf("manifest read %d times, want a rescan", manifests)
	}
}

func TestImagesNoLongerRunningArePrunedAfterRetention(t *testing.T) {
	reg := newRegistry(t)
	h := newHarness(t)
	ctx := context.Background()
	running := reg.push(t, "shop/web", "", [3]string{"zlib1g", "zlib", "1:1.2.13.dfsg-1"})
	// Stored long ago, no longer run by any pod.
	gone := "sha256:" + strings.Repeat("9", 64)
	old := time.Now().UTC().Add(-30 * 24 * time.Hour)
	if err := h.st.PutSBOM(ctx, &sbom.SBOM{Digest: gone, Packages: []sbom.Package{}, Extractors: map[string]int{}, CreatedAt: old}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.PutScanStatus(ctx, store.ScanStatus{Digest: gone, LastAttempt: old, LastSuccess: old}); err != nil {
		t.Fatal(err)
	}
	// Recently stored, not running either: kept.
	recent := "sha256:" + strings.Repeat("8", 64)
	if err := h.st.PutSBOM(ctx, &sbom.SBOM{Digest: recent, Packages: []sbom.Package{}, Extractors: map[string]int{}, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	h.start(Options{Retention: 24 * time.Hour})
	h.inv.set(pod("prod", "shop", "web", reg.host+"/shop/web:latest", running))
	v := h.wait("the prune and the scan", func(v *imagescan.View) bool {
		return v.Image(gone) == nil && v.Image(running) != nil && v.Image(running).SBOM != nil
	})
	if v.Image(recent) == nil {
		t.Error("an image stored a moment ago was pruned")
	}
	if _, err := h.st.SBOM(ctx, gone); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the pruned SBOM is still stored: %v", err)
	}
	statuses, err := h.st.ScanStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range statuses {
		if st.Digest == gone {
			t.Errorf("the pruned status is still stored: %+v", st)
		}
	}
}

// A digest that appears goes before rescans and retries already waiting.
func TestNewDigestsJumpTheQueue(t *testing.T) {
	h := newHarness(t)
	q := New(Options{Inventory: h.inv, Store: h.st, Publish: h.publish, MaxAge: time.Hour})
	old := time.Now().Add(-2 * time.Hour)
	stale, failing, fresh := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64), "sha256:"+strings.Repeat("3", 64)
	q.images[stale] = &imagescan.Image{Digest: stale, SBOM: &imagescan.Facts{ScannedAt: old, Extractors: q.extractors}}
	q.images[failing] = &imagescan.Image{Digest: failing, Status: store.ScanStatus{Failures: 2, NextAttempt: old}}
	q.schedule([]Target{{Digest: stale}, {Digest: failing}})
	if want := []string{failing, stale}; !slices.Equal(q.pending, want) {
		t.Fatalf("pending = %v, want the retry before the rescan %v", q.pending, want)
	}
	q.schedule([]Target{{Digest: stale}, {Digest: failing}, {Digest: fresh}})
	if want := []string{fresh, failing, stale}; !slices.Equal(q.pending, want) {
		t.Errorf("pending = %v, want the new digest first %v", q.pending, want)
	}
}

// An SBOM made before the walk listed executables records every
// extractor's version but not the walk's: it is due at once, so images
// gain the list after an upgrade.
func TestSBOMsOfAnOlderWalkAreDue(t *testing.T) {
	h := newHarness(t)
	q := New(Options{Inventory: h.inv, Store: h.st, Publish: h.publish, Extractors: list.All(), MaxAge: time.Hour})
	if q.extractors[scanner.WalkerName] != imagefs.Version {
		t.Fatalf("the queue expects %v, without the walk's version", q.extractors)
	}
	before := maps.Clone(q.extractors)
	delete(before, scanner.WalkerName)
	now := time.Now()
	if at, rank := q.dueAt(&imagescan.Image{SBOM: &imagescan.Facts{ScannedAt: now, Extractors: before}}); !at.IsZero() || rank != 2 {
		t.Errorf("an SBOM without the walk's version is due at %v (rank %d), want now as a rescan", at, rank)
	}
	if at, _ := q.dueAt(&imagescan.Image{SBOM: &imagescan.Facts{ScannedAt: now, Extractors: maps.Clone(q.extractors)}}); !at.Equal(now.Add(time.Hour)) {
		t.Errorf("a current SBOM is due at %v, want after MaxAge", at)
	}
}

// A KEV catalog imported while the server runs reaches the answers'
// view at the next poll.
func TestKEVCatalogIsLoadedWhenImported(t *testing.T) {
	h := newHarness(t)
	h.start(Options{})
	h.wait("the first view", func(v *imagescan.View) bool { return true })
	d, err := kev.ParseDate("2021-12-10")
	if err != nil {
		t.Fatal(err)
	}
	e := kev.Entry{CVEID: "CVE-2021-44228", VendorProject: "Apache", Product: "Log4j2", VulnerabilityName: "Log4Shell",
		DateAdded: d, DueDate: d, ShortDescription: "x", RequiredAction: "Apply updates.", KnownRansomwareCampaignUse: kev.RansomwareKnown}
	if err := h.st.ReplaceKEV(context.Background(), store.KEVSource{Name: "cisa-kev", Location: "test", Version: "2025.08.25", Digest: "1"}, []kev.Entry{e}); err != nil {
		t.Fatal(err)
	}
	v := h.wait("the KEV catalog", func(v *imagescan.View) bool { return v.Scheduler().KEV != nil })
	if got, ok := v.Scheduler().KEV.Lookup("cve-2021-44228"); !ok || got.RequiredAction != "Apply updates." {
		t.Errorf("lookup = %+v, %v", got, ok)
	}
}
