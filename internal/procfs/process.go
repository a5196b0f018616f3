package procfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// pfKthread is PF_KTHREAD in the flags field of /proc/<pid>/stat.
const pfKthread = 0x00200000

// Process is one process (thread-group leader) read from /proc.
type Process struct {
	PID, PPID int
	// NSPID is the process's pid in its own pid namespace (the last NSpid
	// of /proc/<pid>/status): 1 for a container's entrypoint. 0 when
	// unknown.
	NSPID int
	// State is the one-letter state of /proc/<pid>/stat: R, S, D, Z
	// (zombie), T, t, X, I.
	State string
	// Kernel is set for kernel threads (PF_KTHREAD): they have no
	// executable and no arguments.
	Kernel bool
	// Exe is the target of /proc/<pid>/exe, as seen in the process's mount
	// namespace; "" when unreadable (kernel threads, zombies, no
	// permission).
	Exe string
	// ExeDeleted is set when the executable was deleted or replaced since
	// the process started (the kernel's " (deleted)" suffix, removed from
	// Exe).
	ExeDeleted bool
	// Comm is the name the process gave itself, at most 15 bytes for user
	// processes: /proc/<pid>/comm, taken from the same kernel field in
	// /proc/<pid>/stat to save a read per process.
	Comm string
	// Args is /proc/<pid>/cmdline split on NUL, bounded by MaxArgs and
	// MaxArgsBytes, with secrets replaced by "<redacted>". Empty for kernel
	// threads and zombies.
	Args          []string
	ArgsTruncated bool
	// UID is the real uid from /proc/<pid>/status; -1 when unreadable.
	UID int
	// StartTicks is the start time in clock ticks since boot (stat field
	// 22): with PID it identifies a process across scans, unlike StartTime
	// which follows changes of the wall clock.
	StartTicks uint64
	// StartTime is the boot time plus StartTicks; zero when the boot time
	// is unknown.
	StartTime time.Time
	// ContainerID is the 64-hex container ID from /proc/<pid>/cgroup; ""
	// for host processes (and for CRI-O's conmon, see MonitorOf).
	ContainerID string
	// Runtime names the runtime whose cgroup naming was recognised:
	// "containerd", "cri-o", "docker" or "podman"; "" for host processes.
	Runtime string
	// PodUID is the Kubernetes pod UID from the pod's cgroup, "" outside
	// pods. It attributes processes whose ContainerID is a pod sandbox
	// (pause) rather than a container of the pod status.
	PodUID string
	// MonitorOf is, for a container monitor process (CRI-O's and podman's
	// conmon), the ID of the container it monitors. Such a process runs in
	// the host's namespaces and not inside the container, so ContainerID
	// stays "" and it never pollutes the container's process baseline.
	MonitorOf string
	// NetNS and PIDNS are the inodes of /proc/<pid>/ns/net and ns/pid; 0
	// when unreadable (zombies, no permission).
	NetNS uint64
	PIDNS uint64
}

// Stats counts what one Processes or Scan call met. Counters are per call.
type Stats struct {
	// Listed is the number of pid directories seen in the root.
	Listed int
	// Processes is the number of processes returned.
	Processes int
	// Vanished counts processes that exited while being read (or pid
	// directories without files): skipped.
	Vanished int
	// Unreadable counts processes skipped because their stat file could
	// not be read or parsed.
	Unreadable int
	// ExeUnreadable counts processes (kernel threads and zombies aside)
	// returned without Exe; NamespaceUnreadable those without NetNS or
	// PIDNS; FileUnreadable those missing cmdline, status or cgroup
	// for a reason other than their exit.
	ExeUnreadable       int
	NamespaceUnreadable int
	FileUnreadable      int
	// ArgsTruncated counts processes whose arguments hit a bound;
	// ArgsRedacted those with at least one argument redacted.
	ArgsTruncated int
	ArgsRedacted  int
	// CgroupUnknown counts processes whose cgroup names a container in a
	// format not recognised (or is not a cgroup file at all): their
	// ContainerID is "".
	CgroupUnknown int
	// Reused counts the processes a Scanner took from its previous scan
	// instead of reading them in full (always 0 for Processes).
	Reused int
	// Truncated is set when MaxProcesses was reached.
	Truncated bool
}

