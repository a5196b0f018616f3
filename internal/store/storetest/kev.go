package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/store"
)

// kevOf returns s as a store.KEV, failing the test when it is not one:
// both stores must keep the KEV catalog.
func kevOf(t *testing.T, s store.Store) store.KEV {
	t.Helper()
	k, ok := s.(store.KEV)
	if !ok {
		t.Fatalf("%T does not implement store.KEV", s)
	}
	return k
}

// KEVEntry returns a valid KEV entry for id whose fields and dates derive
// from n.
func KEVEntry(id string, n int) kev.Entry {
	added := kev.DateOf(time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n))
	ransomware := kev.RansomwareUnknown
	if n%3 == 0 {
		ransomware = kev.RansomwareKnown
	}
	return kev.Entry{
		CVEID:                      id,
		VendorProject:              fmt.Sprintf("Vendor %d", n%7),
		Product:                    fmt.Sprintf("Product %d", n),
		VulnerabilityName:          fmt.Sprintf("Product %d Remote Code Execution Vulnerability", n),
		DateAdded:                  added,
		ShortDescription:           fmt.Sprintf("Product %d contains flaw number %d.", n, n),
		RequiredAction:             "Apply mitigations per vendor instructions or discontinue use of the product if mitigations are unavailable.",
		DueDate:                    kev.DateOf(added.Time().AddDate(0, 0, 21)),
		KnownRansomwareCampaignUse: ransomware,
		Notes:                      fmt.Sprintf("https://nvd.nist.gov/vuln/detail/%s", id),
		CWEs:                       []string{fmt.Sprintf("CWE-%d", 20+n%50)},
	}
}

// KEVEntries returns n entries CVE-<year>-10000, CVE-<year>-10001...
func KEVEntries(year, n int) []kev.Entry {
	out := make([]kev.Entry, n)
	for i := range out {
		out[i] = KEVEntry(fmt.Sprintf("CVE-%d-%d", year, 10000+i), i)
	}
	return out
}

func kevSource(version string, n int, at time.Time) store.KEVSource {
	return store.KEVSource{
		Name: "cisa-kev", Location: "/data/kev-" + version + ".json", Version: version,
		Released: time.Date(2025, 8, 25, 17, 4, 19, 979600000, time.UTC), Entries: n, ImportedAt: at, Digest: "sha256:" + version,
	}
}

func sortedEntries(entries []kev.Entry) []kev.Entry {
	out := slices.Clone(entries)
	slices.SortFunc(out, func(a, b kev.Entry) int { return strings.Compare(a.CVEID, b.CVEID) })
	return out
}

func mustReplaceKEV(t *testing.T, k store.KEV, src store.KEVSource, entries []kev.Entry) {
	t.Helper()
	if err := k.ReplaceKEV(t.Context(), src, entries); err != nil {
		t.Fatalf("ReplaceKEV(%d entries): %v", len(entries), err)
	}
}

func checkKEV(t *testing.T, k store.KEV, wantSrc store.KEVSource, want []kev.Entry) {
	t.Helper()
	src, got, err := k.KEVEntries(t.Context())
	if err != nil {
		t.Fatalf("KEVEntries: %v", err)
	}
	if diff := gocmp.Diff(wantSrc, src); diff != "" {
		t.Errorf("KEVEntries source mismatch (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(sortedEntries(want), got, diffOpts...); diff != "" {
		t.Errorf("KEVEntries mismatch (-want +got):\n%s", diff)
	}
}

func checkNoKEV(t *testing.T, k store.KEV) {
	t.Helper()
	src, entries, err := k.KEVEntries(t.Context())
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("KEVEntries before any import = %+v, %d entries, %v; want ErrNotFound", src, len(entries), err)
	}
}

