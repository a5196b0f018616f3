package api

import (
	"errors"
	"net/http"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/inventory"
)

// kindReport names the cached report of one filter.
const kindReport = "report"

// Reporter builds the report of every question over an index (GET
// /api/v1/report). *answer.Engine implements it. It is optional: when
// Options.Answers does not implement it, the endpoint answers 501. It
// returns an error wrapping answer.ErrBadFilter for a filter the report
// does not take.
type Reporter interface {
	Report(ix *inventory.Index, f answer.Filter) (*answer.Report, error)
}

var _ Reporter = (*answer.Engine)(nil)

// report serves the report from the cache like an answer: computed at
// most once per inventory generation and filter, compressed at most once,
// stale for a bounded time after a change while Run runs.
func (s *Server) report(w http.ResponseWriter, r *http.Request) error {
	rep, ok := s.opts.Answers.(Reporter)
	if !ok {
		return errorf(http.StatusNotImplemented, codeNotImplemented, "this server does not build reports; ask each question at /api/v1/questions/{name}")
	}
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	key := cacheKey{kind: kindReport, filter: f}
	res, err := s.cache.serve(r.Context(), key, true, acceptsGzip(r.Header.Values("Accept-Encoding")), func(v view) ([]byte, error) {
		rp, err := rep.Report(v.ix, f)
		if err != nil {
			return nil, err
		}
		return encode(rp, s.cache.sizeOf(key))
	})
	if errors.Is(err, answer.ErrBadFilter) {
		return &apiError{status: http.StatusBadRequest, code: codeBadRequest, message: truncate(err.Error(), 512)}
	}
	if err != nil {
		return err
	}
	writeAnswer(w, r, key, res)
	return nil
}
