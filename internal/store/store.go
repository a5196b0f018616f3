// Package store defines how Palisade persists its inventory and its API
// tokens. Implementations live in sub-packages (sqlite, postgres) and pass
// the shared conformance suite in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// ErrNotFound is returned when a looked-up record does not exist.
var ErrNotFound = errors.New("not found")

// Store persists inventory objects and API tokens. Every method is safe for
// concurrent use. A write that returned nil is durable: a crash after it
// loses nothing.
type Store interface {
	// Apply upserts and deletes objects in one transaction. Upserting an
	// object that is already stored replaces it; deleting a missing key is
	// not an error. Both make Apply idempotent, so a sensor may replay
	// events after a restart without duplicating anything. Upserts are
	// applied before deletes, so a key in both ends up deleted. An error
	// does not prove that nothing was written (the commit may have
	// succeeded and its acknowledgement been lost); retrying is safe.
	Apply(ctx context.Context, upserts []model.Object, deletes []model.Key) error
	// Replace makes the stored objects of cluster whose kind is in kinds
	// exactly objs, in one transaction: what a sensor does after a relist.
	// Objects of other clusters and other kinds are untouched; passing
	// such an object is an error and writes nothing.
	Replace(ctx context.Context, cluster string, kinds []model.Kind, objs []model.Object) error
	// Snapshot loads every stored object of cluster, or of all clusters when
	// cluster is empty, ordered by key.
	Snapshot(ctx context.Context, cluster string) (*model.Snapshot, error)
	// Clusters lists the clusters that have stored objects, sorted.
	Clusters(ctx context.Context) ([]string, error)

	// PutToken stores an API token record, replacing one of the same name.
	PutToken(ctx context.Context, t Token) error
	// TokenByHash returns the token whose Hash is hash, or ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// Tokens lists all tokens, sorted by name.
	Tokens(ctx context.Context) ([]Token, error)
	// DeleteToken removes a token by name; a missing name is not an error.
	DeleteToken(ctx context.Context, name string) error

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// TokenFromConfig marks tokens that the server's config file declares.
const TokenFromConfig = "config"

// Token is an API bearer token record. Only a hash of the secret is stored.
type Token struct {
	Name string `json:"name"`
	// Role is admin, analyst or viewer.
	Role string `json:"role"`
	// Hash is the hex SHA-256 of the secret token.
	Hash string `json:"-"`
	// CreatedAt is kept to the microsecond (PostgreSQL's precision).
	CreatedAt time.Time `json:"createdAt"`
	// Source is TokenFromConfig for tokens declared in the server's config
	// file, empty for tokens created with the CLI or the API.
	Source string `json:"source,omitempty"`
}
