package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/synth"
)

var tiny = synth.Spec{Workloads: 60, ContainersPerWorkload: 2, Services: 30, Ingresses: 10, NetworkPolicies: 10, Namespaces: 4, Seed: 9}

// TestRun runs every stage at a tiny size and checks that the report is
// complete. It asserts nothing about time: figures come from
// TestRunReport and docs/benchmarks.md.
func TestRun(t *testing.T) {
	var progress bytes.Buffer
	db := filepath.Join(t.TempDir(), "bench.db")
	r, err := Run(t.Context(), Options{Spec: tiny, Database: db, Requests: 12, Out: &progress})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := r.Objects, tiny.Objects(); got != want {
		t.Errorf("Objects = %d, want %d", got, want)
	}
	if got, want := r.Containers, tiny.Containers(); got != want {
		t.Errorf("Containers = %d, want %d", got, want)
	}
	if len(r.Questions) != len(answer.Questions) || len(r.API) != len(answer.Questions) {
		t.Fatalf("measured %d questions in process and %d over the API, want %d each", len(r.Questions), len(r.API), len(answer.Questions))
	}
	for i, q := range answer.Questions {
		if r.Questions[i].Name != q.Name || r.API[i].Question != q.Name {
			t.Errorf("question %d is %q in process and %q over the API, want %q", i, r.Questions[i].Name, r.API[i].Question, q.Name)
		}
		// Uncompressed, the sizes differ by the digits of generatedAt at
		// most.
		if d := r.API[i].Bytes - int64(r.Questions[i].Bytes); r.Questions[i].Bytes <= 0 || r.API[i].Bytes <= 0 ||
			r.API[i].Encoding == "" && (d < -16 || d > 16) {
			t.Errorf("%s: the API sent %d bytes, the answer encodes to %d", q.Name, r.API[i].Bytes, r.Questions[i].Bytes)
		}
		a := r.API[i]
		if a.Requests != 12 || a.P50 <= 0 || a.P50 > a.P95 || a.P95 > a.P99 || a.P99 > a.Max {
			t.Errorf("%s: implausible latencies %+v", q.Name, a)
		}
	}
	if r.Questions[0].Items != tiny.Containers() {
		t.Errorf("image-sources has %d items, want one per container (%d)", r.Questions[0].Items, tiny.Containers())
	}
	if r.Memory.PeakRSS == 0 || r.Memory.Steady.Heap == 0 {
		t.Errorf("memory not measured: %+v", r.Memory)
	}
	if r.Total.Wall != r.Load.Wall+r.Store.Wall+r.IndexAndAnswer.Wall {
		t.Errorf("Total %s is not the sum of its stages", r.Total.Wall)
	}
	if got, want := len(r.Verdicts), 2+len(answer.Questions); got != want {
		t.Errorf("%d verdicts, want %d", got, want)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the database was not kept at the given path: %v", err)
	}
	if !strings.Contains(progress.String(), "bench: loading") {
		t.Errorf("no progress written to Out:\n%s", progress.String())
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"machine:", "load manifests", "p99", "peak RSS", "overall: "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}

	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("decoding the JSON report: %v", err)
	}
	// Milliseconds as a float64 keep every nanosecond of durations under
	// weeks.
	if diff := cmp.Diff(r, &back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

// TestRunTwiceOnOneDatabase checks that a kept database is replaced, not
// added to, and that the bench token does not stay behind.
func TestRunTwiceOnOneDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bench.db")
	for range 2 {
		r, err := Run(t.Context(), Options{Spec: tiny, Database: db, Requests: 2})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if r.Objects != tiny.Objects() {
			t.Errorf("Objects = %d, want %d", r.Objects, tiny.Objects())
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 100, 100 * time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p0 is the min", ms(3, 4), 0, 3 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(p%d) = %s, want %s", tc.p, got, tc.want)
			}
		})
	}
}

// TestRunReport measures the acceptance target at full size and prints the
// report. It runs only with PALISADE_BENCH=1; PALISADE_BENCH_JSON names a
// file for the JSON report.
//
//	PALISADE_BENCH=1 go test -run TestRunReport -v -timeout 30m ./internal/bench/
func TestRunReport(t *testing.T) {
	if os.Getenv("PALISADE_BENCH") != "1" {
		t.Skip("set PALISADE_BENCH=1 to measure the 10k acceptance target")
	}
	r, err := Run(t.Context(), Options{Out: os.Stderr})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := r.WriteText(os.Stdout); err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("PALISADE_BENCH_JSON"); path != "" {
		js, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(js, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
