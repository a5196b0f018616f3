// Package sqlite is the single-file store.Store: a SQLite database in WAL
// mode through the pure-Go modernc.org/sqlite driver, for a single server
// with its data on local disk.
//
// All writes go through one connection, so goroutines of one process never
// race for SQLite's write lock; a busy timeout covers other processes
// opening the same file. Reads use a separate pool and see the last
// committed state without waiting for writers. synchronous=FULL makes every
// acknowledged write survive a crash of the process or of the machine.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/migrate"
	"github.com/palisade-project/palisade/internal/store/internal/objcodec"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeout is how long a statement waits for another process that holds
// the write lock before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// readers bounds the read pool; WAL lets them run beside the writer.
const readers = 4

// timeFormat stores times as sortable UTC text with microseconds, the
// precision PostgreSQL keeps too.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// Store is a store.Store in a SQLite file.
type Store struct {
	path   string
	writer *sql.DB // one connection: all writes, serialized
	reader *sql.DB // query_only connections for reads
	logger *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating it and its parent
// directory if needed, and brings its schema up to date. A nil logger
// discards logs.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("opening SQLite database: empty path; set the database file")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("creating directory for SQLite database %s: %w; check the path and its permissions", abs, err)
	}
	// Create the file ourselves so that it is readable by its owner only:
	// it holds token hashes and the inventory. SQLite gives the -wal and
	// -shm files the same mode.
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("creating SQLite database %s: %w", abs, err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("creating SQLite database %s: %w; check the path and its permissions", abs, err)
	}

	s := &Store{path: abs, logger: logger}
	s.writer, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("opening SQLite database %s: %w", abs, err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	if err := s.checkWriter(ctx); err != nil {
		s.writer.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.writer.Close()
		return nil, err
	}
	s.reader, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", abs, err)
	}
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	if err := s.reader.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening SQLite database %s for reading: %w", abs, err)
	}
	logger.Info("opened SQLite store", "path", abs)
	return s, nil
}

// dsn builds the driver's data source name. The file: form lets any path
// through, including ones with '?' or '#'.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// Take the write lock when a transaction starts, not at its first
		// write, so that a busy wait happens where busy_timeout applies.
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	// url.URL renders "file:///abs"; SQLite accepts it.
	return u.String()
}

// checkWriter connects and checks that the settings durability depends on
// took effect: some file systems refuse WAL mode.
func (s *Store) checkWriter(ctx context.Context) error {
	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("opening SQLite database %s: %w; check that it is a SQLite file and that its directory is writable", s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("opening SQLite database %s: journal mode is %q, not WAL; put the database on a local file system", s.path, mode)
	}
	var sync int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("opening SQLite database %s: %w", s.path, err)
	}
	if sync < 2 {
		return fmt.Errorf("opening SQLite database %s: synchronous is %d, want FULL (2)", s.path, sync)
	}
	return nil
}

// migrate applies the pending migrations in one transaction. The writer
// connection begins IMMEDIATE transactions, so two processes opening the
// same new file migrate one after the other.
func (s *Store) migrate(ctx context.Context) error {
	all, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating SQLite database %s: %w", s.path, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("migrating SQLite database %s: creating schema_migrations: %w", s.path, err)
	}
	applied, err := queryInts(ctx, tx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("migrating SQLite database %s: %w", s.path, err)
	}
	pending, err := migrate.Pending(all, applied)
	if err != nil {
		return fmt.Errorf("SQLite database %s: %w", s.path, err)
	}
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrating SQLite database %s to version %d (%s): %w", s.path, m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, now()); err != nil {
			return fmt.Errorf("migrating SQLite database %s: recording version %d: %w", s.path, m.Version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating SQLite database %s: %w", s.path, err)
	}
	for _, m := range pending {
		s.logger.Info("applied schema migration", "path", s.path, "version", m.Version, "name", m.Name)
	}
	return nil
}

func queryInts(ctx context.Context, tx *sql.Tx, query string) ([]int, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func now() string { return time.Now().UTC().Format(timeFormat) }

// inTx runs fn in a write transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return ctxErr(ctx, err)
	}
	return ctxErr(ctx, tx.Commit())
}

// ctxErr makes a failure caused by a cancelled context say so: database/sql
// then closes the transaction's statements, and the error it returns ("sql:
// statement is closed") hides the cause from errors.Is.
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %v", ctx.Err(), err)
	}
	return err
}

const upsertObject = `INSERT INTO objects (cluster, kind, namespace, name, uid, resource_version, body, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (cluster, kind, namespace, name) DO UPDATE SET
	uid = excluded.uid,
	resource_version = excluded.resource_version,
	body = excluded.body,
	updated_at = excluded.updated_at`

// checkEvery is how many rows a write loop handles between checks of its
// context.
const checkEvery = 256

func upsertRows(ctx context.Context, tx *sql.Tx, rows []objcodec.Row) error {
	if len(rows) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, upsertObject)
	if err != nil {
		return err
	}
	defer stmt.Close()
	at := now()
	for i, r := range rows {
		if i%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if _, err := stmt.ExecContext(ctx, r.Key.Cluster, string(r.Key.Kind), r.Key.Namespace, r.Key.Name,
			r.UID, r.ResourceVersion, string(r.Body), at); err != nil {
			return fmt.Errorf("upserting %s: %w", r.Key, err)
		}
	}
	return nil
}

