/*
 * compile.c - validates each function body and compiles it to the internal
 * instruction stream (code.h), in one pass.
 *
 * Validation follows the algorithm of the spec's appendix: an operand stack
 * of types (with an "unknown" type for the polymorphic stack after an
 * unconditional branch) and a control stack of blocks.
 *
 * Compilation keeps, for every operand stack entry, where its value is now:
 *   TEMP   in the entry's own slot ("home": one slot per stack position),
 *   LOCAL  still in a local's slot (a local.get that has not been copied),
 *   CONST  nowhere yet: a constant known at compile time.
 * Consumers read LOCAL entries straight from the local and fold CONST
 * entries into immediate forms, so most local.get and const instructions
 * cost nothing at run time. The price is bookkeeping:
 *   - before a local is written, entries still reading it are copied home;
 *   - on entering a block, every LOCAL entry is copied home (a write inside
 *     the block must not need a copy on only one path);
 *   - a value carried by a branch is moved to the label's slots.
 * A value computed into a temp and then stored by local.set is instead
 * computed straight into the local (the instruction's destination is
 * rewritten), and an i32 comparison followed by br_if/if becomes one
 * compare-and-branch instruction.
 *
 * Code is not emitted while the current block is unreachable.
 */
#include "wasm/code.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ENT_TEMP, ENT_LOCAL, ENT_CONST };

#define TYPE_UNKNOWN 0 /* the bottom type of the polymorphic stack */

typedef struct operand {
    uint8_t type;
    uint8_t kind;
    uint32_t home;  /* this stack position's slot */
    uint32_t slot;  /* ENT_LOCAL: the local's slot */
    uint64_t imm;   /* ENT_CONST: the value's bits */
} operand;

enum { CTRL_FUNC, CTRL_BLOCK, CTRL_LOOP, CTRL_IF, CTRL_ELSE };

typedef struct ctrl {
    uint8_t kind;
    bool unreachable;   /* validation: the rest of the block is polymorphic */
    bool entered_dead;  /* the block began in unreachable code: no code */
    uint32_t height;    /* operand stack height below the block's params */
    uint32_t nparams, nresults;
    const uint8_t *params, *results;
    uint32_t label_slot;  /* first slot of the values a branch carries */
    uint32_t inner_base;  /* home of the first stack entry inside the block */
    uint32_t loop_start;  /* CTRL_LOOP: op index of the loop's first instruction */
    uint32_t else_inst;   /* CTRL_IF: the conditional jump to patch at else/end */
    uint32_t else_word;
    bool has_else_patch;
} ctrl;

typedef struct patch {
    uint32_t depth;   /* control stack index of the target block */
    uint32_t inst;    /* op index of the branch instruction */
    uint32_t word;    /* op index of its offset word */
} patch;

typedef struct compiler {
    const wasm_module *m;
    wasm_error *err;

    const uint8_t *p, *end, *base;
    uint32_t op_offset;     /* module offset of the instruction being compiled */

    /* locals */
    uint32_t nlocals;       /* params + declared */
    uint8_t *local_types;

    /* operand and control stacks */
    operand *stack;
    uint32_t height, stack_cap;
    ctrl *ctrls;
    uint32_t nctrls, ctrl_cap;
    uint32_t nlocal_refs;   /* ENT_LOCAL entries on the stack */
    bool dead;              /* no code while true */

    /* output */
    wasm_op *ops;
    uint32_t nops, ops_cap;
    wasm_code_pos *pos;
    uint32_t npos, pos_cap;
    patch *patches;
    uint32_t npatches, patch_cap;
    uint32_t max_slot;      /* highest slot used + 1 */

    /* peephole state: the last instruction, if it wrote one temp */
    bool last_valid;
    uint32_t last_inst;     /* op index of its handler word */
    wasm_opcode last_op;
    uint32_t last_dst;      /* the temp slot it wrote */
    uint32_t last_dst_word; /* the operand word naming it */
} compiler;

static const uint8_t single_types[] = {WASM_I32, WASM_I64, WASM_F32, WASM_F64,
                                       WASM_V128, WASM_FUNCREF, WASM_EXTERNREF};

/* ---- errors ----------------------------------------------------------------- */

static bool fail(compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(compiler *c, const char *fmt, ...)
{
    if (c->err && !c->err->message[0]) {
        va_list ap;
        va_start(ap, fmt);
        char msg[200];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        wasm_error_set(c->err, c->op_offset, "%s", msg);
    }
    return false;
}

/* ---- growable arrays -------------------------------------------------------- */

static bool grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    uint32_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > UINT32_MAX / 2)
            return false;
        n *= 2;
    }
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

/* ---- reading immediates ----------------------------------------------------- */

static bool read_u32(compiler *c, uint32_t *out)
{
    const char *why;
    if (!wasm_read_u32(&c->p, c->end, out, &why))
        return fail(c, "%s", why);
    return true;
}

static bool read_byte(compiler *c, uint8_t *out)
{
    if (c->p >= c->end)
        return fail(c, "unexpected end");
    *out = *c->p++;
    return true;
}

/* ---- emission ----------------------------------------------------------------- */

static bool emit_word(compiler *c, wasm_op w)
{
    if (!grow((void **)&c->ops, &c->ops_cap, c->nops + 1, sizeof(wasm_op)))
        return fail(c, "out of memory");
    c->ops[c->nops++] = w;
    return true;
}

static bool emit_u(compiler *c, uint64_t v)
{
    wasm_op w;
    w.u = v;
    return emit_word(c, w);
}

/* Starts an instruction. Forgets the peephole state: callers that produce
 * a single temp set it again with produced(). */
static bool emit_op(compiler *c, wasm_opcode op)
{
    c->last_valid = false;
    if (c->npos == 0 || c->pos[c->npos - 1].wasm_offset != c->op_offset) {
        if (!grow((void **)&c->pos, &c->pos_cap, c->npos + 1, sizeof(wasm_code_pos)))
            return fail(c, "out of memory");
        c->pos[c->npos].op_index = c->nops;
        c->pos[c->npos].wasm_offset = c->op_offset;
        c->npos++;
    }
    c->last_inst = c->nops;
    c->last_op = op;
    wasm_op w;
    w.handler = wasm_interp_handler(op);
    return emit_word(c, w);
}

/* The instruction just emitted wrote one temp, `dst`, named by its operand
 * word `word`; local.set may rewrite that word. */
static void produced_at(compiler *c, uint32_t dst, uint32_t word)
{
    c->last_valid = true;
    c->last_dst = dst;
    c->last_dst_word = word;
}

/* The usual layout: the destination is the first operand. */
static void produced(compiler *c, uint32_t dst)
{
    produced_at(c, dst, c->last_inst + 1);
}

/* Removes the last instruction (peephole rewrites). */
static void unemit_last(compiler *c)
{
    c->nops = c->last_inst;
    while (c->npos > 0 && c->pos[c->npos - 1].op_index >= c->nops)
        c->npos--;
    c->last_valid = false;
}

static void note_slot(compiler *c, uint32_t slot)
{
    if (slot + 1 > c->max_slot)
        c->max_slot = slot + 1;
}

/* A branch target was placed here: earlier instructions may be reached from
 * elsewhere, so none may be rewritten any more. */
static void label_here(compiler *c)
{
    c->last_valid = false;
}

static bool emit_copy(compiler *c, uint32_t dst, uint32_t src)
{
    if (dst == src)
        return true;
    return emit_op(c, OP_COPY) && emit_u(c, dst) && emit_u(c, src);
}

static bool emit_const(compiler *c, uint32_t dst, uint64_t imm)
{
    return emit_op(c, OP_CONST) && emit_u(c, dst) && emit_u(c, imm);
}

/* ---- the operand stack ------------------------------------------------------ */

static ctrl *top_ctrl(compiler *c) { return &c->ctrls[c->nctrls - 1]; }

/* The slot of the next stack position. */
static uint32_t next_home(compiler *c)
{
    ctrl *f = top_ctrl(c);
    if (c->height > f->height)
        return c->stack[c->height - 1].home + 1;
    return f->inner_base;
}

static operand *push(compiler *c, uint8_t type)
{
    if (!grow((void **)&c->stack, &c->stack_cap, c->height + 1, sizeof(operand))) {
        fail(c, "out of memory");
        return NULL;
    }
    operand *e = &c->stack[c->height];
    e->type = type;
    e->kind = ENT_TEMP;
    e->home = next_home(c);
    e->slot = 0;
    e->imm = 0;
    c->height++;
    note_slot(c, e->home);
    return e;
}

static bool push_temp(compiler *c, uint8_t type, uint32_t *home)
{
    operand *e = push(c, type);
    if (!e)
        return false;
    if (home)
        *home = e->home;
    return true;
}

/* Pops one entry; `expect` is a type or TYPE_UNKNOWN for any. In the
 * polymorphic part of an unreachable block, pops yield unknown entries. */
static bool pop(compiler *c, uint8_t expect, operand *out)
{
    ctrl *f = top_ctrl(c);
    if (c->height == f->height) {
        if (f->unreachable) {
            out->type = TYPE_UNKNOWN;
            out->kind = ENT_TEMP;
            out->home = f->inner_base;
            out->slot = 0;
            out->imm = 0;
            return true;
        }
        return fail(c, "type mismatch");
    }
    *out = c->stack[--c->height];
    if (out->kind == ENT_LOCAL)
        c->nlocal_refs--;
    if (expect != TYPE_UNKNOWN && out->type != TYPE_UNKNOWN && out->type != expect)
        return fail(c, "type mismatch");
    return true;
}

