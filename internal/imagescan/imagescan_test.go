package imagescan

import "testing"

func TestRunsAsRoot(t *testing.T) {
	for user, want := range map[string]bool{
		"": true, "root": true, "0": true, "0:0": true, "root:root": true, "000": true, " 0 ": true,
		"1000": false, "1000:0": false, "nobody": false, "app:app": false, "65532": false,
	} {
		if got := RunsAsRoot(user); got != want {
			t.Errorf("RunsAsRoot(%q) = %v, want %v", user, got, want)
		}
	}
}
