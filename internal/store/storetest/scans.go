package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
)

// scansOf returns s as a store.Scans, failing the test when it is not one:
// both stores must keep what scanning found.
func scansOf(t *testing.T, s store.Store) store.Scans {
	t.Helper()
	sc, ok := s.(store.Scans)
	if !ok {
		t.Fatalf("%T does not implement store.Scans", s)
	}
	return sc
}

var scanTime = time.Date(2026, 11, 5, 10, 30, 0, 123456000, time.UTC)

// SBOM returns an SBOM of digest with every field set, its contents
// derived from n.
func SBOM(digest string, n int) *sbom.SBOM {
	return &sbom.SBOM{
		Digest: digest,
		OS:     sbom.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"},
		Config: sbom.ImageConfig{
			User:       "65532:65532",
			Entrypoint: []string{"/app", "--serve"},
			Cmd:        []string{"--port", fmt.Sprint(8000 + n)},
			Labels:     map[string]string{"org.opencontainers.image.source": "https://example.com/app", "odd": "nul \x00, quote \", emoji 🐛"},
			Created:    scanTime.Add(-time.Duration(n) * time.Hour),
		},
		Packages: []sbom.Package{
			{
				Name: "libssl3", Version: fmt.Sprintf("3.0.%d-1~deb12u1", n), Ecosystem: "Debian:12",
				PURL:       "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?distro=debian-12",
				SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u1",
				Locations: []string{"/var/lib/dpkg/status"}, Extractor: "os/dpkg",
			},
			{
				Name: "golang.org/x/net", Version: "v0.17.0", Ecosystem: sbom.EcosystemGo,
				PURL: "pkg:golang/golang.org/x/net@v0.17.0", Locations: []string{"/app"}, Extractor: "go/binary",
			},
		},
		Executables: &sbom.Executables{
			Files: []string{"/app", "/usr/bin/dash", fmt.Sprintf("/usr/local/bin/tool%d", n)},
			Links: map[string]string{"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash"},
		},
		Extractors: map[string]int{"os/dpkg": 2, "go/binary": n, "imagefs": 1},
		CreatedAt:  scanTime.Add(time.Duration(n) * time.Minute),
	}
}

func mustPutSBOM(t *testing.T, sc store.Scans, sb *sbom.SBOM) {
	t.Helper()
	if err := sc.PutSBOM(t.Context(), sb); err != nil {
		t.Fatalf("PutSBOM(%s): %v", sb.Digest, err)
	}
}

func checkSBOM(t *testing.T, sc store.Scans, want *sbom.SBOM) {
	t.Helper()
	got, err := sc.SBOM(t.Context(), want.Digest)
	if err != nil {
		t.Fatalf("SBOM(%s): %v", want.Digest, err)
	}
	if diff := gocmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("SBOM(%s) mismatch (-want +got):\n%s", want.Digest, diff)
	}
}

func checkSBOMDigests(t *testing.T, sc store.Scans, want []string) {
	t.Helper()
	got, err := sc.SBOMDigests(t.Context())
	if err != nil {
		t.Fatalf("SBOMDigests: %v", err)
	}
	if got == nil {
		t.Error("SBOMDigests returned nil, want an empty slice")
	}
	if diff := gocmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("SBOMDigests mismatch (-want +got):\n%s", diff)
	}
}

