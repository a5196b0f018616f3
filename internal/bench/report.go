package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/palisade-project/palisade/internal/synth"
)

// Report is what Run measured. Its JSON form keeps durations as
// milliseconds (fields ending in Ms) and sizes as bytes.
type Report struct {
	Date    time.Time  `json:"date"`
	Machine Machine    `json:"machine"`
	Spec    synth.Spec `json:"spec"`
	Targets Targets    `json:"targets"`

	// What was loaded.
	ManifestBytes int64 `json:"manifestBytes"`
	Objects       int   `json:"objects"`
	Workloads     int   `json:"workloads"`
	Containers    int   `json:"containers"`

	// Generate wrote the YAML; it is not part of Total.
	Generate Phase `json:"generate"`
	// Load is manifest.Load: YAML to JSON to API types to the model.
	Load Phase `json:"load"`
	// Store is state.State.Replace: the memory copy and the SQLite write.
	Store Phase `json:"store"`
	// IndexAndAnswer builds the inventory index and answers every
	// question; Index is the index part of it.
	IndexAndAnswer Phase    `json:"indexAndAnswer"`
	Index          Duration `json:"indexMs"`
	// Total is Load + Store + IndexAndAnswer, checked against
	// Targets.Total.
	Total Phase `json:"total"`
	// Questions has the in-process answer of each question.
	Questions []QuestionResult `json:"questions"`

	// API has the latencies of each question served over HTTP.
	Requests int         `json:"requestsPerQuestion"`
	Clients  int         `json:"clients"`
	API      []APIResult `json:"api"`

	Memory Memory `json:"memory"`
	// Reload is how long a restarted server takes to read the inventory
	// back from the store and index it; not part of Total.
	Reload Phase `json:"reload"`

	Verdicts []Verdict `json:"verdicts"`
	// Pass is true when every verdict passes.
	Pass bool `json:"pass"`
}

// Machine describes where the figures were taken.
type Machine struct {
	// GCPercent and MemoryLimit are the Go runtime's GOGC and GOMEMLIMIT
	// during the run (math.MaxInt64 means no limit).
	GCPercent   int    `json:"gcPercent"`
	MemoryLimit int64  `json:"memoryLimitBytes"`
	CPUs        int    `json:"cpus"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	CPUModel    string `json:"cpuModel"`
	GoVersion   string `json:"goVersion"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	// LoadAverage is the 1-minute load average when Run started: above
	// the CPU count, other processes competed for the CPUs.
	LoadAverage float64 `json:"loadAverage"`
}

// Phase is the wall-clock and CPU time (user and system, every thread) of
// one stage. On a busy machine CPU time is the steadier figure.
type Phase struct {
	Wall Duration `json:"wallMs"`
	CPU  Duration `json:"cpuMs"`
}

// QuestionResult is one question answered in process.
type QuestionResult struct {
	Name string `json:"name"`
	// Answer is the time of answer.Engine.Ask.
	Answer Duration `json:"answerMs"`
	// Encode is the time to encode the answer as JSON, which the API adds
	// to a cold request; not part of Total.
	Encode Duration `json:"encodeMs"`
	Items  int      `json:"items"`
	Bytes  int      `json:"bytes"`
}

// APIResult is the latency of one question over the API, measured by the
// client from sending the request to reading the last byte.
type APIResult struct {
	Question string `json:"question"`
	// Cold is the first request, which computes and encodes the answer.
	Cold Duration `json:"coldMs"`
	// The percentiles are of the Requests requests after the cold one.
	Requests  int      `json:"requests"`
	P50       Duration `json:"p50Ms"`
	P95       Duration `json:"p95Ms"`
	P99       Duration `json:"p99Ms"`
	Max       Duration `json:"maxMs"`
	PerSecond float64  `json:"perSecond"`
	// Bytes is the size of the response body as sent, in Encoding (its
	// Content-Encoding; empty for none). The client offers gzip.
	Bytes    int64  `json:"bytes"`
	Encoding string `json:"encoding,omitempty"`
}

