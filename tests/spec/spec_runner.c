/*
 * spec_runner - runs one WebAssembly spec test script, as converted to JSON
 * by wabt's wast2json, against wasmgate's runtime (src/wasm/wasm.h).
 *
 *   spec_runner [-v|-vv] [--skip] FILE.json
 *
 * Prints one line per failed command, then
 *   NAME.wast: N passed, M failed, K skipped
 * and exits 0 when nothing failed (1 when something did, 2 on a usage or
 * input error). Every command counts once. --skip counts every command of
 * the file as skipped without running anything (scripts/spec.sh uses it for
 * the simd_* files while the runtime has no SIMD). -v adds notes (trap
 * message mismatches, reasons for skips, spectest prints); -vv also traces
 * every command.
 *
 * All instances of a file live in one store. Imports resolve against the
 * instances registered with "register" (by registration name and export
 * name) and the built-in "spectest" module. Value encoding at the API:
 * externref N is passed as the cell N + 1, so that null (0) stays distinct.
 */
#if !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700 /* sigaltstack, SA_ONSTACK */
#endif

#include "wasm/wasm.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- crash reporting --------------------------------------------------- */

/* What is running, for the signal handler (which may only read these). */
static volatile long g_cur_line = -1;
static const char *volatile g_cur_type = "startup";
static char g_wast_name[256] = "?";

static void write_str(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void write_long(long v)
{
    char buf[32];
    size_t i = sizeof buf;
    bool neg = v < 0;
    unsigned long u = neg ? 0UL - (unsigned long)v : (unsigned long)v;
    buf[--i] = '\0';
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0 && i > 1);
    if (neg && i > 0)
        buf[--i] = '-';
    write_str(&buf[i]);
}

static void fatal_signal(int sig)
{
    /* Only async-signal-safe calls here. The handler was installed with
     * SA_RESETHAND, so re-raising kills the process with the default action
     * once the handler returns. */
    write_str(g_wast_name);
    write_str(":");
    write_long(g_cur_line);
    write_str(": ");
    write_str(g_cur_type);
    write_str(sig == SIGTERM ? ": killed (SIGTERM, time-out?) while running this command\n"
                             : ": CRASH (signal ");
    if (sig != SIGTERM) {
        write_long(sig);
        write_str(") while running this command\n");
    }
    raise(sig);
}

static void install_crash_handlers(void)
{
    static char altstack[1 << 16];
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    sigaltstack(&ss, NULL);

    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = fatal_signal;
        sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ---- small helpers ----------------------------------------------------- */

static int g_verbose;

static void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "spec_runner: out of memory\n");
        exit(2);
    }
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "spec_runner: out of memory\n");
        exit(2);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* Appends to a fixed buffer, truncating. */
typedef struct sbuf {
    char *buf;
    size_t size;
    size_t len;
} sbuf;

static void sb_printf(sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *sb, const char *fmt, ...)
{
    if (sb->len + 1 >= sb->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sb->buf + sb->len, sb->size - sb->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sb->len += (size_t)n;
    if (sb->len >= sb->size)
        sb->len = sb->size - 1;
}

/* Strict unsigned decimal; false on anything else or overflow past max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Reads a whole file; NULL (and errno) on failure. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *size = len;
    return buf;
}

static const char *json_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- values ------------------------------------------------------------ */

typedef enum value_match {
    MATCH_EXACT,         /* bits must be equal */
    MATCH_NAN_CANONICAL, /* f32/f64 canonical NaN, either sign */
    MATCH_NAN_ARITH,     /* f32/f64 NaN with the quiet bit set */
    MATCH_NONNULL,       /* a reference that is not null */
} value_match;

typedef struct value {
    uint8_t type; /* wasm_valtype */
    value_match match;
    wasm_cell bits;
} value;

static bool valtype_from_name(const char *name, uint8_t *out)
{
    static const struct {
        const char *name;
        uint8_t type;
    } types[] = {
        {"i32", WASM_I32},         {"i64", WASM_I64},
        {"f32", WASM_F32},         {"f64", WASM_F64},
        {"v128", WASM_V128},       {"funcref", WASM_FUNCREF},
        {"externref", WASM_EXTERNREF},
    };
    if (!name)
        return false;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(types[i].name, name) == 0) {
            *out = types[i].type;
            return true;
        }
    }
    return false;
}

static const char *type_name(uint8_t type)
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

/* Parses a JSON value ({"type": ..., "value": ...}). `expected` allows the
 * NaN patterns and a missing value (any non-null reference). Returns false
 * with a reason in `why`. A v128 value parses (type only) so the caller can
 * skip the command. */