// add adds the counters of o to s.
func (s *Stats) add(o Stats) {
	s.Listed += o.Listed
	s.Processes += o.Processes
	s.Vanished += o.Vanished
	s.Unreadable += o.Unreadable
	s.ExeUnreadable += o.ExeUnreadable
	s.NamespaceUnreadable += o.NamespaceUnreadable
	s.FileUnreadable += o.FileUnreadable
	s.ArgsTruncated += o.ArgsTruncated
	s.ArgsRedacted += o.ArgsRedacted
	s.CgroupUnknown += o.CgroupUnknown
	s.Reused += o.Reused
	s.Truncated = s.Truncated || o.Truncated
}

// scratch holds buffers reused across the processes of one scan.
type scratch struct {
	small []byte // stat, status, link targets
	args  []byte
	cg    []byte
}

// getScratch returns pooled buffers; callers Put them back when nothing
// they return refers to them (what is read is copied into strings).
func (fs *FS) getScratch() *scratch {
	if sc, ok := fs.scratch.Get().(*scratch); ok {
		return sc
	}
	return fs.newScratch()
}

func (fs *FS) newScratch() *scratch {
	return &scratch{
		small: make([]byte, maxStatBytes),
		args:  make([]byte, fs.opts.MaxArgsBytes),
		cg:    make([]byte, maxCgroupBytes),
	}
}

// Processes reads every process of the tree, in directory order, up to
// MaxProcesses. Processes that vanish while being read are skipped and
// counted; the error is for the tree itself (a missing or unreadable root)
// and for a cancelled ctx, with the processes read so far.
func (fs *FS) Processes(ctx context.Context) ([]Process, Stats, error) {
	return fs.scan(ctx, fs.newScratch(), nil, nil)
}

// Process reads one process. The error wraps ErrNoProcess when it does not
// exist or vanished while being read.
//
// Its buffers are pooled: an agent reading one process per exec on a busy
// node allocates little more than the Process itself.
func (fs *FS) Process(pid int) (Process, Stats, error) {
	bt, err := fs.bootTime()
	if err != nil {
		return Process{}, Stats{}, err
	}
	sc := fs.getScratch()
	defer fs.scratch.Put(sc)
	p, st, err := fs.readStat(pid, bt, sc)
	if err != nil {
		return p, st, err
	}
	st, err = fs.readDetails(&p, sc)
	if err == nil {
		st.Listed, st.Processes = 1, 1
	}
	return p, st, err
}

// Scanner reads the processes of an FS again and again, as a polling agent
// does, at a fraction of the cost of Processes: a process seen by the
// previous scan, with the same start time, comm and executable, is not
// read again but for its stat file (state, parent) and exe link, until
// Options.Refresh has passed since it was last read in full. An exec
// changes the executable or the comm and causes a full read; what can
// change without an exec (arguments rewritten in place, as postgres does,
// uid dropped with setuid, a cgroup or namespace change) is seen at the
// next full read.
//
// A Scanner is not safe for concurrent use. The Processes it returns share
// their Args with the Scanner and with each other scan: treat them as
// read-only.
type Scanner struct {
	fs *FS
	// prev is what the last scan read; spare is the one before, kept to
	// be cleared and filled by the next scan without allocating.
	prev, spare *scanSet
	sc          *scratch
}

// scanSet is the processes of one scan by pid. (A map of the large
// scanned values would allocate each of them.)
type scanSet struct {
	idx   map[int]int
	items []scanned
}

func (s *scanSet) get(pid int) (*scanned, bool) {
	if s == nil {
		return nil, false
	}
	i, ok := s.idx[pid]
	if !ok {
		return nil, false
	}
	return &s.items[i], true
}

func (s *scanSet) put(pid int, v scanned) {
	if s == nil {
		return
	}
	s.idx[pid] = len(s.items)
	s.items = append(s.items, v)
}

