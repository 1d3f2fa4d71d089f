/*
 * interp.c - the interpreter loop and calls into the runtime.
 *
 * One function, run(), executes the instruction stream of code.h with
 * direct threading: every instruction starts with the address of its
 * handler label and each handler ends by jumping to the next instruction's
 * handler (GCC's "labels as values"). Wasm calls do not recurse in C: a
 * call pushes a wasm_frame on the store's frame stack and continues in the
 * same loop, so deep recursion is a clean "call stack exhausted" trap and
 * backtraces come from the frame stack.
 *
 * Registers of the loop: ip (next instruction), fp (the current frame's
 * slots), cur (the running function), inst (its instance) and mem/memsize
 * (memory 0 of inst, reloaded whenever it may have moved: after
 * memory.grow, a host call, or a switch to another instance).
 */
#include "wasm/code.h"
#include "wasm/numeric.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const void *const *handler_table;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static bool run(wasm_store *store, const struct wasm_func *func, wasm_slot *base);

static void init_handlers(void) { run(NULL, NULL, NULL); }

const void *wasm_interp_handler(wasm_opcode op)
{
    pthread_once(&handler_once, init_handlers);
    return handler_table[op];
}

/* ---- traps -------------------------------------------------------------------- */

void wasm_trap_set(wasm_store *store, wasm_trap_kind kind, const char *message)
{
    wasm_trap *t = &store->trap;
    t->kind = kind;
    t->exit_code = 0;
    t->nframes = 0;
    t->frames_truncated = false;
    snprintf(t->message, sizeof t->message, "%s",
             message ? message : wasm_trap_kind_message(kind));
}

static void add_frame(wasm_trap *t, const struct wasm_func *f, const wasm_op *ip)
{
    if (!f || f->is_host || !f->code)
        return;
    if (t->nframes == WASM_TRAP_MAX_FRAMES) {
        t->frames_truncated = true;
        return;
    }
    const wasm_code *code = f->code;
    uint32_t index = (uint32_t)(ip - code->ops);
    wasm_frame_info *fi = &t->frames[t->nframes++];
    fi->func_index = f->func_index;
    fi->code_offset = wasm_code_offset(code, index);
    fi->module = f->instance->module;
    fi->name = wasm_module_func_name(f->instance->module, f->func_index);
}

/* Records the backtrace: the running function at ip, then every frame on
 * the store's stack (including those of outer calls that went through a
 * host function), innermost first. Only the first capture of a trap counts. */
static void capture_backtrace(wasm_store *store, const struct wasm_func *cur, const wasm_op *ip)
{
    wasm_trap *t = &store->trap;
    if (t->nframes > 0)
        return;
    add_frame(t, cur, ip);
    for (uint32_t i = store->nframes; i-- > 0;) {
        const wasm_frame *fr = &store->frames[i];
        /* ret_ip points past the call: step back into it. */
        if (fr->func)
            add_frame(t, fr->func, fr->ret_ip - 1);
    }
}

/* ---- helpers for the handlers --------------------------------------------------- */

/* Clears the upper half of the 32-bit values among n cells: the
 * interpreter leaves whatever was there, the embedding API promises clean
 * cells. */
static inline void normalize(wasm_slot *cells, const uint8_t *types, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (types[i] == WASM_I32 || types[i] == WASM_F32)
            cells[i].i64 = cells[i].i32;
    }
}

/* The same for a host function's params or results, from the mask made
 * when it was created (bit i: cell i is 32 bits; first 64 cells): no type
 * to look at per cell on every hostcall. */
static inline void normalize_host(wasm_slot *cells, const uint8_t *types, uint32_t n, uint64_t mask)
{
    if (n > 64) {
        normalize(cells, types, n);
        return;
    }
    while (mask) {
        unsigned i = (unsigned)__builtin_ctzll(mask);
        cells[i].i64 = cells[i].i32;
        mask &= mask - 1;
    }
}

/* Calls a host function whose arguments are at args; the results replace
 * them. The caller's frame is on the frame stack already. */
