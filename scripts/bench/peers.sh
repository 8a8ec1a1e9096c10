#!/usr/bin/env bash
# peers.sh: loadfleet's native injector against the load tools a team would
# pick instead (wrk, hey, k6), on this machine, over loopback only.
#
#   scripts/bench/peers.sh [--skip-ours] [--out FILE]
#
# The target is nginx (Debian nginx-light, one worker, a 2-byte body) pinned
# to CPU 0; every generator runs alone, one after another, pinned to CPU 1:
#   closed loop   64 connections for 10 s: wrk, ours, hey, k6
#   open model    50% of wrk's rate for 10 s, wrk measured again just
#                 before: ours (planned vs achieved, schedule lag p99), k6
#                 constant-arrival-rate (dropped)
# Each of ours runs right after the wrk run it is compared with: this VM's
# speed drifts by a third within minutes, and a comparison across the
# whole script measured the drift as much as the tools.
#   memory        ours, 10,000 concurrent sessions against holdserver (each
#                 request held 1 s), peak RSS
# It prints one markdown table on stdout (progress goes to stderr), with
# PASS/FAIL against the targets of issue 3. This is a benchmark, not a test:
# it loads both CPUs for about two minutes.
#
# Knobs (environment): BENCH_DURATION (10s), BENCH_CONNS (64),
# BENCH_SESSIONS (10000), BENCH_KEEP=1 keeps the raw outputs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$ROOT/scripts/bench"
CACHE="${LOADFLEET_CACHE:-$HOME/.cache/loadfleet/bin}"
DURATION="${BENCH_DURATION:-10s}"
CONNS="${BENCH_CONNS:-64}"
SESSIONS="${BENCH_SESSIONS:-10000}"
OPEN_MAX_SESSIONS=1000
TARGET_CPU=0
LOAD_CPU=1

SKIP_OURS=0
OUT=""
while (($#)); do
	case "$1" in
	--skip-ours) SKIP_OURS=1 ;;
	--out) OUT="$2" && shift ;;
	-h | --help) sed -n '2,22p' "$0" && exit 0 ;;
	*) echo "peers.sh: unknown argument $1" >&2 && exit 2 ;;
	esac
	shift
done

[[ "$DURATION" =~ ^[0-9]+s$ ]] || { echo "peers.sh: BENCH_DURATION must be whole seconds, like 10s" >&2; exit 2; }
DUR_S=${DURATION%s}
# Every generator gets a hard stop well past its own duration.
RUN_LIMIT=$((DUR_S + 30))

log() { echo "peers: $*" >&2; }

WORK=$(mktemp -d /tmp/loadfleet-bench.XXXXXX)
STARTED_PIDS=()

# cleanup stops exactly the processes this script started, by PID.
cleanup() {
	local pid
	for pid in "${STARTED_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [[ "${BENCH_KEEP:-}" == 1 ]]; then
		log "raw outputs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # stop_pid PID: stop one started process now, and forget it
	local pid=$1 keep=() p
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${STARTED_PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
	STARTED_PIDS=("${keep[@]+"${keep[@]}"}")
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$((20000 + RANDOM % 10000))
		port_open "$port" || { echo "$port"; return 0; }
	done
	return 1
}

wait_for() { # wait_for SECONDS CMD...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# fill TEMPLATE OUT KEY=VALUE...: substitute @KEY@ placeholders.
fill() {
	local tmpl=$1 out=$2 kv args=()
	shift 2
	for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
	sed "${args[@]}" "$tmpl" >"$out"
}

# json FILE PATH...: the values at PATHs, "-" for each when FILE is no JSON.
json() {
	"$WORK/benchjson" "$@" 2>/dev/null && return 0
	shift
	printf -- '- %.0s' "$@"
	echo
}

# per_second COUNT: COUNT over the load duration.
per_second() { awk -v c="$1" -v d="$DUR_S" 'BEGIN { if (c == "-") print "-"; else printf "%.2f\n", c / d }'; }
fmt_int() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.0f\n", v }'; }
fmt_2() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.2f\n", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f×\n", a / b }'; }
# Verdicts against the targets of issue 3; a missing figure is a FAIL.
closed_verdict() { # OURS_RPS WRK_RPS
	awk -v o="$1" -v w="$2" 'BEGIN { print (o != "-" && w != "-" && o >= 0.8 * w) ? "PASS" : "FAIL" }'
}
open_verdict() { # ACHIEVED PLANNED_RATE LAG_P99_MS
	awk -v a="$1" -v r="$2" -v l="$3" 'BEGIN {
		ok = a != "-" && l != "-" && a >= 0.99 * r && a <= 1.01 * r && l < 1
		print ok ? "PASS" : "FAIL" }'
}
memory_verdict() { # PEAK_RSS_BYTES
	awk -v b="$1" 'BEGIN { print (b != "-" && b > 0 && b < 200e6) ? "PASS" : "FAIL" }'
}