// Memory has the process's memory after each stage. PeakRSS, the high-water
// mark of resident memory over the whole run, is checked against
// Targets.PeakRSSBytes.
type Memory struct {
	PeakRSS     uint64    `json:"peakRSSBytes"`
	AfterLoad   MemSample `json:"afterLoad"`
	AfterStore  MemSample `json:"afterStore"`
	AfterAnswer MemSample `json:"afterAnswer"`
	AfterAPI    MemSample `json:"afterAPI"`
	// Steady is taken after a garbage collection that returns freed memory
	// to the system: what the server keeps to serve the inventory.
	Steady MemSample `json:"steady"`
}

// MemSample is one reading of the process's memory.
type MemSample struct {
	// RSS and PeakRSS are VmRSS and VmHWM of /proc/self/status.
	RSS     uint64 `json:"rssBytes"`
	PeakRSS uint64 `json:"peakRSSBytes"`
	// Heap is the Go heap in use (live objects and garbage not yet
	// collected; only live objects in Memory.Steady).
	Heap uint64 `json:"heapBytes"`
}

// Verdict is one target checked.
type Verdict struct {
	Target   string `json:"target"`
	Limit    string `json:"limit"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

// Duration is a time.Duration that encodes in JSON as milliseconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(d)/float64(time.Millisecond), 'f', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration in milliseconds: %w", err)
	}
	*d = Duration(math.Round(ms * float64(time.Millisecond)))
	return nil
}

// String rounds to a precision that suits the size.
func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t >= 10*time.Second:
		return t.Round(10 * time.Millisecond).String()
	case t >= time.Second:
		return t.Round(time.Millisecond).String()
	case t >= time.Millisecond:
		return t.Round(10 * time.Microsecond).String()
	}
	return t.Round(time.Microsecond).String()
}

func (r *Report) check() {
	t := r.Targets
	r.Verdicts = []Verdict{{
		Target:   "load, store, index and answer all questions",
		Limit:    t.Total.String(),
		Measured: r.Total.Wall.String(),
		Pass:     r.Total.Wall < t.Total,
	}, {
		Target:   "peak resident memory",
		Limit:    megabytes(t.PeakRSSBytes),
		Measured: megabytes(r.Memory.PeakRSS),
		Pass:     r.Memory.PeakRSS < t.PeakRSSBytes,
	}}
	for _, a := range r.API {
		r.Verdicts = append(r.Verdicts, Verdict{
			Target:   "API p99 of " + a.Question,
			Limit:    t.P99.String(),
			Measured: a.P99.String(),
			Pass:     a.P99 < t.P99,
		})
	}
	r.Pass = true
	for _, v := range r.Verdicts {
		r.Pass = r.Pass && v.Pass
	}
}

func megabytes(b uint64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

// WriteText writes the report for people: the machine, the stages, the
// questions, memory and the verdict per target.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Palisade benchmark, %s\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "machine: %s, %d CPUs (GOMAXPROCS %d), %s %s/%s, load average %.2f at start\n",
		m.CPUModel, m.CPUs, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch, m.LoadAverage)
	limit := "none"
	if m.MemoryLimit != math.MaxInt64 {
		limit = fmt.Sprintf("%d MiB", m.MemoryLimit>>20)
	}
	fmt.Fprintf(&b, "runtime: GOGC %d, memory limit %s\n", m.GCPercent, limit)
	s := r.Spec.Normalized()
	fmt.Fprintf(&b, "cluster: %d workloads (%d containers), %d Services, %d Ingresses, %d NetworkPolicies, %d namespaces, seed %d\n",
		s.Workloads, r.Containers, s.Services, s.Ingresses, s.NetworkPolicies, s.Namespaces, s.Seed)
	fmt.Fprintf(&b, "         %d objects, %.1f MB of YAML\n\n", r.Objects, float64(r.ManifestBytes)/1e6)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "stage\twall\tcpu\t\n")
	fmt.Fprintf(tw, "write YAML (not counted)\t%s\t%s\t\n", r.Generate.Wall, r.Generate.CPU)
	fmt.Fprintf(tw, "load manifests\t%s\t%s\t\n", r.Load.Wall, r.Load.CPU)
	fmt.Fprintf(tw, "store (state + SQLite)\t%s\t%s\t\n", r.Store.Wall, r.Store.CPU)
	fmt.Fprintf(tw, "index + answer 4 questions\t%s\t%s\t(index %s)\n", r.IndexAndAnswer.Wall, r.IndexAndAnswer.CPU, r.Index)
	fmt.Fprintf(tw, "total\t%s\t%s\ttarget < %s: %s\n", r.Total.Wall, r.Total.CPU, r.Targets.Total, verdict(r.Total.Wall < r.Targets.Total))
	fmt.Fprintf(tw, "reload from store (not counted)\t%s\t%s\t\n", r.Reload.Wall, r.Reload.CPU)
	tw.Flush()

	fmt.Fprintf(&b, "\nin process:\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "question\tanswer\titems\tencode\tJSON\t\n")
	for _, q := range r.Questions {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.1f MB\t\n", q.Name, q.Answer, q.Items, q.Encode, float64(q.Bytes)/1e6)
	}
	tw.Flush()

	fmt.Fprintf(&b, "\nAPI, %d requests per question from %d clients after one cold request:\n", r.Requests, r.Clients)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "question\tcold\tp50\tp95\tp99\tmax\treq/s\tsent\t\t\n")
	for _, a := range r.API {
		sent := fmt.Sprintf("%.1f MB", float64(a.Bytes)/1e6)
		if a.Encoding != "" {
			sent += " " + a.Encoding
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\tp99 < %s: %s\t\n", a.Question, a.Cold, a.P50, a.P95, a.P99, a.Max, a.PerSecond,
			sent, r.Targets.P99, verdict(a.P99 < r.Targets.P99))
	}
	tw.Flush()

	mem := r.Memory
	fmt.Fprintf(&b, "\nmemory (RSS / peak RSS / Go heap):\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, x := range []struct {
		name string
		s    MemSample
	}{{"after load", mem.AfterLoad}, {"after store", mem.AfterStore}, {"after answer", mem.AfterAnswer}, {"after API", mem.AfterAPI}, {"steady (after GC)", mem.Steady}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", x.name, megabytes(x.s.RSS), megabytes(x.s.PeakRSS), megabytes(x.s.Heap))
	}
	tw.Flush()
	fmt.Fprintf(&b, "peak RSS %s: target < %s: %s\n\n", megabytes(mem.PeakRSS), megabytes(r.Targets.PeakRSSBytes), verdict(mem.PeakRSS < r.Targets.PeakRSSBytes))

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, v := range r.Verdicts {
		fmt.Fprintf(tw, "%s\t%s\t< %s\t%s\n", verdict(v.Pass), v.Target, v.Limit, v.Measured)
	}
	tw.Flush()
	fmt.Fprintf(&b, "overall: %s\n", verdict(r.Pass))
	_, err := io.WriteString(w, b.String())
	return err
}

// items counts the items of an answer (*answer.Answer[T] for any T).
func items(a any) int {
	v := reflect.ValueOf(a)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return -1
	}
	f := v.FieldByName("Items")
	if f.Kind() != reflect.Slice {
		return -1
	}
	return f.Len()
}

// jsonSize returns the size of the answer as the API sends it, encoded as
// the API encodes it on a cold request (AppendJSON, without a size hint).
func jsonSize(a any) (int, error) {
	if ap, ok := a.(interface{ AppendJSON([]byte) ([]byte, error) }); ok {
		b, err := ap.AppendJSON(nil)
		return len(b) + 1, err
	}
	b, err := json.Marshal(a)
	return len(b) + 1, err
}