func (s *scanSet) reset() {
	clear(s.idx)
	clear(s.items) // drop the references to old Args
	s.items = s.items[:0]
}

// scanned is a process as a Scanner remembers it.
type scanned struct {
	p       Process
	st      Stats // what reading it counted, repeated when it is reused
	refresh time.Time
}

// NewScanner returns a Scanner of fs.
func (fs *FS) NewScanner() *Scanner {
	return &Scanner{fs: fs, prev: &scanSet{idx: map[int]int{}}, spare: &scanSet{idx: map[int]int{}}, sc: fs.newScratch()}
}

// Scan is Processes, reusing what the previous Scan read. Stats.Reused
// counts the processes not read in full.
func (s *Scanner) Scan(ctx context.Context) ([]Process, Stats, error) {
	next := s.spare
	next.reset()
	procs, st, err := s.fs.scan(ctx, s.sc, s.prev, next)
	if err == nil {
		s.prev, s.spare = next, s.prev
	}
	return procs, st, err
}

// scan lists the root and reads each process; with prev, processes that
// did not change are taken from it, and next receives what was read.
func (fs *FS) scan(ctx context.Context, sc *scratch, prev, next *scanSet) ([]Process, Stats, error) {
	var st Stats
	bt, err := fs.bootTime()
	if err != nil {
		return nil, st, err
	}
	dir, err := os.Open(fs.root)
	if err != nil {
		return nil, st, fmt.Errorf("listing processes: %w", err)
	}
	defer dir.Close()
	now := time.Now()
	var procs []Process
	if prev != nil {
		procs = make([]Process, 0, len(prev.items))
	}
	for {
		names, rerr := dir.Readdirnames(1024)
		for _, name := range names {
			pid, ok := parsePID(name)
			if !ok {
				continue
			}
			if err := ctx.Err(); err != nil {
				return procs, st, err
			}
			if st.Processes >= fs.opts.MaxProcesses {
				st.Truncated = true
				return procs, st, nil
			}
			st.Listed++
			p, ps, err := fs.readStat(pid, bt, sc)
			if err != nil {
				st.add(ps)
				continue
			}
			if c, ok := prev.get(pid); ok && now.Before(c.refresh) && fs.unchanged(&p, &c.p, sc) {
				q := c.p
				q.State, q.PPID = p.State, p.PPID
				st.add(c.st)
				st.Reused++
				st.Processes++
				procs = append(procs, q)
				next.put(pid, scanned{p: q, st: c.st, refresh: c.refresh})
				continue
			}
			ps, err = fs.readDetails(&p, sc)
			st.add(ps)
			if err != nil {
				continue
			}
			procs = append(procs, p)
			st.Processes++
			if next != nil {
				// Spread the full re-reads of processes first seen
				// together over one more Refresh.
				jitter := fs.opts.Refresh * time.Duration(pid%16) / 16
				next.put(pid, scanned{p: p, st: ps, refresh: now.Add(fs.opts.Refresh + jitter)})
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return procs, st, nil
			}
			return procs, st, fmt.Errorf("listing processes: %w", rerr)
		}
	}
}

// unchanged reports whether p, just read from stat, is still the process
// c was read from: same start time and comm, same executable.
func (fs *FS) unchanged(p, c *Process, sc *scratch) bool {
	if p.StartTicks != c.StartTicks || p.Comm != c.Comm || p.Kernel != c.Kernel {
		return false
	}
	if p.Kernel {
		return true
	}
	target, err := readlink(fs.pidPath(p.PID, "exe"), sc.small)
	if err != nil {
		return c.Exe == "" && !c.ExeDeleted
	}
	exe, deleted := bytes.CutSuffix(target, []byte(" (deleted)"))
	return deleted == c.ExeDeleted && string(exe) == c.Exe
}

var errUnreadable = errors.New("unreadable")

