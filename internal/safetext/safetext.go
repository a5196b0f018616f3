// Package safetext makes text that comes from clusters, images and agents
// safe to print on one terminal line. Object names, labels, executable
// paths and arguments are written by whoever can create a pod or build an
// image; control characters in them could move the cursor, forge lines or
// reorder what a reader sees.
package safetext

import (
	"strings"
	"unicode/utf8"
)

// OneLine returns s with control characters (C0, DEL, C1, line and
// paragraph separators), bidirectional controls and bytes that are not
// UTF-8 replaced by '?'. It returns s itself when nothing needs replacing.
func OneLine(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, Unsafe) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if Unsafe(r) || r == utf8.RuneError && size <= 1 {
			b.WriteByte('?')
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Unsafe reports whether r must not reach a terminal as is.
func Unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidirectional controls
	}
	return false
}