/* The slot to read an entry from, emitting a copy of a constant if needed.
 * The entry must be the popped copy or a live stack entry. */
static bool use(compiler *c, operand *e, uint32_t *slot)
{
    switch (e->kind) {
    case ENT_LOCAL:
        *slot = e->slot;
        return true;
    case ENT_CONST:
        if (!c->dead && !emit_const(c, e->home, e->imm))
            return false;
        e->kind = ENT_TEMP;
        /* fall through */
    default:
        *slot = e->home;
        return true;
    }
}

/* Copies a live stack entry to its home if it is not there. */
static bool materialize(compiler *c, operand *e)
{
    if (e->kind == ENT_TEMP)
        return true;
    if (!c->dead) {
        if (e->kind == ENT_LOCAL) {
            if (!emit_copy(c, e->home, e->slot))
                return false;
        } else if (!emit_const(c, e->home, e->imm)) {
            return false;
        }
    }
    if (e->kind == ENT_LOCAL)
        c->nlocal_refs--;
    e->kind = ENT_TEMP;
    return true;
}

/* Copies home every entry still reading a local (all locals when slot is
 * UINT32_MAX). */
static bool materialize_local_refs(compiler *c, uint32_t slot)
{
    for (uint32_t i = 0; i < c->height && c->nlocal_refs > 0; i++) {
        operand *e = &c->stack[i];
        if (e->kind == ENT_LOCAL && (slot == UINT32_MAX || e->slot == slot)) {
            if (!materialize(c, e))
                return false;
        }
    }
    return true;
}

/* ---- labels and branches ------------------------------------------------------ */

static uint32_t label_arity(const ctrl *f)
{
    return f->kind == CTRL_LOOP ? f->nparams : f->nresults;
}

static const uint8_t *label_types(const ctrl *f)
{
    return f->kind == CTRL_LOOP ? f->params : f->results;
}

static uint32_t label_target_slot(const ctrl *f)
{
    return f->kind == CTRL_FUNC ? 0 : f->label_slot;
}

/* Checks that the top n stack entries have the label's types (without
 * popping them). */
static bool check_label_values(compiler *c, const ctrl *f)
{
    uint32_t n = label_arity(f);
    const uint8_t *types = label_types(f);
    ctrl *cur = top_ctrl(c);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t want = types[n - 1 - i];
        if (c->height - cur->height <= i) {
            if (cur->unreachable)
                continue;
            return fail(c, "type mismatch");
        }
        const operand *e = &c->stack[c->height - 1 - i];
        if (e->type != TYPE_UNKNOWN && e->type != want)
            return fail(c, "type mismatch");
    }
    return true;
}

/* Makes the moves of the top n entries to slots [target, target+n) safe:
 * an entry reading a local inside that range is copied home first. Must be
 * emitted before any conditional jump around the moves. */
static bool prepare_moves(compiler *c, uint32_t n, uint32_t target)
{
    uint32_t avail = c->height - top_ctrl(c)->height;
    if (n > avail)
        n = avail;
    for (uint32_t i = 0; i < n; i++) {
        operand *e = &c->stack[c->height - n + i];
        if (e->kind == ENT_LOCAL && e->slot >= target && e->slot < target + n) {
            if (!materialize(c, e))
                return false;
        }
    }
    return true;
}

/* Copies the top n entries to slots [target, target+n). Does not change the
 * entries (the moves may be on one path only). Sources never lie below their
 * targets among temps, so copying upwards in order is safe; constants go
 * last. */
static bool emit_moves(compiler *c, uint32_t n, uint32_t target)
{
    uint32_t avail = c->height - top_ctrl(c)->height;
    if (n > avail) /* polymorphic stack: the values do not exist (dead code) */
        return true;
    for (uint32_t i = 0; i < n; i++) {
        const operand *e = &c->stack[c->height - n + i];
        note_slot(c, target + i);
        if (e->kind == ENT_TEMP && !emit_copy(c, target + i, e->home))
            return false;
        if (e->kind == ENT_LOCAL && !emit_copy(c, target + i, e->slot))
            return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        const operand *e = &c->stack[c->height - n + i];
        if (e->kind == ENT_CONST && !emit_const(c, target + i, e->imm))
            return false;
    }
    return true;
}

static bool add_patch(compiler *c, uint32_t depth, uint32_t inst, uint32_t word)
{
    if (!grow((void **)&c->patches, &c->patch_cap, c->npatches + 1, sizeof(patch)))
        return fail(c, "out of memory");
    c->patches[c->npatches++] = (patch){depth, inst, word};
    return true;
}

/* Points the offset word of a branch instruction at op index `target`. */
static void set_offset(compiler *c, uint32_t inst, uint32_t word, uint32_t target)
{
    c->ops[word].off = (int64_t)target - (int64_t)inst;
}

/* Resolves the pending forward branches to block `depth` to here. */
static void resolve_patches(compiler *c, uint32_t depth)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < c->npatches; i++) {
        patch pt = c->patches[i];
        if (pt.depth == depth)
            set_offset(c, pt.inst, pt.word, c->nops);
        else
            c->patches[kept++] = pt;
    }
    c->npatches = kept;
    label_here(c);
}

/* Emits the offset word of a branch at `inst` to block f (index depth). */
static bool emit_target(compiler *c, uint32_t inst, uint32_t depth)
{
    const ctrl *f = &c->ctrls[depth];
    uint32_t word = c->nops;
    if (!emit_u(c, 0))
        return false;
    if (f->kind == CTRL_LOOP) {
        set_offset(c, inst, word, f->loop_start);
        return true;
    }
    return add_patch(c, depth, inst, word);
}

/* An unconditional transfer to block `depth` with its values (already
 * prepared): moves, then a jump (or a return for the function block). */
static bool emit_branch(compiler *c, uint32_t depth)
{
    const ctrl *f = &c->ctrls[depth];
    if (!emit_moves(c, label_arity(f), label_target_slot(f)))
        return false;
    if (f->kind == CTRL_FUNC)
        return emit_op(c, OP_RETURN);
    uint32_t inst = c->nops;
    return emit_op(c, OP_BR) && emit_target(c, inst, depth);
}

/* True when branching to block `depth` needs no moves and no return. */
static bool branch_is_plain_jump(compiler *c, uint32_t depth)
{
    const ctrl *f = &c->ctrls[depth];
    if (f->kind == CTRL_FUNC)
        return false;
    uint32_t n = label_arity(f);
    uint32_t avail = c->height - top_ctrl(c)->height;
    if (n > avail)
        return true;
    for (uint32_t i = 0; i < n; i++) {
        const operand *e = &c->stack[c->height - n + i];
        if (e->kind != ENT_TEMP || e->home != f->label_slot + i)
            return false;
    }
    return true;
}

static wasm_opcode invert_cmp_branch(wasm_opcode op)
{
    switch (op) {
    case OP_BR_I32_EQ: return OP_BR_I32_NE;
    case OP_BR_I32_NE: return OP_BR_I32_EQ;
    case OP_BR_I32_LT_S: return OP_BR_I32_GE_S;
    case OP_BR_I32_GE_S: return OP_BR_I32_LT_S;
    case OP_BR_I32_LT_U: return OP_BR_I32_GE_U;
    case OP_BR_I32_GE_U: return OP_BR_I32_LT_U;
    case OP_BR_I32_GT_S: return OP_BR_I32_LE_S;
    case OP_BR_I32_LE_S: return OP_BR_I32_GT_S;
    case OP_BR_I32_GT_U: return OP_BR_I32_LE_U;
    case OP_BR_I32_LE_U: return OP_BR_I32_GT_U;
    case OP_BR_I32_EQ_IMM: return OP_BR_I32_NE_IMM;
    case OP_BR_I32_NE_IMM: return OP_BR_I32_EQ_IMM;
    case OP_BR_I32_LT_S_IMM: return OP_BR_I32_GE_S_IMM;
    case OP_BR_I32_GE_S_IMM: return OP_BR_I32_LT_S_IMM;
    case OP_BR_I32_LT_U_IMM: return OP_BR_I32_GE_U_IMM;
    case OP_BR_I32_GE_U_IMM: return OP_BR_I32_LT_U_IMM;
    case OP_BR_I32_GT_S_IMM: return OP_BR_I32_LE_S_IMM;
    case OP_BR_I32_LE_S_IMM: return OP_BR_I32_GT_S_IMM;
    case OP_BR_I32_GT_U_IMM: return OP_BR_I32_LE_U_IMM;
    case OP_BR_I32_LE_U_IMM: return OP_BR_I32_GT_U_IMM;
    default: return op;
    }
}

