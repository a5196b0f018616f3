package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadObjects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n---\n# only a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: b\n")
	write("a.json", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}`)
	write("notes.txt", "not a manifest")
	objs, err := readObjects(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	if want := "Namespace/a Namespace/b Deployment/d"; strings.Join(got, " ") != want {
		t.Errorf("objects = %v, want %s", got, want)
	}

	for name, data := range map[string]string{
		"no-name.yaml": "apiVersion: v1\nkind: Namespace\n",
		"list.yaml":    "apiVersion: v1\nkind: List\nmetadata:\n  name: x\nitems: []\n",
		"bad.yaml":     "apiVersion: v1\nkind: [\n",
	} {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := readObjects(d); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("readObjects = %v, want an error naming %s", err, name)
			}
		})
	}
	if _, err := readObjects(t.TempDir()); err == nil {
		t.Error("readObjects(empty dir) = nil error, want one")
	}
}

func TestEnvironmentPath(t *testing.T) {
	if p, err := environmentPath("-"); p != "" || err != nil {
		t.Errorf(`environmentPath("-") = %q, %v; want nothing`, p, err)
	}
	if _, err := environmentPath(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("environmentPath(missing) = nil error, want one")
	}
	p, err := environmentPath("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p, filepath.FromSlash(DefaultEnvironment)) {
		t.Errorf(`environmentPath("") = %q, want the source tree's %s`, p, DefaultEnvironment)
	}
}

func TestPurgeRefusesForeignDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Purge(t.Context(), dir); err == nil {
		t.Fatal("Purge of a directory that is not a lab succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.txt")); err != nil {
		t.Errorf("Purge deleted a foreign file: %v", err)
	}
}
