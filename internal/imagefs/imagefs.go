// Package imagefs walks the file system of a container image straight from
// its layers, without unpacking anything to disk, and hands the files that
// extractor plug-ins ask for to those plug-ins.
//
// Layers are read top-down (last layer first) so that the first time a path
// is seen is the version the container sees; OCI whiteouts (.wh.<name>) and
// opaque directories (.wh..wh..opq) hide lower layers' entries. Every size
// is bounded (see Options), tar names are normalised and entries escaping
// the root are skipped, symbolic links are never followed to read a file,
// and hard links resolve only to earlier entries of the same layer.
//
// The walk also lists the image's executables (Result.Executables): the
// visible regular files with an execute bit and the symbolic links that
// lead to them, resolved within the image once every layer is read.
package imagefs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// Paths of os-release, in order of precedence (os-release(5)).
const (
	osReleaseEtc = "etc/os-release"
	osReleaseLib = "usr/lib/os-release"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	maxLinkHops    = 16
)

// Result is what a walk found.
type Result struct {
	OS       sbom.OS
	Config   sbom.ImageConfig
	Packages []sbom.Package
	// Executables are the executable files of the final file system and
	// the links to them; never nil after a walk.
	Executables *sbom.Executables
	// Errors are the per-file problems that did not stop the walk: an
	// extractor failing on a file, a file too large for an extractor, the
	// buffer budget exhausted, an unresolvable hard link.
	Errors []*FileError
	Stats  Stats
}

// Stats counts what a walk did.
type Stats struct {
	Layers int
	// Entries is the number of tar entries read in all layers.
	Entries int
	// Files is the number of visible regular files (and hard links).
	Files int
	// Hidden counts entries hidden by an upper layer or a whiteout.
	Hidden int
	// Whiteouts counts whiteout and opaque markers.
	Whiteouts int
	// Unsafe counts entries skipped because their name escapes the root.
	Unsafe    int
	Symlinks  int
	HardLinks int
	// CompressedBytes is the sum of the layers' declared sizes.
	CompressedBytes int64
	// DecompressedBytes is the number of tar bytes read.
	DecompressedBytes int64
	// BufferedBytes is the content held in memory for extractors; it never
	// exceeds Options.MaxBufferedBytes.
	BufferedBytes int64
	// Extracted counts Extract calls.
	Extracted int
}

// FileError is a problem with one file that did not stop the walk.
type FileError struct {
	// Extractor is empty when the problem is the walker's.
	Extractor string
	Path      string
	Err       error
}

