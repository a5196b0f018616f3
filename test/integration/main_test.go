//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/testenv"
)

// shared is the control plane of the tests that do not restart or
// reconfigure it. Each of them works in its own namespace, in parallel.
var shared struct {
	once sync.Once
	cp   *testenv.ControlPlane
	err  error
}

func sharedControlPlane(t *testing.T) *testenv.ControlPlane {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		shared.cp, shared.err = testenv.Start(ctx, testenv.Options{})
		if shared.err == nil {
			fmt.Fprintf(os.Stderr, "shared control plane at %s ready in %s\n", shared.cp.URL, time.Since(start).Round(time.Millisecond))
		}
	})
	if errors.Is(shared.err, testenv.ErrNoBinaries) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", shared.err)
		}
		t.Skipf("skipping: %v", shared.err)
	}
	if shared.err != nil {
		t.Fatalf("starting the shared control plane: %v", shared.err)
	}
	return shared.cp
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cp != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "shared control-plane logs:\n%s\n", shared.cp.Logs())
		}
		if err := shared.cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the shared control plane: %v\n", err)
		}
	}
	os.Exit(code)
}
