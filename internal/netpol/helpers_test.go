package netpol

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

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
)

// corpora is ../shared/corpora/netpol relative to the repository root.
const corpora = "../../../shared/corpora/netpol"

// corpusPath returns corpora/rel, or skips the test when ../shared is not
// checked out next to the repository (and fails when CI=true), as the
// corpus tests of internal/osv and internal/version do.
func corpusPath(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(corpora, rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared corpus %s is missing (CI=true): %v", p, err)
		}
		t.Skipf("shared corpus %s is missing; check out ../shared next to the repository to run this test", p)
	}
	return p
}

// loadYAML reads Kubernetes documents as the manifest loader does.
func loadYAML(t testing.TB, docs ...string) *model.Snapshot {
	t.Helper()
	fsys := fstest.MapFS{"in.yaml": {Data: []byte(strings.Join(docs, "\n---\n"))}}
	res, err := manifest.LoadFS(t.Context(), fsys, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Fatalf("loading test YAML: %v", e)
	}
	return &res.Snapshot
}

// loadPaths reads manifest files or directories.
func loadPaths(t testing.TB, paths ...string) *model.Snapshot {
	t.Helper()
	res, err := manifest.Load(t.Context(), paths, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors {
		t.Fatalf("loading %v: %v", paths, e)
	}
	return &res.Snapshot
}

func newEngine(t testing.TB, snap *model.Snapshot) *Engine {
	t.Helper()
	e, err := New(t.Context(), inventory.New(snap), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func nsDoc(name string, labels map[string]string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %q\n%s", name, labelsYAML("  ", labels))
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

// port describes a container port for podDoc.
type port struct {
	name     string
	number   int32
	protocol string
}

// podDoc is a running bare pod with one container per port (or one
// without ports).
func podDoc(ns, name string, labels map[string]string, ip string, ports ...port) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %q\n  namespace: %q\n%s", name, ns, labelsYAML("  ", labels))
	b.WriteString("spec:\n  containers:\n")
	if len(ports) == 0 {
		b.WriteString("  - name: main\n    image: registry.example/app:1\n")
	}
	for i, p := range ports {
		fmt.Fprintf(&b, "  - name: c%d\n    image: registry.example/app:1\n    ports:\n    - containerPort: %d\n      protocol: %s\n", i, p.number, p.protocol)
		if p.name != "" {
			fmt.Fprintf(&b, "      name: %s\n", p.name)
		}
	}
	if ip != "" {
		fmt.Fprintf(&b, "status:\n  phase: Running\n  podIP: %s\n  podIPs:\n  - ip: %s\n", ip, ip)
	}
	return b.String()
}

// hostPodDoc is a running bare pod of the host network: its pod IP is
// its node's address hostIP (empty: no status, as from manifests).
func hostPodDoc(ns, name string, labels map[string]string, hostIP string, ports ...port) string {
	doc := strings.Replace(podDoc(ns, name, labels, hostIP, ports...), "spec:\n", "spec:\n  hostNetwork: true\n", 1)
	if hostIP != "" {
		doc += "  hostIP: " + hostIP + "\n"
	}
	return doc
}

func podRef(ns, name string) model.WorkloadRef {
	return model.WorkloadRef{Cluster: model.DefaultCluster, Kind: model.KindPod, Namespace: ns, Name: name}
}

func addr(s string) Endpoint { return AddressEndpoint(netip.MustParsePrefix(s)) }

// summary condenses a side for table tests: "open" (not isolated),
// "outside", "host" (a workload of the host network), "own node" (a pod's
// side of its traffic with its own node), "allow <rules>" or "deny
// <policies>".
func summary(s Side) string {
	switch {
	case s.HostNetwork:
		if !s.Outside || s.Isolated || !s.Allowed || len(s.Policies) > 0 {
			return fmt.Sprintf("bad host side %+v", s)
		}
		return "host"
	case s.Outside:
		return "outside"
	case s.OwnNode != "":
		if !s.Allowed || len(s.Rules) > 0 {
			return fmt.Sprintf("bad own-node side %+v", s)
		}
		return "own node"
	case !s.Isolated:
		return "open"
	case s.Allowed:
		var r []string
		for _, x := range s.Rules {
			r = append(r, x.String())
		}
		return "allow " + strings.Join(r, ", ")
	}
	var p []string
	for _, x := range s.Policies {
		p = append(p, x.String())
	}
	return "deny " + strings.Join(p, ", ")
}

// onNode puts a running pod document of podDoc or hostPodDoc on a node:
// its host IP, and its node's name unless empty.
func onNode(doc, node, hostIP string) string {
	if !strings.Contains(doc, "  hostIP: ") {
		doc += "  hostIP: " + hostIP + "\n"
	}
	if node != "" {
		doc = strings.Replace(doc, "spec:\n", "spec:\n  nodeName: "+node+"\n", 1)
	}
	return doc
}

// nodeDoc is a Node object with internal and external addresses.
func nodeDoc(name string, internal, external []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Node\nmetadata:\n  name: %q\nstatus:\n  addresses:\n", name)
	for _, a := range internal {
		fmt.Fprintf(&b, "  - {type: InternalIP, address: %q}\n", a)
	}
	for _, a := range external {
		fmt.Fprintf(&b, "  - {type: ExternalIP, address: %q}\n", a)
	}
	return b.String()
}
