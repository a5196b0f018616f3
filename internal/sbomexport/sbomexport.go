// Package sbomexport writes an image's SBOM (internal/sbom) as standard
// documents: CycloneDX 1.6 JSON and SPDX 2.3 JSON. Output is deterministic
// for the same SBOM, reference and time: packages are sorted and every
// identifier is derived from the package or the image digest.
package sbomexport

import (
	"cmp"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/sbom"
)

// toolName names Palisade in the documents' creator fields.
const toolName = "palisade"

// namespaceUUID is the UUIDv5 namespace of Palisade's document identifiers
// (itself the v5 UUID of "palisade.dev" in the DNS namespace).
var namespaceUUID = uuidV5(dnsNamespace, "palisade.dev")

// dnsNamespace is RFC 9562's DNS namespace, 6ba7b810-9dad-11d1-80b4-00c04fd430c8.
var dnsNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// uuidV5 is the name-based (SHA-1) UUID of name in namespace (RFC 9562 §5.5).
func uuidV5(namespace [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

func formatUUID(u [16]byte) string {
	s := hex.EncodeToString(u[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// documentUUID identifies one document: the same image exported at the same
// time gets the same identifier, a later export a new one (both standards
// want a fresh identifier per document, even when the content is unchanged).
func documentUUID(format, digest string, now time.Time) string {
	return formatUUID(uuidV5(namespaceUUID, format+"\n"+digest+"\n"+timestamp(now)))
}

// timestamp is the form both standards accept: UTC, whole seconds.
func timestamp(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// toolVersion is the version of the running binary from its build
// information ("devel" for a development build).
func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// entry is a package with the identifiers both formats use.
type entry struct {
	sbom.Package
	// ref is unique in the document: the purl, or a hash of the package
	// when it has none or when two packages share a purl.
	ref string
	// spdxID is unique and valid: SPDXRef-Package-<name>-<hash>.
	spdxID string
}

// entries sorts a copy of pkgs and gives each package its identifiers.
func entries(pkgs []sbom.Package) []entry {
	sorted := slices.Clone(pkgs)
	slices.SortStableFunc(sorted, func(a, b sbom.Package) int {
		return cmp.Or(
			cmp.Compare(a.Ecosystem, b.Ecosystem),
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Version, b.Version),
			cmp.Compare(a.PURL, b.PURL),
			slices.Compare(a.Locations, b.Locations),
			cmp.Compare(a.SourceName, b.SourceName),
			cmp.Compare(a.SourceVersion, b.SourceVersion),
			cmp.Compare(a.Extractor, b.Extractor),
		)
	})
	purls := map[string]int{}
	for _, p := range sorted {
		purls[p.PURL]++
	}
	out := make([]entry, len(sorted))
	refs := map[string]bool{}
	ids := map[string]bool{}
	for i, p := range sorted {
		sum := packageHash(p)
		ref := p.PURL
		if ref == "" || purls[p.PURL] > 1 {
			ref = "pkg-" + sum[:16]
			if p.PURL != "" {
				ref = p.PURL + "#" + sum[:16]
			}
		}
		ref = unique(ref, refs)
		id := unique("SPDXRef-Package-"+spdxIDPart(p.Name)+"-"+sum[:16], ids)
		out[i] = entry{Package: p, ref: ref, spdxID: id}
	}
	return out
}

// unique returns s, or s with the first free "-n" suffix, and records it.
func unique(s string, seen map[string]bool) string {
	u := s
	for n := 2; seen[u]; n++ {
		u = fmt.Sprintf("%s-%d", s, n)
	}
	seen[u] = true
	return u
}

func packageHash(p sbom.Package) string {
	h := sha256.New()
	for _, s := range append([]string{p.Ecosystem, p.Name, p.Version, p.PURL, p.SourceName, p.SourceVersion}, p.Locations...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// spdxIDPart keeps the characters an SPDX identifier allows (letters,
// digits, '.' and '-') and replaces the others with '-'.
func spdxIDPart(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !validIDByte(c) {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func validIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

// imageName is how the documents name the image: its reference, or its
// digest when none is given.
func imageName(s *sbom.SBOM, ref string) string {
	if ref != "" {
		return ref
	}
	return s.Digest
}

// osName is "debian 12", empty when the image's OS is unknown.
func osName(o sbom.OS) string {
	return strings.TrimSpace(o.ID + " " + o.VersionID)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// digestHash splits "sha256:abc…" into "sha256" and "abc…".
func digestHash(d string) (alg, hexSum string, ok bool) {
	alg, hexSum, ok = strings.Cut(d, ":")
	return alg, hexSum, ok && alg != "" && hexSum != ""
}
