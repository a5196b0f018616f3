#!/usr/bin/env bash
# Compares `palisade scan` with Google's OSV-Scanner v2, both offline, on the
# same images and the same OSV records: findings (package, id and aliases)
# and cost (wall time, CPU time, peak RSS). A manual benchmark, not part of
# CI; results and the analysis of every difference are in
# docs/benchmarks.md ("Compared with OSV-Scanner").
#
#   bash hack/compare-osv-scanner.sh            # 3 timed runs of each tool per image
#   RUNS=5 bash hack/compare-osv-scanner.sh
#
# Needs: go, python3, /usr/bin/time (Debian package `time`), ../shared/vulndata
# next to the repository (or $PALISADE_SHARED/vulndata), and the Go module
# proxy the first time: OSV-Scanner is built with `go install` into
# ~/.cache/palisade/tools (about 4 minutes); it needs Go 1.27, so that build
# alone uses GOTOOLCHAIN=go1.27.3, which the go command takes from the proxy.
# Images:
#   debian12             the debootstrap minbase image of the image tests
#                        (hack/build-test-images.sh builds it if missing)
#   debian12-downgraded  the same with a dpkg status layer installing every
#                        package that has records just below its lowest fix
#   gobinary             the Go program of test/images/gobinary_test.go
#   gobinary-old         a Go program linked against 7 old modules
# Each image is written as an OCI layout (palisade scan --input) and a
# docker-archive (osv-scanner scan image --archive) holding the same layers.
# Vulnerability data: debian12-derived-osv.zip and go-vulndb-osv-20261105.zip,
# laid out as OSV-Scanner's offline databases (DIR/osv-scalibr/<Ecosystem>/
# all.zip) and given to Palisade as those very files.
#
# Work files go to $COMPARE_WORK (default ~/.cache/palisade/compare-osv-scanner).
set -euo pipefail

