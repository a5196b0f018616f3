// Package postgres is the store.Store for PostgreSQL, through a pgx
// connection pool: for servers that share one database or keep their data
// off the local disk.
//
// Schema migrations are embedded and applied at Open under an advisory
// lock, so several servers starting together migrate once. A write is
// acknowledged when PostgreSQL has committed it, which with the default
// synchronous_commit=on means it is in the server's write-ahead log on disk.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/internal/migrate"
	"github.com/palisade-project/palisade/internal/store/internal/objcodec"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the key of the advisory lock held while migrating, a
// constant that no other application of the database should use.
const migrationLock int64 = 0x5a1e_7c0d_e2b4_1f93

// chunk bounds how many rows one statement sends, to keep messages small.
const chunk = 1000

// maxAttempts bounds the retries of a transaction that PostgreSQL aborted
// to break a deadlock or a serialization conflict between writers.
const maxAttempts = 5

// Store is a store.Store in a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	where  string // "PostgreSQL at host:port", for messages
	secret string // the password, scrubbed from every error
	logger *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Open connects to the PostgreSQL database at url (a postgres:// URL or a
// key=value connection string), checks that it answers and brings its
// schema up to date. A nil logger discards logs. Neither errors nor logs
// contain the password.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password of a URL it cannot parse, but not of
		// every malformed string: say nothing of the input.
		return nil, errors.New("parsing the PostgreSQL connection URL: it is not a valid postgres:// URL or key=value string; check --database")
	}
	cc := cfg.ConnConfig
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "palisade"
	}
	s := &Store{
		where:  fmt.Sprintf("PostgreSQL at %s (database %q, user %q)", hostPort(cc.Host, cc.Port), cc.Database, cc.User),
		secret: cc.Password,
		logger: logger,
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.scrub(fmt.Errorf("connecting to %s: %w; check --database", s.where, err))
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, s.scrub(fmt.Errorf("connecting to %s: %w%s", s.where, err, connectAdvice(err)))
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	logger.Info("opened PostgreSQL store", "host", hostPort(cc.Host, cc.Port), "database", cc.Database, "user", cc.User)
	return s, nil
}

func hostPort(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return host // a Unix socket directory
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// connectAdvice says what to do about a failed connection.
func connectAdvice(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification
			return "; check the user and password in --database"
		case "3D000": // invalid_catalog_name
			return "; create the database or fix its name in --database"
		case "42501": // insufficient_privilege
			return "; grant the user CONNECT on the database"
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ""
	}
	return "; check --database and that the server is running and reachable"
}

// redacted is an error whose message has the password scrubbed out; it
// still unwraps to the original.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// scrub returns err with the password removed from its message. Every
// error that may quote the server or the connection string goes through
// it: none should, but a password in a log is too costly to trust that.
func (s *Store) scrub(err error) error {
	if err == nil || s.secret == "" || !strings.Contains(err.Error(), s.secret) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), s.secret, "xxxxx"), err: err}
}

// migrate applies the pending migrations in one transaction that holds an
// advisory lock, so that servers starting together take turns: the first
// migrates, the others then find nothing to do.
func (s *Store) migrate(ctx context.Context) error {
	all, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	var pending []migrate.Migration
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("creating schema_migrations: %w%s", err, privilegeAdvice(err))
		}
		rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		if pending, err = migrate.Pending(all, applied); err != nil {
			return err
		}
		for _, m := range pending {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying version %d (%s): %w%s", m.Version, m.Name, err, privilegeAdvice(err))
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return fmt.Errorf("recording version %d: %w", m.Version, err)
			}
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("migrating the schema of %s: %w", s.where, err))
	}
	for _, m := range pending {
		s.logger.Info("applied schema migration", "version", m.Version, "name", m.Name)
	}
	return nil
}

func privilegeAdvice(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		return " (grant the user CREATE on the database's public schema, or run the first start as the database owner)"
	}
	return ""
}