# --- setup ---------------------------------------------------------------------

setup() {
	log "setup: ci-deps bench"
	"$ROOT/scripts/ci-deps.sh" bench >&2
	K6="$CACHE/k6"
	[[ -x "$K6" ]] || { echo "peers.sh: k6 missing at $K6" >&2; exit 1; }

	# 10,000 sessions need 10,000 sockets on each side, plus headroom.
	ulimit -n "$(ulimit -Hn)"
	if (($(ulimit -n) < SESSIONS + 1000)); then
		log "warning: open-file limit $(ulimit -n) is below $((SESSIONS + 1000)); the memory run may fail"
	fi

	log "setup: building benchjson, holdserver"
	(cd "$ROOT" && go build -o "$WORK/benchjson" scripts/bench/benchjson/main.go)
	(cd "$ROOT" && go build -o "$WORK/holdserver" scripts/bench/holdserver/main.go)

	OURS="$WORK/loadfleet-executor"
	if ((SKIP_OURS)); then
		log "setup: --skip-ours: running the peers only"
	elif ! compgen -G "$ROOT/executors/cmd/loadfleet-executor/*.go" >/dev/null; then
		log "setup: executors/cmd/loadfleet-executor does not exist yet: running the peers only"
		SKIP_OURS=1
	else
		log "setup: building loadfleet-executor"
		(cd "$ROOT" && go build -o "$OURS" ./executors/cmd/loadfleet-executor)
	fi
}

start_nginx() {
	local port dir="$WORK/nginx"
	port=$(free_port)
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
# Generators that open a connection per session must meet ours, not the
# target's, limits.
worker_rlimit_nofile 20000;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
	access_log off;
	# Connections are reused for the whole run: the benchmark measures
	# generators, not reconnection.
	keepalive_requests 10000000;
	keepalive_timeout 60s;
	client_body_temp_path $dir/tmp-body;
	proxy_temp_path $dir/tmp-proxy;
	fastcgi_temp_path $dir/tmp-fastcgi;
	uwsgi_temp_path $dir/tmp-uwsgi;
	scgi_temp_path $dir/tmp-scgi;
	server {
		listen 127.0.0.1:$port;
		location / {
			default_type text/plain;
			return 200 "ok";
		}
	}
}
EOF
	taskset -c "$TARGET_CPU" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
	NGINX_PID=$!
	STARTED_PIDS+=("$NGINX_PID")
	URL="http://127.0.0.1:$port/"
	if ! wait_for 10 curl -sf -o /dev/null "$URL"; then
		echo "peers.sh: nginx did not answer on $URL" >&2
		cat "$dir/error.log" "$dir/stdout.log" >&2 || true
		exit 1
	fi
	log "nginx pid $NGINX_PID on $URL (CPU $TARGET_CPU)"
}

start_holdserver() {
	local out="$WORK/holdserver.addr"
	taskset -c "$TARGET_CPU" "$WORK/holdserver" -hold 1s >"$out" 2>"$WORK/holdserver.err" &
	HOLD_PID=$!
	STARTED_PIDS+=("$HOLD_PID")
	wait_for 10 test -s "$out" || { echo "peers.sh: holdserver did not start" >&2; cat "$WORK/holdserver.err" >&2; exit 1; }
	HOLD_URL="http://$(head -1 "$out")"
	log "holdserver pid $HOLD_PID on $HOLD_URL (CPU $TARGET_CPU)"
}

