package tokenreview

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/palisade-project/palisade/internal/auth"
)

// testKeys are the cluster's signing keys in the tests: kids ec-1
// (ES256), ec-384 (ES384) and rsa-1 (RS256).
var testKeys = clusterKeys{ec: newECKey(elliptic.P256()), ec384: newECKey(elliptic.P384()), rsa: newRSAKey()}

type clusterKeys struct {
	ec, ec384 *ecdsa.PrivateKey
	rsa       *rsa.PrivateKey
}

// otherKeys are keys the cluster does not have: an attacker's.
var otherKeys = clusterKeys{ec: newECKey(elliptic.P256()), rsa: newRSAKey()}

func newECKey(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func newRSAKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// jwks is the key set the API server publishes for k.
func (k clusterKeys) jwks() []byte {
	return jwksOf(map[string]crypto.PublicKey{"ec-1": k.ec.Public(), "ec-384": k.ec384.Public(), "rsa-1": k.rsa.Public()})
}

// jwksOf is a JSON Web Key Set of keys by kid, as the API server
// writes it.
func jwksOf(keys map[string]crypto.PublicKey) []byte {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, pub := range keys {
		set.Keys = append(set.Keys, jwkOf(kid, pub))
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

func jwkOf(kid string, pub crypto.PublicKey) map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256",
			"n": enc(pub.N.Bytes()), "e": enc(big.NewInt(int64(pub.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, err := pub.Bytes()
		if err != nil {
			panic(err)
		}
		size := (len(b) - 1) / 2
		crv := pub.Curve.Params().Name
		return map[string]string{"use": "sig", "kty": "EC", "kid": kid, "alg": curves[crv].alg, "crv": crv,
			"x": enc(b[1 : 1+size]), "y": enc(b[1+size:])}
	}
	panic(fmt.Sprintf("a key of type %T", pub))
}

// sign returns a token of header and payload signed with key: RS256 with
// an RSA key, ES256, ES384 or ES512 by the curve of an EC key, whatever
// header says.
func sign(key crypto.Signer, header string, payload []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc(payload)
	var sig []byte
	switch key := key.(type) {
	case *rsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:]); err != nil {
			panic(err)
		}
	case *ecdsa.PrivateKey:
		h := map[string]func() []byte{
			"P-256": func() []byte { d := sha256.Sum256([]byte(input)); return d[:] },
			"P-384": func() []byte { d := sha512.Sum384([]byte(input)); return d[:] },
			"P-521": func() []byte { d := sha512.Sum512([]byte(input)); return d[:] },
		}[key.Curve.Params().Name]
		r, s, err := ecdsa.Sign(rand.Reader, key, h())
		if err != nil {
			panic(err)
		}
		n := (key.Curve.Params().N.BitLen() + 7) / 8
		sig = make([]byte, 2*n)
		r.FillBytes(sig[:n])
		s.FillBytes(sig[n:])
	}
	return input + "." + enc(sig)
}

// jwksServer is an API server that serves /openid/v1/jwks and counts the
// requests.
type jwksServer struct {
	mu      sync.Mutex
	status  int
	body    []byte
	fetches int
	// started, when set, is sent on at each request, which then waits
	// for release.
	started, release chan struct{}
	srv              *httptest.Server
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, body: body}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != JWKSPath || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		s.fetches++
		status, body, started, release := s.status, s.body, s.started, s.release
		s.mu.Unlock()
		if started != nil {
			started <- struct{}{}
			<-release
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// client is the REST client of a clientset of the server, as the server
// wires it.
func (s *jwksServer) client(t *testing.T) RESTClient {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: s.srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	return cs.AuthenticationV1().RESTClient()
}

// signedClaims are the claims of an agent's token, told apart by id.
func signedClaims(id string) []byte {
	b, err := json.Marshal(agentClaims(id))
	if err != nil {
		panic(err)
	}
	return b
}

// unsigned is a token of header and payload with signature sig.
func unsigned(header string, payload, sig []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc(payload) + "." + enc(sig)
}

// withSignature replaces the signature of token.
func withSignature(token string, sig []byte) string {
	return token[:strings.LastIndexByte(token, '.')+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// Tokens are refused before any budget or review unless their signature
// verifies with the key their kid names, by the algorithm of that key.
func TestReviewChecksSignatures(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	rsaPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(testKeys.rsa.Public())
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	hs256 := func(secret []byte, header string, payload []byte) string {
		input := enc([]byte(header)) + "." + enc(payload)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + enc(m.Sum(nil))
	}
	asn1 := func(header string, payload []byte) string {
		input := enc([]byte(header)) + "." + enc(payload)
		d := sha256.Sum256([]byte(input))
		sig, err := ecdsa.SignASN1(rand.Reader, testKeys.ec, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + enc(sig)
	}
	genuine := sign(testKeys.ec, `{"alg":"ES256","kid":"ec-1"}`, signedClaims("altered"))
	altered := enc([]byte(`{"alg":"ES256","kid":"ec-1"}`)) + "." + enc(signedClaims("altered-2")) + genuine[strings.LastIndexByte(genuine, '.'):]

	tests := []struct {
		name    string
		token   string
		wantErr string // "" accepts
	}{
		{"ES256", sign(testKeys.ec, `{"alg":"ES256","kid":"ec-1"}`, signedClaims("es256")), ""},
		{"ES384", sign(testKeys.ec384, `{"alg":"ES384","kid":"ec-384"}`, signedClaims("es384")), ""},
		{"RS256", sign(testKeys.rsa, `{"alg":"RS256","kid":"rsa-1"}`, signedClaims("rs256")), ""},
		{"RS256 with typ", sign(testKeys.rsa, `{"alg":"RS256","kid":"rsa-1","typ":"JWT"}`, signedClaims("typ")), ""},

		{"forged ES256", sign(otherKeys.ec, `{"alg":"ES256","kid":"ec-1"}`, signedClaims("forged-ec")),
			`the signature of the service account token does not verify with the cluster's key "ec-1"`},
		{"forged RS256", sign(otherKeys.rsa, `{"alg":"RS256","kid":"rsa-1"}`, signedClaims("forged-rsa")), `does not verify with the cluster's key "rsa-1"`},
		{"altered claims", altered, "does not verify"},
		{"a signature of junk", withSignature(jwt("junk-sig", 0), bytes.Repeat([]byte("s"), 64)), "does not verify"},
		{"a signature cut short", withSignature(genuine, []byte("sig")), "does not verify"},
		{"an ASN.1 ECDSA signature", asn1(`{"alg":"ES256","kid":"ec-1"}`, signedClaims("asn1")), "does not verify"},
		{"an empty signature", withSignature(jwt("empty-sig", 0), nil), "does not verify"},
		{"a key the cluster does not have", sign(otherKeys.ec, `{"alg":"ES256","kid":"ec-2"}`, signedClaims("kid")),
			`signed with key "ec-2", which the cluster does not publish`},
		{"no kid", sign(testKeys.ec, `{"alg":"ES256"}`, signedClaims("no-kid")), "names no signing key (kid)"},
		{"alg none", enc([]byte(`{"alg":"none"}`)) + "." + enc(signedClaims("none")) + ".", `signed with "none"`},
		{"alg none with a kid", enc([]byte(`{"alg":"none","kid":"ec-1"}`)) + "." + enc(signedClaims("none-kid")) + ".", `signed with "none"`},
		{"alg NONE", enc([]byte(`{"alg":"NONE","kid":"rsa-1"}`)) + "." + enc(signedClaims("NONE")) + ".", `signed with "NONE"`},
		{"no alg", sign(testKeys.ec, `{"kid":"ec-1"}`, signedClaims("no-alg")), `signed with ""`},
		// The classic confusion: a verifier that takes the key's bytes
		// as an HMAC secret accepts whatever the attacker signs with them.
		{"HS256 with the RSA public key as secret", hs256(rsaPEM, `{"alg":"HS256","kid":"rsa-1"}`, signedClaims("hs256")), `signed with "HS256"`},
		{"HS256 with the key set as secret", hs256(testKeys.jwks(), `{"alg":"HS256","kid":"ec-1"}`, signedClaims("hs256-jwks")), `signed with "HS256"`},
		{"PS256", sign(testKeys.rsa, `{"alg":"PS256","kid":"rsa-1"}`, signedClaims("ps256")), `signed with "PS256"`},
		{"RS256 naming an EC key", sign(testKeys.rsa, `{"alg":"RS256","kid":"ec-1"}`, signedClaims("rs-ec")),
			`signed with RS256, but its key "ec-1" signs with ES256`},
		{"ES256 naming an RSA key", sign(testKeys.ec, `{"alg":"ES256","kid":"rsa-1"}`, signedClaims("ec-rsa")), "but its key \"rsa-1\" signs with RS256"},
		{"ES256 naming the P-384 key", sign(testKeys.ec, `{"alg":"ES256","kid":"ec-384"}`, signedClaims("ec-384")), "signs with ES384"},
		{"critical extensions", sign(testKeys.ec, `{"alg":"ES256","kid":"ec-1","crit":["exp"]}`, signedClaims("crit")), "critical header extensions"},
		{"a header that is not JSON", enc([]byte("{")) + "." + enc(signedClaims("hdr")) + ".c2ln", "not a Kubernetes service account token: a header"},
		{"a header that is not base64url", "e$." + enc(signedClaims("hdr64")) + ".c2ln", "a header that is not base64url"},
		{"a signature that is not base64url", enc([]byte(`{"alg":"ES256","kid":"ec-1"}`)) + "." + enc(signedClaims("sig64")) + ".c2ln!", "a signature that is not base64url"},
		{"an oversized header", enc([]byte(`{"alg":"ES256","kid":"`+strings.Repeat("k", maxHeaderLen)+`"}`)) + "." + enc(signedClaims("big")) + ".c2ln",
			"a header of more than 1024 bytes"},
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	for _, tt := range tests {
		client.statuses[tt.token] = reviewed(agentUser, []string{"palisade"}, onNode("n1"))
	}
	keys := newJWKSServer(t, testKeys.jwks())
	r := newTestReviewer(t, client, &now, func(o *Options) { o.Keys = keys.client(t) })
	reviews := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Review(t.Context(), tt.token, "192.0.2.1")
			if tt.wantErr == "" {
				reviews++
				if err != nil {
					t.Fatalf("Review() = %v, want nil", err)
				}
			} else if !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Review() = %v, want ErrInvalidCredentials containing %q", err, tt.wantErr)
			}
			if n := client.count(); n != reviews {
				t.Errorf("%d reviews, want %d", n, reviews)
			}
		})
	}
	// Refusals spend no budget: the accepted ones spent it all.
	if b := r.budgets.buckets["192.0.2.1"]; b == nil || b.tokens != float64(DefaultClientBurst-reviews) {
		t.Errorf("the client's budget %+v, want %d reviews spent", b, reviews)
	}
	// One fetch: every kid but ec-2 was known after it, and ec-2 was not
	// known a minute after the fetch.
	if n := keys.count(); n != 1 {
		t.Errorf("%d fetches of the keys, want 1", n)
	}
}

// The review finding this answers: forged tokens from an address that
// agents share spent its budget, and locked them out. Forgeries now cost
// no budget and no review, from any number of addresses.
func TestForgedTokensLockNoAgentOut(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	r := newTestReviewer(t, client, &now)
	const shared = "203.0.113.10"
	step := 20 * time.Millisecond // 50 forgeries a second
	attempts := 0
	for i := range int(time.Minute / step) {
		now = now.Add(step)
		sig := make([]byte, 64)
		rand.Read(sig)
		forged := unsigned(`{"alg":"ES256","kid":"ec-1"}`, signedClaims(fmt.Sprint("forged-", i)), sig)
		from := shared
		if i%2 == 1 {
			from = fmt.Sprintf("2001:db8:%x::1", i) // a new /64 each time
		}
		if _, err := r.Review(t.Context(), forged, from); !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("forgery %d: %v", i, err)
		}
		if i%250 == 7 { // an agent every 5 s, each with a token not yet cached
			good := jwt(fmt.Sprint("agent-", i), 0)
			client.mu.Lock()
			client.statuses[good] = reviewed(agentUser, []string{"palisade"}, onNode("n1"))
			client.mu.Unlock()
			attempts++
			if _, err := r.Review(t.Context(), good, shared); err != nil {
				t.Errorf("the agent at %s: %v", now.Format(time.TimeOnly), err)
			}
		}
	}
	if n := client.count(); n != attempts {
		t.Errorf("%d reviews, want %d: the agents' only", n, attempts)
	}
	if n := len(r.budgets.buckets); n != 1 {
		t.Errorf("%d budgets, want 1: the agents' address", n)
	}
}

func TestParseJWKS(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	ec := jwkOf("ec-1", testKeys.ec.Public())
	edit := func(k map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for n, v := range k {
			out[n] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	rsaKey := jwkOf("rsa-1", testKeys.rsa.Public())
	small := &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 511), E: 65537} // 512 bits; Go generates none so small
	p224 := newECKey(elliptic.P224())
	tests := []struct {
		name        string
		keys        []map[string]string
		wantKeys    []string
		wantSkipped string
	}{
		{"an API server's", []map[string]string{ec, rsaKey, jwkOf("ec-384", testKeys.ec384.Public())}, []string{"ec-1", "ec-384", "rsa-1"}, ""},
		{"P-521", []map[string]string{jwkOf("ec-521", newECKey(elliptic.P521()).Public())}, []string{"ec-521"}, ""},
		{"no use or alg", []map[string]string{edit(ec, "use", "", "alg", "")}, []string{"ec-1"}, ""},
		{"short x (leading zeros left out)", []map[string]string{shortX(t)}, []string{"ec-short"}, ""},

		{"a symmetric key", []map[string]string{{"kty": "oct", "kid": "hmac", "k": enc([]byte("secret"))}}, nil, `hmac: key type "oct"`},
		{"Ed25519", []map[string]string{{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": enc(make([]byte, 32))}}, nil, `key type "OKP"`},
		{"an encryption key", []map[string]string{edit(ec, "use", "enc")}, nil, `use "enc", not sig`},
		{"another algorithm", []map[string]string{edit(rsaKey, "alg", "PS256")}, nil, `algorithm "PS256" for a key that signs with RS256`},
		{"P-224", []map[string]string{jwkOf("p224", p224.Public())}, nil, `curve "P-224"`},
		{"a point off the curve", []map[string]string{edit(ec, "y", ec["x"])}, nil, "a point not on the curve"},
		{"x too long", []map[string]string{edit(ec, "x", enc(make([]byte, 33)))}, nil, "x and y not base64url-encoded integers of 32 bytes"},
		{"x not base64url", []map[string]string{edit(ec, "x", "!")}, nil, "not base64url"},
		{"n not base64url", []map[string]string{edit(rsaKey, "n", "!")}, nil, "n not base64url"},
		{"no e", []map[string]string{edit(rsaKey, "e", "")}, nil, "e not a base64url-encoded integer"},
		{"e too long", []map[string]string{edit(rsaKey, "e", enc(make([]byte, 5)))}, nil, "e not a base64url-encoded integer"},
		{"e even", []map[string]string{edit(rsaKey, "e", enc([]byte{0x01, 0x00, 0x00}))}, nil, "an RSA exponent of 65536"},
		{"e of 1", []map[string]string{edit(rsaKey, "e", enc([]byte{1}))}, nil, "an RSA exponent of 1"},
		{"an RSA key of 512 bits", []map[string]string{jwkOf("small", small)}, nil, "an RSA key of 512 bits"},
		{"no kid", []map[string]string{edit(ec, "kid", "")}, nil, ": no kid"},
		{"a kid twice", []map[string]string{ec, edit(rsaKey, "kid", "ec-1")}, []string{"ec-1"}, "ec-1: a kid seen before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(map[string]any{"keys": tt.keys})
			if err != nil {
				t.Fatal(err)
			}
			keys, skipped, err := parseJWKS(b)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(slices.Sorted(maps.Keys(keys)), ","), strings.Join(tt.wantKeys, ","); got != want {
				t.Errorf("keys %s, want %s", got, want)
			}
			if got := strings.Join(skipped, "; "); tt.wantSkipped == "" && got != "" || !strings.Contains(got, tt.wantSkipped) {
				t.Errorf("skipped %q, want %q", got, tt.wantSkipped)
			}
		})
	}
	for name, doc := range map[string]string{
		"not JSON":           "{",
		"keys not a list":    `{"keys":{}}`,
		"more than 64 keys":  `{"keys":[` + strings.TrimSuffix(strings.Repeat(`{},`, 65), ",") + `]}`,
		"a key of bad types": `{"keys":[{"kty":7}]}`,
	} {
		if _, _, err := parseJWKS([]byte(doc)); err == nil {
			t.Errorf("%s: parseJWKS() = nil error", name)
		}
	}
}

// shortX is the JWK of a P-256 key whose x has a leading zero byte, with
// that byte left out.
func shortX(t *testing.T) map[string]string {
	for range 10000 {
		k := newECKey(elliptic.P256())
		b, err := k.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if b[1] == 0 {
			j := jwkOf("ec-short", k.Public())
			j["x"] = base64.RawURLEncoding.EncodeToString(b[2:33])
			return j
		}
	}
	t.Fatal("no P-256 key with a leading zero in x")
	return nil
}

// Keys are fetched again when a token names a key not fetched yet, once a
// minute at most, so made-up kids cost one request a minute and a new
// key is known within a minute.
func TestKeysRefreshAtMostOnceAMinute(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	keys := newJWKSServer(t, jwksOf(map[string]crypto.PublicKey{"ec-1": testKeys.ec.Public()}))
	r := newTestReviewer(t, client, &now, func(o *Options) { o.Keys = keys.client(t) })
	rotated := newECKey(elliptic.P256())
	review := func(token string) error {
		t.Helper()
		client.mu.Lock()
		client.statuses[token] = reviewed(agentUser, []string{"palisade"}, onNode("n1"))
		client.mu.Unlock()
		_, err := r.Review(t.Context(), token, "192.0.2.1")
		return err
	}
	step := func(after time.Duration, token string, wantErr string, wantFetches int) {
		t.Helper()
		now = now.Add(after)
		err := review(token)
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("after %s: %v, want %q", after, err, wantErr)
		}
		if n := keys.count(); n != wantFetches {
			t.Errorf("after %s: %d fetches, want %d", after, n, wantFetches)
		}
	}
	newKid := func(id string) string {
		return sign(rotated, `{"alg":"ES256","kid":"ec-new"}`, signedClaims(id))
	}
	step(0, jwt("first", 0), "", 1)
	// A made-up kid within the minute: no fetch.
	for i := range 100 {
		step(0, sign(otherKeys.ec, fmt.Sprintf(`{"alg":"ES256","kid":"made-up-%d"}`, i), signedClaims(fmt.Sprint("made-up-", i))), "which the cluster does not publish", 1)
	}
	// The cluster rotates its key: tokens of the new key are refused
	// until the next fetch may be made, a minute after the last one.
	keys.set(http.StatusOK, jwksOf(map[string]crypto.PublicKey{"ec-1": testKeys.ec.Public(), "ec-new": rotated.Public()}))
	step(30*time.Second, newKid("new-1"), `key "ec-new", which the cluster does not publish`, 1)
	step(30*time.Second, newKid("new-2"), "", 2)
	// Known kids never fetch.
	step(2*time.Minute, jwt("known", 0), "", 2)
	step(0, newKid("new-3"), "", 2)
	// A minute later, a made-up kid fetches once again.
	step(0, sign(otherKeys.ec, `{"alg":"ES256","kid":"made-up"}`, signedClaims("made-up")), "does not publish", 3)
	step(59*time.Second, sign(otherKeys.ec, `{"alg":"ES256","kid":"made-up-2"}`, signedClaims("made-up-2")), "does not publish", 3)
	if n := client.count(); n != 4 {
		t.Errorf("%d reviews, want 4: the genuine tokens only", n)
	}
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// While the keys cannot be fetched, tokens go to the review unchecked,
// as before signatures were checked, and a warning says why.
func TestKeysUnavailableFallBackToTheReview(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     []byte
		wantWarn string
	}{
		{"no RBAC grant", http.StatusForbidden, []byte(`forbidden: User "palisade" cannot get path "/openid/v1/jwks"`),
			"grant the Palisade server get on the nonResourceURL /openid/v1/jwks (deploy/server-rbac.yaml)"},
		{"no issuer discovery", http.StatusNotFound, []byte("404 page not found"), "the API server does not serve /openid/v1/jwks"},
		{"API server failing", http.StatusServiceUnavailable, []byte("etcd unavailable"), "getting /openid/v1/jwks from the Kubernetes API server"},
		{"not a key set", http.StatusOK, []byte("<html>"), "not a JSON Web Key Set"},
		{"no usable key", http.StatusOK, []byte(`{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}`), "publishes no key Palisade can use (1 skipped)"},
		{"an empty key set", http.StatusOK, []byte(`{"keys":[]}`), "publishes no key Palisade can use (0 skipped)"},
		{"a key set too large", http.StatusOK, append(append([]byte(`{"keys":[],"pad":"`), bytes.Repeat([]byte("p"), maxJWKSLen)...), `"}`...),
			"is larger than 262144 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
			keys := newJWKSServer(t, tc.body)
			keys.set(tc.status, tc.body)
			var logs syncBuffer
			r := newTestReviewer(t, client, &now, func(o *Options) {
				o.Keys = keys.client(t)
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			forged := sign(otherKeys.ec, `{"alg":"ES256","kid":"ec-1"}`, signedClaims("forged"))
			_, err := r.Review(t.Context(), forged, "192.0.2.1")
			if !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), "the Kubernetes API server does not accept") {
				t.Fatalf("Review() = %v, want the review's refusal", err)
			}
			if n := client.count(); n != 1 {
				t.Fatalf("%d reviews, want 1", n)
			}
			if got := logs.String(); strings.Count(got, "level=WARN") != 1 || !strings.Contains(got, tc.wantWarn) {
				t.Errorf("log:\n%s\nwant one warning with %q", got, tc.wantWarn)
			}
			// Even so, algorithms the API server never uses are refused.
			none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(signedClaims("none")) + "."
			if _, err := r.Review(t.Context(), none, "192.0.2.1"); !errors.Is(err, auth.ErrInvalidCredentials) || client.count() != 1 {
				t.Errorf("alg none: %v, %d reviews, want a refusal without a review", err, client.count())
			}
		})
	}
}

// A fallback lasts while the keys cannot be fetched: once they can,
// signatures are checked again, and keys fetched before keep being used
// while a later fetch fails. The warning is logged every 10 minutes at
// most.
func TestKeysRecover(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	keys := newJWKSServer(t, testKeys.jwks())
	keys.set(http.StatusForbidden, nil)
	var logs syncBuffer
	r := newTestReviewer(t, client, &now, func(o *Options) {
		o.Keys = keys.client(t)
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	n := 0
	forge := func(kid string) string {
		n++
		return sign(otherKeys.ec, `{"alg":"ES256","kid":"`+kid+`"}`, signedClaims(fmt.Sprint("forged-", n)))
	}
	step := func(after time.Duration, kid string, wantReviewed bool, wantFetches, wantWarnings int) {
		t.Helper()
		now = now.Add(after)
		before := client.count()
		_, err := r.Review(t.Context(), forge(kid), "192.0.2.1")
		want := "does not verify"
		if wantReviewed {
			want = "the Kubernetes API server does not accept"
		}
		if !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), want) {
			t.Errorf("after %s: %v, want a refusal containing %q", after, err, want)
		}
		if got := client.count() - before; got != map[bool]int{true: 1}[wantReviewed] {
			t.Errorf("after %s: %d reviews, want reviewed %v", after, got, wantReviewed)
		}
		if got := keys.count(); got != wantFetches {
			t.Errorf("after %s: %d fetches, want %d", after, got, wantFetches)
		}
		if got := strings.Count(logs.String(), "level=WARN"); got != wantWarnings {
			t.Errorf("after %s: %d warnings, want %d:\n%s", after, got, wantWarnings, logs.String())
		}
	}
	step(0, "ec-1", true, 1, 1)
	step(10*time.Second, "ec-1", true, 1, 1)
	step(time.Minute, "ec-1", true, 2, 1) // fetched again, failed again, warned already
	keys.set(http.StatusOK, testKeys.jwks())
	step(30*time.Second, "ec-1", true, 2, 1) // not fetched yet
	step(30*time.Second, "ec-1", false, 3, 1)
	if !strings.Contains(logs.String(), "checking service account token signatures with the cluster's keys") {
		t.Errorf("no log that signatures are checked again:\n%s", logs.String())
	}
	// The keys fail again: the ones fetched are kept; unknown kids go
	// to the review, and the warning is logged again.
	keys.set(http.StatusServiceUnavailable, nil)
	step(2*time.Minute, "ec-1", false, 3, 1)
	step(0, "ec-9", true, 4, 2)
	step(5*time.Minute, "ec-9", true, 5, 2)
	step(5*time.Minute, "ec-9", true, 6, 3)
}

// A fetch is not cancelled with the request that asked for it (a client
// hanging up must not turn signature checks off for a minute); requests
// waiting for it give up with their own.
func TestKeysFetchOutlivesTheRequest(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	keys := newJWKSServer(t, testKeys.jwks())
	keys.started, keys.release = make(chan struct{}), make(chan struct{})
	r := newTestReviewer(t, client, &now, func(o *Options) { o.Keys = keys.client(t) })

	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error)
	go func() {
		_, err := r.Review(ctx, sign(otherKeys.ec, `{"alg":"ES256","kid":"ec-1"}`, signedClaims("first")), "192.0.2.1")
		first <- err
	}()
	<-keys.started
	cancel()
	// Another request, which waits for the fetch, gives up with its own
	// context.
	waiting, stop := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer stop()
	if _, err := r.Review(waiting, jwt("waiting", 0), "192.0.2.2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for the fetch: %v, want its context's error", err)
	}
	close(keys.release)
	if err := <-first; !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("the request that fetched: %v, want a refusal by signature", err)
	}
	// The fetch succeeded: forgeries are refused without another one.
	if _, err := r.Review(t.Context(), sign(otherKeys.ec, `{"alg":"ES256","kid":"ec-1"}`, signedClaims("later")), "192.0.2.1"); !errors.Is(err, auth.ErrInvalidCredentials) ||
		!strings.Contains(err.Error(), "does not verify") {
		t.Errorf("after the fetch: %v", err)
	}
	if n, f := client.count(), keys.count(); n != 0 || f != 1 {
		t.Errorf("%d reviews, %d fetches, want 0 and 1", n, f)
	}
}

