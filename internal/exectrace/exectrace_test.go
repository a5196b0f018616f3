package exectrace

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"
)

// record builds a ring buffer record as the program writes it.
func record(pid, ppid int, uid uint32, start time.Duration, comm, cgroup, filename string, args []byte, argsLen uint64) []byte {
	b := make([]byte, recordSize)
	le := binary.LittleEndian
	le.PutUint32(b[offTgid:], uint32(pid))
	le.PutUint32(b[offTid:], uint32(pid))
	le.PutUint32(b[offPPID:], uint32(ppid))
	le.PutUint32(b[offUID:], uid)
	le.PutUint64(b[offCgroupID:], 4242)
	le.PutUint64(b[offStart:], uint64(start))
	copy(b[offComm:offComm+commLen-1], comm)
	copy(b[offCgroup:offCgroup+maxCgroup-1], cgroup)
	copy(b[offFilename:offFilename+MaxFilename-1], filename)
	le.PutUint64(b[offArgsLen:], argsLen)
	copy(b[offArgs:offArgs+MaxArgs], args)
	le.PutUint64(b[offSeq:], 3)
	return b
}

func TestDecode(t *testing.T) {
	long := strings.Repeat("x", 600)
	tests := []struct {
		name          string
		args          []byte
		argsLen       uint64
		wantArgs      []string
		wantTruncated bool
	}{
		{"whole arguments", []byte("/bin/sleep\x000.01\x00"), 16, []string{"/bin/sleep", "0.01"}, false},
		{"no arguments", nil, 0, nil, false},
		{"an argument cut by the bound is dropped", []byte("sh\x00-c\x00" + long), uint64(6 + len(long) + 1), []string{"sh", "-c"}, true},
		{"the bound ending on a NUL still says truncated", append([]byte(strings.Repeat("a", MaxArgs-1)), 0), MaxArgs + 10, []string{strings.Repeat("a", MaxArgs-1)}, true},
		{"a length over the bound from a hostile kernel is clamped", []byte(strings.Repeat("y", MaxArgs)), 1 << 62, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := record(1234, 1, 1000, 1234567890*time.Nanosecond, "sleep", "cri-containerd-abc.scope", "/bin/sleep", tt.args, tt.argsLen)
			e, ok := decode(b)
			if !ok {
				t.Fatal("decode refused a whole record")
			}
			if e.PID != 1234 || e.PPID != 1 || e.UID != 1000 || e.Comm != "sleep" || e.Filename != "/bin/sleep" ||
				e.Cgroup != "cri-containerd-abc.scope" || e.CgroupID != 4242 || e.Seq != 3 {
				t.Errorf("decoded %+v", e)
			}
			if e.StartTicks() != 123 {
				t.Errorf("StartTicks() = %d, want 123 (1.23 s at 100 Hz)", e.StartTicks())
			}
			if !slices.Equal(e.Args, tt.wantArgs) || e.ArgsTruncated != tt.wantTruncated {
				t.Errorf("args %q truncated %v, want %q %v", e.Args, e.ArgsTruncated, tt.wantArgs, tt.wantTruncated)
			}
		})
	}
	if _, ok := decode(make([]byte, recordSize-1)); ok {
		t.Error("decode accepted a short record")
	}
}

func TestDecodeUnterminatedStrings(t *testing.T) {
	b := record(1, 0, 0, 0, "", "", "", nil, 0)
	for i := range commLen {
		b[offComm+i] = 'c'
	}
	for i := range MaxFilename {
		b[offFilename+i] = 'f'
	}
	e, _ := decode(b)
	if len(e.Comm) != commLen || len(e.Filename) != MaxFilename {
		t.Errorf("unterminated fields read past their bounds: comm %d bytes, filename %d bytes", len(e.Comm), len(e.Filename))
	}
}
