package procfs

import (
	"bytes"
	"strings"
)

// Bounds of ParseCgroup: a cgroup file has one line per v1 hierarchy plus
// the v2 line, and a path is at most PATH_MAX.
const (
	maxCgroupLines = 64
	maxCgroupLine  = 4096 + 64
)

// Cgroup is what a /proc/<pid>/cgroup file says about the container and
// pod a process belongs to.
type Cgroup struct {
	// ContainerID is the 64-hex ID of the container the process runs in
	// (for a pod's pause process, the sandbox ID); "" on the host.
	ContainerID string
	// Runtime is "containerd", "cri-o", "docker" or "podman".
	//
	// The cgroupfs driver's "/kubepods/<qos>/pod<uid>/<id>" is reported as
	// containerd, but cri-dockerd names its containers the same way: match
	// container IDs against the pod status without the runtime prefix.
	Runtime string
	// PodUID is the Kubernetes pod UID (with dashes), "" outside pods.
	PodUID string
	// MonitorOf is the container ID a conmon process ("crio-conmon-<id>",
	// "libpod-conmon-<id>") monitors. conmon is not inside the container
	// (it runs in the host's namespaces next to it), so ContainerID is ""
	// for it: a monitor must not enter the container's process baseline.
	MonitorOf string
	// Path is the cgroup path the result was read from.
	Path string
}

// ContainerIDFromCgroup returns the container ID and runtime named by the
// content of a /proc/<pid>/cgroup file (cgroup v1 "N:controllers:/path"
// lines and the v2 "0::/path" line). ok is false for host processes,
// container monitors (see Cgroup.MonitorOf) and formats not recognised.
func ContainerIDFromCgroup(content []byte) (id, runtime string, ok bool) {
	cg, _ := ParseCgroup(content)
	if cg.ContainerID == "" {
		return "", "", false
	}
	return cg.ContainerID, cg.Runtime, true
}

// ParseCgroup parses the content of a /proc/<pid>/cgroup file. The v2 line
// is tried first (on a unified or hybrid host it names the container when
// the runtime uses v2), then the v1 lines in order; the deepest recognised
// path segment wins, so nested setups (kind: a node container holding pod
// cgroups) yield the innermost container. Paths made relative by a cgroup
// namespace ("/../../kubepods.slice/...") are handled like absolute ones.
//
// known is false when the content names a container in a way not
// recognised (a Kubernetes pod cgroup or a 64-hex ID, but no container ID
// or pod UID could be read) or is not a cgroup file at all; host paths
// such as "/", "/system.slice/containerd.service" or "/user.slice/..."
// are known and yield an empty Cgroup. At most the first 64 lines are
// read and lines over 4160 bytes are ignored.
func ParseCgroup(content []byte) (cg Cgroup, known bool) {
	var v2 []byte
	var v1 [maxCgroupLines][]byte
	nv1 := 0
	valid := 0
	for lines := 0; len(content) > 0 && lines < maxCgroupLines; lines++ {
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, content = content[:i], content[i+1:]
		} else {
			content = nil
		}
		if len(line) > maxCgroupLine {
			continue
		}
		unified, path, ok := splitCgroupLine(line)
		if !ok {
			continue
		}
		valid++
		if unified {
			v2 = path
		} else {
			v1[nv1] = path
			nv1++
		}
	}
	if valid == 0 {
		return Cgroup{}, false
	}
	var pod Cgroup
	hinted := false
	// The v2 line first, then the v1 lines; v1 hierarchies usually repeat
	// one path, parsed once.
	for i := -1; i < nv1; i++ {
		p := v2
		if i >= 0 {
			p = v1[i]
			if bytes.Equal(p, v2) || (i > 0 && bytes.Equal(p, v1[i-1])) {
				continue
			}
		}
		if p == nil {
			continue
		}
		path := string(p)
		c := parseCgroupPath(path)
		if c.ContainerID != "" || c.MonitorOf != "" {
			return c, true
		}
		if c.PodUID != "" && pod.PodUID == "" {
			pod = c
		}
		hinted = hinted || containerHint(path)
	}
	if pod.PodUID != "" {
		return pod, true // a process in a pod's cgroup, in no container's
	}
	return Cgroup{}, !hinted
}

// splitCgroupLine splits "hierarchy-ID:controller-list:cgroup-path";
// unified is set for the v2 line ("0::/path").
func splitCgroupLine(line []byte) (unified bool, path []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false, nil, false
	}
	j := bytes.IndexByte(line[i+1:], ':')
	if j < 0 {
		return false, nil, false
	}
	j += i + 1
	for _, c := range line[:i] {
		if c < '0' || c > '9' {
			return false, nil, false
		}
	}
	p := line[j+1:]
	if len(p) == 0 || p[0] != '/' || bytes.IndexByte(p, 0) >= 0 {
		return false, nil, false
	}
	return i == 1 && line[0] == '0' && j == i+1, p, true
}

