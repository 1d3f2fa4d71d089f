/*
 * hostcalls.c - the `env` imports a plugin may use, and what every
 * hostcall shares: argument access to guest memory, returning data through
 * the guest's allocator, and the restrictions of cpp-host during start-up
 * and inside the allocator.
 *
 * Every function of every ABI version is offered to every module: real
 * plugins import functions they never call, and a missing import must
 * never be the reason a plugin fails to load. Statuses and semantics that
 * differ between versions are chosen at call time from the module's ABI.
 *
 * The small hostcalls (logging, time, timers, contexts, stream control,
 * local replies) live here; the families live in hc_*.c.
 */
#include "abi/internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- guest memory --------------------------------------------------------------- */

bool pw_mem_read(pw_vm *vm, uint32_t ptr, uint32_t len, const uint8_t **out)
{
    if (len == 0) {
        /* (0, 0) is a valid empty slice (the Rust SDK passes null). */
        *out = (const uint8_t *)"";
        return true;
    }
    if (!vm->memory)
        return false;
    const uint8_t *p = wasm_memory_ptr(vm->memory, ptr, len);
    if (!p)
        return false;
    *out = p;
    return true;
}

bool pw_mem_write_u32(pw_vm *vm, uint32_t ptr, uint32_t value)
{
    uint8_t b[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                    (uint8_t)(value >> 24)};
    return vm->memory && wasm_memory_write(vm->memory, ptr, b, 4);
}

bool pw_mem_write_u64(pw_vm *vm, uint32_t ptr, uint64_t value)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(value >> (8 * i));
    return vm->memory && wasm_memory_write(vm->memory, ptr, b, 8);
}

int pw_return_bytes(pw_vm *vm, const void *data, size_t len, uint32_t ptr_ptr, uint32_t size_ptr)
{
    if (len > UINT32_MAX)
        return PW_INVALID_MEMORY_ACCESS;
    if (len == 0) {
        /* Never allocate zero bytes: SDKs read a null pointer as empty. */
        if (!pw_mem_write_u32(vm, ptr_ptr, 0) || !pw_mem_write_u32(vm, size_ptr, 0))
            return PW_INVALID_MEMORY_ACCESS;
        return PW_OK;
    }
    bool trapped = false;
    uint32_t p = pw_guest_alloc(vm, (uint32_t)len, &trapped);
    if (trapped)
        return PW_HC_TRAP;
    /* The allocator may have grown memory: wasm_memory_write re-reads it. */
    if (p == 0 || !wasm_memory_write(vm->memory, p, data, len))
        return PW_INVALID_MEMORY_ACCESS;
    if (!pw_mem_write_u32(vm, ptr_ptr, p) || !pw_mem_write_u32(vm, size_ptr, (uint32_t)len))
        return PW_INVALID_MEMORY_ACCESS;
    return PW_OK;
}

/* ---- traps from hostcalls --------------------------------------------------------- */

/* The wasm_call of the hostcall running now (one per store: hostcalls
 * do not nest inside each other except through the guest allocator, whose
 * own hostcalls are restricted to ones that never trap). */
static _Thread_local wasm_call *current_call;

int pw_hc_trap(pw_vm *vm, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void)vm;
    if (current_call)
        wasm_call_trap(current_call, "%s", msg);
    return PW_HC_TRAP;
}

/* ---- small hostcalls --------------------------------------------------------------- */

static int hc_log(pw_vm *vm, const wasm_cell *a)
{
    uint32_t level = (uint32_t)a[0];
    const uint8_t *msg;
    if (level > 5)
        return PW_BAD_ARGUMENT;
    if (!pw_mem_read(vm, (uint32_t)a[1], (uint32_t)a[2], &msg))
        return PW_INVALID_MEMORY_ACCESS;
    if (vm->ops && vm->ops->log)
        vm->ops->log(vm->host, vm, (wg_log_level)level, (const char *)msg, (uint32_t)a[2]);
    else if (wg_log_enabled("wasm", (wg_log_level)level))
        wg_log("wasm", (wg_log_level)level, "wasm log %s %s %s: %.*s", vm->name, vm->root_id,
               vm->vm_id, (int)(uint32_t)a[2], (const char *)msg);
    return PW_OK;
}

