// Package api serves Palisade's HTTP API: health and readiness probes, the
// answers to Palisade's questions and the report of all of them, whether
// the NetworkPolicies allow one connection, a summary
// of the inventory, API token management and Prometheus metrics. It reads
// the live inventory, the answer engine and the token store through the
// small interfaces below, which internal/app fills in; it never logs a
// secret.
//
// Every response is JSON except /metrics; every error has the shape
// {"error":{"code":"...","message":"..."}}. Answers are cached as encoded
// JSON per inventory generation, and gzip-compressed once for clients that
// accept gzip, so repeated requests between two changes only copy bytes.
// While Server.Run runs, the cache also serves an answer
// of the previous generation for a bounded time after a change (marked
// stale) while it recomputes the answer in the background, and recomputes
// the unfiltered answers shortly after changes, so that requests seldom
// wait for a computation. docs/api.md and docs/openapi.yaml describe the
// endpoints.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Inventory gives the current inventory index and its generation, a number
// that grows with every change. *state.State implements it.
type Inventory interface {
	Index() (*inventory.Index, uint64)
	// Changed returns a channel that is closed at the next change, after
	// which Index returns a newer generation. The handler takes it before
	// reading the index: while it is open, a cached answer of that
	// generation is current and requests do not need to read the index at
	// all. An implementation that never changes may return a channel that
	// is never closed; nil means changes are not signalled, and every
	// request reads the index.
	Changed() <-chan struct{}
}

// Answerer answers a question over an index. *answer.Engine implements it.
// It returns an error wrapping answer.ErrUnknownQuestion for a name it does
// not answer. An Answerer that also implements Reporter serves
// /api/v1/report.
type Answerer interface {
	Ask(ix *inventory.Index, question string, f answer.Filter) (any, error)
}

// Tokens stores API token records. store.Store implements it.
type Tokens interface {
	// TokenByHash returns the token with the given hash, or an error
	// wrapping store.ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (store.Token, error)
	PutToken(ctx context.Context, t store.Token) error
	Tokens(ctx context.Context) ([]store.Token, error)
	DeleteToken(ctx context.Context, name string) error
}

// Options configures the API handler. Inventory, Answers and Tokens are
// required.
type Options struct {
	Inventory Inventory
	Answers   Answerer
	Tokens    Tokens
	// Observations takes node agents' reports; nil refuses them (501).
	Observations Observations
	// Flows takes imported flow logs; nil refuses them (501).
	Flows FlowStore
	// Cluster is the name of the cluster the server watches: agent tokens
	// stored without a cluster report for it. Empty means
	// model.DefaultCluster.
	Cluster string
	// ServiceAccounts identifies node agents by their Kubernetes service
	// account tokens on the agent endpoint; nil accepts only Palisade
	// tokens there.
	ServiceAccounts ServiceAccounts
	// Ready reports readiness for /readyz: nil means ready (store
	// reachable, sources synced). Its error message is shown to
	// unauthenticated callers, so it should name what is not ready without
	// internal detail. A nil Ready means always ready.
	Ready func(ctx context.Context) error
	// Logger receives one record per request and token changes. Nil
	// discards.
	Logger *slog.Logger
	// Version is reported by the palisade_build_info metric.
	Version string
	// MaxBodyBytes caps request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxStale bounds how stale an answer may be while Server.Run runs:
	// for that long after the inventory changes, a request gets the
	// answer of the generation before, at once and marked with
	// X-Palisade-Stale, while one recomputation runs in the background;
	// later, requests wait for the answer of the current generation.
	// 0 means DefaultMaxStale; a negative value disables stale answers.
	// Without Run nothing is served stale.
	MaxStale time.Duration
}

// DefaultMaxBodyBytes is the default cap on request bodies.
const DefaultMaxBodyBytes = 1 << 20

// DefaultMaxStale is the default of Options.MaxStale.
const DefaultMaxStale = 2 * time.Second

// Warm-up after changes: the unfiltered answers are recomputed once the
// inventory has been quiet for warmQuiet, or warmMaxDelay after the first
// change of a burst if it keeps changing.
const (
	warmQuiet    = 250 * time.Millisecond
	warmMaxDelay = time.Second
)

// readyTimeout bounds one call of Options.Ready.
const readyTimeout = 5 * time.Second

// Bounds of the answer cache. Keys come from query parameters, so both the
// number of entries and their total size are capped; answers over the caps
// are served without being kept.
const (
	cacheMaxEntries = 512
	cacheMaxBytes   = 256 << 20
)

