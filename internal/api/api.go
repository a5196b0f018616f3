// Package api serves Palisade's HTTP API: health and readiness probes, the
// answers to Palisade's questions, a summary of the inventory, API token
// management and Prometheus metrics. It reads the live inventory, the answer
// engine and the token store through the small interfaces below, which
// internal/app fills in; it never logs a secret.
//
// Every response is JSON except /metrics; every error has the shape
// {"error":{"code":"...","message":"..."}}. Answers are cached as encoded
// JSON per inventory generation, so repeated requests between two changes
// only copy bytes. docs/api.md and docs/openapi.yaml describe the endpoints.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/store"
)

// Inventory gives the current inventory index and its generation, a number
// that grows with every change. *state.State implements it.
type Inventory interface {
	Index() (*inventory.Index, uint64)
}

// Answerer answers a question over an index. *answer.Engine implements it.
// It returns an error wrapping answer.ErrUnknownQuestion for a name it does
// not answer.
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
}

// DefaultMaxBodyBytes is the default cap on request bodies.
const DefaultMaxBodyBytes = 1 << 20

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
	return o
}

type server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	cache   *answerCache
	now     func() time.Time
	// tokenMu serialises token creation and deletion in this process, so
	// that two requests cannot both create the same name or both delete
	// the last two admin tokens.
	tokenMu sync.Mutex
}

// New returns the API handler. It panics if a required option is missing.
func New(opts Options) http.Handler {
	opts = opts.withDefaults()
	s := &server{
		opts:    opts,
		log:     opts.Logger,
		mux:     http.NewServeMux(),
		metrics: newMetrics(),
		cache:   newAnswerCache(cacheMaxEntries, cacheMaxBytes),
		now:     time.Now,
	}
	s.handle("GET /healthz", "", s.healthz)
	s.handle("GET /readyz", "", s.readyz)
	s.handle("GET /metrics", auth.RoleViewer, s.serveMetrics)
	s.handle("GET /api/v1/questions", auth.RoleViewer, s.listQuestions)
	s.handle("GET /api/v1/questions/{name}", auth.RoleViewer, s.question)
	s.handle("GET /api/v1/inventory", auth.RoleViewer, s.inventory)
	s.handle("GET /api/v1/tokens", auth.RoleAdmin, s.listTokens)
	s.handle("POST /api/v1/tokens", auth.RoleAdmin, s.createToken)
	s.handle("DELETE /api/v1/tokens/{name}", auth.RoleAdmin, s.deleteToken)
	return s
}

// handlerFunc is an endpoint: it writes a response, or returns an error
// that writeError turns into one.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers an endpoint that needs a token of at least role, or no
// token when role is empty.
func (s *server) handle(pattern string, role auth.Role, h handlerFunc) {
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
	token string
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
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
func (s *server) noRoute(w http.ResponseWriter, r *http.Request, handler http.Handler) {
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