static bool call_host(wasm_store *store, const struct wasm_func *f, struct wasm_instance *inst,
                      wasm_slot *args)
{
    uint32_t np = f->type.nparams, nr = f->type.nresults;
    wasm_slot *results = args + np;
    if (results + nr > store->stack_end) {
        wasm_trap_set(store, WASM_TRAP_STACK_EXHAUSTED, NULL);
        return false;
    }
    normalize_host(args, wasm_type_params(&f->type), np, f->narrow_params);
    wasm_slot *saved_sp = store->sp;
    store->sp = results + nr;
    struct wasm_call call = {store, inst, false};
    store->trap.kind = WASM_TRAP_NONE;
    store->trap.nframes = 0;
    if (store->host_trace)
        store->host_trace(store->host_trace_ctx, f->name, (const wasm_cell *)args, np, NULL, 0,
                          false, true);
    bool ok = f->fn(&call, f->env, (const wasm_cell *)args, (wasm_cell *)results);
    if (store->host_trace) {
        normalize_host(results, wasm_type_results(&f->type), nr, f->narrow_results);
        store->host_trace(store->host_trace_ctx, f->name, (const wasm_cell *)args, np,
                          (const wasm_cell *)results, nr, true, ok);
    }
    store->sp = saved_sp;
    if (!ok) {
        if (store->trap.kind == WASM_TRAP_NONE) {
            char msg[200];
            snprintf(msg, sizeof msg, "host function %s failed", f->name ? f->name : "?");
            wasm_trap_set(store, WASM_TRAP_HOST, msg);
        }
        return false;
    }
    memmove(args, results, nr * sizeof(wasm_slot));
    return true;
}

/* Zeroes a new frame's locals. Most functions have a few: stores in line
 * for up to four, where a memset call would cost more than the stores
 * (AssemblyScript plugins make ~1,300 guest calls a request). */
static inline void zero_locals(wasm_slot *locals, uint32_t n)
{
    switch (n) {
    case 4:
        locals[3].i64 = 0; /* fall through */
    case 3:
        locals[2].i64 = 0; /* fall through */
    case 2:
        locals[1].i64 = 0; /* fall through */
    case 1:
        locals[0].i64 = 0; /* fall through */
    case 0:
        return;
    default:
        memset(locals, 0, n * sizeof(wasm_slot));
        return;
    }
}

/* ---- the loop ---------------------------------------------------------------------- */

#define W(n) (ip[n])
#define S(n) (fp[ip[n].u])
#define NEXT(n)                                                                        \
    do {                                                                               \
        ip += (n);                                                                     \
        goto *ip->handler;                                                             \
    } while (0)
#define TRAP(kind)                                                                     \
    do {                                                                               \
        trap_kind = (kind);                                                            \
        goto trap;                                                                     \
    } while (0)
/* Backward jumps are where loops spin: check for an interrupt there. */
#define JUMP(o)                                                                        \
    do {                                                                               \
        int64_t off_ = (o);                                                            \
        if (off_ <= 0 &&                                                               \
            atomic_load_explicit(&store->interrupt, memory_order_relaxed))             \
            TRAP(WASM_TRAP_INTERRUPTED);                                               \
        ip += off_;                                                                    \
        goto *ip->handler;                                                             \
    } while (0)
#define RELOAD_MEMORY()                                                                \
    do {                                                                               \
        memobj = inst->memories ? inst->memories[0] : NULL;                             \
        mem = memobj ? memobj->data : NULL;                                            \
        memsize = memobj ? memobj->size : 0;                                           \
    } while (0)

/* Unary [d a], binary [d a b] and immediate [d a imm] handlers. */
#define UNOP(name, in, out, expr)                                                      \
    L_##name : {                                                                       \
        __typeof__(fp->in) a = S(2).in;                                                \
        S(1).out = (expr);                                                             \
        NEXT(3);                                                                       \
    }
#define BINOP(name, in, out, expr)                                                     \
    L_##name : {                                                                       \
        __typeof__(fp->in) a = S(2).in, b = S(3).in;                                   \
        S(1).out = (expr);                                                             \
        NEXT(4);                                                                       \
    }
#define BINOP_IMM(name, in, out, expr)                                                 \
    L_##name##_IMM : {                                                                 \
        __typeof__(fp->in) a = S(2).in, b = (__typeof__(fp->in))W(3).imm;             \
        S(1).out = (expr);                                                             \
        NEXT(4);                                                                       \
    }
#define BINOP2(name, in, out, expr) BINOP(name, in, out, expr) BINOP_IMM(name, in, out, expr)

/* Compare-and-branch [a b off] / [a imm off]. */
#define CMPBR(name, expr)                                                              \
    L_BR_I32_##name : {                                                                \
        uint32_t a = S(1).i32, b = S(2).i32;                                           \
        if (expr)                                                                      \
            JUMP(W(3).off);                                                            \
        NEXT(4);                                                                       \
    }                                                                                  \
    L_BR_I32_##name##_IMM : {                                                          \
        uint32_t a = S(1).i32, b = W(2).imm32;                                         \
        if (expr)                                                                      \
            JUMP(W(3).off);                                                            \
        NEXT(4);                                                                       \
    }

#define LOAD(name, T, field, conv)                                                     \
    L_##name : {                                                                       \
        uint64_t ea = (uint64_t)S(2).i32 + W(3).u;                                     \
        if (ea + sizeof(T) > memsize)                                                  \
            TRAP(WASM_TRAP_MEMORY_OOB);                                                \
        T v;                                                                           \
        memcpy(&v, mem + ea, sizeof v);                                                \
        S(1).field = conv;                                                             \
        NEXT(4);                                                                       \
    }
