package corpora

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/privilege"
)

// psaVersion is the fixture version of the Pod Security Admission corpus.
const psaVersion = "v1.37"

// checkHostPort names the hostports PSA check on Palisade's side: it is
// answered by the exposed question (a Via of kind hostPort), not by
// privilege.Check.
const checkHostPort = "hostPort"

// psaBaselineChecks maps a baseline fixture's name prefix (the file name
// names the PSA check) to the Palisade checks that must flag its fail/
// fixtures. nil means the PSA check is out of scope for question 6; its
// fixtures must then trip none of the in-scope checks.
//
// In scope (question 6, "privileged or host access"):
//   - privileged, windowshostprocess -> privilege check "privileged"
//     (windowshostprocess fixtures also set hostNetwork, which PSA requires
//     for HostProcess pods, so "hostNetwork" is expected as well)
//   - hostnamespaces -> hostPID / hostIPC / hostNetwork (per fixture below)
//   - hostpathvolumes -> hostPath
//   - capabilities_baseline -> capabilities; the baseline allows adding
//     AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD,
//     NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT
//   - hostports -> a Via of kind hostPort in the exposed answer
//
// Out of scope, because Palisade's model has no check for them (they harden
// a pod rather than grant it host access): apparmorprofile, seccompprofile,
// selinuxoptions, procmount, sysctls, and hostprobesandhostlifecycle (probe
// and lifecycle handlers aimed at another host).
var psaBaselineChecks = map[string][]string{
	"privileged":                 {privilege.CheckPrivileged},
	"windowshostprocess":         {privilege.CheckHostNetwork, privilege.CheckPrivileged},
	"hostnamespaces":             {}, // per fixture: psaHostNamespaces
	"hostpathvolumes":            {privilege.CheckHostPath},
	"capabilities_baseline":      {privilege.CheckCapabilities},
	"hostports":                  {checkHostPort},
	"apparmorprofile":            nil,
	"seccompprofile_baseline":    nil,
	"selinuxoptions":             nil,
	"procmount":                  nil,
	"sysctls":                    nil,
	"hostprobesandhostlifecycle": nil,
	"base":                       nil, // pass/base.yaml: the compliant starting point
}

// psaHostNamespaces says which host namespace each hostnamespaces fixture
// shares (read from the files).
var psaHostNamespaces = map[string][]string{
	"hostnamespaces0.yaml": {privilege.CheckHostIPC},
	"hostnamespaces1.yaml": {privilege.CheckHostNetwork},
	"hostnamespaces2.yaml": {privilege.CheckHostPID},
}

// psaInScope are the Palisade checks the baseline cases assert on.
var psaInScope = []string{privilege.CheckPrivileged, privilege.CheckHostPID, privilege.CheckHostIPC, privilege.CheckHostNetwork, privilege.CheckHostPath, privilege.CheckCapabilities, checkHostPort}

// psaRestrictedChecks covers, beyond the brief's baseline scope, the two
// restricted-level checks that are question-6 checks in Palisade:
// allowPrivilegeEscalation, and runAsUser 0 (runAsRoot). Every restricted
// pass/ fixture must have neither finding. Skipped at restricted: the
// baseline checks again (same fixtures as baseline), runasnonroot (Palisade
// treats a non-zero runAsUser as enough while restricted requires
// runAsNonRoot: true; the brief leaves it out), capabilities_restricted
// (Palisade does not check drop: ALL), restrictedvolumes, seccomp.
var psaRestrictedChecks = map[string][]string{
	"allowprivilegeescalation": {privilege.CheckAllowPrivilegeEscalation},
	"runasuser":                {privilege.CheckRunAsRoot},
}

var psaRestrictedInScope = []string{privilege.CheckAllowPrivilegeEscalation, privilege.CheckRunAsRoot}

// psaPrefix returns the check part of a fixture name: "hostports2.yaml" is
// hostports.
func psaPrefix(file string) string {
	return strings.TrimRight(strings.TrimSuffix(file, ".yaml"), "0123456789")
}

