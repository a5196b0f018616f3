// Package answer is the one code path from an inventory index to the answers
// of Palisade's questions. The CLI (offline or through the server), the HTTP
// API and the report all call Engine.Ask, so they always agree.
package answer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/environment"
	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/ownership"
	"github.com/palisade-project/palisade/internal/privilege"
	"github.com/palisade-project/palisade/internal/risk"
)

// Question names, as used by `palisade ask` and /api/v1/questions/.
const (
	ImageSources = "image-sources"
	ScanAge      = "scan-age"
	Vulnerable   = "vulnerable"
	Production   = "production"
	Priorities   = "priorities"
	Privileged   = "privileged"
	Processes    = "processes"
	Exposed      = "exposed"
	UnusedPaths  = "unused-paths"
	Owners       = "owners"
)

// Question describes one answerable question.
type Question struct {
	Name   string `json:"name"`
	Number int    `json:"number"`
	Title  string `json:"title"`
}

// Questions lists the questions this build answers, in mission order.
var Questions = []Question{
	{ImageSources, 1, "Where do our container images come from? Only trusted registries?"},
	{ScanAge, 2, "How long ago was each running image scanned?"},
	{Vulnerable, 3, "Which containers carry known vulnerabilities, and how severe?"},
	{Production, 4, "Which production workloads are affected, and is anything being exploited?"},
	{Priorities, 5, "Which vulnerable workloads come first?"},
	{Privileged, 6, "Which workloads run privileged or with host access?"},
	{Exposed, 7, "Which services are exposed outside the cluster?"},
	{Processes, 8, "Which processes run in each container, and which are suspicious?"},
	{UnusedPaths, 9, "Which network paths are allowed but unused?"},
	{Owners, 10, "Which team owns each running application?"},
}

// ErrUnknownQuestion is returned for a question name this build does not
// answer.
var ErrUnknownQuestion = errors.New("unknown question")

// ErrBadFilter is returned for a filter the question does not take.
var ErrBadFilter = errors.New("bad filter")

// Lookup returns the question named name.
func Lookup(name string) (Question, error) {
	for _, q := range Questions {
		if q.Name == name {
			return q, nil
		}
	}
	names := make([]string, len(Questions))
	for i, q := range Questions {
		names[i] = q.Name
	}
	return Question{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownQuestion, name, strings.Join(names, ", "))
}

// Answer is the envelope of every answer. Its JSON form is the documented
// output schema (docs/output.md): the fields question and items are stable.
type Answer[T any] struct {
	Question    string         `json:"question"`
	Title       string         `json:"title"`
	GeneratedAt time.Time      `json:"generatedAt"`
	Filter      Filter         `json:"filter,omitzero"`
	Notes       []string       `json:"notes,omitempty"`
	Summary     map[string]int `json:"summary"`
	Items       []T            `json:"items"`
	// Unmatched is set for the exposed question only.
	Unmatched []exposure.Unmatched `json:"unmatched,omitempty"`
	// Usage, Unprotected and Denied are set for the unused-paths
	// question only: what is known of the traffic, the workloads no
	// NetworkPolicy selects, and the used flows the policies deny.
	Usage       *netpaths.Usage        `json:"usage,omitempty"`
	Unprotected []netpaths.Unprotected `json:"unprotected,omitempty"`
	Denied      []netpaths.Denied      `json:"denied,omitempty"`
}

// envelope is what every answer's brief in a report starts from.
func (a *Answer[T]) envelope() (map[string]int, []string) { return a.Summary, a.Notes }

// Filter narrows an answer to a cluster and/or namespace, and the
// vulnerable answer to one flaw.
type Filter struct {
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// CVE is a vulnerability id or alias (CVE-…, GHSA-…, GO-…); only the
	// vulnerable question takes it.
	CVE string `json:"cve,omitempty"`
	// Environment keeps the workloads of one environment ("production",
	// or the value of an environment label such as "staging").
	Environment string `json:"environment,omitempty"`
}

// Match reports whether a workload passes the filter.
func (f Filter) Match(r model.WorkloadRef) bool {
	return f.keeps(r.Cluster, r.Namespace)
}

