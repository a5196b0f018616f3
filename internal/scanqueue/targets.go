package scanqueue

import (
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// Target is one running image digest and the places it can be pulled from.
type Target struct {
	Digest string
	// Sources are the pull references of every container running the
	// digest, tried in order until one works.
	Sources []Source
}

// Source is one way to pull an image: a reference by digest and the pod
// credentials the kubelet would use for it.
type Source struct {
	// Ref is registry/repository@digest.
	Ref            string
	Cluster        string
	Namespace      string
	ServiceAccount string
	PullSecrets    []string
}

// maxSources bounds the pull references kept per digest: one image run by
// thousands of pods needs only a few distinct ways to be pulled.
const maxSources = 8

// Targets lists the digests the pods of ix report running, sorted, each
// with where it can be pulled from: the repository of the container's spec
// image, or of the status image ID when that names one, by digest.
func Targets(ix *inventory.Index) []Target {
	byDigest := map[string]*Target{}
	var order []string
	for _, w := range ix.Workloads() {
		for _, p := range ix.Pods(w.Ref()) {
			if p.Status == nil {
				continue
			}
			for _, cs := range p.Status.Containers {
				if cs.Digest == "" {
					continue
				}
				t := byDigest[cs.Digest]
				if t == nil {
					t = &Target{Digest: cs.Digest}
					byDigest[cs.Digest] = t
					order = append(order, cs.Digest)
				}
				for _, repo := range repositories(p, cs) {
					if len(t.Sources) >= maxSources {
						break
					}
					src := Source{
						Ref:            repo + "@" + cs.Digest,
						Cluster:        p.Cluster,
						Namespace:      p.Namespace,
						ServiceAccount: p.Template.ServiceAccount,
						PullSecrets:    p.Template.ImagePullSecrets,
					}
					if !slices.ContainsFunc(t.Sources, func(s Source) bool { return sameSource(s, src) }) {
						t.Sources = append(t.Sources, src)
					}
				}
			}
		}
	}
	slices.Sort(order)
	out := make([]Target, len(order))
	for i, d := range order {
		out[i] = *byDigest[d]
	}
	return out
}

func sameSource(a, b Source) bool {
	return a.Ref == b.Ref && a.Cluster == b.Cluster && a.Namespace == b.Namespace &&
		a.ServiceAccount == b.ServiceAccount && slices.Equal(a.PullSecrets, b.PullSecrets)
}

// repositories returns the repositories a container's running image can be
// pulled from: the spec's, then the status image ID's when it differs.
func repositories(p *model.Workload, cs model.ContainerStatus) []string {
	var out []string
	add := func(s string) {
		if repo, err := name.NewRepository(s); err == nil && !slices.Contains(out, repo.Name()) {
			out = append(out, repo.Name())
		}
	}
	for _, c := range p.Template.Containers {
		if c.Name == cs.Name && c.Image.Error == "" && c.Image.Repository != "" {
			add(c.Image.Name())
			break
		}
	}
	// containerd reports "docker.io/library/nginx@sha256:…", docker
	// "docker-pullable://nginx@sha256:…".
	if base, _, ok := strings.Cut(strings.TrimPrefix(cs.ImageID, "docker-pullable://"), "@"); ok {
		add(base)
	}
	return out
}
