#!/usr/bin/env bash
# Fuzz the parsers with libFuzzer, one target after the other:
#
#   fuzz_load      module loading (decode, validate, compile)
#   fuzz_http      the HTTP/1.1 parser and writers
#   fuzz_pairs     the Proxy-Wasm pair format plugins hand to the host
#   fuzz_manifest  WasmPlugin manifests and bootstrap configs
#
#   scripts/fuzz.sh            (or: make fuzz)
#
# Configures build-fuzz/ with clang and -DWASMGATE_FUZZ=ON and builds the
# targets. Each keeps its corpus in build-fuzz/corpus-<name>, seeded from
# tests/fuzz/: fuzz_load from seeds/*.wat and *.c (through wat2wasm and
# clang) and from the spec suite's modules when scripts/spec.sh has
# converted them (build/spec-json/*.wasm, tests/spec/out/**.wasm);
# fuzz_http from seeds-http/ (a flags byte, four seed bytes, then the
# bytes), fuzz_pairs from seeds-pairs/, fuzz_manifest from
# seeds-manifest/. Crashing inputs are copied to
# tests/fuzz/regressions/<name>/ (replayed by the fuzz_regressions_<name>
# ctest tests) and make the script fail.
#
# Environment:
#   FUZZ_SECONDS   fuzzing time per target (default: 60)
#   FUZZ_TARGETS   which targets (default: "load http pairs manifest")
#   FUZZ_JOBS      parallel fuzzing processes (default: 1)
#   FUZZ_ARGS      extra libFuzzer arguments
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-fuzz
SEEDS=$ROOT/tests/fuzz
REGRESSIONS=$ROOT/tests/fuzz/regressions
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-load http pairs manifest}
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
targets=()
for name in $FUZZ_TARGETS; do
    case $name in
    load | http | pairs | manifest) targets+=("fuzz_$name") ;;
    *) die "unknown fuzz target '$name' (FUZZ_TARGETS: load http pairs manifest)" ;;
    esac
done
cmake --build "$BUILD" --target "${targets[@]}" -j"${NPROC:-$(nproc)}" || die "build failed"
rm -f "$BUILD.configure.log"

# ---- corpus ---------------------------------------------------------------------

# seed_load CORPUS: the module loader's seeds.
seed_load() {
    local corpus=$1 wat c v dir wasm name spec_seeds=0
    for wat in "$SEEDS"/seeds/*.wat; do
        [[ -e $wat ]] || continue
        wat2wasm --debug-names "$wat" -o "$corpus/seed-$(basename "$wat" .wat).wasm" ||
            die "wat2wasm failed on $wat"
    done
    # C seeds carry DWARF; skipped when clang cannot link wasm (no wasm-ld).
    for c in "$SEEDS"/seeds/*.c; do
        [[ -e $c ]] || continue
        for v in 4 5; do
            clang --target=wasm32 -g -gdwarf-$v -O1 -nostdlib -Wl,--no-entry "$c" \
                -o "$corpus/seed-$(basename "$c" .c)-dwarf$v.wasm" 2>/dev/null ||
                echo "fuzz: note: cannot build $c for wasm32 (lld missing?); skipped"
        done
    done
    for dir in "$ROOT/build/spec-json" "$ROOT/tests/spec/out"; do
        [[ -d $dir ]] || continue
        while IFS= read -r -d '' wasm; do
            # Flatten the path into a unique corpus file name.
            name=spec-${wasm#"$dir"/}
            cp -f "$wasm" "$corpus/${name//\//_}"
            spec_seeds=$((spec_seeds + 1))
        done < <(find "$dir" -name '*.wasm' -size -256k -print0)
    done
    echo "fuzz: $spec_seeds seeds from the spec suite"
}

# A dictionary of the Wasm format's fixed byte strings helps the mutator.
WASM_DICT=$BUILD/wasm.dict
cat >"$WASM_DICT" <<'EOF'
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

# ---- fuzz -------------------------------------------------------------------------

failures=0
for target in "${targets[@]}"; do
    name=${target#fuzz_}
    corpus=$BUILD/corpus-$name
    artifacts=$BUILD/artifacts-$name
    mkdir -p "$corpus" "$artifacts" "$REGRESSIONS/$name"
    rm -f "$artifacts"/* # only this run's findings count
    args=(-max_total_time="$FUZZ_SECONDS" -artifact_prefix="$artifacts/" -timeout=10
          -rss_limit_mb=2048 -print_final_stats=1)
    seeds=()
    case $name in
    load) seed_load "$corpus" && args+=(-dict="$WASM_DICT") ;;
    http) seeds=("$SEEDS/seeds-http") && args+=(-dict="$SEEDS/http.dict" -max_len=4096) ;;
    pairs) seeds=("$SEEDS/seeds-pairs") ;;
    manifest) seeds=("$SEEDS/seeds-manifest") &&
        args+=(-dict="$SEEDS/manifest.dict" -max_len=4096) ;;
    esac
    if [[ $FUZZ_JOBS -gt 1 ]]; then
        args+=(-fork="$FUZZ_JOBS" -ignore_crashes=1)
    fi
    # shellcheck disable=SC2206  # FUZZ_ARGS is a list of words on purpose
    args+=(${FUZZ_ARGS:-})
    echo "fuzz: $target for ${FUZZ_SECONDS}s, corpus $(find "$corpus" -type f | wc -l) files"
    "$BUILD/$target" "${args[@]}" "$corpus" "${seeds[@]}"
    status=$?

    found=0
    for f in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
        [[ -e $f ]] || continue
        cp -f "$f" "$REGRESSIONS/$name/"
        echo "fuzz: saved $(basename "$f") to tests/fuzz/regressions/$name/"
        found=$((found + 1))
    done
    if [[ $found -gt 0 ]]; then
        echo "fuzz: $target: $found failing input(s); reproduce with: $BUILD/$target FILE" >&2
        failures=$((failures + 1))
    elif [[ $status -ne 0 ]]; then
        echo "fuzz: $target exited with status $status" >&2
        failures=$((failures + 1))
    else
        echo "fuzz: $target: no crash in ${FUZZ_SECONDS}s"
    fi
done
[[ $failures -eq 0 ]] || exit 1
