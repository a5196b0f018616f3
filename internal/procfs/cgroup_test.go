package procfs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testID returns a realistic 64-hex container ID.
func testID(name string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(name))) }

const (
	testPodUID   = "6b1d8f3e-2c4a-4b7e-9f0d-1a2b3c4d5e6f"
	testPodUIDSd = "6b1d8f3e_2c4a_4b7e_9f0d_1a2b3c4d5e6f" // as the systemd driver writes it
	staticPod    = "a3f5c2b1d4e6f7081929384756abcdef"     // a static pod's UID: a config hash
)

// v1Lines writes the cgroup v1 file of a host with the usual controllers,
// every controller at path, followed by the v2 line at v2path.
func v1Lines(path, v2path string) string {
	ctrls := []string{"rdma", "pids", "hugetlb", "net_prio", "perf_event", "net_cls", "freezer", "devices", "memory", "blkio", "cpuacct", "cpu", "cpuset", "name=systemd"}
	var b strings.Builder
	for i, c := range ctrls {
		n := len(ctrls) - i
		if c == "cpuacct" || c == "cpu" {
			c = "cpu,cpuacct"
		}
		if c == "net_prio" || c == "net_cls" {
			c = "net_cls,net_prio"
		}
		fmt.Fprintf(&b, "%d:%s:%s\n", n, c, path)
	}
	fmt.Fprintf(&b, "0::%s\n", v2path)
	return b.String()
}

