package answer

import (
	"bytes"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/synth"
)

// reportNow is the time of the report's fixtures.
var reportNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// reportIndex is an inventory every answered question has something to
// say about: six running pods in namespaces shop (production) and ops,
// web behind a LoadBalancer, a critical fixable finding in web's image, a
// stale image with a high one, a failing scan and a digest never scanned.
// It is built here rather than shared, so that the report's expectations
// do not move with other tests' fixtures.
func reportIndex() *inventory.Index {
	digest := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }
	pod := func(ns, name, d string) *model.Workload {
		return &model.Workload{
			Meta: model.Meta{Cluster: "prod", Namespace: ns, Name: name},
			Kind: model.KindPod,
			Template: model.PodTemplate{Labels: map[string]string{"app": name}, Containers: []model.Container{{Name: "app", Type: model.ContainerRegular,
				Image: model.ImageRef{Original: "ghcr.io/acme/" + name + ":1", Registry: "ghcr.io", Repository: "acme/" + name, Tag: "1"}}}},
			Status: &model.PodStatus{Phase: "Running", Containers: []model.ContainerStatus{{Name: "app", Type: model.ContainerRegular, Digest: d, Running: true}}},
		}
	}
	finding := func(id, pkg, fixed, sev string, aliases ...string) match.Finding {
		return match.Finding{ID: id, Aliases: aliases, Package: sbom.Package{Name: pkg, Version: "1.0", Ecosystem: "Debian:12"}, InstalledVersion: "1.0", FixedVersion: fixed, Severity: sev}
	}
	snap := &model.Snapshot{}
	for _, w := range []*model.Workload{
		pod("shop", "web", digest('a')), pod("shop", "api", digest('b')), pod("ops", "old", digest('c')),
		pod("ops", "broken", digest('d')), pod("ops", "new", digest('e')), pod("shop", "web2", digest('a')),
	} {
		snap.Add(w)
	}
	snap.Add(&model.Namespace{Meta: model.Meta{Cluster: "prod", Name: "shop", Labels: map[string]string{"environment": "production"}}})
	snap.Add(&model.Service{Meta: model.Meta{Cluster: "prod", Namespace: "shop", Name: "web"}, Type: "LoadBalancer",
		Selector: map[string]string{"app": "web"}, Ports: []model.ServicePort{{Protocol: "TCP", Port: 80, TargetPort: "80", NodePort: 30080}}})
	images := []*imagescan.Image{
		{Digest: digest('a'), SBOM: &imagescan.Facts{ScannedAt: reportNow.Add(-time.Hour), Packages: 3}, Match: &imagescan.Match{DBVersion: "v2", MatchedAt: reportNow, Findings: []match.Finding{
			finding("DSA-1", "openssl", "1.1", "critical", "CVE-2026-1"),
			finding("DSA-2", "zlib", "", "low", "CVE-2026-2"),
		}}},
		{Digest: digest('b'), SBOM: &imagescan.Facts{ScannedAt: reportNow.Add(-time.Hour), User: "1000"}, Match: &imagescan.Match{DBVersion: "v2", Findings: []match.Finding{}}},
		{Digest: digest('c'), SBOM: &imagescan.Facts{ScannedAt: reportNow.Add(-48 * time.Hour), User: "root"}, Match: &imagescan.Match{DBVersion: "v1", Findings: []match.Finding{
			finding("GHSA-x", "lib", "2.0", "high", "CVE-2026-3"),
		}}},
		{Digest: digest('d'), Status: store.ScanStatus{Digest: digest('d'), Failures: 2, LastError: "pulling x: UNAUTHORIZED", NextAttempt: reportNow.Add(time.Minute)}},
	}
	return inventory.New(snap).WithImages(imagescan.NewView(images, imagescan.Scheduler{Running: true, MaxAge: 24 * time.Hour, DBVersion: "v2"}))
}

func reportEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.now = func() time.Time { return reportNow }
	return e
}

