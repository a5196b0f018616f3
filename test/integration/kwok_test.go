//go:build integration

package integration

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/testenv"
)

// TestDeploymentPodsRunOnFakeNodes runs the whole pipeline a real cluster
// has: kube-controller-manager creates the ReplicaSet and pods of a
// Deployment, kube-scheduler places them on kwok's fake nodes, kwok runs
// them. The inventory must roll the pods up to the Deployment and record
// their running containers.
func TestDeploymentPodsRunOnFakeNodes(t *testing.T) {
	t.Parallel()
	cp := testenv.StartT(t, testenv.Options{Cluster: true})
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())

	for i := range 2 {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("kwok-node-%d", i),
				Annotations: map[string]string{testenv.FakeNodeAnnotation: "fake"},
				Labels:      map[string]string{"type": "kwok"},
			},
			Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110"),
			}},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "shop"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l := startLive(t, cp.RestConfig(), nil)

	d := deployment("shop", "cart", "nginx:1.27")
	two := int32(2)
	d.Spec.Replicas = &two
	if _, err := cs.AppsV1().Deployments("shop").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "kwok runs the Deployment's pods", func() (bool, string) {
		pods, err := cs.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				running++
			}
		}
		return running == 2, fmt.Sprintf("%d of %d pods running with an IP", running, len(pods.Items))
	})

	ref := model.WorkloadRef{Cluster: cluster, Kind: model.KindDeployment, Namespace: "shop", Name: "cart"}
	eventually(t, 30*time.Second, "inventory rolls the running pods up to the Deployment", func() (bool, string) {
		ix, _ := l.state.Index()
		var top []string
		for _, w := range ix.WorkloadsInNamespace(cluster, "shop") {
			top = append(top, w.Ref().String())
		}
		if len(top) != 1 || top[0] != ref.String() {
			return false, fmt.Sprintf("top-level workloads %v, want only %s", top, ref)
		}
		pods := ix.Pods(ref)
		if len(pods) != 2 {
			return false, fmt.Sprintf("%d pods roll up to %s, want 2", len(pods), ref)
		}
		for _, p := range pods {
			st := p.Status
			if st == nil || st.Phase != "Running" || st.PodIP == "" || st.NodeName == "" || len(st.Containers) != 1 {
				return false, fmt.Sprintf("pod %s status %+v, want Running on a node with an IP and one container", p.Name, st)
			}
			if c := st.Containers[0]; c.Name != "cart" || !c.Running || !c.Ready || c.Image != "nginx:1.27" {
				return false, fmt.Sprintf("pod %s container status %+v, want cart running and ready", p.Name, c)
			}
		}
		return true, ""
	})
	waitInSync(t, cs, l, scope{namespace: "shop"}, true, "inventory matches the API server")
}
