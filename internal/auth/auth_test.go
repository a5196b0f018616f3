package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		wantErr bool
	}{
		{"admin", RoleAdmin, false},
		{"analyst", RoleAnalyst, false},
		{"viewer", RoleViewer, false},
		{"Admin", "", true},
		{"", "", true},
		{"root", "", true},
		{" viewer", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRole(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseRole(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnknownRole) {
				t.Errorf("ParseRole(%q) error = %v, want ErrUnknownRole", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseRole(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRoleAllows(t *testing.T) {
	tests := []struct {
		have, need Role
		want       bool
	}{
		{RoleAdmin, RoleAdmin, true},
		{RoleAdmin, RoleAnalyst, true},
		{RoleAdmin, RoleViewer, true},
		{RoleAnalyst, RoleAdmin, false},
		{RoleAnalyst, RoleAnalyst, true},
		{RoleAnalyst, RoleViewer, true},
		{RoleViewer, RoleAdmin, false},
		{RoleViewer, RoleAnalyst, false},
		{RoleViewer, RoleViewer, true},
		{"", RoleViewer, false},
		{"root", RoleViewer, false},
		{RoleAdmin, "", false},
		{RoleAdmin, "root", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.have)+"/"+string(tt.need), func(t *testing.T) {
			if got := tt.have.Allows(tt.need); got != tt.want {
				t.Errorf("%q.Allows(%q) = %v, want %v", tt.have, tt.need, got, tt.want)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		secret, hash, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, SecretPrefix) {
			t.Fatalf("secret %q does not start with %q", secret, SecretPrefix)
		}
		if len(secret) != SecretLen {
			t.Fatalf("len(secret) = %d, want %d", len(secret), SecretLen)
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret body does not decode to 32 bytes: %d bytes, %v", len(raw), err)
		}
		if !WellFormed(secret) {
			t.Fatalf("WellFormed(generated secret) = false")
		}
		if hash != Hash(secret) {
			t.Fatalf("Generate hash = %q, want Hash(secret) = %q", hash, Hash(secret))
		}
		if !Verify(secret, hash) {
			t.Fatal("Verify(secret, hash) = false")
		}
		if seen[secret] {
			t.Fatal("Generate returned the same secret twice")
		}
		seen[secret] = true
	}
}

func TestHash(t *testing.T) {
	// echo -n abc | sha256sum
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := Hash("abc"); got != want {
		t.Errorf("Hash(abc) = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret, hash, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, secret, hash string
		want               bool
	}{
		{"match", secret, hash, true},
		{"other secret", secret + "x", hash, false},
		{"upper-case hash", secret, strings.ToUpper(hash), false},
		{"empty hash", secret, "", false},
		{"truncated hash", secret, hash[:10], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.secret, tt.hash); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWellFormed(t *testing.T) {
	good := SecretPrefix + strings.Repeat("A", SecretLen-len(SecretPrefix))
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"good", good, true},
		{"url-safe characters", SecretPrefix + strings.Repeat("-_", 21) + "z", true},
		{"no prefix", "xxx_" + good[4:], false},
		{"too short", good[:len(good)-1], false},
		{"too long", good + "A", false},
		{"standard base64", SecretPrefix + strings.Repeat("+", SecretLen-len(SecretPrefix)), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WellFormed(tt.in); got != tt.want {
				t.Errorf("WellFormed(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseBearer(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   string
		ok     bool
	}{
		{"canonical", "Bearer pls_abc", "pls_abc", true},
		{"lower-case scheme", "bearer pls_abc", "pls_abc", true},
		{"extra spaces", "  Bearer   pls_abc  ", "pls_abc", true},
		{"empty", "", "", false},
		{"scheme only", "Bearer", "", false},
		{"scheme and space", "Bearer ", "", false},
		{"basic", "Basic dXNlcjpwYXNz", "", false},
		{"two tokens", "Bearer a b", "", false},
		{"tab inside", "Bearer a\tb", "", false},
		{"token without scheme", "pls_abc", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBearer(tt.header)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseBearer(%q) error = %v, want ok %v", tt.header, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrNoBearer) {
				t.Errorf("error = %v, want ErrNoBearer", err)
			}
			if got != tt.want {
				t.Errorf("ParseBearer(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"ci", true},
		{"a", true},
		{"grafana.prod-1_ro", true},
		{"0day", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"CI", false},
		{"-ci", false},
		{"ci.", false},
		{"c i", false},
		{"ci/admin", false},
		{"ci\n", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.name)
			if (err == nil) != tt.ok {
				t.Errorf("ValidateName(%q) = %v, want ok %v", tt.name, err, tt.ok)
			}
		})
	}
}

// The agent role sends observations and reads nothing.
func TestAgentRole(t *testing.T) {
	for _, tc := range []struct {
		have, need Role
		want       bool
	}{
		{RoleAgent, RoleAgent, true},
		{RoleAdmin, RoleAgent, true},
		{RoleAnalyst, RoleAgent, false},
		{RoleViewer, RoleAgent, false},
		{RoleAgent, RoleViewer, false},
		{RoleAgent, RoleAnalyst, false},
		{RoleAgent, RoleAdmin, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%s allows %s = %v, want %v", tc.have, tc.need, got, tc.want)
		}
	}
	if r, err := ParseRole("agent"); err != nil || r != RoleAgent {
		t.Errorf("ParseRole(agent) = %q, %v", r, err)
	}
}
