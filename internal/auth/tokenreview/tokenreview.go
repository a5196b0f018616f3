// Package tokenreview identifies node agents by their Kubernetes service
// account tokens: it asks the cluster's API server to review a token
// (TokenReview, authentication.k8s.io/v1, with Palisade's audience) and
// accepts it only for a configured agent service account, with the node
// the token is bound to. Reviews are cached briefly, keyed by the token's
// SHA-256, accepted ones for a minute and refused ones for 30 seconds; the
// token itself is never kept or logged.
//
// Reviews cost the API server work, and whoever can reach the agent
// endpoint can send a token, so a token must earn its review:
//   - Its claims are read first, and a token that could never pass
//     (expired, another audience, another service account, no node, not a
//     token at all) is refused without a review.
//   - Its signature is then checked with the service account issuer's
//     public keys, which the API server publishes (GET /openid/v1/jwks):
//     RS256, ES256, ES384 or ES512 by the key its kid names, and nothing
//     else (not "none", not HMAC). A token that does not verify is
//     refused, before any budget or review, so forging one takes the
//     cluster's private key. The keys are fetched when a token names one
//     not fetched yet, at most once a minute. While they cannot be fetched
//     (no RBAC grant, API server down), tokens go to the review unchecked,
//     as they did before signatures were checked, and a warning is logged
//     every 10 minutes.
//   - The review then says whether the API server still accepts the token
//     (its pod not deleted) and which node it is bound to.
//
// Each client (an IP address; an IPv6 address's /64) has a budget of
// reviews, a token bucket; over it, the caller is told to retry later
// (LimitError). Tokens answered from the cache cost no budget, so a flood
// from one address does not lock agents on other addresses out, and
// forged tokens cost none once signatures are checked.
package tokenreview

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
//
// A client's budget is sized for agents that share one address (behind a
// NAT, an ingress or a load balancer that does not keep the client's
// address): each node's token is reviewed again once a minute, so 5
// reviews a second keep up with 300 nodes behind one address; beyond
// that, or while a whole DaemonSet starts at once, some agents are told
// to retry later, and they do.
const (
	DefaultTTL           = time.Minute
	DefaultRejectedTTL   = 30 * time.Second
	DefaultMaxEntries    = 8192
	DefaultMaxConcurrent = 8
	DefaultMaxWait       = 5 * time.Second
	DefaultTimeout       = 10 * time.Second
	DefaultClientRate    = 5
	DefaultClientBurst   = 10
	DefaultMaxClients    = 4096
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
	// RejectedTTL is how long a refusal of the API server is reused
	// (default DefaultRejectedTTL).
	RejectedTTL time.Duration
	// MaxEntries bounds each cache, of accepted and of refused tokens
	// (default DefaultMaxEntries); when one is full, further tokens are
	// reviewed every time.
	MaxEntries int
	// MaxConcurrent bounds the reviews in flight (default
	// DefaultMaxConcurrent); others wait, for MaxWait at most (default
	// DefaultMaxWait), and are then refused with a LimitError.
	MaxConcurrent int
	MaxWait       time.Duration
	// ClientRate and ClientBurst are each client's budget of reviews (a
	// client is an IP address, or the /64 of an IPv6 address): a
	// token bucket of ClientBurst reviews (default DefaultClientBurst)
	// refilled at ClientRate a second (default DefaultClientRate).
	// MaxClients bounds the clients tracked (default DefaultMaxClients).
	ClientRate  float64
	ClientBurst int
	MaxClients  int
	// Keys gets the service account issuer's public keys from the API
	// server (GET /openid/v1/jwks, which the server needs get on):
	// kubernetes.Interface.AuthenticationV1().RESTClient() is one. A token
	// whose signature does not verify with them is refused before any
	// budget or review. Without Keys signatures are not checked, and any
	// token with plausible claims costs a review: set it.
	Keys RESTClient
	// Logger logs when the keys cannot be fetched (default: nothing).
	Logger *slog.Logger
	// Timeout bounds one review, and one fetch of the keys (default
	// DefaultTimeout).
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
	budgets  *budgets
	keys     *keySet // nil without Options.Keys

	// mu guards the caches and the reviews in flight; it is taken
	// before budgets.mu, never after.
	mu       sync.Mutex
	accepted map[[sha256.Size]byte]entry
	rejected map[[sha256.Size]byte]entry
	inflight map[[sha256.Size]byte]*call
}

// entry is a cached review: a scope, or the error that refused the token.
type entry struct {
	scope   auth.AgentScope
	err     error
	expires time.Time
}

