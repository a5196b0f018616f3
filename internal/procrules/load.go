package procrules

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"

	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/model"
)

// Bounds on rule input.
const (
	// MaxFileSize is the largest rule file read.
	MaxFileSize = 1 << 20
	// MaxRules is the most rules one Load, LoadFile or Ruleset holds.
	MaxRules = 1000
	// MaxFiles is the most rule files Load reads.
	MaxFiles = 1000
	// maxListEntries bounds each list of a rule's match criteria.
	maxListEntries = 1000
	// maxTextLen bounds each string of a rule.
	maxTextLen = 4096
)

// Errors callers may branch on.
var (
	ErrDuplicateID = errors.New("duplicate rule id")
	ErrTooLarge    = errors.New("too large")
)

// file is the layout of a rule file.
type file struct {
	Rules []json.RawMessage `json:"rules"`
}

// LoadFile reads the rules of one YAML file.
func LoadFile(name string) ([]Rule, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	defer f.Close()
	rules, err := parse(name, f)
	if err != nil {
		return nil, err
	}
	if err := checkIDs(name, rules, nil); err != nil {
		return nil, err
	}
	return rules, nil
}

// Load reads the rules of every .yaml and .yml file in fsys, walked in
// lexical order. Ids must be unique across all files.
func Load(fsys fs.FS) ([]Rule, error) {
	var (
		rules []Rule
		files int
		seen  = map[string]string{} // id → file
	)
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading rules: %w", err)
		}
		if d.IsDir() || !isRuleFile(p) {
			return nil
		}
		if files++; files > MaxFiles {
			return fmt.Errorf("more than %d rule files: %w", MaxFiles, ErrTooLarge)
		}
		f, err := fsys.Open(p)
		if err != nil {
			return fmt.Errorf("reading rules: %w", err)
		}
		defer f.Close()
		rs, err := parse(p, f)
		if err != nil {
			return err
		}
		if err := checkIDs(p, rs, seen); err != nil {
			return err
		}
		if len(rules)+len(rs) > MaxRules {
			return fmt.Errorf("%s: more than %d rules in all: %w", p, MaxRules, ErrTooLarge)
		}
		rules = append(rules, rs...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rules, nil
}

func isRuleFile(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".yaml", ".yml":
		return true
	}
	return false
}

// checkIDs rejects an id used twice in rules or already in seen (id → file
// it came from), and records rules' ids in seen.
func checkIDs(name string, rules []Rule, seen map[string]string) error {
	if seen == nil {
		seen = map[string]string{}
	}
	for i, r := range rules {
		if prev, ok := seen[r.ID]; ok {
			if prev == name {
				return fmt.Errorf("%s: rule %d (id %q): %w: the id is used earlier in the file", name, i+1, r.ID, ErrDuplicateID)
			}
			return fmt.Errorf("%s: rule %d (id %q): %w: the id is used in %s", name, i+1, r.ID, ErrDuplicateID, prev)
		}
		seen[r.ID] = name
	}
	return nil
}

// parse decodes and validates one rule file: a single YAML document with a
// rules list, unknown fields and duplicate keys rejected.
func parse(name string, r io.Reader) ([]Rule, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: file larger than %d bytes: %w", name, MaxFileSize, ErrTooLarge)
	}
	if n, err := countDocuments(data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	} else if n > 1 {
		return nil, fmt.Errorf("%s: %d YAML documents: put every rule in the one rules: list of a single document", name, n)
	}
	var f file
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w (a rule file is a mapping with one key, rules, holding a list of rules)", name, err)
	}
	if len(f.Rules) == 0 {
		return nil, fmt.Errorf("%s: no rules: want a rules: list with at least one rule", name)
	}
	if len(f.Rules) > MaxRules {
		return nil, fmt.Errorf("%s: %d rules, more than %d: %w", name, len(f.Rules), MaxRules, ErrTooLarge)
	}
	rules := make([]Rule, 0, len(f.Rules))
	for i, raw := range f.Rules {
		var rule Rule
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rule); err != nil {
			return nil, fmt.Errorf("%s: rule %d%s: %w", name, i+1, idOf(raw), err)
		}
		if err := rule.validate(); err != nil {
			return nil, fmt.Errorf("%s: rule %d (id %q): %w", name, i+1, rule.ID, err)
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// idOf returns " (id \"x\")" for a rule that names its id, for errors.
func idOf(raw json.RawMessage) string {
	var r struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &r) != nil || r.ID == "" {
		return ""
	}
	return fmt.Sprintf(" (id %q)", r.ID)
}