func testSBOMRoundTrip(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	ctx := t.Context()
	checkSBOMDigests(t, sc, nil)
	if _, err := sc.SBOM(ctx, "sha256:missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SBOM of a missing digest: err = %v, want ErrNotFound", err)
	}

	sb := SBOM("sha256:aaaa", 1)
	mustPutSBOM(t, sc, sb)
	checkSBOM(t, sc, sb)

	// Times in another zone come back as the same instant.
	zoned := SBOM("sha256:bbbb", 2)
	zoned.CreatedAt = zoned.CreatedAt.In(time.FixedZone("CEST", 2*3600))
	mustPutSBOM(t, sc, zoned)
	checkSBOM(t, sc, zoned)

	// Zero times and empty collections stay so.
	bare := &sbom.SBOM{Digest: "sha256:cccc"}
	mustPutSBOM(t, sc, bare)
	checkSBOM(t, sc, bare)
	checkSBOMDigests(t, sc, []string{"sha256:aaaa", "sha256:bbbb", "sha256:cccc"})

	// The executables: an SBOM without the list (made before it existed)
	// comes back without it, which means unknown; an empty list, which
	// means none, and a truncated one come back as they went.
	for _, tc := range []struct {
		digest string
		e      *sbom.Executables
		known  bool
	}{
		{"sha256:exec-unknown", nil, false},
		{"sha256:exec-none", &sbom.Executables{}, true},
		{"sha256:exec-truncated", &sbom.Executables{Truncated: true}, false},
		{"sha256:exec-listed", &sbom.Executables{Files: []string{"/usr/bin/dash"}, Links: map[string]string{"/bin/sh": "/usr/bin/dash"}}, true},
	} {
		sb := SBOM(tc.digest, 3)
		sb.Executables = tc.e
		mustPutSBOM(t, sc, sb)
		checkSBOM(t, sc, sb)
		got, err := sc.SBOM(ctx, tc.digest)
		if err != nil {
			t.Fatal(err)
		}
		if (got.Executables == nil) != (tc.e == nil) {
			t.Errorf("SBOM(%s).Executables = %+v, want %+v", tc.digest, got.Executables, tc.e)
		}
		if _, known := got.Executables.Contains("/tmp/payload"); known != tc.known {
			t.Errorf("SBOM(%s): whether /tmp/payload is absent is known = %v, want %v", tc.digest, known, tc.known)
		}
		if present, _ := got.Executables.Contains("/bin/sh"); present != (tc.digest == "sha256:exec-listed") {
			t.Errorf("SBOM(%s): /bin/sh present = %v", tc.digest, present)
		}
	}
	// A list at the scanner's bounds (100,000 paths) fits.
	big := SBOM("sha256:exec-big", 4)
	big.Executables = &sbom.Executables{}
	for i := range 100_000 {
		big.Executables.Files = append(big.Executables.Files, fmt.Sprintf("/usr/lib/vendor/some-package-%06d/bin/executable", i))
	}
	mustPutSBOM(t, sc, big)
	checkSBOM(t, sc, big)
	if err := sc.DeleteScans(ctx, []string{"sha256:exec-big", "sha256:exec-listed", "sha256:exec-none", "sha256:exec-truncated", "sha256:exec-unknown"}); err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name string
		sb   *sbom.SBOM
	}{
		{"nil", nil},
		{"empty digest", &sbom.SBOM{OS: sbom.OS{ID: "alpine"}}},
	}
	for _, tc := range bad {
		if err := sc.PutSBOM(ctx, tc.sb); err == nil {
			t.Errorf("PutSBOM(%s) = nil, want an error", tc.name)
		}
	}
	checkSBOMDigests(t, sc, []string{"sha256:aaaa", "sha256:bbbb", "sha256:cccc"})
}

// testSBOMTooLarge checks that an SBOM whose JSON exceeds 64 MiB is refused
// and leaves the stored one of its digest.
func testSBOMTooLarge(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	prev := SBOM("sha256:big", 1)
	mustPutSBOM(t, sc, prev)
	huge := SBOM("sha256:big", 2)
	huge.Packages[0].Locations = []string{strings.Repeat("x", 64<<20)}
	err := sc.PutSBOM(t.Context(), huge)
	if err == nil {
		t.Fatal("PutSBOM of an SBOM over 64 MiB = nil, want an error")
	}
	if !strings.Contains(err.Error(), "MiB") {
		t.Errorf("PutSBOM of an SBOM over 64 MiB: error %q does not name the limit", err)
	}
	checkSBOM(t, sc, prev)
}

func testSBOMReplace(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	mustPutSBOM(t, sc, SBOM("sha256:one", 1))
	mustPutSBOM(t, sc, SBOM("sha256:two", 2))
	newer := SBOM("sha256:one", 7)
	newer.Packages = newer.Packages[:1]
	newer.Config.Labels = nil
	mustPutSBOM(t, sc, newer)
	checkSBOM(t, sc, newer)
	checkSBOM(t, sc, SBOM("sha256:two", 2))
	checkSBOMDigests(t, sc, []string{"sha256:one", "sha256:two"})
}

// testSBOMDigestsOrder checks that digests sort bytewise, whatever the
// database's locale.
func testSBOMDigestsOrder(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	digests := []string{"sha256:b", "sha256:B", "sha256:a", "sha256:_", "sha256:ä", "sha512:0", "sha256:a1", "sha256:A"}
	for i, d := range digests {
		mustPutSBOM(t, sc, SBOM(d, i))
	}
	want := slices.Clone(digests)
	slices.Sort(want)
	checkSBOMDigests(t, sc, want)
}

