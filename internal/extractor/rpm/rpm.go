// Package rpm finds the packages installed by rpm, from its database in any
// of the three formats rpm has used: Berkeley DB (var/lib/rpm/Packages,
// RHEL 7 and 8, CentOS, Amazon Linux 2), NDB (Packages.db, SUSE) and SQLite
// (rpmdb.sqlite, RHEL 9 and Fedora), in var/lib/rpm, usr/lib/sysimage/rpm
// or usr/share/rpm. The format is read from the file's content, not its
// name.
//
// Each format is a container of the same rpm header blobs; this package
// reads the containers itself from the bounded bytes it is given (SQLite
// through modernc.org/sqlite, deserialised in memory), without a temporary
// file, and decodes only the header tags it reports. Every offset is checked
// against the file, overflow chains cannot loop, and the header bytes read
// from a database may not add up to more than its size, so a corrupt or
// hostile database gives an error, never a panic or a hang. (The
// github.com/knqyf263/go-rpmdb reader, v0.1.1, was not used: it needs a file
// path, and a damaged Berkeley DB page makes it panic in a goroutine of its
// own, out of the scanner's recover, or follow an overflow chain forever.)
//
// Versions are written the way OSV's rpm ecosystems write them,
// [EPOCH:]VERSION-RELEASE with the epoch only when it is not zero, and the
// source package is parsed from the SOURCERPM tag. gpg-pubkey entries, the
// signing keys rpm keeps as pseudo-packages, are not reported.
package rpm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Name of the extractor.
const Name = "os/rpm"

// dirs hold rpm databases: var/lib/rpm traditionally, usr/lib/sysimage/rpm
// since rpm 4.16 on Fedora and SUSE (var/lib/rpm is then a symbolic link),
// usr/share/rpm on ostree-based systems.
var dirs = []string{"var/lib/rpm/", "usr/lib/sysimage/rpm/", "usr/share/rpm/"}

// files are the package databases of the three formats.
var files = []string{"Packages", "Packages.db", "rpmdb.sqlite"}

// gpgPubkey names the pseudo-packages that hold imported signing keys.
const gpgPubkey = "gpg-pubkey"

