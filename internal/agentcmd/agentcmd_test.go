package agentcmd

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestDaemonSetArgsParse: the flags deploy/agent.yaml gives the agent are
// the agent's flags.
func TestDaemonSetArgsParse(t *testing.T) {
	b, err := os.ReadFile("../../deploy/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, doc := range bytes.Split(b, []byte("\n---\n")) {
		var ds struct {
			Kind string `json:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Command []string `json:"command"`
							Args    []string `json:"args"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &ds); err != nil {
			t.Fatal(err)
		}
		if ds.Kind != "DaemonSet" {
			continue
		}
		found = true
		c := ds.Spec.Template.Spec.Containers[0]
		if len(c.Command) != 1 || !strings.HasSuffix(c.Command[0], "/palisade-agent") {
			t.Errorf("command %q, want the palisade-agent binary", c.Command)
		}
		cmd := New(Env{Stderr: io.Discard, Log: slog.New(slog.DiscardHandler), Getenv: func(string) string { return "" }})
		if err := cmd.ParseFlags(c.Args); err != nil {
			t.Errorf("the DaemonSet's args %q: %v", c.Args, err)
		}
	}
	if !found {
		t.Fatal("no DaemonSet in deploy/agent.yaml")
	}
}