func TestBudgetKey(t *testing.T) {
	for client, want := range map[string]string{
		"192.0.2.1":                   "192.0.2.1",
		"::ffff:192.0.2.1":            "192.0.2.1",
		"2001:db8:1:2::a":             "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:0:1":  "2001:db8:1:2::/64",
		"2001:db8:1:3::1":             "2001:db8:1:3::/64",
		"fe80::1%eth0":                "fe80::/64",
		"::1":                         "::/64",
		"unix-socket-peer":            "unix-socket-peer",
		"":                            "",
		"2001:db8:1:2::a/64":          "2001:db8:1:2::a/64",
		"2001:0db8:0001:0002:0:0:0:a": "2001:db8:1:2::/64",
	} {
		if got := budgetKey(client); got != want {
			t.Errorf("budgetKey(%q) = %q, want %q", client, got, want)
		}
	}
}

// The addresses of an IPv6 /64 share one budget, and an IPv4 address
// shares its budget with its IPv4-mapped form.
func TestReviewBudgetsByNetwork(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	client := &fakeClient{statuses: map[string]authv1.TokenReviewStatus{}}
	r := newTestReviewer(t, client, &now, func(o *Options) { o.ClientRate, o.ClientBurst = 1, 2 })
	i := 0
	review := func(from string) error {
		i++
		_, err := r.Review(t.Context(), jwt(fmt.Sprint("t", i), 0), from)
		return err
	}
	for _, tc := range []struct {
		from, wantLimited string
	}{
		{"2001:db8:1:2::1", ""},
		{"2001:db8:1:2::2", ""},
		{"2001:db8:1:2:8000::3", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", ""},
		{"192.0.2.1", ""},
		{"::ffff:192.0.2.1", ""},
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.2", ""},
	} {
		err := review(tc.from)
		var limit *LimitError
		switch {
		case tc.wantLimited == "" && !errors.Is(err, auth.ErrInvalidCredentials):
			t.Errorf("from %s: %v, want a review", tc.from, err)
		case tc.wantLimited != "" && (!errors.As(err, &limit) || limit.Client != tc.wantLimited ||
			!strings.Contains(err.Error(), "too many service account tokens to review from "+tc.wantLimited)):
			t.Errorf("from %s: %v, want a LimitError for %s", tc.from, err, tc.wantLimited)
		}
	}
}
