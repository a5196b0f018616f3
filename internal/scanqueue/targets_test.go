package scanqueue

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

func TestTargets(t *testing.T) {
	d1, d2 := "sha256:"+fmt.Sprintf("%064d", 1), "sha256:"+fmt.Sprintf("%064d", 2)
	web := pod("prod", "shop", "web", "nginx:1.25", d1)
	web.Template.ServiceAccount = "web"
	web.Template.ImagePullSecrets = []string{"regcred"}
	// The runtime names a mirror in the image ID: both are tried.
	web.Status.Containers[0].ImageID = "docker-pullable://mirror.example.com/library/nginx@" + d1
	same := pod("staging", "shop", "web", "nginx:1.25", d1)
	same.Status.Containers[0].ImageID = "sha256:" + fmt.Sprintf("%064d", 9) // a local image ID names no repository
	other := pod("prod", "ops", "tool", "ghcr.io/acme/tool@"+d2, d2)
	notRunning := pod("prod", "ops", "pending", "ghcr.io/acme/pending:1", "")
	notRunning.Status.Containers[0].Digest = ""

	snap := &model.Snapshot{}
	for _, p := range []*model.Workload{web, same, other, notRunning} {
		snap.Add(p)
	}
	got := Targets(inventory.New(snap))
	want := []Target{
		{Digest: d1, Sources: []Source{
			{Ref: "index.docker.io/library/nginx@" + d1, Cluster: "prod", Namespace: "shop", ServiceAccount: "web", PullSecrets: []string{"regcred"}},
			{Ref: "mirror.example.com/library/nginx@" + d1, Cluster: "prod", Namespace: "shop", ServiceAccount: "web", PullSecrets: []string{"regcred"}},
			{Ref: "index.docker.io/library/nginx@" + d1, Cluster: "staging", Namespace: "shop"},
		}},
		{Digest: d2, Sources: []Source{{Ref: "ghcr.io/acme/tool@" + d2, Cluster: "prod", Namespace: "ops"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Targets (-want +got):\n%s", diff)
	}
}
