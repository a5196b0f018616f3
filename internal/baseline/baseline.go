// Package baseline owns process baselines: for each image digest and
// container name, the executables its containers run. A baseline learns
// from observations during a window (24 hours by default), then locks,
// automatically at the end of the window or when a user locks it; after
// that, an executable outside the baseline is an anomaly. A Set holds the
// baselines in memory, bounded, and can be snapshotted for persistence.
package baseline

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultWindow         = 24 * time.Hour
	DefaultMaxExecutables = 1000
	DefaultMaxBaselines   = 100_000
)

// MaxPathLen is the longest executable path a baseline records (PATH_MAX).
const MaxPathLen = 4096

// AutoLock is the LockedBy of a baseline that locked at the end of its
// learning window. Users cannot lock under this name.
const AutoLock = "auto"

// ErrNotFound is returned for a key that has no baseline.
var ErrNotFound = errors.New("no baseline")

// Status is the verdict on one observation.
type Status string

// Statuses of an observation.
const (
	// Learning: the baseline is learning (or the process ran before it
	// locked), so the executable was added to it; also the answer for a key
	// the Set cannot track (see Stats.Untracked).
	Learning Status = "learning"
	// InBaseline: the baseline is locked and holds the executable.
	InBaseline Status = "inBaseline"
	// Anomaly: the baseline is locked and does not hold the executable, or
	// it was full and could not learn it (Baseline.Overflow), or the path
	// was empty or longer than MaxPathLen.
	Anomaly Status = "anomaly"
)

// Key names a baseline: the image digest the container runs and the
// container's name in the pod spec.
type Key struct {
	Digest    string `json:"digest"`
	Container string `json:"container"`
}

// name is how errors show a key. (Not String: Baseline embeds Key, and
// would print as its key alone.)
func (k Key) name() string { return k.Digest + "/" + k.Container }

// Baseline is what one image digest and container name run.
type Baseline struct {
	Key
	// Executables are the learned executable paths, sorted.
	Executables []string `json:"executables"`
	// FirstSeen is the time of the earliest observation.
	FirstSeen time.Time `json:"firstSeen"`
	// LearningSince starts the current learning window: the first
	// observation, or the last Unlock. The window ends, and the baseline
	// locks, at LearningSince plus the Set's window.
	LearningSince time.Time `json:"learningSince"`
	// LockedAt is zero while the baseline learns.
	LockedAt time.Time `json:"lockedAt,omitzero"`
	// LockedBy is AutoLock or the user who locked the baseline.
	LockedBy string `json:"lockedBy,omitempty"`
	// Overflow counts observations of executables the baseline could not
	// learn because it held MaxExecutables already.
	Overflow uint64 `json:"overflow,omitempty"`
}

// Locked reports whether the baseline has stopped learning.
func (b Baseline) Locked() bool { return !b.LockedAt.IsZero() }