// Apply implements store.Store. Upserts are applied before deletes, so a
// key in both ends up deleted.
func (s *Store) Apply(ctx context.Context, upserts []model.Object, deletes []model.Key) error {
	rows, err := objcodec.EncodeAll(upserts)
	if err != nil {
		return fmt.Errorf("applying changes: %w", err)
	}
	keys, err := objcodec.SortKeys(deletes)
	if err != nil {
		return fmt.Errorf("applying changes: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := upsertRows(ctx, tx, rows); err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, "DELETE FROM objects WHERE cluster = ? AND kind = ? AND namespace = ? AND name = ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, k := range keys {
			if i%checkEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if _, err := stmt.ExecContext(ctx, k.Cluster, string(k.Kind), k.Namespace, k.Name); err != nil {
				return fmt.Errorf("deleting %s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying %d upserts and %d deletes to %s: %w", len(rows), len(keys), s.path, err)
	}
	return nil
}

// Replace implements store.Store.
func (s *Store) Replace(ctx context.Context, cluster string, kinds []model.Kind, objs []model.Object) error {
	rows, err := objcodec.EncodeAll(objs)
	if err != nil {
		return fmt.Errorf("replacing objects of cluster %q: %w", cluster, err)
	}
	if err := objcodec.CheckReplace(cluster, kinds, rows); err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if len(kinds) > 0 {
			args := make([]any, 0, len(kinds)+1)
			args = append(args, cluster)
			for _, k := range kinds {
				args = append(args, string(k))
			}
			q := "DELETE FROM objects WHERE cluster = ? AND kind IN (?" + strings.Repeat(", ?", len(kinds)-1) + ")"
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("deleting old objects: %w", err)
			}
		}
		return upsertRows(ctx, tx, rows)
	})
	if err != nil {
		return fmt.Errorf("replacing %v objects of cluster %q in %s: %w", kinds, cluster, s.path, err)
	}
	return nil
}

// Snapshot implements store.Store.
func (s *Store) Snapshot(ctx context.Context, cluster string) (*model.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading snapshot: %w", err)
	}
	q := "SELECT cluster, kind, namespace, name, body FROM objects"
	var args []any
	if cluster != "" {
		q += " WHERE cluster = ?"
		args = append(args, cluster)
	}
	q += " ORDER BY cluster, kind, namespace, name"
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("loading snapshot from %s: %w", s.path, err)
	}
	defer rows.Close()
	snap := &model.Snapshot{}
	var body []byte
	for n := 0; rows.Next(); n++ {
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("loading snapshot: %w", err)
			}
		}
		var k model.Key
		if err := rows.Scan(&k.Cluster, &k.Kind, &k.Namespace, &k.Name, &body); err != nil {
			return nil, fmt.Errorf("loading snapshot from %s: %w", s.path, err)
		}
		o, err := objcodec.Decode(k, body)
		if err != nil {
			return nil, fmt.Errorf("loading snapshot from %s: %w", s.path, err)
		}
		snap.Add(o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading snapshot from %s: %w", s.path, err)
	}
	return snap, nil
}

// Clusters implements store.Store.
func (s *Store) Clusters(ctx context.Context) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT DISTINCT cluster FROM objects ORDER BY cluster")
	if err != nil {
		return nil, fmt.Errorf("listing clusters in %s: %w", s.path, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("listing clusters in %s: %w", s.path, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing clusters in %s: %w", s.path, err)
	}
	return out, nil
}

// PutToken implements store.Store. CreatedAt is kept to the microsecond.
func (s *Store) PutToken(ctx context.Context, t store.Token) error {
	if t.Name == "" || t.Hash == "" {
		return errors.New("storing token: name and hash are required")
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (name, role, hash, created_at, source, cluster) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash, created_at = excluded.created_at, source = excluded.source, cluster = excluded.cluster`,
			t.Name, t.Role, t.Hash, t.CreatedAt.UTC().Format(timeFormat), t.Source, t.Cluster)
		return err
	})
	if err != nil {
		return fmt.Errorf("storing token %q in %s: %w", t.Name, s.path, err)
	}
	return nil
}

func scanToken(sc interface{ Scan(...any) error }) (store.Token, error) {
	var t store.Token
	var created string
	if err := sc.Scan(&t.Name, &t.Role, &t.Hash, &created, &t.Source, &t.Cluster); err != nil {
		return store.Token{}, err
	}
	at, err := time.Parse(timeFormat, created)
	if err != nil {
		return store.Token{}, fmt.Errorf("token %q: bad created_at %q: %w", t.Name, created, err)
	}
	t.CreatedAt = at
	return t, nil
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	row := s.reader.QueryRowContext(ctx, "SELECT name, role, hash, created_at, source, cluster FROM tokens WHERE hash = ?", hash)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("looking up token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("looking up token in %s: %w", s.path, err)
	}
	return t, nil
}

// Tokens implements store.Store.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT name, role, hash, created_at, source, cluster FROM tokens ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing tokens in %s: %w", s.path, err)
	}
	defer rows.Close()
	out := []store.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tokens in %s: %w", s.path, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing tokens in %s: %w", s.path, err)
	}
	return out, nil
}

// DeleteToken implements store.Store.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM tokens WHERE name = ?", name)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting token %q from %s: %w", name, s.path, err)
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("pinging SQLite database %s: %w", s.path, err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing SQLite database %s: %w", s.path, err)
	}
	return nil
}
