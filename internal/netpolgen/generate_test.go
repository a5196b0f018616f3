package netpolgen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

func shopIndex(t testing.TB) *inventory.Index {
	return loadYAML(t,
		deployDoc("shop", "frontend", map[string]string{"app": "frontend", "tier": "web"}, 8080, 9090),
		deployDoc("shop", "cart", map[string]string{"app": "cart", "tier": "backend"}, 7070, 9090),
		deployDoc("shop", "db", map[string]string{"app": "db", "role": "primary"}, 5432),
		deployDoc("shop", "db-replica", map[string]string{"app": "db", "role": "replica"}, 5432),
		deployDoc("shop", "idle", map[string]string{"app": "idle"}),
		deployDoc("monitoring", "prometheus", map[string]string{"app.kubernetes.io/name": "prometheus", "app": "prometheus"}),
		deployDoc("kube-system", "coredns", map[string]string{"k8s-app": "kube-dns"}, 53),
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: payments\n  namespace: shop\nspec:\n  clusterIP: 10.96.14.2\n  selector:\n    app: payments\n  ports:\n  - port: 443",
	)
}

var shopFlows = []string{
	"203.0.113.7 shop/frontend 8080/TCP",
	"2001:db8::1 shop/frontend 8080/TCP",
	"shop/frontend shop/cart 7070/TCP",
	"shop/cart shop/db 5432/TCP",
	"shop/frontend kube-system/coredns 53/UDP",
	"shop/cart kube-system/coredns 53/UDP",
	"shop/cart kube-system/coredns 53/TCP",
	"monitoring/prometheus shop/frontend 9090/TCP",
	"monitoring/prometheus shop/cart 9090/TCP",
	"shop/cart 198.51.100.20 443/TCP",
	"shop/db 10.96.14.2 443/TCP",
	"shop/frontend 198.51.100.20 0/TCP",
	"shop/frontend 198.51.100.20 1/ICMP",
	"shop/gone shop/cart 7070/TCP",
	"198.51.100.1 198.51.100.2 80/TCP",
}

func TestGenerateGolden(t *testing.T) {
	ix := shopIndex(t)
	res, err := Generate(t.Context(), ix, set(shopFlows...), Options{Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := res.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "shop.golden.yaml", b.Bytes())

	// The YAML reads back as the same policies, through the loader.
	loaded, err := manifest.LoadFS(t.Context(), mapFS("p.yaml", b.Bytes()), manifest.Options{})
	if err != nil || len(loaded.Errors) > 0 {
		t.Fatalf("loading the YAML: %v %v", err, loaded.Errors)
	}
	if got, want := len(loaded.Snapshot.NetworkPolicies), len(res.Suggestions); got != want {
		t.Fatalf("%d policies read back, want %d", got, want)
	}
	for i, np := range loaded.Snapshot.NetworkPolicies {
		want := *res.Suggestions[i].Model
		want.Source, np.Source = "", ""
		if diff := cmp.Diff(&want, np); diff != "" {
			t.Errorf("policy %d read back (-want +got):\n%s", i, diff)
		}
	}
	// And strictly as networking.k8s.io/v1 objects.
	for i, doc := range strings.Split(b.String(), "\n---\n")[1:] {
		var np networkingv1.NetworkPolicy
		if err := yaml.UnmarshalStrict([]byte(doc), &np); err != nil {
			t.Errorf("document %d: %v", i, err)
		}
	}

	// Deterministic.
	res2, err := Generate(t.Context(), ix, set(shopFlows...), Options{Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var b2 bytes.Buffer
	if err := res2.WriteYAML(&b2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), b2.Bytes()) {
		t.Error("two runs differ")
	}
}

func TestNames(t *testing.T) {
	ix := loadYAML(t,
		deployDoc("ns", "web", map[string]string{"app": "web"}),
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: web\n  namespace: ns\nspec:\n  template:\n    metadata:\n      labels:\n        app: web-db\n    spec:\n      containers:\n      - name: db\n        image: db:1\n",
		deployDoc("ns", "deployment-web", map[string]string{"app": "other"}),
		deployDoc("ns", strings.Repeat("x", 250), map[string]string{"app": "long"}),
	)
	res, err := Generate(t.Context(), ix, set(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range res.Suggestions {
		n := s.Policy.Name
		if names[n] || len(n) > maxName || !strings.HasPrefix(n, "palisade-") || !strings.HasSuffix(n, "-least-privilege") {
			t.Errorf("%s: name %q (duplicate %v, %d long)", s.Workload, n, names[n], len(n))
		}
		names[n] = true
	}
	if !names["palisade-statefulset-web-least-privilege"] {
		t.Errorf("names %v", names)
	}
}
