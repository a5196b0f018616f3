package answer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/ownership"
	"github.com/palisade-project/palisade/internal/privilege"
)

// This file writes answers as JSON without reflection: the bytes are those
// of json.Marshal (HTML-safe escaping, sorted map keys, omitempty and
// omitzero as tagged), about four times faster, which matters for answers
// of ten megabytes. TestAppendJSONMatchesMarshal holds every item type to
// json.Marshal field by field, so a field added to an item without an
// appender here fails the test (TestAppendJSONPathsMatchesMarshal for the
// unused-paths items, whose appenders are in paths_json.go); items of
// other types fall back to json.Marshal.

// AppendJSON appends the JSON encoding of a to dst, byte for byte what
// json.Marshal(a) returns.
func (a *Answer[T]) AppendJSON(dst []byte) ([]byte, error) {
	// Grow once to a plausible size rather than doubling from small.
	want := len(dst) + 1024 + 256*len(a.Items)
	if its, ok := any(a.Items).([]netpaths.Item); ok {
		want = len(dst) + 1024 + pathsSize(its)
	}
	if cap(dst) < want {
		dst = append(make([]byte, 0, want), dst...)
	}
	dst = append(dst, `{"question":`...)
	dst = appendString(dst, a.Question)
	dst = append(dst, `,"title":`...)
	dst = appendString(dst, a.Title)
	dst = append(dst, `,"generatedAt":`...)
	t, err := a.GeneratedAt.MarshalJSON()
	if err != nil {
		return dst, fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
	}
	dst = append(dst, t...)
	if a.Filter != (Filter{}) {
		dst = append(dst, `,"filter":{`...)
		comma := false
		for _, kv := range [...][2]string{{`"cluster":`, a.Filter.Cluster}, {`"namespace":`, a.Filter.Namespace}, {`"cve":`, a.Filter.CVE}, {`"environment":`, a.Filter.Environment}} {
			if kv[1] == "" {
				continue
			}
			if comma {
				dst = append(dst, ',')
			}
			dst = append(dst, kv[0]...)
			dst = appendString(dst, kv[1])
			comma = true
		}
		dst = append(dst, '}')
	}
	if len(a.Notes) > 0 {
		dst = append(dst, `,"notes":`...)
		dst = appendStrings(dst, a.Notes)
	}
	dst = append(dst, `,"summary":`...)
	dst = appendSummary(dst, a.Summary)
	dst = append(dst, `,"items":`...)
	if a.Items == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range a.Items {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendItem(dst, &a.Items[i]); err != nil {
				return dst, err
			}
		}
		dst = append(dst, ']')
	}
	if len(a.Unmatched) > 0 {
		dst = append(dst, `,"unmatched":[`...)
		for i := range a.Unmatched {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendUnmatched(dst, &a.Unmatched[i])
		}
		dst = append(dst, ']')
	}
	// The unused-paths envelope: usage and denied are small next to the
	// items (at most netpaths.DefaultMaxDenied flows), the unprotected
	// workloads may be thousands.
	if a.Usage != nil {
		b, err := json.Marshal(a.Usage)
		if err != nil {
			return dst, err
		}
		dst = append(append(dst, `,"usage":`...), b...)
	}
	if len(a.Unprotected) > 0 {
		dst = appendUnprotected(append(dst, `,"unprotected":`...), a.Unprotected)
	}
	if len(a.Denied) > 0 {
		b, err := json.Marshal(a.Denied)
		if err != nil {
			return dst, err
		}
		dst = append(append(dst, `,"denied":`...), b...)
	}
	return append(dst, '}'), nil
}

// appendItem appends one item, through json.Marshal for a type this file
// does not know.
func appendItem(dst []byte, it any) ([]byte, error) {
	switch it := it.(type) {
	case *imagetrust.Item:
		return appendImage(dst, it), nil
	case *privilege.Item:
		return appendPrivilege(dst, it), nil
	case *exposure.Item:
		return appendExposure(dst, it), nil
	case *ownership.Item:
		return appendOwner(dst, it), nil
	case *netpaths.Item:
		return appendPathsItem(dst, it)
	}
	b, err := json.Marshal(it)
	return append(dst, b...), err
}

