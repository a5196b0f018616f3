// Package npm finds npm packages installed under node_modules (each
// package's package.json) and those locked in package-lock.json
// (lockfileVersion 2 and 3 "packages", version 1 "dependencies").
package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Name of the extractor.
const Name = "javascript/npm"

// maxManifest caps one node_modules package.json.
const maxManifest = 1 << 20

// Extractor reads package.json and package-lock.json files.
type Extractor struct{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements extractor.Extractor.
func (Extractor) Name() string { return Name }

// Version implements extractor.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements extractor.Extractor: node_modules/NAME/package.json,
// node_modules/@SCOPE/NAME/package.json, and package-lock.json outside
// node_modules.
func (Extractor) Required(p string, mode fs.FileMode, _ int64) bool {
	if !mode.IsRegular() {
		return false
	}
	if isLock(p) {
		return true
	}
	return isManifest(p)
}

func isLock(p string) bool {
	return path.Base(p) == "package-lock.json" && !strings.Contains("/"+p, "/node_modules/")
}

func isManifest(p string) bool {
	i := strings.LastIndex("/"+p, "/node_modules/")
	if i < 0 {
		return false
	}
	rest, ok := strings.CutSuffix(p[i+len("node_modules/"):], "/package.json")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		return parts[0] != "" && parts[0][0] != '.' && parts[0][0] != '@'
	case 2:
		return strings.HasPrefix(parts[0], "@") && parts[1] != ""
	}
	return false
}

// Extract implements extractor.Extractor.
func (Extractor) Extract(ctx context.Context, in *extractor.Input) ([]sbom.Package, error) {
	limit := int64(maxManifest)
	if isLock(in.Path) {
		limit = extractor.MaxFileSize
	}
	if in.Size > limit {
		return nil, fmt.Errorf("%d bytes: %w", in.Size, extractor.ErrTooLarge)
	}
	b, err := extractor.ReadAll(in.Reader, limit)
	if err != nil {
		return nil, err
	}
	if isLock(in.Path) {
		return lockfile(ctx, b, in.Path)
	}
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parsing package.json: %w", err)
	}
	if m.Name == "" || m.Version == "" {
		return nil, nil // not a published package
	}
	return []sbom.Package{pkg(m.Name, m.Version, in.Path)}, nil
}

// lockEntry is one entry of lockfileVersion 1 "dependencies".
type lockEntry struct {
	Version      string               `json:"version"`
	Dev          bool                 `json:"dev"`
	Dependencies map[string]lockEntry `json:"dependencies"`
}

// packageEntry is one entry of lockfileVersion 2 and 3 "packages".
type packageEntry struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Dev     bool   `json:"dev"`
	Link    bool   `json:"link"`
}

func lockfile(ctx context.Context, b []byte, loc string) ([]sbom.Package, error) {
	var lock struct {
		LockfileVersion int                     `json:"lockfileVersion"`
		Packages        map[string]packageEntry `json:"packages"`
		Dependencies    map[string]lockEntry    `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, fmt.Errorf("parsing package-lock.json: %w", err)
	}
	if lock.LockfileVersion > 3 {
		return nil, fmt.Errorf("unsupported lockfileVersion %d: Palisade reads versions 1 to 3", lock.LockfileVersion)
	}
	var pkgs []sbom.Package
	if lock.LockfileVersion >= 2 || lock.Packages != nil {
		keys := make([]string, 0, len(lock.Packages))
		for k := range lock.Packages {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			e := lock.Packages[k]
			if k == "" || e.Link || e.Dev || !published(e.Version) {
				continue // the root project, workspace links, dev tools
			}
			name := e.Name
			if i := strings.LastIndex(k, "node_modules/"); name == "" && i >= 0 {
				name = k[i+len("node_modules/"):]
			}
			if name == "" {
				continue
			}
			pkgs = append(pkgs, pkg(name, e.Version, loc))
		}
		return pkgs, nil
	}
	if lock.LockfileVersion != 1 {
		return nil, fmt.Errorf("unsupported lockfileVersion %d", lock.LockfileVersion)
	}
	var walk func(deps map[string]lockEntry, depth int) error
	walk = func(deps map[string]lockEntry, depth int) error {
		if depth > 64 {
			return fmt.Errorf("dependencies nested over 64 levels")
		}
		names := make([]string, 0, len(deps))
		for n := range deps {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := deps[n]
			if !e.Dev && published(e.Version) {
				pkgs = append(pkgs, pkg(n, e.Version, loc))
			}
			if err := walk(e.Dependencies, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(lock.Dependencies, 0); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// published reports whether a locked version is a registry version rather
// than a git, file or URL reference.
func published(v string) bool {
	return v != "" && !strings.ContainsAny(v, ":/")
}

func pkg(name, version, loc string) sbom.Package {
	return sbom.Package{
		Name:      name,
		Version:   version,
		Ecosystem: sbom.EcosystemNPM,
		PURL:      purl(name, version),
		Locations: []string{loc},
		Extractor: Name,
	}
}

func purl(name, version string) string {
	ns, n, ok := strings.Cut(name, "/")
	if !ok {
		return "pkg:npm/" + url.PathEscape(name) + "@" + url.PathEscape(version)
	}
	return "pkg:npm/" + strings.Replace(url.PathEscape(ns), "@", "%40", 1) + "/" + url.PathEscape(n) + "@" + url.PathEscape(version)
}
