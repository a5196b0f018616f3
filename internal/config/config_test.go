package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	hash := strings.Repeat("AB", 32)
	tests := []struct {
		name    string
		cfg     Server
		wantErr string
	}{
		{"defaults are valid", Server{}, ""},
		{"bad listen", Server{Listen: "8080"}, "host:port"},
		{"half TLS", Server{TLSCert: "c.pem"}, "tlsCert and tlsKey"},
		{"mysql", Server{Database: "mysql://u:pw@h/db"}, "unsupported URL scheme"},
		{"short token hash", Server{Tokens: []Token{{Name: "ci", Role: "viewer", SHA256: "abc"}}}, "tokens[0]"},
		{"non-hex token hash", Server{Tokens: []Token{{Name: "ci", Role: "viewer", SHA256: strings.Repeat("zz", 32)}}}, "tokens[0]"},
		{"upper-case hash accepted", Server{Tokens: []Token{{Name: "ci", Role: "viewer", SHA256: hash}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_DATA_HOME", t.TempDir())
			c := tt.cfg
			if err := c.SetDefaults(); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "pw@"):
				t.Errorf("error leaks a password: %v", err)
			}
			for _, tok := range c.Tokens {
				if tok.SHA256 != strings.ToLower(tok.SHA256) {
					t.Errorf("hash not lower-cased: %s", tok.SHA256)
				}
			}
		})
	}
}

func TestLoadFileStrict(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("listen: 127.0.0.1:1\ntrustedRegistries: [ghcr.io/acme]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var s Server
	if err := LoadFile(p, &s); err != nil {
		t.Fatal(err)
	}
	if s.Listen != "127.0.0.1:1" || len(s.TrustedRegistries) != 1 {
		t.Errorf("loaded %+v", s)
	}
	if err := os.WriteFile(p, []byte("listn: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := LoadFile(p, &s); err == nil || !strings.Contains(err.Error(), "listn") {
		t.Errorf("unknown field accepted: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for _, in := range []string{
		"postgres://u:secret@h:5432/db",
		"postgres://u:se@cret@h:5432/db",
		"host=db user=u password=secret dbname=x",
		"host=db password = 'sec ret' dbname=x",
		"postgres://u:secret@h:bad port/db",
	} {
		if got := Redact(in); strings.Contains(got, "secret") || strings.Contains(got, "sec ret") || strings.Contains(got, "cret") {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
}

func TestIsPostgres(t *testing.T) {
	for in, want := range map[string]bool{
		"postgres://h/db":         true,
		"postgresql://h/db":       true,
		"host=db user=u dbname=x": true,
		"/var/lib/palisade/p.db":  false,
		"palisade.db":             false,
		"./data/team=blue/p.db":   false,
	} {
		if got := IsPostgres(in); got != want {
			t.Errorf("IsPostgres(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestFlowDurations(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in                Flows
		window, retention time.Duration
		wantErr           string
	}{
		{Flows{}, 7 * day, 30 * day, ""},
		{Flows{Window: "14d"}, 14 * day, 30 * day, ""},
		{Flows{Window: "36h", Retention: "90d"}, 36 * time.Hour, 90 * day, ""},
		{Flows{Window: "60d"}, 60 * day, 60 * day, ""},
		{Flows{Window: "30m"}, 0, 0, "at least 1h"},
		{Flows{Window: "a week"}, 0, 0, "flows.window"},
		{Flows{Window: "-1d"}, 0, 0, "flows.window"},
		{Flows{Retention: "2d"}, 0, 0, "shorter than flows.window"},
		{Flows{Retention: "1.5d"}, 0, 0, "flows.retention"},
	}
	for _, tt := range tests {
		t.Run(tt.in.Window+"/"+tt.in.Retention, func(t *testing.T) {
			w, r, err := tt.in.Durations()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || w != tt.window || r != tt.retention {
				t.Fatalf("Durations() = %v, %v, %v; want %v, %v", w, r, err, tt.window, tt.retention)
			}
		})
	}
	s := Server{Flows: Flows{Window: "nope"}}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "flows.window") {
		t.Errorf("Validate() = %v, want the flows.window error", err)
	}
}
