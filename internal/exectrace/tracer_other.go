//go:build !linux

package exectrace

import (
	"context"
	"fmt"
)

// DefaultBufferSize is the ring buffer's size on Linux.
const DefaultBufferSize = 1 << 20

// Tracer traces execs on Linux only.
type Tracer struct{}

// Open fails: exec tracing needs Linux.
func Open(int) (*Tracer, error) { return nil, fmt.Errorf("%w: not Linux", ErrUnavailable) }

// Run returns at once.
func (*Tracer) Run(context.Context, func(Exec)) error { return nil }

// Seq knows nothing.
func (*Tracer) Seq(int) (uint64, bool) { return 0, false }

// Lost is 0.
func (*Tracer) Lost() uint64 { return 0 }

// Close does nothing.
func (*Tracer) Close() error { return nil }
