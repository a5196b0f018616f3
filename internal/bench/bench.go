// Package bench measures Palisade end to end against its acceptance target
// at a given size: a synthetic cluster (internal/synth) written as YAML,
// loaded through manifest.Load, written through a state.State to a SQLite
// store, indexed and answered by the answer engine, then served by the HTTP
// API to concurrent clients, with the process's peak memory. Run does it in
// one process and returns a Report that says PASS or FAIL per target; a
// missed target is a finding, not an error. `palisade bench` and the
// PALISADE_BENCH=1 test call Run; the Go benchmarks of this package measure
// the stages one at a time.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/state"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/sqlite"
	"github.com/palisade-project/palisade/internal/synth"
)

// Options configures Run. Zero values take the defaults of setDefaults.
type Options struct {
	// Spec sizes the cluster (default synth.Default10k()).
	Spec synth.Spec
	// Database is the SQLite file the inventory is stored in. Empty means
	// a temporary file, removed afterwards. An existing database keeps its
	// tokens and other clusters; the cluster measured is replaced.
	Database string
	// Requests is the number of API requests per question (default 200),
	// after one cold request.
	Requests int
	// Clients is the number of concurrent API clients (default 4).
	Clients int
	// Targets are the limits the report checks (default DefaultTargets).
	Targets Targets
	// TrustedRegistries configures the answer engine (default the
	// organisation registries of the synthetic cluster), so that image
	// verdicts are computed rather than all "unverified".
	TrustedRegistries []string
	// Out receives a line as each stage starts. Nil discards.
	Out io.Writer
}

// Targets are the acceptance limits a Report is checked against.
type Targets struct {
	// Total bounds loading, storing, indexing and answering all questions.
	Total Duration `json:"totalMs"`
	// PeakRSSBytes bounds the process's peak resident memory.
	PeakRSSBytes uint64 `json:"peakRSSBytes"`
	// P99 bounds the 99th percentile latency of each question over the API.
	P99 Duration `json:"p99Ms"`
}

// DefaultTargets are Palisade's acceptance targets at 10,000 workloads on a
// 2-core machine: under 3 s to load and answer, under 400 MB (10^6 bytes)
// resident, under 50 ms p99 per question.
var DefaultTargets = Targets{Total: Duration(3 * time.Second), PeakRSSBytes: 400_000_000, P99: Duration(50 * time.Millisecond)}

// DefaultTrustedRegistries are the registries of the synthetic cluster's
// own organisation.
var DefaultTrustedRegistries = []string{"ghcr.io/acme", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "registry.internal.example.com:5000"}

