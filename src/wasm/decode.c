/*
 * decode.c - the binary format of a WebAssembly 2.0 module, and the
 * validation of everything outside function bodies.
 *
 * One pass over the bytes, section by section. Every read is bounded by
 * the end of the current section (or function body), and every count is
 * checked against the bytes left before anything is allocated: each entry
 * of every vector takes at least one byte, so a count larger than the
 * bytes left is malformed, and hostile counts never drive allocations
 * beyond a small multiple of the module's size.
 *
 * Error messages are the spec test suite's where it has one, so that
 * assert_malformed / assert_invalid can compare them; every error carries
 * the byte offset where it was found.
 *
 * Function bodies: only their local declarations and their final `end`
 * byte are checked here; compile.c decodes and validates the instructions.
 */
#include "wasm/module.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cursor over [p, end); start is the module's first byte, for offsets. */
struct reader {
    const uint8_t *p;
    const uint8_t *start;
    const uint8_t *end;
};

struct decoder {
    struct wasm_module *m;
    wasm_error *err;
    const uint8_t *file_end;
    bool in_section;        /* picks the "unexpected end" message */
    int last_order;         /* order of the last non-custom section read */
    bool seen_code;
    bool seen_data;
    bool seen_name;         /* the first "name" section was found */
    const uint8_t *name_section;
    const uint8_t *name_section_end;
    uint32_t customs_cap;
    uint64_t module_locals; /* declared locals of all bodies so far */
};

static const char MSG_EOF_FILE[] = "unexpected end";
static const char MSG_EOF_SECTION[] = "unexpected end of section or function";

/* ---- errors ---------------------------------------------------------------
 * fail(), fail_eof() and fail_oom() record the error and evaluate to false,
 * visibly to the compiler, so `return fail(...)` ends a read and no output
 * is considered used uninitialised after it. */

__attribute__((format(printf, 3, 4)))
static void report(struct decoder *d, const uint8_t *at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wasm_error_set(d->err, (size_t)(at - d->m->bytes), "%s", msg);
}

static const char *eof_message(const struct decoder *d)
{
    return d->in_section ? MSG_EOF_SECTION : MSG_EOF_FILE;
}

#define fail(...) (report(__VA_ARGS__), false)
#define fail_eof(d, at) fail(d, at, "%s", eof_message(d))
#define fail_oom(d, at) fail(d, at, "out of memory")

/* ---- primitive reads ---------------------------------------------------- */

static size_t remaining(const struct reader *r)
{
    return (size_t)(r->end - r->p);
}

static bool read_byte(struct decoder *d, struct reader *r, uint8_t *out)
{
    if (r->p >= r->end)
        return fail_eof(d, r->p);
    *out = *r->p++;
    return true;
}

static bool read_bytes(struct decoder *d, struct reader *r, size_t n, const uint8_t **out)
{
    if (n > remaining(r))
        return fail_eof(d, r->end);
    *out = r->p;
    r->p += n;
    return true;
}

/*
 * The LEB readers leave r->p at the offending byte on failure. A number
 * cut by the end of its section is reported as what it would be if read
 * on (too long, too large), as the spec's decoder does, which reads past
 * section ends; only a number cut by the end of the file, or one that
 * would be fine, is an unexpected end.
 */
static void report_leb(struct decoder *d, struct reader *r, const uint8_t *start, unsigned bits,
                       bool is_signed, const char *why)
{
    if (strcmp(why, MSG_EOF_FILE) != 0) {
        report(d, r->p, "%s", why);
        return;
    }
    if (r->end < d->file_end) {
        const uint8_t *p = start;
        const char *why2 = NULL;
        uint32_t u32;
        int32_t s32;
        int64_t s64;
        bool ok = !is_signed ? wasm_read_u32(&p, d->file_end, &u32, &why2)
                  : bits == 32 ? wasm_read_s32(&p, d->file_end, &s32, &why2)
                               : wasm_read_s64(&p, d->file_end, &s64, &why2);
        if (!ok && strcmp(why2, MSG_EOF_FILE) != 0) {
            report(d, p, "%s", why2);
            return;
        }
    }
    report(d, r->p, "%s", eof_message(d));
}

#define leb_failed(...) (report_leb(__VA_ARGS__), false)

static bool read_u32(struct decoder *d, struct reader *r, uint32_t *out)
{
    const uint8_t *start = r->p;
    const char *why;
    if (!wasm_read_u32(&r->p, r->end, out, &why))
        return leb_failed(d, r, start, 32, false, why);
    return true;
}

static bool read_s32(struct decoder *d, struct reader *r, int32_t *out)
{
    const uint8_t *start = r->p;
    const char *why;
    if (!wasm_read_s32(&r->p, r->end, out, &why))
        return leb_failed(d, r, start, 32, true, why);
    return true;
}

static bool read_s64(struct decoder *d, struct reader *r, int64_t *out)
{
    const uint8_t *start = r->p;
    const char *why;
    if (!wasm_read_s64(&r->p, r->end, out, &why))
        return leb_failed(d, r, start, 64, true, why);
    return true;
}

static uint64_t load_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A vector length. Every entry takes at least one byte, so more entries
 * than bytes left cannot be there: fail before anything is allocated. */
