package main

import (
	"os/exec"
	"strings"
	"testing"
)

func TestUsageErrorsExit2(t *testing.T) {
	t.Setenv("PALISADE_TOKEN", "")
	for _, args := range [][]string{
		{"--bogus"},
		{"--server", "http://127.0.0.1:9"}, // no credentials
		{"agent", "--token", "x", "--server", "ftp://palisade.example"}, // not an http(s) URL
	} {
		if code := run(t.Context(), args); code != 2 {
			t.Errorf("palisade-agent %q exited %d, want 2", args, code)
		}
	}
}

// TestLinksNoServerSide keeps the node agent small: it must not link the
// Kubernetes client, the databases or the scanner.
func TestLinksNoServerSide(t *testing.T) {
	const palisade = "github.com/palisade-project/palisade"
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/client-go", "k8s.io/api/", "modernc.org/sqlite", "github.com/jackc/pgx",
			"github.com/google/go-containerregistry", palisade + "/internal/store", palisade + "/internal/scanner", palisade + "/internal/app"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("palisade-agent links %s", dep)
			}
		}
	}
}
