package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
)

func keys(s *model.Snapshot) []string {
	var out []string
	for _, o := range s.Objects() {
		out = append(out, o.ObjectKey().String())
	}
	return out
}

func TestLoadValid(t *testing.T) {
	res, err := Load(t.Context(), []string{"testdata/valid"}, Options{Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("unexpected errors: %v", res.Errors)
	}
	want := []string{
		"c1/Pod/default/web-7d4b9c-abcde",
		"c1/Deployment/default/web",
		"c1/Deployment/shop/api",
		"c1/CronJob/default/tick",
		"c1/Service/shop/api",
		"c1/Ingress/default/old",
	}
	if diff := cmp.Diff(want, keys(&res.Snapshot)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if res.Ignored["ConfigMap"] != 1 {
		t.Errorf("Ignored = %v, want one ConfigMap", res.Ignored)
	}
	in := res.Snapshot.Ingresses[0]
	if got := in.Rules[0].Paths[0].Backend; got.Service != "web" || got.Port != "80" {
		t.Errorf("v1beta1 ingress backend = %+v, want web:80", got)
	}
	var pod *model.Workload
	for _, w := range res.Snapshot.Workloads {
		if w.Kind == model.KindPod {
			pod = w
		}
	}
	if pod.Owner == nil || pod.Owner.Name != "web-7d4b9c" || pod.Status == nil || pod.Status.Containers[0].Digest == "" {
		t.Errorf("pod owner/status not kept: %+v %+v", pod.Owner, pod.Status)
	}
	if !strings.HasSuffix(pod.Source, "kubectl-get.yaml#1") {
		t.Errorf("Source = %q", pod.Source)
	}
}

func TestLoadInvalidKeepsGoing(t *testing.T) {
	res, err := Load(t.Context(), []string{"testdata/invalid"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"default/Service/default/good", "default/Namespace/after-errors"}
	if diff := cmp.Diff(want, keys(&res.Snapshot)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	var got []string
	for _, e := range res.Errors {
		got = append(got, fmt.Sprintf("%s#%d", filepath.Base(e.File), e.Doc))
	}
	wantErrs := []string{"broken.yaml#2", "broken.yaml#3", "broken.yaml#4", "template.yaml#1"}
	if diff := cmp.Diff(wantErrs, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, res.Errors)
	}
	for _, e := range res.Errors {
		if !strings.Contains(e.Error(), e.File) {
			t.Errorf("error %q does not name its file", e)
		}
	}
}

func TestLoadStdin(t *testing.T) {
	in := strings.NewReader("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")
	res, err := Load(t.Context(), []string{"-"}, Options{Stdin: in})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Snapshot.Namespaces) != 2 || len(res.Errors) != 0 {
		t.Fatalf("got %d namespaces, errors %v", len(res.Snapshot.Namespaces), res.Errors)
	}
}

func TestLoadBounds(t *testing.T) {
	dir := t.TempDir()
	big := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: big\n  annotations:\n    a: \"" + strings.Repeat("x", 2000) + "\"\n"
	small := "apiVersion: v1\nkind: Namespace\nmetadata: {name: small}\n"
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(big+"---\n"+small), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		opts      Options
		wantNames int
	}{
		{"document too large, next still read", Options{MaxDocumentBytes: 1000}, 1},
		{"file too large", Options{MaxFileBytes: 500}, 0},
		{"too many documents", Options{MaxDocuments: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Load(t.Context(), []string{dir}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Errors) == 0 || !errors.Is(res.Errors[0], ErrLimit) {
				t.Fatalf("errors = %v, want ErrLimit", res.Errors)
			}
			if got := len(res.Snapshot.Namespaces); got != tt.wantNames {
				t.Errorf("loaded %d namespaces, want %d", got, tt.wantNames)
			}
		})
	}
}

func TestLoadMissingPath(t *testing.T) {
	res, err := Load(t.Context(), []string{"testdata/does-not-exist"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || !errors.Is(res.Errors[0], os.ErrNotExist) {
		t.Fatalf("errors = %v, want one not-exist error", res.Errors)
	}
}

func TestLoadYAMLBomb(t *testing.T) {
	// Billion laughs: aliases expanding exponentially must be rejected, not
	// expanded.
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	res, err := Load(t.Context(), []string{"-"}, Options{Stdin: strings.NewReader(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 {
		t.Fatalf("errors = %v, want the bomb rejected", res.Errors)
	}
}

func TestLoadDuplicatesAndTemplates(t *testing.T) {
	in := strings.NewReader(`apiVersion: v1
kind: Service
metadata: {name: a, labels: {v: "1"}}
---
apiVersion: v1
kind: Pod
metadata: {name: "vttablet-{{uid}}"}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Service
metadata: {name: a, labels: {v: "2"}}
`)
	res, err := Load(t.Context(), []string{"-"}, Options{Stdin: in})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Snapshot.Services) != 1 || res.Snapshot.Services[0].Labels["v"] != "2" {
		t.Errorf("services = %+v, want the later definition only", res.Snapshot.Services)
	}
	if len(res.Duplicates) != 1 || !strings.Contains(res.Duplicates[0], "<stdin>#1") {
		t.Errorf("Duplicates = %v", res.Duplicates)
	}
	if len(res.Errors) != 1 || res.Errors[0].Doc != 2 || !strings.Contains(res.Errors[0].Error(), "unrendered template") {
		t.Errorf("Errors = %v, want the template rejected", res.Errors)
	}
}

func TestLoadLargeList(t *testing.T) {
	// kubectl get -o yaml of a busy cluster is one List document far larger
	// than the per-document cap; each item is capped instead.
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: ns-%d\n    annotations: {pad: %q}\n", i, strings.Repeat("x", 300))
	}
	fmt.Fprintf(&b, "- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: huge\n    annotations: {pad: %q}\n", strings.Repeat("y", 5000))
	b.WriteString("metadata:\n  resourceVersion: \"\"\n")
	res, err := Load(t.Context(), []string{"-"}, Options{Stdin: strings.NewReader(b.String()), MaxDocumentBytes: 4000})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Snapshot.Namespaces); got != 3000 {
		t.Errorf("loaded %d namespaces, want 3000", got)
	}
	if len(res.Errors) != 1 || !errors.Is(res.Errors[0], ErrLimit) || !strings.Contains(res.Errors[0].Error(), "item 3000") {
		t.Errorf("errors = %v, want the oversized item 3000 rejected", res.Errors)
	}
}
