package tokenreview

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/auth"
)

// maxClaimsLen bounds the decoded claims of a token. A projected token's
// are about 600 bytes.
const maxClaimsLen = 8 << 10

// clockSkew is how far the exp and nbf claims may be off before a token
// is refused without a review: the API server's clock decides the rest.
const clockSkew = time.Minute

// claims are the claims of a Kubernetes service account token that
// precheck reads, for example:
//
//	{"aud":["palisade"],"exp":1795655738,"iat":1795655138,
//	 "iss":"https://kubernetes.default.svc.cluster.local","jti":"…",
//	 "kubernetes.io":{"namespace":"palisade","node":{"name":"n1","uid":"…"},
//	   "pod":{"name":"palisade-agent-x1","uid":"…"},"serviceaccount":{"name":"palisade-agent","uid":"…"}},
//	 "nbf":1795655138,"sub":"system:serviceaccount:palisade:palisade-agent"}
type claims struct {
	Sub string   `json:"sub"`
	Aud audience `json:"aud"`
	// Numeric dates: seconds, an integer in Kubernetes' tokens.
	Exp *float64 `json:"exp"`
	Nbf *float64 `json:"nbf"`
	K8s struct {
		Node *struct {
			Name string `json:"name"`
		} `json:"node"`
	} `json:"kubernetes.io"`
}

// audience is the aud claim: one string or a list of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(b, []byte(`"`)) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// parseClaims decodes the claims of a JWT without checking its signature.
func parseClaims(token string) (claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, fmt.Errorf("%d parts, not 3", len(parts))
	}
	if base64.RawURLEncoding.DecodedLen(len(parts[1])) > maxClaimsLen {
		return claims{}, fmt.Errorf("claims of more than %d bytes", maxClaimsLen)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, fmt.Errorf("claims not base64url-encoded")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return claims{}, fmt.Errorf("claims not a JSON object of the expected types")
	}
	return c, nil
}

// precheck refuses, without a review, a token that the review could
// never accept: claims that cannot be read, expired or not yet valid,
// issued for another audience (when audience is set), of a user that is
// not one of accounts ("namespace:name"), or bound to no node. The
// claims are not authenticated: passing says nothing, and only the API
// server's review proves a token. It returns the token's expiry when it
// has one.
func precheck(token string, now time.Time, audience string, accounts map[string]bool) (time.Time, error) {
	reject := func(format string, args ...any) (time.Time, error) {
		return time.Time{}, fmt.Errorf("%w: %s", auth.ErrInvalidCredentials, fmt.Sprintf(format, args...))
	}
	c, err := parseClaims(token)
	if err != nil {
		return reject("the bearer credential is not a Kubernetes service account token: %v", err)
	}
	var exp time.Time
	if c.Exp != nil {
		exp = numericDate(*c.Exp)
		if now.After(exp.Add(clockSkew)) {
			return reject("the service account token expired at %s: send the current one (the kubelet renews projected tokens before they expire)", exp.UTC().Format(time.RFC3339))
		}
	}
	if c.Nbf != nil {
		if nbf := numericDate(*c.Nbf); now.Add(clockSkew).Before(nbf) {
			return reject("the service account token is not valid before %s: check the clocks of the server and the cluster", nbf.UTC().Format(time.RFC3339))
		}
	}
	if audience != "" && !slices.Contains(c.Aud, audience) {
		// The integration test and clients match "does not accept the
		// service account token", as for the API server's refusal.
		return reject("Palisade does not accept the service account token: it is issued for %s, not for audience %q: project it with that audience",
			clip(strings.Join(c.Aud, ", "), 128), audience)
	}
	if err := checkAccount(c.Sub, accounts); err != nil {
		return time.Time{}, err
	}
	if c.K8s.Node == nil || c.K8s.Node.Name == "" {
		return time.Time{}, noNode(c.Sub)
	}
	return exp, nil
}

// numericDate converts a JWT NumericDate (seconds since the epoch), which
// may be out of any sensible range in a forged token.
func numericDate(sec float64) time.Time {
	const limit = 1 << 40 // about 36,000 years
	sec = max(min(sec, limit), -limit)
	return time.Unix(int64(sec), 0)
}

// checkAccount refuses a user that is not one of accounts
// ("namespace:name").
func checkAccount(user string, accounts map[string]bool) error {
	sa, ok := strings.CutPrefix(user, auth.ServiceAccountPrefix)
	if !ok || strings.Count(sa, ":") != 1 {
		return fmt.Errorf("%w: %q is not a service account", auth.ErrInvalidCredentials, clip(user, 128))
	}
	if !accounts[sa] {
		return fmt.Errorf("%w: service account %s is not a Palisade agent's", auth.ErrInvalidCredentials, clip(strings.Replace(sa, ":", "/", 1), 256))
	}
	return nil
}

// noNode refuses the token of user, which names no node.
func noNode(user string) error {
	sa := strings.Replace(strings.TrimPrefix(user, auth.ServiceAccountPrefix), ":", "/", 1)
	return fmt.Errorf("%w: the token of service account %s names no node: send the projected token of an agent pod scheduled on its node (Kubernetes 1.30 or later)",
		auth.ErrInvalidCredentials, sa)
}
