/*
 * vm.c - pw_vm: one plugin instance on one thread.
 *
 * Every call into the guest goes through pw_vm_call(), which is where the
 * host keeps its promises: the context bookkeeping (current and effective
 * context, saved and restored around nested calls), the deadline that stops
 * a runaway callback, the wasm:trace log of the crossing, turning a trap
 * into a failed VM with a readable backtrace, and running the stream
 * actions the plugin asked for once the outermost call has returned.
 */
#include "abi/internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_MEMORY (256u << 20)
#define DEFAULT_CALLBACK_DEADLINE_MS 50u
#define DEFAULT_START_DEADLINE_MS 30000u

/* ---- logging ----------------------------------------------------------------- */

static void plugin_log(pw_vm *vm, wg_log_level level, const char *msg, size_t len)
{
    if (vm->ops && vm->ops->log) {
        vm->ops->log(vm->host, vm, level, msg, len);
        return;
    }
    if (wg_log_enabled("wasm", level))
        wg_log("wasm", level, "wasm log %s %s %s: %.*s", vm->name, vm->root_id, vm->vm_id,
               (int)len, msg);
}

/* WASI stdout/stderr: one log line per write, without one trailing newline
 * (as cpp-host does). */
static void wasi_write_out(void *ctx, int fd, const uint8_t *data, size_t size)
{
    pw_vm *vm = ctx;
    if (size > 0 && data[size - 1] == '\n')
        size--;
    plugin_log(vm, fd == 2 ? WG_LOG_ERROR : WG_LOG_INFO, (const char *)data, size);
}

static void format_cells(char *buf, size_t cap, const wasm_cell *cells, uint32_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < n && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%" PRIu64, i ? ", " : "", cells[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* The store's host-function hook: every vm->host crossing. */
static void trace_hostcall(void *ctx, const char *name, const wasm_cell *args, uint32_t nargs,
                           const wasm_cell *results, uint32_t nresults, bool returned, bool ok)
{
    (void)ctx;
    if (!wg_log_enabled("wasm", WG_LOG_TRACE))
        return;
    char buf[512];
    if (!returned) {
        format_cells(buf, sizeof buf, args, nargs);
        wg_log("wasm", WG_LOG_TRACE, "[vm->host] %s(%s)", name ? name : "?", buf);
    } else if (!ok) {
        wg_log("wasm", WG_LOG_TRACE, "[vm<-host] %s trapped", name ? name : "?");
    } else if (nresults == 0) {
        wg_log("wasm", WG_LOG_TRACE, "[vm<-host] %s return: void", name ? name : "?");
    } else {
        format_cells(buf, sizeof buf, results, nresults);
        wg_log("wasm", WG_LOG_TRACE, "[vm<-host] %s return: %s", name ? name : "?", buf);
    }
}

void pw_vm_fail(pw_vm *vm, const char *fmt, ...)
{
    if (vm->failed)
        return;
    vm->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->error, sizeof vm->error, fmt, ap);
    va_end(ap);
}

/* Logs a trap as Envoy does, plus file:line where the module has DWARF. */
static void log_trap(pw_vm *vm, const char *function)
{
    const wasm_trap *t = &vm->trap;
    wg_log("wasm", WG_LOG_ERROR, "Function: %s failed: %s", function, t->message);
    if (t->nframes == 0)
        return;
    wg_log("wasm", WG_LOG_ERROR, "Proxy-Wasm plugin in-VM backtrace:");
    for (uint32_t i = 0; i < t->nframes; i++) {
        const wasm_frame_info *f = &t->frames[i];
        const char *file = NULL;
        uint32_t line = 0;
        char where[300] = "";
        if (f->module && wasm_module_source_line(f->module, f->code_offset, &file, &line))
            snprintf(where, sizeof where, " at %s:%u", file, line);
        if (f->name)
            wg_log("wasm", WG_LOG_ERROR, "  %u:  0x%x - %s%s", i, f->code_offset, f->name, where);
        else
            wg_log("wasm", WG_LOG_ERROR, "  %u:  0x%x - func[%u]%s", i, f->code_offset,
                   f->func_index, where);
    }
}