// Config configures the analyses behind the answers.
type Config struct {
	// TrustedRegistries are registry hosts or host/repository prefixes.
	TrustedRegistries []string
	// OwnerKeys is the ownership resolution order.
	OwnerKeys []string
	// ClusterNotes are added to every answer that covers the cluster
	// named by the key (the demo labels its example data this way).
	ClusterNotes map[string]string
	// Production defines what production is.
	Production environment.Definition
	// Risk weighs the factors of the priorities ranking.
	Risk risk.Weights
	// CriticalityKeys declare a workload's criticality (default
	// palisade.io/criticality).
	CriticalityKeys []string
}

// Engine computes answers. It is immutable and safe for concurrent use.
type Engine struct {
	clusterNotes map[string]string
	trust        *imagetrust.Policy
	owners       *ownership.Resolver
	env          *environment.Classifier
	risk         risk.Config
	now          func() time.Time
	// nets caches the NetworkPolicy engines and matrices of the newest
	// inventory snapshot (question 9 and reachability).
	nets *netCache
}

// NewEngine validates cfg and returns an engine.
func NewEngine(cfg Config) (*Engine, error) {
	p, err := imagetrust.NewPolicy(cfg.TrustedRegistries)
	if err != nil {
		return nil, err
	}
	env, err := environment.New(cfg.Production)
	if err != nil {
		return nil, err
	}
	rc := risk.Config{Weights: cfg.Risk, CriticalityKeys: cfg.CriticalityKeys, Environments: env}
	if _, err := risk.New(rc); err != nil {
		return nil, err
	}
	return &Engine{trust: p, owners: ownership.NewResolver(cfg.OwnerKeys), env: env, risk: rc, clusterNotes: cfg.ClusterNotes, now: time.Now, nets: newNetCache()}, nil
}

// Ask answers question over ix. The result is an *Answer[T] for the
// question's item type.
func (e *Engine) Ask(ix *inventory.Index, question string, f Filter) (any, error) {
	q, err := Lookup(question)
	if err != nil {
		return nil, err
	}
	if f.CVE != "" && q.Name != Vulnerable {
		return nil, fmt.Errorf("%w: a CVE filter applies to the %s question only", ErrBadFilter, Vulnerable)
	}
	switch q.Name {
	case ImageSources:
		return e.ImageSources(ix, f), nil
	case ScanAge:
		return e.ScanAge(ix, f), nil
	case Vulnerable:
		return e.Vulnerable(ix, f), nil
	case Production:
		return e.Production(ix, f), nil
	case Priorities:
		return e.Priorities(ix, f), nil
	case Processes:
		return e.Processes(ix, f), nil
	case Privileged:
		return e.Privileged(ix, f), nil
	case Exposed:
		return e.Exposed(ix, f), nil
	case UnusedPaths:
		return e.UnusedPaths(ix, f), nil
	case Owners:
		return e.Owners(ix, f), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownQuestion, question)
}

// newAnswer starts an answer, with the notes of the clusters it covers.
func newAnswer[T any](e *Engine, ix *inventory.Index, name string, f Filter, items []T) *Answer[T] {
	q, _ := Lookup(name)
	if items == nil {
		items = []T{}
	}
	a := &Answer[T]{Question: name, Title: q.Title, GeneratedAt: e.now().UTC(), Filter: f, Summary: map[string]int{}, Items: items}
	for _, c := range ix.Clusters() {
		if n, ok := e.clusterNotes[c]; ok && (f.Cluster == "" || f.Cluster == c) {
			a.Notes = append(a.Notes, n)
		}
	}
	return a
}

// workloads returns the top-level workloads of ix that pass f, in index
// order, so that each analysis looks only at what it reports.
func (e *Engine) workloads(ix *inventory.Index, f Filter) []*model.Workload {
	ws := f.located(ix)
	if f.Environment == "" {
		return ws
	}
	out := make([]*model.Workload, 0, len(ws))
	env := e.env.Normalize(f.Environment)
	for _, w := range ws {
		if e.env.Of(w, ix.Namespace(w.Cluster, w.Namespace)).Environment == env {
			out = append(out, w)
		}
	}
	return out
}