// testKEVRoundTrip stores a catalog with odd text and reads it back.
func testKEVRoundTrip(t *testing.T, s store.Store) {
	k := kevOf(t, s)
	checkNoKEV(t, k)

	odd := KEVEntry("CVE-2021-44228", 1)
	odd.Notes = "quote \" back\\slash, emoji 🐛, ünïcode, new\nline, tab\t, '; DROP TABLE kev_entries; --"
	odd.ShortDescription = strings.Repeat("d", kev.MaxTextLen)
	odd.CWEs = nil
	long := KEVEntry("CVE-2019-1003029", 2)
	long.CWEs = []string{"CWE-20", "CWE-400", "CWE-502"}
	entries := []kev.Entry{odd, long, KEVEntry("CVE-2024-3400", 3)}
	src := kevSource("2025.08.25", 3, importTime)
	mustReplaceKEV(t, k, src, entries)
	checkKEV(t, k, src, entries)

	// Entries is what was stored; a zero Released stays zero; a zero
	// ImportedAt means now.
	before := time.Now().Add(-time.Second)
	bare := store.KEVSource{Name: "cisa-kev", Version: "2025.08.26", Entries: 99}
	mustReplaceKEV(t, k, bare, entries[:1])
	got, stored, err := k.KEVEntries(t.Context())
	if err != nil {
		t.Fatalf("KEVEntries: %v", err)
	}
	if got.Entries != 1 || !got.Released.IsZero() || got.ImportedAt.Before(before) || got.ImportedAt.After(time.Now().Add(time.Second)) ||
		got.ImportedAt.Location() != time.UTC || len(stored) != 1 {
		t.Errorf("after an import without times: KEVEntries = %+v with %d entries; want 1 entry, no release time, imported now in UTC", got, len(stored))
	}

	// What the store gives back builds the catalog again.
	c, err := kev.New(got.Version, got.Released, stored)
	if err != nil {
		t.Fatalf("kev.New from the stored catalog: %v", err)
	}
	if e, ok := c.Lookup("cve-2021-44228"); !ok || e.Notes != odd.Notes {
		t.Errorf("Lookup in the stored catalog = %+v, %v", e, ok)
	}
}

// testKEVReplace checks that an import replaces the whole catalog, and
// that an empty catalog is stored as one.
func testKEVReplace(t *testing.T, s store.Store) {
	k := kevOf(t, s)
	first := KEVEntries(2024, 5)
	mustReplaceKEV(t, k, kevSource("2025.08.24", 5, importTime), first)
	checkKEV(t, k, kevSource("2025.08.24", 5, importTime), first)

	// Again, with two entries kept (one changed), three gone, one new.
	changed := KEVEntry(first[1].CVEID, 100)
	second := []kev.Entry{KEVEntry("CVE-2025-0001", 7), first[0], changed}
	later := kevSource("2025.08.25", 3, importTime.Add(24*time.Hour))
	later.Location = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
	mustReplaceKEV(t, k, later, second)
	checkKEV(t, k, later, second)

	// The same catalog twice is the same.
	mustReplaceKEV(t, k, later, second)
	checkKEV(t, k, later, second)

	empty := kevSource("2025.08.26", 0, importTime.Add(48*time.Hour))
	mustReplaceKEV(t, k, empty, nil)
	checkKEV(t, k, empty, nil)
	if _, entries, err := k.KEVEntries(t.Context()); err != nil || entries == nil {
		t.Errorf("KEVEntries of an empty catalog = %v, %v; want an empty, non-nil slice", entries, err)
	}
}

// testKEVRefused checks that a catalog the store refuses, before or
// during its transaction, leaves the previous one whole.
func testKEVRefused(t *testing.T, s store.Store) {
	k := kevOf(t, s)
	prev := KEVEntries(2023, 3)
	prevSrc := kevSource("2025.08.24", 3, importTime)
	mustReplaceKEV(t, k, prevSrc, prev)

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	later := kevSource("2025.08.25", 0, importTime.Add(time.Hour))
	with := func(f func(e *kev.Entry)) []kev.Entry {
		e := KEVEntry("CVE-2025-0002", 2)
		f(&e)
		return []kev.Entry{KEVEntry("CVE-2025-0001", 1), e}
	}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		src     store.KEVSource
		entries []kev.Entry
		want    string
	}{
		{"DuplicateID", t.Context(), later, with(func(e *kev.Entry) { e.CVEID = "CVE-2025-0001" }), "cveID appears twice"},
		{"BadID", t.Context(), later, with(func(e *kev.Entry) { e.CVEID = "CVE-2025-1" }), "is not a CVE id"},
		{"ZeroDate", t.Context(), later, with(func(e *kev.Entry) { e.DueDate = kev.Date{} }), "dueDate is missing"},
		{"NUL", t.Context(), later, with(func(e *kev.Entry) { e.Notes = "nul\x00byte" }), "NUL"},
		{"BadRansomware", t.Context(), later, with(func(e *kev.Entry) { e.KnownRansomwareCampaignUse = "maybe" }), "knownRansomwareCampaignUse"},
		{"NoName", t.Context(), store.KEVSource{Version: "1"}, KEVEntries(2025, 1), "empty source name"},
		{"NoVersion", t.Context(), store.KEVSource{Name: "cisa-kev"}, KEVEntries(2025, 1), "catalogVersion is empty"},
		{"Canceled", canceled, later, KEVEntries(2025, 10), context.Canceled.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k.ReplaceKEV(tc.ctx, tc.src, tc.entries)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReplaceKEV error = %v, want one containing %q", err, tc.want)
			}
			checkKEV(t, k, prevSrc, prev)
		})
	}
}