/* ---- contexts ------------------------------------------------------------------ */

static uint32_t slot_of(uint32_t id, uint32_t cap) { return (id * 2654435761u) & (cap - 1); }

pw_context *pw_vm_find_context(pw_vm *vm, uint32_t id)
{
    if (id == vm->root.id && !vm->root.deleted)
        return &vm->root;
    if (vm->contexts_cap == 0)
        return NULL;
    for (uint32_t i = slot_of(id, vm->contexts_cap);; i = (i + 1) & (vm->contexts_cap - 1)) {
        pw_context *c = vm->contexts[i];
        if (!c)
            return NULL;
        if (c->id == id)
            return c;
    }
}

static bool insert_context(pw_context **table, uint32_t cap, pw_context *ctx)
{
    for (uint32_t i = slot_of(ctx->id, cap);; i = (i + 1) & (cap - 1)) {
        if (!table[i]) {
            table[i] = ctx;
            return true;
        }
    }
}

bool pw_vm_add_context(pw_vm *vm, pw_context *ctx)
{
    if ((vm->contexts_count + 1) * 2 > vm->contexts_cap) {
        uint32_t cap = vm->contexts_cap ? vm->contexts_cap * 2 : 16;
        pw_context **table = calloc(cap, sizeof *table);
        if (!table)
            return false;
        for (uint32_t i = 0; i < vm->contexts_cap; i++)
            if (vm->contexts[i])
                insert_context(table, cap, vm->contexts[i]);
        free(vm->contexts);
        vm->contexts = table;
        vm->contexts_cap = cap;
    }
    insert_context(vm->contexts, vm->contexts_cap, ctx);
    vm->contexts_count++;
    return true;
}

void pw_vm_remove_context(pw_vm *vm, pw_context *ctx)
{
    uint32_t cap = vm->contexts_cap;
    if (cap == 0)
        return;
    uint32_t i = slot_of(ctx->id, cap);
    while (vm->contexts[i] && vm->contexts[i] != ctx)
        i = (i + 1) & (cap - 1);
    if (!vm->contexts[i])
        return;
    vm->contexts[i] = NULL;
    vm->contexts_count--;
    /* Re-insert the rest of the cluster so lookups still find them. */
    for (uint32_t j = (i + 1) & (cap - 1); vm->contexts[j]; j = (j + 1) & (cap - 1)) {
        pw_context *c = vm->contexts[j];
        vm->contexts[j] = NULL;
        insert_context(vm->contexts, cap, c);
    }
}

pw_context *pw_vm_target(pw_vm *vm)
{
    if (vm->effective)
        return vm->effective;
    return vm->current ? vm->current : &vm->root;
}

pw_stream *pw_vm_target_stream(pw_vm *vm) { return pw_vm_target(vm)->stream; }

/* ---- deferred actions ------------------------------------------------------------ */

void pw_vm_defer(pw_vm *vm, pw_deferred_kind kind, uint32_t context_id, pw_stream_type type)
{
    if (vm->ndeferred == vm->deferred_cap) {
        uint32_t cap = vm->deferred_cap ? vm->deferred_cap * 2 : 8;
        pw_deferred *d = realloc(vm->deferred, cap * sizeof *d);
        if (!d)
            return; /* dropped: the stream then times out rather than the proxy crashing */
        vm->deferred = d;
        vm->deferred_cap = cap;
    }
    vm->deferred[vm->ndeferred++] = (pw_deferred){kind, context_id, type};
}

static void run_deferred(pw_vm *vm)
{
    while (vm->ndeferred > 0 && !vm->failed) {
        /* Take the list: actions may start new VM calls that defer more. */
        pw_deferred *list = vm->deferred;
        uint32_t n = vm->ndeferred;
        vm->deferred = NULL;
        vm->ndeferred = vm->deferred_cap = 0;
        for (uint32_t i = 0; i < n; i++) {
            pw_context *ctx = pw_vm_find_context(vm, list[i].context_id);
            pw_stream *s = ctx ? ctx->stream : NULL;
            if (!s || s->finished)
                continue;
            switch (list[i].kind) {
            case PW_DEFER_RESUME:
                vm->ops->resume(vm->host, s, list[i].type);
                break;
            case PW_DEFER_CLOSE:
                vm->ops->close(vm->host, s, list[i].type);
                break;
            case PW_DEFER_REPLY:
                if (s->reply_pending) {
                    s->reply_pending = false;
                    s->replied = true;
                    vm->ops->local_reply(vm->host, s, &s->reply);
                }
                break;
            }
        }
        free(list);
    }
    if (vm->failed)
        vm->ndeferred = 0;
}

