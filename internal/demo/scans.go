package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"time"

	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
)

// The demo does not pull anything: its registries are made up. Instead it
// runs one example pod per long-running workload and serves example scan
// results for their images, so that questions 2 and 3 have something to
// show. Every answer covering the example cluster carries Notice.

// RunningPods returns one running example pod for every Deployment,
// StatefulSet and DaemonSet of objs, whose container statuses report a
// made-up digest per image (the pinned digest where the spec names one).
func RunningPods(objs []model.Object) []model.Object {
	var out []model.Object
	for _, o := range objs {
		w, ok := o.(*model.Workload)
		if !ok || w.Owner != nil {
			continue
		}
		owner := &model.OwnerRef{Kind: string(w.Kind), Name: w.Name}
		labels := maps.Clone(w.Template.Labels)
		switch w.Kind {
		case model.KindDeployment:
			// The ReplicaSet is not in the example: the pod-template-hash
			// rolls the pod up to its Deployment.
			if labels == nil {
				labels = map[string]string{}
			}
			labels["pod-template-hash"] = "demo"
			owner = &model.OwnerRef{Kind: string(model.KindReplicaSet), Name: w.Name + "-demo"}
		case model.KindStatefulSet, model.KindDaemonSet:
		default:
			continue
		}
		p := &model.Workload{
			Meta:     model.Meta{Cluster: w.Cluster, Namespace: w.Namespace, Name: w.Name + "-demo-0", Labels: labels},
			Kind:     model.KindPod,
			Owner:    owner,
			Template: w.Template,
			Status:   &model.PodStatus{Phase: "Running"},
		}
		p.Template.Labels = labels
		for _, c := range w.Template.Containers {
			if c.Type != model.ContainerRegular || c.Image.Error != "" {
				continue
			}
			d := imageDigest(c.Image)
			p.Status.Containers = append(p.Status.Containers, model.ContainerStatus{
				Name: c.Name, Type: c.Type, Image: c.Image.String(), ImageID: c.Image.Name() + "@" + d, Digest: d, Running: true, Ready: true,
			})
		}
		out = append(out, p)
	}
	return out
}

