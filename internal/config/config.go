// Package config holds the configuration of Palisade's roles, loaded from an
// optional YAML file and overridden by flags, and validated once at start.
package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/environment"
	"github.com/palisade-project/palisade/internal/risk"
)

// Analysis configures how answers are computed; every role that answers
// questions shares it.
type Analysis struct {
	// TrustedRegistries are registry hosts or host/repository prefixes
	// (ghcr.io/acme) whose images are trusted.
	TrustedRegistries []string `json:"trustedRegistries,omitempty"`
	// OwnerKeys is the ordered list of label/annotation keys that name a
	// workload's owning team.
	OwnerKeys []string `json:"ownerKeys,omitempty"`
	// Production defines production (cluster and namespace patterns,
	// environment label keys and values).
	Production environment.Definition `json:"production,omitzero"`
	// Risk overrides weights of the priorities ranking (docs/risk.md).
	Risk risk.Weights `json:"risk,omitzero"`
	// CriticalityKeys are the label/annotation keys declaring a workload's
	// criticality (default palisade.io/criticality).
	CriticalityKeys []string `json:"criticalityKeys,omitempty"`
}

// Token is an API token declared in the config file. Only the SHA-256 of
// the secret is written there (`palisade token hash` prints it).
type Token struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	SHA256 string `json:"sha256"`
}

// Server is the configuration of `palisade server`.
type Server struct {
	Analysis `json:",inline"`
	// Listen is the address of the HTTP API (default 127.0.0.1:8080).
	Listen string `json:"listen,omitempty"`
	// Database is a SQLite file path (the default, under the user's data
	// directory) or a postgres:// URL.
	Database string `json:"database,omitempty"`
	// Kubeconfig and Context select the cluster to watch. Empty Kubeconfig
	// means KUBECONFIG, then ~/.kube/config, then in-cluster; a server with
	// none of those and no manifests serves what is stored.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	// Cluster names the watched cluster in answers (default "default").
	Cluster string `json:"cluster,omitempty"`
	// Manifests are loaded once at start as the inventory of Cluster.
	Manifests []string `json:"manifests,omitempty"`
	// TLSCert and TLSKey enable HTTPS.
	TLSCert string  `json:"tlsCert,omitempty"`
	TLSKey  string  `json:"tlsKey,omitempty"`
	Tokens  []Token `json:"tokens,omitempty"`
	// Scan configures the scanning of running images.
	Scan Scan `json:"scan,omitzero"`
	// Flows configures how long used traffic counts and is kept.
	Flows Flows `json:"flows,omitzero"`
}

// Flows configures the used traffic the server keeps (docs/flows.md).
type Flows struct {
	// Window is how far back traffic counts as used in answers, as a
	// duration with an optional day unit ("7d", "36h"; default 7d).
	Window string `json:"window,omitempty"`
	// Retention is how long stored traffic is kept (default 30d); at
	// least the window.
	Retention string `json:"retention,omitempty"`
}

// Defaults of Flows.
const (
	DefaultFlowWindow    = 7 * 24 * time.Hour
	DefaultFlowRetention = 30 * 24 * time.Hour
)

// Durations returns the window and the retention, defaults applied.
func (f Flows) Durations() (window, retention time.Duration, err error) {
	window, retention = DefaultFlowWindow, DefaultFlowRetention
	if f.Window != "" {
		if window, err = ParseDays(f.Window); err != nil || window < time.Hour {
			return 0, 0, fmt.Errorf("flows.window %q: want a duration of at least 1h, e.g. 7d or 36h", f.Window)
		}
	}
	if f.Retention != "" {
		if retention, err = ParseDays(f.Retention); err != nil || retention < time.Hour {
			return 0, 0, fmt.Errorf("flows.retention %q: want a duration of at least 1h, e.g. 30d", f.Retention)
		}
	} else if window > retention {
		retention = window
	}
	if retention < window {
		return 0, 0, fmt.Errorf("flows.retention %s is shorter than flows.window %s: traffic would be forgotten while it still counts", f.Retention, f.Window)
	}
	return window, retention, nil
}

