package risk

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/privilege"
	"github.com/palisade-project/palisade/internal/sbom"
)

func digestOf(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// deployment is a Deployment with one running pod whose container "app"
// runs digest.
func deployment(ns, name, digest string, labels map[string]string, sc model.SecurityContext) []model.Object {
	tmpl := model.PodTemplate{Labels: map[string]string{"app": name}, Containers: []model.Container{{Name: "app", Type: model.ContainerRegular,
		Image: model.ImageRef{Original: "r.example/" + name + ":1", Registry: "r.example", Repository: name, Tag: "1"}, SecurityContext: sc}}}
	w := &model.Workload{Meta: model.Meta{Cluster: "c", Namespace: ns, Name: name, Labels: labels}, Kind: model.KindDeployment,
		Selector: &model.LabelSelector{MatchLabels: map[string]string{"app": name}}, Template: tmpl}
	podTmpl := tmpl
	podTmpl.Labels = map[string]string{"app": name, "pod-template-hash": "h"}
	p := &model.Workload{Meta: model.Meta{Cluster: "c", Namespace: ns, Name: name + "-h-1", Labels: podTmpl.Labels}, Kind: model.KindPod,
		Owner: &model.OwnerRef{Kind: "ReplicaSet", Name: name + "-h"}, Template: podTmpl,
		Status: &model.PodStatus{Phase: "Running", Containers: []model.ContainerStatus{{Name: "app", Type: model.ContainerRegular, Digest: digest, Running: true}}}}
	return []model.Object{w, p}
}

func loadBalancer(ns, name string) *model.Service {
	return &model.Service{Meta: model.Meta{Cluster: "c", Namespace: ns, Name: name}, Type: "LoadBalancer",
		Selector: map[string]string{"app": name}, Ports: []model.ServicePort{{Protocol: "TCP", Port: 443, TargetPort: "443", NodePort: 31443}}}
}

func finding(id, sev, fixed string, aliases ...string) match.Finding {
	return match.Finding{ID: id, Aliases: aliases, Package: sbom.Package{Name: "pkg-" + id, Version: "1"}, InstalledVersion: "1", FixedVersion: fixed, Severity: sev}
}

var (
	root   = int64(0)
	nobody = int64(65534)
	priv   = model.SecurityContext{Privileged: true, RunAsUser: &root}
	plain  = model.SecurityContext{RunAsUser: &nobody}
)

// fixture: "shop" is production, internet-exposed, privileged and runs an
// image with one known-exploited, fixable critical CVE; "batch" is an
// internal, non-root staging workload whose image has 40 unfixable lows.
func fixture() []model.Object {
	var objs []model.Object
	objs = append(objs, &model.Namespace{Meta: model.Meta{Cluster: "c", Name: "prod", Labels: map[string]string{"environment": "production"}}},
		&model.Namespace{Meta: model.Meta{Cluster: "c", Name: "stage", Labels: map[string]string{"environment": "staging"}}})
	objs = append(objs, deployment("prod", "shop", digestOf('a'), nil, priv)...)
	objs = append(objs, loadBalancer("prod", "shop"))
	objs = append(objs, deployment("stage", "batch", digestOf('b'), nil, plain)...)
	objs = append(objs, deployment("stage", "api", digestOf('c'), nil, plain)...)
	return objs
}

func scans() *imagescan.View {
	lows := make([]match.Finding, 40)
	for i := range lows {
		lows[i] = finding("DSA-"+strings.Repeat("1", i+1), "low", "")
	}
	return imagescan.NewView([]*imagescan.Image{
		{Digest: digestOf('a'), SBOM: &imagescan.Facts{User: ""}, Match: &imagescan.Match{Findings: []match.Finding{finding("GHSA-log4", "critical", "2.15.0", "CVE-2021-44228"), finding("DSA-2", "medium", "1.1")}}},
		{Digest: digestOf('b'), SBOM: &imagescan.Facts{User: "1000"}, Match: &imagescan.Match{Findings: lows}},
		{Digest: digestOf('c'), SBOM: &imagescan.Facts{User: "1000"}, Match: &imagescan.Match{Findings: []match.Finding{finding("DSA-9", "low", "2.0")}}},
		{Digest: digestOf('f'), SBOM: &imagescan.Facts{User: "1000"}, Match: &imagescan.Match{Findings: []match.Finding{
			finding("DSA-21", "critical", "2"), finding("DSA-22", "critical", "2"), finding("DSA-23", "critical", "2")}}},
	}, imagescan.Scheduler{Running: true})
}

func knownLog4Shell(id string, aliases []string) (Exploit, bool) {
	if id == "CVE-2021-44228" || slices.Contains(aliases, "CVE-2021-44228") {
		return Exploit{CVE: id, DateAdded: "2021-12-10", RequiredAction: "Apply updates", Ransomware: "Known"}, true
	}
	return Exploit{}, false
}

func index(objs []model.Object) *inventory.Index {
	snap := &model.Snapshot{}
	for _, o := range objs {
		snap.Add(o)
	}
	return inventory.New(snap).WithImages(scans())
}

func rank(t *testing.T, objs []model.Object) []Assessment {
	t.Helper()
	r, err := New(Config{KnownExploited: knownLog4Shell})
	if err != nil {
		t.Fatal(err)
	}
	ix := index(objs)
	return r.Assess(ix, ix.Workloads())
}

func names(as []Assessment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Workload.Name
	}
	return out
}

