package procrules_test

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/procrules"
	"github.com/palisade-project/palisade/internal/sbom"
)

// TestNotInImagePaths checks binary-not-in-image against an image's list
// of executables for the paths an exec record can carry: the path as
// passed to execve when the process was gone before the agent read it.
// The rule fires only for a path the list places outside the image, and
// stays silent for one it cannot place.
func TestNotInImagePaths(t *testing.T) {
	list := &sbom.Executables{
		Files: []string{"/app/server", "/usr/bin/dash", "/usr/bin/ls"},
		Links: map[string]string{"/bin": "/usr/bin", "/usr/bin/sh": "/usr/bin/dash"},
	}
	inImage := func(p string) (known, present bool) {
		present, known = list.Contains(p)
		return known, present
	}
	rs := procrules.Builtin()
	tests := []struct {
		exe      string
		fires    bool
		evidence string // in the finding's evidence, when it fires
	}{
		{"/app/server", false, ""},
		{"/bin/sh", false, ""},
		{"/bin/../bin/ls", false, ""},
		{"/tmp/evil", true, "not in the image's file list"},
		{"/tmp/evil (deleted)", true, "not in the image's file list"},
		// /bin is /usr/bin: the kernel runs /usr/usr/bin/ls.
		{"/bin/../usr/bin/ls", true, `"/bin/../usr/bin/ls" not in the image's file list`},
		{"/usr/bin/../../tmp/evil", true, `"/usr/bin/../../tmp/evil" not in the image's file list`},

		// Unknown: the rule stays silent.
		{"./evil", false, ""},
		{"evil", false, ""},
		{"../tmp/evil", false, ""},
		{"", false, ""},
		{"/proc/self/exe", false, ""},
		{"/proc/1/root/tmp/evil", false, ""},
		{"/dev/fd/3", false, ""},
		{"/memfd:payload (deleted)", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.exe, func(t *testing.T) {
			e := procrules.Event{Exe: tc.exe, Args: []string{tc.exe}, ImageCmd: []string{"/app/server"}, InImage: inImage}
			var got *procrules.Finding
			for _, f := range rs.Evaluate(e) {
				if f.RuleID == "binary-not-in-image" {
					got = &f
				}
			}
			switch {
			case tc.fires && got == nil:
				t.Errorf("binary-not-in-image is silent; want it to fire")
			case !tc.fires && got != nil:
				t.Errorf("binary-not-in-image fires (%s); want it silent", got.Evidence)
			case got != nil && !strings.Contains(got.Evidence, tc.evidence):
				t.Errorf("evidence %q; want it to contain %q", got.Evidence, tc.evidence)
			}
		})
	}
}
