package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/store"
)

// tokenView is a token as the API shows it: never its hash or secret.
type tokenView struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
	// Cluster is the cluster an agent token may report for; absent for
	// other roles.
	Cluster string `json:"cluster,omitempty"`
}

func (s *Server) viewOf(t store.Token) tokenView {
	v := tokenView{Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt}
	if t.Role == string(auth.RoleAgent) {
		v.Cluster = auth.TokenScope(t.Name, t.Cluster, s.opts.Cluster).Cluster
	}
	return v
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.opts.Tokens.Tokens(r.Context())
	if err != nil {
		return unavailable("cannot list tokens: the token store is unavailable", err)
	}
	out := make([]tokenView, len(ts))
	for i, t := range ts {
		out[i] = s.viewOf(t)
	}
	writeJSON(w, http.StatusOK, listBody[tokenView]{Items: out})
	return nil
}

type createTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Cluster binds an agent token to a cluster (default: the server's).
	Cluster string `json:"cluster"`
}

// createdToken is the only response that ever carries a secret.
type createdToken struct {
	tokenView
	// Token is the secret. It is shown once and cannot be recovered.
	Token string `json:"token"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := auth.ValidateName(req.Name); err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, "%v", err)
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, "%s", truncate(err.Error(), 256))
	}
	switch {
	case role != auth.RoleAgent && req.Cluster != "":
		return errorf(http.StatusBadRequest, codeBadRequest, "cluster applies only to agent tokens: a %s token is bound to no cluster", role)
	case role == auth.RoleAgent && req.Cluster == "":
		req.Cluster = s.opts.Cluster
	}
	if req.Cluster != "" {
		if err := auth.ValidateCluster(req.Cluster); err != nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "%s", truncate(err.Error(), 256))
		}
	}

	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	ts, err := s.opts.Tokens.Tokens(r.Context())
	if err != nil {
		return unavailable("cannot create the token: the token store is unavailable", err)
	}
	for _, t := range ts {
		if t.Name == req.Name {
			return errorf(http.StatusConflict, codeConflict, "a token named %q exists: delete it first or choose another name", req.Name)
		}
	}
	secret, hash, err := auth.Generate()
	if err != nil {
		return err
	}
	t := store.Token{Name: req.Name, Role: string(role), Hash: hash, CreatedAt: s.now().UTC().Truncate(time.Microsecond), Cluster: req.Cluster}
	if err := s.opts.Tokens.PutToken(r.Context(), t); err != nil {
		return unavailable("cannot create the token: the token store is unavailable", err)
	}
	s.logTokenChange(r, "token created", t)
	w.Header().Set("Location", "/api/v1/tokens/"+url.PathEscape(t.Name))
	writeJSON(w, http.StatusCreated, createdToken{tokenView: s.viewOf(t), Token: secret})
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	// The name is not validated: tokens created outside the API (the
	// palisade token command, the config file) may have any name, and
	// must still be deletable.
	notFound := errorf(http.StatusNotFound, codeNotFound, "no token named %q", truncate(name, 64))
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	ts, err := s.opts.Tokens.Tokens(r.Context())
	if err != nil {
		return unavailable("cannot delete the token: the token store is unavailable", err)
	}
	var target *store.Token
	admins := 0
	for i, t := range ts {
		if t.Name == name {
			target = &ts[i]
		}
		if t.Role == string(auth.RoleAdmin) {
			admins++
		}
	}
	if target == nil {
		return notFound
	}
	if target.Role == string(auth.RoleAdmin) && admins == 1 {
		return errorf(http.StatusConflict, codeConflict, "token %q is the last admin token: create another admin token before deleting it", name)
	}
	s.verified.Range(func(k, v any) bool {
		if v.(verifiedToken).token.Name == name {
			s.verified.Delete(k)
		}
		return true
	})
	if err := s.opts.Tokens.DeleteToken(r.Context(), name); err != nil {
		return unavailable("cannot delete the token: the token store is unavailable", err)
	}
	s.logTokenChange(r, "token deleted", *target)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeJSON reads a JSON object of exactly v's fields from a body of at
// most MaxBodyBytes.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "send the body as JSON with the header Content-Type: application/json")
	}
	max := s.opts.MaxBodyBytes
	if r.ContentLength > max {
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "request body is larger than %d bytes", max)
	}
	r.Body = http.MaxBytesReader(w, r.Body, max)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		// Only whitespace may follow the object; reading it also enforces
		// the size cap on what follows.
		if err = dec.Decode(&struct{}{}); errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			err = errors.New("more than one JSON value")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "request body is larger than %d bytes", max)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, codeBadRequest, "empty request body: send a JSON object")
	}
	return errorf(http.StatusBadRequest, codeBadRequest, "invalid JSON body: %s", truncate(err.Error(), 256))
}

// logTokenChange records who created or deleted which token; never the
// secret or its hash.
func (s *Server) logTokenChange(r *http.Request, msg string, t store.Token) {
	attrs := []slog.Attr{slog.String("name", t.Name), slog.String("role", t.Role)}
	if t.Cluster != "" {
		attrs = append(attrs, slog.String("cluster", t.Cluster))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, msg, append(attrs, slog.String("by", infoFrom(r.Context()).token))...)
}