#define STORE(name, T, value)                                                          \
    L_##name : {                                                                       \
        uint64_t ea = (uint64_t)S(1).i32 + W(3).u;                                     \
        if (ea + sizeof(T) > memsize)                                                  \
            TRAP(WASM_TRAP_MEMORY_OOB);                                                \
        T v = (T)(value);                                                              \
        memcpy(mem + ea, &v, sizeof v);                                                \
        NEXT(4);                                                                       \
    }

/* Trapping integer division and float-to-int conversion. */
#define DIVOP(name, in, expr, check)                                                   \
    L_##name : {                                                                       \
        __typeof__(fp->in) a = S(2).in, b = S(3).in;                                   \
        if (b == 0)                                                                    \
            TRAP(WASM_TRAP_DIV_BY_ZERO);                                               \
        check;                                                                         \
        S(1).in = (expr);                                                              \
        NEXT(4);                                                                       \
    }
#define TRUNC(name, in, out, T, lo_ok, hi_ok)                                          \
    L_##name : {                                                                       \
        __typeof__(fp->in) a = S(2).in;                                                \
        if (a != a)                                                                    \
            TRAP(WASM_TRAP_INVALID_CONVERSION);                                        \
        if (!(lo_ok) || !(hi_ok))                                                      \
            TRAP(WASM_TRAP_INT_OVERFLOW);                                              \
        S(1).out = (T)a;                                                               \
        NEXT(3);                                                                       \
    }