/* The compare-and-branch form of an i32 comparison, or OP_COUNT. */
static wasm_opcode cmp_branch_of(wasm_opcode op)
{
    switch (op) {
    case OP_I32_EQ: return OP_BR_I32_EQ;
    case OP_I32_NE: return OP_BR_I32_NE;
    case OP_I32_LT_S: return OP_BR_I32_LT_S;
    case OP_I32_LT_U: return OP_BR_I32_LT_U;
    case OP_I32_GT_S: return OP_BR_I32_GT_S;
    case OP_I32_GT_U: return OP_BR_I32_GT_U;
    case OP_I32_LE_S: return OP_BR_I32_LE_S;
    case OP_I32_LE_U: return OP_BR_I32_LE_U;
    case OP_I32_GE_S: return OP_BR_I32_GE_S;
    case OP_I32_GE_U: return OP_BR_I32_GE_U;
    case OP_I32_EQ_IMM: return OP_BR_I32_EQ_IMM;
    case OP_I32_NE_IMM: return OP_BR_I32_NE_IMM;
    case OP_I32_LT_S_IMM: return OP_BR_I32_LT_S_IMM;
    case OP_I32_LT_U_IMM: return OP_BR_I32_LT_U_IMM;
    case OP_I32_GT_S_IMM: return OP_BR_I32_GT_S_IMM;
    case OP_I32_GT_U_IMM: return OP_BR_I32_GT_U_IMM;
    case OP_I32_LE_S_IMM: return OP_BR_I32_LE_S_IMM;
    case OP_I32_LE_U_IMM: return OP_BR_I32_LE_U_IMM;
    case OP_I32_GE_S_IMM: return OP_BR_I32_GE_S_IMM;
    case OP_I32_GE_U_IMM: return OP_BR_I32_GE_U_IMM;
    default: return OP_COUNT;
    }
}

/* Emits a jump taken when the i32 `cond` (already popped) is non-zero, or
 * zero when `when_zero`; folds a preceding comparison or eqz into it.
 * Returns the instruction and offset word to point at the target. */
static bool emit_cond_jump(compiler *c, operand *cond, bool when_zero, uint32_t *inst,
                           uint32_t *word)
{
    if (cond->kind == ENT_TEMP && c->last_valid && c->last_dst == cond->home) {
        wasm_opcode last = c->last_op;
        wasm_opcode fused = cmp_branch_of(last);
        if (fused != OP_COUNT || last == OP_I32_EQZ) {
            const wasm_op *w = &c->ops[c->last_inst];
            uint64_t a = w[2].u, b = fused != OP_COUNT ? w[3].u : 0;
            unemit_last(c);
            *inst = c->nops;
            if (last == OP_I32_EQZ) {
                if (!emit_op(c, when_zero ? OP_BR_IF : OP_BR_UNLESS) || !emit_u(c, a))
                    return false;
            } else {
                if (when_zero)
                    fused = invert_cmp_branch(fused);
                if (!emit_op(c, fused) || !emit_u(c, a) || !emit_u(c, b))
                    return false;
            }
            *word = c->nops;
            return emit_u(c, 0);
        }
    }
    uint32_t slot;
    if (!use(c, cond, &slot))
        return false;
    *inst = c->nops;
    if (!emit_op(c, when_zero ? OP_BR_UNLESS : OP_BR_IF) || !emit_u(c, slot))
        return false;
    *word = c->nops;
    return emit_u(c, 0);
}

/* ---- control instructions ----------------------------------------------------- */

static bool read_blocktype(compiler *c, uint32_t *np, const uint8_t **params, uint32_t *nr,
                           const uint8_t **results)
{
    if (c->p >= c->end)
        return fail(c, "unexpected end");
    uint8_t b = *c->p;
    if (b == 0x40) {
        c->p++;
        *np = *nr = 0;
        *params = *results = NULL;
        return true;
    }
    for (size_t i = 0; i < sizeof single_types; i++) {
        if (b == single_types[i]) {
            c->p++;
            *np = 0;
            *params = NULL;
            *nr = 1;
            *results = &single_types[i];
            return true;
        }
    }
    int64_t idx;
    const char *why;
    if (!wasm_read_s33(&c->p, c->end, &idx, &why))
        return fail(c, "%s", why);
    if (idx < 0 || (uint64_t)idx >= c->m->ntypes)
        return fail(c, "unknown type");
    const wasm_type *t = &c->m->types[idx];
    *np = t->nparams;
    *params = wasm_type_params(t);
    *nr = t->nresults;
    *results = wasm_type_results(t);
    return true;
}

static bool push_ctrl(compiler *c, uint8_t kind, uint32_t np, const uint8_t *params, uint32_t nr,
                      const uint8_t *results)
{
    if (!grow((void **)&c->ctrls, &c->ctrl_cap, c->nctrls + 1, sizeof(ctrl)))
        return fail(c, "out of memory");
    ctrl *f = &c->ctrls[c->nctrls];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->nparams = np;
    f->params = params;
    f->nresults = nr;
    f->results = results;
    f->entered_dead = c->dead;
    f->height = c->height - np;
    if (c->nctrls == 0) {
        f->label_slot = 0;
        f->inner_base = c->nlocals;
    } else {
        const ctrl *parent = top_ctrl(c);
        f->label_slot = f->height > parent->height ? c->stack[f->height - 1].home + 1
                                                   : parent->inner_base;
        f->inner_base = f->label_slot;
    }
    c->nctrls++;
    return true;
}

/* Pops the block's params off the operand stack (checking their types) and
 * pushes them back, as the block's first entries. */
static bool check_params(compiler *c, uint32_t np, const uint8_t *params)
{
    operand tmp;
    operand saved[8];
    operand *keep = np <= 8 ? saved : malloc(np * sizeof(operand));
    if (!keep)
        return fail(c, "out of memory");
    bool ok = true;
    for (uint32_t i = np; i-- > 0;) {
        if (!pop(c, params[i], &tmp)) {
            ok = false;
            break;
        }
        keep[i] = tmp;
    }
    if (ok) {
        for (uint32_t i = 0; i < np; i++) {
            operand *e = push(c, params[i]);
            if (!e) {
                ok = false;
                break;
            }
            /* Keep where the value is (the same position, so the same home). */
            uint32_t home = e->home;
            *e = keep[i];
            e->type = params[i];
            if (keep[i].type == TYPE_UNKNOWN) {
                e->kind = ENT_TEMP;
            }
            e->home = home;
            if (e->kind == ENT_LOCAL)
                c->nlocal_refs++;
        }
    }
    if (keep != saved)
        free(keep);
    return ok;
}

static bool compile_block(compiler *c, uint8_t kind)
{
    uint32_t np = 0, nr = 0;
    const uint8_t *params = NULL, *results = NULL;
    if (!read_blocktype(c, &np, &params, &nr, &results))
        return false;
    operand cond;
    if (kind == CTRL_IF && !pop(c, WASM_I32, &cond))
        return false;
    if (!check_params(c, np, params))
        return false;
    /* A write to a local inside the block must not have to copy an outer
     * entry on one path only: copy them all home now. */
    if (!materialize_local_refs(c, UINT32_MAX))
        return false;
    if (kind != CTRL_BLOCK) {
        /* Loop and if params must really be in their slots: branches and
         * the else arm read them there. */
        for (uint32_t i = 0; i < np; i++) {
            if (!materialize(c, &c->stack[c->height - np + i]))
                return false;
        }
    }
    uint32_t jump_inst = 0, jump_word = 0;
    if (kind == CTRL_IF && !c->dead && !emit_cond_jump(c, &cond, true, &jump_inst, &jump_word))
        return false;
    if (!push_ctrl(c, kind, np, params, nr, results))
        return false;
    ctrl *f = top_ctrl(c);
    if (kind == CTRL_LOOP) {
        label_here(c);
        f->loop_start = c->nops;
    }
    if (kind == CTRL_IF) {
        f->has_else_patch = !c->dead;
        f->else_inst = jump_inst;
        f->else_word = jump_word;
        if (np > 0) {
            /* The then arm works on a copy of the params; the originals
             * stay in the label slots for the else arm. */
            f->inner_base = f->label_slot + np;
            for (uint32_t i = 0; i < np; i++) {
                operand *e = &c->stack[f->height + i];
                e->home = f->inner_base + i;
                note_slot(c, e->home);
                if (!c->dead && !emit_copy(c, e->home, f->label_slot + i))
                    return false;
            }
        }
    }
    return true;
}

/* Pops the block's results and checks the stack is then empty. */
static bool check_block_end(compiler *c, const ctrl *f)
{
    operand tmp;
    for (uint32_t i = f->nresults; i-- > 0;) {
        if (!pop(c, f->results[i], &tmp))
            return false;
    }
    if (c->height != f->height)
        return fail(c, "type mismatch");
    return true;
}

static bool compile_else(compiler *c)
{
    ctrl *f = top_ctrl(c);
    if (f->kind != CTRL_IF)
        return fail(c, "else without if");
    /* The then arm falls through to the end with its results. */
    if (!check_label_values(c, f))
        return false;
    uint32_t depth = c->nctrls - 1;
    if (!c->dead) {
        if (!prepare_moves(c, f->nresults, f->label_slot) || !emit_branch(c, depth))
            return false;
    }
    if (!check_block_end(c, f))
        return false;
    c->dead = f->entered_dead;
    f->kind = CTRL_ELSE;
    f->unreachable = false;
    if (f->has_else_patch) {
        set_offset(c, f->else_inst, f->else_word, c->nops);
        f->has_else_patch = false;
    }
    label_here(c);
    for (uint32_t i = 0; i < f->nparams; i++) {
        uint32_t home;
        if (!push_temp(c, f->params[i], &home))
            return false;
        if (!c->dead && !emit_copy(c, home, f->label_slot + i))
            return false;
    }
    return true;
}

