// Package corpora tests Palisade against material nobody on the team wrote:
// real application manifests, the Pod Security Admission fixtures and the
// OPA Gatekeeper library suites, read in place from ../shared/corpora (see
// its README.md). The tests never copy that data into this repository; they
// skip when the folder is absent, except under CI=true where they fail.
package corpora