static bool run(wasm_store *store, const struct wasm_func *func, wasm_slot *base)
{
    static const void *const labels[OP_COUNT] = {
#define WASM_OP_LABEL(name) [OP_##name] = &&L_##name,
        WASM_OPS(WASM_OP_LABEL)
#undef WASM_OP_LABEL
    };
    static const wasm_op exit_code[1] = {{.handler = &&L_EXIT}};

    if (!store) {
        handler_table = labels;
        return true;
    }

    const uint32_t entry_frames = store->nframes;
    wasm_slot *const entry_sp = store->sp;
    const uint32_t max_frames = store->config.max_call_depth;
    wasm_trap_kind trap_kind = WASM_TRAP_NONE;

    const struct wasm_func *cur = func;
    struct wasm_instance *inst = func->instance;
    struct wasm_memory *memobj;
    uint8_t *mem;
    uint64_t memsize;
    const wasm_op *ip = exit_code;
    wasm_slot *fp = base;
    RELOAD_MEMORY();

    /* The entry frame: returning to it reaches EXIT. */
    if (store->nframes >= max_frames) {
        cur = NULL;
        TRAP(WASM_TRAP_STACK_EXHAUSTED);
    }
    store->frames[store->nframes++] = (wasm_frame){exit_code, base, NULL};
    {
        const wasm_code *code = func->code;
        if (base + code->frame_size > store->stack_end) {
            cur = NULL;
            TRAP(WASM_TRAP_STACK_EXHAUSTED);
        }
        zero_locals(fp + code->nparams, code->nlocals);
        ip = code->ops;
    }
    goto *ip->handler;

    /* ---- control ---- */
L_UNREACHABLE:
    TRAP(WASM_TRAP_UNREACHABLE);
L_NOP:
    NEXT(1);
L_EXIT:
    store->nframes = entry_frames;
    store->sp = entry_sp;
    return true;
L_BR:
    JUMP(W(1).off);
L_BR_IF:
    if (S(1).i32)
        JUMP(W(2).off);
    NEXT(3);
L_BR_UNLESS:
    if (!S(1).i32)
        JUMP(W(2).off);
    NEXT(3);
L_BR_TABLE: {
    uint32_t i = S(1).i32;
    uint64_t n = W(2).u;
    if (i > n)
        i = (uint32_t)n;
    JUMP(W(3 + i).off);
}
L_RETURN: {
    const wasm_frame *fr = &store->frames[--store->nframes];
    ip = fr->ret_ip;
    fp = fr->fp;
    cur = fr->func;
    if (!cur)
        goto *ip->handler; /* EXIT */
    if (cur->instance != inst) {
        inst = cur->instance;
        RELOAD_MEMORY();
    }
    goto *ip->handler;
}
L_CALL: {
    const struct wasm_func *callee = inst->funcs[W(1).u];
    wasm_slot *args = fp + W(2).u;
    const wasm_op *ret = ip + 3;
    goto do_call;
L_CALL_INDIRECT: {
    const struct wasm_table *table = inst->tables[W(1).u];
    uint32_t i = S(3).i32;
    if (i >= table->size)
        TRAP(WASM_TRAP_UNDEFINED_ELEMENT);
    callee = (const struct wasm_func *)(uintptr_t)table->elems[i];
    if (!callee)
        TRAP(WASM_TRAP_UNINITIALIZED_ELEMENT);
    uint64_t ti = W(2).u;
    if (callee->type_hash != inst->type_hashes[ti] ||
        !wasm_type_equal(&callee->type, &inst->module->types[ti]))
        TRAP(WASM_TRAP_INDIRECT_CALL_TYPE);
    args = fp + W(4).u;
    ret = ip + 5;
}
do_call:
    if (store->nframes >= max_frames)
        TRAP(WASM_TRAP_STACK_EXHAUSTED);
    if (atomic_load_explicit(&store->interrupt, memory_order_relaxed))
        TRAP(WASM_TRAP_INTERRUPTED);
    if (callee->is_host) {
        store->frames[store->nframes++] = (wasm_frame){ret, fp, cur};
        bool ok = call_host(store, callee, inst, args);
        store->nframes--;
        if (!ok) {
            trap_kind = store->trap.kind;
            goto trap_recorded;
        }
        RELOAD_MEMORY();
        ip = ret;
        goto *ip->handler;
    }
    const wasm_code *code = callee->code;
    if (args + code->frame_size > store->stack_end)
        TRAP(WASM_TRAP_STACK_EXHAUSTED);
    store->frames[store->nframes++] = (wasm_frame){ret, fp, cur};
    fp = args;
    zero_locals(fp + code->nparams, code->nlocals);
    cur = callee;
    ip = code->ops;
    if (callee->instance != inst) {
        inst = callee->instance;
        RELOAD_MEMORY();
    }
    goto *ip->handler;
}
L_COPY:
    S(1).i64 = S(2).i64;
    NEXT(3);
L_CONST:
    S(1).i64 = W(2).imm;
    NEXT(3);
L_SELECT:
    S(1).i64 = S(2).i32 ? S(3).i64 : S(4).i64;
    NEXT(5);

    CMPBR(EQ, a == b)
    CMPBR(NE, a != b)
    CMPBR(LT_S, (int32_t)a < (int32_t)b)
    CMPBR(LT_U, a < b)
    CMPBR(GT_S, (int32_t)a > (int32_t)b)
    CMPBR(GT_U, a > b)
    CMPBR(LE_S, (int32_t)a <= (int32_t)b)
    CMPBR(LE_U, a <= b)
    CMPBR(GE_S, (int32_t)a >= (int32_t)b)
    CMPBR(GE_U, a >= b)

    /* ---- variables ---- */
L_GLOBAL_GET:
    S(1) = inst->globals[W(2).u]->value;
    NEXT(3);
L_GLOBAL_SET:
    inst->globals[W(1).u]->value = S(2);
    NEXT(3);

    /* ---- memory ---- */
    LOAD(LOAD32, uint32_t, i32, v)
    LOAD(LOAD64, uint64_t, i64, v)
    LOAD(I32_LOAD8_S, int8_t, i32, (uint32_t)(int32_t)v)
    LOAD(I32_LOAD8_U, uint8_t, i32, v)
    LOAD(I32_LOAD16_S, int16_t, i32, (uint32_t)(int32_t)v)
    LOAD(I32_LOAD16_U, uint16_t, i32, v)
    LOAD(I64_LOAD8_S, int8_t, i64, (uint64_t)(int64_t)v)
    LOAD(I64_LOAD8_U, uint8_t, i64, v)
    LOAD(I64_LOAD16_S, int16_t, i64, (uint64_t)(int64_t)v)
    LOAD(I64_LOAD16_U, uint16_t, i64, v)
    LOAD(I64_LOAD32_S, int32_t, i64, (uint64_t)(int64_t)v)
    LOAD(I64_LOAD32_U, uint32_t, i64, v)
    STORE(STORE8, uint8_t, S(2).i32)
    STORE(STORE16, uint16_t, S(2).i32)
    STORE(STORE32, uint32_t, S(2).i32)
    STORE(STORE64, uint64_t, S(2).i64)
L_MEMORY_SIZE:
    S(1).i32 = memobj->pages;
    NEXT(2);
L_MEMORY_GROW: {
    int64_t r = wasm_memory_grow_internal(memobj, S(2).i32);
    S(1).i32 = (uint32_t)r;
    RELOAD_MEMORY();
    NEXT(3);
}
L_MEMORY_INIT: {
    const wasm_data_segment *seg = &inst->module->datas[W(1).u];
    uint64_t seglen = inst->data_dropped[W(1).u] ? 0 : seg->size;
    uint64_t d = S(2).i32, s = S(3).i32, n = S(4).i32;
    if (s + n > seglen || d + n > memsize)
        TRAP(WASM_TRAP_MEMORY_OOB);
    if (n)
        memcpy(mem + d, seg->bytes + s, n);
    NEXT(5);
}
L_DATA_DROP:
    inst->data_dropped[W(1).u] = 1;
    NEXT(2);
L_MEMORY_COPY: {
    uint64_t d = S(1).i32, s = S(2).i32, n = S(3).i32;
    if (s + n > memsize || d + n > memsize)
        TRAP(WASM_TRAP_MEMORY_OOB);
    if (n)
        memmove(mem + d, mem + s, n);
    NEXT(4);
}
L_MEMORY_FILL: {
    uint64_t d = S(1).i32, n = S(3).i32;
    if (d + n > memsize)
        TRAP(WASM_TRAP_MEMORY_OOB);
    if (n)
        memset(mem + d, (int)(uint8_t)S(2).i32, n);
    NEXT(4);
}

    /* ---- references and tables ---- */
L_REF_FUNC:
    S(2).i64 = (uint64_t)(uintptr_t)inst->funcs[W(1).u];
    NEXT(3);
L_REF_IS_NULL:
    S(1).i32 = S(2).i64 == 0;
    NEXT(3);
L_TABLE_GET: {
    const struct wasm_table *t = inst->tables[W(1).u];
    uint32_t i = S(3).i32;
    if (i >= t->size)
        TRAP(WASM_TRAP_TABLE_OOB);
    S(2).i64 = t->elems[i];
    NEXT(4);
}
L_TABLE_SET: {
    struct wasm_table *t = inst->tables[W(1).u];
    uint32_t i = S(2).i32;
    if (i >= t->size)
        TRAP(WASM_TRAP_TABLE_OOB);
    t->elems[i] = S(3).i64;
    NEXT(4);
}
L_TABLE_SIZE:
    S(2).i32 = inst->tables[W(1).u]->size;
    NEXT(3);
L_TABLE_GROW: {
    int64_t r = wasm_table_grow_internal(inst->tables[W(1).u], S(4).i32, S(3).i64);
    S(2).i32 = (uint32_t)r;
    NEXT(5);
}
L_TABLE_FILL: {
    struct wasm_table *t = inst->tables[W(1).u];
    uint64_t i = S(2).i32, n = S(4).i32;
    wasm_cell v = S(3).i64;
    if (i + n > t->size)
        TRAP(WASM_TRAP_TABLE_OOB);
    for (uint64_t k = 0; k < n; k++)
        t->elems[i + k] = v;
    NEXT(5);
}
L_TABLE_COPY: {
    struct wasm_table *dt = inst->tables[W(1).u];
    const struct wasm_table *st = inst->tables[W(2).u];
    uint64_t d = S(3).i32, s = S(4).i32, n = S(5).i32;
    if (s + n > st->size || d + n > dt->size)
        TRAP(WASM_TRAP_TABLE_OOB);
    if (n)
        memmove(dt->elems + d, st->elems + s, n * sizeof(wasm_cell));
    NEXT(6);
}
L_TABLE_INIT: {
    struct wasm_table *t = inst->tables[W(1).u];
    const wasm_elem_inst *seg = &inst->elems[W(2).u];
    uint64_t d = S(3).i32, s = S(4).i32, n = S(5).i32;
    if (s + n > seg->count || d + n > t->size)
        TRAP(WASM_TRAP_TABLE_OOB);
    if (n)
        memcpy(t->elems + d, seg->refs + s, n * sizeof(wasm_cell));
    NEXT(6);
}
L_ELEM_DROP:
    inst->elems[W(1).u].count = 0;
    NEXT(2);

    /* ---- numeric ---- */
    UNOP(I32_EQZ, i32, i32, a == 0)
    BINOP2(I32_EQ, i32, i32, a == b)
    BINOP2(I32_NE, i32, i32, a != b)
    BINOP2(I32_LT_S, i32, i32, (int32_t)a < (int32_t)b)
    BINOP2(I32_LT_U, i32, i32, a < b)
    BINOP2(I32_GT_S, i32, i32, (int32_t)a > (int32_t)b)
    BINOP2(I32_GT_U, i32, i32, a > b)
    BINOP2(I32_LE_S, i32, i32, (int32_t)a <= (int32_t)b)
    BINOP2(I32_LE_U, i32, i32, a <= b)
    BINOP2(I32_GE_S, i32, i32, (int32_t)a >= (int32_t)b)
    BINOP2(I32_GE_U, i32, i32, a >= b)
    UNOP(I64_EQZ, i64, i32, a == 0)
    BINOP2(I64_EQ, i64, i32, a == b)
    BINOP2(I64_NE, i64, i32, a != b)
    BINOP2(I64_LT_S, i64, i32, (int64_t)a < (int64_t)b)
    BINOP2(I64_LT_U, i64, i32, a < b)
    BINOP2(I64_GT_S, i64, i32, (int64_t)a > (int64_t)b)
    BINOP2(I64_GT_U, i64, i32, a > b)
    BINOP2(I64_LE_S, i64, i32, (int64_t)a <= (int64_t)b)
    BINOP2(I64_LE_U, i64, i32, a <= b)
    BINOP2(I64_GE_S, i64, i32, (int64_t)a >= (int64_t)b)
    BINOP2(I64_GE_U, i64, i32, a >= b)
    BINOP(F32_EQ, f32, i32, a == b)
    BINOP(F32_NE, f32, i32, a != b)
    BINOP(F32_LT, f32, i32, a < b)
    BINOP(F32_GT, f32, i32, a > b)
    BINOP(F32_LE, f32, i32, a <= b)
    BINOP(F32_GE, f32, i32, a >= b)
    BINOP(F64_EQ, f64, i32, a == b)
    BINOP(F64_NE, f64, i32, a != b)
    BINOP(F64_LT, f64, i32, a < b)
    BINOP(F64_GT, f64, i32, a > b)
    BINOP(F64_LE, f64, i32, a <= b)
    BINOP(F64_GE, f64, i32, a >= b)

    UNOP(I32_CLZ, i32, i32, a ? (uint32_t)__builtin_clz(a) : 32u)
    UNOP(I32_CTZ, i32, i32, a ? (uint32_t)__builtin_ctz(a) : 32u)
    UNOP(I32_POPCNT, i32, i32, (uint32_t)__builtin_popcount(a))
    BINOP2(I32_ADD, i32, i32, a + b)
    BINOP2(I32_SUB, i32, i32, a - b)
    BINOP2(I32_MUL, i32, i32, a * b)
    DIVOP(I32_DIV_S, i32, (uint32_t)((int32_t)a / (int32_t)b),
          if (a == 0x80000000u && b == 0xffffffffu) TRAP(WASM_TRAP_INT_OVERFLOW))
    DIVOP(I32_DIV_U, i32, a / b, (void)0)
    DIVOP(I32_REM_S, i32, b == 0xffffffffu ? 0u : (uint32_t)((int32_t)a % (int32_t)b), (void)0)
    DIVOP(I32_REM_U, i32, a % b, (void)0)
    BINOP2(I32_AND, i32, i32, a & b)
    BINOP2(I32_OR, i32, i32, a | b)
    BINOP2(I32_XOR, i32, i32, a ^ b)
    BINOP2(I32_SHL, i32, i32, a << (b & 31))
    BINOP2(I32_SHR_S, i32, i32, (uint32_t)((int32_t)a >> (b & 31)))
    BINOP2(I32_SHR_U, i32, i32, a >> (b & 31))
    BINOP(I32_ROTL, i32, i32, (a << (b & 31)) | (a >> ((32 - (b & 31)) & 31)))
    BINOP(I32_ROTR, i32, i32, (a >> (b & 31)) | (a << ((32 - (b & 31)) & 31)))

    UNOP(I64_CLZ, i64, i64, a ? (uint64_t)__builtin_clzll(a) : 64u)
    UNOP(I64_CTZ, i64, i64, a ? (uint64_t)__builtin_ctzll(a) : 64u)
    UNOP(I64_POPCNT, i64, i64, (uint64_t)__builtin_popcountll(a))
    BINOP2(I64_ADD, i64, i64, a + b)
    BINOP2(I64_SUB, i64, i64, a - b)
    BINOP2(I64_MUL, i64, i64, a * b)
    DIVOP(I64_DIV_S, i64, (uint64_t)((int64_t)a / (int64_t)b),
          if (a == 0x8000000000000000u && b == ~(uint64_t)0) TRAP(WASM_TRAP_INT_OVERFLOW))
    DIVOP(I64_DIV_U, i64, a / b, (void)0)
    DIVOP(I64_REM_S, i64, b == ~(uint64_t)0 ? 0u : (uint64_t)((int64_t)a % (int64_t)b), (void)0)
    DIVOP(I64_REM_U, i64, a % b, (void)0)
    BINOP2(I64_AND, i64, i64, a & b)
    BINOP2(I64_OR, i64, i64, a | b)
    BINOP2(I64_XOR, i64, i64, a ^ b)
    BINOP2(I64_SHL, i64, i64, a << (b & 63))
    BINOP2(I64_SHR_S, i64, i64, (uint64_t)((int64_t)a >> (b & 63)))
    BINOP2(I64_SHR_U, i64, i64, a >> (b & 63))
    BINOP(I64_ROTL, i64, i64, (a << (b & 63)) | (a >> ((64 - (b & 63)) & 63)))
    BINOP(I64_ROTR, i64, i64, (a >> (b & 63)) | (a << ((64 - (b & 63)) & 63)))

    UNOP(F32_ABS, i32, i32, a & 0x7fffffffu)
    UNOP(F32_NEG, i32, i32, a ^ 0x80000000u)
    UNOP(F32_CEIL, f32, f32, wasm_f32_ceil(a))
    UNOP(F32_FLOOR, f32, f32, wasm_f32_floor(a))
    UNOP(F32_TRUNC, f32, f32, wasm_f32_trunc(a))
    UNOP(F32_NEAREST, f32, f32, wasm_f32_nearest(a))
    UNOP(F32_SQRT, f32, f32, wasm_f32_sqrt(a))
    BINOP(F32_ADD, f32, f32, a + b)
    BINOP(F32_SUB, f32, f32, a - b)
    BINOP(F32_MUL, f32, f32, a * b)
    BINOP(F32_DIV, f32, f32, a / b)
    BINOP(F32_MIN, f32, f32, wasm_f32_min(a, b))
    BINOP(F32_MAX, f32, f32, wasm_f32_max(a, b))
    BINOP(F32_COPYSIGN, i32, i32, (a & 0x7fffffffu) | (b & 0x80000000u))
    UNOP(F64_ABS, i64, i64, a & 0x7fffffffffffffffu)
    UNOP(F64_NEG, i64, i64, a ^ 0x8000000000000000u)
    UNOP(F64_CEIL, f64, f64, wasm_f64_ceil(a))
    UNOP(F64_FLOOR, f64, f64, wasm_f64_floor(a))
    UNOP(F64_TRUNC, f64, f64, wasm_f64_trunc(a))
    UNOP(F64_NEAREST, f64, f64, wasm_f64_nearest(a))
    UNOP(F64_SQRT, f64, f64, wasm_f64_sqrt(a))
    BINOP(F64_ADD, f64, f64, a + b)
    BINOP(F64_SUB, f64, f64, a - b)
    BINOP(F64_MUL, f64, f64, a * b)
    BINOP(F64_DIV, f64, f64, a / b)
    BINOP(F64_MIN, f64, f64, wasm_f64_min(a, b))
    BINOP(F64_MAX, f64, f64, wasm_f64_max(a, b))
    BINOP(F64_COPYSIGN, i64, i64, (a & 0x7fffffffffffffffu) | (b & 0x8000000000000000u))

    UNOP(I32_WRAP_I64, i64, i32, (uint32_t)a)
    TRUNC(I32_TRUNC_F32_S, f32, i32, int32_t, a >= -2147483648.0f, a < 2147483648.0f)
    TRUNC(I32_TRUNC_F32_U, f32, i32, uint32_t, a > -1.0f, a < 4294967296.0f)
    TRUNC(I32_TRUNC_F64_S, f64, i32, int32_t, a > -2147483649.0, a < 2147483648.0)
    TRUNC(I32_TRUNC_F64_U, f64, i32, uint32_t, a > -1.0, a < 4294967296.0)
    UNOP(I64_EXTEND_I32_S, i32, i64, (uint64_t)(int64_t)(int32_t)a)
    UNOP(I64_EXTEND_I32_U, i32, i64, (uint64_t)a)
    TRUNC(I64_TRUNC_F32_S, f32, i64, int64_t, a >= -9223372036854775808.0f,
          a < 9223372036854775808.0f)
    TRUNC(I64_TRUNC_F32_U, f32, i64, uint64_t, a > -1.0f, a < 18446744073709551616.0f)
    TRUNC(I64_TRUNC_F64_S, f64, i64, int64_t, a >= -9223372036854775808.0,
          a < 9223372036854775808.0)
    TRUNC(I64_TRUNC_F64_U, f64, i64, uint64_t, a > -1.0, a < 18446744073709551616.0)
    UNOP(F32_CONVERT_I32_S, i32, f32, (float)(int32_t)a)
    UNOP(F32_CONVERT_I32_U, i32, f32, (float)a)
    UNOP(F32_CONVERT_I64_S, i64, f32, (float)(int64_t)a)
    UNOP(F32_CONVERT_I64_U, i64, f32, (float)a)
    UNOP(F32_DEMOTE_F64, f64, f32, (float)a)
    UNOP(F64_CONVERT_I32_S, i32, f64, (double)(int32_t)a)
    UNOP(F64_CONVERT_I32_U, i32, f64, (double)a)
    UNOP(F64_CONVERT_I64_S, i64, f64, (double)(int64_t)a)
    UNOP(F64_CONVERT_I64_U, i64, f64, (double)a)
    UNOP(F64_PROMOTE_F32, f32, f64, (double)a)
    UNOP(I32_EXTEND8_S, i32, i32, (uint32_t)(int32_t)(int8_t)a)
    UNOP(I32_EXTEND16_S, i32, i32, (uint32_t)(int32_t)(int16_t)a)
    UNOP(I64_EXTEND8_S, i64, i64, (uint64_t)(int64_t)(int8_t)a)
    UNOP(I64_EXTEND16_S, i64, i64, (uint64_t)(int64_t)(int16_t)a)
    UNOP(I64_EXTEND32_S, i64, i64, (uint64_t)(int64_t)(int32_t)a)
    UNOP(I32_TRUNC_SAT_F32_S, f32, i32, (uint32_t)wasm_sat_f32_i32(a))
    UNOP(I32_TRUNC_SAT_F32_U, f32, i32, wasm_sat_f32_u32(a))
    UNOP(I32_TRUNC_SAT_F64_S, f64, i32, (uint32_t)wasm_sat_f64_i32(a))
    UNOP(I32_TRUNC_SAT_F64_U, f64, i32, wasm_sat_f64_u32(a))
    UNOP(I64_TRUNC_SAT_F32_S, f32, i64, (uint64_t)wasm_sat_f32_i64(a))
    UNOP(I64_TRUNC_SAT_F32_U, f32, i64, wasm_sat_f32_u64(a))
    UNOP(I64_TRUNC_SAT_F64_S, f64, i64, (uint64_t)wasm_sat_f64_i64(a))
    UNOP(I64_TRUNC_SAT_F64_U, f64, i64, wasm_sat_f64_u64(a))

trap:
    wasm_trap_set(store, trap_kind, NULL);
trap_recorded:
    if (trap_kind == WASM_TRAP_INTERRUPTED)
        atomic_store(&store->interrupt, false);
    capture_backtrace(store, cur, ip);
    store->nframes = entry_frames;
    store->sp = entry_sp;
    return false;
}

