/*
 * module.h - the decoded form of a module, shared by the runtime's files
 * (private to src/wasm/).
 *
 * decode.c fills a wasm_module from bytes (structure only: sections, types,
 * imports, ... and the raw body of each function); compile.c validates each
 * function body and turns it into internal code (see code.h); instance.c
 * instantiates; interp.c runs.
 *
 * Ownership: every pointer in wasm_module is owned by the module and freed
 * by wasm_module_free_contents(). Strings are NUL-terminated copies (names
 * may contain NUL bytes in Wasm, so lengths are kept as well).
 */
#ifndef WASMGATE_WASM_MODULE_H
#define WASMGATE_WASM_MODULE_H

#include "wasm/wasm.h"

#include <stdatomic.h>

/* Limits that bound every allocation driven by module bytes. */
#define WASM_MAX_TYPES 1000000
#define WASM_MAX_FUNCS 1000000
#define WASM_MAX_IMPORTS 100000
#define WASM_MAX_EXPORTS 100000
#define WASM_MAX_GLOBALS 1000000
#define WASM_MAX_TABLES 100000
#define WASM_MAX_MEMORIES 1        /* Wasm 2.0: at most one memory */
#define WASM_MAX_SEGMENTS 100000
#define WASM_MAX_PARAMS 1000
#define WASM_MAX_RESULTS 1000
#define WASM_MAX_LOCALS 50000       /* per function, params included */
#define WASM_MAX_MODULE_LOCALS (1u << 24) /* declared locals of all functions */
#define WASM_MAX_BR_TABLE 65520
#define WASM_MAX_PAGES 65536
#define WASM_MAX_TABLE_SIZE 10000000u
#define WASM_PAGE_SIZE 65536u

typedef struct wasm_type {
    uint32_t nparams;
    uint32_t nresults;
    uint8_t *types; /* nparams params followed by nresults results */
} wasm_type;

static inline const uint8_t *wasm_type_params(const wasm_type *t) { return t->types; }
static inline const uint8_t *wasm_type_results(const wasm_type *t) { return t->types + t->nparams; }

/* A constant expression (Wasm 2.0: one instruction then `end`). */
typedef enum wasm_const_op {
    WASM_CONST_I32,
    WASM_CONST_I64,
    WASM_CONST_F32,
    WASM_CONST_F64,
    WASM_CONST_V128,
    WASM_CONST_GLOBAL_GET, /* index: global */
    WASM_CONST_REF_NULL,   /* type: reftype */
    WASM_CONST_REF_FUNC,   /* index: function */
} wasm_const_op;

typedef struct wasm_constexpr {
    uint8_t op;        /* wasm_const_op */
    uint8_t type;      /* the value type it produces */
    uint32_t index;
    uint64_t bits[2];  /* the constant's bit pattern (v128: both words) */
} wasm_constexpr;

typedef struct wasm_import {
    char *module;
    char *name;
    uint32_t module_len;
    uint32_t name_len;
    uint8_t kind; /* wasm_extern_kind */
    uint32_t type_index;   /* func */
    uint8_t elem_type;     /* table */
    wasm_limits limits;    /* table, memory */
    uint8_t global_type;   /* global */
    bool global_mutable;
} wasm_import;

typedef struct wasm_export {
    char *name;
    uint32_t name_len;
    uint8_t kind;
    uint32_t index;
} wasm_export;

typedef struct wasm_table_def {
    uint8_t elem_type;
    wasm_limits limits;
} wasm_table_def;

typedef struct wasm_global_def {
    uint8_t type;
    bool mutable_;
    wasm_constexpr init;
} wasm_global_def;

typedef enum wasm_segment_mode {
    WASM_SEG_ACTIVE,
    WASM_SEG_PASSIVE,
    WASM_SEG_DECLARATIVE,
} wasm_segment_mode;

typedef struct wasm_elem_segment {
    uint8_t mode;          /* wasm_segment_mode */
    uint8_t elem_type;     /* WASM_FUNCREF or WASM_EXTERNREF */
    uint32_t table_index;  /* active */
    wasm_constexpr offset; /* active */
    uint32_t count;
    wasm_constexpr *items; /* count entries: ref.func, ref.null or global.get */
} wasm_elem_segment;

typedef struct wasm_data_segment {
    uint8_t mode;          /* WASM_SEG_ACTIVE or WASM_SEG_PASSIVE */
    uint32_t memory_index;
    wasm_constexpr offset;
    uint32_t size;
    const uint8_t *bytes;  /* points into module->bytes */
} wasm_data_segment;

typedef struct wasm_custom_section {
    char *name;
    uint32_t name_len;
    const uint8_t *data;   /* points into module->bytes */
    uint32_t size;
} wasm_custom_section;

/* Forward: compiled code of one function (code.h). */
struct wasm_code;

