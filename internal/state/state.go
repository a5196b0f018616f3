// Package state holds the server's live inventory: the objects of every
// watched cluster in memory, written through to the store, with an index
// rebuilt lazily when something changed. The sensor writes to it; the API
// reads answers from it. When the store fails, the memory copy keeps
// serving and the failed clusters are written again in full once the store
// answers.
package state

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
)

// Store is the part of store.Store the state writes through to.
type Store interface {
	Apply(ctx context.Context, upserts []model.Object, deletes []model.Key) error
	Replace(ctx context.Context, cluster string, kinds []model.Kind, objs []model.Object) error
	Snapshot(ctx context.Context, cluster string) (*model.Snapshot, error)
}

// State is the live inventory. It is safe for concurrent use.
type State struct {
	store Store
	log   *slog.Logger

	// writeMu orders writes: a memory change and its store write happen
	// together, so an older write (a Resync's snapshot) never lands after
	// a newer one. buildMu serialises index builds; mu guards the fields.
	writeMu sync.Mutex
	buildMu sync.Mutex
	mu      sync.Mutex
	objects map[model.Key]model.Object
	gen     uint64
	// unsynced lists clusters whose last write to the store failed.
	unsynced map[string]bool
	index    *inventory.Index
	indexGen uint64
	changed  chan struct{}
	// invGen is the generation of the last inventory change; gen also
	// grows when only the scan results change, which needs no rebuild:
	// base, built at baseGen, is reused with the new images.
	invGen   uint64
	base     *inventory.Index
	baseGen  uint64
	images   *imagescan.View
	activity *observation.View
	flows    *flows.Set
}

// New returns a state that writes through to st.
func New(st Store, log *slog.Logger) *State {
	return &State{store: st, log: log, objects: map[model.Key]model.Object{}, unsynced: map[string]bool{}, gen: 1, changed: make(chan struct{})}
}

// Load fills the memory copy from the store, so a restarted server answers
// from what it had before its sources reconnect.
func (s *State) Load(ctx context.Context) error {
	snap, err := s.store.Snapshot(ctx, "")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range snap.Objects() {
		s.objects[o.ObjectKey()] = o
	}
	s.bump()
	return nil
}

func (s *State) bump() {
	s.gen++
	s.invGen = s.gen
	close(s.changed)
	s.changed = make(chan struct{})
}

// Apply records changes from a source. The memory copy always takes them;
// an error means only that the store did not, and the state will write the
// cluster again later (see Resync).
func (s *State) Apply(ctx context.Context, upserts []model.Object, deletes []model.Key) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	for _, o := range upserts {
		s.objects[o.ObjectKey()] = o
	}
	for _, k := range deletes {
		delete(s.objects, k)
	}
	s.bump()
	s.mu.Unlock()
	err := s.store.Apply(ctx, upserts, deletes)
	if err != nil {
		s.markUnsynced(upserts, deletes)
		s.log.Warn("store write failed; serving from memory and retrying", "err", err)
	}
	return err
}

func (s *State) markUnsynced(upserts []model.Object, deletes []model.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range upserts {
		s.unsynced[o.ObjectKey().Cluster] = true
	}
	for _, k := range deletes {
		s.unsynced[k.Cluster] = true
	}
}

// Replace makes the objects of cluster with the given kinds exactly objs.
func (s *State) Replace(ctx context.Context, cluster string, kinds []model.Kind, objs []model.Object) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	for k := range s.objects {
		if k.Cluster == cluster && slices.Contains(kinds, k.Kind) {
			delete(s.objects, k)
		}
	}
	for _, o := range objs {
		s.objects[o.ObjectKey()] = o
	}
	s.bump()
	s.mu.Unlock()
	err := s.store.Replace(ctx, cluster, kinds, objs)
	if err != nil {
		s.mu.Lock()
		s.unsynced[cluster] = true
		s.mu.Unlock()
		s.log.Warn("store write failed; serving from memory and retrying", "cluster", cluster, "err", err)
	}
	return err
}

