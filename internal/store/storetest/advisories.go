package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/store"
)

// advisoriesOf returns s as a store.Advisories, failing the test when it
// is not one: both stores must provide the vulnerability database.
func advisoriesOf(t *testing.T, s store.Store) store.Advisories {
	t.Helper()
	a, ok := s.(store.Advisories)
	if !ok {
		t.Fatalf("%T does not implement store.Advisories", s)
	}
	return a
}

// Advisory returns an OSV-shaped advisory of source with id, modified at
// a time derived from n.
func Advisory(source, id string, n int) store.Advisory {
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n)*time.Minute + 123456*time.Microsecond)
	return store.Advisory{
		Source:   source,
		ID:       id,
		Modified: mod,
		Body:     fmt.Appendf(nil, `{"id":%q,"modified":%q,"summary":"record %d"}`, id, mod.Format(time.RFC3339Nano), n),
	}
}

// Advisories returns n advisories of source with ids id-00000, id-00001...
func Advisories(source, prefix string, n int) []store.Advisory {
	out := make([]store.Advisory, n)
	for i := range out {
		out[i] = Advisory(source, fmt.Sprintf("%s-%05d", prefix, i), i)
	}
	return out
}

// sortAdvisories orders as AllAdvisories must: by source then id, bytewise.
func sortAdvisories(recs []store.Advisory) {
	slices.SortFunc(recs, func(a, b store.Advisory) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.ID, b.ID))
	})
}

func mustReplaceAdvisories(t *testing.T, a store.Advisories, src store.AdvisorySource, recs []store.Advisory) {
	t.Helper()
	if err := a.ReplaceAdvisories(t.Context(), src, recs); err != nil {
		t.Fatalf("ReplaceAdvisories(%q, %d records): %v", src.Name, len(recs), err)
	}
}

func checkAdvisories(t *testing.T, a store.Advisories, want []store.Advisory) {
	t.Helper()
	got, err := a.AllAdvisories(t.Context())
	if err != nil {
		t.Fatalf("AllAdvisories: %v", err)
	}
	want = slices.Clone(want)
	sortAdvisories(want)
	if diff := gocmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("AllAdvisories mismatch (-want +got):\n%s", diff)
	}
}

func checkSources(t *testing.T, a store.Advisories, want []store.AdvisorySource) {
	t.Helper()
	got, err := a.AdvisorySources(t.Context())
	if err != nil {
		t.Fatalf("AdvisorySources: %v", err)
	}
	if diff := gocmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("AdvisorySources mismatch (-want +got):\n%s", diff)
	}
}

func source(name string, n int, at time.Time) store.AdvisorySource {
	return store.AdvisorySource{Name: name, Location: "/data/" + name + ".zip", Records: n, ImportedAt: at, Digest: "sha256:" + name}
}

var importTime = time.Date(2026, 11, 5, 10, 30, 0, 654321000, time.UTC)

func testAdvisoriesRoundTrip(t *testing.T, s store.Store) {
	a := advisoriesOf(t, s)
	checkAdvisories(t, a, nil)
	checkSources(t, a, nil)
	odd := Advisory("go-vulndb", "GO-2024-0001", 1)
	odd.Body = []byte(`{"id":"GO-2024-0001","details":"nul \u0000, quote \", emoji 🐛, ünïcode","affected":[{"package":{"name":"x"}}]}`)
	zero := Advisory("go-vulndb", "GO-2024-0002", 2)
	zero.Modified = time.Time{}
	recs := []store.Advisory{odd, zero, Advisory("go-vulndb", "GO-2024-0003", 3)}
	mustReplaceAdvisories(t, a, source("go-vulndb", 3, importTime), recs)
	checkAdvisories(t, a, recs)
	checkSources(t, a, []store.AdvisorySource{source("go-vulndb", 3, importTime)})

	// Records is what was stored; an empty Source in a record means the
	// import's.
	bare := Advisory("", "GO-2024-0009", 9)
	mustReplaceAdvisories(t, a, source("go-vulndb", 99, importTime), []store.Advisory{bare})
	bare.Source = "go-vulndb"
	checkAdvisories(t, a, []store.Advisory{bare})
	checkSources(t, a, []store.AdvisorySource{source("go-vulndb", 1, importTime)})

	// A zero ImportedAt means now.
	before := time.Now().Add(-time.Second)
	mustReplaceAdvisories(t, a, store.AdvisorySource{Name: "go-vulndb"}, nil)
	srcs, err := a.AdvisorySources(t.Context())
	if err != nil {
		t.Fatalf("AdvisorySources: %v", err)
	}
	if len(srcs) != 1 || srcs[0].Records != 0 || srcs[0].ImportedAt.Before(before) || srcs[0].ImportedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("after an empty import with no time: AdvisorySources = %+v, want go-vulndb with 0 records imported now", srcs)
	}
	checkAdvisories(t, a, nil)
}

// testAdvisoriesReplace checks that an import replaces its own source
// only.
func testAdvisoriesReplace(t *testing.T, s store.Store) {
	a := advisoriesOf(t, s)
	goRecs := Advisories("go", "GO", 3)
	debRecs := Advisories("debian-12", "DSA", 2)
	mustReplaceAdvisories(t, a, source("go", 3, importTime), goRecs)
	mustReplaceAdvisories(t, a, source("debian-12", 2, importTime), debRecs)
	checkAdvisories(t, a, append(slices.Clone(goRecs), debRecs...))

	later := importTime.Add(time.Hour)
	newGo := []store.Advisory{Advisory("go", "GO-00001", 100), Advisory("go", "GO-00007", 7)}
	newSrc := source("go", 2, later)
	newSrc.Location, newSrc.Digest = "/elsewhere/go.zip", "sha256:new"
	mustReplaceAdvisories(t, a, newSrc, newGo)
	checkAdvisories(t, a, append(slices.Clone(newGo), debRecs...))
	checkSources(t, a, []store.AdvisorySource{source("debian-12", 2, importTime), newSrc})
}

