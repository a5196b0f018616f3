package tokenreview

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
)

// JWKSPath is where the API server publishes the public keys of its
// service account issuer (service account issuer discovery), a JSON Web
// Key Set.
const JWKSPath = "/openid/v1/jwks"

// Bounds of a key set.
const (
	maxJWKSLen = 256 << 10
	maxKeys    = 64
)

// keysRefresh is how often the keys are fetched at most: again when a
// token names a key not fetched before, so that a rotated key is known
// within a minute while tokens naming made-up keys cost one request a
// minute.
const keysRefresh = time.Minute

// keysWarnEvery is how often the warning that signatures cannot be
// checked is logged at most.
const keysWarnEvery = 10 * time.Minute

// RESTClient gets from the API server: client-go's REST clients, such
// as kubernetes.Interface.AuthenticationV1().RESTClient(), are ones.
type RESTClient interface {
	Get() *rest.Request
}

// jwk is a JSON Web Key (RFC 7517, 7518), of the fields read.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	// RSA
	N string `json:"n"`
	E string `json:"e"`
	// EC
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// curves are the EC curves of the algorithms the API server signs with.
var curves = map[string]struct {
	curve elliptic.Curve
	alg   string
}{
	"P-256": {elliptic.P256(), "ES256"},
	"P-384": {elliptic.P384(), "ES384"},
	"P-521": {elliptic.P521(), "ES512"},
}

// parseJWKS reads a JSON Web Key Set into keys by kid. Keys it cannot
// use (another type or curve, not for signatures, malformed, a kid seen
// before) are skipped, each with the reason.
func parseJWKS(b []byte) (map[string]publicKey, []string, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, nil, fmt.Errorf("the key set is not a JSON Web Key Set: %w", err)
	}
	if len(set.Keys) > maxKeys {
		return nil, nil, fmt.Errorf("the key set has %d keys, more than %d", len(set.Keys), maxKeys)
	}
	keys := map[string]publicKey{}
	var skipped []string
	for _, k := range set.Keys {
		key, err := k.publicKey()
		if err == nil && k.Kid == "" {
			err = errors.New("no kid")
		}
		if _, dup := keys[k.Kid]; err == nil && dup {
			err = errors.New("a kid seen before")
		}
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", clip(k.Kid, 64), err))
			continue
		}
		keys[k.Kid] = key
	}
	return keys, skipped, nil
}

func (k jwk) publicKey() (publicKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return publicKey{}, fmt.Errorf("use %q, not sig", clip(k.Use, 16))
	}
	var key publicKey
	switch k.Kty {
	case "RSA":
		n, err := base64.RawURLEncoding.DecodeString(k.N)
		if err != nil {
			return publicKey{}, errors.New("n not base64url-encoded")
		}
		e, err := base64.RawURLEncoding.DecodeString(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return publicKey{}, errors.New("e not a base64url-encoded integer of 4 bytes at most")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if bits := pub.N.BitLen(); bits < 1024 || bits > 16384 {
			return publicKey{}, fmt.Errorf("an RSA key of %d bits", bits)
		}
		if pub.E < 3 || pub.E > 1<<31-1 || pub.E%2 == 0 {
			return publicKey{}, fmt.Errorf("an RSA exponent of %d", pub.E)
		}
		key = publicKey{alg: "RS256", rsa: pub}
	case "EC":
		c, ok := curves[k.Crv]
		if !ok {
			return publicKey{}, fmt.Errorf("curve %q", clip(k.Crv, 16))
		}
		size := (c.curve.Params().BitSize + 7) / 8
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		y, errY := base64.RawURLEncoding.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) > size || len(y) > size {
			return publicKey{}, fmt.Errorf("x and y not base64url-encoded integers of %d bytes", size)
		}
		point := make([]byte, 1+2*size)
		point[0] = 4 // uncompressed
		copy(point[1+size-len(x):], x)
		copy(point[1+2*size-len(y):], y)
		pub, err := ecdsa.ParseUncompressedPublicKey(c.curve, point)
		if err != nil {
			return publicKey{}, errors.New("a point not on the curve")
		}
		key = publicKey{alg: c.alg, ec: pub}
	default:
		return publicKey{}, fmt.Errorf("key type %q", clip(k.Kty, 16))
	}
	if k.Alg != "" && k.Alg != key.alg {
		return publicKey{}, fmt.Errorf("algorithm %q for a key that signs with %s", clip(k.Alg, 16), key.alg)
	}
	return key, nil
}

