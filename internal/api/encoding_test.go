package api

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
)

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		name   string
		values []string // nil: no header
		want   bool
	}{
		{"no header", nil, false},
		{"empty header", []string{""}, false},
		{"gzip", []string{"gzip"}, true},
		{"gzip;q=0", []string{"gzip;q=0"}, false},
		{"br, gzip;q=0.5", []string{"br, gzip;q=0.5"}, true},
		{"*", []string{"*"}, true},
		{"identity", []string{"identity"}, false},
		{"browser", []string{"gzip, deflate, br, zstd"}, true},
		{"upper case and spaces", []string{" GZip ; Q=1.000 "}, true},
		{"x-gzip", []string{"x-gzip"}, true},
		{"gzip;q=0 beats *", []string{"*, gzip;q=0"}, false},
		{"*;q=0", []string{"*;q=0"}, false},
		{"* with identity preferred", []string{"*;q=0.5, identity"}, false},
		{"gzip below identity", []string{"gzip;q=0.5, identity;q=0.8"}, false},
		{"gzip level with identity", []string{"gzip;q=0.8, identity;q=0.8"}, true},
		{"identity refused", []string{"identity;q=0, gzip;q=0.1"}, true},
		{"only br", []string{"br"}, false},
		{"a refusal is not overridden", []string{"gzip;q=0, gzip"}, false},
		{"several header lines", []string{"br", "gzip;q=0.2"}, true},
		{"q over 1 is malformed", []string{"gzip;q=2"}, false},
		{"q too precise is malformed", []string{"gzip;q=0.0001"}, false},
		{"q not a number is malformed", []string{"gzip;q=high"}, false},
		{"other parameters", []string{"gzip;level=9;q=0.7"}, true},
		{"not gzip-like", []string{"gzipper, xgzip"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := acceptsGzip(tt.values); got != tt.want {
				t.Errorf("acceptsGzip(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
}

func TestNoneMatchHas(t *testing.T) {
	const etag = `W/"7-abc"`
	tests := []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{`W/"7-abc"`}, true},
		{[]string{`"7-abc"`}, true}, // weak comparison
		{[]string{`*`}, true},
		{[]string{`"6-abc", W/"7-abc"`}, true},
		{[]string{`"6-abc"`, ` W/"7-abc" `}, true},
		{[]string{`"6-abc"`}, false},
		{[]string{`"7-abc`}, false},
		{[]string{`7-abc`}, false},
		{[]string{`W/`}, false},
		{[]string{`"a,b", "7-abc"`}, true},
	}
	for _, tt := range tests {
		if got := noneMatchHas(tt.values, etag); got != tt.want {
			t.Errorf("noneMatchHas(%q, %s) = %v, want %v", tt.values, etag, got, tt.want)
		}
	}
}

// doWith serves one GET (or another method) as the viewer with extra
// request headers.
func (h *harness) doWith(method, path string, header http.Header) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Authorization", "Bearer "+h.secrets[auth.RoleViewer])
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

// body returns rec's body as the client sees it, gunzipped when
// Content-Encoding says gzip, after checking Content-Length.
func body(t *testing.T, rec *httptest.ResponseRecorder) []byte {
	t.Helper()
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length = %s, body has %d bytes", cl, rec.Body.Len())
	}
	switch ce := rec.Header().Get("Content-Encoding"); ce {
	case "":
		return rec.Body.Bytes()
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		return b
	default:
		t.Fatalf("Content-Encoding = %q", ce)
		return nil
	}
}

func TestGzipNegotiation(t *testing.T) {
	tests := []struct {
		name           string
		acceptEncoding []string // nil: no header
		wantGzip       bool
	}{
		{"no header", nil, false},
		{"gzip", []string{"gzip"}, true},
		{"gzip;q=0", []string{"gzip;q=0"}, false},
		{"br, gzip;q=0.5", []string{"br, gzip;q=0.5"}, true},
		{"*", []string{"*"}, true},
		{"identity", []string{"identity"}, false},
	}
	// Paths whose answer is at least gzipMinSize in the harness, one
	// under it, and the inventory summary, which is small too.
	paths := []struct {
		path  string
		large bool
	}{
		{"/api/v1/questions/image-sources", true},
		{"/api/v1/questions/privileged?namespace=shop", true},
		{"/api/v1/questions/owners", false},
		{"/api/v1/inventory", false},
	}
	for _, tt := range tests {
		for _, p := range paths {
			t.Run(tt.name+" "+p.path, func(t *testing.T) {
				h := newHarness(t)
				// The request that computes the answer compresses it
				// when it wants gzip; so the plain one comes second.
				rec := h.doWith("GET", p.path, http.Header{"Accept-Encoding": tt.acceptEncoding})
				plain := h.doWith("GET", p.path, nil)
				if rec.Code != http.StatusOK || plain.Code != http.StatusOK {
					t.Fatalf("status %d and %d", rec.Code, plain.Code)
				}
				wantGzip := tt.wantGzip && p.large
				if got := rec.Header().Get("Content-Encoding") == "gzip"; got != wantGzip {
					t.Errorf("Content-Encoding = %q, want gzip %v", rec.Header().Get("Content-Encoding"), wantGzip)
				}
				if plain.Header().Get("Content-Encoding") != "" {
					t.Errorf("plain request got Content-Encoding %q", plain.Header().Get("Content-Encoding"))
				}
				if p.large != (plain.Body.Len() >= gzipMinSize) {
					t.Fatalf("the answer has %d bytes: fix the test's paths", plain.Body.Len())
				}
				if wantGzip && rec.Body.Len() >= plain.Body.Len() {
					t.Errorf("gzip body %d bytes, plain %d", rec.Body.Len(), plain.Body.Len())
				}
				for _, r := range []*httptest.ResponseRecorder{rec, plain} {
					if v := r.Header().Get("Vary"); v != "Accept-Encoding" {
						t.Errorf("Vary = %q, want Accept-Encoding", v)
					}
					if ct := r.Header().Get("Content-Type"); ct != "application/json" {
						t.Errorf("Content-Type = %q", ct)
					}
				}
				// One computation, two forms of the same bytes.
				if got, want := body(t, rec), body(t, plain); !bytes.Equal(got, want) {
					t.Errorf("decoded body differs from the plain body:\n%s\n%s", got, want)
				}
				if got, want := rec.Header().Get("ETag"), plain.Header().Get("ETag"); got == "" || got != want {
					t.Errorf("ETags %q and %q, want one non-empty", got, want)
				}
			})
		}
	}
}

func TestGzipErrorsStayPlain(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/api/v1/questions/cost", "/api/v1/questions/owners?ns=x", "/nope"} {
		rec := h.doWith("GET", path, http.Header{"Accept-Encoding": {"gzip"}})
		if ce := rec.Header().Get("Content-Encoding"); ce != "" {
			t.Errorf("%s: error with Content-Encoding %q", path, ce)
		}
		decodeError(t, rec)
	}
}

