package kubemodel

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
)

func TestParseImage(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in   string
		want model.ImageRef
	}{
		{"nginx", model.ImageRef{Registry: "docker.io", Repository: "library/nginx", Tag: "latest"}},
		{"nginx:1.27", model.ImageRef{Registry: "docker.io", Repository: "library/nginx", Tag: "1.27"}},
		{"docker.io/nginx", model.ImageRef{Registry: "docker.io", Repository: "library/nginx", Tag: "latest"}},
		{"index.docker.io/bitnami/redis:7", model.ImageRef{Registry: "docker.io", Repository: "bitnami/redis", Tag: "7"}},
		{"ghcr.io/acme/api:v1", model.ImageRef{Registry: "ghcr.io", Repository: "acme/api", Tag: "v1"}},
		{"localhost:5000/app", model.ImageRef{Registry: "localhost:5000", Repository: "app", Tag: "latest"}},
		{"registry.k8s.io/pause:3.9@" + d, model.ImageRef{Registry: "registry.k8s.io", Repository: "pause", Tag: "3.9", Digest: d}},
		{"gcr.io/distroless/static@" + d, model.ImageRef{Registry: "gcr.io", Repository: "distroless/static", Digest: d}},
		{"myregistry:443/team/app:2.0", model.ImageRef{Registry: "myregistry:443", Repository: "team/app", Tag: "2.0"}},
		{"", model.ImageRef{Error: "empty image reference"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := ParseImage(tt.in)
			tt.want.Original = tt.in
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseImage(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseImageErrors(t *testing.T) {
	for _, in := range []string{"UPPER/case", "nginx@sha256:short", "nginx:bad tag", "a//b"} {
		if got := ParseImage(in); got.Error == "" {
			t.Errorf("ParseImage(%q) = %+v, want an error", in, got)
		}
	}
}

func TestDigestFromImageID(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := map[string]string{
		"docker-pullable://nginx@" + d: d,
		"docker.io/library/nginx@" + d: d,
		d:                              "",
		"":                             "",
	}
	for in, want := range tests {
		if got := DigestFromImageID(in); got != want {
			t.Errorf("DigestFromImageID(%q) = %q, want %q", in, got, want)
		}
	}
}
