#!/usr/bin/env bash
# Builds the control-plane binaries used by the integration tests and the lab
# (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd,
# kwok) from the Go module proxy, and caches them under
# ~/.cache/palisade/controlplane/<versions>/bin. Prints that directory.
# Safe to run concurrently: a lock serialises builders.
#
# With --check it builds nothing: it prints the directory and exits 0 when
# every binary is there, or names the missing ones and exits 3.
set -euo pipefail

check=false
if [ "${1:-}" = "--check" ]; then check=true; fi

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0
here=$(cd "$(dirname "$0")" && pwd)
cache=${PALISADE_CACHE:-$HOME/.cache/palisade}
out="$cache/controlplane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"
want="kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok"
if $check; then
	missing=""
	for b in $want; do [ -x "$out/$b" ] || missing="$missing $b"; done
	if [ -n "$missing" ]; then echo "missing in $out:$missing" >&2; exit 3; fi
	echo "$out"; exit 0
fi
mkdir -p "$out"

exec 9>"$out/.lock"
flock 9

missing=""
for b in $want; do [ -x "$out/$b" ] || missing="$missing $b"; done
if [ -z "$missing" ]; then echo "$out"; exit 0; fi

export GOFLAGS=-mod=mod
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
for b in $missing; do
	case $b in
	etcd)
		(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" .) ;;
	kwok)
		GOBIN="$out/kwok.d" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
		mv "$out/kwok.d/kwok" "$out/kwok.tmp"; rmdir "$out/kwok.d" ;;
	*)
		(cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$out/$b.tmp" "k8s.io/kubernetes/cmd/$b") ;;
	esac
	mv "$out/$b.tmp" "$out/$b"
	echo "built $b" >&2
done
echo "$out"