static bool read_count(struct decoder *d, struct reader *r, uint32_t max, const char *what,
                       uint32_t *out)
{
    const uint8_t *at = r->p;
    if (!read_u32(d, r, out))
        return false;
    if (*out > remaining(r))
        return fail_eof(d, r->end);
    if (*out > max)
        return fail(d, at, "too many %s (%u; the limit is %u)", what, *out, max);
    return true;
}

/* ---- names ---------------------------------------------------------------- */

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and code points past Unicode. */
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* A name: length, UTF-8 bytes; copied NUL-terminated into the arena. */
static bool read_name(struct decoder *d, struct reader *r, char **out, uint32_t *len)
{
    const uint8_t *at = r->p;
    const uint8_t *bytes;
    if (!read_u32(d, r, len) || !read_bytes(d, r, *len, &bytes))
        return false;
    if (!utf8_valid(bytes, *len))
        return fail(d, at, "malformed UTF-8 encoding");
    *out = wasm_module_strndup(d->m, bytes, *len);
    if (!*out)
        return fail_oom(d, at);
    return true;
}

/* ---- types ---------------------------------------------------------------- */

static bool is_reftype(uint8_t t)
{
    return t == WASM_FUNCREF || t == WASM_EXTERNREF;
}

static bool is_valtype(uint8_t t)
{
    switch (t) {
    case WASM_I32:
    case WASM_I64:
    case WASM_F32:
    case WASM_F64:
    case WASM_V128:
    case WASM_FUNCREF:
    case WASM_EXTERNREF:
        return true;
    default:
        return false;
    }
}

/* Type codes are one-byte signed LEB128 numbers in the spec's grammar: a
 * continuation bit makes them too long rather than unknown. */
static bool read_type_code(struct decoder *d, struct reader *r, uint8_t *out, bool (*valid)(uint8_t),
                           const char *what)
{
    const uint8_t *at = r->p;
    if (!read_byte(d, r, out))
        return false;
    if (valid(*out))
        return true;
    if (*out & 0x80)
        return fail(d, at, "integer representation too long");
    return fail(d, at, "malformed %s 0x%02x", what, *out);
}

static bool read_valtype(struct decoder *d, struct reader *r, uint8_t *out)
{
    return read_type_code(d, r, out, is_valtype, "value type");
}

static bool read_reftype(struct decoder *d, struct reader *r, uint8_t *out)
{
    return read_type_code(d, r, out, is_reftype, "reference type");
}

static bool is_functype_form(uint8_t b)
{
    return b == 0x60;
}

static bool read_mutability(struct decoder *d, struct reader *r, bool *out)
{
    const uint8_t *at = r->p;
    uint8_t b;
    if (!read_byte(d, r, &b))
        return false;
    if (b > 1)
        return fail(d, at, "malformed mutability");
    *out = b == 1;
    return true;
}

/* Table limits when !is_memory; memory limits (in pages) otherwise. */
static bool read_limits(struct decoder *d, struct reader *r, wasm_limits *lim, bool is_memory)
{
    const uint8_t *at = r->p;
    uint8_t flags;
    if (!read_byte(d, r, &flags))
        return false;
    /* The spec reads the flag as a 1-bit LEB128 number. */
    if ((flags & 0x7f) > 1)
        return fail(d, at, "integer too large (limits flags 0x%02x)", flags);
    if (flags & 0x80)
        return fail(d, at, "integer representation too long (limits flags)");
    lim->has_max = flags == 1;
    lim->max = 0;
    if (!read_u32(d, r, &lim->min))
        return false;
    if (lim->has_max && !read_u32(d, r, &lim->max))
        return false;
    /* The spec checks the range before the order. */
    if (is_memory && (lim->min > WASM_MAX_PAGES || (lim->has_max && lim->max > WASM_MAX_PAGES)))
        return fail(d, at, "memory size must be at most 65536 pages (4GiB)");
    if (lim->has_max && lim->min > lim->max)
        return fail(d, at, "size minimum must not be greater than maximum");
    return true;
}

/* ---- index spaces ----------------------------------------------------------- */

/* Resizes *arr to n entries of `size` bytes; the new entries are zeroed. */
static bool resize_array(void **arr, size_t old_n, size_t n, size_t size)
{
    if (n == 0)
        return true;
    void *p = realloc(*arr, n * size);
    if (!p)
        return false;
    if (n > old_n)
        memset((char *)p + old_n * size, 0, (n - old_n) * size);
    *arr = p;
    return true;
}

static bool mark_declared(struct decoder *d, const uint8_t *at, uint32_t func_index)
{
    struct wasm_module *m = d->m;
    /* Every section that can reference a function comes after the
     * function section, so nfuncs is final here. */
    if (!m->func_declared) {
        m->func_declared = calloc(m->nfuncs ? m->nfuncs : 1, 1);
        if (!m->func_declared)
            return fail_oom(d, at);
    }
    m->func_declared[func_index] = 1;
    return true;
}

static bool read_func_index(struct decoder *d, struct reader *r, uint32_t *out)
{
    const uint8_t *at = r->p;
    if (!read_u32(d, r, out))
        return false;
    if (*out >= d->m->nfuncs)
        return fail(d, at, "unknown function %u", *out);
    return true;
}

static bool read_type_index(struct decoder *d, struct reader *r, uint32_t *out)
{
    const uint8_t *at = r->p;
    if (!read_u32(d, r, out))
        return false;
    if (*out >= d->m->ntypes)
        return fail(d, at, "unknown type %u", *out);
    return true;
}

