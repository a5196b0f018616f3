package corpora

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/kubemodel"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/privilege"
)

// The Gatekeeper library's suite.yaml files (gator format, Rego templates
// removed from the corpus): each test names a constraint, and each case an
// object and assertions on the number of violations.

type gkSuite struct {
	Tests []struct {
		Name       string `json:"name"`
		Constraint string `json:"constraint"`
		Cases      []struct {
			Name       string `json:"name"`
			Object     string `json:"object"`
			Assertions []struct {
				// Violations is yes, no or a number; YAML 1.1 reads yes/no
				// as booleans. Absent means yes (gator's default).
				Violations any     `json:"violations"`
				Message    *string `json:"message"`
			} `json:"assertions"`
		} `json:"cases"`
	} `json:"tests"`
}

type gkConstraint struct {
	Kind string `json:"kind"`
	Spec struct {
		Match struct {
			Namespaces         []string `json:"namespaces"`
			ExcludedNamespaces []string `json:"excludedNamespaces"`
		} `json:"match"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"spec"`
}

// matches applies the constraint's namespace match to an object's namespace.
func (c *gkConstraint) matches(namespace string) bool {
	m := c.Spec.Match
	return (len(m.Namespaces) == 0 || slices.Contains(m.Namespaces, namespace)) && !slices.Contains(m.ExcludedNamespaces, namespace)
}

// params decodes the constraint's parameters into T, failing on fields T
// does not know so that no parameter is silently ignored.
func params[T any](t *testing.T, c *gkConstraint) T {
	t.Helper()
	var p T
	if len(c.Spec.Parameters) == 0 {
		return p
	}
	dec := json.NewDecoder(bytes.NewReader(c.Spec.Parameters))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s parameters %s: %v (a parameter this test does not translate)", c.Kind, c.Spec.Parameters, err)
	}
	return p
}

// gkObject is one case's object, loaded through manifest.Load.
type gkObject struct {
	res *manifest.Result
	ix  *inventory.Index
	// operation is the admission operation of an AdmissionReview-wrapped
	// object, "" for a bare object.
	operation string
}

