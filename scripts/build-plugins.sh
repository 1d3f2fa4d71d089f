#!/usr/bin/env bash
# Build the C test plugins (tests/plugins/*.c) into OUTDIR/NAME.wasm and
# check each module's imports and exports.
#
#   scripts/build-plugins.sh OUTDIR            every plugin
#   scripts/build-plugins.sh OUTDIR body misc  only these
#
# Each plugin is one .c file built with the SDK in sdk/c:
#   clang --target=wasm32-wasi -O2 -g -mexec-model=reactor -I sdk/c
#         -Wall -Wextra -Werror
# (-g keeps DWARF line info for backtrace tests.)
#
# Checks, per module (wasm-objdump -x):
#   - every import comes from "env" or "wasi_snapshot_preview1", and every
#     env import is a known Proxy-Wasm hostcall;
#   - exports: "memory", "malloc" and/or "proxy_on_memory_allocate", exactly
#     one ABI marker (none for noabi), at least one proxy_on_* callback, and
#     no unknown proxy_* export;
#   - a .debug_line section exists.
# Then, when the wasmgate binary exists ($WASMGATE, default
# $BUILD_DIR/wasmgate, BUILD_DIR default build), `wasmgate wasm validate`
# must accept every module.
#
# Environment: CC (default clang), CFLAGS_EXTRA (appended), WASMGATE,
# BUILD_DIR. Exit status is non-zero on any compile or check failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ $# -lt 1 ]; then
    echo "usage: $0 OUTDIR [PLUGIN...]" >&2
    exit 2
fi
OUT=$1
shift
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

CC=${CC:-clang}
BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
WASMGATE=${WASMGATE:-$BUILD_DIR/wasmgate}

for tool in "$CC" wasm-objdump; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found" >&2; exit 1; }
done

HOSTCALLS="proxy_log proxy_get_log_level proxy_get_current_time_nanoseconds
proxy_set_tick_period_milliseconds proxy_get_configuration proxy_set_effective_context
proxy_done proxy_get_buffer_bytes proxy_get_buffer_status proxy_set_buffer_bytes
proxy_get_header_map_pairs proxy_set_header_map_pairs proxy_get_header_map_size
proxy_get_header_map_value proxy_add_header_map_value proxy_replace_header_map_value
proxy_remove_header_map_value proxy_get_property proxy_set_property
proxy_continue_request proxy_continue_response proxy_clear_route_cache
proxy_continue_stream proxy_close_stream proxy_send_local_response proxy_get_status
proxy_http_call proxy_grpc_call proxy_grpc_stream proxy_grpc_send proxy_grpc_cancel
proxy_grpc_close proxy_get_shared_data proxy_set_shared_data proxy_register_shared_queue
proxy_resolve_shared_queue proxy_enqueue_shared_queue proxy_dequeue_shared_queue
proxy_define_metric proxy_increment_metric proxy_record_metric proxy_get_metric
proxy_call_foreign_function"

CALLBACKS="proxy_on_context_create proxy_on_vm_start proxy_validate_configuration
proxy_on_configure proxy_on_tick proxy_on_queue_ready proxy_on_foreign_function
proxy_on_new_connection proxy_on_downstream_data proxy_on_downstream_connection_close
proxy_on_upstream_data proxy_on_upstream_connection_close proxy_on_request_headers
proxy_on_request_body proxy_on_request_trailers proxy_on_request_metadata
proxy_on_response_headers proxy_on_response_body proxy_on_response_trailers
proxy_on_response_metadata proxy_on_http_call_response
proxy_on_grpc_receive_initial_metadata proxy_on_grpc_receive
proxy_on_grpc_receive_trailing_metadata proxy_on_grpc_close proxy_on_done proxy_on_log
proxy_on_delete"

in_list() { # word list
    local list=" ${2//$'\n'/ } "
    case $list in *" $1 "*) return 0 ;; esac
    return 1
}

