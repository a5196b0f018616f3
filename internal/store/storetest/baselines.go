package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/store"
)

// baselinesOf returns s as a store.Baselines, failing the test when it is
// not one: both stores must keep the agent's process baselines.
func baselinesOf(t *testing.T, s store.Store) store.Baselines {
	t.Helper()
	bl, ok := s.(store.Baselines)
	if !ok {
		t.Fatalf("%T does not implement store.Baselines", s)
	}
	return bl
}

var baselineTime = time.Date(2026, 11, 5, 10, 30, 0, 123456789, time.UTC)

// Baseline returns a valid baseline of digest and container whose
// executables, times and lock derive from n: learning when n is even,
// locked when it is odd (by a user when n%4 is 3).
func Baseline(digest, container string, n int) baseline.Baseline {
	b := baseline.Baseline{
		Key:           baseline.Key{Digest: digest, Container: container},
		FirstSeen:     baselineTime.Add(time.Duration(n) * time.Second),
		LearningSince: baselineTime.Add(time.Duration(n)*time.Second + time.Duration(n%3)*time.Hour),
		Overflow:      uint64(n % 3),
	}
	for i := range n%5 + 1 {
		b.Executables = append(b.Executables, fmt.Sprintf("/usr/bin/app-%d-%d", n, i))
	}
	slices.Sort(b.Executables)
	switch n % 4 {
	case 1:
		b.LockedAt, b.LockedBy = b.LearningSince.Add(baseline.DefaultWindow), baseline.AutoLock
	case 3:
		b.LockedAt, b.LockedBy = b.LearningSince.Add(time.Hour), "alice"
	}
	return b
}

// baselineKeys returns n sorted keys named after prefix, two containers per
// digest.
func baselineKeys(prefix string, n int) []baseline.Key {
	out := make([]baseline.Key, n)
	for i := range out {
		out[i] = baseline.Key{Digest: fmt.Sprintf("sha256:%s-%05d", prefix, i/2), Container: fmt.Sprintf("c%d", i%2)}
	}
	return out
}

func keysOf(bs []baseline.Baseline) []baseline.Key {
	out := make([]baseline.Key, len(bs))
	for i, b := range bs {
		out[i] = b.Key
	}
	return out
}

func sortedBaselines(bs []baseline.Baseline) []baseline.Baseline {
	out := slices.Clone(bs)
	slices.SortFunc(out, func(a, b baseline.Baseline) int {
		return cmp.Or(strings.Compare(a.Digest, b.Digest), strings.Compare(a.Container, b.Container))
	})
	return out
}

func mustPutBaselines(t *testing.T, bl store.Baselines, bs []baseline.Baseline) {
	t.Helper()
	if err := bl.PutBaselines(t.Context(), bs); err != nil {
		t.Fatalf("PutBaselines(%d baselines): %v", len(bs), err)
	}
}

func mustDeleteBaselines(t *testing.T, bl store.Baselines, keys []baseline.Key) {
	t.Helper()
	if err := bl.DeleteBaselines(t.Context(), keys); err != nil {
		t.Fatalf("DeleteBaselines(%d keys): %v", len(keys), err)
	}
}

func mustAllBaselines(t *testing.T, bl store.Baselines) []baseline.Baseline {
	t.Helper()
	got, err := bl.AllBaselines(t.Context())
	if err != nil {
		t.Fatalf("AllBaselines: %v", err)
	}
	if got == nil {
		t.Fatal("AllBaselines returned nil, want an empty slice when nothing is stored")
	}
	return got
}

// checkBaselines checks that the store holds exactly want, in key order,
// times in UTC.
func checkBaselines(t *testing.T, bl store.Baselines, want []baseline.Baseline) {
	t.Helper()
	got := mustAllBaselines(t, bl)
	if diff := gocmp.Diff(sortedBaselines(want), got, diffOpts...); diff != "" {
		t.Errorf("AllBaselines mismatch (-want +got):\n%s", diff)
	}
	for _, b := range got {
		for _, at := range []time.Time{b.FirstSeen, b.LearningSince, b.LockedAt} {
			if !at.IsZero() && at.Location() != time.UTC {
				t.Errorf("baseline %s/%s: time %v is not in UTC", b.Digest, b.Container, at)
			}
		}
	}
}