// psaFindings loads one fixture and returns the distinct checks among
// inScope that Palisade reports for it.
func psaFindings(t *testing.T, path string, inScope []string) []string {
	t.Helper()
	ix := loadIndex(t, path)
	if n := len(ix.Workloads()); n != 1 {
		t.Fatalf("%s: got %d workloads, want the fixture's one pod", path, n)
	}
	var got []string
	for _, f := range privilege.Check(ix.Workloads()[0]) {
		if slices.Contains(inScope, f.Check) {
			got = append(got, f.Check)
		}
	}
	if slices.Contains(inScope, checkHostPort) && hasHostPortVia(ix) {
		got = append(got, checkHostPort)
	}
	sort.Strings(got)
	return slices.Compact(got)
}

func hasHostPortVia(ix *inventory.Index) bool {
	e, _ := answer.NewEngine(answer.Config{})
	for _, it := range e.Exposed(ix, answer.Filter{}).Items {
		if slices.ContainsFunc(it.Via, func(v exposure.Via) bool { return v.Kind == exposure.ViaHostPort }) {
			return true
		}
	}
	return false
}

func readFixtures(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestPodSecurityAdmission runs the PSA fixtures: every fail/ fixture of an
// in-scope check is flagged by exactly the matching Palisade checks, and no
// pass/ fixture (nor a fail/ fixture of an out-of-scope check) trips any
// in-scope check.
func TestPodSecurityAdmission(t *testing.T) {
	base := corpusDir(t, "misconfig", "pod-security-admission", "test", "testdata")

	t.Run("baseline", func(t *testing.T) {
		covered, skipped := map[string]int{}, map[string]int{}
		for _, dir := range []string{"fail", "pass"} {
			for _, file := range readFixtures(t, filepath.Join(base, "baseline", psaVersion, dir)) {
				t.Run(dir+"/"+file, func(t *testing.T) {
					prefix := psaPrefix(file)
					checks, known := psaBaselineChecks[prefix]
					if !known {
						t.Fatalf("fixture %s names check %q, which this test does not classify: add it to psaBaselineChecks", file, prefix)
					}
					want := []string{}
					if dir == "fail" && checks != nil {
						want = checks
						if prefix == "hostnamespaces" {
							want = psaHostNamespaces[file]
							if want == nil {
								t.Fatalf("hostnamespaces fixture %s is not in psaHostNamespaces", file)
							}
						}
					}
					if checks == nil {
						skipped[dir+"/"+prefix]++
					} else {
						covered[dir+"/"+prefix]++
					}
					got := psaFindings(t, filepath.Join(base, "baseline", psaVersion, dir, file), psaInScope)
					expect(t, "psa/baseline/"+dir+"/"+file, slices.Equal(want, got), "in-scope checks: want %v, Palisade reports %v", want, got)
				})
			}
		}
		t.Logf("PSA baseline %s: fixtures per covered check %v; fixtures of out-of-scope checks (asserted clean of in-scope checks) %v", psaVersion, covered, skipped)
	})

	t.Run("restricted", func(t *testing.T) {
		covered := map[string]int{}
		for _, dir := range []string{"fail", "pass"} {
			for _, file := range readFixtures(t, filepath.Join(base, "restricted", psaVersion, dir)) {
				want := []string{}
				if dir == "fail" {
					checks, ok := psaRestrictedChecks[psaPrefix(file)]
					if !ok {
						continue // see psaRestrictedChecks for what is skipped
					}
					want = checks
				}
				covered[dir]++
				t.Run(dir+"/"+file, func(t *testing.T) {
					got := psaFindings(t, filepath.Join(base, "restricted", psaVersion, dir, file), psaRestrictedInScope)
					expect(t, "psa/restricted/"+dir+"/"+file, slices.Equal(want, got), "allowPrivilegeEscalation/runAsRoot: want %v, Palisade reports %v", want, got)
				})
			}
		}
		t.Logf("PSA restricted %s: %d fail fixtures (allowprivilegeescalation, runasuser) and %d pass fixtures checked", psaVersion, covered["fail"], covered["pass"])
	})
	checkGapsSeen(t, "psa/")
}