func (e *FileError) Error() string {
	if e.Extractor == "" {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("extractor %s on %s: %v", e.Extractor, e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// seenEntry is what the walk remembers of a visible path.
type seenEntry struct {
	layer int32
	dir   bool
}

// file is a visible regular file that someone asked for.
type bufferedFile struct {
	path       string
	mode       fs.FileMode
	size       int64
	data       []byte
	extractors []int // indexes into the walker's extractors
	osRelease  bool
	// shared is set for a hard link sharing its target's data.
	shared bool
}

// layerEntry is what one layer's tar says about a path, for hard links.
type layerEntry struct {
	link string        // hard-link target, cleaned; empty for a regular file
	mode fs.FileMode   // of a regular file
	size int64         // of a regular file
	f    *bufferedFile // buffered content, when someone asked for it
}

type walker struct {
	opts       Options
	extractors []extractor.Extractor
	res        *Result

	seen      map[string]seenEntry
	whiteouts map[string]struct{} // paths hidden from lower layers
	opaque    map[string]struct{} // directories whose lower contents are hidden
	files     map[string]*bufferedFile
	execs     *execCollector

	totalRead int64
	wantBuf   []int
	// layerNo of layers is the layer being read, for Options.Progress.
	layerNo, layers int
}

// Walk reads img's layers top-down, applying whiteouts, buffers (within the
// bounds of opts) each visible regular file that an extractor requires, and
// then calls the extractors, os-release first so that every Input carries
// the image's OS. An extractor failing on a file is recorded in
// Result.Errors; an image or layer over a bound fails the walk with an error
// wrapping ErrLimit.
func Walk(ctx context.Context, img v1.Image, extractors []extractor.Extractor, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	w := &walker{
		opts:       opts,
		extractors: extractors,
		res:        &Result{},
		seen:       make(map[string]seenEntry),
		whiteouts:  make(map[string]struct{}),
		opaque:     make(map[string]struct{}),
		files:      make(map[string]*bufferedFile),
		execs:      newExecCollector(opts),
	}
	cfg, err := readConfig(img, opts)
	if err != nil {
		return nil, err
	}
	w.res.Config = cfg

	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	if len(layers) > opts.MaxLayers {
		return nil, fmt.Errorf("image has %d layers, more than the limit of %d (MaxLayers): %w", len(layers), opts.MaxLayers, ErrLimit)
	}
	digests := make([]string, len(layers))
	var total int64
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("layer %d digest: %w", i, err)
		}
		digests[i] = d.String()
		size, err := l.Size()
		if err != nil {
			return nil, fmt.Errorf("layer %s size: %w", d, err)
		}
		if size > opts.MaxLayerCompressedBytes {
			return nil, fmt.Errorf("layer %s is %d bytes compressed, more than the limit of %d (MaxLayerCompressedBytes): %w", d, size, opts.MaxLayerCompressedBytes, ErrLimit)
		}
		total += size
		if total > opts.MaxCompressedBytes {
			return nil, fmt.Errorf("image layers up to %s are %d bytes compressed, more than the limit of %d (MaxCompressedBytes): %w", d, total, opts.MaxCompressedBytes, ErrLimit)
		}
	}
	w.res.Stats.CompressedBytes = total

	for i := len(layers) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		w.layerNo = len(layers) - i
		w.layers = len(layers)
		w.progress(digests[i])
		if err := w.walkLayer(ctx, int32(i), digests[i], layers[i]); err != nil {
			return nil, err
		}
		w.res.Stats.Layers++
	}
	if err := w.extract(ctx); err != nil {
		return nil, err
	}
	if w.res.Executables, err = w.execs.result(ctx); err != nil {
		return nil, err
	}
	return w.res, nil
}

// progress reports the walk's position to Options.Progress.
func (w *walker) progress(digest string) {
	if w.opts.Progress != nil {
		w.opts.Progress(Progress{Layer: w.layerNo, Layers: w.layers, Digest: digest, CompressedBytes: w.res.Stats.CompressedBytes, DecompressedBytes: w.totalRead})
	}
}

func readConfig(img v1.Image, opts Options) (sbom.ImageConfig, error) {
	m, err := img.Manifest()
	if err != nil {
		return sbom.ImageConfig{}, fmt.Errorf("reading manifest: %w", err)
	}
	if m.Config.Size > opts.MaxConfigBytes {
		return sbom.ImageConfig{}, fmt.Errorf("image config %s is %d bytes, more than the limit of %d (MaxConfigBytes): %w", m.Config.Digest, m.Config.Size, opts.MaxConfigBytes, ErrLimit)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return sbom.ImageConfig{}, fmt.Errorf("reading image config: %w", err)
	}
	return sbom.ImageConfig{
		User:       cf.Config.User,
		Entrypoint: cf.Config.Entrypoint,
		Cmd:        cf.Config.Cmd,
		Labels:     cf.Config.Labels,
		Created:    cf.Created.Time,
	}, nil
}

// countingReader bounds the decompressed bytes read from a layer and checks
// the context on every read.
type countingReader struct {
	ctx      context.Context
	r        io.Reader
	n        int64 // this layer
	max      int64
	total    *int64
	maxTotal int64
	digest   string
	err      error // sticky limit or context error
	// onRead, when set, is called after every read.
	onRead func()
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	*c.total += int64(n)
	if c.onRead != nil {
		c.onRead()
	}
	switch {
	case c.n > c.max:
		c.err = fmt.Errorf("layer %s decompresses to more than %d bytes (MaxLayerBytes): %w", c.digest, c.max, ErrLimit)
		return n, c.err
	case *c.total > c.maxTotal:
		c.err = fmt.Errorf("image decompresses to more than %d bytes (MaxBytes), reached in layer %s: %w", c.maxTotal, c.digest, ErrLimit)
		return n, c.err
	}
	return n, err
}

