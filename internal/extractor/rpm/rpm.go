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
// against the file, overflow chains cannot loop, the header bytes read from
// a database may not add up to more than its size, every header is decoded
// as it is found (the blobs are not kept), and a database may hold at most
// 100,000 headers of at least 56 bytes each, so a corrupt or hostile
// database gives an error, never a panic, a hang or memory out of
// proportion to its size. (The
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
	"io"
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
	b, err := readAll(in)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	headers, err := readHeaders(ctx, b)
	if err != nil {
		return nil, err
	}
	eco := ecosystem(in.OS)
	ns, distro := namespace(in.OS.ID), ""
	if in.OS.ID != "" && in.OS.VersionID != "" {
		distro = in.OS.ID + "-" + in.OS.VersionID
	}
	if headers.n == 0 {
		return nil, nil
	}
	pkgs := make([]sbom.Package, 0, headers.n)
	for _, chunk := range headers.chunks {
		for _, h := range chunk {
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
	}
	return pkgs, nil
}

// readAll reads the file into a buffer the extractor owns, as
// extractor.ReadAll does, but sized from in.Size when the scanner gives it:
// io.ReadAll, not knowing the size, allocates about twice the file (122 MB
// for a 60 MB file, with Go 1.26). A file longer than in.Size is still read
// to its end, up to extractor.MaxFileSize.
func readAll(in *extractor.Input) ([]byte, error) {
	if in.Size <= 0 {
		return extractor.ReadAll(in.Reader, extractor.MaxFileSize)
	}
	b := make([]byte, 0, in.Size+1) // +1: the read that finds the end needs room
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := in.Reader.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > extractor.MaxFileSize {
			return nil, fmt.Errorf("over %d bytes: %w", extractor.MaxFileSize, extractor.ErrTooLarge)
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading: %w", err)
		}
	}
}

// readHeaders returns the headers of the packages in the database in b,
// whose format it tells from the content, gpg-pubkey entries left out. b
// must be the extractor's own copy of the file: the SQLite reader patches
// two bytes of it.
func readHeaders(ctx context.Context, b []byte) (*headerList, error) {
	c := &collector{ctx: ctx, left: len(b)}
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
	return &c.headers, nil
}

// maxHeaders bounds the headers read from one database. A full
// distribution installs a few thousand packages; more than this is not a
// database worth reading, and the bound caps the work and memory a
// hostile file can ask for, whatever its format lets it pack.
const maxHeaders = 100_000

// minHeader is a lower bound on the size of a header the extractor can
// use: the 8-byte preamble and the index entries of the name, version and
// release that every package has.
const minHeader = 8 + 16*3

// collector decodes header blobs as the database readers find them, so
// that only the decoded headers are kept, never the blobs. However a
// database is damaged, the blobs it holds cannot add up to more bytes than
// the database: left enforces that, which bounds memory and ends any loop
// through corrupt links; a blob too short to be a header is an error, so
// each one uses up at least minHeader bytes of left, and no database gives
// more than maxHeaders headers.
type collector struct {
	ctx     context.Context
	headers headerList
	n       int // blobs added
	left    int
}

// add decodes blob, which the collector does not keep: the database reader
// may reuse its bytes.
func (c *collector) add(blob []byte) error {
	if c.n >= maxHeaders {
		return fmt.Errorf("more than %d package headers: not a database the extractor reads", maxHeaders)
	}
	c.n++
	if c.n%256 == 0 {
		if err := c.ctx.Err(); err != nil {
			return err
		}
	}
	if len(blob) < minHeader {
		return fmt.Errorf("header %d: %d bytes, too short for an rpm header (at least %d)", c.n, len(blob), minHeader)
	}
	if len(blob) > c.left {
		return fmt.Errorf("header blobs add up to more than the database's size: corrupt database")
	}
	c.left -= len(blob)
	h, err := parseHeader(blob)
	if err != nil {
		return fmt.Errorf("header %d: %w", c.n, err)
	}
	if h.name != gpgPubkey {
		c.headers.add(h)
	}
	return nil
}

// headerList holds decoded headers in chunks, so that growing it never
// copies those already held (appending to one slice would allocate some
// five times the final slice's size along the way).
type headerList struct {
	chunks [][]header
	n      int
}

const headerChunk = 256 // headers of a chunk, some 22 KB

func (l *headerList) add(h header) {
	if len(l.chunks) == 0 || len(l.chunks[len(l.chunks)-1]) == headerChunk {
		l.chunks = append(l.chunks, make([]header, 0, headerChunk))
	}
	last := &l.chunks[len(l.chunks)-1]
	*last = append(*last, h)
	l.n++
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
