package ownership

import (
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

func TestResolve(t *testing.T) {
	ns := &model.Namespace{Meta: model.Meta{Name: "shop", Labels: map[string]string{"team": "ns-team"}, Annotations: map[string]string{"owner": "ns-owner"}}}
	tests := []struct {
		name       string
		keys       []string
		w          model.Workload
		ns         *model.Namespace
		wantOwner  string
		wantSource string
	}{
		{"workload label wins over namespace", nil, model.Workload{Meta: model.Meta{Labels: map[string]string{"team": "w"}}}, ns, "w", "workload label team"},
		{"later key on workload beats earlier key on namespace", nil, model.Workload{Meta: model.Meta{Annotations: map[string]string{"owner": "wa"}}}, ns, "wa", "workload annotation owner"},
		{"pod template label", nil, model.Workload{Template: model.PodTemplate{Labels: map[string]string{"app.kubernetes.io/team": "t"}}}, ns, "t", "pod template label app.kubernetes.io/team"},
		{"namespace label", nil, model.Workload{}, ns, "ns-team", "namespace label team"},
		{"custom keys in order", []string{"squad", "owner"}, model.Workload{}, ns, "ns-owner", "namespace annotation owner"},
		{"unowned", nil, model.Workload{Meta: model.Meta{Labels: map[string]string{"app": "x"}}}, nil, "", ""},
		{"empty value does not count", nil, model.Workload{Meta: model.Meta{Labels: map[string]string{"team": ""}}}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := NewResolver(tt.keys).Resolve(&tt.w, tt.ns)
			got := ""
			if it.Owner != nil {
				got = *it.Owner
			}
			if got != tt.wantOwner || it.Source != tt.wantSource {
				t.Errorf("Resolve = %q from %q, want %q from %q", got, it.Source, tt.wantOwner, tt.wantSource)
			}
		})
	}
}
