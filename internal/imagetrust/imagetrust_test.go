package imagetrust

import (
	"testing"

	"github.com/palisade-project/palisade/internal/kubemodel"
)

func TestPolicyMatch(t *testing.T) {
	tests := []struct {
		entries []string
		image   string
		want    string
	}{
		{[]string{"ghcr.io/acme"}, "ghcr.io/acme/api:1", "ghcr.io/acme"},
		{[]string{"ghcr.io/acme"}, "ghcr.io/acme-evil/api:1", ""},
		{[]string{"ghcr.io/acme"}, "ghcr.io/acme", "ghcr.io/acme"},
		{[]string{"ghcr.io/acme/"}, "ghcr.io/acme/team/api", "ghcr.io/acme"},
		{[]string{"ghcr.io"}, "ghcr.io/anyone/x", "ghcr.io"},
		{[]string{"ghcr.io"}, "ghcr.io.evil.com/x", ""},
		{[]string{"docker.io"}, "nginx", "docker.io"},
		{[]string{"index.docker.io"}, "nginx", "docker.io"},
		{[]string{"docker.io/library"}, "nginx:1.27", "docker.io/library"},
		{[]string{"docker.io/library"}, "bitnami/nginx", ""},
		{[]string{"docker.io/nginx"}, "nginx", "docker.io/nginx"},
		{[]string{"localhost:5000"}, "localhost:5000/app", "localhost:5000"},
		{[]string{"localhost:5000"}, "localhost:5001/app", ""},
		{[]string{"quay.io", "ghcr.io/acme"}, "ghcr.io/acme/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "ghcr.io/acme"},
		{[]string{"ghcr.io"}, "Invalid/Upper", ""},
		{[]string{"openpolicyagent/"}, "openpolicyagent/opa:0.9.2", "docker.io/openpolicyagent"},
		{[]string{"bitnami"}, "docker.io/bitnami/redis", "docker.io/bitnami"},
		{[]string{"bitnami"}, "bitnami-evil/redis", ""},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			p, err := NewPolicy(tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(kubemodel.ParseImage(tt.image)); got != tt.want {
				t.Errorf("Match(%v, %q) = %q, want %q", tt.entries, tt.image, got, tt.want)
			}
		})
	}
}

func TestNewPolicyRejects(t *testing.T) {
	for _, e := range []string{"", "https://ghcr.io", "ghcr.io//x", "ghcr.io/x@sha256:1", "a b"} {
		if _, err := NewPolicy([]string{e}); err == nil {
			t.Errorf("NewPolicy(%q) accepted", e)
		}
	}
}