/* ---- constant expressions ------------------------------------------------- */

/* Whether `op` starts some Wasm 2.0 instruction (for the "illegal opcode"
 * versus "constant expression required" distinction). */
static bool is_known_opcode(uint8_t op)
{
    return op <= 0x05 || (op >= 0x0b && op <= 0x11) || (op >= 0x1a && op <= 0x1c) ||
           (op >= 0x20 && op <= 0x26) || (op >= 0x28 && op <= 0xc4) ||
           (op >= 0xd0 && op <= 0xd2) || op == 0xfc || op == 0xfd;
}

/* Reads one instruction of a constant expression into *out. */
static bool read_const_instr(struct decoder *d, struct reader *r, uint8_t op, const uint8_t *at,
                             wasm_constexpr *out)
{
    struct wasm_module *m = d->m;
    const uint8_t *imm;
    memset(out, 0, sizeof *out);

    switch (op) {
    case 0x41: { /* i32.const */
        int32_t v;
        if (!read_s32(d, r, &v))
            return false;
        out->op = WASM_CONST_I32, out->type = WASM_I32;
        out->bits[0] = (uint32_t)v;
        return true;
    }
    case 0x42: { /* i64.const */
        int64_t v;
        if (!read_s64(d, r, &v))
            return false;
        out->op = WASM_CONST_I64, out->type = WASM_I64;
        out->bits[0] = (uint64_t)v;
        return true;
    }
    case 0x43: /* f32.const */
        if (!read_bytes(d, r, 4, &imm))
            return false;
        out->op = WASM_CONST_F32, out->type = WASM_F32;
        out->bits[0] = load_le(imm, 4);
        return true;
    case 0x44: /* f64.const */
        if (!read_bytes(d, r, 8, &imm))
            return false;
        out->op = WASM_CONST_F64, out->type = WASM_F64;
        out->bits[0] = load_le(imm, 8);
        return true;
    case 0xd0: /* ref.null t */
        if (!read_reftype(d, r, &out->type))
            return false;
        out->op = WASM_CONST_REF_NULL;
        return true;
    case 0xd2: /* ref.func x: the expression also declares x */
        if (!read_func_index(d, r, &out->index) || !mark_declared(d, at, out->index))
            return false;
        out->op = WASM_CONST_REF_FUNC, out->type = WASM_FUNCREF;
        return true;
    case 0x23: { /* global.get x: Wasm 2.0 allows immutable imports only */
        const uint8_t *idx_at = r->p;
        if (!read_u32(d, r, &out->index))
            return false;
        if (out->index >= m->nglobal_imports)
            return fail(d, idx_at, "unknown global %u", out->index);
        if (m->globals[out->index].mutable_)
            return fail(d, at, "constant expression required");
        out->op = WASM_CONST_GLOBAL_GET;
        out->type = m->globals[out->index].type;
        return true;
    }
    case 0xfd: { /* SIMD prefix: only v128.const (12) is constant */
        uint32_t sub;
        if (!read_u32(d, r, &sub))
            return false;
        if (sub != 12)
            return fail(d, at, "constant expression required");
        if (!read_bytes(d, r, 16, &imm))
            return false;
        out->op = WASM_CONST_V128, out->type = WASM_V128;
        out->bits[0] = load_le(imm, 8);
        out->bits[1] = load_le(imm + 8, 8);
        return true;
    }
    case 0xfc: { /* misc prefix: 0..17 exist in Wasm 2.0, none is constant */
        uint32_t sub;
        if (!read_u32(d, r, &sub))
            return false;
        if (sub > 17)
            return fail(d, at, "illegal opcode 0xfc %u", sub);
        return fail(d, at, "constant expression required");
    }
    default:
        if (is_known_opcode(op))
            return fail(d, at, "constant expression required");
        return fail(d, at, "illegal opcode 0x%02x", op);
    }
}

/* A constant expression producing one value of type `expected`. */
static bool read_const_expr(struct decoder *d, struct reader *r, uint8_t expected,
                            wasm_constexpr *out)
{
    const uint8_t *start = r->p;
    uint32_t n = 0;
    for (;;) {
        const uint8_t *at = r->p;
        uint8_t op;
        if (!read_byte(d, r, &op))
            return false;
        if (op == 0x0b) /* end */
            break;
        /* Later instructions are checked but not kept: more than one
         * value is a type error reported at the end. */
        wasm_constexpr tmp;
        if (!read_const_instr(d, r, op, at, n == 0 ? out : &tmp))
            return false;
        n++;
    }
    if (n != 1 || out->type != expected)
        return fail(d, start, "type mismatch");
    return true;
}

/* ---- sections --------------------------------------------------------------- */