// unwrapAdmission returns the object inside an AdmissionReview
// (request.object), a bare {review: {object}} or {object} wrapper, or nil
// for a bare Kubernetes object.
func unwrapAdmission(js []byte) (obj json.RawMessage, operation string, err error) {
	var w struct {
		Kind    string `json:"kind"`
		Request *struct {
			Operation string          `json:"operation"`
			Object    json.RawMessage `json:"object"`
		} `json:"request"`
		Review *struct {
			Operation string          `json:"operation"`
			Object    json.RawMessage `json:"object"`
		} `json:"review"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(js, &w); err != nil {
		return nil, "", err
	}
	switch {
	case w.Kind == "AdmissionReview" && w.Request != nil:
		return w.Request.Object, w.Request.Operation, nil
	case w.Review != nil:
		return w.Review.Object, w.Review.Operation, nil
	case w.Kind == "" && len(w.Object) > 0:
		return w.Object, "", nil
	}
	return nil, "", nil
}

func loadGatekeeperObject(t *testing.T, path string) gkObject {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	obj, op, err := unwrapAdmission(js)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var res *manifest.Result
	if obj != nil {
		res, err = manifest.Load(t.Context(), []string{"-"}, manifest.Options{Stdin: bytes.NewReader(obj)})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	} else {
		res = load(t, path)
	}
	for _, e := range res.Errors {
		t.Errorf("%s: %v", path, e)
	}
	if len(res.Ignored) > 0 || res.Snapshot.Len() != 1 {
		t.Fatalf("%s: want exactly one modelled object, got %d (ignored kinds %v)", path, res.Snapshot.Len(), res.Ignored)
	}
	return gkObject{res: res, ix: inventory.New(&res.Snapshot), operation: op}
}

// gkResult is Palisade's answer for one case, translated into violations.
type gkResult struct {
	n int
	// exact is true when n counts at gatekeeper's granularity (one per
	// container, Service or label), so a numeric assertion N compares
	// exactly; otherwise N only requires n >= 1.
	exact bool
	// byMessage counts violations per gatekeeper message pattern, for the
	// suites whose assertions filter on a message; nil when unsupported.
	byMessage map[string]int
}

// gkTranslator evaluates one policy's cases with Palisade.
type gkTranslator struct {
	kind string
	eval func(t *testing.T, c *gkConstraint, o gkObject) gkResult
}

// gkTranslators maps each covered suite (its folder under library/) to the
// Palisade analysis answering it. Each eval documents how the constraint's
// parameters become Palisade configuration or a post-filter.
var gkTranslators = map[string]gkTranslator{
	"pod-security-policy/privileged-containers":      {"K8sPSPPrivilegedContainer", gkPrivileged},
	"pod-security-policy/host-namespaces":            {"K8sPSPHostNamespace", gkHostNamespaces},
	"pod-security-policy/host-network-ports":         {"K8sPSPHostNetworkingPorts", gkHostNetworkPorts},
	"pod-security-policy/host-filesystem":            {"K8sPSPHostFilesystem", gkHostFilesystem},
	"pod-security-policy/volumes":                    {"K8sPSPVolumeTypes", gkVolumeTypes},
	"pod-security-policy/capabilities":               {"K8sPSPCapabilities", gkCapabilities},
	"pod-security-policy/allow-privilege-escalation": {"K8sPSPAllowPrivilegeEscalationContainer", gkAllowPrivilegeEscalation},
	"pod-security-policy/users":                      {"K8sPSPAllowedUsers", gkUsers},
	"general/allowedrepos":                           {"K8sAllowedRepos", gkAllowedRepos},
	"general/allowedreposv2":                         {"K8sAllowedReposv2", gkAllowedReposV2},
	"general/disallowedrepos":                        {"K8sDisallowedRepos", gkDisallowedRepos},
	"general/block-loadbalancer-services":            {"K8sBlockLoadBalancer", gkServiceType("LoadBalancer")},
	"general/block-nodeport-services":                {"K8sBlockNodePort", gkServiceType("NodePort")},
	"general/externalip":                             {"K8sExternalIPs", gkExternalIPs},
	"general/requiredlabels":                         {"K8sRequiredLabels", gkRequiredLabels},
}

// gkSkipped are the suites no Palisade question answers.
var gkSkipped = map[string]string{
	"pod-security-policy/read-only-root-filesystem": "Palisade models readOnlyRootFilesystem but no question reports it (not privilege or host access)",
	"general/block-wildcard-ingress":                "no question about Ingress host wildcards (question 7 reports the hosts, it does not judge them)",
	"general/disallowedtags":                        "question 1 reports tags but has no tag policy",
	"general/httpsonly":                             "no question about Ingress TLS",
	"general/imagedigests":                          "question 1 reports pinned (digest) images, but the brief scopes question 1 to registry trust; a candidate for a later mapping to imagetrust Item.Pinned",
	"general/requiredannotations":                   "requires two annotations (a8r.io/owner and a8r.io/runbook, values by regex) on Services; the owners question resolves workloads, not Services, and has no runbook concept",
}

// updateExempt explains the UPDATE cases below.
const updateExempt = "gatekeeper's pod-security-policy templates skip UPDATE requests (a pod's spec is checked at CREATE and is immutable after); Palisade has no admission operation and reports what the object holds, and this object violates the policy"

// gkOverrides are cases where Palisade intentionally answers differently
// from the suite: the want given here is asserted instead, with the reason.
var gkOverrides = map[string]struct{ want, reason string }{
	"pod-security-policy/privileged-containers/privileged-containers-disallowed/update":    {"yes", updateExempt},
	"pod-security-policy/host-namespaces/host-namespace/update":                            {"yes", updateExempt},
	"pod-security-policy/host-network-ports/port-range-with-host-network-allowed/update":   {"yes", updateExempt},
	"pod-security-policy/host-network-ports/port-range-with-host-network-forbidden/update": {"yes", updateExempt},
	"pod-security-policy/host-filesystem/host-filesystem/update":                           {"yes", updateExempt},
	"pod-security-policy/volumes/host-path-disallowed/update":                              {"yes", updateExempt},
	"pod-security-policy/capabilities/capabilities-baseline/update":                        {"yes", updateExempt},
	"pod-security-policy/capabilities/capabilities-restricted/update":                      {"yes", updateExempt},
	"pod-security-policy/allow-privilege-escalation/allow-privilege-escalation/update":     {"yes", updateExempt},
	"pod-security-policy/users/users-and-groups-together/update":                           {"yes", updateExempt},
}

// TestGatekeeperLibrary runs every covered suite of the Gatekeeper library
// through Palisade.
func TestGatekeeperLibrary(t *testing.T) {
	lib := corpusDir(t, "misconfig", "gatekeeper-library", "library")
	suites, err := filepath.Glob(filepath.Join(lib, "*", "*", "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) == 0 {
		t.Fatalf("no suite.yaml under %s", lib)
	}
	seen := map[string]bool{}
	for _, suitePath := range suites {
		dir := filepath.Dir(suitePath)
		rel, _ := filepath.Rel(lib, dir)
		name := filepath.ToSlash(rel)
		seen[name] = true
		tr, ok := gkTranslators[name]
		if !ok {
			if reason, skip := gkSkipped[name]; skip {
				t.Logf("suite %s: skipped: %s", name, reason)
			} else {
				t.Errorf("suite %s is neither translated (gkTranslators) nor skipped with a reason (gkSkipped)", name)
			}
			continue
		}
		t.Run(name, func(t *testing.T) { runGatekeeperSuite(t, dir, name, tr) })
	}
	for name := range gkTranslators {
		if !seen[name] {
			t.Errorf("gkTranslators names suite %s, which is not in the corpus", name)
		}
	}
	for id := range gkOverrides {
		if !partialRun() && !gkOverridesSeen[id] {
			t.Errorf("gkOverrides names case %s, which no suite has", id)
		}
	}
	checkGapsSeen(t, "gatekeeper/")
}

var gkOverridesSeen = map[string]bool{}

func runGatekeeperSuite(t *testing.T, dir, name string, tr gkTranslator) {
	data, err := os.ReadFile(filepath.Join(dir, "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var s gkSuite
	if err := yaml.Unmarshal(data, &s); err != nil {
		t.Fatalf("suite.yaml: %v", err)
	}
	var cases, overridden, assertions int
	for _, test := range s.Tests {
		cdata, err := os.ReadFile(filepath.Join(dir, test.Constraint))
		if err != nil {
			t.Fatal(err)
		}
		var c gkConstraint
		if err := yaml.Unmarshal(cdata, &c); err != nil {
			t.Fatalf("%s: %v", test.Constraint, err)
		}
		if c.Kind != tr.kind {
			t.Fatalf("%s: constraint kind %s, want %s", test.Constraint, c.Kind, tr.kind)
		}
		for _, cs := range test.Cases {
			id := name + "/" + test.Name + "/" + cs.Name
			t.Run(test.Name+"/"+cs.Name, func(t *testing.T) {
				o := loadGatekeeperObject(t, filepath.Join(dir, cs.Object))
				got := tr.eval(t, &c, o)
				if got.byMessage != nil {
					t.Logf("Palisade: %d violations, by message %v", got.n, got.byMessage)
				} else {
					t.Logf("Palisade: %d violations", got.n)
				}
				cases++
				ov, isOverride := gkOverrides[id]
				if isOverride {
					gkOverridesSeen[id] = true
					overridden++
					ok := checkViolations(ov.want, got.n, got.exact)
					expect(t, "gatekeeper/"+id, ok, "Palisade-specific want %s (%s), Palisade reports %d", ov.want, ov.reason, got.n)
					return
				}
				if o.operation != "" && o.operation != "CREATE" {
					t.Logf("%s: %s request evaluated as its object", id, o.operation)
				}
				for _, a := range cs.Assertions {
					assertions++
					want := violationsWant(t, a.Violations)
					n, exact, what := got.n, got.exact, "violations"
					if a.Message != nil {
						if got.byMessage == nil {
							t.Fatalf("assertion on message %q: this translation cannot split violations by message", *a.Message)
						}
						n, what = got.byMessage[*a.Message], "violations with message "+strconv.Quote(*a.Message)
					}
					expect(t, "gatekeeper/"+id, checkViolations(want, n, exact), "%s: suite wants %s (%s), Palisade reports %d", cs.Object, want, what, n)
				}
			})
		}
	}
	t.Logf("suite %s: %d cases checked (%d assertions), %d asserted with a documented Palisade-specific answer", name, cases, assertions, overridden)
}

func violationsWant(t *testing.T, v any) string {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return "yes"
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		return strconv.Itoa(int(x))
	case string:
		return x
	}
	t.Fatalf("violations: %v (%T) is not yes, no or a number", v, v)
	return ""
}

func checkViolations(want string, n int, exact bool) bool {
	switch want {
	case "yes":
		return n >= 1
	case "no":
		return n == 0
	}
	w, err := strconv.Atoi(want)
	if err != nil {
		return false
	}
	if w == 0 || exact {
		return n == w
	}
	// Palisade's finding granularity differs from gatekeeper's here: a
	// positive N only requires a violation.
	return n >= 1
}

// --- pod-security-policy translations (question 6, privilege.Check) ---

// gkExempt reports whether image matches one of gatekeeper's exemptImages
// patterns: a trailing * is a prefix match, anything else exact.
func gkExempt(image string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(image, prefix) || image == p {
			return true
		}
	}
	return false
}

// podFindings returns the workloads of o that the constraint matches, with
// Palisade's privilege findings of the given checks, minus the findings of
// containers whose image is exempt. exemptImages has no Palisade
// equivalent: it is applied here as a post-filter on Finding.Container.
func podFindings(t *testing.T, c *gkConstraint, o gkObject, exemptImages []string, checks ...string) []privilege.Finding {
	t.Helper()
	e := newEngine(t, answer.Config{})
	workloads := map[model.WorkloadRef]*model.Workload{}
	for _, w := range o.ix.Workloads() {
		workloads[w.Ref()] = w
	}
	var out []privilege.Finding
	for _, it := range e.Privileged(o.ix, answer.Filter{}).Items {
		if !c.matches(it.Workload.Namespace) {
			continue
		}
		w := workloads[it.Workload]
		for _, f := range it.Findings {
			if !slices.Contains(checks, f.Check) {
				continue
			}
			if f.Container != "" && len(exemptImages) > 0 && containerExempt(w, f.Container, exemptImages) {
				continue
			}
			out = append(out, f)
		}
	}
	return out
}

// containerExempt reports whether every container named name has an exempt
// image (names may repeat across init, regular and ephemeral containers in
// the fixtures).
func containerExempt(w *model.Workload, name string, patterns []string) bool {
	found := false
	for _, c := range w.Template.Containers {
		if c.Name != name {
			continue
		}
		found = true
		if !gkExempt(c.Image.Original, patterns) {
			return false
		}
	}
	return found
}

func distinctContainers(fs []privilege.Finding) int {
	set := map[string]bool{}
	for _, f := range fs {
		set[f.Container] = true
	}
	return len(set)
}

// gkPrivileged: K8sPSPPrivilegedContainer -> check "privileged", one
// violation per privileged container as in gatekeeper.
func gkPrivileged(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		ExemptImages []string `json:"exemptImages"`
	}](t, c)
	fs := podFindings(t, c, o, p.ExemptImages, privilege.CheckPrivileged)
	return gkResult{n: distinctContainers(fs), exact: true}
}

// gkHostNamespaces: K8sPSPHostNamespace (hostPID and hostIPC) -> checks
// hostPID and hostIPC. Gatekeeper reports one violation per pod, Palisade
// one per namespace shared: not exact.
func gkHostNamespaces(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	params[struct{}](t, c)
	return gkResult{n: len(podFindings(t, c, o, nil, privilege.CheckHostPID, privilege.CheckHostIPC))}
}

// gkHostNetworkPorts: K8sPSPHostNetworkingPorts.
//   - hostNetwork: false -> the privilege check hostNetwork is a violation
//     (exemptImages does not apply to it, as in gatekeeper).
//   - min/max -> every host port the exposed answer reports outside the
//     range is a violation. Palisade has no allowed-port range, so the range
//     is a post-filter. A hostPort gives a Via of kind hostPort (named for
//     its container, so exemptImages applies per container); under
//     hostNetwork Palisade reports the ports on the hostNetwork Via instead,
//     which names no container: exemptImages then exempts those ports only
//     when every container of the pod is exempt.
//
// Gatekeeper reports one violation per pod: not exact.
func gkHostNetworkPorts(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		HostNetwork  bool     `json:"hostNetwork"`
		Min          *int     `json:"min"`
		Max          *int     `json:"max"`
		ExemptImages []string `json:"exemptImages"`
	}](t, c)
	n := 0
	if !p.HostNetwork {
		n += len(podFindings(t, c, o, nil, privilege.CheckHostNetwork))
	}
	if p.Min == nil && p.Max == nil {
		return gkResult{n: n}
	}
	workloads := map[model.WorkloadRef]*model.Workload{}
	for _, w := range o.ix.Workloads() {
		workloads[w.Ref()] = w
	}
	e := newEngine(t, answer.Config{})
	for _, it := range e.Exposed(o.ix, answer.Filter{}).Items {
		if !c.matches(it.Workload.Namespace) {
			continue
		}
		w := workloads[it.Workload]
		for _, v := range it.Via {
			switch v.Kind {
			case exposure.ViaHostPort:
				if containerExempt(w, v.Name, p.ExemptImages) {
					continue
				}
			case exposure.ViaHostNetwork:
				if allContainersExempt(w, p.ExemptImages) {
					continue
				}
			default:
				continue
			}
			for _, port := range v.Ports {
				num, _, _ := strings.Cut(port, "/")
				hp, err := strconv.Atoi(num)
				if err != nil {
					t.Fatalf("via %+v: port %q", v, port)
				}
				if p.Min != nil && hp < *p.Min || p.Max != nil && hp > *p.Max {
					n++
				}
			}
		}
	}
	return gkResult{n: n}
}

func allContainersExempt(w *model.Workload, patterns []string) bool {
	if len(patterns) == 0 {
		return false
	}
	for _, c := range w.Template.Containers {
		if !gkExempt(c.Image.Original, patterns) {
			return false
		}
	}
	return true
}

// hostPathDetail parses a hostPath finding's detail: the volume name, the
// host path and the mount mode. privilege.Finding has no volume field, so
// the detail is parsed; a wording change fails the test loudly.
var hostPathDetail = regexp.MustCompile(`^hostPath volume "([^"]+)" mounts (\S+) from the node.*?(?:, (read-only|read-write)|\(not mounted by any container\))$`)