func testConcurrentPutSBOM(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	const workers, rounds = 8, 10
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*3)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				// Every worker also writes a shared digest, so they contend
				// for the same row.
				for _, sb := range []*sbom.SBOM{SBOM(fmt.Sprintf("sha256:w%d-%02d", w, r), r), SBOM("sha256:shared", w)} {
					if err := sc.PutSBOM(ctx, sb); err != nil {
						errs <- fmt.Errorf("worker %d round %d: PutSBOM(%s): %w", w, r, sb.Digest, err)
						return
					}
				}
				if _, err := sc.SBOM(ctx, "sha256:shared"); err != nil {
					errs <- fmt.Errorf("worker %d round %d: SBOM: %w", w, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := []string{"sha256:shared"}
	for w := range workers {
		for r := range rounds {
			want = append(want, fmt.Sprintf("sha256:w%d-%02d", w, r))
		}
	}
	slices.Sort(want)
	checkSBOMDigests(t, sc, want)
	for w := range workers {
		checkSBOM(t, sc, SBOM(fmt.Sprintf("sha256:w%d-%02d", w, rounds-1), rounds-1))
	}
	got, err := sc.SBOM(ctx, "sha256:shared")
	if err != nil {
		t.Fatalf("SBOM(shared): %v", err)
	}
	if n := got.Extractors["go/binary"]; n < 0 || n >= workers || gocmp.Diff(SBOM("sha256:shared", n), got, diffOpts...) != "" {
		t.Errorf("SBOM(shared) = %+v, want one worker's SBOM whole", got)
	}
}

// equalBytes compares findings with bytes.Equal: cmp would compare them
// byte by byte through reflection, which takes minutes for 64 MiB.
var equalBytes = gocmp.Comparer(func(a, b json.RawMessage) bool { return bytes.Equal(a, b) })

func checkMatch(t *testing.T, sc store.Scans, want store.MatchResult) {
	t.Helper()
	got, err := sc.Match(t.Context(), want.Digest)
	if err != nil {
		t.Fatalf("Match(%s): %v", want.Digest, err)
	}
	if diff := gocmp.Diff(want, got, equalBytes); diff != "" {
		t.Errorf("Match(%s) mismatch (-want +got):\n%s", want.Digest, diff)
	}
}

func testMatches(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	ctx := t.Context()
	if _, err := sc.Match(ctx, "sha256:missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Match of a missing digest: err = %v, want ErrNotFound", err)
	}
	// Findings come back byte for byte, spacing and odd strings included.
	m := store.MatchResult{
		Digest:    "sha256:aaaa",
		DBVersion: "2026-11-05T10:00:00Z/sha256:abcd",
		MatchedAt: scanTime,
		Findings:  json.RawMessage(`[{"id": "CVE-2024-0001", "package": "libssl3", "details": "nul \u0000, quote \", emoji 🐛"},  {"id":"GO-2024-0002"}]`),
	}
	if err := sc.PutMatch(ctx, m); err != nil {
		t.Fatalf("PutMatch: %v", err)
	}
	checkMatch(t, sc, m)
	other := store.MatchResult{Digest: "sha256:bbbb", DBVersion: "v1", Findings: json.RawMessage(`[]`)}
	if err := sc.PutMatch(ctx, other); err != nil {
		t.Fatalf("PutMatch: %v", err)
	}
	checkMatch(t, sc, other) // a zero MatchedAt stays zero

	// A newer match replaces the previous one of its digest only.
	newer := store.MatchResult{Digest: "sha256:aaaa", DBVersion: "v2", MatchedAt: scanTime.Add(time.Hour), Findings: json.RawMessage(`[]`)}
	if err := sc.PutMatch(ctx, newer); err != nil {
		t.Fatalf("PutMatch: %v", err)
	}
	checkMatch(t, sc, newer)
	checkMatch(t, sc, other)

	bad := []struct {
		name string
		m    store.MatchResult
	}{
		{"empty digest", store.MatchResult{DBVersion: "v3", Findings: json.RawMessage(`[]`)}},
		{"invalid findings", store.MatchResult{Digest: "sha256:aaaa", DBVersion: "v3", Findings: json.RawMessage(`[{"id":`)}},
		{"no findings", store.MatchResult{Digest: "sha256:aaaa", DBVersion: "v3"}},
	}
	for _, tc := range bad {
		if err := sc.PutMatch(ctx, tc.m); err == nil {
			t.Errorf("PutMatch(%s) = nil, want an error", tc.name)
		}
	}
	checkMatch(t, sc, newer)
}

func checkScanStatuses(t *testing.T, sc store.Scans, want []store.ScanStatus) {
	t.Helper()
	got, err := sc.ScanStatuses(t.Context())
	if err != nil {
		t.Fatalf("ScanStatuses: %v", err)
	}
	if got == nil {
		t.Error("ScanStatuses returned nil, want an empty slice")
	}
	if diff := gocmp.Diff(want, got, diffOpts...); diff != "" {
		t.Errorf("ScanStatuses mismatch (-want +got):\n%s", diff)
	}
	for _, st := range got {
		for _, at := range []time.Time{st.LastAttempt, st.LastSuccess, st.NextAttempt} {
			if !at.IsZero() && at.Location() != time.UTC {
				t.Errorf("ScanStatuses: %s has a time in %v, want UTC", st.Digest, at.Location())
			}
		}
	}
}

