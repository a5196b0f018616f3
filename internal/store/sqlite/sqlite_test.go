package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/storetest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "palisade.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestOpenCreatesDirectoryAndReopens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "palisade.db")
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	w := storetest.Workload("c", "ns", "web")
	if err := s.Apply(t.Context(), []model.Object{w}, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database mode = %v, want 0600", perm)
	}

	// Reopening runs no migration twice and keeps the data.
	s, err = Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	snap, err := s.Snapshot(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Len() != 1 {
		t.Errorf("after reopen: %d objects, want 1", snap.Len())
	}
	var versions int
	if err := s.reader.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if versions != len(files) {
		t.Errorf("schema_migrations has %d rows, want %d (one per migration file, applied once)", versions, len(files))
	}
}

func TestOpenSettings(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	for _, db := range []*sql.DB{s.writer, s.reader} {
		for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000"} {
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not-a-db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not sqlite\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"empty path", "", "empty path"},
		{"not a database", notDB, "check that it is a SQLite file"},
		{"parent is a file", filepath.Join(file, "db"), "check the path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "palisade.db")
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.ExecContext(t.Context(), "INSERT INTO schema_migrations VALUES (999, '0999_future.sql', '')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), path, nil); err == nil {
		s.Close()
		t.Fatal("Open of a database from a newer Palisade succeeded")
	} else if !strings.Contains(err.Error(), "upgrade Palisade") {
		t.Errorf("Open error = %q, want advice to upgrade", err)
	}
}

// TestTwoProcessesShareFile opens the same file twice, as two servers or a
// server and the CLI would, and writes from both at once: busy_timeout must
// absorb the contention.
func TestTwoStoresShareFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "palisade.db")
	a, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	errs := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		go func() {
			for r := range 20 {
				objs := storetest.Workloads("c"+string(rune('a'+i)), 50)
				for _, o := range objs {
					o.ObjectMeta().ResourceVersion = string(rune('a' + r))
				}
				if err := s.Apply(t.Context(), objs, nil); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Apply: %v", err)
		}
	}
	clusters, err := a.Clusters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(clusters) != 2 {
		t.Errorf("Clusters() = %q, want ca and cb", clusters)
	}
}

func openTarget(ctx context.Context, path string) (store.Store, error) {
	return Open(ctx, path, nil)
}

// TestCrashDurability kills a process that is writing to the database with
// SIGKILL and checks that every write it acknowledged survives.
func TestCrashDurability(t *testing.T) {
	if storetest.CrashChild(t, openTarget) {
		return
	}
	t.Parallel()
	for round := range 3 {
		path := filepath.Join(t.TempDir(), "palisade.db")
		storetest.Crash(t, storetest.CrashTest{
			Target: path,
			Acks:   100 + 100*round,
			Reopen: func(t *testing.T) store.Store {
				s, err := Open(t.Context(), path, nil)
				if err != nil {
					t.Fatalf("reopening after crash: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				var res string
				if err := s.reader.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&res); err != nil {
					t.Fatalf("integrity_check: %v", err)
				}
				if res != "ok" {
					t.Fatalf("integrity_check after crash: %s", res)
				}
				return s
			},
		})
		if t.Failed() {
			return
		}
	}
}

func BenchmarkApply(b *testing.B) {
	storetest.BenchApply(b, func(b *testing.B) store.Store { return openTemp(b) })
}

func BenchmarkSnapshot(b *testing.B) {
	storetest.BenchSnapshot(b, func(b *testing.B) store.Store { return openTemp(b) })
}

func BenchmarkPutMatches(b *testing.B) {
	storetest.BenchPutMatches(b, func(b *testing.B) store.Store { return openTemp(b) })
}

// TestBaselinesLockedAt checks the locked_at column that queries use: the
// baseline's LockedAt in UTC to the microsecond, NULL while it learns.
func TestBaselinesLockedAt(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	locked, learning := storetest.Baseline("sha256:a", "web", 1), storetest.Baseline("sha256:b", "web", 2)
	if err := s.PutBaselines(t.Context(), []baseline.Baseline{locked, learning}); err != nil {
		t.Fatalf("PutBaselines: %v", err)
	}
	for _, b := range []baseline.Baseline{locked, learning} {
		var got sql.NullString
		if err := s.reader.QueryRowContext(t.Context(), "SELECT locked_at FROM baselines WHERE digest = ? AND container = ?", b.Digest, b.Container).Scan(&got); err != nil {
			t.Fatalf("reading locked_at: %v", err)
		}
		if want := nullTime(b.LockedAt); (want == nil) != !got.Valid || (want != nil && want != got.String) {
			t.Errorf("locked_at of %s = %+v, want %v", b.Digest, got, want)
		}
	}
}