static int hc_get_log_level(pw_vm *vm, const wasm_cell *a)
{
    /* The lowest level the wasm component logs; "off" is clamped to
     * critical, since SDKs read the value into a 0..5 enum. */
    uint32_t level = 5;
    for (uint32_t l = 0; l <= 5; l++) {
        if (wg_log_enabled("wasm", (wg_log_level)l)) {
            level = l;
            break;
        }
    }
    if (vm->ops && vm->ops->log)
        level = 0; /* a capturing host wants everything */
    return pw_mem_write_u32(vm, (uint32_t)a[0], level) ? PW_OK : PW_INVALID_MEMORY_ACCESS;
}

static int hc_get_current_time(pw_vm *vm, const wasm_cell *a)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return pw_mem_write_u64(vm, (uint32_t)a[0], ns) ? PW_OK : PW_INVALID_MEMORY_ACCESS;
}

static int hc_set_tick_period(pw_vm *vm, const wasm_cell *a)
{
    /* The timer belongs to the root context, whoever sets it. */
    vm->tick_period_ms = (uint32_t)a[0];
    vm->ops->set_tick(vm->host, vm, vm->tick_period_ms);
    return PW_OK;
}

static int hc_set_effective_context(pw_vm *vm, const wasm_cell *a)
{
    pw_context *ctx = pw_vm_find_context(vm, (uint32_t)a[0]);
    if (!ctx || ctx->deleted)
        return PW_BAD_ARGUMENT;
    vm->effective = ctx;
    return PW_OK;
}

static int hc_done(pw_vm *vm, const wasm_cell *a)
{
    (void)a;
    if (!vm->done_pending)
        return PW_NOT_FOUND;
    /* on_delete runs once the current call has returned, never inside it. */
    vm->done_pending = false;
    vm->delete_root = true;
    return PW_OK;
}

static int stream_action(pw_vm *vm, pw_deferred_kind kind, uint32_t type)
{
    if (type > PW_STREAM_UPSTREAM)
        return PW_BAD_ARGUMENT;
    if (kind == PW_DEFER_RESUME && type == PW_STREAM_UPSTREAM)
        return PW_UNIMPLEMENTED; /* as Envoy: upstream data cannot be resumed */
    pw_context *ctx = pw_vm_target(vm);
    if (ctx->stream)
        pw_vm_defer(vm, kind, ctx->id, (pw_stream_type)type);
    return PW_OK;
}

static int hc_continue_stream(pw_vm *vm, const wasm_cell *a)
{
    return stream_action(vm, PW_DEFER_RESUME, (uint32_t)a[0]);
}

static int hc_close_stream(pw_vm *vm, const wasm_cell *a)
{
    return stream_action(vm, PW_DEFER_CLOSE, (uint32_t)a[0]);
}

static int hc_continue_request(pw_vm *vm, const wasm_cell *a)
{
    (void)a;
    return stream_action(vm, PW_DEFER_RESUME, PW_STREAM_REQUEST);
}

static int hc_continue_response(pw_vm *vm, const wasm_cell *a)
{
    (void)a;
    return stream_action(vm, PW_DEFER_RESUME, PW_STREAM_RESPONSE);
}

static int hc_clear_route_cache(pw_vm *vm, const wasm_cell *a)
{
    /* Routes are chosen after the plugin chain has seen the headers, so
     * there is no cached route to clear. */
    (void)vm;
    (void)a;
    return PW_OK;
}

static int hc_send_local_response(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *details, *body, *headers;
    if (!pw_mem_read(vm, (uint32_t)a[1], (uint32_t)a[2], &details) ||
        !pw_mem_read(vm, (uint32_t)a[3], (uint32_t)a[4], &body) ||
        !pw_mem_read(vm, (uint32_t)a[5], (uint32_t)a[6], &headers))
        return PW_INVALID_MEMORY_ACCESS;
    pw_stream *s = pw_vm_target_stream(vm);
    if (!s || s->replied)
        return PW_OK; /* root context, or a reply already went out: as Envoy */
    wg_headers_clear(&s->reply_headers);
    if (!wg_headers_deserialize(&s->reply_headers, headers, (uint32_t)a[6], true))
        wg_headers_clear(&s->reply_headers); /* malformed: no headers, as cpp-host */
    wg_buf_clear(&s->reply_body);
    free(s->reply_details);
    size_t dlen = (uint32_t)a[2];
    s->reply_details = malloc(dlen + 1);
    if (!s->reply_details || !wg_buf_append(&s->reply_body, body, (uint32_t)a[4]))
        return pw_hc_trap(vm, "out of memory building a local reply");
    for (size_t i = 0; i < dlen; i++)
        s->reply_details[i] = isspace(details[i]) ? '_' : (char)details[i];
    s->reply_details[dlen] = 0;
    int32_t grpc = (int32_t)(uint32_t)a[7];
    s->reply = (pw_local_reply){
        .status = (uint32_t)a[0],
        .details = s->reply_details,
        .body = s->reply_body.data,
        .body_len = s->reply_body.len,
        .headers = &s->reply_headers,
        .grpc_status = grpc >= 0 && grpc <= 16 ? grpc : -1,
    };
    if (!s->reply_pending) {
        s->reply_pending = true;
        pw_vm_defer(vm, PW_DEFER_REPLY, s->ctx.id, PW_STREAM_REQUEST);
    }
    if (&s->ctx == vm->current)
        s->stop_current = true;
    return PW_OK;
}

