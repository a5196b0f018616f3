package imagefs

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DefaultMaxIndexManifests bounds the entries of an image index when
// opening an image. Real multi-platform indexes have a few dozen.
const DefaultMaxIndexManifests = 1000

// ErrNotFound is wrapped when the requested image is not in the source.
var ErrNotFound = errors.New("image not found")

// OpenOption changes how an image is opened.
type OpenOption func(*openOptions)

type openOptions struct {
	platform   v1.Platform
	maxEntries int
}

// WithPlatform selects the image of an index by platform (default
// linux/amd64).
func WithPlatform(p v1.Platform) OpenOption {
	return func(o *openOptions) { o.platform = p }
}

// WithMaxIndexManifests bounds the entries of an image index (default
// DefaultMaxIndexManifests).
func WithMaxIndexManifests(n int) OpenOption {
	return func(o *openOptions) { o.maxEntries = n }
}

func newOpenOptions(opts []OpenOption) openOptions {
	o := openOptions{platform: v1.Platform{OS: "linux", Architecture: "amd64"}}
	for _, f := range opts {
		f(&o)
	}
	if o.maxEntries <= 0 {
		o.maxEntries = DefaultMaxIndexManifests
	}
	return o
}

// OpenLayout opens the image with the given manifest or index digest in an
// OCI layout directory. With an empty digest the layout must hold exactly
// one entry. An index is resolved to the image for the platform.
func OpenLayout(dir, digest string, opts ...OpenOption) (v1.Image, error) {
	o := newOpenOptions(opts)
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("opening OCI layout %s (a directory with index.json and blobs/): %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	im, err := checkedIndexManifest(idx, o, "OCI layout "+dir)
	if err != nil {
		return nil, err
	}
	var desc *v1.Descriptor
	if digest == "" {
		if len(im.Manifests) != 1 {
			return nil, fmt.Errorf("OCI layout %s has %d entries; give the image digest: %w", dir, len(im.Manifests), ErrNotFound)
		}
		desc = &im.Manifests[0]
	} else {
		h, err := v1.NewHash(digest)
		if err != nil {
			return nil, fmt.Errorf("image digest %q: %w", digest, err)
		}
		for i := range im.Manifests {
			if im.Manifests[i].Digest == h {
				desc = &im.Manifests[i]
				break
			}
		}
		if desc == nil {
			return nil, fmt.Errorf("OCI layout %s has no entry %s: %w", dir, digest, ErrNotFound)
		}
	}
	if desc.MediaType.IsIndex() {
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading index %s in OCI layout %s: %w", desc.Digest, dir, err)
		}
		return imageForPlatform(child, o, "index "+desc.Digest.String())
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s in OCI layout %s: %w", desc.Digest, dir, err)
	}
	return img, nil
}

// OpenTarball opens a docker-archive tarball (docker save) holding one
// image.
func OpenTarball(path string) (v1.Image, error) {
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		return nil, fmt.Errorf("opening image tarball %s (docker save output with one image): %w", path, err)
	}
	return img, nil
}

// OpenRemote pulls the manifest of ref (a tag or, preferably, a digest) from
// its registry with credentials from keychain (nil for anonymous access).
// Layers are fetched lazily, when walked. An index is resolved to the image
// for the platform.
func OpenRemote(ctx context.Context, ref string, keychain authn.Keychain, opts ...OpenOption) (v1.Image, error) {
	o := newOpenOptions(opts)
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(o.platform)}
	if keychain != nil {
		ropts = append(ropts, remote.WithAuthFromKeychain(keychain))
	} else {
		ropts = append(ropts, remote.WithAuth(authn.Anonymous))
	}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("fetching %s (check the reference and the registry credentials): %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("reading index %s: %w", ref, err)
		}
		return imageForPlatform(idx, o, ref)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", ref, err)
	}
	return img, nil
}

func checkedIndexManifest(idx v1.ImageIndex, o openOptions, what string) (*v1.IndexManifest, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(im.Manifests) > o.maxEntries {
		return nil, fmt.Errorf("%s has %d entries, more than the limit of %d: %w", what, len(im.Manifests), o.maxEntries, ErrLimit)
	}
	return im, nil
}

// imageForPlatform picks the image of an index for the platform; nested
// indexes are not followed.
func imageForPlatform(idx v1.ImageIndex, o openOptions, what string) (v1.Image, error) {
	im, err := checkedIndexManifest(idx, o, what)
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		if d.Platform == nil || d.Platform.Satisfies(o.platform) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading image %s of %s: %w", d.Digest, what, err)
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("%s has no image for platform %s: %w", what, o.platform.String(), ErrNotFound)
}
