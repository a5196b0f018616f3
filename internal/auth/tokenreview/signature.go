package tokenreview

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"

	"github.com/palisade-project/palisade/internal/auth"
)

// maxHeaderLen bounds the decoded header of a token. A projected token's
// is about 100 bytes: {"alg":"RS256","kid":"…"}.
const maxHeaderLen = 1 << 10

// algorithms are the JWS algorithms the Kubernetes API server signs
// service account tokens with: RS256 with an RSA key, ES256, ES384 or
// ES512 with an EC key on P-256, P-384 or P-521. Any other ("none", the
// HMAC family, RSA-PSS) is refused: an API server never issues it.
var algorithms = map[string]func() hash.Hash{
	"RS256": sha256.New,
	"ES256": sha256.New,
	"ES384": sha512.New384,
	"ES512": sha512.New,
}

// header is the JOSE header of a token.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	// Crit names extensions the verifier must understand (RFC 7515,
	// 4.1.11); Palisade understands none, and the API server sets none.
	Crit json.RawMessage `json:"crit"`
}

// signed is a token split for verification.
type signed struct {
	header header
	input  string // what is signed: the encoded header "." the encoded claims
	sig    []byte
}

// parseSigned splits token and decodes its header and signature. Its
// claims are precheck's.
func parseSigned(token string) (signed, error) {
	if strings.Count(token, ".") != 2 {
		return signed{}, errors.New("not three parts")
	}
	i := strings.LastIndexByte(token, '.')
	enc, _, _ := strings.Cut(token, ".")
	if base64.RawURLEncoding.DecodedLen(len(enc)) > maxHeaderLen {
		return signed{}, fmt.Errorf("a header of more than %d bytes", maxHeaderLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return signed{}, errors.New("a header that is not base64url-encoded")
	}
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return signed{}, errors.New("a header that is not a JSON object of the expected types")
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		return signed{}, errors.New("a signature that is not base64url-encoded")
	}
	return signed{header: h, input: token[:i], sig: sig}, nil
}

// checkHeader refuses a token signed with an algorithm the API server
// does not use, or with critical extensions.
func checkHeader(h header) error {
	if _, ok := algorithms[h.Alg]; !ok {
		return fmt.Errorf("%w: the service account token is signed with %q: Kubernetes signs them with RS256, ES256, ES384 or ES512",
			auth.ErrInvalidCredentials, clip(h.Alg, 32))
	}
	if len(h.Crit) > 0 && string(h.Crit) != "null" {
		return fmt.Errorf("%w: the service account token has critical header extensions, which Kubernetes never sets", auth.ErrInvalidCredentials)
	}
	return nil
}

// publicKey is a key of the service account issuer with the one
// algorithm it verifies.
type publicKey struct {
	alg string // RS256, ES256, ES384 or ES512
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// verify checks the signature of t, whose header algorithm checkHeader
// accepted, with k.
func (k publicKey) verify(t signed) error {
	if t.header.Alg != k.alg {
		return fmt.Errorf("%w: the service account token is signed with %s, but its key %q signs with %s",
			auth.ErrInvalidCredentials, t.header.Alg, clip(t.header.Kid, 64), k.alg)
	}
	h := algorithms[k.alg]()
	h.Write([]byte(t.input))
	digest := h.Sum(nil)
	ok := false
	switch {
	case k.rsa != nil:
		ok = rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, t.sig) == nil
	case k.ec != nil:
		// r and s, each the size of the curve's order, big-endian (RFC
		// 7518, 3.4), not ASN.1.
		n := (k.ec.Curve.Params().N.BitLen() + 7) / 8
		if len(t.sig) == 2*n {
			r, s := new(big.Int).SetBytes(t.sig[:n]), new(big.Int).SetBytes(t.sig[n:])
			ok = ecdsa.Verify(k.ec, digest, r, s)
		}
	}
	if !ok {
		return fmt.Errorf("%w: the signature of the service account token does not verify with the cluster's key %q: the token is forged or altered",
			auth.ErrInvalidCredentials, clip(t.header.Kid, 64))
	}
	return nil
}
