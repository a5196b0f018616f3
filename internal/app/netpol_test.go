package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const netpolManifests = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web:1, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: api:1, ports: [{containerPort: 9000}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec: {containers: [{name: dns, image: coredns:1}]}
`

const netpolFlowLog = `{"time":"2026-03-01T00:00:00Z","endTime":"2026-03-08T00:00:00Z","src":"198.51.100.4","dstWorkload":"shop/web","dstPort":8080,"protocol":"TCP","count":10}
{"time":"2026-03-01T00:00:00Z","endTime":"2026-03-08T00:00:00Z","srcWorkload":"shop/web","dstWorkload":"shop/api","dstPort":9000,"protocol":"TCP","count":10}
{"time":"2026-03-01T00:00:00Z","endTime":"2026-03-08T00:00:00Z","srcWorkload":"shop/web","dstWorkload":"kube-system/coredns","dstPort":53,"protocol":"UDP","count":10}
{"time":"2026-03-01T00:00:00Z","endTime":"2026-03-08T00:00:00Z","srcWorkload":"shop/web","dstWorkload":"kube-system/coredns","dstPort":53,"protocol":"TCP","count":1}
`

func netpolFiles(t *testing.T) (manifests, flowLog string) {
	t.Helper()
	dir := t.TempDir()
	manifests = filepath.Join(dir, "k8s.yaml")
	flowLog = filepath.Join(dir, "flows.jsonl")
	if err := os.WriteFile(manifests, []byte(netpolManifests), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(flowLog, []byte(netpolFlowLog), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifests, flowLog
}

func TestNetpolSuggestAndSimulate(t *testing.T) {
	manifests, flowLog := netpolFiles(t)
	code, out, stderr := run(t, "", "netpol", "suggest", "--manifests", manifests, "--flows", flowLog, "-n", "shop")
	if code != 0 {
		t.Fatalf("suggest: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"name: palisade-web-least-privilege", "name: palisade-api-least-privilege", "cidr: 198.51.100.4/32", "kubernetes.io/metadata.name: kube-system", "palisade.io/flow-sources: log:flows.jsonl"} {
		if !strings.Contains(out, want) {
			t.Errorf("suggest output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "0 of 4 used flows broken") {
		t.Errorf("stderr: %s", stderr)
	}

	// The suggestions, simulated as the complete set, break nothing.
	policies := filepath.Join(t.TempDir(), "policies.yaml")
	if err := os.WriteFile(policies, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = run(t, "", "netpol", "simulate", "--manifests", manifests, "--flows", flowLog, "--policies", policies, "--mode", "replace")
	if code != 0 || !strings.Contains(out, "4 checked: 4 allowed, 0 broken") {
		t.Fatalf("simulate: exit %d: %s%s", code, out, stderr)
	}

	// A policy cutting the API off breaks web -> api: exit 3 and the flow.
	deny := filepath.Join(t.TempDir(), "deny.yaml")
	if err := os.WriteFile(deny, []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: api-deny, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: api}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = run(t, "", "netpol", "simulate", "--manifests", manifests, "--flows", flowLog, "--policies", deny)
	if code != ExitFinding || !strings.Contains(out, "shop/Deployment/web -> shop/Deployment/api 9000/TCP") || strings.Contains(stderr, "palisade:") {
		t.Fatalf("simulate deny: exit %d: %s%s", code, out, stderr)
	}
	code, out, _ = run(t, "", "netpol", "simulate", "--manifests", manifests, "--flows", flowLog, "--policies", deny, "-o", "json")
	var rep struct {
		Mode   string `json:"mode"`
		Broken []struct {
			Verdict struct {
				Allowed bool `json:"allowed"`
			} `json:"verdict"`
		} `json:"broken"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != ExitFinding || rep.Mode != "add" || len(rep.Broken) != 1 || rep.Broken[0].Verdict.Allowed {
		t.Fatalf("simulate -o json: exit %d, %v, %+v\n%s", code, err, rep, out)
	}
}

func TestNetpolSuggestJSON(t *testing.T) {
	manifests, flowLog := netpolFiles(t)
	code, out, stderr := run(t, "", "netpol", "suggest", "--manifests", manifests, "--flows", flowLog, "--workload", "shop/web", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Cluster     string `json:"cluster"`
		Suggestions []struct {
			Workload struct{ Name string } `json:"workload"`
			Exact    bool                  `json:"exact"`
			Policy   struct {
				Kind string `json:"kind"`
			} `json:"policy"`
		} `json:"suggestions"`
		Simulation struct {
			Broken []json.RawMessage `json:"broken"`
			Flows  struct {
				Checked int `json:"checked"`
			} `json:"flows"`
		} `json:"simulation"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suggestions) != 1 || doc.Suggestions[0].Workload.Name != "web" || !doc.Suggestions[0].Exact || doc.Suggestions[0].Policy.Kind != "NetworkPolicy" {
		t.Errorf("suggestions: %+v", doc.Suggestions)
	}
	if doc.Simulation.Broken == nil || len(doc.Simulation.Broken) != 0 || doc.Simulation.Flows.Checked != 4 {
		t.Errorf("simulation: %+v", doc.Simulation)
	}
}

func TestNetpolErrors(t *testing.T) {
	manifests, flowLog := netpolFiles(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"netpol", "suggest", "--manifests", manifests}, "--flows FILE is required"},
		{[]string{"netpol", "suggest", "--manifests", manifests, "--flows", flowLog, "--mode", "merge"}, "--mode \"merge\""},
		{[]string{"netpol", "suggest", "--manifests", manifests, "--flows", flowLog, "-o", "table"}, "want yaml or json"},
		{[]string{"netpol", "suggest", "--manifests", manifests, "--flows", flowLog, "--workload", "shop/nope"}, "no such workload"},
		{[]string{"netpol", "suggest", "--manifests", manifests, "--flows", flowLog, "--workload", "shop/web", "-n", "shop"}, "exclude each other"},
		{[]string{"netpol", "simulate", "--manifests", manifests, "--flows", flowLog}, "--policies FILE is required"},
		{[]string{"netpol", "simulate", "--manifests", manifests, "--flows", flowLog, "--policies", manifests}, "holds no NetworkPolicy"},
		{[]string{"netpol", "suggest", "--manifests", "-", "--flows", "-"}, "can read stdin"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, "", tt.args...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
}
