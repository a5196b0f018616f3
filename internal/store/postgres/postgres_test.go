package postgres

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/postgres/pgtest"
	"github.com/palisade-project/palisade/internal/store/storetest"
)

func openURL(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openURL(t, pgtest.NewDatabase(t))
	})
}

// TestConcurrentMigration opens a new database from several goroutines at
// once, as servers starting together would: each must succeed and the
// schema must be migrated once.
func TestConcurrentMigration(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			s, err := Open(t.Context(), url, nil)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Apply(t.Context(), []model.Object{storetest.Workload("c", "ns", "web")}, nil)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Open and Apply: %v", err)
		}
	}
	s := openURL(t, url)
	var versions, rows int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if rows != len(files) || versions != len(files) {
		t.Errorf("schema_migrations has %d rows of %d versions, want %d of %d (one per migration file, applied once)", rows, versions, len(files), len(files))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openURL(t, url)
	if _, err := s.pool.Exec(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(t.Context(), url, nil); err == nil {
		s2.Close()
		t.Fatal("Open of a database from a newer Palisade succeeded")
	} else if !strings.Contains(err.Error(), "upgrade Palisade") {
		t.Errorf("Open error = %q, want advice to upgrade", err)
	}
}

// closedPort returns a loopback port that nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestOpenErrors checks that errors say what to do and never hold the
// password. It needs no server.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	const secret = "Sup3r-S3cret-pw"
	port := closedPort(t)
	tests := []struct {
		name  string
		url   string
		wants []string
	}{{
		name:  "unreachable server",
		url:   fmt.Sprintf("postgres://palisade:%s@127.0.0.1:%d/palisade?sslmode=disable&connect_timeout=5", secret, port),
		wants: []string{fmt.Sprintf("connecting to PostgreSQL at 127.0.0.1:%d", port), "check --database"},
	}, {
		name:  "not a URL",
		url:   "postgres://palisade:" + secret + "@127.0.0.1:notaport/db",
		wants: []string{"check --database"},
	}, {
		name:  "key value string",
		url:   fmt.Sprintf("host=127.0.0.1 port=%d user=palisade password=%s dbname=x sslmode=disable connect_timeout=5", port, secret),
		wants: []string{"connecting to PostgreSQL at 127.0.0.1", "check --database"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := Open(t.Context(), tc.url, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open error = %q, want it to contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
				t.Errorf("the password leaked: error %q, logs %q", err, logs.String())
			}
		})
	}
}

// TestOpenMissingDatabase and the password check need a server.
func TestOpenMissingDatabase(t *testing.T) {
	t.Parallel()
	server := pgtest.ServerURL(t)
	url := strings.Replace(server, "/postgres?", "/palisade_no_such_db?", 1)
	if url == server {
		t.Skipf("%s does not name the postgres database; cannot derive a missing one", pgtest.EnvURL)
	}
	if s, err := Open(t.Context(), url, nil); err == nil {
		s.Close()
		t.Fatal("Open of a missing database succeeded")
	} else if !strings.Contains(err.Error(), "create the database") {
		t.Errorf("Open error = %q, want advice to create the database", err)
	}
}

func TestPasswordNeverLogged(t *testing.T) {
	t.Parallel()
	const secret = "Another-S3cret-pw"
	url := pgtest.NewDatabase(t)
	// The test servers trust local connections, so a password is accepted
	// and ignored; what matters is that it appears nowhere.
	withPW := strings.Replace(url, "://palisade@", "://palisade:"+secret+"@", 1)
	if withPW == url {
		t.Skipf("%s does not use the user palisade", pgtest.EnvURL)
	}
	var logs bytes.Buffer
	s, err := Open(t.Context(), withPW, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Apply(t.Context(), []model.Object{nil}, nil); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Apply(nil) error = %v", err)
	}
	if !strings.Contains(logs.String(), "opened PostgreSQL store") {
		t.Errorf("no open log line in %q", logs.String())
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the password leaked into the logs: %q", logs.String())
	}
	// scrub itself.
	leaky := fmt.Errorf("server said: password %s is wrong", secret)
	if got := s.scrub(leaky).Error(); strings.Contains(got, secret) {
		t.Errorf("scrub left the password in %q", got)
	}
}

func openTarget(ctx context.Context, url string) (store.Store, error) {
	return Open(ctx, url, nil)
}

// TestClientCrashDurability kills a process that is writing through the
// store with SIGKILL and checks that every write it acknowledged survives.
func TestClientCrashDurability(t *testing.T) {
	if storetest.CrashChild(t, openTarget) {
		return
	}
	t.Parallel()
	url := pgtest.NewDatabase(t)
	openURL(t, url).Close() // migrate before the writer starts
	storetest.Crash(t, storetest.CrashTest{
		Target: url,
		Reopen: func(t *testing.T) store.Store { return openURL(t, url) },
	})
}

// TestServerCrashDurability kills the PostgreSQL server itself, backends
// and all, with SIGKILL while a process writes to it, restarts it, and
// checks that every acknowledged write survived crash recovery.
func TestServerCrashDurability(t *testing.T) {
	if storetest.CrashChild(t, openTarget) {
		return
	}
	t.Parallel()
	srv := pgtest.StartServer(t)
	for round := range 2 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			// Each round writes to a new database: the writer starts
			// again at batch 1.
			url := srv.NewDatabase(t)
			openURL(t, url).Close()
			storetest.Crash(t, storetest.CrashTest{
				Target: url,
				Kill:   func(t *testing.T, _ *os.Process) { srv.Kill(t) },
				Reopen: func(t *testing.T) store.Store {
					srv.Start(t)
					// The server must have crashed, not shut down.
					if log := srv.Log(); !strings.Contains(log, "automatic recovery in progress") {
						t.Errorf("server log shows no crash recovery:\n%s", log)
					}
					return openURL(t, url)
				},
			})
		})
	}
}

func benchStore(b *testing.B) store.Store {
	return openURL(b, pgtest.NewDatabase(b))
}

func BenchmarkApply(b *testing.B) { storetest.BenchApply(b, benchStore) }

func BenchmarkSnapshot(b *testing.B) { storetest.BenchSnapshot(b, benchStore) }

func BenchmarkPutMatches(b *testing.B) { storetest.BenchPutMatches(b, benchStore) }

// TestBaselinesLockedAt checks the locked_at column that queries use: the
// baseline's LockedAt to the microsecond, NULL while it learns.
func TestBaselinesLockedAt(t *testing.T) {
	t.Parallel()
	s := openURL(t, pgtest.NewDatabase(t))
	locked, learning := storetest.Baseline("sha256:a", "web", 1), storetest.Baseline("sha256:b", "web", 2)
	if err := s.PutBaselines(t.Context(), []baseline.Baseline{locked, learning}); err != nil {
		t.Fatalf("PutBaselines: %v", err)
	}
	for _, b := range []baseline.Baseline{locked, learning} {
		var got *time.Time
		if err := s.pool.QueryRow(t.Context(), "SELECT locked_at FROM baselines WHERE digest = $1 AND container = $2", b.Digest, b.Container).Scan(&got); err != nil {
			t.Fatalf("reading locked_at: %v", err)
		}
		want := nullTime(b.LockedAt)
		if (want == nil) != (got == nil) || (want != nil && !want.Equal(*got)) {
			t.Errorf("locked_at of %s = %v, want %v", b.Digest, got, want)
		}
	}
}
