// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// database on the server named by PALISADE_TEST_POSTGRES, or a private
// server the test starts, kills and restarts.
//
// Without PALISADE_TEST_POSTGRES (or without PostgreSQL binaries, for a
// private server) tests are skipped, except when CI=true, where they fail:
// CI must not pass by running nothing. hack/postgres.sh starts a server
// for local runs:
//
//	eval "$(hack/postgres.sh start /tmp/palisade-pg)"
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the URL of a PostgreSQL
// server on which tests may create and drop databases, such as
// postgres://palisade@127.0.0.1:5432/postgres?sslmode=disable.
const EnvURL = "PALISADE_TEST_POSTGRES"

// skipOrFail skips the test, or fails it in CI.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: PostgreSQL tests must run in CI)", msg)
	}
	t.Skip(msg)
}

// ServerURL returns the URL in PALISADE_TEST_POSTGRES, skipping the test
// when it is unset (failing it when CI=true).
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		skipOrFail(t, "%s is not set; start a PostgreSQL server with: eval \"$(hack/postgres.sh start /tmp/palisade-pg)\"", EnvURL)
	}
	return u
}

// NewDatabase creates a database with a random name on the server of
// PALISADE_TEST_POSTGRES, drops it when the test ends, and returns its
// URL. Tests that each use their own database can run in parallel.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, ServerURL(t))
}

func createDatabase(t testing.TB, server string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL server: %v", err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "palisade_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		// The test's context is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("connecting to drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