func (o *Options) setDefaults() {
	if o.Spec == (synth.Spec{}) {
		o.Spec = synth.Default10k()
	}
	if o.Requests <= 0 {
		o.Requests = 200
	}
	if o.Clients <= 0 {
		o.Clients = 4
	}
	if o.Targets == (Targets{}) {
		o.Targets = DefaultTargets
	}
	if o.TrustedRegistries == nil {
		o.TrustedRegistries = DefaultTrustedRegistries
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// Run measures one cluster of opts.Spec end to end and reports the figures
// and verdicts. It fails only when a stage cannot run (a file or the
// database cannot be written, the API answers with errors, ctx ends), not
// when a target is missed.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.setDefaults()
	r := &Report{
		Date:     time.Now().UTC().Truncate(time.Second),
		Machine:  machine(),
		Spec:     opts.Spec,
		Targets:  opts.Targets,
		Requests: opts.Requests,
		Clients:  opts.Clients,
	}
	tmp, err := os.MkdirTemp("", "palisade-bench-")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	db := opts.Database
	if db == "" {
		db = filepath.Join(tmp, "palisade.db")
	}
	step := func(format string, args ...any) { fmt.Fprintf(opts.Out, "bench: "+format+"\n", args...) }

	// (a) Manifests, not part of the total.
	step("writing %d workloads as YAML", opts.Spec.Workloads)
	path := filepath.Join(tmp, "cluster.yaml")
	var size int64
	r.Generate, err = measure(func() error {
		size, err = writeManifests(path, opts.Spec)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.ManifestBytes = size

	// (b) Load.
	step("loading %s (%d MB)", path, size/1_000_000)
	var res *manifest.Result
	r.Load, err = measure(func() error {
		// Large inventories are one big file here: raise the per-file cap
		// so the default does not cut the measurement short.
		res, err = manifest.Load(ctx, []string{path}, manifest.Options{MaxFileBytes: max(size+1, 64<<20)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("loading manifests: %w", err)
	}
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("loading manifests: %d errors, the first: %w", len(res.Errors), res.Errors[0])
	}
	r.Objects = res.Snapshot.Len()
	r.Workloads = len(res.Snapshot.Workloads)
	for _, w := range res.Snapshot.Workloads {
		r.Containers += len(w.Template.Containers)
	}
	r.Memory.AfterLoad = memNow()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// (c) Store through the live state, as `palisade server --manifests`
	// does.
	step("storing %d objects in %s", r.Objects, db)
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, db, logger)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	live := state.New(st, logger)
	objs := res.Snapshot.Objects()
	res = nil // the state holds the objects from here on
	r.Store, err = measure(func() error {
		return live.Replace(ctx, model.DefaultCluster, model.AllKinds, objs)
	})
	if err != nil {
		return nil, fmt.Errorf("storing the inventory: %w", err)
	}
	objs = nil
	r.Memory.AfterStore = memNow()

	// (d) Index and answer every question.
	step("indexing and answering %d questions", len(answer.Questions))
	eng, err := answer.NewEngine(answer.Config{TrustedRegistries: opts.TrustedRegistries})
	if err != nil {
		return nil, err
	}
	if err := r.indexAndAnswer(live, eng); err != nil {
		return nil, err
	}
	r.Total = Phase{Wall: r.Load.Wall + r.Store.Wall + r.IndexAndAnswer.Wall, CPU: r.Load.CPU + r.Store.CPU + r.IndexAndAnswer.CPU}
	r.Memory.AfterAnswer = memNow()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// (e) Serve the API.
	step("serving %d requests per question to %d clients", opts.Requests, opts.Clients)
	if err := r.serve(ctx, live, eng, st, opts); err != nil {
		return nil, err
	}
	r.Memory.AfterAPI = memNow()

	// (f) Memory: the peak, and what the server keeps once the garbage
	// of loading is collected.
	runtime.GC()
	debug.FreeOSMemory()
	r.Memory.Steady = memNow()
	r.Memory.PeakRSS = r.Memory.Steady.PeakRSS
	runtime.KeepAlive(live)

	// A restarted server reads the inventory back from the store: not part
	// of the target, measured after the memory figures so as not to move
	// them.
	step("reloading the inventory from the store, as a restarted server does")
	r.Reload, err = measure(func() error {
		fresh := state.New(st, logger)
		if err := fresh.Load(ctx); err != nil {
			return err
		}
		fresh.Index()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reloading the inventory: %w", err)
	}
	r.check()
	return r, nil
}

func writeManifests(path string, spec synth.Spec) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("writing manifests: %w", err)
	}
	if err := synth.WriteManifests(f, spec); err != nil {
		f.Close()
		return 0, err
	}
	info, err := f.Stat()
	if err == nil {
		err = f.Close()
	} else {
		f.Close()
	}
	if err != nil {
		return 0, fmt.Errorf("writing manifests: %w", err)
	}
	return info.Size(), nil
}

// measure runs fn and returns its wall-clock and CPU time.
func measure(fn func() error) (Phase, error) {
	cpu0, start := cpuTime(), time.Now()
	err := fn()
	return Phase{Wall: Duration(time.Since(start)), CPU: Duration(cpuTime() - cpu0)}, err
}

func (r *Report) indexAndAnswer(live *state.State, eng *answer.Engine) error {
	var answers []any
	var err error
	r.IndexAndAnswer, err = measure(func() error {
		t0 := time.Now()
		ix, _ := live.Index()
		r.Index = Duration(time.Since(t0))
		for _, q := range answer.Questions {
			t := time.Now()
			a, err := eng.Ask(ix, q.Name, answer.Filter{})
			if err != nil {
				return fmt.Errorf("answering %s: %w", q.Name, err)
			}
			r.Questions = append(r.Questions, QuestionResult{Name: q.Name, Answer: Duration(time.Since(t)), Items: items(a)})
			answers = append(answers, a)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Encoding is what the API adds to a cold request; timed apart from
	// the total.
	for i, a := range answers {
		t := time.Now()
		b, err := jsonSize(a)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", r.Questions[i].Name, err)
		}
		r.Questions[i].Encode, r.Questions[i].Bytes = Duration(time.Since(t)), b
	}
	return nil
}

// serve starts the API on a loopback port and measures every question: one
// cold request, then opts.Requests requests from opts.Clients clients.
func (r *Report) serve(ctx context.Context, live *state.State, eng *answer.Engine, st store.Store, opts Options) error {
	secret, hash, err := auth.Generate()
	if err != nil {
		return err
	}
	if err := st.PutToken(ctx, store.Token{Name: "bench", Role: string(auth.RoleAdmin), Hash: hash, CreatedAt: time.Now()}); err != nil {
		return fmt.Errorf("storing the bench token: %w", err)
	}
	defer st.DeleteToken(context.WithoutCancel(ctx), "bench") //nolint:errcheck // best effort on the way out
	handler := api.New(api.Options{
		Inventory: live,
		Answers:   eng,
		Tokens:    st,
		Ready:     func(context.Context) error { return nil },
		Logger:    slog.New(slog.DiscardHandler),
		Version:   "bench",
	})
	// Run the API's background refresh as palisade server does.
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = handler.Run(runCtx) }()
	defer func() { stopRun(); <-runDone }()
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening on loopback: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // the figures are taken; nothing to report
		<-served
	}()

	c := &client{
		http:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: opts.Clients, DisableCompression: true}, Timeout: time.Minute},
		base:   "http://" + l.Addr().String(),
		secret: secret,
	}
	defer c.http.CloseIdleConnections()
	for _, q := range answer.Questions {
		res, err := c.measure(ctx, q.Name, opts.Requests, opts.Clients)
		if err != nil {
			return fmt.Errorf("requesting %s: %w", q.Name, err)
		}
		r.API = append(r.API, res)
	}
	return nil
}

type client struct {
	http   *http.Client
	base   string
	secret string
}

// get requests one answer, reads it whole and returns how long that took,
// its size and its Content-Encoding.
func (c *client) get(ctx context.Context, question string) (time.Duration, int64, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/questions/"+question, nil)
	if err != nil {
		return 0, 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	// Offer gzip as browsers and curl --compressed do. Set by hand, the
	// transport leaves the body as sent, so Bytes is what crossed the
	// wire.
	req.Header.Set("Accept-Encoding", "gzip")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	d := time.Since(start)
	if err != nil {
		return 0, 0, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, "", fmt.Errorf("status %s", resp.Status)
	}
	return d, n, resp.Header.Get("Content-Encoding"), nil
}

func (c *client) measure(ctx context.Context, question string, requests, clients int) (APIResult, error) {
	res := APIResult{Question: question, Requests: requests}
	cold, n, enc, err := c.get(ctx, question)
	if err != nil {
		return res, fmt.Errorf("cold request: %w", err)
	}
	res.Cold, res.Bytes, res.Encoding = Duration(cold), n, enc
	lat := make([]time.Duration, requests)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, clients)
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= requests {
					return
				}
				d, _, _, err := c.get(ctx, question)
				if err != nil {
					errs[w] = fmt.Errorf("request %d: %w", i+1, err)
					return
				}
				lat[i] = d
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	slices.Sort(lat)
	res.P50, res.P95, res.P99 = Duration(percentile(lat, 50)), Duration(percentile(lat, 95)), Duration(percentile(lat, 99))
	res.Max = Duration(lat[len(lat)-1])
	res.PerSecond = float64(requests) / wall.Seconds()
	return res, nil
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
