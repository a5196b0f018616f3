package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/store"
)

// maxSecretLen bounds the bearer credentials hashed and looked up.
const maxSecretLen = 512

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
	t, err := s.opts.Tokens.TokenByHash(r.Context(), auth.Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return invalid
	}
	if err != nil {
		return unavailable("cannot check the token: the token store is unavailable", err)
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
	return nil
}
