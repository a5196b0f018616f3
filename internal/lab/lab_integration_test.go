//go:build integration

package lab

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/testenv"
)

// TestUpStatusDown runs the lab in a temporary directory with the example
// environment: every pod must run, Up again must find it running, Down
// must stop every process, and Purge delete the directory.
func TestUpStatusDown(t *testing.T) {
	if _, err := testenv.CachedBinDir(t.Context()); errors.Is(err, testenv.ErrNoBinaries) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range []string{testenv.APIServer, testenv.Kwok} {
				b, _ := os.ReadFile(filepath.Join(dir, c+".log"))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("%s log:\n%s", c, b)
			}
		}
		if err := Purge(t.Context(), dir); err != nil {
			t.Errorf("Purge: %v", err)
		}
	})
	log := testLogger(t)
	info, err := Up(t.Context(), Options{Dir: dir, Nodes: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(info.Instructions())
	if info.Applied == 0 || info.Pods == 0 || info.PodsRunning == 0 || info.Nodes < 2 {
		t.Errorf("Up = %+v, want applied objects, nodes and running pods", info)
	}
	if !strings.Contains(info.Instructions(), "palisade server --kubeconfig "+filepath.Join(dir, "kubeconfig")) {
		t.Errorf("instructions do not say how to run the server:\n%s", info.Instructions())
	}
	again, err := Up(t.Context(), Options{Dir: dir, Environment: "-", Nodes: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if !again.AlreadyRunning || again.URL != info.URL {
		t.Errorf("second Up = %+v, want the running lab at %s", again, info.URL)
	}
	st, err := Status(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running() || !st.Ready || st.Pods != info.Pods {
		t.Errorf("Status = %+v, want all running and ready with %d pods", st, info.Pods)
	}
	if err := Down(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	st, err = Status(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Components) != 0 {
		t.Errorf("after Down, still running: %v", st.Components)
	}
}