func mustPutScanStatus(t *testing.T, sc store.Scans, st store.ScanStatus) {
	t.Helper()
	if err := sc.PutScanStatus(t.Context(), st); err != nil {
		t.Fatalf("PutScanStatus(%s): %v", st.Digest, err)
	}
}

func testScanStatus(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	checkScanStatuses(t, sc, nil)

	full := store.ScanStatus{
		Digest: "sha256:b", LastAttempt: scanTime, LastSuccess: scanTime.Add(-time.Hour),
		Failures: 2, LastError: "pulling image: 429 Too Many Requests", NextAttempt: scanTime.Add(10 * time.Minute),
	}
	// Never attempted: every time zero.
	fresh := store.ScanStatus{Digest: "sha256:a"}
	// Failed from the start: never succeeded.
	failing := store.ScanStatus{Digest: "sha256:C", LastAttempt: scanTime, Failures: 1, LastError: "boom", NextAttempt: scanTime.Add(time.Minute)}
	for _, st := range []store.ScanStatus{full, fresh, failing} {
		mustPutScanStatus(t, sc, st)
	}
	checkScanStatuses(t, sc, []store.ScanStatus{failing, fresh, full})

	// An update replaces the record: a success clears the failures and the
	// error, and times in other zones or below the microsecond are kept to
	// the microsecond in UTC.
	ok := store.ScanStatus{
		Digest: "sha256:C", LastAttempt: scanTime.Add(time.Hour + 999*time.Nanosecond).In(time.FixedZone("EST", -5*3600)),
		LastSuccess: scanTime.Add(time.Hour), NextAttempt: scanTime.Add(25 * time.Hour),
	}
	mustPutScanStatus(t, sc, ok)
	ok.LastAttempt = scanTime.Add(time.Hour).UTC()
	checkScanStatuses(t, sc, []store.ScanStatus{ok, fresh, full})

	bad := []struct {
		name string
		st   store.ScanStatus
	}{
		{"empty digest", store.ScanStatus{Failures: 1}},
		{"negative failures", store.ScanStatus{Digest: "sha256:a", Failures: -1}},
	}
	for _, tc := range bad {
		if err := sc.PutScanStatus(t.Context(), tc.st); err == nil {
			t.Errorf("PutScanStatus(%s) = nil, want an error", tc.name)
		}
	}
	checkScanStatuses(t, sc, []store.ScanStatus{ok, fresh, full})
}

// storedScan names the records a test stores for one digest, their
// contents derived from n.
type storedScan struct {
	digest              string
	n                   int
	sbom, match, status bool
}

// fullScan is a digest with an SBOM, a match and a scan status.
func fullScan(digest string, n int) storedScan {
	return storedScan{digest: digest, n: n, sbom: true, match: true, status: true}
}

func (s storedScan) matchResult() store.MatchResult {
	return store.MatchResult{
		Digest:    s.digest,
		DBVersion: fmt.Sprintf("v%d", s.n),
		MatchedAt: scanTime.Add(time.Duration(s.n) * time.Second),
		Findings:  json.RawMessage(fmt.Sprintf(`[{"id":"CVE-2026-%04d"}]`, s.n)),
	}
}

func (s storedScan) scanStatus() store.ScanStatus {
	return store.ScanStatus{
		Digest: s.digest, LastAttempt: scanTime.Add(time.Duration(s.n) * time.Second), LastSuccess: scanTime,
		Failures: s.n % 3, NextAttempt: scanTime.Add(time.Hour),
	}
}

func putScans(t *testing.T, sc store.Scans, scans []storedScan) {
	t.Helper()
	for _, s := range scans {
		if s.sbom {
			mustPutSBOM(t, sc, SBOM(s.digest, s.n))
		}
		if s.match {
			if err := sc.PutMatch(t.Context(), s.matchResult()); err != nil {
				t.Fatalf("PutMatch(%s): %v", s.digest, err)
			}
		}
		if s.status {
			mustPutScanStatus(t, sc, s.scanStatus())
		}
	}
}

func digestsOf(scans []storedScan) []string {
	out := make([]string, len(scans))
	for i, s := range scans {
		out[i] = s.digest
	}
	return out
}

// scanDigests returns n sorted digests named after prefix.
func scanDigests(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("sha256:%s-%05d", prefix, i)
	}
	return out
}

