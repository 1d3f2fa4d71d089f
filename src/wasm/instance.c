/*
 * instance.c - stores, run-time objects (functions, memories, tables,
 * globals) and instantiation.
 *
 * Every object is allocated in a store and recorded in its object list;
 * wasm_store_free() frees them all. Nothing is freed earlier because
 * references escape freely between instances of a store (a table may hold
 * functions of an instance whose instantiation trapped half-way, as the
 * spec requires).
 */
#include "wasm/code.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- types ---------------------------------------------------------------------- */

uint64_t wasm_type_hash(const wasm_type *type)
{
    /* FNV-1a over the counts and the type bytes. */
    uint64_t h = 1469598103934665603u;
    uint32_t n = type->nparams + type->nresults;
    uint32_t counts[2] = {type->nparams, type->nresults};
    const uint8_t *cb = (const uint8_t *)counts;
    for (size_t i = 0; i < sizeof counts; i++)
        h = (h ^ cb[i]) * 1099511628211u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ type->types[i]) * 1099511628211u;
    return h;
}

bool wasm_type_equal(const wasm_type *a, const wasm_type *b)
{
    return a->nparams == b->nparams && a->nresults == b->nresults &&
           (a->nparams + a->nresults == 0 ||
            memcmp(a->types, b->types, a->nparams + a->nresults) == 0);
}

/* ---- stores ---------------------------------------------------------------------- */

/* The value stack (8 MiB by default) and the frame stack are mapped, not
 * malloc'ed: pages are zero and not resident until used, and they go back
 * to the system when the store is freed. Through malloc, glibc's mmap
 * threshold rises after the first such block is freed; later stacks then
 * come from the heap, are memset in full by calloc (all of it resident)
 * and stay in the heap once freed. */
static void *stack_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void stack_unmap(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

static size_t frames_bytes(const wasm_store *s)
{
    return ((size_t)s->config.max_call_depth + 1) * sizeof(wasm_frame);
}

wasm_store *wasm_store_new(const wasm_store_config *config)
{
    wasm_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (config)
        s->config = *config;
    if (!s->config.max_memory_pages || s->config.max_memory_pages > WASM_MAX_PAGES)
        s->config.max_memory_pages = WASM_MAX_PAGES;
    if (!s->config.max_call_depth)
        s->config.max_call_depth = 10000;
    if (!s->config.value_stack_cells)
        s->config.value_stack_cells = (size_t)1 << 20;
    if (!s->config.max_table_elems || s->config.max_table_elems > WASM_MAX_TABLE_SIZE)
        s->config.max_table_elems = WASM_MAX_TABLE_SIZE;
    if (s->config.value_stack_cells > SIZE_MAX / sizeof(wasm_slot)) {
        free(s);
        return NULL;
    }
    s->stack = stack_map(s->config.value_stack_cells * sizeof(wasm_slot));
    s->frames = stack_map(frames_bytes(s));
    if (!s->stack || !s->frames) {
        stack_unmap(s->stack, s->config.value_stack_cells * sizeof(wasm_slot));
        stack_unmap(s->frames, frames_bytes(s));
        free(s);
        return NULL;
    }
    s->stack_end = s->stack + s->config.value_stack_cells;
    s->sp = s->stack;
    atomic_init(&s->interrupt, false);
    return s;
}

static void memory_release(struct wasm_memory *m);

static void free_object(wasm_store_object *o)
{
    switch (o->kind) {
    case WASM_EXTERN_FUNC: {
        struct wasm_func *f = o->object;
        free(f->type.types);
        free(f->name);
        free(f);
        break;
    }
    case WASM_EXTERN_MEMORY: {
        struct wasm_memory *m = o->object;
        memory_release(m);
        free(m);
        break;
    }
    case WASM_EXTERN_TABLE: {
        struct wasm_table *t = o->object;
        free(t->elems);
        free(t);
        break;
    }
    case WASM_EXTERN_GLOBAL:
        free(o->object);
        break;
    default: {
        struct wasm_instance *inst = o->object;
        if (inst->elems) {
            for (uint32_t i = 0; i < inst->module->nelems; i++)
                free(inst->elems[i].refs);
        }
        free(inst->elems);
        free(inst->funcs);
        free(inst->tables);
        free(inst->memories);
        free(inst->globals);
        free(inst->own_funcs);
        free(inst->data_dropped);
        free(inst->type_hashes);
        wasm_module_release(inst->module);
        free(inst);
        break;
    }
    }
    free(o);
}

void wasm_store_free(wasm_store *store)
{
    if (!store)
        return;
    wasm_store_object *o = store->objects;
    while (o) {
        wasm_store_object *next = o->next;
        free_object(o);
        o = next;
    }
    stack_unmap(store->stack, store->config.value_stack_cells * sizeof(wasm_slot));
    stack_unmap(store->frames, frames_bytes(store));
    free(store);
}

/* Records an object so the store frees it; frees it now on failure. */
static bool adopt(wasm_store *store, int kind, void *object)
{
    wasm_store_object *o = malloc(sizeof *o);
    if (!o)
        return false;
    o->kind = kind;
    o->object = object;
    o->next = store->objects;
    store->objects = o;
    return true;
}

void wasm_store_interrupt(wasm_store *store) { atomic_store(&store->interrupt, true); }
void wasm_store_clear_interrupt(wasm_store *store) { atomic_store(&store->interrupt, false); }
const wasm_trap *wasm_store_last_trap(const wasm_store *store) { return &store->trap; }
void wasm_store_set_userdata(wasm_store *store, void *data) { store->userdata = data; }

void wasm_store_set_host_trace(wasm_store *store, wasm_host_trace_fn fn, void *ctx)
{
    store->host_trace = fn;
    store->host_trace_ctx = ctx;
}
void *wasm_store_userdata(const wasm_store *store) { return store->userdata; }

/* ---- functions ----------------------------------------------------------------------- */

/* Which of the first 64 values are 32 bits wide (see call_host). */
static uint64_t narrow_mask(const uint8_t *types, uint32_t n)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < n && i < 64; i++)
        if (types[i] == WASM_I32 || types[i] == WASM_F32)
            m |= (uint64_t)1 << i;
    return m;
}

