package baseline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for one goroutine.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newSet(c *clock, o Options) *Set {
	o.Now = c.Now
	return NewSet(o)
}

var web = Key{Digest: "sha256:aaa", Container: "web"}

// step is one call and its expected result.
type step struct {
	at   time.Duration // observation time, after t0
	exe  string
	want Status
}

func run(t *testing.T, s *Set, k Key, steps []step) {
	t.Helper()
	for i, st := range steps {
		if got := s.Observe(k, st.exe, t0.Add(st.at)); got != st.want {
			t.Errorf("step %d: Observe(%s at +%v) = %s, want %s", i, st.exe, st.at, got, st.want)
		}
	}
}

func TestLearnThenAutoLock(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{})
	run(t, s, web, []step{
		{0, "/usr/sbin/nginx", Learning},
		{time.Hour, "/bin/sh", Learning},
		{time.Hour, "/usr/sbin/nginx", Learning},
		{24*time.Hour - time.Nanosecond, "/usr/bin/env", Learning}, // last instant of the window
		{24 * time.Hour, "/usr/sbin/nginx", InBaseline},            // window's end: locks
		{25 * time.Hour, "/usr/bin/curl", Anomaly},
		{23 * time.Hour, "/usr/bin/late", Learning}, // reported late, ran while learning
		{26 * time.Hour, "/usr/bin/late", InBaseline},
		{26 * time.Hour, "/usr/bin/curl", Anomaly}, // anomalies are not learned
	})
	got, ok := s.Get(web)
	if !ok {
		t.Fatal("no baseline")
	}
	want := Baseline{
		Key:         web,
		Executables: []string{"/bin/sh", "/usr/bin/env", "/usr/bin/late", "/usr/sbin/nginx"},
		FirstSeen:   t0, LearningSince: t0,
		LockedAt: t0.Add(24 * time.Hour), LockedBy: AutoLock,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("baseline (-want +got):\n%s", diff)
	}
}

func TestWindowOption(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{Window: time.Hour})
	run(t, s, web, []step{
		{0, "/a", Learning},
		{59 * time.Minute, "/b", Learning},
		{time.Hour, "/c", Anomaly},
	})
}

func TestClockLocksWithoutObservations(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{})
	s.Observe(web, "/a", t0)
	c.now = t0.Add(24*time.Hour - time.Second)
	if b, _ := s.Get(web); b.Locked() {
		t.Fatalf("locked before the window's end: %+v", b)
	}
	c.now = t0.Add(48 * time.Hour)
	b, _ := s.Get(web)
	if !b.LockedAt.Equal(t0.Add(24*time.Hour)) || b.LockedBy != AutoLock {
		t.Errorf("locked at %v by %q, want the window's end by auto", b.LockedAt, b.LockedBy)
	}
	if st := s.Stats(); st.Locked != 1 || st.Learning != 0 {
		t.Errorf("stats %+v", st)
	}
	// A report delivered late, stamped inside the window, is still learned;
	// one stamped after it is an anomaly although the baseline was not
	// locked by an observation.
	s2 := newSet(c, Options{})
	c.now = t0
	s2.Observe(web, "/a", t0)
	c.now = t0.Add(30 * time.Hour)
	run(t, s2, web, []step{{2 * time.Hour, "/b", Learning}, {25 * time.Hour, "/x", Anomaly}})
}

func TestUserLockAndUnlock(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{})
	s.Observe(web, "/a", t0)
	c.now = t0.Add(time.Hour)
	if err := s.Lock(web, "alice"); err != nil {
		t.Fatal(err)
	}
	run(t, s, web, []step{
		{2 * time.Hour, "/a", InBaseline},
		{2 * time.Hour, "/b", Anomaly},
		{30 * time.Minute, "/early", Learning}, // ran before alice locked
	})
	c.now = t0.Add(90 * time.Minute)
	if err := s.Lock(web, "bob"); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Get(web)
	if b.LockedBy != "alice" || !b.LockedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("second lock changed the first: %+v", b)
	}
	for _, by := range []string{"", AutoLock} {
		if err := s.Lock(web, by); err == nil {
			t.Errorf("Lock by %q accepted", by)
		}
	}
	if err := s.Lock(Key{Digest: "sha256:none"}, "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lock of an unknown key: %v", err)
	}
	if err := s.Unlock(Key{Digest: "sha256:none"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unlock of an unknown key: %v", err)
	}

	// Unlocking learns again for a full window from the unlock.
	c.now = t0.Add(3 * time.Hour)
	if err := s.Unlock(web); err != nil {
		t.Fatal(err)
	}
	run(t, s, web, []step{
		{4 * time.Hour, "/b", Learning},
		{27*time.Hour - time.Nanosecond, "/c", Learning},
		{27 * time.Hour, "/d", Anomaly},
	})
	b, _ = s.Get(web)
	want := Baseline{
		Key: web, Executables: []string{"/a", "/b", "/c", "/early"},
		FirstSeen: t0, LearningSince: t0.Add(3 * time.Hour),
		LockedAt: t0.Add(27 * time.Hour), LockedBy: AutoLock,
	}
	if diff := cmp.Diff(want, b); diff != "" {
		t.Errorf("baseline (-want +got):\n%s", diff)
	}

	// A user lock after the window has ended keeps the automatic one.
	s3 := newSet(c, Options{})
	c.now = t0
	s3.Observe(web, "/a", t0)
	c.now = t0.Add(25 * time.Hour)
	if err := s3.Lock(web, "alice"); err != nil {
		t.Fatal(err)
	}
	if b, _ := s3.Get(web); b.LockedBy != AutoLock {
		t.Errorf("lock after the window: by %q, want auto", b.LockedBy)
	}
}