static bool parse_value(json_t *jv, bool expected, value *out, sbuf *why)
{
    memset(out, 0, sizeof *out);
    const char *tname = json_str(jv, "type");
    if (!valtype_from_name(tname, &out->type)) {
        sb_printf(why, "unsupported value type \"%s\"", tname ? tname : "(none)");
        return false;
    }
    if (out->type == WASM_V128)
        return true;

    json_t *jval = json_object_get(jv, "value");
    const char *s = json_is_string(jval) ? json_string_value(jval) : NULL;
    if (!jval && expected && (out->type == WASM_FUNCREF || out->type == WASM_EXTERNREF)) {
        out->match = MATCH_NONNULL;
        return true;
    }
    if (!s) {
        sb_printf(why, "%s value is not a string", tname);
        return false;
    }

    uint64_t v;
    switch (out->type) {
    case WASM_I32:
    case WASM_I64:
    case WASM_F32:
    case WASM_F64: {
        bool narrow = out->type == WASM_I32 || out->type == WASM_F32;
        bool is_float = out->type == WASM_F32 || out->type == WASM_F64;
        if (is_float && expected && strcmp(s, "nan:canonical") == 0) {
            out->match = MATCH_NAN_CANONICAL;
            return true;
        }
        if (is_float && expected && strcmp(s, "nan:arithmetic") == 0) {
            out->match = MATCH_NAN_ARITH;
            return true;
        }
        if (!parse_u64(s, narrow ? UINT32_MAX : UINT64_MAX, &v)) {
            sb_printf(why, "bad %s value \"%s\"", tname, s);
            return false;
        }
        out->bits = v;
        return true;
    }
    case WASM_FUNCREF:
        if (strcmp(s, "null") == 0) {
            out->bits = 0;
            return true;
        }
        if (expected && parse_u64(s, UINT64_MAX, &v)) {
            /* A function index: the API hands out wasm_func pointers, so
             * all we can check is that the reference is not null. */
            out->match = MATCH_NONNULL;
            return true;
        }
        sb_printf(why, "cannot pass funcref \"%s\" (only null)", s);
        return false;
    case WASM_EXTERNREF:
        if (strcmp(s, "null") == 0) {
            out->bits = 0;
            return true;
        }
        if (!parse_u64(s, UINT64_MAX - 1, &v)) {
            sb_printf(why, "bad externref value \"%s\"", s);
            return false;
        }
        out->bits = v + 1;
        return true;
    default:
        break;
    }
    sb_printf(why, "unsupported value type \"%s\"", tname);
    return false;
}

static void format_cell(sbuf *sb, uint8_t type, wasm_cell c)
{
    switch (type) {
    case WASM_I32: {
        uint32_t u = (uint32_t)c;
        sb_printf(sb, "i32:%" PRIu32, u);
        if (u & 0x80000000u)
            sb_printf(sb, " (%" PRId32 ")", (int32_t)u);
        if (c >> 32)
            sb_printf(sb, " [cell 0x%016" PRIx64 "]", c);
        break;
    }
    case WASM_I64:
        sb_printf(sb, "i64:%" PRIu64, c);
        if (c >> 63)
            sb_printf(sb, " (%" PRId64 ")", (int64_t)c);
        break;
    case WASM_F32: {
        uint32_t u = (uint32_t)c;
        float f;
        memcpy(&f, &u, sizeof f);
        sb_printf(sb, "f32:%.9g (0x%08" PRIx32 ")", (double)f, u);
        if (c >> 32)
            sb_printf(sb, " [cell 0x%016" PRIx64 "]", c);
        break;
    }
    case WASM_F64: {
        double d;
        memcpy(&d, &c, sizeof d);
        sb_printf(sb, "f64:%.17g (0x%016" PRIx64 ")", d, c);
        break;
    }
    case WASM_FUNCREF:
        if (c == 0)
            sb_printf(sb, "funcref:null");
        else
            sb_printf(sb, "funcref:0x%" PRIx64, c);
        break;
    case WASM_EXTERNREF:
        if (c == 0)
            sb_printf(sb, "externref:null");
        else
            sb_printf(sb, "externref:%" PRIu64, c - 1);
        break;
    default:
        sb_printf(sb, "%s:0x%" PRIx64, type_name(type), c);
        break;
    }
}

static void format_value(sbuf *sb, const value *v)
{
    switch (v->match) {
    case MATCH_NAN_CANONICAL:
        sb_printf(sb, "%s:nan:canonical", type_name(v->type));
        break;
    case MATCH_NAN_ARITH:
        sb_printf(sb, "%s:nan:arithmetic", type_name(v->type));
        break;
    case MATCH_NONNULL:
        sb_printf(sb, "%s:non-null", type_name(v->type));
        break;
    case MATCH_EXACT:
        format_cell(sb, v->type, v->bits);
        break;
    }
}