if [ $# -gt 0 ]; then
    SOURCES=()
    for name in "$@"; do
        name=${name%.c}
        src=$ROOT/tests/plugins/${name##*/}.c
        [ -f "$src" ] || { echo "error: no plugin $src" >&2; exit 1; }
        SOURCES+=("$src")
    done
else
    SOURCES=("$ROOT"/tests/plugins/*.c)
fi

failures=0
fail() {
    echo "FAIL $1: $2" >&2
    failures=$((failures + 1))
}

check_module() { # name wasm
    local name=$1 wasm=$2 dump section line mod field kind exp
    local -a imports=() exports=()
    if ! dump=$(wasm-objdump -x "$wasm" 2>&1); then
        fail "$name" "wasm-objdump failed: $dump"
        return
    fi
    section=
    while IFS= read -r line; do
        case $line in
            Import\[*) section="imports"; continue ;;
            Export\[*) section="exports"; continue ;;
            [A-Z]*) section=; continue ;;
        esac
        case $section in
            imports)
                # " - func[0] sig=0 <proxy_done> <- env.proxy_done"
                [[ $line =~ \<-\ ([^.]+)\.(.+)$ ]] && imports+=("${BASH_REMATCH[1]} ${BASH_REMATCH[2]}")
                ;;
            exports)
                # " - func[11] <name> -> \"name\""  or  " - memory[0] -> \"memory\""
                [[ $line =~ -\ ([a-z]+)\[[0-9]+\].*-\>\ \"(.*)\"$ ]] &&
                    exports+=("${BASH_REMATCH[1]} ${BASH_REMATCH[2]}")
                ;;
        esac
    done <<<"$dump"

    for line in "${imports[@]}"; do
        mod=${line%% *}
        field=${line#* }
        case $mod in
            env)
                in_list "$field" "$HOSTCALLS" || fail "$name" "unknown env import $field"
                ;;
            wasi_snapshot_preview1) ;;
            *) fail "$name" "import from unexpected module $mod.$field" ;;
        esac
    done

    local have_memory=0 have_alloc=0 markers=0 callbacks=0
    for line in "${exports[@]}"; do
        kind=${line%% *}
        exp=${line#* }
        case $exp in
            memory) [ "$kind" = memory ] && have_memory=1 ;;
            malloc) have_alloc=1 ;;
            proxy_on_memory_allocate) have_alloc=1 ;;
            proxy_abi_version_0_1_0 | proxy_abi_version_0_2_0 | proxy_abi_version_0_2_1)
                markers=$((markers + 1)) ;;
            proxy_*)
                if in_list "$exp" "$CALLBACKS"; then
                    callbacks=$((callbacks + 1))
                else
                    fail "$name" "unknown proxy export $exp"
                fi
                ;;
            _initialize) ;;
            *) fail "$name" "unexpected export $exp" ;;
        esac
    done
    [ $have_memory = 1 ] || fail "$name" "no exported memory"
    [ $have_alloc = 1 ] || fail "$name" "no malloc/proxy_on_memory_allocate export"
    [ $callbacks -gt 0 ] || fail "$name" "no proxy_on_* callback exported"
    if [ "$name" = noabi ]; then
        [ $markers = 0 ] || fail "$name" "has an ABI marker but must not"
    else
        [ $markers = 1 ] || fail "$name" "$markers ABI markers (want exactly 1)"
    fi
    grep -q '"\.debug_line"' <<<"$dump" || fail "$name" "no .debug_line section"
    echo "  $name: ${#imports[@]} imports, ${#exports[@]} exports ($callbacks callbacks)"
}

built=()
for src in "${SOURCES[@]}"; do
    name=$(basename "$src" .c)
    wasm=$OUT/$name.wasm
    # shellcheck disable=SC2086
    if ! (cd "$ROOT" && "$CC" --target=wasm32-wasi -O2 -g -mexec-model=reactor \
        -Wall -Wextra -Werror -I sdk/c ${CFLAGS_EXTRA:-} \
        "tests/plugins/$name.c" -o "$wasm"); then
        fail "$name" "compile error"
        continue
    fi
    check_module "$name" "$wasm"
    built+=("$wasm")
done

if [ -x "$WASMGATE" ] && [ ${#built[@]} -gt 0 ]; then
    if ! "$WASMGATE" wasm validate "${built[@]}"; then
        fail all "wasmgate wasm validate rejected a module"
    fi
else
    echo "note: $WASMGATE not found; skipped wasmgate wasm validate" >&2
fi

if [ $failures -gt 0 ]; then
    echo "build-plugins: $failures failure(s)" >&2
    exit 1
fi
echo "build-plugins: ${#built[@]} plugin(s) in $OUT"