# on_load_cpu CMD...: run a generator pinned to the load CPU, time-bounded.
on_load_cpu() { timeout --kill-after=5 "$RUN_LIMIT" taskset -c "$LOAD_CPU" "$@"; }

# --- generators ----------------------------------------------------------------

# run_wrk NAME: wrk's closed loop into WRK_RPS and WRK_NOTE (output kept as NAME.txt).
run_wrk() {
	local out="$WORK/$1.txt"
	log "closed: wrk -t1 -c$CONNS -d$DURATION ($1)"
	on_load_cpu wrk -t1 -c"$CONNS" -d"$DURATION" "$URL" >"$out" 2>&1
	WRK_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	WRK_NOTE=$(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | paste -sd ';' - || true)
	[[ -n "$WRK_RPS" ]] || { echo "peers.sh: could not parse wrk output:" >&2; cat "$out" >&2; exit 1; }
}

run_hey() {
	log "closed: hey -z $DURATION -c $CONNS"
	on_load_cpu hey -z "$DURATION" -c "$CONNS" "$URL" >"$WORK/hey.txt" 2>&1
	HEY_RPS=$(awk '/Requests\/sec:/ { print $2 }' "$WORK/hey.txt")
	HEY_NOTE=$(awk '/Error distribution:/ { e = 1 } END { if (e) print "errors: see hey output" }' "$WORK/hey.txt")
	[[ -n "$HEY_RPS" ]] || { echo "peers.sh: could not parse hey output:" >&2; cat "$WORK/hey.txt" >&2; exit 1; }
}

run_k6_closed() {
	log "closed: k6 constant-vus $CONNS VUs $DURATION"
	on_load_cpu "$K6" run --no-usage-report --quiet --summary-export="$WORK/k6-closed.json" \
		-e URL="$URL" -e VUS="$CONNS" -e DURATION="$DURATION" "$BENCH/k6-closed.js" >"$WORK/k6-closed.txt" 2>&1
	read -r K6_RPS K6_FAILED < <(json "$WORK/k6-closed.json" metrics.http_reqs.rate metrics.http_req_failed.value)
	K6_NOTE=""
	[[ "$K6_FAILED" == "-" || "$K6_FAILED" == 0 ]] || K6_NOTE="failed rate $K6_FAILED"
}

run_ours_closed() {
	log "closed: loadfleet-executor, $CONNS users $DURATION"
	fill "$BENCH/plan-closed.json.tmpl" "$WORK/plan-closed.json" BASE_URL="${URL%/}" USERS="$CONNS" DURATION="$DURATION"
	CLOSED_RC=0
	on_load_cpu "$OURS" run "$WORK/plan-closed.json" --output json >"$WORK/ours-closed.json" 2>"$WORK/ours-closed.err" || CLOSED_RC=$?
	read -r OURS_RPS OURS_OK OURS_KO < <(json "$WORK/ours-closed.json" total.rps total.ok total.ko)
	OURS_NOTE="ok $OURS_OK, ko $OURS_KO$(exit_note "$CLOSED_RC")"
}

# exit_note RC: how a run of ours ended, when not cleanly (137: killed by the
# time limit after ignoring SIGTERM; 124: stopped by it).
exit_note() { [[ "$1" == 0 ]] || echo "; exited $1 (limit ${RUN_LIMIT} s)"; }

# The open-model rate: half of what wrk reached just before, in whole
# arrivals per second.
open_rate() { OPEN_RATE=$(awk -v r="$WRK_OPEN_RPS" 'BEGIN { printf "%d\n", r / 2 }'); }