static bool decode_types(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    uint32_t n;
    if (!read_count(d, r, WASM_MAX_TYPES, "types", &n))
        return false;
    if (n == 0)
        return true;
    m->types = calloc(n, sizeof *m->types);
    if (!m->types)
        return fail_oom(d, r->p);
    m->ntypes = n;

    for (uint32_t i = 0; i < n; i++) {
        wasm_type *t = &m->types[i];
        const uint8_t *at = r->p;
        uint8_t form;
        if (!read_type_code(d, r, &form, is_functype_form, "function type"))
            return false;

        uint32_t np, nr;
        if (!read_count(d, r, WASM_MAX_PARAMS, "parameters", &np))
            return false;
        const uint8_t *params = r->p;
        for (uint32_t k = 0; k < np; k++) {
            uint8_t vt;
            if (!read_valtype(d, r, &vt))
                return false;
        }
        if (!read_count(d, r, WASM_MAX_RESULTS, "results", &nr))
            return false;
        const uint8_t *results = r->p;
        for (uint32_t k = 0; k < nr; k++) {
            uint8_t vt;
            if (!read_valtype(d, r, &vt))
                return false;
        }
        /* Value types are single bytes, so the validated bytes are the
         * wasm_valtype values themselves. */
        t->types = wasm_module_alloc(m, (size_t)np + nr);
        if (!t->types)
            return fail_oom(d, at);
        memcpy(t->types, params, np);
        memcpy(t->types + np, results, nr);
        t->nparams = np;
        t->nresults = nr;
    }
    return true;
}

static bool read_import_desc(struct decoder *d, struct reader *r, wasm_import *imp)
{
    const uint8_t *at = r->p;
    uint8_t kind;
    if (!read_byte(d, r, &kind))
        return false;
    imp->kind = kind;
    switch (kind) {
    case WASM_EXTERN_FUNC:
        return read_type_index(d, r, &imp->type_index);
    case WASM_EXTERN_TABLE:
        return read_reftype(d, r, &imp->elem_type) && read_limits(d, r, &imp->limits, false);
    case WASM_EXTERN_MEMORY:
        return read_limits(d, r, &imp->limits, true);
    case WASM_EXTERN_GLOBAL:
        return read_valtype(d, r, &imp->global_type) &&
               read_mutability(d, r, &imp->global_mutable);
    default:
        return fail(d, at, "malformed import kind");
    }
}

/* Imported entities come first in each index space. */
static bool build_imported_spaces(struct decoder *d, const uint8_t *at)
{
    struct wasm_module *m = d->m;
    if (m->nfunc_imports && !(m->func_types = calloc(m->nfunc_imports, sizeof *m->func_types)))
        return fail_oom(d, at);
    if (m->ntable_imports && !(m->tables = calloc(m->ntable_imports, sizeof *m->tables)))
        return fail_oom(d, at);
    if (m->nmemory_imports && !(m->memories = calloc(m->nmemory_imports, sizeof *m->memories)))
        return fail_oom(d, at);
    if (m->nglobal_imports && !(m->globals = calloc(m->nglobal_imports, sizeof *m->globals)))
        return fail_oom(d, at);

    for (uint32_t i = 0; i < m->nimports; i++) {
        const wasm_import *imp = &m->imports[i];
        switch (imp->kind) {
        case WASM_EXTERN_FUNC:
            m->func_types[m->nfuncs++] = imp->type_index;
            break;
        case WASM_EXTERN_TABLE:
            m->tables[m->ntables].elem_type = imp->elem_type;
            m->tables[m->ntables++].limits = imp->limits;
            break;
        case WASM_EXTERN_MEMORY:
            m->memories[m->nmemories++] = imp->limits;
            break;
        case WASM_EXTERN_GLOBAL:
            m->globals[m->nglobals].type = imp->global_type;
            m->globals[m->nglobals++].mutable_ = imp->global_mutable;
            break;
        }
    }
    return true;
}

static bool decode_imports(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    uint32_t n;
    if (!read_count(d, r, WASM_MAX_IMPORTS, "imports", &n))
        return false;
    if (n == 0)
        return true;
    m->imports = calloc(n, sizeof *m->imports);
    if (!m->imports)
        return fail_oom(d, r->p);
    m->nimports = n;

    for (uint32_t i = 0; i < n; i++) {
        wasm_import *imp = &m->imports[i];
        const uint8_t *at = r->p;
        if (!read_name(d, r, &imp->module, &imp->module_len) ||
            !read_name(d, r, &imp->name, &imp->name_len) || !read_import_desc(d, r, imp))
            return false;
        switch (imp->kind) {
        case WASM_EXTERN_FUNC:
            m->nfunc_imports++;
            break;
        case WASM_EXTERN_TABLE:
            m->ntable_imports++;
            break;
        case WASM_EXTERN_MEMORY:
            if (++m->nmemory_imports > WASM_MAX_MEMORIES)
                return fail(d, at, "multiple memories");
            break;
        case WASM_EXTERN_GLOBAL:
            m->nglobal_imports++;
            break;
        }
    }
    return build_imported_spaces(d, r->p);
}

static bool decode_functions(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    uint32_t n;
    if (!read_count(d, r, WASM_MAX_FUNCS - m->nfuncs, "functions", &n))
        return false;
    if (n == 0)
        return true;
    m->func_defs = calloc(n, sizeof *m->func_defs);
    if (!m->func_defs || !resize_array((void **)&m->func_types, m->nfuncs, (size_t)m->nfuncs + n,
                                       sizeof *m->func_types))
        return fail_oom(d, r->p);
    m->nfunc_defs = n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t type;
        if (!read_type_index(d, r, &type))
            return false;
        m->func_defs[i].type_index = type;
        m->func_types[m->nfuncs++] = type;
    }
    return true;
}

