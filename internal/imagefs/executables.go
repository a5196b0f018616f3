package imagefs

import (
	"context"
	"hash/maphash"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/sbom"
)

// Version is the walk's version. Scanners record it in every SBOM next to
// the extractors' versions, so that raising it gets every image scanned
// again: 1 added the image's executables; 2 keeps the links that chains
// of directory links and ".." need (see execCollector.result).
const Version = 2

// execCollector gathers, during the walk, the visible regular files with
// an execute bit and every visible symbolic link (to resolve them once the
// walk is done), within the bounds of Options.
type execCollector struct {
	maxPaths int
	maxBytes int64

	files     map[string]struct{} // clean, relative to the root
	fileBytes int64
	links     map[string]string // clean name → link target as written
	linkBytes int64
	truncated bool

	// data holds the keyed hashes of the visible regular files without an
	// execute bit, up to maxPaths of them (then nil, dataFull set), so
	// that a link to one is left out of the list: a ".." after a link to
	// a file fails. A collision leaves out a link to a directory; the seed
	// is random per collector, so no image can choose one.
	data     map[uint64]struct{}
	dataSeed maphash.Seed
	dataFull bool
}

func newExecCollector(opts Options) *execCollector {
	return &execCollector{maxPaths: opts.MaxExecutables, maxBytes: opts.MaxExecutableBytes,
		files: map[string]struct{}{}, links: map[string]string{},
		data: map[uint64]struct{}{}, dataSeed: maphash.MakeSeed()}
}

// maxExecPath is the longest path kept: PATH_MAX. A longer one truncates
// the list rather than be left out of it, so that it is never reported
// absent.
const maxExecPath = 4096

// file records a visible regular file of mode.
func (c *execCollector) file(name string, mode fs.FileMode) {
	if c.truncated {
		return
	}
	if mode.Perm()&0o111 == 0 {
		switch {
		case c.dataFull:
		case len(c.data) >= c.maxPaths:
			c.data, c.dataFull = nil, true
		default:
			c.data[maphash.String(c.dataSeed, name)] = struct{}{}
		}
		return
	}
	if len(name) >= maxExecPath || len(c.files) >= c.maxPaths || c.fileBytes+int64(len(name)) > c.maxBytes {
		c.truncate()
		return
	}
	c.files[name] = struct{}{}
	c.fileBytes += int64(len(name))
}

// link records a visible symbolic link.
func (c *execCollector) link(name, target string) {
	if c.truncated {
		return
	}
	n := int64(len(name) + len(target))
	if len(name) >= maxExecPath || len(target) >= maxExecPath || len(c.links) >= c.maxPaths || c.linkBytes+n > c.maxBytes {
		c.truncate()
		return
	}
	c.links[name] = target
	c.linkBytes += n
}

// forget drops an entry replaced by a later one of the same layer.
func (c *execCollector) forget(name string) {
	delete(c.data, maphash.String(c.dataSeed, name))
	if _, ok := c.files[name]; ok {
		delete(c.files, name)
		c.fileBytes -= int64(len(name))
	}
	if t, ok := c.links[name]; ok {
		delete(c.links, name)
		c.linkBytes -= int64(len(name) + len(t))
	}
}

// truncate gives up on the list: what was gathered is let go.
func (c *execCollector) truncate() {
	c.truncated = true
	c.files, c.links, c.data = nil, nil, nil
	c.fileBytes, c.linkBytes = 0, 0
}