// checkScans checks that the store holds exactly the records of want, and
// nothing of the digests in gone.
func checkScans(t *testing.T, sc store.Scans, want []storedScan, gone []string) {
	t.Helper()
	var sbomDigests []string
	var statuses []store.ScanStatus
	for _, s := range want {
		if s.sbom {
			sbomDigests = append(sbomDigests, s.digest)
		}
		if s.status {
			statuses = append(statuses, s.scanStatus())
		}
	}
	slices.Sort(sbomDigests)
	slices.SortFunc(statuses, func(a, b store.ScanStatus) int { return strings.Compare(a.Digest, b.Digest) })
	checkSBOMDigests(t, sc, sbomDigests)
	checkScanStatuses(t, sc, statuses)
	for _, s := range want {
		if s.sbom {
			checkSBOM(t, sc, SBOM(s.digest, s.n))
		}
		if s.match {
			checkMatch(t, sc, s.matchResult())
		} else {
			checkNoMatch(t, sc, s.digest)
		}
	}
	for _, d := range gone {
		checkNoMatch(t, sc, d)
	}
}

func checkNoMatch(t *testing.T, sc store.Scans, digest string) {
	t.Helper()
	if _, err := sc.Match(t.Context(), digest); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Match(%s): err = %v, want ErrNotFound", digest, err)
	}
}

// countScans counts the records stored for the digests of scans.
func countScans(t *testing.T, sc store.Scans, scans []storedScan) int {
	t.Helper()
	in := make(map[string]bool, len(scans))
	for _, s := range scans {
		in[s.digest] = true
	}
	sboms, err := sc.SBOMDigests(t.Context())
	if err != nil {
		t.Fatalf("SBOMDigests: %v", err)
	}
	statuses, err := sc.ScanStatuses(t.Context())
	if err != nil {
		t.Fatalf("ScanStatuses: %v", err)
	}
	n := 0
	for _, d := range sboms {
		if in[d] {
			n++
		}
	}
	for _, st := range statuses {
		if in[st.Digest] {
			n++
		}
	}
	for _, s := range scans {
		_, err := sc.Match(t.Context(), s.digest)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, store.ErrNotFound):
			t.Fatalf("Match(%s): %v", s.digest, err)
		}
	}
	return n
}

// testDeleteScans deletes some digests of several and checks that the
// others keep every record.
func testDeleteScans(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	a, b, c, d := fullScan("sha256:a", 1), fullScan("sha256:b", 2), fullScan("sha256:c", 3), fullScan("sha256:d", 4)
	sbomOnly := storedScan{digest: "sha256:sbom-only", n: 5, sbom: true}
	matchOnly := storedScan{digest: "sha256:match-only", n: 6, match: true}
	statusOnly := storedScan{digest: "sha256:status-only", n: 7, status: true}
	all := []storedScan{a, b, c, d, sbomOnly, matchOnly, statusOnly}

	tests := []struct {
		name   string
		delete []string
		want   []storedScan // the records left
	}{
		{"some of several", []string{"sha256:d", "sha256:b"}, []storedScan{a, c, sbomOnly, matchOnly, statusOnly}},
		{"digests with some records only", []string{"sha256:sbom-only", "sha256:match-only", "sha256:status-only"}, []storedScan{a, b, c, d}},
		{"repeated and missing digests", []string{"sha256:c", "sha256:missing", "sha256:c", "sha256:A", "sha256:status-only"}, []storedScan{a, b, d, sbomOnly, matchOnly}},
		{"missing digests only", []string{"sha256:missing", "sha256:A", "sha256:a ", ""}, all},
		{"empty list", []string{}, all},
		{"nil list", nil, all},
		{"every digest", digestsOf(all), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Reset the store to all, with DeleteScans itself.
			if err := sc.DeleteScans(t.Context(), digestsOf(all)); err != nil {
				t.Fatalf("DeleteScans(reset): %v", err)
			}
			checkScans(t, sc, nil, digestsOf(all))
			putScans(t, sc, all)

			arg := slices.Clone(tc.delete)
			if err := sc.DeleteScans(t.Context(), arg); err != nil {
				t.Fatalf("DeleteScans(%q): %v", tc.delete, err)
			}
			if !slices.Equal(arg, tc.delete) {
				t.Errorf("DeleteScans changed its argument to %q", arg)
			}
			var gone []string
			for _, s := range all {
				if !slices.Contains(tc.want, s) {
					gone = append(gone, s.digest)
				}
			}
			checkScans(t, sc, tc.want, gone)
		})
	}
}

