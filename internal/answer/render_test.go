package answer

import (
	"bytes"
	"testing"

	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

func TestWriteTableNeutralisesEscapes(t *testing.T) {
	snap := &model.Snapshot{Workloads: []*model.Workload{{
		Meta:     model.Meta{Cluster: "c", Namespace: "ns", Name: "evil\x1b]0;PWNED\x07\x9b"},
		Kind:     model.KindPod,
		Template: model.PodTemplate{HostPID: true, Containers: []model.Container{{Name: "c\x1b[2J"}}},
	}}}
	e, err := NewEngine(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteTable(&out, e.Privileged(inventory.New(snap), Filter{})); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(out.Bytes(), "\x1b\x07") {
		t.Errorf("table holds control characters: %q", out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("evil?]0;PWNED?")) {
		t.Errorf("name not shown with placeholders: %q", out.String())
	}
}
