// Package validate holds the checks both store implementations apply
// before writing scans, advisories, the KEV catalog and baselines, so that
// SQLite and PostgreSQL refuse exactly the same input.
package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/store"
)

// MaxScanBody bounds the JSON of one SBOM or one match's findings: an image
// with a million packages stays well under it, and nothing larger is read
// back into memory.
const MaxScanBody = 64 << 20

// EncodeSBOM checks sb and returns its JSON, times in UTC.
func EncodeSBOM(sb *sbom.SBOM) ([]byte, error) {
	if sb == nil {
		return nil, errors.New("storing SBOM: nil SBOM")
	}
	if sb.Digest == "" {
		return nil, errors.New("storing SBOM: empty image digest")
	}
	c := *sb
	c.CreatedAt = UTC(c.CreatedAt)
	c.Config.Created = UTC(c.Config.Created)
	body, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("storing SBOM of %s: encoding: %w", sb.Digest, err)
	}
	if len(body) > MaxScanBody {
		return nil, fmt.Errorf("storing SBOM of %s: its JSON is %d bytes, over the limit of %d MiB; the image has too many packages or files to keep", sb.Digest, len(body), MaxScanBody>>20)
	}
	return body, nil
}

// Match refuses a match the stores could not keep as given.
func Match(m store.MatchResult) error {
	if m.Digest == "" {
		return errors.New("storing match: empty image digest")
	}
	if err := matchFindings(m); err != nil {
		return fmt.Errorf("storing match of %s: %w", m.Digest, err)
	}
	return nil
}

func matchFindings(m store.MatchResult) error {
	if len(m.Findings) == 0 {
		return errors.New("no findings JSON; use [] when nothing matched")
	}
	if len(m.Findings) > MaxScanBody {
		return fmt.Errorf("findings are %d bytes, over the limit of %d MiB", len(m.Findings), MaxScanBody>>20)
	}
	if !json.Valid(m.Findings) {
		return errors.New("findings are not valid JSON")
	}
	return nil
}

// Matches refuses a batch of which any match Match would refuse, naming
// the first bad one, and returns the matches to write: a copy of ms sorted
// by digest, one per digest, the last of a repeated digest winning. Sorted
// writers lock rows in one order, and PostgreSQL's ON CONFLICT DO UPDATE
// refuses a key twice in one statement. ms is not modified.
func Matches(ms []store.MatchResult) ([]store.MatchResult, error) {
	for i, m := range ms {
		if m.Digest == "" {
			return nil, fmt.Errorf("storing %d matches: match %d has an empty image digest; nothing was stored", len(ms), i)
		}
		if err := matchFindings(m); err != nil {
			return nil, fmt.Errorf("storing %d matches: match %d, of %s: %w; nothing was stored", len(ms), i, m.Digest, err)
		}
	}
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b store.MatchResult) int { return strings.Compare(a.Digest, b.Digest) })
	// Keep the last of each run of one digest.
	n := 0
	for i, m := range out {
		if i+1 < len(out) && out[i+1].Digest == m.Digest {
			continue
		}
		out[n] = m
		n++
	}
	return out[:n], nil
}

// MatchChunks splits ms into consecutive chunks of at most maxRows matches
// whose findings total at most maxBytes, so that one statement stays small
// whatever the findings weigh; a match larger than maxBytes gets a chunk
// of its own.
func MatchChunks(ms []store.MatchResult, maxRows, maxBytes int) iter.Seq[[]store.MatchResult] {
	return chunks(ms, func(m store.MatchResult) int { return len(m.Findings) }, maxRows, maxBytes)
}

// chunks splits items into consecutive chunks of at most maxRows items
// whose sizes total at most maxBytes; an item larger than maxBytes gets a
// chunk of its own.
func chunks[T any](items []T, size func(T) int, maxRows, maxBytes int) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for start := 0; start < len(items); {
			end, total := start+1, size(items[start])
			for end < len(items) && end-start < maxRows && total+size(items[end]) <= maxBytes {
				total += size(items[end])
				end++
			}
			if !yield(items[start:end]) {
				return
			}
			start = end
		}
	}
}

// ScanStatus refuses a status the stores could not keep as given.
func ScanStatus(st store.ScanStatus) error {
	if st.Digest == "" {
		return errors.New("storing scan status: empty image digest")
	}
	if st.Failures < 0 {
		return fmt.Errorf("storing scan status of %s: negative failure count %d", st.Digest, st.Failures)
	}
	return nil
}

// Digests returns a sorted copy of digests without repeats, so that both
// stores delete in one order and touch each digest once. digests is not
// modified.
func Digests(digests []string) []string {
	out := slices.Clone(digests)
	slices.Sort(out)
	return slices.Compact(out)
}

// UTC returns t in UTC, keeping the zero time zero.
func UTC(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Advisories refuses an import that the stores could not keep as
// given: an unnamed source, a record of another source, an empty or
// repeated id, a body that is not JSON.
func Advisories(source store.AdvisorySource, recs []store.Advisory) error {
	if source.Name == "" {
		return errors.New("storing advisories: empty source name")
	}
	seen := make(map[string]struct{}, len(recs))
	for i, r := range recs {
		if r.Source != "" && r.Source != source.Name {
			return fmt.Errorf("storing advisories of source %q: record %d (%s) belongs to source %q", source.Name, i, r.ID, r.Source)
		}
		if r.ID == "" {
			return fmt.Errorf("storing advisories of source %q: record %d has no id", source.Name, i)
		}
		if _, dup := seen[r.ID]; dup {
			return fmt.Errorf("storing advisories of source %q: id %s appears twice", source.Name, r.ID)
		}
		seen[r.ID] = struct{}{}
		if !json.Valid(r.Body) {
			return fmt.Errorf("storing advisories of source %q: record %s is not valid JSON", source.Name, r.ID)
		}
	}
	return nil
}

// KEV refuses a KEV catalog the stores could not keep as given: no source
// name, or what kev.New refuses (no version, an invalid entry, a CVE id
// twice). It returns the entries to write, sorted by CVE id; entries is
// not modified.
func KEV(src store.KEVSource, entries []kev.Entry) ([]kev.Entry, error) {
	if src.Name == "" {
		return nil, errors.New("storing KEV catalog: empty source name; nothing was stored")
	}
	c, err := kev.New(src.Version, src.Released, entries)
	if err != nil {
		return nil, fmt.Errorf("storing KEV catalog %q: %w; nothing was stored", src.Name, err)
	}
	return c.Entries(), nil
}