// Resync writes every cluster whose earlier write failed to the store in
// full. It returns the first error; clusters that fail stay marked.
func (s *State) Resync(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	clusters := make(map[string][]model.Object, len(s.unsynced))
	for c := range s.unsynced {
		clusters[c] = nil
	}
	for k, o := range s.objects {
		if _, ok := clusters[k.Cluster]; ok {
			clusters[k.Cluster] = append(clusters[k.Cluster], o)
		}
	}
	s.mu.Unlock()
	var first error
	for c, objs := range clusters {
		if err := s.store.Replace(ctx, c, model.AllKinds, objs); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		s.mu.Lock()
		delete(s.unsynced, c)
		s.mu.Unlock()
		s.log.Info("store caught up", "cluster", c, "objects", len(objs))
	}
	return first
}

// Unsynced reports the clusters whose latest changes are not yet stored.
func (s *State) Unsynced() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.unsynced))
	for c := range s.unsynced {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// RunResync calls Resync every interval until ctx ends.
func (s *State) RunResync(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if len(s.Unsynced()) > 0 {
				if err := s.Resync(ctx); err != nil {
					s.log.Warn("store still unavailable; serving from memory", "clusters", s.Unsynced(), "err", err)
				}
			}
		}
	}
}

// Index returns an index of the current objects and its generation, which
// grows with every change. The index is rebuilt only when something changed
// since the last build, and outside the state's lock, so writers are not
// held up by a rebuild (objects are replaced, never mutated, once stored).
func (s *State) Index() (*inventory.Index, uint64) {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	s.mu.Lock()
	if s.index != nil && s.indexGen == s.gen {
		ix, gen := s.index, s.gen
		s.mu.Unlock()
		return ix, gen
	}
	gen, images, activity, used := s.gen, s.images, s.activity, s.flows
	if s.base != nil && s.baseGen == s.invGen {
		ix := s.base.WithImages(images).WithActivity(activity).WithFlows(used)
		s.index, s.indexGen = ix, gen
		s.mu.Unlock()
		return ix, gen
	}
	invGen := s.invGen
	objs := make([]model.Object, 0, len(s.objects))
	for _, o := range s.objects {
		objs = append(objs, o)
	}
	s.mu.Unlock()

	slices.SortFunc(objs, func(a, b model.Object) int { return compareKeys(a.ObjectKey(), b.ObjectKey()) })
	snap := &model.Snapshot{}
	for _, o := range objs {
		snap.Add(o)
	}
	base := inventory.New(snap)
	ix := base.WithImages(images).WithActivity(activity).WithFlows(used)

	s.mu.Lock()
	if invGen > s.baseGen {
		s.base, s.baseGen = base, invGen
	}
	if gen > s.indexGen {
		s.index, s.indexGen = ix, gen
	}
	s.mu.Unlock()
	return ix, gen
}

// SetImages replaces the scan results the index carries. It changes the
// generation but not the inventory, so the next Index is a cheap copy.
func (s *State) SetImages(v *imagescan.View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images = v
	s.overlayChangedLocked()
}

// SetActivity replaces the agents' observations the index carries, as
// SetImages does for scan results.
func (s *State) SetActivity(v *observation.View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.activity = v
	s.overlayChangedLocked()
}

// SetFlows replaces the used traffic (agents' and imported flows of the
// window) the index carries, as SetImages does for scan results.
func (s *State) SetFlows(f *flows.Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flows = f
	s.overlayChangedLocked()
}

func (s *State) overlayChangedLocked() {
	s.gen++
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change.
func (s *State) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func compareKeys(a, b model.Key) int {
	for _, c := range [][2]string{{a.Cluster, b.Cluster}, {string(a.Kind), string(b.Kind)}, {a.Namespace, b.Namespace}, {a.Name, b.Name}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}