run_ours_open() {
	log "open: loadfleet-executor, $OPEN_RATE/s for $DURATION"
	# Like k6's VU pool, a cap on sessions in flight keeps a generator that
	# falls behind bounded: arrivals past it are counted as dropped.
	fill "$BENCH/plan-open.json.tmpl" "$WORK/plan-open.json" BASE_URL="${URL%/}" RATE="$OPEN_RATE" DURATION="$DURATION" \
		MAX_SESSIONS="$OPEN_MAX_SESSIONS"
	OPEN_RC=0
	on_load_cpu "$OURS" run "$WORK/plan-open.json" --output json >"$WORK/ours-open.json" 2>"$WORK/ours-open.err" || OPEN_RC=$?
	read -r OPEN_PLANNED OPEN_STARTED OPEN_DROPPED OPEN_OK OPEN_KO OPEN_LAG OPEN_LAG_WORST OPEN_P99 < <(json "$WORK/ours-open.json" \
		arrivals.planned arrivals.started arrivals.dropped total.ok total.ko scheduleLagP99Ms scheduleLagWorstSecondP99Ms total.p99Ms)
	OPEN_ACHIEVED=$(per_second "$OPEN_OK")
}

run_k6_open() {
	log "open: k6 constant-arrival-rate $OPEN_RATE/s, 200 pre-allocated VUs, $DURATION"
	on_load_cpu "$K6" run --no-usage-report --quiet --summary-export="$WORK/k6-open.json" \
		-e URL="$URL" -e RATE="$OPEN_RATE" -e VUS=200 -e DURATION="$DURATION" "$BENCH/k6-open.js" >"$WORK/k6-open.txt" 2>&1
	read -r K6_OPEN_ITER K6_OPEN_DROPPED < <(json "$WORK/k6-open.json" metrics.iterations.count metrics.dropped_iterations.count)
	[[ "$K6_OPEN_DROPPED" != "-" ]] || K6_OPEN_DROPPED=0
	K6_OPEN_ACHIEVED=$(per_second "$K6_OPEN_ITER")
}

run_ours_memory() {
	log "memory: loadfleet-executor, $SESSIONS sessions held 1 s each, ramp 2 s + $DURATION"
	fill "$BENCH/plan-memory.json.tmpl" "$WORK/plan-memory.json" BASE_URL="${HOLD_URL%/}" USERS="$SESSIONS" DURATION="$DURATION"
	MEM_RC=0
	on_load_cpu "$OURS" run "$WORK/plan-memory.json" --output json >"$WORK/ours-memory.json" 2>"$WORK/ours-memory.err" || MEM_RC=$?
	read -r MEM_RSS MEM_OK MEM_KO MEM_RPS < <(json "$WORK/ours-memory.json" peakRssBytes total.ok total.ko total.rps)
	MEM_MB=$(awk -v b="$MEM_RSS" 'BEGIN { if (b == "-") print "-"; else printf "%.1f\n", b / 1e6 }')
}

show_stderr_tail() { # the executor's complaints, if any, belong in the log
	local f
	for f in "$WORK"/ours-*.err; do
		[[ -s "$f" ]] && { log "--- tail of $(basename "$f")"; tail -5 "$f" >&2; }
	done
	return 0
}

# --- report --------------------------------------------------------------------

machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "$(date -u +%Y-%m-%d), $(nproc) cores ($cpu), $(uname -sr); target on CPU $TARGET_CPU, generator on CPU $LOAD_CPU;" \
		"load average before the run $LOAD_BEFORE (other work on the machine skews every figure);" \
		"wrk $(wrk --version 2>&1 | awk 'NR == 1 { print $2 }'), hey $(dpkg-query -W -f='${Version}' hey 2>/dev/null)," \
		"$("$K6" version | awk '{ print $1, $2 }'), nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(go version | awk '{ print $3 }')"
}

