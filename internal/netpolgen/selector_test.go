package netpolgen

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
)

func TestChooseSelector(t *testing.T) {
	wl := func(labels map[string]string) *model.Workload {
		return &model.Workload{Template: model.PodTemplate{Labels: labels}}
	}
	tests := []struct {
		name   string
		w      map[string]string
		others []map[string]string
		want   map[string]string
		exact  bool
	}{
		{
			name: "alone: the preferred key",
			w:    map[string]string{"tier": "web", "app": "shop", "app.kubernetes.io/name": "shop"},
			want: map[string]string{"app.kubernetes.io/name": "shop"}, exact: true,
		},
		{
			name:   "app tells apart",
			w:      map[string]string{"app": "a", "tier": "web"},
			others: []map[string]string{{"app": "b", "tier": "web"}},
			want:   map[string]string{"app": "a"}, exact: true,
		},
		{
			name:   "app.kubernetes.io/name is shared, app is not",
			w:      map[string]string{"app.kubernetes.io/name": "redis", "app": "cache"},
			others: []map[string]string{{"app.kubernetes.io/name": "redis", "app": "queue"}},
			want:   map[string]string{"app": "cache"}, exact: true,
		},
		{
			name: "two keys together",
			w:    map[string]string{"app": "db", "role": "primary"},
			others: []map[string]string{
				{"app": "db", "role": "replica"},
				{"app": "web", "role": "primary"},
			},
			want: map[string]string{"app": "db", "role": "primary"}, exact: true,
		},
		{
			name:   "a version label is the last resort",
			w:      map[string]string{"app": "a", "version": "v2", "track": "canary"},
			others: []map[string]string{{"app": "a", "version": "v1", "track": "stable"}},
			want:   map[string]string{"track": "canary"}, exact: true,
		},
		{
			name:   "only the version differs",
			w:      map[string]string{"app": "a", "version": "v2"},
			others: []map[string]string{{"app": "a", "version": "v1"}},
			want:   map[string]string{"version": "v2"}, exact: true,
		},
		{
			name:   "same labels: all labels, not exact",
			w:      map[string]string{"app": "a", "tier": "web"},
			others: []map[string]string{{"app": "a", "tier": "web"}},
			want:   map[string]string{"app": "a", "tier": "web"}, exact: false,
		},
		{
			name:   "another has a superset: not exact",
			w:      map[string]string{"app": "a"},
			others: []map[string]string{{"app": "a", "extra": "x"}},
			want:   map[string]string{"app": "a"}, exact: false,
		},
		{
			name: "no labels, alone",
			w:    nil,
			want: map[string]string{}, exact: true,
		},
		{
			name:   "no labels, with others",
			w:      nil,
			others: []map[string]string{{"app": "b"}},
			want:   map[string]string{}, exact: false,
		},
		{
			name: "four keys needed: greedy",
			w:    map[string]string{"a": "1", "b": "1", "c": "1", "d": "1"},
			others: []map[string]string{
				{"a": "1", "b": "1", "c": "1"},
				{"a": "1", "b": "1", "d": "1"},
				{"a": "1", "c": "1", "d": "1"},
				{"b": "1", "c": "1", "d": "1"},
			},
			want: map[string]string{"a": "1", "b": "1", "c": "1", "d": "1"}, exact: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wl(tt.w)
			all := []*model.Workload{w}
			for _, o := range tt.others {
				all = append(all, wl(o))
			}
			got := chooseSelector(w, all)
			if diff := cmp.Diff(tt.want, got.labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if got.exact != tt.exact {
				t.Errorf("exact = %v, want %v", got.exact, tt.exact)
			}
			// Whatever is chosen selects w, and exact means nothing else.
			sel := &model.LabelSelector{MatchLabels: got.labels}
			if !sel.Matches(w.Template.Labels) {
				t.Errorf("selector %v does not select the workload", got.labels)
			}
			others := 0
			for _, o := range all[1:] {
				if sel.Matches(o.Template.Labels) {
					others++
				}
			}
			if got.exact != (others == 0) {
				t.Errorf("exact = %v but the selector selects %d others", got.exact, others)
			}
		})
	}
}
