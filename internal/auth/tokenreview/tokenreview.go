// Package tokenreview identifies node agents by their Kubernetes service
// account tokens: it asks the cluster's API server to review a token
// (TokenReview, authentication.k8s.io/v1, with Palisade's audience) and
// accepts it only for a configured agent service account, with the node
// the token is bound to. Accepted reviews are cached briefly, keyed by the
// token's SHA-256; the token itself is never kept or logged.
package tokenreview

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-project/palisade/internal/auth"
)

// Keys of a reviewed service account user's extra, set by the API server
// on tokens bound to a pod (pod name and UID) scheduled on a node (node
// name and UID; Kubernetes 1.30 and later).
const (
	ExtraNodeName = "authentication.kubernetes.io/node-name"
	ExtraPodName  = "authentication.kubernetes.io/pod-name"
)

// DefaultAudience is the audience agents' projected tokens are issued
// for, so that they cannot be replayed against the API server.
const DefaultAudience = "palisade"

// DefaultServiceAccount is the agent DaemonSet's service account in
// deploy/agent.yaml.
const DefaultServiceAccount = "palisade/palisade-agent"

// Defaults of Options.
const (
	DefaultTTL           = time.Minute
	DefaultMaxEntries    = 8192
	DefaultMaxConcurrent = 8
	DefaultTimeout       = 10 * time.Second
)

// maxTokenLen bounds a token sent for review. Projected tokens are about
// 1 KiB.
const maxTokenLen = 16 << 10

// Client creates TokenReviews:
// kubernetes.Interface.AuthenticationV1().TokenReviews() is one.
type Client interface {
	Create(ctx context.Context, review *authv1.TokenReview, opts metav1.CreateOptions) (*authv1.TokenReview, error)
}

// Options configure a Reviewer. Client, Cluster and ServiceAccounts are
// required.
type Options struct {
	Client Client
	// Cluster is the name of the cluster whose API server Client talks
	// to, as Palisade names it: accepted agents report for it only.
	Cluster string
	// ServiceAccounts are the agents' service accounts, NAMESPACE/NAME.
	ServiceAccounts []string
	// Audience is the audience the tokens must be issued for. Empty
	// accepts tokens for the API server's own audiences, which a
	// Palisade server that received one could replay against the API
	// server: set one.
	Audience string
	// TTL is how long an accepted review is reused (default DefaultTTL).
	// A token revoked meanwhile (its pod deleted) is accepted that long.
	TTL time.Duration
	// MaxEntries bounds the cache (default DefaultMaxEntries); when it
	// is full, further tokens are reviewed every time.
	MaxEntries int
	// MaxConcurrent bounds the reviews in flight (default
	// DefaultMaxConcurrent); others wait.
	MaxConcurrent int
	// Timeout bounds one review (default DefaultTimeout).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Reviewer identifies agents by their service account tokens. It is safe
// for concurrent use.
type Reviewer struct {
	opts     Options
	accounts map[string]bool // "namespace:name"
	sem      chan struct{}

	mu    sync.Mutex
	cache map[[sha256.Size]byte]entry
}

type entry struct {
	scope   auth.AgentScope
	expires time.Time
}

// New returns a Reviewer, or an error naming the bad option.
func New(opts Options) (*Reviewer, error) {
	if opts.Client == nil {
		return nil, errors.New("tokenreview: a Kubernetes client is required")
	}
	if err := auth.ValidateCluster(opts.Cluster); err != nil {
		return nil, fmt.Errorf("tokenreview: %w", err)
	}
	if len(opts.ServiceAccounts) == 0 {
		return nil, errors.New("tokenreview: name at least one agent service account")
	}
	accounts := map[string]bool{}
	for _, sa := range opts.ServiceAccounts {
		ns, name, err := auth.ParseServiceAccount(sa)
		if err != nil {
			return nil, err
		}
		accounts[ns+":"+name] = true
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reviewer{opts: opts, accounts: accounts, sem: make(chan struct{}, opts.MaxConcurrent),
		cache: map[[sha256.Size]byte]entry{}}, nil
}

// Review returns what the holder of token may report for: the cluster of
// the Reviewer and the node the token is bound to. A token the API server
// does not authenticate (expired, revoked, another audience), or that
// belongs to no agent service account or to no node, gives an error
// wrapping auth.ErrInvalidCredentials; any other error means the token
// could not be reviewed (API server unreachable, no RBAC permission to
// create tokenreviews).
func (r *Reviewer) Review(ctx context.Context, token string) (auth.AgentScope, error) {
	if token == "" || len(token) > maxTokenLen {
		return auth.AgentScope{}, fmt.Errorf("%w: a service account token of %d bytes", auth.ErrInvalidCredentials, len(token))
	}
	key := sha256.Sum256([]byte(token))
	now := r.opts.Now()
	r.mu.Lock()
	e, ok := r.cache[key]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.scope, nil
	}

	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return auth.AgentScope{}, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	req := &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: token}}
	if r.opts.Audience != "" {
		req.Spec.Audiences = []string{r.opts.Audience}
	}
	resp, err := r.opts.Client.Create(ctx, req, metav1.CreateOptions{})
	if apierrors.IsForbidden(err) {
		return auth.AgentScope{}, fmt.Errorf("reviewing a service account token: grant the Palisade server create on tokenreviews.authentication.k8s.io (deploy/server-rbac.yaml): %w", err)
	}
	if err != nil {
		return auth.AgentScope{}, fmt.Errorf("reviewing a service account token with the Kubernetes API server: %w", err)
	}
	scope, err := decide(resp.Status, r.opts.Audience, r.accounts)
	if err != nil {
		return auth.AgentScope{}, err
	}
	scope.Cluster = r.opts.Cluster

	expires := now.Add(r.opts.TTL)
	if exp, ok := expiry(token); ok && exp.Before(expires) {
		expires = exp
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= r.opts.MaxEntries {
		for k, e := range r.cache {
			if !now.Before(e.expires) {
				delete(r.cache, k)
			}
		}
	}
	if len(r.cache) < r.opts.MaxEntries {
		r.cache[key] = entry{scope: scope, expires: expires}
	}
	return scope, nil
}