// gkHostFilesystem: K8sPSPHostFilesystem -> check hostPath. Palisade flags
// every hostPath volume; allowedHostPaths has no Palisade equivalent and is
// a post-filter: a finding is dropped when its host path is under an
// allowed pathPrefix (whole path segments, as gatekeeper) and, if the entry
// requires readOnly, the mount is read-only. Gatekeeper reports one
// violation per volume, Palisade one per mounting container: not exact.
func gkHostFilesystem(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		AllowedHostPaths []struct {
			PathPrefix string `json:"pathPrefix"`
			ReadOnly   bool   `json:"readOnly"`
		} `json:"allowedHostPaths"`
	}](t, c)
	n := 0
	for _, f := range podFindings(t, c, o, nil, privilege.CheckHostPath) {
		m := hostPathDetail.FindStringSubmatch(f.Detail)
		if m == nil {
			t.Fatalf("cannot parse hostPath finding detail %q", f.Detail)
		}
		path, mode := m[2], m[3]
		allowed := false
		for _, a := range p.AllowedHostPaths {
			if underPrefix(path, a.PathPrefix) && (!a.ReadOnly || mode == "read-only") {
				allowed = true
			}
		}
		if !allowed {
			n++
		}
	}
	return gkResult{n: n}
}

func underPrefix(path, prefix string) bool {
	a := strings.Split(strings.Trim(prefix, "/"), "/")
	b := strings.Split(strings.Trim(path, "/"), "/")
	return len(a) <= len(b) && slices.Equal(a, b[:len(a)])
}