wasm_func *wasm_func_new_host(wasm_store *store, const wasm_functype *type, wasm_host_fn fn,
                              void *env, const char *name)
{
    struct wasm_func *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    uint32_t n = type->nparams + type->nresults;
    f->type.nparams = type->nparams;
    f->type.nresults = type->nresults;
    f->type.types = malloc(n ? n : 1);
    f->name = name ? strdup(name) : NULL;
    if (!f->type.types || (name && !f->name) || !adopt(store, WASM_EXTERN_FUNC, f)) {
        free(f->type.types);
        free(f->name);
        free(f);
        return NULL;
    }
    if (type->nparams)
        memcpy(f->type.types, type->params, type->nparams);
    if (type->nresults)
        memcpy(f->type.types + type->nparams, type->results, type->nresults);
    f->type_hash = wasm_type_hash(&f->type);
    f->narrow_params = narrow_mask(type->params, type->nparams);
    f->narrow_results = narrow_mask(type->results, type->nresults);
    f->is_host = true;
    f->fn = fn;
    f->env = env;
    return f;
}

void wasm_func_type(const wasm_func *func, wasm_functype *out)
{
    out->nparams = func->type.nparams;
    out->nresults = func->type.nresults;
    out->params = wasm_type_params(&func->type);
    out->results = wasm_type_results(&func->type);
}

/* ---- memories ------------------------------------------------------------------------ */

/* Linear memory is one reservation of address space, as large as the
 * memory may ever grow (its maximum, capped by the store), made accessible
 * page by page as it grows. Growing then never copies, never zeroes (fresh
 * anonymous pages are zero) and never moves the data. */
static bool memory_commit(struct wasm_memory *m, uint64_t new_size)
{
    if (new_size == m->size)
        return true;
    return mprotect(m->data + m->size, new_size - m->size, PROT_READ | PROT_WRITE) == 0;
}

static void memory_release(struct wasm_memory *m)
{
    if (m->data)
        munmap(m->data, m->reserved);
}