die() { echo "compare-osv-scanner.sh: $*" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${PALISADE_SHARED:-$root/../shared}/vulndata
cache=${PALISADE_CACHE:-$HOME/.cache/palisade}
tools=$cache/tools
work=${COMPARE_WORK:-$cache/compare-osv-scanner}
runs=${RUNS:-3}
osv_version=${OSV_SCANNER_VERSION:-v2.6.0}
osv_toolchain=${OSV_SCANNER_TOOLCHAIN:-go1.27.3}
debian_zip=$shared/debian12-derived-osv.zip
go_zip=$shared/go-vulndb-osv-20261105.zip
images="debian12 debian12-downgraded gobinary gobinary-old"

# ---- prerequisites: fail before doing anything long
[ -d "$shared" ] || die "$shared is missing (the shared test data must sit next to the repository, as ../shared, or set PALISADE_SHARED)"
for f in "$debian_zip" "$go_zip"; do
	[ -s "$f" ] || die "$f is missing"
done
command -v go >/dev/null || die "go is not installed"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"
command -v python3 >/dev/null || die "python3 is missing (used to read /usr/bin/time's report)"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"

osv=$tools/osv-scanner
if ! "$osv" --version 2>/dev/null | grep -q "osv-scanner version: ${osv_version#v}$"; then
	echo "building osv-scanner $osv_version into $tools (GOTOOLCHAIN=$osv_toolchain, a few minutes)" >&2
	mkdir -p "$tools"
	(cd "$tools" && GOTOOLCHAIN=$osv_toolchain GOBIN=$tools GOFLAGS= \
		go install "github.com/google/osv-scanner/v2/cmd/osv-scanner@$osv_version") ||
		die "cannot build osv-scanner $osv_version (it needs the Go module proxy and Go ${osv_toolchain#go})"
	"$osv" --version >/dev/null 2>&1 || die "$osv does not run"
fi

rootfs_dir=$(bash "$root/hack/build-test-images.sh") || die "hack/build-test-images.sh failed"
rootfs=$rootfs_dir/debian12-minbase.tar
[ -s "$rootfs" ] || die "$rootfs is missing"

mkdir -p "$work/bin" "$work/out" "$work/time"
echo "building palisade and hack/compare" >&2
(cd "$root" && GOTOOLCHAIN=local go build -o "$work/bin/palisade" ./cmd/palisade) || die "cannot build palisade"
(cd "$root/hack/compare" && GOTOOLCHAIN=local go build -o "$work/bin/compare" .) || die "cannot build hack/compare"
cmp=$work/bin/compare
pal=$work/bin/palisade

echo "== images" >&2
"$cmp" images -rootfs "$rootfs" -debian-osv "$debian_zip" -out "$work/images" | tee "$work/out/images.txt"

echo "== vulnerability data" >&2
rm -rf "$work/db"
"$cmp" vulndb -out "$work/db" "$debian_zip" "$go_zip" | tee "$work/out/vulndb.txt"
db_debian=$work/db/osv-scalibr/Debian/all.zip
db_go=$work/db/osv-scalibr/Go/all.zip
# The original files in the same layout, to show what OSV-Scanner makes of
# records it cannot parse.
rm -rf "$work/rawdb"
mkdir -p "$work/rawdb/osv-scalibr/Debian" "$work/rawdb/osv-scalibr/Go"
cp "$debian_zip" "$work/rawdb/osv-scalibr/Debian/all.zip"
cp "$go_zip" "$work/rawdb/osv-scalibr/Go/all.zip"

run_palisade() { # image output-json [zips...]
	local img=$1 out=$2
	shift 2
	local args=()
	for z in "$@"; do args+=(--osv "$z"); done
	"$pal" scan --input "$work/images/$img/layout" "${args[@]}" -o json >"$out"
}
run_osv() { # image output-json local-db-path
	local rc=0
	"$osv" scan image --archive --offline --offline-vulnerabilities --local-db-path "$3" \
		--all-vulns --all-packages --format json --output-file "$2" \
		"$work/images/$1/docker.tar" >"$2.log" 2>&1 || rc=$?
	# 0: nothing found, 1: vulnerabilities found; anything else is a failure.
	[ "$rc" -le 1 ] || { tail -n 20 "$2.log" >&2; die "osv-scanner failed on $1 (exit $rc)"; }
}
timed() { # report-file command...
	local report=$1
	shift
	/usr/bin/time -v -o "$report" "$@"
}
# wall seconds, cpu seconds (user+sys), peak RSS MB from a time -v report
read_time() {
	python3 - "$1" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
secs = 0.0
for part in wall.split(":"):
    secs = secs * 60 + float(part)
cpu = float(re.search(r"User time \(seconds\): (\S+)", t).group(1)) + float(re.search(r"System time \(seconds\): (\S+)", t).group(1))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"{secs:.2f} {cpu:.2f} {rss/1024:.0f}")
EOF
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== scans: one untimed warm-up of each tool per image, then $runs timed runs, alternating" >&2
for img in $images; do
	run_palisade "$img" "$work/out/palisade-$img.json" "$db_debian" "$db_go"
	run_osv "$img" "$work/out/osv-$img.json" "$work/db"
	for i in $(seq 1 "$runs"); do
		timed "$work/time/palisade-$img-$i.txt" "$pal" scan --input "$work/images/$img/layout" \
			--osv "$db_debian" --osv "$db_go" -o json >/dev/null
		timed "$work/time/osv-$img-$i.txt" "$osv" scan image --archive --offline --offline-vulnerabilities \
			--local-db-path "$work/db" --all-vulns --all-packages --format json \
			--output-file "$work/out/osv-$img-timed.json" "$work/images/$img/docker.tar" \
			>/dev/null 2>&1 || [ $? -le 1 ] || die "osv-scanner failed on $img"
	done
done

echo "== checks" >&2
for img in $images; do
	# Palisade on the original zips must find the same as on the laid-out ones.
	run_palisade "$img" "$work/out/palisade-$img-original.json" "$debian_zip" "$go_zip"
	python3 - "$work/out/palisade-$img.json" "$work/out/palisade-$img-original.json" "$img" <<'EOF'
import json, sys
a, b = (json.load(open(p))["vulnerabilities"] for p in sys.argv[1:3])
key = lambda v: (v["package"], v["id"], tuple(sorted(v.get("aliases", []))), v.get("fixedVersion", ""))
same = sorted(map(key, a)) == sorted(map(key, b))
print(f"{sys.argv[3]}: palisade on the original zips: {'same' if same else 'DIFFERENT'} findings ({len(b)})")
EOF
	# OSV-Scanner on the original zips.
	run_osv "$img" "$work/out/osv-$img-original.json" "$work/rawdb"
	python3 - "$work/out/osv-$img-original.json" "$img" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
n = sum(len(p.get("groups", [])) for r in d.get("results", []) for p in r["packages"])
print(f"{sys.argv[2]}: osv-scanner on the original zips: {n} findings")
EOF
done | tee "$work/out/checks.txt"

echo
echo "== findings (matched per binary package by a shared id or alias)"
for img in $images; do
	"$cmp" diff -label "$img" -palisade "$work/out/palisade-$img.json" -osv "$work/out/osv-$img.json"
done | tee "$work/out/diff.txt"

echo
echo "== cost: $runs runs each; wall and CPU (user+sys) in seconds, peak RSS in MB"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $load_start at the start of the scans, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "palisade $(git -C "$root" rev-parse --short HEAD) ($(go version | cut -d' ' -f3)), $("$osv" --version | head -1)"
{
	printf "| image | tool | findings | wall (runs) | median wall | median CPU | peak RSS (max) |\n|---|---|---|---|---|---|---|\n"
	for img in $images; do
		for tool in palisade osv; do
			walls="" cpus="" rsss=""
			for i in $(seq 1 "$runs"); do
				read -r w c r < <(read_time "$work/time/$tool-$img-$i.txt")
				walls="$walls $w" cpus="$cpus $c" rsss="$rsss $r"
			done
			findings=$(python3 - "$work/out/$tool-$img.json" "$tool" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
if sys.argv[2] == "palisade":
    print(len(d.get("vulnerabilities") or []))
else:
    print(sum(len(p.get("groups", [])) for r in d.get("results", []) for p in r["packages"]))
EOF
			)
			python3 - "$img" "$tool" "$findings" "$walls" "$cpus" "$rsss" <<'EOF'
import statistics, sys
img, tool, findings, walls, cpus, rsss = sys.argv[1:]
w = [float(x) for x in walls.split()]
c = [float(x) for x in cpus.split()]
r = [int(x) for x in rsss.split()]
name = "Palisade" if tool == "palisade" else "OSV-Scanner"
print(f"| {img} | {name} | {findings} | {' / '.join(f'{x:.2f}' for x in w)} | {statistics.median(w):.2f} s | {statistics.median(c):.2f} s | {max(r)} MB |")
EOF
		done
	done
} | tee "$work/out/cost.md"
echo
echo "work files: $work (JSON outputs in out/, time -v reports in time/)"