static bool decode_tables(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    uint32_t n;
    if (!read_count(d, r, WASM_MAX_TABLES - m->ntables, "tables", &n))
        return false;
    if (!resize_array((void **)&m->tables, m->ntables, (size_t)m->ntables + n, sizeof *m->tables))
        return fail_oom(d, r->p);
    for (uint32_t i = 0; i < n; i++) {
        wasm_table_def *t = &m->tables[m->ntables];
        if (!read_reftype(d, r, &t->elem_type) || !read_limits(d, r, &t->limits, false))
            return false;
        m->ntables++;
    }
    return true;
}

static bool decode_memories(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    const uint8_t *at = r->p;
    uint32_t n;
    if (!read_count(d, r, UINT32_MAX, "memories", &n))
        return false;
    if ((uint64_t)m->nmemories + n > WASM_MAX_MEMORIES)
        return fail(d, at, "multiple memories");
    if (!resize_array((void **)&m->memories, m->nmemories, (size_t)m->nmemories + n,
                      sizeof *m->memories))
        return fail_oom(d, r->p);
    for (uint32_t i = 0; i < n; i++) {
        if (!read_limits(d, r, &m->memories[m->nmemories], true))
            return false;
        m->nmemories++;
    }
    return true;
}

static bool decode_globals(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    uint32_t n;
    if (!read_count(d, r, WASM_MAX_GLOBALS - m->nglobals, "globals", &n))
        return false;
    if (!resize_array((void **)&m->globals, m->nglobals, (size_t)m->nglobals + n,
                      sizeof *m->globals))
        return fail_oom(d, r->p);
    for (uint32_t i = 0; i < n; i++) {
        wasm_global_def *g = &m->globals[m->nglobals];
        if (!read_valtype(d, r, &g->type) || !read_mutability(d, r, &g->mutable_) ||
            !read_const_expr(d, r, g->type, &g->init))
            return false;
        m->nglobals++;
    }
    return true;
}

/* ---- exports ---------------------------------------------------------------- */