wasm_memory *wasm_memory_new(wasm_store *store, wasm_limits limits, wasm_error *err)
{
    uint32_t cap = store->config.max_memory_pages;
    if (limits.min > cap) {
        wasm_error_set_nooffset(err, "memory of %u pages exceeds the limit of %u pages",
                                limits.min, cap);
        return NULL;
    }
    struct wasm_memory *m = calloc(1, sizeof *m);
    if (!m) {
        wasm_error_set_nooffset(err, "out of memory");
        return NULL;
    }
    m->has_max = limits.has_max;
    m->max_pages = limits.has_max ? limits.max : WASM_MAX_PAGES;
    m->cap_pages = cap;
    uint32_t most = m->max_pages < cap ? m->max_pages : cap;
    m->reserved = (uint64_t)most * WASM_PAGE_SIZE;
    if (m->reserved) {
        void *p = mmap(NULL, m->reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (p == MAP_FAILED) {
            free(m);
            wasm_error_set_nooffset(err, "cannot reserve %u pages of address space", most);
            return NULL;
        }
        m->data = p;
    }
    uint64_t size = (uint64_t)limits.min * WASM_PAGE_SIZE;
    if (!memory_commit(m, size)) {
        memory_release(m);
        free(m);
        wasm_error_set_nooffset(err, "out of memory allocating %u pages", limits.min);
        return NULL;
    }
    m->size = size;
    m->pages = limits.min;
    if (!adopt(store, WASM_EXTERN_MEMORY, m)) {
        memory_release(m);
        free(m);
        wasm_error_set_nooffset(err, "out of memory");
        return NULL;
    }
    return m;
}

int64_t wasm_memory_grow_internal(struct wasm_memory *mem, uint32_t delta)
{
    uint32_t old = mem->pages;
    if (delta == 0)
        return old;
    uint64_t want = (uint64_t)old + delta;
    if (want > mem->max_pages || want > mem->cap_pages)
        return -1;
    uint64_t size = want * WASM_PAGE_SIZE;
    if (!memory_commit(mem, size))
        return -1;
    mem->size = size;
    mem->pages = (uint32_t)want;
    return old;
}

uint8_t *wasm_memory_data(wasm_memory *memory) { return memory->data; }
uint64_t wasm_memory_size(const wasm_memory *memory) { return memory->size; }
uint32_t wasm_memory_pages(const wasm_memory *memory) { return memory->pages; }

int64_t wasm_memory_grow(wasm_memory *memory, uint32_t delta_pages)
{
    return wasm_memory_grow_internal(memory, delta_pages);
}

uint8_t *wasm_memory_ptr(wasm_memory *memory, uint64_t offset, uint64_t size)
{
    if (offset > memory->size || size > memory->size - offset)
        return NULL;
    return memory->data + offset;
}

bool wasm_memory_read(const wasm_memory *memory, uint64_t offset, void *dst, size_t size)
{
    if (offset > memory->size || size > memory->size - offset)
        return false;
    if (size)
        memcpy(dst, memory->data + offset, size);
    return true;
}

bool wasm_memory_write(wasm_memory *memory, uint64_t offset, const void *src, size_t size)
{
    if (offset > memory->size || size > memory->size - offset)
        return false;
    if (size)
        memcpy(memory->data + offset, src, size);
    return true;
}

/* ---- tables ------------------------------------------------------------------------- */

wasm_table *wasm_table_new(wasm_store *store, uint8_t elem_type, wasm_limits limits,
                           wasm_cell init, wasm_error *err)
{
    uint32_t cap = store->config.max_table_elems;
    if (limits.min > cap) {
        wasm_error_set_nooffset(err, "table of %u elements exceeds the limit of %u", limits.min,
                                cap);
        return NULL;
    }
    struct wasm_table *t = calloc(1, sizeof *t);
    if (!t) {
        wasm_error_set_nooffset(err, "out of memory");
        return NULL;
    }
    t->elem_type = elem_type;
    t->size = limits.min;
    t->has_max = limits.has_max;
    t->max = limits.has_max ? limits.max : UINT32_MAX;
    t->cap = cap;
    t->elems = calloc(limits.min ? limits.min : 1, sizeof(wasm_cell));
    if (!t->elems || !adopt(store, WASM_EXTERN_TABLE, t)) {
        free(t->elems);
        free(t);
        wasm_error_set_nooffset(err, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < t->size; i++)
        t->elems[i] = init;
    return t;
}

int64_t wasm_table_grow_internal(struct wasm_table *t, uint32_t delta, wasm_cell init)
{
    uint32_t old = t->size;
    uint64_t want = (uint64_t)old + delta;
    if (want > t->max || want > t->cap)
        return -1;
    if (delta == 0)
        return old;
    wasm_cell *elems = realloc(t->elems, want * sizeof(wasm_cell));
    if (!elems)
        return -1;
    for (uint64_t i = old; i < want; i++)
        elems[i] = init;
    t->elems = elems;
    t->size = (uint32_t)want;
    return old;
}

uint32_t wasm_table_size(const wasm_table *table) { return table->size; }

bool wasm_table_get(const wasm_table *table, uint32_t index, wasm_cell *out)
{
    if (index >= table->size)
        return false;
    *out = table->elems[index];
    return true;
}

bool wasm_table_set(wasm_table *table, uint32_t index, wasm_cell value)
{
    if (index >= table->size)
        return false;
    table->elems[index] = value;
    return true;
}

/* ---- globals -------------------------------------------------------------------------- */

static wasm_cell normalize_cell(uint8_t type, wasm_cell v)
{
    return type == WASM_I32 || type == WASM_F32 ? (uint32_t)v : v;
}

wasm_global *wasm_global_new(wasm_store *store, uint8_t type, bool mutable_, wasm_cell value)
{
    struct wasm_global *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (!adopt(store, WASM_EXTERN_GLOBAL, g)) {
        free(g);
        return NULL;
    }
    g->type = type;
    g->mutable_ = mutable_;
    g->value.i64 = normalize_cell(type, value);
    return g;
}

wasm_cell wasm_global_get(const wasm_global *global)
{
    return normalize_cell(global->type, global->value.i64);
}

void wasm_global_set(wasm_global *global, wasm_cell value)
{
    global->value.i64 = normalize_cell(global->type, value);
}

uint8_t wasm_global_type(const wasm_global *global) { return global->type; }
bool wasm_global_mutable(const wasm_global *global) { return global->mutable_; }

/* ---- instantiation ---------------------------------------------------------------------- */

static bool link_fail(wasm_error *err, const wasm_import *imp, const char *why)
{
    wasm_error_set_nooffset(err, "cannot link import %s.%s: %s", imp->module, imp->name, why);
    return false;
}

static bool limits_match(uint64_t size, bool has_max, uint64_t max, const wasm_limits *want)
{
    if (size < want->min)
        return false;
    if (want->has_max && (!has_max || max > want->max))
        return false;
    return true;
}

static bool check_import(const wasm_module *m, const wasm_import *imp, const wasm_extern *ext,
                         wasm_error *err)
{
    if (ext->kind != imp->kind || !ext->of.func)
        return link_fail(err, imp, "incompatible import type (wrong kind)");
    switch (imp->kind) {
    case WASM_EXTERN_FUNC:
        if (!wasm_type_equal(&ext->of.func->type, &m->types[imp->type_index]))
            return link_fail(err, imp, "incompatible import type (function signature)");
        return true;
    case WASM_EXTERN_TABLE: {
        const struct wasm_table *t = ext->of.table;
        if (t->elem_type != imp->elem_type ||
            !limits_match(t->size, t->has_max, t->max, &imp->limits))
            return link_fail(err, imp, "incompatible import type (table)");
        return true;
    }
    case WASM_EXTERN_MEMORY: {
        const struct wasm_memory *mem = ext->of.memory;
        if (!limits_match(mem->pages, mem->has_max, mem->max_pages, &imp->limits))
            return link_fail(err, imp, "incompatible import type (memory limits)");
        return true;
    }
    default: {
        const struct wasm_global *g = ext->of.global;
        if (g->type != imp->global_type || g->mutable_ != imp->global_mutable)
            return link_fail(err, imp, "incompatible import type (global)");
        return true;
    }
    }
}

static wasm_cell eval_const(const struct wasm_instance *inst, const wasm_constexpr *e)
{
    switch (e->op) {
    case WASM_CONST_GLOBAL_GET:
        return inst->globals[e->index]->value.i64;
    case WASM_CONST_REF_FUNC:
        return (wasm_cell)(uintptr_t)inst->funcs[e->index];
    case WASM_CONST_REF_NULL:
        return 0;
    default:
        return e->bits[0];
    }
}

static bool alloc_arrays(struct wasm_instance *inst, const wasm_module *m)
{
    inst->funcs = calloc(m->nfuncs ? m->nfuncs : 1, sizeof *inst->funcs);
    inst->tables = calloc(m->ntables ? m->ntables : 1, sizeof *inst->tables);
    inst->memories = calloc(m->nmemories ? m->nmemories : 1, sizeof *inst->memories);
    inst->globals = calloc(m->nglobals ? m->nglobals : 1, sizeof *inst->globals);
    inst->own_funcs = calloc(m->nfunc_defs ? m->nfunc_defs : 1, sizeof *inst->own_funcs);
    inst->elems = calloc(m->nelems ? m->nelems : 1, sizeof *inst->elems);
    inst->data_dropped = calloc(m->ndatas ? m->ndatas : 1, 1);
    inst->type_hashes = calloc(m->ntypes ? m->ntypes : 1, sizeof *inst->type_hashes);
    return inst->funcs && inst->tables && inst->memories && inst->globals && inst->own_funcs &&
           inst->elems && inst->data_dropped && inst->type_hashes;
}

/* Creates the instance's own functions, tables, memories and globals. */
static bool create_entities(wasm_store *store, struct wasm_instance *inst, wasm_error *err)
{
    const wasm_module *m = inst->module;
    for (uint32_t i = 0; i < m->ntypes; i++)
        inst->type_hashes[i] = wasm_type_hash(&m->types[i]);
    for (uint32_t i = 0; i < m->nfunc_defs; i++) {
        struct wasm_func *f = &inst->own_funcs[i];
        uint32_t index = m->nfunc_imports + i;
        f->type = m->types[m->func_defs[i].type_index];
        f->type_hash = inst->type_hashes[m->func_defs[i].type_index];
        f->instance = inst;
        f->code = m->func_defs[i].code;
        f->func_index = index;
        inst->funcs[index] = f;
    }
    for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
        inst->tables[i] = wasm_table_new(store, m->tables[i].elem_type, m->tables[i].limits, 0, err);
        if (!inst->tables[i])
            return false;
    }
    for (uint32_t i = m->nmemory_imports; i < m->nmemories; i++) {
        inst->memories[i] = wasm_memory_new(store, m->memories[i], err);
        if (!inst->memories[i])
            return false;
    }
    for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
        const wasm_global_def *g = &m->globals[i];
        inst->globals[i] = wasm_global_new(store, g->type, g->mutable_, 0);
        if (!inst->globals[i]) {
            wasm_error_set_nooffset(err, "out of memory");
            return false;
        }
        inst->globals[i]->value.i64 = eval_const(inst, &g->init);
    }
    return true;
}

