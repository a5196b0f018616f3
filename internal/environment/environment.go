// Package environment tells which environment a workload runs in, and
// whether that is production, from a configurable definition: cluster
// names, namespace name patterns, and environment labels on the workload or
// its namespace. Every answer can be filtered by it, and the risk ranking
// weighs production higher.
package environment

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// Production is the environment name of production workloads.
const Production = "production"

// Definition says what production is. The zero value is the default:
// the environment label keys "environment" and "env", production when
// their value is "production" or "prod".
type Definition struct {
	// Clusters are cluster names, or path.Match patterns ("prod-*"), whose
	// workloads are all production.
	Clusters []string `json:"clusters,omitempty"`
	// Namespaces are namespace names or patterns ("prod-*", "*-prod")
	// whose workloads are production.
	Namespaces []string `json:"namespaces,omitempty"`
	// LabelKeys are the label keys that name an environment, tried on the
	// workload (and its pod template), then on its namespace.
	LabelKeys []string `json:"labelKeys,omitempty"`
	// ProductionValues are the values of those labels that mean
	// production (compared without regard to case).
	ProductionValues []string `json:"productionValues,omitempty"`
}

// Defaults of Definition.
var (
	DefaultLabelKeys        = []string{"environment", "env"}
	DefaultProductionValues = []string{"production", "prod"}
)

// Classifier applies a Definition.
type Classifier struct {
	def Definition
}

// New validates def and returns its classifier.
func New(def Definition) (*Classifier, error) {
	if len(def.LabelKeys) == 0 {
		def.LabelKeys = DefaultLabelKeys
	}
	if len(def.ProductionValues) == 0 {
		def.ProductionValues = DefaultProductionValues
	}
	for _, p := range slices.Concat(def.Clusters, def.Namespaces) {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return nil, fmt.Errorf("production pattern %q: want a name or a pattern such as prod-*", p)
		}
	}
	for _, k := range def.LabelKeys {
		if k == "" {
			return nil, fmt.Errorf("production label keys: an empty key")
		}
	}
	return &Classifier{def: def}, nil
}

// Normalize maps an environment name as a user types it to the name
// results carry: any production value ("prod") is "production".
func (c *Classifier) Normalize(env string) string {
	if slices.ContainsFunc(c.def.ProductionValues, func(p string) bool { return strings.EqualFold(p, env) }) || strings.EqualFold(env, Production) {
		return Production
	}
	return strings.ToLower(env)
}

// Definition returns the definition in use, defaults filled in.
func (c *Classifier) Definition() Definition { return c.def }

// Result is the environment of one workload and the evidence for it.
type Result struct {
	// Environment is "production" when the definition says so, else the
	// value of the first environment label found (lower case), else "".
	Environment string `json:"environment"`
	Production  bool   `json:"production"`
	// Reason says what decided, e.g. `namespace label env=prod`.
	Reason string `json:"reason,omitempty"`
}

// Of classifies workload w, whose namespace is ns (nil when unknown). The
// administrator's cluster and namespace patterns come first, so that a
// workload cannot label itself out of production; then the environment
// labels of the workload, its pod template and its namespace.
func (c *Classifier) Of(w *model.Workload, ns *model.Namespace) Result {
	if r := c.byLocation(w.Cluster, w.Namespace); r.Production {
		return r
	}
	if r, ok := c.byLabels("workload", w.Labels); ok {
		return r
	}
	if r, ok := c.byLabels("pod template", w.Template.Labels); ok {
		return r
	}
	if ns != nil {
		if r, ok := c.byLabels("namespace", ns.Labels); ok {
			return r
		}
	}
	return c.byLocation(w.Cluster, w.Namespace)
}

// OfNamespace classifies a namespace by its labels and name, for objects
// that belong to no workload.
func (c *Classifier) OfNamespace(cluster, namespace string, ns *model.Namespace) Result {
	if r := c.byLocation(cluster, namespace); r.Production {
		return r
	}
	if ns != nil {
		if r, ok := c.byLabels("namespace", ns.Labels); ok {
			return r
		}
	}
	return c.byLocation(cluster, namespace)
}

func (c *Classifier) byLabels(where string, labels map[string]string) (Result, bool) {
	for _, k := range c.def.LabelKeys {
		v, ok := labels[k]
		if !ok || v == "" {
			continue
		}
		r := Result{Environment: strings.ToLower(v), Reason: where + " label " + k + "=" + v}
		if slices.ContainsFunc(c.def.ProductionValues, func(p string) bool { return strings.EqualFold(p, v) }) {
			r.Environment, r.Production = Production, true
		}
		return r, true
	}
	return Result{}, false
}

func (c *Classifier) byLocation(cluster, namespace string) Result {
	for _, p := range c.def.Clusters {
		if ok, _ := path.Match(p, cluster); ok {
			return Result{Environment: Production, Production: true, Reason: "cluster " + cluster + " matches " + p}
		}
	}
	for _, p := range c.def.Namespaces {
		if ok, _ := path.Match(p, namespace); ok {
			return Result{Environment: Production, Production: true, Reason: "namespace " + namespace + " matches " + p}
		}
	}
	return Result{}
}