static uint32_t hash_name(const char *s, uint32_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Open addressing over export indices (+1; 0 is empty). */
struct name_set {
    uint32_t *slots;
    uint32_t mask;
};

/* Returns false when an export with the same name is already there. */
static bool name_set_insert(struct name_set *set, const wasm_export *exports, uint32_t i)
{
    const wasm_export *e = &exports[i];
    uint32_t h = hash_name(e->name, e->name_len) & set->mask;
    while (set->slots[h]) {
        const wasm_export *o = &exports[set->slots[h] - 1];
        if (o->name_len == e->name_len && memcmp(o->name, e->name, e->name_len) == 0)
            return false;
        h = (h + 1) & set->mask;
    }
    set->slots[h] = i + 1;
    return true;
}

static bool check_export_index(struct decoder *d, const uint8_t *at, const wasm_export *e)
{
    struct wasm_module *m = d->m;
    switch (e->kind) {
    case WASM_EXTERN_FUNC:
        if (e->index >= m->nfuncs)
            return fail(d, at, "unknown function %u", e->index);
        return mark_declared(d, at, e->index);
    case WASM_EXTERN_TABLE:
        if (e->index >= m->ntables)
            return fail(d, at, "unknown table %u", e->index);
        return true;
    case WASM_EXTERN_MEMORY:
        if (e->index >= m->nmemories)
            return fail(d, at, "unknown memory %u", e->index);
        return true;
    default:
        if (e->index >= m->nglobals)
            return fail(d, at, "unknown global %u", e->index);
        return true;
    }
}

static bool read_export(struct decoder *d, struct reader *r, struct name_set *names, uint32_t i)
{
    wasm_export *e = &d->m->exports[i];
    const uint8_t *name_at = r->p;
    if (!read_name(d, r, &e->name, &e->name_len))
        return false;
    const uint8_t *at = r->p;
    uint8_t kind;
    if (!read_byte(d, r, &kind))
        return false;
    if (kind > WASM_EXTERN_GLOBAL)
        return fail(d, at, "malformed export kind");
    e->kind = kind;
    const uint8_t *index_at = r->p;
    if (!read_u32(d, r, &e->index) || !check_export_index(d, index_at, e))
        return false;
    if (!name_set_insert(names, d->m->exports, i))
        return fail(d, name_at, "duplicate export name");
    return true;
}

static bool decode_exports(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    uint32_t n;
    if (!read_count(d, r, WASM_MAX_EXPORTS, "exports", &n))
        return false;
    if (n == 0)
        return true;
    m->exports = calloc(n, sizeof *m->exports);
    uint32_t cap = 1;
    while (cap < 2 * n)
        cap *= 2;
    struct name_set names = {calloc(cap, sizeof(uint32_t)), cap - 1};
    bool ok = m->exports && names.slots ? true : fail_oom(d, r->p);
    if (ok)
        m->nexports = n;
    for (uint32_t i = 0; ok && i < n; i++)
        ok = read_export(d, r, &names, i);
    free(names.slots);
    return ok;
}

static bool decode_start(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    const uint8_t *at = r->p;
    if (!read_func_index(d, r, &m->start))
        return false;
    const wasm_type *t = wasm_module_functype(m, m->start);
    if (t->nparams != 0 || t->nresults != 0)
        return fail(d, at, "start function must have type [] -> [] (function %u)", m->start);
    m->has_start = true;
    return true;
}

/* ---- element segments ----------------------------------------------------- */

/* The items of a segment: function indices (flags 0-3) or expressions. */
static bool read_elem_items(struct decoder *d, struct reader *r, wasm_elem_segment *seg,
                            bool exprs)
{
    if (!read_count(d, r, UINT32_MAX, "elements", &seg->count))
        return false;
    seg->items = wasm_module_alloc(d->m, (size_t)seg->count * sizeof *seg->items);
    if (!seg->items)
        return fail_oom(d, r->p);
    for (uint32_t i = 0; i < seg->count; i++) {
        wasm_constexpr *item = &seg->items[i];
        if (exprs) {
            if (!read_const_expr(d, r, seg->elem_type, item))
                return false;
            continue;
        }
        const uint8_t *at = r->p;
        if (!read_func_index(d, r, &item->index) || !mark_declared(d, at, item->index))
            return false;
        item->op = WASM_CONST_REF_FUNC;
        item->type = WASM_FUNCREF;
    }
    return true;
}

/*
 * Flags: bit 0 set: passive or declarative (bit 1 picks declarative);
 * clear: active, with an explicit table index when bit 1 is set. Bit 2:
 * items are expressions with a reference type, instead of function
 * indices with an element kind. Flags 0 and 4 imply table 0 and funcref.
 */
static bool read_elem_segment(struct decoder *d, struct reader *r, wasm_elem_segment *seg)
{
    struct wasm_module *m = d->m;
    const uint8_t *at = r->p;
    uint32_t flags;
    if (!read_u32(d, r, &flags))
        return false;
    if (flags > 7)
        return fail(d, at, "malformed elements segment kind %u", flags);
    bool passive_or_declarative = flags & 1;
    bool bit1 = flags & 2;
    bool exprs = flags & 4;

    seg->mode = !passive_or_declarative ? WASM_SEG_ACTIVE
                : bit1                 ? WASM_SEG_DECLARATIVE
                                       : WASM_SEG_PASSIVE;
    seg->elem_type = WASM_FUNCREF;
    if (seg->mode == WASM_SEG_ACTIVE) {
        const uint8_t *table_at = bit1 ? r->p : at;
        if (bit1 && !read_u32(d, r, &seg->table_index))
            return false;
        if (seg->table_index >= m->ntables)
            return fail(d, table_at, "unknown table %u", seg->table_index);
        if (!read_const_expr(d, r, WASM_I32, &seg->offset))
            return false;
    }
    if (flags & 3) { /* an explicit element kind or reference type */
        const uint8_t *kind_at = r->p;
        if (exprs) {
            if (!read_reftype(d, r, &seg->elem_type))
                return false;
        } else {
            uint8_t kind;
            if (!read_byte(d, r, &kind))
                return false;
            if (kind != 0x00)
                return fail(d, kind_at, "malformed element kind 0x%02x", kind);
        }
    }
    if (seg->mode == WASM_SEG_ACTIVE && m->tables[seg->table_index].elem_type != seg->elem_type)
        return fail(d, at, "type mismatch: %s segment for a table of %s",
                    wasm_valtype_name(seg->elem_type),
                    wasm_valtype_name(m->tables[seg->table_index].elem_type));
    return read_elem_items(d, r, seg, exprs);
}

static bool decode_elems(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    uint32_t n;
    if (!read_count(d, r, WASM_MAX_SEGMENTS, "element segments", &n))
        return false;
    if (n == 0)
        return true;
    m->elems = calloc(n, sizeof *m->elems);
    if (!m->elems)
        return fail_oom(d, r->p);
    m->nelems = n;
    for (uint32_t i = 0; i < n; i++) {
        if (!read_elem_segment(d, r, &m->elems[i]))
            return false;
    }
    return true;
}

static bool decode_data_count(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    const uint8_t *at = r->p;
    if (!read_u32(d, r, &m->data_count))
        return false;
    if (m->data_count > WASM_MAX_SEGMENTS)
        return fail(d, at, "too many data segments (%u; the limit is %u)", m->data_count,
                    WASM_MAX_SEGMENTS);
    m->has_data_count = true;
    return true;
}

/* ---- code ------------------------------------------------------------------- */

/* The local declarations of one body: (count, type) groups. */
static bool read_locals(struct decoder *d, struct reader *r, wasm_func_def *f)
{
    struct wasm_module *m = d->m;
    uint32_t ngroups;
    if (!read_count(d, r, UINT32_MAX, "local groups", &ngroups))
        return false;

    /* First pass: validate and count, so that one exact allocation holds
     * the expanded types. */
    const uint8_t *groups = r->p;
    uint64_t total = m->types[f->type_index].nparams;
    for (uint32_t g = 0; g < ngroups; g++) {
        const uint8_t *at = r->p;
        uint32_t count;
        uint8_t type;
        if (!read_u32(d, r, &count) || !read_valtype(d, r, &type))
            return false;
        total += count;
        if (total > WASM_MAX_LOCALS)
            return fail(d, at, "too many locals (the limit is %u)", WASM_MAX_LOCALS);
    }
    uint32_t nlocals = (uint32_t)(total - m->types[f->type_index].nparams);
    d->module_locals += nlocals;
    if (d->module_locals > WASM_MAX_MODULE_LOCALS)
        return fail(d, groups, "too many locals in the module (the limit is %u)",
                    WASM_MAX_MODULE_LOCALS);

    f->local_types = wasm_module_alloc(m, nlocals);
    if (!f->local_types)
        return fail_oom(d, groups);
    f->nlocals = nlocals;

    /* Second pass over the groups already validated. */
    const uint8_t *p = groups;
    uint32_t k = 0;
    for (uint32_t g = 0; g < ngroups; g++) {
        uint32_t count;
        const char *why;
        wasm_read_u32(&p, r->p, &count, &why);
        uint8_t type = *p++;
        memset(f->local_types + k, type, count);
        k += count;
    }
    return true;
}

static bool read_body(struct decoder *d, struct reader *r, wasm_func_def *f)
{
    f->size_offset = (uint32_t)(r->p - r->start);
    uint32_t size;
    if (!read_u32(d, r, &size))
        return false;
    if (size > remaining(r))
        return fail_eof(d, r->end);
    struct reader body = {r->p, r->start, r->p + size};
    r->p += size;

    if (!read_locals(d, &body, f))
        return false;
    f->body_offset = (uint32_t)(body.p - body.start);
    f->body_end = (uint32_t)(body.end - body.start);

    /* compile.c decodes the instructions; a body whose last byte is not
     * `end` is malformed whatever they are. The message follows the
     * spec's reading, which goes on past the declared size. */
    if (body.p == body.end || body.end[-1] != 0x0b) {
        if (body.end == d->file_end)
            return fail(d, body.end, "%s", MSG_EOF_SECTION);
        if (body.end == r->end)
            return fail(d, body.end, "section size mismatch");
        return fail(d, body.end, "END opcode expected");
    }
    return true;
}

static bool decode_code(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    const uint8_t *at = r->p;
    uint32_t n;
    if (!read_count(d, r, UINT32_MAX, "function bodies", &n))
        return false;
    if (n != m->nfunc_defs)
        return fail(d, at, "function and code section have inconsistent lengths");
    for (uint32_t i = 0; i < n; i++) {
        if (!read_body(d, r, &m->func_defs[i]))
            return false;
    }
    return true;
}

/* ---- data segments -------------------------------------------------------- */

static bool read_data_segment(struct decoder *d, struct reader *r, wasm_data_segment *seg)
{
    struct wasm_module *m = d->m;
    const uint8_t *at = r->p;
    uint32_t flags;
    if (!read_u32(d, r, &flags))
        return false;
    if (flags > 2)
        return fail(d, at, "malformed data segment kind %u", flags);
    seg->mode = flags == 1 ? WASM_SEG_PASSIVE : WASM_SEG_ACTIVE;
    if (seg->mode == WASM_SEG_ACTIVE) {
        const uint8_t *mem_at = flags == 2 ? r->p : at;
        if (flags == 2 && !read_u32(d, r, &seg->memory_index))
            return false;
        if (seg->memory_index >= m->nmemories)
            return fail(d, mem_at, "unknown memory %u", seg->memory_index);
        if (!read_const_expr(d, r, WASM_I32, &seg->offset))
            return false;
    }
    if (!read_u32(d, r, &seg->size) || !read_bytes(d, r, seg->size, &seg->bytes))
        return false;
    return true;
}

static bool decode_datas(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    const uint8_t *at = r->p;
    uint32_t n;
    if (!read_count(d, r, WASM_MAX_SEGMENTS, "data segments", &n))
        return false;
    if (m->has_data_count && n != m->data_count)
        return fail(d, at, "data count and data section have inconsistent lengths");
    if (n == 0)
        return true;
    m->datas = calloc(n, sizeof *m->datas);
    if (!m->datas)
        return fail_oom(d, r->p);
    m->ndatas = n;
    for (uint32_t i = 0; i < n; i++) {
        if (!read_data_segment(d, r, &m->datas[i]))
            return false;
    }
    return true;
}

/* ---- custom sections ------------------------------------------------------ */

static bool decode_custom(struct decoder *d, struct reader *r)
{
    struct wasm_module *m = d->m;
    wasm_custom_section c;
    if (!read_name(d, r, &c.name, &c.name_len))
        return false;
    c.data = r->p;
    c.size = (uint32_t)remaining(r);
    r->p = r->end;

    if (m->ncustoms == d->customs_cap) {
        uint32_t cap = d->customs_cap ? 2 * d->customs_cap : 4;
        if (!resize_array((void **)&m->customs, m->ncustoms, cap, sizeof *m->customs))
            return fail_oom(d, c.data);
        d->customs_cap = cap;
    }
    m->customs[m->ncustoms++] = c;

    if (!d->seen_name && c.name_len == 4 && memcmp(c.name, "name", 4) == 0) {
        d->seen_name = true;
        d->name_section = c.data;
        d->name_section_end = c.data + c.size;
    }
    return true;
}

/* ---- the "name" section -----------------------------------------------------
 * Debug information only: anything wrong in it stops its parsing and
 * keeps what was read so far, but never fails the module. */

static bool name_read_u32(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    const char *why;
    return wasm_read_u32(p, end, out, &why);
}

static bool name_read_string(struct wasm_module *m, const uint8_t **p, const uint8_t *end,
                             char **out)
{
    uint32_t len;
    if (!name_read_u32(p, end, &len) || len > (size_t)(end - *p) || !utf8_valid(*p, len))
        return false;
    *out = wasm_module_strndup(m, *p, len);
    *p += len;
    return *out != NULL;
}

static int compare_name_entries(const void *a, const void *b)
{
    uint32_t x = ((const wasm_name_entry *)a)->index;
    uint32_t y = ((const wasm_name_entry *)b)->index;
    return x < y ? -1 : x > y;
}

static void read_function_names(struct wasm_module *m, const uint8_t *p, const uint8_t *end)
{
    uint32_t n;
    if (m->func_names || !name_read_u32(&p, end, &n) || n == 0 || n > (size_t)(end - p))
        return;
    m->func_names = calloc(n, sizeof *m->func_names);
    if (!m->func_names)
        return;
    bool sorted = true;
    for (uint32_t i = 0; i < n; i++) {
        wasm_name_entry e;
        if (!name_read_u32(&p, end, &e.index) || !name_read_string(m, &p, end, &e.name))
            break;
        if (e.index >= m->nfuncs)
            continue;
        if (m->nfunc_names && m->func_names[m->nfunc_names - 1].index >= e.index)
            sorted = false;
        m->func_names[m->nfunc_names++] = e;
    }
    /* The spec asks for increasing indices; lookups need them sorted. */
    if (!sorted)
        qsort(m->func_names, m->nfunc_names, sizeof *m->func_names, compare_name_entries);
}

static void decode_name_section(struct wasm_module *m, const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        uint8_t id = *p++;
        uint32_t size;
        if (!name_read_u32(&p, end, &size) || size > (size_t)(end - p))
            return;
        const uint8_t *sub = p, *sub_end = p + size;
        if (id == 0 && !m->module_name)
            name_read_string(m, &sub, sub_end, &m->module_name);
        else if (id == 1)
            read_function_names(m, sub, sub_end);
        p = sub_end;
    }
}