func (o Options) withDefaults() Options {
	if o.Inventory == nil || o.Answers == nil || o.Tokens == nil {
		panic("api.New: Options.Inventory, Options.Answers and Options.Tokens are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxStale == 0 {
		o.MaxStale = DefaultMaxStale
	}
	if o.Cluster == "" {
		o.Cluster = model.DefaultCluster
	}
	return o
}

// Server is the API handler.
type Server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	cache   *answerCache
	// agentSlots bounds the agent reports handled at once; flowSlots
	// the flow log imports (one).
	agentSlots chan struct{}
	flowSlots  chan struct{}
	now        func() time.Time
	// tokenMu serialises token creation and deletion in this process, so
	// that two requests cannot both create the same name or both delete
	// the last two admin tokens.
	tokenMu sync.Mutex
	// verified remembers tokens recently verified against the store, by
	// hash, to keep answering when the store is down (see authorize).
	verified sync.Map // string → verifiedToken
	bg       background
	// warmQuiet and warmMaxDelay are the warm-up delays (tests shorten
	// them).
	warmQuiet, warmMaxDelay time.Duration
}

// New returns the API handler. It panics if a required option is missing.
// It serves requests at once; Run adds the background work that keeps
// answers fresh.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:         opts,
		log:          opts.Logger,
		mux:          http.NewServeMux(),
		metrics:      newMetrics(),
		cache:        newAnswerCache(cacheMaxEntries, cacheMaxBytes),
		agentSlots:   make(chan struct{}, maxAgentReports),
		flowSlots:    make(chan struct{}, 1),
		now:          time.Now,
		warmQuiet:    warmQuiet,
		warmMaxDelay: warmMaxDelay,
	}
	s.cache.maxStale = max(opts.MaxStale, 0)
	s.cache.load = s.view
	s.cache.spawn = s.bg.spawn
	s.cache.active = s.bg.running
	s.bg.log = s.log
	s.bg.sem = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
	s.handle("GET /healthz", "", s.healthz)
	s.handle("GET /readyz", "", s.readyz)
	s.handle("GET /metrics", auth.RoleViewer, s.serveMetrics)
	s.handle("GET /api/v1/questions", auth.RoleViewer, s.listQuestions)
	s.handle("GET /api/v1/questions/{name}", auth.RoleViewer, s.question)
	s.handle("GET /api/v1/report", auth.RoleViewer, s.report)
	s.handle("GET /api/v1/reachable", auth.RoleViewer, s.reachable)
	s.handle("GET /api/v1/inventory", auth.RoleViewer, s.inventory)
	s.handle("POST /api/v1/agent/report", auth.RoleAgent, s.agentReport)
	s.handle("POST /api/v1/flows", auth.RoleAnalyst, s.importFlows)
	s.handle("GET /api/v1/tokens", auth.RoleAdmin, s.listTokens)
	s.handle("POST /api/v1/tokens", auth.RoleAdmin, s.createToken)
	s.handle("DELETE /api/v1/tokens/{name}", auth.RoleAdmin, s.deleteToken)
	return s
}

// ErrRunning is returned by Run when it is already running.
var ErrRunning = errors.New("api: Server.Run is already running")

// Run does the handler's background work until ctx ends: it recomputes
// the unfiltered answer of every question shortly after the inventory
// changes (warmQuiet after the last change of a burst, at most
// warmMaxDelay after its first), and it runs the recomputations that stale
// answers start. Without Run the handler serves nothing stale and computes
// answers in the requests that need them. Run returns nil once ctx has
// ended and every background computation has returned; computations are
// not interrupted, so that takes at most the time of one.
func (s *Server) Run(ctx context.Context) error {
	if !s.bg.start(ctx.Done()) {
		return ErrRunning
	}
	defer s.bg.stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	changes := make(chan struct{}, 1)
	wg.Go(func() { s.warmAfter(ctx, changes) })
	// This loop only watches, so that the cache learns of every change
	// as it happens: staleness counts from then.
	inv := s.opts.Inventory
	changed := inv.Changed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		s.cache.notice()
		// Changed waits while the inventory rebuilds its index, and a
		// change may slip in meanwhile: look again once it returns.
		changed = inv.Changed()
		s.cache.notice()
		select {
		case changes <- struct{}{}:
		default:
		}
	}
}

// warmAfter warms the cache now, then after each burst of changes:
// warmQuiet after the last change, or warmMaxDelay after the first if the
// inventory keeps changing.
func (s *Server) warmAfter(ctx context.Context, changes <-chan struct{}) {
	s.warm(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		}
		first := time.Now()
		timer := time.NewTimer(s.warmQuiet)
	burst:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-changes:
				timer.Reset(max(0, min(s.warmQuiet, s.warmMaxDelay-time.Since(first))))
			case <-timer.C:
				break burst
			}
		}
		s.warm(ctx)
	}
}

