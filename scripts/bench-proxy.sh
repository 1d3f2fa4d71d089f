#!/usr/bin/env bash
# make bench-proxy: wasmgate's throughput and latency against nginx, on
# loopback, keep-alive, all in one run:
#
#   (a) wrk -> nginx origin (a small response from `return 200`)
#   (b) wrk -> nginx reverse proxy -> (a)
#   (c) wrk -> wasmgate, no plugins -> (a)
#   (d) wrk -> wasmgate + tests/plugins/add_header.wasm (C) -> (a)
#   (e) wrk -> wasmgate + AssemblyScript add_header (build/plugins-as) -> (a)
#   (f) wrk -> wasmgate + 5 C plugins (add_header x5, each its own VM) -> (a)
#
# All six servers run at once; each of BENCH_ROUNDS rounds measures every
# case back to back, so that the machine's load changes hit every case of a
# round alike. Each case: requests/s, p50 and p99 latency (wrk --latency),
# ratios to (b) and (c), and the CPU time (user + system, from
# /proc/PID/stat) the server under test spent per request: the nginx origin
# for (a), the proxy for the others. CPU per request is steadier than
# requests/s on a shared machine. The report gives medians over the rounds
# and the per-round ratios of the two targets. Then wasmgate's resident
# memory (VmRSS) with 0, 1 and 10 plugins loaded. Writes
# bench/out/bench-proxy.md.
#
# Environment:
#   BENCH_ROUNDS    rounds (default 5)
#   BENCH_SECONDS   wrk duration per case and round (default 4)
#   BENCH_THREADS   wrk threads (default 2)
#   BENCH_CONNS     wrk connections (default 50)
#   PROXY_WORKERS   worker processes/threads of the nginx proxy and of
#                   wasmgate (default 1; nginx origin always has 1)
#   WASMGATE        the binary (default build/wasmgate)
#   PLUGIN_DIR, AS_PLUGIN_DIR   the test plugins (default build/plugins,
#                   build/plugins-as)
# Needs wrk and nginx (scripts/deps.sh installs both) and the test plugins
# (make plugins). Runs as any user: nginx gets its own prefix in a
# temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECONDS_PER_CASE=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-5}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-50}
WORKERS=${PROXY_WORKERS:-1}
WASMGATE=${WASMGATE:-build/wasmgate}
PLUGINS=${PLUGIN_DIR:-build/plugins}
AS_PLUGINS=${AS_PLUGIN_DIR:-build/plugins-as}
OUT_MD=bench/out/bench-proxy.md

die() { echo "bench-proxy: $*" >&2; exit 1; }

for tool in wrk nginx curl python3; do
    command -v "$tool" >/dev/null || die "$tool not found (run scripts/deps.sh)"
done
[ -x "$WASMGATE" ] || die "$WASMGATE missing (run make)"
for f in "$PLUGINS/add_header.wasm" "$AS_PLUGINS/add_header.wasm"; do
    [ -f "$f" ] || die "$f missing (run make plugins)"
done
WASMGATE=$(cd "$(dirname "$WASMGATE")" && pwd)/$(basename "$WASMGATE")
PLUGINS=$(cd "$PLUGINS" && pwd)
AS_PLUGINS=$(cd "$AS_PLUGINS" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-proxy.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

wait_http() { # url [tries]
    local i
    for ((i = 0; i < ${2:-100}; i++)); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---- nginx ------------------------------------------------------------------------

# nginx_start NAME WORKERS SERVER_BLOCK: an nginx with its own prefix dir.
nginx_start() {
    local name=$1 workers=$2 server=$3 dir=$WORK/nginx-$1
    mkdir -p "$dir/logs" "$dir/tmp"
    local temps="" t
    # Only the temp paths of modules this nginx has (nginx-light lacks some).
    for t in client_body proxy fastcgi uwsgi scgi; do
        temps+="    ${t}_temp_path $dir/tmp/$t;"$'\n'
    done
    write_conf() {
        cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
$temps    keepalive_requests 1000000;
    keepalive_timeout 75s;
$server
}
EOF
    }
    write_conf
    # Drop temp-path directives this build does not know.
    local err
    while ! err=$(nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" -t 2>&1); do
        local bad
        bad=$(sed -n 's/.*unknown directive "\([a-z_]*_temp_path\)".*/\1/p' <<<"$err" | head -1)
        [ -n "$bad" ] || die "nginx $name config rejected: $err"
        temps=$(grep -v "^    $bad " <<<"$temps")$'\n'
        write_conf
    done
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" -g 'daemon off;' \
        >"$dir/logs/stdout.log" 2>&1 &
    PIDS+=($!)
}

ORIGIN_PORT=$(free_port)
NGINX_PROXY_PORT=$(free_port)
nginx_start origin 1 "    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        location / { default_type text/plain; return 200 \"hello from nginx\n\"; }
    }"
nginx_start proxy "$WORKERS" "    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:$NGINX_PROXY_PORT;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering on;
        }
    }"
