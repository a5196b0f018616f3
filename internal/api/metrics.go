package api

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// durationBuckets are the upper bounds, in seconds, of the request
// duration histogram; 0.05 is the answer latency objective.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics counts requests by route and status, in memory. Routes are the
// registered patterns plus "unmatched", and statuses are the few this API
// sends, so the series stay bounded.
type metrics struct {
	inFlight atomic.Int64

	mu        sync.Mutex
	requests  map[routeStatus]uint64
	durations map[string]*histogram
}

type routeStatus struct {
	route  string
	status int
}

type histogram struct {
	buckets []uint64 // not cumulative; one per durationBuckets entry
	count   uint64
	sum     float64
}

func newMetrics() *metrics {
	m := &metrics{requests: map[routeStatus]uint64{}, durations: map[string]*histogram{}}
	m.register(routeUnmatched)
	return m
}

// register creates a route's histogram so it shows with zero counts before
// its first request.
func (m *metrics) register(route string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.durations[route] == nil {
		m.durations[route] = &histogram{buckets: make([]uint64, len(durationBuckets))}
	}
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	sec := d.Seconds()
	i, _ := slices.BinarySearch(durationBuckets, sec)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[routeStatus{route, status}]++
	h := m.durations[route]
	if h == nil {
		h = &histogram{buckets: make([]uint64, len(durationBuckets))}
		m.durations[route] = h
	}
	if i < len(h.buckets) {
		h.buckets[i]++
	}
	h.count++
	h.sum += sec
}

// serveMetrics writes the metrics in the Prometheus text exposition format
// (version 0.0.4).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	s.writeMetrics(bw)
	return bw.Flush()
}

func (s *Server) writeMetrics(w io.Writer) {
	m := s.metrics
	m.mu.Lock()
	reqs := make([]routeStatus, 0, len(m.requests))
	for k := range m.requests {
		reqs = append(reqs, k)
	}
	slices.SortFunc(reqs, func(a, b routeStatus) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		return a.status - b.status
	})
	counts := make([]uint64, len(reqs))
	for i, k := range reqs {
		counts[i] = m.requests[k]
	}
	routes := make([]string, 0, len(m.durations))
	for r := range m.durations {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	hists := make([]histogram, len(routes))
	for i, r := range routes {
		h := m.durations[r]
		hists[i] = histogram{buckets: slices.Clone(h.buckets), count: h.count, sum: h.sum}
	}
	m.mu.Unlock()

	header(w, "palisade_http_requests_total", "counter", "HTTP requests served, by route pattern and status code.")
	for i, k := range reqs {
		fmt.Fprintf(w, "palisade_http_requests_total{route=%s,code=\"%d\"} %d\n", label(k.route), k.status, counts[i])
	}
	header(w, "palisade_http_request_duration_seconds", "histogram", "Time to serve HTTP requests, by route pattern.")
	for i, r := range routes {
		h := hists[i]
		var cum uint64
		for j, le := range durationBuckets {
			cum += h.buckets[j]
			fmt.Fprintf(w, "palisade_http_request_duration_seconds_bucket{route=%s,le=\"%s\"} %d\n", label(r), formatFloat(le), cum)
		}
		fmt.Fprintf(w, "palisade_http_request_duration_seconds_bucket{route=%s,le=\"+Inf\"} %d\n", label(r), h.count)
		fmt.Fprintf(w, "palisade_http_request_duration_seconds_sum{route=%s} %s\n", label(r), formatFloat(h.sum))
		fmt.Fprintf(w, "palisade_http_request_duration_seconds_count{route=%s} %d\n", label(r), h.count)
	}
	header(w, "palisade_http_requests_in_flight", "gauge", "HTTP requests being served.")
	fmt.Fprintf(w, "palisade_http_requests_in_flight %d\n", m.inFlight.Load())

	gen, entries, bytes := s.cache.stats()
	header(w, "palisade_api_cache_hits_total", "counter", "Answer requests served from the cache or by joining a computation in progress.")
	fmt.Fprintf(w, "palisade_api_cache_hits_total %d\n", s.cache.hits.Load())
	header(w, "palisade_api_cache_misses_total", "counter", "Answer requests that computed their answer.")
	fmt.Fprintf(w, "palisade_api_cache_misses_total %d\n", s.cache.misses.Load())
	header(w, "palisade_api_cache_stale_total", "counter", "Answer requests served a stale answer (X-Palisade-Stale) while it was recomputed.")
	fmt.Fprintf(w, "palisade_api_cache_stale_total %d\n", s.cache.stale.Load())
	header(w, "palisade_api_cache_refreshes_total", "counter", "Answers recomputed in the background: after a stale answer, or to warm the cache after changes.")
	fmt.Fprintf(w, "palisade_api_cache_refreshes_total %d\n", s.cache.refreshes.Load())
	header(w, "palisade_api_cache_compressions_total", "counter", "Answers gzip-compressed, each at most once per computation.")
	fmt.Fprintf(w, "palisade_api_cache_compressions_total %d\n", s.cache.compressions.Load())
	header(w, "palisade_api_cache_entries", "gauge", "Responses in the answer cache.")
	fmt.Fprintf(w, "palisade_api_cache_entries %d\n", entries)
	header(w, "palisade_api_cache_bytes", "gauge", "Size of the completed responses in the answer cache, gzip copies included.")
	fmt.Fprintf(w, "palisade_api_cache_bytes %d\n", bytes)
	header(w, "palisade_api_cache_generation", "gauge", "Newest inventory generation the answer cache has seen.")
	fmt.Fprintf(w, "palisade_api_cache_generation %d\n", gen)
	header(w, "palisade_build_info", "gauge", "Always 1; the version label names the running build.")
	fmt.Fprintf(w, "palisade_build_info{version=%s} 1\n", label(s.opts.Version))
}

func header(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// label quotes a label value: backslash, double quote and newline are
// escaped.
func label(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for _, r := range v {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}
