package risk

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/sbom"
)

// BenchmarkAssess10k ranks 10,000 workloads, each running its own image
// with 100 findings (each with a CVE alias, 1% in the KEV catalog, looked
// up through a real kev.Catalog) and one sidecar image shared by all with
// 100 more: 1,000,100 findings in total, 200 per workload through two
// images. Every tenth workload is behind a LoadBalancer. B/op is
// everything one ranking allocates, a bound on the memory it adds to the
// inputs (the inventory and the findings, which the server holds anyway).
func BenchmarkAssess10k(b *testing.B) {
	const workloads, perImage = 10_000, 100
	snap := &model.Snapshot{}
	images := make([]*imagescan.Image, 0, workloads)
	sevs := []string{"critical", "high", "medium", "low", ""}
	sidecar := fmt.Sprintf("sha256:%064x", workloads+1)
	sideFindings := make([]match.Finding, perImage)
	for j := range sideFindings {
		sideFindings[j] = match.Finding{ID: fmt.Sprintf("GHSA-side-%d", j), Aliases: []string{fmt.Sprintf("CVE-2023-%d", 10000+j)},
			Package: sbom.Package{Name: fmt.Sprintf("side%d", j), Ecosystem: "npm"}, InstalledVersion: "1.0", FixedVersion: "1.1", Severity: sevs[j%len(sevs)]}
	}
	images = append(images, &imagescan.Image{Digest: sidecar, SBOM: &imagescan.Facts{User: "1000"}, Match: &imagescan.Match{Findings: sideFindings}})
	for i := range workloads {
		ns := fmt.Sprintf("ns-%d", i%200)
		name := fmt.Sprintf("app-%d", i)
		digest := fmt.Sprintf("sha256:%064x", i)
		for _, o := range deployment(ns, name, digest, map[string]string{"environment": []string{"production", "staging"}[i%2]}, plain) {
			if w, ok := o.(*model.Workload); ok {
				w.Template.Containers = append(w.Template.Containers, model.Container{Name: "sidecar", Type: model.ContainerRegular,
					Image: model.ImageRef{Original: "r.example/sidecar:1", Registry: "r.example", Repository: "sidecar", Tag: "1"}})
				if w.Status != nil {
					w.Status.Containers = append(w.Status.Containers, model.ContainerStatus{Name: "sidecar", Type: model.ContainerRegular, Digest: sidecar, Running: true})
				}
			}
			snap.Add(o)
		}
		if i%10 == 0 {
			snap.Add(loadBalancer(ns, name))
		}
		fs := make([]match.Finding, perImage)
		for j := range fs {
			n := (i*perImage + j) % 50_000
			fixed := ""
			if j%3 != 0 {
				fixed = "9.9"
			}
			fs[j] = match.Finding{ID: fmt.Sprintf("DSA-%d-1", n), Aliases: []string{fmt.Sprintf("CVE-2024-%05d", n)},
				Package: sbom.Package{Name: fmt.Sprintf("pkg%d", j), Ecosystem: "Debian:12"}, InstalledVersion: "1.0", FixedVersion: fixed, Severity: sevs[j%len(sevs)]}
		}
		images = append(images, &imagescan.Image{Digest: digest, SBOM: &imagescan.Facts{User: "1000"}, Match: &imagescan.Match{Findings: fs}})
	}
	ix := inventory.New(snap).WithImages(imagescan.NewView(images, imagescan.Scheduler{Running: true}))
	day, err := kev.ParseDate("2024-01-01")
	if err != nil {
		b.Fatal(err)
	}
	var entries []kev.Entry
	for n := 0; n < 50_000; n += 100 {
		entries = append(entries, kev.Entry{CVEID: fmt.Sprintf("CVE-2024-%05d", n), VendorProject: "v", Product: "p", VulnerabilityName: "n",
			DateAdded: day, DueDate: day, ShortDescription: "d", RequiredAction: "a", KnownRansomwareCampaignUse: kev.RansomwareUnknown})
	}
	catalog, err := kev.New("bench", time.Time{}, entries)
	if err != nil {
		b.Fatal(err)
	}
	exploited := func(id string, aliases []string) (Exploit, bool) {
		e, ok := catalog.Find(id, aliases)
		if !ok {
			return Exploit{}, false
		}
		return Exploit{CVE: e.CVEID, DateAdded: e.DateAdded.String(), DueDate: e.DueDate.String(), RequiredAction: e.RequiredAction}, true
	}
	r, err := New(Config{KnownExploited: exploited})
	if err != nil {
		b.Fatal(err)
	}
	var out []Assessment
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out = r.Assess(ix, ix.Workloads())
	}
	b.StopTimer()
	if len(out) != workloads || out[0].Total != 2*perImage {
		b.Fatalf("%d assessed (first with %d findings), want %d with %d", len(out), out[0].Total, workloads, 2*perImage)
	}
	runtime.KeepAlive(out)
}
