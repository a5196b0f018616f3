// Package integration holds Palisade's integration tests against a real
// Kubernetes control plane (internal/testenv). They carry the build tag
// integration:
//
//	hack/build-controlplane.sh   # once; cached under ~/.cache/palisade
//	go test -tags integration ./test/integration/
//
// Without the binaries the tests skip, unless CI=true.
package integration
