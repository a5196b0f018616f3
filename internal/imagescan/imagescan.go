// Package imagescan is what Palisade knows about the images it scanned, per
// image digest: the facts of the SBOM the answers need, the latest match
// against the vulnerability database, and the scan scheduler's status. A
// View is immutable once built and safe for concurrent readers; the
// inventory index carries one so that every answer sees the inventory and
// the scan results of the same moment.
package imagescan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
)

// Image is what is known about one image digest.
type Image struct {
	Digest string
	// SBOM is set once the image was scanned: its facts without the
	// package list.
	SBOM *Facts
	// Match is the latest vulnerability match, nil before the first.
	Match *Match
	// Status is the scheduler's record; zero when it never tried.
	Status store.ScanStatus
}

// Facts are the parts of an SBOM the answers use.
type Facts struct {
	ScannedAt time.Time
	OS        sbom.OS
	// User is the image config's user ("" means root).
	User string
	// Entrypoint and Cmd are the image config's, to tell shell images
	// from others.
	Entrypoint []string
	Cmd        []string
	Created    time.Time
	Packages   int
	// Executables are the image's executable files, nil when the SBOM
	// predates the list (unknown, not none).
	Executables *Executables
	// Extractors are the extractor versions that made the SBOM: a newer
	// extractor makes the scheduler rescan.
	Extractors map[string]int
}

// Match is one match of an SBOM against the vulnerability database.
type Match struct {
	DBVersion string
	MatchedAt time.Time
	Findings  []match.Finding
}

// FactsOf returns the facts of s.
func FactsOf(s *sbom.SBOM) *Facts {
	return &Facts{ScannedAt: s.CreatedAt, OS: s.OS, User: s.Config.User, Entrypoint: s.Config.Entrypoint, Cmd: s.Config.Cmd, Created: s.Config.Created, Packages: len(s.Packages),
		Executables: ExecutablesOf(s.Executables), Extractors: s.Extractors}
}

// Executables is an image's executables (sbom.Executables) kept for
// lookups: each file as a 64-bit hash of its path (8 bytes, where the
// paths of a Debian-based image average about 30), the links as they are.
// The server keeps one per running image.
type Executables struct {
	files     []uint64 // sorted
	links     map[string]string
	truncated bool
}

// pathSeed keys the path hashes. It is random per process, so that no
// image or process can choose a path whose hash collides with one of
// another image's executables.
var pathSeed = maphash.MakeSeed()

// ExecutablesOf returns the lookup form of e; nil for nil.
func ExecutablesOf(e *sbom.Executables) *Executables {
	if e == nil {
		return nil
	}
	out := &Executables{files: make([]uint64, len(e.Files)), links: maps.Clone(e.Links), truncated: e.Truncated}
	for i, f := range e.Files {
		out.files[i] = maphash.String(pathSeed, f)
	}
	slices.Sort(out.files)
	out.files = slices.Compact(out.files)
	return out
}

// Contains reports whether path (absolute, as /proc/PID/exe gives it, or
// the unresolved form a process was started by, such as /bin/sh or
// /bin/../usr/bin/ls) names one of the image's executable files, directly
// or through the image's symbolic links followed as the kernel follows
// them (sbom.Resolve), and whether the image's list can tell: not when e
// is nil (an SBOM from before the list) or the list was truncated, and not
// for a path that is not one of the image's file system (relative, under
// /proc, a file descriptor such as /dev/fd/3, a file-less /memfd:
// executable). Two paths whose hashes collide (odds about one in 2^64 /
// files) count as one: an absent path may be taken as present, never the
// reverse.
func (e *Executables) Contains(path string) (present, known bool) {
	if e == nil {
		return false, false
	}
	r, ok := sbom.Resolve(e.links, path)
	if !ok {
		return false, false
	}
	if _, found := slices.BinarySearch(e.files, maphash.String(pathSeed, r)); found {
		return true, true
	}
	return false, !e.truncated
}

// Files returns the number of executable files listed.
func (e *Executables) Files() int {
	if e == nil {
		return 0
	}
	return len(e.files)
}

// Truncated reports whether the image held more executables than a scan
// lists.
func (e *Executables) Truncated() bool { return e != nil && e.truncated }

// MatchOf decodes a stored match.
func MatchOf(m store.MatchResult) (*Match, error) {
	out := &Match{DBVersion: m.DBVersion, MatchedAt: m.MatchedAt}
	if len(m.Findings) > 0 {
		if err := json.Unmarshal(m.Findings, &out.Findings); err != nil {
			return nil, fmt.Errorf("decoding the stored findings of %s: %w", m.Digest, err)
		}
	}
	return out, nil
}

