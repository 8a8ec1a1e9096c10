#!/usr/bin/env bash
# ci-deps.sh: install and start the real components loadfleet's tests and
# benchmarks need, on this machine, bound to 127.0.0.1.
#
#   scripts/ci-deps.sh [start] [COMPONENT...]   install/start (default: the test set)
#   scripts/ci-deps.sh stop    [COMPONENT...]   stop what THIS script started
#   scripts/ci-deps.sh status  [COMPONENT...]   one line per component
#
# Components: git, chromium (default set), bench (= wrk hey nginx k6), wrk, hey, nginx,
# k6, docker, influxdb, ferretdb, compose. SMTP needs nothing: tests run it in process.
#
# Idempotent: binaries are built once into $LOADFLEET_CACHE
# (default ~/.cache/loadfleet/bin) and skipped when present; a service already
# answering is left alone. Daemons this script starts have their PID recorded
# under $LOADFLEET_STATE (default ~/.cache/loadfleet/state), so `stop` ends
# those and nothing else. $LOADFLEET_STATE/env holds the addresses for tests.
#
# Under CI=true any failure is fatal; otherwise a component that cannot be
# provided is reported and the others still run (its tests then skip).
set -uo pipefail
if [[ "${CI:-}" == "true" ]]; then set -e; fi

CACHE="${LOADFLEET_CACHE:-$HOME/.cache/loadfleet/bin}"
STATE="${LOADFLEET_STATE:-$HOME/.cache/loadfleet/state}"
INFLUXDB_PORT="${LOADFLEET_INFLUXDB_PORT:-8086}"
INFLUXDB_RPC_PORT="${LOADFLEET_INFLUXDB_RPC_PORT:-8088}"
FERRETDB_PORT="${LOADFLEET_FERRETDB_PORT:-27017}"
FERRETDB_DEBUG_PORT="${LOADFLEET_FERRETDB_DEBUG_PORT:-18089}"
DOCKER_SOCK=/var/run/docker.sock

K6_VERSION=v1.8.1
INFLUXDB_VERSION=v1.8.10
FERRETDB_VERSION=v1.24.0

DEFAULT_SET=(git chromium docker influxdb ferretdb compose)
BENCH_SET=(wrk hey nginx k6)

mkdir -p "$CACHE" "$STATE/pids" "$STATE/logs"

status() { printf 'ci-deps: %-9s %s\n' "$1" "$2"; }

# --- helpers ---------------------------------------------------------------

# apt_install installs Debian packages; the package lists are refreshed only
# when the first attempt fails (they are usually fresh enough, and updating
# costs tens of seconds).
apt_install() {
	local log="$STATE/logs/apt.log"
	export DEBIAN_FRONTEND=noninteractive
	if apt-get install -y "$@" >>"$log" 2>&1; then return 0; fi
	apt-get update >>"$log" 2>&1 && apt-get install -y "$@" >>"$log" 2>&1
}

# go_tool_env runs a Go command outside any workspace: the repo's go.work
# must not leak into tool builds. Niced: tool builds take minutes of CPU
# that tests running alongside need more.
go_tool_env() { nice -n 10 env GOWORK=off "$@"; }

# http_code prints the HTTP status of a GET (000 when nothing answers).
http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pidfile() { echo "$STATE/pids/$1.pid"; }

