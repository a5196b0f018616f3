//go:build integration

package testenv_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/palisade-project/palisade/internal/testenv"
)

func TestStartAndRestartAPIServer(t *testing.T) {
	cp := testenv.StartT(t, testenv.Options{})
	cs := kubernetes.NewForConfigOrDie(cp.RestConfig())
	ns := func() {
		t.Helper()
		if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "default", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ns()
	if err := cp.RestartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	ns()
}
