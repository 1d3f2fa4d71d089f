/*
 * module.c - module lifetime, errors, names, and the module accessors of
 * wasm.h.
 */
#include "wasm/module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---------------------------------------------------------------- */

/* Module-owned small allocations: decoding a module makes many small
 * arrays and strings whose lifetime is the module's, so they come from a
 * few large blocks instead of one malloc each. */
struct wasm_arena_block {
    struct wasm_arena_block *next;
    size_t used;
    size_t cap;
    _Alignas(8) unsigned char data[];
};

#define ARENA_BLOCK_SIZE (64u * 1024u)
/* Requests bigger than this get a block of their own, so that a large
 * request does not waste the rest of the current block. */
#define ARENA_BIG_REQUEST (ARENA_BLOCK_SIZE / 4)

static struct wasm_arena_block *arena_block_new(size_t cap)
{
    struct wasm_arena_block *b = calloc(1, sizeof *b + cap);
    if (b)
        b->cap = cap;
    return b;
}

void *wasm_module_alloc(struct wasm_module *m, size_t size)
{
    if (size > SIZE_MAX - sizeof(struct wasm_arena_block) - 8)
        return NULL;
    size = (size + 7) & ~(size_t)7;
    if (size == 0)
        size = 8;

    if (size > ARENA_BIG_REQUEST) {
        struct wasm_arena_block *b = arena_block_new(size);
        if (!b)
            return NULL;
        b->used = size;
        /* Keep the current (head) block first: it still has room. */
        if (m->arena) {
            b->next = m->arena->next;
            m->arena->next = b;
        } else {
            m->arena = b;
        }
        return b->data;
    }

    struct wasm_arena_block *head = m->arena;
    if (!head || head->cap - head->used < size) {
        head = arena_block_new(ARENA_BLOCK_SIZE);
        if (!head)
            return NULL;
        head->next = m->arena;
        m->arena = head;
    }
    void *p = head->data + head->used;
    head->used += size;
    return p; /* calloc'ed and never reused: already zero */
}

