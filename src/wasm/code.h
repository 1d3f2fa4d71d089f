/*
 * code.h - the internal instruction stream and the run-time objects
 * (private to src/wasm/).
 *
 * compile.c turns each validated function body into an array of wasm_op
 * words. An instruction is one handler word (the address of its label in
 * interp.c: direct threading) followed by its operand words. Operands are
 * slot numbers, immediates or branch offsets, all decoded at compile time.
 *
 * Slots: a function's frame is an array of 64-bit cells:
 *     [params][declared locals][operand stack temporaries]
 * Because Wasm's operand stack height is known at every instruction, each
 * stack position has a fixed slot, so instructions name their inputs and
 * output by slot ("register machine"): `i32.add` is ADD dst a b, and a
 * `local.get` usually costs nothing at all (the consumer reads the local's
 * slot directly).
 *
 * Calls: arguments sit in consecutive slots at the top of the caller's
 * frame; the callee's frame starts right there, so arguments are never
 * copied. Results come back in the callee's slots 0..n-1, which are the
 * caller's argument slots.
 */
#ifndef WASMGATE_WASM_CODE_H
#define WASMGATE_WASM_CODE_H

#include "wasm/module.h"

#include <stdatomic.h>

/* One stack cell. Readers use the field of the value's type; writers write
 * only that field (an i32 leaves the upper half as it was). Values are
 * normalised (upper half zeroed) where they leave the runtime. */
typedef union wasm_slot {
    uint32_t i32;
    uint64_t i64;
    float f32;
    double f64;
} wasm_slot;

/* One word of the instruction stream. */
typedef union wasm_op {
    const void *handler;
    uint64_t u;      /* slot numbers, indices, byte offsets */
    int64_t off;     /* branch offsets, in words, from the instruction start */
    uint64_t imm;    /* 64-bit immediates */
    uint32_t imm32;
} wasm_op;

/* The internal instruction set. Operands in brackets, in word order.
 * d = destination slot, a/b/c = source slots, imm = immediate, off = branch
 * offset relative to the instruction's first word. */
#define WASM_OPS(X)                                                                    \
    /* control */                                                                      \
    X(UNREACHABLE)      /* */                                                          \
    X(NOP)              /* */                                                          \
    X(EXIT)             /* leaves the interpreter loop: end of an entry call */        \
    X(BR)               /* off */                                                      \
    X(BR_IF)            /* a off: branch when a.i32 != 0 */                            \
    X(BR_UNLESS)        /* a off: branch when a.i32 == 0 */                            \
    X(BR_TABLE)         /* a n off0 .. off(n): n+1 targets, the last is default */     \
    X(RETURN)           /* */                                                          \
    X(CALL)             /* funcindex argbase */                                        \
    X(CALL_INDIRECT)    /* table typeindex a argbase */                                \
    X(COPY)             /* d a */                                                      \
    X(CONST)            /* d imm */                                                    \
    X(SELECT)           /* d cond a b */                                               \
    /* fused compare-and-branch (i32) */                                               \
    WASM_CMP_BRANCH_OPS(X)                                                             \
    /* variables */                                                                    \
    X(GLOBAL_GET)       /* d index */                                                  \
    X(GLOBAL_SET)       /* index a */                                                  \
    /* memory: loads [d addr offset], stores [addr value offset] */                    \
    X(LOAD32) X(LOAD64)                                                                \
    X(I32_LOAD8_S) X(I32_LOAD8_U) X(I32_LOAD16_S) X(I32_LOAD16_U)                      \
    X(I64_LOAD8_S) X(I64_LOAD8_U) X(I64_LOAD16_S) X(I64_LOAD16_U)                      \
    X(I64_LOAD32_S) X(I64_LOAD32_U)                                                    \
    X(STORE8) X(STORE16) X(STORE32) X(STORE64)                                         \
    X(MEMORY_SIZE)      /* d */                                                        \
    X(MEMORY_GROW)      /* d a */                                                      \
    X(MEMORY_INIT)      /* seg d s n */                                                \
    X(DATA_DROP)        /* seg */                                                      \
    X(MEMORY_COPY)      /* d s n */                                                    \
    X(MEMORY_FILL)      /* d val n */                                                  \
    /* references and tables */                                                        \
    X(REF_FUNC)         /* funcindex d */                                              \
    X(REF_IS_NULL)      /* d a */                                                      \
    X(TABLE_GET)        /* table d a */                                                \
    X(TABLE_SET)        /* table a b */                                                \
    X(TABLE_SIZE)       /* table d */                                                  \
    X(TABLE_GROW)       /* table d init n */                                           \
    X(TABLE_FILL)       /* table i val n */                                            \
    X(TABLE_COPY)       /* dsttable srctable d s n */                                  \
    X(TABLE_INIT)       /* table seg d s n */                                          \
    X(ELEM_DROP)        /* seg */                                                      \
    /* numeric: unary [d a], binary [d a b], with immediate [d a imm] */               \
    WASM_NUMERIC_OPS(X)