/* ---- the module ------------------------------------------------------------- */

/* Position of a section id in the required order; the data count section
 * (12) sits between the element (9) and code (10) sections. */
static int section_order(uint8_t id)
{
    switch (id) {
    case 12: return 10;
    case 10: return 11;
    case 11: return 12;
    default: return id;
    }
}

static bool decode_section(struct decoder *d, uint8_t id, struct reader *r)
{
    switch (id) {
    case 0: return decode_custom(d, r);
    case 1: return decode_types(d, r);
    case 2: return decode_imports(d, r);
    case 3: return decode_functions(d, r);
    case 4: return decode_tables(d, r);
    case 5: return decode_memories(d, r);
    case 6: return decode_globals(d, r);
    case 7: return decode_exports(d, r);
    case 8: return decode_start(d, r);
    case 9: return decode_elems(d, r);
    case 10:
        d->seen_code = true;
        d->m->code_section_start = (uint32_t)(r->p - r->start);
        return decode_code(d, r);
    case 11:
        d->seen_data = true;
        return decode_datas(d, r);
    default: /* 12 */
        return decode_data_count(d, r);
    }
}

static bool decode_header(struct decoder *d, struct reader *r)
{
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
    const uint8_t *p;
    if (!read_bytes(d, r, 4, &p))
        return false;
    if (memcmp(p, magic, 4) != 0)
        return fail(d, p, "magic header not detected");
    if (!read_bytes(d, r, 4, &p))
        return false;
    if (memcmp(p, version, 4) != 0)
        return fail(d, p, "unknown binary version");
    return true;
}

