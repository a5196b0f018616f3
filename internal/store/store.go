// Package store defines how Palisade persists its inventory and its API
// tokens. Implementations live in sub-packages (sqlite, postgres) and pass
// the shared conformance suite in storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/sbom"
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
	// Role is admin, analyst, viewer or agent.
	Role string `json:"role"`
	// Hash is the hex SHA-256 of the secret token.
	Hash string `json:"-"`
	// CreatedAt is kept to the microsecond (PostgreSQL's precision).
	CreatedAt time.Time `json:"createdAt"`
	// Source is TokenFromConfig for tokens declared in the server's config
	// file, empty for tokens created with the CLI or the API.
	Source string `json:"source,omitempty"`
	// Cluster binds an agent token to the one cluster it may report for.
	// Empty (agent tokens stored before tokens had a cluster, and tokens
	// of other roles) means the cluster of the server that checks it.
	Cluster string `json:"cluster,omitempty"`
}

// Advisories persists vulnerability advisories (OSV records) by source, the
// vulnerability database of `palisade db import`. Both store
// implementations provide it; storetest checks them.
type Advisories interface {
	// ReplaceAdvisories makes the stored advisories of source exactly recs,
	// in one transaction, and records the import. It is atomic: after an
	// error the source holds its previous data, or, when a cancellation
	// raced the commit and only the acknowledgement was lost, all of recs;
	// never a mix.
	ReplaceAdvisories(ctx context.Context, source AdvisorySource, recs []Advisory) error
	// AllAdvisories returns every stored advisory of every source, ordered
	// by source then id.
	AllAdvisories(ctx context.Context) ([]Advisory, error)
	// AdvisorySources lists the imported sources, ordered by name.
	AdvisorySources(ctx context.Context) ([]AdvisorySource, error)
}

// Advisory is one stored OSV record.
type Advisory struct {
	// Source names the import it came from ("go-vulndb", "debian-12").
	Source string
	ID     string
	// Modified is the record's modified time (zero when the feed zeroes it).
	Modified time.Time
	// Body is the record as OSV JSON.
	Body []byte
}

// AdvisorySource describes one imported source.
type AdvisorySource struct {
	Name string `json:"name"`
	// Location is where it was imported from (a file path or URL).
	Location   string    `json:"location"`
	Records    int       `json:"records"`
	ImportedAt time.Time `json:"importedAt"`
	// Digest is the SHA-256 of the imported records, so a re-import of the
	// same data is recognisable.
	Digest string `json:"digest"`
}

// KEV persists CISA's Known Exploited Vulnerabilities catalog, imported
// with `palisade db import` or `palisade db update`. There is one catalog,
// replaced whole by each import. Both store implementations provide it;
// storetest checks them.
type KEV interface {
	// ReplaceKEV makes the stored catalog exactly entries, described by
	// src, in one transaction. src needs a Name and a Version, and every
	// entry must pass kev.Entry.Validate with no CVE id twice (the checks
	// of kev.New); otherwise nothing is written. The stored Entries is
	// len(entries); a zero ImportedAt means now. It is atomic: after an
	// error the previous catalog is kept whole or, when a cancellation
	// raced the commit and only the acknowledgement was lost, the new one
	// is; never a mix.
	ReplaceKEV(ctx context.Context, src KEVSource, entries []kev.Entry) error
	// KEVEntries returns the stored catalog's description and entries,
	// sorted by CVE id, read in one transaction so that they belong
	// together; ErrNotFound when no catalog was imported. An empty
	// catalog was imported and is not ErrNotFound.
	KEVEntries(ctx context.Context) (KEVSource, []kev.Entry, error)
}

// KEVSource describes the imported KEV catalog.
type KEVSource struct {
	// Name labels the catalog: "cisa-kev" for CISA's feed.
	Name string `json:"name"`
	// Location is where it was imported from (a file path or URL).
	Location string `json:"location"`
	// Version is the catalog's catalogVersion ("2025.08.25").
	Version string `json:"version"`
	// Released is the catalog's dateReleased, kept to the microsecond;
	// zero when unknown.
	Released time.Time `json:"released,omitzero"`
	Entries  int       `json:"entries"`
	// ImportedAt is kept to the microsecond.
	ImportedAt time.Time `json:"importedAt"`
	// Digest is the SHA-256 of what was imported, so a re-import of the
	// same data is recognisable.
	Digest string `json:"digest"`
}