// openLayer opens a layer's uncompressed stream behind the reader that
// bounds it, checks the context and reports progress.
func (w *walker) openLayer(ctx context.Context, digest string, l v1.Layer) (io.Closer, *countingReader, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, nil, fmt.Errorf("opening layer %s: %w: %w", digest, ErrInvalidLayer, err)
	}
	cr := &countingReader{
		ctx: ctx, r: rc, max: w.opts.MaxLayerBytes,
		total: &w.totalRead, maxTotal: w.opts.MaxBytes, digest: digest,
	}
	if w.opts.Progress != nil {
		next := w.totalRead + ProgressBytes
		cr.onRead = func() {
			if w.totalRead >= next {
				next = w.totalRead + ProgressBytes
				w.progress(digest)
			}
		}
	}
	return rc, cr, nil
}

func (w *walker) walkLayer(ctx context.Context, li int32, digest string, l v1.Layer) (err error) {
	rc, cr, err := w.openLayer(ctx, digest, l)
	if err != nil {
		return err
	}
	defer rc.Close()
	defer func() { w.res.Stats.DecompressedBytes = w.totalRead }()
	tr := tar.NewReader(bufio.NewReaderSize(cr, 64<<10))

	// Whiteouts of this layer apply to lower layers only.
	newWhiteouts := make(map[string]struct{})
	newOpaque := make(map[string]struct{})
	entries := make(map[string]layerEntry)
	pending := make(map[string]pendingLink)
	n := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cr.err != nil {
				return cr.err
			}
			return fmt.Errorf("reading layer %s: %w: %w", digest, ErrInvalidLayer, err)
		}
		n++
		w.res.Stats.Entries++
		if n > w.opts.MaxLayerEntries {
			return fmt.Errorf("layer %s has more than %d entries (MaxLayerEntries): %w", digest, w.opts.MaxLayerEntries, ErrLimit)
		}
		name, ok := cleanName(hdr.Name)
		if !ok {
			w.res.Stats.Unsafe++
			continue
		}
		if name == "." {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			dir = "."
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			w.res.Stats.Whiteouts++
			if base == whiteoutOpaque {
				newOpaque[dir] = struct{}{}
			} else if target := strings.TrimPrefix(base, whiteoutPrefix); target != "" && target != "." && target != ".." {
				newWhiteouts[path.Join(dir, target)] = struct{}{}
			}
			continue
		}
		if w.hidden(li, name) {
			w.res.Stats.Hidden++
			continue
		}
		if prev, ok := w.seen[name]; ok && prev.layer == li {
			// A later entry for the same path in one layer replaces the
			// earlier one.
			w.drop(name)
			w.execs.forget(name)
			delete(entries, name)
			delete(pending, name)
		}
		w.seen[name] = seenEntry{layer: li, dir: hdr.Typeflag == tar.TypeDir}

		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			w.res.Stats.Files++
			f, err := w.regular(tr, name, hdr.FileInfo().Mode(), hdr.Size, digest)
			if err != nil {
				return err
			}
			entries[name] = layerEntry{mode: hdr.FileInfo().Mode(), size: hdr.Size, f: f}
			w.execs.file(name, hdr.FileInfo().Mode())
		case tar.TypeLink:
			w.res.Stats.HardLinks++
			w.res.Stats.Files++
			target, ok := cleanName(hdr.Linkname)
			if !ok {
				w.res.Stats.Unsafe++
				continue
			}
			entries[name] = layerEntry{link: target}
			w.execs.file(name, w.hardLink(entries, pending, name, target, hdr))
		case tar.TypeSymlink:
			w.res.Stats.Symlinks++
			w.execs.link(name, hdr.Linkname)
		}
	}
	if len(pending) > 0 {
		if err := w.linkPass(ctx, digest, l, pending); err != nil {
			return err
		}
	}
	for p := range newWhiteouts {
		w.whiteouts[p] = struct{}{}
	}
	for p := range newOpaque {
		w.opaque[p] = struct{}{}
	}
	return nil
}

// hidden reports whether a path in layer li is hidden by an upper layer:
// seen there already, whited out, under an opaque directory or under a path
// that an upper layer made a non-directory.
func (w *walker) hidden(li int32, name string) bool {
	if s, ok := w.seen[name]; ok && s.layer != li {
		return true
	}
	if _, ok := w.whiteouts[name]; ok {
		return true
	}
	if _, ok := w.opaque["."]; ok {
		return true
	}
	for p := name; ; {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
		if _, ok := w.whiteouts[p]; ok {
			return true
		}
		if _, ok := w.opaque[p]; ok {
			return true
		}
		if s, ok := w.seen[p]; ok && s.layer != li && !s.dir {
			return true
		}
	}
}