// gkVolumeTypes: K8sPSPVolumeTypes. Palisade judges only hostPath among
// volume types, so the translation holds when the allowed list excludes
// hostPath (checked) and the objects use no other disallowed type (true of
// these fixtures: hostPath and emptyDir only). One violation per hostPath
// finding: not exact.
func gkVolumeTypes(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		Volumes []string `json:"volumes"`
	}](t, c)
	if slices.Contains(p.Volumes, "hostPath") || slices.Contains(p.Volumes, "*") {
		t.Fatalf("volumes %v allow hostPath: no Palisade translation", p.Volumes)
	}
	for _, w := range o.ix.Workloads() {
		for _, v := range w.Template.Volumes {
			if v.Type != model.VolumeHostPath && v.Type != model.VolumeEmptyDir && !slices.Contains(p.Volumes, v.Type) {
				t.Fatalf("volume %s of type %s: only hostPath is judged by Palisade, extend the translation", v.Name, v.Type)
			}
		}
	}
	return gkResult{n: len(podFindings(t, c, o, nil, privilege.CheckHostPath))}
}

// capabilityDetail parses "adds capability X[, ...]".
var capabilityDetail = regexp.MustCompile(`^adds capability ([A-Z0-9_]+)`)

// gkCapabilities: K8sPSPCapabilities -> check capabilities. Palisade flags
// capabilities outside the Pod Security baseline set; allowedCapabilities
// is a post-filter dropping findings for listed capabilities (the baseline
// sample allows NET_RAW, which Palisade flags). A list narrower than the
// baseline set (the restricted sample: NET_BIND_SERVICE only) cannot add
// findings: no case here adds a baseline capability other than
// NET_BIND_SERVICE, so the translation holds. requiredDropCapabilities has
// no Palisade equivalent (Palisade does not check drops); in these cases the
// objects missing drop: ALL also add SYS_ADMIN, so it changes no verdict.
// One count per container; gatekeeper may report two (add and drop rules):
// not exact.
func gkCapabilities(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		AllowedCapabilities      []string `json:"allowedCapabilities"`
		RequiredDropCapabilities []string `json:"requiredDropCapabilities"`
		ExemptImages             []string `json:"exemptImages"`
	}](t, c)
	var kept []privilege.Finding
	for _, f := range podFindings(t, c, o, p.ExemptImages, privilege.CheckCapabilities) {
		m := capabilityDetail.FindStringSubmatch(f.Detail)
		if m == nil {
			t.Fatalf("cannot parse capabilities finding detail %q", f.Detail)
		}
		if !slices.Contains(p.AllowedCapabilities, m[1]) {
			kept = append(kept, f)
		}
	}
	return gkResult{n: distinctContainers(kept)}
}

