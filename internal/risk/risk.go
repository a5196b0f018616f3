// Package risk answers question 5, which vulnerable workloads come first,
// and gathers the evidence question 4 shows. A workload's score is the
// product of named factors, each with the evidence behind it:
// vulnerabilities (severity and fixability), known exploitation, exposure,
// privilege, root, production and the criticality its owner declares. The
// defaults and their reasoning are in docs/risk.md.
package risk

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/environment"
	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/privilege"
	"github.com/palisade-project/palisade/internal/safetext"
)

// Factor names, in the order they multiply.
const (
	FactorVulnerabilities = "vulnerabilities"
	FactorExploitation    = "exploitation"
	FactorExposure        = "exposure"
	FactorPrivilege       = "privilege"
	FactorRoot            = "root"
	FactorProduction      = "production"
	FactorCriticality     = "criticality"
)

// Unknown is the severity key of findings no advisory rates.
const Unknown = "unknown"

// Weights are the multipliers of the factors. The zero value of a field
// means its default (DefaultWeights).
type Weights struct {
	// Severity weighs one finding by its severity level (critical, high,
	// medium, low, unknown).
	Severity map[string]float64 `json:"severity,omitempty"`
	// Unfixable multiplies the weight of a finding with no known fix.
	Unfixable float64 `json:"unfixable,omitempty"`
	// Others is the share of the other findings' weight added to the
	// worst one; it never adds more than the worst finding weighs.
	Others float64 `json:"others,omitempty"`
	// KnownExploited applies when a finding is in the KEV catalog;
	// PossiblyExploited when runtime evidence suggests an attack.
	KnownExploited    float64 `json:"knownExploited,omitempty"`
	PossiblyExploited float64 `json:"possiblyExploited,omitempty"`
	// Exposure weighs the exposure level: internet, node, cluster.
	Exposure map[string]float64 `json:"exposure,omitempty"`
	// Privileged applies to privileged containers and host access (host
	// namespaces, sensitive hostPath, critical capabilities).
	Privileged float64 `json:"privileged,omitempty"`
	// Root applies when a container runs as root; MaybeRoot when it may.
	Root      float64 `json:"root,omitempty"`
	MaybeRoot float64 `json:"maybeRoot,omitempty"`
	// Production applies to production workloads.
	Production float64 `json:"production,omitempty"`
	// Criticality weighs the declared criticality: critical, high,
	// medium, low.
	Criticality map[string]float64 `json:"criticality,omitempty"`
}

// DefaultWeights are the documented defaults (docs/risk.md).
var DefaultWeights = Weights{
	Severity:          map[string]float64{osv.LevelCritical: 10, osv.LevelHigh: 6, osv.LevelMedium: 3, osv.LevelLow: 1, Unknown: 2},
	Unfixable:         0.5,
	Others:            0.1,
	KnownExploited:    4,
	PossiblyExploited: 4,
	Exposure:          map[string]float64{exposure.LevelInternet: 3, exposure.LevelNode: 2, LevelCluster: 1},
	Privileged:        2.5,
	Root:              1.5,
	MaybeRoot:         1.2,
	Production:        2,
	Criticality:       map[string]float64{"critical": 3, "high": 2, "medium": 1, "low": 0.5},
}

// LevelCluster is the exposure of a workload reachable only inside the
// cluster (or not at all).
const LevelCluster = "cluster"

// DefaultCriticalityKeys are the label and annotation keys that declare a
// workload's criticality, on the workload then its namespace.
var DefaultCriticalityKeys = []string{"palisade.io/criticality"}