// testBaselinesRoundTrip stores baselines with odd strings, sizes at the
// limits and times out of UTC, and reads them back.
func testBaselinesRoundTrip(t *testing.T, s store.Store) {
	bl := baselinesOf(t, s)
	checkBaselines(t, bl, nil)

	paris := time.FixedZone("CET", 3600)
	odd := baseline.Baseline{
		Key: baseline.Key{Digest: "sha256:" + strings.Repeat("0123456789abcdef", 4), Container: "quote \" back\\slash 🐛 '; DROP TABLE baselines; --"},
		Executables: []string{
			"/bin/new\nline", "/opt/<script>&amp;</script>", "/opt/ünïcode/emoji 🐛", "/opt/quote \" and 'single'", "/opt/tab\tand\\back",
			"/" + strings.Repeat("p", baseline.MaxPathLen-1),
		},
		FirstSeen:     time.Date(2026, 11, 5, 11, 30, 0, 987654321, paris),
		LearningSince: time.Date(2026, 11, 5, 11, 30, 1, 1, paris),
		LockedAt:      time.Date(2026, 11, 6, 11, 30, 1, 999999999, paris),
		LockedBy:      "o'brien 🐛",
		Overflow:      1<<64 - 1,
	}
	slices.Sort(odd.Executables)
	full := Baseline("sha256:full", "app", 3)
	full.Executables = nil
	for i := range baseline.DefaultMaxExecutables {
		full.Executables = append(full.Executables, fmt.Sprintf("/usr/lib/app/bin/tool-%04d", i))
	}
	learning := Baseline("sha256:learning", "app", 2)
	learning.Executables = nil
	long := Baseline(strings.Repeat("d", store.MaxBaselineKeyLen), strings.Repeat("c", store.MaxBaselineKeyLen), 5)
	bs := []baseline.Baseline{odd, full, learning, long, Baseline("sha256:plain", "web", 1)}
	mustPutBaselines(t, bl, bs)
	checkBaselines(t, bl, bs)

	// What the store gives back restores a Set.
	set := baseline.NewSet(baseline.Options{Now: func() time.Time { return baselineTime }})
	if err := set.Restore(mustAllBaselines(t, bl)); err != nil {
		t.Fatalf("Restore from the stored baselines: %v", err)
	}
	if got, ok := set.Get(odd.Key); !ok || got.LockedBy != odd.LockedBy || len(got.Executables) != len(odd.Executables) {
		t.Errorf("Get(%v) from the restored Set = %+v, %v", odd.Key, got, ok)
	}
}

// testBaselinesOrder checks that AllBaselines sorts by digest, then
// container, bytewise: not by the two joined, not by locale.
func testBaselinesOrder(t *testing.T, s store.Store) {
	bl := baselinesOf(t, s)
	want := []baseline.Key{
		{Digest: "sha256:B", Container: "z"},
		{Digest: "sha256:a", Container: "B"},
		{Digest: "sha256:a", Container: "a"},
		{Digest: "sha256:a", Container: "b/c"},
		{Digest: "sha256:a", Container: "é"},
		{Digest: "sha256:a/b", Container: "a"},
		{Digest: "sha256:a0", Container: "a"},
		{Digest: "sha256:é", Container: "A"},
	}
	var bs []baseline.Baseline
	for i, j := range []int{5, 2, 7, 0, 3, 6, 1, 4} {
		bs = append(bs, Baseline(want[j].Digest, want[j].Container, i))
	}
	mustPutBaselines(t, bl, bs)
	if diff := gocmp.Diff(want, keysOf(mustAllBaselines(t, bl))); diff != "" {
		t.Errorf("AllBaselines order mismatch (-want +got):\n%s", diff)
	}
}