// testDeleteScansLarge deletes 5,000 digests at once, more than one batch
// of any store, with stored records in every batch.
func testDeleteScansLarge(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	const n, every = 5000, 250
	digests := scanDigests("big", n)
	var kept, deleted []storedScan
	for i := 0; i < n; i += every {
		if (i/every)%2 == 0 {
			deleted = append(deleted, fullScan(digests[i], i))
		} else {
			kept = append(kept, fullScan(digests[i], i))
		}
	}
	putScans(t, sc, kept)
	putScans(t, sc, deleted)

	// Every digest but the kept ones, in reverse order.
	var del []string
	for i := n - 1; i >= 0; i-- {
		if i%every != 0 || (i/every)%2 == 0 {
			del = append(del, digests[i])
		}
	}
	if err := sc.DeleteScans(t.Context(), del); err != nil {
		t.Fatalf("DeleteScans(%d digests): %v", len(del), err)
	}
	checkScans(t, sc, kept, digestsOf(deleted))

	if err := sc.DeleteScans(t.Context(), digests); err != nil {
		t.Fatalf("DeleteScans(%d digests): %v", n, err)
	}
	checkScans(t, sc, nil, digests)
}

// testDeleteScansCanceled checks that a cancelled DeleteScans deletes
// nothing, and that one cancelled while it runs deletes all or nothing.
func testDeleteScansCanceled(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	kept := []storedScan{fullScan("sha256:kept", 0)}
	putScans(t, sc, kept)

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"canceled", canceled, context.Canceled}, {"deadline", expired, context.DeadlineExceeded}} {
		if err := sc.DeleteScans(c.ctx, digestsOf(kept)); !errors.Is(err, c.want) {
			t.Errorf("DeleteScans(%s) error = %v, want %v", c.name, err, c.want)
		}
	}
	checkScans(t, sc, kept, nil)

	// Cancelled while it runs: each call must either succeed whole or fail
	// with the context's error, atomically. A cancellation that races the
	// commit can leave the commit done and its acknowledgement lost, so
	// after an error the digests keep all their records or none; never
	// part. The long list, mostly of missing digests, makes the
	// transaction last; stored records sit in every batch.
	const n, every = 20000, 1000
	for i, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, time.Second} {
		digests := scanDigests(fmt.Sprintf("cancel-%d", i), n)
		var stored []storedScan
		for j := 0; j < n; j += every {
			stored = append(stored, fullScan(digests[j], j))
		}
		putScans(t, sc, stored)
		all := 3 * len(stored)

		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := sc.DeleteScans(ctx, digests)
		timer.Stop()
		cancel()
		left := countScans(t, sc, stored)
		switch {
		case err == nil:
			if left != 0 {
				t.Errorf("after cancel at %v: DeleteScans succeeded but left %d of %d records", delay, left, all)
			}
		case errors.Is(err, context.Canceled):
			if left != 0 && left != all {
				t.Errorf("after cancel at %v: DeleteScans failed (%v) but left %d of %d records", delay, err, left, all)
			}
		default:
			t.Errorf("after cancel at %v: DeleteScans error = %v, want nil or context.Canceled", delay, err)
		}
		if err := sc.DeleteScans(t.Context(), digests); err != nil {
			t.Fatalf("DeleteScans: %v", err)
		}
	}
	checkScans(t, sc, kept, nil)
}

