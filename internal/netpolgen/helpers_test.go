package netpolgen

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
)

var (
	t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	t1 = t0.Add(7 * 24 * time.Hour)
)

// loadYAML reads Kubernetes documents as the manifest loader does.
func loadYAML(t testing.TB, docs ...string) *inventory.Index {
	t.Helper()
	fsys := fstest.MapFS{"in.yaml": {Data: []byte(strings.Join(docs, "\n---\n"))}}
	res, err := manifest.LoadFS(t.Context(), fsys, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Fatalf("loading test YAML: %v", e)
	}
	return inventory.New(&res.Snapshot)
}

func labelsYAML(indent string, labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(indent + "labels:\n")
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "%s  %q: %q\n", indent, k, labels[k])
	}
	return b.String()
}

// deployDoc is a Deployment whose pods carry labels and listen on ports.
func deployDoc(ns, name string, labels map[string]string, ports ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %q\n  namespace: %q\nspec:\n  template:\n    metadata:\n%s    spec:\n      containers:\n      - name: main\n        image: registry.example/%s:1\n", name, ns, labelsYAML("      ", labels), name)
	if len(ports) > 0 {
		b.WriteString("        ports:\n")
		for _, p := range ports {
			fmt.Fprintf(&b, "        - containerPort: %d\n", p)
		}
	}
	return b.String()
}

func npDoc(ns, body string) string {
	return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  namespace: " + ns + "\n" + body
}

func deploy(ns, name string) *model.WorkloadRef {
	return &model.WorkloadRef{Cluster: model.DefaultCluster, Kind: model.KindDeployment, Namespace: ns, Name: name}
}

// ep reads "ns/name" as a Deployment and anything else as an address.
func ep(s string) flows.Endpoint {
	if a, err := netip.ParseAddr(s); err == nil {
		return flows.Endpoint{Addr: a}
	}
	ns, name, _ := strings.Cut(s, "/")
	return flows.Endpoint{Workload: deploy(ns, name)}
}

// rec is a record "FROM TO PORT/PROTO".
func rec(s string) flows.Record {
	f := strings.Fields(s)
	port, proto, _ := strings.Cut(f[2], "/")
	var n int
	fmt.Sscan(port, &n)
	return flows.Record{Cluster: model.DefaultCluster, From: ep(f[0]), To: ep(f[1]), Port: uint16(n), Protocol: proto, FirstSeen: t0, LastSeen: t1, Count: 1}
}

func set(recs ...string) *flows.Set {
	s := &flows.Set{Since: t0, Until: t1, Sources: []string{"test"}}
	for _, r := range recs {
		s.Records = append(s.Records, rec(r))
	}
	return s
}

// sharedPath returns ../shared/corpora/rel, or skips the test when
// ../shared is not checked out next to the repository (and fails when
// CI=true), as internal/netpol's corpus tests do.
func sharedPath(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("../../../shared/corpora", rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared corpus %s is missing (CI=true): %v", p, err)
		}
		t.Skipf("shared corpus %s is missing; check out ../shared next to the repository to run this test", p)
	}
	return p
}

func mapFS(name string, data []byte) fstest.MapFS {
	return fstest.MapFS{name: {Data: data}}
}

func netipPrefix(e flows.Endpoint) netip.Prefix {
	return netip.PrefixFrom(e.Addr, e.Addr.BitLen())
}
