/*
 * module.c - pw_module: a compiled plugin and what it exports.
 *
 * Loading checks what makes a module a usable Proxy-Wasm plugin once, so
 * that every VM created from it can rely on it: a memory, an allocator, the
 * ABI marker (none means 0.1.0: old Istio plugins have none), and the
 * signature of every callback it exports (a wrong one would otherwise be
 * found only when traffic arrives).
 */
#include "abi/internal.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    const char *params;
    const char *results;
} callback_info[PW_CB_COUNT] = {
#define PW_CB_INFO(id, name, params, results) [PW_CB_##id] = {name, params, results},
    PW_CALLBACKS(PW_CB_INFO)
#undef PW_CB_INFO
};

const char *pw_callback_name(pw_callback cb) { return callback_info[cb].name; }

const char *pw_abi_version_name(pw_abi_version v)
{
    switch (v) {
    case PW_ABI_0_1_0: return "0.1.0";
    case PW_ABI_0_2_0: return "0.2.0";
    default: return "0.2.1";
    }
}

/* True when the function type is exactly the params/results given as
 * strings of 'i' (i32) and 'I' (i64). */
static bool type_is(const wasm_functype *t, const char *params, const char *results)
{
    size_t np = strlen(params), nr = strlen(results);
    if (t->nparams != np || t->nresults != nr)
        return false;
    for (size_t i = 0; i < np; i++)
        if (t->params[i] != (params[i] == 'I' ? WASM_I64 : WASM_I32))
            return false;
    for (size_t i = 0; i < nr; i++)
        if (t->results[i] != (results[i] == 'I' ? WASM_I64 : WASM_I32))
            return false;
    return true;
}

static int64_t find_func(const wasm_module *m, const char *name)
{
    return wasm_module_find_export(m, name, WASM_EXTERN_FUNC);
}

static bool check_callbacks(pw_module *pm, wasm_error *err)
{
    for (int cb = 0; cb < PW_CB_COUNT; cb++) {
        int64_t idx = find_func(pm->wasm, callback_info[cb].name);
        pm->callbacks[cb] = idx;
        if (idx < 0)
            continue;
        wasm_functype t;
        wasm_module_func_type(pm->wasm, (uint32_t)idx, &t);
        const char *params = callback_info[cb].params;
        /* 0.1.0 header callbacks take no end_of_stream. */
        if (pm->abi == PW_ABI_0_1_0 &&
            (cb == PW_CB_ON_REQUEST_HEADERS || cb == PW_CB_ON_RESPONSE_HEADERS))
            params = "ii";
        if (!type_is(&t, params, callback_info[cb].results)) {
            wasm_error_setf(err, "Bad function signature for: %s", callback_info[cb].name);
            return false;
        }
    }
    /* cpp-host does not look up proxy_on_foreign_function for 0.1.0. */
    if (pm->abi == PW_ABI_0_1_0)
        pm->callbacks[PW_CB_ON_FOREIGN_FUNCTION] = -1;
    return true;
}

static bool check_entries(pw_module *pm, wasm_error *err)
{
    static const struct {
        const char *name, *params, *results;
    } entries[PW_ENTRY_COUNT] = {
        [PW_ENTRY_INITIALIZE] = {"_initialize", "", ""},
        [PW_ENTRY_MAIN] = {"main", "ii", "i"},
        [PW_ENTRY_MAIN_VOID] = {"__main_void", "", "i"},
        [PW_ENTRY_START] = {"_start", "", ""},
    };
    for (int e = 0; e < PW_ENTRY_COUNT; e++) {
        int64_t idx = find_func(pm->wasm, entries[e].name);
        pm->entries[e] = -1;
        if (idx < 0)
            continue;
        wasm_functype t;
        wasm_module_func_type(pm->wasm, (uint32_t)idx, &t);
        if (!type_is(&t, entries[e].params, entries[e].results)) {
            /* main with another signature is simply not ours to call. */
            if (e == PW_ENTRY_MAIN)
                continue;
            wasm_error_setf(err, "Bad function signature for: %s", entries[e].name);
            return false;
        }
        pm->entries[e] = idx;
    }
    return true;
}