// countDocuments counts the non-blank YAML documents of data.
func countDocuments(data []byte) (int, error) {
	yr := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	n := 0
	for {
		doc, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading YAML: %w", err)
		}
		if !isBlank(doc) {
			n++
		}
	}
}

// isBlank reports whether a YAML document holds only blank lines, comments
// and separators.
func isBlank(doc []byte) bool {
	for line := range strings.Lines(string(doc)) {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)

// validate checks one rule and says what to write instead.
func (r *Rule) validate() error {
	if !idPattern.MatchString(r.ID) {
		return fmt.Errorf("id %q: want lower-case letters, digits and dashes, at most 64 characters, e.g. shell-in-web-server", r.ID)
	}
	for _, s := range []struct{ field, v string }{{"title", r.Title}, {"rationale", r.Rationale}, {"remediation", r.Remediation}} {
		if strings.TrimSpace(s.v) == "" {
			return fmt.Errorf("%s is empty: every rule says what it finds, why it matters and what to do", s.field)
		}
		if len(s.v) > maxTextLen {
			return fmt.Errorf("%s longer than %d bytes", s.field, maxTextLen)
		}
	}
	if !validSeverity(r.Severity) {
		return fmt.Errorf("severity %q: want critical, high, medium or low", r.Severity)
	}
	if r.SeverityInProduction != "" && !validSeverity(r.SeverityInProduction) {
		return fmt.Errorf("severityInProduction %q: want critical, high, medium or low", r.SeverityInProduction)
	}
	if r.Question != 0 && (r.Question < 1 || r.Question > 10) {
		return fmt.Errorf("question %d: want a mission question from 1 to 10 (process rules answer 8)", r.Question)
	}
	return r.Match.validate()
}

func validSeverity(s model.Severity) bool {
	switch s {
	case model.SeverityCritical, model.SeverityHigh, model.SeverityMedium, model.SeverityLow:
		return true
	}
	return false
}

func (m *Match) validate() error {
	if len(m.ExeBasenames) == 0 && len(m.ExePathPrefixes) == 0 && len(m.ArgsContain) == 0 && !m.NotInImage && !m.Fileless {
		return errors.New("match is empty: set at least one of exeBasenames, exePathPrefixes, argsContain, notInImage or fileless (imageIsShell and production only narrow a rule)")
	}
	lists := []struct {
		field string
		v     []string
		check func(string) error
	}{
		{"exeBasenames", m.ExeBasenames, func(s string) error {
			if strings.Contains(s, "/") {
				return errors.New("a program name has no slash: use exePathPrefixes for directories")
			}
			if _, err := path.Match(s, ""); err != nil {
				return fmt.Errorf("bad pattern: %w", err)
			}
			return nil
		}},
		{"exePathPrefixes", m.ExePathPrefixes, func(s string) error {
			if !strings.HasPrefix(s, "/") {
				return errors.New("want an absolute directory such as /tmp")
			}
			return nil
		}},
		{"argsContain", m.ArgsContain, func(string) error { return nil }},
	}
	for _, l := range lists {
		if len(l.v) > maxListEntries {
			return fmt.Errorf("match.%s: %d entries, more than %d", l.field, len(l.v), maxListEntries)
		}
		for _, s := range l.v {
			if s == "" {
				return fmt.Errorf("match.%s: an empty entry", l.field)
			}
			if len(s) > maxTextLen {
				return fmt.Errorf("match.%s: an entry longer than %d bytes", l.field, maxTextLen)
			}
			if err := l.check(s); err != nil {
				return fmt.Errorf("match.%s %q: %w", l.field, s, err)
			}
		}
	}
	return nil
}