bool wasm_interp_call(wasm_store *store, const struct wasm_func *func, wasm_slot *base)
{
    return run(store, func, base);
}

/* ---- the public call API ------------------------------------------------------------ */

bool wasm_func_call(wasm_store *store, wasm_func *func, const wasm_cell *args, uint32_t nargs,
                    wasm_cell *results, uint32_t nresults)
{
    const wasm_type *t = &func->type;
    if (nargs != t->nparams || nresults != t->nresults) {
        char msg[160];
        snprintf(msg, sizeof msg, "wrong number of arguments or results: %u/%u given, %u/%u expected",
                 nargs, nresults, t->nparams, t->nresults);
        wasm_trap_set(store, WASM_TRAP_HOST, msg);
        return false;
    }
    wasm_slot *base = store->sp;
    size_t need = (size_t)nargs + nresults;
    if (need > (size_t)(store->stack_end - base)) {
        wasm_trap_set(store, WASM_TRAP_STACK_EXHAUSTED, NULL);
        return false;
    }
    for (uint32_t i = 0; i < nargs; i++)
        base[i].i64 = args[i];
    store->trap.kind = WASM_TRAP_NONE;
    store->trap.nframes = 0;
    bool ok;
    if (func->is_host) {
        wasm_slot *saved = store->sp;
        store->sp = base + need;
        struct wasm_call call = {store, NULL, false};
        ok = func->fn(&call, func->env, (const wasm_cell *)base, (wasm_cell *)(base + nargs));
        store->sp = saved;
        if (ok)
            memmove(base, base + nargs, nresults * sizeof(wasm_slot));
        else if (store->trap.kind == WASM_TRAP_NONE)
            wasm_trap_set(store, WASM_TRAP_HOST, "host function failed");
    } else {
        ok = run(store, func, base);
    }
    if (!ok)
        return false;
    normalize(base, wasm_type_results(t), nresults);
    for (uint32_t i = 0; i < nresults; i++)
        results[i] = base[i].i64;
    return true;
}

/* ---- host-function context ------------------------------------------------------------ */

wasm_store *wasm_call_store(wasm_call *call) { return call->store; }

wasm_instance *wasm_call_instance(wasm_call *call) { return call->instance; }

wasm_memory *wasm_call_memory(wasm_call *call)
{
    if (!call->instance || !call->instance->memories || call->instance->module->nmemories == 0)
        return NULL;
    return call->instance->memories[0];
}

bool wasm_call_trap(wasm_call *call, const char *fmt, ...)
{
    char msg[sizeof call->store->trap.message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wasm_trap_set(call->store, WASM_TRAP_HOST, msg);
    call->trapped = true;
    return false;
}

bool wasm_call_exit(wasm_call *call, int code)
{
    char msg[64];
    snprintf(msg, sizeof msg, "exit with status %d", code);
    wasm_trap_set(call->store, WASM_TRAP_EXIT, msg);
    call->store->trap.exit_code = code;
    call->trapped = true;
    return false;
}