static bool check_allocator(pw_module *pm, wasm_error *err)
{
    /* cpp-host (and so Envoy) prefers malloc; keep its order. */
    static const char *const names[] = {"malloc", "proxy_on_memory_allocate"};
    for (size_t i = 0; i < 2; i++) {
        int64_t idx = find_func(pm->wasm, names[i]);
        if (idx < 0)
            continue;
        wasm_functype t;
        wasm_module_func_type(pm->wasm, (uint32_t)idx, &t);
        if (type_is(&t, "i", "i")) {
            pm->malloc_index = idx;
            return true;
        }
    }
    wasm_error_setf(err, "Wasm module is missing malloc function (export malloc or "
                                 "proxy_on_memory_allocate, type (i32) -> i32)");
    return false;
}

static bool has_memory(const wasm_module *m)
{
    uint32_t n = wasm_module_import_count(m);
    for (uint32_t i = 0; i < n; i++) {
        wasm_import_desc d;
        wasm_module_import(m, i, &d);
        if (d.kind == WASM_EXTERN_MEMORY)
            return true;
    }
    n = wasm_module_export_count(m);
    for (uint32_t i = 0; i < n; i++) {
        wasm_export_desc d;
        wasm_module_export(m, i, &d);
        if (d.kind == WASM_EXTERN_MEMORY)
            return true;
    }
    return false;
}

pw_module *pw_module_load(const uint8_t *bytes, size_t size, wasm_error *err)
{
    wasm_module *wm = wasm_module_load(bytes, size, err);
    if (!wm)
        return NULL;
    pw_module *pm = calloc(1, sizeof *pm);
    if (!pm) {
        wasm_module_release(wm);
        wasm_error_setf(err, "out of memory");
        return NULL;
    }
    atomic_init(&pm->refcount, 1);
    pm->wasm = wm;
    pm->malloc_index = -1;
    /* The first marker export wins, as in cpp-host; none means 0.1.0. */
    pm->abi = PW_ABI_0_1_0;
    uint32_t n = wasm_module_export_count(wm);
    for (uint32_t i = 0; i < n; i++) {
        wasm_export_desc d;
        wasm_module_export(wm, i, &d);
        if (d.kind != WASM_EXTERN_FUNC)
            continue;
        if (strcmp(d.name, "proxy_abi_version_0_2_1") == 0) {
            pm->abi = PW_ABI_0_2_1;
            break;
        }
        if (strcmp(d.name, "proxy_abi_version_0_2_0") == 0) {
            pm->abi = PW_ABI_0_2_0;
            break;
        }
        if (strcmp(d.name, "proxy_abi_version_0_1_0") == 0) {
            pm->abi = PW_ABI_0_1_0;
            break;
        }
    }
    if (!has_memory(wm)) {
        wasm_error_setf(err, "Wasm module has no memory (Proxy-Wasm plugins export one)");
        pw_module_release(pm);
        return NULL;
    }
    if (!check_allocator(pm, err) || !check_entries(pm, err) || !check_callbacks(pm, err)) {
        pw_module_release(pm);
        return NULL;
    }
    return pm;
}

pw_module *pw_module_retain(pw_module *m)
{
    atomic_fetch_add(&m->refcount, 1);
    return m;
}

void pw_module_release(pw_module *m)
{
    if (!m || atomic_fetch_sub(&m->refcount, 1) != 1)
        return;
    wasm_module_release(m->wasm);
    free(m);
}

pw_abi_version pw_module_abi(const pw_module *m) { return m->abi; }

bool pw_module_has_body_callback(const pw_module *m, bool response)
{
    return m->callbacks[response ? PW_CB_ON_RESPONSE_BODY : PW_CB_ON_REQUEST_BODY] >= 0;
}
wasm_module *pw_module_wasm(const pw_module *m) { return m->wasm; }