func TestParseCgroup(t *testing.T) {
	id := testID("nginx")
	node := testID("kind-control-plane")
	sdPod := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testPodUIDSd + ".slice"
	tests := []struct {
		name    string
		content string
		want    Cgroup
		known   bool
	}{
		// containerd through the CRI.
		{
			name:    "containerd systemd v2",
			content: "0::" + sdPod + "/cri-containerd-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: sdPod + "/cri-containerd-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "containerd systemd v1",
			content: v1Lines(sdPod+"/cri-containerd-"+id+".scope", "/"),
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: sdPod + "/cri-containerd-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "containerd systemd hybrid, v2 line names the container too",
			content: v1Lines(sdPod+"/cri-containerd-"+id+".scope", sdPod+"/cri-containerd-"+id+".scope"),
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: sdPod + "/cri-containerd-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "containerd systemd guaranteed pod (no QoS slice)",
			content: "0::/kubepods.slice/kubepods-pod" + testPodUIDSd + ".slice/cri-containerd-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: "/kubepods.slice/kubepods-pod" + testPodUIDSd + ".slice/cri-containerd-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "containerd systemd static pod",
			content: "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + staticPod + ".slice/cri-containerd-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: staticPod, Path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + staticPod + ".slice/cri-containerd-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "containerd cgroupfs v1",
			content: v1Lines("/kubepods/burstable/pod"+testPodUID+"/"+id, "/"),
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: "/kubepods/burstable/pod" + testPodUID + "/" + id},
			known:   true,
		},
		{
			name:    "containerd cgroupfs v2 besteffort",
			content: "0::/kubepods/besteffort/pod" + testPodUID + "/" + id + "\n",
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: "/kubepods/besteffort/pod" + testPodUID + "/" + id},
			known:   true,
		},
		{
			name:    "containerd cgroupfs guaranteed",
			content: "0::/kubepods/pod" + testPodUID + "/" + id + "\n",
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: "/kubepods/pod" + testPodUID + "/" + id},
			known:   true,
		},
		{
			name:    "containerd seen from a private cgroup namespace",
			content: "0::/../../.." + sdPod + "/cri-containerd-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: "/../../.." + sdPod + "/cri-containerd-" + id + ".scope"},
			known:   true,
		},
		// CRI-O.
		{
			name:    "cri-o systemd v2",
			content: "0::" + sdPod + "/crio-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "cri-o", PodUID: testPodUID, Path: sdPod + "/crio-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "cri-o systemd v2 with crun's container sub-cgroup",
			content: "0::" + sdPod + "/crio-" + id + ".scope/container\n",
			want:    Cgroup{ContainerID: id, Runtime: "cri-o", PodUID: testPodUID, Path: sdPod + "/crio-" + id + ".scope/container"},
			known:   true,
		},
		{
			name:    "cri-o systemd v1",
			content: v1Lines(sdPod+"/crio-"+id+".scope", "/"),
			want:    Cgroup{ContainerID: id, Runtime: "cri-o", PodUID: testPodUID, Path: sdPod + "/crio-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "cri-o conmon systemd: a monitor, not the container",
			content: "0::" + sdPod + "/crio-conmon-" + id + ".scope\n",
			want:    Cgroup{MonitorOf: id, Runtime: "cri-o", PodUID: testPodUID, Path: sdPod + "/crio-conmon-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "cri-o cgroupfs v1",
			content: v1Lines("/kubepods/burstable/pod"+testPodUID+"/crio-"+id, "/"),
			want:    Cgroup{ContainerID: id, Runtime: "cri-o", PodUID: testPodUID, Path: "/kubepods/burstable/pod" + testPodUID + "/crio-" + id},
			known:   true,
		},
		{
			name:    "cri-o conmon cgroupfs",
			content: "0::/kubepods/burstable/pod" + testPodUID + "/crio-conmon-" + id + "\n",
			want:    Cgroup{MonitorOf: id, Runtime: "cri-o", PodUID: testPodUID, Path: "/kubepods/burstable/pod" + testPodUID + "/crio-conmon-" + id},
			known:   true,
		},
		// Docker.
		{
			name:    "docker cgroupfs v1",
			content: v1Lines("/docker/"+id, "/"),
			want:    Cgroup{ContainerID: id, Runtime: "docker", Path: "/docker/" + id},
			known:   true,
		},
		{
			name:    "docker systemd v2",
			content: "0::/system.slice/docker-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "docker", Path: "/system.slice/docker-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "docker systemd v1",
			content: v1Lines("/system.slice/docker-"+id+".scope", "/system.slice/docker-"+id+".scope"),
			want:    Cgroup{ContainerID: id, Runtime: "docker", Path: "/system.slice/docker-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "cri-dockerd systemd",
			content: "0::" + sdPod + "/docker-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "docker", PodUID: testPodUID, Path: sdPod + "/docker-" + id + ".scope"},
			known:   true,
		},
		// Nesting: kind runs nodes as Docker containers.
		{
			name:    "kind cgroupfs: the pod's container, not the node's",
			content: v1Lines("/docker/"+node+"/kubepods/besteffort/pod"+testPodUID+"/"+id, "/"),
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: "/docker/" + node + "/kubepods/besteffort/pod" + testPodUID + "/" + id},
			known:   true,
		},
		{
			name:    "kind systemd v2",
			content: "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + testPodUIDSd + ".slice/cri-containerd-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "containerd", PodUID: testPodUID, Path: "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + testPodUIDSd + ".slice/cri-containerd-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "kind node's own systemd",
			content: "0::/docker/" + node + "/init.scope\n",
			want:    Cgroup{ContainerID: node, Runtime: "docker", Path: "/docker/" + node + "/init.scope"},
			known:   true,
		},
		// Podman.
		{
			name:    "podman systemd",
			content: "0::/machine.slice/libpod-" + id + ".scope\n",
			want:    Cgroup{ContainerID: id, Runtime: "podman", Path: "/machine.slice/libpod-" + id + ".scope"},
			known:   true,
		},
		{
			name:    "podman conmon",
			content: "0::/machine.slice/libpod-conmon-" + id + ".scope\n",
			want:    Cgroup{MonitorOf: id, Runtime: "podman", Path: "/machine.slice/libpod-conmon-" + id + ".scope"},
			known:   true,
		},
		// A pod, no container.
		{
			name:    "process in a pod cgroup",
			content: "0::/kubepods/burstable/pod" + testPodUID + "\n",
			want:    Cgroup{PodUID: testPodUID, Path: "/kubepods/burstable/pod" + testPodUID},
			known:   true,
		},
		// Host processes.
		{name: "host v2 init", content: "0::/init.scope\n", known: true},
		{name: "host v2 containerd daemon", content: "0::/system.slice/containerd.service\n", known: true},
		{name: "host v2 docker daemon", content: "0::/system.slice/docker.service\n", known: true},
		{name: "host v2 user session", content: "0::/user.slice/user-1000.slice/session-3.scope\n", known: true},
		{name: "host v1 root", content: v1Lines("/", "/"), known: true},
		{name: "host hybrid with a 32-hex path", content: "4:memory:/process_api/78df20b4ba4af2c040f28b67a7e1ed30\n3:cpuset:/\n0::/\n", known: true},
		{name: "host kubelet", content: "0::/system.slice/kubelet.service\n", known: true},
		{name: "no trailing newline", content: "0::/init.scope", known: true},
		// Unknown formats.
		{name: "nerdctl cgroupfs", content: "0::/default/" + id + "\n"},
		{name: "containerd without the CRI's prefix", content: "0::/system.slice/cri-containerd:" + id + "\n"},
		{name: "uppercase ID", content: "0::/docker/" + strings.ToUpper(id) + "\n"},
		{name: "QoS cgroup without pod", content: "0::/kubepods.slice/kubepods-burstable.slice\n"},
		{name: "kubepods with a malformed pod UID", content: "0::/kubepods/burstable/podnot-a-uid/" + id + "\n"},
		{name: "empty", content: ""},
		{name: "garbage", content: "hello world\nthis is not a cgroup file\n"},
		{name: "relative path", content: "0::kubepods/pod" + testPodUID + "/" + id + "\n"},
		{name: "non-numeric hierarchy", content: "x::/docker/" + id + "\n"},
		{name: "NUL in path", content: "0::/docker/" + id + "\x00\n"},
		{name: "overlong line hides the ID", content: "0::/" + strings.Repeat("a/", 3000) + "docker/" + id + "\n"},
		{
			name:    "overlong line skipped, next line read",
			content: "5:memory:/" + strings.Repeat("x", 5000) + "\n0::/docker/" + id + "\n",
			want:    Cgroup{ContainerID: id, Runtime: "docker", Path: "/docker/" + id},
			known:   true,
		},
		{name: "lines after the 64th ignored", content: strings.Repeat("garbage\n", 64) + "0::/docker/" + id + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, known := ParseCgroup([]byte(tc.content))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseCgroup (-want +got):\n%s", diff)
			}
			if known != tc.known {
				t.Errorf("known = %v, want %v", known, tc.known)
			}
			gotID, gotRuntime, ok := ContainerIDFromCgroup([]byte(tc.content))
			if gotID != tc.want.ContainerID || ok != (tc.want.ContainerID != "") || (ok && gotRuntime != tc.want.Runtime) {
				t.Errorf("ContainerIDFromCgroup = %q, %q, %v; want %q, %q", gotID, gotRuntime, ok, tc.want.ContainerID, tc.want.Runtime)
			}
		})
	}
}