// located returns the top-level workloads of ix in f's cluster and
// namespace, in index order.
func (f Filter) located(ix *inventory.Index) []*model.Workload {
	f.CVE, f.Environment = "", ""
	switch {
	case f == Filter{}:
		return ix.Workloads()
	case f.Cluster != "" && f.Namespace != "":
		return ix.WorkloadsInNamespace(f.Cluster, f.Namespace)
	case f.Namespace != "":
		// The index is sorted by cluster first, and Clusters is sorted.
		var out []*model.Workload
		for _, c := range ix.Clusters() {
			out = append(out, ix.WorkloadsInNamespace(c, f.Namespace)...)
		}
		return out
	}
	var out []*model.Workload
	for _, w := range ix.Workloads() {
		if f.Match(w.Ref()) {
			out = append(out, w)
		}
	}
	return out
}

// keeps reports whether f passes a cluster and namespace.
func (f Filter) keeps(cluster, namespace string) bool {
	return (f.Cluster == "" || f.Cluster == cluster) && (f.Namespace == "" || f.Namespace == namespace)
}

// ImageSources answers question 1.
func (e *Engine) ImageSources(ix *inventory.Index, f Filter) *Answer[imagetrust.Item] {
	items := imagetrust.AnswerWorkloads(ix, e.workloads(ix, f), e.trust)
	a := newAnswer(e, ix, ImageSources, f, items)
	if !e.trust.Configured() {
		a.Notes = append(a.Notes, "no trusted registries are configured (--trusted-registry or trustedRegistries in the config file): every image is reported as unverified, not trusted")
	}
	a.Summary["images"] = len(items)
	for _, it := range items {
		a.Summary[it.Verdict]++
		if !it.Pinned {
			a.Summary["unpinned"]++
		}
	}
	return a
}

// Privileged answers question 6.
func (e *Engine) Privileged(ix *inventory.Index, f Filter) *Answer[privilege.Item] {
	items := privilege.AnswerWorkloads(e.workloads(ix, f), privilege.ImageUsersOf(ix))
	a := newAnswer(e, ix, Privileged, f, items)
	a.Summary["workloads"] = len(items)
	for _, it := range items {
		for _, fd := range it.Findings {
			a.Summary[fd.Check]++
		}
	}
	return a
}

// Exposed answers question 7.
func (e *Engine) Exposed(ix *inventory.Index, f Filter) *Answer[exposure.Item] {
	var keep func(cluster, namespace string) bool
	if f != (Filter{}) {
		keep = f.keeps
	}
	res := exposure.AnswerWhere(ix, keep)
	if f.Environment != "" {
		env := e.env.Normalize(f.Environment)
		res.Items = slices.DeleteFunc(res.Items, func(it exposure.Item) bool {
			w := ix.Workload(it.Workload)
			return w == nil || e.env.Of(w, ix.Namespace(w.Cluster, w.Namespace)).Environment != env
		})
		res.Unmatched = slices.DeleteFunc(res.Unmatched, func(u exposure.Unmatched) bool {
			return e.env.OfNamespace(u.Cluster, u.Namespace, ix.Namespace(u.Cluster, u.Namespace)).Environment != env
		})
	}
	a := newAnswer(e, ix, Exposed, f, res.Items)
	a.Unmatched = res.Unmatched
	a.Summary["workloads"] = len(res.Items)
	for _, it := range res.Items {
		a.Summary[it.Level]++
	}
	a.Summary["unmatched"] = len(a.Unmatched)
	return a
}

// Owners answers question 10.
func (e *Engine) Owners(ix *inventory.Index, f Filter) *Answer[ownership.Item] {
	items := e.owners.AnswerWorkloads(ix, e.workloads(ix, f))
	a := newAnswer(e, ix, Owners, f, items)
	a.Notes = append(a.Notes, "owner keys, in order, on the workload then its namespace: "+strings.Join(e.owners.Keys(), ", "))
	a.Summary["workloads"] = len(items)
	for _, it := range items {
		if it.Owner == nil {
			a.Summary["unowned"]++
		} else {
			a.Summary["owned"]++
		}
	}
	return a
}
