package procfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Socket is one entry of a network namespace's socket tables.
type Socket struct {
	// Proto is "tcp", "tcp6", "udp" or "udp6": the table it came from.
	Proto string
	// Local and Remote are the endpoints; IPv4-mapped addresses of the
	// IPv6 tables are unmapped, so a dual-stack socket's peer reads
	// 10.0.0.7, not ::ffff:10.0.0.7. Remote is 0.0.0.0:0 or [::]:0 for a
	// listener or an unconnected UDP socket.
	Local, Remote netip.AddrPort
	// State is the TCP state (ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1,
	// FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING,
	// NEW_SYN_RECV); for UDP, ESTABLISHED when connected and UNCONN
	// otherwise, as ss(8) says.
	State string
	// Inode identifies the socket: /proc/<pid>/fd/* of its owners link to
	// "socket:[Inode]". 0 for TIME_WAIT entries, which no process owns.
	Inode uint64
	// UID is the socket owner's uid.
	UID int
}

// SocketStats counts what one Sockets call met.
type SocketStats struct {
	// Tables is the number of tables read (a kernel without IPv6 has no
	// tcp6 and udp6).
	Tables int
	// Malformed counts lines skipped because they could not be parsed or
	// were too long.
	Malformed int
	// Truncated is set when MaxSocketsPerNetNS was reached.
	Truncated bool
}

var tcpStates = [...]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
	11: "CLOSING", 12: "NEW_SYN_RECV",
}

// Sockets reads the TCP and UDP sockets of pid's network namespace from
// <root>/<pid>/net/{tcp,tcp6,udp,udp6}. Every process of a namespace sees
// the same tables: read them once per namespace (Process.NetNS) and
// attribute sockets to processes with SocketInodes. Malformed lines are
// skipped (SocketsWithStats counts them); the error wraps ErrNoProcess
// when pid does not exist.
func (fs *FS) Sockets(ctx context.Context, pid int) ([]Socket, error) {
	socks, _, err := fs.SocketsWithStats(ctx, pid)
	return socks, err
}

// SocketsWithStats is Sockets with the counters of what was skipped.
func (fs *FS) SocketsWithStats(ctx context.Context, pid int) ([]Socket, SocketStats, error) {
	var st SocketStats
	var socks []Socket
	var buf []byte
	for _, proto := range [...]string{"tcp", "tcp6", "udp", "udp6"} {
		if err := ctx.Err(); err != nil {
			return socks, st, err
		}
		f, err := os.Open(fs.pidPath(pid, "net/"+proto))
		if err != nil {
			if gone(err) {
				if _, serr := os.Stat(fs.pidPath(pid, "stat")); gone(serr) {
					return socks, st, fmt.Errorf("reading sockets of pid %d: %w: %w", pid, ErrNoProcess, err)
				}
				continue // no such table: IPv6 disabled
			}
			return socks, st, fmt.Errorf("reading sockets of pid %d: %w", pid, err)
		}
		if buf == nil {
			buf = make([]byte, maxSocketLine)
		}
		socks, err = fs.readSocketTable(ctx, f, proto, buf, socks, &st)
		f.Close()
		if err != nil {
			if gone(err) {
				err = fmt.Errorf("%w: %w", ErrNoProcess, err)
			}
			return socks, st, fmt.Errorf("reading %s sockets of pid %d: %w", proto, pid, err)
		}
		st.Tables++
		if st.Truncated {
			break
		}
	}
	return socks, st, nil
}