// keySet holds the service account issuer's keys, fetched from the API
// server when a token names a key not fetched yet, at most once every
// keysRefresh.
type keySet struct {
	client  RESTClient
	timeout time.Duration
	log     *slog.Logger

	// fetching is held by the caller that fetches; others wait for it.
	fetching chan struct{}

	mu        sync.Mutex
	keys      map[string]publicKey // of the last successful fetch
	attempted time.Time            // the last fetch
	err       error                // of the last fetch; nil if it succeeded
	warned    time.Time
}

func newKeySet(client RESTClient, timeout time.Duration, log *slog.Logger) *keySet {
	return &keySet{client: client, timeout: timeout, log: log, fetching: make(chan struct{}, 1)}
}

// errNoKeys means the keys could not be fetched: the token's signature
// is not checked.
var errNoKeys = errors.New("the service account issuer's keys could not be fetched")

// key returns the key kid names. An error wrapping errNoKeys means the
// last fetch failed; ok false without an error, that the keys fetched
// have no such key.
func (s *keySet) key(ctx context.Context, kid string, now time.Time) (publicKey, bool, error) {
	if k, ok, done, err := s.cached(kid, now); done {
		return k, ok, err
	}
	select {
	case s.fetching <- struct{}{}:
		defer func() { <-s.fetching }()
	case <-ctx.Done():
		return publicKey{}, false, ctx.Err()
	}
	// Another caller may have fetched while this one waited.
	if k, ok, done, err := s.cached(kid, now); done {
		return k, ok, err
	}
	s.fetch(ctx, now)
	k, ok, _, err := s.cached(kid, now)
	return k, ok, err
}

// cached answers from the keys fetched; done is false when kid is not
// among them and they may be fetched again.
func (s *keySet) cached(kid string, now time.Time) (k publicKey, ok, done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[kid]; ok {
		return k, true, true, nil
	}
	if !s.attempted.IsZero() && now.Sub(s.attempted) < keysRefresh {
		return publicKey{}, false, true, s.err
	}
	return publicKey{}, false, false, nil
}

// fetch gets the keys from the API server. It is not cancelled with the
// request that asked for it: a client that hangs up must not make the
// fetch fail, which would stop checking signatures until the next one.
func (s *keySet) fetch(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	keys, skipped, err := s.get(ctx)
	if err == nil && len(keys) == 0 {
		err = fmt.Errorf("%w: the API server publishes no key Palisade can use (%d skipped)", errNoKeys, len(skipped))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	failing := s.attempted.IsZero() || s.err != nil
	s.attempted = now
	if err != nil {
		s.err = err
		if s.warned.IsZero() || now.Sub(s.warned) >= keysWarnEvery {
			s.warned = now
			// Forged tokens spend review budgets again, as before keys were
			// checked: say so, but not for every fetch.
			s.log.Warn("cannot fetch the cluster's service account keys: tokens signed with a key not fetched before are reviewed without checking their signature",
				"err", err)
		}
		return
	}
	if failing || len(skipped) > 0 {
		s.log.Info("checking service account token signatures with the cluster's keys", "keys", len(keys), "skipped", skipped)
	}
	s.keys, s.err, s.warned = keys, nil, time.Time{}
}

// get fetches and parses the keys; its errors wrap errNoKeys.
func (s *keySet) get(ctx context.Context) (map[string]publicKey, []string, error) {
	body, err := s.client.Get().AbsPath(JWKSPath).Stream(ctx)
	if apierrors.IsForbidden(err) {
		return nil, nil, fmt.Errorf("%w: grant the Palisade server get on the nonResourceURL %s (deploy/server-rbac.yaml): %w", errNoKeys, JWKSPath, err)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("%w: the API server does not serve %s (service account issuer discovery): %w", errNoKeys, JWKSPath, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: getting %s from the Kubernetes API server: %w", errNoKeys, JWKSPath, err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxJWKSLen+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading %s: %w", errNoKeys, JWKSPath, err)
	}
	if len(b) > maxJWKSLen {
		return nil, nil, fmt.Errorf("%w: %s is larger than %d bytes", errNoKeys, JWKSPath, maxJWKSLen)
	}
	keys, skipped, err := parseJWKS(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", errNoKeys, JWKSPath, err)
	}
	return keys, skipped, nil
}
