#!/usr/bin/env bash
# Build the AssemblyScript Proxy-Wasm test plugins (tests/plugins-as).
#
#   scripts/build-as-plugins.sh OUTDIR
#
# Installs the pinned toolchain from tests/plugins-as/package-lock.json with
# `npm ci` (only when node_modules is missing or older than the lockfile),
# then compiles every tests/plugins-as/assembly/NAME.ts (helpers live in
# assembly/lib/ and are not built on their own) into OUTDIR/NAME.wasm.
#
# Needs node and npm (the npm registry must be reachable for the first
# install). Compiler warnings that point into the AssemblyScript standard
# library (~lib/) are not shown unless AS_VERBOSE=1; anything else asc
# prints is shown. AS_JOBS (default 2) plugins are compiled at a time.
# Exits non-zero as soon as a batch has a failure.
set -euo pipefail

die() { echo "build-as-plugins: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/tests/plugins-as
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
AS_VERBOSE=${AS_VERBOSE:-0}

cd "$SRC"
[ -f package-lock.json ] || die "$SRC/package-lock.json is missing"

# npm ci writes node_modules/.package-lock.json; use it as the install stamp.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
    echo "build-as-plugins: npm ci in tests/plugins-as"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null ||
        die "npm ci failed in $SRC"
    touch "$stamp"
fi

ASC=$SRC/node_modules/.bin/asc
[ -x "$ASC" ] || die "asc not found after npm ci ($ASC)"

shopt -s nullglob
sources=(assembly/*.ts)
[ ${#sources[@]} -gt 0 ] || die "no plugins in $SRC/assembly"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build NAME: compile assembly/NAME.ts to OUTDIR/NAME.wasm, output in $work/NAME.log
build() {
    local name=$1 log=$work/$1.log tmp=$OUTDIR/.$1.wasm.tmp
    # --use abort=abort_proc_exit routes AssemblyScript aborts to the
    # SDK's handler (proxy_log at critical, then WASI proc_exit(255)).
    if ! "$ASC" "assembly/$name.ts" -b "$tmp" --use abort=abort_proc_exit -O3 --noColors \
            >"$log" 2>&1; then
        rm -f "$tmp"
        echo "asc failed for assembly/$name.ts" >>"$log"
        return 1
    fi
    if [ ! -s "$tmp" ]; then
        echo "asc produced no output for assembly/$name.ts" >>"$log"
        return 1
    fi
    mv -f "$tmp" "$OUTDIR/$name.wasm"
}

# report NAME STATUS: print the result and any diagnostics worth showing.
report() {
    local name=$1 rc=$2 log=$work/$1.log
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        return 1
    fi
    # Show diagnostics unless every one of them points into ~lib/.
    if [ -s "$log" ] && { [ "$AS_VERBOSE" = 1 ] || grep -E '^ in ' "$log" | grep -qv '^ in ~lib/'; }; then
        cat "$log" >&2
    fi
    echo "built $OUTDIR/$name.wasm"
}

# Compile AS_JOBS plugins at a time (asc is single-threaded).
AS_JOBS=${AS_JOBS:-2}
# A module is rebuilt only when it is older than its source, the shared
# helpers in assembly/lib/ or the lockfile: asc 0.14 takes ~10 s a plugin.
up_to_date() {
    local out=$OUTDIR/$1.wasm dep
    [ -f "$out" ] || return 1
    for dep in "assembly/$1.ts" assembly/lib/*.ts package-lock.json; do
        [ "$dep" -nt "$out" ] && return 1
    done
    return 0
}
names=()
for src in "${sources[@]}"; do
    name=$(basename "$src" .ts)
    if up_to_date "$name"; then
        echo "up to date $OUTDIR/$name.wasm"
    else
        names+=("$name")
    fi
done
failed=0
for ((i = 0; i < ${#names[@]}; i += AS_JOBS)); do
    pids=()
    batch=("${names[@]:i:AS_JOBS}")
    for name in "${batch[@]}"; do
        build "$name" & pids+=($!)
    done
    for j in "${!batch[@]}"; do
        rc=0; wait "${pids[$j]}" || rc=$?
        report "${batch[$j]}" "$rc" || failed=1
    done
    [ "$failed" -eq 0 ] || die "build failed"
done