static int hc_get_status(pw_vm *vm, const wasm_cell *a)
{
    if (!pw_mem_write_u32(vm, (uint32_t)a[0], vm->status_code))
        return PW_INVALID_MEMORY_ACCESS;
    return pw_return_bytes(vm, vm->status_message, strlen(vm->status_message), (uint32_t)a[1],
                           (uint32_t)a[2]);
}

static int hc_pthread_equal(pw_vm *vm, const wasm_cell *a)
{
    (void)vm;
    return (uint32_t)a[0] == (uint32_t)a[1];
}

static int hc_notify_memory_growth(pw_vm *vm, const wasm_cell *a)
{
    (void)vm;
    (void)a;
    return 0;
}

/* ---- the table ----------------------------------------------------------------------- */

enum {
    ALLOW_START = 1,   /* callable from _initialize/_start */
    ALLOW_MALLOC = 2,  /* callable from inside the guest allocator */
    NO_RESULT = 4,     /* returns nothing */
};

typedef struct pw_hostcall_entry {
    const char *name;
    const char *params;   /* 'i' i32, 'I' i64 */
    pw_hc_fn fn;
    int flags;
} pw_hostcall_entry;

static const pw_hostcall_entry hostcalls[] = {
    {"proxy_log", "iii", hc_log, ALLOW_START | ALLOW_MALLOC},
    {"proxy_get_log_level", "i", hc_get_log_level, 0},
    {"proxy_get_current_time_nanoseconds", "i", hc_get_current_time, 0},
    {"proxy_set_tick_period_milliseconds", "i", hc_set_tick_period, 0},
    {"proxy_get_configuration", "ii", pw_hc_get_configuration, 0},
    {"proxy_set_effective_context", "i", hc_set_effective_context, 0},
    {"proxy_done", "", hc_done, 0},
    {"proxy_get_buffer_bytes", "iiiii", pw_hc_get_buffer_bytes, 0},
    {"proxy_get_buffer_status", "iii", pw_hc_get_buffer_status, 0},
    {"proxy_set_buffer_bytes", "iiiii", pw_hc_set_buffer_bytes, 0},
    {"proxy_get_header_map_pairs", "iii", pw_hc_get_header_map_pairs, 0},
    {"proxy_set_header_map_pairs", "iii", pw_hc_set_header_map_pairs, 0},
    {"proxy_get_header_map_size", "ii", pw_hc_get_header_map_size, 0},
    {"proxy_get_header_map_value", "iiiii", pw_hc_get_header_map_value, 0},
    {"proxy_add_header_map_value", "iiiii", pw_hc_add_header_map_value, 0},
    {"proxy_replace_header_map_value", "iiiii", pw_hc_replace_header_map_value, 0},
    {"proxy_remove_header_map_value", "iii", pw_hc_remove_header_map_value, 0},
    {"proxy_get_property", "iiii", pw_hc_get_property, 0},
    {"proxy_set_property", "iiii", pw_hc_set_property, 0},
    {"proxy_continue_request", "", hc_continue_request, 0},
    {"proxy_continue_response", "", hc_continue_response, 0},
    {"proxy_clear_route_cache", "", hc_clear_route_cache, 0},
    {"proxy_continue_stream", "i", hc_continue_stream, 0},
    {"proxy_close_stream", "i", hc_close_stream, 0},
    {"proxy_send_local_response", "iiiiiiii", hc_send_local_response, 0},
    {"proxy_get_status", "iii", hc_get_status, 0},
    {"proxy_http_call", "iiiiiiiiii", pw_hc_http_call, 0},
    {"proxy_grpc_call", "iiiiiiiiiiii", pw_hc_grpc_call, 0},
    {"proxy_grpc_stream", "iiiiiiiii", pw_hc_grpc_stream, 0},
    {"proxy_grpc_send", "iiii", pw_hc_grpc_send, 0},
    {"proxy_grpc_cancel", "i", pw_hc_grpc_cancel, 0},
    {"proxy_grpc_close", "i", pw_hc_grpc_close, 0},
    {"proxy_get_shared_data", "iiiii", pw_hc_get_shared_data, 0},
    {"proxy_set_shared_data", "iiiii", pw_hc_set_shared_data, 0},
    {"proxy_register_shared_queue", "iii", pw_hc_register_shared_queue, 0},
    {"proxy_resolve_shared_queue", "iiiii", pw_hc_resolve_shared_queue, 0},
    {"proxy_enqueue_shared_queue", "iii", pw_hc_enqueue_shared_queue, 0},
    {"proxy_dequeue_shared_queue", "iii", pw_hc_dequeue_shared_queue, 0},
    {"proxy_define_metric", "iiii", pw_hc_define_metric, 0},
    {"proxy_increment_metric", "iI", pw_hc_increment_metric, 0},
    {"proxy_record_metric", "iI", pw_hc_record_metric, 0},
    {"proxy_get_metric", "ii", pw_hc_get_metric, 0},
    {"proxy_call_foreign_function", "iiiiii", pw_hc_call_foreign_function, 0},
    /* Emscripten helpers some C++ plugins import. */
    {"pthread_equal", "ii", hc_pthread_equal, ALLOW_START | ALLOW_MALLOC},
    {"emscripten_notify_memory_growth", "i", hc_notify_memory_growth,
     ALLOW_START | ALLOW_MALLOC | NO_RESULT},
};