// wanted returns the extractors (by index) that want a file, in w.wantBuf.
func (w *walker) wanted(name string, mode fs.FileMode, size int64) ([]int, bool) {
	w.wantBuf = w.wantBuf[:0]
	for i, e := range w.extractors {
		if e.Required(name, mode, size) {
			w.wantBuf = append(w.wantBuf, i)
		}
	}
	osr := name == osReleaseEtc || name == osReleaseLib
	return w.wantBuf, osr
}

// regular buffers a regular file if an extractor or the walker wants it.
func (w *walker) regular(tr io.Reader, name string, mode fs.FileMode, size int64, digest string) (*bufferedFile, error) {
	want, osr := w.wanted(name, mode, size)
	if len(want) == 0 && !osr {
		return nil, nil
	}
	return w.buffer(tr, name, mode, size, slices.Clone(want), osr, digest)
}

// buffer reads a wanted file within the size limit and the buffer budget;
// over them, it records the problem and returns nil.
func (w *walker) buffer(r io.Reader, name string, mode fs.FileMode, size int64, want []int, osr bool, digest string) (*bufferedFile, error) {
	limit := w.opts.MaxFileSize
	if len(want) == 0 {
		limit = osReleaseMax
	}
	if size > limit {
		for _, i := range want {
			w.fileErr(w.extractors[i].Name(), name, fmt.Errorf("%d bytes, more than the limit of %d: %w", size, limit, extractor.ErrTooLarge))
		}
		return nil, nil
	}
	if w.res.Stats.BufferedBytes+size > w.opts.MaxBufferedBytes {
		w.fileErr("", name, fmt.Errorf("not extracted: buffering %d more bytes would exceed %d (MaxBufferedBytes): %w", size, w.opts.MaxBufferedBytes, ErrLimit))
		return nil, nil
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("reading %s in layer %s: %w: %w", name, digest, ErrInvalidLayer, err)
	}
	w.res.Stats.BufferedBytes += size
	f := &bufferedFile{path: name, mode: mode, size: size, data: data, extractors: want, osRelease: osr}
	w.files[name] = f
	return f, nil
}

// hardLink resolves a hard link to an earlier regular file of the same
// layer and, if someone wants the link's path, shares the target's content
// or, when the target was not buffered, records the link for a second pass
// over the layer. It returns the mode of the file the link names: its
// target's, or the link header's when the target is not in the layer.
func (w *walker) hardLink(entries map[string]layerEntry, pending map[string]pendingLink, name, target string, hdr *tar.Header) fs.FileMode {
	visited := map[string]bool{name: true}
	var te layerEntry
	found := false
	for range maxLinkHops {
		e, ok := entries[target]
		if !ok || visited[target] {
			break
		}
		visited[target] = true
		if e.link == "" {
			te, found = e, true
			break
		}
		target = e.link
	}
	if !found {
		want, osr := w.wanted(name, hdr.FileInfo().Mode(), 0)
		if len(want) > 0 || osr {
			w.fileErr("", name, fmt.Errorf("hard link to %s: no regular file of that name earlier in the same layer (or a link loop)", hdr.Linkname))
		}
		return fs.FileMode(hdr.Mode).Perm()
	}
	want, osr := w.wanted(name, te.mode, te.size)
	if len(want) == 0 && !osr {
		return te.mode
	}
	if te.f != nil {
		w.files[name] = &bufferedFile{path: name, mode: te.mode, size: te.size, data: te.f.data, extractors: slices.Clone(want), osRelease: osr, shared: true}
		return te.mode
	}
	pending[name] = pendingLink{target: target, mode: te.mode, size: te.size, want: slices.Clone(want), osr: osr}
	return te.mode
}

// pendingLink is a wanted hard link whose target was not buffered.
type pendingLink struct {
	target string
	mode   fs.FileMode
	size   int64
	want   []int
	osr    bool
}