// imageDigest is the example digest of an image: its pinned digest, or a
// hash of its reference.
func imageDigest(r model.ImageRef) string {
	if r.Digest != "" {
		return r.Digest
	}
	sum := sha256.Sum256([]byte("palisade-demo:" + r.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// exampleImage is what the example pretends scanning found in one image.
type exampleImage struct {
	user     string
	os       sbom.OS
	packages int
	// age is how long ago it was scanned; failing images carry an error.
	age      time.Duration
	failing  string
	findings []match.Finding
}

var (
	debian12   = sbom.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"}
	distroless = sbom.OS{ID: "debian", VersionID: "12", Name: "Distroless"}
	centos7    = sbom.OS{ID: "centos", VersionID: "7", Name: "CentOS Linux 7 (Core)"}
)

func vuln(id, eco, pkg, installed, fixed, severity string, score float64, summary string, aliases ...string) match.Finding {
	return match.Finding{ID: id, Aliases: aliases, Package: sbom.Package{Name: pkg, Version: installed, Ecosystem: eco},
		InstalledVersion: installed, FixedVersion: fixed, Severity: severity, Score: score, Summary: summary}
}

// exampleImages maps image references of the example environment to what
// scanning them "found". Images not listed were never scanned.
var exampleImages = map[string]exampleImage{
	"ghcr.io/acme/frontend:1.4.2": {user: "node", os: distroless, packages: 412, age: 3 * time.Hour, findings: []match.Finding{
		vuln("GHSA-3xgq-45jj-v275", "npm", "cross-spawn", "7.0.3", "7.0.5", "high", 7.5, "Regular expression denial of service in cross-spawn", "CVE-2024-21538"),
		vuln("GHSA-grv7-fg5c-xmjg", "npm", "braces", "3.0.2", "3.0.3", "high", 7.5, "Uncontrolled resource consumption in braces", "CVE-2024-4068"),
	}},
	"ghcr.io/acme/checkout@sha256:3b4f1a5cc6ac9c8d1d2e7f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c": {user: "65532", os: distroless, packages: 38, age: 5 * time.Hour, findings: []match.Finding{
		vuln("GO-2024-3321", "Go", "golang.org/x/crypto", "v0.28.0", "0.31.0", "critical", 9.1, "Misuse of connection.serverAuthenticate may cause authorization bypass", "CVE-2024-45337", "GHSA-v778-237x-gjrc"),
		vuln("GO-2023-2102", "Go", "golang.org/x/net", "v0.15.0", "0.17.0", "high", 7.5, "HTTP/2 rapid reset can cause excessive work", "CVE-2023-44487", "GHSA-4374-p667-p6c8"),
	}},
	"docker.io/library/redis:7.2": {user: "", os: debian12, packages: 91, age: 20 * time.Hour, findings: []match.Finding{
		vuln("DSA-5751-1", "Debian:12", "libexpat1", "2.5.0-1", "2.5.0-1+deb12u1", "critical", 9.8, "expat: integer overflows", "CVE-2024-45492"),
		vuln("DSA-5673-1", "Debian:12", "libc6", "2.36-9+deb12u4", "2.36-9+deb12u7", "high", 8.8, "glibc: iconv out-of-bounds write", "CVE-2024-2961"),
		vuln("CVE-2023-45853", "Debian:12", "zlib1g", "1:1.2.13.dfsg-1", "", "critical", 9.8, "zlib: integer overflow in MiniZip (not used by Debian's package; no fix planned)"),
	}},
	"quay.io/acme-contractor/payment-api:3.1.0": {user: "", os: centos7, packages: 233, age: 2 * time.Hour, findings: []match.Finding{
		vuln("GHSA-jfh8-c2jp-5v3q", "Maven", "org.apache.logging.log4j:log4j-core", "2.14.1", "2.15.0", "critical", 10, "Remote code injection in Log4j (Log4Shell)", "CVE-2021-44228"),
		vuln("GHSA-7rjr-3q55-vv33", "Maven", "org.apache.logging.log4j:log4j-core", "2.14.1", "2.16.0", "critical", 9, "Incomplete fix for Log4Shell", "CVE-2021-45046"),
		vuln("CVE-2021-3156", "CentOS:7", "sudo", "1.8.23-10.el7", "1.8.23-10.el7_9.1", "high", 7.8, "sudo: heap-based buffer overflow (Baron Samedit)"),
	}},
	"docker.io/envoyproxy/envoy:v1.31.2": {user: "101", os: sbom.OS{ID: "ubuntu", VersionID: "22.04", Name: "Ubuntu 22.04.5 LTS"}, packages: 104, age: 6 * time.Hour},
	"docker.io/library/postgres:16.4": {user: "", os: debian12, packages: 142, age: 30 * time.Hour, findings: []match.Finding{
		vuln("CVE-2024-10979", "Debian:12", "postgresql-16", "16.4-1.pgdg120+1", "16.5-1.pgdg120+1", "high", 8.8, "PostgreSQL PL/Perl environment variable changes execute arbitrary code"),
	}},
	"quay.io/prometheus/node-exporter:v1.8.2": {user: "nobody", os: sbom.OS{ID: "busybox", Name: "BusyBox"}, packages: 29, age: 8 * time.Hour},
	"docker.io/fluent/fluent-bit:3.1":         {failing: "pulling index.docker.io/fluent/fluent-bit@…: GET https://index.docker.io/v2/fluent/fluent-bit/manifests/…: TOOMANYREQUESTS: rate limit exceeded (example error)"},
}

// Scans returns the example scan results of the pods RunningPods makes, as
// of now.
func Scans(pods []model.Object, now time.Time) *imagescan.View {
	byDigest := map[string]*imagescan.Image{}
	for _, o := range pods {
		p, ok := o.(*model.Workload)
		if !ok || p.Status == nil {
			continue
		}
		for _, c := range p.Template.Containers {
			d := imageDigest(c.Image)
			ex, ok := exampleImages[c.Image.String()]
			if !ok || byDigest[d] != nil {
				continue
			}
			im := &imagescan.Image{Digest: d}
			if ex.failing != "" {
				im.Status = store.ScanStatus{Digest: d, LastAttempt: now.Add(-10 * time.Minute), Failures: 3, LastError: ex.failing, NextAttempt: now.Add(20 * time.Minute)}
			} else {
				at := now.Add(-ex.age)
				im.SBOM = &imagescan.Facts{ScannedAt: at, OS: ex.os, User: ex.user, Packages: ex.packages}
				im.Match = &imagescan.Match{DBVersion: "example", MatchedAt: at, Findings: slices.Clone(ex.findings)}
				im.Status = store.ScanStatus{Digest: d, LastAttempt: at, LastSuccess: at}
			}
			byDigest[d] = im
		}
	}
	images := slices.Collect(maps.Values(byDigest))
	return imagescan.NewView(images, imagescan.Scheduler{Running: true, MaxAge: 24 * time.Hour, DBVersion: "example", KEV: exampleKEV()})
}

// exampleKEV is a three-entry excerpt of CISA's KEV catalog (CC0), so the
// example's known-exploited findings are marked as a real import would.
func exampleKEV() *kev.Catalog {
	d := func(s string) kev.Date {
		v, err := kev.ParseDate(s)
		if err != nil {
			panic(err) // fixed at build time
		}
		return v
	}
	c, err := kev.New("example excerpt of 2025.08.25", time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC), []kev.Entry{
		{CVEID: "CVE-2021-44228", VendorProject: "Apache", Product: "Log4j2", VulnerabilityName: "Apache Log4j2 Remote Code Execution Vulnerability",
			DateAdded: d("2021-12-10"), DueDate: d("2021-12-24"), KnownRansomwareCampaignUse: kev.RansomwareKnown,
			ShortDescription: "Apache Log4j2 JNDI features do not protect against attacker-controlled endpoints, allowing remote code execution.",
			RequiredAction:   "Apply updates, or remove affected assets from agency networks."},
		{CVEID: "CVE-2021-45046", VendorProject: "Apache", Product: "Log4j2", VulnerabilityName: "Apache Log4j2 Deserialization of Untrusted Data Vulnerability",
			DateAdded: d("2023-05-01"), DueDate: d("2023-05-22"), KnownRansomwareCampaignUse: kev.RansomwareKnown,
			ShortDescription: "Incomplete fix of CVE-2021-44228 in certain non-default configurations.", RequiredAction: "Apply updates per vendor instructions."},
		{CVEID: "CVE-2023-44487", VendorProject: "IETF", Product: "HTTP/2", VulnerabilityName: "HTTP/2 Rapid Reset Attack Vulnerability",
			DateAdded: d("2023-10-10"), DueDate: d("2023-10-31"), KnownRansomwareCampaignUse: kev.RansomwareUnknown,
			ShortDescription: "HTTP/2 rapid reset allows a distributed denial-of-service attack.",
			RequiredAction:   "Apply mitigations per vendor instructions, or discontinue use of the product if mitigations are unavailable."},
	})
	if err != nil {
		panic(err) // fixed at build time
	}
	return c
}