// findingsJSON returns a findings array of about size bytes, shaped like
// the scan queue's (internal/match.Finding), its contents derived from n.
func findingsJSON(n, size int) json.RawMessage {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i == 0 || b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"CVE-2026-%05d","aliases":["DEBIAN-CVE-2026-%05d","GHSA-%04x-%04x-%04x"],`+
			`"package":{"name":"libssl3","version":"3.0.%d-1~deb12u1","ecosystem":"Debian:12","purl":"pkg:deb/debian/libssl3@3.0.%d-1~deb12u1?distro=debian-12",`+
			`"sourceName":"openssl","sourceVersion":"3.0.%d-1~deb12u1","locations":["/var/lib/dpkg/status"],"extractor":"os/dpkg"},`+
			`"installedVersion":"3.0.%d-1~deb12u1","fixedVersion":"3.0.%d-1~deb12u2","severity":"HIGH","score":7.5,`+
			`"summary":"Excessive time spent checking DH keys and parameters (finding %d of match %d)"}`,
			i, i, n, i, n+i, n, n, n, n, n, i, n)
	}
	b.WriteByte(']')
	return json.RawMessage(b.String())
}

// checkMatches checks that the store holds exactly want as the matches of
// want's digests, and no match of the digests in gone.
func checkMatches(t *testing.T, sc store.Scans, want []store.MatchResult, gone []string) {
	t.Helper()
	for _, m := range want {
		checkMatch(t, sc, m)
	}
	for _, d := range gone {
		checkNoMatch(t, sc, d)
	}
}

func matchDigests(ms []store.MatchResult) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Digest
	}
	return out
}

// testPutMatches stores batches of new, replacing, repeated and invalid
// matches over two stored ones.
func testPutMatches(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	match := func(digest string, n int) store.MatchResult { return storedScan{digest: digest, n: n}.matchResult() }
	a1, b1 := match("sha256:a", 1), match("sha256:b", 2)
	a2, a3, c1 := match("sha256:a", 3), match("sha256:a", 4), match("sha256:c", 5)
	// Findings come back byte for byte, spacing and odd strings included;
	// a zero MatchedAt stays zero.
	odd := store.MatchResult{
		Digest:    "sha256:D",
		DBVersion: "2026-11-05T10:00:00Z/sha256:abcd",
		Findings:  json.RawMessage(`[{"id": "CVE-2024-0001", "details": "nul \u0000, quote \", emoji 🐛"},  {"id":"GO-2024-0002"}]`),
	}
	bad := func(digest, findings string) store.MatchResult {
		return store.MatchResult{Digest: digest, DBVersion: "v9", MatchedAt: scanTime, Findings: json.RawMessage(findings)}
	}
	stored := []store.MatchResult{a1, b1}
	all := []string{"sha256:a", "sha256:b", "sha256:c", "sha256:D", "sha256:bad"}

	tests := []struct {
		name    string
		put     []store.MatchResult
		want    []store.MatchResult // the matches stored afterwards
		wantErr string              // what the error must name; "" for none
	}{
		{"new and replaced", []store.MatchResult{c1, odd, a2}, []store.MatchResult{a2, b1, c1, odd}, ""},
		{"repeated digest, last wins", []store.MatchResult{a2, c1, a3, b1, a1, c1, a3}, []store.MatchResult{a3, b1, c1}, ""},
		{"repeated digest only", []store.MatchResult{a3, a2}, []store.MatchResult{a2, b1}, ""},
		{"invalid findings reject everything", []store.MatchResult{a2, c1, bad("sha256:bad", `[{"id":`)}, stored, "sha256:bad"},
		{"no findings reject everything", []store.MatchResult{bad("sha256:bad", ""), a2}, stored, "sha256:bad"},
		{"findings over 64 MiB reject everything", []store.MatchResult{c1, bad("sha256:bad", `"`+strings.Repeat("x", 64<<20)+`"`)}, stored, "sha256:bad"},
		{"empty digest rejects everything", []store.MatchResult{a2, c1, bad("", "[]")}, stored, "match 2"},
		// Every match is checked, even one a later match of its digest
		// would replace.
		{"invalid match of a repeated digest", []store.MatchResult{bad("sha256:a", "{"), a2}, stored, "sha256:a"},
		{"empty list", []store.MatchResult{}, stored, ""},
		{"nil list", nil, stored, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Reset the store to stored.
			if err := sc.DeleteScans(t.Context(), all); err != nil {
				t.Fatalf("DeleteScans(reset): %v", err)
			}
			for _, m := range stored {
				if err := sc.PutMatch(t.Context(), m); err != nil {
					t.Fatalf("PutMatch(%s): %v", m.Digest, err)
				}
			}

			arg := slices.Clone(tc.put)
			err := sc.PutMatches(t.Context(), arg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("PutMatches(%q): %v", matchDigests(tc.put), err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("PutMatches(%q) = nil, want an error naming %s", matchDigests(tc.put), tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("PutMatches(%q) error = %q, want it to name %s", matchDigests(tc.put), err, tc.wantErr)
			}
			if diff := gocmp.Diff(tc.put, arg, equalBytes); diff != "" {
				t.Errorf("PutMatches changed its argument (-want +got):\n%s", diff)
			}
			var gone []string
			for _, d := range all {
				if !slices.Contains(matchDigests(tc.want), d) {
					gone = append(gone, d)
				}
			}
			checkMatches(t, sc, tc.want, gone)
		})
	}
}

// testPutMatchesLarge stores 2,000 matches at once, more than one batch of
// any store, some replacing stored ones, in no particular order.
func testPutMatchesLarge(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	const n, every = 2000, 100
	digests := scanDigests("big", n)
	var batch, others []store.MatchResult
	for i, d := range digests {
		if i%every == 0 {
			old := storedScan{digest: d, n: -i}.matchResult()
			if err := sc.PutMatch(t.Context(), old); err != nil {
				t.Fatalf("PutMatch(%s): %v", d, err)
			}
		}
		if i%every == every/2 {
			// Not in the batch: must keep its match.
			m := storedScan{digest: d + "-other", n: i}.matchResult()
			if err := sc.PutMatch(t.Context(), m); err != nil {
				t.Fatalf("PutMatch(%s): %v", m.Digest, err)
			}
			others = append(others, m)
		}
		m := storedScan{digest: d, n: i}.matchResult()
		m.Findings = findingsJSON(i, 1+i%3*2000)
		batch = append(batch, m)
	}
	// Interleave the halves: the stores must not rely on sorted input.
	mixed := make([]store.MatchResult, 0, n)
	for i := range n / 2 {
		mixed = append(mixed, batch[n/2+i], batch[n/2-1-i])
	}
	if err := sc.PutMatches(t.Context(), mixed); err != nil {
		t.Fatalf("PutMatches(%d matches): %v", n, err)
	}
	checkMatches(t, sc, batch, nil)
	checkMatches(t, sc, others, nil)

	// Again, replacing every one.
	for i := range batch {
		batch[i].DBVersion += "-again"
	}
	if err := sc.PutMatches(t.Context(), batch); err != nil {
		t.Fatalf("PutMatches(%d matches): %v", n, err)
	}
	checkMatches(t, sc, batch, nil)
	checkMatches(t, sc, others, nil)
}

// testPutMatchesCanceled checks that a cancelled PutMatches stores
// nothing, and that one cancelled while it runs stores all or nothing.
func testPutMatchesCanceled(t *testing.T, s store.Store) {
	sc := scansOf(t, s)
	kept := storedScan{digest: "sha256:kept", n: 0}.matchResult()
	if err := sc.PutMatch(t.Context(), kept); err != nil {
		t.Fatalf("PutMatch: %v", err)
	}
	put := []store.MatchResult{storedScan{digest: "sha256:kept", n: 1}.matchResult(), storedScan{digest: "sha256:new", n: 2}.matchResult()}

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"canceled", canceled, context.Canceled}, {"deadline", expired, context.DeadlineExceeded}} {
		if err := sc.PutMatches(c.ctx, put); !errors.Is(err, c.want) {
			t.Errorf("PutMatches(%s) error = %v, want %v", c.name, err, c.want)
		}
	}
	checkMatches(t, sc, []store.MatchResult{kept}, []string{"sha256:new"})

	// Cancelled while it runs: each call must either succeed whole or fail
	// with the context's error, atomically. A cancellation that races the
	// commit can leave the commit done and its acknowledgement lost, so
	// after an error the sampled digests hold all their previous matches
	// (or none, for new digests) or all of the batch's; never a mix. The
	// long batch of 1 KB findings makes the transaction last; sampled
	// digests sit in every chunk of every store.
	const n, every = 20000, 500
	for i, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, time.Second} {
		digests := scanDigests(fmt.Sprintf("cancel-%d", i), n)
		var batch, old []store.MatchResult
		var fresh []string // sampled digests without a previous match
		for j, d := range digests {
			m := storedScan{digest: d, n: j}.matchResult()
			m.Findings = findingsJSON(j, 1000)
			batch = append(batch, m)
			switch j % every {
			case 0:
				prev := storedScan{digest: d, n: j}.matchResult()
				prev.DBVersion = "previous"
				old = append(old, prev)
			case every / 2:
				fresh = append(fresh, d)
			}
		}
		if err := sc.PutMatches(t.Context(), old); err != nil {
			t.Fatalf("PutMatches(previous): %v", err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := sc.PutMatches(ctx, batch)
		timer.Stop()
		cancel()

		// Count the sampled digests that hold the batch's match.
		stored, sampled := 0, len(old)+len(fresh)
		for _, d := range append(matchDigests(old), fresh...) {
			m, err := sc.Match(t.Context(), d)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				t.Fatalf("Match(%s): %v", d, err)
			case m.DBVersion != "previous":
				stored++
			}
		}
		switch {
		case err == nil:
			if stored != sampled {
				t.Errorf("after cancel at %v: PutMatches succeeded but stored %d of %d sampled matches", delay, stored, sampled)
			}
		case errors.Is(err, context.Canceled):
			if stored != 0 && stored != sampled {
				t.Errorf("after cancel at %v: PutMatches failed (%v) but stored %d of %d sampled matches", delay, err, stored, sampled)
			}
			if stored == 0 {
				checkMatches(t, sc, old, fresh)
			}
		default:
			t.Errorf("after cancel at %v: PutMatches error = %v, want nil or context.Canceled", delay, err)
		}
		if err := sc.DeleteScans(t.Context(), digests); err != nil {
			t.Fatalf("DeleteScans: %v", err)
		}
	}
	checkMatches(t, sc, []store.MatchResult{kept}, []string{"sha256:new"})
}