# our_pid prints the PID recorded for a component when that process is still
# the binary we started (guards against PID reuse).
our_pid() {
	local f pid exe
	f=$(pidfile "$1")
	[[ -f "$f" ]] || return 1
	read -r pid exe <"$f" || return 1
	[[ -n "$pid" && -d "/proc/$pid" ]] || return 1
	[[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$exe" ]] || return 1
	echo "$pid"
}

# spawn NAME LOG EXE CMD... starts a daemon in its own session (so the
# caller's process group ending does not take it down) and records its PID
# with EXE, the binary that PID ends up running (CMD may be `env ... EXE`).
# setsid does not fork here (a non-interactive shell's background job is no
# group leader), so $! is the daemon itself. The daemon must not inherit
# the lock (fd 9), or the next ci-deps would wait for it forever.
spawn() {
	local name=$1 log=$2 exe pid
	exe=$(readlink -f "$(command -v "$3")")
	shift 3
	setsid "$@" >>"$log" 2>&1 </dev/null 9>&- &
	pid=$!
	echo "$pid $exe" >"$(pidfile "$name")"
}

# wait_for SECONDS CMD... polls CMD until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

set_env() { # set_env KEY VALUE: record an address for the tests
	local f="$STATE/env"
	touch "$f"
	grep -v "^export $1=" "$f" >"$f.tmp" || true
	echo "export $1=$2" >>"$f.tmp"
	mv "$f.tmp" "$f"
}

# --- components --------------------------------------------------------------

start_git() {
	if [[ -x /usr/lib/git-core/git-http-backend ]]; then
		status git "ok (present: /usr/lib/git-core/git-http-backend)"
		return 0
	fi
	apt_install git || { status git "FAILED: apt-get install git (see $STATE/logs/apt.log)"; return 1; }
	[[ -x /usr/lib/git-core/git-http-backend ]] || { status git "FAILED: git-http-backend still missing"; return 1; }
	status git "ok (installed)"
}

# apt_tool NAME PACKAGE PROBE: install PACKAGE unless PROBE is on PATH.
apt_tool() {
	local name=$1 pkg=$2 probe=$3
	if command -v "$probe" >/dev/null; then
		status "$name" "ok (present: $(command -v "$probe"))"
		return 0
	fi
	apt_install "$pkg" || { status "$name" "FAILED: apt-get install $pkg (see $STATE/logs/apt.log)"; return 1; }
	status "$name" "ok (installed $pkg)"
}
start_wrk() { apt_tool wrk wrk wrk; }
start_hey() { apt_tool hey hey hey; }
# nginx-light is Debian's small build; the benchmark starts its own instance
# with a generated config, so the packaged service is never started here.
start_nginx() { apt_tool nginx nginx-light nginx; }
# Headless Chromium renders the HTML report in its UI test.
start_chromium() { apt_tool chromium chromium chromium; }
# Compose checks deploy/compose/compose.yaml (`config` only: no image can be
# pulled here). The v2 plugin is not in Debian bookworm's repositories
# (neither docker-compose-v2 nor docker-compose-plugin), so a present
# `docker compose` plugin is used, else Debian's docker-compose 1.29.
start_compose() {
	if docker compose version >/dev/null 2>&1; then
		status compose "ok (present: docker compose plugin)"
		return 0
	fi
	apt_tool compose docker-compose docker-compose
}

start_k6() {
	local bin="$CACHE/k6" log=/tmp/k6-install.log
	if [[ -x "$bin" ]] && "$bin" version 2>/dev/null | grep -q "k6 $K6_VERSION"; then
		status k6 "ok (present: $bin)"
		return 0
	fi
	status k6 "building go.k6.io/k6@$K6_VERSION (~3 min, log $log)"
	if ! (cd "$STATE" && go_tool_env GOBIN="$CACHE" go install "go.k6.io/k6@$K6_VERSION") >>"$log" 2>&1; then
		status k6 "FAILED: go install (see $log)"
		return 1
	fi
	status k6 "ok (built: $bin)"
}

docker_answers() { curl -sf -m 2 --unix-socket "$DOCKER_SOCK" http://localhost/_ping >/dev/null 2>&1; }

start_docker() {
	if ! command -v dockerd >/dev/null; then
		apt_install docker.io || { status docker "FAILED: apt-get install docker.io (see $STATE/logs/apt.log)"; return 1; }
	fi
	set_env DOCKER_HOST "unix://$DOCKER_SOCK"
	if docker_answers; then
		local pid
		if pid=$(our_pid docker); then
			status docker "ok (running, started by ci-deps, pid $pid)"
		else
			status docker "ok (already answering on $DOCKER_SOCK, not ours)"
		fi
		return 0
	fi
	# Only the unix socket: no TCP listener at all. No registry is reachable,
	# so tests build FROM scratch images and run them with --network host.
	spawn docker "$STATE/logs/dockerd.log" dockerd dockerd --host="unix://$DOCKER_SOCK"
	if ! wait_for 60 docker_answers; then
		status docker "FAILED: dockerd did not answer within 60s (see $STATE/logs/dockerd.log)"
		return 1
	fi
	status docker "ok (started dockerd, pid $(our_pid docker))"
}

influx_ready() { [[ "$(http_code "http://127.0.0.1:$INFLUXDB_PORT/ping")" == 204 ]]; }

start_influxdb() {
	local bin="$CACHE/influxd" data="$STATE/influxdb" log="$STATE/logs/influxd.log"
	local url="http://127.0.0.1:$INFLUXDB_PORT"
	if [[ ! -x "$bin" ]]; then
		status influxdb "building influxd $INFLUXDB_VERSION (~2 min, log $STATE/logs/influxd-build.log)"
		if ! (cd "$STATE" && go_tool_env GOBIN="$CACHE" go install "github.com/influxdata/influxdb/cmd/influxd@$INFLUXDB_VERSION") \
			>>"$STATE/logs/influxd-build.log" 2>&1; then
			status influxdb "FAILED: go install influxd (see $STATE/logs/influxd-build.log)"
			return 1
		fi
	fi
	set_env LOADFLEET_INFLUXDB_URL "$url"
	local how="already answering, not ours" pid
	if pid=$(our_pid influxdb); then how="running, started by ci-deps, pid $pid"; fi
	if ! influx_ready; then
		if port_open "$INFLUXDB_PORT"; then
			status influxdb "FAILED: 127.0.0.1:$INFLUXDB_PORT is taken by something that is not InfluxDB"
			return 1
		fi
		mkdir -p "$data"
		# Reporting off: otherwise influxd sends usage statistics out.
		spawn influxdb "$log" "$bin" env \
			INFLUXDB_REPORTING_DISABLED=true \
			INFLUXDB_BIND_ADDRESS="127.0.0.1:$INFLUXDB_RPC_PORT" \
			INFLUXDB_HTTP_BIND_ADDRESS="127.0.0.1:$INFLUXDB_PORT" \
			INFLUXDB_HTTP_FLUX_ENABLED=true \
			INFLUXDB_HTTP_LOG_ENABLED=false \
			INFLUXDB_META_DIR="$data/meta" \
			INFLUXDB_DATA_DIR="$data/data" \
			INFLUXDB_DATA_WAL_DIR="$data/wal" \
			"$bin" run
		if ! wait_for 60 influx_ready; then
			status influxdb "FAILED: no 204 from $url/ping within 60s (see $log)"
			return 1
		fi
		how="started, pid $(our_pid influxdb)"
	fi
	# InfluxDB 1 only: production (InfluxDB 2) has buckets instead.
	if ! curl -sf -m 10 -XPOST "$url/query" --data-urlencode 'q=CREATE DATABASE loadfleet' >/dev/null; then
		status influxdb "FAILED: CREATE DATABASE loadfleet"
		return 1
	fi
	status influxdb "ok ($how; $url, database loadfleet)"
}

build_ferretdb() {
	local work="$STATE/build/ferretdb" log="$STATE/logs/ferretdb-build.log" mod
	rm -rf "$work" && mkdir -p "$work" || return 1
	(
		set -e
		cd "$work"
		export GOWORK=off
		go mod init ferretdbwrapper
		printf '//go:build tools\npackage tools\nimport _ "github.com/FerretDB/FerretDB/cmd/ferretdb"\n' >tools.go
		# go install refuses: the proxy 403s this module's version list.
		go get "github.com/FerretDB/FerretDB/cmd/ferretdb@$FERRETDB_VERSION"
		mod="$(go env GOMODCACHE)/github.com/!ferret!d!b/!ferret!d!b@$FERRETDB_VERSION"
		cp -r "$mod" src
		chmod -R u+w src
		# Without a version file the binary panics at start.
		echo "$FERRETDB_VERSION" >src/build/version/version.txt
		cd src
		nice -n 10 go build -o "$CACHE/ferretdb" ./cmd/ferretdb
	) >>"$log" 2>&1
}

start_ferretdb() {
	local bin="$CACHE/ferretdb" data="$STATE/ferretdb" log="$STATE/logs/ferretdb.log"
	if [[ ! -x "$bin" ]]; then
		status ferretdb "building FerretDB $FERRETDB_VERSION (~2 min, log $STATE/logs/ferretdb-build.log)"
		build_ferretdb || { status ferretdb "FAILED: build (see $STATE/logs/ferretdb-build.log)"; return 1; }
	fi
	set_env LOADFLEET_MONGO_URL "mongodb://127.0.0.1:$FERRETDB_PORT"
	local pid
	if port_open "$FERRETDB_PORT"; then
		if pid=$(our_pid ferretdb); then
			status ferretdb "ok (running, started by ci-deps, pid $pid; mongodb://127.0.0.1:$FERRETDB_PORT)"
		else
			status ferretdb "ok (127.0.0.1:$FERRETDB_PORT already answering, not ours)"
		fi
		return 0
	fi
	mkdir -p "$data/data" "$data/state"
	# --telemetry=disable: otherwise it may try to reach out.
	spawn ferretdb "$log" "$bin" "$bin" --handler=sqlite --sqlite-url="file:$data/data/" \
		--state-dir="$data/state" --listen-addr="127.0.0.1:$FERRETDB_PORT" \
		--debug-addr="127.0.0.1:$FERRETDB_DEBUG_PORT" --telemetry=disable
	if ! wait_for 60 port_open "$FERRETDB_PORT"; then
		status ferretdb "FAILED: nothing on 127.0.0.1:$FERRETDB_PORT within 60s (see $log)"
		return 1
	fi
	status ferretdb "ok (started, pid $(our_pid ferretdb); mongodb://127.0.0.1:$FERRETDB_PORT)"
}

start_smtp() { status smtp "ok (nothing to do: tests run an in-process SMTP server)"; }

# --- stop / status -------------------------------------------------------------

stop_component() {
	local name=$1 pid
	if ! pid=$(our_pid "$name"); then
		rm -f "$(pidfile "$name")"
		status "$name" "not running under ci-deps (nothing to stop)"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_for 20 bash -c "! kill -0 $pid 2>/dev/null"; then
		kill -KILL "$pid" 2>/dev/null || true
		status "$name" "stopped (pid $pid, killed after 20s)"
	else
		status "$name" "stopped (pid $pid)"
	fi
	rm -f "$(pidfile "$name")"
}

status_component() {
	local pid
	case $1 in
	docker | influxdb | ferretdb) ;;
	k6) if [[ -x "$CACHE/k6" ]]; then status k6 "present ($CACHE/k6)"; else status k6 "missing"; fi; return 0 ;;
	smtp) status smtp "in process (nothing to run)"; return 0 ;;
	git) if [[ -x /usr/lib/git-core/git-http-backend ]]; then status git present; else status git missing; fi; return 0 ;;
	compose) if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; then status compose present; else status compose missing; fi; return 0 ;;
	*) if command -v "$1" >/dev/null; then status "$1" present; else status "$1" missing; fi; return 0 ;;
	esac
	if pid=$(our_pid "$1"); then
		status "$1" "running (started by ci-deps, pid $pid)"
	else
		status "$1" "not started by ci-deps"
	fi
}