func appendImage(dst []byte, it *imagetrust.Item) []byte {
	dst = append(dst, `{"workload":`...)
	dst = appendRef(dst, it.Workload)
	dst = append(dst, `,"container":`...)
	dst = appendString(dst, it.Container)
	dst = append(dst, `,"containerType":`...)
	dst = appendString(dst, string(it.ContainerType))
	dst = append(dst, `,"image":`...)
	dst = appendString(dst, it.Image)
	dst = append(dst, `,"original":`...)
	dst = appendString(dst, it.Original)
	dst = append(dst, `,"registry":`...)
	dst = appendString(dst, it.Registry)
	dst = append(dst, `,"repository":`...)
	dst = appendString(dst, it.Repository)
	dst = appendOptString(dst, `,"tag":`, it.Tag)
	dst = appendOptString(dst, `,"digest":`, it.Digest)
	dst = append(dst, `,"trusted":`...)
	dst = strconv.AppendBool(dst, it.Trusted)
	dst = append(dst, `,"verdict":`...)
	dst = appendString(dst, it.Verdict)
	dst = appendOptString(dst, `,"matchedRule":`, it.MatchedRule)
	dst = append(dst, `,"pinned":`...)
	dst = strconv.AppendBool(dst, it.Pinned)
	if len(it.RunningDigests) > 0 {
		dst = append(dst, `,"runningDigests":`...)
		dst = appendStrings(dst, it.RunningDigests)
	}
	dst = appendOptString(dst, `,"error":`, it.Error)
	return append(dst, '}')
}

func appendPrivilege(dst []byte, it *privilege.Item) []byte {
	dst = append(dst, `{"workload":`...)
	dst = appendRef(dst, it.Workload)
	dst = append(dst, `,"findings":`...)
	if it.Findings == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range it.Findings {
			f := &it.Findings[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"check":`...)
			dst = appendString(dst, f.Check)
			dst = append(dst, `,"container":`...)
			dst = appendString(dst, f.Container)
			dst = append(dst, `,"detail":`...)
			dst = appendString(dst, f.Detail)
			dst = append(dst, `,"severity":`...)
			dst = appendString(dst, string(f.Severity))
			dst = appendOptString(dst, `,"hostPath":`, f.HostPath)
			dst = appendOptString(dst, `,"capability":`, f.Capability)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"maxSeverity":`...)
	dst = appendString(dst, string(it.MaxSeverity))
	return append(dst, '}')
}

func appendExposure(dst []byte, it *exposure.Item) []byte {
	dst = append(dst, `{"workload":`...)
	dst = appendRef(dst, it.Workload)
	dst = append(dst, `,"level":`...)
	dst = appendString(dst, it.Level)
	dst = append(dst, `,"via":`...)
	if it.Via == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range it.Via {
			v := &it.Via[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"kind":`...)
			dst = appendString(dst, v.Kind)
			dst = append(dst, `,"name":`...)
			dst = appendString(dst, v.Name)
			dst = appendOptString(dst, `,"type":`, v.Type)
			if len(v.Ports) > 0 {
				dst = append(dst, `,"ports":`...)
				dst = appendStrings(dst, v.Ports)
			}
			if len(v.Hosts) > 0 {
				dst = append(dst, `,"hosts":`...)
				dst = appendStrings(dst, v.Hosts)
			}
			dst = append(dst, `,"level":`...)
			dst = appendString(dst, v.Level)
			dst = append(dst, `,"detail":`...)
			dst = appendString(dst, v.Detail)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func appendUnmatched(dst []byte, u *exposure.Unmatched) []byte {
	dst = append(dst, `{"cluster":`...)
	dst = appendString(dst, u.Cluster)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, u.Kind)
	dst = append(dst, `,"namespace":`...)
	dst = appendString(dst, u.Namespace)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, u.Name)
	dst = appendOptString(dst, `,"type":`, u.Type)
	if len(u.Hosts) > 0 {
		dst = append(dst, `,"hosts":`...)
		dst = appendStrings(dst, u.Hosts)
	}
	dst = appendOptString(dst, `,"backend":`, u.Backend)
	dst = append(dst, `,"detail":`...)
	dst = appendString(dst, u.Detail)
	return append(dst, '}')
}

func appendOwner(dst []byte, it *ownership.Item) []byte {
	dst = append(dst, `{"workload":`...)
	dst = appendRef(dst, it.Workload)
	dst = append(dst, `,"owner":`...)
	if it.Owner == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, *it.Owner)
	}
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, it.Source)
	return append(dst, '}')
}

func appendRef(dst []byte, r model.WorkloadRef) []byte {
	dst = append(dst, `{"cluster":`...)
	dst = appendString(dst, r.Cluster)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, string(r.Kind))
	dst = append(dst, `,"namespace":`...)
	dst = appendString(dst, r.Namespace)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, r.Name)
	return append(dst, '}')
}

func appendSummary(dst []byte, m map[string]int) []byte {
	if m == nil {
		return append(dst, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(m[k]), 10)
	}
	return append(dst, '}')
}

// appendOptString appends a field tagged omitempty: name, then s, unless
// s is empty.
func appendOptString(dst []byte, name, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, name...)
	return appendString(dst, s)
}

// appendStrings appends a string slice; nil is null.
func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// htmlSafe lists the ASCII bytes json.Marshal writes as they are: not
// control characters, quote, backslash, or the HTML-sensitive <, > and &.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string escaped as json.Marshal escapes
// it: \" \\ \b \f \n \r \t, other control characters and <, >, & as \u00XX,
// invalid UTF-8 as \ufffd, and U+2028 and U+2029 as \u2028 and \u2029.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
