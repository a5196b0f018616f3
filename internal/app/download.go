package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Download defaults for `palisade db import URL` and `palisade db update`.
const (
	defaultDownloadTimeout = 10 * time.Minute
	defaultMaxDownloadMB   = 2048
)

// downloadOptions bounds one download.
type downloadOptions struct {
	timeout  time.Duration // for the whole download, headers and body
	maxBytes int64         // the body is cut and refused past this
}

func (o downloadOptions) validate() error {
	if o.timeout <= 0 {
		return usageError("--timeout must be positive")
	}
	if o.maxBytes <= 0 {
		return usageError("--max-download-mb must be positive")
	}
	return nil
}

// isURL reports whether a SOURCE is an http:// or https:// URL rather than
// a path.
func isURL(src string) bool {
	lower := strings.ToLower(src)
	return strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://")
}

// redactURL is src with any password replaced, for messages and the stored
// location; an unparsable URL is not echoed at all.
func redactURL(src string) string {
	u, err := url.Parse(src)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// urlSourceName is the default source name of a URL: the last path element
// without extension, prefixed with its parent element when that name is
// "all", so that the per-ecosystem OSV exports .../Debian/all.zip and
// .../PyPI/all.zip become the sources "Debian-all" and "PyPI-all" instead
// of colliding as "all". A URL without a path is named by its host.
func urlSourceName(src string) string {
	u, err := url.Parse(src)
	if err != nil {
		return src
	}
	p := strings.TrimSuffix(u.Path, "/")
	base := path.Base(p)
	if p == "" || base == "/" || base == "." {
		return u.Hostname()
	}
	name := strings.TrimSuffix(base, path.Ext(base))
	if strings.EqualFold(name, "all") {
		if parent := path.Base(path.Dir(p)); parent != "/" && parent != "." {
			name = parent + "-" + name
		}
	}
	return name
}

// errUnreachable marks a download whose server could not be reached at
// all (DNS, refused or unroutable connection), as on an air-gapped site.
var errUnreachable = errors.New("cannot reach the server")

// unreachableError names the host and says what to do without a network.
type unreachableError struct {
	host string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %v; on an air-gapped site use palisade db import with files", e.host, e.err)
}
func (e *unreachableError) Unwrap() []error { return []error{errUnreachable, e.err} }

// download fetches src into a new temporary directory and returns the
// file's path, named so that osv.Load reads it as a zip or as one record,
// and a function removing it. Errors name the URL without credentials.
func download(ctx context.Context, opts downloadOptions, src string) (file string, cleanup func(), err error) {
	shown := redactURL(src)
	u, err := url.Parse(src)
	if err != nil {
		return "", nil, fmt.Errorf("downloading %s: not a valid URL", shown)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	timedOut := func(err error) error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("downloading %s: timed out after %s; raise --timeout for a slow link", shown, opts.timeout)
		}
		return fmt.Errorf("downloading %s: %w", shown, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return "", nil, fmt.Errorf("downloading %s: %w", shown, stripURLError(err))
	}
	req.Header.Set("User-Agent", "palisade/"+Version)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		err = stripURLError(err)
		var netErr *net.OpError
		var dnsErr *net.DNSError
		if ctx.Err() == nil && (errors.As(err, &netErr) || errors.As(err, &dnsErr)) {
			return "", nil, &unreachableError{host: u.Host, err: err}
		}
		return "", nil, timedOut(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", nil, fmt.Errorf("downloading %s: the server answered %s", shown, resp.Status)
	}
	tooLarge := fmt.Errorf("downloading %s: larger than the %d MB cap; raise --max-download-mb if this source is expected to be this large", shown, opts.maxBytes>>20)
	if resp.ContentLength > opts.maxBytes {
		return "", nil, tooLarge
	}

	dir, err := os.MkdirTemp("", "palisade-download-")
	if err != nil {
		return "", nil, fmt.Errorf("downloading %s: %w", shown, err)
	}
	remove := func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	part := filepath.Join(dir, "download")
	f, err := os.Create(part)
	if err != nil {
		return "", nil, fmt.Errorf("downloading %s: %w", shown, err)
	}
	// Read one byte past the cap to tell "exactly the cap" from "more".
	n, err := io.Copy(f, io.LimitReader(resp.Body, opts.maxBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", nil, timedOut(err)
	}
	if n > opts.maxBytes {
		return "", nil, tooLarge
	}
	ext, err := downloadedKind(part, resp.Header.Get("Content-Type"), u.Path)
	if err != nil {
		return "", nil, fmt.Errorf("downloading %s: %w", shown, err)
	}
	base := strings.TrimSuffix(path.Base(u.Path), path.Ext(u.Path))
	if base == "" || base == "." || base == "/" {
		base = "download"
	}
	file = filepath.Join(dir, base+ext)
	if err := os.Rename(part, file); err != nil {
		return "", nil, fmt.Errorf("downloading %s: %w", shown, err)
	}
	return file, remove, nil
}

// downloadedKind is the extension under which osv.Load reads a download:
// ".zip" when the Content-Type, the URL's extension or the zip magic bytes
// say so; else the URL's record extension (.json, .yaml, .yml), else ".json".
func downloadedKind(file, contentType, urlPath string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	magic := make([]byte, 4)
	n, _ := io.ReadFull(f, magic)
	f.Close()
	mt, _, _ := mime.ParseMediaType(contentType)
	ext := strings.ToLower(path.Ext(urlPath))
	switch {
	case bytes.Equal(magic[:n], []byte("PK\x03\x04")),
		mt == "application/zip", mt == "application/x-zip-compressed",
		ext == ".zip":
		return ".zip", nil
	case ext == ".yaml", ext == ".yml", ext == ".json":
		return ext, nil
	}
	return ".json", nil
}

// stripURLError drops net/http's *url.Error wrapper, whose message repeats
// the URL, so that callers name the URL once and redacted.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
