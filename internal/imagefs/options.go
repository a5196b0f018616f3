package imagefs

import (
	"errors"
	"log/slog"

	"github.com/palisade-project/palisade/internal/extractor"
)

// ErrLimit is wrapped by every error caused by an image or layer exceeding
// one of the bounds in Options (or an open option). The message names the
// layer and the bound.
var ErrLimit = errors.New("image exceeds a scan limit")

// ErrInvalidLayer is wrapped when a layer cannot be read as a tar stream
// (truncated, corrupt compression, bad headers).
var ErrInvalidLayer = errors.New("invalid layer")

// Default bounds, applied by Options.withDefaults.
const (
	DefaultMaxLayers               = 128
	DefaultMaxLayerCompressedBytes = 4 << 30  // 4 GiB
	DefaultMaxCompressedBytes      = 16 << 30 // 16 GiB
	DefaultMaxLayerBytes           = 8 << 30  // 8 GiB decompressed
	DefaultMaxBytes                = 32 << 30 // 32 GiB decompressed
	DefaultMaxLayerEntries         = 500_000
	DefaultMaxBufferedBytes        = 512 << 20 // 512 MiB
	DefaultMaxConfigBytes          = 8 << 20   // 8 MiB
	DefaultMaxExecutables          = 100_000
	DefaultMaxExecutableBytes      = 8 << 20 // 8 MiB
)

// osReleaseMax caps the os-release files read by the walker itself.
const osReleaseMax = 64 << 10

// Options bounds a walk. The zero value means "use the defaults"; a
// negative value is never valid and is replaced by the default too.
type Options struct {
	// MaxLayers is the most layers an image may have.
	MaxLayers int
	// MaxLayerCompressedBytes and MaxCompressedBytes bound the compressed
	// sizes declared by the manifest, per layer and in total.
	MaxLayerCompressedBytes int64
	MaxCompressedBytes      int64
	// MaxLayerBytes and MaxBytes bound the decompressed tar bytes read, per
	// layer and in total (decompression bombs).
	MaxLayerBytes int64
	MaxBytes      int64
	// MaxLayerEntries is the most tar entries a layer may have.
	MaxLayerEntries int
	// MaxFileSize is the largest file handed to an extractor; larger files
	// an extractor asked for are recorded as errors wrapping
	// extractor.ErrTooLarge.
	MaxFileSize int64
	// MaxBufferedBytes bounds the content held in memory for extractors over
	// the whole walk; files beyond it are recorded as errors wrapping
	// ErrLimit and not extracted.
	MaxBufferedBytes int64
	// MaxConfigBytes bounds the image config's declared size.
	MaxConfigBytes int64
	// MaxExecutables and MaxExecutableBytes bound the executables listed
	// (Result.Executables): files and links, and the bytes of their paths
	// (and link targets). They also bound, each, the executable files and
	// the symbolic links the walk keeps to resolve them. An image over
	// them gets a list marked truncated, never a partial one.
	MaxExecutables     int
	MaxExecutableBytes int64
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called as layers are read: at the start of
	// each layer and about every ProgressBytes decompressed bytes. It runs
	// on the walking goroutine and must be quick.
	Progress func(Progress)
}

// Progress reports how far a walk got.
type Progress struct {
	// Layer is the 1-based number of the layer being read, in walking
	// order (top layer first), of Layers.
	Layer, Layers int
	// Digest is the layer's digest.
	Digest string
	// CompressedBytes is the image's total compressed layer size.
	CompressedBytes int64
	// DecompressedBytes have been read so far, over all layers.
	DecompressedBytes int64
}

// ProgressBytes is how many decompressed bytes pass between two calls of
// Options.Progress within a layer.
const ProgressBytes = 4 << 20

// withDefaults returns o with every unset bound replaced by its default.
// It is the only place defaults are applied.
func (o Options) withDefaults() Options {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&o.MaxLayers, DefaultMaxLayers)
	set64(&o.MaxLayerCompressedBytes, DefaultMaxLayerCompressedBytes)
	set64(&o.MaxCompressedBytes, DefaultMaxCompressedBytes)
	set64(&o.MaxLayerBytes, DefaultMaxLayerBytes)
	set64(&o.MaxBytes, DefaultMaxBytes)
	setInt(&o.MaxLayerEntries, DefaultMaxLayerEntries)
	set64(&o.MaxFileSize, extractor.MaxFileSize)
	set64(&o.MaxBufferedBytes, DefaultMaxBufferedBytes)
	set64(&o.MaxConfigBytes, DefaultMaxConfigBytes)
	setInt(&o.MaxExecutables, DefaultMaxExecutables)
	set64(&o.MaxExecutableBytes, DefaultMaxExecutableBytes)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
