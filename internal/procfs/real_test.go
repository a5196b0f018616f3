//go:build linux

package procfs

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRealProc reads this machine's /proc and checks what it says about
// the test process itself.
func TestRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	fs := New("/proc", Options{})
	procs, st, err := fs.Processes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d processes, stats %+v", len(procs), st)
	if st.Processes != len(procs) || st.Truncated {
		t.Errorf("stats %+v for %d processes", st, len(procs))
	}
	i := slices.IndexFunc(procs, func(p Process) bool { return p.PID == os.Getpid() })
	if i < 0 {
		t.Fatalf("pid %d not among %d processes", os.Getpid(), len(procs))
	}
	self := procs[i]

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	netns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	wantNetNS, _ := nsInode(netns)
	if self.PPID != os.Getppid() {
		t.Errorf("PPID = %d, want %d", self.PPID, os.Getppid())
	}
	if self.Exe != exe {
		t.Errorf("Exe = %q, want %q", self.Exe, exe)
	}
	if !slices.Equal(self.Args, os.Args) {
		t.Errorf("Args = %q, want %q", self.Args, os.Args)
	}
	if self.UID != os.Getuid() {
		t.Errorf("UID = %d, want %d", self.UID, os.Getuid())
	}
	if self.NetNS == 0 || self.NetNS != wantNetNS {
		t.Errorf("NetNS = %d, want %d (%s)", self.NetNS, wantNetNS, netns)
	}
	if self.PIDNS == 0 {
		t.Error("PIDNS = 0")
	}
	// btime has a resolution of one second.
	if now := time.Now(); self.StartTime.Before(now.Add(-time.Hour)) || self.StartTime.After(now.Add(time.Second)) {
		t.Errorf("StartTime = %v, want within the last hour of %v", self.StartTime, now)
	}
	if self.Comm == "" || !strings.HasPrefix(exe[strings.LastIndexByte(exe, '/')+1:], self.Comm) {
		t.Errorf("Comm = %q for %s", self.Comm, exe)
	}
	if self.State == "" || self.Kernel {
		t.Errorf("State %q, Kernel %v", self.State, self.Kernel)
	}

	// Kernel threads, when this /proc shows them (not in a container's pid
	// namespace), have no executable.
	for _, p := range procs {
		if p.Kernel && (p.Exe != "" || len(p.Args) != 0) {
			t.Errorf("kernel thread %d (%s): Exe %q Args %q", p.PID, p.Comm, p.Exe, p.Args)
		}
	}

	// The same through Process.
	p, _, err := fs.Process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != self.PID || p.Exe != self.Exe || p.StartTicks != self.StartTicks {
		t.Errorf("Process(self) = %+v, want %+v", p, self)
	}
}

// TestRealSockets opens sockets and finds them in this machine's /proc.
func TestRealSockets(t *testing.T) {
	if _, err := os.Stat("/proc/self/net/tcp"); err != nil {
		t.Skipf("no /proc/self/net/tcp: %v", err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnAddr := ln.Addr().(*net.TCPAddr).AddrPort()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	client, err := net.Dial("tcp4", lnAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	defer server.Close()
	clientAddr := client.LocalAddr().(*net.TCPAddr).AddrPort()
	udp, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udpAddr := udp.LocalAddr().(*net.UDPAddr).AddrPort()

	ln6, err6 := net.Listen("tcp6", "[::1]:0")
	if err6 == nil {
		defer ln6.Close()
	}

	fs := New("/proc", Options{})
	socks, st, err := fs.SocketsWithStats(t.Context(), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.Malformed != 0 || st.Tables == 0 {
		t.Errorf("stats %+v", st)
	}
	find := func(proto string, local netip.AddrPort) *Socket {
		for i, s := range socks {
			if s.Proto == proto && s.Local == local {
				return &socks[i]
			}
		}
		t.Fatalf("no %s socket %s among %d", proto, local, len(socks))
		return nil
	}
	listener := find("tcp", lnAddr)
	if listener.State != "LISTEN" || listener.Inode == 0 || listener.UID != os.Getuid() {
		t.Errorf("listener %+v", *listener)
	}
	conn := find("tcp", clientAddr)
	if conn.State != "ESTABLISHED" || conn.Remote != lnAddr {
		t.Errorf("client connection %+v, want ESTABLISHED to %s", *conn, lnAddr)
	}
	u := find("udp", udpAddr)
	if u.State != "UNCONN" {
		t.Errorf("udp socket %+v", *u)
	}

	mine := []*Socket{listener, conn, u}
	if err6 != nil {
		t.Logf("no IPv6 loopback: %v", err6)
	} else {
		s := find("tcp6", ln6.Addr().(*net.TCPAddr).AddrPort())
		if s.State != "LISTEN" {
			t.Errorf("tcp6 listener %+v", *s)
		}
		mine = append(mine, s)
	}

	inodes, err := fs.SocketInodes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range mine {
		if !inodes[s.Inode] {
			t.Errorf("inode %d of %s %s not among our descriptors %v", s.Inode, s.Proto, s.Local, inodes)
		}
	}
}

// TestRealProcChurn reads this machine's /proc while processes start and
// exit: those that vanish mid-read are skipped, never an error.
func TestRealProcChurn(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skipf("no true(1): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_ = exec.Command(truePath).Run()
			}
		})
	}
	fs := New("/proc", Options{})
	sc := fs.NewScanner()
	var total Stats
	scans := 0
	for ctx.Err() == nil {
		_, st, err := fs.Processes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		total.add(st)
		_, st, err = sc.Scan(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		total.add(st)
		scans += 2
	}
	wg.Wait()
	t.Logf("%d scans, total %+v", scans, total)
}