// decide turns a TokenReview's status into the scope of an agent: the
// token must be authenticated, for audience when one is set, as one of
// accounts ("namespace:name"), and bound to a node. The scope has no
// cluster yet.
func decide(st authv1.TokenReviewStatus, audience string, accounts map[string]bool) (auth.AgentScope, error) {
	reject := func(format string, args ...any) (auth.AgentScope, error) {
		return auth.AgentScope{}, fmt.Errorf("%w: %s", auth.ErrInvalidCredentials, fmt.Sprintf(format, args...))
	}
	if !st.Authenticated {
		why := "expired, revoked, or issued for another audience"
		if st.Error != "" {
			why = clip(st.Error, 256)
		}
		return reject("the Kubernetes API server does not accept the service account token: %s", why)
	}
	// The API server checked the audience; an authenticator that ignores
	// audiences would answer without naming it.
	if audience != "" && !slices.Contains(st.Audiences, audience) {
		return reject("the service account token is not issued for audience %q: project it with that audience", audience)
	}
	user := st.User.Username
	sa, ok := strings.CutPrefix(user, auth.ServiceAccountPrefix)
	if !ok || strings.Count(sa, ":") != 1 {
		return reject("%q is not a service account", clip(user, 128))
	}
	if !accounts[sa] {
		return reject("service account %s is not a Palisade agent's", strings.Replace(sa, ":", "/", 1))
	}
	nodes := st.User.Extra[ExtraNodeName]
	if len(nodes) != 1 || nodes[0] == "" {
		return reject("the token of service account %s names no node: send the projected token of an agent pod scheduled on its node (Kubernetes 1.30 or later)", strings.Replace(sa, ":", "/", 1))
	}
	return auth.AgentScope{Name: user, Node: nodes[0]}, nil
}

// expiry reads the exp claim of a JWT without checking its signature: the
// API server has just done that. It only ever shortens a cache entry.
func expiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(*claims.Exp, 0), true
}

func clip(s string, max int) string {
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
