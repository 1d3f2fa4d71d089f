#!/usr/bin/env bash
# bench-wasm.sh - WebAssembly runtime benchmark for wasmgate.
#
# Builds every kernel in bench/wasm/kernels/*.c three ways (clang -> wasm32,
# gcc -O2 native, clang -O2 native) into bench/out/, runs each one under every
# selected engine, checks that all engines return the same checksum, and
# prints a Markdown table (also written to bench/out/bench-wasm.md; raw
# per-engine results go to bench/out/bench-wasm.tsv).
#
# Engines (BENCH_ENGINES, space or comma separated; default: all):
#   gcc          bench/out/K.gcc            (gcc -O2 + bench/wasm/native_main.c)
#   clang        bench/out/K.clang          (clang -O2 + bench/wasm/native_main.c)
#   wasmgate     build/wasmgate wasm run bench/out/K.wasm --invoke run
#   wasm-interp  wasm-interp bench/out/K.wasm --run-all-exports   (wabt)
#   node         node bench/wasm/run-node.js bench/out/K.wasm run  (V8)
#   ("native" is shorthand for "gcc clang")
#
# Environment:
#   BENCH_RUNS=3         best of N runs per kernel and engine
#   BENCH_SLOW_SECS=5    a run slower than this is not repeated (0: always
#                        do BENCH_RUNS runs)
#   BENCH_KERNELS=...    subset of kernels (default: all, see below)
#   BENCH_ENGINES=...    subset of engines (see above)
#   BENCH_SCALE=100      work size in percent for all kernels
#   BENCH_SCALE_<K>=pct  per-kernel override, e.g. BENCH_SCALE_sort=50
#   BENCH_TIMEOUT=900    per-run timeout in seconds
#   BENCH_STRICT=0       1: a wasmgate failure also makes the exit status 1
#   WASMGATE, WASM_INTERP, NODE, CC_GCC, CC_CLANG, WASM_CC: tool overrides
#   WASM_INTERP_FLAGS    extra wasm-interp flags (e.g. "-V 1048576 -C 65536")
#
# Exit status: 0 ok; 1 checksum mismatch, or a failure of a reference engine
# (or of wasmgate with BENCH_STRICT=1); 2 usage or build error.
# A missing or failing build/wasmgate only yields "n/a" cells.

set -u -o pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2

SRC=bench/wasm
KDIR=$SRC/kernels
OUT=bench/out

RUNS=${BENCH_RUNS:-3}
SLOW=${BENCH_SLOW_SECS:-5}
SCALE=${BENCH_SCALE:-100}
TIMEOUT=${BENCH_TIMEOUT:-900}
STRICT=${BENCH_STRICT:-0}
WASMGATE=${WASMGATE:-build/wasmgate}
WASM_INTERP=${WASM_INTERP:-wasm-interp}
NODE=${NODE:-node}
CC_GCC=${CC_GCC:-gcc}
CC_CLANG=${CC_CLANG:-clang}
WASM_CC=${WASM_CC:-clang}
WASM_INTERP_FLAGS=${WASM_INTERP_FLAGS:-}

ALL_ENGINES="gcc clang wasmgate wasm-interp node"
PREFERRED_ORDER="fib sha256 sort matmul mixed nbody sieve memops"

COMMON_CFLAGS="-O2 -std=c11 -Wall -Wextra"
WASM_FLAGS="--target=wasm32 -nostdlib -Wl,--no-entry -Wl,--export=run
 -Wl,--stack-first -Wl,-z,stack-size=1048576"
# Initial linear memory is sized by wasm-ld (static data + bss + stack).

log() { printf '%s\n' "$*" >&2; }
die() { log "bench-wasm: error: $*"; exit 2; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_posint() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ]; }
is_posint "$RUNS" || die "BENCH_RUNS must be a positive integer"
is_posint "$SCALE" || die "BENCH_SCALE must be a positive integer (percent)"
is_uint "$TIMEOUT" || die "BENCH_TIMEOUT must be an integer (seconds)"
[[ $SLOW =~ ^[0-9]+([.][0-9]+)?$ ]] || die "BENCH_SLOW_SECS must be a number"