wait_http "http://127.0.0.1:$ORIGIN_PORT/" || die "nginx origin did not start"
wait_http "http://127.0.0.1:$NGINX_PROXY_PORT/" || die "nginx proxy did not start"

# ---- wasmgate -------------------------------------------------------------------------

WG_PID=
WG_PORT=
WG_ADMIN=

# manifest DIR NAME PATH [CONFIG_JSON]
manifest() {
    local config=${4:-"{}"}
    cat >"$1/$2.yaml" <<EOF
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: $2, namespace: default}
spec:
  url: file://$3
  failStrategy: FAIL_OPEN
  pluginConfig: $config
EOF
}

# wasmgate_start NAME: starts wasmgate with the manifests in $WORK/wg-NAME/manifests.
wasmgate_start() {
    local dir=$WORK/wg-$1
    mkdir -p "$dir/manifests"
    WG_PORT=$(free_port)
    WG_ADMIN=$(free_port)
    cat >"$dir/config.yaml" <<EOF
admin: {address: 127.0.0.1:$WG_ADMIN}
workers: $WORKERS
access_log: false
log_level: warn
listeners:
- name: main
  address: 127.0.0.1:$WG_PORT
  routes:
  - match: {prefix: /}
    cluster: origin
clusters:
- name: origin
  endpoints: [127.0.0.1:$ORIGIN_PORT]
plugins:
  manifests: $dir/manifests
  cache_dir: $dir/cache
EOF
    "$WASMGATE" run -c "$dir/config.yaml" >"$dir/wasmgate.log" 2>&1 &
    WG_PID=$!
    PIDS+=("$WG_PID")
    if ! wait_http "http://127.0.0.1:$WG_ADMIN/ready" 200; then
        cat "$dir/wasmgate.log" >&2
        die "wasmgate ($1) did not become ready"
    fi
    wait_http "http://127.0.0.1:$WG_PORT/" || {
        cat "$dir/wasmgate.log" >&2
        die "wasmgate ($1) does not proxy"
    }
}

