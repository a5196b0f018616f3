package state

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/model"
)

// memStore is a fake store whose writes can be made to fail.
type memStore struct {
	mu   sync.Mutex
	objs map[model.Key]model.Object
	fail bool
}

var errDown = errors.New("database down")

func (m *memStore) Apply(_ context.Context, ups []model.Object, dels []model.Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errDown
	}
	for _, o := range ups {
		m.objs[o.ObjectKey()] = o
	}
	for _, k := range dels {
		delete(m.objs, k)
	}
	return nil
}

func (m *memStore) Replace(_ context.Context, cluster string, kinds []model.Kind, objs []model.Object) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errDown
	}
	for k := range m.objs {
		for _, kind := range kinds {
			if k.Cluster == cluster && k.Kind == kind {
				delete(m.objs, k)
			}
		}
	}
	for _, o := range objs {
		m.objs[o.ObjectKey()] = o
	}
	return nil
}

func (m *memStore) Snapshot(context.Context, string) (*model.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &model.Snapshot{}
	for _, o := range m.objs {
		s.Add(o)
	}
	return s, nil
}

func (m *memStore) setFail(b bool) {
	m.mu.Lock()
	m.fail = b
	m.mu.Unlock()
}

func ns(cluster, name string) *model.Namespace {
	return &model.Namespace{Meta: model.Meta{Cluster: cluster, Name: name}}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestIndexGenerations(t *testing.T) {
	ctx := t.Context()
	st := New(&memStore{objs: map[model.Key]model.Object{}}, quiet())
	ix1, g1 := st.Index()
	ix2, g2 := st.Index()
	if ix1 != ix2 || g1 != g2 {
		t.Fatal("index rebuilt without a change")
	}
	changed := st.Changed()
	if err := st.Apply(ctx, []model.Object{ns("c", "a")}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed after Apply")
	}
	ix3, g3 := st.Index()
	if g3 <= g2 || len(ix3.Snapshot().Namespaces) != 1 {
		t.Fatalf("generation %d→%d, %d namespaces", g2, g3, len(ix3.Snapshot().Namespaces))
	}
}

func TestStoreOutageKeepsServingAndCatchesUp(t *testing.T) {
	ctx := t.Context()
	db := &memStore{objs: map[model.Key]model.Object{}}
	st := New(db, quiet())
	if err := st.Apply(ctx, []model.Object{ns("c1", "a"), ns("c2", "x")}, nil); err != nil {
		t.Fatal(err)
	}
	db.setFail(true)
	if err := st.Apply(ctx, []model.Object{ns("c1", "b")}, []model.Key{ns("c1", "a").ObjectKey()}); !errors.Is(err, errDown) {
		t.Fatalf("Apply during outage = %v, want errDown", err)
	}
	ix, _ := st.Index()
	if got := len(ix.Snapshot().Namespaces); got != 2 {
		t.Fatalf("memory copy has %d namespaces during the outage, want 2 (b, x)", got)
	}
	if got := st.Unsynced(); len(got) != 1 || got[0] != "c1" {
		t.Fatalf("Unsynced = %v, want [c1]", got)
	}
	if err := st.Resync(ctx); err == nil {
		t.Fatal("Resync succeeded while the store is down")
	}
	db.setFail(false)
	if err := st.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.Unsynced(); len(got) != 0 {
		t.Fatalf("Unsynced after resync = %v", got)
	}
	snap, _ := db.Snapshot(ctx, "")
	names := map[string]bool{}
	for _, n := range snap.Namespaces {
		names[n.Cluster+"/"+n.Name] = true
	}
	if len(names) != 2 || !names["c1/b"] || !names["c2/x"] {
		t.Fatalf("store after catch-up = %v, want c1/b and c2/x", names)
	}
}

func TestLoadAndReplace(t *testing.T) {
	ctx := t.Context()
	db := &memStore{objs: map[model.Key]model.Object{}}
	_ = db.Apply(ctx, []model.Object{ns("c", "old"), ns("d", "keep")}, nil)
	st := New(db, quiet())
	if err := st.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Replace(ctx, "c", []model.Kind{model.KindNamespace}, []model.Object{ns("c", "new")}); err != nil {
		t.Fatal(err)
	}
	ix, _ := st.Index()
	var got []string
	for _, n := range ix.Snapshot().Namespaces {
		got = append(got, n.Cluster+"/"+n.Name)
	}
	if len(got) != 2 || got[0] != "c/new" || got[1] != "d/keep" {
		t.Fatalf("namespaces = %v, want [c/new d/keep]", got)
	}
}

// New scan results change the generation but reuse the inventory index.
func TestSetImagesKeepsTheInventoryIndex(t *testing.T) {
	ctx := t.Context()
	st := New(&memStore{objs: map[model.Key]model.Object{}}, quiet())
	if err := st.Apply(ctx, []model.Object{ns("c", "a")}, nil); err != nil {
		t.Fatal(err)
	}
	ix1, g1 := st.Index()
	changed := st.Changed()
	v := imagescan.NewView([]*imagescan.Image{{Digest: "sha256:1"}}, imagescan.Scheduler{Running: true})
	st.SetImages(v)
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed after SetImages")
	}
	ix2, g2 := st.Index()
	if g2 <= g1 || ix2.Images() != v || ix1.Images() != nil {
		t.Fatalf("generation %d→%d, images %v (before %v)", g1, g2, ix2.Images(), ix1.Images())
	}
	if ix2.Snapshot() != ix1.Snapshot() {
		t.Error("the inventory index was rebuilt for new scan results")
	}
	// An inventory change keeps the images.
	if err := st.Apply(ctx, []model.Object{ns("c", "b")}, nil); err != nil {
		t.Fatal(err)
	}
	ix3, _ := st.Index()
	if ix3.Images() != v || len(ix3.Snapshot().Namespaces) != 2 {
		t.Errorf("after an inventory change: images %v, %d namespaces", ix3.Images(), len(ix3.Snapshot().Namespaces))
	}
}

func TestSetFlowsKeepsTheInventoryIndex(t *testing.T) {
	ctx := t.Context()
	st := New(&memStore{objs: map[model.Key]model.Object{}}, quiet())
	if err := st.Apply(ctx, []model.Object{ns("c", "a")}, nil); err != nil {
		t.Fatal(err)
	}
	ix1, g1 := st.Index()
	changed := st.Changed()
	set := &flows.Set{Sources: []string{flows.SourceAgents}}
	st.SetFlows(set)
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed after SetFlows")
	}
	ix2, g2 := st.Index()
	if g2 <= g1 || ix2.Flows() != set || ix1.Flows() != nil {
		t.Fatalf("generation %d→%d, flows %v (before %v)", g1, g2, ix2.Flows(), ix1.Flows())
	}
	if ix2.Snapshot() != ix1.Snapshot() {
		t.Error("the inventory index was rebuilt for new flows")
	}
	// An inventory change and other overlays keep the flows.
	if err := st.Apply(ctx, []model.Object{ns("c", "b")}, nil); err != nil {
		t.Fatal(err)
	}
	st.SetImages(imagescan.NewView(nil, imagescan.Scheduler{}))
	if ix3, _ := st.Index(); ix3.Flows() != set || len(ix3.Snapshot().Namespaces) != 2 {
		t.Errorf("after an inventory change: flows %v, %d namespaces", ix3.Flows(), len(ix3.Snapshot().Namespaces))
	}
}