# --- main ----------------------------------------------------------------------

expand() { # expand the argument list: sets become their members
	local c
	for c in "$@"; do
		case "$c" in
		bench) printf '%s\n' "${BENCH_SET[@]}" ;;
		default) printf '%s\n' "${DEFAULT_SET[@]}" ;;
		git | wrk | hey | nginx | k6 | docker | influxdb | ferretdb | smtp | chromium | compose) echo "$c" ;;
		*)
			echo "ci-deps: unknown component '$c' (known: git wrk hey nginx k6 docker influxdb ferretdb smtp chromium compose; sets: default bench)" >&2
			return 2
			;;
		esac
	done
}

main() {
	local action=start
	case "${1:-}" in
	start | stop | status) action=$1 && shift ;;
	-h | --help) sed -n '2,20p' "$0" && return 0 ;;
	esac
	local comps
	if (($# == 0)); then
		if [[ $action == start ]]; then
			set -- "${DEFAULT_SET[@]}"
		else
			set -- docker influxdb ferretdb
		fi
	fi
	comps=$(expand "$@") || return 2

	# One ci-deps at a time: two concurrent test runs must not both start
	# (or both build) the same daemon.
	exec 9>"$STATE/lock"
	flock 9

	local failed=0 c
	for c in $comps; do
		case $action in
		start)
			if ! "start_$c"; then
				failed=1
				if [[ "${CI:-}" == "true" ]]; then
					echo "ci-deps: CI=true, stopping at the first missing component ($c)" >&2
					return 1
				fi
			fi
			;;
		stop)
			case $c in docker | influxdb | ferretdb) stop_component "$c" ;; esac
			;;
		status) status_component "$c" ;;
		esac
	done
	if ((failed)); then
		echo "ci-deps: some components are unavailable; their tests will skip (they fail under CI=true)" >&2
	fi
	return 0
}

main "$@"
