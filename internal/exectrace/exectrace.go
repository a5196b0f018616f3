// Package exectrace sees every exec on the node as it happens: an eBPF
// program on the sched_process_exec raw tracepoint writes one record per
// exec into a ring buffer, with what a process that is gone a millisecond
// later can no longer tell through /proc: its pid and parent, user, start
// time, command name, the path it was executed as, its first arguments and
// the name of its cgroup (the container ID on cgroup v2 nodes).
//
// The program is written with cilium/ebpf's assembler, not compiled from C,
// so that building Palisade needs no clang; the kernel structure offsets
// it reads through come from the kernel's own BTF (/sys/kernel/btf/vmlinux)
// when the tracer is opened. Raw tracepoints need no kprobes, which some
// kernels and sandboxes refuse.
//
// Open fails, with an error that says why, where eBPF cannot be used (no
// BTF, no CAP_BPF/CAP_PERFMON, an old kernel): callers fall back to polling
// /proc and say that they are degraded.
package exectrace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"
)

// ErrUnavailable wraps every reason Open cannot trace execs.
var ErrUnavailable = errors.New("eBPF exec tracing unavailable")

// Limits of one record, fixed by the program.
const (
	MaxFilename = 256 // bytes of the executed path, NUL included
	MaxArgs     = 512 // bytes of NUL-separated arguments
	maxCgroup   = 128 // bytes of the cgroup's name, NUL included
	commLen     = 16
)

// Exec is one exec, as the kernel saw it.
type Exec struct {
	// PID is the process (thread group) ID in the node's pid namespace,
	// PPID its parent's.
	PID, PPID int
	// UID is the real user ID.
	UID uint32
	// Boot is when the process started, since boot (including suspend):
	// the clock /proc/<pid>/stat's start time counts in ticks.
	StartBoot time.Duration
	// Comm is the command name after the exec (at most 15 bytes).
	Comm string
	// Filename is the path passed to execve, as given: neither resolved
	// nor made absolute.
	Filename string
	// Args are the first arguments (argv), cut at MaxArgs bytes; a cut
	// last argument is dropped and ArgsTruncated set. They are not
	// redacted: callers redact before they keep or send them.
	Args          []string
	ArgsTruncated bool
	// CgroupID is the process's cgroup in the unified (v2) hierarchy, and
	// Cgroup that cgroup's directory name ("cri-containerd-<id>.scope",
	// "crio-<id>.scope", "<id>"...; "" for the root, as on v1-only nodes).
	CgroupID uint64
	Cgroup   string
	// Seq numbers the execs of PID, from 1, as the kernel counted them
	// (Tracer.Seq tells the count now): a /proc read of PID describes this
	// exec only while the count is still Seq.
	Seq uint64
}

// StartTicks is StartBoot in the clock ticks of /proc/<pid>/stat (USER_HZ
// is 100 on every Linux architecture Kubernetes runs on), so that an exec
// record and a later read of /proc name the same process.
func (e Exec) StartTicks() uint64 { return uint64(e.StartBoot / (10 * time.Millisecond)) }

// Record layout, written by the program (little endian on every
// architecture Palisade builds the agent for).
const (
	offKtime    = 0
	offTgid     = 8
	offTid      = 12
	offUID      = 16
	offPPID     = 20
	offCgroupID = 24
	offStart    = 32
	offComm     = 40
	offCgroup   = offComm + commLen     // 56
	offFilename = offCgroup + maxCgroup // 184
	offArgsLen  = offFilename + MaxFilename
	offArgs     = offArgsLen + 8
	offSeq      = offArgs + MaxArgs
	recordSize  = offSeq + 8
)

// decode turns one ring buffer record into an Exec; false for a record
// too short to be one of ours.
func decode(b []byte) (Exec, bool) {
	if len(b) < recordSize {
		return Exec{}, false
	}
	le := binary.LittleEndian
	e := Exec{
		PID:       int(le.Uint32(b[offTgid:])),
		PPID:      int(le.Uint32(b[offPPID:])),
		UID:       le.Uint32(b[offUID:]),
		StartBoot: time.Duration(le.Uint64(b[offStart:])),
		Comm:      cString(b[offComm : offComm+commLen]),
		Filename:  cString(b[offFilename : offFilename+MaxFilename]),
		CgroupID:  le.Uint64(b[offCgroupID:]),
		Cgroup:    cString(b[offCgroup : offCgroup+maxCgroup]),
		Seq:       le.Uint64(b[offSeq:]),
	}
	// The program stores the whole length of the arguments and copies at
	// most MaxArgs bytes of them.
	full := le.Uint64(b[offArgsLen:])
	e.Args, e.ArgsTruncated = splitArgs(b[offArgs : offArgs+int(min(full, MaxArgs))])
	e.ArgsTruncated = e.ArgsTruncated || full > MaxArgs
	return e, true
}

// splitArgs splits NUL-separated arguments; an argument without its
// closing NUL was cut by the bound and is dropped.
func splitArgs(b []byte) (args []string, truncated bool) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return args, true
		}
		args = append(args, string(b[:i]))
		b = b[i+1:]
	}
	return args, false
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
