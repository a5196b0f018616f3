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

// Resolve returns the process of e. A process still in /proc with the
// same start is read there (its executable resolved, its arguments whole
// and redacted). A process already gone is built from the record: the
// executable is the path it was run as, the arguments the record's first
// ones, redacted; its container is the one its unified-hierarchy cgroup
// names, else its parent's (cgroup v1 nodes), read from /proc.
func (r ExecResolver) Resolve(e exectrace.Exec) (procfs.Process, ExecSource) {
	if p, _, err := r.FS.Process(e.PID); err == nil && p.StartTicks == e.StartTicks() {
		if p.ContainerID == "" || p.Kernel || p.MonitorOf != "" {
			return p, ExecHost
		}
		return p, ExecFromProc
	}
	p := procfs.Process{PID: e.PID, PPID: e.PPID, UID: int(e.UID), Comm: e.Comm, Exe: e.Filename,
		StartTicks: e.StartTicks(), StartTime: r.FS.StartTime(e.StartTicks())}
	var truncated bool
	p.Args, truncated, _ = r.FS.Redact(e.Args)
	p.ArgsTruncated = truncated || e.ArgsTruncated
	cg := procfs.CgroupFromName(e.Cgroup)
	if cg.MonitorOf != "" {
		return p, ExecHost
	}
	p.ContainerID, p.Runtime = cg.ContainerID, cg.Runtime
	if p.ContainerID == "" {
		// The parent, if still there, is almost always in the same
		// container: a shell or the runtime's init that ran the process.
		if parent, _, err := r.FS.Process(e.PPID); err == nil && parent.MonitorOf == "" {
			p.ContainerID, p.Runtime, p.PodUID = parent.ContainerID, parent.Runtime, parent.PodUID
			p.NetNS, p.PIDNS = parent.NetNS, parent.PIDNS
		}
	}
	if p.ContainerID == "" {
		return p, ExecHost
	}
	return p, ExecFromRecord
}
