package answer

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/privilege"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/scanage"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/vulnerable"
)

var scanNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func digestOf(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

// runningPod is a bare pod whose container "app" runs digest.
func runningPod(ns, name, digest string) *model.Workload {
	return &model.Workload{
		Meta: model.Meta{Cluster: "prod", Namespace: ns, Name: name},
		Kind: model.KindPod,
		Template: model.PodTemplate{Containers: []model.Container{{Name: "app", Type: model.ContainerRegular,
			Image: model.ImageRef{Original: "ghcr.io/acme/" + name + ":1", Registry: "ghcr.io", Repository: "acme/" + name, Tag: "1"}}}},
		Status: &model.PodStatus{Phase: "Running", Containers: []model.ContainerStatus{{Name: "app", Type: model.ContainerRegular, Digest: digest, Running: true}}},
	}
}

func finding(id, pkg, fixed, sev string, aliases ...string) match.Finding {
	return match.Finding{ID: id, Aliases: aliases, Package: sbom.Package{Name: pkg, Version: "1.0", Ecosystem: "Debian:12"}, InstalledVersion: "1.0", FixedVersion: fixed, Severity: sev}
}

// scanIndex: a fresh vulnerable image, a fresh clean one, a stale one,
// a failing one and one never scanned, run by five pods.
func scanIndex() *inventory.Index {
	snap := &model.Snapshot{}
	for _, p := range []*model.Workload{
		runningPod("shop", "web", digestOf('a')), runningPod("shop", "api", digestOf('b')),
		runningPod("ops", "old", digestOf('c')), runningPod("ops", "broken", digestOf('d')),
		runningPod("ops", "new", digestOf('e')), runningPod("shop", "web2", digestOf('a')),
	} {
		snap.Add(p)
	}
	fresh := &imagescan.Facts{ScannedAt: scanNow.Add(-time.Hour), User: "", Packages: 3}
	images := []*imagescan.Image{
		{Digest: digestOf('a'), SBOM: fresh, Match: &imagescan.Match{DBVersion: "v2", MatchedAt: scanNow, Findings: []match.Finding{
			finding("DSA-1", "openssl", "1.1", "critical", "CVE-2026-0001"),
			finding("DSA-2", "zlib", "", "low", "CVE-2026-0002"),
			finding("DSA-3", "curl", "1.2", "", "CVE-2026-0003"),
		}}},
		{Digest: digestOf('b'), SBOM: &imagescan.Facts{ScannedAt: scanNow.Add(-time.Hour), User: "1000"}, Match: &imagescan.Match{DBVersion: "v2", Findings: []match.Finding{}}},
		{Digest: digestOf('c'), SBOM: &imagescan.Facts{ScannedAt: scanNow.Add(-48 * time.Hour), User: "root"}, Match: &imagescan.Match{DBVersion: "v1", Findings: []match.Finding{
			finding("GHSA-x", "lib", "2.0", "high", "CVE-2026-0001"),
		}}},
		{Digest: digestOf('d'), Status: store.ScanStatus{Digest: digestOf('d'), Failures: 2, LastError: "pulling x: UNAUTHORIZED", NextAttempt: scanNow.Add(time.Minute)}},
	}
	return inventory.New(snap).WithImages(imagescan.NewView(images, imagescan.Scheduler{Running: true, MaxAge: 24 * time.Hour, DBVersion: "v2"}))
}

func scanEngine(t *testing.T) *Engine {
	e, err := NewEngine(Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.now = func() time.Time { return scanNow }
	return e
}

func TestScanAge(t *testing.T) {
	a := scanEngine(t).ScanAge(scanIndex(), Filter{})
	var got []string
	for _, it := range a.Items {
		got = append(got, it.Digest[7:8]+"="+it.State+"/"+it.MatchState)
	}
	// Most urgent first: failing, never scanned, stale, then fresh.
	want := []string{"d=failing/none", "e=never-scanned/none", "c=stale/outdated", "a=fresh/current", "b=fresh/current"}
	if !slices.Equal(got, want) {
		t.Errorf("items = %v, want %v", got, want)
	}
	if it := a.Items[0]; it.LastError == "" || it.Failures != 2 || it.NextAttempt.IsZero() {
		t.Errorf("failing item hides its error: %+v", it)
	}
	if it := a.Items[3]; len(it.Workloads) != 2 || it.AgeSeconds != 3600 || it.Findings != 3 || it.Images[0] != "ghcr.io/acme/web" {
		t.Errorf("fresh item = %+v", it)
	}
	for k, n := range map[string]int{"images": 5, scanage.StateFresh: 2, scanage.StateStale: 1, scanage.StateFailing: 1, scanage.StateNeverScanned: 1, "matchOutdated": 1} {
		if a.Summary[k] != n {
			t.Errorf("summary[%s] = %d, want %d", k, a.Summary[k], n)
		}
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, a); err != nil || !strings.Contains(buf.String(), "UNAUTHORIZED") || !strings.Contains(buf.String(), "1h ago") {
		t.Errorf("table (%v):\n%s", err, buf.String())
	}
}

func TestVulnerable(t *testing.T) {
	e := scanEngine(t)
	ix := scanIndex()
	a := e.Vulnerable(ix, Filter{})
	var got []string
	for _, it := range a.Items {
		got = append(got, it.Workload.Name+":"+it.MaxSeverity)
	}
	// web and web2 run the same critical image; old's single high comes after.
	if want := []string{"web:critical", "web2:critical", "old:high"}; !slices.Equal(got, want) {
		t.Errorf("items = %v, want %v", got, want)
	}
	web := a.Items[0]
	if web.Counts["critical"] != 1 || web.Counts["low"] != 1 || web.Counts[vulnerable.Unknown] != 1 || web.Fixable != 2 || web.Image != "ghcr.io/acme/web:1" {
		t.Errorf("web = %+v", web)
	}
	if a.Summary["critical"] != 2 || a.Summary["workloads"] != 3 || a.Summary["images"] != 2 || a.Summary["containersNotMatched"] != 2 {
		t.Errorf("summary = %v", a.Summary)
	}
	if !slices.ContainsFunc(a.Notes, func(n string) bool { return strings.Contains(n, "2 running containers run an image not matched yet") }) {
		t.Errorf("notes = %q", a.Notes)
	}

	// One flaw, by an alias shared by a Debian and a GitHub record.
	got = nil
	cve, err := e.Ask(ix, Vulnerable, Filter{CVE: "cve-2026-0001"})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range cve.(*Answer[vulnerable.Item]).Items {
		if len(it.Vulnerabilities) != 1 {
			t.Errorf("%s: %d vulnerabilities, want only the CVE's", it.Workload, len(it.Vulnerabilities))
		}
		got = append(got, it.Workload.Name+":"+it.Vulnerabilities[0].ID)
	}
	if want := []string{"web:DSA-1", "web2:DSA-1", "old:GHSA-x"}; !slices.Equal(got, want) {
		t.Errorf("--cve items = %v, want %v", got, want)
	}
	if _, err := e.Ask(ix, Privileged, Filter{CVE: "CVE-2026-0001"}); err == nil {
		t.Error("a CVE filter on privileged was accepted")
	}
}

// The scanned image's user turns "may run as root" into a yes or a no.
func TestPrivilegedUsesTheImageUser(t *testing.T) {
	a := scanEngine(t).Privileged(scanIndex(), Filter{})
	got := map[string]string{}
	for _, it := range a.Items {
		for _, f := range it.Findings {
			if f.Check == privilege.CheckRunAsRoot {
				got[it.Workload.Name] = string(f.Severity) + ": " + f.Detail
			}
		}
	}
	for name, want := range map[string]string{
		"web":    "high: runs as root: neither runAsNonRoot nor runAsUser is set and the scanned image sets no user",
		"old":    `high: runs as root: neither runAsNonRoot nor runAsUser is set and the scanned image's user is "root"`,
		"broken": "medium: may run as root: neither runAsNonRoot nor runAsUser is set, so the image's user decides",
		"api":    "",
	} {
		if got[name] != want {
			t.Errorf("%s: runAsRoot = %q, want %q", name, got[name], want)
		}
	}
}

// The environment filter keeps exactly the items of production workloads.
func TestEnvironmentFilter(t *testing.T) {
	ix := scanIndex()
	snap := ix.Snapshot()
	snap.Add(&model.Namespace{Meta: model.Meta{Cluster: "prod", Name: "shop", Labels: map[string]string{"environment": "production"}}})
	snap.Add(&model.Namespace{Meta: model.Meta{Cluster: "prod", Name: "ops", Labels: map[string]string{"env": "staging"}}})
	// Exposed: a LoadBalancer for web (shop) and one selecting nothing in ops.
	web := ix.Workload(model.WorkloadRef{Cluster: "prod", Kind: model.KindPod, Namespace: "shop", Name: "web"})
	web.Template.Labels = map[string]string{"app": "web"}
	snap.Add(&model.Service{Meta: model.Meta{Cluster: "prod", Namespace: "shop", Name: "web"}, Type: "LoadBalancer", Selector: map[string]string{"app": "web"},
		Ports: []model.ServicePort{{Protocol: "TCP", Port: 80, TargetPort: "80", NodePort: 30080}}})
	snap.Add(&model.Service{Meta: model.Meta{Cluster: "prod", Namespace: "ops", Name: "orphan"}, Type: "NodePort", Selector: map[string]string{"app": "gone"},
		Ports: []model.ServicePort{{Protocol: "TCP", Port: 90, NodePort: 30090}}})
	ix = inventory.New(snap).WithImages(ix.Images())
	e := scanEngine(t)
	for _, q := range Questions {
		for env, wantNS := range map[string]string{"production": "shop", "Staging": "ops"} {
			got, err := e.Ask(ix, q.Name, Filter{Environment: env})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var a struct {
				Items []struct {
					Workload  *model.WorkloadRef  `json:"workload"`
					Workloads []model.WorkloadRef `json:"workloads"`
				} `json:"items"`
				Unmatched []struct {
					Namespace string `json:"namespace"`
				} `json:"unmatched"`
			}
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			for _, it := range a.Items {
				refs := it.Workloads
				if it.Workload != nil {
					refs = append(refs, *it.Workload)
				}
				for _, r := range refs {
					if r.Namespace != wantNS {
						t.Errorf("%s --environment %s: item of %s", q.Name, env, r)
					}
				}
			}
			if (q.Name == Vulnerable || q.Name == Exposed) && env == "production" && len(a.Items) == 0 {
				t.Errorf("%s --environment production: no items", q.Name)
			}
			for _, u := range a.Unmatched {
				if u.Namespace != wantNS {
					t.Errorf("%s --environment %s: unmatched of namespace %s", q.Name, env, u.Namespace)
				}
			}
			if q.Name == Exposed && env == "Staging" && len(a.Unmatched) != 1 {
				t.Errorf("exposed --environment staging: %d unmatched, want the orphan Service", len(a.Unmatched))
			}
		}
	}
}

// With a KEV catalog, vulnerable marks the findings whose id or alias is
// listed.
func TestVulnerableMarksKnownExploited(t *testing.T) {
	d, _ := kev.ParseDate("2026-01-02")
	c, err := kev.New("v", time.Time{}, []kev.Entry{{CVEID: "CVE-2026-0001", VendorProject: "x", Product: "x", VulnerabilityName: "x",
		DateAdded: d, DueDate: d, ShortDescription: "x", RequiredAction: "Patch.", KnownRansomwareCampaignUse: kev.RansomwareUnknown}})
	if err != nil {
		t.Fatal(err)
	}
	ix := scanIndex()
	s := ix.Images().Scheduler()
	s.KEV = c
	ix = ix.WithImages(imagescan.NewView(ix.Images().All(), s))
	a := scanEngine(t).Vulnerable(ix, Filter{})
	if a.Summary["knownExploited"] != 3 {
		t.Errorf("summary knownExploited = %d, want 3 (web, web2, old)", a.Summary["knownExploited"])
	}
	for _, it := range a.Items {
		for _, v := range it.Vulnerabilities {
			marked := v.KnownExploited != nil
			if want := v.ID == "DSA-1" || v.ID == "GHSA-x"; marked != want {
				t.Errorf("%s %s: marked %v, want %v", it.Workload, v.ID, marked, want)
			}
			if marked && (v.KnownExploited.DateAdded != "2026-01-02" || v.KnownExploited.RequiredAction != "Patch.") {
				t.Errorf("%s: %+v", v.ID, v.KnownExploited)
			}
		}
	}
}
