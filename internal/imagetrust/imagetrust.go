// Package imagetrust answers question 1: where do our container images come
// from, and are they from trusted registries?
package imagetrust

import (
	"fmt"
	"strings"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// Verdicts for an image.
const (
	Trusted    = "trusted"
	Untrusted  = "untrusted"
	Unverified = "unverified"
	Invalid    = "invalid"
)

// Item is one container's image. Its JSON form is documented in
// docs/output.md.
type Item struct {
	Workload      model.WorkloadRef   `json:"workload"`
	Container     string              `json:"container"`
	ContainerType model.ContainerType `json:"containerType"`
	// Image is the normalised reference.
	Image      string `json:"image"`
	Original   string `json:"original"`
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	// Trusted is true only when a configured trusted registry matches.
	Trusted bool `json:"trusted"`
	// Verdict is trusted, untrusted, unverified (no trusted registries
	// configured) or invalid (the reference does not parse).
	Verdict string `json:"verdict"`
	// MatchedRule is the trusted-registry entry that matched.
	MatchedRule string `json:"matchedRule,omitempty"`
	// Pinned is true when the reference names a digest.
	Pinned bool `json:"pinned"`
	// RunningDigests are the digests the workload's pods report.
	RunningDigests []string `json:"runningDigests,omitempty"`
	Error          string   `json:"error,omitempty"`
}

// Policy decides which registries are trusted. An entry is a registry host
// ("ghcr.io") or a host plus repository prefix ("ghcr.io/acme"), matched on
// whole path segments.
type Policy struct {
	entries []string
}

// NewPolicy validates and normalises trusted-registry entries.
func NewPolicy(entries []string) (*Policy, error) {
	p := &Policy{}
	for _, e := range entries {
		n := strings.TrimSuffix(strings.TrimSpace(e), "/")
		if n == "" || strings.ContainsAny(n, " \t@") || strings.Contains(n, "//") || strings.Contains(n, "://") {
			return nil, fmt.Errorf("trusted registry %q: want a registry host or host/repository prefix such as ghcr.io/acme", e)
		}
		first, _, _ := strings.Cut(n, "/")
		switch {
		case n == "docker.io" || n == "index.docker.io":
			n = "docker.io"
		case strings.HasPrefix(n, "index.docker.io/"):
			n = "docker.io/" + strings.TrimPrefix(n, "index.docker.io/")
		case !strings.ContainsAny(first, ".:") && first != "localhost":
			// Like an image reference, a first segment that is not a
			// host names a Docker Hub path: "bitnami" is docker.io/bitnami.
			n = "docker.io/" + n
		}
		p.entries = append(p.entries, n)
	}
	return p, nil
}

// Configured reports whether any trusted registry is configured.
func (p *Policy) Configured() bool { return p != nil && len(p.entries) > 0 }

// Match returns the entry that trusts ref, or "".
func (p *Policy) Match(ref model.ImageRef) string {
	if p == nil || ref.Error != "" {
		return ""
	}
	full := ref.Name()
	for _, e := range p.entries {
		if full == e || strings.HasPrefix(full, e+"/") {
			return e
		}
		// "docker.io/nginx" names the official image docker.io/library/nginx.
		if strings.HasPrefix(e, "docker.io/") && !strings.Contains(strings.TrimPrefix(e, "docker.io/"), "/") {
			lib := "docker.io/library/" + strings.TrimPrefix(e, "docker.io/")
			if full == lib || strings.HasPrefix(full, lib+"/") {
				return e
			}
		}
	}
	return ""
}

// Answer lists every container's image across the index's workloads.
func Answer(ix *inventory.Index, p *Policy) []Item {
	var out []Item
	for _, w := range ix.Workloads() {
		for _, c := range w.Template.Containers {
			out = append(out, item(ix, w, c, p))
		}
	}
	return out
}

func item(ix *inventory.Index, w *model.Workload, c model.Container, p *Policy) Item {
	ref := c.Image
	it := Item{
		Workload:       w.Ref(),
		Container:      c.Name,
		ContainerType:  c.Type,
		Image:          ref.String(),
		Original:       ref.Original,
		Registry:       ref.Registry,
		Repository:     ref.Repository,
		Tag:            ref.Tag,
		Digest:         ref.Digest,
		Pinned:         ref.Digest != "",
		RunningDigests: ix.RunningDigests(w.Ref(), c.Name),
		Error:          ref.Error,
	}
	switch {
	case ref.Error != "":
		it.Verdict = Invalid
	case !p.Configured():
		it.Verdict = Unverified
	default:
		if m := p.Match(ref); m != "" {
			it.Trusted, it.Verdict, it.MatchedRule = true, Trusted, m
		} else {
			it.Verdict = Untrusted
		}
	}
	return it
}
