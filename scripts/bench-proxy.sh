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
# Each: requests/s, p50 and p99 latency (wrk --latency), ratios to (b) and
# (c), and the CPU time (user + system, from /proc/PID/stat) the server
# under test spent per request: the nginx origin for (a), the proxy for
# the others. CPU per request is steadier than requests/s on a shared
# machine. Then wasmgate's resident memory (VmRSS) with 0, 1 and 10 plugins
# loaded. Writes bench/out/bench-proxy.md.
#
# Environment:
#   BENCH_SECONDS   wrk duration per case (default 10)
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

SECONDS_PER_CASE=${BENCH_SECONDS:-10}
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

declare -A RPS P50 P99 ERRS CPU
CASES=()
CLK_TCK=$(getconf CLK_TCK)

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

# bench KEY LABEL URL PID...: PIDs are the server whose CPU is counted.
bench() {
    local key=$1 label=$2 url=$3 out t0 t1 n
    shift 3
    echo "bench-proxy: $label (${SECONDS_PER_CASE}s)..." >&2
    # Warm-up, then the measured run.
    wrk -t"$THREADS" -c"$CONNS" -d1s "$url" >/dev/null 2>&1 || true
    t0=$(cpu_ticks "$@")
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_PER_CASE}s" --latency "$url")
    t1=$(cpu_ticks "$@")
    echo "$out" >"$WORK/wrk-$key.txt"
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    CPU[$key]=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="${n:-0}" \
        'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-" }')
    RPS[$key]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    P50[$key]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    P99[$key]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    local non2xx sockerr
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    sockerr=$(awk '/Socket errors:/ {print}' <<<"$out")
    ERRS[$key]="${non2xx:+non-2xx: $non2xx }${sockerr:+${sockerr# *}}"
    CASES+=("$key|$label")
}

# shellcheck disable=SC2046  # the worker PIDs are separate words on purpose
bench a "(a) nginx origin, direct" "http://127.0.0.1:$ORIGIN_PORT/" $(nginx_workers origin)
# shellcheck disable=SC2046
bench b "(b) nginx reverse proxy" "http://127.0.0.1:$NGINX_PROXY_PORT/" $(nginx_workers proxy)

wasmgate_start none
bench c "(c) wasmgate, no plugins" "http://127.0.0.1:$WG_PORT/" "$WG_PID"
wasmgate_stop

mkdir -p "$WORK/wg-c1/manifests"
manifest "$WORK/wg-c1/manifests" add-header "$PLUGINS/add_header.wasm" '{"value": "bench"}'
wasmgate_start c1
bench d "(d) wasmgate + add_header (C)" "http://127.0.0.1:$WG_PORT/" "$WG_PID"
wasmgate_stop

mkdir -p "$WORK/wg-as/manifests"
manifest "$WORK/wg-as/manifests" as-add-header "$AS_PLUGINS/add_header.wasm"
wasmgate_start as
bench e "(e) wasmgate + add_header (AssemblyScript)" "http://127.0.0.1:$WG_PORT/" "$WG_PID"
wasmgate_stop

mkdir -p "$WORK/wg-five/manifests"
m=$WORK/wg-five/manifests
manifest "$m" add-header-1 "$PLUGINS/add_header.wasm" '{"value": "one"}'
manifest "$m" add-header-2 "$PLUGINS/add_header.wasm" '{"value": "two"}'
manifest "$m" add-header-4 "$PLUGINS/add_header.wasm" '{"value": "four"}'
manifest "$m" add-header-5 "$PLUGINS/add_header.wasm" '{"value": "five"}'
manifest "$m" add-header-3 "$PLUGINS/add_header.wasm" '{"value": "three"}'
wasmgate_start five
bench f "(f) wasmgate + 5 plugins" "http://127.0.0.1:$WG_PORT/" "$WG_PID"
wasmgate_stop

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

ratio() { # num den
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

mkdir -p "$(dirname "$OUT_MD")"
{
    echo "# make bench-proxy"
    echo
    echo "wrk on loopback, keep-alive: $THREADS threads, $CONNS connections, ${SECONDS_PER_CASE} s"
    echo "per case (after a 1 s warm-up). Upstream: nginx \`return 200\` (17-byte body),"
    echo "1 worker. nginx proxy and wasmgate: $WORKERS worker(s); wasmgate with"
    echo "\`access_log: false\`, plugins FAIL_OPEN."
    echo
    echo "| case | requests/s | p50 ms | p99 ms | vs (b) nginx proxy | vs (c) wasmgate | CPU µs/request | CPU vs (b) | CPU vs (c) | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for entry in "${CASES[@]}"; do
        key=${entry%%|*}
        label=${entry#*|}
        echo "| $label | ${RPS[$key]} | ${P50[$key]} | ${P99[$key]} |" \
            "$(ratio "${RPS[$key]}" "${RPS[b]}") | $(ratio "${RPS[$key]}" "${RPS[c]}") |" \
            "${CPU[$key]} | $(ratio "${CPU[b]}" "${CPU[$key]}") | $(ratio "${CPU[c]}" "${CPU[$key]}") |" \
            "${ERRS[$key]:-} |"
    done
    echo
    echo "Ratios are of requests/s, and of CPU per request inverted (both: higher"
    echo "is better; CPU vs (b) = (b)'s CPU per request / this case's). (f) chains five C plugins:"
    echo "add_header x5, five VMs (the AssemblyScript SDK's own cost is (e))."
    echo
    echo "wasmgate resident memory (VmRSS after 1 s of traffic, $WORKERS worker(s)):"
    echo
    echo "| plugins loaded | VmRSS MiB |"
    echo "|---:|---:|"
    for n in 0 1 10; do
        awk -v n="$n" -v k="${RSS[$n]}" 'BEGIN { printf "| %d | %.1f |\n", n, k / 1024 }'
    done
    echo
    echo "($(nproc) CPUs, $(uname -m), nginx $(nginx -v 2>&1 | sed 's|.*/||')," \
        "$(date -u '+%Y-%m-%d %H:%M UTC'))"
} >"$OUT_MD"
cat "$OUT_MD"