// result resolves the links within the image and returns the executables:
// every file under its canonical path (no link in its directories), and,
// with where it finally leads, every link that sbom.Resolve needs to
// resolve a path as the kernel does (it takes any other name for a
// directory):
//   - a link to one of the files;
//   - a link to a directory above a file or above another kept link,
//     kept until nothing more is ("/a" → "b" when "/b/c" → "/d" and "/d"
//     holds a file);
//   - a link whose target is in another directory than the link
//     ("/var/run" → "/run"), where a ".." after it climbs elsewhere than
//     from the link's own directory, unless the target is a data file
//     (a regular file without an execute bit, after which ".." fails):
//     the target may be a directory without executables, or nothing in
//     the image, which the container can create.
//
// Links are followed as the kernel follows them inside the container:
// relative to the link's directory, absolute ones from the image's root,
// ".." stopping at the root, at most sbom.MaxLinkHops of them per path; a
// link that loops is left out. Files and links under /proc and /dev are
// left out: the container runtime mounts its own file systems there.
func (c *execCollector) result(ctx context.Context) (*sbom.Executables, error) {
	if c.truncated {
		return &sbom.Executables{Truncated: true}, nil
	}
	for name := range c.links {
		if underRuntimeMount(name) {
			delete(c.links, name)
		}
	}
	r := newResolver(c.links)
	files := make([]string, 0, len(c.files))
	for f := range c.files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if f = r.canonicalName(f); !underRuntimeMount(f) {
			files = append(files, f)
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)
	isFile := func(p string) bool { _, ok := slices.BinarySearch(files, p); return ok }
	isData := func(p string) bool { _, ok := c.data[maphash.String(c.dataSeed, p)]; return ok }

	links := map[string]string{}
	var kept []string                 // names kept whose directories may make more links kept
	byTarget := map[string][]string{} // the other links to directories, by target
	for name := range c.links {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		target, ok := r.resolve(name, 0)
		if !ok {
			continue
		}
		name = r.canonicalName(name)
		if name == target {
			continue
		}
		switch {
		case isFile(target):
		case isData(target):
			continue
		case parent(target) == parent(name):
			byTarget[target] = append(byTarget[target], name)
			continue
		}
		links[name] = target
		kept = append(kept, name)
	}
	keep := func(target string) {
		for _, name := range byTarget[target] {
			links[name] = target
			kept = append(kept, name)
		}
		delete(byTarget, target)
	}
	for target := range byTarget {
		prefix := target + "/"
		if target == "" {
			prefix = ""
		}
		if i, _ := slices.BinarySearch(files, prefix); i < len(files) && strings.HasPrefix(files[i], prefix) {
			keep(target)
		}
	}
	// Up to a fixed point: each link is kept once, and each kept name
	// walks its directories once.
	for len(kept) > 0 && len(byTarget) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := kept[len(kept)-1]
		kept = kept[:len(kept)-1]
		for dir := name; dir != ""; {
			dir = parent(dir)
			if _, ok := byTarget[dir]; ok {
				keep(dir)
			}
		}
	}

	out := &sbom.Executables{Files: make([]string, len(files)), Links: make(map[string]string, len(links))}
	var n int64
	for i, f := range files {
		out.Files[i] = "/" + f
		n += int64(len(f) + 1)
	}
	for name, target := range links {
		out.Links["/"+name] = "/" + target
		n += int64(len(name) + len(target) + 2)
	}
	if len(out.Files)+len(out.Links) > c.maxPaths || n > c.maxBytes {
		return &sbom.Executables{Truncated: true}, nil
	}
	return out, nil
}

// underRuntimeMount reports whether name (clean, relative to the root) is
// on a file system the container runtime mounts over the image's: /proc
// or /dev.
func underRuntimeMount(name string) bool {
	for _, m := range [...]string{"proc", "dev"} {
		if name == m || strings.HasPrefix(name, m+"/") {
			return true
		}
	}
	return false
}

// resolver follows the links the walk saw. Paths are clean and relative
// to the root; "" is the root.
type resolver struct {
	links map[string]string
	// dirs and done memoise the resolution of directories and links, so
	// that every link's target is read once however many paths go
	// through it.
	dirs, done map[string]resolved
}

type resolved struct {
	path string
	ok   bool
}

func newResolver(links map[string]string) *resolver {
	return &resolver{links: links, dirs: map[string]resolved{}, done: map[string]resolved{}}
}

// canonicalName returns name with the links of its directory resolved;
// when they loop, name as it is.
func (r *resolver) canonicalName(name string) string {
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return name
	}
	v, ok := r.dirs[dir]
	if !ok {
		v.path, v.ok = r.resolve(dir, 0)
		r.dirs[dir] = v
	}
	if !v.ok || v.path == dir {
		return name
	}
	return join(v.path, base)
}

// resolve follows every link in p, its last component included, within
// the root. It reports false for a link nested more than sbom.MaxLinkHops
// deep (a loop).
func (r *resolver) resolve(p string, depth int) (string, bool) {
	cur := ""
	for rest := p; rest != ""; {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		switch comp {
		case "", ".":
			continue
		case "..":
			cur = parent(cur) // the root's parent is the root
			continue
		}
		next := join(cur, comp)
		target, ok := r.links[next]
		if !ok {
			cur = next
			continue
		}
		v, ok := r.done[next]
		if !ok {
			if depth >= sbom.MaxLinkHops {
				return "", false
			}
			if !strings.HasPrefix(target, "/") {
				target = join(cur, target)
			}
			v.path, v.ok = r.resolve(target, depth+1)
			r.done[next] = v
		}
		if !v.ok {
			return "", false
		}
		cur = v.path
	}
	return cur, true
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}