static bool compile_end(compiler *c)
{
    ctrl *f = top_ctrl(c);
    if (f->kind == CTRL_IF && f->nparams != f->nresults)
        return fail(c, "type mismatch");
    if (f->kind == CTRL_IF) {
        for (uint32_t i = 0; i < f->nparams; i++)
            if (f->params[i] != f->results[i])
                return fail(c, "type mismatch");
    }
    /* The results are checked by check_block_end() below. */
    uint32_t depth = c->nctrls - 1;
    if (!c->dead) {
        uint32_t target = label_target_slot(f);
        if (!prepare_moves(c, f->nresults, target) || !emit_moves(c, f->nresults, target))
            return false;
        if (f->kind == CTRL_FUNC && !emit_op(c, OP_RETURN))
            return false;
    }
    if (!check_block_end(c, f))
        return false;
    if (f->has_else_patch) {
        /* if without else: the false path skips to here. */
        set_offset(c, f->else_inst, f->else_word, c->nops);
    }
    if (f->kind != CTRL_LOOP)
        resolve_patches(c, depth);
    label_here(c);
    uint32_t nr = f->nresults;
    const uint8_t *results = f->results;
    bool entered_dead = f->entered_dead;
    c->nctrls--;
    if (c->nctrls == 0)
        return true;
    c->dead = entered_dead || top_ctrl(c)->unreachable;
    for (uint32_t i = 0; i < nr; i++) {
        uint32_t home;
        if (!push_temp(c, results[i], &home))
            return false;
    }
    return true;
}

/* After an unconditional transfer: the rest of the block is unreachable. */
static void set_unreachable(compiler *c)
{
    ctrl *f = top_ctrl(c);
    for (uint32_t i = f->height; i < c->height; i++)
        if (c->stack[i].kind == ENT_LOCAL)
            c->nlocal_refs--;
    c->height = f->height;
    f->unreachable = true;
    c->dead = true;
}

static bool read_label(compiler *c, uint32_t *depth)
{
    uint32_t l;
    if (!read_u32(c, &l))
        return false;
    if (l >= c->nctrls)
        return fail(c, "unknown label");
    *depth = c->nctrls - 1 - l;
    return true;
}

static bool compile_br(compiler *c)
{
    uint32_t depth = 0;
    if (!read_label(c, &depth))
        return false;
    const ctrl *f = &c->ctrls[depth];
    if (!check_label_values(c, f))
        return false;
    if (!c->dead) {
        if (!prepare_moves(c, label_arity(f), label_target_slot(f)) || !emit_branch(c, depth))
            return false;
    }
    set_unreachable(c);
    return true;
}

static bool compile_br_if(compiler *c)
{
    uint32_t depth = 0;
    if (!read_label(c, &depth))
        return false;
    operand cond;
    if (!pop(c, WASM_I32, &cond))
        return false;
    const ctrl *f = &c->ctrls[depth];
    /* The values stay on the stack, typed as the label says (this matters
     * on a polymorphic stack). */
    if (!check_params(c, label_arity(f), label_types(f)))
        return false;
    if (c->dead)
        return true;
    if (!prepare_moves(c, label_arity(f), label_target_slot(f)))
        return false;
    uint32_t inst, word;
    if (branch_is_plain_jump(c, depth)) {
        if (!emit_cond_jump(c, &cond, false, &inst, &word))
            return false;
        if (f->kind == CTRL_LOOP) {
            set_offset(c, inst, word, f->loop_start);
            return true;
        }
        return add_patch(c, depth, inst, word);
    }
    /* Values to move: jump over the moves when the condition is false. */
    if (!emit_cond_jump(c, &cond, true, &inst, &word) || !emit_branch(c, depth))
        return false;
    set_offset(c, inst, word, c->nops);
    label_here(c);
    return true;
}

static bool compile_br_table(compiler *c)
{
    uint32_t n;
    if (!read_u32(c, &n))
        return false;
    if (n > WASM_MAX_BR_TABLE || n > (uint32_t)(c->end - c->p))
        return fail(c, "br_table too large");
    uint32_t *depths = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!depths)
        return fail(c, "out of memory");
    bool ok = true;
    for (uint32_t i = 0; i <= n && ok; i++)
        ok = read_label(c, &depths[i]);
    operand index;
    if (ok)
        ok = pop(c, WASM_I32, &index);
    /* Every label must take the same number of values, of the types on the
     * stack. */
    uint32_t arity = ok ? label_arity(&c->ctrls[depths[n]]) : 0;
    for (uint32_t i = 0; i <= n && ok; i++) {
        if (label_arity(&c->ctrls[depths[i]]) != arity)
            ok = fail(c, "type mismatch");
        else
            ok = check_label_values(c, &c->ctrls[depths[i]]);
    }
    if (ok && !c->dead) {
        /* Moves differ per target: bring the values home once, then each
         * target that needs moves gets a landing pad after the table. */
        uint32_t avail = c->height - top_ctrl(c)->height;
        for (uint32_t i = 0; i < arity && i < avail && ok; i++)
            ok = materialize(c, &c->stack[c->height - arity + i]);
        uint32_t slot = 0;
        if (ok)
            ok = use(c, &index, &slot);
        uint32_t inst = c->nops;
        uint32_t first_word = 0;
        if (ok)
            ok = emit_op(c, OP_BR_TABLE) && emit_u(c, slot) && emit_u(c, n);
        first_word = c->nops;
        for (uint32_t i = 0; i <= n && ok; i++)
            ok = emit_u(c, 0);
        for (uint32_t i = 0; i <= n && ok; i++) {
            uint32_t word = first_word + i;
            if (branch_is_plain_jump(c, depths[i])) {
                const ctrl *f = &c->ctrls[depths[i]];
                if (f->kind == CTRL_LOOP)
                    set_offset(c, inst, word, f->loop_start);
                else
                    ok = add_patch(c, depths[i], inst, word);
            } else {
                set_offset(c, inst, word, c->nops);
                ok = emit_branch(c, depths[i]);
            }
        }
    }
    free(depths);
    if (!ok)
        return false;
    set_unreachable(c);
    return true;
}

static bool compile_return(compiler *c)
{
    const ctrl *f = &c->ctrls[0];
    if (!check_label_values(c, f))
        return false;
    if (!c->dead) {
        if (!prepare_moves(c, f->nresults, 0) || !emit_branch(c, 0))
            return false;
    }
    set_unreachable(c);
    return true;
}

/* Pops a call's arguments, puts them in consecutive slots and returns the
 * first; the callee's frame starts there. */
static bool pop_args(compiler *c, const wasm_type *t, uint32_t *argbase)
{
    const uint8_t *params = wasm_type_params(t);
    ctrl *f = top_ctrl(c);
    uint32_t avail = c->height - f->height;
    /* Check types first (pops), then materialise the live entries. */
    for (uint32_t i = 0; i < t->nparams; i++) {
        uint32_t k = t->nparams - 1 - i;
        if (i < avail) {
            const operand *e = &c->stack[c->height - 1 - i];
            if (e->type != TYPE_UNKNOWN && e->type != params[k])
                return fail(c, "type mismatch");
        } else if (!f->unreachable) {
            return fail(c, "type mismatch");
        }
    }
    uint32_t n = t->nparams < avail ? t->nparams : avail;
    for (uint32_t i = 0; i < n; i++) {
        if (!materialize(c, &c->stack[c->height - n + i]))
            return false;
    }
    c->height -= n;
    *argbase = next_home(c);
    return true;
}

static bool push_results(compiler *c, const wasm_type *t)
{
    const uint8_t *results = wasm_type_results(t);
    for (uint32_t i = 0; i < t->nresults; i++)
        if (!push_temp(c, results[i], NULL))
            return false;
    return true;
}

static bool compile_call(compiler *c)
{
    uint32_t fi;
    if (!read_u32(c, &fi))
        return false;
    if (fi >= c->m->nfuncs)
        return fail(c, "unknown function %u", fi);
    const wasm_type *t = wasm_module_functype(c->m, fi);
    uint32_t argbase;
    if (!pop_args(c, t, &argbase))
        return false;
    if (!c->dead) {
        note_slot(c, argbase + t->nparams + t->nresults);
        if (!emit_op(c, OP_CALL) || !emit_u(c, fi) || !emit_u(c, argbase))
            return false;
    }
    return push_results(c, t);
}

static bool compile_call_indirect(compiler *c)
{
    uint32_t ti, table;
    if (!read_u32(c, &ti) || !read_u32(c, &table))
        return false;
    if (table >= c->m->ntables)
        return fail(c, "unknown table %u", table);
    if (ti >= c->m->ntypes)
        return fail(c, "unknown type");
    if (c->m->tables[table].elem_type != WASM_FUNCREF)
        return fail(c, "type mismatch");
    operand idx;
    if (!pop(c, WASM_I32, &idx))
        return false;
    /* The index sits above the arguments, so moving them into place does
     * not disturb it; a constant one is written there after them. */
    uint32_t idx_slot = 0;
    const wasm_type *t = &c->m->types[ti];
    uint32_t argbase;
    if (!pop_args(c, t, &argbase))
        return false;
    if (!c->dead) {
        if (!use(c, &idx, &idx_slot))
            return false;
        note_slot(c, argbase + t->nparams + t->nresults);
        if (!emit_op(c, OP_CALL_INDIRECT) || !emit_u(c, table) || !emit_u(c, ti) ||
            !emit_u(c, idx_slot) || !emit_u(c, argbase))
            return false;
    }
    return push_results(c, t);
}

/* ---- numeric instructions ------------------------------------------------------ */

typedef struct numeric_info {
    uint16_t op;      /* wasm_opcode + 1 (0: not a numeric instruction) */
    uint8_t a, b, r;  /* operand types (b = 0: unary) and result type */
} numeric_info;