func TestReport(t *testing.T) {
	e := reportEngine(t, Config{TrustedRegistries: []string{"ghcr.io/acme"}, ClusterNotes: map[string]string{"prod": "EXAMPLE DATA", "elsewhere": "not here"}})
	r, err := e.Report(reportIndex(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.GeneratedAt.Equal(reportNow) || !slices.Equal(r.Notes, []string{"EXAMPLE DATA"}) {
		t.Errorf("generatedAt %v, notes %q", r.GeneratedAt, r.Notes)
	}
	var got []string
	for _, s := range r.Sections {
		got = append(got, strings.Join([]string{s.Name, s.State}, "="))
		if slices.Contains(s.Notes, "EXAMPLE DATA") {
			t.Errorf("%s repeats the report's note", s.Name)
		}
		if s.Answered != (s.Path != "") || s.Answered != (s.Summary != nil) || s.Status == "" {
			t.Errorf("%s: answered %v, path %q, summary %v, status %q", s.Name, s.Answered, s.Path, s.Summary, s.Status)
		}
	}
	want := []string{
		"image-sources=clear", "scan-age=attention", "vulnerable=attention", "production=attention", "priorities=attention",
		"privileged=attention", "exposed=attention", "processes=unknown", "unused-paths=attention", "owners=attention",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sections (-want +got):\n%s", diff)
	}
	for i, s := range r.Sections {
		if s.Number != i+1 {
			t.Errorf("section %d is question %d", i+1, s.Number)
		}
	}
	for name, want := range map[string][]string{
		"scan-age":   {"failing: dddddddddddd (ghcr.io/acme/broken), 2 failed attempts: pulling x: UNAUTHORIZED, run by Pod/ops/broken", "never-scanned: eeeeeeeeeeee"},
		"vulnerable": {"Pod/shop/web container app: 1 critical, 0 high, 0 medium, 1 low; worst DSA-1 (CVE-2026-1) in openssl 1.0, fixed in 1.1", "Pod/shop/web2 container app", "Pod/ops/old container app: 0 critical, 1 high, 0 medium, 0 low; worst GHSA-x (CVE-2026-3) in lib 1.0, fixed in 2.0"},
		"production": {"Pod/shop/web: 1 critical, 0 high, 0 medium, 1 low; first DSA-1 (CVE-2026-1) in openssl 1.0, fixed in 1.1", "Pod/shop/web2: "},
		"priorities": {"#1 Pod/shop/web, score "},
		"exposed":    {"Pod/shop/web from the internet via Service web (LoadBalancer)"},
		"owners":     {"no owner: Pod/ops/broken", "no owner: Pod/ops/new", "no owner: Pod/ops/old", "no owner: Pod/shop/api", "no owner: Pod/shop/web", "… and 1 more unowned workload in the full answer"},
	} {
		s := sectionNamed(t, r, name)
		for i, w := range want {
			if i >= len(s.Highlights) || !strings.HasPrefix(s.Highlights[i], w) {
				t.Errorf("%s highlight %d: want prefix %q, highlights %q", name, i, w, s.Highlights)
			}
		}
	}
	if p := sectionNamed(t, r, "processes"); p.Status != "no node agent has reported" {
		t.Errorf("processes status %q", p.Status)
	}

	// The filter reaches every answer and every path.
	r, err = e.Report(reportIndex(), Filter{Namespace: "ops", Environment: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Sections {
		if s.Answered && s.Path != "/api/v1/questions/"+s.Name+"?environment=staging&namespace=ops" {
			t.Errorf("%s: path %q", s.Name, s.Path)
		}
		if s.Summary["workloads"] != 0 || len(s.Highlights) != 0 {
			t.Errorf("%s: filtered to nothing, yet summary %v, highlights %q", s.Name, s.Summary, s.Highlights)
		}
	}
}

func sectionNamed(t *testing.T, r *Report, name string) Section {
	t.Helper()
	for _, s := range r.Sections {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no section %s", name)
	return Section{}
}

func TestReportRejectsCVE(t *testing.T) {
	_, err := reportEngine(t, Config{}).Report(reportIndex(), Filter{CVE: "CVE-2026-1"})
	if !errors.Is(err, ErrBadFilter) {
		t.Errorf("err = %v, want ErrBadFilter", err)
	}
}

// Every question this build answers has a brief, and the planned ones
// are the mission's others.
func TestReportBriefsEveryQuestion(t *testing.T) {
	r, err := reportEngine(t, Config{}).Report(reportIndex(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sections) != 10 {
		t.Fatalf("%d sections, want 10", len(r.Sections))
	}
	for _, s := range r.Sections {
		if s.Answered && strings.Contains(s.Status, "no brief") {
			t.Errorf("%s has no brief in report.go", s.Name)
		}
	}
	for _, p := range planned {
		if _, err := Lookup(p.Name); err == nil {
			t.Errorf("planned question %s is answered: drop it from planned", p.Name)
		}
	}
}

// Without scan results, the questions that need them say "unknown", not
// "clear".
func TestReportWithoutScans(t *testing.T) {
	snap := reportIndex().Snapshot()
	r, err := reportEngine(t, Config{}).Report(inventory.New(snap), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"image-sources", "vulnerable", "production", "priorities"} {
		if s := sectionNamed(t, r, name); s.State != StateUnknown {
			t.Errorf("%s: state %q (%s), want unknown", name, s.State, s.Status)
		}
	}
}

func TestWriteReport(t *testing.T) {
	e := reportEngine(t, Config{ClusterNotes: map[string]string{"prod": "EXAMPLE DATA"}})
	r, err := e.Report(reportIndex(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var text, md, js bytes.Buffer
	for format, buf := range map[string]*bytes.Buffer{ReportText: &text, ReportMarkdown: &md, ReportJSON: &js} {
		if err := WriteReport(buf, r, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
	}
	if err := WriteReport(&bytes.Buffer{}, r, "html"); err == nil {
		t.Error("format html accepted")
	}
	for _, s := range r.Sections {
		line := regexp.MustCompile(`(?m)^\[(!!|ok|\?\?|--)\] +` + strconv.Itoa(s.Number) + `  ` + regexp.QuoteMeta(s.Title) + `  \(` + s.Name + `\)$`)
		if !line.Match(text.Bytes()) {
			t.Errorf("text has no line for question %d:\n%s", s.Number, text.String())
		}
		if !strings.Contains(md.String(), "\n## "+strconv.Itoa(s.Number)+". ") {
			t.Errorf("markdown has no heading for question %d", s.Number)
		}
	}
	for _, want := range []string{"note: EXAMPLE DATA", "[??]  8  Which processes", "[!!]  9  Which network paths are allowed but unused?", "- #1 Pod/shop/web"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if n := strings.Count(text.String(), "no scan results"); n > 1 {
		t.Errorf("text repeats a note %d times", n)
	}
	back, err := DecodeReport(js.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, back); diff != "" {
		t.Errorf("JSON round trip (-written +read):\n%s", diff)
	}
	if _, err := DecodeReport([]byte(`{"question":"owners","items":[]}`)); err == nil {
		t.Error("an answer decoded as a report")
	}
}

// Names come from cluster objects: they cannot inject terminal escapes,
// lines, Markdown structure or HTML into a report.
func TestWriteReportNeutralisesNames(t *testing.T) {
	evil := "evil\x1b]0;PWNED\x07\x9b|x](http://e)\n# Owned <b>*b*</b> `c` \u202e&amp;"
	snap := &model.Snapshot{Workloads: []*model.Workload{{
		Meta:     model.Meta{Cluster: "c", Namespace: "ns", Name: evil},
		Kind:     model.KindPod,
		Template: model.PodTemplate{HostPID: true, Containers: []model.Container{{Name: "c", Image: model.ImageRef{Original: "x", Registry: "docker.io", Repository: "library/x"}}}},
	}}}
	r, err := reportEngine(t, Config{}).Report(inventory.New(snap), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var text, md bytes.Buffer
	if err := WriteReport(&text, r, ReportText); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(&md, r, ReportMarkdown); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String()} {
		if strings.ContainsAny(out, "\x1b\x07\u202e") || strings.Contains(out, "\x9b") {
			t.Errorf("%s holds control characters: %q", name, out)
		}
		if regexp.MustCompile(`(?m)^# Owned`).MatchString(out) {
			t.Errorf("%s: a name forged a line:\n%s", name, out)
		}
	}
	if !strings.Contains(text.String(), "Pod/ns/evil?]0;PWNED??|x](http://e)?# Owned <b>*b*</b> `c` ?&amp;") {
		t.Errorf("text does not show the name with placeholders:\n%s", text.String())
	}
	for _, raw := range []string{"<b>", "](", "*b*", "`c`", "&amp;", "# Owned"} {
		if regexp.MustCompile(`(^|[^\\])` + regexp.QuoteMeta(raw)).MatchString(md.String()) {
			t.Errorf("markdown holds %q unescaped:\n%s", raw, md.String())
		}
	}
	// Table rows keep their columns.
	for _, line := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(line, "|") {
			if n := len(regexp.MustCompile(`(^|[^\\])\|`).FindAllString(line, -1)); n != 5 && n != 3 {
				t.Errorf("table row with %d cell borders: %q", n, line)
			}
		}
	}
}

func TestMarkdownEscaping(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, 3.0.2 (fixed)": "plain text, 3.0.2 (fixed)",
		"SYS_ADMIN and _x_":         "SYS_ADMIN and \\_x\\_",
		"- not a list":              "\\- not a list",
		"1. not a list":             "1\\. not a list",
		"12) not a list":            "12\\) not a list",
		"a|b":                       "a\\|b",
		"[x](y) <i> `c` *e* # ~ &":  "\\[x\\](y) \\<i\\> \\`c\\` \\*e\\* \\# \\~ \\&",
		"back\\slash":               "back\\\\slash",
		"line\nbreak":               "line?break",
	} {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"GET /x": "`GET /x`",
		"a`b":    "``a`b``",
		"`a":     "`` `a ``",
		"x|y":    "`x\\|y`",
	} {
		if got := mdCode(in); got != want {
			t.Errorf("mdCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkReport10k builds the report of synth.Default10k (10,000
// workloads, no scan results): all eight answers and their briefs.
func BenchmarkReport10k(b *testing.B) {
	ix := inventory.New(synth.Generate(synth.Default10k()))
	e, err := NewEngine(Config{TrustedRegistries: []string{"ghcr.io/acme"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Report(ix, Filter{}); err != nil {
			b.Fatal(err)
		}
	}
}