#define NHOSTCALLS (sizeof hostcalls / sizeof hostcalls[0])

struct pw_binding {
    pw_vm *vm;
    const pw_hostcall_entry *entry;
};

static bool trampoline(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    const struct pw_binding *b = env;
    pw_vm *vm = b->vm;
    const pw_hostcall_entry *e = b->entry;
    if ((vm->phase == PW_PHASE_START && !(e->flags & ALLOW_START)) ||
        (vm->phase == PW_PHASE_MALLOC && !(e->flags & ALLOW_MALLOC))) {
        return wasm_call_trap(call, "restricted_callback: %s may not be called %s", e->name,
                              vm->phase == PW_PHASE_START ? "during VM start-up"
                                                          : "inside the guest allocator");
    }
    wasm_call *saved = current_call;
    current_call = call;
    int r = e->fn(vm, args);
    current_call = saved;
    if (r == PW_HC_TRAP)
        return false;
    if (!(e->flags & NO_RESULT))
        results[0] = (uint32_t)r;
    return true;
}

bool pw_hostcalls_resolve(pw_vm *vm, const wasm_import_desc *imp, wasm_extern *out,
                          wasm_error *err)
{
    for (size_t i = 0; i < NHOSTCALLS; i++) {
        const pw_hostcall_entry *e = &hostcalls[i];
        if (strcmp(e->name, imp->name) != 0)
            continue;
        uint8_t params[16];
        size_t np = strlen(e->params);
        for (size_t k = 0; k < np; k++)
            params[k] = e->params[k] == 'I' ? WASM_I64 : WASM_I32;
        uint8_t result = WASM_I32;
        wasm_functype t = {(uint32_t)np, (e->flags & NO_RESULT) ? 0u : 1u, params, &result};
        bool same = imp->func.nparams == t.nparams && imp->func.nresults == t.nresults &&
                    (np == 0 || memcmp(imp->func.params, params, np) == 0) &&
                    (t.nresults == 0 || imp->func.results[0] == WASM_I32);
        if (!same) {
            wasm_error_setf(err, "import type mismatch: env.%s is declared with another "
                                         "signature than the host's", e->name);
            return false;
        }
        if (!vm->bindings) {
            vm->bindings = calloc(NHOSTCALLS, sizeof *vm->bindings);
            if (!vm->bindings)
                return false;
        }
        vm->bindings[i] = (struct pw_binding){vm, e};
        char name[80];
        snprintf(name, sizeof name, "env.%s", e->name);
        wasm_func *f = wasm_func_new_host(vm->store, &t, trampoline, &vm->bindings[i], name);
        if (!f)
            return false;
        out->kind = WASM_EXTERN_FUNC;
        out->of.func = f;
        return true;
    }
    return false;
}
