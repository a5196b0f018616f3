// Package java finds Maven artifacts in Java archives (.jar, .war, .ear):
// every META-INF/maven/**/pom.properties, or failing that the manifest's
// Implementation-Title and Implementation-Version. Archives nested one
// level deep (WEB-INF/lib/*.jar, BOOT-INF/lib/*.jar) are read too, within
// bounds; deeper nesting is not followed.
package java

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Name of the extractor.
const Name = "java/archive"

// Bounds on one archive.
const (
	// MaxArchive caps an archive handed to the extractor.
	MaxArchive = 512 << 20
	// MaxEntries caps the entries of one archive.
	MaxEntries = 1 << 16
	// maxMeta caps one pom.properties or MANIFEST.MF.
	maxMeta = 1 << 20
	// MaxNested caps one nested archive, read into memory.
	MaxNested = 64 << 20
	// MaxNestedTotal caps all nested archives of one archive together.
	MaxNestedTotal = 256 << 20
)

// Extractor reads Java archives.
type Extractor struct{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements extractor.Extractor.
func (Extractor) Name() string { return Name }

// Version implements extractor.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements extractor.Extractor.
func (Extractor) Required(p string, mode fs.FileMode, size int64) bool {
	return mode.IsRegular() && size <= MaxArchive && isArchive(p)
}

func isArchive(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".jar", ".war", ".ear":
		return true
	}
	return false
}

// Extract implements extractor.Extractor.
func (Extractor) Extract(ctx context.Context, in *extractor.Input) ([]sbom.Package, error) {
	if in.Size > MaxArchive {
		return nil, fmt.Errorf("%d bytes: %w", in.Size, extractor.ErrTooLarge)
	}
	zr, err := zip.NewReader(in.Reader, in.Size)
	if err != nil {
		return nil, fmt.Errorf("reading archive: %w", err)
	}
	budget := int64(MaxNestedTotal)
	return archive(ctx, zr, in.Path, true, &budget)
}

func archive(ctx context.Context, zr *zip.Reader, loc string, nest bool, budget *int64) ([]sbom.Package, error) {
	if len(zr.File) > MaxEntries {
		return nil, fmt.Errorf("%s: %d entries, over %d: %w", loc, len(zr.File), MaxEntries, extractor.ErrTooLarge)
	}
	var pkgs, nested []sbom.Package
	var manifest *zip.File
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(f.Name, "META-INF/maven/") && path.Base(f.Name) == "pom.properties":
			props, err := readProps(f)
			if err != nil {
				return nil, fmt.Errorf("%s!/%s: %w", loc, f.Name, err)
			}
			g, a, v := props["groupId"], props["artifactId"], props["version"]
			if a != "" && v != "" {
				pkgs = append(pkgs, pkg(g, a, v, loc))
			}
		case f.Name == "META-INF/MANIFEST.MF":
			manifest = f
		case nest && isArchive(f.Name) && !f.FileInfo().IsDir():
			if f.UncompressedSize64 > MaxNested || int64(f.UncompressedSize64) > *budget {
				return nil, fmt.Errorf("%s!/%s: nested archive of %d bytes: %w", loc, f.Name, f.UncompressedSize64, extractor.ErrTooLarge)
			}
			b, err := read(f, int64(f.UncompressedSize64))
			if err != nil {
				return nil, fmt.Errorf("%s!/%s: %w", loc, f.Name, err)
			}
			*budget -= int64(len(b))
			inner, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				return nil, fmt.Errorf("%s!/%s: reading archive: %w", loc, f.Name, err)
			}
			found, err := archive(ctx, inner, loc+"!/"+f.Name, false, budget)
			if err != nil {
				return nil, err
			}
			nested = append(nested, found...)
		}
	}
	if len(pkgs) == 0 && manifest != nil {
		m, err := readManifest(manifest)
		if err != nil {
			return nil, fmt.Errorf("%s!/%s: %w", loc, manifest.Name, err)
		}
		a := m["Implementation-Title"]
		if a == "" {
			a, _, _ = strings.Cut(m["Bundle-SymbolicName"], ";")
		}
		v := m["Implementation-Version"]
		if v == "" {
			v = m["Bundle-Version"]
		}
		if a = strings.TrimSpace(a); a != "" && v != "" {
			pkgs = append(pkgs, pkg(m["Implementation-Vendor-Id"], a, v, loc))
		}
	}
	return append(pkgs, nested...), nil
}

// read reads a whole entry, at most limit bytes.
func read(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := extractor.ReadAll(rc, limit)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// readProps parses a Java properties file (the subset Maven writes).
func readProps(f *zip.File) (map[string]string, error) {
	b, err := read(f, maxMeta)
	if err != nil {
		return nil, err
	}
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxMeta)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			continue
		}
		props[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return props, sc.Err()
}

// readManifest parses the main section of a JAR manifest.
func readManifest(f *zip.File) (map[string]string, error) {
	b, err := read(f, maxMeta)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxMeta)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break // end of the main section
		}
		if line[0] == ' ' {
			if last != "" {
				m[last] += line[1:]
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = strings.TrimSpace(k)
		m[last] = strings.TrimSpace(v)
	}
	return m, sc.Err()
}

func pkg(group, artifact, version, loc string) sbom.Package {
	name, purl := artifact, "pkg:maven/"+url.PathEscape(artifact)+"@"+url.PathEscape(version)
	if group != "" {
		name = group + ":" + artifact
		purl = "pkg:maven/" + url.PathEscape(group) + "/" + url.PathEscape(artifact) + "@" + url.PathEscape(version)
	}
	return sbom.Package{
		Name:      name,
		Version:   version,
		Ecosystem: sbom.EcosystemMaven,
		PURL:      purl,
		Locations: []string{loc},
		Extractor: Name,
	}
}