/* i32 compare-and-branch: [a b off] and [a imm off]. */
#define WASM_CMP_BRANCH_OPS(X)                                                         \
    X(BR_I32_EQ) X(BR_I32_NE) X(BR_I32_LT_S) X(BR_I32_LT_U) X(BR_I32_GT_S)             \
    X(BR_I32_GT_U) X(BR_I32_LE_S) X(BR_I32_LE_U) X(BR_I32_GE_S) X(BR_I32_GE_U)         \
    X(BR_I32_EQ_IMM) X(BR_I32_NE_IMM) X(BR_I32_LT_S_IMM) X(BR_I32_LT_U_IMM)            \
    X(BR_I32_GT_S_IMM) X(BR_I32_GT_U_IMM) X(BR_I32_LE_S_IMM) X(BR_I32_LE_U_IMM)        \
    X(BR_I32_GE_S_IMM) X(BR_I32_GE_U_IMM)

#define WASM_NUMERIC_OPS(X)                                                            \
    X(I32_EQZ) X(I32_EQ) X(I32_NE) X(I32_LT_S) X(I32_LT_U) X(I32_GT_S) X(I32_GT_U)     \
    X(I32_LE_S) X(I32_LE_U) X(I32_GE_S) X(I32_GE_U)                                    \
    X(I64_EQZ) X(I64_EQ) X(I64_NE) X(I64_LT_S) X(I64_LT_U) X(I64_GT_S) X(I64_GT_U)     \
    X(I64_LE_S) X(I64_LE_U) X(I64_GE_S) X(I64_GE_U)                                    \
    X(F32_EQ) X(F32_NE) X(F32_LT) X(F32_GT) X(F32_LE) X(F32_GE)                        \
    X(F64_EQ) X(F64_NE) X(F64_LT) X(F64_GT) X(F64_LE) X(F64_GE)                        \
    X(I32_CLZ) X(I32_CTZ) X(I32_POPCNT) X(I32_ADD) X(I32_SUB) X(I32_MUL)               \
    X(I32_DIV_S) X(I32_DIV_U) X(I32_REM_S) X(I32_REM_U) X(I32_AND) X(I32_OR)           \
    X(I32_XOR) X(I32_SHL) X(I32_SHR_S) X(I32_SHR_U) X(I32_ROTL) X(I32_ROTR)            \
    X(I64_CLZ) X(I64_CTZ) X(I64_POPCNT) X(I64_ADD) X(I64_SUB) X(I64_MUL)               \
    X(I64_DIV_S) X(I64_DIV_U) X(I64_REM_S) X(I64_REM_U) X(I64_AND) X(I64_OR)           \
    X(I64_XOR) X(I64_SHL) X(I64_SHR_S) X(I64_SHR_U) X(I64_ROTL) X(I64_ROTR)            \
    X(F32_ABS) X(F32_NEG) X(F32_CEIL) X(F32_FLOOR) X(F32_TRUNC) X(F32_NEAREST)         \
    X(F32_SQRT) X(F32_ADD) X(F32_SUB) X(F32_MUL) X(F32_DIV) X(F32_MIN) X(F32_MAX)      \
    X(F32_COPYSIGN)                                                                    \
    X(F64_ABS) X(F64_NEG) X(F64_CEIL) X(F64_FLOOR) X(F64_TRUNC) X(F64_NEAREST)         \
    X(F64_SQRT) X(F64_ADD) X(F64_SUB) X(F64_MUL) X(F64_DIV) X(F64_MIN) X(F64_MAX)      \
    X(F64_COPYSIGN)                                                                    \
    X(I32_WRAP_I64) X(I32_TRUNC_F32_S) X(I32_TRUNC_F32_U) X(I32_TRUNC_F64_S)           \
    X(I32_TRUNC_F64_U) X(I64_EXTEND_I32_S) X(I64_EXTEND_I32_U) X(I64_TRUNC_F32_S)      \
    X(I64_TRUNC_F32_U) X(I64_TRUNC_F64_S) X(I64_TRUNC_F64_U) X(F32_CONVERT_I32_S)      \
    X(F32_CONVERT_I32_U) X(F32_CONVERT_I64_S) X(F32_CONVERT_I64_U) X(F32_DEMOTE_F64)   \
    X(F64_CONVERT_I32_S) X(F64_CONVERT_I32_U) X(F64_CONVERT_I64_S)                     \
    X(F64_CONVERT_I64_U) X(F64_PROMOTE_F32)                                            \
    X(I32_EXTEND8_S) X(I32_EXTEND16_S) X(I64_EXTEND8_S) X(I64_EXTEND16_S)              \
    X(I64_EXTEND32_S)                                                                  \
    X(I32_TRUNC_SAT_F32_S) X(I32_TRUNC_SAT_F32_U) X(I32_TRUNC_SAT_F64_S)               \
    X(I32_TRUNC_SAT_F64_U) X(I64_TRUNC_SAT_F32_S) X(I64_TRUNC_SAT_F32_U)               \
    X(I64_TRUNC_SAT_F64_S) X(I64_TRUNC_SAT_F64_U)                                      \
    /* with an immediate right operand */                                              \
    X(I32_ADD_IMM) X(I32_SUB_IMM) X(I32_MUL_IMM) X(I32_AND_IMM) X(I32_OR_IMM)          \
    X(I32_XOR_IMM) X(I32_SHL_IMM) X(I32_SHR_S_IMM) X(I32_SHR_U_IMM)                    \
    X(I32_EQ_IMM) X(I32_NE_IMM) X(I32_LT_S_IMM) X(I32_LT_U_IMM) X(I32_GT_S_IMM)        \
    X(I32_GT_U_IMM) X(I32_LE_S_IMM) X(I32_LE_U_IMM) X(I32_GE_S_IMM) X(I32_GE_U_IMM)    \
    X(I64_ADD_IMM) X(I64_SUB_IMM) X(I64_MUL_IMM) X(I64_AND_IMM) X(I64_OR_IMM)          \
    X(I64_XOR_IMM) X(I64_SHL_IMM) X(I64_SHR_S_IMM) X(I64_SHR_U_IMM)                    \
    X(I64_EQ_IMM) X(I64_NE_IMM) X(I64_LT_S_IMM) X(I64_LT_U_IMM) X(I64_GT_S_IMM)        \
    X(I64_GT_U_IMM) X(I64_LE_S_IMM) X(I64_LE_U_IMM) X(I64_GE_S_IMM) X(I64_GE_U_IMM)