// gkAllowPrivilegeEscalation: K8sPSPAllowPrivilegeEscalationContainer ->
// check allowPrivilegeEscalation (unset counts, as in gatekeeper), one per
// container.
func gkAllowPrivilegeEscalation(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		ExemptImages []string `json:"exemptImages"`
	}](t, c)
	return gkResult{n: distinctContainers(podFindings(t, c, o, p.ExemptImages, privilege.CheckAllowPrivilegeEscalation)), exact: true}
}

// gkUsers: K8sPSPAllowedUsers with runAsUser rule MustRunAsNonRoot -> check
// runAsRoot: both flag runAsUser 0, and an unset runAsUser without
// runAsNonRoot: true. Group rules must be RunAsAny (Palisade has no group
// checks). One per container.
func gkUsers(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	type rule struct {
		Rule string `json:"rule"`
	}
	p := params[struct {
		RunAsUser          rule     `json:"runAsUser"`
		RunAsGroup         rule     `json:"runAsGroup"`
		SupplementalGroups rule     `json:"supplementalGroups"`
		FSGroup            rule     `json:"fsGroup"`
		ExemptImages       []string `json:"exemptImages"`
	}](t, c)
	if p.RunAsUser.Rule != "MustRunAsNonRoot" {
		t.Fatalf("runAsUser rule %q: only MustRunAsNonRoot maps to runAsRoot", p.RunAsUser.Rule)
	}
	for _, r := range []rule{p.RunAsGroup, p.SupplementalGroups, p.FSGroup} {
		if r.Rule != "" && r.Rule != "RunAsAny" {
			t.Fatalf("group rule %q: no Palisade equivalent", r.Rule)
		}
	}
	return gkResult{n: distinctContainers(podFindings(t, c, o, p.ExemptImages, privilege.CheckRunAsRoot)), exact: true}
}

