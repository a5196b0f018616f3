#!/usr/bin/env bash
# Builds the root filesystems the image tests (test/images, build tag
# `images`) turn into OCI images, and caches them under
# ~/.cache/palisade/images (or $PALISADE_CACHE/images). Prints that directory.
#
#   debian12-minbase.tar  debootstrap --variant=minbase bookworm, packed with
#                         numeric owners (~50 s on first run, needs root and
#                         the Debian mirror; installs debootstrap if missing)
#
# Safe to run concurrently: a lock serialises builders, and every artefact is
# built under a temporary name and renamed when complete.
#
# With --check it builds nothing: it prints the directory and exits 0 when
# every artefact is there, or names the missing ones and exits 3.
set -euo pipefail

check=false
if [ "${1:-}" = "--check" ]; then check=true; fi

cache=${PALISADE_CACHE:-$HOME/.cache/palisade}
out="$cache/images"
want="debian12-minbase.tar"

missing_artefacts() {
	local m=""
	for f in $want; do [ -s "$out/$f" ] || m="$m $f"; done
	echo "$m"
}

if $check; then
	missing=$(missing_artefacts)
	if [ -n "$missing" ]; then echo "missing in $out:$missing" >&2; exit 3; fi
	echo "$out"; exit 0
fi
mkdir -p "$out"

exec 9>"$out/.lock"
flock 9

missing=$(missing_artefacts)
if [ -z "$missing" ]; then echo "$out"; exit 0; fi

for f in $missing; do
	case $f in
	debian12-minbase.tar)
		if ! command -v debootstrap >/dev/null; then
			if [ "$(id -u)" -ne 0 ]; then
				echo "build-test-images.sh: please install debootstrap (or run as root)" >&2
				exit 1
			fi
			export DEBIAN_FRONTEND=noninteractive
			apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
				{ apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
		fi
		if [ "$(id -u)" -ne 0 ]; then
			echo "build-test-images.sh: debootstrap needs root" >&2
			exit 1
		fi
		rootfs="$out/debian12-minbase.rootfs.tmp"
		rm -rf "$rootfs" "$out/$f.tmp"
		debootstrap --variant=minbase bookworm "$rootfs" >"$out/debootstrap.log" 2>&1 ||
			{ tail -n 30 "$out/debootstrap.log" >&2; rm -rf "$rootfs"; exit 1; }
		tar -C "$rootfs" --numeric-owner -cf "$out/$f.tmp" .
		rm -rf "$rootfs"
		;;
	esac
	mv "$out/$f.tmp" "$out/$f"
	echo "built $f" >&2
done
echo "$out"
