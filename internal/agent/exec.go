package agent

import (
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/exectrace"
	"github.com/palisade-project/palisade/internal/procfs"
	"github.com/palisade-project/palisade/internal/procrules"
)

// ExecResolver turns the kernel's exec records into processes as a /proc
// read would have described them, so that an exec seen by eBPF and the
// same process seen by the next poll are one record.
type ExecResolver struct {
	FS *procfs.FS
	// Seq tells the kernel's count of a pid's execs (exectrace's
	// Tracer.Seq); nil falls back to comparing command names.
	Seq func(pid int) (uint64, bool)
}

// ExecSource says where a resolved exec's details came from.
type ExecSource int

const (
	// ExecHost is an exec outside any container: not reported.
	ExecHost ExecSource = iota
	// ExecFromProc: the process was still in /proc, and was read there.
	ExecFromProc
	// ExecFromRecord: the process was gone; what is known is the record's,
	// with the container named by its cgroup or its parent's.
	ExecFromRecord
)

// Resolve returns the process of e. Its container is found first, at the
// least cost, since most execs on a node are not a container's: the name
// of its unified-hierarchy cgroup in the record, else its
// /proc/<pid>/cgroup, else (gone, on a cgroup v1 node) its parent's.
//
// A container process still in /proc with the same start is read there
// for its executable, which the kernel resolved, when the read is of this
// exec: the kernel's count of the pid's execs (Seq) is the record's both
// before and after the read (without Seq, when the command name is still
// the record's). Otherwise the record stands alone. Either way the
// arguments are the record's: read from the new program's memory at the
// exec, before the program could rewrite them, and redacted here. A
// process already gone is built from the record: its executable is the
// path it was run as, possibly relative (the rules take such a path as
// unknown, never as absent from the image).
//
// The container runtime's own init (runc re-executing itself from a memory
// file or a descriptor to set a container up) is not the container's: a
// file-less executable whose parent is outside the container is left out
// as the host's.
func (r ExecResolver) Resolve(e exectrace.Exec) (procfs.Process, ExecSource) {
	cg := procfs.CgroupFromName(e.Cgroup)
	if cg.ContainerID == "" && cg.MonitorOf == "" {
		var err error
		if cg, err = r.FS.Cgroup(e.PID); err != nil {
			// Gone: the parent, if still there, is almost always in the
			// same container (a shell or the runtime's init that ran it).
			cg, _ = r.FS.Cgroup(e.PPID)
		}
	}
	if cg.ContainerID == "" || cg.MonitorOf != "" {
		return procfs.Process{}, ExecHost
	}
	args, truncated, _ := r.FS.Redact(slices.Clone(e.Args))
	truncated = truncated || e.ArgsTruncated
	same := func() bool {
		n, ok := r.Seq(e.PID)
		return ok && n == e.Seq
	}
	if r.Seq == nil || same() {
		if p, _, err := r.FS.Process(e.PID); err == nil && p.StartTicks == e.StartTicks() &&
			(r.Seq != nil && same() || r.Seq == nil && p.Comm == e.Comm) {
			if p.ContainerID == "" || p.Kernel || p.MonitorOf != "" || r.runtimeInit(p.Exe, p.ContainerID, e.PPID) {
				return p, ExecHost
			}
			p.Args, p.ArgsTruncated = args, truncated
			return p, ExecFromProc
		}
	}
	p := procfs.Process{PID: e.PID, PPID: e.PPID, UID: int(e.UID), Comm: e.Comm, Exe: e.Filename,
		Args: args, ArgsTruncated: truncated, StartTicks: e.StartTicks(), StartTime: r.FS.StartTime(e.StartTicks()),
		ContainerID: cg.ContainerID, Runtime: cg.Runtime, PodUID: cg.PodUID}
	if r.runtimeInit(p.Exe, p.ContainerID, e.PPID) {
		return p, ExecHost
	}
	return p, ExecFromRecord
}

// runtimeInit reads the parent's container only for a file-less
// executable.
func (r ExecResolver) runtimeInit(exe, containerID string, ppid int) bool {
	if !procrules.Fileless(strings.TrimSuffix(exe, " (deleted)")) {
		return false
	}
	parent, err := r.FS.Cgroup(ppid)
	return err == nil && RuntimeInit(exe, containerID, parent.ContainerID)
}

// RuntimeInit reports whether a process of container containerID whose
// parent is in parentContainer ("" for the host) is the container
// runtime's init rather than the container's: a file-less executable
// (runc re-executing itself from a memory file or a descriptor) started
// from outside the container. A program in the container cannot have a
// parent outside it, except what the runtime starts there (an exec probe,
// kubectl exec), and those run the image's files, not a memory file.
func RuntimeInit(exe, containerID, parentContainer string) bool {
	return containerID != "" && parentContainer != containerID && procrules.Fileless(strings.TrimSuffix(exe, " (deleted)"))
}
