package privilege

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
)

func ptr[T any](v T) *T { return &v }

// safe is a container that passes every check.
func safe(name string) model.Container {
	return model.Container{Name: name, Type: model.ContainerRegular, SecurityContext: model.SecurityContext{
		AllowPrivilegeEscalation: ptr(false), RunAsNonRoot: ptr(true),
	}}
}

type got struct {
	Check, Container string
	Severity         model.Severity
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		tmpl model.PodTemplate
		want []got
	}{
		{"hardened", model.PodTemplate{Containers: []model.Container{safe("a")}}, nil},
		{"host namespaces", model.PodTemplate{HostPID: true, HostIPC: true, HostNetwork: true, Containers: []model.Container{safe("a")}},
			[]got{{CheckHostPID, "", model.SeverityHigh}, {CheckHostIPC, "", model.SeverityHigh}, {CheckHostNetwork, "", model.SeverityHigh}}},
		{"privileged init container", model.PodTemplate{Containers: []model.Container{func() model.Container {
			c := safe("init")
			c.Type = model.ContainerInit
			c.SecurityContext.Privileged = true
			return c
		}()}}, []got{{CheckPrivileged, "init", model.SeverityCritical}, {CheckAllowPrivilegeEscalation, "init", model.SeverityMedium}}},
		{"runtime socket and root fs", model.PodTemplate{
			Volumes: []model.Volume{
				{Name: "sock", Type: model.VolumeHostPath, HostPath: "/var/run/docker.sock"},
				{Name: "root", Type: model.VolumeHostPath, HostPath: "/"},
				{Name: "logs", Type: model.VolumeHostPath, HostPath: "/var/log/app"},
				{Name: "cfg", Type: model.VolumeConfigMap},
			},
			Containers: []model.Container{func() model.Container {
				c := safe("a")
				c.VolumeMounts = []model.VolumeMount{{Name: "sock", MountPath: "/var/run/docker.sock"}, {Name: "logs", MountPath: "/logs", ReadOnly: true}}
				return c
			}()},
		}, []got{{CheckHostPath, "a", model.SeverityCritical}, {CheckHostPath, "", model.SeverityCritical}, {CheckHostPath, "a", model.SeverityHigh}}},
		{"capabilities", model.PodTemplate{Containers: []model.Container{func() model.Container {
			c := safe("a")
			c.SecurityContext.CapAdd = []string{"CAP_SYS_ADMIN", "net_raw", "CHOWN", "SYS_TIME", "WAKE_ALARM", "AUDIT_CONTROL"}
			return c
		}()}}, []got{
			{CheckCapabilities, "a", model.SeverityCritical}, {CheckCapabilities, "a", model.SeverityHigh},
			{CheckCapabilities, "a", model.SeverityHigh}, {CheckCapabilities, "a", model.SeverityHigh}, {CheckCapabilities, "a", model.SeverityMedium},
		}},
		{"non-canonical capability names", model.PodTemplate{Containers: []model.Container{func() model.Container {
			c := safe("a")
			c.SecurityContext.CapAdd = []string{"chown", "CAP_KILL", "SETUID"}
			return c
		}()}}, []got{{CheckCapabilities, "a", model.SeverityLow}, {CheckCapabilities, "a", model.SeverityLow}}},
		{"windows pods have no escalation or uid checks", model.PodTemplate{OS: "windows", Containers: []model.Container{{Name: "w", Type: model.ContainerRegular}}}, nil},
		{"escalation and root", model.PodTemplate{Containers: []model.Container{
			{Name: "unset", Type: model.ContainerRegular},
			{Name: "uid0", Type: model.ContainerRegular, SecurityContext: model.SecurityContext{AllowPrivilegeEscalation: ptr(true), RunAsUser: ptr[int64](0), RunAsNonRoot: ptr(true)}},
			{Name: "uid1000", Type: model.ContainerRegular, SecurityContext: model.SecurityContext{AllowPrivilegeEscalation: ptr(false), RunAsUser: ptr[int64](1000)}},
		}}, []got{
			{CheckAllowPrivilegeEscalation, "unset", model.SeverityMedium}, {CheckRunAsRoot, "unset", model.SeverityMedium},
			{CheckAllowPrivilegeEscalation, "uid0", model.SeverityMedium}, {CheckRunAsRoot, "uid0", model.SeverityHigh},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out []got
			for _, f := range Check(&model.Workload{Kind: model.KindDeployment, Template: tt.tmpl}) {
				if f.Detail == "" {
					t.Errorf("finding %+v has no detail", f)
				}
				out = append(out, got{f.Check, f.Container, f.Severity})
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
}
