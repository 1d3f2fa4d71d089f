#!/usr/bin/env bash
# Run the WebAssembly core spec test suite against wasmgate's runtime.
#
#   scripts/spec.sh                 every .wast of the suite
#   scripts/spec.sh i32.wast f32    only these (names or paths)
#
# Expects the runner to be built (cmake --build build): $BUILD_DIR/spec_runner.
# Converts each .wast with wast2json into $BUILD_DIR/spec-json/ (again only
# when the .wast is newer), runs each file in its own process under
# `timeout`, prints each file's result in sorted order and then the sums.
#
# Environment:
#   SPEC_DIR        the suite (default: ../shared/wasm-spec-testsuite next
#                   to the repository)
#   BUILD_DIR       the CMake build directory (default: build)
#   SPEC_SIMD=1     run the simd_* files for real (default: all skipped)
#   SPEC_JOBS       parallel jobs (default: 2)
#   SPEC_TIMEOUT    seconds per file (default: 120)
#   SPEC_VERBOSE=1  pass -v to the runner (notes on message mismatches)
#   SPEC_MAX_LINES  failure lines shown per file (default: 20; the full
#                   output is in $BUILD_DIR/spec-json/results/NAME.out)
#
# Exit status: non-zero when a non-simd file has a failure, crashed, timed
# out or could not be converted.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPEC_DIR=${SPEC_DIR:-$ROOT/../shared/wasm-spec-testsuite}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
OUT=$BUILD_DIR/spec-json
RESULTS=$OUT/results
RUNNER=$BUILD_DIR/spec_runner
SPEC_JOBS=${SPEC_JOBS:-2}
SPEC_TIMEOUT=${SPEC_TIMEOUT:-120}
SPEC_MAX_LINES=${SPEC_MAX_LINES:-20}
export OUT RESULTS RUNNER SPEC_TIMEOUT
export SPEC_SIMD=${SPEC_SIMD:-0}
export SPEC_VERBOSE=${SPEC_VERBOSE:-0}

# ---- one file (run by xargs in a child process) ----------------------------
# Writes $RESULTS/NAME.out (the runner's output) and $RESULTS/NAME.rc: the
# runner's exit status, or "convert" when wast2json failed.
if [[ ${1:-} == --one ]]; then
    # Everything worth seeing goes to NAME.out; this only silences bash's
    # own "Segmentation fault" job reports.
    exec 2>/dev/null
    wast=$2
    name=$(basename "$wast" .wast)
    json=$OUT/$name.json
    out=$RESULTS/$name.out
    rc=$RESULTS/$name.rc
    if [[ ! -s $json || $wast -nt $json ]]; then
        rm -f "$json"
        if ! wast2json "$wast" -o "$json" >"$out" 2>&1; then
            rm -f "$json"
            echo convert >"$rc"
            exit 0
        fi
    fi
    args=()
    [[ $SPEC_VERBOSE == 1 ]] && args+=(-v)
    [[ $name == simd_* && $SPEC_SIMD != 1 ]] && args+=(--skip)
    timeout -k 5 "$SPEC_TIMEOUT" "$RUNNER" "${args[@]}" "$json" >"$out" 2>&1
    echo $? >"$rc"
    exit 0
fi

# ---- driver -------------------------------------------------------------------
if [[ ! -x $RUNNER ]]; then
    echo "spec: $RUNNER not found; build first (cmake -S . -B build && cmake --build build)" >&2
    exit 2
fi
if ! command -v wast2json >/dev/null 2>&1; then
    echo "spec: wast2json not found (apt-get install wabt, or scripts/deps.sh)" >&2
    exit 2
fi
if [[ ! -d $SPEC_DIR ]]; then
    echo "spec: suite not found at $SPEC_DIR (set SPEC_DIR)" >&2
    exit 2
fi

files=()
if [[ $# -gt 0 ]]; then
    for arg in "$@"; do
        if [[ -f $arg ]]; then
            files+=("$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")")
        elif [[ -f $SPEC_DIR/$arg ]]; then
            files+=("$SPEC_DIR/$arg")
        elif [[ -f $SPEC_DIR/$arg.wast ]]; then
            files+=("$SPEC_DIR/$arg.wast")
        else
            echo "spec: no such test: $arg" >&2
            exit 2
        fi
    done
else
    shopt -s nullglob
    files=("$SPEC_DIR"/*.wast)
    shopt -u nullglob
    if [[ ${#files[@]} -eq 0 ]]; then
        echo "spec: no .wast files in $SPEC_DIR" >&2
        exit 2
    fi
fi

mkdir -p "$OUT" "$RESULTS"
# Sorted by file name, duplicates removed.
mapfile -t files < <(printf '%s\n' "${files[@]}" | awk -F/ '{print $NF "\t" $0}' |
                     LC_ALL=C sort -u -t$'\t' -k1,1 | cut -f2-)
for wast in "${files[@]}"; do
    name=$(basename "$wast" .wast)
    rm -f "$RESULTS/$name.out" "$RESULTS/$name.rc"
done

printf '%s\0' "${files[@]}" |
    xargs -0 -n1 -P"$SPEC_JOBS" "$ROOT/scripts/spec.sh" --one

total_pass=0 total_fail=0 total_skip=0
bad_files=()
for wast in "${files[@]}"; do
    name=$(basename "$wast" .wast)
    out=$RESULTS/$name.out
    rc=$(cat "$RESULTS/$name.rc" 2>/dev/null || echo missing)
    counts_toward_status=1
    [[ $name == simd_* ]] && counts_toward_status=0

    summary=""
    [[ -f $out ]] && summary=$(grep -E "^$name\.wast: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$" "$out" | tail -n1)
    problem=""
    case $rc in
    0 | 1) [[ -z $summary ]] && problem="no summary (exit status $rc)" ;;
    convert) problem="wast2json failed" ;;
    missing) problem="did not run" ;;
    124 | 137) problem="timed out after ${SPEC_TIMEOUT}s" ;;
    *)
        if ((rc > 128)); then
            problem="crashed (signal $((rc - 128)))"
        else
            problem="runner error (exit status $rc)"
        fi
        ;;
    esac

    # Failure and crash lines, capped.
    if [[ -f $out ]]; then
        lines=$(grep -v -E "^$name\.wast: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$" "$out")
        if [[ -n $lines ]]; then
            n=$(printf '%s\n' "$lines" | wc -l)
            printf '%s\n' "$lines" | head -n "$SPEC_MAX_LINES"
            if ((n > SPEC_MAX_LINES)); then
                echo "  ... $((n - SPEC_MAX_LINES)) more lines in ${out#"$ROOT"/}"
            fi
        fi
    fi

    if [[ -n $summary ]]; then
        read -r p f s < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/' <<<"$summary")
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
        total_skip=$((total_skip + s))
        if [[ -n $problem ]]; then
            echo "$summary; $problem"
        else
            echo "$summary"
        fi
        ((f > 0 && counts_toward_status)) && bad_files+=("$name.wast")
    else
        echo "$name.wast: $problem"
    fi
    [[ -n $problem && $counts_toward_status == 1 ]] && bad_files+=("$name.wast")
done

if [[ ${#bad_files[@]} -gt 0 ]]; then
    mapfile -t bad_files < <(printf '%s\n' "${bad_files[@]}" | LC_ALL=C sort -u)
    echo "spec: ${#bad_files[@]} file(s) with failures: ${bad_files[*]}"
fi
echo "spec: $total_pass passed, $total_fail failed, $total_skip skipped"
[[ ${#bad_files[@]} -eq 0 ]]