static bool instantiation_trap(wasm_store *store, wasm_error *err)
{
    wasm_error_set_nooffset(err, "instantiation trapped: %s", store->trap.message);
    if (err)
        err->trapped = true;
    return false;
}

/* Element and data segments, in order, with bulk-memory semantics: an
 * out-of-bounds segment traps, and what earlier segments wrote stays. */
static bool init_segments(wasm_store *store, struct wasm_instance *inst, wasm_error *err)
{
    const wasm_module *m = inst->module;
    for (uint32_t i = 0; i < m->nelems; i++) {
        const wasm_elem_segment *seg = &m->elems[i];
        wasm_elem_inst *ei = &inst->elems[i];
        ei->refs = calloc(seg->count ? seg->count : 1, sizeof(wasm_cell));
        if (!ei->refs) {
            wasm_error_set_nooffset(err, "out of memory");
            return false;
        }
        for (uint32_t k = 0; k < seg->count; k++)
            ei->refs[k] = eval_const(inst, &seg->items[k]);
        ei->count = seg->count;
        if (seg->mode == WASM_SEG_ACTIVE) {
            struct wasm_table *t = inst->tables[seg->table_index];
            uint64_t off = (uint32_t)eval_const(inst, &seg->offset);
            if (off + seg->count > t->size) {
                wasm_trap_set(store, WASM_TRAP_TABLE_OOB, NULL);
                return instantiation_trap(store, err);
            }
            if (seg->count)
                memcpy(t->elems + off, ei->refs, seg->count * sizeof(wasm_cell));
        }
        if (seg->mode != WASM_SEG_PASSIVE)
            ei->count = 0;
    }
    for (uint32_t i = 0; i < m->ndatas; i++) {
        const wasm_data_segment *seg = &m->datas[i];
        if (seg->mode != WASM_SEG_ACTIVE)
            continue;
        struct wasm_memory *mem = inst->memories[seg->memory_index];
        uint64_t off = (uint32_t)eval_const(inst, &seg->offset);
        if (off + seg->size > mem->size) {
            wasm_trap_set(store, WASM_TRAP_MEMORY_OOB, NULL);
            return instantiation_trap(store, err);
        }
        if (seg->size)
            memcpy(mem->data + off, seg->bytes, seg->size);
        inst->data_dropped[i] = 1;
    }
    return true;
}

