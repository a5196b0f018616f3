package migrate

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		want    []int
		wantErr string
	}{
		{"in order", []string{"0002_b.sql", "0001_a.sql", "README.md"}, []int{1, 2}, ""},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, nil, "want version 2"},
		{"duplicate", []string{"0001_a.sql", "0001_b.sql"}, nil, "want version 2"},
		{"bad name", []string{"0001_a.sql", "init.sql"}, nil, "NNNN_description.sql"},
		{"zero", []string{"0000_a.sql"}, nil, "NNNN_description.sql"},
		{"none", nil, nil, "no migrations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"m/.keep": {}}
			for _, f := range tc.files {
				fsys["m/"+f] = &fstest.MapFile{Data: []byte("-- " + f)}
			}
			got, err := Load(fsys, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load() error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var versions []int
			for _, m := range got {
				versions = append(versions, m.Version)
				if m.SQL != "-- "+m.Name {
					t.Errorf("migration %s has SQL %q", m.Name, m.SQL)
				}
			}
			if diff := cmp.Diff(tc.want, versions); diff != "" {
				t.Errorf("versions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPending(t *testing.T) {
	all := []Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	tests := []struct {
		name    string
		applied []int
		want    []int
		wantErr bool
	}{
		{"new database", nil, []int{1, 2, 3}, false},
		{"partly migrated", []int{1}, []int{2, 3}, false},
		{"up to date", []int{3, 1, 2}, nil, false},
		{"newer database", []int{1, 2, 3, 4}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pending(all, tc.applied)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Pending() error = %v, want error %v", err, tc.wantErr)
			}
			var versions []int
			for _, m := range got {
				versions = append(versions, m.Version)
			}
			if diff := cmp.Diff(tc.want, versions); diff != "" {
				t.Errorf("Pending() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
