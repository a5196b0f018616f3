package validate

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/baseline"
)

func TestBaselines(t *testing.T) {
	b := func(digest, container string, exes ...string) baseline.Baseline {
		return baseline.Baseline{Key: baseline.Key{Digest: digest, Container: container}, Executables: exes}
	}
	keys := func(enc []Baseline) []baseline.Key {
		var out []baseline.Key
		for _, e := range enc {
			out = append(out, e.Key)
		}
		return out
	}
	in := []baseline.Baseline{b("b", "x", "/1"), b("a", "y"), b("a/b", "a"), b("a", "b/c"), b("b", "x", "/2"), b("B", "z")}
	got, err := Baselines(in)
	if err != nil {
		t.Fatalf("Baselines: %v", err)
	}
	want := []baseline.Key{{Digest: "B", Container: "z"}, {Digest: "a", Container: "b/c"}, {Digest: "a", Container: "y"}, {Digest: "a/b", Container: "a"}, {Digest: "b", Container: "x"}}
	if diff := cmp.Diff(want, keys(got)); diff != "" {
		t.Errorf("Baselines order mismatch (-want +got):\n%s", diff)
	}
	if last := got[len(got)-1]; !strings.Contains(string(last.Body), `"/2"`) {
		t.Errorf("Baselines kept %s for a repeated key, want the last one", last.Body)
	}
	if in[0].Digest != "b" || in[1].Executables != nil {
		t.Error("Baselines modified its argument")
	}

	// Times are written in UTC, and read back so; no executables is [].
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	enc, err := Baselines([]baseline.Baseline{{Key: baseline.Key{Digest: "d", Container: "c"}, FirstSeen: at, LockedAt: at, LockedBy: "u"}})
	if err != nil {
		t.Fatalf("Baselines: %v", err)
	}
	if body := string(enc[0].Body); !strings.Contains(body, `"firstSeen":"2026-01-02T02:04:05.000000006Z"`) || !strings.Contains(body, `"executables":[]`) {
		t.Errorf("Baselines body = %s, want UTC times and an executables array", body)
	}
	if enc[0].LockedAt.Location() != time.UTC || !enc[0].LockedAt.Equal(at) {
		t.Errorf("Baselines LockedAt = %v, want %v in UTC", enc[0].LockedAt, at)
	}
	dec, err := DecodeBaseline(enc[0].Key, enc[0].Body)
	if err != nil || dec.FirstSeen.Location() != time.UTC || !dec.FirstSeen.Equal(at) {
		t.Errorf("DecodeBaseline = %+v, %v", dec, err)
	}
	if _, err := DecodeBaseline(baseline.Key{Digest: "other", Container: "c"}, enc[0].Body); err == nil {
		t.Error("DecodeBaseline of a body under another key succeeded")
	}

	for _, tc := range []struct {
		in   baseline.Baseline
		want string
	}{
		{b("", "c"), `storing 1 baselines: baseline 0 (digest "", container "c"): empty image digest; nothing was stored`},
		{b("d", ""), `baseline 0 (digest "d", container ""): empty container name; nothing was stored`},
		{b(strings.Repeat("d", 1025), "c"), "image digest of 1025 bytes, longer than 1024"},
		{b("d", "c\x00"), "container name holds a NUL byte"},
		{b("d\xff", "c"), "image digest is not valid UTF-8"},
		{b("d", "c", "/a", ""), "executable 1 is empty"},
		{b("d", "c", strings.Repeat("p", baseline.MaxPathLen+1)), "executable 0 is 4097 bytes, longer than 4096"},
		{b("d", "c", "/\xfe"), `executable 0, "/\xfe", is not valid UTF-8`},
		{b("d", "c", make([]string, baseline.DefaultMaxExecutables+1)...), "1001 executables, more than the limit of 1000"},
		{baseline.Baseline{Key: baseline.Key{Digest: "d", Container: "c"}, LockedBy: "u"}, "lockedAt and lockedBy must be set together"},
	} {
		if _, err := Baselines([]baseline.Baseline{tc.in}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Baselines(%.40q/%.40q) = %v, want an error containing %q", tc.in.Digest, tc.in.Container, err, tc.want)
		}
	}
}

func TestBaselineKeys(t *testing.T) {
	k := func(d, c string) baseline.Key { return baseline.Key{Digest: d, Container: c} }
	in := []baseline.Key{k("b", "x"), k("a", "y"), k("", "x"), k("b", "x"), k("a", ""), k("a", "b\x00"), k("a", "b")}
	got := BaselineKeys(in)
	if diff := cmp.Diff([]baseline.Key{k("a", "b"), k("a", "y"), k("b", "x")}, got); diff != "" {
		t.Errorf("BaselineKeys mismatch (-want +got):\n%s", diff)
	}
	if !slices.Equal(in[:2], []baseline.Key{k("b", "x"), k("a", "y")}) {
		t.Error("BaselineKeys modified its argument")
	}
}