wasm_instance *wasm_instance_new(wasm_store *store, wasm_module *module,
                                 const wasm_extern *imports, uint32_t nimports, wasm_error *err)
{
    if (err) {
        err->message[0] = 0;
        err->trapped = false;
        err->has_offset = false;
    }
    if (nimports != module->nimports) {
        wasm_error_set_nooffset(err, "module needs %u imports, %u given", module->nimports,
                                nimports);
        return NULL;
    }
    for (uint32_t i = 0; i < nimports; i++)
        if (!check_import(module, &module->imports[i], &imports[i], err))
            return NULL;

    struct wasm_instance *inst = calloc(1, sizeof *inst);
    if (!inst || !adopt(store, -1, inst)) {
        free(inst);
        wasm_error_set_nooffset(err, "out of memory");
        return NULL;
    }
    inst->store = store;
    inst->module = wasm_module_retain(module);
    if (!alloc_arrays(inst, module)) {
        wasm_error_set_nooffset(err, "out of memory");
        return NULL;
    }
    uint32_t fi = 0, ti = 0, mi = 0, gi = 0;
    for (uint32_t i = 0; i < nimports; i++) {
        switch (imports[i].kind) {
        case WASM_EXTERN_FUNC: inst->funcs[fi++] = imports[i].of.func; break;
        case WASM_EXTERN_TABLE: inst->tables[ti++] = imports[i].of.table; break;
        case WASM_EXTERN_MEMORY: inst->memories[mi++] = imports[i].of.memory; break;
        default: inst->globals[gi++] = imports[i].of.global; break;
        }
    }
    if (!create_entities(store, inst, err) || !init_segments(store, inst, err))
        return NULL;
    if (module->has_start) {
        if (!wasm_func_call(store, inst->funcs[module->start], NULL, 0, NULL, 0)) {
            instantiation_trap(store, err);
            return NULL;
        }
    }
    return inst;
}