// Extractor reads rpm databases.
type Extractor struct{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements extractor.Extractor.
func (Extractor) Name() string { return Name }

// Version implements extractor.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements extractor.Extractor.
func (Extractor) Required(path string, mode fs.FileMode, _ int64) bool {
	if !mode.IsRegular() {
		return false
	}
	for _, d := range dirs {
		if name, ok := strings.CutPrefix(path, d); ok {
			for _, f := range files {
				if name == f {
					return true
				}
			}
			return false
		}
	}
	return false
}

// Extract implements extractor.Extractor.
func (Extractor) Extract(ctx context.Context, in *extractor.Input) ([]sbom.Package, error) {
	if in.Size > extractor.MaxFileSize {
		return nil, fmt.Errorf("%d bytes: %w", in.Size, extractor.ErrTooLarge)
	}
	b, err := extractor.ReadAll(in.Reader, extractor.MaxFileSize)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	blobs, err := headerBlobs(ctx, b)
	if err != nil {
		return nil, err
	}
	eco := ecosystem(in.OS)
	ns, distro := namespace(in.OS.ID), ""
	if in.OS.ID != "" && in.OS.VersionID != "" {
		distro = in.OS.ID + "-" + in.OS.VersionID
	}
	var pkgs []sbom.Package
	for i, blob := range blobs {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		h, err := parseHeader(blob)
		if err != nil {
			return nil, fmt.Errorf("header %d of %d: %w", i+1, len(blobs), err)
		}
		if h.name == gpgPubkey {
			continue
		}
		version := evr(h.epoch, h.version, h.release)
		srcName, srcVersion := source(h.sourceRPM)
		if srcName == "" {
			srcName, srcVersion = h.name, h.version+"-"+h.release
		}
		pkgs = append(pkgs, sbom.Package{
			Name:          h.name,
			Version:       version,
			Ecosystem:     eco,
			PURL:          purl(ns, h, distro),
			SourceName:    srcName,
			SourceVersion: evr(h.epoch, srcVersion, ""),
			Locations:     []string{in.Path},
			Extractor:     Name,
		})
	}
	return pkgs, nil
}

// headerBlobs returns the header blobs of the database in b, whose format
// it tells from the content.
func headerBlobs(ctx context.Context, b []byte) ([][]byte, error) {
	c := &collector{left: len(b)}
	var err error
	switch {
	case bytes.HasPrefix(b, sqliteMagic):
		err = sqliteBlobs(ctx, b, c)
	case len(b) >= 4 && binary.LittleEndian.Uint32(b) == ndbMagic:
		err = ndbBlobs(ctx, b, c)
	case len(b) >= 16 && isBDB(b):
		err = bdbBlobs(ctx, b, c)
	default:
		return nil, fmt.Errorf("not an rpm database: no SQLite, NDB or Berkeley DB magic in the first bytes")
	}
	if err != nil {
		return nil, err
	}
	return c.blobs, nil
}

// collector gathers header blobs. However a database is damaged, the blobs
// it holds cannot add up to more bytes than the database: left enforces
// that, which bounds memory and ends any loop through corrupt links.
type collector struct {
	blobs [][]byte
	left  int
}

func (c *collector) add(blob []byte) error {
	if len(blob) > c.left {
		return fmt.Errorf("header blobs add up to more than the database's size: corrupt database")
	}
	c.left -= len(blob)
	c.blobs = append(c.blobs, blob)
	return nil
}

// evr joins an rpm epoch, version and release as OSV writes rpm versions:
// "VERSION-RELEASE", or "EPOCH:VERSION-RELEASE" for a non-zero epoch.
func evr(epoch uint32, version, release string) string {
	s := version
	if release != "" {
		s += "-" + release
	}
	if epoch != 0 {
		s = strconv.FormatUint(uint64(epoch), 10) + ":" + s
	}
	return s
}

// source splits a SOURCERPM value, "NAME-VERSION-RELEASE.src.rpm", into the
// source package's name and "VERSION-RELEASE". It returns empty strings
// for a value of another form.
func source(srpm string) (name, version string) {
	base, ok := strings.CutSuffix(srpm, ".src.rpm")
	if !ok {
		if base, ok = strings.CutSuffix(srpm, ".nosrc.rpm"); !ok {
			return "", ""
		}
	}
	i := strings.LastIndexByte(base, '-')
	if i <= 0 {
		return "", ""
	}
	j := strings.LastIndexByte(base[:i], '-')
	if j <= 0 || j+1 == i || i+1 == len(base) {
		return "", ""
	}
	return base[:j], base[j+1:]
}

// OSV ecosystem names of rpm-based distributions.
const (
	ecoAlmaLinux = "AlmaLinux"
	ecoMageia    = "Mageia"
	ecoOpenEuler = "openEuler"
	ecoOpenSUSE  = "openSUSE"
	ecoRocky     = "Rocky Linux"
	ecoSUSE      = "SUSE"
)

// ecosystem returns the OSV ecosystem of the image's rpm packages.
//
// RHEL is "Red Hat:enterprise_linux:MAJOR": OSV files Red Hat advisories
// per repository ("Red Hat:enterprise_linux:9::appstream", "...::baseos"),
// which the rpm database does not record, and the matcher takes a record
// whose ecosystem extends the package's as matching, so this finds every
// repository of the release. AlmaLinux and Rocky Linux are keyed by major
// release, openSUSE Leap as "Leap 15.5", SUSE Linux Enterprise by product
// name as os-release's PRETTY_NAME spells it. Other rpm distributions
// (CentOS, Fedora, Amazon Linux, Oracle Linux) have no OSV ecosystem: their
// packages are "Red Hat" without a release, which compares versions by rpm's
// rules but claims no advisories.
func ecosystem(osr sbom.OS) string {
	v := osr.VersionID
	major, _, _ := strings.Cut(v, ".")
	withRelease := func(eco, release string) string {
		if release == "" {
			return eco
		}
		return eco + ":" + release
	}
	switch osr.ID {
	case "rhel":
		if major == "" {
			return sbom.EcosystemRedHat
		}
		return sbom.EcosystemRedHat + ":enterprise_linux:" + major
	case "almalinux":
		return withRelease(ecoAlmaLinux, major)
	case "rocky":
		return withRelease(ecoRocky, major)
	case "mageia":
		return withRelease(ecoMageia, v)
	case "openEuler":
		return withRelease(ecoOpenEuler, openEulerRelease(osr))
	case "opensuse-leap":
		if v == "" {
			return ecoOpenSUSE
		}
		return ecoOpenSUSE + ":Leap " + v
	case "opensuse-tumbleweed":
		return ecoOpenSUSE + ":Tumbleweed"
	case "sles", "sles_sap", "sle-micro", "sl-micro":
		product, _ := strings.CutPrefix(osr.Name, "SUSE ")
		if product == osr.Name {
			product = ""
		}
		return withRelease(ecoSUSE, product)
	}
	return sbom.EcosystemRedHat
}

// openEulerRelease returns "24.03" or, for a PRETTY_NAME of
// "openEuler 24.03 (LTS-SP1)", "24.03-LTS-SP1", as OSV names the releases.
func openEulerRelease(osr sbom.OS) string {
	_, q, ok := strings.Cut(osr.Name, "(")
	q, _, _ = strings.Cut(q, ")")
	q = strings.ReplaceAll(strings.TrimSpace(q), " ", "-")
	if !ok || osr.VersionID == "" || !strings.HasPrefix(q, "LTS") {
		return osr.VersionID
	}
	return osr.VersionID + "-" + q
}

// namespace returns the purl namespace (the vendor) for an os-release ID.
func namespace(id string) string {
	switch id {
	case "rhel":
		return "redhat"
	case "sles", "sles_sap", "sle-micro", "sl-micro":
		return "suse"
	case "opensuse", "opensuse-leap", "opensuse-tumbleweed":
		return "opensuse"
	}
	return strings.ToLower(id)
}

// purl returns the package URL: pkg:rpm/NAMESPACE/NAME@VERSION-RELEASE with
// the arch, distro and (non-zero) epoch qualifiers, in the purl
// specification's canonical (sorted) order.
func purl(ns string, h header, distro string) string {
	var q []string
	if h.arch != "" {
		q = append(q, "arch="+url.QueryEscape(h.arch))
	}
	if distro != "" {
		q = append(q, "distro="+url.QueryEscape(distro))
	}
	if h.epoch != 0 {
		q = append(q, "epoch="+strconv.FormatUint(uint64(h.epoch), 10))
	}
	s := "pkg:rpm/"
	if ns != "" {
		s += url.PathEscape(ns) + "/"
	}
	s += url.PathEscape(h.name) + "@" + url.PathEscape(h.version+"-"+h.release)
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}
