package answer

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/ownership"
	"github.com/palisade-project/palisade/internal/privilege"
	"github.com/palisade-project/palisade/internal/processes"
	"github.com/palisade-project/palisade/internal/risk"
	"github.com/palisade-project/palisade/internal/safetext"
	"github.com/palisade-project/palisade/internal/scanage"
	"github.com/palisade-project/palisade/internal/vulnerable"
)

// Report is the whole picture: one section per mission question, 1 to 10,
// each the brief of an answer (its summary, a few highlights and its
// notes) or, for a question this build cannot answer yet, why not. The
// full answers are not embedded; each section names where to get its own.
// Its JSON form is documented in docs/output.md.
type Report struct {
	GeneratedAt time.Time `json:"generatedAt"`
	Filter      Filter    `json:"filter,omitzero"`
	// Notes concern every section (the demo's EXAMPLE DATA notice).
	Notes    []string  `json:"notes,omitempty"`
	Sections []Section `json:"sections"`
}

// States of a report section.
const (
	// StateAttention: the answer lists something to look at.
	StateAttention = "attention"
	// StateClear: the answer has nothing to report, on enough data.
	StateClear = "clear"
	// StateUnknown: the answer lacks the data to say (no scan results,
	// no trusted registries configured).
	StateUnknown = "unknown"
	// StateNotAnswerable: this build cannot answer the question yet.
	StateNotAnswerable = "not-answerable"
)

// Section is one question of a report.
type Section struct {
	Number   int    `json:"number"`
	Name     string `json:"name"`
	Title    string `json:"title"`
	Answered bool   `json:"answered"`
	// State is attention, clear, unknown or not-answerable.
	State string `json:"state"`
	// Status is the answer in one line, or why there is none ("not
	// answerable yet: needs the node agent (issue 5)").
	Status string `json:"status"`
	// Summary is the answer's summary.
	Summary map[string]int `json:"summary,omitempty"`
	// Highlights are a few lines worth reading first, most important
	// first.
	Highlights []string `json:"highlights,omitempty"`
	// Notes are the answer's notes, less the report's.
	Notes []string `json:"notes,omitempty"`
	// Path is where the server serves the full answer, with the report's
	// filter.
	Path string `json:"path,omitempty"`
}

// plannedQuestion is a mission question this build does not answer yet.
type plannedQuestion struct {
	Question
	status string
}

// planned are the mission questions not in Questions yet, with what they
// wait for. A question that moves to Questions is reported from there.
// Every mission question is answered in this build; the mechanism stays
// for the next one.
var planned = []plannedQuestion{}

// maxHighlights bounds the highlights of a section, the "and N more" line
// aside.
const maxHighlights = 5

