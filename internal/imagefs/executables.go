package imagefs

import (
	"context"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/sbom"
)

// Version is the walk's version. Scanners record it in every SBOM next to
// the extractors' versions, so that raising it gets every image scanned
// again: 1 added the image's executables.
const Version = 1

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
}

func newExecCollector(opts Options) *execCollector {
	return &execCollector{maxPaths: opts.MaxExecutables, maxBytes: opts.MaxExecutableBytes,
		files: map[string]struct{}{}, links: map[string]string{}}
}

// maxExecPath is the longest path kept: PATH_MAX. A longer one truncates
// the list rather than be left out of it, so that it is never reported
// absent.
const maxExecPath = 4096

// file records a visible regular file of mode.
func (c *execCollector) file(name string, mode fs.FileMode) {
	if c.truncated || mode.Perm()&0o111 == 0 {
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
	c.files, c.links = nil, nil
	c.fileBytes, c.linkBytes = 0, 0
}

// result resolves the links within the image and returns the executables:
// every file under its canonical path (no link in its directories), and
// every link that leads to one of them, or to a directory above one, with
// where it finally leads. Links are followed as the kernel follows them
// inside the container: relative to the link's directory, absolute ones
// from the image's root, ".." stopping at the root, at most
// sbom.MaxLinkHops of them per path; a link that loops, leads nowhere or
// to something that is not executable is left out.
func (c *execCollector) result(ctx context.Context) (*sbom.Executables, error) {
	if c.truncated {
		return &sbom.Executables{Truncated: true}, nil
	}
	r := newResolver(c.links)
	files := make([]string, 0, len(c.files))
	for f := range c.files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		files = append(files, r.canonicalName(f))
	}
	slices.Sort(files)
	files = slices.Compact(files)
	isFile := func(p string) bool { _, ok := slices.BinarySearch(files, p); return ok }

	// Links to files first, then links to directories above a file or a
	// kept link: "/bin" matters because "/usr/bin/dash" or "/usr/bin/sh"
	// is below "/usr/bin".
	type link struct{ name, target string }
	var toDirs []link
	links := map[string]string{}
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
		if isFile(target) {
			links[name] = target
		} else {
			toDirs = append(toDirs, link{name, target})
		}
	}
	keys := slices.Sorted(maps.Keys(links))
	above := func(dir string, sorted []string) bool {
		prefix := dir + "/"
		if dir == "" {
			prefix = ""
		}
		i, _ := slices.BinarySearch(sorted, prefix)
		return i < len(sorted) && strings.HasPrefix(sorted[i], prefix)
	}
	for _, l := range toDirs {
		if above(l.target, files) || above(l.target, keys) {
			links[l.name] = l.target
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
