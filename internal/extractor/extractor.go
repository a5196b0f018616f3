// Package extractor defines the contract of the plug-ins that find packages
// in an image's file system. The scanner walks the layers and hands each
// plug-in only the files it asked for; plug-ins only parse. Plug-ins import
// this package and internal/sbom, nothing else of Palisade's.
package extractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/palisade-project/palisade/internal/sbom"
)

// MaxFileSize is the default cap on a file handed to an extractor.
const MaxFileSize = 64 << 20

// ErrTooLarge is returned for a file over an extractor's size cap.
var ErrTooLarge = errors.New("file too large")

// ReaderAt reads a file sequentially or at offsets (a *bytes.Reader or an
// *io.SectionReader).
type ReaderAt interface {
	io.Reader
	io.ReaderAt
}

// Extractor finds packages in files of an image.
type Extractor interface {
	// Name identifies the extractor ("os/dpkg", "go/binary").
	Name() string
	// Version changes whenever the extractor's results could change; it is
	// part of the SBOM cache key.
	Version() int
	// Required reports whether the extractor wants the file at path (slash
	// separated, relative to the root, no leading slash), given its mode
	// and size. It must be cheap: it is called for every file.
	Required(path string, mode fs.FileMode, size int64) bool
	// Extract parses one required file.
	Extract(ctx context.Context, in *Input) ([]sbom.Package, error)
}

// Input is one file handed to an extractor.
type Input struct {
	// Path is slash separated, relative to the image root.
	Path string
	Mode fs.FileMode
	Size int64
	// Reader reads the file's content, already bounded by the scanner
	// (binaries such as Go executables need random access).
	Reader ReaderAt
	// OS is the image's operating system, when the scanner has found it
	// (os-release is read before other files).
	OS sbom.OS
}

// ReadAll reads r to its end, refusing more than limit bytes with an error
// wrapping ErrTooLarge. Extractors read whole files through it.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("over %d bytes: %w", limit, ErrTooLarge)
	}
	return b, nil
}