// readStat starts reading a process with its stat file, the one file
// required: comm, parent, state, flags, start time. An error (wrapping
// ErrNoProcess or errUnreadable) means the process is skipped; the
// returned Stats counts it.
func (fs *FS) readStat(pid int, btime int64, sc *scratch) (Process, Stats, error) {
	var st Stats
	p := Process{PID: pid, UID: -1}
	data, _, err := readFile(fs.pidPath(pid, "stat"), sc.small)
	if err != nil {
		if gone(err) {
			st.Vanished++
			return p, st, fmt.Errorf("reading pid %d: %w: %w", pid, ErrNoProcess, err)
		}
		st.Unreadable++
		return p, st, fmt.Errorf("reading pid %d: %w: %w", pid, errUnreadable, err)
	}
	if !parseStat(data, &p) {
		st.Unreadable++
		return p, st, fmt.Errorf("reading pid %d: %w: malformed stat", pid, errUnreadable)
	}
	if btime > 0 {
		p.StartTime = time.Unix(btime, 0).Add(time.Duration(p.StartTicks) * (time.Second / userHZ))
	}
	return p, st, nil
}

// readDetails reads the rest of a process whose stat was read: status,
// cmdline, cgroup, exe and namespaces. The returned Stats counts what
// happened (but not Listed and Processes); an error wrapping ErrNoProcess
// means it vanished meanwhile and is to be skipped.
func (fs *FS) readDetails(p *Process, sc *scratch) (Stats, error) {
	var st Stats
	pid := p.PID
	zombie := p.State == "Z" || p.State == "X"
	fileUnreadable := false
	// vanished reports whether err says the process exited; any other
	// error marks the process as partially read.
	vanished := func(err error) bool {
		if gone(err) {
			return true
		}
		fileUnreadable = true
		return false
	}
	vanishedErr := func(err error) (Stats, error) {
		return Stats{Vanished: 1}, fmt.Errorf("reading pid %d: %w: %w", pid, ErrNoProcess, err)
	}

	if data, _, err := readFile(fs.pidPath(pid, "status"), sc.small); err == nil {
		parseStatus(data, p)
	} else if vanished(err) {
		return vanishedErr(err)
	}

	if data, truncated, err := readFile(fs.pidPath(pid, "cmdline"), sc.args); err == nil {
		var redacted bool
		p.Args, p.ArgsTruncated = splitArgs(data, truncated, fs.opts.MaxArgs)
		p.Args, redacted = fs.red.redact(p.Args)
		if p.ArgsTruncated {
			st.ArgsTruncated++
		}
		if redacted {
			st.ArgsRedacted++
		}
	} else if vanished(err) {
		return vanishedErr(err)
	}

	if data, _, err := readFile(fs.pidPath(pid, "cgroup"), sc.cg); err == nil {
		cg, known := ParseCgroup(data)
		p.ContainerID, p.Runtime, p.PodUID, p.MonitorOf = cg.ContainerID, cg.Runtime, cg.PodUID, cg.MonitorOf
		if !known {
			st.CgroupUnknown++
		}
	} else if vanished(err) {
		return vanishedErr(err)
	}
	if fileUnreadable {
		st.FileUnreadable++
	}

	// Kernel threads and zombies have no executable, and zombies no
	// namespaces: not worth a counter. A process that exits meanwhile
	// loses them first, so such a miss is checked against its stat.
	exeOK, nsOK, exited := true, true, false
	if target, err := readlink(fs.pidPath(pid, "exe"), sc.small); err == nil {
		exe, deleted := bytes.CutSuffix(target, []byte(" (deleted)"))
		p.Exe, p.ExeDeleted = string(exe), deleted
	} else {
		exeOK, exited = false, gone(err)
	}
	for _, ns := range [...]struct {
		name string
		dst  *uint64
	}{{"ns/net", &p.NetNS}, {"ns/pid", &p.PIDNS}} {
		target, err := readlink(fs.pidPath(pid, ns.name), sc.small)
		if err != nil {
			nsOK, exited = false, exited || gone(err)
			continue
		}
		v, ok := nsInode(target)
		if !ok {
			nsOK = false
			continue
		}
		*ns.dst = v
	}
	if exited && !p.Kernel && !zombie {
		now := Process{PID: pid}
		data, _, err := readFile(fs.pidPath(pid, "stat"), sc.small)
		switch {
		case err != nil && gone(err):
			return vanishedErr(err)
		case err == nil && parseStat(data, &now) && now.StartTicks == p.StartTicks && (now.State == "Z" || now.State == "X"):
			p.State, zombie = now.State, true
		}
	}
	if !exeOK && !p.Kernel && !zombie {
		st.ExeUnreadable++
	}
	if !nsOK && !zombie {
		st.NamespaceUnreadable++
	}
	return st, nil
}

