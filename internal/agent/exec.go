package agent

import (
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
// /proc/<pid>/cgroup, else (gone, on a cgroup v1 node) its parent's. A
// container process still in /proc with the same start is then read there
// (its executable resolved, its arguments whole and redacted); one already
// gone is built from the record: the executable is the path it was run as,
// the arguments the record's first ones, redacted.
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
	if p, _, err := r.FS.Process(e.PID); err == nil && p.StartTicks == e.StartTicks() {
		if p.ContainerID == "" || p.Kernel || p.MonitorOf != "" {
			return p, ExecHost
		}
		return p, ExecFromProc
	}
	p := procfs.Process{PID: e.PID, PPID: e.PPID, UID: int(e.UID), Comm: e.Comm, Exe: e.Filename,
		StartTicks: e.StartTicks(), StartTime: r.FS.StartTime(e.StartTicks()),
		ContainerID: cg.ContainerID, Runtime: cg.Runtime, PodUID: cg.PodUID}
	var truncated bool
	p.Args, truncated, _ = r.FS.Redact(e.Args)
	p.ArgsTruncated = truncated || e.ArgsTruncated
	return p, ExecFromRecord
}
