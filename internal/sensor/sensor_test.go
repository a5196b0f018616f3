package sensor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"

	"github.com/palisade-project/palisade/internal/model"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: one
  cluster:
    server: https://one.example:6443
- name: two
  cluster:
    server: https://two.example:6443
users:
- name: u
  user:
    token: secret
contexts:
- name: first
  context: {cluster: one, user: u}
- name: second
  context: {cluster: two, user: u}
current-context: first
`

func TestLoadRestConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, flag, context, env string
		wantHost, wantDesc       string
	}{
		{"flag", path, "", "", "https://one.example:6443", "kubeconfig " + path + `, context "first"`},
		{"flag and context", path, "second", "", "https://two.example:6443", "kubeconfig " + path + `, context "second"`},
		{"KUBECONFIG", "", "", path, "https://one.example:6443", "KUBECONFIG=" + path + `, context "first"`},
		{"flag wins over KUBECONFIG", path, "second", "/nonexistent", "https://two.example:6443", "kubeconfig " + path},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			cfg, desc, err := LoadRestConfig(tc.flag, tc.context)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tc.wantHost {
				t.Errorf("host = %s, want %s", cfg.Host, tc.wantHost)
			}
			if !strings.HasPrefix(desc, tc.wantDesc) {
				t.Errorf("description = %q, want it to start with %q", desc, tc.wantDesc)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		_, _, err := LoadRestConfig(filepath.Join(t.TempDir(), "nope"), "")
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("err = %v, want one naming the file", err)
		}
	})
	t.Run("unknown context", func(t *testing.T) {
		_, _, err := LoadRestConfig(path, "third")
		if err == nil || !strings.Contains(err.Error(), "third") {
			t.Errorf("err = %v, want one naming the context", err)
		}
	})
}

func TestPendingKeepsTheLastChangePerObject(t *testing.T) {
	s, err := New(Config{Cluster: "c", Rest: &rest.Config{Host: "https://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	key := func(name string) model.Key {
		return model.Key{Cluster: "c", Kind: model.KindPod, Namespace: "ns", Name: name}
	}
	pod := func(name, rv string) model.Object {
		return &model.Workload{Kind: model.KindPod, Meta: model.Meta{Cluster: "c", Namespace: "ns", Name: name, ResourceVersion: rv}}
	}
	s.enqueue(key("a"), pod("a", "1"))
	s.enqueue(key("a"), nil) // created then deleted: only the delete
	s.enqueue(key("b"), nil)
	s.enqueue(key("b"), pod("b", "2")) // deleted then re-created: only the upsert
	s.enqueue(key("c"), pod("c", "3"))
	s.enqueue(key("c"), pod("c", "4")) // two updates: the last
	upserts, deletes := s.take()
	got := map[string]string{}
	for _, o := range upserts {
		got[o.ObjectKey().Name] = o.ObjectMeta().ResourceVersion
	}
	for _, k := range deletes {
		got[k.Name] = "deleted"
	}
	if d := cmp.Diff(map[string]string{"a": "deleted", "b": "2", "c": "4"}, got); d != "" {
		t.Errorf("pending changes (-want +got):\n%s", d)
	}
	if u, d := s.take(); len(u)+len(d) != 0 {
		t.Errorf("second take returned %d changes, want none", len(u)+len(d))
	}
}

func TestNewNeedsARestConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without Rest succeeded")
	}
}
