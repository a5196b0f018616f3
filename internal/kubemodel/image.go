package kubemodel

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/palisade-project/palisade/internal/model"
)

// ParseImage parses an image reference as the container runtime would and
// normalises it: "nginx" is docker.io/library/nginx:latest. A reference that
// does not parse keeps its original text and carries the error.
func ParseImage(ref string) model.ImageRef {
	out := model.ImageRef{Original: ref}
	if strings.TrimSpace(ref) == "" {
		out.Error = "empty image reference"
		return out
	}
	base, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest {
		if _, err := name.NewDigest("example.invalid/x@"+digest, name.StrictValidation); err != nil {
			out.Error = "invalid digest: " + err.Error()
			return out
		}
		out.Digest = digest
	}
	// A tag follows the last colon that comes after the last slash; a colon
	// before a slash is a registry port.
	if i := strings.LastIndexByte(base, ':'); i > strings.LastIndexByte(base, '/') {
		out.Tag = base[i+1:]
		base = base[:i]
		if _, err := name.NewTag("example.invalid/x:"+out.Tag, name.StrictValidation); err != nil {
			out.Error = "invalid tag: " + err.Error()
			return out
		}
	}
	if strings.Contains(base, "//") || strings.HasSuffix(base, "/") {
		out.Error = "invalid repository: empty path component"
		return out
	}
	repo, err := name.NewRepository(base)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Registry = repo.RegistryStr()
	if out.Registry == name.DefaultRegistry {
		out.Registry = "docker.io"
	}
	out.Repository = repo.RepositoryStr()
	if out.Tag == "" && out.Digest == "" {
		out.Tag = "latest"
	}
	return out
}

// DigestFromImageID extracts the manifest digest from a container status
// imageID such as "docker-pullable://nginx@sha256:…" or
// "docker.io/library/nginx@sha256:…". A bare "sha256:…" is the runtime's
// local image ID, not a registry digest, and yields "".
func DigestFromImageID(imageID string) string {
	_, d, ok := strings.Cut(imageID, "@")
	if !ok || !strings.HasPrefix(d, "sha256:") {
		return ""
	}
	return d
}