// ParseDays parses a Go duration, or a whole number of days ("7d").
func ParseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("%q: want a whole number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// Scan configures the image scan scheduler of the server.
type Scan struct {
	// Disabled turns image scanning off.
	Disabled bool `json:"disabled,omitempty"`
	// MaxAge is how old an image's SBOM may get before the image is
	// scanned again, as a Go duration (default 24h).
	MaxAge string `json:"maxAge,omitempty"`
	// Workers is the number of images scanned at once (default 2).
	Workers int `json:"workers,omitempty"`
}

// MaxAgeDuration returns MaxAge parsed; 0 when unset.
func (s Scan) MaxAgeDuration() (time.Duration, error) {
	if s.MaxAge == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s.MaxAge)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("scan.maxAge %q: want a duration of at least 1m, e.g. 24h", s.MaxAge)
	}
	return d, nil
}

// LoadFile reads a YAML config file into v, rejecting unknown fields.
func LoadFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	if len(data) > 1<<20 {
		return fmt.Errorf("config file %s is larger than 1 MiB", path)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// DataDir returns Palisade's data directory: $XDG_DATA_HOME/palisade or
// ~/.local/share/palisade.
func DataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "palisade"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory for the default database: %w (set --database)", err)
	}
	return filepath.Join(home, ".local", "share", "palisade"), nil
}

// DefaultDatabase is the SQLite file used when --database is not given.
func DefaultDatabase() (string, error) {
	d, err := DataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "palisade.db"), nil
}

// keywordDSN matches PostgreSQL's key=value connection strings
// ("host=db user=palisade dbname=palisade").
var keywordDSN = regexp.MustCompile(`^\s*[a-z_]+\s*=`)

// IsPostgres reports whether a database setting names PostgreSQL: a
// postgres:// URL or a key=value connection string.
func IsPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") || keywordDSN.MatchString(db)
}

// SetDefaults fills unset fields.
func (s *Server) SetDefaults() error {
	if s.Listen == "" {
		s.Listen = "127.0.0.1:8080"
	}
	if s.Cluster == "" {
		s.Cluster = "default"
	}
	if s.Database == "" {
		db, err := DefaultDatabase()
		if err != nil {
			return err
		}
		s.Database = db
	}
	return nil
}

// Validate checks the configuration and says what to fix.
func (s *Server) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: want host:port, e.g. 127.0.0.1:8080", s.Listen))
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		errs = append(errs, errors.New("tlsCert and tlsKey must be set together"))
	}
	if strings.Contains(s.Database, "://") && !IsPostgres(s.Database) {
		errs = append(errs, fmt.Errorf("database: unsupported URL scheme in %q: use a SQLite file path or postgres://", redact(s.Database)))
	}
	if _, err := s.Scan.MaxAgeDuration(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := s.Flows.Durations(); err != nil {
		errs = append(errs, err)
	}
	if s.Scan.Workers < 0 || s.Scan.Workers > 64 {
		errs = append(errs, fmt.Errorf("scan.workers %d: want 1 to 64 (0 means the default, 2)", s.Scan.Workers))
	}
	for i := range s.Tokens {
		t := &s.Tokens[i]
		t.SHA256 = strings.ToLower(t.SHA256)
		if _, err := hex.DecodeString(t.SHA256); t.Name == "" || len(t.SHA256) != 64 || err != nil {
			errs = append(errs, fmt.Errorf("tokens[%d]: want a name and the 64-hex-digit sha256 of the secret (palisade token hash prints it)", i))
		}
	}
	return errors.Join(errs...)
}

var keywordPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// redact hides the password of a URL or key=value database setting.
func redact(s string) string {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			// Never echo what could not be parsed: it may hold a password.
			scheme, _, _ := strings.Cut(s, "://")
			return scheme + "://(unparsable URL)"
		}
		return u.Redacted()
	}
	return keywordPassword.ReplaceAllString(s, "${1}xxxxx")
}

// Redact hides the password in a database URL, for messages.
func Redact(db string) string { return redact(db) }
