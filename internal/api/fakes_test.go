package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
)

// fakeInventory is an Inventory whose generation grows with every set.
type fakeInventory struct {
	mu      sync.Mutex
	ix      *inventory.Index
	gen     uint64
	changed chan struct{}
}

func newFakeInventory(snap *model.Snapshot) *fakeInventory {
	return &fakeInventory{ix: inventory.New(snap).WithImages(smallScans()).WithActivity(smallActivity()), gen: 1, changed: make(chan struct{})}
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

func (f *fakeInventory) set(snap *model.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ix = inventory.New(snap)
	f.bumpLocked()
}

// bump starts a new generation over the same index.
func (f *fakeInventory) bump() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bumpLocked()
}

func (f *fakeInventory) bumpLocked() {
	f.gen++
	close(f.changed)
	f.changed = make(chan struct{})
}

// fakeTokens is an in-memory Tokens. When err is set every call fails.
type fakeTokens struct {
	mu     sync.Mutex
	byName map[string]store.Token
	err    error
}

func newFakeTokens() *fakeTokens { return &fakeTokens{byName: map[string]store.Token{}} }

func (f *fakeTokens) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.Token{}, f.err
	}
	for _, t := range f.byName {
		if t.Hash == hash {
			return t, nil
		}
	}
	return store.Token{}, store.ErrNotFound
}

func (f *fakeTokens) PutToken(ctx context.Context, t store.Token) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.byName[t.Name] = t
	return nil
}

func (f *fakeTokens) Tokens(ctx context.Context) ([]store.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := make([]store.Token, 0, len(f.byName))
	for _, t := range f.byName {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b store.Token) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *fakeTokens) DeleteToken(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	delete(f.byName, name)
	return nil
}