# ------------------------------------------------------------ selection
ENGINES=""
for e in $(printf '%s' "${BENCH_ENGINES:-$ALL_ENGINES}" | tr ',' ' '); do
    case $e in
        native) ENGINES="$ENGINES gcc clang" ;;
        gcc|clang|wasmgate|wasm-interp|node) ENGINES="$ENGINES $e" ;;
        *) die "unknown engine '$e' (known: $ALL_ENGINES native)" ;;
    esac
done
selected() { [[ " $ENGINES " == *" $1 "* ]]; }
# canonical order (gcc first: the first engine of a row is the checksum reference)
sel=$ENGINES
ENGINES=""
for e in $ALL_ENGINES; do
    [[ " $sel " == *" $e "* ]] && ENGINES="$ENGINES $e"
done

available=""
for f in "$KDIR"/*.c; do
    [ -e "$f" ] || continue
    available="$available $(basename "$f" .c)"
done
[ -n "$available" ] || die "no kernels in $KDIR"
if [ -n "${BENCH_KERNELS:-}" ]; then
    KERNELS=""
    for k in $(printf '%s' "$BENCH_KERNELS" | tr ',' ' '); do
        [[ " $available " == *" $k "* ]] || die "unknown kernel '$k' (available:$available)"
        KERNELS="$KERNELS $k"
    done
else
    KERNELS=""
    for k in $PREFERRED_ORDER; do
        [[ " $available " == *" $k "* ]] && KERNELS="$KERNELS $k"
    done
    for k in $available; do
        [[ " $KERNELS " == *" $k "* ]] || KERNELS="$KERNELS $k"
    done
fi

kernel_scale() {
    local var="BENCH_SCALE_$1" v
    v=${!var:-$SCALE}
    is_posint "$v" || die "$var must be a positive integer (percent)"
    printf '%s' "$v"
}

# ------------------------------------------------------------ tools
have() { command -v "$1" >/dev/null 2>&1; }
have "$WASM_CC" || die "$WASM_CC (needed to build the wasm kernels) not found"
have awk || die "awk not found"
if have timeout; then TIMEOUT_CMD=(timeout "$TIMEOUT"); else TIMEOUT_CMD=(); fi

declare -A ENGINE_OK ENGINE_WHY
for e in $ENGINES; do
    ENGINE_OK[$e]=1
    case $e in
        gcc) have "$CC_GCC" || { ENGINE_OK[$e]=0; ENGINE_WHY[$e]="$CC_GCC not found"; } ;;
        clang) have "$CC_CLANG" || { ENGINE_OK[$e]=0; ENGINE_WHY[$e]="$CC_CLANG not found"; } ;;
        wasmgate) [ -x "$WASMGATE" ] || { ENGINE_OK[$e]=0; ENGINE_WHY[$e]="$WASMGATE not found (build it first)"; } ;;
        wasm-interp) have "$WASM_INTERP" || { ENGINE_OK[$e]=0; ENGINE_WHY[$e]="$WASM_INTERP not found"; } ;;
        node) have "$NODE" || { ENGINE_OK[$e]=0; ENGINE_WHY[$e]="$NODE not found"; } ;;
    esac
    [ "${ENGINE_OK[$e]}" = 1 ] || log "bench-wasm: warning: engine $e unavailable: ${ENGINE_WHY[$e]} (its cells will be n/a)"
done

# ------------------------------------------------------------ build
mkdir -p "$OUT" || die "cannot create $OUT"
[ -e "$OUT/.gitignore" ] || printf '*\n' > "$OUT/.gitignore"

build() {  # build <kernel>
    local k=$1 pct src=$KDIR/$1.c
    pct=$(kernel_scale "$k") || exit 2
    # shellcheck disable=SC2086
    "$WASM_CC" $WASM_FLAGS $COMMON_CFLAGS -DBENCH_SCALE_PCT="$pct" \
        -o "$OUT/$k.wasm" "$src" || die "wasm build of $k failed"
    if have wasm-objdump; then
        if wasm-objdump -x -j Import "$OUT/$k.wasm" 2>/dev/null | grep -q '^Import\['; then
            die "$OUT/$k.wasm has imports; kernels must be freestanding"
        fi
        wasm-objdump -x -j Export "$OUT/$k.wasm" 2>/dev/null | grep -q '"run"' ||
            die "$OUT/$k.wasm does not export run"
    fi
    if selected gcc && [ "${ENGINE_OK[gcc]}" = 1 ]; then
        # shellcheck disable=SC2086
        "$CC_GCC" $COMMON_CFLAGS -DBENCH_SCALE_PCT="$pct" -o "$OUT/$k.gcc" \
            "$src" "$SRC/native_main.c" -lm || die "gcc build of $k failed"
    fi
    if selected clang && [ "${ENGINE_OK[clang]}" = 1 ]; then
        # shellcheck disable=SC2086
        "$CC_CLANG" $COMMON_CFLAGS -DBENCH_SCALE_PCT="$pct" -o "$OUT/$k.clang" \
            "$src" "$SRC/native_main.c" -lm || die "clang build of $k failed"
    fi
}

log "bench-wasm: building kernels:$KERNELS"
for k in $KERNELS; do build "$k"; done

# ------------------------------------------------------------ run
# Extract the checksum from an engine's stdout; print it normalised to an
# unsigned 32-bit decimal, or nothing if the output is not understood.
parse_result() {  # parse_result <engine> <stdout-file>
    if [ "$1" = wasm-interp ]; then
        # wabt: "run() => i32:12345"
        awk '/^run\(\) => i(32|64):-?[0-9]+[ \t]*$/ { sub(/^run\(\) => i(32|64):/, ""); v = $1 }
             END { if (v != "") print v }' "$2"
    else
        # last non-empty line: an integer, optionally "i32:"/"i64:" prefixed
        awk 'NF { last = $0 }
             END { gsub(/^[ \t]+|[ \t\r]+$/, "", last); sub(/^i(32|64):/, "", last)
                   if (last ~ /^-?[0-9]+$/) print last }' "$2"
    fi | awk 'NF { v = $1 + 0; if (v < 0) v += 4294967296; printf "%.0f\n", v }'
}

engine_cmd() {  # sets CMD=(...) for <engine> <kernel>
    local wasm=$OUT/$2.wasm
    case $1 in
        gcc) CMD=("$OUT/$2.gcc") ;;
        clang) CMD=("$OUT/$2.clang") ;;
        wasmgate) CMD=("$WASMGATE" wasm run "$wasm" --invoke run) ;;
        wasm-interp)
            # shellcheck disable=SC2206  # flags are meant to be word-split
            CMD=("$WASM_INTERP" $WASM_INTERP_FLAGS "$wasm" --run-all-exports) ;;
        node) CMD=("$NODE" "$SRC/run-node.js" "$wasm" run) ;;
    esac
}

TSV=$OUT/bench-wasm.tsv
printf 'kernel\tengine\tseconds\tchecksum\tstatus\n' > "$TSV"
STDOUT_F=$OUT/.run.stdout
STDERR_F=$OUT/.run.stderr
FAILED_REF=0
FAILED_WG=0
declare -A LAST_ERR

# run_one <engine> <kernel>: best-of-N; appends a row to the TSV
run_one() {
    local e=$1 k=$2 i t0 t1 rc dt sum errout best="" bestsum="" status=ok msg=""
    if [ "${ENGINE_OK[$e]}" != 1 ]; then
        printf '%s\t%s\t\t\tunavailable\n' "$k" "$e" >> "$TSV"
        return
    fi
    engine_cmd "$e" "$k"
    for ((i = 1; i <= RUNS; i++)); do
        t0=$EPOCHREALTIME
        "${TIMEOUT_CMD[@]}" "${CMD[@]}" > "$STDOUT_F" 2> "$STDERR_F" < /dev/null
        rc=$?
        t1=$EPOCHREALTIME
        dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
        if [ $rc -ne 0 ]; then
            status=failed
            if [ $rc -eq 124 ] && [ ${#TIMEOUT_CMD[@]} -gt 0 ]; then
                msg="timed out after ${TIMEOUT}s"
            else
                msg="exit status $rc"
            fi
            break
        fi
        sum=$(parse_result "$e" "$STDOUT_F")
        if [ -z "$sum" ]; then
            status=failed
            msg="could not parse a checksum from its output"
            break
        fi
        if [ -n "$bestsum" ] && [ "$sum" != "$bestsum" ]; then
            status=failed
            msg="checksum changed between runs ($bestsum, then $sum)"
            break
        fi
        bestsum=$sum
        if [ -z "$best" ] || awk -v a="$dt" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$dt
        fi
        log "  $k / $e: run $i: ${dt}s checksum $sum"
        if [ "$SLOW" != 0 ] && awk -v a="$dt" -v s="$SLOW" 'BEGIN { exit !(a > s) }'; then
            break
        fi
    done
    if [ "$status" != ok ]; then
        log "bench-wasm: ERROR: $e failed on kernel $k: $msg"
        log "  command: ${CMD[*]}"
        errout=$(cat "$STDERR_F" "$STDOUT_F" | head -n 10)
        if [ -z "$errout" ]; then
            log "  (no output)"
        elif [ "$errout" = "${LAST_ERR[$e]:-}" ]; then
            log "  (same output as its previous failure)"
        else
            log "  output (first 10 lines):"
            printf '%s\n' "$errout" | sed 's/^/    | /' >&2
        fi
        LAST_ERR[$e]=$errout
        if [ "$e" = wasmgate ]; then FAILED_WG=1; else FAILED_REF=1; fi
        printf '%s\t%s\t\t\tfailed\n' "$k" "$e" >> "$TSV"
        return
    fi
    printf '%s\t%s\t%s\t%s\tok\n' "$k" "$e" "$best" "$bestsum" >> "$TSV"
}

log "bench-wasm: engines:$ENGINES; best of $RUNS run(s) (runs over ${SLOW}s not repeated)"
for k in $KERNELS; do
    for e in $ENGINES; do
        run_one "$e" "$k"
    done
done
rm -f "$STDOUT_F" "$STDERR_F"

# ------------------------------------------------------------ report
MD=$OUT/bench-wasm.md
versions() {
    local v=""
    selected gcc && have "$CC_GCC" && v="$v; $("$CC_GCC" --version | head -n 1)"
    v="$v; $("$WASM_CC" --version | head -n 1)"
    selected wasm-interp && have "$WASM_INTERP" &&
        v="$v; wabt wasm-interp $("$WASM_INTERP" --version 2>/dev/null | head -n 1)"
    selected node && have "$NODE" && v="$v; node $("$NODE" --version 2>/dev/null)"
    printf '%s' "${v#; }"
}
scale_desc() {
    local d="$SCALE%" k p o=""
    for k in $KERNELS; do
        p=$(kernel_scale "$k")
        [ "$p" = "$SCALE" ] || o="$o, $k=$p%"
    done
    [ -z "$o" ] || d="$d (${o#, })"
    printf '%s' "$d"
}

awk -F '\t' -v kernels="$KERNELS" -v engines="$ENGINES" -v runs="$RUNS" \
    -v slow="$SLOW" -v scale="$(scale_desc)" -v vers="$(versions)" \
    -v host="$(uname -sm)" -v date="$(date -u '+%Y-%m-%d %H:%M UTC')" '
function cell(k, e) {
    if (!((k, e) in st)) return "skipped"
    if (st[k, e] != "ok") return "n/a"
    return sprintf("%.3f", t[k, e]) (bad[k, e] ? " **MISMATCH**" : "")
}
function okt(k, e) { return ((k, e) in st) && st[k, e] == "ok" && !bad[k, e] }
function ratio(a, b, name) {
    if (a == "" || b == "" || b <= 0) return "n/a"
    lsum[name] += log(a / b); ln[name]++
    return sprintf("%.1f", a / b)
}
NR > 1 { st[$1, $2] = $5; if ($5 == "ok") { t[$1, $2] = $3; cs[$1, $2] = $4 } }
END {
    nk = split(kernels, K, " "); ne = split(engines, E, " ")
    mismatch = 0
    for (i = 1; i <= nk; i++) {
        k = K[i]; ref = ""; refe = ""
        for (j = 1; j <= ne; j++) if (((k, E[j]) in st) && st[k, E[j]] == "ok") {
            if (ref == "") { ref = cs[k, E[j]]; refe = E[j] }
            else if (cs[k, E[j]] != ref) {
                bad[k, E[j]] = 1; mismatch = 1
                printf "bench-wasm: CHECKSUM MISMATCH: %s: %s returned %s, %s returned %s\n", \
                    k, E[j], cs[k, E[j]], refe, ref > "/dev/stderr"
            }
        }
        checksum[k] = ref
    }
    print "| kernel | native gcc (s) | native clang (s) | wasmgate (s) | wasm-interp (s) | node (s) | wasmgate/native | wasm-interp/wasmgate |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nk; i++) {
        k = K[i]
        nat = ""
        if (okt(k, "gcc")) nat = t[k, "gcc"]
        if (okt(k, "clang") && (nat == "" || t[k, "clang"] < nat)) nat = t[k, "clang"]
        wg = okt(k, "wasmgate") ? t[k, "wasmgate"] : ""
        wi = okt(k, "wasm-interp") ? t[k, "wasm-interp"] : ""
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", k,
            cell(k, "gcc"), cell(k, "clang"), cell(k, "wasmgate"),
            cell(k, "wasm-interp"), cell(k, "node"),
            ratio(wg, nat, "wn"), ratio(wi, wg, "iw")
    }
    gm1 = ln["wn"] ? sprintf("%.1f", exp(lsum["wn"] / ln["wn"])) : "n/a"
    gm2 = ln["iw"] ? sprintf("%.1f", exp(lsum["iw"] / ln["iw"])) : "n/a"
    if (ln["wn"] && ln["wn"] < nk) gm1 = gm1 " (" ln["wn"] "/" nk ")"
    if (ln["iw"] && ln["iw"] < nk) gm2 = gm2 " (" ln["iw"] "/" nk ")"
    printf "| **geomean** | | | | | | **%s** | **%s** |\n", gm1, gm2
    print ""
    print "Notes:"
    print "- \"native\" in the ratios is the faster of gcc -O2 and clang -O2 for each kernel."
    printf "- Wall-clock seconds per process (start-up included; node also pays V8 start-up and compilation), best of %d run(s); a run longer than %ss is not repeated.\n", runs, slow
    print "- n/a: engine unavailable or failed on that kernel (see the log); skipped: engine not selected (BENCH_ENGINES)."
    if (mismatch) print "- **CHECKSUM MISMATCH**: the marked engines disagree with the first engine of the row."
    else print "- Checksums agree across all engines that ran."
    cl = ""
    for (i = 1; i <= nk; i++) cl = cl (i > 1 ? ", " : "") K[i] "=" (checksum[K[i]] == "" ? "n/a" : checksum[K[i]])
    print "- Checksums: " cl "."
    printf "- Work scale %s (BENCH_SCALE, BENCH_SCALE_<kernel>); %s; %s; %s.\n", scale, host, vers, date
    exit mismatch
}' "$TSV" > "$MD"
mismatch=$?

cat "$MD"
log "bench-wasm: table written to $MD (raw results: $TSV)"

if [ $mismatch -ne 0 ]; then
    log "bench-wasm: FAILED: checksum mismatch (see above)"
    exit 1
fi
if [ $FAILED_REF -ne 0 ]; then
    log "bench-wasm: FAILED: a reference engine failed (see above)"
    exit 1
fi
if [ $FAILED_WG -ne 0 ] && [ "$STRICT" = 1 ]; then
    log "bench-wasm: FAILED: wasmgate failed (BENCH_STRICT=1)"
    exit 1
fi
exit 0