// --- repositories (question 1, imagetrust) ---

// Gatekeeper's allowedrepos and disallowedrepos match a plain string prefix
// of the image as written ("openpolicyagent/" matches
// "openpolicyagent/opa:0.9.2"); allowedreposv2 matches a glob ("x/*") or
// the exact image. Palisade's trusted registries are registry hosts or
// host/repository prefixes matched on whole path segments of the
// normalised name (docker.io/openpolicyagent/opa). gkTrustEntry translates a
// pattern: a prefix whose first segment is no host (no dot or colon, not
// localhost) is a Docker Hub namespace; an exact image drops its tag or
// digest, because Palisade trusts repositories, not tags (coarser: it also
// trusts other tags of that repository).
//
// Where the two semantics give different verdicts the test asserts
// Palisade's, and gkRepoDivergences must list the image with the reason. In
// these fixtures none differ; the intended differences are: "nginx" as a
// gatekeeper prefix also matches "nginxevil/x" (Palisade: no, whole
// segments), and "openpolicyagent/" does not match
// "docker.io/openpolicyagent/opa" written in full (Palisade: yes, the same
// image).
var gkRepoDivergences = map[string]string{}

func gkTrustEntry(pattern string) string {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok || strings.HasSuffix(pattern, "/") {
		if !ok {
			prefix = pattern
		}
		p := strings.TrimSuffix(prefix, "/")
		first, _, _ := strings.Cut(p, "/")
		if !strings.ContainsAny(first, ".:") && first != "localhost" {
			p = "docker.io/" + p
		}
		return p
	}
	ref := kubemodel.ParseImage(pattern)
	return ref.Name()
}

