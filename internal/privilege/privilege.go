// Package privilege answers question 6: which workloads run privileged or
// with host access? It reads the effective security context of every
// container (pod and container levels merged) and the pod's host settings.
package privilege

import (
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// Checks, as they appear in the JSON output.
const (
	CheckPrivileged               = "privileged"
	CheckHostPID                  = "hostPID"
	CheckHostIPC                  = "hostIPC"
	CheckHostNetwork              = "hostNetwork"
	CheckHostPath                 = "hostPath"
	CheckCapabilities             = "capabilities"
	CheckAllowPrivilegeEscalation = "allowPrivilegeEscalation"
	CheckRunAsRoot                = "runAsRoot"
)

// Finding is one privilege a workload holds.
type Finding struct {
	Check string `json:"check"`
	// Container is empty for pod-level findings (host namespaces, volumes
	// no container mounts).
	Container string         `json:"container"`
	Detail    string         `json:"detail"`
	Severity  model.Severity `json:"severity"`
	// HostPath is the node path of a hostPath finding.
	HostPath string `json:"hostPath,omitempty"`
	// Capability is the added capability of a capabilities finding, as
	// written in the spec.
	Capability string `json:"capability,omitempty"`
}

// Item lists the findings of one workload.
type Item struct {
	Workload model.WorkloadRef `json:"workload"`
	Findings []Finding         `json:"findings"`
	// MaxSeverity is the most severe finding.
	MaxSeverity model.Severity `json:"maxSeverity"`
}

// baselineCaps are the capabilities the Pod Security Standards baseline level
// allows to be added; adding any other is a finding.
var baselineCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// criticalCaps amount to root on the node or to escaping the container.
var criticalCaps = []string{"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "SYS_BOOT", "BPF", "PERFMON", "DAC_READ_SEARCH", "MAC_ADMIN", "MAC_OVERRIDE", "SYSLOG"}

// highCaps let a container tamper with the network or the host's resources.
var highCaps = []string{"NET_ADMIN", "NET_RAW", "SYS_TIME", "SYS_RESOURCE", "SYS_NICE", "LINUX_IMMUTABLE", "IPC_LOCK", "SYS_PACCT", "CHECKPOINT_RESTORE", "LEASE", "WAKE_ALARM", "BLOCK_SUSPEND"}

// runtimeSockets are host paths that hand out control of the node's
// container runtime.
var runtimeSockets = []string{
	"/var/run/docker.sock", "/run/docker.sock",
	"/var/run/containerd/containerd.sock", "/run/containerd/containerd.sock",
	"/var/run/crio/crio.sock", "/run/crio/crio.sock",
	"/var/run/cri-dockerd.sock", "/run/cri-dockerd.sock",
	"/var/run/dockershim.sock", "/var/run/podman/podman.sock", "/run/podman/podman.sock",
}

// runtimeDirs contain runtime sockets; mounting them is as bad.
var runtimeDirs = []string{"/var/run", "/run", "/var/run/docker", "/var/run/containerd", "/run/containerd", "/var/run/crio", "/run/crio", "/var/lib/docker", "/var/lib/containerd", "/var/lib/kubelet", "/etc/kubernetes", "/proc", "/sys", "/dev", "/etc", "/root", "/boot", "/var/lib/etcd"}

// NormalizeCapability upper-cases a capability and strips a CAP_ prefix.
func NormalizeCapability(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	return strings.TrimPrefix(c, "CAP_")
}

// Answer lists every workload with at least one finding.
func Answer(ix *inventory.Index) []Item {
	return AnswerWorkloads(ix.Workloads(), ImageUsersOf(ix))
}

// ImageUsers returns the users that the scanned images of a workload's
// container declare in their config, or nil when no scan is known.
type ImageUsers func(w *model.Workload, container string) []string

// ImageUsersOf returns the image users the scan results of ix know: those
// of the digests the workload's pods run for the container, else of the
// digest its spec pins. When some of those images were not scanned and
// none of the others runs as root, it returns nil: the answer stays "may".
func ImageUsersOf(ix *inventory.Index) ImageUsers {
	v := ix.Images()
	if v.Len() == 0 {
		return nil
	}
	return func(w *model.Workload, container string) []string {
		digests := ix.RunningDigests(w.Ref(), container)
		if len(digests) == 0 {
			for _, c := range w.Template.Containers {
				if c.Name == container && c.Image.Digest != "" {
					digests = []string{c.Image.Digest}
				}
			}
		}
		var users []string
		unknown := false
		for _, d := range digests {
			if im := v.Image(d); im != nil && im.SBOM != nil {
				users = append(users, im.SBOM.User)
			} else {
				unknown = true
			}
		}
		if unknown && !slices.ContainsFunc(users, imagescan.RunsAsRoot) {
			// One image not scanned yet may still run as root.
			return nil
		}
		return users
	}
}

// AnswerWorkloads lists the workloads of ws with at least one finding, in
// the order of ws. users may be nil.
func AnswerWorkloads(ws []*model.Workload, users ImageUsers) []Item {
	var out []Item
	for _, w := range ws {
		f := CheckWith(w, users)
		if len(f) == 0 {
			continue
		}
		if out == nil {
			// Most workloads have a finding (allowPrivilegeEscalation
			// unset is one): size for all of them once.
			out = make([]Item, 0, len(ws))
		}
		it := Item{Workload: w.Ref(), Findings: f, MaxSeverity: model.SeverityInfo}
		for _, x := range f {
			if x.Severity.Rank() > it.MaxSeverity.Rank() {
				it.MaxSeverity = x.Severity
			}
		}
		out = append(out, it)
	}
	return out
}

// Check returns the privilege findings of one workload, in a stable order:
// pod-level findings first, then per container in spec order.
func Check(w *model.Workload) []Finding { return CheckWith(w, nil) }

// CheckWith is Check with the users of the workload's scanned images, which
// turn "may run as root" into a definite answer.
func CheckWith(w *model.Workload, users ImageUsers) []Finding {
	t := &w.Template
	var out []Finding
	// Details are built by concatenation, not fmt: Check runs for every
	// workload of every answer.
	add := func(check, container string, sev model.Severity, detail string) *Finding {
		if out == nil {
			// Typically two findings per container (privilege escalation
			// and root), plus a few at pod level.
			out = make([]Finding, 0, 2*len(t.Containers)+2)
		}
		out = append(out, Finding{Check: check, Container: container, Severity: sev, Detail: detail})
		return &out[len(out)-1]
	}
	if t.HostPID {
		add(CheckHostPID, "", model.SeverityHigh, "shares the node's process namespace: can see and signal every process on the node")
	}
	if t.HostIPC {
		add(CheckHostIPC, "", model.SeverityHigh, "shares the node's IPC namespace: can read other processes' shared memory")
	}
	if t.HostNetwork {
		add(CheckHostNetwork, "", model.SeverityHigh, "uses the node's network namespace: can bind node ports and reach node-local services")
	}
	for _, v := range t.Volumes {
		if v.Type != model.VolumeHostPath {
			continue
		}
		sev, why := hostPathSeverity(v.HostPath)
		mounted := false
		for _, c := range t.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name != v.Name {
					continue
				}
				mounted = true
				mode := "read-write"
				if m.ReadOnly {
					mode = "read-only"
				}
				add(CheckHostPath, c.Name, sev, "hostPath volume "+strconv.Quote(v.Name)+" mounts "+v.HostPath+" from the node"+why+" at "+m.MountPath+", "+mode).HostPath = v.HostPath
			}
		}
		if !mounted {
			add(CheckHostPath, "", sev, "hostPath volume "+strconv.Quote(v.Name)+" mounts "+v.HostPath+" from the node"+why+" (not mounted by any container)").HostPath = v.HostPath
		}
	}
	for _, c := range t.Containers {
		sc := c.SecurityContext
		if sc.Privileged {
			add(CheckPrivileged, c.Name, model.SeverityCritical, "privileged container: all capabilities and devices of the node, no isolation")
		}
		if sc.WindowsHostProcess {
			add(CheckPrivileged, c.Name, model.SeverityCritical, "Windows HostProcess container: runs as a process on the node")
		}
		for _, raw := range sc.CapAdd {
			capName := NormalizeCapability(raw)
			var f *Finding
			switch {
			case slices.Contains(criticalCaps, capName):
				f = add(CheckCapabilities, c.Name, model.SeverityCritical, "adds capability "+capName)
			case slices.Contains(highCaps, capName):
				f = add(CheckCapabilities, c.Name, model.SeverityHigh, "adds capability "+capName)
			case !slices.Contains(baselineCaps, capName):
				f = add(CheckCapabilities, c.Name, model.SeverityMedium, "adds capability "+capName+", outside the Pod Security baseline set")
			case raw != capName:
				// Pod Security admission compares names exactly and
				// rejects "chown" or "CAP_CHOWN"; runtimes differ in how
				// they read them.
				f = add(CheckCapabilities, c.Name, model.SeverityLow, "adds capability "+strconv.Quote(raw)+", which is not the canonical name "+capName+": Pod Security admission rejects it and runtimes may read it differently")
			}
			if f != nil {
				f.Capability = raw
			}
		}
		if t.OS == "windows" {
			// allowPrivilegeEscalation and runAsUser do not apply to
			// Windows containers (they use runAsUserName).
			continue
		}
		switch {
		case sc.Privileged:
			add(CheckAllowPrivilegeEscalation, c.Name, model.SeverityMedium, "privilege escalation is always allowed in a privileged container")
		case sc.AllowPrivilegeEscalation == nil:
			add(CheckAllowPrivilegeEscalation, c.Name, model.SeverityMedium, "allowPrivilegeEscalation is not set to false: setuid binaries can gain privileges")
		case *sc.AllowPrivilegeEscalation:
			add(CheckAllowPrivilegeEscalation, c.Name, model.SeverityMedium, "allowPrivilegeEscalation is true: setuid binaries can gain privileges")
		}
		switch {
		case sc.RunAsUser != nil && *sc.RunAsUser == 0:
			add(CheckRunAsRoot, c.Name, model.SeverityHigh, "runs as root: runAsUser is 0")
		case sc.RunAsUser != nil:
			// A non-zero UID is set: not root, whatever runAsNonRoot says.
		case sc.RunAsNonRoot != nil && *sc.RunAsNonRoot:
			// The kubelet refuses to start the container as root.
		default:
			var us []string
			if users != nil {
				us = users(w, c.Name)
			}
			rootUser, found := "", false
			for _, u := range us {
				if imagescan.RunsAsRoot(u) {
					rootUser, found = u, true
					break
				}
			}
			switch {
			case len(us) == 0:
				add(CheckRunAsRoot, c.Name, model.SeverityMedium, "may run as root: neither runAsNonRoot nor runAsUser is set, so the image's user decides")
			case found && rootUser == "":
				add(CheckRunAsRoot, c.Name, model.SeverityHigh, "runs as root: neither runAsNonRoot nor runAsUser is set and the scanned image sets no user")
			case found:
				add(CheckRunAsRoot, c.Name, model.SeverityHigh, "runs as root: neither runAsNonRoot nor runAsUser is set and the scanned image's user is "+strconv.Quote(rootUser))
			}
			// Every scanned image names a user other than root: not root.
		}
	}
	return out
}

func hostPathSeverity(p string) (model.Severity, string) {
	clean := "/" + strings.Trim(p, "/")
	switch {
	case clean == "/":
		return model.SeverityCritical, " (the node's whole filesystem)"
	case slices.Contains(runtimeSockets, clean) || strings.HasSuffix(clean, ".sock") && strings.Contains(clean, "run"):
		return model.SeverityCritical, " (a container runtime socket: control of every container on the node)"
	case slices.Contains(runtimeDirs, clean):
		return model.SeverityCritical, " (a sensitive node directory)"
	}
	return model.SeverityHigh, ""
}