func (f *fakeTokens) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// add stores a new token of role and returns its secret.
func addToken(t testing.TB, tokens Tokens, name string, role auth.Role) string {
	t.Helper()
	secret, hash, err := auth.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.PutToken(context.Background(), store.Token{Name: name, Role: string(role), Hash: hash, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is an API handler over a small inventory with one token per
// role.
type harness struct {
	t       *testing.T
	srv     *Server
	inv     *fakeInventory
	tokens  *fakeTokens
	logs    *syncBuffer
	secrets map[auth.Role]string
	// observations receives agent reports; flows imported flow logs.
	observations *fakeObservations
	flows        *fakeFlowStore
}

func newHarness(t *testing.T, edit ...func(*Options)) *harness {
	t.Helper()
	engine, err := answer.NewEngine(answer.Config{TrustedRegistries: []string{"ghcr.io/acme"}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, inv: newFakeInventory(smallSnapshot()), tokens: newFakeTokens(), logs: &syncBuffer{}, secrets: map[auth.Role]string{}}
	for _, r := range auth.Roles {
		h.secrets[r] = addToken(t, h.tokens, string(r)+"-token", r)
	}
	h.observations = &fakeObservations{}
	h.flows = &fakeFlowStore{}
	opts := Options{
		Inventory:    h.inv,
		Answers:      engine,
		Tokens:       h.tokens,
		Observations: h.observations,
		Flows:        h.flows,
		Logger:       slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:      "v0.0.0-test",
	}
	for _, e := range edit {
		e(&opts)
	}
	h.srv = New(opts)
	return h
}

// do serves one request; secret "" sends no Authorization header.
func (h *harness) do(method, path, secret, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

// smallSnapshot is an inventory every question has something to say
// about: two clusters, exposed and privileged workloads, trusted and
// untrusted images, owned and unowned workloads.
func smallSnapshot() *model.Snapshot {
	snap := &model.Snapshot{}
	ns := func(cluster, name string, labels map[string]string) {
		snap.Add(&model.Namespace{Meta: model.Meta{Cluster: cluster, Name: name, Labels: labels}})
	}
	ns("default", "shop", map[string]string{"team": "payments", "environment": "production"})
	ns("default", "ops", nil)
	ns("edge", "shop", map[string]string{"env": "prod"})

	img := func(registry, repo, tag, digest string) model.ImageRef {
		r := model.ImageRef{Registry: registry, Repository: repo, Tag: tag, Digest: digest}
		r.Original = r.String()
		return r
	}
	f := false
	snap.Add(&model.Workload{
		Meta:     model.Meta{Cluster: "default", Namespace: "shop", Name: "web"},
		Kind:     model.KindDeployment,
		Selector: &model.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: model.PodTemplate{
			Labels: map[string]string{"app": "web"},
			Containers: []model.Container{
				{Name: "web", Type: model.ContainerRegular, Image: img("docker.io", "library/nginx", "1.25", ""),
					Ports: []model.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}},
				{Name: "sidecar", Type: model.ContainerRegular, Image: img("ghcr.io", "acme/sidecar", "", "sha256:"+strings.Repeat("a", 64)),
					SecurityContext: model.SecurityContext{AllowPrivilegeEscalation: &f}},
			},
		},
	})
	snap.Add(&model.Workload{
		Meta: model.Meta{Cluster: "default", Namespace: "ops", Name: "node-agent", Labels: map[string]string{"owner": "sre"}},
		Kind: model.KindDaemonSet,
		Template: model.PodTemplate{
			Labels:      map[string]string{"app": "node-agent"},
			HostNetwork: true,
			Containers: []model.Container{{Name: "agent", Type: model.ContainerRegular, Image: img("ghcr.io", "acme/agent", "2.0", ""),
				SecurityContext: model.SecurityContext{Privileged: true},
				VolumeMounts:    []model.VolumeMount{{Name: "sock", MountPath: "/var/run/docker.sock"}}}},
			Volumes: []model.Volume{{Name: "sock", Type: model.VolumeHostPath, HostPath: "/var/run/docker.sock"}},
		},
	})
	snap.Add(&model.Workload{
		Meta: model.Meta{Cluster: "edge", Namespace: "shop", Name: "cache"},
		Kind: model.KindStatefulSet,
		Template: model.PodTemplate{
			Labels: map[string]string{"app": "cache"},
			Containers: []model.Container{{Name: "redis", Type: model.ContainerRegular, Image: img("docker.io", "library/redis", "7", ""),
				Ports: []model.ContainerPort{{ContainerPort: 6379, HostPort: 6379, Protocol: "TCP"}}}},
		},
	})
	// Running pods, whose digests the scan view below knows.
	snap.Add(&model.Workload{
		Meta:  model.Meta{Cluster: "default", Namespace: "shop", Name: "web-7d9f-x1"},
		Kind:  model.KindPod,
		Owner: &model.OwnerRef{Kind: "ReplicaSet", Name: "web-7d9f"},
		Template: model.PodTemplate{
			Labels:     map[string]string{"app": "web", "pod-template-hash": "7d9f"},
			Containers: []model.Container{{Name: "web", Type: model.ContainerRegular, Image: img("docker.io", "library/nginx", "1.25", "")}},
		},
		Status: &model.PodStatus{Phase: "Running", Containers: []model.ContainerStatus{
			{Name: "web", Type: model.ContainerRegular, ImageID: "docker.io/library/nginx@" + webDigest, Digest: webDigest, Running: true},
		}},
	})
	snap.Add(&model.Workload{
		Meta:  model.Meta{Cluster: "edge", Namespace: "shop", Name: "cache-0"},
		Kind:  model.KindPod,
		Owner: &model.OwnerRef{Kind: "StatefulSet", Name: "cache"},
		Template: model.PodTemplate{
			Labels:     map[string]string{"app": "cache"},
			Containers: []model.Container{{Name: "redis", Type: model.ContainerRegular, Image: img("docker.io", "library/redis", "7", "")}},
		},
		Status: &model.PodStatus{Phase: "Running", Containers: []model.ContainerStatus{
			{Name: "redis", Type: model.ContainerRegular, ImageID: "docker.io/library/redis@" + cacheDigest, Digest: cacheDigest, Running: true},
		}},
	})
	snap.Add(&model.Service{Meta: model.Meta{Cluster: "default", Namespace: "shop", Name: "web"}, Type: "LoadBalancer",
		Selector: map[string]string{"app": "web"}, Ports: []model.ServicePort{{Protocol: "TCP", Port: 80, TargetPort: "80", NodePort: 30080}}})
	snap.Add(&model.Service{Meta: model.Meta{Cluster: "default", Namespace: "ops", Name: "orphan"}, Type: "NodePort",
		Selector: map[string]string{"app": "gone"}, Ports: []model.ServicePort{{Protocol: "TCP", Port: 9000, NodePort: 30900}}})
	snap.Add(&model.Ingress{Meta: model.Meta{Cluster: "default", Namespace: "shop", Name: "web"},
		Rules: []model.IngressRule{{Host: "shop.example.com", Paths: []model.IngressPath{{Path: "/", Backend: model.IngressBackend{Service: "web", Port: "80"}}}}}})
	return snap
}

// Digests of the harness's running pods.
var (
	webDigest   = "sha256:" + strings.Repeat("b", 64)
	cacheDigest = "sha256:" + strings.Repeat("c", 64)
)

// smallScans is the scan view of smallSnapshot: both running images were
// scanned and matched, each with one vulnerability.
func smallScans() *imagescan.View {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var images []*imagescan.Image
	for _, d := range []string{webDigest, cacheDigest} {
		images = append(images, &imagescan.Image{
			Digest: d,
			SBOM:   &imagescan.Facts{ScannedAt: at, Packages: 1},
			Match: &imagescan.Match{DBVersion: "db1", MatchedAt: at, Findings: []match.Finding{{
				ID: "CVE-2026-0001", Package: sbom.Package{Name: "openssl", Version: "3.0.1", Ecosystem: "Debian:12"},
				InstalledVersion: "3.0.1", FixedVersion: "3.0.2", Severity: "high", Score: 7.5,
			}}},
			Status: store.ScanStatus{Digest: d, LastAttempt: at, LastSuccess: at},
		})
	}
	return imagescan.NewView(images, imagescan.Scheduler{Running: true, MaxAge: 24 * time.Hour, DBVersion: "db1"})
}

// fakeObservations records agent reports.
type fakeObservations struct {
	mu      sync.Mutex
	reports []observation.Report
}

func (f *fakeObservations) Put(_ context.Context, r observation.Report) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return nil
}

// smallActivity is what node agents saw in smallSnapshot's pods.
func smallActivity() *observation.View {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return &observation.View{
		Nodes: []observation.NodeSummary{{Cluster: "default", Node: "n1", Agent: "test", Collection: "polling", SentAt: at, ReceivedAt: at, Processes: 1},
			{Cluster: "edge", Node: "e1", Agent: "test", Collection: "polling", SentAt: at, ReceivedAt: at, Processes: 1}},
		Processes: []observation.ProcessRecord{
			{Cluster: "default", Node: "n1", Workload: model.WorkloadRef{Cluster: "default", Kind: model.KindDeployment, Namespace: "shop", Name: "web"},
				Pod: "web-7d9f-x1", Container: "web", Exe: "/usr/sbin/nginx", PID: 7, FirstSeen: at, LastSeen: at, Running: true, Baseline: observation.BaselineLearning},
			{Cluster: "edge", Node: "e1", Workload: model.WorkloadRef{Cluster: "edge", Kind: model.KindStatefulSet, Namespace: "shop", Name: "cache"},
				Pod: "cache-0", Container: "redis", Exe: "/usr/local/bin/redis-server", PID: 8, FirstSeen: at, LastSeen: at, Running: true, Baseline: observation.BaselineLearning},
		},
	}
}

// errStore stands in for a store that is down.
var errStore = errors.New("dial tcp 10.0.0.5:5432: connection refused")

var _ http.Handler = (*Server)(nil)
