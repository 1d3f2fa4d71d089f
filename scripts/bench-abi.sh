#!/usr/bin/env bash
# make bench-abi: the cost of host<->plugin crossings, in ns per operation.
# Builds the benchmark plugin (bench/abi/bench_plugin.c) and the add_header
# test plugin, runs build/bench_abi, and writes bench/out/bench-abi.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=bench/out/abi
mkdir -p "$OUT"
[ -x build/bench_abi ] || { echo "bench-abi: build/bench_abi missing (run make)" >&2; exit 1; }
clang --target=wasm32-wasi -O2 -mexec-model=reactor -I sdk/c \
    bench/abi/bench_plugin.c -o "$OUT/bench_plugin.wasm"
bash scripts/build-plugins.sh "$OUT" add_header >/dev/null
{
    ./build/bench_abi "$OUT/bench_plugin.wasm" "$OUT/add_header.wasm"
    echo
    echo "Command: make bench-abi ($(uname -m), $(date -u '+%Y-%m-%d %H:%M UTC'))"
} | tee bench/out/bench-abi.md
