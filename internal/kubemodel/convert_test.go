package kubemodel

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-project/palisade/internal/model"
)

func p[T any](v T) *T { return &v }

func TestEffectiveSecurityContext(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.PodSecurityContext
		c    *corev1.SecurityContext
		want model.SecurityContext
	}{
		{"nothing set", nil, nil, model.SecurityContext{}},
		{"pod level only", &corev1.PodSecurityContext{RunAsUser: p[int64](1000), RunAsNonRoot: p(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}, nil,
			model.SecurityContext{RunAsUser: p[int64](1000), RunAsNonRoot: p(true), SeccompProfile: "RuntimeDefault"}},
		{"container overrides pod", &corev1.PodSecurityContext{RunAsUser: p[int64](1000), RunAsNonRoot: p(true)}, &corev1.SecurityContext{RunAsUser: p[int64](0), RunAsNonRoot: p(false)},
			model.SecurityContext{RunAsUser: p[int64](0), RunAsNonRoot: p(false)}},
		{"container-only fields", nil, &corev1.SecurityContext{
			Privileged: p(true), AllowPrivilegeEscalation: p(false), ReadOnlyRootFilesystem: p(true),
			Capabilities:   &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: p("x.json")},
		}, model.SecurityContext{Privileged: true, AllowPrivilegeEscalation: p(false), ReadOnlyRootFilesystem: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, SeccompProfile: "Localhost/x.json"}},
		{"pod user kept when container sets other fields", &corev1.PodSecurityContext{RunAsUser: p[int64](0)}, &corev1.SecurityContext{Privileged: p(false)},
			model.SecurityContext{RunAsUser: p[int64](0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, EffectiveSecurityContext(tt.pod, tt.c)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestConvertUnsupported(t *testing.T) {
	if _, err := Convert("c", "x", &corev1.ConfigMap{}); err == nil {
		t.Fatal("ConfigMap converted")
	}
}