func TestAnswerHEAD(t *testing.T) {
	const path = "/api/v1/questions/image-sources"
	for _, ae := range []string{"", "gzip"} {
		t.Run("Accept-Encoding "+ae, func(t *testing.T) {
			h := newHarness(t)
			hdr := http.Header{}
			if ae != "" {
				hdr.Set("Accept-Encoding", ae)
			}
			get := h.doWith("GET", path, hdr)
			head := h.doWith("HEAD", path, hdr)
			if head.Code != http.StatusOK || head.Body.Len() != 0 {
				t.Fatalf("HEAD: status %d, %d body bytes; want 200 and none", head.Code, head.Body.Len())
			}
			for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Type", "Vary", "ETag", generationHeader} {
				if g, w := head.Header().Get(k), get.Header().Get(k); g != w {
					t.Errorf("HEAD %s = %q, GET has %q", k, g, w)
				}
			}
			if cl := head.Header().Get("Content-Length"); cl != strconv.Itoa(get.Body.Len()) {
				t.Errorf("HEAD Content-Length = %s, GET sent %d bytes", cl, get.Body.Len())
			}
		})
	}
}

// HEAD through a real server and client, which handle its body
// themselves.
func TestAnswerHEADOverHTTP(t *testing.T) {
	h := newHarness(t)
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	req, err := http.NewRequestWithContext(t.Context(), "HEAD", ts.URL+"/api/v1/questions/privileged", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.secrets[auth.RoleViewer])
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength <= 0 {
		t.Errorf("HEAD: status %d, Content-Encoding %q, Content-Length %d", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.ContentLength)
	}
}

func TestAnswerETag(t *testing.T) {
	h := newHarness(t)
	const path = "/api/v1/questions/exposed"
	first := h.doWith("GET", path, nil)
	etag := first.Header().Get("ETag")
	if !strings.HasPrefix(etag, `W/"1-`) {
		t.Fatalf("ETag = %q, want a weak tag of generation 1", etag)
	}
	if other := h.doWith("GET", "/api/v1/questions/exposed?namespace=shop", nil).Header().Get("ETag"); other == etag {
		t.Errorf("a filtered answer has the ETag of the unfiltered one")
	}
	for _, ae := range []string{"", "gzip"} {
		rec := h.doWith("GET", path, http.Header{"If-None-Match": {etag}, "Accept-Encoding": {ae}})
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Fatalf("If-None-Match %s: status %d, %d body bytes; want 304 and none", etag, rec.Code, rec.Body.Len())
		}
		for k, want := range map[string]string{"ETag": etag, "Vary": "Accept-Encoding", generationHeader: "1", "Content-Encoding": ""} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("304 %s = %q, want %q", k, got, want)
			}
		}
	}
	if rec := h.doWith("GET", path, http.Header{"If-None-Match": {`W/"0-0"`}}); rec.Code != http.StatusOK {
		t.Errorf("another ETag: status %d, want 200", rec.Code)
	}
	h.inv.bump()
	rec := h.doWith("GET", path, http.Header{"If-None-Match": {etag}})
	if rec.Code != http.StatusOK || rec.Header().Get("ETag") == etag {
		t.Errorf("after a change: status %d, ETag %q; want 200 and a new ETag", rec.Code, rec.Header().Get("ETag"))
	}
}

