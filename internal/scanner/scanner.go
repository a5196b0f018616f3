// Package scanner turns an image into its SBOM: it opens the image from a
// registry, an OCI layout or a docker-archive tarball, walks its layers with
// the registered extractors (internal/imagefs) and assembles the bill of
// materials keyed by the image's digest.
package scanner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/imagefs"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Open opens an image: input is an OCI layout directory or a docker-archive
// tarball (docker save); otherwise ref is pulled from its registry with
// credentials from the docker config (config.json), anonymous when none
// apply.
func Open(ctx context.Context, ref, input string) (v1.Image, error) {
	switch {
	case input != "" && ref != "":
		return nil, errors.New("give an image reference or --input, not both")
	case input != "":
		info, err := os.Stat(input)
		if err != nil {
			return nil, fmt.Errorf("reading --input: %w", err)
		}
		if info.IsDir() {
			if _, err := os.Stat(filepath.Join(input, "index.json")); err != nil {
				return nil, fmt.Errorf("--input %s is a directory without index.json: want an OCI image layout", input)
			}
			return imagefs.OpenLayout(input, "")
		}
		return imagefs.OpenTarball(input)
	case ref != "":
		return imagefs.OpenRemote(ctx, ref, authn.DefaultKeychain)
	}
	return nil, errors.New("give an image reference or --input PATH")
}

// Result is an SBOM and the problems met while making it.
type Result struct {
	SBOM *sbom.SBOM
	// Errors are files an extractor could not read; the rest of the image
	// is still in the SBOM.
	Errors []error
	Stats  imagefs.Stats
}

// WalkerName is the name under which SBOM.Extractors records the version
// of the layer walk (imagefs.Version).
const WalkerName = "imagefs"

// Versions returns what an SBOM made with extractors records in
// SBOM.Extractors: each extractor's version and the walk's. An SBOM that
// recorded other versions was made by an older scanner.
func Versions(extractors []extractor.Extractor) map[string]int {
	out := make(map[string]int, len(extractors)+1)
	for _, e := range extractors {
		out[e.Name()] = e.Version()
	}
	out[WalkerName] = imagefs.Version
	return out
}

// Scan walks img with extractors and returns its SBOM, the image's
// executables included.
func Scan(ctx context.Context, img v1.Image, extractors []extractor.Extractor, opts imagefs.Options) (*Result, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading the image digest: %w", err)
	}
	res, err := imagefs.Walk(ctx, img, extractors, opts)
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", digest, err)
	}
	s := &sbom.SBOM{
		Digest:      digest.String(),
		OS:          res.OS,
		Config:      res.Config,
		Packages:    res.Packages,
		Executables: res.Executables,
		Extractors:  Versions(extractors),
		CreatedAt:   time.Now().UTC(),
	}
	if s.Packages == nil {
		s.Packages = []sbom.Package{}
	}
	out := &Result{SBOM: s, Stats: res.Stats}
	for _, fe := range res.Errors {
		out.Errors = append(out.Errors, fe)
	}
	return out, nil
}