func (fs *FS) readSocketTable(ctx context.Context, r io.Reader, proto string, buf []byte, socks []Socket, st *SocketStats) ([]Socket, error) {
	lr := &lineReader{r: r, buf: buf}
	v6 := proto == "tcp6" || proto == "udp6"
	tcp := proto == "tcp" || proto == "tcp6"
	header := true
	for n := 0; ; n++ {
		if n&1023 == 1023 {
			if err := ctx.Err(); err != nil {
				return socks, err
			}
		}
		line, err := lr.next()
		if err != nil {
			st.Malformed += lr.long
			if errors.Is(err, io.EOF) {
				return socks, nil
			}
			return socks, err
		}
		if header {
			header = false
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(socks) >= fs.opts.MaxSocketsPerNetNS {
			st.Truncated = true
			st.Malformed += lr.long
			return socks, nil
		}
		s, ok := parseSocketLine(line, v6, tcp)
		if !ok {
			st.Malformed++
			continue
		}
		s.Proto = proto
		socks = append(socks, s)
	}
}

// parseSocketLine parses one line of /proc/net/{tcp,udp}{,6}:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
func parseSocketLine(line []byte, v6, tcp bool) (Socket, bool) {
	var f [10][]byte
	n := 0
	for n < len(f) {
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 {
			break
		}
		i := bytes.IndexAny(line, " \t")
		if i < 0 {
			i = len(line)
		}
		f[n], line = line[:i], line[i:]
		n++
	}
	if n < len(f) || len(f[0]) < 2 || f[0][len(f[0])-1] != ':' {
		return Socket{}, false
	}
	var s Socket
	var ok bool
	if s.Local, ok = parseSocketAddr(f[1], v6); !ok {
		return Socket{}, false
	}
	if s.Remote, ok = parseSocketAddr(f[2], v6); !ok {
		return Socket{}, false
	}
	st, err := strconv.ParseUint(string(f[3]), 16, 8)
	if err != nil || len(f[3]) != 2 {
		return Socket{}, false
	}
	switch {
	case tcp && st > 0 && int(st) < len(tcpStates):
		s.State = tcpStates[st]
	case !tcp && st == 1:
		s.State = "ESTABLISHED"
	case !tcp && st == 7:
		s.State = "UNCONN"
	default:
		return Socket{}, false
	}
	uid, err := strconv.ParseUint(string(f[7]), 10, 32)
	if err != nil {
		return Socket{}, false
	}
	s.UID = int(uid)
	if s.Inode, err = strconv.ParseUint(string(f[9]), 10, 64); err != nil {
		return Socket{}, false
	}
	return s, true
}

// parseSocketAddr parses "0100007F:1F90" (IPv4) or 32 hex digits and a
// port (IPv6). The kernel prints the address as 32-bit words in host byte
// order and the port as a number.
func parseSocketAddr(b []byte, v6 bool) (netip.AddrPort, bool) {
	i := bytes.IndexByte(b, ':')
	if i < 0 || len(b)-i-1 != 4 {
		return netip.AddrPort{}, false
	}
	hexAddr, hexPort := b[:i], b[i+1:]
	port, err := strconv.ParseUint(string(hexPort), 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	words := 1
	if v6 {
		words = 4
	}
	if len(hexAddr) != 8*words {
		return netip.AddrPort{}, false
	}
	var raw [16]byte
	for w := range words {
		v, err := strconv.ParseUint(string(hexAddr[8*w:8*w+8]), 16, 32)
		if err != nil {
			return netip.AddrPort{}, false
		}
		binary.NativeEndian.PutUint32(raw[4*w:], uint32(v))
	}
	var addr netip.Addr
	if v6 {
		addr = netip.AddrFrom16(raw).Unmap()
	} else {
		addr = netip.AddrFrom4([4]byte(raw[:4]))
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}

// SocketInodes returns the inodes of the sockets pid holds: the targets
// "socket:[N]" of the /proc/<pid>/fd/* links, of which at most MaxFDs are
// examined. Reading another user's descriptors needs CAP_SYS_PTRACE. When
// the bound is reached, the inodes found so far come with an error
// wrapping ErrTruncated; the error wraps ErrNoProcess when pid does not
// exist.
func (fs *FS) SocketInodes(pid int) (map[uint64]bool, error) {
	dirPath := fs.pidPath(pid, "fd")
	dir, err := os.Open(dirPath)
	if err != nil {
		if gone(err) {
			return nil, fmt.Errorf("reading descriptors of pid %d: %w: %w", pid, ErrNoProcess, err)
		}
		return nil, fmt.Errorf("reading descriptors of pid %d: %w", pid, err)
	}
	defer dir.Close()
	inodes := make(map[uint64]bool)
	seen := 0
	for {
		names, rerr := dir.Readdirnames(256)
		for _, name := range names {
			if seen >= fs.opts.MaxFDs {
				return inodes, fmt.Errorf("reading descriptors of pid %d: %w: more than %d", pid, ErrTruncated, fs.opts.MaxFDs)
			}
			seen++
			target, err := os.Readlink(dirPath + "/" + name)
			if err != nil {
				continue // closed meanwhile
			}
			rest, ok := strings.CutPrefix(target, "socket:")
			if !ok {
				continue
			}
			if ino, ok := nsInode(rest); ok {
				inodes[ino] = true
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return inodes, nil
			}
			if gone(rerr) {
				return inodes, fmt.Errorf("reading descriptors of pid %d: %w: %w", pid, ErrNoProcess, rerr)
			}
			return inodes, fmt.Errorf("reading descriptors of pid %d: %w", pid, rerr)
		}
	}
}