#define I32 WASM_I32
#define I64 WASM_I64
#define F32 WASM_F32
#define F64 WASM_F64
#define N(o, ta, tb, tr) {OP_##o + 1, ta, tb, tr}

static const numeric_info numeric_ops[256] = {
    [0x45] = N(I32_EQZ, I32, 0, I32),   [0x46] = N(I32_EQ, I32, I32, I32),
    [0x47] = N(I32_NE, I32, I32, I32),  [0x48] = N(I32_LT_S, I32, I32, I32),
    [0x49] = N(I32_LT_U, I32, I32, I32), [0x4a] = N(I32_GT_S, I32, I32, I32),
    [0x4b] = N(I32_GT_U, I32, I32, I32), [0x4c] = N(I32_LE_S, I32, I32, I32),
    [0x4d] = N(I32_LE_U, I32, I32, I32), [0x4e] = N(I32_GE_S, I32, I32, I32),
    [0x4f] = N(I32_GE_U, I32, I32, I32),
    [0x50] = N(I64_EQZ, I64, 0, I32),   [0x51] = N(I64_EQ, I64, I64, I32),
    [0x52] = N(I64_NE, I64, I64, I32),  [0x53] = N(I64_LT_S, I64, I64, I32),
    [0x54] = N(I64_LT_U, I64, I64, I32), [0x55] = N(I64_GT_S, I64, I64, I32),
    [0x56] = N(I64_GT_U, I64, I64, I32), [0x57] = N(I64_LE_S, I64, I64, I32),
    [0x58] = N(I64_LE_U, I64, I64, I32), [0x59] = N(I64_GE_S, I64, I64, I32),
    [0x5a] = N(I64_GE_U, I64, I64, I32),
    [0x5b] = N(F32_EQ, F32, F32, I32),  [0x5c] = N(F32_NE, F32, F32, I32),
    [0x5d] = N(F32_LT, F32, F32, I32),  [0x5e] = N(F32_GT, F32, F32, I32),
    [0x5f] = N(F32_LE, F32, F32, I32),  [0x60] = N(F32_GE, F32, F32, I32),
    [0x61] = N(F64_EQ, F64, F64, I32),  [0x62] = N(F64_NE, F64, F64, I32),
    [0x63] = N(F64_LT, F64, F64, I32),  [0x64] = N(F64_GT, F64, F64, I32),
    [0x65] = N(F64_LE, F64, F64, I32),  [0x66] = N(F64_GE, F64, F64, I32),
    [0x67] = N(I32_CLZ, I32, 0, I32),   [0x68] = N(I32_CTZ, I32, 0, I32),
    [0x69] = N(I32_POPCNT, I32, 0, I32), [0x6a] = N(I32_ADD, I32, I32, I32),
    [0x6b] = N(I32_SUB, I32, I32, I32), [0x6c] = N(I32_MUL, I32, I32, I32),
    [0x6d] = N(I32_DIV_S, I32, I32, I32), [0x6e] = N(I32_DIV_U, I32, I32, I32),
    [0x6f] = N(I32_REM_S, I32, I32, I32), [0x70] = N(I32_REM_U, I32, I32, I32),
    [0x71] = N(I32_AND, I32, I32, I32), [0x72] = N(I32_OR, I32, I32, I32),
    [0x73] = N(I32_XOR, I32, I32, I32), [0x74] = N(I32_SHL, I32, I32, I32),
    [0x75] = N(I32_SHR_S, I32, I32, I32), [0x76] = N(I32_SHR_U, I32, I32, I32),
    [0x77] = N(I32_ROTL, I32, I32, I32), [0x78] = N(I32_ROTR, I32, I32, I32),
    [0x79] = N(I64_CLZ, I64, 0, I64),   [0x7a] = N(I64_CTZ, I64, 0, I64),
    [0x7b] = N(I64_POPCNT, I64, 0, I64), [0x7c] = N(I64_ADD, I64, I64, I64),
    [0x7d] = N(I64_SUB, I64, I64, I64), [0x7e] = N(I64_MUL, I64, I64, I64),
    [0x7f] = N(I64_DIV_S, I64, I64, I64), [0x80] = N(I64_DIV_U, I64, I64, I64),
    [0x81] = N(I64_REM_S, I64, I64, I64), [0x82] = N(I64_REM_U, I64, I64, I64),
    [0x83] = N(I64_AND, I64, I64, I64), [0x84] = N(I64_OR, I64, I64, I64),
    [0x85] = N(I64_XOR, I64, I64, I64), [0x86] = N(I64_SHL, I64, I64, I64),
    [0x87] = N(I64_SHR_S, I64, I64, I64), [0x88] = N(I64_SHR_U, I64, I64, I64),
    [0x89] = N(I64_ROTL, I64, I64, I64), [0x8a] = N(I64_ROTR, I64, I64, I64),
    [0x8b] = N(F32_ABS, F32, 0, F32),   [0x8c] = N(F32_NEG, F32, 0, F32),
    [0x8d] = N(F32_CEIL, F32, 0, F32),  [0x8e] = N(F32_FLOOR, F32, 0, F32),
    [0x8f] = N(F32_TRUNC, F32, 0, F32), [0x90] = N(F32_NEAREST, F32, 0, F32),
    [0x91] = N(F32_SQRT, F32, 0, F32),  [0x92] = N(F32_ADD, F32, F32, F32),
    [0x93] = N(F32_SUB, F32, F32, F32), [0x94] = N(F32_MUL, F32, F32, F32),
    [0x95] = N(F32_DIV, F32, F32, F32), [0x96] = N(F32_MIN, F32, F32, F32),
    [0x97] = N(F32_MAX, F32, F32, F32), [0x98] = N(F32_COPYSIGN, F32, F32, F32),
    [0x99] = N(F64_ABS, F64, 0, F64),   [0x9a] = N(F64_NEG, F64, 0, F64),
    [0x9b] = N(F64_CEIL, F64, 0, F64),  [0x9c] = N(F64_FLOOR, F64, 0, F64),
    [0x9d] = N(F64_TRUNC, F64, 0, F64), [0x9e] = N(F64_NEAREST, F64, 0, F64),
    [0x9f] = N(F64_SQRT, F64, 0, F64),  [0xa0] = N(F64_ADD, F64, F64, F64),
    [0xa1] = N(F64_SUB, F64, F64, F64), [0xa2] = N(F64_MUL, F64, F64, F64),
    [0xa3] = N(F64_DIV, F64, F64, F64), [0xa4] = N(F64_MIN, F64, F64, F64),
    [0xa5] = N(F64_MAX, F64, F64, F64), [0xa6] = N(F64_COPYSIGN, F64, F64, F64),
    [0xa7] = N(I32_WRAP_I64, I64, 0, I32),
    [0xa8] = N(I32_TRUNC_F32_S, F32, 0, I32), [0xa9] = N(I32_TRUNC_F32_U, F32, 0, I32),
    [0xaa] = N(I32_TRUNC_F64_S, F64, 0, I32), [0xab] = N(I32_TRUNC_F64_U, F64, 0, I32),
    [0xac] = N(I64_EXTEND_I32_S, I32, 0, I64), [0xad] = N(I64_EXTEND_I32_U, I32, 0, I64),
    [0xae] = N(I64_TRUNC_F32_S, F32, 0, I64), [0xaf] = N(I64_TRUNC_F32_U, F32, 0, I64),
    [0xb0] = N(I64_TRUNC_F64_S, F64, 0, I64), [0xb1] = N(I64_TRUNC_F64_U, F64, 0, I64),
    [0xb2] = N(F32_CONVERT_I32_S, I32, 0, F32), [0xb3] = N(F32_CONVERT_I32_U, I32, 0, F32),
    [0xb4] = N(F32_CONVERT_I64_S, I64, 0, F32), [0xb5] = N(F32_CONVERT_I64_U, I64, 0, F32),
    [0xb6] = N(F32_DEMOTE_F64, F64, 0, F32),
    [0xb7] = N(F64_CONVERT_I32_S, I32, 0, F64), [0xb8] = N(F64_CONVERT_I32_U, I32, 0, F64),
    [0xb9] = N(F64_CONVERT_I64_S, I64, 0, F64), [0xba] = N(F64_CONVERT_I64_U, I64, 0, F64),
    [0xbb] = N(F64_PROMOTE_F32, F32, 0, F64),
    [0xc0] = N(I32_EXTEND8_S, I32, 0, I32), [0xc1] = N(I32_EXTEND16_S, I32, 0, I32),
    [0xc2] = N(I64_EXTEND8_S, I64, 0, I64), [0xc3] = N(I64_EXTEND16_S, I64, 0, I64),
    [0xc4] = N(I64_EXTEND32_S, I64, 0, I64),
};

/* 0xFC 0..7: saturating truncations. */
static const numeric_info sat_ops[8] = {
    N(I32_TRUNC_SAT_F32_S, F32, 0, I32), N(I32_TRUNC_SAT_F32_U, F32, 0, I32),
    N(I32_TRUNC_SAT_F64_S, F64, 0, I32), N(I32_TRUNC_SAT_F64_U, F64, 0, I32),
    N(I64_TRUNC_SAT_F32_S, F32, 0, I64), N(I64_TRUNC_SAT_F32_U, F32, 0, I64),
    N(I64_TRUNC_SAT_F64_S, F64, 0, I64), N(I64_TRUNC_SAT_F64_U, F64, 0, I64),
};

#undef N