func find(t *testing.T, as []Assessment, name string) Assessment {
	t.Helper()
	for _, a := range as {
		if a.Workload.Name == name {
			return a
		}
	}
	t.Fatalf("%s not ranked: %v", name, names(as))
	return Assessment{}
}

func factor(a Assessment, name string) Factor {
	for _, f := range a.Factors {
		if f.Name == name {
			return f
		}
	}
	return Factor{}
}

func TestExploitedExposedPrivilegedProductionComesFirst(t *testing.T) {
	as := rank(t, fixture())
	if got, want := names(as), []string{"shop", "api", "batch"}; !slices.Equal(got, want) {
		t.Fatalf("ranking = %v, want %v", got, want)
	}
	shop, batch := as[0], find(t, as, "batch")
	if batch.Total != 40 || shop.Total != 2 {
		t.Errorf("totals: shop %d, batch %d", shop.Total, batch.Total)
	}
	for name, want := range map[string]float64{FactorExploitation: 4, FactorExposure: 3, FactorPrivilege: 2.5, FactorRoot: 1.5, FactorProduction: 2, FactorCriticality: 1} {
		if got := factor(shop, name).Value; got != want {
			t.Errorf("shop %s = %v, want %v (%q)", name, got, want, factor(shop, name).Evidence)
		}
	}
	// 10 for the fixable critical, plus 10% of the medium's 3.
	if got := factor(shop, FactorVulnerabilities).Value; math.Abs(got-10.3) > 1e-9 {
		t.Errorf("shop vulnerabilities = %v, want 10.3", got)
	}
	// 40 unfixable lows: 0.5 + min(0.1 × 19.5, 0.5) = 1.
	if got := factor(batch, FactorVulnerabilities).Value; math.Abs(got-1) > 1e-9 {
		t.Errorf("batch vulnerabilities = %v, want 1", got)
	}
	if shop.KnownExploited != 1 || shop.Vulnerabilities[0].KnownExploited == nil || shop.Vulnerabilities[0].KnownExploited.DateAdded != "2021-12-10" {
		t.Errorf("shop's KEV finding not first or not marked: %+v", shop.Vulnerabilities)
	}
	if shop.Rank != 1 || batch.Rank != 3 {
		t.Errorf("ranks %d, %d", shop.Rank, batch.Rank)
	}
}