// Scheduler describes the scan scheduler behind a view.
type Scheduler struct {
	// Running is true when a scheduler keeps the images fresh (palisade
	// server); false for views read from a database by a client.
	Running bool
	// MaxAge is how old an SBOM may get before it is rescanned.
	MaxAge time.Duration
	// DBVersion is the version of the vulnerability database in use, ""
	// when none is imported.
	DBVersion string
	// DBError is why the database could not be loaded, if it could not.
	DBError string
	// KEV is the imported Known Exploited Vulnerabilities catalog, nil
	// when none is.
	KEV *kev.Catalog
}

// View is an immutable set of images.
type View struct {
	images    map[string]*Image
	scheduler Scheduler
}

// NewView returns a view of images. The view owns them afterwards.
func NewView(images []*Image, s Scheduler) *View {
	v := &View{images: make(map[string]*Image, len(images)), scheduler: s}
	for _, im := range images {
		v.images[im.Digest] = im
	}
	return v
}

// Image returns what is known of digest, or nil. A nil view knows nothing.
func (v *View) Image(digest string) *Image {
	if v == nil {
		return nil
	}
	return v.images[digest]
}

// All returns every image of the view, sorted by digest.
func (v *View) All() []*Image {
	if v == nil {
		return nil
	}
	out := make([]*Image, 0, len(v.images))
	for _, im := range v.images {
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b *Image) int { return strings.Compare(a.Digest, b.Digest) })
	return out
}

// Len returns the number of images in the view.
func (v *View) Len() int {
	if v == nil {
		return 0
	}
	return len(v.images)
}

// Scheduler describes the scheduler behind the view; zero for a nil view.
func (v *View) Scheduler() Scheduler {
	if v == nil {
		return Scheduler{}
	}
	return v.scheduler
}

// Store is the part of the store a view is loaded from.
type Store interface {
	SBOMDigests(ctx context.Context) ([]string, error)
	SBOM(ctx context.Context, digest string) (*sbom.SBOM, error)
	Match(ctx context.Context, digest string) (store.MatchResult, error)
	ScanStatuses(ctx context.Context) ([]store.ScanStatus, error)
	// Ping tells a failing store from a bad record.
	Ping(ctx context.Context) error
}

// Load reads every stored image: SBOM facts, latest match and status. A
// stored SBOM or match that cannot be read is reported to warn (when not
// nil) and left out, so the image is scanned or matched again; only a
// failing store is an error.
func Load(ctx context.Context, st Store, warn func(error)) ([]*Image, error) {
	if warn == nil {
		warn = func(error) {}
	}
	byDigest := map[string]*Image{}
	get := func(d string) *Image {
		im := byDigest[d]
		if im == nil {
			im = &Image{Digest: d}
			byDigest[d] = im
		}
		return im
	}
	statuses, err := st.ScanStatuses(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading scan statuses: %w", err)
	}
	for _, s := range statuses {
		get(s.Digest).Status = s
	}
	digests, err := st.SBOMDigests(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing stored SBOMs: %w", err)
	}
	for _, d := range digests {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := st.SBOM(ctx, d)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			if st.Ping(ctx) != nil {
				return nil, fmt.Errorf("reading the SBOM of %s: %w", d, err)
			}
			warn(fmt.Errorf("skipped the stored SBOM of %s: %w", d, err))
			continue
		}
		im := get(d)
		im.SBOM = FactsOf(s)
		m, err := st.Match(ctx, d)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err == nil {
			im.Match, err = MatchOf(m)
		}
		if err != nil {
			if st.Ping(ctx) != nil {
				return nil, fmt.Errorf("reading the match of %s: %w", d, err)
			}
			warn(fmt.Errorf("skipped the stored match of %s: %w", d, err))
		}
	}
	out := make([]*Image, 0, len(byDigest))
	for _, im := range byDigest {
		out = append(out, im)
	}
	return out, nil
}

// RunsAsRoot tells whether an image config user means root: an empty user
// (the default), "root" or UID 0, with or without a group. A named user
// other than root is taken as not root; the kubelet cannot verify such a
// name either (runAsNonRoot refuses non-numeric users).
func RunsAsRoot(user string) bool {
	u, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	return u == "" || u == "root" || strings.TrimLeft(u, "0") == ""
}
