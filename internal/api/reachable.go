package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/inventory"
)

// Reacher answers whether one connection is allowed by the
// NetworkPolicies (GET /api/v1/reachable). *answer.Engine implements it.
// It is optional: when Options.Answers does not implement it, the endpoint
// answers 501. It returns an error wrapping answer.ErrBadQuery for a
// question that cannot be asked as given.
type Reacher interface {
	Reachable(ctx context.Context, ix *inventory.Index, q answer.ReachableQuery) (*answer.Reachability, error)
}

var _ Reacher = (*answer.Engine)(nil)

// reachable answers from the current index: the answer engine compiles
// the policies once per inventory snapshot, so a question is cheap, and a
// changed NetworkPolicy changes the next answer.
func (s *Server) reachable(w http.ResponseWriter, r *http.Request) error {
	rc, ok := s.opts.Answers.(Reacher)
	if !ok {
		return errorf(http.StatusNotImplemented, codeNotImplemented, "this server does not answer reachability questions")
	}
	q, err := parseReachable(r.URL.Query())
	if err != nil {
		return err
	}
	ix, gen := s.opts.Inventory.Index()
	res, err := rc.Reachable(r.Context(), ix, q)
	if errors.Is(err, answer.ErrBadQuery) {
		return &apiError{status: http.StatusBadRequest, code: codeBadRequest, message: truncate(err.Error(), 512)}
	}
	if err != nil {
		return err
	}
	w.Header().Set(generationHeader, strconv.FormatUint(gen, 10))
	writeJSON(w, http.StatusOK, res)
	return nil
}

// parseReachable reads from, to, port and cluster, each at most once, and
// rejects any other parameter.
func parseReachable(v url.Values) (answer.ReachableQuery, error) {
	var q answer.ReachableQuery
	if err := readParams(v, map[string]*string{"from": &q.From, "to": &q.To, "port": &q.Port, "cluster": &q.Cluster},
		"from, to, port and cluster"); err != nil {
		return q, err
	}
	for _, k := range []string{"from", "to", "port"} { // cluster is optional
		if !v.Has(k) {
			return q, errorf(http.StatusBadRequest, codeBadRequest, "query parameter %q is missing: give from, to and port", k)
		}
	}
	return q, nil
}
