//go:build integration

package netpolgen

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/testenv"
)

// TestAPIServerAccepts creates the suggested policies, as their YAML
// reads back, in a real kube-apiserver: it accepts every one and stores
// it as written (no field defaulted or dropped).
func TestAPIServerAccepts(t *testing.T) {
	cp := testenv.StartT(t, testenv.Options{})
	cs, err := kubernetes.NewForConfig(cp.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ix := shopIndex(t)
	res, err := Generate(ctx, ix, set(shopFlows...), Options{MaxAddresses: 1})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := res.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(b.Bytes(), []byte("\n---\n"))[1:]
	if len(docs) != len(res.Suggestions) {
		t.Fatalf("%d documents for %d suggestions", len(docs), len(res.Suggestions))
	}
	made := map[string]bool{"default": true}
	for i, doc := range docs {
		var np networkingv1.NetworkPolicy
		if err := yaml.UnmarshalStrict(doc, &np); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if !made[np.Namespace] {
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: np.Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			made[np.Namespace] = true
		}
		got, err := cs.NetworkingV1().NetworkPolicies(np.Namespace).Create(ctx, &np, metav1.CreateOptions{FieldValidation: "Strict"})
		if err != nil {
			t.Fatalf("%s: the API server refuses it: %v\n%s", res.Suggestions[i].Workload, err, doc)
		}
		if diff := cmp.Diff(np.Spec, got.Spec); diff != "" {
			t.Errorf("%s stored differently (-sent +stored):\n%s", np.Name, diff)
		}
		if diff := cmp.Diff(np.ObjectMeta, got.ObjectMeta, cmpopts.IgnoreFields(metav1.ObjectMeta{}, "UID", "ResourceVersion", "Generation", "CreationTimestamp", "ManagedFields")); diff != "" {
			t.Errorf("%s metadata stored differently (-sent +stored):\n%s", np.Name, diff)
		}
	}
}
