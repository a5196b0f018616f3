package objcodec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
)

func workload(name, rv string) *model.Workload {
	return &model.Workload{Meta: model.Meta{Cluster: "c", Namespace: "ns", Name: name, ResourceVersion: rv}, Kind: model.KindDeployment}
}

func TestEncodeAllLastWinsSorted(t *testing.T) {
	rows, err := EncodeAll([]model.Object{workload("b", "1"), workload("a", "1"), workload("b", "2"), workload("b", "3"), workload("a", "2")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Key.Name+"@"+r.ResourceVersion)
	}
	if diff := cmp.Diff([]string{"a@2", "b@3"}, got); diff != "" {
		t.Errorf("EncodeAll mismatch (-want +got):\n%s", diff)
	}
}

func TestDecode(t *testing.T) {
	w := workload("a", "1")
	r, err := Encode(w)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(r.Key, r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(model.Object(w), got); diff != "" {
		t.Errorf("Decode mismatch (-want +got):\n%s", diff)
	}

	tests := []struct {
		name    string
		key     model.Key
		body    string
		wantErr string
	}{
		{"other key", model.Key{Cluster: "c", Kind: model.KindDeployment, Namespace: "ns", Name: "b"}, string(r.Body), "body holds object"},
		{"other kind", model.Key{Cluster: "c", Kind: model.KindPod, Namespace: "ns", Name: "a"}, string(r.Body), "body holds object"},
		{"unknown kind", model.Key{Cluster: "c", Kind: "Secret", Name: "a"}, "{}", "unknown kind"},
		{"bad json", r.Key, "{", "decoding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.key, []byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Decode() error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestCompareKeysIsByteOrder(t *testing.T) {
	keys := []model.Key{
		{Cluster: "a", Kind: "Pod", Namespace: "ns", Name: "x"},
		{Cluster: "B", Kind: "Pod", Namespace: "ns", Name: "x"},
		{Cluster: "a", Kind: "Deployment", Namespace: "ns", Name: "x"},
		{Cluster: "a", Kind: "Pod", Namespace: "", Name: "x"},
		{Cluster: "a", Kind: "Pod", Namespace: "ns", Name: "X"},
	}
	// B < a (upper case first); then kind, namespace, name.
	want := []int{1, 2, 3, 4, 0}
	for i := range want[:len(want)-1] {
		if c := CompareKeys(keys[want[i]], keys[want[i+1]]); c >= 0 {
			t.Errorf("CompareKeys(%v, %v) = %d, want < 0", keys[want[i]], keys[want[i+1]], c)
		}
	}
}
