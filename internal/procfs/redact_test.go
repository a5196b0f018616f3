package procfs

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	const r = Redacted
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"nothing secret", []string{"nginx", "-g", "daemon off;"}, nil},
		{"--password=", []string{"app", "--password=hunter2", "--port=8080"}, []string{"app", "--password=" + r, "--port=8080"}},
		{"--token next argument", []string{"kubectl", "--token", "eyJhbGciOiJSUzI1NiJ9.x.y", "get", "pods"}, []string{"kubectl", "--token", r, "get", "pods"}},
		{"--client-secret next argument", []string{"oauth2-proxy", "--client-secret", "s3cr3t"}, []string{"oauth2-proxy", "--client-secret", r}},
		{"-password next argument, single dash", []string{"java", "-password", "changeit"}, []string{"java", "-password", r}},
		{"flag last, nothing follows", []string{"app", "--token"}, nil},
		{"key=value case-insensitive", []string{"env", "PASSWORD=a", "Passwd=b", "SECRET=c", "token=d", "APIKEY=e", "api_key=f", "Api-Key=g"},
			[]string{"env", "PASSWORD=" + r, "Passwd=" + r, "SECRET=" + r, "token=" + r, "APIKEY=" + r, "api_key=" + r, "Api-Key=" + r}},
		{"key ends in a secret word", []string{"java", "-Dspring.datasource.password=pw", "--db-password=pw2", "client_secret=cs", "access_token=at"},
			[]string{"java", "-Dspring.datasource.password=" + r, "--db-password=" + r, "client_secret=" + r, "access_token=" + r}},
		{"key not ending in a secret word", []string{"kube-apiserver", "--token-auth-file=/etc/tokens.csv", "--secret-name=db", "--tokenizer=bert"}, nil},
		{"libpq connection string", []string{"psql", "host=db user=app password=hunter2 dbname=app"}, []string{"psql", "host=db user=app password=" + r + " dbname=app"}},
		{"query string", []string{"curl", "https://api.example.com/v1?access_token=abc123&page=2"}, []string{"curl", "https://api.example.com/v1?access_token=" + r + "&page=2"}},
		{"URL userinfo", []string{"app", "--db=postgres://app:hunter2@db.internal:5432/app"}, []string{"app", "--db=postgres://app:" + r + "@db.internal:5432/app"}},
		{"URL without user", []string{"redis-cli", "-u", "redis://:s3cret@redis:6379/0"}, []string{"redis-cli", "-u", "redis://:" + r + "@redis:6379/0"}},
		{"URL without password", []string{"git", "clone", "https://user@github.com/org/repo"}, nil},
		{"URL with port, no userinfo", []string{"curl", "http://localhost:8080/health"}, nil},
		{"AWS access key", []string{"aws", "--key", "AKIAIOSFODNN7EXAMPLE"}, []string{"aws", "--key", r}},
		{"AWS access key inside", []string{"sh", "-c", "export AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE; run"}, []string{"sh", "-c", "export AWS_ACCESS_KEY_ID=" + r + "; run"}},
		{"AWS secret key env-style", []string{"env", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "run"}, []string{"env", "AWS_SECRET_ACCESS_KEY=" + r, "run"}},
		{"bearer header", []string{"curl", "-H", "Authorization: Bearer eyJhbGciOi.eyJzdWIi.SflKxwRJ", "https://api"}, []string{"curl", "-H", "Authorization: Bearer " + r, "https://api"}},
		{"bearer as its own argument", []string{"tool", "Bearer", "abc.def"}, []string{"tool", "Bearer", r}},
		{"mysql -p is left alone", []string{"mysql", "-uroot", "-pSECRET"}, nil},
		{"two secrets in one argument", []string{"sh", "-c", "a password=x b token=y"}, []string{"sh", "-c", "a password=" + r + " b token=" + r}},
		{"already redacted", []string{"app", "--password=" + r}, nil},
	}
	red := newRedactor(DefaultRedact(), DefaultRedactNext())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.args
			}
			got, changed := red.redact(slices.Clone(tc.args))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("redact (-want +got):\n%s", diff)
			}
			if changed != (tc.want != nil) {
				t.Errorf("changed = %v, want %v", changed, tc.want != nil)
			}
		})
	}
}

func TestRedactOptions(t *testing.T) {
	args := []string{"app", "--password=x", "--token", "y", "--pin=1234"}
	t.Run("none", func(t *testing.T) {
		red := newRedactor([]*regexp.Regexp{}, []*regexp.Regexp{})
		got, changed := red.redact(slices.Clone(args))
		if changed || !slices.Equal(got, args) {
			t.Errorf("redact = %q, %v; want unchanged", got, changed)
		}
	})
	t.Run("own pattern without group, appended", func(t *testing.T) {
		o := Options{Redact: append(DefaultRedact(), regexp.MustCompile(`--pin=\d+`))}.withDefaults()
		red := newRedactor(o.Redact, o.RedactNext)
		got, _ := red.redact(slices.Clone(args))
		want := []string{"app", "--password=" + Redacted, "--token", Redacted, Redacted}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("redact (-want +got):\n%s", diff)
		}
	})
	t.Run("single pattern (no combined prefilter)", func(t *testing.T) {
		red := newRedactor([]*regexp.Regexp{regexp.MustCompile(`pin=(\d+)`)}, nil)
		got, _ := red.redact(slices.Clone(args))
		want := []string{"app", "--password=x", "--token", "y", "--pin=" + Redacted}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("redact (-want +got):\n%s", diff)
		}
	})
}

// TestRedactLongArgument checks a bounded argument full of near-matches
// stays cheap (RE2 is linear) and correct.
func TestRedactLongArgument(t *testing.T) {
	arg := strings.Repeat("password=", 400) + "x"
	red := newRedactor(DefaultRedact(), DefaultRedactNext())
	got, changed := red.redact([]string{arg})
	if !changed || strings.Contains(got[0], "=x") {
		t.Errorf("redact left the secret: %.60q…", got[0])
	}
}

// TestMayMatch checks the shortcuts of the default patterns never skip an
// argument the pattern matches, on pieces of secrets glued at random,
// Unicode case folds included.
func TestMayMatch(t *testing.T) {
	pieces := []string{"password", "PassWd", "secret", "tOkEn", "api-key", "apikey", "api_key", "AWS_SECRET_ACCESS_KEY", "=", "x", "-", "--",
		"://", "@", ":", "/", "user", "AKIA", "ASIA", "IOSFODNN7EXAMPLE", "Bearer", "bearer", " ", "\t", "&", ";",
		"\u212a", "\u017f", "paſſword", "to\u212aen", "ſecret", "é", "\xff"}
	r := rand.New(rand.NewPCG(3, 4))
	matched := map[*regexp.Regexp]int{}
	for range 200_000 {
		var b strings.Builder
		for range 1 + r.IntN(6) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		a := b.String()
		for re, may := range mayMatch {
			if re.MatchString(a) {
				matched[re]++
				if !may(a) {
					t.Fatalf("%s matches %q but its shortcut says it cannot", re, a)
				}
			}
		}
	}
	for re := range mayMatch {
		if matched[re] == 0 {
			t.Errorf("%s never matched: the test says nothing about it", re)
		}
	}
	// The folds the shortcuts must not miss.
	for _, a := range []string{"paſſword=x", "to\u212aen=x", "--ſecret"} {
		if !reSecretValue.MatchString(a) && !reSecretFlag.MatchString(a) {
			t.Errorf("no default pattern matches %q: the Unicode fold case is moot", a)
		}
	}
}
