package app

import (
	"archive/zip"
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// zipOf builds an OSV export zip holding files (name → content).
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// feedServer serves OSV exports and hostile answers on loopback, and
// records the User-Agent of each request.
func feedServer(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	goZip := zipOf(t, map[string]string{"GO-2099-0001.json": goRecord})
	debZip := zipOf(t, map[string]string{"TEST-OPENSSL-1.json": opensslRecord, "broken.json": `{"id": "B-1", "affected": [`})
	var mu sync.Mutex
	var agents []string
	mux := http.NewServeMux()
	mux.HandleFunc("/Go/all.zip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		w.Write(goZip)
	})
	// No zip Content-Type nor extension: detected by its magic bytes.
	mux.HandleFunc("/Debian/all", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(debZip)
	})
	mux.HandleFunc("/Debian/all.zip", func(w http.ResponseWriter, r *http.Request) { w.Write(debZip) })
	mux.HandleFunc("/record", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(goRecord))
	})
	// Streams 3 MB without a Content-Length.
	mux.HandleFunc("/huge.zip", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range 48 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/slow.zip", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), agents...)
	}
}

func TestDBImportURL(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	srv, agents := feedServer(t)
	withCreds := func(p string) string {
		u, _ := url.Parse(srv.URL + p)
		u.User = url.UserPassword("alice", "s3cret")
		return u.String()
	}

	code, out, stderr := run(t, "", "db", "import", srv.URL+"/Go/all.zip", withCreds("/Debian/all"), srv.URL+"/record")
	if code != 0 {
		t.Fatalf("db import URLs: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`source "Go-all"`, `source "Debian-all"`, `source "record"`, "imported 1 records from " + srv.URL + "/Go/all.zip"} {
		if !strings.Contains(out, want) {
			t.Errorf("db import output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "broken.json") || strings.Contains(stderr, "palisade-download-") {
		t.Errorf("broken record warning should name the URL, not the temporary file: %q", stderr)
	}
	if strings.Contains(out+stderr, "s3cret") {
		t.Errorf("the password was echoed:\n%s\n%s", out, stderr)
	}
	st := dbStatusOf(t)
	got := map[string]string{}
	for _, s := range st.Sources {
		got[s.Name] = s.Location
	}
	if len(got) != 3 || got["Go-all"] != srv.URL+"/Go/all.zip" || strings.Contains(got["Debian-all"], "s3cret") || !strings.Contains(got["Debian-all"], "/Debian/all") || st.Records != 2 {
		t.Errorf("db status after URL imports = %+v", st)
	}
	for _, ua := range agents() {
		if ua != "palisade/"+Version {
			t.Errorf("User-Agent %q, want palisade/%s", ua, Version)
		}
	}

	// A closed port on loopback stands for a site without network.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://alice:s3cret@" + l.Addr().String() + "/Go/all.zip"
	l.Close()

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"404", []string{withCreds("/missing/all.zip")}, []string{"alice:xxxxx@", "/missing/all.zip", "404 Not Found"}},
		{"too large", []string{srv.URL + "/huge.zip", "--max-download-mb", "1"}, []string{srv.URL + "/huge.zip", "1 MB cap", "--max-download-mb"}},
		{"timeout", []string{withCreds("/slow.zip"), "--timeout", "200ms"}, []string{"/slow.zip", "timed out after 200ms", "--timeout"}},
		{"unreachable", []string{closed}, []string{"cannot reach " + l.Addr().String(), "air-gapped", "palisade db import with files"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, out, stderr := run(t, "", append([]string{"db", "import"}, tc.args...)...)
			if code != ExitError {
				t.Errorf("exit %d, want %d: %s", code, ExitError, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q: %q", w, stderr)
				}
			}
			if strings.Contains(out+stderr, "s3cret") {
				t.Errorf("the password was echoed: %s %s", out, stderr)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
	// The failures kept the stored data.
	if st2 := dbStatusOf(t); st2.Version != st.Version {
		t.Errorf("failed downloads changed the database: %+v", st2)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{srv.URL + "/Go/all.zip", "--timeout", "0s"}},
		{[]string{srv.URL + "/Go/all.zip", "--max-download-mb", "0"}},
	} {
		if code, _, _ := run(t, "", append([]string{"db", "import"}, tc.args...)...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, ExitUsage)
		}
	}
}

func TestURLSourceName(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip", "Debian-all"},
		{"https://osv-vulnerabilities.storage.googleapis.com/Red%20Hat/all.zip", "Red Hat-all"},
		{"https://example.com/feeds/go-vulndb.zip?token=x", "go-vulndb"},
		{"https://example.com/all.zip", "all"},
		{"https://example.com/", "example.com"},
		{"https://example.com", "example.com"},
	} {
		if got := urlSourceName(tc.url); got != tc.want {
			t.Errorf("urlSourceName(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestDBUpdate(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	srv, _ := feedServer(t)
	code, out, stderr := run(t, "", "db", "update", "--feed-base-url", srv.URL, "--ecosystem", "Go", "--ecosystem", "PyPI", "--ecosystem", "Debian", "--kev=false")
	if code != ExitError {
		t.Errorf("db update with a failing feed: exit %d, want %d", code, ExitError)
	}
	if !strings.Contains(stderr, "PyPI") || !strings.Contains(stderr, "404") || !strings.Contains(stderr, "1 of 3 feeds failed") {
		t.Errorf("db update stderr: %q", stderr)
	}
	if !strings.Contains(out, `source "Go-all"`) || !strings.Contains(out, `source "Debian-all"`) {
		t.Errorf("db update stdout: %q", out)
	}
	st := dbStatusOf(t)
	names := map[string]int{}
	for _, s := range st.Sources {
		names[s.Name] = s.Records
	}
	if len(names) != 2 || names["Go-all"] != 1 || names["Debian-all"] != 1 {
		t.Errorf("db status after update = %+v", st)
	}
	if code, _, _ := run(t, "", "db", "update", "--feed-base-url", "ftp://x"); code != ExitUsage {
		t.Errorf("db update --feed-base-url ftp://x: exit %d, want %d", code, ExitUsage)
	}
	if got := feedURL(osvFeedBaseURL, "Red Hat"); got != "https://osv-vulnerabilities.storage.googleapis.com/Red%20Hat/all.zip" {
		t.Errorf("feedURL = %q", got)
	}
}
