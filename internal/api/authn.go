package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/store"
)

// maxSecretLen bounds the bearer credentials hashed and looked up.
const maxSecretLen = 512

// verifiedGrace is how long a token verified against the store keeps
// working while the store is unavailable. Answers live in memory; a dead
// database should not stop the people who were just using them. When the
// store answers, it always decides, so revocation stays immediate.
const verifiedGrace = 15 * time.Minute

type verifiedToken struct {
	token store.Token
	at    time.Time
}

// authorize checks the request's bearer token and that its role allows
// need. On success the token's name is recorded for the request log.
func (s *Server) authorize(r *http.Request, need auth.Role) error {
	secret, err := auth.ParseBearer(r.Header.Get("Authorization"))
	if err != nil {
		return errorf(http.StatusUnauthorized, codeMissingToken, "missing bearer token: send the header Authorization: Bearer <token>")
	}
	invalid := errorf(http.StatusUnauthorized, codeInvalidToken, "invalid or revoked token: ask an admin for a new one")
	// Secrets need not have the shape auth.Generate gives them: tokens
	// configured by hash may have any secret. Only the length is bounded.
	if len(secret) > maxSecretLen {
		return invalid
	}
	hash := auth.Hash(secret)
	t, err := s.opts.Tokens.TokenByHash(r.Context(), hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.verified.Delete(hash)
		return invalid
	case err != nil:
		v, ok := s.verified.Load(hash)
		if !ok || s.now().Sub(v.(verifiedToken).at) > verifiedGrace {
			return unavailable("cannot check the token: the token store is unavailable", err)
		}
		s.log.Warn("token store unavailable; accepting a recently verified token", "token", v.(verifiedToken).token.Name, "err", err)
		t = v.(verifiedToken).token
	default:
		s.verified.Store(hash, verifiedToken{token: t, at: s.now()})
	}
	// The store looked the hash up; compare again in constant time so that
	// no store implementation can make a near match count.
	if !auth.Verify(secret, t.Hash) {
		return invalid
	}
	infoFrom(r.Context()).token = t.Name
	role, err := auth.ParseRole(t.Role)
	if err != nil {
		return &apiError{status: http.StatusForbidden, code: codeForbidden,
			message: fmt.Sprintf("token %q has no valid role: ask an admin to recreate it", t.Name), cause: err}
	}
	if !role.Allows(need) {
		return errorf(http.StatusForbidden, codeForbidden, "token %q has role %s; this endpoint needs role %s or higher", t.Name, role, need)
	}
	infoFrom(r.Context()).role = role
	return nil
}