func TestKeysAreSeparate(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{})
	sidecar := Key{Digest: web.Digest, Container: "sidecar"}
	other := Key{Digest: "sha256:bbb", Container: "web"}
	s.Observe(web, "/a", t0)
	s.Observe(sidecar, "/b", t0.Add(time.Hour))
	s.Observe(other, "/c", t0.Add(2*time.Hour))
	run(t, s, web, []step{{24 * time.Hour, "/b", Anomaly}})
	run(t, s, sidecar, []step{{24 * time.Hour, "/b", Learning}}) // its window began an hour later
	var keys []Key
	for _, b := range s.All() {
		keys = append(keys, b.Key)
	}
	if diff := cmp.Diff([]Key{sidecar, web, other}, keys); diff != "" {
		t.Errorf("All order (-want +got):\n%s", diff)
	}
}

func TestFirstSeenMovesBack(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{})
	s.Observe(web, "/a", t0.Add(time.Hour))
	s.Observe(web, "/b", t0)
	b, _ := s.Get(web)
	if !b.FirstSeen.Equal(t0) || !b.LearningSince.Equal(t0.Add(time.Hour)) {
		t.Errorf("firstSeen %v learningSince %v", b.FirstSeen, b.LearningSince)
	}
}

func TestOverflow(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{MaxExecutables: 2})
	run(t, s, web, []step{
		{0, "/a", Learning},
		{0, "/b", Learning},
		{0, "/c", Anomaly}, // full
		{0, "/c", Anomaly},
		{0, "/a", Learning},
		{24 * time.Hour, "/a", InBaseline},
		{24 * time.Hour, "/c", Anomaly}, // an ordinary anomaly now
	})
	b, _ := s.Get(web)
	if diff := cmp.Diff([]string{"/a", "/b"}, b.Executables); diff != "" {
		t.Errorf("executables (-want +got):\n%s", diff)
	}
	if b.Overflow != 2 {
		t.Errorf("overflow %d, want 2", b.Overflow)
	}
}

func TestBounds(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{MaxBaselines: 2})
	k := func(i int) Key { return Key{Digest: fmt.Sprintf("sha256:%d", i), Container: "c"} }
	s.Observe(k(1), "/a", t0)
	s.Observe(k(2), "/a", t0)
	if got := s.Observe(k(3), "/a", t0); got != Learning {
		t.Errorf("untracked key: %s, want learning", got)
	}
	if _, ok := s.Get(k(3)); ok {
		t.Error("a third baseline was created")
	}
	if got := s.Observe(Key{Container: "c"}, "/a", t0); got != Learning {
		t.Errorf("key without digest: %s", got)
	}
	for _, exe := range []string{"", "/" + strings.Repeat("x", MaxPathLen)} {
		if got := s.Observe(k(1), exe, t0); got != Anomaly {
			t.Errorf("path of %d bytes: %s, want anomaly", len(exe), got)
		}
	}
	want := Stats{Baselines: 2, Learning: 2, Untracked: 2, Invalid: 2}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if b, _ := s.Get(k(1)); len(b.Executables) != 1 {
		t.Errorf("invalid paths were learned: %q", b.Executables)
	}
	if !s.Delete(k(1)) || s.Delete(k(1)) {
		t.Error("Delete reports wrongly")
	}
	s.Observe(k(3), "/a", t0)
	if _, ok := s.Get(k(3)); !ok {
		t.Error("no room after Delete")
	}
}

func TestDefaults(t *testing.T) {
	o := NewSet(Options{}).Options()
	if o.Window != 24*time.Hour || o.MaxExecutables != 1000 || o.MaxBaselines != 100_000 || o.Now == nil {
		t.Errorf("defaults %+v", o)
	}
}