// parseStat reads comm, state, ppid, flags and starttime from the content
// of /proc/<pid>/stat: "pid (comm) state ppid pgrp session tty_nr tpgid
// flags ... starttime(22) ...". comm may hold spaces and parentheses, so
// the fields are counted from the last ')'.
func parseStat(data []byte, p *Process) bool {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 || bytes.IndexByte(data[:end], '(') < 0 {
		return false
	}
	rest := data[end+1:]
	// fields[0] is field 3 (state).
	var fields [20][]byte
	n := 0
	for n < len(fields) {
		rest = bytes.TrimLeft(rest, " ")
		if len(rest) == 0 {
			break
		}
		i := bytes.IndexAny(rest, " \n")
		if i < 0 {
			i = len(rest)
		}
		fields[n] = rest[:i]
		rest = rest[i:]
		if len(rest) > 0 && rest[0] == '\n' {
			rest = rest[1:]
		}
		n++
	}
	if n < len(fields) || len(fields[0]) != 1 {
		return false
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil || ppid < 0 {
		return false
	}
	flags, err := strconv.ParseUint(string(fields[6]), 10, 64)
	if err != nil {
		return false
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return false
	}
	p.Comm = string(data[bytes.IndexByte(data[:end], '(')+1 : end])
	p.State = stateString(fields[0][0])
	p.PPID = ppid
	p.Kernel = flags&pfKthread != 0
	p.StartTicks = start
	return true
}

// stateString returns the state letter as a string without allocating for
// the usual ones.
func stateString(c byte) string {
	const letters = "RSDZTtXIPKWx"
	if i := strings.IndexByte(letters, c); i >= 0 {
		return letters[i : i+1]
	}
	return "?"
}

// parseStatus reads the real uid and the innermost NSpid from the content
// of /proc/<pid>/status.
func parseStatus(data []byte, p *Process) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		switch {
		case bytes.HasPrefix(line, []byte("Uid:")):
			f := bytes.Fields(line[4:])
			if len(f) > 0 {
				if v, err := strconv.Atoi(string(f[0])); err == nil && v >= 0 {
					p.UID = v
				}
			}
		case bytes.HasPrefix(line, []byte("NSpid:")):
			f := bytes.Fields(line[6:])
			if len(f) > 0 {
				if v, err := strconv.Atoi(string(f[len(f)-1])); err == nil && v > 0 {
					p.NSPID = v
				}
			}
			return // NSpid comes after Uid
		}
	}
}

// splitArgs splits cmdline content on NUL. When the content was cut by the
// byte bound, its last (partial) argument is dropped.
func splitArgs(data []byte, cut bool, maxArgs int) (args []string, truncated bool) {
	if cut {
		truncated = true
		if i := bytes.LastIndexByte(data, 0); i >= 0 {
			data = data[:i+1]
		} else {
			data = nil
		}
	}
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil, truncated
	}
	all := string(data) // one allocation; the arguments share it
	n := strings.Count(all, "\x00") + 1
	if n > maxArgs {
		n, truncated = maxArgs, true
	}
	args = make([]string, 0, n)
	for len(args) < n {
		i := strings.IndexByte(all, 0)
		if i < 0 {
			args = append(args, all)
			break
		}
		args = append(args, all[:i])
		all = all[i+1:]
	}
	return args, truncated
}

// parsePID parses a /proc directory name that is a pid.
func parsePID(name string) (int, bool) {
	if name == "" || len(name) > 10 || name[0] < '1' || name[0] > '9' {
		return 0, false
	}
	v := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