/* The immediate form of a binary op, or OP_COUNT. */
static wasm_opcode imm_form(wasm_opcode op)
{
    switch (op) {
#define IMM(o) case OP_##o: return OP_##o##_IMM;
        IMM(I32_ADD) IMM(I32_SUB) IMM(I32_MUL) IMM(I32_AND) IMM(I32_OR) IMM(I32_XOR)
        IMM(I32_SHL) IMM(I32_SHR_S) IMM(I32_SHR_U) IMM(I32_EQ) IMM(I32_NE) IMM(I32_LT_S)
        IMM(I32_LT_U) IMM(I32_GT_S) IMM(I32_GT_U) IMM(I32_LE_S) IMM(I32_LE_U) IMM(I32_GE_S)
        IMM(I32_GE_U)
        IMM(I64_ADD) IMM(I64_SUB) IMM(I64_MUL) IMM(I64_AND) IMM(I64_OR) IMM(I64_XOR)
        IMM(I64_SHL) IMM(I64_SHR_S) IMM(I64_SHR_U) IMM(I64_EQ) IMM(I64_NE) IMM(I64_LT_S)
        IMM(I64_LT_U) IMM(I64_GT_S) IMM(I64_GT_U) IMM(I64_LE_S) IMM(I64_LE_U) IMM(I64_GE_S)
        IMM(I64_GE_U)
#undef IMM
    default: return OP_COUNT;
    }
}

/* op(const, x) as op'(x, const), or OP_COUNT when not possible. */
static wasm_opcode swapped_form(wasm_opcode op)
{
    switch (op) {
    case OP_I32_ADD: case OP_I32_MUL: case OP_I32_AND: case OP_I32_OR: case OP_I32_XOR:
    case OP_I32_EQ: case OP_I32_NE:
    case OP_I64_ADD: case OP_I64_MUL: case OP_I64_AND: case OP_I64_OR: case OP_I64_XOR:
    case OP_I64_EQ: case OP_I64_NE:
        return op;
    case OP_I32_LT_S: return OP_I32_GT_S;
    case OP_I32_LT_U: return OP_I32_GT_U;
    case OP_I32_GT_S: return OP_I32_LT_S;
    case OP_I32_GT_U: return OP_I32_LT_U;
    case OP_I32_LE_S: return OP_I32_GE_S;
    case OP_I32_LE_U: return OP_I32_GE_U;
    case OP_I32_GE_S: return OP_I32_LE_S;
    case OP_I32_GE_U: return OP_I32_LE_U;
    case OP_I64_LT_S: return OP_I64_GT_S;
    case OP_I64_LT_U: return OP_I64_GT_U;
    case OP_I64_GT_S: return OP_I64_LT_S;
    case OP_I64_GT_U: return OP_I64_LT_U;
    case OP_I64_LE_S: return OP_I64_GE_S;
    case OP_I64_LE_U: return OP_I64_GE_U;
    case OP_I64_GE_S: return OP_I64_LE_S;
    case OP_I64_GE_U: return OP_I64_LE_U;
    default: return OP_COUNT;
    }
}

static bool compile_numeric(compiler *c, const numeric_info *info)
{
    wasm_opcode op = (wasm_opcode)(info->op - 1);
    operand a, b;
    if (info->b) {
        if (!pop(c, info->b, &b) || !pop(c, info->a, &a))
            return false;
    } else if (!pop(c, info->a, &a)) {
        return false;
    }
    uint32_t dst;
    if (!push_temp(c, info->r, &dst))
        return false;
    if (c->dead)
        return true;
    uint32_t sa, sb;
    if (!info->b) {
        if (!use(c, &a, &sa) || !emit_op(c, op) || !emit_u(c, dst) || !emit_u(c, sa))
            return false;
        produced(c, dst);
        return true;
    }
    if (b.kind == ENT_CONST && imm_form(op) != OP_COUNT) {
        if (!use(c, &a, &sa) || !emit_op(c, imm_form(op)) || !emit_u(c, dst) ||
            !emit_u(c, sa) || !emit_u(c, b.imm))
            return false;
    } else if (a.kind == ENT_CONST && b.kind != ENT_CONST && swapped_form(op) != OP_COUNT &&
               imm_form(swapped_form(op)) != OP_COUNT) {
        if (!use(c, &b, &sb) || !emit_op(c, imm_form(swapped_form(op))) || !emit_u(c, dst) ||
            !emit_u(c, sb) || !emit_u(c, a.imm))
            return false;
    } else {
        if (!use(c, &a, &sa) || !use(c, &b, &sb) || !emit_op(c, op) || !emit_u(c, dst) ||
            !emit_u(c, sa) || !emit_u(c, sb))
            return false;
    }
    produced(c, dst);
    return true;
}

/* ---- variables ------------------------------------------------------------------- */

static bool compile_local_get(compiler *c)
{
    uint32_t li;
    if (!read_u32(c, &li))
        return false;
    if (li >= c->nlocals)
        return fail(c, "unknown local");
    operand *e = push(c, c->local_types[li]);
    if (!e)
        return false;
    e->kind = ENT_LOCAL;
    e->slot = li;
    c->nlocal_refs++;
    return true;
}

/* local.set and local.tee. */
static bool compile_local_set(compiler *c, bool tee)
{
    uint32_t li;
    if (!read_u32(c, &li))
        return false;
    if (li >= c->nlocals)
        return fail(c, "unknown local");
    operand v;
    if (!pop(c, c->local_types[li], &v))
        return false;
    if (!c->dead) {
        bool retarget = v.kind == ENT_TEMP && c->last_valid && c->last_dst == v.home;
        /* Entries still reading the old value must be copied first. */
        if (c->nlocal_refs > 0) {
            for (uint32_t i = 0; i < c->height; i++) {
                if (c->stack[i].kind == ENT_LOCAL && c->stack[i].slot == li) {
                    retarget = false;
                    if (!materialize(c, &c->stack[i]))
                        return false;
                }
            }
        }
        if (retarget) {
            /* The instruction that computed the value writes the local. */
            c->ops[c->last_dst_word].u = li;
            c->last_valid = false;
        } else if (v.kind == ENT_CONST) {
            if (!emit_const(c, li, v.imm))
                return false;
        } else {
            uint32_t src = v.kind == ENT_LOCAL ? v.slot : v.home;
            if (!emit_copy(c, li, src))
                return false;
        }
    }
    if (tee) {
        operand *e = push(c, c->local_types[li]);
        if (!e)
            return false;
        e->kind = ENT_LOCAL;
        e->slot = li;
        c->nlocal_refs++;
    }
    return true;
}

static bool compile_global_get(compiler *c)
{
    uint32_t gi;
    if (!read_u32(c, &gi))
        return false;
    if (gi >= c->m->nglobals)
        return fail(c, "unknown global %u", gi);
    uint32_t dst;
    if (!push_temp(c, c->m->globals[gi].type, &dst))
        return false;
    if (!c->dead) {
        if (!emit_op(c, OP_GLOBAL_GET) || !emit_u(c, dst) || !emit_u(c, gi))
            return false;
        produced(c, dst);
    }
    return true;
}

static bool compile_global_set(compiler *c)
{
    uint32_t gi;
    if (!read_u32(c, &gi))
        return false;
    if (gi >= c->m->nglobals)
        return fail(c, "unknown global %u", gi);
    if (!c->m->globals[gi].mutable_)
        return fail(c, "global is immutable");
    operand v;
    if (!pop(c, c->m->globals[gi].type, &v))
        return false;
    uint32_t s;
    if (!c->dead && (!use(c, &v, &s) || !emit_op(c, OP_GLOBAL_SET) || !emit_u(c, gi) ||
                     !emit_u(c, s)))
        return false;
    return true;
}

/* ---- memory ------------------------------------------------------------------------ */

static bool need_memory(compiler *c)
{
    if (c->m->nmemories == 0)
        return fail(c, "unknown memory 0");
    return true;
}

static bool read_memarg(compiler *c, uint32_t natural_align_log2, uint32_t *offset)
{
    uint32_t align;
    if (!read_u32(c, &align) || !read_u32(c, offset))
        return false;
    if (!need_memory(c))
        return false;
    if (align > natural_align_log2)
        return fail(c, "alignment must not be larger than natural");
    return true;
}

static bool compile_load(compiler *c, wasm_opcode op, uint8_t type, uint32_t align)
{
    uint32_t offset;
    if (!read_memarg(c, align, &offset))
        return false;
    operand addr;
    if (!pop(c, WASM_I32, &addr))
        return false;
    uint32_t dst, sa;
    if (!push_temp(c, type, &dst))
        return false;
    if (c->dead)
        return true;
    if (!use(c, &addr, &sa) || !emit_op(c, op) || !emit_u(c, dst) || !emit_u(c, sa) ||
        !emit_u(c, offset))
        return false;
    produced(c, dst);
    return true;
}

static bool compile_store(compiler *c, wasm_opcode op, uint8_t type, uint32_t align)
{
    uint32_t offset;
    if (!read_memarg(c, align, &offset))
        return false;
    operand val, addr;
    if (!pop(c, type, &val) || !pop(c, WASM_I32, &addr))
        return false;
    if (c->dead)
        return true;
    uint32_t sa, sv;
    if (!use(c, &addr, &sa) || !use(c, &val, &sv) || !emit_op(c, op) || !emit_u(c, sa) ||
        !emit_u(c, sv) || !emit_u(c, offset))
        return false;
    return true;
}