// retryable reports whether PostgreSQL aborted a transaction that may
// succeed when run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") // deadlock_detected, serialization_failure
}

// inTx runs fn in a transaction and commits it, retrying when PostgreSQL
// aborted it to break a deadlock.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, s.pool, fn)
		if !retryable(err) {
			return err
		}
		s.logger.Debug("retrying aborted transaction", "attempt", attempt, "error", err)
	}
	return err
}

const upsertObjects = `INSERT INTO objects (cluster, kind, namespace, name, uid, resource_version, body, updated_at)
SELECT c, k, ns, n, u, rv, b::json, now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS t(c, k, ns, n, u, rv, b)
ON CONFLICT (cluster, kind, namespace, name) DO UPDATE SET
	uid = excluded.uid,
	resource_version = excluded.resource_version,
	body = excluded.body,
	updated_at = excluded.updated_at`

const deleteObjects = `DELETE FROM objects o
USING unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(c, k, ns, n)
WHERE o.cluster = t.c AND o.kind = t.k AND o.namespace = t.ns AND o.name = t.n`

// upsertRows writes rows, which EncodeAll sorted and made unique: ON
// CONFLICT DO UPDATE refuses a key twice in one statement, and sorted
// writers take row locks in one order.
func upsertRows(ctx context.Context, tx pgx.Tx, rows []objcodec.Row) error {
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		n := len(part)
		c, k, ns, name := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		uid, rv, body := make([]string, n), make([]string, n), make([]string, n)
		for i, r := range part {
			c[i], k[i], ns[i], name[i] = r.Key.Cluster, string(r.Key.Kind), r.Key.Namespace, r.Key.Name
			uid[i], rv[i], body[i] = r.UID, r.ResourceVersion, string(r.Body)
		}
		if _, err := tx.Exec(ctx, upsertObjects, c, k, ns, name, uid, rv, body); err != nil {
			return fmt.Errorf("upserting objects: %w", err)
		}
	}
	return nil
}

func deleteKeys(ctx context.Context, tx pgx.Tx, keys []model.Key) error {
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		n := len(part)
		c, k, ns, name := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, key := range part {
			c[i], k[i], ns[i], name[i] = key.Cluster, string(key.Kind), key.Namespace, key.Name
		}
		if _, err := tx.Exec(ctx, deleteObjects, c, k, ns, name); err != nil {
			return fmt.Errorf("deleting objects: %w", err)
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
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := upsertRows(ctx, tx, rows); err != nil {
			return err
		}
		return deleteKeys(ctx, tx, keys)
	})
	if err != nil {
		return s.scrub(fmt.Errorf("applying %d upserts and %d deletes to %s: %w", len(rows), len(keys), s.where, err))
	}
	return nil
}