/* A function defined in the module (imports are not here). */
typedef struct wasm_func_def {
    uint32_t type_index;
    uint32_t nlocals;      /* declared locals, params not included */
    uint8_t *local_types;  /* nlocals entries */
    uint32_t body_offset;  /* offset in module->bytes of the first instruction
                              (after the local declarations) */
    uint32_t body_end;     /* offset just past the final `end` */
    uint32_t size_offset;  /* offset of the body's size field (for errors) */
    struct wasm_code *code; /* set by compile.c; NULL until then */
} wasm_func_def;

typedef struct wasm_name_entry {
    uint32_t index;
    char *name;
} wasm_name_entry;

struct wasm_module {
    atomic_int refcount;

    uint8_t *bytes;        /* a copy of the module bytes */
    size_t size;

    uint32_t ntypes;
    wasm_type *types;

    uint32_t nimports;
    wasm_import *imports;
    /* Counts of each kind among the imports; imported entities come first
     * in their index space. */
    uint32_t nfunc_imports, ntable_imports, nmemory_imports, nglobal_imports;

    uint32_t nfuncs;        /* total: imported + defined */
    uint32_t *func_types;   /* nfuncs entries: type index of every function */
    uint32_t nfunc_defs;
    wasm_func_def *func_defs;

    uint32_t ntables;       /* total */
    wasm_table_def *tables; /* ntables entries, imported ones included */
    uint32_t nmemories;     /* total */
    wasm_limits *memories;  /* nmemories entries, imported ones included */
    uint32_t nglobals;      /* total */
    wasm_global_def *globals; /* nglobals entries; imported: init unused */

    uint32_t nexports;
    wasm_export *exports;

    bool has_start;
    uint32_t start;

    uint32_t nelems;
    wasm_elem_segment *elems;

    bool has_data_count;
    uint32_t data_count;
    uint32_t ndatas;
    wasm_data_segment *datas;

    /* Functions referenced outside function bodies (exports, element
     * segments, global inits): the only ones `ref.func` may name. */
    uint8_t *func_declared; /* nfuncs flags */

    uint32_t ncustoms;
    wasm_custom_section *customs;

    /* From the "name" section (subsection 1), sorted by index. */
    uint32_t nfunc_names;
    wasm_name_entry *func_names;
    char *module_name;      /* subsection 0, or NULL */

    /* DWARF line table (debug_line.c), built lazily on first lookup. */
    struct wasm_line_table *lines;
    atomic_int lines_state;  /* 0 not built, 1 building, 2 built */

    /* Offset in bytes of the code section's contents (just after its id
     * and size; DWARF addresses count from there), 0 when there is none. */
    uint32_t code_section_start;

    /* Small allocations (names, type arrays, local types, segment items)
     * come from this arena, freed as a whole (module.c). */
    struct wasm_arena_block *arena;
};

/* decode.c: fills `m` (already zeroed, bytes/size set) from m->bytes.
 * Checks everything the binary format and the structure of sections say
 * (section order, sizes, counts, LEB128 ranges, limits, const expressions'
 * types against the global/table/memory counts, export name uniqueness,
 * function/code count agreement, data count); function bodies are left for
 * compile.c. Returns false with err filled (message and offset). */
bool wasm_decode(struct wasm_module *m, wasm_error *err);

/* compile.c: validates and compiles every function body. */
bool wasm_compile(struct wasm_module *m, wasm_error *err);
/* compile.c: validates every body without keeping code. */
bool wasm_validate_bodies(struct wasm_module *m, wasm_error *err);

/* compile.c: frees the compiled code of one function. */
void wasm_code_free(struct wasm_code *code);

/* debug_line.c */
void wasm_line_table_free(struct wasm_line_table *table);

/* module.c */
void wasm_module_free_contents(struct wasm_module *m);
/* Zeroed memory owned by the module's arena (8-byte aligned), or NULL when
 * out of memory. Freed with the module. */
void *wasm_module_alloc(struct wasm_module *m, size_t size);
/* A NUL-terminated copy of [s, s+len) in the module's arena, or NULL. */
char *wasm_module_strndup(struct wasm_module *m, const uint8_t *s, size_t len);
void wasm_error_set(wasm_error *err, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void wasm_error_set_nooffset(wasm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Function type of function `index` (imported or defined). */
static inline const wasm_type *wasm_module_functype(const struct wasm_module *m, uint32_t index)
{
    return &m->types[m->func_types[index]];
}

/* LEB128 readers shared by decode.c and compile.c. Each reads from
 * [*p, end), advances *p and returns false on malformed input (too long,
 * unused bits set, or past the end) with *why set to the spec's message
 * ("integer representation too long", "integer too large", "unexpected end"). */
bool wasm_read_u32(const uint8_t **p, const uint8_t *end, uint32_t *out, const char **why);
bool wasm_read_s32(const uint8_t **p, const uint8_t *end, int32_t *out, const char **why);
bool wasm_read_s33(const uint8_t **p, const uint8_t *end, int64_t *out, const char **why);
bool wasm_read_s64(const uint8_t **p, const uint8_t *end, int64_t *out, const char **why);

#endif