report() {
	local closed_pass open_pass mem_pass d="${DUR_S} s"
	echo "Machine: $(machine)"
	echo
	echo "| tool | mode | req/s | ours ÷ peer | target | notes |"
	echo "|---|---|---:|---:|---|---|"
	if ((SKIP_OURS)); then
		echo "| wrk | closed, $CONNS conns, $d | $(fmt_int "$WRK_RPS") | not run | ≥ 0.8× wrk: not run | $WRK_NOTE |"
		echo "| hey | closed, $CONNS conns, $d | $(fmt_int "$HEY_RPS") | not run | | $HEY_NOTE |"
		echo "| k6 | closed, $CONNS VUs, $d | $(fmt_int "$K6_RPS") | not run | | $K6_NOTE |"
		echo "| wrk | closed again, just before the open model, $d | $(fmt_int "$WRK_OPEN_RPS") | | | sets the open rate |"
		echo "| k6 | open, $OPEN_RATE/s planned, $d | $(fmt_int "$K6_OPEN_ACHIEVED") | | | dropped $K6_OPEN_DROPPED of $((OPEN_RATE * DUR_S)), 200 VUs |"
		return 0
	fi
	closed_pass=$(closed_verdict "$OURS_RPS" "$WRK_RPS")
	open_pass=$(open_verdict "$OPEN_ACHIEVED" "$OPEN_RATE" "$OPEN_LAG")
	mem_pass=$(memory_verdict "$MEM_RSS")
	echo "| wrk | closed, $CONNS conns, $d | $(fmt_int "$WRK_RPS") | $(ratio "$OURS_RPS" "$WRK_RPS") | ours ≥ 0.8× wrk: **$closed_pass** | $WRK_NOTE |"
	echo "| hey | closed, $CONNS conns, $d | $(fmt_int "$HEY_RPS") | $(ratio "$OURS_RPS" "$HEY_RPS") | | $HEY_NOTE |"
	echo "| k6 | closed, $CONNS VUs, $d | $(fmt_int "$K6_RPS") | $(ratio "$OURS_RPS" "$K6_RPS") | | $K6_NOTE |"
	echo "| **loadfleet** | closed, $CONNS users, $d | **$(fmt_int "$OURS_RPS")** | | | $OURS_NOTE |"
	echo "| wrk | closed again, just before the open model, $d | $(fmt_int "$WRK_OPEN_RPS") | | | sets the open rate |"
	echo "| **loadfleet** | open, $OPEN_RATE/s planned (50% of wrk), at most $OPEN_MAX_SESSIONS in flight, $d | $(fmt_2 "$OPEN_ACHIEVED") | $(ratio "$OPEN_ACHIEVED" "$K6_OPEN_ACHIEVED") vs k6 | achieved within 1% of plan, lag p99 < 1 ms: **$open_pass** | arrivals planned $OPEN_PLANNED, started $OPEN_STARTED, dropped $OPEN_DROPPED; ok $OPEN_OK, ko $OPEN_KO; schedule lag p99 $(fmt_2 "$OPEN_LAG") ms (worst second $(fmt_2 "$OPEN_LAG_WORST") ms); latency p99 $(fmt_2 "$OPEN_P99") ms$(exit_note "$OPEN_RC") |"
	echo "| k6 | open, $OPEN_RATE/s planned, $d | $(fmt_2 "$K6_OPEN_ACHIEVED") | | | dropped $K6_OPEN_DROPPED of $((OPEN_RATE * DUR_S)), 200 VUs |"
	echo "| **loadfleet** | memory: $SESSIONS sessions, each request held 1 s, 2 s ramp + $d | $(fmt_int "$MEM_RPS") | | peak RSS $MEM_MB MB < 200 MB: **$mem_pass** | ok $MEM_OK, ko $MEM_KO$(exit_note "$MEM_RC") |"
	echo
	echo "Achieved rates are successful requests (k6: iterations) divided by the $d of load; req/s of the closed runs are each tool's own figure."
}

main() {
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	setup
	start_nginx
	run_wrk wrk
	((SKIP_OURS)) || run_ours_closed
	run_hey
	run_k6_closed
	local closed_rps=$WRK_RPS closed_note=$WRK_NOTE
	run_wrk wrk-open
	WRK_OPEN_RPS=$WRK_RPS
	WRK_RPS=$closed_rps WRK_NOTE=$closed_note
	open_rate
	((SKIP_OURS)) || run_ours_open
	run_k6_open
	stop_pid "$NGINX_PID"
	if ! ((SKIP_OURS)); then
		start_holdserver
		run_ours_memory
		stop_pid "$HOLD_PID"
		show_stderr_tail
	fi
	if [[ -n "$OUT" ]]; then
		report | tee "$OUT"
	else
		report
	fi
}

main