char *wasm_module_strndup(struct wasm_module *m, const uint8_t *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *copy = wasm_module_alloc(m, len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

static void arena_free(struct wasm_arena_block *b)
{
    while (b) {
        struct wasm_arena_block *next = b->next;
        free(b);
        b = next;
    }
}

/* ---- lifetime ------------------------------------------------------------- */

void wasm_module_free_contents(struct wasm_module *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->nfunc_defs; i++) {
        if (m->func_defs[i].code)
            wasm_code_free(m->func_defs[i].code);
    }
    if (m->lines)
        wasm_line_table_free(m->lines);
    free(m->types);
    free(m->imports);
    free(m->func_types);
    free(m->func_defs);
    free(m->tables);
    free(m->memories);
    free(m->globals);
    free(m->exports);
    free(m->elems);
    free(m->datas);
    free(m->func_declared);
    free(m->customs);
    free(m->func_names);
    free(m->bytes);
    arena_free(m->arena);
    memset(m, 0, sizeof *m);
}

/* A module over `bytes`, decoded; NULL with err set on failure. When
 * `copy` is false the module borrows the caller's bytes (m->bytes must be
 * cleared before freeing). */
static struct wasm_module *module_decode(const uint8_t *bytes, size_t size, bool copy,
                                         wasm_error *err)
{
    /* Offsets are 32-bit everywhere in the runtime. */
    if (size > UINT32_MAX) {
        wasm_error_set_nooffset(err, "module too large (%zu bytes)", size);
        return NULL;
    }
    struct wasm_module *m = calloc(1, sizeof *m);
    if (!m) {
        wasm_error_set_nooffset(err, "out of memory");
        return NULL;
    }
    atomic_init(&m->refcount, 1);
    atomic_init(&m->lines_state, 0);
    if (copy) {
        m->bytes = malloc(size ? size : 1);
        if (!m->bytes) {
            free(m);
            wasm_error_set_nooffset(err, "out of memory");
            return NULL;
        }
        if (size)
            memcpy(m->bytes, bytes, size);
    } else {
        m->bytes = (uint8_t *)bytes; /* never written: decode only reads */
    }
    m->size = size;
    if (!wasm_decode(m, err)) {
        if (!copy)
            m->bytes = NULL;
        wasm_module_free_contents(m);
        free(m);
        return NULL;
    }
    return m;
}

wasm_module *wasm_module_load(const uint8_t *bytes, size_t size, wasm_error *err)
{
    if (!bytes && size) {
        wasm_error_set_nooffset(err, "no module bytes");
        return NULL;
    }
    struct wasm_module *m = module_decode(bytes, size, true, err);
    if (!m)
        return NULL;
    if (!wasm_compile(m, err)) {
        wasm_module_free_contents(m);
        free(m);
        return NULL;
    }
    return m;
}

bool wasm_module_validate(const uint8_t *bytes, size_t size, wasm_error *err)
{
    if (!bytes && size) {
        wasm_error_set_nooffset(err, "no module bytes");
        return false;
    }
    static const uint8_t empty[1];
    struct wasm_module *m = module_decode(bytes ? bytes : empty, size, false, err);
    if (!m)
        return false;
    bool ok = wasm_validate_bodies(m, err);
    m->bytes = NULL;
    wasm_module_free_contents(m);
    free(m);
    return ok;
}

wasm_module *wasm_module_retain(wasm_module *module)
{
    if (module)
        atomic_fetch_add_explicit(&module->refcount, 1, memory_order_relaxed);
    return module;
}

void wasm_module_release(wasm_module *module)
{
    if (!module)
        return;
    /* acq_rel: the last owner must see every other owner's writes (e.g. a
     * lazily built line table) before freeing. */
    if (atomic_fetch_sub_explicit(&module->refcount, 1, memory_order_acq_rel) != 1)
        return;
    wasm_module_free_contents(module);
    free(module);
}

/* ---- errors --------------------------------------------------------------- */

void wasm_error_set(wasm_error *err, size_t offset, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->offset = offset;
    err->has_offset = true;
}

void wasm_error_set_nooffset(wasm_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->offset = 0;
    err->has_offset = false;
}

void wasm_error_setf(wasm_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->offset = 0;
    err->has_offset = false;
}

/* ---- names ---------------------------------------------------------------- */

const char *wasm_valtype_name(uint8_t type)
{
    switch (type) {
    case WASM_I32: return "i32";
    case WASM_I64: return "i64";
    case WASM_F32: return "f32";
    case WASM_F64: return "f64";
    case WASM_V128: return "v128";
    case WASM_FUNCREF: return "funcref";
    case WASM_EXTERNREF: return "externref";
    default: return "?";
    }
}

const char *wasm_extern_kind_name(wasm_extern_kind kind)
{
    switch (kind) {
    case WASM_EXTERN_FUNC: return "func";
    case WASM_EXTERN_TABLE: return "table";
    case WASM_EXTERN_MEMORY: return "memory";
    case WASM_EXTERN_GLOBAL: return "global";
    default: return "?";
    }
}

const char *wasm_trap_kind_message(wasm_trap_kind kind)
{
    /* The spec test suite's texts, so assert_trap can compare them. */
    switch (kind) {
    case WASM_TRAP_NONE: return "no trap";
    case WASM_TRAP_UNREACHABLE: return "unreachable";
    case WASM_TRAP_MEMORY_OOB: return "out of bounds memory access";
    case WASM_TRAP_TABLE_OOB: return "out of bounds table access";
    case WASM_TRAP_UNDEFINED_ELEMENT: return "undefined element";
    case WASM_TRAP_UNINITIALIZED_ELEMENT: return "uninitialized element";
    case WASM_TRAP_INDIRECT_CALL_TYPE: return "indirect call type mismatch";
    case WASM_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WASM_TRAP_STACK_EXHAUSTED: return "call stack exhausted";
    case WASM_TRAP_INTERRUPTED: return "interrupted";
    case WASM_TRAP_HOST: return "host trap";
    case WASM_TRAP_EXIT: return "exit";
    default: return "unknown trap";
    }
}

/* ---- accessors ------------------------------------------------------------ */

static void functype_of(const struct wasm_module *m, uint32_t type_index, wasm_functype *out)
{
    const wasm_type *t = &m->types[type_index];
    out->nparams = t->nparams;
    out->nresults = t->nresults;
    out->params = wasm_type_params(t);
    out->results = wasm_type_results(t);
}

uint32_t wasm_module_import_count(const wasm_module *module)
{
    return module->nimports;
}

void wasm_module_import(const wasm_module *module, uint32_t i, wasm_import_desc *out)
{
    memset(out, 0, sizeof *out);
    if (i >= module->nimports)
        return;
    const wasm_import *imp = &module->imports[i];
    out->module = imp->module;
    out->name = imp->name;
    out->kind = (wasm_extern_kind)imp->kind;
    switch (imp->kind) {
    case WASM_EXTERN_FUNC:
        functype_of(module, imp->type_index, &out->func);
        break;
    case WASM_EXTERN_TABLE:
        out->table_elem = imp->elem_type;
        out->limits = imp->limits;
        break;
    case WASM_EXTERN_MEMORY:
        out->limits = imp->limits;
        break;
    case WASM_EXTERN_GLOBAL:
        out->global_type = imp->global_type;
        out->global_mutable = imp->global_mutable;
        break;
    }
}

uint32_t wasm_module_export_count(const wasm_module *module)
{
    return module->nexports;
}

void wasm_module_export(const wasm_module *module, uint32_t i, wasm_export_desc *out)
{
    memset(out, 0, sizeof *out);
    if (i >= module->nexports)
        return;
    const wasm_export *exp = &module->exports[i];
    out->name = exp->name;
    out->kind = (wasm_extern_kind)exp->kind;
    out->index = exp->index;
}

int64_t wasm_module_find_export(const wasm_module *module, const char *name, wasm_extern_kind kind)
{
    size_t len = strlen(name);
    for (uint32_t i = 0; i < module->nexports; i++) {
        const wasm_export *exp = &module->exports[i];
        if (exp->kind == kind && exp->name_len == len && memcmp(exp->name, name, len) == 0)
            return exp->index;
    }
    return -1;
}

bool wasm_module_func_type(const wasm_module *module, uint32_t func_index, wasm_functype *out)
{
    if (func_index >= module->nfuncs)
        return false;
    functype_of(module, module->func_types[func_index], out);
    return true;
}

const char *wasm_module_func_name(const wasm_module *module, uint32_t func_index)
{
    /* func_names is sorted by index (decode.c). */
    uint32_t lo = 0, hi = module->nfunc_names;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t index = module->func_names[mid].index;
        if (index == func_index)
            return module->func_names[mid].name;
        if (index < func_index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const uint8_t *wasm_module_custom_section(const wasm_module *module, const char *name,
                                          size_t *size)
{
    size_t len = strlen(name);
    for (uint32_t i = 0; i < module->ncustoms; i++) {
        const wasm_custom_section *c = &module->customs[i];
        if (c->name_len == len && memcmp(c->name, name, len) == 0) {
            if (size)
                *size = c->size;
            return c->data;
        }
    }
    if (size)
        *size = 0;
    return NULL;
}