// Replace implements store.Store. It upserts objs and deletes the other
// objects of those kinds, rather than deleting everything first, so that
// a relist that changed little rewrites little.
func (s *Store) Replace(ctx context.Context, cluster string, kinds []model.Kind, objs []model.Object) error {
	rows, err := objcodec.EncodeAll(objs)
	if err != nil {
		return fmt.Errorf("replacing objects of cluster %q: %w", cluster, err)
	}
	if err := objcodec.CheckReplace(cluster, kinds, rows); err != nil {
		return err
	}
	if len(kinds) == 0 {
		return ctx.Err()
	}
	kindNames := make([]string, len(kinds))
	for i, k := range kinds {
		kindNames[i] = string(k)
	}
	k, ns, name := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		k[i], ns[i], name[i] = string(r.Key.Kind), r.Key.Namespace, r.Key.Name
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := upsertRows(ctx, tx, rows); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM objects o
			WHERE o.cluster = $1 AND o.kind = ANY($2::text[])
			AND NOT EXISTS (
				SELECT 1 FROM unnest($3::text[], $4::text[], $5::text[]) AS t(k, ns, n)
				WHERE t.k = o.kind AND t.ns = o.namespace AND t.n = o.name
			)`, cluster, kindNames, k, ns, name)
		if err != nil {
			return fmt.Errorf("deleting old objects: %w", err)
		}
		return nil
	})
	if err != nil {
		return s.scrub(fmt.Errorf("replacing %v objects of cluster %q in %s: %w", kinds, cluster, s.where, err))
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
		q += " WHERE cluster = $1"
		args = append(args, cluster)
	}
	q += " ORDER BY cluster, kind, namespace, name"
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.scrub(fmt.Errorf("loading snapshot from %s: %w", s.where, err))
	}
	defer rows.Close()
	snap := &model.Snapshot{}
	var (
		k    model.Key
		kind string
		body []byte
	)
	for n := 0; rows.Next(); n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("loading snapshot: %w", err)
			}
		}
		if err := rows.Scan(&k.Cluster, &kind, &k.Namespace, &k.Name, &body); err != nil {
			return nil, s.scrub(fmt.Errorf("loading snapshot from %s: %w", s.where, err))
		}
		k.Kind = model.Kind(kind)
		o, err := objcodec.Decode(k, body)
		if err != nil {
			return nil, fmt.Errorf("loading snapshot from %s: %w", s.where, err)
		}
		snap.Add(o)
	}
	if err := rows.Err(); err != nil {
		return nil, s.scrub(fmt.Errorf("loading snapshot from %s: %w", s.where, err))
	}
	return snap, nil
}

// Clusters implements store.Store.
func (s *Store) Clusters(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT DISTINCT cluster FROM objects ORDER BY cluster")
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing clusters in %s: %w", s.where, err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing clusters in %s: %w", s.where, err))
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// PutToken implements store.Store. PostgreSQL keeps CreatedAt to the
// microsecond.
func (s *Store) PutToken(ctx context.Context, t store.Token) error {
	if t.Name == "" || t.Hash == "" {
		return errors.New("storing token: name and hash are required")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tokens (name, role, hash, created_at, source, cluster) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash, created_at = excluded.created_at, source = excluded.source, cluster = excluded.cluster`,
			t.Name, t.Role, t.Hash, t.CreatedAt, t.Source, t.Cluster)
		return err
	})
	if err != nil {
		return s.scrub(fmt.Errorf("storing token %q in %s: %w", t.Name, s.where, err))
	}
	return nil
}

func scanTokens(rows pgx.Rows) ([]store.Token, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Token, error) {
		var t store.Token
		err := row.Scan(&t.Name, &t.Role, &t.Hash, &t.CreatedAt, &t.Source, &t.Cluster)
		t.CreatedAt = t.CreatedAt.UTC()
		return t, err
	})
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	rows, err := s.pool.Query(ctx, "SELECT name, role, hash, created_at, source, cluster FROM tokens WHERE hash = $1", hash)
	if err != nil {
		return store.Token{}, s.scrub(fmt.Errorf("looking up token in %s: %w", s.where, err))
	}
	tokens, err := scanTokens(rows)
	if err != nil {
		return store.Token{}, s.scrub(fmt.Errorf("looking up token in %s: %w", s.where, err))
	}
	if len(tokens) == 0 {
		return store.Token{}, fmt.Errorf("looking up token: %w", store.ErrNotFound)
	}
	return tokens[0], nil
}

// Tokens implements store.Store.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, "SELECT name, role, hash, created_at, source, cluster FROM tokens ORDER BY name")
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing tokens in %s: %w", s.where, err))
	}
	tokens, err := scanTokens(rows)
	if err != nil {
		return nil, s.scrub(fmt.Errorf("listing tokens in %s: %w", s.where, err))
	}
	if tokens == nil {
		tokens = []store.Token{}
	}
	return tokens, nil
}

// DeleteToken implements store.Store.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM tokens WHERE name = $1", name)
		return err
	})
	if err != nil {
		return s.scrub(fmt.Errorf("deleting token %q from %s: %w", name, s.where, err))
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.scrub(fmt.Errorf("pinging %s: %w%s", s.where, err, connectAdvice(err)))
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
