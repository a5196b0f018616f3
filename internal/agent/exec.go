package agent

import (
	"path"
	"slices"

	"github.com/palisade-project/palisade/internal/exectrace"
	"github.com/palisade-project/palisade/internal/procfs"
)

// ExecResolver turns the kernel's exec records into processes as a /proc
// read would have described them, so that an exec seen by eBPF and the
// same process seen by the next poll are one record.
type ExecResolver struct {
	FS *procfs.FS
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
// A container process still in /proc with the same start and command name
// is read there for its executable, which the kernel resolved; a different
// command name means it executed something else since (or renamed itself),
// so the record stands alone. Either way the arguments are the record's:
// read from the new program's memory at the exec, before the program could
// rewrite them, and redacted here. A process already gone is built from the
// record: its executable is the path it was run as, a relative one joined
// to its parent's working directory when that can be read (else left
// relative, which the rules take as unknown, never as absent).
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
	if p, _, err := r.FS.Process(e.PID); err == nil && p.StartTicks == e.StartTicks() && p.Comm == e.Comm {
		if p.ContainerID == "" || p.Kernel || p.MonitorOf != "" {
			return p, ExecHost
		}
		p.Args, p.ArgsTruncated = args, truncated
		return p, ExecFromProc
	}
	p := procfs.Process{PID: e.PID, PPID: e.PPID, UID: int(e.UID), Comm: e.Comm, Exe: e.Filename,
		Args: args, ArgsTruncated: truncated, StartTicks: e.StartTicks(), StartTime: r.FS.StartTime(e.StartTicks()),
		ContainerID: cg.ContainerID, Runtime: cg.Runtime, PodUID: cg.PodUID}
	if p.Exe != "" && !path.IsAbs(p.Exe) {
		if cwd, err := r.FS.Cwd(e.PPID); err == nil {
			p.Exe = path.Join(cwd, p.Exe)
		}
	}
	return p, ExecFromRecord
}