wasmgate_stop() {
    kill -TERM "$WG_PID" 2>/dev/null || true
    wait "$WG_PID" 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---- wrk ---------------------------------------------------------------------------------

# to_ms VALUE_WITH_UNIT (wrk prints us, ms, s)
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

CLK_TCK=$(getconf CLK_TCK)
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# cpu_ticks PID...: the user + system clock ticks the processes have used.
cpu_ticks() {
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

# nginx_workers NAME: the worker processes of an nginx from nginx_start.
nginx_workers() { pgrep -P "$(cat "$WORK/nginx-$1/nginx.pid")"; }

# The cases: key, label, URL, and the PIDs whose CPU is counted.
declare -A LABEL URL SERVER
CASE_KEYS=()
add_case() { # KEY LABEL URL PID...
    local key=$1
    LABEL[$key]=$2
    URL[$key]=$3
    shift 3
    SERVER[$key]="$*"
    CASE_KEYS+=("$key")
}

# measure KEY ROUND: one wrk run; appends a line to $RESULTS.
measure() {
    local key=$1 round=$2 out t0 t1 n cpu rps p50 p99 non2xx sockerr
    # shellcheck disable=SC2086  # SERVER holds several PIDs on purpose
    t0=$(cpu_ticks ${SERVER[$key]})
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_CASE}s" --latency "${URL[$key]}")
    # shellcheck disable=SC2086
    t1=$(cpu_ticks ${SERVER[$key]})
    echo "$out" >"$WORK/wrk-$key-$round.txt"
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="${n:-0}" \
        'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "nan" }')
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    sockerr=$(awk '/Socket errors:/ {print}' <<<"$out")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$round" "${rps:-0}" "$p50" "$p99" "$cpu" \
        "${non2xx:+non-2xx: $non2xx }${sockerr:+${sockerr# *}}" >>"$RESULTS"
}

# Every server runs for the whole measurement, so that each round measures
# every case back to back: a load change on the machine then hits all cases
# of a round alike, and the per-round ratios and their medians stay
# comparable (a case measured once, minutes after another, is not).
# shellcheck disable=SC2046  # the worker PIDs are separate words on purpose
add_case a "(a) nginx origin, direct" "http://127.0.0.1:$ORIGIN_PORT/" $(nginx_workers origin)
# shellcheck disable=SC2046
add_case b "(b) nginx reverse proxy" "http://127.0.0.1:$NGINX_PROXY_PORT/" $(nginx_workers proxy)

WG_PIDS=()
wasmgate_start none
WG_PIDS+=("$WG_PID")
add_case c "(c) wasmgate, no plugins" "http://127.0.0.1:$WG_PORT/" "$WG_PID"

mkdir -p "$WORK/wg-c1/manifests"
manifest "$WORK/wg-c1/manifests" add-header "$PLUGINS/add_header.wasm" '{"value": "bench"}'
wasmgate_start c1
WG_PIDS+=("$WG_PID")
add_case d "(d) wasmgate + add_header (C)" "http://127.0.0.1:$WG_PORT/" "$WG_PID"

mkdir -p "$WORK/wg-as/manifests"
manifest "$WORK/wg-as/manifests" as-add-header "$AS_PLUGINS/add_header.wasm"
wasmgate_start as
WG_PIDS+=("$WG_PID")
add_case e "(e) wasmgate + add_header (AssemblyScript)" "http://127.0.0.1:$WG_PORT/" "$WG_PID"

mkdir -p "$WORK/wg-five/manifests"
m=$WORK/wg-five/manifests
manifest "$m" add-header-1 "$PLUGINS/add_header.wasm" '{"value": "one"}'
manifest "$m" add-header-2 "$PLUGINS/add_header.wasm" '{"value": "two"}'
manifest "$m" add-header-4 "$PLUGINS/add_header.wasm" '{"value": "four"}'
manifest "$m" add-header-5 "$PLUGINS/add_header.wasm" '{"value": "five"}'
manifest "$m" add-header-3 "$PLUGINS/add_header.wasm" '{"value": "three"}'
wasmgate_start five
WG_PIDS+=("$WG_PID")
add_case f "(f) wasmgate + 5 plugins" "http://127.0.0.1:$WG_PORT/" "$WG_PID"

for key in "${CASE_KEYS[@]}"; do # warm-up
    wrk -t"$THREADS" -c"$CONNS" -d1s "${URL[$key]}" >/dev/null 2>&1 || true
done
# Each round starts one case later, so that no case always follows the
# same one.
ncases=${#CASE_KEYS[@]}
for ((round = 1; round <= ROUNDS; round++)); do
    echo "bench-proxy: round $round of $ROUNDS (${ncases} cases, ${SECONDS_PER_CASE}s each)..." >&2
    for ((i = 0; i < ncases; i++)); do
        measure "${CASE_KEYS[$(((i + round - 1) % ncases))]}" "$round"
    done
done
for pid in "${WG_PIDS[@]}"; do # the next part starts its own wasmgates
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done

# ---- memory --------------------------------------------------------------------------------

declare -A RSS
for n in 0 1 10; do
    mkdir -p "$WORK/wg-rss$n/manifests"
    for ((i = 1; i <= n; i++)); do
        manifest "$WORK/wg-rss$n/manifests" "add-header-$i" "$PLUGINS/add_header.wasm" \
            "{\"value\": \"v$i\"}"
    done
    wasmgate_start "rss$n"
    # A little traffic, so every VM has run a stream.
    wrk -t1 -c4 -d1s "http://127.0.0.1:$WG_PORT/" >/dev/null 2>&1 || true
    RSS[$n]=$(rss_kib "$WG_PID")
    wasmgate_stop
done

# ---- report ----------------------------------------------------------------------------------

mkdir -p "$(dirname "$OUT_MD")"
python3 - "$RESULTS" "$THREADS" "$CONNS" "$SECONDS_PER_CASE" "$ROUNDS" "$WORKERS" \
    "${RSS[0]}" "${RSS[1]}" "${RSS[10]}" "$(nproc)" "$(uname -m)" \
    "$(nginx -v 2>&1 | sed 's|.*/||')" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "$(IFS='|'; echo "${CASE_KEYS[*]}")" \
    "$(for k in "${CASE_KEYS[@]}"; do printf '%s|' "${LABEL[$k]}"; done)" >"$OUT_MD" <<'PY'
import statistics, sys

(results, threads, conns, seconds, rounds, workers, rss0, rss1, rss10, ncpu, arch, nginx,
 when, keys, labels) = sys.argv[1:16]
keys = keys.split("|")
labels = dict(zip(keys, labels.split("|")))
rows = {}  # key -> round -> (rps, p50, p99, cpu, errors)
for line in open(results):
    key, rnd, rps, p50, p99, cpu, errs = line.rstrip("\n").split("\t")
    rows.setdefault(key, {})[int(rnd)] = (float(rps), float(p50), float(p99), float(cpu), errs)

def med(values):
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")

def col(key, i):
    return [r[i] for r in rows[key].values()]

def ratios(num, den, i, invert=False):
    """Per-round ratios num/den (den/num when invert) of field i."""
    out = []
    for rnd in sorted(rows[num]):
        if rnd in rows[den]:
            a, b = rows[num][rnd][i], rows[den][rnd][i]
            if invert:
                a, b = b, a
            out.append(a / b if b > 0 else float("nan"))
    return out

def fmt(x, digits=2):
    return "-" if x != x else f"{x:.{digits}f}"

print("# make bench-proxy")
print()
print(f"wrk on loopback, keep-alive: {threads} threads, {conns} connections. {rounds} rounds;")
print(f"each round measures every case for {seconds} s, back to back, one case later each")
print("round (all servers run throughout). Upstream: nginx `return 200` (17-byte body),")
print(f"1 worker. nginx proxy and wasmgate: {workers} worker(s); wasmgate with")
print("`access_log: false`, plugins FAIL_OPEN.")
print()
print("Medians over the rounds. Ratios are the median of the per-round ratios, of")
print("requests/s and of CPU per request inverted (both: higher is better; CPU vs (b) =")
print("(b)'s CPU per request / this case's). CPU: user + system time of the server under")
print("test (the origin for (a), the proxy otherwise) per request.")
print()
print("| case | requests/s | p50 ms | p99 ms | vs (b) nginx proxy | vs (c) wasmgate "
      "| CPU µs/request | CPU vs (b) | CPU vs (c) | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for k in keys:
    errs = sorted({r[4] for r in rows[k].values() if r[4]})
    print(f"| {labels[k]} | {med(col(k, 0)):.0f} | {fmt(med(col(k, 1)), 3)} "
          f"| {fmt(med(col(k, 2)), 3)} | {fmt(med(ratios(k, 'b', 0)))} "
          f"| {fmt(med(ratios(k, 'c', 0)))} | {fmt(med(col(k, 3)), 1)} "
          f"| {fmt(med(ratios(k, 'b', 3, True)))} | {fmt(med(ratios(k, 'c', 3, True)))} "
          f"| {'; '.join(errs)} |")
print()
print("The targets, round by round (requests/s ratio; CPU ratio):")
print()
print("| round | (c) vs (b) | (d) vs (c) |")
print("|---:|---|---|")
cb, cbc = ratios("c", "b", 0), ratios("c", "b", 3, True)
dc, dcc = ratios("d", "c", 0), ratios("d", "c", 3, True)
for i in range(len(cb)):
    print(f"| {i + 1} | {fmt(cb[i])}; {fmt(cbc[i])} | {fmt(dc[i])}; {fmt(dcc[i])} |")
print(f"| median | {fmt(med(cb))}; {fmt(med(cbc))} | {fmt(med(dc))}; {fmt(med(dcc))} |")
print()
print("(f) chains five C plugins: add_header x5, five VMs (the AssemblyScript SDK's own")
print("cost is (e)).")
print()
print(f"wasmgate resident memory (VmRSS after 1 s of traffic, {workers} worker(s)):")
print()
print("| plugins loaded | VmRSS MiB |")
print("|---:|---:|")
for n, kib in (("0", rss0), ("1", rss1), ("10", rss10)):
    print(f"| {n} | {int(kib) / 1024:.1f} |")
print()
print(f"({ncpu} CPUs, {arch}, nginx {nginx}, {when})")
PY
cat "$OUT_MD"
