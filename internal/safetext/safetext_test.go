package safetext

import "testing"

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain /usr/bin/nginx": "plain /usr/bin/nginx",
		"a\nb\tc\rd":           "a?b?c?d",
		"\x1b]0;title\x07":     "?]0;title?",
		"csi\u009b2J":          "csi?2J",
		"rtl\u202eevil":        "rtl?evil",
		"sep\u2028line":        "sep?line",
		"bad\xffutf8":          "bad?utf8",
		"unicode é 日本 ok":      "unicode é 日本 ok",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
