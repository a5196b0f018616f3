package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// generationHeader carries the inventory generation an answer was computed
// from, so clients can tell whether two answers saw the same data.
const generationHeader = "X-Palisade-Generation"

// staleHeader is "true" on an answer of a generation the inventory has
// moved on from (see Options.MaxStale); it is absent otherwise.
const staleHeader = "X-Palisade-Stale"

// Kinds of cached response.
const (
	kindQuestion  = "question"
	kindInventory = "inventory"
)

// maxFilterLen bounds a filter value: Kubernetes names are at most 253
// characters.
const maxFilterLen = 253

type questionView struct {
	answer.Question
	// Path is where the answer is served.
	Path string `json:"path"`
}

type listBody[T any] struct {
	Items []T `json:"items"`
}

func (s *Server) listQuestions(w http.ResponseWriter, r *http.Request) error {
	out := make([]questionView, len(answer.Questions))
	for i, q := range answer.Questions {
		out[i] = questionView{Question: q, Path: "/api/v1/questions/" + url.PathEscape(q.Name)}
	}
	writeJSON(w, http.StatusOK, listBody[questionView]{Items: out})
	return nil
}

// parseFilter reads the cluster and namespace query parameters and rejects
// any other, so that a mistyped parameter does not silently widen the
// answer.
func parseFilter(q url.Values) (answer.Filter, error) {
	var f answer.Filter
	err := readParams(q, map[string]*string{"cluster": &f.Cluster, "namespace": &f.Namespace, "cve": &f.CVE, "environment": &f.Environment},
		"cluster, namespace, environment and (for vulnerable) cve")
	return f, err
}

// readParams sets each query parameter into its field: each given at most
// once and at most maxFilterLen long; a parameter without a field is
// refused with a message naming the known ones (use).
func readParams(q url.Values, fields map[string]*string, use string) error {
	for k, vs := range q {
		dst, ok := fields[k]
		if !ok {
			return errorf(http.StatusBadRequest, codeBadRequest, "unknown query parameter %q: use %s", truncate(k, 64), use)
		}
		if len(vs) != 1 {
			return errorf(http.StatusBadRequest, codeBadRequest, "query parameter %q given %d times: give it once", k, len(vs))
		}
		if len(vs[0]) > maxFilterLen {
			return errorf(http.StatusBadRequest, codeBadRequest, "query parameter %q is longer than %d characters", k, maxFilterLen)
		}
		*dst = vs[0]
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// question serves one answer from the cache, computing it at most once per
// inventory generation and filter, and compressing it at most once.
func (s *Server) question(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	key := cacheKey{kind: kindQuestion, name: name, filter: f}
	res, err := s.cache.serve(r.Context(), key, true, acceptsGzip(r.Header.Values("Accept-Encoding")), s.computeQuestion(name, f))
	if errors.Is(err, answer.ErrUnknownQuestion) {
		return &apiError{status: http.StatusNotFound, code: codeUnknownQuestion, message: truncate(err.Error(), 512)}
	}
	if errors.Is(err, answer.ErrBadFilter) {
		return &apiError{status: http.StatusBadRequest, code: codeBadRequest, message: truncate(err.Error(), 512)}
	}
	if err != nil {
		return err
	}
	writeAnswer(w, r, key, res)
	return nil
}

// computeQuestion returns the computation of one answer.
func (s *Server) computeQuestion(name string, f answer.Filter) computeFunc {
	return func(v view) ([]byte, error) {
		a, err := s.opts.Answers.Ask(v.ix, name, f)
		if err != nil {
			return nil, err
		}
		return encode(a, s.cache.sizeOf(cacheKey{kind: kindQuestion, name: name, filter: f}))
	}
}

// jsonAppender is a value that writes its own JSON, as json.Marshal would
// but faster: the answers (answer.Answer.AppendJSON).
type jsonAppender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

// encode returns the JSON of v and a newline. sizeHint is the size it
// probably has (the size of the previous answer), or 0.
func encode(v any, sizeHint int) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		b, err := a.AppendJSON(make([]byte, 0, sizeHint+sizeHint/16+1))
		if err != nil {
			return nil, fmt.Errorf("encoding answer: %w", err)
		}
		return append(b, '\n'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding answer: %w", err)
	}
	return append(b, '\n'), nil
}

// inventorySummary is the body of GET /api/v1/inventory.
type inventorySummary struct {
	Generation uint64 `json:"generation"`
	// Objects counts every stored object; Workloads counts top-level
	// workloads, the unit answers are about (pods and ReplicaSets roll up
	// to their Deployment).
	Objects   int              `json:"objects"`
	Workloads int              `json:"workloads"`
	Clusters  []clusterSummary `json:"clusters"`
}

type clusterSummary struct {
	Cluster   string             `json:"cluster"`
	Objects   int                `json:"objects"`
	Workloads int                `json:"workloads"`
	Kinds     map[model.Kind]int `json:"kinds"`
}

func (s *Server) inventory(w http.ResponseWriter, r *http.Request) error {
	key := cacheKey{kind: kindInventory}
	res, err := s.cache.serve(r.Context(), key, false, acceptsGzip(r.Header.Values("Accept-Encoding")), func(v view) ([]byte, error) {
		return encode(summarize(v.ix, v.gen), 0)
	})
	if err != nil {
		return err
	}
	writeAnswer(w, r, key, res)
	return nil
}

func summarize(ix *inventory.Index, gen uint64) inventorySummary {
	sum := inventorySummary{Generation: gen, Clusters: []clusterSummary{}}
	byCluster := map[string]*clusterSummary{}
	cluster := func(name string) *clusterSummary {
		c := byCluster[name]
		if c == nil {
			c = &clusterSummary{Cluster: name, Kinds: map[model.Kind]int{}}
			byCluster[name] = c
		}
		return c
	}
	for _, o := range ix.Snapshot().Objects() {
		k := o.ObjectKey()
		c := cluster(k.Cluster)
		c.Objects++
		c.Kinds[k.Kind]++
		sum.Objects++
	}
	for _, w := range ix.Workloads() {
		cluster(w.Cluster).Workloads++
		sum.Workloads++
	}
	for _, c := range byCluster {
		sum.Clusters = append(sum.Clusters, *c)
	}
	slices.SortFunc(sum.Clusters, func(a, b clusterSummary) int { return strings.Compare(a.Cluster, b.Cluster) })
	return sum
}
