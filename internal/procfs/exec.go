package procfs

import (
	"fmt"
	"strings"
	"time"
)

// What an exec tracer (internal/exectrace) records of a process can be
// all that is left of it: these helpers let a caller build a Process from
// such a record the way Processes would have read it.

// Redact bounds args like a /proc read (MaxArgs) and replaces the secrets
// in them, in place; it reports whether it cut or redacted anything.
func (fs *FS) Redact(args []string) (out []string, truncated, redacted bool) {
	if len(args) > fs.opts.MaxArgs {
		args, truncated = args[:fs.opts.MaxArgs], true
	}
	out, redacted = fs.red.redact(args)
	return out, truncated, redacted
}

// StartTime turns a start in clock ticks since boot into wall-clock time,
// as Process.StartTime; zero when the boot time is unknown.
func (fs *FS) StartTime(ticks uint64) time.Time {
	bt, err := fs.bootTime()
	if err != nil {
		return time.Time{}
	}
	return time.Unix(bt, 0).Add(time.Duration(ticks) * (time.Second / userHZ))
}

// CgroupFromName reads the container a cgroup's directory name alone
// names: the systemd drivers' "cri-containerd-<id>.scope",
// "crio-<id>.scope", "docker-<id>.scope" and the cgroupfs drivers' bare
// 64-hex ID (without its parents, a bare ID is taken for a container's:
// the server matches IDs against pod statuses, so an ID that is not one
// attributes nothing). The pod UID is in the parent's name, so it is "".
func CgroupFromName(name string) Cgroup {
	if name == "" || strings.Contains(name, "/") {
		return Cgroup{}
	}
	c := parseCgroupPath("/" + name)
	if c.ContainerID == "" && c.MonitorOf == "" && isContainerID(name) {
		c.ContainerID = name
	}
	c.PodUID = ""
	return c
}

// Cgroup reads only /proc/<pid>/cgroup: the cheap first look at an exec,
// which on most nodes is not a container's. The error wraps ErrNoProcess
// when the process is gone.
func (fs *FS) Cgroup(pid int) (Cgroup, error) {
	sc := fs.getScratch()
	defer fs.scratch.Put(sc)
	data, _, err := readFile(fs.pidPath(pid, "cgroup"), sc.cg)
	if err != nil {
		if gone(err) {
			return Cgroup{}, fmt.Errorf("reading pid %d: %w", pid, ErrNoProcess)
		}
		return Cgroup{}, fmt.Errorf("reading pid %d: %w", pid, err)
	}
	cg, _ := ParseCgroup(data)
	return cg, nil
}