/* Does cell `c` of type `type` (the function's result type) match `want`? */
static bool value_matches(const value *want, uint8_t type, wasm_cell c)
{
    if (want->type != type)
        return false;
    switch (type) {
    case WASM_I32:
    case WASM_F32:
        /* The API zero-extends 32-bit values: garbage above is a bug. */
        if (c >> 32)
            return false;
        break;
    default:
        break;
    }
    switch (want->match) {
    case MATCH_EXACT:
        return c == want->bits;
    case MATCH_NONNULL:
        return c != 0;
    case MATCH_NAN_CANONICAL:
        if (type == WASM_F32)
            return (c & 0x7fffffffu) == 0x7fc00000u;
        if (type == WASM_F64)
            return (c & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
        return false;
    case MATCH_NAN_ARITH:
        if (type == WASM_F32)
            return (c & 0x7fc00000u) == 0x7fc00000u;
        if (type == WASM_F64)
            return (c & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
        return false;
    }
    return false;
}

/* ---- the runner state ---------------------------------------------------- */

typedef struct binding {
    char *name;
    wasm_instance *inst; /* NULL: the module of that name failed */
} binding;

typedef struct bindings {
    binding *items;
    size_t len, cap;
} bindings;

static void bindings_set(bindings *b, const char *name, wasm_instance *inst)
{
    for (size_t i = 0; i < b->len; i++) {
        if (strcmp(b->items[i].name, name) == 0) {
            b->items[i].inst = inst;
            return;
        }
    }
    if (b->len == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        binding *ni = realloc(b->items, b->cap * sizeof *ni);
        if (!ni) {
            fprintf(stderr, "spec_runner: out of memory\n");
            exit(2);
        }
        b->items = ni;
    }
    b->items[b->len].name = xstrdup(name);
    b->items[b->len].inst = inst;
    b->len++;
}

/* Returns true when `name` is bound (the instance may still be NULL). */
static bool bindings_get(const bindings *b, const char *name, wasm_instance **inst)
{
    for (size_t i = 0; i < b->len; i++) {
        if (strcmp(b->items[i].name, name) == 0) {
            *inst = b->items[i].inst;
            return true;
        }
    }
    return false;
}

static void bindings_free(bindings *b)
{
    for (size_t i = 0; i < b->len; i++)
        free(b->items[i].name);
    free(b->items);
    memset(b, 0, sizeof *b);
}

typedef struct spectest_func {
    const char *name;
    uint32_t nparams;
    uint8_t params[2];
} spectest_func;

static const spectest_func SPECTEST_FUNCS[] = {
    {"print", 0, {0, 0}},
    {"print_i32", 1, {WASM_I32, 0}},
    {"print_i64", 1, {WASM_I64, 0}},
    {"print_f32", 1, {WASM_F32, 0}},
    {"print_f64", 1, {WASM_F64, 0}},
    {"print_i32_f32", 2, {WASM_I32, WASM_F32}},
    {"print_f64_f64", 2, {WASM_F64, WASM_F64}},
};
#define N_SPECTEST_FUNCS (sizeof SPECTEST_FUNCS / sizeof SPECTEST_FUNCS[0])

#define MAX_SPECTEST 16

typedef struct spectest_entry {
    const char *name;
    wasm_extern ext;
} spectest_entry;

typedef struct runner {
    const char *json_dir; /* directory of the .json file ("." when none) */
    wasm_store *store;
    wasm_instance *current; /* the last module instantiated (or NULL) */
    bindings named;         /* "$name" -> instance */
    bindings registered;    /* "as" name -> instance */
    spectest_entry spectest[MAX_SPECTEST];
    size_t nspectest;
    unsigned passed, failed, skipped;
} runner;


/* ---- spectest -------------------------------------------------------------- */

static bool spectest_print(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    (void)call;
    (void)results;
    const spectest_func *f = env;
    if (g_verbose < 1)
        return true;
    char buf[256];
    sbuf sb = {buf, sizeof buf, 0};
    buf[0] = '\0';
    sb_printf(&sb, "spectest.%s(", f->name);
    for (uint32_t i = 0; i < f->nparams; i++) {
        if (i)
            sb_printf(&sb, ", ");
        format_cell(&sb, f->params[i], args[i]);
    }
    sb_printf(&sb, ")");
    printf("  %s\n", buf);
    return true;
}


static void spectest_add(runner *r, const char *name, wasm_extern ext)
{
    if (r->nspectest < MAX_SPECTEST) {
        r->spectest[r->nspectest].name = name;
        r->spectest[r->nspectest].ext = ext;
        r->nspectest++;
    }
}

static void spectest_create(runner *r)
{
    wasm_extern ext;

    for (size_t i = 0; i < N_SPECTEST_FUNCS; i++) {
        const spectest_func *sf = &SPECTEST_FUNCS[i];
        wasm_functype ft = {sf->nparams, 0, sf->params, NULL};
        wasm_func *fn = wasm_func_new_host(r->store, &ft, spectest_print, (void *)sf, sf->name);
        if (!fn) {
            printf("warning: cannot create spectest.%s\n", sf->name);
            continue;
        }
        ext.kind = WASM_EXTERN_FUNC;
        ext.of.func = fn;
        spectest_add(r, sf->name, ext);
    }

    float f32 = 666.6f;
    double f64 = 666.6;
    uint32_t f32_bits;
    uint64_t f64_bits;
    memcpy(&f32_bits, &f32, sizeof f32_bits);
    memcpy(&f64_bits, &f64, sizeof f64_bits);
    static const char *const gnames[4] = {"global_i32", "global_i64", "global_f32", "global_f64"};
    const uint8_t gtypes[4] = {WASM_I32, WASM_I64, WASM_F32, WASM_F64};
    const wasm_cell gvals[4] = {666, 666, f32_bits, f64_bits};
    for (int i = 0; i < 4; i++) {
        wasm_global *g = wasm_global_new(r->store, gtypes[i], false, gvals[i]);
        if (!g) {
            printf("warning: cannot create spectest.%s\n", gnames[i]);
            continue;
        }
        ext.kind = WASM_EXTERN_GLOBAL;
        ext.of.global = g;
        spectest_add(r, gnames[i], ext);
    }

    wasm_error err;
    memset(&err, 0, sizeof err);
    wasm_limits tl = {10, 20, true};
    wasm_table *t = wasm_table_new(r->store, WASM_FUNCREF, tl, 0, &err);
    if (t) {
        ext.kind = WASM_EXTERN_TABLE;
        ext.of.table = t;
        spectest_add(r, "table", ext);
    } else {
        printf("warning: cannot create spectest.table: %s\n", err.message);
    }

    memset(&err, 0, sizeof err);
    wasm_limits ml = {1, 2, true};
    wasm_memory *m = wasm_memory_new(r->store, ml, &err);
    if (m) {
        ext.kind = WASM_EXTERN_MEMORY;
        ext.of.memory = m;
        spectest_add(r, "memory", ext);
    } else {
        printf("warning: cannot create spectest.memory: %s\n", err.message);
    }

}

/* ---- modules and instances ------------------------------------------------- */

typedef enum inst_status {
    INST_OK,
    INST_LINK,          /* link error (unresolved import, type mismatch) */
    INST_TRAP,          /* trapped in segment initialisation or start */
} inst_status;

static const char *inst_status_name(inst_status s)
{
    switch (s) {
    case INST_OK: return "instantiated";
    case INST_LINK: return "link error";
    case INST_TRAP: return "trap during instantiation";
    }
    return "?";
}

static void format_error(sbuf *sb, const wasm_error *err)
{
    sb_printf(sb, "\"%s\"", err->message);
    if (err->has_offset)
        sb_printf(sb, " at byte offset %zu", err->offset);
}

/* Loads the module file named by the command's "filename". Returns NULL
 * with the reason in `msg`; *io_error tells a missing file apart. */
static wasm_module *load_module(runner *r, json_t *cmd, sbuf *msg, bool *io_error)
{
    *io_error = false;
    const char *fname = json_str(cmd, "filename");
    if (!fname) {
        sb_printf(msg, "command has no \"filename\"");
        *io_error = true;
        return NULL;
    }
    size_t plen = strlen(r->json_dir) + 1 + strlen(fname) + 1;
    char *path = xmalloc(plen);
    snprintf(path, plen, "%s/%s", r->json_dir, fname);
    size_t size = 0;
    uint8_t *bytes = read_file(path, &size);
    if (!bytes) {
        sb_printf(msg, "cannot read %s: %s", path, strerror(errno));
        free(path);
        *io_error = true;
        return NULL;
    }
    free(path);
    wasm_error err;
    memset(&err, 0, sizeof err);
    wasm_module *mod = wasm_module_load(bytes, size, &err);
    free(bytes);
    if (!mod) {
        sb_printf(msg, "%s: ", fname);
        format_error(msg, &err);
    }
    return mod;
}

static bool resolve_import(runner *r, const wasm_import_desc *imp, wasm_extern *out)
{
    wasm_instance *inst;
    if (bindings_get(&r->registered, imp->module, &inst))
        return inst && wasm_instance_export(inst, imp->name, out);
    if (strcmp(imp->module, "spectest") == 0) {
        for (size_t i = 0; i < r->nspectest; i++) {
            if (strcmp(r->spectest[i].name, imp->name) == 0) {
                *out = r->spectest[i].ext;
                return true;
            }
        }
    }
    return false;
}

/* Instantiates `mod` in the store. On failure, `msg` says why, and the
 * status tells a link error from a trap (start function or segments). */
static inst_status instantiate(runner *r, wasm_module *mod, wasm_instance **out, sbuf *msg)
{
    *out = NULL;
    uint32_t n = wasm_module_import_count(mod);
    wasm_extern *imports = xcalloc(n, sizeof *imports);
    for (uint32_t i = 0; i < n; i++) {
        wasm_import_desc imp;
        memset(&imp, 0, sizeof imp);
        wasm_module_import(mod, i, &imp);
        if (!resolve_import(r, &imp, &imports[i])) {
            sb_printf(msg, "unknown import \"%s\".\"%s\" (%s)", imp.module, imp.name,
                      wasm_extern_kind_name(imp.kind));
            free(imports);
            return INST_LINK;
        }
    }

    wasm_error err;
    memset(&err, 0, sizeof err);
    wasm_instance *inst = wasm_instance_new(r->store, mod, imports, n, &err);
    free(imports);
    if (inst) {
        *out = inst;
        return INST_OK;
    }

    inst_status st = err.trapped ? INST_TRAP : INST_LINK;
    format_error(msg, &err);
    return st;
}

/* ---- actions --------------------------------------------------------------- */

typedef enum act_status {
    ACT_OK,    /* ran; results filled */
    ACT_TRAP,  /* trapped; trap filled */
    ACT_ERROR, /* could not run (no such module/export, bad arguments...) */
    ACT_SKIP,  /* cannot be expressed through the API (v128, ...) */
} act_status;

typedef struct act_result {
    uint32_t nresults;
    wasm_cell *results;
    uint8_t *types; /* owned copy of the result types */
    wasm_trap trap;
} act_result;

static void act_result_free(act_result *ar)
{
    free(ar->results);
    free(ar->types);
    memset(ar, 0, sizeof *ar);
}


/* "invoke \"f\"(i32:1, ...)" or "get \"g\"", with the module name if any. */
static void describe_action(sbuf *sb, json_t *action)
{
    const char *type = json_str(action, "type");
    const char *mod = json_str(action, "module");
    const char *field = json_str(action, "field");
    sb_printf(sb, "%s ", type ? type : "?");
    if (mod)
        sb_printf(sb, "%s.", mod);
    sb_printf(sb, "\"%s\"", field ? field : "?");
    if (type && strcmp(type, "invoke") == 0) {
        json_t *args = json_object_get(action, "args");
        sb_printf(sb, "(");
        size_t i;
        json_t *a;
        json_array_foreach(args, i, a) {
            if (i)
                sb_printf(sb, ", ");
            value v;
            char wb[64];
            sbuf why = {wb, sizeof wb, 0};
            if (parse_value(a, false, &v, &why) && v.type != WASM_V128)
                format_value(sb, &v);
            else
                sb_printf(sb, "%s:...", json_str(a, "type") ? json_str(a, "type") : "?");
        }
        sb_printf(sb, ")");
    }
}

static act_status run_action(runner *r, json_t *action, act_result *ar, sbuf *msg)
{
    memset(ar, 0, sizeof *ar);
    const char *type = json_str(action, "type");
    const char *modname = json_str(action, "module");
    json_t *jfield = json_object_get(action, "field");
    const char *field = json_is_string(jfield) ? json_string_value(jfield) : NULL;
    if (!type || !field) {
        sb_printf(msg, "malformed action");
        return ACT_ERROR;
    }
    wasm_instance *inst = r->current;
    if (modname) {
        if (!bindings_get(&r->named, modname, &inst)) {
            sb_printf(msg, "no module named %s", modname);
            return ACT_ERROR;
        }
    }
    if (!inst) {
        sb_printf(msg, "no instance (%s failed to instantiate)", modname ? modname : "the current module");
        return ACT_ERROR;
    }

    wasm_extern ext;
    memset(&ext, 0, sizeof ext);
    /* Export names may contain NUL bytes: look up by length. */
    if (!wasm_instance_export_n(inst, field, json_string_length(jfield), &ext)) {
        sb_printf(msg, "no export \"%s\"", field);
        return ACT_ERROR;
    }

    if (strcmp(type, "get") == 0) {
        if (ext.kind != WASM_EXTERN_GLOBAL) {
            sb_printf(msg, "export \"%s\" is a %s, not a global", field, wasm_extern_kind_name(ext.kind));
            return ACT_ERROR;
        }
        uint8_t gt = wasm_global_type(ext.of.global);
        if (gt == WASM_V128) {
            sb_printf(msg, "v128 global: no v128 values in wasm.h");
            return ACT_SKIP;
        }
        ar->nresults = 1;
        ar->results = xmalloc(sizeof *ar->results);
        ar->types = xmalloc(1);
        ar->results[0] = wasm_global_get(ext.of.global);
        ar->types[0] = gt;
        return ACT_OK;
    }
    if (strcmp(type, "invoke") != 0) {
        sb_printf(msg, "unknown action type \"%s\"", type);
        return ACT_ERROR;
    }
    if (ext.kind != WASM_EXTERN_FUNC) {
        sb_printf(msg, "export \"%s\" is a %s, not a function", field, wasm_extern_kind_name(ext.kind));
        return ACT_ERROR;
    }

    wasm_functype ft;
    memset(&ft, 0, sizeof ft);
    wasm_func_type(ext.of.func, &ft);
    for (uint32_t i = 0; i < ft.nparams; i++) {
        if (ft.params[i] == WASM_V128) {
            sb_printf(msg, "v128 parameter: no v128 values in wasm.h");
            return ACT_SKIP;
        }
    }
    for (uint32_t i = 0; i < ft.nresults; i++) {
        if (ft.results[i] == WASM_V128) {
            sb_printf(msg, "v128 result: no v128 values in wasm.h");
            return ACT_SKIP;
        }
    }

    json_t *args = json_object_get(action, "args");
    size_t nargs = json_is_array(args) ? json_array_size(args) : 0;
    if (nargs != ft.nparams) {
        sb_printf(msg, "\"%s\" takes %" PRIu32 " arguments, the script passes %zu", field, ft.nparams, nargs);
        return ACT_ERROR;
    }
    wasm_cell *cells = xcalloc(nargs, sizeof *cells);
    for (size_t i = 0; i < nargs; i++) {
        value v;
        if (!parse_value(json_array_get(args, i), false, &v, msg)) {
            free(cells);
            return ACT_ERROR;
        }
        if (v.type == WASM_V128) {
            sb_printf(msg, "v128 argument: no v128 values in wasm.h");
            free(cells);
            return ACT_SKIP;
        }
        if (v.type != ft.params[i]) {
            sb_printf(msg, "argument %zu is %s, \"%s\" expects %s", i, type_name(v.type), field,
                      type_name(ft.params[i]));
            free(cells);
            return ACT_ERROR;
        }
        cells[i] = v.bits;
    }

    ar->nresults = ft.nresults;
    ar->results = xcalloc(ft.nresults, sizeof *ar->results);
    ar->types = xmalloc(ft.nresults);
    if (ft.nresults)
        memcpy(ar->types, ft.results, ft.nresults);
    bool ok = wasm_func_call(r->store, ext.of.func, cells, (uint32_t)nargs, ar->results, ft.nresults);
    free(cells);
    if (ok)
        return ACT_OK;
    const wasm_trap *t = wasm_store_last_trap(r->store);
    if (t) {
        ar->trap = *t;
    } else {
        memset(&ar->trap, 0, sizeof ar->trap);
        snprintf(ar->trap.message, sizeof ar->trap.message, "(no trap recorded)");
    }
    return ACT_TRAP;
}

static void format_trap(sbuf *sb, const wasm_trap *t)
{
    sb_printf(sb, "trap \"%s\"", t->message);
    if (t->kind != WASM_TRAP_NONE && t->kind < WASM_TRAP_KIND_COUNT)
        sb_printf(sb, " (%s)", wasm_trap_kind_message(t->kind));
}

static void format_results(sbuf *sb, const act_result *ar)
{
    sb_printf(sb, "(");
    for (uint32_t i = 0; i < ar->nresults; i++) {
        if (i)
            sb_printf(sb, ", ");
        format_cell(sb, ar->types[i], ar->results[i]);
    }
    sb_printf(sb, ")");
}

/* Loose message comparison: one contains the other, or the expected text
 * is a prefix of the spec message for the trap kind. */
static bool text_matches(const char *expected, const char *actual, const char *kind_msg)
{
    if (!expected || !*expected)
        return true;
    if (actual && *actual && (strstr(actual, expected) || strstr(expected, actual)))
        return true;
    if (kind_msg && *kind_msg && (strstr(kind_msg, expected) || strstr(expected, kind_msg)))
        return true;
    return false;
}

/* ---- commands ---------------------------------------------------------------- */

typedef enum outcome { PASS, FAIL, SKIP } outcome;

/* Runs one command; on FAIL `msg` says what went wrong; on SKIP, why. */
static outcome run_command(runner *r, json_t *cmd, const char *type, sbuf *msg)
{
    bool io_error;

    if (strcmp(type, "module") == 0) {
        const char *name = json_str(cmd, "name");
        r->current = NULL;
        if (name)
            bindings_set(&r->named, name, NULL);
        wasm_module *mod = load_module(r, cmd, msg, &io_error);
        if (!mod) {
            if (!io_error) {
                char tmp[600];
                snprintf(tmp, sizeof tmp, "module failed to load: %s", msg->buf);
                msg->len = 0;
                sb_printf(msg, "%s", tmp);
            }
            return FAIL;
        }
        wasm_instance *inst;
        char ib[512];
        sbuf imsg = {ib, sizeof ib, 0};
        ib[0] = '\0';
        inst_status st = instantiate(r, mod, &inst, &imsg);
        wasm_module_release(mod);
        if (st != INST_OK) {
            sb_printf(msg, "%s: %s", inst_status_name(st), ib);
            return FAIL;
        }
        r->current = inst;
        if (name)
            bindings_set(&r->named, name, inst);
        return PASS;
    }

    if (strcmp(type, "register") == 0) {
        const char *as = json_str(cmd, "as");
        const char *name = json_str(cmd, "name");
        wasm_instance *inst = r->current;
        if (!as) {
            sb_printf(msg, "register without \"as\"");
            return FAIL;
        }
        if (name && !bindings_get(&r->named, name, &inst)) {
            sb_printf(msg, "no module named %s", name);
            return FAIL;
        }
        if (!inst) {
            sb_printf(msg, "cannot register \"%s\": %s failed to instantiate", as,
                      name ? name : "the current module");
            bindings_set(&r->registered, as, NULL);
            return FAIL;
        }
        bindings_set(&r->registered, as, inst);
        return PASS;
    }

    if (strcmp(type, "assert_invalid") == 0 || strcmp(type, "assert_malformed") == 0) {
        const char *text = json_str(cmd, "text");
        wasm_module *mod = load_module(r, cmd, msg, &io_error);
        if (io_error)
            return FAIL;
        if (mod) {
            wasm_module_release(mod);
            msg->len = 0;
            sb_printf(msg, "module loaded, expected it to be rejected (\"%s\")", text ? text : "");
            return FAIL;
        }
        if (g_verbose >= 1 && strcmp(json_str(cmd, "module_type") ? json_str(cmd, "module_type") : "", "text") != 0 &&
            !text_matches(text, msg->buf, NULL))
            printf("%s:%ld: note: %s: expected \"%s\", got %s\n", g_wast_name, g_cur_line, type,
                   text ? text : "", msg->buf);
        msg->len = 0;
        msg->buf[0] = '\0';
        return PASS;
    }

    if (strcmp(type, "assert_unlinkable") == 0 || strcmp(type, "assert_uninstantiable") == 0 ||
        (strcmp(type, "assert_trap") == 0 && json_object_get(cmd, "filename"))) {
        const char *text = json_str(cmd, "text");
        bool want_link = strcmp(type, "assert_unlinkable") == 0;
        wasm_module *mod = load_module(r, cmd, msg, &io_error);
        if (!mod) {
            if (!io_error) {
                char tmp[600];
                snprintf(tmp, sizeof tmp, "module failed to load: %s", msg->buf);
                msg->len = 0;
                sb_printf(msg, "%s", tmp);
            }
            return FAIL;
        }
        wasm_instance *inst;
        char ib[512];
        sbuf imsg = {ib, sizeof ib, 0};
        ib[0] = '\0';
        inst_status st = instantiate(r, mod, &inst, &imsg);
        wasm_module_release(mod);
        if (st == INST_OK) {
            sb_printf(msg, "module instantiated, expected %s (\"%s\")",
                      want_link ? "a link error" : "a trap", text ? text : "");
            return FAIL;
        }
        if ((want_link && st == INST_TRAP) || (!want_link && st == INST_LINK)) {
            sb_printf(msg, "expected %s (\"%s\"), got %s: %s", want_link ? "a link error" : "a trap",
                      text ? text : "", inst_status_name(st), ib);
            return FAIL;
        }
        if (g_verbose >= 1) {
            if (!text_matches(text, ib, NULL))
                printf("%s:%ld: note: %s: expected \"%s\", got %s\n", g_wast_name, g_cur_line, type,
                       text ? text : "", ib);
        }
        return PASS;
    }

    bool is_return = strcmp(type, "assert_return") == 0;
    bool is_trap = strcmp(type, "assert_trap") == 0;
    bool is_exhaustion = strcmp(type, "assert_exhaustion") == 0;
    bool is_action = strcmp(type, "action") == 0;
    if (!(is_return || is_trap || is_exhaustion || is_action)) {
        sb_printf(msg, "unknown command type");
        return FAIL;
    }

    json_t *action = json_object_get(cmd, "action");
    if (!json_is_object(action)) {
        sb_printf(msg, "command has no action");
        return FAIL;
    }
    describe_action(msg, action);
    sb_printf(msg, ": ");
    size_t prefix = msg->len;

    /* Parse the expectations before running, so that a v128 expectation
     * skips the command without running it. */
    json_t *jexp = json_object_get(cmd, "expected");
    size_t nexp = json_is_array(jexp) ? json_array_size(jexp) : 0;
    value *exp = xcalloc(nexp, sizeof *exp);
    if (is_return) {
        for (size_t i = 0; i < nexp; i++) {
            if (!parse_value(json_array_get(jexp, i), true, &exp[i], msg)) {
                free(exp);
                return FAIL;
            }
            if (exp[i].type == WASM_V128) {
                sb_printf(msg, "v128 result: no v128 values in wasm.h");
                free(exp);
                return SKIP;
            }
        }
    }

    act_result ar;
    act_status as = run_action(r, action, &ar, msg);
    outcome out = FAIL;
    const char *text = json_str(cmd, "text");

    switch (as) {
    case ACT_ERROR:
        out = FAIL;
        break;
    case ACT_SKIP:
        out = SKIP;
        break;
    case ACT_TRAP:
        if (is_trap || is_exhaustion) {
            out = PASS;
            if (g_verbose >= 1) {
                const char *km = ar.trap.kind < WASM_TRAP_KIND_COUNT ? wasm_trap_kind_message(ar.trap.kind) : "";
                if (is_exhaustion && ar.trap.kind != WASM_TRAP_STACK_EXHAUSTED)
                    printf("%s:%ld: note: %s: trap kind is not stack exhaustion: \"%s\"\n", g_wast_name,
                           g_cur_line, type, ar.trap.message);
                else if (!text_matches(text, ar.trap.message, km))
                    printf("%s:%ld: note: %s: expected \"%s\", got \"%s\" (%s)\n", g_wast_name, g_cur_line,
                           type, text ? text : "", ar.trap.message, km);
            }
        } else {
            sb_printf(msg, "unexpected ");
            format_trap(msg, &ar.trap);
            out = FAIL;
        }
        break;
    case ACT_OK:
        if (is_action) {
            out = PASS;
        } else if (is_trap || is_exhaustion) {
            sb_printf(msg, "expected %s \"%s\", got ", is_trap ? "trap" : "exhaustion", text ? text : "");
            format_results(msg, &ar);
            out = FAIL;
        } else {
            bool ok = ar.nresults == nexp;
            for (size_t i = 0; ok && i < nexp; i++)
                ok = value_matches(&exp[i], ar.types[i], ar.results[i]);
            if (ok) {
                out = PASS;
            } else {
                sb_printf(msg, "expected (");
                for (size_t i = 0; i < nexp; i++) {
                    if (i)
                        sb_printf(msg, ", ");
                    format_value(msg, &exp[i]);
                }
                sb_printf(msg, "), got ");
                format_results(msg, &ar);
                out = FAIL;
            }
        }
        break;
    }
    if (out == PASS) {
        msg->len = prefix;
        msg->buf[prefix] = '\0';
    }
    act_result_free(&ar);
    free(exp);
    return out;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr, "usage: spec_runner [-v|-vv] [--skip] FILE.json\n"
                    "  runs the commands of a wast2json script against wasmgate's runtime\n"
                    "  -v      notes (trap message mismatches, skips, spectest prints)\n"
                    "  -vv     also trace every command\n"
                    "  --skip  count every command as skipped; run nothing\n");
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

static void set_wast_name(const char *json_path, json_t *root)
{
    const char *src = json_str(root, "source_filename");
    const char *base;
    char tmp[sizeof g_wast_name];
    if (src) {
        base = strrchr(src, '/');
        base = base ? base + 1 : src;
        snprintf(g_wast_name, sizeof g_wast_name, "%s", base);
        return;
    }
    base = strrchr(json_path, '/');
    base = base ? base + 1 : json_path;
    snprintf(tmp, sizeof tmp, "%s", base);
    char *dot = strrchr(tmp, '.');
    if (dot && strcmp(dot, ".json") == 0)
        *dot = '\0';
    snprintf(g_wast_name, sizeof g_wast_name, "%.*s.wast", (int)(sizeof g_wast_name - 6), tmp);
}

int main(int argc, char **argv)
{
    bool skip = false;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            g_verbose++;
        } else if (strcmp(argv[i], "-vv") == 0) {
            g_verbose += 2;
        } else if (strcmp(argv[i], "--skip") == 0) {
            skip = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        } else if (argv[i][0] == '-' || json_path) {
            usage();
            return 2;
        } else {
            json_path = argv[i];
        }
    }
    if (!json_path) {
        usage();
        return 2;
    }

    /* Failure lines must survive a crash of the process. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    install_crash_handlers();

    json_error_t jerr;
    json_t *root = json_load_file(json_path, JSON_ALLOW_NUL, &jerr);
    set_wast_name(json_path, root);
    if (!root) {
        if (jerr.line > 0)
            printf("%s: error: %s:%d: %s\n", g_wast_name, json_path, jerr.line, jerr.text);
        else
            printf("%s: error: %s\n", g_wast_name, jerr.text);
        return 2;
    }
    json_t *cmds = json_object_get(root, "commands");
    if (!json_is_array(cmds)) {
        printf("%s: error: %s has no \"commands\" array\n", g_wast_name, json_path);
        json_decref(root);
        return 2;
    }

    runner r;
    memset(&r, 0, sizeof r);
    char *dir = dir_of(json_path);
    r.json_dir = dir;

    if (skip) {
        r.skipped = (unsigned)json_array_size(cmds);
    } else {
        g_cur_type = "wasm_store_new";
        r.store = wasm_store_new(NULL);
        if (!r.store) {
            printf("%s: error: wasm_store_new failed\n", g_wast_name);
            json_decref(root);
            free(dir);
            return 2;
        }
        g_cur_type = "spectest setup";
        spectest_create(&r);

        size_t i;
        json_t *cmd;
        char mb[2048];
        json_array_foreach(cmds, i, cmd) {
            const char *type = json_str(cmd, "type");
            json_t *jline = json_object_get(cmd, "line");
            g_cur_line = json_is_integer(jline) ? (long)json_integer_value(jline) : -1;
            g_cur_type = type ? type : "(no type)";
            if (g_verbose >= 2)
                printf("%s:%ld: %s\n", g_wast_name, g_cur_line, g_cur_type);

            sbuf msg = {mb, sizeof mb, 0};
            mb[0] = '\0';
            outcome o = type ? run_command(&r, cmd, type, &msg) : FAIL;
            if (!type)
                sb_printf(&msg, "command without a type");
            switch (o) {
            case PASS:
                r.passed++;
                break;
            case SKIP:
                r.skipped++;
                if (g_verbose >= 1)
                    printf("%s:%ld: skipped: %s: %s\n", g_wast_name, g_cur_line, g_cur_type, mb);
                break;
            case FAIL:
                r.failed++;
                printf("%s:%ld: FAIL: %s: %s\n", g_wast_name, g_cur_line, g_cur_type, mb);
                break;
            }
        }
        g_cur_line = -1;
        g_cur_type = "wasm_store_free";
        wasm_store_free(r.store);
    }

    printf("%s: %u passed, %u failed, %u skipped\n", g_wast_name, r.passed, r.failed, r.skipped);
    bindings_free(&r.named);
    bindings_free(&r.registered);
    free(dir);
    json_decref(root);
    return r.failed ? 1 : 0;
}