// testPutBaselines stores batches of new, replacing, repeated and refused
// baselines over three stored ones.
func testPutBaselines(t *testing.T, s store.Store) {
	bl := baselinesOf(t, s)
	web1, side1, b1 := Baseline("sha256:a", "web", 1), Baseline("sha256:a", "sidecar", 2), Baseline("sha256:b", "web", 3)
	web2, web3, c1 := Baseline("sha256:a", "web", 4), Baseline("sha256:a", "web", 5), Baseline("sha256:c", "web", 6)
	// web1 locked, then unlocked and learning again with one more
	// executable.
	unlocked := web1
	unlocked.LockedAt, unlocked.LockedBy, unlocked.LearningSince = time.Time{}, "", baselineTime.Add(48*time.Hour)
	unlocked.Executables = append(slices.Clone(web1.Executables), "/usr/bin/zz")
	stored := []baseline.Baseline{web1, side1, b1}

	bad := func(f func(b *baseline.Baseline)) baseline.Baseline {
		b := Baseline("sha256:bad", "web", 7)
		f(&b)
		return b
	}
	paths := func(n int, path string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", path, i)
		}
		return out
	}
	tests := []struct {
		name    string
		put     []baseline.Baseline
		want    []baseline.Baseline // the baselines stored afterwards
		wantErr string              // what the error must say; "" for none
	}{
		{"new and replaced", []baseline.Baseline{c1, web2}, []baseline.Baseline{web2, side1, b1, c1}, ""},
		{"unlocked", []baseline.Baseline{unlocked}, []baseline.Baseline{unlocked, side1, b1}, ""},
		{"repeated key, last wins", []baseline.Baseline{web2, c1, web3, b1, web1, c1, web3}, []baseline.Baseline{web3, side1, b1, c1}, ""},
		{"repeated key only", []baseline.Baseline{web3, web2}, []baseline.Baseline{web2, side1, b1}, ""},
		{"the same again", stored, stored, ""},
		{"empty digest", []baseline.Baseline{web2, bad(func(b *baseline.Baseline) { b.Digest = "" })}, stored, "baseline 1 (digest \"\", container \"web\"): empty image digest"},
		{"empty container", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.Container = "" }), c1}, stored, "baseline 0 (digest \"sha256:bad\", container \"\"): empty container name"},
		{"overlong digest", []baseline.Baseline{web2, bad(func(b *baseline.Baseline) { b.Digest = strings.Repeat("d", store.MaxBaselineKeyLen+1) })}, stored, "image digest of 1025 bytes"},
		{"overlong container", []baseline.Baseline{web2, bad(func(b *baseline.Baseline) { b.Container = strings.Repeat("c", store.MaxBaselineKeyLen+1) })}, stored, "container name of 1025 bytes"},
		{"NUL in the digest", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.Digest = "sha256:\x00" })}, stored, "image digest holds a NUL byte"},
		{"container not UTF-8", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.Container = "web\xff" })}, stored, "container name is not valid UTF-8"},
		{"too many executables", []baseline.Baseline{web2, bad(func(b *baseline.Baseline) { b.Executables = paths(baseline.DefaultMaxExecutables+1, "/bin/x") })}, stored, "1001 executables, more than the limit of 1000"},
		{"empty executable", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.Executables = []string{"/bin/a", ""} })}, stored, "executable 1 is empty"},
		{"overlong executable", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.Executables = []string{"/" + strings.Repeat("p", baseline.MaxPathLen)} })}, stored, "executable 0 is 4097 bytes"},
		{"executable not UTF-8", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.Executables = []string{"/bin/\xff"} })}, stored, "executable 0, \"/bin/\\xff\", is not valid UTF-8"},
		{"locked without a locker", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.LockedAt, b.LockedBy = baselineTime, "" })}, stored, "lockedAt and lockedBy must be set together"},
		{"a locker without a lock", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.LockedAt, b.LockedBy = time.Time{}, "bob" })}, stored, "lockedAt and lockedBy must be set together"},
		// Paths of characters JSON escapes six bytes each.
		{"JSON over the limit", []baseline.Baseline{web2, bad(func(b *baseline.Baseline) {
			b.Executables = paths(baseline.DefaultMaxExecutables, "/"+strings.Repeat("\x01", 2000))
		})}, stored, "over the limit of 8 MiB"},
		// Every baseline is checked, even one a later baseline of its key
		// would replace.
		{"refused baseline of a repeated key", []baseline.Baseline{bad(func(b *baseline.Baseline) { b.Executables = []string{""} }), Baseline("sha256:bad", "web", 8)}, stored, "baseline 0"},
		{"empty list", []baseline.Baseline{}, stored, ""},
		{"nil list", nil, stored, ""},
	}
	all := []baseline.Key{web1.Key, side1.Key, b1.Key, c1.Key, {Digest: "sha256:bad", Container: "web"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Reset the store to stored.
			mustDeleteBaselines(t, bl, all)
			mustPutBaselines(t, bl, stored)

			arg := slices.Clone(tc.put)
			err := bl.PutBaselines(t.Context(), arg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("PutBaselines(%v): %v", keysOf(tc.put), err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("PutBaselines(%v) = nil, want an error saying %q", keysOf(tc.put), tc.wantErr)
			case tc.wantErr != "" && (!strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "nothing was stored")):
				t.Errorf("PutBaselines(%v) error = %q, want it to say %q and that nothing was stored", keysOf(tc.put), err, tc.wantErr)
			}
			if diff := gocmp.Diff(tc.put, arg); diff != "" {
				t.Errorf("PutBaselines changed its argument (-want +got):\n%s", diff)
			}
			checkBaselines(t, bl, tc.want)
		})
	}
}

