#!/usr/bin/env bash
# Runs Palisade's whole test suite: unit tests, the store conformance suite
# on SQLite and a real PostgreSQL, the corpus tests, the integration tests
# against a real kube-apiserver and etcd built from the Go module proxy, and
# the image tests that scan a debootstrap-built Debian image and a Go binary
# (both cached under ~/.cache/palisade). It installs and starts what it
# needs (postgresql, debootstrap); the first run on a fresh machine takes
# ~10 minutes to build the control plane, later runs reuse the cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d /tmp/palisade-test.XXXXXX)
chmod 755 "$work"
cleanup() {
	hack/postgres.sh stop "$work/pg" >/dev/null 2>&1 || true
	[[ -n ${cp_pid:-} ]] && kill "$cp_pid" 2>/dev/null || true
	[[ -n ${img_pid:-} ]] && kill "$img_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# Debian packages the suite needs.
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ((${#need[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "test.sh: please install: ${need[*]}" >&2
		exit 1
	fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Build (or find cached) control-plane binaries while the unit tests run.
hack/build-controlplane.sh >"$work/controlplane.log" 2>&1 &
cp_pid=$!
# Build (or find cached) the root filesystems the image tests scan.
hack/build-test-images.sh >"$work/images.log" 2>&1 &
img_pid=$!

eval "$(hack/postgres.sh start "$work/pg")"
export PALISADE_TEST_POSTGRES

echo "== go vet"
go vet ./...
go vet -tags integration ./...
go vet -tags images ./...
echo "== unit, store and corpus tests"
go test -count=1 ./...

echo "== waiting for the control-plane binaries"
if ! wait "$cp_pid"; then
	cat "$work/controlplane.log" >&2
	echo "test.sh: building the control plane failed" >&2
	exit 1
fi
cp_pid=
echo "== integration tests (real kube-apiserver and etcd)"
# Every package with integration-tagged tests, so that a new one cannot be
# left out of CI.
mapfile -t integration_pkgs < <(grep -rl --include='*_test.go' '^//go:build integration' . | xargs -n1 dirname | sort -u)
go test -count=1 -tags integration "${integration_pkgs[@]}"

echo "== waiting for the test images"
if ! wait "$img_pid"; then
	cat "$work/images.log" >&2
	echo "test.sh: building the test images failed" >&2
	exit 1
fi
img_pid=
echo "== image tests (debootstrap and Go images through a loopback registry)"
go test -count=1 -tags images ./test/images/...