func TestParseCgroupBinary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		b := make([]byte, r.IntN(8192))
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		if i%2 == 0 {
			// Make some of it look like cgroup lines.
			b = append(b, "\n0::/kubepods/"+string(b[:min(len(b), 80)])+"\n"...)
		}
		cg, _ := ParseCgroup(b)
		checkCgroup(t, b, cg)
	}
}

func FuzzParseCgroup(f *testing.F) {
	id := testID("x")
	for _, s := range []string{
		"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testPodUIDSd + ".slice/cri-containerd-" + id + ".scope\n",
		v1Lines("/kubepods/burstable/pod"+testPodUID+"/crio-conmon-"+id, "/"),
		"0::/docker/" + id,
		"garbage",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cg, _ := ParseCgroup(b)
		checkCgroup(t, b, cg)
	})
}

// checkCgroup checks what ParseCgroup must guarantee whatever its input.
func checkCgroup(t *testing.T, content []byte, cg Cgroup) {
	t.Helper()
	if cg.ContainerID != "" && cg.MonitorOf != "" {
		t.Errorf("both ContainerID and MonitorOf: %+v", cg)
	}
	for _, id := range []string{cg.ContainerID, cg.MonitorOf} {
		if id != "" && (!isContainerID(id) || !bytes.Contains(content, []byte(id))) {
			t.Errorf("bad ID %q from %q", id, content)
		}
	}
	if cg.PodUID != "" && !isPodUID(cg.PodUID) {
		t.Errorf("bad pod UID %q", cg.PodUID)
	}
	if (cg.ContainerID != "" || cg.MonitorOf != "") != (cg.Runtime != "") {
		t.Errorf("runtime %q with IDs %q/%q", cg.Runtime, cg.ContainerID, cg.MonitorOf)
	}
}
