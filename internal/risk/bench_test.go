package risk

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/sbom"
)

// BenchmarkAssess10k ranks 10,000 workloads running 10,000 distinct images
// with 100 findings each: 1,000,000 findings in total, 1% of them in the
// KEV catalog, every tenth workload exposed by a LoadBalancer. B/op is
// everything one ranking allocates, a bound on the memory it adds to the
// inputs (the inventory and the findings, which the server holds anyway).
func BenchmarkAssess10k(b *testing.B) {
	const workloads, perImage = 10_000, 100
	snap := &model.Snapshot{}
	images := make([]*imagescan.Image, 0, workloads)
	sevs := []string{"critical", "high", "medium", "low", ""}
	for i := range workloads {
		ns := fmt.Sprintf("ns-%d", i%200)
		name := fmt.Sprintf("app-%d", i)
		digest := fmt.Sprintf("sha256:%064x", i)
		for _, o := range deployment(ns, name, digest, map[string]string{"environment": []string{"production", "staging"}[i%2]}, plain) {
			snap.Add(o)
		}
		if i%10 == 0 {
			snap.Add(loadBalancer(ns, name))
		}
		fs := make([]match.Finding, perImage)
		for j := range fs {
			id := fmt.Sprintf("CVE-2024-%d", (i*perImage+j)%50_000)
			fixed := ""
			if j%3 != 0 {
				fixed = "9.9"
			}
			fs[j] = match.Finding{ID: id, Package: sbom.Package{Name: fmt.Sprintf("pkg%d", j), Ecosystem: "Debian:12"}, InstalledVersion: "1.0", FixedVersion: fixed, Severity: sevs[j%len(sevs)]}
		}
		images = append(images, &imagescan.Image{Digest: digest, SBOM: &imagescan.Facts{User: "1000"}, Match: &imagescan.Match{Findings: fs}})
	}
	ix := inventory.New(snap).WithImages(imagescan.NewView(images, imagescan.Scheduler{Running: true}))
	catalog := map[string]Exploit{}
	for n := 0; n < 50_000; n += 100 {
		id := fmt.Sprintf("CVE-2024-%d", n)
		catalog[id] = Exploit{CVE: id, DateAdded: "2024-01-01"}
	}
	exploited := func(id string) (Exploit, bool) {
		e, ok := catalog[id]
		return e, ok
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
	if len(out) != workloads {
		b.Fatalf("%d assessed, want %d", len(out), workloads)
	}
	runtime.KeepAlive(out)
}
