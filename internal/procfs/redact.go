package procfs

import (
	"regexp"
	"strings"
)

// Redacted replaces a secret in an argument.
const Redacted = "<redacted>"

// secretKey is the end of a key whose value is a secret: "password",
// "db_password", "-Dspring.datasource.password", "client-secret",
// "access_token", "x-api-key", "AWS_SECRET_ACCESS_KEY". The word must end
// the key, so "--token-auth-file=/etc/tokens.csv" keeps its path.
const secretKey = `[a-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key|secret[_-]?access[_-]?key)`

// The default patterns, shared by every Options: a *regexp.Regexp is safe
// for concurrent use (do not call Longest on them).
var (
	reSecretValue = regexp.MustCompile(`(?i)` + secretKey + `=([^\s&;]+)`)
	reURLPassword = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@`)
	reAWSKeyID    = regexp.MustCompile(`\b((?:AKIA|ASIA)[0-9A-Z]{16})\b`)
	reBearer      = regexp.MustCompile(`(?i)\bbearer\s+([a-z0-9._~+/=-]+)`)
	reSecretFlag  = regexp.MustCompile(`(?i)^--?` + secretKey + `$`)
	reBearerWord  = regexp.MustCompile(`(?i)^bearer$`)
)

// DefaultRedact returns the default patterns of secrets inside one
// argument (a fresh slice: append your own). The first capturing group of
// each is what gets redacted:
//
//   - key=value pairs whose key ends in password, passwd, secret, token,
//     apikey, api_key or api-key (case-insensitive), anywhere in the
//     argument: "--password=…", "-Ddb.password=…", "host=db password=…"
//     (the value ends at white space, '&' or ';');
//   - the password of a URL's userinfo: "postgres://app:…@db/app" keeps
//     the user;
//   - AWS access key IDs (AKIA… and temporary ASIA…);
//   - HTTP bearer tokens: "Authorization: Bearer …";
//   - env-style AWS_SECRET_ACCESS_KEY=… (a key=value pair, above).
//
// mysql's "-pSECRET" is too ambiguous to redact ("-p" is a port or a path
// elsewhere) and is left alone.
func DefaultRedact() []*regexp.Regexp {
	return []*regexp.Regexp{reSecretValue, reURLPassword, reAWSKeyID, reBearer}
}

// DefaultRedactNext returns the default patterns of an argument whose
// following argument is a secret: "--password", "--token",
// "--client-secret", "--api-key" (one or two dashes, any key ending as in
// DefaultRedact), and a lone "Bearer".
func DefaultRedactNext() []*regexp.Regexp {
	return []*regexp.Regexp{reSecretFlag, reBearerWord}
}

// mayMatch holds, for the default patterns, a cheap test that is true
// whenever the pattern can match, so that most arguments skip the regexp
// engine. A test must never be false where its pattern matches: any
// non-ASCII byte makes the case-insensitive ones true, since (?i) also
// folds K to the Kelvin sign and s to the long s.
var mayMatch = map[*regexp.Regexp]func(string) bool{
	reSecretValue: func(a string) bool { return strings.IndexByte(a, '=') >= 0 && mayHoldSecretWord(a) },
	reURLPassword: func(a string) bool { return strings.Contains(a, "://") && strings.IndexByte(a, '@') >= 0 },
	reAWSKeyID:    func(a string) bool { return strings.Contains(a, "AKIA") || strings.Contains(a, "ASIA") },
	reBearer:      func(a string) bool { return !isASCII(a) || containsFold(a, "bearer") },
	reSecretFlag:  func(a string) bool { return len(a) > 1 && a[0] == '-' && mayHoldSecretWord(a) },
	reBearerWord:  func(a string) bool { return len(a) == len("bearer") },
}

// mayHoldSecretWord is the common part of the words of secretKey.
func mayHoldSecretWord(a string) bool {
	return !isASCII(a) || containsFold(a, "pass") || containsFold(a, "secret") || containsFold(a, "token") || containsFold(a, "key")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// containsFold reports whether s contains the lowercase ASCII word w,
// ignoring ASCII case.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for j < len(w) && s[i+j]|0x20 == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

type pattern struct {
	re       *regexp.Regexp
	mayMatch func(string) bool // nil: always try
}

type redactor struct {
	inArg, next []pattern
}

func newRedactor(inArg, next []*regexp.Regexp) redactor {
	patterns := func(res []*regexp.Regexp) []pattern {
		ps := make([]pattern, len(res))
		for i, re := range res {
			ps[i] = pattern{re: re, mayMatch: mayMatch[re]}
		}
		return ps
	}
	return redactor{inArg: patterns(inArg), next: patterns(next)}
}

func (p pattern) match(a string) bool {
	return (p.mayMatch == nil || p.mayMatch(a)) && p.re.MatchString(a)
}

// redact replaces secrets in args, in place, and reports whether it did.
func (r redactor) redact(args []string) ([]string, bool) {
	changed := false
	secretNext := false
	for i, a := range args {
		if secretNext {
			secretNext = false
			if a != Redacted {
				args[i], changed = Redacted, true
			}
			continue
		}
		for _, p := range r.next {
			if p.match(a) {
				secretNext = true
				break
			}
		}
		red := a
		for _, p := range r.inArg {
			if p.mayMatch == nil || p.mayMatch(red) {
				red = replaceSecrets(p.re, red)
			}
		}
		if red != a {
			args[i], changed = red, true
		}
	}
	return args, changed
}

// replaceSecrets replaces, in each match of re, its first capturing group
// (the whole match when re has none) with Redacted.
func replaceSecrets(re *regexp.Regexp, s string) string {
	ms := re.FindAllStringSubmatchIndex(s, -1)
	if ms == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		lo, hi := m[0], m[1]
		if len(m) >= 4 && m[2] >= 0 {
			lo, hi = m[2], m[3]
		}
		if lo < last || lo == hi || s[lo:hi] == Redacted {
			continue
		}
		b.WriteString(s[last:lo])
		b.WriteString(Redacted)
		last = hi
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