// withDefaults fills unset weights.
func (w Weights) withDefaults() Weights {
	d := DefaultWeights
	fill := func(dst *float64, def float64) {
		if *dst == 0 {
			*dst = def
		}
	}
	fill(&w.Unfixable, d.Unfixable)
	fill(&w.Others, d.Others)
	fill(&w.KnownExploited, d.KnownExploited)
	fill(&w.PossiblyExploited, d.PossiblyExploited)
	fill(&w.Privileged, d.Privileged)
	fill(&w.Root, d.Root)
	fill(&w.MaybeRoot, d.MaybeRoot)
	fill(&w.Production, d.Production)
	merge := func(m, def map[string]float64) map[string]float64 {
		out := make(map[string]float64, len(def))
		for k, v := range def {
			out[k] = v
		}
		for k, v := range m {
			out[strings.ToLower(k)] = v
		}
		return out
	}
	w.Severity = merge(w.Severity, d.Severity)
	w.Exposure = merge(w.Exposure, d.Exposure)
	w.Criticality = merge(w.Criticality, d.Criticality)
	return w
}

// Validate checks that every weight is positive and finite.
func (w Weights) Validate() error {
	w = w.withDefaults()
	check := func(name string, v float64) error {
		if v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("risk weight %s = %v: want a positive number", name, v)
		}
		return nil
	}
	errs := []error{
		check("unfixable", w.Unfixable), check("knownExploited", w.KnownExploited), check("possiblyExploited", w.PossiblyExploited),
		check("privileged", w.Privileged), check("root", w.Root), check("maybeRoot", w.MaybeRoot), check("production", w.Production),
	}
	if w.Others < 0 || w.Others > 1 {
		errs = append(errs, fmt.Errorf("risk weight others = %v: want 0 to 1", w.Others))
	}
	for _, m := range []struct {
		name string
		m    map[string]float64
	}{{"severity", w.Severity}, {"exposure", w.Exposure}, {"criticality", w.Criticality}} {
		for _, k := range sortedKeys(m.m) {
			errs = append(errs, check(m.name+"."+k, m.m[k]))
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Exploit is a KEV catalog entry, as the risk factors show it.
type Exploit struct {
	CVE            string `json:"cve"`
	Name           string `json:"name,omitempty"`
	DateAdded      string `json:"dateAdded"`
	DueDate        string `json:"dueDate,omitempty"`
	RequiredAction string `json:"requiredAction,omitempty"`
	// Ransomware is the catalog's knownRansomwareCampaignUse ("Known",
	// "Unknown").
	Ransomware string `json:"ransomware,omitempty"`
}

// KnownExploited looks a flaw up in the KEV catalog by its id and
// aliases (the catalog lists CVEs).
type KnownExploited func(id string, aliases []string) (Exploit, bool)

// RuntimeEvidence is the seam for observations that suggest a workload is
// under attack (suspicious processes or connections from the node agent).
// It returns what was seen, nothing when all is quiet. No source feeds it
// yet.
type RuntimeEvidence func(w model.WorkloadRef) []string

// Config configures a Ranker.
type Config struct {
	Weights Weights
	// CriticalityKeys are label and annotation keys declaring criticality
	// (default DefaultCriticalityKeys).
	CriticalityKeys []string
	Environments    *environment.Classifier
	KnownExploited  KnownExploited
	Runtime         RuntimeEvidence
}

// Ranker scores workloads. It is immutable.
type Ranker struct {
	w       Weights
	keys    []string
	env     *environment.Classifier
	kev     KnownExploited
	runtime RuntimeEvidence
}

// New validates cfg and returns a ranker.
func New(cfg Config) (*Ranker, error) {
	if err := cfg.Weights.Validate(); err != nil {
		return nil, err
	}
	if cfg.Environments == nil {
		env, err := environment.New(environment.Definition{})
		if err != nil {
			return nil, err
		}
		cfg.Environments = env
	}
	keys := cfg.CriticalityKeys
	if len(keys) == 0 {
		keys = DefaultCriticalityKeys
	}
	return &Ranker{w: cfg.Weights.withDefaults(), keys: keys, env: cfg.Environments, kev: cfg.KnownExploited, runtime: cfg.Runtime}, nil
}

// Weights returns the weights in use, defaults filled in.
func (r *Ranker) Weights() Weights { return r.w }

// Factor is one named multiplier of a score and its evidence.
type Factor struct {
	Name     string   `json:"name"`
	Value    float64  `json:"value"`
	Evidence []string `json:"evidence"`
}

// Vulnerability is one finding of a workload, with its exploitation.
type Vulnerability struct {
	ID               string   `json:"id"`
	Aliases          []string `json:"aliases,omitempty"`
	Package          string   `json:"package"`
	Ecosystem        string   `json:"ecosystem"`
	InstalledVersion string   `json:"installedVersion"`
	FixedVersion     string   `json:"fixedVersion,omitempty"`
	Severity         string   `json:"severity"`
	Score            float64  `json:"score,omitempty"`
	// KnownExploited is the KEV entry of one of its ids, when listed.
	KnownExploited *Exploit `json:"knownExploited,omitempty"`
	// Weight is its contribution to the vulnerabilities factor.
	Weight float64 `json:"weight"`
}

// Assessment is everything the ranking knows about one workload.
type Assessment struct {
	// Rank is the 1-based position in the ranking it was part of.
	Rank        int                `json:"rank"`
	Workload    model.WorkloadRef  `json:"workload"`
	Environment environment.Result `json:"environment"`
	Score       float64            `json:"score"`
	Factors     []Factor           `json:"factors"`
	// Counts has a key per severity level, unknown included.
	Counts         map[string]int `json:"counts"`
	Fixable        int            `json:"fixable"`
	KnownExploited int            `json:"knownExploited"`
	Total          int            `json:"total"`
	Runtime        []string       `json:"runtimeEvidence,omitempty"`
	// Vulnerabilities lists at most MaxListed: known exploited first,
	// then the heaviest.
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// Levels are the severity keys from worst to least.
var Levels = []string{osv.LevelCritical, osv.LevelHigh, osv.LevelMedium, osv.LevelLow, Unknown}

func level(s string) string {
	if slices.Contains(Levels, s) {
		return s
	}
	return Unknown
}

// MaxListed is the number of vulnerabilities an assessment lists: the
// known-exploited ones first, then the heaviest.
const MaxListed = 10

// Assess scores the workloads of ws that run images with known
// vulnerabilities (findings of ix's scan results), in ranking order:
// score, then known-exploited count, then worst severity, then workload
// (cluster, namespace, kind, name). Workloads without findings are left
// out. Each digest's findings are weighed once, however many workloads
// run it.
func (r *Ranker) Assess(ix *inventory.Index, ws []*model.Workload) []Assessment {
	exposed := map[model.WorkloadRef]exposure.Item{}
	for _, it := range exposure.AnswerWhere(ix, nil).Items {
		exposed[it.Workload] = it
	}
	users := privilege.ImageUsersOf(ix)
	cache := map[string]*aggregate{}
	var out []Assessment
	for _, w := range ws {
		agg := r.workloadAggregate(ix, w, cache, MaxListed)
		if agg == nil || agg.n == 0 {
			continue
		}
		out = append(out, r.assess(ix, w, agg, exposed[w.Ref()], privilege.CheckWith(w, users)))
	}
	slices.SortStableFunc(out, Compare)
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

// Compare orders assessments for the ranking (documented tie-breaks).
func Compare(a, b Assessment) int {
	return cmp.Or(
		cmp.Compare(b.Score, a.Score),
		cmp.Compare(b.KnownExploited, a.KnownExploited),
		cmp.Compare(worst(b), worst(a)),
		inventory.CompareRefs(a.Workload, b.Workload),
	)
}

func worst(a Assessment) int {
	for i, l := range Levels {
		if a.Counts[l] > 0 {
			return len(Levels) - i
		}
	}
	return 0
}

// aggregate is what the ranking needs of a set of findings, without
// keeping them: counts, the worst weight and the sum of the others, and
// the few vulnerabilities an assessment lists.
type aggregate struct {
	n       int
	counts  [5]int // per Levels
	fixable int
	kev     int
	top     float64
	rest    float64
	best    Vulnerability
	limit   int
	listed  []Vulnerability // at most limit, in listing order
	// exploited describes the known-exploited findings (at most 5).
	exploited []string
}

func newAggregate(limit int) *aggregate {
	return &aggregate{limit: limit, listed: make([]Vulnerability, 0, limit)}
}

// add weighs one vulnerability into the aggregate.
func (g *aggregate) add(vu Vulnerability) {
	g.n++
	g.counts[slices.Index(Levels, vu.Severity)]++
	if vu.FixedVersion != "" {
		g.fixable++
	}
	if vu.KnownExploited != nil {
		g.kev++
		if len(g.exploited) < 5 {
			g.exploited = append(g.exploited, vu.ID+" ("+vu.KnownExploited.CVE+", in the KEV catalog since "+vu.KnownExploited.DateAdded+")")
		}
	}
	if g.n == 1 || vu.Weight > g.top {
		if g.n > 1 {
			g.rest += g.top
		}
		g.top, g.best = vu.Weight, vu
	} else {
		g.rest += vu.Weight
	}
	g.list(vu)
}

// list keeps vu among the listed vulnerabilities if it is one of the
// first limit in listing order, and not listed already (the same id,
// package and version from another image of the workload).
func (g *aggregate) list(vu Vulnerability) {
	i, found := slices.BinarySearchFunc(g.listed, vu, listingOrder)
	if found || i >= g.limit {
		return
	}
	if len(g.listed) == g.limit {
		g.listed = g.listed[:g.limit-1]
	}
	g.listed = slices.Insert(g.listed, i, vu)
}

// combine adds the aggregate of another image of the same workload.
// Counts are per image: a flaw in two images of a workload counts twice.
func (g *aggregate) combine(o *aggregate) {
	if o.n == 0 {
		return
	}
	total := g.top + g.rest + o.top + o.rest
	if g.n == 0 || o.top > g.top {
		g.top, g.best = o.top, o.best
	}
	g.rest = total - g.top
	g.n += o.n
	for i := range g.counts {
		g.counts[i] += o.counts[i]
	}
	g.fixable += o.fixable
	g.kev += o.kev
	for _, e := range o.exploited {
		if len(g.exploited) < 5 && !slices.Contains(g.exploited, e) {
			g.exploited = append(g.exploited, e)
		}
	}
	for _, vu := range o.listed {
		g.list(vu)
	}
}

// listingOrder lists known-exploited vulnerabilities first, then the
// heaviest, then by CVSS score, id and package.
func listingOrder(a, b Vulnerability) int {
	return cmp.Or(boolFirst(a.KnownExploited != nil, b.KnownExploited != nil), cmp.Compare(b.Weight, a.Weight),
		cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Package, b.Package))
}

func boolFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// workloadAggregate aggregates the findings of the images w's pods run:
// each image's findings are weighed once into a cached aggregate, however
// many workloads run it, and a workload with several images combines
// theirs. It returns nil when w runs no image with a digest.
func (r *Ranker) workloadAggregate(ix *inventory.Index, w *model.Workload, cache map[string]*aggregate, limit int) *aggregate {
	var digests []string
	for _, c := range w.Template.Containers {
		for _, d := range ix.RunningDigests(w.Ref(), c.Name) {
			if !slices.Contains(digests, d) {
				digests = append(digests, d)
			}
		}
	}
	var out *aggregate
	for _, d := range digests {
		agg := cache[d]
		if agg == nil {
			agg = newAggregate(limit)
			if im := ix.Images().Image(d); im != nil && im.Match != nil {
				for i := range im.Match.Findings {
					agg.add(r.weigh(&im.Match.Findings[i]))
				}
			}
			cache[d] = agg
		}
		switch {
		case out == nil:
			out = agg
		case out == cache[digests[0]]:
			// Copy before combining: the cached aggregate is shared.
			c := *out
			c.listed = slices.Clone(out.listed)
			c.exploited = slices.Clone(out.exploited)
			c.combine(agg)
			out = &c
		default:
			out.combine(agg)
		}
	}
	return out
}

// weigh turns one finding into a weighed vulnerability.
func (r *Ranker) weigh(f *match.Finding) Vulnerability {
	l := level(f.Severity)
	vu := Vulnerability{ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Ecosystem: f.Package.Ecosystem,
		InstalledVersion: f.InstalledVersion, FixedVersion: f.FixedVersion, Severity: l, Score: f.Score}
	vu.Weight = r.w.Severity[l]
	if f.FixedVersion == "" {
		vu.Weight *= r.w.Unfixable
	}
	if r.kev != nil {
		// Copied into a new variable only when found: taking the address
		// of the lookup's result would allocate for every finding.
		if e, ok := r.kev(f.ID, f.Aliases); ok {
			found := e
			vu.KnownExploited = &found
		}
	}
	return vu
}

// criticality returns the declared criticality of w and where it was read.
func (r *Ranker) criticality(w *model.Workload, ns *model.Namespace) (string, string) {
	type src struct {
		where string
		m     map[string]string
	}
	srcs := []src{{"workload label", w.Labels}, {"workload annotation", w.Annotations}, {"pod template label", w.Template.Labels}}
	if ns != nil {
		srcs = append(srcs, src{"namespace label", ns.Labels}, src{"namespace annotation", ns.Annotations})
	}
	for _, s := range srcs {
		for _, k := range r.keys {
			if v := strings.ToLower(strings.TrimSpace(s.m[k])); v != "" {
				return v, s.where + " " + k + "=" + s.m[k]
			}
		}
	}
	return "", ""
}

func (r *Ranker) assess(ix *inventory.Index, w *model.Workload, agg *aggregate, exp exposure.Item, priv []privilege.Finding) Assessment {
	ns := ix.Namespace(w.Cluster, w.Namespace)
	a := Assessment{Workload: w.Ref(), Environment: r.env.Of(w, ns), Counts: make(map[string]int, len(Levels)),
		Fixable: agg.fixable, KnownExploited: agg.kev, Total: agg.n, Vulnerabilities: agg.listed}
	for i, l := range Levels {
		a.Counts[l] = agg.counts[i]
	}

	// Vulnerabilities: the worst finding's weight, plus a share of the
	// others' (at most as much again).
	others := min(r.w.Others*agg.rest, agg.top)
	vf := Factor{Name: FactorVulnerabilities, Value: agg.top + others}
	best := agg.best
	fix := "fixed in " + best.FixedVersion
	if best.FixedVersion == "" {
		fix = "no fix known, weight ×" + num(r.w.Unfixable)
	}
	vf.Evidence = append(vf.Evidence,
		fmt.Sprintf("worst: %s in %s %s, %s (%s): weight %s", best.ID, best.Package, best.InstalledVersion, best.Severity, fix, num(best.Weight)),
		fmt.Sprintf("%d other findings weigh %s; %s of that, at most the worst's weight, adds %s", agg.n-1, num(agg.rest), num(r.w.Others), num(others)))
	a.Factors = append(a.Factors, vf)

	exploited := agg.exploited
	ef := Factor{Name: FactorExploitation, Value: 1}
	if agg.kev > 0 {
		ef.Value = r.w.KnownExploited
		more := ""
		if agg.kev > len(exploited) {
			more = fmt.Sprintf(" and %d more", agg.kev-len(exploited))
		}
		ef.Evidence = append(ef.Evidence, "known exploited: "+strings.Join(exploited, "; ")+more)
	}
	if r.runtime != nil {
		if ev := r.runtime(w.Ref()); len(ev) > 0 {
			a.Runtime = ev
			ef.Value = max(ef.Value, r.w.PossiblyExploited)
			ef.Evidence = append(ef.Evidence, "possibly under attack: "+strings.Join(firstN(ev, 5), "; "))
		}
	}
	if len(ef.Evidence) == 0 {
		ef.Evidence = []string{"no finding is in the KEV catalog; no runtime evidence of an attack"}
	}
	a.Factors = append(a.Factors, ef)

	lv := LevelCluster
	xf := Factor{Name: FactorExposure}
	if exp.Level != "" {
		lv = exp.Level
		for _, v := range exp.Via {
			xf.Evidence = append(xf.Evidence, v.Level+" via "+v.Kind+" "+v.Name+": "+v.Detail)
		}
	} else {
		xf.Evidence = []string{"reachable only inside the cluster: no LoadBalancer, NodePort, Ingress, externalIPs, hostPort or hostNetwork"}
	}
	xf.Value = r.w.Exposure[lv]
	xf.Evidence = firstN(xf.Evidence, 5)
	a.Factors = append(a.Factors, xf)

	pf := Factor{Name: FactorPrivilege, Value: 1}
	rf := Factor{Name: FactorRoot, Value: 1}
	for _, f := range priv {
		switch {
		case f.Check == privilege.CheckRunAsRoot:
			v := r.w.Root
			if f.Severity != model.SeverityHigh {
				v = r.w.MaybeRoot
			}
			rf.Value = max(rf.Value, v)
			rf.Evidence = append(rf.Evidence, container(f)+f.Detail)
		case hostAccess(f):
			pf.Value = r.w.Privileged
			pf.Evidence = append(pf.Evidence, container(f)+f.Check+": "+f.Detail)
		}
	}
	if len(pf.Evidence) == 0 {
		pf.Evidence = []string{"not privileged, no host namespaces, no sensitive hostPath, no critical capabilities"}
	}
	if len(rf.Evidence) == 0 {
		rf.Evidence = []string{"no container runs as root"}
	}
	pf.Evidence, rf.Evidence = firstN(pf.Evidence, 5), firstN(rf.Evidence, 5)
	a.Factors = append(a.Factors, pf, rf)

	prf := Factor{Name: FactorProduction, Value: 1}
	if a.Environment.Production {
		prf.Value = r.w.Production
		prf.Evidence = []string{"production: " + a.Environment.Reason}
	} else if a.Environment.Environment != "" {
		prf.Evidence = []string{"not production: " + a.Environment.Reason}
	} else {
		prf.Evidence = []string{"not production: no environment label, cluster or namespace rule says so"}
	}
	a.Factors = append(a.Factors, prf)

	cf := Factor{Name: FactorCriticality, Value: 1}
	if c, where := r.criticality(w, ns); c != "" {
		if v, ok := r.w.Criticality[c]; ok {
			cf.Value = v
			cf.Evidence = []string{"declared " + c + " (" + where + ")"}
		} else {
			cf.Evidence = []string{"declared " + strconv.Quote(c) + " (" + where + "), not a known level: " + strings.Join(sortedKeys(r.w.Criticality), ", ")}
		}
	} else {
		cf.Evidence = []string{"none declared (" + strings.Join(r.keys, ", ") + ")"}
	}
	a.Factors = append(a.Factors, cf)

	a.Score = 1
	for i := range a.Factors {
		a.Score *= a.Factors[i].Value
		for j, e := range a.Factors[i].Evidence {
			// Label and annotation values are written by anyone who can
			// create a workload: keep evidence on one line.
			a.Factors[i].Evidence[j] = safetext.OneLine(e)
		}
	}
	return a
}

// hostAccess reports the privilege findings that weigh as privileged:
// privileged containers, host namespaces, critical or high hostPath, and
// critical capabilities (SYS_ADMIN, ALL, SYS_MODULE…).
func hostAccess(f privilege.Finding) bool {
	switch f.Check {
	case privilege.CheckPrivileged, privilege.CheckHostPID, privilege.CheckHostIPC, privilege.CheckHostNetwork:
		return true
	case privilege.CheckHostPath:
		return f.Severity == model.SeverityCritical || f.Severity == model.SeverityHigh
	case privilege.CheckCapabilities:
		return f.Severity == model.SeverityCritical
	}
	return false
}

func container(f privilege.Finding) string {
	if f.Container == "" {
		return ""
	}
	return "container " + f.Container + ": "
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// num formats a weight for evidence: up to two decimals, no trailing
// zeros.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// Formula renders how the factors multiply into the score.
func (a Assessment) Formula() string {
	parts := make([]string, len(a.Factors))
	for i, f := range a.Factors {
		parts[i] = f.Name + " " + num(f.Value)
	}
	return strings.Join(parts, " × ") + " = " + num(a.Score)
}
