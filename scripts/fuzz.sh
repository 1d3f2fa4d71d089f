#!/usr/bin/env bash
# Fuzz module loading (decode, validate, compile) with libFuzzer.
#
#   scripts/fuzz.sh            (or: make fuzz)
#
# Configures build-fuzz/ with clang and -DWASMGATE_FUZZ=ON, builds fuzz_load,
# seeds build-fuzz/corpus from tests/fuzz/seeds/*.wat (through wat2wasm) and
# from the spec suite's modules when scripts/spec.sh has converted them
# (build/spec-json/*.wasm, tests/spec/out/**.wasm), then fuzzes. Crashing
# inputs are copied to tests/fuzz/regressions/ (replayed by the
# fuzz_regressions ctest test) and make the script fail.
#
# Environment:
#   FUZZ_SECONDS   total fuzzing time (default: 60)
#   FUZZ_JOBS      parallel fuzzing processes (default: 1)
#   FUZZ_ARGS      extra libFuzzer arguments
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-fuzz
CORPUS=$BUILD/corpus
ARTIFACTS=$BUILD/artifacts
REGRESSIONS=$ROOT/tests/fuzz/regressions
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-1}

die() {
    echo "fuzz: $*" >&2
    exit 2
}

command -v clang >/dev/null 2>&1 || die "clang not found (scripts/deps.sh)"
command -v wat2wasm >/dev/null 2>&1 || die "wat2wasm not found (apt-get install wabt)"

CC=clang cmake -S "$ROOT" -B "$BUILD" -DWASMGATE_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD.configure.log" 2>&1 ||
    { cat "$BUILD.configure.log" >&2; die "configure failed"; }
cmake --build "$BUILD" --target fuzz_load -j"${NPROC:-$(nproc)}" || die "build failed"
rm -f "$BUILD.configure.log"

# ---- corpus ---------------------------------------------------------------------
mkdir -p "$CORPUS" "$ARTIFACTS"
rm -f "$ARTIFACTS"/* # only this run's findings count
for wat in "$ROOT"/tests/fuzz/seeds/*.wat; do
    [[ -e $wat ]] || continue
    wat2wasm --debug-names "$wat" -o "$CORPUS/seed-$(basename "$wat" .wat).wasm" ||
        die "wat2wasm failed on $wat"
done
# C seeds carry DWARF; skipped when clang cannot link wasm (no wasm-ld).
for c in "$ROOT"/tests/fuzz/seeds/*.c; do
    [[ -e $c ]] || continue
    for v in 4 5; do
        clang --target=wasm32 -g -gdwarf-$v -O1 -nostdlib -Wl,--no-entry "$c" \
            -o "$CORPUS/seed-$(basename "$c" .c)-dwarf$v.wasm" 2>/dev/null ||
            echo "fuzz: note: cannot build $c for wasm32 (lld missing?); skipped"
    done
done
spec_seeds=0
for dir in "$ROOT/build/spec-json" "$ROOT/tests/spec/out"; do
    [[ -d $dir ]] || continue
    while IFS= read -r -d '' wasm; do
        # Flatten the path into a unique corpus file name.
        name=spec-${wasm#"$dir"/}
        cp -f "$wasm" "$CORPUS/${name//\//_}"
        spec_seeds=$((spec_seeds + 1))
    done < <(find "$dir" -name '*.wasm' -size -256k -print0)
done
echo "fuzz: corpus $(find "$CORPUS" -type f | wc -l) files ($spec_seeds from the spec suite)"

# ---- fuzz -------------------------------------------------------------------------
# A dictionary of the format's fixed byte strings helps the mutator.
DICT=$BUILD/wasm.dict
cat >"$DICT" <<'EOF'
magic="\x00asm\x01\x00\x00\x00"
end="\x0b"
functype="\x60"
i32_const="\x41"
ref_func="\xd2"
ref_null="\xd0\x70"
v128_const="\xfd\x0c"
name="\x04name"
debug_line="\x0b.debug_line"
EOF

args=(-max_total_time="$FUZZ_SECONDS" -dict="$DICT" -artifact_prefix="$ARTIFACTS/"
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if [[ $FUZZ_JOBS -gt 1 ]]; then
    args+=(-fork="$FUZZ_JOBS" -ignore_crashes=1)
fi
# shellcheck disable=SC2206  # FUZZ_ARGS is a list of words on purpose
args+=(${FUZZ_ARGS:-})

"$BUILD/fuzz_load" "${args[@]}" "$CORPUS"
status=$?

# ---- crashes ------------------------------------------------------------------------
found=0
for f in "$ARTIFACTS"/crash-* "$ARTIFACTS"/leak-* "$ARTIFACTS"/timeout-* "$ARTIFACTS"/oom-*; do
    [[ -e $f ]] || continue
    cp -f "$f" "$REGRESSIONS/"
    echo "fuzz: saved $(basename "$f") to tests/fuzz/regressions/"
    found=$((found + 1))
done
if [[ $found -gt 0 ]]; then
    echo "fuzz: $found failing input(s); reproduce with: $BUILD/fuzz_load FILE" >&2
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "fuzz: fuzz_load exited with status $status" >&2
    exit 1
fi
echo "fuzz: no crash in ${FUZZ_SECONDS}s"
