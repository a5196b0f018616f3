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
	// match holds, per entry, the prefixes Match tests, precomputed so
	// that matching thirty thousand images allocates nothing.
	match []entryMatch
}

type entryMatch struct {
	entry, prefix string
	// lib and libPrefix are set for a "docker.io/NAME" entry, which also
	// names the official image docker.io/library/NAME.
	lib, libPrefix string
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
		m := entryMatch{entry: n, prefix: n + "/"}
		if rest, ok := strings.CutPrefix(n, "docker.io/"); ok && !strings.Contains(rest, "/") {
			m.lib = "docker.io/library/" + rest
			m.libPrefix = m.lib + "/"
		}
		p.match = append(p.match, m)
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
	return p.matchName(ref.Name())
}

// matchName is Match for a valid reference's name (registry/repository).
func (p *Policy) matchName(full string) string {
	for _, m := range p.match {
		if full == m.entry || strings.HasPrefix(full, m.prefix) {
			return m.entry
		}
		// "docker.io/nginx" names the official image docker.io/library/nginx.
		if m.lib != "" && (full == m.lib || strings.HasPrefix(full, m.libPrefix)) {
			return m.entry
		}
	}
	return ""
}

// Answer lists every container's image across the index's workloads.
func Answer(ix *inventory.Index, p *Policy) []Item {
	return AnswerWorkloads(ix, ix.Workloads(), p)
}

// AnswerWorkloads lists every container's image across ws, top-level
// workloads of ix, in the order of ws. Answer over a subset of the index
// costs only that subset.
func AnswerWorkloads(ix *inventory.Index, ws []*model.Workload, p *Policy) []Item {
	n := 0
	for _, w := range ws {
		n += len(w.Template.Containers)
	}
	if n == 0 {
		return nil
	}
	out := make([]Item, 0, n)
	for _, w := range ws {
		ref := w.Ref()
		for i := range w.Template.Containers {
			out = append(out, item(ix, ref, &w.Template.Containers[i], p))
		}
	}
	return out
}

func item(ix *inventory.Index, w model.WorkloadRef, c *model.Container, p *Policy) Item {
	ref := c.Image
	it := Item{
		Workload:       w,
		Container:      c.Name,
		ContainerType:  c.Type,
		Image:          ref.String(),
		Original:       ref.Original,
		Registry:       ref.Registry,
		Repository:     ref.Repository,
		Tag:            ref.Tag,
		Digest:         ref.Digest,
		Pinned:         ref.Digest != "",
		RunningDigests: ix.RunningDigests(w, c.Name),
		Error:          ref.Error,
	}
	switch {
	case ref.Error != "":
		it.Verdict = Invalid
	case !p.Configured():
		it.Verdict = Unverified
	default:
		// A valid reference's string starts with its name: match on that
		// rather than building the name again.
		if m := p.matchName(it.Image[:nameLen(ref)]); m != "" {
			it.Trusted, it.Verdict, it.MatchedRule = true, Trusted, m
		} else {
			it.Verdict = Untrusted
		}
	}
	return it
}

// nameLen is len(ref.Name()) for a valid reference, the length of the
// prefix of ref.String() that is its name.
func nameLen(ref model.ImageRef) int {
	if ref.Registry == "" {
		return len(ref.Repository)
	}
	return len(ref.Registry) + 1 + len(ref.Repository)
}