// Scans persists what scanning found per image digest: the SBOM, the latest
// match against the vulnerability database, and the scan status the
// scheduler keeps. Both store implementations provide it.
type Scans interface {
	// PutSBOM stores an image's SBOM, replacing any earlier one of the
	// same digest.
	PutSBOM(ctx context.Context, s *sbom.SBOM) error
	// SBOM returns the SBOM of digest, or ErrNotFound.
	SBOM(ctx context.Context, digest string) (*sbom.SBOM, error)
	// SBOMDigests lists the digests with a stored SBOM, sorted.
	SBOMDigests(ctx context.Context) ([]string, error)
	// PutMatch stores the latest match of a digest, replacing the previous.
	PutMatch(ctx context.Context, m MatchResult) error
	// PutMatches stores the latest match of each digest, replacing the
	// previous ones, in one transaction. It is atomic like ReplaceAdvisories:
	// after an error, every digest keeps its previous match or (when a
	// cancellation raced the commit) all of ms were stored; never a mix.
	// A match PutMatch would refuse makes it refuse the whole batch; of a
	// digest repeated in ms the last match wins; an empty ms writes nothing.
	PutMatches(ctx context.Context, ms []MatchResult) error
	// Match returns the latest match of digest, or ErrNotFound.
	Match(ctx context.Context, digest string) (MatchResult, error)
	// PutScanStatus records the scheduler's state for a digest.
	PutScanStatus(ctx context.Context, s ScanStatus) error
	// ScanStatuses lists every digest's scan status, sorted by digest.
	ScanStatuses(ctx context.Context) ([]ScanStatus, error)
	// DeleteScans removes everything stored for each digest: its SBOM,
	// match and scan status, in one transaction. Missing digests are not
	// an error. It is atomic: after an error every digest keeps its
	// records or, when a cancellation raced the commit and only the
	// acknowledgement was lost, none does; never a mix.
	DeleteScans(ctx context.Context, digests []string) error
}

// MatchResult is the latest match of one image's SBOM against the
// vulnerability database.
type MatchResult struct {
	Digest string `json:"digest"`
	// DBVersion is the vulnerability database version the match used.
	DBVersion string    `json:"dbVersion"`
	MatchedAt time.Time `json:"matchedAt"`
	// Findings is the JSON array of findings (internal/match.Finding).
	Findings json.RawMessage `json:"findings"`
}

// ScanStatus is the scheduler's record of one digest.
type ScanStatus struct {
	Digest      string    `json:"digest"`
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// Failures counts consecutive failed attempts; 0 after a success.
	Failures    int       `json:"failures"`
	LastError   string    `json:"lastError,omitempty"`
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
}

// Baselines persists the process baselines of internal/baseline (one per
// image digest and container name), so that they survive a restart. Both
// store implementations provide it; storetest checks them.
type Baselines interface {
	// PutBaselines upserts bs in one transaction. Each baseline needs a
	// digest and a container name, neither longer than
	// MaxBaselineKeyLen, no more than baseline.DefaultMaxExecutables
	// executables, each a non-empty UTF-8 path of at most
	// baseline.MaxPathLen bytes, and a LockedAt set exactly when LockedBy
	// is (the checks of baseline.Set.Restore); a baseline refused makes
	// it refuse the whole batch. It is atomic like PutMatches: after an
	// error every key keeps its previous baseline or (when a cancellation
	// raced the commit) all of bs were stored; never a mix. Of a key
	// repeated in bs the last baseline wins; an empty bs writes nothing.
	// Times come back in UTC.
	PutBaselines(ctx context.Context, bs []baseline.Baseline) error
	// AllBaselines returns every stored baseline, sorted by digest then
	// container (bytewise).
	AllBaselines(ctx context.Context) ([]baseline.Baseline, error)
	// DeleteBaselines removes the baselines of keys, in one transaction;
	// missing keys are not an error.
	DeleteBaselines(ctx context.Context, keys []baseline.Key) error
}

// MaxBaselineKeyLen bounds the digest and the container name of a stored
// baseline, in bytes: an image digest is 71 and a container name 63.
const MaxBaselineKeyLen = 1024

// Flows persists the traffic known to have been used (flows.Record): what
// node agents observed and what flow logs imported, so that question 9
// keeps its window across restarts. Rows are kept per path, source and
// UTC day of the last sighting, so that a window counts only its own days
// and pruning drops old days of paths still in use. Both store
// implementations provide it; storetest checks them.
type Flows interface {
	// PutFlows merges recs, from source ("agents", "log:NAME"), into the
	// stored traffic in one transaction: per path and day of LastSeen,
	// counts add up (saturating at flows.MaxCount), the earliest first
	// seen and the latest last seen are kept. Every record needs a
	// cluster, two valid endpoints (a workload of the record's cluster or
	// an address), a port, a protocol (TCP, UDP, SCTP), a first seen no
	// later than its last seen and a count of 1 to flows.MaxCount; the
	// source 1 to MaxFlowSourceLen bytes of UTF-8. A record refused makes
	// it refuse the whole batch, and it is atomic like PutMatches. Times
	// are kept to the microsecond.
	PutFlows(ctx context.Context, source string, recs []flows.Record) error
	// FlowRecords returns the traffic of q's cluster (every cluster when
	// empty) last seen at or after q.Since, merged over days and sources
	// into one record per path, sorted as flows.CompareRecords does, with
	// the sources it came from. When more than q.Limit paths match, the
	// q.Limit most recently seen are returned and Truncated is set.
	// Since is q.Since; Until is the latest LastSeen (zero when empty).
	FlowRecords(ctx context.Context, q FlowQuery) (*flows.Set, error)
	// PruneFlows deletes the traffic last seen before before (whole rows:
	// a path's days) and returns how many rows went.
	PruneFlows(ctx context.Context, before time.Time) (int64, error)
}

// FlowQuery selects stored traffic.
type FlowQuery struct {
	Cluster string
	Since   time.Time
	// Limit bounds the paths returned; 0 means DefaultFlowLimit.
	Limit int
}

// DefaultFlowLimit is the default of FlowQuery.Limit.
const DefaultFlowLimit = 1_000_000

// MaxFlowSourceLen bounds the name of a source of flows.
const MaxFlowSourceLen = 256