// gkLiteralMatch is gatekeeper's own matching, used to spot cases where
// Palisade's semantics give a different verdict.
func gkLiteralMatch(image string, patterns []string, glob bool) bool {
	for _, p := range patterns {
		if glob {
			if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(image, prefix) || image == p {
				return true
			}
			continue
		}
		if strings.HasPrefix(image, p) {
			return true
		}
	}
	return false
}

// containerMessage maps a container type to gatekeeper's message prefix.
var containerMessage = map[model.ContainerType]string{
	model.ContainerRegular:   "container",
	model.ContainerInit:      "initContainer",
	model.ContainerEphemeral: "ephemeralContainer",
}

// gkImages evaluates the images of o against patterns: violate reports,
// from Palisade's verdict, whether an image is a violation; literal is
// gatekeeper's verdict for the same image. One violation per container, by
// container type for message assertions.
func gkImages(t *testing.T, c *gkConstraint, o gkObject, patterns []string, glob, deny bool) gkResult {
	t.Helper()
	var entries []string
	for _, p := range patterns {
		entries = append(entries, gkTrustEntry(p))
	}
	e := newEngine(t, answer.Config{TrustedRegistries: entries})
	res := gkResult{exact: true, byMessage: map[string]int{}}
	for _, it := range e.ImageSources(o.ix, answer.Filter{}).Items {
		if !c.matches(it.Workload.Namespace) {
			continue
		}
		if it.Verdict == imagetrust.Invalid {
			t.Fatalf("%s: image %q does not parse: %s", it.Container, it.Original, it.Error)
		}
		violates := it.Verdict != imagetrust.Trusted
		if deny {
			violates = it.Verdict == imagetrust.Trusted
		}
		if literal := gkLiteralMatch(it.Original, patterns, glob) == deny; literal != violates {
			reason, documented := gkRepoDivergences[it.Original]
			if !documented {
				t.Errorf("image %q: gatekeeper's %s semantics say violation=%v, Palisade (trusted registries %v) says %v: document it in gkRepoDivergences", it.Original, map[bool]string{true: "glob", false: "prefix"}[glob], literal, entries, violates)
			} else {
				t.Logf("image %q: Palisade intentionally differs from gatekeeper: %s", it.Original, reason)
			}
		}
		if violates {
			res.n++
			res.byMessage[containerMessage[it.ContainerType]]++
		}
	}
	return res
}

// gkAllowedRepos: K8sAllowedRepos repos -> TrustedRegistries; a violation
// is an image that is not trusted.
func gkAllowedRepos(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		Repos []string `json:"repos"`
	}](t, c)
	return gkImages(t, c, o, p.Repos, false, false)
}

// gkAllowedReposV2: K8sAllowedReposv2 allowedImages -> TrustedRegistries.
func gkAllowedReposV2(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		AllowedImages []string `json:"allowedImages"`
	}](t, c)
	return gkImages(t, c, o, p.AllowedImages, true, false)
}

// gkDisallowedRepos: K8sDisallowedRepos. Palisade has no deny list; the
// same matcher is used inverted: the disallowed repos are configured as
// trusted registries and a "trusted" verdict is the violation.
func gkDisallowedRepos(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		Repos []string `json:"repos"`
	}](t, c)
	return gkImages(t, c, o, p.Repos, false, true)
}

// --- Services (question 7, exposure) ---

// exposingServices returns, per Service (namespace/name), the exposure
// types Palisade reports: the Type of each Service Via of an exposed
// workload, and for a Service in Unmatched (an exposing Service that
// selects no workload, as every Service of these fixtures) the type its
// Detail starts with: Unmatched has no type field, and its detail is
// "<type> Service exposes nothing in the inventory: ...", naming the first
// type only.
func exposingServices(t *testing.T, ix *inventory.Index) map[string][]string {
	t.Helper()
	a := newEngine(t, answer.Config{}).Exposed(ix, answer.Filter{})
	out := map[string][]string{}
	for _, it := range a.Items {
		for _, v := range it.Via {
			if v.Kind == exposure.ViaService {
				k := it.Workload.Namespace + "/" + v.Name
				if !slices.Contains(out[k], v.Type) {
					out[k] = append(out[k], v.Type)
				}
			}
		}
	}
	for _, u := range a.Unmatched {
		if u.Kind != exposure.ViaService {
			continue
		}
		typ, _, ok := strings.Cut(u.Detail, " Service exposes nothing")
		if !ok {
			t.Fatalf("cannot parse unmatched detail %q", u.Detail)
		}
		out[u.Namespace+"/"+u.Name] = append(out[u.Namespace+"/"+u.Name], typ)
	}
	return out
}

