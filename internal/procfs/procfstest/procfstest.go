// Package procfstest writes fake /proc trees for tests of code that reads
// /proc through procfs: process directories with the files and symlinks
// the kernel shows (stat, status, cmdline, comm, cgroup, exe, ns/net,
// ns/pid, fd/*, net/{tcp,tcp6,udp,udp6}), and socket table lines in the
// kernel's format.
package procfstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PFKthread is the stat flag of kernel threads.
const PFKthread = 0x00200000

// Proc is one /proc/<pid> directory.
type Proc struct {
	PID, PPID int
	Comm      string // "" means "proc<pid>"
	State     byte   // 0 means 'S'
	Kernel    bool   // sets PF_KTHREAD in the stat flags
	// StartTicks is stat's starttime, in clock ticks (1/100 s) since boot.
	StartTicks uint64
	// UID is the real uid; EUID the effective, saved and filesystem uids
	// (0 means the same as UID).
	UID, EUID int
	// NSpid lists the pid in each nested pid namespace, outermost first;
	// nil means just PID.
	NSpid []int
	// Exe is the target of the exe link; "" means no link (kernel threads,
	// zombies).
	Exe string
	// Cmdline is the raw cmdline content: arguments each followed by NUL.
	// Use Args to build it.
	Cmdline string
	// Cgroup is the content of the cgroup file.
	Cgroup string
	// NetNS and PIDNS are the namespace inodes; 0 means no link.
	NetNS, PIDNS uint64
	// FDs maps descriptor numbers to link targets ("socket:[123]",
	// "pipe:[4]", "/dev/null").
	FDs map[int]string
	// Net maps a table name ("tcp", "tcp6", "udp", "udp6") to its content
	// (see Table).
	Net map[string]string
	// Vanished leaves the directory empty, as when the process exited
	// between the listing of /proc and the reading of its files.
	Vanished bool
	// Unreadable names files ("status", "exe", "cmdline", "stat", ...)
	// replaced by a directory, so that reading them fails whatever the
	// privileges of the test (root ignores file modes).
	Unreadable []string
}

// Args returns cmdline content for args.
func Args(args ...string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a)
		b.WriteByte(0)
	}
	return b.String()
}

// WriteStat writes <root>/stat with the boot time btime (seconds since the
// epoch).
func WriteStat(root string, btime int64) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	content := "cpu  997470 0 271801 1341516 10279 0 7925 600 0 0\n" +
		"cpu0 490469 0 129481 688778 2887 0 2527 307 0 0\n" +
		"intr 42499380 0 0 0 0\n" +
		"ctxt 81775655\n" +
		"btime " + strconv.FormatInt(btime, 10) + "\n" +
		"processes 324171\nprocs_running 8\nprocs_blocked 0\n"
	return os.WriteFile(filepath.Join(root, "stat"), []byte(content), 0o444)
}

// Build writes <root>/stat and the processes.
func Build(root string, btime int64, procs ...Proc) error {
	if err := WriteStat(root, btime); err != nil {
		return err
	}
	for _, p := range procs {
		if err := Write(root, p); err != nil {
			return err
		}
	}
	return nil
}

