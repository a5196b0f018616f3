// Package procrules owns the suspicious-process rules of question 8: shells
// in images that do not run one, package managers, network tools, binaries
// the image does not contain, execution from temporary directories, crypto
// miners and privilege-changing tools. The built-in rules are data
// (rules/*.yaml, embedded); users add rules in the same format with Load or
// LoadFile. A Ruleset evaluates one process execution at a time and knows
// nothing of where the event came from: the caller resolves the container's
// command, whether it runs in production and what the image's SBOM lists.
package procrules

import (
	"cmp"
	"embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

//go:embed rules/*.yaml
var builtinFS embed.FS

// QuestionProcesses is the mission question process rules answer by default.
const QuestionProcesses = 8

// Rule is one suspicious-process rule, as written in YAML.
type Rule struct {
	// ID names the rule: lower-case letters, digits and dashes.
	ID    string `json:"id"`
	Title string `json:"title"`
	// Severity is critical, high, medium or low.
	Severity model.Severity `json:"severity"`
	// SeverityInProduction, when set, replaces Severity for processes of
	// production workloads.
	SeverityInProduction model.Severity `json:"severityInProduction,omitempty"`
	// Question is the mission question the rule answers (1 to 10); 8 when
	// omitted.
	Question    int    `json:"question,omitempty"`
	Rationale   string `json:"rationale"`
	Remediation string `json:"remediation"`
	Match       Match  `json:"match"`
}

// Match holds a rule's criteria. Every criterion is optional and all that
// are set must hold; a list criterion holds when any of its entries does.
// A rule needs at least one of ExeBasenames, ExePathPrefixes, ArgsContain
// or NotInImage: ImageIsShell and Production only narrow a rule.
type Match struct {
	// ExeBasenames are program names (path.Match patterns such as "pip3*"
	// are allowed) compared with the process's names: the basename of its
	// executable, the applet of a multi-call binary (busybox, toybox) and
	// the script or module an interpreter (python, node, ruby, perl, php)
	// runs. See Names.
	ExeBasenames []string `json:"exeBasenames,omitempty"`
	// ExePathPrefixes are directories ("/tmp"); the executable must lie
	// under one. Prefixes match whole path components.
	ExePathPrefixes []string `json:"exePathPrefixes,omitempty"`
	// ArgsContain holds when any argument contains any of these strings.
	ArgsContain []string `json:"argsContain,omitempty"`
	// NotInImage holds when the image's list of executables (what its
	// scan found; sbom.Executables) is known and complete and contains
	// neither the executable nor a link to it. A path the list cannot
	// place (relative, under /proc, a file descriptor, a file-less
	// executable) is unknown: the rule stays silent.
	NotInImage bool `json:"notInImage,omitempty"`
	// Fileless holds when the executable has no file: an anonymous memory
	// file (memfd_create, shown as "/memfd:NAME") or a file descriptor
	// (fexecve, execveat: "/dev/fd/N", "/proc/self/fd/N").
	Fileless bool `json:"fileless,omitempty"`
	// ImageIsShell, when set, requires the container's command to be (true)
	// or not to be (false) a shell. See IsShellCommand.
	ImageIsShell *bool `json:"imageIsShell,omitempty"`
	// Production, when set, requires the workload to be (true) or not to
	// be (false) production.
	Production *bool `json:"production,omitempty"`
}

// Event is one process execution in a container.
type Event struct {
	// Exe is the executable's path as the kernel resolves it
	// (/proc/<pid>/exe, inside the container's mount namespace) or, for a
	// process gone before the agent read it, as it was passed to execve:
	// possibly relative, or with ".." after a link.
	Exe string
	// Args is the full command line, argv[0] included, as
	// /proc/<pid>/cmdline gives it (secrets already redacted).
	Args []string
	// ImageEntrypoint and ImageCmd are the container's effective command:
	// the image config's, replaced by the pod spec's command and args where
	// those are set. Both empty means unknown, which counts as not a shell.
	ImageEntrypoint []string
	ImageCmd        []string
	// Production tells whether the workload runs in production.
	Production bool
	// InImage reports whether the image's list of executables is known
	// and complete and, if it is, whether it contains path. Nil means
	// unknown. It is given Exe as it came, without " (deleted)" but not
	// cleaned: ".." is resolved after the links before it, as the kernel
	// does, so only the list can clean it.
	InImage func(path string) (known, present bool)
}

// Finding is one rule an event matched.
type Finding struct {
	RuleID      string         `json:"ruleId"`
	Title       string         `json:"title"`
	Severity    model.Severity `json:"severity"`
	Rationale   string         `json:"rationale"`
	Remediation string         `json:"remediation"`
	// Evidence says, in one line, what matched.
	Evidence string `json:"evidence"`
}

// Ruleset is an immutable, validated list of rules.
type Ruleset struct {
	rules []compiled
}

// compiled is a validated rule with its basenames split into exact names
// and patterns.
type compiled struct {
	Rule
	names    map[string]bool
	patterns []string
}

// Builtin returns the built-in rules. They are validated by the package's
// tests, so a failure here is a build defect and panics.
func Builtin() *Ruleset {
	rules, err := Load(builtinFS)
	if err != nil {
		panic(fmt.Sprintf("procrules: built-in rules: %v", err))
	}
	rs, err := (&Ruleset{}).With(rules...)
	if err != nil {
		panic(fmt.Sprintf("procrules: built-in rules: %v", err))
	}
	return rs
}

// With returns a new ruleset holding rs's rules and extra, each validated.
// A rule whose id is already in use is an error: copy a built-in rule under
// a new id to change it. rs may be nil.
func (rs *Ruleset) With(extra ...Rule) (*Ruleset, error) {
	var have []compiled
	if rs != nil {
		have = rs.rules
	}
	if len(have)+len(extra) > MaxRules {
		return nil, fmt.Errorf("%d rules: more than %d", len(have)+len(extra), MaxRules)
	}
	out := &Ruleset{rules: slices.Clone(have)}
	ids := make(map[string]bool, len(have)+len(extra))
	for _, c := range have {
		ids[c.ID] = true
	}
	for _, r := range extra {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.ID, err)
		}
		if ids[r.ID] {
			return nil, fmt.Errorf("rule %q: %w", r.ID, ErrDuplicateID)
		}
		ids[r.ID] = true
		out.rules = append(out.rules, compile(r))
	}
	slices.SortFunc(out.rules, func(a, b compiled) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Rules returns the rules, sorted by id, with defaults applied.
func (rs *Ruleset) Rules() []Rule {
	out := make([]Rule, len(rs.rules))
	for i, c := range rs.rules {
		out[i] = c.Rule
		out[i].Match = c.Match.clone()
	}
	return out
}

func (m Match) clone() Match {
	m.ExeBasenames = slices.Clone(m.ExeBasenames)
	m.ExePathPrefixes = slices.Clone(m.ExePathPrefixes)
	m.ArgsContain = slices.Clone(m.ArgsContain)
	if m.ImageIsShell != nil {
		m.ImageIsShell = new(*m.ImageIsShell)
	}
	if m.Production != nil {
		m.Production = new(*m.Production)
	}
	return m
}

func compile(r Rule) compiled {
	if r.Question == 0 {
		r.Question = QuestionProcesses
	}
	r.Match = r.Match.clone()
	c := compiled{Rule: r, names: map[string]bool{}}
	for _, n := range r.Match.ExeBasenames {
		if strings.ContainsAny(n, `*?[\`) {
			c.patterns = append(c.patterns, n)
		} else {
			c.names[n] = true
		}
	}
	return c
}

// Evaluate returns the findings of every rule e matches, most severe first,
// then by rule id.
func (rs *Ruleset) Evaluate(e Event) []Finding {
	if rs == nil || e.Exe == "" {
		return nil
	}
	p := newProcess(e)
	var out []Finding
	for i := range rs.rules {
		c := &rs.rules[i]
		ev, ok := c.match(p)
		if !ok {
			continue
		}
		sev := c.Severity
		if e.Production && c.SeverityInProduction != "" {
			sev = c.SeverityInProduction
		}
		out = append(out, Finding{
			RuleID: c.ID, Title: c.Title, Severity: sev,
			Rationale: c.Rationale, Remediation: c.Remediation,
			Evidence: ev,
		})
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(b.Severity.Rank()-a.Severity.Rank(), strings.Compare(a.RuleID, b.RuleID))
	})
	return out
}

// process is an event with what every rule needs computed once.
type process struct {
	e     Event
	raw   string // e.Exe without " (deleted)", for InImage
	exe   string // raw, cleaned
	names []string
	shell *bool // whether the container's command is a shell, computed on demand
}

func newProcess(e Event) *process {
	raw := strings.TrimSuffix(e.Exe, " (deleted)")
	exe := path.Clean(raw)
	return &process{e: e, raw: raw, exe: exe, names: Names(exe, e.Args)}
}

func (p *process) imageIsShell() bool {
	if p.shell == nil {
		p.shell = new(IsShellCommand(slices.Concat(p.e.ImageEntrypoint, p.e.ImageCmd)))
	}
	return *p.shell
}

// match reports whether p matches c and, if so, the evidence.
func (c *compiled) match(p *process) (string, bool) {
	m := &c.Match
	if m.Production != nil && *m.Production != p.e.Production {
		return "", false
	}
	var ev []string
	if len(m.ExeBasenames) > 0 {
		name, ok := c.matchName(p.names)
		if !ok {
			return "", false
		}
		if name == path.Base(p.exe) {
			ev = append(ev, "exe "+quote(p.exe))
		} else {
			ev = append(ev, "exe "+quote(p.exe)+" running "+quote(name))
		}
	} else {
		ev = append(ev, "exe "+quote(p.exe))
	}
	if len(m.ExePathPrefixes) > 0 {
		dir, ok := underAny(p.exe, m.ExePathPrefixes)
		if !ok {
			return "", false
		}
		ev = append(ev, "under "+dir)
	}
	if len(m.ArgsContain) > 0 {
		arg, sub, ok := argsContain(p.e.Args, m.ArgsContain)
		if !ok {
			return "", false
		}
		ev = append(ev, "argument "+quote(arg)+" contains "+quote(sub))
	}
	if m.NotInImage {
		if p.e.InImage == nil {
			return "", false
		}
		known, present := p.e.InImage(p.raw)
		if !known || present {
			return "", false
		}
		if p.raw != p.exe {
			ev = append(ev, quote(p.raw)+" not in the image's file list")
		} else {
			ev = append(ev, "not in the image's file list")
		}
	}
	if m.Fileless {
		if !Fileless(p.raw) {
			return "", false
		}
		ev = append(ev, "no file behind the executable")
	}
	if m.ImageIsShell != nil {
		if p.imageIsShell() != *m.ImageIsShell {
			return "", false
		}
		cmdline := slices.Concat(p.e.ImageEntrypoint, p.e.ImageCmd)
		switch {
		case len(cmdline) == 0:
			ev = append(ev, "container command unknown")
		case *m.ImageIsShell:
			ev = append(ev, "container command "+quote(strings.Join(cmdline, " "))+" is a shell")
		default:
			ev = append(ev, "container command "+quote(strings.Join(cmdline, " "))+" is not a shell")
		}
	}
	if p.e.Production {
		ev = append(ev, "production")
	}
	return strings.Join(ev, "; "), true
}

func (c *compiled) matchName(names []string) (string, bool) {
	for _, n := range names {
		if c.names[n] {
			return n, true
		}
		for _, pat := range c.patterns {
			if ok, _ := path.Match(pat, n); ok {
				return n, true
			}
		}
	}
	return "", false
}

// underAny returns the first of dirs that contains p.
func underAny(p string, dirs []string) (string, bool) {
	for _, d := range dirs {
		d = strings.TrimSuffix(d, "/")
		if d == "" { // "/" contains everything
			return "/", true
		}
		if p == d || strings.HasPrefix(p, d+"/") {
			return d, true
		}
	}
	return "", false
}

func argsContain(args, subs []string) (arg, sub string, ok bool) {
	for _, a := range args {
		for _, s := range subs {
			if strings.Contains(a, s) {
				return a, s, true
			}
		}
	}
	return "", "", false
}

// maxEvidenceQuote bounds each quoted value in evidence.
const maxEvidenceQuote = 200

// quote quotes s for evidence: control characters escaped, long values cut.
func quote(s string) string {
	if len(s) > maxEvidenceQuote {
		cut := maxEvidenceQuote
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Fileless reports whether an executable's path names no file: an
// anonymous memory file ("/memfd:NAME", as /proc/<pid>/exe shows one) or a
// file descriptor ("/dev/fd/N", "/proc/self/fd/N", "/proc/PID/fd/N", as
// execve is given one by fexecve).
//
// The memory file's name is the caller's choice, so no name is exempt:
// the container runtime's own init (runc running a copy of itself from a
// memory file) is told apart by the node agent, from its parent outside
// the container, and never reported.
func Fileless(exe string) bool {
	if strings.HasPrefix(exe, "/memfd:") {
		return true
	}
	if !strings.HasPrefix(exe, "/") {
		return false
	}
	// Classified after cleaning, so that "/proc/self//fd/3" or
	// "/dev/fd/./3" are what the kernel makes of them; ".." after a link
	// cannot lead out of these kernel-made directories into a file.
	exe = path.Clean(exe)
	switch exe {
	case "/dev/stdin", "/dev/stdout", "/dev/stderr":
		return true
	}
	dir, fd := path.Split(exe)
	if !digits(fd) {
		return false
	}
	parts := strings.Split(strings.Trim(dir, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "dev" && parts[1] == "fd":
		return true
	case len(parts) == 3 && parts[0] == "proc" && parts[2] == "fd":
		return procSelf(parts[1])
	case len(parts) == 5 && parts[0] == "proc" && parts[2] == "task" && parts[4] == "fd":
		return procSelf(parts[1]) && digits(parts[3])
	}
	return false
}

// procSelf reports whether a /proc entry names a process: self,
// thread-self or a pid.
func procSelf(s string) bool { return s == "self" || s == "thread-self" || digits(s) }

func digits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
