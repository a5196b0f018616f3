package procfs

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/procfs/procfstest"
)

var cmpAddrPort = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func TestSocketsFake(t *testing.T) {
	ap := netip.MustParseAddrPort
	tcp := procfstest.Table("tcp",
		procfstest.Socket{Local: ap("127.0.0.1:8080"), Remote: ap("0.0.0.0:0"), State: 0x0A, UID: 101, Inode: 1001},
		procfstest.Socket{Local: ap("10.244.1.7:8080"), Remote: ap("10.244.2.9:51234"), State: 0x01, UID: 101, Inode: 1002},
		procfstest.Socket{Local: ap("10.244.1.7:43210"), Remote: ap("93.184.216.34:443"), State: 0x06, Inode: 0},
	)
	// Hostile lines among real ones: garbage, a bad address, an unknown
	// state, an overlong line, a short line, blank lines.
	lines := strings.SplitAfter(tcp, "\n")
	tcp = strings.Join(lines[:2], "") +
		"garbage\n" +
		"   9: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0\n" +
		"  10: 0100007F:1F90 00000000:0000 FF 00000000:00000000 00:00000000 00000000     0        0 6 1 0 100 0 0 10 0\n" +
		"  11: " + strings.Repeat("0100007F:1F90 ", 200) + "\n" +
		"  12: 0100007F:1F90 00000000:0000 0A\n" +
		"\n" +
		strings.Join(lines[2:], "")
	tcp6 := procfstest.Table("tcp6",
		procfstest.Socket{Local: ap("[::]:22"), Remote: ap("[::]:0"), State: 0x0A, Inode: 2001},
		procfstest.Socket{Local: ap("[::ffff:10.244.1.7]:22"), Remote: ap("[::ffff:10.0.0.5]:60000"), State: 0x01, Inode: 2002},
		procfstest.Socket{Local: ap("[fd00::7]:9090"), Remote: ap("[fd00::8]:40000"), State: 0x08, UID: 65534, Inode: 2003},
	)
	udp := procfstest.Table("udp",
		procfstest.Socket{Local: ap("0.0.0.0:53"), Remote: ap("0.0.0.0:0"), State: 0x07, Inode: 3001},
		procfstest.Socket{Local: ap("10.244.1.7:40000"), Remote: ap("10.96.0.10:53"), State: 0x01, UID: 101, Inode: 3002},
	)
	root := t.TempDir()
	if err := procfstest.Build(root, testBtime,
		procfstest.Proc{PID: 10, Net: map[string]string{"tcp": tcp, "tcp6": tcp6, "udp": udp}, // no udp6: IPv6 UDP disabled
			FDs: map[int]string{0: "/dev/null", 1: "pipe:[77]", 3: "socket:[1001]", 4: "socket:[1002]", 5: "anon_inode:[eventpoll]", 6: "socket:[]", 7: "socket:[3002]"}},
		procfstest.Proc{PID: 11, Net: map[string]string{"tcp": tcp}},
	); err != nil {
		t.Fatal(err)
	}
	fs := New(root, Options{})
	socks, st, err := fs.SocketsWithStats(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Socket{
		{Proto: "tcp", Local: ap("127.0.0.1:8080"), Remote: ap("0.0.0.0:0"), State: "LISTEN", Inode: 1001, UID: 101},
		{Proto: "tcp", Local: ap("10.244.1.7:8080"), Remote: ap("10.244.2.9:51234"), State: "ESTABLISHED", Inode: 1002, UID: 101},
		{Proto: "tcp", Local: ap("10.244.1.7:43210"), Remote: ap("93.184.216.34:443"), State: "TIME_WAIT"},
		{Proto: "tcp6", Local: ap("[::]:22"), Remote: ap("[::]:0"), State: "LISTEN", Inode: 2001},
		{Proto: "tcp6", Local: ap("10.244.1.7:22"), Remote: ap("10.0.0.5:60000"), State: "ESTABLISHED", Inode: 2002},
		{Proto: "tcp6", Local: ap("[fd00::7]:9090"), Remote: ap("[fd00::8]:40000"), State: "CLOSE_WAIT", Inode: 2003, UID: 65534},
		{Proto: "udp", Local: ap("0.0.0.0:53"), Remote: ap("0.0.0.0:0"), State: "UNCONN", Inode: 3001},
		{Proto: "udp", Local: ap("10.244.1.7:40000"), Remote: ap("10.96.0.10:53"), State: "ESTABLISHED", Inode: 3002, UID: 101},
	}
	if diff := cmp.Diff(want, socks, cmpAddrPort); diff != "" {
		t.Errorf("Sockets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(SocketStats{Tables: 3, Malformed: 5}, st); diff != "" {
		t.Errorf("SocketStats (-want +got):\n%s", diff)
	}

	inodes, err := fs.SocketInodes(10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[uint64]bool{1001: true, 1002: true, 3002: true}, inodes); diff != "" {
		t.Errorf("SocketInodes (-want +got):\n%s", diff)
	}

	t.Run("bounds", func(t *testing.T) {
		socks, st, err := New(root, Options{MaxSocketsPerNetNS: 4}).SocketsWithStats(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(socks) != 4 || !st.Truncated {
			t.Errorf("got %d sockets, %+v; want 4 and Truncated", len(socks), st)
		}
		inodes, err := New(root, Options{MaxFDs: 2}).SocketInodes(10)
		if !errors.Is(err, ErrTruncated) || len(inodes) > 2 {
			t.Errorf("SocketInodes with MaxFDs 2 = %v, %v; want at most 2 and ErrTruncated", inodes, err)
		}
	})
	t.Run("gone", func(t *testing.T) {
		if _, err := fs.Sockets(t.Context(), 12); !errors.Is(err, ErrNoProcess) {
			t.Errorf("Sockets of a missing pid: %v, want ErrNoProcess", err)
		}
		if _, err := fs.SocketInodes(12); !errors.Is(err, ErrNoProcess) {
			t.Errorf("SocketInodes of a missing pid: %v, want ErrNoProcess", err)
		}
	})
	t.Run("no fds", func(t *testing.T) {
		inodes, err := fs.SocketInodes(11)
		if err != nil || len(inodes) != 0 {
			t.Errorf("SocketInodes = %v, %v; want none", inodes, err)
		}
	})
}

func TestParseSocketLine(t *testing.T) {
	tests := []struct {
		line string
		v6   bool
		tcp  bool
		ok   bool
	}{
		{"   0: 0100007F:D889 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 770574 1 00000000a9abf6c1 100 0 0 10 0", false, true, true},
		{"   0: 0100007F:D889 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 770574", false, true, true},
		{"   0: 0100007F:D889 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0", false, true, false},
		{"   0: 0100007F:D889 00000000:0000 00 00000000:00000000 00:00000000 00000000   101        0 1", false, true, false},
		{"   0: 0100007F:D889 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1", false, false, false}, // LISTEN in a UDP table
		{"   0: 0100007F:D8891 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1", false, true, false},
		{"   0: 0100007F:D889 00000000:0000 0A 00000000:00000000 00:00000000 00000000   -1        0 1", false, true, false},
		{"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1", true, true, true},
		{"   0: 0100007F:D889 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1", true, true, false}, // v4 address in a v6 table
		{"0 0100007F:D889 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1", false, true, false},
		{"\x00\xff", false, true, false},
	}
	for _, tc := range tests {
		if _, ok := parseSocketLine([]byte(tc.line), tc.v6, tc.tcp); ok != tc.ok {
			t.Errorf("parseSocketLine(%.60q, v6 %v, tcp %v) ok = %v, want %v", tc.line, tc.v6, tc.tcp, ok, tc.ok)
		}
	}
}
