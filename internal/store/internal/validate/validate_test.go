package validate

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/store"
)

func match(digest, version, findings string) store.MatchResult {
	return store.MatchResult{Digest: digest, DBVersion: version, Findings: json.RawMessage(findings)}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		name    string
		in      []store.MatchResult
		want    []store.MatchResult
		wantErr string
	}{
		{"nil", nil, nil, ""},
		{"sorted by digest", []store.MatchResult{match("c", "1", "[]"), match("a", "1", "[]"), match("B", "1", "[]")},
			[]store.MatchResult{match("B", "1", "[]"), match("a", "1", "[]"), match("c", "1", "[]")}, ""},
		{"last of a digest wins", []store.MatchResult{match("b", "1", "[]"), match("a", "1", "[]"), match("b", "2", "[]"), match("a", "2", "[]"), match("b", "3", "[1]")},
			[]store.MatchResult{match("a", "2", "[]"), match("b", "3", "[1]")}, ""},
		{"empty digest", []store.MatchResult{match("a", "1", "[]"), match("", "1", "[]")}, nil, "storing 2 matches: match 1 has an empty image digest; nothing was stored"},
		{"invalid JSON", []store.MatchResult{match("sha256:x", "1", "[")}, nil, "storing 1 matches: match 0, of sha256:x: findings are not valid JSON; nothing was stored"},
		{"no findings", []store.MatchResult{match("a", "1", "[]"), match("sha256:y", "1", "")}, nil, "match 1, of sha256:y: no findings JSON; use [] when nothing matched"},
		{"too large", []store.MatchResult{match("sha256:z", "1", `"`+strings.Repeat("x", MaxScanBody)+`"`)}, nil, "match 0, of sha256:z: findings are 67108866 bytes, over the limit of 64 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got, err := Matches(in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Matches() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Matches(): %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Matches() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.in, in); diff != "" {
				t.Errorf("Matches changed its argument (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchMessagesUnchanged(t *testing.T) {
	for m, want := range map[*store.MatchResult]string{
		{Findings: json.RawMessage("[]")}:             "storing match: empty image digest",
		{Digest: "d"}:                                 "storing match of d: no findings JSON; use [] when nothing matched",
		{Digest: "d", Findings: json.RawMessage("[")}: "storing match of d: findings are not valid JSON",
	} {
		if err := Match(*m); err == nil || err.Error() != want {
			t.Errorf("Match(%+v) = %v, want %q", *m, err, want)
		}
	}
}

func TestMatchChunks(t *testing.T) {
	sized := func(sizes ...int) []store.MatchResult {
		out := make([]store.MatchResult, len(sizes))
		for i, n := range sizes {
			out[i].Findings = make(json.RawMessage, n)
		}
		return out
	}
	tests := []struct {
		name            string
		sizes           []int
		maxRows, maxLen int
		want            []int // chunk lengths
	}{
		{"empty", nil, 3, 100, nil},
		{"by rows", []int{1, 1, 1, 1, 1, 1, 1}, 3, 100, []int{3, 3, 1}},
		{"by bytes", []int{40, 40, 40, 10, 10, 90}, 10, 100, []int{2, 3, 1}},
		{"exactly the budget", []int{50, 50, 50, 50}, 10, 100, []int{2, 2}},
		{"one over the budget alone", []int{10, 500, 10, 10}, 10, 100, []int{1, 1, 2}},
		{"first over the budget", []int{500, 1}, 10, 100, []int{1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms := sized(tc.sizes...)
			var got []int
			total := 0
			for part := range MatchChunks(ms, tc.maxRows, tc.maxLen) {
				if len(part) == 0 {
					t.Fatal("MatchChunks yielded an empty chunk")
				}
				if &part[0] != &ms[total] {
					t.Fatalf("chunk %d does not start at match %d", len(got), total)
				}
				got = append(got, len(part))
				total += len(part)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("chunk lengths mismatch (-want +got):\n%s", diff)
			}
		})
	}
	// Stopping early stops the iteration.
	n := 0
	for range MatchChunks(sized(1, 1, 1, 1), 1, 100) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("MatchChunks went on after break: %d chunks", n)
	}
}

func TestKEV(t *testing.T) {
	entry := func(id string) kev.Entry {
		return kev.Entry{CVEID: id, VendorProject: "V", Product: "P", VulnerabilityName: "N", ShortDescription: "S", RequiredAction: "A",
			DateAdded: kev.Date{Year: 2024, Month: 1, Day: 2}, DueDate: kev.Date{Year: 2024, Month: 1, Day: 23}, KnownRansomwareCampaignUse: kev.RansomwareUnknown}
	}
	src := store.KEVSource{Name: "cisa-kev", Version: "1"}
	in := []kev.Entry{entry("CVE-2024-2000"), entry("CVE-2024-10000"), entry("CVE-2023-9999")}
	got, err := KEV(src, in)
	if err != nil {
		t.Fatalf("KEV: %v", err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.CVEID)
	}
	if want := []string{"CVE-2023-9999", "CVE-2024-10000", "CVE-2024-2000"}; !slices.Equal(ids, want) {
		t.Errorf("KEV order = %q, want %q (bytewise)", ids, want)
	}
	if in[0].CVEID != "CVE-2024-2000" {
		t.Error("KEV reordered its argument")
	}
	for _, tc := range []struct {
		src     store.KEVSource
		entries []kev.Entry
		want    string
	}{
		{store.KEVSource{Version: "1"}, nil, "storing KEV catalog: empty source name; nothing was stored"},
		{src, []kev.Entry{entry("CVE-2024-1")}, `storing KEV catalog "cisa-kev": invalid KEV catalog: entry 0: cveID "CVE-2024-1" is not a CVE id`},
		{src, []kev.Entry{entry("CVE-2024-1234"), entry("CVE-2024-1234")}, "entry 1 (CVE-2024-1234): cveID appears twice, first at entry 0; nothing was stored"},
	} {
		if _, err := KEV(tc.src, tc.entries); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("KEV(%+v, %d entries) = %v, want an error containing %q", tc.src, len(tc.entries), err, tc.want)
		}
	}
}
