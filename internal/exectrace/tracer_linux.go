package exectrace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
)

// DefaultBufferSize is the ring buffer's size: about a thousand execs
// can wait for the reader before the kernel drops (and counts) more.
const DefaultBufferSize = 1 << 20

// MaxPIDs bounds the pids whose exec counts the kernel keeps (8 bytes
// each, plus the map's overhead).
const MaxPIDs = 1 << 16

// Tracer holds the loaded program, its attachment and the ring buffer.
type Tracer struct {
	events *ebpf.Map
	lost   *ebpf.Map
	seqs   *ebpf.Map
	prog   *ebpf.Program
	link   link.Link
	reader *ringbuf.Reader

	// mu orders Lost and Close: the lost counter's map is closed once.
	mu     sync.Mutex
	closed bool
}

// Open loads and attaches the exec program. bufferSize is the ring
// buffer's size in bytes, a power of two of at least a page (0: the
// default). The error wraps ErrUnavailable.
func Open(bufferSize int) (*Tracer, error) {
	if bufferSize == 0 {
		bufferSize = DefaultBufferSize
	}
	if bufferSize < os.Getpagesize() || bufferSize&(bufferSize-1) != 0 {
		return nil, fmt.Errorf("%w: ring buffer size %d: want a power of two of at least a page", ErrUnavailable, bufferSize)
	}
	off, err := kernelOffsets()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("%w: raising the memlock limit: %w", ErrUnavailable, err)
	}
	t := &Tracer{}
	ok := false
	defer func() {
		if !ok {
			t.Close()
		}
	}()
	t.events, err = ebpf.NewMap(&ebpf.MapSpec{Name: "palisade_execs", Type: ebpf.RingBuf, MaxEntries: uint32(bufferSize)})
	if err != nil {
		return nil, fmt.Errorf("%w: creating the ring buffer: %w", ErrUnavailable, err)
	}
	t.lost, err = ebpf.NewMap(&ebpf.MapSpec{Name: "palisade_lost", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("%w: creating the lost counter: %w", ErrUnavailable, err)
	}
	// The exec count per pid: least recently used pids (long gone) give
	// way to new ones.
	t.seqs, err = ebpf.NewMap(&ebpf.MapSpec{Name: "palisade_seqs", Type: ebpf.LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: MaxPIDs})
	if err != nil {
		return nil, fmt.Errorf("%w: creating the exec counts: %w", ErrUnavailable, err)
	}
	t.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "palisade_exec",
		Type:         ebpf.RawTracepoint,
		Instructions: program(off, t.events.FD(), t.lost.FD(), t.seqs.FD()),
		License:      "Dual MIT/GPL",
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("%w: the kernel refused the program: %v", ErrUnavailable, ve)
		}
		return nil, fmt.Errorf("%w: loading the program: %w", ErrUnavailable, err)
	}
	t.link, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_process_exec", Program: t.prog})
	if err != nil {
		return nil, fmt.Errorf("%w: attaching to sched_process_exec: %w", ErrUnavailable, err)
	}
	t.reader, err = ringbuf.NewReader(t.events)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the ring buffer: %w", ErrUnavailable, err)
	}
	ok = true
	return t, nil
}

// Run calls fn for each exec, in order, until ctx ends or the tracer is
// closed; it closes the tracer before it returns. fn runs on Run's
// goroutine: while it works, execs wait in the ring buffer.
func (t *Tracer) Run(ctx context.Context, fn func(Exec)) error {
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer stop()
	defer t.Close()
	var rec ringbuf.Record
	for {
		if err := t.reader.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return ctx.Err()
			}
			return fmt.Errorf("reading exec records: %w", err)
		}
		if e, ok := decode(rec.RawSample); ok {
			fn(e)
		}
	}
}

// Lost is the number of execs the kernel could not record because the
// ring buffer was full.
func (t *Tracer) Lost() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n uint64
	if t.closed || t.lost == nil || t.lost.Lookup(uint32(0), &n) != nil {
		return 0
	}
	return n
}

// Seq returns how many execs the kernel has counted for pid since the
// tracer started (see Exec.Seq); false when it knows none (or forgot it:
// the count of the least recently used of more than MaxPIDs pids).
func (t *Tracer) Seq(pid int) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n uint64
	if t.closed || t.seqs.Lookup(uint32(pid), &n) != nil {
		return 0, false
	}
	return n, true
}

// Close detaches the program and frees what Open made; it is safe to call
// more than once and from any goroutine.
func (t *Tracer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.reader != nil {
		t.reader.Close()
	}
	if t.link != nil {
		t.link.Close()
	}
	if t.prog != nil {
		t.prog.Close()
	}
	if t.events != nil {
		t.events.Close()
	}
	if t.lost != nil {
		t.lost.Close()
	}
	if t.seqs != nil {
		t.seqs.Close()
	}
	return nil
}