const wasm_module *wasm_instance_module(const wasm_instance *instance)
{
    return instance->module;
}

bool wasm_instance_export_n(const wasm_instance *instance, const char *name, size_t len,
                            wasm_extern *out)
{
    const wasm_module *m = instance->module;
    for (uint32_t i = 0; i < m->nexports; i++) {
        const wasm_export *e = &m->exports[i];
        if (e->name_len != len || memcmp(e->name, name, len) != 0)
            continue;
        out->kind = (wasm_extern_kind)e->kind;
        switch (e->kind) {
        case WASM_EXTERN_FUNC: out->of.func = instance->funcs[e->index]; break;
        case WASM_EXTERN_TABLE: out->of.table = instance->tables[e->index]; break;
        case WASM_EXTERN_MEMORY: out->of.memory = instance->memories[e->index]; break;
        default: out->of.global = instance->globals[e->index]; break;
        }
        return true;
    }
    return false;
}

bool wasm_instance_export(const wasm_instance *instance, const char *name, wasm_extern *out)
{
    return wasm_instance_export_n(instance, name, strlen(name), out);
}

wasm_func *wasm_instance_func(const wasm_instance *instance, const char *name)
{
    wasm_extern e;
    if (!wasm_instance_export(instance, name, &e) || e.kind != WASM_EXTERN_FUNC)
        return NULL;
    return e.of.func;
}

wasm_memory *wasm_instance_memory(const wasm_instance *instance, uint32_t index)
{
    if (index >= instance->module->nmemories)
        return NULL;
    return instance->memories[index];
}

void wasm_instance_set_userdata(wasm_instance *instance, void *data)
{
    instance->userdata = data;
}

void *wasm_instance_userdata(const wasm_instance *instance) { return instance->userdata; }