func TestSnapshotRestore(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{MaxExecutables: 3})
	s.Observe(web, "/b", t0)
	s.Observe(web, "/a", t0)
	s.Observe(web, "/c", t0)
	s.Observe(web, "/d", t0) // overflow
	other := Key{Digest: "sha256:bbb", Container: "job"}
	s.Observe(other, "/x", t0.Add(time.Hour))
	c.now = t0.Add(2 * time.Hour)
	if err := s.Lock(other, "alice"); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var bs []Baseline
	if err := json.Unmarshal(data, &bs); err != nil {
		t.Fatal(err)
	}
	r := newSet(c, Options{MaxExecutables: 3})
	if err := r.Restore(bs); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s.All(), r.All()); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	run(t, r, other, []step{{3 * time.Hour, "/x", InBaseline}, {3 * time.Hour, "/y", Anomaly}})
	run(t, r, web, []step{{time.Hour, "/a", Learning}, {24 * time.Hour, "/d", Anomaly}})
	if !strings.Contains(string(data), `"digest":"sha256:aaa","container":"web","executables":["/a","/b","/c"]`) {
		t.Errorf("JSON layout changed: %s", data)
	}

	// Restore normalises executables and fills learningSince.
	if err := r.Restore([]Baseline{{Key: web, Executables: []string{"/b", "/a", "/b"}, FirstSeen: t0}}); err != nil {
		t.Fatal(err)
	}
	b, _ := r.Get(web)
	if diff := cmp.Diff(Baseline{Key: web, Executables: []string{"/a", "/b"}, FirstSeen: t0, LearningSince: t0}, b); diff != "" {
		t.Errorf("normalised (-want +got):\n%s", diff)
	}
}

func TestRestoreErrors(t *testing.T) {
	c := &clock{t0}
	ok := Baseline{Key: web, Executables: []string{"/a"}, FirstSeen: t0}
	tests := []struct {
		name string
		bs   []Baseline
		want string
	}{
		{"too many baselines", []Baseline{ok, {Key: Key{Digest: "sha256:b"}}, {Key: Key{Digest: "sha256:c"}}}, "raise MaxBaselines"},
		{"duplicate key", []Baseline{ok, ok}, "appears twice"},
		{"no digest", []Baseline{{Key: Key{Container: "web"}}}, "no image digest"},
		{"too many executables", []Baseline{{Key: web, Executables: []string{"/a", "/b", "/c"}}}, "raise MaxExecutables"},
		{"lockedBy without lockedAt", []Baseline{{Key: web, LockedBy: "alice"}}, "set together"},
		{"lockedAt without lockedBy", []Baseline{{Key: web, LockedAt: t0}}, "set together"},
		{"empty path", []Baseline{{Key: web, Executables: []string{""}}}, "empty or overlong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSet(c, Options{MaxBaselines: 2, MaxExecutables: 2})
			s.Observe(Key{Digest: "sha256:keep"}, "/k", t0)
			err := s.Restore(tt.bs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Restore: %v, want an error containing %q", err, tt.want)
			}
			if all := s.All(); len(all) != 1 || all[0].Digest != "sha256:keep" {
				t.Errorf("a failed Restore changed the set: %+v", all)
			}
		})
	}
}

func TestGetReturnsCopies(t *testing.T) {
	c := &clock{t0}
	s := newSet(c, Options{})
	s.Observe(web, "/a", t0)
	b, _ := s.Get(web)
	b.Executables[0] = "/changed"
	all := s.All()
	all[0].Executables[0] = "/changed"
	if b, _ := s.Get(web); b.Executables[0] != "/a" {
		t.Errorf("Get and All share the set's slices: %q", b.Executables)
	}
}

func TestConcurrent(t *testing.T) {
	s := NewSet(Options{Now: func() time.Time { return t0 }, MaxExecutables: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := Key{Digest: fmt.Sprintf("sha256:%d", i%4), Container: "c"}
				s.Observe(k, fmt.Sprintf("/bin/%d", (g*200+i)%60), t0)
				if i%50 == 0 {
					s.All()
					s.Stats()
					_ = s.Lock(k, "alice")
					_ = s.Unlock(k)
				}
			}
		})
	}
	wg.Wait()
	for _, b := range s.All() {
		if len(b.Executables) > 50 {
			t.Errorf("%s: %d executables, more than the bound", b.name(), len(b.Executables))
		}
	}
	if st := s.Stats(); st.Baselines != 4 {
		t.Errorf("stats %+v", st)
	}
}

func BenchmarkObserveLocked(b *testing.B) {
	s := NewSet(Options{Now: func() time.Time { return t0 }})
	for i := range 100 {
		s.Observe(web, fmt.Sprintf("/usr/bin/tool%03d", i), t0)
	}
	at := t0.Add(25 * time.Hour)
	for b.Loop() {
		s.Observe(web, "/usr/bin/tool050", at)
	}
}
