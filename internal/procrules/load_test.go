package procrules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// rule returns the YAML of a valid rule with id, with extra lines appended
// to the rule's mapping.
func rule(id string, extra ...string) string {
	s := "  - id: " + id + "\n    title: T\n    severity: high\n    rationale: R\n    remediation: M\n"
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	if !strings.Contains(s, "match:") {
		s += "    match:\n      exeBasenames: [x]\n"
	}
	return s
}

func TestLoadErrors(t *testing.T) {
	many := func(n int) string {
		s := "rules:\n"
		for i := range n {
			s += rule(fmt.Sprintf("r%d", i))
		}
		return s
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
		is    error
	}{
		{"unknown rule field", map[string]string{"a.yaml": "rules:\n" + rule("x", "severty: low")},
			[]string{"a.yaml: rule 1 (id \"x\")", `unknown field "severty"`}, nil},
		{"unknown match field", map[string]string{"a.yaml": "rules:\n" + rule("ok") + rule("yy", "match:", "  exeBasename: [sh]")},
			[]string{"a.yaml: rule 2 (id \"yy\")", `unknown field "exeBasename"`}, nil},
		{"unknown top-level field", map[string]string{"a.yaml": "rule:\n" + rule("x")},
			[]string{"a.yaml", `unknown field "rule"`, "rules"}, nil},
		{"bad severity", map[string]string{"a.yaml": "rules:\n" + rule("x", "severityInProduction: urgent")},
			[]string{`a.yaml: rule 1 (id "x")`, `severityInProduction "urgent": want critical, high, medium or low`}, nil},
		{"severity info", map[string]string{"a.yaml": strings.Replace("rules:\n"+rule("x"), "high", "info", 1)},
			[]string{`severity "info"`}, nil},
		{"duplicate id in a file", map[string]string{"a.yaml": "rules:\n" + rule("x") + rule("x")},
			[]string{`a.yaml: rule 2 (id "x")`, "duplicate rule id", "earlier in the file"}, ErrDuplicateID},
		{"duplicate id across files", map[string]string{"a.yaml": "rules:\n" + rule("x"), "b/c.yml": "rules:\n" + rule("x")},
			[]string{`b/c.yml: rule 1 (id "x")`, "used in a.yaml"}, ErrDuplicateID},
		{"duplicate key", map[string]string{"a.yaml": "rules:\n" + rule("x", "title: again")},
			[]string{"a.yaml", `"title" already set`}, nil},
		{"empty match", map[string]string{"a.yaml": "rules:\n" + rule("x", "match: {}")},
			[]string{`a.yaml: rule 1 (id "x")`, "match is empty"}, nil},
		{"match narrowed only", map[string]string{"a.yaml": "rules:\n" + rule("x", "match:", "  production: true", "  imageIsShell: false")},
			[]string{"match is empty"}, nil},
		{"no match", map[string]string{"a.yaml": "rules:\n  - {id: x, title: T, severity: low, rationale: R, remediation: M}\n"},
			[]string{"match is empty"}, nil},
		{"oversized file", map[string]string{"a.yaml": "rules:\n" + rule("x") + "# " + strings.Repeat("x", MaxFileSize) + "\n"},
			[]string{"a.yaml: file larger than"}, ErrTooLarge},
		{"too many rules", map[string]string{"a.yaml": many(MaxRules + 1)},
			[]string{"a.yaml: 1001 rules, more than 1000"}, ErrTooLarge},
		{"too many rules in all", map[string]string{"a.yaml": many(MaxRules), "b.yaml": "rules:\n" + rule("other")},
			[]string{"b.yaml: more than 1000 rules in all"}, ErrTooLarge},
		{"two documents", map[string]string{"a.yaml": "rules:\n" + rule("x") + "---\nrules:\n" + rule("y")},
			[]string{"a.yaml: 2 YAML documents"}, nil},
		{"no rules", map[string]string{"a.yaml": "# nothing yet\nrules: []\n"},
			[]string{"a.yaml: no rules"}, nil},
		{"empty file", map[string]string{"a.yaml": ""},
			[]string{"a.yaml: no rules"}, nil},
		{"not a mapping", map[string]string{"a.yaml": "- id: x\n"},
			[]string{"a.yaml", "a mapping with one key, rules"}, nil},
		{"bad id", map[string]string{"a.yaml": "rules:\n" + rule("Shell_Rule")},
			[]string{`id "Shell_Rule": want lower-case letters`}, nil},
		{"missing remediation", map[string]string{"a.yaml": "rules:\n" + strings.Replace(rule("x"), "    remediation: M\n", "", 1)},
			[]string{`rule 1 (id "x"): remediation is empty`}, nil},
		{"relative prefix", map[string]string{"a.yaml": "rules:\n" + rule("x", "match:", "  exePathPrefixes: [tmp]")},
			[]string{`match.exePathPrefixes "tmp": want an absolute directory`}, nil},
		{"path as a basename", map[string]string{"a.yaml": "rules:\n" + rule("x", "match:", "  exeBasenames: [/bin/sh]")},
			[]string{`match.exeBasenames "/bin/sh"`, "use exePathPrefixes"}, nil},
		{"bad pattern", map[string]string{"a.yaml": "rules:\n" + rule("x", "match:", "  exeBasenames: [\"pip[\"]")},
			[]string{`match.exeBasenames "pip["`, "bad pattern"}, nil},
		{"empty entry", map[string]string{"a.yaml": "rules:\n" + rule("x", "match:", "  argsContain: [\"\"]")},
			[]string{"match.argsContain: an empty entry"}, nil},
		{"question out of range", map[string]string{"a.yaml": "rules:\n" + rule("x", "question: 11")},
			[]string{"question 11: want a mission question from 1 to 10"}, nil},
		{"wrong type", map[string]string{"a.yaml": "rules:\n" + rule("x", "match:", "  notInImage: maybe")},
			[]string{`a.yaml: rule 1 (id "x")`, "bool"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			rules, err := Load(fsys)
			if err == nil {
				t.Fatalf("Load succeeded with %d rules, want an error", len(rules))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml":        {Data: []byte("# comment\n---\nrules:\n" + rule("b") + rule("a"))},
		"sub/c.YML":     {Data: []byte("rules:\n" + rule("c", "match:", "  argsContain: [--evil]", "  production: true"))},
		"README.md":     {Data: []byte("not rules")},
		"notes/x.json":  {Data: []byte("{}")},
		"sub/empty.txt": {Data: nil},
	}
	rules, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rules {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, ","), "b,a,c"; got != want {
		t.Errorf("ids %s, want %s (file order, then order in the file)", got, want)
	}
	rs, err := (*Ruleset)(nil).With(rules...)
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Evaluate(Event{Exe: "/bin/x", Args: []string{"x", "--evil"}, Production: true}); len(got) != 3 {
		t.Errorf("got %d findings, want 3: %+v", len(got), got)
	}
	if got := rs.Evaluate(Event{Exe: "/bin/x", Args: []string{"x", "--evil"}}); len(got) != 2 {
		t.Errorf("outside production: got %d findings, want 2: %+v", len(got), got)
	}
}

func TestLoadFile(t *testing.T) {
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "dup.yaml")
	if err := os.WriteFile(p, []byte("rules:\n"+rule("x")+rule("x")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(p); !errors.Is(err, ErrDuplicateID) || !strings.Contains(err.Error(), p) {
		t.Errorf("duplicate ids: %v, want an error naming %s", err, p)
	}
	if rules, err := LoadFile("testdata/valid/custom.yaml"); err != nil || len(rules) != 2 {
		t.Errorf("LoadFile(custom.yaml) = %d rules, %v", len(rules), err)
	}
}