typedef enum wasm_opcode {
#define WASM_OP_ENUM(name) OP_##name,
    WASM_OPS(WASM_OP_ENUM)
#undef WASM_OP_ENUM
    OP_COUNT
} wasm_opcode;

/* Maps an instruction (its index in ops) to its byte offset in the module,
 * for traps and backtraces. Sorted by op_index. */
typedef struct wasm_code_pos {
    uint32_t op_index;
    uint32_t wasm_offset;
} wasm_code_pos;

/* The compiled form of one defined function. Immutable once built. */
typedef struct wasm_code {
    wasm_op *ops;
    uint32_t nops;
    uint32_t func_index;
    uint32_t nparams;
    uint32_t nresults;
    uint32_t nlocals;      /* declared locals (zeroed on entry), after params */
    uint32_t frame_size;   /* slots: params + locals + temporaries */
    uint32_t npos;
    wasm_code_pos *pos;
} wasm_code;

void wasm_code_free(wasm_code *code);
/* The module offset of the instruction containing ops[op_index]. */
uint32_t wasm_code_offset(const wasm_code *code, uint32_t op_index);

/* interp.c: the handler address of an internal opcode (direct threading). */
const void *wasm_interp_handler(wasm_opcode op);

/* ---- run-time objects ----------------------------------------------------- */