// testDeleteBaselines deletes some keys of several and checks that the
// others keep their baselines.
func testDeleteBaselines(t *testing.T, s store.Store) {
	bl := baselinesOf(t, s)
	aWeb, aSide, b, c := Baseline("sha256:a", "web", 1), Baseline("sha256:a", "sidecar", 2), Baseline("sha256:b", "web", 3), Baseline("sha256:c", "db", 4)
	all := []baseline.Baseline{aWeb, aSide, b, c}
	key := func(digest, container string) baseline.Key { return baseline.Key{Digest: digest, Container: container} }

	tests := []struct {
		name   string
		delete []baseline.Key
		want   []baseline.Baseline // the baselines left
	}{
		{"some of several", []baseline.Key{c.Key, aSide.Key}, []baseline.Baseline{aWeb, b}},
		{"one container of a digest", []baseline.Key{aWeb.Key}, []baseline.Baseline{aSide, b, c}},
		{"repeated and missing keys", []baseline.Key{b.Key, key("sha256:a", "db"), b.Key, key("sha256:B", "web"), key("sha256:b", "web ")}, []baseline.Baseline{aWeb, aSide, c}},
		{"missing keys only", []baseline.Key{key("sha256:a", "Web"), key("sha256:d", "web"), key("sha256:aweb", ""), key("sha256:a/web", "")}, all},
		// Keys no baseline can have are missing keys too, in both stores.
		{"keys that cannot be stored", []baseline.Key{{}, key("", "web"), key("sha256:a", "web\x00"), key("sha256:a\xff", "web"),
			key(strings.Repeat("d", store.MaxBaselineKeyLen+1), "web")}, all},
		{"empty list", []baseline.Key{}, all},
		{"nil list", nil, all},
		{"every key", keysOf(all), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Reset the store to all, with DeleteBaselines itself.
			mustDeleteBaselines(t, bl, keysOf(all))
			checkBaselines(t, bl, nil)
			mustPutBaselines(t, bl, all)

			arg := slices.Clone(tc.delete)
			if err := bl.DeleteBaselines(t.Context(), arg); err != nil {
				t.Fatalf("DeleteBaselines(%q): %v", tc.delete, err)
			}
			if !slices.Equal(arg, tc.delete) {
				t.Errorf("DeleteBaselines changed its argument to %q", arg)
			}
			checkBaselines(t, bl, tc.want)
		})
	}
}

// testBaselinesLarge stores 5,000 baselines at once, more than one batch
// of any store, some replacing stored ones, in no particular order, then
// deletes them at once.
func testBaselinesLarge(t *testing.T, s store.Store) {
	bl := baselinesOf(t, s)
	const n, every = 5000, 100
	keys := baselineKeys("big", n)
	var batch, others []baseline.Baseline
	var old []baseline.Baseline
	for i, k := range keys {
		if i%every == 0 {
			old = append(old, Baseline(k.Digest, k.Container, -i))
		}
		if i%every == every/2 {
			// Not in the batch: must keep its baseline.
			others = append(others, Baseline(k.Digest, k.Container+"-other", i))
		}
		batch = append(batch, Baseline(k.Digest, k.Container, i))
	}
	mustPutBaselines(t, bl, old)
	mustPutBaselines(t, bl, others)
	// Interleave the halves: the stores must not rely on sorted input.
	mixed := make([]baseline.Baseline, 0, n)
	for i := range n / 2 {
		mixed = append(mixed, batch[n/2+i], batch[n/2-1-i])
	}
	mustPutBaselines(t, bl, mixed)
	checkBaselines(t, bl, append(slices.Clone(batch), others...))

	// Again, replacing every one.
	for i := range batch {
		batch[i].Executables = append(batch[i].Executables, "/usr/bin/zz-again")
	}
	mustPutBaselines(t, bl, batch)
	checkBaselines(t, bl, append(slices.Clone(batch), others...))

	// Every key, in reverse order, with keys of the others' digests.
	del := keysOf(batch)
	slices.Reverse(del)
	mustDeleteBaselines(t, bl, del)
	checkBaselines(t, bl, others)
}

