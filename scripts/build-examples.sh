#!/usr/bin/env bash
# Build the example Proxy-Wasm plugins (examples/plugins/*.c) into
# OUTDIR/NAME.wasm, with the C SDK in sdk/c:
#   clang --target=wasm32-wasi -O2 -mexec-model=reactor -I sdk/c
#
#   scripts/build-examples.sh OUTDIR       (make run uses build/examples)
#
# A module is rebuilt only when its source or the SDK header is newer.
# Environment: CC (default clang).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
CC=${CC:-clang}
command -v "$CC" >/dev/null || { echo "build-examples: $CC not found" >&2; exit 1; }

shopt -s nullglob
for src in "$ROOT"/examples/plugins/*.c; do
    name=$(basename "$src" .c)
    wasm=$OUT/$name.wasm
    if [ -f "$wasm" ] && [ "$wasm" -nt "$src" ] && [ "$wasm" -nt "$ROOT/sdk/c/proxy_wasm.h" ]; then
        echo "up to date $wasm"
        continue
    fi
    (cd "$ROOT" && "$CC" --target=wasm32-wasi -O2 -mexec-model=reactor \
        -Wall -Wextra -Werror -I sdk/c "examples/plugins/$name.c" -o "$wasm.tmp")
    mv -f "$wasm.tmp" "$wasm"
    echo "built $wasm"
done
