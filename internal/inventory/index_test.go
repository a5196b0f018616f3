package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
)

func wl(kind model.Kind, ns, name string, owner *model.OwnerRef, labels map[string]string) *model.Workload {
	return &model.Workload{
		Meta:     model.Meta{Cluster: "c", Namespace: ns, Name: name},
		Kind:     kind,
		Owner:    owner,
		Template: model.PodTemplate{Labels: labels, Containers: []model.Container{{Name: "app"}}},
	}
}

func pod(name string, owner *model.OwnerRef, labels map[string]string, digest string) *model.Workload {
	p := wl(model.KindPod, "ns", name, owner, labels)
	p.Status = &model.PodStatus{Containers: []model.ContainerStatus{{Name: "app", Digest: digest}}}
	return p
}

func TestRollUp(t *testing.T) {
	snap := &model.Snapshot{Workloads: []*model.Workload{
		wl(model.KindDeployment, "ns", "web", nil, nil),
		wl(model.KindReplicaSet, "ns", "web-abc", &model.OwnerRef{Kind: "Deployment", Name: "web"}, nil),
		pod("web-abc-1", &model.OwnerRef{Kind: "ReplicaSet", Name: "web-abc"}, nil, "sha256:1"),
		pod("web-abc-2", &model.OwnerRef{Kind: "ReplicaSet", Name: "web-abc"}, nil, "sha256:2"),
		// ReplicaSet missing from the input: found through pod-template-hash.
		pod("web-def-1", &model.OwnerRef{Kind: "ReplicaSet", Name: "web-def"}, map[string]string{"pod-template-hash": "def"}, "sha256:1"),
		wl(model.KindCronJob, "ns", "nightly", nil, nil),
		wl(model.KindJob, "ns", "nightly-123", &model.OwnerRef{Kind: "CronJob", Name: "nightly"}, nil),
		pod("nightly-123-x", &model.OwnerRef{Kind: "Job", Name: "nightly-123"}, nil, ""),
		wl(model.KindReplicaSet, "ns", "lonely-rs", nil, nil),
		wl(model.KindJob, "ns", "one-off", nil, nil),
		pod("bare", nil, nil, "sha256:9"),
		// Owner not in the inventory: two pods stand in for one StatefulSet.
		pod("db-0", &model.OwnerRef{Kind: "StatefulSet", Name: "db"}, nil, ""),
		pod("db-1", &model.OwnerRef{Kind: "StatefulSet", Name: "db"}, nil, ""),
		// Mirror pod owned by a Node: its own workload.
		pod("kube-proxy-node1", &model.OwnerRef{Kind: "Node", Name: "node1"}, nil, ""),
	}}
	ix := New(snap)
	var got []string
	for _, w := range ix.Workloads() {
		got = append(got, w.Ref().String())
	}
	want := []string{
		"CronJob/ns/nightly", "Deployment/ns/web", "Job/ns/one-off",
		"Pod/ns/bare", "Pod/ns/kube-proxy-node1", "ReplicaSet/ns/lonely-rs", "StatefulSet/ns/db",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("workloads (-want +got):\n%s", diff)
	}
	web := model.WorkloadRef{Cluster: "c", Kind: model.KindDeployment, Namespace: "ns", Name: "web"}
	if n := len(ix.Pods(web)); n != 3 {
		t.Errorf("web has %d pods, want 3", n)
	}
	if diff := cmp.Diff([]string{"sha256:1", "sha256:2"}, ix.RunningDigests(web, "app")); diff != "" {
		t.Errorf("running digests (-want +got):\n%s", diff)
	}
	if n := len(ix.Pods(model.WorkloadRef{Cluster: "c", Kind: model.KindCronJob, Namespace: "ns", Name: "nightly"})); n != 1 {
		t.Errorf("cronjob has %d pods, want 1", n)
	}
	if n := len(ix.Pods(model.WorkloadRef{Cluster: "c", Kind: model.KindStatefulSet, Namespace: "ns", Name: "db"})); n != 2 {
		t.Errorf("stand-in statefulset has %d pods, want 2", n)
	}
}

func TestOwnerCycleTerminates(t *testing.T) {
	snap := &model.Snapshot{Workloads: []*model.Workload{
		wl(model.KindReplicaSet, "ns", "a", &model.OwnerRef{Kind: "ReplicaSet", Name: "b"}, nil),
		wl(model.KindReplicaSet, "ns", "b", &model.OwnerRef{Kind: "ReplicaSet", Name: "a"}, nil),
	}}
	New(snap) // must return
}

func TestSelected(t *testing.T) {
	snap := &model.Snapshot{Workloads: []*model.Workload{
		wl(model.KindDeployment, "a", "web", nil, map[string]string{"app": "web", "tier": "1"}),
		wl(model.KindDeployment, "b", "web", nil, map[string]string{"app": "web"}),
	}}
	ix := New(snap)
	if got := ix.Selected("c", "a", map[string]string{"app": "web"}); len(got) != 1 || got[0].Namespace != "a" {
		t.Errorf("Selected = %v", got)
	}
	if got := ix.Selected("c", "a", nil); got != nil {
		t.Errorf("empty selector selected %v", got)
	}
}