// linkPass reads a layer again to buffer the targets of pending hard links.
func (w *walker) linkPass(ctx context.Context, digest string, l v1.Layer, pending map[string]pendingLink) error {
	byTarget := make(map[string][]string)
	for name, p := range pending {
		byTarget[p.target] = append(byTarget[p.target], name)
	}
	rc, cr, err := w.openLayer(ctx, digest, l)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(bufio.NewReaderSize(cr, 64<<10))
	for n := 0; len(byTarget) > 0; n++ {
		hdr, err := tr.Next()
		if err != nil {
			if cr.err != nil {
				return cr.err
			}
			return fmt.Errorf("reading layer %s again for hard links: %w: %w", digest, ErrInvalidLayer, err)
		}
		if n >= w.opts.MaxLayerEntries {
			return fmt.Errorf("layer %s has more than %d entries (MaxLayerEntries): %w", digest, w.opts.MaxLayerEntries, ErrLimit)
		}
		name, ok := cleanName(hdr.Name)
		links := byTarget[name]
		if !ok || len(links) == 0 || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeGNUSparse) {
			continue
		}
		delete(byTarget, name)
		var data []byte
		for _, link := range links {
			p := pending[link]
			if data != nil {
				w.files[link] = &bufferedFile{path: link, mode: p.mode, size: p.size, data: data, extractors: p.want, osRelease: p.osr, shared: true}
				continue
			}
			f, err := w.buffer(tr, link, p.mode, p.size, p.want, p.osr, digest)
			if err != nil {
				return err
			}
			if f != nil {
				data = f.data
			}
		}
	}
	return nil
}

// drop forgets a buffered file replaced within its own layer.
func (w *walker) drop(name string) {
	if f, ok := w.files[name]; ok {
		delete(w.files, name)
		if !f.shared {
			w.res.Stats.BufferedBytes -= int64(len(f.data))
		}
	}
}

func (w *walker) fileErr(ext, name string, err error) {
	w.res.Errors = append(w.res.Errors, &FileError{Extractor: ext, Path: name, Err: err})
}

// extract reads os-release, then calls the extractors on the buffered files
// in path order.
func (w *walker) extract(ctx context.Context) error {
	for _, p := range []string{osReleaseEtc, osReleaseLib} {
		if f, ok := w.files[p]; ok {
			w.res.OS = parseOSRelease(f.data)
			break
		}
	}
	paths := make([]string, 0, len(w.files))
	for p := range w.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	// Extractors that asked for os-release run first.
	slices.SortStableFunc(paths, func(a, b string) int {
		return boolCmp(w.files[b].osRelease, w.files[a].osRelease)
	})
	for _, p := range paths {
		f := w.files[p]
		for _, i := range f.extractors {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := w.extractors[i]
			in := &extractor.Input{Path: f.path, Mode: f.mode, Size: f.size, Reader: bytes.NewReader(f.data), OS: w.res.OS}
			w.res.Stats.Extracted++
			pkgs, err := safeExtract(ctx, e, in)
			if err != nil {
				w.fileErr(e.Name(), f.path, err)
			}
			for j := range pkgs {
				if pkgs[j].Extractor == "" {
					pkgs[j].Extractor = e.Name()
				}
				if len(pkgs[j].Locations) == 0 {
					pkgs[j].Locations = []string{f.path}
				}
			}
			w.res.Packages = append(w.res.Packages, pkgs...)
		}
		f.data = nil // let the content go as soon as possible
	}
	return nil
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// errPanic is wrapped when an extractor panics.
var errPanic = errors.New("extractor panicked")

func safeExtract(ctx context.Context, e extractor.Extractor, in *extractor.Input) (pkgs []sbom.Package, err error) {
	defer func() {
		if r := recover(); r != nil {
			pkgs, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return e.Extract(ctx, in)
}

// cleanName normalises a tar name to a slash-separated path relative to the
// root, without a leading "./" or "/". It reports false for a name that
// escapes the root.
func cleanName(name string) (string, bool) {
	for {
		switch {
		case strings.HasPrefix(name, "/"):
			name = name[1:]
		case strings.HasPrefix(name, "./"):
			name = name[2:]
		default:
			p := path.Clean(name)
			if p == ".." || strings.HasPrefix(p, "../") {
				return "", false
			}
			return p, true
		}
	}
}

// parseOSRelease reads the fields of os-release(5) that sbom.OS holds.
func parseOSRelease(b []byte) sbom.OS {
	var o sbom.OS
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		switch strings.TrimSpace(k) {
		case "ID":
			o.ID = v
		case "VERSION_ID":
			o.VersionID = v
		case "PRETTY_NAME":
			o.Name = v
		}
	}
	return o
}