// Report answers every question over ix with filter f and returns their
// briefs in mission order. f may not name a CVE: the report is about
// everything (ErrBadFilter).
func (e *Engine) Report(ix *inventory.Index, f Filter) (*Report, error) {
	if f.CVE != "" {
		return nil, fmt.Errorf("%w: the report takes no CVE filter; ask the %s question with one to find where a flaw runs", ErrBadFilter, Vulnerable)
	}
	r := &Report{GeneratedAt: e.now().UTC(), Filter: f, Sections: []Section{}}
	for _, c := range ix.Clusters() {
		if n, ok := e.clusterNotes[c]; ok && (f.Cluster == "" || f.Cluster == c) {
			r.Notes = append(r.Notes, n)
		}
	}
	b := briefer{
		e: e, ix: ix, f: f,
		multi: f.Cluster == "" && len(ix.Clusters()) > 1,
	}
	answered := map[int]bool{}
	for _, q := range Questions {
		answered[q.Number] = true
	}
	type entry struct {
		q       Question
		planned string
	}
	var all []entry
	for _, q := range Questions {
		all = append(all, entry{q: q})
	}
	for _, p := range planned {
		if !answered[p.Number] {
			all = append(all, entry{q: p.Question, planned: p.status})
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int { return a.q.Number - b.q.Number })
	for _, en := range all {
		s := Section{Number: en.q.Number, Name: en.q.Name, Title: en.q.Title}
		if en.planned != "" {
			s.State, s.Status = StateNotAnswerable, en.planned
			r.Sections = append(r.Sections, s)
			continue
		}
		a, err := e.Ask(ix, en.q.Name, f)
		if err != nil {
			return nil, fmt.Errorf("answering %s: %w", en.q.Name, err)
		}
		s.Answered = true
		s.Path = questionPath(en.q.Name, f)
		b.brief(&s, a)
		s.Notes = slices.DeleteFunc(slices.Clone(s.Notes), func(n string) bool { return slices.Contains(r.Notes, n) })
		if len(s.Notes) == 0 {
			s.Notes = nil
		}
		r.Sections = append(r.Sections, s)
	}
	return r, nil
}

// questionPath is the API path of a question's answer with filter f.
func questionPath(name string, f Filter) string {
	p := "/api/v1/questions/" + url.PathEscape(name)
	q := url.Values{}
	for _, kv := range [...][2]string{{"cluster", f.Cluster}, {"namespace", f.Namespace}, {"environment", f.Environment}} {
		if kv[1] != "" {
			q.Set(kv[0], kv[1])
		}
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// briefer turns answers into report sections.
type briefer struct {
	e     *Engine
	ix    *inventory.Index
	f     Filter
	multi bool // workloads of several clusters: name the cluster
	// scansUnknown is set by the vulnerable section when no running
	// container's image is matched: the production and priorities
	// sections then cannot say "clear".
	scansUnknown bool
}

// ref names a workload in a highlight.
func (b *briefer) ref(r model.WorkloadRef) string {
	if b.multi {
		return r.Cluster + ":" + r.String()
	}
	return r.String()
}

// more is the line that ends a list cut at maxHighlights: "… and 3 more
// workloads in the full answer".
func more(n int, one, many string) string {
	return "… and " + plural(n, "more "+one, "more "+many) + " in the full answer"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// enveloped is every *Answer[T]: what a section's summary and notes come
// from.
type enveloped interface {
	envelope() (map[string]int, []string)
}

func (b *briefer) brief(s *Section, a any) {
	if e, ok := a.(enveloped); ok {
		s.Summary, s.Notes = e.envelope()
	}
	switch a := a.(type) {
	case *Answer[imagetrust.Item]:
		b.imageSources(s, a)
	case *Answer[scanage.Item]:
		b.scanAge(s, a)
	case *Answer[vulnerable.Item]:
		b.vulnerable(s, a)
	case *Answer[risk.ProductionItem]:
		b.production(s, a)
	case *Answer[risk.Assessment]:
		b.priorities(s, a)
	case *Answer[privilege.Item]:
		b.privileged(s, a)
	case *Answer[exposure.Item]:
		b.exposed(s, a)
	case *Answer[ownership.Item]:
		b.owners(s, a)
	case *Answer[processes.Item]:
		b.processes(s, a)
	case *Answer[netpaths.Item]:
		b.unusedPaths(s, a)
	default:
		// A question added without a brief: TestReportBriefsEveryQuestion
		// fails until it has one.
		s.State, s.Status = StateUnknown, "answered; this build has no brief of it: see the full answer"
	}
}

func (b *briefer) imageSources(s *Section, a *Answer[imagetrust.Item]) {
	sum := a.Summary
	n, bad, unverified := sum["images"], sum["untrusted"]+sum["invalid"], sum["unverified"]
	switch {
	case n == 0:
		s.State, s.Status = StateClear, "no container images in the inventory"
	case bad > 0:
		s.State = StateAttention
		s.Status = fmt.Sprintf("%s: %d from untrusted registries, %d invalid", plural(n, "container image", "container images"), sum["untrusted"], sum["invalid"])
	case unverified > 0:
		s.State = StateUnknown
		s.Status = fmt.Sprintf("%s, none verified: no trusted registries are configured", plural(n, "container image", "container images"))
	default:
		s.State, s.Status = StateClear, fmt.Sprintf("all %s from trusted registries", plural(n, "container image", "container images"))
	}
	if u := sum["unpinned"]; u > 0 {
		s.Status += fmt.Sprintf("; %d not pinned by digest", u)
	}
	// One line per untrusted or invalid image, with the workloads using it.
	type use struct {
		verdict, err string
		workloads    []string
	}
	var order []string
	uses := map[string]*use{}
	for _, it := range a.Items {
		if it.Verdict != imagetrust.Untrusted && it.Verdict != imagetrust.Invalid {
			continue
		}
		img := it.Image
		if img == "" {
			img = it.Original
		}
		u := uses[img]
		if u == nil {
			u = &use{verdict: it.Verdict, err: it.Error}
			uses[img] = u
			order = append(order, img)
		}
		if w := b.ref(it.Workload); !slices.Contains(u.workloads, w) {
			u.workloads = append(u.workloads, w)
		}
	}
	for i, img := range order {
		if i == maxHighlights {
			s.Highlights = append(s.Highlights, more(len(order)-i, "image", "images"))
			break
		}
		u := uses[img]
		line := u.verdict + ": " + img
		if u.err != "" {
			line += " (" + u.err + ")"
		}
		line += " in " + u.workloads[0]
		if len(u.workloads) > 1 {
			line += fmt.Sprintf(" and %s", plural(len(u.workloads)-1, "other workload", "other workloads"))
		}
		s.Highlights = append(s.Highlights, line)
	}
}

func (b *briefer) scanAge(s *Section, a *Answer[scanage.Item]) {
	sum := a.Summary
	n := sum["images"]
	due := sum[scanage.StateFailing] + sum[scanage.StateStale] + sum[scanage.StateNeverScanned]
	switch {
	case n == 0:
		s.State, s.Status = StateUnknown, "no running image digests are known, so nothing is scanned"
	case due > 0:
		s.State = StateAttention
	default:
		s.State = StateClear
	}
	if n > 0 {
		s.Status = fmt.Sprintf("%s: %d fresh, %d stale, %d never scanned, %d failing", plural(n, "running image", "running images"),
			sum[scanage.StateFresh], sum[scanage.StateStale], sum[scanage.StateNeverScanned], sum[scanage.StateFailing])
	}
	if nd := sum["containersWithoutDigest"]; nd > 0 {
		s.Status += fmt.Sprintf("; %d running containers report no digest", nd)
	}
	// Items come most urgent first: failing, never scanned, stale.
	listed := 0
	for i, it := range a.Items {
		if it.State == scanage.StateFresh {
			break
		}
		if listed == maxHighlights {
			rest := 0
			for _, it := range a.Items[i:] {
				if it.State != scanage.StateFresh {
					rest++
				}
			}
			s.Highlights = append(s.Highlights, more(rest, "image", "images"))
			break
		}
		line := it.State + ": " + shortDigest(it.Digest)
		if len(it.Images) > 0 {
			line += " (" + strings.Join(it.Images, ", ") + ")"
		}
		switch it.State {
		case scanage.StateFailing:
			line += fmt.Sprintf(", %s: %s", plural(it.Failures, "failed attempt", "failed attempts"), it.LastError)
		case scanage.StateStale:
			line += ", scanned " + ago(a.GeneratedAt.Sub(it.ScannedAt))
		}
		if len(it.Workloads) > 0 {
			line += ", run by " + b.ref(it.Workloads[0])
			if len(it.Workloads) > 1 {
				line += fmt.Sprintf(" and %d more", len(it.Workloads)-1)
			}
		}
		s.Highlights = append(s.Highlights, line)
		listed++
	}
}

// severityCounts renders counts by level: "1 critical, 2 high, 0 medium,
// 3 low".
func severityCounts(c map[string]int) string {
	parts := make([]string, 0, len(vulnerable.Levels))
	for _, l := range vulnerable.Levels {
		if l == vulnerable.Unknown && c[l] == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", c[l], l))
	}
	return strings.Join(parts, ", ")
}

func (b *briefer) vulnerable(s *Section, a *Answer[vulnerable.Item]) {
	sum := a.Summary
	matched, notMatched := sum["containersMatched"], sum["containersNotMatched"]
	// Any running container without a match leaves "nothing found"
	// unproven.
	b.scansUnknown = matched == 0 || notMatched > 0
	switch {
	case sum["containers"] > 0:
		s.State = StateAttention
		s.Status = fmt.Sprintf("%s (%s) run images with known vulnerabilities: %s findings, %d fixable",
			plural(sum["workloads"], "workload", "workloads"), plural(sum["containers"], "container", "containers"), severityCounts(sum), sum["fixable"])
	case matched == 0:
		s.State, s.Status = StateUnknown, "no scan results: no running container's image has been matched against vulnerability data"
	case notMatched > 0:
		s.State = StateUnknown
		s.Status = fmt.Sprintf("no known vulnerabilities in the %d matched containers", matched)
	default:
		s.State = StateClear
		s.Status = fmt.Sprintf("no known vulnerabilities in the %d running containers", matched)
	}
	if notMatched > 0 {
		s.Status += fmt.Sprintf("; %d running containers not matched yet", notMatched)
	}
	for i, it := range a.Items {
		if i == maxHighlights {
			s.Highlights = append(s.Highlights, more(len(a.Items)-i, "container", "containers"))
			break
		}
		line := b.ref(it.Workload) + " container " + it.Container + ": " + severityCounts(it.Counts)
		if w, ok := worstVulnerability(it.Vulnerabilities); ok {
			line += "; worst " + vulnLine(w.ID, w.Aliases, w.Package, w.InstalledVersion, w.FixedVersion)
		}
		s.Highlights = append(s.Highlights, line)
	}
}

// vulnLine names a vulnerability for people: its id, with the CVE among
// its aliases when the id is another (GHSA-…, DSA-…), the package, the
// installed version and the fix.
func vulnLine(id string, aliases []string, pkg, installed, fixed string) string {
	s := id
	if !strings.HasPrefix(id, "CVE-") {
		for _, a := range aliases {
			if strings.HasPrefix(a, "CVE-") {
				s += " (" + a + ")"
				break
			}
		}
	}
	s += " in " + pkg + " " + installed
	if fixed != "" {
		s += ", fixed in " + fixed
	}
	return s
}

// riskVulnLine is vulnLine for a ranked vulnerability, marked when it is
// known exploited.
func riskVulnLine(v risk.Vulnerability) string {
	s := vulnLine(v.ID, v.Aliases, v.Package, v.InstalledVersion, v.FixedVersion)
	if v.KnownExploited != nil {
		s += ", KNOWN EXPLOITED"
	}
	return s
}

// worstVulnerability is the most severe of vs, the highest score among
// equals, the first among those.
func worstVulnerability(vs []vulnerable.Vulnerability) (vulnerable.Vulnerability, bool) {
	if len(vs) == 0 {
		return vulnerable.Vulnerability{}, false
	}
	w := vs[0]
	for _, v := range vs[1:] {
		if r, wr := vulnerable.Rank(v.Severity), vulnerable.Rank(w.Severity); r > wr || r == wr && v.Score > w.Score {
			w = v
		}
	}
	return w, true
}

// productionWorkloads counts the workloads of the report that are
// production.
func (b *briefer) productionWorkloads() int {
	n := 0
	for _, w := range b.e.workloads(b.ix, b.f) {
		if b.e.env.Of(w, b.ix.Namespace(w.Cluster, w.Namespace)).Production {
			n++
		}
	}
	return n
}

func (b *briefer) production(s *Section, a *Answer[risk.ProductionItem]) {
	sum := a.Summary
	n, kev := sum["workloads"], sum["knownExploitedWorkloads"]
	switch {
	case n > 0:
		s.State = StateAttention
		s.Status = fmt.Sprintf("%s run known vulnerabilities, %d of them known exploited: %s findings, %d fixable",
			plural(n, "production workload", "production workloads"), kev, severityCounts(sum), sum["fixable"])
	case b.productionWorkloads() == 0:
		s.State, s.Status = StateUnknown, "no workload counts as production: define production (see the note) to answer this"
	case b.scansUnknown:
		s.State, s.Status = StateUnknown, "not every running image is scanned and matched yet: see the scan-age answer"
	default:
		s.State, s.Status = StateClear, "no production workload runs an image with known vulnerabilities"
	}
	for i, it := range a.Items {
		if i == maxHighlights {
			s.Highlights = append(s.Highlights, more(len(a.Items)-i, "workload", "workloads"))
			break
		}
		line := b.ref(it.Workload) + ": "
		if it.KnownExploited > 0 {
			line += plural(it.KnownExploited, "known-exploited vulnerability", "known-exploited vulnerabilities") + ", "
		}
		line += severityCounts(it.Counts)
		if len(it.RuntimeEvidence) > 0 {
			line += "; possibly under attack: " + strings.Join(it.RuntimeEvidence, "; ")
		}
		if len(it.Vulnerabilities) > 0 {
			line += "; first " + riskVulnLine(it.Vulnerabilities[0])
		}
		s.Highlights = append(s.Highlights, line)
	}
}

func (b *briefer) priorities(s *Section, a *Answer[risk.Assessment]) {
	sum := a.Summary
	n := sum["workloads"]
	switch {
	case n > 0:
		s.State = StateAttention
		s.Status = fmt.Sprintf("%s ranked by risk; %d run known-exploited vulnerabilities, %d are production",
			plural(n, "vulnerable workload", "vulnerable workloads"), sum["knownExploited"], sum["production"])
	case b.scansUnknown:
		s.State, s.Status = StateUnknown, "nothing to rank yet: not every running image is scanned and matched (see scan-age)"
	default:
		s.State, s.Status = StateClear, "nothing to rank: no workload runs an image with known vulnerabilities"
	}
	for i, it := range a.Items {
		if i == maxHighlights {
			s.Highlights = append(s.Highlights, more(len(a.Items)-i, "workload", "workloads"))
			break
		}
		line := fmt.Sprintf("#%d %s, score %s", it.Rank, b.ref(it.Workload), strconv.FormatFloat(it.Score, 'f', 1, 64))
		var why []string
		for _, fc := range it.Factors {
			if fc.Name != risk.FactorVulnerabilities && fc.Value > 1 {
				why = append(why, fc.Name)
			}
		}
		if len(why) > 0 {
			line += " (" + strings.Join(why, ", ") + ")"
		}
		if len(it.Vulnerabilities) > 0 {
			line += ": fix " + riskVulnLine(it.Vulnerabilities[0])
		}
		s.Highlights = append(s.Highlights, line)
	}
}

// hostChecks are the privilege checks that reach into the node.
var hostChecks = []string{privilege.CheckHostPID, privilege.CheckHostIPC, privilege.CheckHostNetwork, privilege.CheckHostPath}

func (b *briefer) privileged(s *Section, a *Answer[privilege.Item]) {
	type scored struct {
		it   privilege.Item
		rank int // 2 privileged, 1 host access, 0 neither
	}
	var priv, host, high int
	list := make([]scored, 0, len(a.Items))
	for _, it := range a.Items {
		sc := scored{it: it}
		for _, fd := range it.Findings {
			switch {
			case fd.Check == privilege.CheckPrivileged:
				sc.rank = 2
			case slices.Contains(hostChecks, fd.Check):
				sc.rank = max(sc.rank, 1)
			}
		}
		switch sc.rank {
		case 2:
			priv++
		case 1:
			host++
		}
		if it.MaxSeverity.Rank() >= model.SeverityHigh.Rank() {
			high++
		}
		list = append(list, sc)
	}
	// Lesser findings (allowPrivilegeEscalation unset, say) are in the
	// full answer; they do not call for attention on their own.
	s.State, s.Status = StateClear, "no workload holds privileges beyond the baseline"
	if n := len(a.Items); n > 0 {
		if high > 0 || priv+host > 0 {
			s.State = StateAttention
		}
		s.Status = fmt.Sprintf("%s with privilege findings: %d privileged, %d more with host access, %d at high or critical severity",
			plural(n, "workload", "workloads"), priv, host, high)
	}
	// Privileged first, then host access, then by severity; stable.
	slices.SortStableFunc(list, func(x, y scored) int {
		if x.rank != y.rank {
			return y.rank - x.rank
		}
		return y.it.MaxSeverity.Rank() - x.it.MaxSeverity.Rank()
	})
	for i, sc := range list {
		if sc.rank == 0 && sc.it.MaxSeverity.Rank() < model.SeverityHigh.Rank() {
			break // the rest are lesser findings: the full answer has them
		}
		if i == maxHighlights {
			s.Highlights = append(s.Highlights, more(len(list)-i, "workload", "workloads"))
			break
		}
		// The high and critical findings, one entry per check with the
		// host paths or capabilities it names.
		var checks []string
		values := map[string][]string{}
		for _, fd := range sc.it.Findings {
			if fd.Severity.Rank() < model.SeverityHigh.Rank() {
				continue
			}
			if _, ok := values[fd.Check]; !ok {
				checks = append(checks, fd.Check)
				values[fd.Check] = nil
			}
			v := cmp.Or(fd.HostPath, fd.Capability)
			if v != "" && !slices.Contains(values[fd.Check], v) {
				values[fd.Check] = append(values[fd.Check], v)
			}
		}
		const maxWhat = 4
		what := make([]string, 0, len(checks))
		for _, c := range checks {
			switch vs := values[c]; {
			case len(vs) == 1:
				c += " " + vs[0]
			case len(vs) > maxWhat:
				c += " (" + strings.Join(vs[:maxWhat], ", ") + fmt.Sprintf(" and %d more)", len(vs)-maxWhat)
			case len(vs) > 1:
				c += " (" + strings.Join(vs, ", ") + ")"
			}
			what = append(what, c)
		}
		s.Highlights = append(s.Highlights, b.ref(sc.it.Workload)+": "+strings.Join(what, ", "))
	}
}

func (b *briefer) exposed(s *Section, a *Answer[exposure.Item]) {
	sum := a.Summary
	n := sum["workloads"]
	if n == 0 {
		s.State, s.Status = StateClear, "no workload is reachable from outside the cluster"
	} else {
		s.State = StateAttention
		s.Status = fmt.Sprintf("%s reachable from outside the cluster: %d from the internet, %d through nodes",
			plural(n, "workload", "workloads"), sum[exposure.LevelInternet], sum[exposure.LevelNode])
	}
	if u := sum["unmatched"]; u > 0 {
		s.Status += fmt.Sprintf("; %d exposing Services or Ingresses reach nothing", u)
	}
	// Internet first, then node; stable within each.
	items := slices.Clone(a.Items)
	slices.SortStableFunc(items, func(x, y exposure.Item) int {
		return boolRank(y.Level == exposure.LevelInternet) - boolRank(x.Level == exposure.LevelInternet)
	})
	for i, it := range items {
		if i == maxHighlights {
			s.Highlights = append(s.Highlights, more(len(items)-i, "workload", "workloads"))
			break
		}
		line := b.ref(it.Workload)
		if it.Level == exposure.LevelInternet {
			line += " from the internet"
		} else {
			line += " through " + it.Level + "s"
		}
		for _, v := range it.Via {
			if v.Level != it.Level {
				continue
			}
			line += " via " + v.Kind + " " + v.Name
			if v.Type != "" {
				line += " (" + v.Type + ")"
			}
			if len(v.Hosts) > 0 {
				line += " " + strings.Join(v.Hosts, ", ")
			} else if len(v.Ports) > 0 {
				line += " " + strings.Join(v.Ports, ", ")
			}
			break
		}
		s.Highlights = append(s.Highlights, line)
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (b *briefer) owners(s *Section, a *Answer[ownership.Item]) {
	sum := a.Summary
	n, unowned := sum["workloads"], sum["unowned"]
	switch {
	case n == 0:
		s.State, s.Status = StateClear, "no workloads"
	case unowned > 0:
		s.State = StateAttention
		s.Status = fmt.Sprintf("%s: %d with an owner, %d without", plural(n, "workload", "workloads"), sum["owned"], unowned)
	default:
		s.State, s.Status = StateClear, fmt.Sprintf("all %s have an owner", plural(n, "workload", "workloads"))
	}
	listed := 0
	for _, it := range a.Items {
		if it.Owner != nil {
			continue
		}
		if listed == maxHighlights {
			s.Highlights = append(s.Highlights, more(unowned-listed, "unowned workload", "unowned workloads"))
			break
		}
		s.Highlights = append(s.Highlights, "no owner: "+b.ref(it.Workload))
		listed++
	}
}

func (b *briefer) processes(s *Section, a *Answer[processes.Item]) {
	sum := a.Summary
	switch {
	case sum["nodes"] == 0:
		s.State, s.Status = StateUnknown, "no node agent has reported"
	case sum["suspicious"] > 0 || sum["anomalies"] > 0:
		s.State = StateAttention
		s.Status = fmt.Sprintf("%s in %s on %s: %d suspicious, %d outside their baseline",
			plural(sum["processes"], "process", "processes"), plural(sum["containers"], "container", "containers"), plural(sum["nodes"], "node", "nodes"), sum["suspicious"], sum["anomalies"])
	default:
		s.State = StateClear
		s.Status = fmt.Sprintf("%s in %s on %s, none suspicious", plural(sum["processes"], "process", "processes"), plural(sum["containers"], "container", "containers"), plural(sum["nodes"], "node", "nodes"))
	}
	for _, it := range a.Items {
		if it.Suspicious == 0 && it.Anomalies == 0 {
			break
		}
		if len(s.Highlights) == maxHighlights {
			s.Highlights = append(s.Highlights, "… more in the full answer")
			break
		}
		line := b.ref(it.Workload) + " container " + it.Container + ": "
		var parts []string
		for _, p := range it.Processes {
			for _, su := range p.Suspicious {
				parts = append(parts, p.Exe+" ("+su.Severity+": "+su.Title+")")
			}
			if len(p.Suspicious) == 0 && p.Baseline == observation.BaselineAnomaly {
				parts = append(parts, p.Exe+" (outside the baseline)")
			}
		}
		s.Highlights = append(s.Highlights, line+strings.Join(firstStrings(parts, 3), ", "))
	}
}

func firstStrings(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("%d more", len(s)-n))
}

// DecodeReport parses the JSON form of a report, as the server sends it.
func DecodeReport(data []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding report: %w", err)
	}
	if len(r.Sections) == 0 {
		return nil, fmt.Errorf("decoding report: it has no sections: not a Palisade report")
	}
	return &r, nil
}

// Report formats for WriteReport.
const (
	ReportText     = "text"
	ReportMarkdown = "markdown"
	ReportJSON     = "json"
)

// ReportFormats lists the formats WriteReport writes.
var ReportFormats = []string{ReportText, ReportMarkdown, ReportJSON}

// WriteReport writes r as a terminal summary (text), a Markdown document
// (markdown) or indented JSON (json). Highlights hold names from cluster
// objects, which anyone able to create a pod controls: the text form
// replaces control characters, and the Markdown form escapes what Markdown
// would interpret, so that a name can neither move the cursor nor forge a
// heading, a link or a table cell.
func WriteReport(w io.Writer, r *Report, format string) error {
	switch format {
	case ReportJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case ReportText:
		ew := &errWriter{w: printable{w}}
		writeReportText(ew, r)
		return ew.err
	case ReportMarkdown:
		ew := &errWriter{w: w}
		writeReportMarkdown(ew, r)
		return ew.err
	}
	return fmt.Errorf("report format %q: want %s", format, strings.Join(ReportFormats, ", "))
}

// errWriter keeps the first write error and drops later writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

// marks are the text form of section states.
var marks = map[string]string{
	StateAttention:     "[!!]",
	StateClear:         "[ok]",
	StateUnknown:       "[??]",
	StateNotAnswerable: "[--]",
}

func mark(state string) string {
	if m, ok := marks[state]; ok {
		return m
	}
	return "[  ]"
}

// describeFilter says what a report covers.
func describeFilter(f Filter) string {
	var parts []string
	if f.Cluster != "" {
		parts = append(parts, "cluster "+f.Cluster)
	} else {
		parts = append(parts, "all clusters")
	}
	if f.Namespace != "" {
		parts = append(parts, "namespace "+f.Namespace)
	}
	if f.Environment != "" {
		parts = append(parts, "environment "+f.Environment)
	}
	return strings.Join(parts, ", ")
}

// noteSet prints each note once, under the first section that has it.
type noteSet map[string]bool

func (n noteSet) fresh(notes []string) []string {
	var out []string
	for _, x := range notes {
		if !n[x] {
			n[x] = true
			out = append(out, x)
		}
	}
	return out
}

func writeReportText(w io.Writer, r *Report) {
	fmt.Fprintf(w, "Palisade report: %s, generated %s\n", safetext.OneLine(describeFilter(r.Filter)), r.GeneratedAt.UTC().Format(time.RFC3339))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", safetext.OneLine(n))
	}
	seen := noteSet{}
	for _, n := range r.Notes {
		seen[n] = true
	}
	const indent = "          "
	for _, s := range r.Sections {
		fmt.Fprintf(w, "\n%s %2d  %s  (%s)\n", mark(s.State), s.Number, safetext.OneLine(s.Title), safetext.OneLine(s.Name))
		if s.Status != "" {
			fmt.Fprintf(w, "%s%s\n", indent, safetext.OneLine(s.Status))
		}
		for _, h := range s.Highlights {
			fmt.Fprintf(w, "%s- %s\n", indent, safetext.OneLine(h))
		}
		for _, n := range seen.fresh(s.Notes) {
			fmt.Fprintf(w, "%snote: %s\n", indent, safetext.OneLine(n))
		}
	}
	fmt.Fprintf(w, "\n%s needs attention   %s nothing found   %s not enough data to say   %s not answerable yet\n",
		marks[StateAttention], marks[StateClear], marks[StateUnknown], marks[StateNotAnswerable])
	fmt.Fprintln(w, "Each answer in full: palisade ask QUESTION with the same source and filter flags.")
}

func writeReportMarkdown(w io.Writer, r *Report) {
	fmt.Fprintf(w, "# Palisade report\n\nGenerated %s for %s.\n", r.GeneratedAt.UTC().Format(time.RFC3339), mdText(describeFilter(r.Filter)))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\n> **Note:** %s\n", mdText(n))
	}
	seen := noteSet{}
	for _, n := range r.Notes {
		seen[n] = true
	}
	fmt.Fprint(w, "\n| # | question | state | in brief |\n|---:|---|---|---|\n")
	for _, s := range r.Sections {
		fmt.Fprintf(w, "| %d | %s | %s | %s |\n", s.Number, mdText(s.Name), mdText(s.State), mdText(s.Status))
	}
	for _, s := range r.Sections {
		fmt.Fprintf(w, "\n## %d. %s\n\n", s.Number, mdText(s.Title))
		fmt.Fprintf(w, "**%s**", mdText(s.State))
		if s.Answered {
			fmt.Fprintf(w, " · %s", mdCode("palisade ask "+s.Name))
		}
		if s.Path != "" {
			fmt.Fprintf(w, " · %s", mdCode("GET "+s.Path))
		}
		fmt.Fprint(w, "\n")
		if s.Status != "" {
			fmt.Fprintf(w, "\n%s\n", mdText(s.Status))
		}
		if len(s.Highlights) > 0 {
			fmt.Fprintln(w)
			for _, h := range s.Highlights {
				fmt.Fprintf(w, "- %s\n", mdText(h))
			}
		}
		if len(s.Summary) > 0 {
			keys := make([]string, 0, len(s.Summary))
			for k := range s.Summary {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			fmt.Fprint(w, "\n| summary | count |\n|---|---:|\n")
			for _, k := range keys {
				fmt.Fprintf(w, "| %s | %d |\n", mdText(k), s.Summary[k])
			}
		}
		if notes := seen.fresh(s.Notes); len(notes) > 0 {
			fmt.Fprint(w, "\nNotes:\n\n")
			for _, n := range notes {
				fmt.Fprintf(w, "- %s\n", mdText(n))
			}
		}
	}
}

// mdText escapes s for Markdown inline text, in a paragraph, a list item,
// a heading or a table cell: every character Markdown could read as
// emphasis, code, a link, HTML, an entity or a cell border is
// backslash-escaped, a character that would open a block at the start is
// too, and control characters become '?'.
func mdText(s string) string {
	s = strings.TrimLeft(safetext.OneLine(s), " ")
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '`', '*', '[', ']', '<', '>', '|', '#', '~', '&':
			b.WriteByte('\\')
		case '_':
			// Between letters or digits it can neither open nor close
			// emphasis (SYS_ADMIN stays readable).
			if i == 0 || i == len(s)-1 || !isAlnum(s[i-1]) || !isAlnum(s[i+1]) {
				b.WriteByte('\\')
			}
		case '-', '+', '=':
			if i == 0 {
				b.WriteByte('\\')
			}
		case '.', ')':
			// "1." or "1)" at the start opens an ordered list.
			if i > 0 && strings.Trim(s[:i], "0123456789") == "" {
				b.WriteByte('\\')
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// mdCode is s as a Markdown code span, fenced with more backticks than s
// holds in a row, and with '|' escaped for table cells.
func mdCode(s string) string {
	s = safetext.OneLine(s)
	run, longest := 0, 0
	for _, c := range []byte(s) {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	s = strings.ReplaceAll(s, "|", "\\|")
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}