// warm computes the unfiltered answers that are not current, one at a
// time, each after taking a background slot.
func (s *Server) warm(ctx context.Context) {
	for _, q := range answer.Questions {
		if !s.bg.acquire(ctx) {
			return
		}
		func() {
			defer s.bg.release()
			defer s.bg.recover()
			s.cache.warm(cacheKey{kind: kindQuestion, name: q.Name}, s.computeQuestion(q.Name, answer.Filter{}))
		}()
	}
}

// view reads the inventory: the change channel first, then the index.
func (s *Server) view() view {
	changed := s.opts.Inventory.Changed()
	ix, gen := s.opts.Inventory.Index()
	return view{ix: ix, gen: gen, changed: changed}
}

// background runs computations off the request path while Run runs. sem
// bounds how many run at once, so that recomputing after changes never
// takes every CPU from requests.
type background struct {
	log *slog.Logger
	sem chan struct{}

	mu sync.Mutex
	// done is Run's ctx.Done() while Run runs, nil otherwise.
	done <-chan struct{}
	wg   sync.WaitGroup
}

func (b *background) start(done <-chan struct{}) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done != nil {
		return false
	}
	b.done = done
	return true
}

// running reports whether Run runs.
func (b *background) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done != nil
}

// stop refuses new work and waits for the work started.
func (b *background) stop() {
	b.mu.Lock()
	b.done = nil
	b.mu.Unlock()
	b.wg.Wait()
}

// spawn runs f in a new goroutine once a slot is free, with run true, or
// with run false if Run ends first. It returns false, without calling f,
// when Run is not running.
func (b *background) spawn(f func(run bool)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	done := b.done
	if done == nil {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer b.recover()
		select {
		case b.sem <- struct{}{}:
		case <-done:
			f(false)
			return
		}
		defer b.release()
		select {
		case <-done:
			f(false)
		default:
			f(true)
		}
	}()
	return true
}

// acquire takes a slot, or returns false when ctx ends first.
func (b *background) acquire(ctx context.Context) bool {
	select {
	case b.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (b *background) release() { <-b.sem }

// recover logs a panic of a background computation instead of crashing
// the server; the cache has already dropped the computation.
func (b *background) recover() {
	if p := recover(); p != nil {
		b.log.Error("panic computing an answer in the background", "panic", p)
	}
}

// handlerFunc is an endpoint: it writes a response, or returns an error
// that writeError turns into one.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers an endpoint that needs a token of at least role, or no
// token when role is empty.
func (s *Server) handle(pattern string, role auth.Role, h handlerFunc) {
	s.metrics.register(pattern)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if role != "" {
			if err := s.authorize(r, role); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// routeUnmatched labels requests that match no endpoint in logs and
// metrics.
const routeUnmatched = "unmatched"

// requestInfo carries what the handlers learn back to ServeHTTP.
type requestInfo struct {
	// token names the credentials (a token's name, a service account):
	// never a secret.
	token string
	role  auth.Role
	// agent is what agent credentials may report for; nil for other
	// roles, which are not bound to a cluster or node.
	agent *auth.AgentScope
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// ServeHTTP sets the security headers, routes the request, and records its
// log line and metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	rw := &responseWriter{ResponseWriter: w}
	h := rw.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")

	s.metrics.inFlight.Add(1)
	handler, route := s.mux.Handler(r)
	defer func() {
		s.metrics.inFlight.Add(-1)
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", r.Method, "route", route, "panic", p)
			if !rw.wroteHeader {
				writeErrorBody(rw, http.StatusInternalServerError, codeInternal, "internal error; the server log has details")
			}
		}
		d := time.Since(start)
		status := rw.statusCode()
		s.metrics.observe(route, status, d)
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("duration", d),
			slog.Int64("bytes", rw.bytes),
		}
		if info.token != "" {
			attrs = append(attrs, slog.String("token", info.token))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
	}()
	if route == "" {
		route = routeUnmatched
		s.noRoute(rw, r, handler)
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// noRoute answers a request no endpoint matches with a JSON 404, or 405
// when the path exists for other methods. handler is the mux's own answer,
// run against a scratch writer to learn which of the two it is.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, handler http.Handler) {
	probe := &discardWriter{header: http.Header{}}
	handler.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		allow := probe.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeErrorBody(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "method "+r.Method+" is not allowed here; allowed: "+allow)
		return
	}
	writeErrorBody(w, http.StatusNotFound, codeNotFound, "no endpoint at this path; see docs/api.md for the list")
}

// responseWriter records the status and size of a response.
type responseWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	bytes       int64
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *responseWriter) statusCode() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardWriter keeps a status and headers and drops the body.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}
