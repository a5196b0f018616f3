// Package auth owns Palisade's API bearer tokens and roles: how a secret is
// generated, how it is hashed for storage, how a request's Authorization
// header is parsed, and which role may do what. It never logs and never
// keeps a secret: only the hex SHA-256 of a secret is ever stored.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Role is what a token may do. Roles are ordered: an admin can do what an
// analyst can, and an analyst what a viewer can.
type Role string

// Roles, most powerful first.
const (
	// RoleAdmin manages tokens and everything below.
	RoleAdmin Role = "admin"
	// RoleAnalyst may change analysis state (triage, policies) as those
	// endpoints arrive, and read everything a viewer reads.
	RoleAnalyst Role = "analyst"
	// RoleViewer reads answers, the inventory and metrics.
	RoleViewer Role = "viewer"
	// RoleAgent only sends node agents' observations: it reads nothing,
	// so a token stolen from a node exposes no answer. Admins may send
	// observations too.
	RoleAgent Role = "agent"
)

// Roles lists every role, most powerful first, the agent role last.
var Roles = []Role{RoleAdmin, RoleAnalyst, RoleViewer, RoleAgent}

// ErrUnknownRole is returned by ParseRole for a name that is not a role.
var ErrUnknownRole = errors.New("unknown role")

// ParseRole returns the role named s (exact, lower case).
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("%w %q: want admin, analyst, viewer or agent", ErrUnknownRole, s)
	}
	return r, nil
}

func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleAnalyst:
		return 2
	case RoleViewer:
		return 1
	case RoleAgent:
		return -1 // outside the reading hierarchy
	}
	return 0
}

// Allows reports whether a token of role r may use an endpoint that needs
// required. An unknown role allows nothing and is allowed by nothing.
func (r Role) Allows(required Role) bool {
	have, need := r.rank(), required.rank()
	if need < 0 {
		// Agent endpoints: agents and admins.
		return r == RoleAgent || r == RoleAdmin
	}
	return have > 0 && need > 0 && have >= need
}

// SecretPrefix starts every secret, so that secret scanners and people can
// tell a Palisade token at a glance.
const SecretPrefix = "pls_"

// secretBytes is the entropy of a secret.
const secretBytes = 32

// SecretLen is the length of every secret Generate returns: the prefix and
// 43 base64url characters.
const SecretLen = len(SecretPrefix) + (secretBytes*8+5)/6

// Generate returns a new secret, "pls_" followed by the unpadded base64url
// form of 32 random bytes, and its Hash. Show the secret to its owner once
// and store only the hash.
func Generate() (secret, hash string, err error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("reading random bytes for a token: %w", err)
	}
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, Hash(secret), nil
}

// Hash returns the hex SHA-256 of secret, the form tokens are stored and
// looked up in. A fast hash is enough: secrets carry 256 random bits, so
// there is nothing to guess.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether secret hashes to hash, comparing in constant time.
func Verify(secret, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(Hash(secret)), []byte(hash)) == 1
}

// WellFormed reports whether s has the shape of a secret Generate returns.
// It does not gate authentication, since tokens configured by hash may have
// secrets of any shape; use it to warn about or reject hand-made secrets.
func WellFormed(s string) bool {
	body, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok || len(s) != SecretLen {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ErrNoBearer is returned by ParseBearer when the header carries no bearer
// credentials.
var ErrNoBearer = errors.New("no bearer token")

// ParseBearer extracts the credentials of an Authorization header value of
// the form "Bearer <token>" (the scheme is case-insensitive, RFC 9110).
func ParseBearer(header string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoBearer
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", ErrNoBearer
	}
	return token, nil
}

// maxNameLen bounds a token name.
const maxNameLen = 63

// ValidateName checks a token name: 1 to 63 characters of lower-case
// letters, digits, '-', '_' and '.', starting and ending with a letter or
// digit (so names are safe in URLs, logs and shell scripts).
func ValidateName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("token name of %d characters: want 1 to %d", len(name), maxNameLen)
	}
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !alnum(c) && c != '-' && c != '_' && c != '.' {
			return fmt.Errorf("token name %q: use only lower-case letters, digits, '-', '_' and '.'", name)
		}
	}
	if !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return fmt.Errorf("token name %q: start and end with a lower-case letter or digit", name)
	}
	return nil
}