// testAdvisoriesFailedImport checks that an import that fails, before or
// during its transaction, leaves the previous data of its source.
func testAdvisoriesFailedImport(t *testing.T, s store.Store) {
	a := advisoriesOf(t, s)
	prev := Advisories("go", "GO", 3)
	mustReplaceAdvisories(t, a, source("go", 3, importTime), prev)
	wantSrc := []store.AdvisorySource{source("go", 3, importTime)}

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	later := source("go", 0, importTime.Add(time.Hour))
	bad := []struct {
		name string
		ctx  context.Context
		src  store.AdvisorySource
		recs []store.Advisory
		want error
	}{
		{"DuplicateID", t.Context(), later, []store.Advisory{Advisory("go", "GO-1", 1), Advisory("go", "GO-2", 2), Advisory("go", "GO-1", 3)}, nil},
		{"EmptyID", t.Context(), later, []store.Advisory{Advisory("go", "", 1)}, nil},
		{"OtherSource", t.Context(), later, []store.Advisory{Advisory("debian-12", "DSA-1", 1)}, nil},
		{"NotJSON", t.Context(), later, []store.Advisory{{Source: "go", ID: "GO-1", Body: []byte(`{"id":`)}}, nil},
		{"NoSourceName", t.Context(), store.AdvisorySource{}, Advisories("", "GO", 1), nil},
		{"Canceled", canceled, later, Advisories("go", "GO", 10), context.Canceled},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := a.ReplaceAdvisories(tc.ctx, tc.src, tc.recs)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("ReplaceAdvisories error = %v, want %v", err, cmp.Or[any](tc.want, "an error"))
			}
			checkAdvisories(t, a, prev)
			checkSources(t, a, wantSrc)
		})
	}

	// Cancelled while it runs: all or nothing (see the comment below).
	const n = 3000
	for i, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, time.Second} {
		src := source(fmt.Sprintf("cancel-%d", i), n, importTime)
		old := Advisories(src.Name, "OLD", 2)
		mustReplaceAdvisories(t, a, source(src.Name, 2, importTime), old)
		recs := Advisories(src.Name, "NEW", n)
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := a.ReplaceAdvisories(ctx, src, recs)
		timer.Stop()
		cancel()
		all, lerr := a.AllAdvisories(t.Context())
		if lerr != nil {
			t.Fatalf("AllAdvisories: %v", lerr)
		}
		var got []store.Advisory
		for _, r := range all {
			if r.Source == src.Name {
				got = append(got, r)
			}
		}
		switch {
		case err == nil:
			if diff := gocmp.Diff(recs, got); diff != "" {
				t.Errorf("after cancel at %v: import succeeded but stored records differ (-want +got):\n%s", delay, diff)
			}
		case errors.Is(err, context.Canceled):
			// All or nothing. A cancellation that races the commit can
			// leave the commit done and its acknowledgement lost, so after
			// an error the source holds its previous records or, whole,
			// the new ones; never a mix.
			if gocmp.Diff(old, got) != "" && gocmp.Diff(recs, got) != "" {
				t.Errorf("after cancel at %v: import failed (%v) and left neither the previous nor the new records: %d stored", delay, err, len(got))
			}
		default:
			t.Errorf("after cancel at %v: ReplaceAdvisories error = %v, want nil or context.Canceled", delay, err)
		}
	}
}

// testAdvisoriesOrder checks the byte order of sources and ids, whatever
// the order of the input and the database's locale.
func testAdvisoriesOrder(t *testing.T, s store.Store) {
	a := advisoriesOf(t, s)
	ids := []string{"GO-10", "GO-2", "a-1", "B-1", "é-1", "Z-1", "_x", "GO-1"}
	var all []store.Advisory
	for i, name := range []string{"z", "a", "M", "ä", "_"} {
		recs := make([]store.Advisory, len(ids))
		for j, id := range ids {
			recs[j] = Advisory(name, id, i*100+j)
		}
		rand.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		mustReplaceAdvisories(t, a, source(name, len(recs), importTime), recs)
		all = append(all, recs...)
	}
	checkAdvisories(t, a, all)
	srcs, err := a.AdvisorySources(t.Context())
	if err != nil {
		t.Fatalf("AdvisorySources: %v", err)
	}
	var names []string
	for _, src := range srcs {
		names = append(names, src.Name)
	}
	if want := []string{"M", "_", "a", "z", "ä"}; !slices.Equal(names, want) {
		t.Errorf("AdvisorySources names = %q, want %q", names, want)
	}
}

// testAdvisoriesLarge imports 5,000 records at once, more than one batch
// of any store, and replaces them.
func testAdvisoriesLarge(t *testing.T, s store.Store) {
	a := advisoriesOf(t, s)
	const n = 5000
	recs := Advisories("big", "GHSA", n)
	mustReplaceAdvisories(t, a, source("big", n, importTime), recs)
	checkAdvisories(t, a, recs)
	checkSources(t, a, []store.AdvisorySource{source("big", n, importTime)})
	half := Advisories("big", "PYSEC", n/2)
	mustReplaceAdvisories(t, a, source("big", n/2, importTime), half)
	checkAdvisories(t, a, half)
}