/* Pops n i32 operands (the last popped is the first listed) and emits
 * `op imms... slots...`. */
static bool compile_simple(compiler *c, wasm_opcode op, uint32_t nimm, const uint64_t *imms,
                           uint32_t nin, const uint8_t *in_types, uint8_t out_type)
{
    operand in[4];
    for (uint32_t i = nin; i-- > 0;)
        if (!pop(c, in_types[i], &in[i]))
            return false;
    uint32_t dst = 0;
    if (out_type && !push_temp(c, out_type, &dst))
        return false;
    if (c->dead)
        return true;
    uint32_t slots[4];
    for (uint32_t i = 0; i < nin; i++)
        if (!use(c, &in[i], &slots[i]))
            return false;
    if (!emit_op(c, op))
        return false;
    for (uint32_t i = 0; i < nimm; i++)
        if (!emit_u(c, imms[i]))
            return false;
    if (out_type && !emit_u(c, dst))
        return false;
    for (uint32_t i = 0; i < nin; i++)
        if (!emit_u(c, slots[i]))
            return false;
    if (out_type)
        produced_at(c, dst, c->last_inst + 1 + nimm);
    return true;
}

static bool read_zero_byte(compiler *c)
{
    uint8_t b = 0;
    if (!read_byte(c, &b))
        return false;
    if (b != 0)
        return fail(c, "zero byte expected");
    return true;
}

static bool check_table(compiler *c, uint32_t t)
{
    if (t >= c->m->ntables)
        return fail(c, "unknown table %u", t);
    return true;
}

static bool check_elem(compiler *c, uint32_t e)
{
    if (e >= c->m->nelems)
        return fail(c, "unknown elem segment %u", e);
    return true;
}

static bool check_data(compiler *c, uint32_t d)
{
    if (!c->m->has_data_count)
        return fail(c, "data count section required");
    if (d >= c->m->data_count)
        return fail(c, "unknown data segment %u", d);
    return true;
}

static bool compile_prefix_fc(compiler *c)
{
    uint32_t sub;
    if (!read_u32(c, &sub))
        return false;
    static const uint8_t ii[3] = {WASM_I32, WASM_I32, WASM_I32};
    uint64_t imm[2];
    uint32_t x, y;
    if (sub < 8)
        return compile_numeric(c, &sat_ops[sub]);
    switch (sub) {
    case 8: /* memory.init */
        if (!read_u32(c, &x) || !read_zero_byte(c) || !need_memory(c) || !check_data(c, x))
            return false;
        imm[0] = x;
        return compile_simple(c, OP_MEMORY_INIT, 1, imm, 3, ii, 0);
    case 9: /* data.drop */
        if (!read_u32(c, &x) || !check_data(c, x))
            return false;
        imm[0] = x;
        return compile_simple(c, OP_DATA_DROP, 1, imm, 0, NULL, 0);
    case 10: /* memory.copy */
        if (!read_zero_byte(c) || !read_zero_byte(c) || !need_memory(c))
            return false;
        return compile_simple(c, OP_MEMORY_COPY, 0, NULL, 3, ii, 0);
    case 11: /* memory.fill */
        if (!read_zero_byte(c) || !need_memory(c))
            return false;
        return compile_simple(c, OP_MEMORY_FILL, 0, NULL, 3, ii, 0);
    case 12: /* table.init elem table */
        if (!read_u32(c, &x) || !read_u32(c, &y) || !check_table(c, y) || !check_elem(c, x))
            return false;
        if (c->m->elems[x].elem_type != c->m->tables[y].elem_type)
            return fail(c, "type mismatch");
        imm[0] = y;
        imm[1] = x;
        return compile_simple(c, OP_TABLE_INIT, 2, imm, 3, ii, 0);
    case 13: /* elem.drop */
        if (!read_u32(c, &x) || !check_elem(c, x))
            return false;
        imm[0] = x;
        return compile_simple(c, OP_ELEM_DROP, 1, imm, 0, NULL, 0);
    case 14: /* table.copy dst src */
        if (!read_u32(c, &x) || !read_u32(c, &y) || !check_table(c, x) || !check_table(c, y))
            return false;
        if (c->m->tables[x].elem_type != c->m->tables[y].elem_type)
            return fail(c, "type mismatch");
        imm[0] = x;
        imm[1] = y;
        return compile_simple(c, OP_TABLE_COPY, 2, imm, 3, ii, 0);
    case 15: { /* table.grow */
        if (!read_u32(c, &x) || !check_table(c, x))
            return false;
        uint8_t types[2] = {c->m->tables[x].elem_type, WASM_I32};
        imm[0] = x;
        return compile_simple(c, OP_TABLE_GROW, 1, imm, 2, types, WASM_I32);
    }
    case 16: /* table.size */
        if (!read_u32(c, &x) || !check_table(c, x))
            return false;
        imm[0] = x;
        return compile_simple(c, OP_TABLE_SIZE, 1, imm, 0, NULL, WASM_I32);
    case 17: { /* table.fill */
        if (!read_u32(c, &x) || !check_table(c, x))
            return false;
        uint8_t types[3] = {WASM_I32, c->m->tables[x].elem_type, WASM_I32};
        imm[0] = x;
        return compile_simple(c, OP_TABLE_FILL, 1, imm, 3, types, 0);
    }
    default:
        return fail(c, "illegal opcode 0xfc %u", sub);
    }
}

static bool is_reftype(uint8_t t) { return t == WASM_FUNCREF || t == WASM_EXTERNREF; }

static bool compile_select(compiler *c, bool typed)
{
    uint8_t want = TYPE_UNKNOWN;
    if (typed) {
        uint32_t n;
        if (!read_u32(c, &n))
            return false;
        if (n != 1)
            return fail(c, "invalid result arity");
        uint8_t t = 0;
        if (!read_byte(c, &t))
            return false;
        bool known = false;
        for (size_t i = 0; i < sizeof single_types; i++)
            known |= t == single_types[i];
        if (!known)
            return fail(c, "malformed value type 0x%02x", t);
        want = t;
    }
    operand cond, b, a;
    if (!pop(c, WASM_I32, &cond) || !pop(c, want, &b) || !pop(c, want, &a))
        return false;
    uint8_t t = want;
    if (!typed) {
        if (a.type != TYPE_UNKNOWN && b.type != TYPE_UNKNOWN && a.type != b.type)
            return fail(c, "type mismatch");
        t = a.type != TYPE_UNKNOWN ? a.type : b.type;
        if (t != TYPE_UNKNOWN && is_reftype(t))
            return fail(c, "type mismatch");
    }
    uint32_t dst;
    if (!push_temp(c, t, &dst))
        return false;
    if (c->dead)
        return true;
    uint32_t sc, sa, sb;
    if (!use(c, &cond, &sc) || !use(c, &a, &sa) || !use(c, &b, &sb) || !emit_op(c, OP_SELECT) ||
        !emit_u(c, dst) || !emit_u(c, sc) || !emit_u(c, sa) || !emit_u(c, sb))
        return false;
    produced(c, dst);
    return true;
}

static bool push_const(compiler *c, uint8_t type, uint64_t bits)
{
    operand *e = push(c, type);
    if (!e)
        return false;
    e->kind = ENT_CONST;
    e->imm = bits;
    return true;
}

/* Slots hold bit patterns, so a reinterpretation only changes the type. */
static bool compile_reinterpret(compiler *c, uint8_t from, uint8_t to)
{
    operand v;
    if (!pop(c, from, &v))
        return false;
    operand *e = push(c, to);
    if (!e)
        return false;
    if (v.type != TYPE_UNKNOWN) {
        uint32_t home = e->home;
        *e = v;
        e->home = home;
        e->type = to;
        if (e->kind == ENT_LOCAL)
            c->nlocal_refs++;
    }
    return true;
}

/* ---- the instruction loop ------------------------------------------------------------ */

