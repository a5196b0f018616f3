package app

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

// Agent tokens are bound to a cluster, "default" unless --cluster names
// another; tokens of other roles take none; the list shows it.
func TestTokenCluster(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	db := filepath.Join(t.TempDir(), "p.db")
	for _, args := range [][]string{
		{"node-1", "--role", "agent"},
		{"fleet-edge", "--role", "agent", "--cluster", "edge"},
		{"grafana", "--role", "viewer"},
	} {
		if code, _, stderr := run(t, "", append([]string{"token", "create", "--database", db}, args...)...); code != ExitOK {
			t.Fatalf("token create %v: exit %d: %s", args, code, stderr)
		}
	}
	for _, args := range [][]string{
		{"ci", "--role", "viewer", "--cluster", "edge"},
		{"node-2", "--role", "agent", "--cluster", "two words"},
		{"node-2", "--role", "agent", "--cluster", ""},
	} {
		if code, _, stderr := run(t, "", append([]string{"token", "create", "--database", db}, args...)...); code != ExitUsage {
			t.Errorf("token create %v: exit %d, want %d: %s", args, code, ExitUsage, stderr)
		}
	}
	// An agent token stored before tokens had a cluster.
	st, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutToken(t.Context(), store.Token{Name: "old", Role: "agent", Hash: strings.Repeat("0", 64), CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, stderr := run(t, "", "token", "list", "--database", db)
	if code != ExitOK {
		t.Fatalf("token list: exit %d: %s", code, stderr)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("token list line %q: want 4 columns", line)
		}
		got[f[0]] = f[1] + " " + f[3]
	}
	want := map[string]string{"node-1": "agent default", "fleet-edge": "agent edge", "grafana": "viewer -", "old": "agent (the server's cluster)"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("token list: %s is %q, want %q\n%s", name, got[name], w, out)
		}
	}
}

// A cluster the database holds no inventory of is probably a typo.
func TestTokenClusterWarnsAboutUnknownClusters(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	db := filepath.Join(t.TempDir(), "p.db")
	st, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(t.Context(), []model.Object{&model.Namespace{Meta: model.Meta{Cluster: "prod-eu", Name: "shop"}}}, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for cluster, warn := range map[string]bool{"prod-eu": false, "prod-us": true} {
		code, _, stderr := run(t, "", "token", "create", "n-"+cluster, "--role", "agent", "--cluster", cluster, "--database", db)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if got := strings.Contains(stderr, `no inventory of cluster "`+cluster+`" (it holds prod-eu)`); got != warn {
			t.Errorf("--cluster %s: warned %v, want %v: %s", cluster, got, warn, stderr)
		}
	}
}