// Write writes one process directory under root.
func Write(root string, p Proc) error {
	if p.PID <= 0 {
		return errors.New("procfstest: PID must be positive")
	}
	dir := filepath.Join(root, strconv.Itoa(p.PID))
	if err := os.MkdirAll(dir, 0o555|0o200); err != nil {
		return err
	}
	if p.Vanished {
		return nil
	}
	comm := p.Comm
	if comm == "" {
		comm = "proc" + strconv.Itoa(p.PID)
	}
	state := p.State
	if state == 0 {
		state = 'S'
	}
	var flags uint64 = 0x400100
	if p.Kernel {
		flags |= PFKthread
	}
	euid := p.EUID
	if euid == 0 {
		euid = p.UID
	}
	nspid := p.NSpid
	if nspid == nil {
		nspid = []int{p.PID}
	}
	var ns []string
	for _, v := range nspid {
		ns = append(ns, strconv.Itoa(v))
	}
	files := map[string]string{
		"stat": fmt.Sprintf("%d (%s) %c %d %d %d 0 -1 %d 1152 0 0 0 5 3 0 0 20 0 1 0 %d 10948608 1422 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			p.PID, comm, state, p.PPID, p.PID, p.PID, flags, p.StartTicks),
		"status": fmt.Sprintf("Name:\t%s\nUmask:\t0022\nState:\t%c\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n"+
			"Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nFDSize:\t64\nGroups:\t \nNStgid:\t%s\nNSpid:\t%s\nNSpgid:\t%s\nNSsid:\t%s\n"+
			"Kthread:\t%d\nVmPeak:\t    3060 kB\nVmRSS:\t    1724 kB\nThreads:\t1\nCapEff:\t0000000000000000\n",
			comm, state, p.PID, p.PID, p.PPID, p.UID, euid, euid, euid, p.UID, p.UID, p.UID, p.UID,
			strings.Join(ns, "\t"), strings.Join(ns, "\t"), strings.Join(ns, "\t"), strings.Join(ns, "\t"), boolInt(p.Kernel)),
		"comm":    comm + "\n",
		"cmdline": p.Cmdline,
		"cgroup":  p.Cgroup,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o444); err != nil {
			return err
		}
	}
	if p.Exe != "" {
		if err := os.Symlink(p.Exe, filepath.Join(dir, "exe")); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
		return err
	}
	for name, ino := range map[string]uint64{"net": p.NetNS, "pid": p.PIDNS} {
		if ino == 0 {
			continue
		}
		if err := os.Symlink(fmt.Sprintf("%s:[%d]", name, ino), filepath.Join(dir, "ns", name)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		return err
	}
	for fd, target := range p.FDs {
		if err := os.Symlink(target, filepath.Join(dir, "fd", strconv.Itoa(fd))); err != nil {
			return err
		}
	}
	if len(p.Net) > 0 {
		if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
			return err
		}
		for name, content := range p.Net {
			if err := os.WriteFile(filepath.Join(dir, "net", name), []byte(content), 0o444); err != nil {
				return err
			}
		}
	}
	for _, name := range p.Unreadable {
		path := filepath.Join(dir, name)
		if err := os.RemoveAll(path); err != nil {
			return err
		}
		if err := os.MkdirAll(path, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Socket is one line of a socket table.
type Socket struct {
	Local, Remote netip.AddrPort
	// State is the kernel's state number: 0x0A LISTEN, 0x01 ESTABLISHED,
	// 0x07 CLOSE (an unconnected UDP socket).
	State int
	UID   int
	Inode uint64
}

// Table returns the content of /proc/net/<proto> for proto "tcp", "tcp6",
// "udp" or "udp6", with the kernel's header line.
func Table(proto string, socks ...Socket) string {
	v6 := strings.HasSuffix(proto, "6")
	var b strings.Builder
	if v6 {
		b.WriteString("  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	} else {
		b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	}
	for i, s := range socks {
		fmt.Fprintf(&b, "%4d: %s %s %02X 00000000:00000000 00:00000000 00000000 %5d        0 %d 1 0000000000000000 100 0 0 10 0\n",
			i, addr(s.Local, v6), addr(s.Remote, v6), s.State, s.UID, s.Inode)
	}
	return b.String()
}

// addr formats an endpoint as the kernel does: the address as 32-bit words
// in host byte order, the port as a number, both in hex.
func addr(ap netip.AddrPort, v6 bool) string {
	a := ap.Addr()
	var raw []byte
	if v6 {
		b := a.As16()
		raw = b[:]
	} else {
		b := a.Unmap().As4()
		raw = b[:]
	}
	var s strings.Builder
	for w := 0; w < len(raw); w += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(raw[w:]))
	}
	fmt.Fprintf(&s, ":%04X", ap.Port())
	return s.String()
}