static bool compile_instr(compiler *c, uint8_t opc)
{
    const char *why;
    switch (opc) {
    case 0x00: /* unreachable */
        if (!c->dead && !emit_op(c, OP_UNREACHABLE))
            return false;
        set_unreachable(c);
        return true;
    case 0x01: /* nop */
        return true;
    case 0x02: return compile_block(c, CTRL_BLOCK);
    case 0x03: return compile_block(c, CTRL_LOOP);
    case 0x04: return compile_block(c, CTRL_IF);
    case 0x05: return compile_else(c);
    case 0x0b: return compile_end(c);
    case 0x0c: return compile_br(c);
    case 0x0d: return compile_br_if(c);
    case 0x0e: return compile_br_table(c);
    case 0x0f: return compile_return(c);
    case 0x10: return compile_call(c);
    case 0x11: return compile_call_indirect(c);
    case 0x1a: { /* drop */
        operand v;
        return pop(c, TYPE_UNKNOWN, &v);
    }
    case 0x1b: return compile_select(c, false);
    case 0x1c: return compile_select(c, true);
    case 0x20: return compile_local_get(c);
    case 0x21: return compile_local_set(c, false);
    case 0x22: return compile_local_set(c, true);
    case 0x23: return compile_global_get(c);
    case 0x24: return compile_global_set(c);
    case 0x25: { /* table.get */
        uint32_t t;
        if (!read_u32(c, &t) || !check_table(c, t))
            return false;
        uint64_t imm = t;
        static const uint8_t i32[1] = {WASM_I32};
        return compile_simple(c, OP_TABLE_GET, 1, &imm, 1, i32, c->m->tables[t].elem_type);
    }
    case 0x26: { /* table.set */
        uint32_t t;
        if (!read_u32(c, &t) || !check_table(c, t))
            return false;
        uint64_t imm = t;
        uint8_t types[2] = {WASM_I32, c->m->tables[t].elem_type};
        return compile_simple(c, OP_TABLE_SET, 1, &imm, 2, types, 0);
    }
    case 0x28: return compile_load(c, OP_LOAD32, WASM_I32, 2);
    case 0x29: return compile_load(c, OP_LOAD64, WASM_I64, 3);
    case 0x2a: return compile_load(c, OP_LOAD32, WASM_F32, 2);
    case 0x2b: return compile_load(c, OP_LOAD64, WASM_F64, 3);
    case 0x2c: return compile_load(c, OP_I32_LOAD8_S, WASM_I32, 0);
    case 0x2d: return compile_load(c, OP_I32_LOAD8_U, WASM_I32, 0);
    case 0x2e: return compile_load(c, OP_I32_LOAD16_S, WASM_I32, 1);
    case 0x2f: return compile_load(c, OP_I32_LOAD16_U, WASM_I32, 1);
    case 0x30: return compile_load(c, OP_I64_LOAD8_S, WASM_I64, 0);
    case 0x31: return compile_load(c, OP_I64_LOAD8_U, WASM_I64, 0);
    case 0x32: return compile_load(c, OP_I64_LOAD16_S, WASM_I64, 1);
    case 0x33: return compile_load(c, OP_I64_LOAD16_U, WASM_I64, 1);
    case 0x34: return compile_load(c, OP_I64_LOAD32_S, WASM_I64, 2);
    case 0x35: return compile_load(c, OP_I64_LOAD32_U, WASM_I64, 2);
    case 0x36: return compile_store(c, OP_STORE32, WASM_I32, 2);
    case 0x37: return compile_store(c, OP_STORE64, WASM_I64, 3);
    case 0x38: return compile_store(c, OP_STORE32, WASM_F32, 2);
    case 0x39: return compile_store(c, OP_STORE64, WASM_F64, 3);
    case 0x3a: return compile_store(c, OP_STORE8, WASM_I32, 0);
    case 0x3b: return compile_store(c, OP_STORE16, WASM_I32, 1);
    case 0x3c: return compile_store(c, OP_STORE8, WASM_I64, 0);
    case 0x3d: return compile_store(c, OP_STORE16, WASM_I64, 1);
    case 0x3e: return compile_store(c, OP_STORE32, WASM_I64, 2);
    case 0x3f: /* memory.size */
        if (!read_zero_byte(c) || !need_memory(c))
            return false;
        return compile_simple(c, OP_MEMORY_SIZE, 0, NULL, 0, NULL, WASM_I32);
    case 0x40: { /* memory.grow */
        if (!read_zero_byte(c) || !need_memory(c))
            return false;
        static const uint8_t i32[1] = {WASM_I32};
        return compile_simple(c, OP_MEMORY_GROW, 0, NULL, 1, i32, WASM_I32);
    }
    case 0x41: {
        int32_t v;
        if (!wasm_read_s32(&c->p, c->end, &v, &why))
            return fail(c, "%s", why);
        return push_const(c, WASM_I32, (uint32_t)v);
    }
    case 0x42: {
        int64_t v;
        if (!wasm_read_s64(&c->p, c->end, &v, &why))
            return fail(c, "%s", why);
        return push_const(c, WASM_I64, (uint64_t)v);
    }
    case 0x43: {
        if (c->end - c->p < 4)
            return fail(c, "unexpected end");
        uint32_t bits;
        memcpy(&bits, c->p, 4);
        c->p += 4;
        return push_const(c, WASM_F32, bits);
    }
    case 0x44: {
        if (c->end - c->p < 8)
            return fail(c, "unexpected end");
        uint64_t bits;
        memcpy(&bits, c->p, 8);
        c->p += 8;
        return push_const(c, WASM_F64, bits);
    }
    case 0xd0: { /* ref.null t */
        uint8_t t = 0;
        if (!read_byte(c, &t))
            return false;
        if (!is_reftype(t))
            return fail(c, "malformed reference type");
        return push_const(c, t, 0);
    }
    case 0xd1: { /* ref.is_null */
        operand v;
        if (!pop(c, TYPE_UNKNOWN, &v))
            return false;
        if (v.type != TYPE_UNKNOWN && !is_reftype(v.type))
            return fail(c, "type mismatch");
        uint32_t dst, s;
        if (!push_temp(c, WASM_I32, &dst))
            return false;
        if (c->dead)
            return true;
        if (!use(c, &v, &s) || !emit_op(c, OP_REF_IS_NULL) || !emit_u(c, dst) || !emit_u(c, s))
            return false;
        produced(c, dst);
        return true;
    }
    case 0xd2: { /* ref.func */
        uint32_t fi;
        if (!read_u32(c, &fi))
            return false;
        if (fi >= c->m->nfuncs)
            return fail(c, "unknown function %u", fi);
        if (!c->m->func_declared[fi])
            return fail(c, "undeclared function reference");
        uint64_t imm = fi;
        return compile_simple(c, OP_REF_FUNC, 1, &imm, 0, NULL, WASM_FUNCREF);
    }
    case 0xbc: return compile_reinterpret(c, WASM_F32, WASM_I32);
    case 0xbd: return compile_reinterpret(c, WASM_F64, WASM_I64);
    case 0xbe: return compile_reinterpret(c, WASM_I32, WASM_F32);
    case 0xbf: return compile_reinterpret(c, WASM_I64, WASM_F64);
    case 0xfc: return compile_prefix_fc(c);
    case 0xfd: return fail(c, "SIMD instructions (0xfd prefix) are not supported yet");
    default:
        if (numeric_ops[opc].op)
            return compile_numeric(c, &numeric_ops[opc]);
        return fail(c, "illegal opcode 0x%02x", opc);
    }
}

static void compiler_free(compiler *c)
{
    free(c->local_types);
    free(c->stack);
    free(c->ctrls);
    free(c->ops);
    free(c->pos);
    free(c->patches);
}

static bool compile_function(const wasm_module *m, uint32_t def_index, bool emit,
                             wasm_code **out, wasm_error *err)
{
    const wasm_func_def *def = &m->func_defs[def_index];
    uint32_t func_index = m->nfunc_imports + def_index;
    const wasm_type *t = &m->types[def->type_index];
    compiler c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.err = err;
    c.base = m->bytes;
    c.p = m->bytes + def->body_offset;
    c.end = m->bytes + def->body_end;
    c.op_offset = def->body_offset;
    c.nlocals = t->nparams + def->nlocals;
    c.local_types = malloc(c.nlocals ? c.nlocals : 1);
    if (!c.local_types)
        return fail(&c, "out of memory");
    memcpy(c.local_types, wasm_type_params(t), t->nparams);
    if (def->nlocals)
        memcpy(c.local_types + t->nparams, def->local_types, def->nlocals);
    c.max_slot = c.nlocals;

    bool ok = push_ctrl(&c, CTRL_FUNC, 0, NULL, t->nresults, wasm_type_results(t));
    while (ok && c.nctrls > 0) {
        if (c.p >= c.end) {
            ok = fail(&c, "unexpected end of function body (END opcode expected)");
            break;
        }
        c.op_offset = (uint32_t)(c.p - c.base);
        uint8_t opc = *c.p++;
        ok = compile_instr(&c, opc);
    }
    if (ok && c.p != c.end)
        ok = fail(&c, "operators remaining after the function's final end");
    if (!ok) {
        if (err) {
            /* Name the function: messages come from deep inside. */
            size_t len = strlen(err->message);
            snprintf(err->message + len, sizeof err->message - len, " (in function %u)",
                     func_index);
        }
        compiler_free(&c);
        return false;
    }
    if (emit) {
        wasm_code *code = calloc(1, sizeof *code);
        if (!code) {
            compiler_free(&c);
            wasm_error_set_nooffset(err, "out of memory");
            return false;
        }
        code->ops = c.ops;
        code->nops = c.nops;
        code->pos = c.pos;
        code->npos = c.npos;
        code->func_index = func_index;
        code->nparams = t->nparams;
        code->nresults = t->nresults;
        code->nlocals = def->nlocals;
        code->frame_size = c.max_slot > t->nresults ? c.max_slot : t->nresults;
        c.ops = NULL;
        c.pos = NULL;
        *out = code;
    }
    compiler_free(&c);
    return true;
}

void wasm_code_free(wasm_code *code)
{
    if (!code)
        return;
    free(code->ops);
    free(code->pos);
    free(code);
}

uint32_t wasm_code_offset(const wasm_code *code, uint32_t op_index)
{
    uint32_t lo = 0, hi = code->npos;
    if (hi == 0)
        return 0;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (code->pos[mid].op_index <= op_index)
            lo = mid;
        else
            hi = mid;
    }
    return code->pos[lo].wasm_offset;
}

bool wasm_compile(struct wasm_module *m, wasm_error *err)
{
    for (uint32_t i = 0; i < m->nfunc_defs; i++) {
        if (!compile_function(m, i, true, &m->func_defs[i].code, err))
            return false;
    }
    return true;
}

bool wasm_validate_bodies(struct wasm_module *m, wasm_error *err)
{
    for (uint32_t i = 0; i < m->nfunc_defs; i++) {
        if (!compile_function(m, i, false, NULL, err))
            return false;
    }
    return true;
}