// Every factor shown is reproducible: the score is the product of the
// values, and the formula says so.
func TestScoreIsTheProductOfItsFactors(t *testing.T) {
	for _, a := range rank(t, fixture()) {
		p := 1.0
		for _, f := range a.Factors {
			if len(f.Evidence) == 0 {
				t.Errorf("%s: factor %s has no evidence", a.Workload, f.Name)
			}
			p *= f.Value
		}
		if p != a.Score {
			t.Errorf("%s: score %v, product of factors %v", a.Workload, a.Score, p)
		}
		if len(a.Factors) != 7 || !strings.HasSuffix(a.Formula(), "= "+num(a.Score)) {
			t.Errorf("%s: formula %q", a.Workload, a.Formula())
		}
	}
}

func TestCriticalityMovesUpAndLoadBalancerRemovalMovesDown(t *testing.T) {
	base := names(rank(t, fixture()))
	// batch (1) ties with api (one fixable low, 1) and sorts after it by
	// name; declared critical (3×), it moves above.
	objs := fixture()
	for _, o := range objs {
		if w, ok := o.(*model.Workload); ok && w.Name == "batch" && w.Kind == model.KindDeployment {
			w.Labels = map[string]string{"palisade.io/criticality": "critical"}
		}
	}
	as := rank(t, objs)
	if slices.Index(names(as), "batch") >= slices.Index(base, "batch") {
		t.Errorf("criticality did not move batch up: %v → %v", base, names(as))
	}
	if ev := factor(find(t, as, "batch"), FactorCriticality).Evidence[0]; !strings.Contains(ev, "workload label palisade.io/criticality=critical") {
		t.Errorf("criticality evidence %q", ev)
	}

	// Without its LoadBalancer, shop is cluster-only: its score drops by 3×.
	objs = slices.DeleteFunc(fixture(), func(o model.Object) bool { _, svc := o.(*model.Service); return svc })
	before, after := find(t, rank(t, fixture()), "shop"), find(t, rank(t, objs), "shop")
	if after.Score*3 != before.Score || factor(after, FactorExposure).Value != 1 {
		t.Errorf("shop without its LoadBalancer: score %v (before %v), exposure %+v", after.Score, before.Score, factor(after, FactorExposure))
	}
}

func TestRankingIsDeterministicAndStableUnderUnrelatedChanges(t *testing.T) {
	first := rank(t, fixture())
	for range 5 {
		again := rank(t, fixture())
		for i := range first {
			if first[i].Workload != again[i].Workload || first[i].Score != again[i].Score {
				t.Fatalf("ranking changed between runs: %v vs %v", names(first), names(again))
			}
		}
	}
	// An unrelated workload (same score as api, sorting after it by name)
	// and an unrelated Service change nothing for the others.
	objs := append(fixture(), deployment("stage", "zz-other", digestOf('c'), nil, plain)...)
	objs = append(objs, loadBalancer("stage", "nothing-selected"))
	more := rank(t, objs)
	var kept []Assessment
	for _, a := range more {
		if a.Workload.Name != "zz-other" {
			kept = append(kept, a)
		}
	}
	for i := range first {
		if kept[i].Workload != first[i].Workload || kept[i].Score != first[i].Score {
			t.Errorf("unrelated changes moved %v: %v → %v", first[i].Workload, names(first), names(kept))
		}
	}
	// Ties are broken by the documented key: api before zz-other.
	if i, j := slices.Index(names(more), "api"), slices.Index(names(more), "zz-other"); i > j {
		t.Errorf("tie not broken by name: %v", names(more))
	}
}

func TestProductionListsKnownExploitedFirst(t *testing.T) {
	r, err := New(Config{KnownExploited: knownLog4Shell})
	if err != nil {
		t.Fatal(err)
	}
	objs := fixture()
	// A second production workload without known exploitation but with
	// more critical findings: the known-exploited one still comes first.
	objs = append(objs, deployment("prod", "worse", digestOf('f'), nil, plain)...)
	ix := index(objs)
	items := r.Production(ix, ix.Workloads())
	var got []string
	for _, it := range items {
		got = append(got, it.Workload.Name)
	}
	if want := []string{"shop", "worse"}; !slices.Equal(got, want) {
		t.Fatalf("production = %v, want %v", got, want)
	}
	shop := items[0]
	if shop.KnownExploited != 1 || shop.Environment.Reason != "namespace label environment=production" || len(shop.Vulnerabilities) != 2 || shop.MaxSeverity != "critical" {
		t.Errorf("shop = %+v", shop)
	}
	if v := shop.Vulnerabilities[0]; v.FixedVersion != "2.15.0" || v.KnownExploited == nil || v.KnownExploited.RequiredAction == "" {
		t.Errorf("first vulnerability %+v", v)
	}
}