// A container cgroup's last segment, by runtime and cgroup driver.
var containerSegments = []struct {
	prefix, suffix string
	runtime        string
	monitor        bool
}{
	// systemd driver: transient scopes.
	{"cri-containerd-", ".scope", "containerd", false},
	{"crio-conmon-", ".scope", "cri-o", true},
	{"crio-", ".scope", "cri-o", false},
	{"docker-", ".scope", "docker", false},
	{"libpod-conmon-", ".scope", "podman", true},
	{"libpod-", ".scope", "podman", false},
	// cgroupfs driver.
	{"crio-conmon-", "", "cri-o", true},
	{"crio-", "", "cri-o", false},
	{"libpod-conmon-", "", "podman", true},
	{"libpod-", "", "podman", false},
}

// parseCgroupPath reads a container ID and pod UID from one cgroup path.
func parseCgroupPath(path string) Cgroup {
	c := Cgroup{Path: path}
	segs := strings.Split(path, "/")
	kubepods := false
	for _, s := range segs {
		if strings.Contains(s, "kubepods") {
			kubepods = true
			break
		}
	}
	for i := len(segs) - 1; i >= 0 && c.ContainerID == "" && c.MonitorOf == ""; i-- {
		s := segs[i]
		for _, cs := range containerSegments {
			rest, ok := strings.CutPrefix(s, cs.prefix)
			if !ok {
				continue
			}
			if rest, ok = strings.CutSuffix(rest, cs.suffix); !ok || !isContainerID(rest) {
				continue
			}
			if cs.monitor {
				c.MonitorOf = rest
			} else {
				c.ContainerID = rest
			}
			c.Runtime = cs.runtime
			break
		}
		if c.ContainerID != "" || c.MonitorOf != "" || !isContainerID(s) || i == 0 {
			continue
		}
		// A bare ID: cgroupfs. Docker puts its containers under /docker,
		// the kubelet under /kubepods/[<qos>/]pod<uid>.
		switch {
		case segs[i-1] == "docker":
			c.ContainerID, c.Runtime = s, "docker"
		case kubepods && isPodSegment(segs[i-1]):
			c.ContainerID, c.Runtime = s, "containerd"
		}
	}
	for i := len(segs) - 1; i >= 0 && kubepods; i-- {
		if uid, ok := podUID(segs[i]); ok {
			c.PodUID = uid
			break
		}
	}
	return c
}

// isPodSegment reports whether seg is a cgroupfs pod segment.
func isPodSegment(seg string) bool {
	rest, ok := strings.CutPrefix(seg, "pod")
	return ok && isPodUID(rest)
}

// podUID reads the pod UID of a kubelet pod cgroup segment: "pod<uid>"
// (cgroupfs) or "kubepods[-<qos>]-pod<uid with underscores>.slice"
// (systemd; kind nests them as "kubelet-kubepods-...").
func podUID(seg string) (string, bool) {
	var raw string
	if name, ok := strings.CutSuffix(seg, ".slice"); ok {
		i := strings.LastIndex(name, "-pod")
		if i < 0 || !strings.Contains(name[:i+1], "kubepods") {
			return "", false
		}
		raw = strings.ReplaceAll(name[i+len("-pod"):], "_", "-")
	} else if rest, ok := strings.CutPrefix(seg, "pod"); ok {
		raw = rest
	} else {
		return "", false
	}
	if !isPodUID(raw) {
		return "", false
	}
	return raw, true
}

// isPodUID accepts a UUID (8-4-4-4-12) and the 32-hex hash the kubelet
// uses as the UID of static pods.
func isPodUID(s string) bool {
	switch len(s) {
	case 32:
		return isLowerHex(s)
	case 36:
		for i := 0; i < len(s); i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if s[i] != '-' {
					return false
				}
			} else if !isHexDigit(s[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// isContainerID accepts the 64 lowercase hex digits of containerd, CRI-O,
// Docker and podman IDs.
func isContainerID(s string) bool { return len(s) == 64 && isLowerHex(s) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// containerHint reports whether a cgroup path looks like a container's:
// a kubelet cgroup, or a run of 64 hex digits (an ID in a naming we do not
// know, such as nerdctl's "/default/<id>").
func containerHint(path string) bool {
	if strings.Contains(path, "kubepods") {
		return true
	}
	run := 0
	for i := 0; i < len(path); i++ {
		if c := path[i] | 0x20; isHexDigit(c) { // any case
			run++
			if run >= 64 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