// testKEVCanceled cancels imports of 3,000 entries (more than one batch of
// any store) at various points: all or nothing.
func testKEVCanceled(t *testing.T, s store.Store) {
	k := kevOf(t, s)
	const n = 3000
	for i, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, time.Second} {
		oldSrc := kevSource(fmt.Sprintf("old-%d", i), 2, importTime)
		old := KEVEntries(2020, 2)
		mustReplaceKEV(t, k, oldSrc, old)
		newSrc := kevSource(fmt.Sprintf("new-%d", i), n, importTime.Add(time.Hour))
		entries := KEVEntries(2021, n)
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := k.ReplaceKEV(ctx, newSrc, entries)
		timer.Stop()
		cancel()
		src, got, lerr := k.KEVEntries(t.Context())
		if lerr != nil {
			t.Fatalf("KEVEntries: %v", lerr)
		}
		isOld := gocmp.Diff(oldSrc, src) == "" && gocmp.Diff(old, got, diffOpts...) == ""
		isNew := gocmp.Diff(newSrc, src) == "" && gocmp.Diff(entries, got, diffOpts...) == ""
		switch {
		case err == nil:
			if !isNew {
				t.Errorf("after cancel at %v: import succeeded but the stored catalog is version %q with %d entries, want the new one whole", delay, src.Version, len(got))
			}
		case errors.Is(err, context.Canceled):
			// As for advisories: a cancellation racing the commit may lose
			// only the acknowledgement, so the new catalog whole is also
			// fine; a mix is not.
			if !isOld && !isNew {
				t.Errorf("after cancel at %v: import failed (%v) and left version %q with %d entries, neither the previous catalog nor the new one", delay, err, src.Version, len(got))
			}
		default:
			t.Errorf("after cancel at %v: ReplaceKEV error = %v, want nil or context.Canceled", delay, err)
		}
	}
}

// testKEVConsistentReads reads while imports alternate between two
// catalogs: every read must see one of them whole, its description and
// its entries together.
func testKEVConsistentReads(t *testing.T, s store.Store) {
	k := kevOf(t, s)
	a, b := KEVEntries(2022, 300), KEVEntries(2023, 700)
	srcA, srcB := kevSource("A", len(a), importTime), kevSource("B", len(b), importTime)
	mustReplaceKEV(t, k, srcA, a)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			src, entries := srcA, a
			if i%2 == 0 {
				src, entries = srcB, b
			}
			if err := k.ReplaceKEV(ctx, src, entries); err != nil && ctx.Err() == nil {
				t.Errorf("ReplaceKEV: %v", err)
				return
			}
		}
	})
	deadline := time.Now().Add(500 * time.Millisecond)
	for reads := 0; reads < 200 && (reads < 20 || time.Now().Before(deadline)); reads++ {
		src, entries, err := k.KEVEntries(t.Context())
		if err != nil {
			t.Fatalf("KEVEntries: %v", err)
		}
		want, prefix := len(a), "CVE-2022-"
		if src.Version == "B" {
			want, prefix = len(b), "CVE-2023-"
		}
		if len(entries) != want || src.Entries != want || !strings.HasPrefix(entries[0].CVEID, prefix) || !strings.HasPrefix(entries[len(entries)-1].CVEID, prefix) {
			t.Fatalf("read %d: version %q (%d entries recorded) with %d entries from %s to %s: a mix of two imports",
				reads, src.Version, src.Entries, len(entries), entries[0].CVEID, entries[len(entries)-1].CVEID)
		}
	}
	cancel()
	wg.Wait()
}
