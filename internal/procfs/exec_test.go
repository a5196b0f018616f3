package procfs

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCgroupFromName(t *testing.T) {
	id := strings.Repeat("ab", 32)
	tests := []struct {
		name, cgroup    string
		wantID, runtime string
		wantMonitorOf   string
	}{
		{"containerd, systemd driver", "cri-containerd-" + id + ".scope", id, "containerd", ""},
		{"CRI-O", "crio-" + id + ".scope", id, "cri-o", ""},
		{"docker", "docker-" + id + ".scope", id, "docker", ""},
		{"cgroupfs: a bare ID", id, id, "", ""},
		{"CRI-O's monitor is not in the container", "crio-conmon-" + id + ".scope", "", "cri-o", id},
		{"the root", "", "", "", ""},
		{"a host service", "containerd.service", "", "", ""},
		{"a pod's cgroup names no container", "kubepods-besteffort-pod0123.slice", "", "", ""},
		{"a path, not a name", "kubepods/" + id, "", "", ""},
		{"an ID too short", id[:63], "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CgroupFromName(tt.cgroup)
			if c.ContainerID != tt.wantID || c.Runtime != tt.runtime || c.MonitorOf != tt.wantMonitorOf || c.PodUID != "" {
				t.Errorf("CgroupFromName(%q) = %+v, want ID %q runtime %q monitor of %q", tt.cgroup, c, tt.wantID, tt.runtime, tt.wantMonitorOf)
			}
		})
	}
}

func TestRedactAndStartTime(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(root+"/stat", []byte("cpu 1 2 3\nbtime 1700000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := New(root, Options{MaxArgs: 3})
	args, truncated, redacted := fs.Redact([]string{"curl", "--password", "hunter2", "https://example.com"})
	if !slices.Equal(args, []string{"curl", "--password", Redacted}) || !truncated || !redacted {
		t.Errorf("Redact = %q truncated %v redacted %v", args, truncated, redacted)
	}
	if got, want := fs.StartTime(250), time.Unix(1700000002, 500_000_000); !got.Equal(want) {
		t.Errorf("StartTime(250) = %v, want %v", got, want)
	}
	if got := New(t.TempDir(), Options{}).StartTime(250); !got.IsZero() {
		t.Errorf("StartTime without a boot time = %v, want zero", got)
	}
}