// testBaselinesCanceled checks that a cancelled PutBaselines or
// DeleteBaselines changes nothing, and that a PutBaselines cancelled while
// it runs stores all or nothing.
func testBaselinesCanceled(t *testing.T, s store.Store) {
	bl := baselinesOf(t, s)
	kept := Baseline("sha256:kept", "web", 0)
	mustPutBaselines(t, bl, []baseline.Baseline{kept})
	put := []baseline.Baseline{Baseline("sha256:kept", "web", 1), Baseline("sha256:new", "web", 2)}

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"canceled", canceled, context.Canceled}, {"deadline", expired, context.DeadlineExceeded}} {
		if err := bl.PutBaselines(c.ctx, put); !errors.Is(err, c.want) {
			t.Errorf("PutBaselines(%s) error = %v, want %v", c.name, err, c.want)
		}
		if err := bl.DeleteBaselines(c.ctx, []baseline.Key{kept.Key}); !errors.Is(err, c.want) {
			t.Errorf("DeleteBaselines(%s) error = %v, want %v", c.name, err, c.want)
		}
	}
	checkBaselines(t, bl, []baseline.Baseline{kept})

	// Cancelled while it runs: each call must either succeed whole or fail
	// with the context's error, atomically. A cancellation that races the
	// commit can leave the commit done and its acknowledgement lost, so
	// after an error the sampled keys hold all their previous baselines
	// (or none, for new keys) or all of the batch's; never a mix. The long
	// batch of baselines with 20 executables each makes the transaction
	// last; sampled keys sit in every chunk of every store.
	const n, every = 20000, 500
	batchOf := func(prefix string) (keys []baseline.Key, batch, old []baseline.Baseline, sampled map[baseline.Key]bool) {
		keys = baselineKeys(prefix, n)
		sampled = map[baseline.Key]bool{}
		for j, k := range keys {
			b := Baseline(k.Digest, k.Container, j)
			b.Executables = nil
			for e := range 20 {
				b.Executables = append(b.Executables, fmt.Sprintf("/usr/lib/app-%d/bin/tool-%02d", j, e))
			}
			batch = append(batch, b)
			switch j % every {
			case 0:
				prev := Baseline(k.Digest, k.Container, j)
				prev.LockedAt, prev.LockedBy = baselineTime, "previous"
				old = append(old, prev)
				sampled[k] = true
			case every / 2:
				sampled[k] = true // new: no previous baseline
			}
		}
		return keys, batch, old, sampled
	}
	// Encoding the batch takes a while before anything is written, so
	// fixed delays could all fall before the writes: time one call, and
	// cancel at fractions of it too.
	keys, batch, _, _ := batchOf("timing")
	start := time.Now()
	mustPutBaselines(t, bl, batch)
	took := time.Since(start)
	mustDeleteBaselines(t, bl, keys)
	delays := []time.Duration{0, time.Millisecond, took / 4, took / 2, took * 3 / 4, took * 7 / 8, 2*took + time.Second}
	for i, delay := range delays {
		keys, batch, old, sampled := batchOf(fmt.Sprintf("cancel-%d", i))
		mustPutBaselines(t, bl, old)

		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := bl.PutBaselines(ctx, batch)
		timer.Stop()
		cancel()

		// Count the sampled keys that hold the batch's baseline, and
		// those that still hold their previous one.
		stored, previous := 0, 0
		for _, b := range mustAllBaselines(t, bl) {
			switch {
			case !sampled[b.Key]:
			case b.LockedBy == "previous":
				previous++
			default:
				stored++
			}
		}
		switch {
		case err == nil:
			if stored != len(sampled) {
				t.Errorf("after cancel at %v: PutBaselines succeeded but stored %d of %d sampled baselines", delay, stored, len(sampled))
			}
		case errors.Is(err, context.Canceled):
			if stored != 0 && stored != len(sampled) {
				t.Errorf("after cancel at %v: PutBaselines failed (%v) but stored %d of %d sampled baselines", delay, err, stored, len(sampled))
			}
			if stored == 0 && previous != len(old) {
				t.Errorf("after cancel at %v: PutBaselines failed (%v) and left %d of %d previous baselines", delay, err, previous, len(old))
			}
		default:
			t.Errorf("after cancel at %v: PutBaselines error = %v, want nil or context.Canceled", delay, err)
		}
		mustDeleteBaselines(t, bl, keys)
	}
	checkBaselines(t, bl, []baseline.Baseline{kept})
}