/* Reads the section at r->p and moves past it. */
static bool decode_next_section(struct decoder *d, struct reader *r)
{
    const uint8_t *at = r->p;
    uint8_t id;
    if (!read_byte(d, r, &id))
        return false;
    if (id > 12)
        return fail(d, at, "malformed section id %u", id);
    const uint8_t *size_at = r->p;
    uint32_t size;
    if (!read_u32(d, r, &size))
        return false;
    if (size > remaining(r))
        return fail(d, size_at, "length out of bounds");
    if (id != 0) {
        int order = section_order(id);
        if (order <= d->last_order)
            return fail(d, at, "unexpected content after last section");
        d->last_order = order;
    }

    struct reader section = {r->p, r->start, r->p + size};
    d->in_section = true;
    bool ok = decode_section(d, id, &section);
    d->in_section = false;
    if (!ok)
        return false;
    if (section.p != section.end)
        return fail(d, section.p, "section size mismatch");
    r->p = section.end;
    return true;
}

/* Checks that need the whole module. */
static bool decode_finish(struct decoder *d)
{
    struct wasm_module *m = d->m;
    if (m->nfunc_defs != 0 && !d->seen_code)
        return fail(d, d->file_end, "function and code section have inconsistent lengths");
    if (m->has_data_count && !d->seen_data && m->data_count != 0)
        return fail(d, d->file_end, "data count and data section have inconsistent lengths");
    /* compile.c indexes it for every ref.func. */
    if (!m->func_declared && m->nfuncs) {
        m->func_declared = calloc(m->nfuncs, 1);
        if (!m->func_declared)
            return fail_oom(d, d->file_end);
    }
    if (d->seen_name)
        decode_name_section(m, d->name_section, d->name_section_end);
    return true;
}

bool wasm_decode(struct wasm_module *m, wasm_error *err)
{
    struct decoder d = {
        .m = m,
        .err = err,
        .file_end = m->bytes + m->size,
    };
    struct reader r = {m->bytes, m->bytes, m->bytes + m->size};
    if (!decode_header(&d, &r))
        return false;
    while (r.p < r.end) {
        if (!decode_next_section(&d, &r))
            return false;
    }
    return decode_finish(&d);
}
