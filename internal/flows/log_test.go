package flows

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/palisade-project/palisade/internal/model"
)

var testNow = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func testLimits() Limits { return Limits{Now: func() time.Time { return testNow }} }

func readFile(t *testing.T, name string, lim Limits) ([]LogFlow, []LineError, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ReadLog(f, lim)
}

// validFlows are the flows of testdata/valid/lines.jsonl and array.json,
// on the lines given.
func validFlows(lines ...int) []LogFlow {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return []LogFlow{
		{Line: lines[0], Start: t0, End: t0, Src: netip.MustParseAddr("10.0.1.5"), Dst: netip.MustParseAddr("10.0.2.7"), Port: 8080, Protocol: TCP, Count: 3},
		{Line: lines[1], Start: t0.Add(time.Minute), End: t0.Add(5 * time.Minute),
			SrcWorkload: WorkloadName{Namespace: "shop", Name: "frontend"},
			DstWorkload: WorkloadName{Namespace: "shop", Kind: model.KindDeployment, Name: "cart"}, Port: 7070, Protocol: TCP, Count: 1},
		{Line: lines[2], Cluster: "prod", Start: t0.Add(2*time.Minute + 500*time.Millisecond), End: t0.Add(2*time.Minute + 500*time.Millisecond),
			Src: netip.MustParseAddr("fd00::5"), Dst: netip.MustParseAddr("10.0.2.7"), Port: 53, Protocol: UDP, Count: 1},
	}
}

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestReadLogValid(t *testing.T) {
	tests := []struct {
		file string
		want []LogFlow
	}{
		{"valid/lines.jsonl", validFlows(2, 3, 5)},
		{"valid/array.json", validFlows(2, 4, 9)},
		{"valid/empty.jsonl", nil},
		{"valid/blank.jsonl", nil},
		{"valid/empty-array.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, errs, err := readFile(t, tt.file, testLimits())
			if err != nil || len(errs) > 0 {
				t.Fatalf("ReadLog: %v, line errors %v", err, errs)
			}
			if diff := cmp.Diff(tt.want, got, addrCmp, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("flows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadLogMalformedLines(t *testing.T) {
	got, errs, err := readFile(t, "invalid/lines.jsonl", testLimits())
	if err != nil {
		t.Fatalf("ReadLog: %v", err)
	}
	// The good lines are kept.
	var lines []int
	for _, f := range got {
		lines = append(lines, f.Line)
	}
	if diff := cmp.Diff([]int{1, 26}, lines); diff != "" {
		t.Errorf("lines kept (-want +got):\n%s", diff)
	}
	want := map[int]string{
		2:  "not a JSON object",
		3:  `protocol "ICMP": want TCP, UDP or SCTP`,
		4:  `src "10.0.1.300" is not an IP address`,
		5:  `dst "fe80::1%eth0" is not an IP address`,
		6:  "dstPort is missing",
		7:  "dstPort 0: want 1 to 65535",
		8:  "dstPort 70000: want 1 to 65535",
		9:  "dstPort: want a number, not a JSON string",
		10: "time is missing",
		11: `time "yesterday": want RFC 3339`,
		12: "before 2000",
		13: "more than a day in the future",
		14: "endTime is before time",
		15: "src or srcWorkload is missing",
		16: `srcWorkload "frontend": want NAMESPACE/NAME or NAMESPACE/KIND/NAME`,
		17: `kind "Service" is not a workload kind`,
		18: "namespace and name must be 1 to 253 characters",
		19: "count 0: want a whole number",
		20: "count 2.5: want a whole number",
		21: "count -1: want a whole number",
		22: "not a JSON object",
		23: "invalid JSON",
		24: "cluster: want a string, not a JSON number",
		25: "dstPort: number 1e30 is not a whole number in range",
	}
	if len(errs) != len(want) {
		t.Errorf("%d line errors, want %d: %v", len(errs), len(want), errs)
	}
	for _, e := range errs {
		w, ok := want[e.Line]
		if !ok {
			t.Errorf("unexpected error %v", e)
			continue
		}
		if !strings.Contains(e.Message, w) {
			t.Errorf("line %d: message %q, want it to contain %q", e.Line, e.Message, w)
		}
		if !strings.HasPrefix(e.Error(), fmt.Sprintf("line %d: ", e.Line)) {
			t.Errorf("Error() = %q does not start with the line", e.Error())
		}
	}
}

func TestReadLogArrays(t *testing.T) {
	tests := []struct {
		file      string
		wantLines []int
		wantErrs  map[int]string
		wantErr   error
	}{
		{"invalid/array.json", []int{2, 6}, map[int]string{3: `protocol "GRE"`, 4: "not a JSON object", 5: "invalid JSON"}, nil},
		{"invalid/unclosed-array.json", nil, nil, ErrSyntax},
		{"invalid/trailing.json", nil, nil, ErrSyntax},
		{"invalid/utf8.jsonl", []int{1}, map[int]string{2: "not valid UTF-8"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, errs, err := readFile(t, tt.file, testLimits())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadLog error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got != nil {
					t.Errorf("flows returned with an error: %v", got)
				}
				return
			}
			var lines []int
			for _, f := range got {
				lines = append(lines, f.Line)
			}
			if diff := cmp.Diff(tt.wantLines, lines); diff != "" {
				t.Errorf("lines kept (-want +got):\n%s", diff)
			}
			gotErrs := map[int]string{}
			for _, e := range errs {
				gotErrs[e.Line] = e.Message
			}
			for line, w := range tt.wantErrs {
				if !strings.Contains(gotErrs[line], w) {
					t.Errorf("line %d: error %q, want it to contain %q", line, gotErrs[line], w)
				}
			}
			if len(errs) != len(tt.wantErrs) {
				t.Errorf("line errors %v, want %d", errs, len(tt.wantErrs))
			}
		})
	}
}

const goodLine = `{"time":"2026-11-25T10:00:00Z","src":"10.0.1.5","dst":"10.0.2.7","dstPort":8080}` + "\n"

func TestReadLogLimits(t *testing.T) {
	long := `{"time":"2026-11-25T10:00:00Z","src":"10.0.1.5","dst":"10.0.2.7","dstPort":8080,"pad":"` + strings.Repeat("x", 200) + `"}` + "\n"
	tests := []struct {
		name      string
		input     string
		lim       Limits
		wantFlows int
		wantErrs  []LineError
		wantErr   error
	}{
		{"oversize line skipped", goodLine + long + goodLine, Limits{MaxLineBytes: 100}, 2,
			[]LineError{{Line: 2, Message: "longer than 100 bytes"}}, nil},
		{"oversize last line without newline", goodLine + strings.TrimSpace(long), Limits{MaxLineBytes: 100}, 1,
			[]LineError{{Line: 2, Message: "longer than 100 bytes"}}, nil},
		{"line of exactly the limit", goodLine, Limits{MaxLineBytes: len(goodLine) - 1}, 1, nil, nil},
		{"line one byte over", goodLine, Limits{MaxLineBytes: len(goodLine) - 2}, 0,
			[]LineError{{Line: 1, Message: fmt.Sprintf("longer than %d bytes", len(goodLine)-2)}}, nil},
		{"oversize array element", "[" + strings.TrimSpace(long) + "," + strings.TrimSpace(goodLine) + "]", Limits{MaxLineBytes: 100}, 1,
			[]LineError{{Line: 1, Message: "element longer than 100 bytes"}}, nil},
		{"lines at the limit", strings.Repeat(goodLine, 3), Limits{MaxLines: 3}, 3, nil, nil},
		{"too many lines", strings.Repeat(goodLine, 4), Limits{MaxLines: 3}, 0, nil, ErrTooManyLines},
		{"bad lines count as lines", "x\nx\n" + goodLine + goodLine, Limits{MaxLines: 3}, 0, nil, ErrTooManyLines},
		{"bytes at the limit", strings.Repeat(goodLine, 2), Limits{MaxBytes: int64(2 * len(goodLine))}, 2, nil, nil},
		{"too many bytes", strings.Repeat(goodLine, 2), Limits{MaxBytes: int64(2*len(goodLine) - 1)}, 0, nil, ErrTooLarge},
		{"errors at the cap", "x\nx\n" + goodLine, Limits{MaxErrors: 2}, 1,
			[]LineError{{Line: 1, Message: "not a JSON object"}, {Line: 2, Message: "not a JSON object"}}, nil},
		{"too many errors", "x\nx\nx\n" + goodLine, Limits{MaxErrors: 2}, 0, nil, ErrTooManyErrors},
		{"CRLF line ends", strings.ReplaceAll(strings.Repeat(goodLine, 2), "\n", "\r\n"), Limits{}, 2, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			lim.Now = func() time.Time { return testNow }
			got, errs, err := ReadLog(strings.NewReader(tt.input), lim)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if len(got) != tt.wantFlows {
				t.Errorf("%d flows, want %d", len(got), tt.wantFlows)
			}
			if tt.wantErr != nil {
				return
			}
			if diff := cmp.Diff(tt.wantErrs, errs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("line errors (-want +got):\n%s", diff)
			}
		})
	}
}

// A reader error is returned as it is.
func TestReadLogReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, _, err := ReadLog(&failingReader{data: []byte(goodLine), err: boom}, testLimits())
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want %v", err, boom)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// ScanLog stops at the callback's error.
func TestScanLogStops(t *testing.T) {
	stop := errors.New("enough")
	n := 0
	_, err := ScanLog(strings.NewReader(strings.Repeat(goodLine, 5)), testLimits(), func(LogFlow) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("error %v after %d flows, want %v after 2", err, n, stop)
	}
}

func TestParseWorkloadName(t *testing.T) {
	tests := []struct {
		in      string
		want    WorkloadName
		wantErr string
	}{
		{"shop/cart", WorkloadName{Namespace: "shop", Name: "cart"}, ""},
		{"shop/deployment/cart", WorkloadName{Namespace: "shop", Kind: model.KindDeployment, Name: "cart"}, ""},
		{"shop/STATEFULSET/db", WorkloadName{Namespace: "shop", Kind: model.KindStatefulSet, Name: "db"}, ""},
		{"shop/pod/cart-7d9-abcde", WorkloadName{Namespace: "shop", Kind: model.KindPod, Name: "cart-7d9-abcde"}, ""},
		{"cart", WorkloadName{}, "want NAMESPACE/NAME"},
		{"a/b/c/d", WorkloadName{}, "want NAMESPACE/NAME"},
		{"/cart", WorkloadName{}, "1 to 253"},
		{"shop/" + strings.Repeat("x", 254), WorkloadName{}, "1 to 253"},
		{"shop/Ingress/web", WorkloadName{}, "not a workload kind"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWorkloadName(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseWorkloadName = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// FuzzReadLog: no input panics or breaks the bounds.
func FuzzReadLog(f *testing.F) {
	for _, name := range []string{"valid/lines.jsonl", "valid/array.json", "invalid/lines.jsonl", "invalid/array.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxLineBytes: 256, MaxLines: 50, MaxErrors: 10, Now: func() time.Time { return testNow }}
		got, errs, err := ReadLog(bytes.NewReader(b), lim)
		if len(got) > 50 || len(errs) > 10 {
			t.Fatalf("%d flows, %d errors: over the limits", len(got), len(errs))
		}
		if err != nil && got != nil {
			t.Fatal("flows with an error")
		}
		for _, f := range got {
			if f.Port == 0 || f.Count == 0 || f.End.Before(f.Start) {
				t.Fatalf("invalid flow %+v", f)
			}
		}
	})
}