// Without Run, an answer cached plain is served plain to gzip requests:
// they do not wait for a compression, and none starts.
func TestGzipWithoutRunNeverWaits(t *testing.T) {
	h := newHarness(t)
	const path = "/api/v1/questions/image-sources"
	h.doWith("GET", path, nil)
	for range 3 {
		rec := h.doWith("GET", path, http.Header{"Accept-Encoding": {"gzip"}})
		if ce := rec.Header().Get("Content-Encoding"); ce != "" {
			t.Errorf("Content-Encoding = %q, want the plain answer", ce)
		}
	}
	if n := h.srv.cache.compressions.Load(); n != 0 {
		t.Errorf("%d compressions, want none", n)
	}
}

// With Run, the warm-up compresses the unfiltered answers; an answer
// cached plain by a request is compressed once in the background, while
// gzip requests get the plain one.
func TestRunCompressesOnce(t *testing.T) {
	h := newHarness(t)
	h.run(t)
	waitFor(t, "the warm-up of generation 1", func() bool { return h.warmed(1) })
	gz := http.Header{"Accept-Encoding": {"gzip"}}
	misses := h.srv.cache.misses.Load()
	for _, q := range answer.Questions {
		rec := h.doWith("GET", "/api/v1/questions/"+q.Name, gz)
		large := len(body(t, rec)) >= gzipMinSize
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != large {
			t.Errorf("%s: Content-Encoding %q after the warm-up", q.Name, rec.Header().Get("Content-Encoding"))
		}
	}
	if got := h.srv.cache.misses.Load(); got != misses {
		t.Errorf("%d requests computed their answer, want none", got-misses)
	}

	const path = "/api/v1/questions/image-sources?namespace=shop"
	plain := h.doWith("GET", path, nil)
	before := h.srv.cache.compressions.Load()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rec := h.doWith("GET", path, gz)
			if !bytes.Equal(body(t, rec), plain.Body.Bytes()) {
				t.Errorf("body differs from the plain answer")
			}
		})
	}
	wg.Wait()
	waitFor(t, "the gzip copy", func() bool {
		return h.doWith("GET", path, gz).Header().Get("Content-Encoding") == "gzip"
	})
	if n := h.srv.cache.compressions.Load() - before; n != 1 {
		t.Errorf("compressed %d times, want once", n)
	}
}

// Stale-while-revalidate with gzip: after a change, gzip requests get the
// old answer's gzip copy at once, and the recomputed answer comes with
// its own, compressed in the background.
func TestRunServesStaleGzip(t *testing.T) {
	engine, err := answer.NewEngine(answer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	gate := &gateAnswerer{next: engine}
	h := newHarness(t, func(o *Options) { o.Answers = gate; o.MaxStale = time.Hour })
	h.run(t)
	waitFor(t, "the warm-up of generation 1", func() bool { return h.warmed(1) })
	const path = "/api/v1/questions/privileged"
	gz := http.Header{"Accept-Encoding": {"gzip"}}
	before := h.doWith("GET", path, gz)
	if before.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("before the change: Content-Encoding %q, want gzip", before.Header().Get("Content-Encoding"))
	}
	misses := h.srv.cache.misses.Load()

	gate.close()
	h.inv.set(withWorkload("checkout"))
	for range 3 {
		rec := h.doWith("GET", path, gz)
		if rec.Header().Get(generationHeader) != "1" || rec.Header().Get(staleHeader) != "true" ||
			rec.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(rec.Body.Bytes(), before.Body.Bytes()) {
			t.Errorf("after the change: generation %s, stale %q, Content-Encoding %q; want 1, stale, the gzip bytes from before",
				rec.Header().Get(generationHeader), rec.Header().Get(staleHeader), rec.Header().Get("Content-Encoding"))
		}
		if v := rec.Header().Get("Vary"); v != "Accept-Encoding" {
			t.Errorf("Vary = %q", v)
		}
	}
	gate.open()
	var fresh *httptest.ResponseRecorder
	waitFor(t, "the fresh answer", func() bool {
		fresh = h.doWith("GET", path, gz)
		return fresh.Header().Get(generationHeader) == "2" && fresh.Header().Get(staleHeader) == ""
	})
	if fresh.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("the fresh answer: Content-Encoding %q, want gzip", fresh.Header().Get("Content-Encoding"))
	}
	plain := h.doWith("GET", path, nil)
	if plain.Header().Get(generationHeader) != "2" || !bytes.Equal(body(t, fresh), plain.Body.Bytes()) {
		t.Errorf("the fresh gzip answer differs from the plain one")
	}
	if got := h.srv.cache.misses.Load(); got != misses {
		t.Errorf("%d requests computed their answer, want none", got-misses)
	}
}