/* ---- calls into the guest ---------------------------------------------------------- */

static bool is_start_callback(pw_callback cb)
{
    return cb == PW_CB_ON_VM_START || cb == PW_CB_ON_CONFIGURE ||
           cb == PW_CB_ON_VALIDATE_CONFIGURATION;
}

static const char *call_name(const char *what, pw_callback cb)
{
    return what ? what : pw_callback_name(cb);
}

/* Calls `f` with deadline, trace log and trap handling. `what` names it,
 * or when NULL the callback `cb` does (looked up only for a log line or a
 * failure: not on every call). */
static bool guarded_call(pw_vm *vm, wasm_func *f, const char *what, pw_callback cb,
                         bool start_budget, const wasm_cell *args, uint32_t nargs,
                         wasm_cell *results, uint32_t nresults)
{
    bool outer = vm->depth == 0;
    bool trace = wg_log_enabled("wasm", WG_LOG_TRACE);
    if (outer) {
        /* No stale interrupt can be pending here: a trap consumes its
         * interrupt and pw_watch_end() drops one that came too late. */
        uint32_t ms = start_budget ? vm->cfg.start_deadline_ms : vm->cfg.callback_deadline_ms;
        pw_watch_begin(vm->watch, ms);
        /* The hostcall hook costs two calls per hostcall: installed only
         * while wasm:trace is on (checked at each outermost call). */
        wasm_store_set_host_trace(vm->store, trace ? trace_hostcall : NULL, vm);
    }
    if (trace) {
        char buf[256];
        format_cells(buf, sizeof buf, args, nargs);
        wg_log("wasm", WG_LOG_TRACE, "[host->vm] %s(%s)", call_name(what, cb), buf);
    }
    vm->depth++;
    bool ok = wasm_func_call(vm->store, f, args, nargs, results, nresults);
    vm->depth--;
    bool fired = outer && pw_watch_end(vm->watch);
    if (ok) {
        if (wg_log_enabled("wasm", WG_LOG_TRACE)) {
            if (nresults)
                wg_log("wasm", WG_LOG_TRACE, "[host<-vm] %s return: %" PRIu64, call_name(what, cb),
                       results[0]);
            else
                wg_log("wasm", WG_LOG_TRACE, "[host<-vm] %s return: void", call_name(what, cb));
        }
        return true;
    }
    const wasm_trap *t = wasm_store_last_trap(vm->store);
    if (!vm->failed) {
        vm->trap = *t;
        if (t->kind == WASM_TRAP_INTERRUPTED && fired) {
            snprintf(vm->trap.message, sizeof vm->trap.message,
                     "execution time limit exceeded (%u ms): the plugin was stopped",
                     start_budget ? vm->cfg.start_deadline_ms : vm->cfg.callback_deadline_ms);
        }
        snprintf(vm->failed_function, sizeof vm->failed_function, "%s", call_name(what, cb));
        pw_vm_fail(vm, "Function: %s failed: %s", call_name(what, cb), vm->trap.message);
        log_trap(vm, call_name(what, cb));
    }
    return false;
}

static void delete_root(pw_vm *vm)
{
    vm->delete_root = false;
    if (vm->root.deleted)
        return;
    wasm_cell arg = vm->root.id;
    pw_vm_call(vm, PW_CB_ON_DELETE, &vm->root, &arg, 1, 0, NULL);
    vm->root.deleted = true;
    pw_queue_forget_owner(vm);
    if (vm->tick_period_ms) {
        vm->tick_period_ms = 0;
        vm->ops->set_tick(vm->host, vm, 0);
    }
}