// gkServiceType: K8sBlockLoadBalancer / K8sBlockNodePort -> Services the
// exposed answer reports with that type, one per Service. Palisade also
// reports the node ports of a LoadBalancer Service as type NodePort, which
// K8sBlockNodePort does not block; no case here has one.
func gkServiceType(typ string) func(*testing.T, *gkConstraint, gkObject) gkResult {
	return func(t *testing.T, c *gkConstraint, o gkObject) gkResult {
		params[struct{}](t, c)
		n := 0
		for k, types := range exposingServices(t, o.ix) {
			ns, _, _ := strings.Cut(k, "/")
			if c.matches(ns) && slices.Contains(types, typ) {
				n++
			}
		}
		return gkResult{n: n, exact: true}
	}
}

// gkExternalIPs: K8sExternalIPs -> Services the exposed answer reports with
// type externalIPs. allowedIPs has no Palisade equivalent and is a
// post-filter: a Service is a violation when one of its external IPs is not
// allowed. The IPs come from the Via's Hosts, or for an unmatched Service
// (no Hosts in Unmatched) from the Service in the index. One per Service.
func gkExternalIPs(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		AllowedIPs []string `json:"allowedIPs"`
	}](t, c)
	n := 0
	for k, types := range exposingServices(t, o.ix) {
		ns, name, _ := strings.Cut(k, "/")
		if !c.matches(ns) || !slices.Contains(types, "externalIPs") {
			continue
		}
		s := o.ix.Service(model.DefaultCluster, ns, name)
		if s == nil {
			t.Fatalf("service %s not in the index", k)
		}
		if slices.ContainsFunc(s.ExternalIPs, func(ip string) bool { return !slices.Contains(p.AllowedIPs, ip) }) {
			n++
		}
	}
	return gkResult{n: n, exact: true}
}

// --- labels (question 10, ownership) ---

// gkRequiredLabels: K8sRequiredLabels -> the owners question with OwnerKeys
// set to each required label key in turn (gatekeeper requires every key,
// while OwnerKeys is an ordered fallback: one engine per key keeps "all
// keys" semantics, one violation per missing key). Differences, handled as
// post-filters:
//   - Palisade also resolves an owner from annotations and from the
//     namespace; gatekeeper wants the object's own label, so only an owner
//     whose Source is the object's label counts.
//   - allowedRegex has no Palisade equivalent: the owner value must match.
//
// Ownership answers per workload. For a Namespace object (the owner sample
// matches Namespaces), a probe Pod without labels is added in that
// namespace, so only the namespace's labels can answer.
func gkRequiredLabels(t *testing.T, c *gkConstraint, o gkObject) gkResult {
	p := params[struct {
		Message string `json:"message"`
		Labels  []struct {
			Key          string `json:"key"`
			AllowedRegex string `json:"allowedRegex"`
		} `json:"labels"`
	}](t, c)
	ix := o.ix
	source := "workload label "
	if ns := o.res.Snapshot.Namespaces; len(ns) == 1 {
		snap := o.res.Snapshot
		snap.Workloads = append(slices.Clone(snap.Workloads), &model.Workload{
			Meta: model.Meta{Cluster: ns[0].Cluster, Namespace: ns[0].Name, Name: "probe"},
			Kind: model.KindPod,
		})
		ix = inventory.New(&snap)
		source = "namespace label "
	}
	if len(ix.Workloads()) == 0 {
		t.Fatal("no workload to resolve an owner for")
	}
	n := 0
	for _, l := range p.Labels {
		re := regexp.MustCompile(".*")
		if l.AllowedRegex != "" {
			re = regexp.MustCompile(l.AllowedRegex)
		}
		e := newEngine(t, answer.Config{OwnerKeys: []string{l.Key}})
		for _, it := range e.Owners(ix, answer.Filter{}).Items {
			if !c.matches(it.Workload.Namespace) {
				continue
			}
			if it.Owner == nil || it.Source != source+l.Key || !re.MatchString(*it.Owner) {
				n++
			}
		}
	}
	return gkResult{n: n, exact: true}
}
