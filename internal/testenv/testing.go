package testenv

import (
	"context"
	"errors"
	"os"
	"time"
)

// TB is the part of testing.TB that StartT uses; *testing.T and *testing.B
// implement it. (testenv does not import package testing, so that the lab
// can use it in the palisade binary.)
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	Failed() bool
	Context() context.Context
}

// StartT starts a control plane for a test and stops it when the test and
// its subtests end, printing the components' logs if the test failed. If
// the binaries are not built, the test is skipped, naming the script that
// builds them; with CI=true in the environment it fails instead.
func StartT(t TB, opts Options) *ControlPlane {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*time.Minute)
	defer cancel()
	start := time.Now()
	cp, err := Start(ctx, opts)
	if errors.Is(err, ErrNoBinaries) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("starting control plane: %v", err)
	}
	t.Logf("control plane at %s ready in %s (dir %s)", cp.URL, time.Since(start).Round(time.Millisecond), cp.Dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control-plane logs:\n%s", cp.Logs())
		}
		if err := cp.Stop(); err != nil {
			t.Logf("stopping control plane: %v", err)
		}
	})
	return cp
}