// call is a review in flight, which the callers with the same token wait
// for rather than asking again.
type call struct {
	done  chan struct{}
	scope auth.AgentScope
	err   error
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
	opts = opts.withDefaults()
	r := &Reviewer{opts: opts, accounts: accounts, sem: make(chan struct{}, opts.MaxConcurrent),
		budgets:  newBudgets(opts.ClientRate, opts.ClientBurst, opts.MaxClients),
		accepted: map[[sha256.Size]byte]entry{}, rejected: map[[sha256.Size]byte]entry{}, inflight: map[[sha256.Size]byte]*call{}}
	if opts.Keys != nil {
		r.keys = newKeySet(opts.Keys, opts.Timeout, opts.Logger)
	}
	return r, nil
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.RejectedTTL <= 0 {
		o.RejectedTTL = DefaultRejectedTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.ClientRate <= 0 {
		o.ClientRate = DefaultClientRate
	}
	if o.ClientBurst <= 0 {
		o.ClientBurst = DefaultClientBurst
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Review returns what the holder of token may report for: the cluster of
// the Reviewer and the node the token is bound to. client names the
// caller, whose budget a review spends: its IP address.
//
// A token the API server does not authenticate (expired, revoked, another
// audience), or that belongs to no agent service account or to no node,
// or whose signature does not verify, gives an error wrapping
// auth.ErrInvalidCredentials, without a review when the token's claims or
// signature already say so. A *LimitError means the client (its address,
// or its IPv6 /64) is over its budget, or every review slot stayed busy:
// retry later. Any other error means the token could not be reviewed (API
// server unreachable, no RBAC permission to create tokenreviews).
func (r *Reviewer) Review(ctx context.Context, token, client string) (auth.AgentScope, error) {
	if token == "" || len(token) > maxTokenLen {
		return auth.AgentScope{}, fmt.Errorf("%w: a service account token of %d bytes", auth.ErrInvalidCredentials, len(token))
	}
	now := r.opts.Now()
	exp, err := precheck(token, now, r.opts.Audience, r.accounts)
	if err != nil {
		return auth.AgentScope{}, err
	}
	key := sha256.Sum256([]byte(token))

	// An accepted token was checked: skip the signature.
	r.mu.Lock()
	e, ok := r.accepted[key]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.scope, nil
	}
	if err := r.checkSignature(ctx, token, now); err != nil {
		return auth.AgentScope{}, err
	}

	r.mu.Lock()
	if e, ok := r.accepted[key]; ok && now.Before(e.expires) {
		r.mu.Unlock()
		return e.scope, nil
	}
	if e, ok := r.rejected[key]; ok && now.Before(e.expires) {
		r.mu.Unlock()
		return auth.AgentScope{}, e.err
	}
	if c, ok := r.inflight[key]; ok {
		r.mu.Unlock()
		select {
		case <-c.done:
			return c.scope, c.err
		case <-ctx.Done():
			return auth.AgentScope{}, ctx.Err()
		}
	}
	budget := budgetKey(client)
	if wait, ok := r.budgets.take(budget, now); !ok {
		r.mu.Unlock()
		return auth.AgentScope{}, &LimitError{Client: budget, Wait: wait}
	}
	c := &call{done: make(chan struct{})}
	r.inflight[key] = c
	r.mu.Unlock()

	defer func() {
		r.mu.Lock()
		delete(r.inflight, key)
		switch {
		case c.err == nil:
			expires := now.Add(r.opts.TTL)
			if !exp.IsZero() && exp.Before(expires) {
				expires = exp
			}
			put(r.accepted, key, entry{scope: c.scope, expires: expires}, now, r.opts.MaxEntries)
		case errors.Is(c.err, auth.ErrInvalidCredentials):
			put(r.rejected, key, entry{err: c.err, expires: now.Add(r.opts.RejectedTTL)}, now, r.opts.MaxEntries)
		}
		r.mu.Unlock()
		close(c.done)
	}()
	c.err = errors.New("the token review did not complete") // if it panics
	c.scope, c.err = r.review(ctx, token)
	return c.scope, c.err
}

// checkSignature refuses a token signed with an algorithm the API server
// does not use, or, with Options.Keys, one whose signature does not
// verify with the key it names. While the keys cannot be fetched, the
// signature is not checked.
func (r *Reviewer) checkSignature(ctx context.Context, token string, now time.Time) error {
	t, err := parseSigned(token)
	if err != nil {
		return fmt.Errorf("%w: the bearer credential is not a Kubernetes service account token: %v", auth.ErrInvalidCredentials, err)
	}
	if err := checkHeader(t.header); err != nil {
		return err
	}
	if r.keys == nil {
		return nil
	}
	k, ok, err := r.keys.key(ctx, t.header.Kid, now)
	switch {
	case errors.Is(err, errNoKeys):
		return nil
	case err != nil:
		return err
	case !ok && t.header.Kid == "":
		return fmt.Errorf("%w: the service account token names no signing key (kid): the API server names one in every token it issues", auth.ErrInvalidCredentials)
	case !ok:
		return fmt.Errorf("%w: the service account token is signed with key %q, which the cluster does not publish: it is forged, or its key was retired",
			auth.ErrInvalidCredentials, clip(t.header.Kid, 64))
	}
	return k.verify(t)
}

// put adds e to cache, which holds at most max entries: when it is full,
// the expired ones go, and if none has, e is not kept.
func put(cache map[[sha256.Size]byte]entry, key [sha256.Size]byte, e entry, now time.Time, max int) {
	if len(cache) >= max {
		for k, old := range cache {
			if !now.Before(old.expires) {
				delete(cache, k)
			}
		}
	}
	if len(cache) < max {
		cache[key] = e
	}
}

// review has the API server review token, waiting for a free slot.
func (r *Reviewer) review(ctx context.Context, token string) (auth.AgentScope, error) {
	wait := time.NewTimer(r.opts.MaxWait)
	defer wait.Stop()
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-wait.C:
		return auth.AgentScope{}, &LimitError{Wait: r.opts.MaxWait}
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
	if err := checkAccount(user, accounts); err != nil {
		return auth.AgentScope{}, err
	}
	nodes := st.User.Extra[ExtraNodeName]
	if len(nodes) != 1 || nodes[0] == "" {
		return auth.AgentScope{}, noNode(user)
	}
	return auth.AgentScope{Name: user, Node: nodes[0]}, nil
}

func clip(s string, max int) string {
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
