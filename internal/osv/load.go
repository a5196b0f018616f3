package osv

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// MaxArchiveRecords bounds the records read from one zip or directory.
const MaxArchiveRecords = 2_000_000

// LoadError is a record that could not be loaded; the rest of the source
// still is.
type LoadError struct {
	Source string // the zip or directory
	File   string // the record's file within it
	Err    error
}

func (e *LoadError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Source, e.File, e.Err) }
func (e *LoadError) Unwrap() error { return e.Err }

// Load reads every OSV record (.json, .yaml, .yml) of a zip file (an OSV
// export such as all.zip, or the Go vulnerability database module zip) or a
// directory tree, or one record file. Broken records are returned as
// LoadErrors and skipped; an unreadable source is an error.
func Load(ctx context.Context, src string) ([]*Record, []*LoadError, error) {
	info, err := os.Stat(src)
	if err != nil {
		return nil, nil, fmt.Errorf("reading vulnerability data: %w", err)
	}
	l := &loader{src: src}
	switch {
	case info.IsDir():
		err = l.dir(ctx)
	case strings.EqualFold(filepath.Ext(src), ".zip"):
		err = l.zip(ctx)
	default:
		f, ferr := os.Open(src)
		if ferr != nil {
			return nil, nil, ferr
		}
		defer f.Close()
		l.one(filepath.Base(src), f)
	}
	if err != nil {
		return nil, nil, err
	}
	return l.records, l.errs, nil
}

type loader struct {
	src     string
	records []*Record
	errs    []*LoadError
}

func isRecordFile(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}

func isOSVDir(name string) bool {
	return strings.HasPrefix(name, "data/osv/") || strings.Contains(name, "/data/osv/")
}

func isIndex(name string) bool {
	return strings.HasPrefix(name, "index/") || strings.Contains(name, "/index/")
}

func (l *loader) one(name string, r io.Reader) {
	rec, err := ParseReader(r)
	if err != nil {
		l.errs = append(l.errs, &LoadError{Source: l.src, File: name, Err: err})
		return
	}
	l.records = append(l.records, rec)
}

func (l *loader) full() error {
	if len(l.records)+len(l.errs) >= MaxArchiveRecords {
		return fmt.Errorf("%s: more than %d records", l.src, MaxArchiveRecords)
	}
	return nil
}

func (l *loader) zip(ctx context.Context) error {
	zr, err := zip.OpenReader(l.src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", l.src, err)
	}
	defer zr.Close()
	files := append([]*zip.File(nil), zr.File...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	// The Go vulnerability database module zip also holds reports in its
	// own YAML format; only data/osv/ is OSV there.
	onlyOSVDir := false
	for _, f := range files {
		if isOSVDir(f.Name) {
			onlyOSVDir = true
			break
		}
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Skip directories, non-records and index files.
		if f.FileInfo().IsDir() || !isRecordFile(f.Name) || isIndex(f.Name) || (onlyOSVDir && !isOSVDir(f.Name)) {
			continue
		}
		if err := l.full(); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			l.errs = append(l.errs, &LoadError{Source: l.src, File: f.Name, Err: err})
			continue
		}
		l.one(f.Name, rc)
		rc.Close()
	}
	return nil
}

func (l *loader) dir(ctx context.Context) error {
	return filepath.WalkDir(l.src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			l.errs = append(l.errs, &LoadError{Source: l.src, File: p, Err: err})
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || !isRecordFile(p) {
			return nil
		}
		if err := l.full(); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			l.errs = append(l.errs, &LoadError{Source: l.src, File: p, Err: err})
			return nil
		}
		defer f.Close()
		rel, _ := filepath.Rel(l.src, p)
		l.one(filepath.ToSlash(rel), f)
		return nil
	})
}