bool pw_vm_call(pw_vm *vm, pw_callback cb, pw_context *ctx, const wasm_cell *args,
                uint32_t nargs, uint32_t dflt, uint32_t *result)
{
    /* Nothing reaches a failed VM, nor a context after its on_delete (the
     * SDKs abort on unknown context ids). */
    if (vm->failed || ctx->deleted)
        return false;
    wasm_func *f = vm->callbacks[cb];
    if (!f) {
        if (result)
            *result = dflt;
        return true;
    }
    pw_context *saved_current = vm->current, *saved_effective = vm->effective;
    vm->current = ctx;
    vm->effective = NULL;
    if (vm->depth == 0)
        vm->running = cb;
    uint32_t nresults = vm->callback_nresults[cb];
    wasm_cell res[1] = {0};
    bool ok = guarded_call(vm, f, NULL, cb, is_start_callback(cb), args, nargs, res, nresults);
    vm->current = saved_current;
    vm->effective = saved_effective;
    if (ok && result)
        *result = nresults ? (uint32_t)res[0] : dflt;
    if (vm->depth == 0) {
        run_deferred(vm);
        if (vm->delete_root)
            delete_root(vm);
    }
    return ok;
}

bool pw_vm_ensure_created(pw_vm *vm, pw_context *ctx)
{
    if (ctx->created)
        return true;
    ctx->created = true;
    wasm_cell args[2] = {ctx->id, ctx->is_root ? 0 : vm->root.id};
    return pw_vm_call(vm, PW_CB_ON_CONTEXT_CREATE, ctx, args, 2, 0, NULL);
}

uint32_t pw_guest_alloc(pw_vm *vm, uint32_t size, bool *trapped)
{
    *trapped = false;
    pw_phase saved = vm->phase;
    vm->phase = PW_PHASE_MALLOC;
    wasm_cell arg = size, res = 0;
    bool ok = wasm_func_call(vm->store, vm->malloc_fn, &arg, 1, &res, 1);
    vm->phase = saved;
    if (!ok) {
        *trapped = true;
        return 0;
    }
    return (uint32_t)res;
}

/* ---- configuration ----------------------------------------------------------------- */

static bool copy_config(pw_vm *vm, const pw_plugin_config *c)
{
    vm->cfg_copy = pw_config_dup(c);
    if (!vm->cfg_copy)
        return false;
    vm->cfg = *vm->cfg_copy;
    vm->name = vm->cfg.name;
    vm->root_id = vm->cfg.root_id;
    vm->vm_id = vm->cfg.vm_id;
    if (!vm->cfg.max_memory_bytes)
        vm->cfg.max_memory_bytes = DEFAULT_MAX_MEMORY;
    if (!vm->cfg.callback_deadline_ms)
        vm->cfg.callback_deadline_ms = DEFAULT_CALLBACK_DEADLINE_MS;
    if (!vm->cfg.start_deadline_ms)
        vm->cfg.start_deadline_ms = DEFAULT_START_DEADLINE_MS;
    return true;
}

/* ---- start-up ------------------------------------------------------------------------ */

