package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
	// On the agent endpoint a JWT is a Kubernetes service account token
	// (about 1 KiB, bounded by the reviewer): the cluster's API server
	// reviews it, the token store is not asked.
	if need == auth.RoleAgent && auth.LooksLikeJWT(secret) {
		if s.opts.ServiceAccounts == nil {
			return errorf(http.StatusUnauthorized, codeInvalidToken, "this server does not accept Kubernetes service account tokens (it watches no cluster, or --agent-service-account is empty): use an agent token")
		}
		return s.authorizeServiceAccount(r, secret)
	}
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
	info := infoFrom(r.Context())
	info.role = role
	if role == auth.RoleAgent {
		scope := auth.TokenScope(t.Name, t.Cluster, s.opts.Cluster)
		info.agent = &scope
	}
	return nil
}

// ServiceAccounts identifies node agents by their Kubernetes service
// account tokens. *tokenreview.Reviewer implements it.
type ServiceAccounts interface {
	// Review returns what the token's holder may report for; client is
	// the caller's address, whose budget of reviews it may spend. An
	// error wrapping auth.ErrInvalidCredentials refuses the token (401);
	// one with a method RetryAfter() time.Duration (*tokenreview.LimitError)
	// means over a budget (429 with Retry-After); any other error means
	// it could not be checked (503).
	Review(ctx context.Context, token, client string) (auth.AgentScope, error)
}

// authorizeServiceAccount accepts an agent by its service account token.
func (s *Server) authorizeServiceAccount(r *http.Request, token string) error {
	scope, err := s.opts.ServiceAccounts.Review(r.Context(), token, clientAddr(r))
	var limited interface{ RetryAfter() time.Duration }
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials):
		// Logged with the reason (writeError logs the cause), never the
		// token.
		return &apiError{status: http.StatusUnauthorized, code: codeInvalidToken, message: truncate(err.Error(), 512), cause: err}
	case errors.As(err, &limited):
		// Not logged: a flood would flood the log too. The request log
		// has the 429.
		return &apiError{status: http.StatusTooManyRequests, code: codeTooManyRequests, message: truncate(err.Error(), 256),
			retryAfter: limited.RetryAfter()}
	case err != nil:
		return unavailable("cannot check the service account token: the Kubernetes API server did not review it", err)
	}
	info := infoFrom(r.Context())
	info.token, info.role, info.agent = scope.Name, auth.RoleAgent, &scope
	return nil
}

// clientAddr is the address a request comes from, without its port: the
// peer's, since the server trusts no proxy headers. Agents behind one NAT,
// ingress or load balancer share it.
func clientAddr(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
