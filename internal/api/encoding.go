package api

import (
	"compress/gzip"
	"hash/fnv"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// acceptsGzip reports whether an Accept-Encoding header, given as its
// values, asks for gzip (RFC 9110, section 12.5.3): gzip, x-gzip or * with
// a q-value above 0, and not below the q-value of identity when identity
// is listed. An unlisted identity is taken as the client's last resort, so
// "br, gzip;q=0.5" asks for gzip. No header, or an empty one, means
// identity only. When a coding is listed twice the lower q-value counts,
// so that a refusal (q=0) is never overridden. Elements with a malformed
// q-value are ignored.
func acceptsGzip(values []string) bool {
	const unlisted = -1.0
	gzipQ, identityQ, anyQ := unlisted, unlisted, unlisted
	lower := func(q *float64, v float64) {
		if *q == unlisted || v < *q {
			*q = v
		}
	}
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(elem, ";")
			q, ok := qValue(params)
			if !ok {
				continue
			}
			switch coding = strings.TrimSpace(coding); {
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				lower(&gzipQ, q)
			case strings.EqualFold(coding, "identity"):
				lower(&identityQ, q)
			case coding == "*":
				lower(&anyQ, q)
			}
		}
	}
	if gzipQ == unlisted {
		gzipQ = anyQ
	}
	return gzipQ > 0 && gzipQ >= identityQ
}

// qValue returns the weight in the parameters of an Accept-Encoding
// element ("q=0.5", after the ";"): 1 without one, and false when it is
// malformed or out of [0, 1].
func qValue(params string) (float64, bool) {
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		value = strings.TrimSpace(value)
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		if len(value) == 0 || len(value) > 5 || value[0] != '0' && value[0] != '1' {
			return 0, false
		}
		q, err := strconv.ParseFloat(value, 64)
		if err != nil || q > 1 {
			return 0, false
		}
		return q, true
	}
	return 1, true
}

// answerETag is the entity tag of a cached response: its generation and
// a hash of its key. It is weak because the bytes of one generation and
// key may differ in generatedAt when the answer was computed twice (after
// an eviction, say), and because the gzip and plain forms share it.
func answerETag(gen uint64, key cacheKey) string {
	h := fnv.New64a()
	for _, s := range []string{key.kind, key.name, key.filter.Cluster, key.filter.Namespace, key.filter.CVE, key.filter.Environment} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return `W/"` + strconv.FormatUint(gen, 10) + "-" + strconv.FormatUint(h.Sum64(), 16) + `"`
}

// noneMatchHas reports whether If-None-Match, given as its values, lists
// etag or is "*", comparing weakly (RFC 9110, section 13.1.2).
func noneMatchHas(values []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range values {
		for {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] == '*' {
				return true
			}
			v = strings.TrimPrefix(v, "W/")
			if v == "" || v[0] != '"' {
				break // malformed: ignore the rest of this value
			}
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				break
			}
			if v[:end+2] == want {
				return true
			}
			v = v[end+2:]
		}
	}
	return false
}

// writeAnswer sends a cached response of key: its generation, stale mark
// and ETag, then 304 Not Modified when If-None-Match has the ETag, else
// the gzip copy when res has one, else the plain bytes. Every such
// response varies with Accept-Encoding, compressed or not. HEAD gets the
// headers only.
func writeAnswer(w http.ResponseWriter, r *http.Request, key cacheKey, res result) {
	h := w.Header()
	h.Set("Vary", "Accept-Encoding")
	h.Set(generationHeader, strconv.FormatUint(res.gen, 10))
	if res.stale {
		h.Set(staleHeader, "true")
	}
	etag := answerETag(res.gen, key)
	h.Set("ETag", etag)
	if noneMatchHas(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := res.body
	if res.gz != nil {
		h.Set("Content-Encoding", "gzip")
		body = res.gz
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// decodedBody returns the request body bounded to max bytes as sent and,
// for Content-Encoding gzip, decompressed (callers bound what they read of
// it, since a small body can inflate a lot); what names the body in
// errors. The caller closes the returned closer.
func decodedBody(w http.ResponseWriter, r *http.Request, max int64, what string) (io.Reader, func(), error) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, max)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return body, func() {}, nil
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, nil, errorf(http.StatusBadRequest, codeBadRequest, "%s is not valid gzip: %s", what, truncate(err.Error(), 128))
		}
		return zr, func() { zr.Close() }, nil
	default:
		return nil, nil, errorf(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "Content-Encoding %q: send gzip or nothing", truncate(enc, 32))
	}
}
