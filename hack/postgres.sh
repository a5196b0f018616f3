#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for Palisade's tests, or finds the
# one already running in DIR, and prints shell code that exports
# PALISADE_TEST_POSTGRES:
#
#   eval "$(hack/postgres.sh start /tmp/palisade-pg)"
#   go test ./internal/store/...
#   hack/postgres.sh stop /tmp/palisade-pg
#
# "url DIR" prints the URL only. The server listens on 127.0.0.1 only, on
# $PALISADE_PG_PORT or the first free port from 55432, with trust
# authentication and a superuser named palisade: never use it for anything
# but tests. DIR must be reachable by the postgres user when run as root.
# Installs Debian's postgresql package when no PostgreSQL is installed.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 start|stop|url DIR"
cmd=$1
dir=$(realpath -m -- "$2")
data=$dir/data

# bindir prints the bin directory of the newest installed PostgreSQL, or of
# the version that created an existing data directory.
bindir() {
	local want="" d
	[[ -f $data/PG_VERSION ]] && want=$(<"$data/PG_VERSION")
	if [[ -n $want ]]; then
		d=/usr/lib/postgresql/$want/bin
		[[ -x $d/initdb ]] && { echo "$d"; return; }
	fi
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -n $d && -x $d/initdb ]]; then
		echo "$d"
	elif command -v initdb >/dev/null; then
		dirname "$(command -v initdb)"
	else
		return 1
	fi
}

# as_owner runs a command as the postgres user when we are root: PostgreSQL
# refuses to run as root.
as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

url() { echo "postgres://palisade@127.0.0.1:$(<"$dir/port")/postgres?sslmode=disable"; }

# server_state prints none, alive or zombie for the postmaster that
# postmaster.pid names. A SIGKILLed server leaves its pid file behind, and
# its process may linger as a zombie for a moment.
server_state() {
	local pid st
	[[ -f $data/postmaster.pid ]] || { echo none; return; }
	pid=$(head -n 1 "$data/postmaster.pid")
	st=$(cut -d ' ' -f 3 "/proc/$pid/stat" 2>/dev/null) || { echo none; return; }
	if [[ $st == Z ]]; then echo zombie; else echo alive; fi
}

ready() { [[ -f $dir/port ]] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(<"$dir/port")" -t 2; }

case $cmd in
start)
	if ! bin=$(bindir); then
		[[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed; install Debian's postgresql package (or set PATH to its bin directory)"
		log "installing PostgreSQL"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq postgresql >&2
		bin=$(bindir) || die "installed postgresql but found no initdb under /usr/lib/postgresql"
	fi
	if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir "$dir" --shell /usr/sbin/nologin postgres
	fi
	mkdir -p "$dir"
	[[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
	chmod 0700 "$dir"
	for _ in $(seq 50); do
		[[ $(server_state) == zombie ]] || break
		sleep 0.2
	done
	if [[ $(server_state) == alive ]]; then
		# Running, or still starting or recovering from a crash.
		for _ in $(seq 30); do
			if ready; then
				log "already running in $dir"
				echo "export PALISADE_TEST_POSTGRES='$(url)'"
				exit 0
			fi
			sleep 2
		done
		die "a PostgreSQL server runs in $dir but does not answer; see $dir/server.log, or stop it and try again"
	fi
	if [[ ! -f $data/PG_VERSION ]]; then
		log "initialising $data with $bin"
		as_owner "$bin/initdb" -D "$data" -U palisade --auth=trust --no-locale -E UTF8 >"$dir/initdb.log" 2>&1 ||
			die "initdb failed; see $dir/initdb.log"
	fi
	port=${PALISADE_PG_PORT:-}
	if [[ -z $port ]]; then
		for p in $(seq 55432 55532); do
			port_in_use "$p" || { port=$p; break; }
		done
		[[ -n $port ]] || die "no free port in 55432-55532; set PALISADE_PG_PORT"
	fi
	echo "$port" >"$dir/port"
	log "starting PostgreSQL on 127.0.0.1:$port"
	as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2 ||
		die "PostgreSQL did not start; see $dir/server.log"
	echo "export PALISADE_TEST_POSTGRES='$(url)'"
	;;
stop)
	bin=$(bindir) || exit 0
	if [[ $(server_state) == alive ]]; then
		as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
	fi
	;;
url)
	[[ -f $dir/port ]] || die "no server in $dir; run: $0 start $dir"
	url
	;;
*)
	die "usage: $0 start|stop|url DIR"
	;;
esac