func TestWeightsValidate(t *testing.T) {
	for _, w := range []Weights{{Unfixable: -1}, {Others: 2}, {Severity: map[string]float64{"critical": 0.0000}}, {Exposure: map[string]float64{"internet": math.Inf(1)}}} {
		if err := w.Validate(); err == nil {
			t.Errorf("weights %+v accepted", w)
		}
	}
	if _, err := New(Config{Weights: Weights{Production: -2}}); err == nil {
		t.Error("a negative production weight was accepted")
	}
}

func TestTieBreaks(t *testing.T) {
	ref := func(name string) model.WorkloadRef {
		return model.WorkloadRef{Cluster: "c", Kind: model.KindDeployment, Namespace: "n", Name: name}
	}
	crit := map[string]int{"critical": 1}
	low := map[string]int{"low": 1}
	as := []Assessment{
		{Workload: ref("a"), Score: 6, Counts: low},
		{Workload: ref("b"), Score: 6, Counts: crit},
		{Workload: ref("c"), Score: 6, Counts: low, KnownExploited: 1},
		{Workload: ref("d"), Score: 7, Counts: low},
		{Workload: ref("e"), Score: 6, Counts: crit},
	}
	slices.SortStableFunc(as, Compare)
	// Score, then known-exploited count, then worst severity, then name.
	if got, want := names(as), []string{"d", "c", "b", "e", "a"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestRemovingTheLoadBalancerChangesTheRank(t *testing.T) {
	// front: one fixable high (6) × internet 3 × production 2 = 36;
	// back: one fixable critical (10) × production 2 = 20. Without its
	// LoadBalancer front is 12, below back.
	objs := []model.Object{&model.Namespace{Meta: model.Meta{Cluster: "c", Name: "prod", Labels: map[string]string{"env": "prod"}}}}
	objs = append(objs, deployment("prod", "front", digestOf('d'), nil, plain)...)
	objs = append(objs, deployment("prod", "back", digestOf('e'), nil, plain)...)
	view := imagescan.NewView([]*imagescan.Image{
		{Digest: digestOf('d'), SBOM: &imagescan.Facts{User: "1000"}, Match: &imagescan.Match{Findings: []match.Finding{finding("DSA-10", "high", "2")}}},
		{Digest: digestOf('e'), SBOM: &imagescan.Facts{User: "1000"}, Match: &imagescan.Match{Findings: []match.Finding{finding("DSA-11", "critical", "2")}}},
	}, imagescan.Scheduler{Running: true})
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rank := func(objs []model.Object) []Assessment {
		snap := &model.Snapshot{}
		for _, o := range objs {
			snap.Add(o)
		}
		ix := inventory.New(snap).WithImages(view)
		return r.Assess(ix, ix.Workloads())
	}
	with := rank(append(slices.Clone(objs), loadBalancer("prod", "front")))
	without := rank(objs)
	if got := names(with); !slices.Equal(got, []string{"front", "back"}) || with[0].Score != 36 {
		t.Errorf("with the LoadBalancer: %v (front %v)", got, with[0].Score)
	}
	if got := names(without); !slices.Equal(got, []string{"back", "front"}) || find(t, without, "front").Score != 12 {
		t.Errorf("without the LoadBalancer: %v", got)
	}
}

// Every factor of --explain is reproducible from the stored evidence: the
// findings listed, the exposed and privileged answers (questions 7 and 6),
// the environment and the declared criticality, with the documented
// default weights.
func TestFactorsAreReproducibleFromTheEvidence(t *testing.T) {
	objs := fixture()
	for _, o := range objs {
		if w, ok := o.(*model.Workload); ok && w.Name == "api" && w.Kind == model.KindDeployment {
			w.Annotations = map[string]string{"palisade.io/criticality": "high"}
		}
	}
	r, err := New(Config{KnownExploited: knownLog4Shell})
	if err != nil {
		t.Fatal(err)
	}
	ix := index(objs)
	level := map[model.WorkloadRef]string{}
	for _, it := range exposure.AnswerWhere(ix, nil).Items {
		level[it.Workload] = it.Level
	}
	w := DefaultWeights
	for _, a := range r.Assess(ix, ix.Workloads()) {
		if a.Total > MaxListed {
			continue // not every finding is listed
		}
		want := map[string]float64{}
		var top, rest float64
		exploited := 1.0
		for i, v := range a.Vulnerabilities {
			weight := w.Severity[v.Severity]
			if v.FixedVersion == "" {
				weight *= w.Unfixable
			}
			if weight != v.Weight {
				t.Errorf("%s %s: weight %v, want %v", a.Workload, v.ID, v.Weight, weight)
			}
			if i == 0 || weight > top {
				rest += top
				top = weight
			} else {
				rest += weight
			}
			if v.KnownExploited != nil {
				exploited = w.KnownExploited
			}
		}
		want[FactorVulnerabilities] = top + min(w.Others*rest, top)
		want[FactorExploitation] = exploited
		want[FactorExposure] = w.Exposure[cmp.Or(level[a.Workload], LevelCluster)]
		want[FactorPrivilege], want[FactorRoot] = 1, 1
		wl := ix.Workload(a.Workload)
		for _, f := range privilege.CheckWith(wl, privilege.ImageUsersOf(ix)) {
			switch {
			case f.Check == privilege.CheckRunAsRoot && f.Severity == model.SeverityHigh:
				want[FactorRoot] = w.Root
			case f.Check == privilege.CheckRunAsRoot:
				want[FactorRoot] = max(want[FactorRoot], w.MaybeRoot)
			case f.Check == privilege.CheckPrivileged:
				want[FactorPrivilege] = w.Privileged
			}
		}
		want[FactorProduction] = 1
		if a.Environment.Production {
			want[FactorProduction] = w.Production
		}
		want[FactorCriticality] = 1
		if c := wl.Annotations["palisade.io/criticality"]; c != "" {
			want[FactorCriticality] = w.Criticality[c]
		}
		for _, f := range a.Factors {
			if math.Abs(f.Value-want[f.Name]) > 1e-9 {
				t.Errorf("%s: %s = %v, the evidence gives %v (%q)", a.Workload, f.Name, f.Value, want[f.Name], f.Evidence)
			}
		}
	}
}

// Runtime evidence marks a workload as possibly under attack: it comes
// first in production, even without known vulnerabilities, and its
// exploitation factor rises.
func TestRuntimeEvidence(t *testing.T) {
	objs := append(fixture(), deployment("prod", "quiet", digestOf('z'), nil, plain)...)
	evidence := func(ref model.WorkloadRef) []string {
		if ref.Name == "quiet" || ref.Name == "api" {
			return []string{"/bin/sh (high) in container app: shell in a non-shell image"}
		}
		return nil
	}
	r, err := New(Config{Runtime: evidence})
	if err != nil {
		t.Fatal(err)
	}
	ix := index(objs)
	items := r.Production(ix, ix.Workloads())
	if len(items) != 2 || items[0].Workload.Name != "quiet" || len(items[0].RuntimeEvidence) != 1 || items[0].Total != 0 {
		t.Fatalf("production = %+v", items)
	}
	api := find(t, r.Assess(ix, ix.Workloads()), "api")
	if f := factor(api, FactorExploitation); f.Value != DefaultWeights.PossiblyExploited || !strings.Contains(strings.Join(f.Evidence, " "), "possibly under attack") {
		t.Errorf("api exploitation factor %+v", f)
	}
}