static bool link(pw_vm *vm, wasm_extern **out, wasm_error *err)
{
    wasm_module *wm = vm->module->wasm;
    uint32_t n = wasm_module_import_count(wm);
    wasm_extern *imports = calloc(n ? n : 1, sizeof *imports);
    if (!imports) {
        wasm_error_setf(err, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        wasm_import_desc d;
        wasm_module_import(wm, i, &d);
        bool ok = false;
        if (d.kind == WASM_EXTERN_FUNC) {
            if (strcmp(d.module, "env") == 0)
                ok = pw_hostcalls_resolve(vm, &d, &imports[i], err);
            else
                ok = wasm_wasi_resolve(vm->wasi, vm->store, &d, &imports[i]);
        } else if (d.kind == WASM_EXTERN_MEMORY) {
            /* A module that imports its memory gets one of the declared size. */
            imports[i].kind = WASM_EXTERN_MEMORY;
            imports[i].of.memory = wasm_memory_new(vm->store, d.limits, err);
            ok = imports[i].of.memory != NULL;
        } else if (d.kind == WASM_EXTERN_TABLE) {
            imports[i].kind = WASM_EXTERN_TABLE;
            imports[i].of.table = wasm_table_new(vm->store, d.table_elem, d.limits, 0, err);
            ok = imports[i].of.table != NULL;
        }
        if (!ok) {
            /* Keep a more precise reason (a signature mismatch) if given. */
            if (!err || !err->message[0])
                wasm_error_setf(err,
                                        "Failed to load Wasm module due to a missing import: "
                                        "%s.%s (%s)",
                                        d.module, d.name, wasm_extern_kind_name(d.kind));
            free(imports);
            return false;
        }
    }
    *out = imports;
    return true;
}

/* _initialize (+ main / __main_void), or _start, with hostcalls restricted. */
static bool run_entry_points(pw_vm *vm)
{
    const pw_module *m = vm->module;
    static const char *const names[PW_ENTRY_COUNT] = {"_initialize", "main", "__main_void",
                                                      "_start"};
    int order[2] = {-1, -1};
    if (m->entries[PW_ENTRY_INITIALIZE] >= 0) {
        order[0] = PW_ENTRY_INITIALIZE;
        if (m->entries[PW_ENTRY_MAIN] >= 0)
            order[1] = PW_ENTRY_MAIN;
        else if (m->entries[PW_ENTRY_MAIN_VOID] >= 0)
            order[1] = PW_ENTRY_MAIN_VOID;
    } else if (m->entries[PW_ENTRY_START] >= 0) {
        order[0] = PW_ENTRY_START;
    }
    vm->phase = PW_PHASE_START;
    bool ok = true;
    for (int i = 0; i < 2 && ok && order[i] >= 0; i++) {
        wasm_func *f = wasm_instance_func(vm->instance, names[order[i]]);
        wasm_cell args[2] = {0, 0}, res[1];
        uint32_t nargs = order[i] == PW_ENTRY_MAIN ? 2 : 0;
        uint32_t nres = order[i] == PW_ENTRY_MAIN || order[i] == PW_ENTRY_MAIN_VOID ? 1 : 0;
        ok = guarded_call(vm, f, names[order[i]], PW_CB_COUNT, true, args, nargs, res, nres);
        if (!ok && order[i] == PW_ENTRY_START && vm->trap.kind == WASM_TRAP_EXIT &&
            vm->trap.exit_code == 0) {
            /* A WASI command that ends with proc_exit(0) (TinyGo >= 0.35) has
             * simply finished initialising. */
            vm->failed = false;
            vm->error[0] = 0;
            ok = true;
        }
    }
    vm->phase = PW_PHASE_NORMAL;
    return ok;
}

static bool start_root(pw_vm *vm)
{
    vm->root.id = vm->next_context_id++;
    vm->root.is_root = true;
    if (!pw_vm_ensure_created(vm, &vm->root))
        return false;
    uint32_t ok = 1;
    vm->in_vm_start = true;
    wasm_cell args[2] = {vm->root.id, vm->cfg.vm_configuration_len};
    bool called = pw_vm_call(vm, PW_CB_ON_VM_START, &vm->root, args, 2, 1, &ok);
    vm->in_vm_start = false;
    if (!called)
        return false;
    if (!ok) {
        pw_vm_fail(vm, "Plugin %s: proxy_on_vm_start returned false (start failed)", vm->name);
        return false;
    }
    if (!pw_vm_configure(vm, vm->cfg.configuration, vm->cfg.configuration_len)) {
        if (!vm->failed)
            pw_vm_fail(vm, "Plugin %s: proxy_on_configure returned false (configuration rejected)",
                       vm->name);
        return false;
    }
    return true;
}

pw_vm *pw_vm_new(pw_module *module, const pw_plugin_config *config, const pw_host_ops *ops,
                 void *host, wasm_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
    pw_vm *vm = calloc(1, sizeof *vm);
    if (!vm) {
        wasm_error_setf(err, "out of memory");
        return NULL;
    }
    vm->module = pw_module_retain(module);
    vm->ops = ops;
    vm->host = host;
    vm->next_context_id = 1;
    vm->next_token = 4;
    wasm_extern *imports = NULL;
    if (!copy_config(vm, config)) {
        wasm_error_setf(err, "out of memory");
        goto fail;
    }
    wasm_store_config sc = {
        .max_memory_pages = (uint32_t)((vm->cfg.max_memory_bytes + 65535u) / 65536u),
    };
    vm->store = wasm_store_new(&sc);
    wasm_wasi_config wc = {
        .argc = 0,
        .argv = NULL,
        .envc = vm->cfg.nenv,
        .envp = vm->cfg.env,
        .write_out = wasi_write_out,
        .write_ctx = vm,
        /* A plugin runs on a proxy worker: a guest "sleep" must not block
         * it (cpp-host returns at once too). */
        .no_sleep = true,
    };
    vm->wasi = wasm_wasi_new(&wc);
    if (!vm->store || !vm->wasi) {
        wasm_error_setf(err, "out of memory");
        goto fail;
    }
    vm->watch = pw_watch_register(vm->store);
    if (!vm->watch) {
        wasm_error_setf(err, "cannot start the deadline watchdog");
        goto fail;
    }
    wasm_store_set_userdata(vm->store, vm);
    wasm_store_set_host_trace(vm->store, trace_hostcall, vm);
    if (!link(vm, &imports, err))
        goto fail;
    vm->phase = PW_PHASE_START;
    vm->instance = wasm_instance_new(vm->store, module->wasm, imports,
                                     wasm_module_import_count(module->wasm), err);
    vm->phase = PW_PHASE_NORMAL;
    free(imports);
    imports = NULL;
    if (!vm->instance)
        goto fail;
    vm->memory = wasm_instance_memory(vm->instance, 0);
    for (int cb = 0; cb < PW_CB_COUNT; cb++) {
        if (module->callbacks[cb] >= 0) {
            vm->callbacks[cb] = wasm_instance_func(vm->instance, pw_callback_name(cb));
            wasm_functype t;
            wasm_func_type(vm->callbacks[cb], &t);
            vm->callback_nresults[cb] = t.nresults;
        }
    }
    vm->malloc_fn = wasm_instance_func(vm->instance, "malloc");
    if (!vm->malloc_fn || module->malloc_index != wasm_module_find_export(module->wasm, "malloc",
                                                                          WASM_EXTERN_FUNC))
        vm->malloc_fn = wasm_instance_func(vm->instance, "proxy_on_memory_allocate");
    if (!run_entry_points(vm) || !start_root(vm)) {
        wasm_error_setf(err, "%s", vm->error);
        goto fail;
    }
    return vm;
fail:
    free(imports);
    vm->root.deleted = true; /* nothing more is delivered to it */
    pw_vm_free(vm);
    return NULL;
}

bool pw_vm_configure(pw_vm *vm, const uint8_t *configuration, size_t len)
{
    if (vm->failed)
        return false;
    vm->in_configure = true;
    vm->configure_data = configuration;
    vm->configure_len = len;
    uint32_t ok = 1;
    wasm_cell args[2] = {vm->root.id, len};
    bool called = pw_vm_call(vm, PW_CB_ON_CONFIGURE, &vm->root, args, 2, 1, &ok);
    vm->in_configure = false;
    vm->configure_data = NULL;
    vm->configure_len = 0;
    return called && ok;
}

void pw_vm_tick(pw_vm *vm)
{
    wasm_cell arg = vm->root.id;
    pw_vm_call(vm, PW_CB_ON_TICK, &vm->root, &arg, 1, 0, NULL);
}

void pw_vm_http_call_response(pw_vm *vm, uint32_t token, const wg_headers *headers,
                              const uint8_t *body, size_t body_len, const wg_headers *trailers)
{
    /* Deliver exactly once per dispatched call (SDKs panic on unknown
     * tokens), and never after the root is gone. */
    uint32_t i = 0;
    while (i < vm->ncalls && vm->calls[i].token != token)
        i++;
    if (i == vm->ncalls || vm->root.deleted)
        return;
    vm->calls[i] = vm->calls[--vm->ncalls];
    pw_call_response r = {headers, trailers, body, body_len};
    if (!headers) {
        r.body = NULL;
        r.body_len = 0;
        r.trailers = NULL;
        vm->status_code = PW_BROKEN_CONNECTION;
        snprintf(vm->status_message, sizeof vm->status_message, "reset");
    } else {
        vm->status_code = PW_OK;
        vm->status_message[0] = 0;
    }
    vm->call_response = &r;
    wasm_cell args[5] = {vm->root.id, token, headers ? headers->count : 0, r.body_len,
                         r.trailers ? r.trailers->count : 0};
    pw_vm_call(vm, PW_CB_ON_HTTP_CALL_RESPONSE, &vm->root, args, 5, 0, NULL);
    vm->call_response = NULL;
}

void pw_vm_deliver_queues(pw_vm *vm)
{
    uint32_t ids[64];
    uint32_t n;
    while (!vm->failed && (n = pw_queue_take_ready(vm, ids, 64)) > 0) {
        for (uint32_t i = 0; i < n; i++) {
            wasm_cell args[2] = {vm->root.id, ids[i]};
            pw_vm_call(vm, PW_CB_ON_QUEUE_READY, &vm->root, args, 2, 0, NULL);
        }
    }
}

bool pw_vm_shutdown(pw_vm *vm)
{
    if (vm->root.deleted || !vm->root.created || vm->failed)
        return true;
    if (vm->done_pending || vm->shutting_down)
        return pw_vm_shutdown_complete(vm);
    vm->shutting_down = true;
    wasm_cell arg = vm->root.id;
    uint32_t done = 1;
    if (!pw_vm_call(vm, PW_CB_ON_DONE, &vm->root, &arg, 1, 1, &done))
        return true; /* trapped: nothing more is delivered */
    if (!done && !vm->root.deleted && !vm->delete_root) {
        vm->done_pending = true;
        return false;
    }
    delete_root(vm);
    return true;
}

bool pw_vm_shutdown_complete(const pw_vm *vm)
{
    return vm->root.deleted || vm->failed || !vm->root.created;
}

void pw_vm_free(pw_vm *vm)
{
    if (!vm)
        return;
    if (vm->instance && !vm->root.deleted && vm->root.created && !vm->failed) {
        /* A plugin still draining is cut short: the VM is going away. */
        if (pw_vm_shutdown(vm) == false)
            delete_root(vm);
    }
    vm->root.deleted = true;
    pw_queue_forget_owner(vm);
    if (vm->tick_period_ms && vm->ops && vm->ops->set_tick)
        vm->ops->set_tick(vm->host, vm, 0);
    wg_headers_free(&vm->root.properties);
    pw_watch_unregister(vm->watch);
    wasm_store_free(vm->store);
    wasm_wasi_free(vm->wasi);
    pw_module_release(vm->module);
    free(vm->contexts);
    free(vm->bindings);
    free(vm->deferred);
    free(vm->calls);
    free(vm->metrics);
    free(vm->cfg_copy);
    free(vm);
}

bool pw_vm_failed(const pw_vm *vm) { return vm->failed; }
const char *pw_vm_error(const pw_vm *vm) { return vm->error; }
const wasm_trap *pw_vm_trap(const pw_vm *vm) { return &vm->trap; }
const pw_plugin_config *pw_vm_config(const pw_vm *vm) { return &vm->cfg; }
const char *pw_vm_failed_function(const pw_vm *vm) { return vm->failed_function; }
uint32_t pw_vm_metric_count(const pw_vm *vm) { return vm->nmetrics; }
wg_metric *pw_vm_metric(const pw_vm *vm, uint32_t i) { return i < vm->nmetrics ? vm->metrics[i] : NULL; }
pw_abi_version pw_vm_abi(const pw_vm *vm) { return vm->module->abi; }
void *pw_vm_host(const pw_vm *vm) { return vm->host; }

/* ---- process-wide ------------------------------------------------------------------ */

bool pw_global_init(void) { return true; }

void pw_global_shutdown(void)
{
    pw_watchdog_stop();
    pw_shared_shutdown();
}
