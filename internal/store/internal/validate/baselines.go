package validate

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/store"
)

// MaxBaselineBody bounds the JSON of one baseline: the largest baseline
// the other limits allow, baseline.DefaultMaxExecutables paths of
// baseline.MaxPathLen bytes, takes about 4 MiB, so only paths full of
// characters JSON escapes reach it.
const MaxBaselineBody = 8 << 20

// Baseline is a baseline as the stores write it.
type Baseline struct {
	Key baseline.Key
	// Body is the baseline as JSON, times in UTC.
	Body []byte
	// LockedAt is the baseline's, in UTC; zero while it learns.
	LockedAt time.Time
}

// Baselines refuses a batch of which any baseline the stores could not keep
// as given, or baseline.Set.Restore would refuse, naming the first bad one,
// and returns the baselines to write: encoded, sorted by key, one per key,
// the last of a repeated key winning. Sorted writers lock rows in one
// order, and PostgreSQL's ON CONFLICT DO UPDATE refuses a key twice in one
// statement. bs is not modified.
func Baselines(bs []baseline.Baseline) ([]Baseline, error) {
	out := make([]Baseline, len(bs))
	for i, b := range bs {
		enc, err := encodeBaseline(b)
		if err != nil {
			return nil, fmt.Errorf("storing %d baselines: baseline %d (digest %.80q, container %.80q): %w; nothing was stored",
				len(bs), i, b.Digest, b.Container, err)
		}
		out[i] = enc
	}
	slices.SortStableFunc(out, func(a, b Baseline) int { return CompareBaselineKeys(a.Key, b.Key) })
	// Keep the last of each run of one key.
	n := 0
	for i, b := range out {
		if i+1 < len(out) && out[i+1].Key == b.Key {
			continue
		}
		out[n] = b
		n++
	}
	return out[:n], nil
}

// CompareBaselineKeys orders keys by digest then container, bytewise: the
// order of store.Baselines.AllBaselines.
func CompareBaselineKeys(a, b baseline.Key) int {
	return cmp.Or(strings.Compare(a.Digest, b.Digest), strings.Compare(a.Container, b.Container))
}

func encodeBaseline(b baseline.Baseline) (Baseline, error) {
	if err := baselineKeyPart("image digest", b.Digest); err != nil {
		return Baseline{}, err
	}
	if err := baselineKeyPart("container name", b.Container); err != nil {
		return Baseline{}, err
	}
	if n := len(b.Executables); n > baseline.DefaultMaxExecutables {
		return Baseline{}, fmt.Errorf("%d executables, more than the limit of %d", n, baseline.DefaultMaxExecutables)
	}
	for j, e := range b.Executables {
		switch {
		case e == "":
			return Baseline{}, fmt.Errorf("executable %d is empty", j)
		case len(e) > baseline.MaxPathLen:
			return Baseline{}, fmt.Errorf("executable %d is %d bytes, longer than %d", j, len(e), baseline.MaxPathLen)
		case !utf8.ValidString(e):
			// JSON would replace the bad bytes: the path read back would
			// not be the path stored.
			return Baseline{}, fmt.Errorf("executable %d, %.80q, is not valid UTF-8", j, e)
		}
	}
	if !utf8.ValidString(b.LockedBy) {
		return Baseline{}, errors.New("lockedBy is not valid UTF-8")
	}
	if b.Locked() != (b.LockedBy != "") {
		return Baseline{}, errors.New("lockedAt and lockedBy must be set together")
	}
	c := b
	c.FirstSeen, c.LearningSince, c.LockedAt = UTC(b.FirstSeen), UTC(b.LearningSince), UTC(b.LockedAt)
	if c.Executables == nil {
		c.Executables = []string{}
	}
	body, err := json.Marshal(c)
	if err != nil {
		return Baseline{}, fmt.Errorf("encoding: %w", err)
	}
	if len(body) > MaxBaselineBody {
		return Baseline{}, fmt.Errorf("its JSON is %d bytes, over the limit of %d MiB", len(body), MaxBaselineBody>>20)
	}
	return Baseline{Key: b.Key, Body: body, LockedAt: c.LockedAt}, nil
}

// baselineKeyPart refuses a digest or container name that is empty, over
// store.MaxBaselineKeyLen, not UTF-8 or holding NUL (PostgreSQL's text
// refuses both).
func baselineKeyPart(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > store.MaxBaselineKeyLen:
		return fmt.Errorf("%s of %d bytes, longer than %d", what, len(s), store.MaxBaselineKeyLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%s holds a NUL byte", what)
	}
	return nil
}

// DecodeBaseline reads a baseline the stores wrote, under key (the row's,
// which the body's must match).
func DecodeBaseline(key baseline.Key, body []byte) (baseline.Baseline, error) {
	var b baseline.Baseline
	if err := json.Unmarshal(body, &b); err != nil {
		return baseline.Baseline{}, fmt.Errorf("baseline %s/%s: decoding: %w", key.Digest, key.Container, err)
	}
	if b.Key != key {
		return baseline.Baseline{}, fmt.Errorf("baseline %s/%s: its JSON is of %s/%s", key.Digest, key.Container, b.Digest, b.Container)
	}
	b.FirstSeen, b.LearningSince, b.LockedAt = UTC(b.FirstSeen), UTC(b.LearningSince), UTC(b.LockedAt)
	if b.Executables == nil {
		b.Executables = []string{}
	}
	return b, nil
}

// BaselineKeys returns a sorted copy of keys without repeats and without
// keys no stored baseline can have (empty, overlong, NUL, not UTF-8, which
// PostgreSQL would refuse to compare), so that both stores delete in one
// order, touch each key once and take such keys as missing. keys is not
// modified.
func BaselineKeys(keys []baseline.Key) []baseline.Key {
	out := slices.DeleteFunc(slices.Clone(keys), func(k baseline.Key) bool {
		return baselineKeyPart("", k.Digest) != nil || baselineKeyPart("", k.Container) != nil
	})
	slices.SortFunc(out, CompareBaselineKeys)
	return slices.Compact(out)
}

// BaselineChunks splits bs into consecutive chunks of at most maxRows
// baselines whose bodies total at most maxBytes, as MatchChunks does.
func BaselineChunks(bs []Baseline, maxRows, maxBytes int) iter.Seq[[]Baseline] {
	return chunks(bs, func(b Baseline) int { return len(b.Body) }, maxRows, maxBytes)
}