struct wasm_func {
    wasm_type type;            /* owned copy for host functions; a view of the
                                  module's type otherwise */
    uint64_t type_hash;        /* for fast call_indirect checks */
    bool is_host;
    /* Defined in wasm: */
    struct wasm_instance *instance;
    const wasm_code *code;
    uint32_t func_index;
    /* Host: */
    uint64_t narrow_params;  /* bit i: param i is i32/f32 (first 64 params) */
    uint64_t narrow_results; /* the same for results */
    wasm_host_fn fn;
    void *env;
    char *name;
};

struct wasm_memory {
    uint8_t *data;             /* reserved address space; never moves */
    uint64_t size;             /* bytes accessible */
    uint64_t reserved;         /* bytes reserved */
    uint32_t pages;
    uint32_t max_pages;        /* the declared maximum (65536 without one) */
    bool has_max;
    uint32_t cap_pages;        /* the store's limit: growth stops here too */
};

struct wasm_table {
    wasm_cell *elems;
    uint32_t size;
    uint32_t max;              /* the declared maximum (UINT32_MAX without one) */
    bool has_max;
    uint32_t cap;              /* the store's limit: growth stops here too */
    uint8_t elem_type;
};

struct wasm_global {
    wasm_slot value;
    uint8_t type;
    bool mutable_;
};

/* A passive element segment as instantiated: resolved references. */
typedef struct wasm_elem_inst {
    uint32_t count;            /* 0 once dropped */
    wasm_cell *refs;
} wasm_elem_inst;

struct wasm_instance {
    struct wasm_store *store;
    wasm_module *module;       /* holds a reference */
    struct wasm_func **funcs;  /* module->nfuncs */
    struct wasm_table **tables;
    struct wasm_memory **memories;
    struct wasm_global **globals;
    struct wasm_func *own_funcs;    /* the defined functions (one block) */
    wasm_elem_inst *elems;     /* module->nelems */
    uint64_t *type_hashes;     /* module->ntypes: for call_indirect checks */
    uint8_t *data_dropped;     /* module->ndatas flags */
    void *userdata;
};

/* Objects a store owns, freed with it. */
typedef struct wasm_store_object {
    struct wasm_store_object *next;
    int kind;                  /* wasm_extern_kind, or -1 for an instance */
    void *object;
} wasm_store_object;

/* One activation on the call stack. */
typedef struct wasm_frame {
    const wasm_op *ret_ip;     /* where the caller resumes */
    wasm_slot *fp;             /* the frame's slots */
    const struct wasm_func *func;
} wasm_frame;

struct wasm_store {
    wasm_store_config config;
    wasm_store_object *objects;
    wasm_slot *stack;          /* config.value_stack_cells */
    wasm_slot *stack_end;
    wasm_slot *sp;             /* first free slot (for re-entrant calls) */
    wasm_frame *frames;        /* config.max_call_depth + 1 */
    uint32_t nframes;          /* in use */
    atomic_bool interrupt;
    wasm_trap trap;
    void *userdata;
    wasm_host_trace_fn host_trace;  /* NULL: no tracing */
    void *host_trace_ctx;
};

/* The context handed to host functions. */
struct wasm_call {
    struct wasm_store *store;
    struct wasm_instance *instance;  /* the caller, or NULL */
    bool trapped;
};

/* instance.c */
uint64_t wasm_type_hash(const wasm_type *type);
bool wasm_type_equal(const wasm_type *a, const wasm_type *b);
/* Grows memory by delta pages; returns the old page count or -1. */
int64_t wasm_memory_grow_internal(struct wasm_memory *mem, uint32_t delta);
int64_t wasm_table_grow_internal(struct wasm_table *table, uint32_t delta, wasm_cell init);

/* interp.c: runs func with args already in store->sp[0..nparams). */
bool wasm_interp_call(struct wasm_store *store, const struct wasm_func *func, wasm_slot *base);
/* Fills store->trap with kind and message (backtrace left empty). */
void wasm_trap_set(struct wasm_store *store, wasm_trap_kind kind, const char *message);

#endif