// Options configure a Set. Zero values take the defaults.
type Options struct {
	// Window is how long a baseline learns after its first observation.
	Window time.Duration
	// MaxExecutables bounds each baseline.
	MaxExecutables int
	// MaxBaselines bounds the Set.
	MaxBaselines int
	// Now is the clock (time.Now by default); it stamps user locks and
	// decides, when baselines are read, whether their window has ended.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxExecutables <= 0 {
		o.MaxExecutables = DefaultMaxExecutables
	}
	if o.MaxBaselines <= 0 {
		o.MaxBaselines = DefaultMaxBaselines
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Stats are counters of a Set.
type Stats struct {
	Baselines, Learning, Locked int
	// Untracked counts observations dropped because their key had no
	// digest or the Set held MaxBaselines already.
	Untracked uint64
	// Invalid counts observations with an empty or overlong path.
	Invalid uint64
}

// Set holds baselines. It is safe for concurrent use.
type Set struct {
	opts Options

	mu        sync.Mutex
	m         map[Key]*Baseline
	untracked uint64
	invalid   uint64
}

// NewSet returns an empty Set.
func NewSet(opts Options) *Set {
	opts.setDefaults()
	return &Set{opts: opts, m: map[Key]*Baseline{}}
}

// Options returns the Set's options, defaults applied.
func (s *Set) Options() Options { return s.opts }

// Observe records that a container of k ran exe at time at, and returns
// the verdict. The first observation of a key starts its baseline. An
// observation at or after the end of the learning window (or a clock past
// it) locks the baseline first; the lock time is the window's end.
// Observations stamped before the lock time were made while learning (a
// report delivered late) and are learned.
func (s *Set) Observe(k Key, exe string, at time.Time) Status {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if exe == "" || len(exe) > MaxPathLen {
		s.invalid++
		return Anomaly
	}
	b := s.m[k]
	if b == nil {
		if k.Digest == "" || len(s.m) >= s.opts.MaxBaselines {
			s.untracked++
			return Learning
		}
		b = &Baseline{Key: k, FirstSeen: at, LearningSince: at}
		s.m[k] = b
	}
	if at.Before(b.FirstSeen) {
		b.FirstSeen = at
	}
	s.autoLock(b, later(at, now))
	i, known := slices.BinarySearch(b.Executables, exe)
	switch {
	case known && b.Locked():
		return InBaseline
	case known:
		return Learning
	case b.Locked() && !at.Before(b.LockedAt):
		return Anomaly
	case len(b.Executables) >= s.opts.MaxExecutables:
		b.Overflow++
		return Anomaly
	}
	b.Executables = slices.Insert(b.Executables, i, exe)
	return Learning
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// autoLock locks b if its window has ended by t.
func (s *Set) autoLock(b *Baseline, t time.Time) {
	if b.Locked() {
		return
	}
	if end := b.LearningSince.Add(s.opts.Window); !t.Before(end) {
		b.LockedAt, b.LockedBy = end, AutoLock
	}
}

// Lock stops k's baseline learning now, on behalf of user by. Locking a
// locked baseline changes nothing.
func (s *Set) Lock(k Key, by string) error {
	if by == "" || by == AutoLock {
		return fmt.Errorf("locking baseline %s: want the name of the user who locks it, not %q", k.name(), by)
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[k]
	if b == nil {
		return fmt.Errorf("locking baseline %s: %w", k.name(), ErrNotFound)
	}
	s.autoLock(b, now)
	if !b.Locked() {
		b.LockedAt, b.LockedBy = now, by
	}
	return nil
}

// Unlock makes k's baseline learn again, for a full window from now,
// keeping what it has learned.
func (s *Set) Unlock(k Key) error {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[k]
	if b == nil {
		return fmt.Errorf("unlocking baseline %s: %w", k.name(), ErrNotFound)
	}
	b.LockedAt, b.LockedBy, b.LearningSince = time.Time{}, "", now
	return nil
}

// Delete forgets k's baseline, for an image no longer running; the next
// observation starts a new one. It reports whether there was one.
func (s *Set) Delete(k Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	delete(s.m, k)
	return ok
}

// Get returns a copy of k's baseline, locked if its window has ended.
func (s *Set) Get(k Key) (Baseline, bool) {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[k]
	if b == nil {
		return Baseline{}, false
	}
	s.autoLock(b, now)
	return copyOf(b), true
}

// All returns copies of every baseline, sorted by digest and container,
// those whose window has ended locked.
func (s *Set) All() []Baseline {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Baseline, 0, len(s.m))
	for _, b := range s.m {
		s.autoLock(b, now)
		out = append(out, copyOf(b))
	}
	slices.SortFunc(out, func(a, b Baseline) int {
		return cmp.Or(strings.Compare(a.Digest, b.Digest), strings.Compare(a.Container, b.Container))
	})
	return out
}

// Stats returns the Set's counters.
func (s *Set) Stats() Stats {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Baselines: len(s.m), Untracked: s.untracked, Invalid: s.invalid}
	for _, b := range s.m {
		s.autoLock(b, now)
		if b.Locked() {
			st.Locked++
		} else {
			st.Learning++
		}
	}
	return st
}

func copyOf(b *Baseline) Baseline {
	c := *b
	c.Executables = slices.Clone(b.Executables)
	if c.Executables == nil {
		c.Executables = []string{}
	}
	return c
}

// Snapshot returns every baseline for persistence (as All does); the
// result encodes to JSON and Restore reads it back.
func (s *Set) Snapshot() []Baseline { return s.All() }

// Restore replaces the Set's baselines with bs, typically a Snapshot read
// back at start. Nothing changes if bs is invalid or exceeds the Set's
// bounds; the error says which baseline and what to do.
func (s *Set) Restore(bs []Baseline) error {
	if len(bs) > s.opts.MaxBaselines {
		return fmt.Errorf("restoring %d baselines: more than the limit of %d; raise MaxBaselines", len(bs), s.opts.MaxBaselines)
	}
	m := make(map[Key]*Baseline, len(bs))
	for i, b := range bs {
		if b.Digest == "" {
			return fmt.Errorf("restoring baseline %d (container %q): no image digest", i+1, b.Container)
		}
		if m[b.Key] != nil {
			return fmt.Errorf("restoring baseline %d: %s appears twice", i+1, b.name())
		}
		if len(b.Executables) > s.opts.MaxExecutables {
			return fmt.Errorf("restoring baseline %s: %d executables, more than the limit of %d; raise MaxExecutables", b.name(), len(b.Executables), s.opts.MaxExecutables)
		}
		if b.Locked() != (b.LockedBy != "") {
			return fmt.Errorf("restoring baseline %s: lockedAt and lockedBy must be set together", b.name())
		}
		exes := slices.Clone(b.Executables)
		for _, e := range exes {
			if e == "" || len(e) > MaxPathLen {
				return fmt.Errorf("restoring baseline %s: an empty or overlong executable path", b.name())
			}
		}
		slices.Sort(exes)
		b.Executables = slices.Compact(exes)
		if b.LearningSince.IsZero() {
			b.LearningSince = b.FirstSeen
		}
		m[b.Key] = &b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = m
	return nil
}
