/*
 * test_decode.c - the binary decoder (src/wasm/decode.c, leb128.c), the
 * module accessors (module.c) and DWARF line lookup (debug_line.c).
 *
 * Modules are built byte by byte with a small builder that computes the
 * section sizes, so each test shows only the bytes that matter.
 */
#include "wasm/module.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- module builder ----------------------------------------------------------- */

struct mb {
    uint8_t b[16384];
    size_t n;
};

#define BYTES(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static void mb_raw(struct mb *m, const uint8_t *p, size_t n)
{
    assert_true(m->n + n <= sizeof m->b);
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void mb_leb(struct mb *m, uint32_t v)
{
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        if (v)
            byte |= 0x80;
        mb_raw(m, &byte, 1);
    } while (v);
}

static void mb_header(struct mb *m)
{
    m->n = 0;
    mb_raw(m, BYTES(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00));
}

/* Section `id` with the given contents; returns the contents' offset. */
static size_t mb_section(struct mb *m, uint8_t id, const uint8_t *p, size_t n)
{
    mb_raw(m, &id, 1);
    mb_leb(m, (uint32_t)n);
    size_t at = m->n;
    mb_raw(m, p, n);
    return at;
}

#define SECTION(m, id, ...) mb_section(m, id, BYTES(__VA_ARGS__))

/* A custom section: name then payload. */
static size_t mb_custom(struct mb *m, const char *name, const uint8_t *p, size_t n)
{
    size_t nlen = strlen(name);
    uint8_t tmp[8192];
    size_t k = 0;
    assert_true(nlen < 128 && 1 + nlen + n <= sizeof tmp);
    tmp[k++] = (uint8_t)nlen;
    memcpy(tmp + k, name, nlen);
    k += nlen;
    memcpy(tmp + k, p, n);
    k += n;
    return mb_section(m, 0, tmp, k) + 1 + nlen;
}

/* Type section with one type [] -> [], function section with `n`
 * functions of it, and (when bodies) their code: `end` only. */
static void mb_funcs(struct mb *m, uint32_t n, bool bodies)
{
    SECTION(m, 1, 0x01, 0x60, 0x00, 0x00);
    uint8_t fs[64] = {(uint8_t)n};
    mb_section(m, 3, fs, 1 + n);
    if (bodies) {
        uint8_t cs[128] = {(uint8_t)n};
        for (uint32_t i = 0; i < n; i++) {
            cs[1 + 3 * i] = 0x02;
            cs[2 + 3 * i] = 0x00;
            cs[3 + 3 * i] = 0x0b;
        }
        mb_section(m, 10, cs, 1 + 3 * n);
    }
}

/* ---- decoding helpers --------------------------------------------------------- */

static struct wasm_module *decode(const uint8_t *bytes, size_t size, wasm_error *err)
{
    struct wasm_module *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->bytes = malloc(size ? size : 1);
    assert_non_null(m->bytes);
    memcpy(m->bytes, bytes, size);
    m->size = size;
    if (!wasm_decode(m, err)) {
        wasm_module_free_contents(m);
        free(m);
        return NULL;
    }
    return m;
}

static void module_free(struct wasm_module *m)
{
    wasm_module_free_contents(m);
    free(m);
}

static struct wasm_module *decode_ok(const struct mb *b)
{
    wasm_error err = {0};
    struct wasm_module *m = decode(b->b, b->n, &err);
    if (!m)
        fail_msg("unexpected error at %zu: %s", err.offset, err.message);
    return m;
}

/* Expects failure with `msg` in the message, at `offset` unless it is -1. */
static void expect_error_at(const uint8_t *bytes, size_t size, const char *msg, long offset)
{
    wasm_error err = {0};
    struct wasm_module *m = decode(bytes, size, &err);
    if (m) {
        module_free(m);
        fail_msg("decoded, expected \"%s\"", msg);
    }
    if (!strstr(err.message, msg))
        fail_msg("expected \"%s\", got \"%s\"", msg, err.message);
    assert_true(err.has_offset);
    if (offset >= 0 && err.offset != (size_t)offset)
        fail_msg("\"%s\": expected offset %ld, got %zu", err.message, offset, err.offset);
}

static void expect_error(const struct mb *b, const char *msg, long offset)
{
    expect_error_at(b->b, b->n, msg, offset);
}

/* ---- LEB128 ------------------------------------------------------------------- */

static void test_leb_u32(void **state)
{
    struct {
        uint8_t bytes[8];
        size_t n;
        bool ok;
        uint32_t value;
        const char *why;
        size_t stop; /* where *p is left */
    } cases[] = {
        {{0x00}, 1, true, 0, NULL, 1},
        {{0x7f}, 1, true, 127, NULL, 1},
        {{0x80, 0x01}, 2, true, 128, NULL, 2},
        {{0x80, 0x00}, 2, true, 0, NULL, 2},                        /* overlong is fine */
        {{0x82, 0x80, 0x80, 0x80, 0x00}, 5, true, 2, NULL, 5},
        {{0xff, 0xff, 0xff, 0xff, 0x0f}, 5, true, UINT32_MAX, NULL, 5},
        {{0xff, 0xff, 0xff, 0xff, 0x1f}, 5, false, 0, "integer too large", 4},
        {{0x82, 0x80, 0x80, 0x80, 0x70}, 5, false, 0, "integer too large", 4},
        {{0x82, 0x80, 0x80, 0x80, 0x80, 0x00}, 6, false, 0, "integer representation too long", 4},
        {{0x80}, 1, false, 0, "unexpected end", 1},
        {{0}, 0, false, 0, "unexpected end", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *p = cases[i].bytes;
        uint32_t v = 12345;
        const char *why = NULL;
        bool ok = wasm_read_u32(&p, cases[i].bytes + cases[i].n, &v, &why);
        assert_int_equal(ok, cases[i].ok);
        if (ok)
            assert_int_equal(v, cases[i].value);
        else
            assert_string_equal(why, cases[i].why);
        assert_int_equal(p - cases[i].bytes, cases[i].stop);
    }
}

static void test_leb_signed(void **state)
{
    const char *why;
    int32_t v32;
    int64_t v64;
    const uint8_t *p;

#define S32(expect_ok, expect, ...)                                                  \
    do {                                                                             \
        const uint8_t b[] = {__VA_ARGS__};                                           \
        p = b;                                                                       \
        why = NULL;                                                                  \
        assert_int_equal(wasm_read_s32(&p, b + sizeof b, &v32, &why), expect_ok);   \
        if (expect_ok)                                                               \
            assert_int_equal(v32, expect);                                           \
    } while (0)

    S32(true, -1, 0x7f);
    S32(true, 63, 0x3f);
    S32(true, -64, 0x40);
    S32(true, 0, 0x80, 0x00);
    S32(true, -1, 0xff, 0x7f);
    S32(true, -1, 0xff, 0xff, 0xff, 0xff, 0x7f);
    S32(true, INT32_MIN, 0x80, 0x80, 0x80, 0x80, 0x78);
    S32(true, INT32_MAX, 0xff, 0xff, 0xff, 0xff, 0x07);
    S32(false, 0, 0xff, 0xff, 0xff, 0xff, 0x0f); /* unused bits not a sign extension */
    assert_string_equal(why, "integer too large");
    S32(false, 0, 0x80, 0x80, 0x80, 0x80, 0x70);
    assert_string_equal(why, "integer too large");
    S32(false, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f);
    assert_string_equal(why, "integer representation too long");
    S32(false, 0, 0xff);
    assert_string_equal(why, "unexpected end");
#undef S32

    /* s33 (block types): 5 bytes, 33 bits. */
    {
        const uint8_t b[] = {0x40};
        p = b;
        assert_true(wasm_read_s33(&p, b + 1, &v64, &why));
        assert_int_equal(v64, -64);
        const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x0f}; /* 2^32 - 1 */
        p = big;
        assert_true(wasm_read_s33(&p, big + 5, &v64, &why));
        assert_int_equal(v64, 0xffffffffll);
        const uint8_t bad[] = {0xff, 0xff, 0xff, 0xff, 0x2f};
        p = bad;
        assert_false(wasm_read_s33(&p, bad + 5, &v64, &why));
        assert_string_equal(why, "integer too large");
    }

    /* s64: 10 bytes. */
    {
        const uint8_t m1[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
        p = m1;
        assert_true(wasm_read_s64(&p, m1 + 10, &v64, &why));
        assert_int_equal(v64, -1);
        const uint8_t min[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f};
        p = min;
        assert_true(wasm_read_s64(&p, min + 10, &v64, &why));
        assert_true(v64 == INT64_MIN);
        const uint8_t bad[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
        p = bad;
        assert_false(wasm_read_s64(&p, bad + 10, &v64, &why));
        assert_string_equal(why, "integer too large");
        assert_ptr_equal(p, bad + 9);
        const uint8_t longer[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
        p = longer;
        assert_false(wasm_read_s64(&p, longer + 11, &v64, &why));
        assert_string_equal(why, "integer representation too long");
    }
}

/* ---- header and sections -------------------------------------------------------- */

static void test_minimal_module(void **state)
{
    struct mb b;
    mb_header(&b);
    struct wasm_module *m = decode_ok(&b);
    assert_int_equal(m->ntypes, 0);
    assert_int_equal(m->nfuncs, 0);
    assert_null(m->func_declared);
    module_free(m);

    /* Empty sections of every kind, in order, data count included. */
    mb_header(&b);
    for (uint8_t id = 1; id <= 7; id++)
        SECTION(&b, id, 0x00);
    SECTION(&b, 9, 0x00);
    SECTION(&b, 12, 0x00);
    SECTION(&b, 10, 0x00);
    SECTION(&b, 11, 0x00);
    m = decode_ok(&b);
    assert_true(m->has_data_count);
    assert_int_equal(m->data_count, 0);
    module_free(m);
}

static void test_header_errors(void **state)
{
    /* The offset of an unexpected end is where the input ended. */
    expect_error_at(BYTES(0x00), "unexpected end", 1);
    expect_error_at((const uint8_t *)"", 0, "unexpected end", 0);
    expect_error_at(BYTES(0x00, 0x61, 0x73), "unexpected end", 3);
    expect_error_at(BYTES(0x00, 0x61, 0x73, 0x6d, 0x01), "unexpected end", 5);
    expect_error_at(BYTES(0x00, 0x41, 0x53, 0x4d, 0x01, 0x00, 0x00, 0x00),
                    "magic header not detected", 0);
    expect_error_at(BYTES(0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00),
                    "unknown binary version", 4);
}

static void test_section_errors(void **state)
{
    struct mb b;

    mb_header(&b);
    SECTION(&b, 13, 0x00);
    expect_error(&b, "malformed section id", 8);

    /* Section larger than the rest of the file. */
    mb_header(&b);
    mb_raw(&b, BYTES(0x01, 0x07, 0x02, 0x60, 0x00, 0x00));
    expect_error(&b, "length out of bounds", 9);

    /* A section with bytes left over. */
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x00, 0x00, 0x60, 0x00, 0x00);
    expect_error(&b, "section size mismatch", 14);

    /* Truncated inside a section. */
    mb_header(&b);
    SECTION(&b, 1, 0x02, 0x60, 0x00, 0x00);
    expect_error(&b, "unexpected end", 14);

    /* Twice the same section, or out of order. */
    mb_header(&b);
    SECTION(&b, 1, 0x00);
    SECTION(&b, 1, 0x00);
    expect_error(&b, "unexpected content after last section", 11);
    mb_header(&b);
    SECTION(&b, 3, 0x00);
    SECTION(&b, 1, 0x00);
    expect_error(&b, "unexpected content after last section", 11);
    /* Data count goes before code, not after. */
    mb_header(&b);
    SECTION(&b, 10, 0x00);
    SECTION(&b, 12, 0x00);
    expect_error(&b, "unexpected content after last section", 11);

    /* Section size as an overlong LEB128. */
    mb_header(&b);
    mb_raw(&b, BYTES(0x00, 0x83, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x31, 0x32));
    expect_error(&b, "integer representation too long", 13);

    /* A number cut by its section's end is reported as what it is. */
    mb_header(&b);
    mb_raw(&b, BYTES(0x01, 0x04, 0x01, 0x60, 0x00, 0x00));
    mb_raw(&b, BYTES(0x03, 0x03, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00));
    expect_error(&b, "integer representation too long", 21);
}

static void test_hostile_counts(void **state)
{
    struct mb b;
    /* 0xFFFFFFFF types in a 15-byte module: must fail before allocating. */
    mb_header(&b);
    SECTION(&b, 1, 0xff, 0xff, 0xff, 0xff, 0x0f);
    expect_error(&b, "unexpected end", (long)b.n);

    const uint8_t ids[] = {2, 3, 4, 5, 6, 7, 9, 10, 11};
    for (size_t i = 0; i < sizeof ids; i++) {
        mb_header(&b);
        mb_section(&b, ids[i], BYTES(0xff, 0xff, 0xff, 0xff, 0x0f, 0x00));
        wasm_error err = {0};
        assert_null(decode(b.b, b.n, &err));
    }

    /* Counts of parameters, locals, elements, names. */
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0xff, 0xff, 0xff, 0xff, 0x0f);
    expect_error(&b, "unexpected end", -1);

    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x00, 0x00);
    SECTION(&b, 3, 0x01, 0x00);
    SECTION(&b, 10, 0x01, 0x07, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f);
    expect_error(&b, "too many locals", -1);

    /* Within each function's limit, but too many for the module. */
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x00, 0x00);
    uint8_t fs[2 + 400] = {0x90, 0x03}; /* 400 functions */
    memset(fs + 2, 0, 400);
    mb_section(&b, 3, fs, 402);
    static uint8_t cs[3 + 400 * 8];
    size_t k = 0;
    cs[k++] = 0x90, cs[k++] = 0x03;
    for (int i = 0; i < 400; i++) {
        /* size 6: one group of 50000 (0xd0 0x86 0x03) i32, end */
        const uint8_t body[] = {0x06, 0x01, 0xd0, 0x86, 0x03, 0x7f, 0x0b};
        memcpy(cs + k, body, sizeof body);
        k += sizeof body;
    }
    mb_section(&b, 10, cs, k);
    expect_error(&b, "too many locals", -1);

    mb_header(&b);
    SECTION(&b, 4, 0x01, 0x70, 0x00, 0x00);
    SECTION(&b, 9, 0x01, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f);
    expect_error(&b, "unexpected end", -1);
}

/* ---- types, imports, index spaces ----------------------------------------------- */

static void test_types(void **state)
{
    struct mb b;
    mb_header(&b);
    SECTION(&b, 1, 0x02, 0x60, 0x02, 0x7f, 0x7b, 0x01, 0x6f, 0x60, 0x00, 0x02, 0x7c, 0x70);
    struct wasm_module *m = decode_ok(&b);
    assert_int_equal(m->ntypes, 2);
    assert_int_equal(m->types[0].nparams, 2);
    assert_int_equal(m->types[0].nresults, 1);
    assert_int_equal(wasm_type_params(&m->types[0])[1], WASM_V128);
    assert_int_equal(wasm_type_results(&m->types[0])[0], WASM_EXTERNREF);
    assert_int_equal(m->types[1].nparams, 0);
    assert_int_equal(wasm_type_results(&m->types[1])[1], WASM_FUNCREF);
    module_free(m);

    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x61, 0x00, 0x00);
    expect_error(&b, "malformed function type", 11);
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x01, 0x7a, 0x00);
    expect_error(&b, "malformed value type", 13);
    /* -0x20 as a two-byte signed LEB128 */
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0xe0, 0x7f, 0x00, 0x00);
    expect_error(&b, "integer representation too long", 11);
}

static void test_imports(void **state)
{
    struct mb b;
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x01, 0x7f, 0x00);
    SECTION(&b, 2, 0x04,
            0x01, 'm', 0x01, 'f', 0x00, 0x00,                    /* func type 0 */
            0x01, 'm', 0x01, 't', 0x01, 0x6f, 0x01, 0x01, 0x02,  /* table externref 1..2 */
            0x01, 'm', 0x02, 'm', 'm', 0x02, 0x00, 0x03,         /* memory 3.. */
            0x00, 0x01, 'g', 0x03, 0x7e, 0x01);                  /* global mut i64 */
    SECTION(&b, 3, 0x01, 0x00);
    SECTION(&b, 4, 0x01, 0x70, 0x00, 0x05);
    SECTION(&b, 6, 0x01, 0x7f, 0x00, 0x41, 0x07, 0x0b);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    struct wasm_module *m = decode_ok(&b);
    assert_int_equal(m->nimports, 4);
    assert_int_equal(m->nfunc_imports, 1);
    assert_int_equal(m->ntable_imports, 1);
    assert_int_equal(m->nmemory_imports, 1);
    assert_int_equal(m->nglobal_imports, 1);
    assert_int_equal(m->nfuncs, 2);
    assert_int_equal(m->func_types[0], 0);
    assert_int_equal(m->func_types[1], 0);
    assert_int_equal(m->nfunc_defs, 1);
    assert_int_equal(m->ntables, 2);
    assert_int_equal(m->tables[0].elem_type, WASM_EXTERNREF);
    assert_int_equal(m->tables[0].limits.max, 2);
    assert_true(m->tables[0].limits.has_max);
    assert_int_equal(m->tables[1].elem_type, WASM_FUNCREF);
    assert_int_equal(m->tables[1].limits.min, 5);
    assert_int_equal(m->nmemories, 1);
    assert_int_equal(m->memories[0].min, 3);
    assert_false(m->memories[0].has_max);
    assert_int_equal(m->nglobals, 2);
    assert_int_equal(m->globals[0].type, WASM_I64);
    assert_true(m->globals[0].mutable_);
    assert_int_equal(m->globals[1].init.op, WASM_CONST_I32);
    assert_int_equal(m->globals[1].init.bits[0], 7);
    assert_string_equal(m->imports[2].name, "mm");
    assert_int_equal(m->imports[3].module_len, 0);
    assert_string_equal(m->imports[3].module, "");
    assert_non_null(m->func_declared);
    module_free(m);

    mb_header(&b);
    SECTION(&b, 2, 0x01, 0x00, 0x00, 0x04);
    expect_error(&b, "malformed import kind", 13);
    mb_header(&b);
    SECTION(&b, 2, 0x01, 0x00, 0x00, 0x00, 0x00);
    expect_error(&b, "unknown type 0", 14);
    mb_header(&b);
    SECTION(&b, 2, 0x01, 0x00, 0x00, 0x03, 0x7f, 0x02);
    expect_error(&b, "malformed mutability", 15);
    mb_header(&b);
    SECTION(&b, 2, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00);
    SECTION(&b, 5, 0x01, 0x00, 0x00);
    expect_error(&b, "multiple memories", -1);
    mb_header(&b);
    SECTION(&b, 5, 0x02, 0x00, 0x00, 0x00, 0x00);
    expect_error(&b, "multiple memories", 10);
    /* Invalid UTF-8 in a name: a lone continuation byte, an overlong
     * form, a surrogate. */
    mb_header(&b);
    SECTION(&b, 2, 0x01, 0x01, 0x80, 0x00, 0x03, 0x7f, 0x00);
    expect_error(&b, "malformed UTF-8 encoding", 11);
    mb_header(&b);
    SECTION(&b, 2, 0x01, 0x00, 0x02, 0xc0, 0x80, 0x03, 0x7f, 0x00);
    expect_error(&b, "malformed UTF-8 encoding", 12);
    mb_header(&b);
    SECTION(&b, 2, 0x01, 0x00, 0x03, 0xed, 0xa0, 0x80, 0x03, 0x7f, 0x00);
    expect_error(&b, "malformed UTF-8 encoding", 12);
    /* Valid multi-byte UTF-8 */
    mb_header(&b);
    SECTION(&b, 2, 0x01, 0x04, 0xf0, 0x9f, 0x98, 0x80, 0x02, 0xc3, 0xa9, 0x03, 0x7f, 0x00);
    m = decode_ok(&b);
    assert_int_equal(m->imports[0].module_len, 4);
    module_free(m);
}

static void test_limits(void **state)
{
    struct mb b;
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x01, 0x02, 0x01);
    expect_error(&b, "size minimum must not be greater than maximum", 11);
    mb_header(&b);
    SECTION(&b, 4, 0x01, 0x70, 0x01, 0x02, 0x01);
    expect_error(&b, "size minimum must not be greater than maximum", 12);
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x00, 0x81, 0x80, 0x04); /* 65537 */
    expect_error(&b, "memory size must be at most 65536 pages (4GiB)", 11);
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x01, 0x00, 0x81, 0x80, 0x04);
    expect_error(&b, "memory size must be at most 65536 pages (4GiB)", 11);
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x01, 0x80, 0x80, 0x04, 0x80, 0x80, 0x04); /* 65536 is fine */
    struct wasm_module *m = decode_ok(&b);
    assert_int_equal(m->memories[0].max, 65536);
    module_free(m);
    /* Tables are not limited by the format. */
    mb_header(&b);
    SECTION(&b, 4, 0x01, 0x70, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f);
    m = decode_ok(&b);
    assert_int_equal(m->tables[0].limits.min, UINT32_MAX);
    module_free(m);
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x02, 0x00);
    expect_error(&b, "integer too large", 11);
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x81, 0x00, 0x00);
    expect_error(&b, "integer representation too long", 11);
    mb_header(&b);
    SECTION(&b, 4, 0x01, 0x7f, 0x00, 0x00);
    expect_error(&b, "malformed reference type", 11);
}

/* ---- constant expressions -------------------------------------------------------- */

/* Decodes a module with an imported immutable i32 global, an imported
 * mutable one, one function, and a global of `type` initialised by `expr`. */
static struct wasm_module *global_module(struct mb *b, uint8_t type, const uint8_t *expr,
                                         size_t n, wasm_error *err)
{
    mb_header(b);
    SECTION(b, 1, 0x01, 0x60, 0x00, 0x00);
    SECTION(b, 2, 0x02, 0x00, 0x01, 'a', 0x03, 0x7f, 0x00, 0x00, 0x01, 'b', 0x03, 0x7f, 0x01);
    SECTION(b, 3, 0x01, 0x00);
    uint8_t g[64] = {0x01, type, 0x00};
    memcpy(g + 3, expr, n);
    mb_section(b, 6, g, 3 + n);
    SECTION(b, 10, 0x01, 0x02, 0x00, 0x0b);
    return decode(b->b, b->n, err);
}

static void expect_global(uint8_t type, const uint8_t *expr, size_t n, const char *error)
{
    struct mb b;
    wasm_error err = {0};
    struct wasm_module *m = global_module(&b, type, expr, n, &err);
    if (!error) {
        if (!m)
            fail_msg("unexpected error: %s", err.message);
        module_free(m);
        return;
    }
    if (m) {
        module_free(m);
        fail_msg("decoded, expected \"%s\"", error);
    }
    if (!strstr(err.message, error))
        fail_msg("expected \"%s\", got \"%s\"", error, err.message);
}

static void test_const_exprs(void **state)
{
    expect_global(WASM_I32, BYTES(0x41, 0x7f, 0x0b), NULL);
    expect_global(WASM_I64, BYTES(0x42, 0x80, 0x7f, 0x0b), NULL);
    expect_global(WASM_F32, BYTES(0x43, 0, 0, 0x80, 0x3f, 0x0b), NULL);
    expect_global(WASM_F64, BYTES(0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x0b), NULL);
    expect_global(WASM_V128, BYTES(0xfd, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                   16, 0x0b),
                  NULL);
    expect_global(WASM_FUNCREF, BYTES(0xd0, 0x70, 0x0b), NULL);
    expect_global(WASM_EXTERNREF, BYTES(0xd0, 0x6f, 0x0b), NULL);
    expect_global(WASM_FUNCREF, BYTES(0xd2, 0x00, 0x0b), NULL);
    expect_global(WASM_I32, BYTES(0x23, 0x00, 0x0b), NULL);

    expect_global(WASM_I32, BYTES(0x0b), "type mismatch");
    expect_global(WASM_I32, BYTES(0x42, 0x00, 0x0b), "type mismatch");
    expect_global(WASM_I32, BYTES(0x41, 0x00, 0x41, 0x00, 0x0b), "type mismatch");
    expect_global(WASM_EXTERNREF, BYTES(0xd0, 0x70, 0x0b), "type mismatch");
    expect_global(WASM_I32, BYTES(0x41, 0x00, 0x01, 0x0b), "constant expression required");
    expect_global(WASM_I32, BYTES(0x41, 0x00, 0x41, 0x00, 0x6a, 0x0b),
                  "constant expression required");
    expect_global(WASM_I32, BYTES(0x20, 0x00, 0x0b), "constant expression required");
    expect_global(WASM_I32, BYTES(0x23, 0x01, 0x0b), "constant expression required");
    expect_global(WASM_I32, BYTES(0x23, 0x02, 0x0b), "unknown global 2");
    expect_global(WASM_I32, BYTES(0xfc, 0x00, 0x0b), "constant expression required");
    expect_global(WASM_I32, BYTES(0xf3, 0x0b), "illegal opcode");
    expect_global(WASM_FUNCREF, BYTES(0xd2, 0x01, 0x0b), "unknown function 1");
    expect_global(WASM_I32, BYTES(0x41, 0x00), "unexpected end");

    /* Values and declared functions. */
    struct mb b;
    wasm_error err;
    struct wasm_module *m =
        global_module(&b, WASM_V128, BYTES(0xfd, 0x0c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                           14, 15, 16, 0x0b),
                      &err);
    assert_non_null(m);
    assert_int_equal(m->globals[2].init.op, WASM_CONST_V128);
    assert_true(m->globals[2].init.bits[0] == 0x0807060504030201ull);
    assert_true(m->globals[2].init.bits[1] == 0x100f0e0d0c0b0a09ull);
    assert_int_equal(m->func_declared[0], 0);
    module_free(m);
    m = global_module(&b, WASM_I32, BYTES(0x41, 0x80, 0x80, 0x80, 0x80, 0x78, 0x0b), &err);
    assert_non_null(m);
    assert_true(m->globals[2].init.bits[0] == 0x80000000u); /* zero-extended */
    module_free(m);
    m = global_module(&b, WASM_FUNCREF, BYTES(0xd2, 0x00, 0x0b), &err);
    assert_non_null(m);
    assert_int_equal(m->globals[2].init.op, WASM_CONST_REF_FUNC);
    assert_int_equal(m->func_declared[0], 1);
    module_free(m);
}

/* ---- exports and start ------------------------------------------------------------ */

static void test_exports(void **state)
{
    struct mb b;
    mb_header(&b);
    mb_funcs(&b, 2, false);
    SECTION(&b, 5, 0x01, 0x00, 0x01);
    SECTION(&b, 7, 0x03, 0x01, 'a', 0x00, 0x01, 0x01, 'b', 0x00, 0x01, 0x03, 'm', 'e', 'm', 0x02,
            0x00);
    SECTION(&b, 10, 0x02, 0x02, 0x00, 0x0b, 0x02, 0x00, 0x0b);
    struct wasm_module *m = decode_ok(&b);
    assert_int_equal(m->nexports, 3);
    assert_string_equal(m->exports[2].name, "mem");
    assert_int_equal(m->exports[2].kind, WASM_EXTERN_MEMORY);
    assert_int_equal(m->func_declared[0], 0);
    assert_int_equal(m->func_declared[1], 1);
    assert_int_equal(wasm_module_find_export(m, "b", WASM_EXTERN_FUNC), 1);
    assert_int_equal(wasm_module_find_export(m, "mem", WASM_EXTERN_MEMORY), 0);
    assert_int_equal(wasm_module_find_export(m, "mem", WASM_EXTERN_FUNC), -1);
    assert_int_equal(wasm_module_find_export(m, "x", WASM_EXTERN_FUNC), -1);
    wasm_export_desc ed;
    wasm_module_export(m, 0, &ed);
    assert_string_equal(ed.name, "a");
    assert_int_equal(ed.index, 1);
    module_free(m);

    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 7, 0x02, 0x01, 'a', 0x00, 0x00, 0x01, 'a', 0x00, 0x00);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    expect_error(&b, "duplicate export name", 25);

    /* Same name, different kinds: still a duplicate. */
    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 5, 0x01, 0x00, 0x01);
    SECTION(&b, 7, 0x02, 0x01, 'a', 0x00, 0x00, 0x01, 'a', 0x02, 0x00);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    expect_error(&b, "duplicate export name", -1);

    const struct {
        uint8_t kind;
        const char *msg;
    } unknown[] = {
        {0x00, "unknown function 5"},
        {0x01, "unknown table 5"},
        {0x02, "unknown memory 5"},
        {0x03, "unknown global 5"},
    };
    for (size_t i = 0; i < 4; i++) {
        mb_header(&b);
        mb_section(&b, 7, BYTES(0x01, 0x01, 'a', unknown[i].kind, 0x05));
        expect_error(&b, unknown[i].msg, 14);
    }
    mb_header(&b);
    SECTION(&b, 7, 0x01, 0x01, 'a', 0x04, 0x00);
    expect_error(&b, "malformed export kind", 13);

    /* Many exports: the duplicate check is a hash set. */
    mb_header(&b);
    mb_funcs(&b, 1, false);
    uint8_t es[8192];
    size_t k = 0;
    es[k++] = 0xe8, es[k++] = 0x07; /* 1000 */
    for (int i = 0; i < 1000; i++) {
        char name[8];
        int len = snprintf(name, sizeof name, "e%d", i);
        es[k++] = (uint8_t)len;
        memcpy(es + k, name, (size_t)len);
        k += (size_t)len;
        es[k++] = 0x00, es[k++] = 0x00;
    }
    mb_section(&b, 7, es, k);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    m = decode_ok(&b);
    assert_int_equal(m->nexports, 1000);
    assert_int_equal(wasm_module_find_export(m, "e999", WASM_EXTERN_FUNC), 0);
    module_free(m);
}

static void test_start(void **state)
{
    struct mb b;
    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 8, 0x00);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    struct wasm_module *m = decode_ok(&b);
    assert_true(m->has_start);
    assert_int_equal(m->start, 0);
    module_free(m);

    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 8, 0x01);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    expect_error(&b, "unknown function 1", 20);

    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x01, 0x7f, 0x00);
    SECTION(&b, 3, 0x01, 0x00);
    SECTION(&b, 8, 0x00);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    expect_error(&b, "start function", -1);
}

/* ---- element segments ------------------------------------------------------------- */

static struct wasm_module *elem_module(struct mb *b, const uint8_t *seg, size_t n, wasm_error *err)
{
    mb_header(b);
    mb_funcs(b, 2, false);
    /* table 0: funcref, table 1: externref */
    SECTION(b, 4, 0x02, 0x70, 0x00, 0x0a, 0x6f, 0x00, 0x0a);
    uint8_t es[128] = {0x01};
    memcpy(es + 1, seg, n);
    mb_section(b, 9, es, 1 + n);
    SECTION(b, 10, 0x02, 0x02, 0x00, 0x0b, 0x02, 0x00, 0x0b);
    return decode(b->b, b->n, err);
}

static const wasm_elem_segment *elem_ok(struct mb *b, struct wasm_module **mp, const uint8_t *seg,
                                        size_t n)
{
    wasm_error err = {0};
    *mp = elem_module(b, seg, n, &err);
    if (!*mp)
        fail_msg("unexpected error: %s", err.message);
    return &(*mp)->elems[0];
}

static void expect_elem_error(const uint8_t *seg, size_t n, const char *msg)
{
    struct mb b;
    wasm_error err = {0};
    struct wasm_module *m = elem_module(&b, seg, n, &err);
    if (m) {
        module_free(m);
        fail_msg("decoded, expected \"%s\"", msg);
    }
    if (!strstr(err.message, msg))
        fail_msg("expected \"%s\", got \"%s\"", msg, err.message);
}

static void test_elem_segments(void **state)
{
    struct mb b;
    struct wasm_module *m;
    const wasm_elem_segment *s;

    /* 0: active table 0, offset, function indices */
    s = elem_ok(&b, &m, BYTES(0x00, 0x41, 0x03, 0x0b, 0x02, 0x01, 0x00));
    assert_int_equal(s->mode, WASM_SEG_ACTIVE);
    assert_int_equal(s->table_index, 0);
    assert_int_equal(s->offset.bits[0], 3);
    assert_int_equal(s->elem_type, WASM_FUNCREF);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->items[0].op, WASM_CONST_REF_FUNC);
    assert_int_equal(s->items[0].index, 1);
    assert_int_equal(m->func_declared[0], 1);
    assert_int_equal(m->func_declared[1], 1);
    module_free(m);

    /* 1: passive, elemkind, function indices */
    s = elem_ok(&b, &m, BYTES(0x01, 0x00, 0x01, 0x01));
    assert_int_equal(s->mode, WASM_SEG_PASSIVE);
    assert_int_equal(s->count, 1);
    assert_int_equal(m->func_declared[0], 0);
    assert_int_equal(m->func_declared[1], 1);
    module_free(m);

    /* 2: active with a table index */
    s = elem_ok(&b, &m, BYTES(0x02, 0x00, 0x41, 0x00, 0x0b, 0x00, 0x01, 0x00));
    assert_int_equal(s->mode, WASM_SEG_ACTIVE);
    assert_int_equal(s->table_index, 0);
    module_free(m);

    /* 3: declarative */
    s = elem_ok(&b, &m, BYTES(0x03, 0x00, 0x01, 0x00));
    assert_int_equal(s->mode, WASM_SEG_DECLARATIVE);
    assert_int_equal(m->func_declared[0], 1);
    module_free(m);

    /* 4: active table 0, expressions */
    s = elem_ok(&b, &m, BYTES(0x04, 0x41, 0x00, 0x0b, 0x02, 0xd2, 0x01, 0x0b, 0xd0, 0x70, 0x0b));
    assert_int_equal(s->mode, WASM_SEG_ACTIVE);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->items[0].op, WASM_CONST_REF_FUNC);
    assert_int_equal(s->items[1].op, WASM_CONST_REF_NULL);
    assert_int_equal(m->func_declared[1], 1);
    module_free(m);

    /* 5: passive, reftype, expressions */
    s = elem_ok(&b, &m, BYTES(0x05, 0x6f, 0x01, 0xd0, 0x6f, 0x0b));
    assert_int_equal(s->mode, WASM_SEG_PASSIVE);
    assert_int_equal(s->elem_type, WASM_EXTERNREF);
    module_free(m);

    /* 6: active, table 1 (externref), reftype, expressions */
    s = elem_ok(&b, &m, BYTES(0x06, 0x01, 0x41, 0x02, 0x0b, 0x6f, 0x01, 0xd0, 0x6f, 0x0b));
    assert_int_equal(s->mode, WASM_SEG_ACTIVE);
    assert_int_equal(s->table_index, 1);
    assert_int_equal(s->elem_type, WASM_EXTERNREF);
    module_free(m);

    /* 7: declarative, reftype, expressions */
    s = elem_ok(&b, &m, BYTES(0x07, 0x70, 0x01, 0xd2, 0x00, 0x0b));
    assert_int_equal(s->mode, WASM_SEG_DECLARATIVE);
    assert_int_equal(m->func_declared[0], 1);
    module_free(m);

    expect_elem_error(BYTES(0x08, 0x00), "malformed elements segment kind");
    expect_elem_error(BYTES(0x02, 0x02, 0x41, 0x00, 0x0b, 0x00, 0x00), "unknown table 2");
    expect_elem_error(BYTES(0x00, 0x42, 0x00, 0x0b, 0x00), "type mismatch");
    expect_elem_error(BYTES(0x00, 0x41, 0x00, 0x0b, 0x01, 0x02), "unknown function 2");
    expect_elem_error(BYTES(0x01, 0x01, 0x00), "malformed element kind");
    expect_elem_error(BYTES(0x05, 0x7f, 0x00), "malformed reference type");
    /* funcref segment into the externref table, and the reverse */
    expect_elem_error(BYTES(0x02, 0x01, 0x41, 0x00, 0x0b, 0x00, 0x00), "type mismatch");
    expect_elem_error(BYTES(0x06, 0x00, 0x41, 0x00, 0x0b, 0x6f, 0x00), "type mismatch");
    /* item of the wrong type, or not a reference */
    expect_elem_error(BYTES(0x05, 0x6f, 0x01, 0xd2, 0x00, 0x0b), "type mismatch");
    expect_elem_error(BYTES(0x05, 0x70, 0x01, 0x41, 0x00, 0x0b), "type mismatch");
    expect_elem_error(BYTES(0x05, 0x70, 0x01, 0xf3, 0x00, 0x0b), "illegal opcode");

    /* No table at all. */
    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 9, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    expect_error(&b, "unknown table 0", -1);
}

/* ---- code and data ----------------------------------------------------------------- */

static void test_code(void **state)
{
    struct mb b;
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x01, 0x7f, 0x00);
    SECTION(&b, 3, 0x02, 0x00, 0x00);
    size_t code = SECTION(&b, 10, 0x02,
                          0x08, 0x03, 0x00, 0x7f, 0x02, 0x7e, 0x01, 0x7b, 0x0b,
                          0x04, 0x00, 0x01, 0x01, 0x0b);
    struct wasm_module *m = decode_ok(&b);
    assert_int_equal(m->code_section_start, code);
    const wasm_func_def *f = &m->func_defs[0];
    assert_int_equal(f->nlocals, 3);
    assert_int_equal(f->local_types[0], WASM_I64);
    assert_int_equal(f->local_types[1], WASM_I64);
    assert_int_equal(f->local_types[2], WASM_V128);
    assert_int_equal(f->size_offset, code + 1);
    assert_int_equal(f->body_offset, code + 9);
    assert_int_equal(f->body_end, code + 10);
    f = &m->func_defs[1];
    assert_int_equal(f->nlocals, 0);
    assert_int_equal(f->size_offset, code + 10);
    assert_int_equal(f->body_offset, code + 12);
    assert_int_equal(f->body_end, code + 15);
    module_free(m);

    /* Function and code counts. */
    mb_header(&b);
    mb_funcs(&b, 2, false);
    expect_error(&b, "function and code section have inconsistent lengths", -1);
    mb_header(&b);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    expect_error(&b, "function and code section have inconsistent lengths", 10);
    mb_header(&b);
    mb_funcs(&b, 2, false);
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    expect_error(&b, "function and code section have inconsistent lengths", -1);
    mb_header(&b);
    SECTION(&b, 3, 0x00);
    SECTION(&b, 10, 0x00);
    m = decode_ok(&b);
    module_free(m);

    /* A body without its final `end`. */
    mb_header(&b);
    mb_funcs(&b, 2, false);
    SECTION(&b, 10, 0x02, 0x04, 0x00, 0x41, 0x01, 0x1a, 0x05, 0x00, 0x41, 0x01, 0x1a, 0x0b);
    expect_error(&b, "END opcode expected", -1);
    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 10, 0x01, 0x04, 0x00, 0x41, 0x01, 0x1a);
    expect_error(&b, "unexpected end", -1);
    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 10, 0x01, 0x01, 0x00);
    expect_error(&b, "unexpected end", -1);
    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 10, 0x01, 0x00);
    expect_error(&b, "unexpected end", -1);

    /* Locals: bad type, too many, params count. */
    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 10, 0x01, 0x04, 0x01, 0x01, 0x40, 0x0b);
    expect_error(&b, "malformed value type", -1);
    mb_header(&b);
    mb_funcs(&b, 1, false);
    SECTION(&b, 10, 0x01, 0x0a, 0x02, 0x80, 0x80, 0x80, 0x80, 0x04, 0x7f, 0x02, 0x7e, 0x0b);
    expect_error(&b, "too many locals", -1);
    /* exactly the limit, params included */
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x01, 0x7f, 0x00);
    SECTION(&b, 3, 0x01, 0x00);
    SECTION(&b, 10, 0x01, 0x06, 0x01, 0xcf, 0x86, 0x03, 0x7f, 0x0b); /* 49999 */
    m = decode_ok(&b);
    assert_int_equal(m->func_defs[0].nlocals, WASM_MAX_LOCALS - 1);
    module_free(m);
    mb_header(&b);
    SECTION(&b, 1, 0x01, 0x60, 0x01, 0x7f, 0x00);
    SECTION(&b, 3, 0x01, 0x00);
    SECTION(&b, 10, 0x01, 0x06, 0x01, 0xd0, 0x86, 0x03, 0x7f, 0x0b); /* 50000 */
    expect_error(&b, "too many locals", -1);
}

static void test_data_segments(void **state)
{
    struct mb b;
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x00, 0x01);
    SECTION(&b, 12, 0x03);
    size_t data = SECTION(&b, 11, 0x03,
                          0x00, 0x41, 0x10, 0x0b, 0x02, 'h', 'i',
                          0x01, 0x01, 'x',
                          0x02, 0x00, 0x41, 0x20, 0x0b, 0x00);
    struct wasm_module *m = decode_ok(&b);
    assert_int_equal(m->ndatas, 3);
    assert_int_equal(m->datas[0].mode, WASM_SEG_ACTIVE);
    assert_int_equal(m->datas[0].offset.bits[0], 0x10);
    assert_int_equal(m->datas[0].size, 2);
    assert_ptr_equal(m->datas[0].bytes, m->bytes + data + 6);
    assert_memory_equal(m->datas[0].bytes, "hi", 2);
    assert_int_equal(m->datas[1].mode, WASM_SEG_PASSIVE);
    assert_int_equal(m->datas[1].size, 1);
    assert_int_equal(m->datas[2].mode, WASM_SEG_ACTIVE);
    assert_int_equal(m->datas[2].memory_index, 0);
    assert_int_equal(m->datas[2].size, 0);
    module_free(m);

    mb_header(&b);
    SECTION(&b, 11, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x00);
    expect_error(&b, "unknown memory 0", 11);
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x00, 0x01);
    SECTION(&b, 11, 0x01, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x00);
    expect_error(&b, "unknown memory 1", 17);
    mb_header(&b);
    SECTION(&b, 11, 0x01, 0x03, 0x00);
    expect_error(&b, "malformed data segment kind", 11);
    mb_header(&b);
    SECTION(&b, 5, 0x01, 0x00, 0x01);
    SECTION(&b, 11, 0x01, 0x00, 0x42, 0x00, 0x0b, 0x00);
    expect_error(&b, "type mismatch", -1);
    /* Data bytes past the section end. */
    mb_header(&b);
    SECTION(&b, 11, 0x01, 0x01, 0x07, 'a', 'b');
    expect_error(&b, "unexpected end", -1);

    /* Data count agreement. */
    mb_header(&b);
    SECTION(&b, 12, 0x01);
    SECTION(&b, 11, 0x02, 0x01, 0x00, 0x01, 0x00);
    expect_error(&b, "data count and data section have inconsistent lengths", 13);
    mb_header(&b);
    SECTION(&b, 12, 0x02);
    expect_error(&b, "data count and data section have inconsistent lengths", -1);
    mb_header(&b);
    SECTION(&b, 12, 0x00);
    m = decode_ok(&b);
    assert_true(m->has_data_count);
    module_free(m);
}

/* ---- custom sections and names --------------------------------------------------- */

static void test_custom_sections(void **state)
{
    struct mb b;
    mb_header(&b);
    mb_custom(&b, "first", BYTES(1, 2, 3));
    mb_funcs(&b, 1, false);
    mb_custom(&b, "", BYTES(9));
    SECTION(&b, 10, 0x01, 0x02, 0x00, 0x0b);
    mb_custom(&b, "first", BYTES(4));
    struct wasm_module *m = decode_ok(&b);
    assert_int_equal(m->ncustoms, 3);
    size_t size = 0;
    const uint8_t *data = wasm_module_custom_section(m, "first", &size);
    assert_non_null(data);
    assert_int_equal(size, 3);
    assert_int_equal(data[2], 3);
    data = wasm_module_custom_section(m, "", &size);
    assert_non_null(data);
    assert_int_equal(size, 1);
    assert_null(wasm_module_custom_section(m, "none", &size));
    assert_int_equal(size, 0);
    module_free(m);

    /* Name longer than the section. */
    mb_header(&b);
    SECTION(&b, 0, 0x05, 'a', 'b');
    expect_error(&b, "unexpected end", -1);
    mb_header(&b);
    mb_raw(&b, BYTES(0x00, 0x00));
    expect_error(&b, "unexpected end", 10);
    mb_header(&b);
    SECTION(&b, 0, 0x02, 0xff, 0xfe);
    expect_error(&b, "malformed UTF-8 encoding", 10);
}

static void test_name_section(void **state)
{
    struct mb b;
    mb_header(&b);
    mb_funcs(&b, 3, true);
    /* module name "mod"; function names, out of order, one out of range */
    mb_custom(&b, "name", BYTES(0x00, 0x04, 0x03, 'm', 'o', 'd',
                                0x01, 0x10, 0x04,
                                0x02, 0x02, 'f', '2',
                                0x00, 0x02, 'f', '0',
                                0x09, 0x01, 'x',
                                0x01, 0x02, 'f', '1',
                                0x02, 0x03, 0x00));
    struct wasm_module *m = decode_ok(&b);
    assert_string_equal(m->module_name, "mod");
    assert_int_equal(m->nfunc_names, 3);
    assert_string_equal(wasm_module_func_name(m, 0), "f0");
    assert_string_equal(wasm_module_func_name(m, 1), "f1");
    assert_string_equal(wasm_module_func_name(m, 2), "f2");
    assert_null(wasm_module_func_name(m, 3));
    assert_null(wasm_module_func_name(m, 9));
    module_free(m);

    /* A broken name section does not fail the module: what came before
     * the damage stays. */
    mb_header(&b);
    mb_funcs(&b, 2, true);
    mb_custom(&b, "name", BYTES(0x01, 0x09, 0x02, 0x00, 0x02, 'f', '0', 0x01, 0x02, 0xff, 0xff));
    m = decode_ok(&b);
    assert_int_equal(m->nfunc_names, 1);
    assert_string_equal(wasm_module_func_name(m, 0), "f0");
    assert_null(wasm_module_func_name(m, 1));
    module_free(m);

    mb_header(&b);
    mb_funcs(&b, 1, true);
    mb_custom(&b, "name", BYTES(0x01, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f));
    m = decode_ok(&b);
    assert_int_equal(m->nfunc_names, 0);
    assert_null(wasm_module_func_name(m, 0));
    module_free(m);
}

/* ---- DWARF line table ---------------------------------------------------------------- */

/* A DWARF 4 line program: a.c lines 10 then b.h (in dir "inc") 12, 13,
 * over code addresses [2, 12). */
static size_t debug_line_v4(uint8_t *out)
{
    const uint8_t header_rest[] = {
        0x01,             /* min_inst_length */
        0x01,             /* max_ops_per_inst */
        0x01,             /* default_is_stmt */
        0xfb,             /* line_base -5 */
        0x0e,             /* line_range 14 */
        0x0d,             /* opcode_base 13 */
        0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, /* standard_opcode_lengths */
        'i', 'n', 'c', 0, 0,               /* include_directories */
        'a', '.', 'c', 0, 0, 0, 0,         /* file 1 */
        'b', '.', 'h', 0, 1, 0, 0,         /* file 2, dir 1 */
        0,
    };
    const uint8_t program[] = {
        0x00, 0x05, 0x02, 0x02, 0x00, 0x00, 0x00, /* set_address 2 */
        0x03, 0x09,                               /* advance_line 9 -> 10 */
        0x01,                                     /* copy */
        0x02, 0x05,                               /* advance_pc 5 -> 7 */
        0x04, 0x02,                               /* set_file 2 */
        0x03, 0x02,                               /* advance_line 2 -> 12 */
        0x01,                                     /* copy */
        0x21,                                     /* special: pc+1, line+1 */
        0x02, 0x04,                               /* advance_pc 4 -> 12 */
        0x00, 0x01, 0x01,                         /* end_sequence */
        /* A sequence of a removed function (tombstone address). */
        0x00, 0x05, 0x02, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x01, 0x01,
    };
    size_t n = 0;
    uint32_t unit_length = 2 + 4 + sizeof header_rest + sizeof program;
    for (int i = 0; i < 4; i++)
        out[n++] = (uint8_t)(unit_length >> (8 * i));
    out[n++] = 4, out[n++] = 0; /* version */
    for (int i = 0; i < 4; i++)
        out[n++] = (uint8_t)(sizeof header_rest >> (8 * i));
    memcpy(out + n, header_rest, sizeof header_rest);
    n += sizeof header_rest;
    memcpy(out + n, program, sizeof program);
    n += sizeof program;
    return n;
}

static void test_debug_line(void **state)
{
    struct mb b;
    mb_header(&b);
    mb_funcs(&b, 1, false);
    size_t code = SECTION(&b, 10, 0x01, 0x0c, 0x00, 0x41, 0x01, 0x1a, 0x41, 0x02, 0x1a, 0x41,
                          0x03, 0x1a, 0x01, 0x0b);
    uint8_t dl[256];
    size_t n = debug_line_v4(dl);
    mb_custom(&b, ".debug_line", dl, n);

    wasm_error err = {0};
    struct wasm_module *m = decode(b.b, b.n, &err);
    assert_non_null(m);
    const char *file = NULL;
    uint32_t line = 0;
    assert_false(wasm_module_source_line(m, (uint32_t)code + 1, &file, &line));
    assert_true(wasm_module_source_line(m, (uint32_t)code + 2, &file, &line));
    assert_string_equal(file, "a.c");
    assert_int_equal(line, 10);
    assert_true(wasm_module_source_line(m, (uint32_t)code + 6, &file, &line));
    assert_int_equal(line, 10);
    assert_true(wasm_module_source_line(m, (uint32_t)code + 7, &file, &line));
    assert_string_equal(file, "inc/b.h");
    assert_int_equal(line, 12);
    assert_true(wasm_module_source_line(m, (uint32_t)code + 8, &file, &line));
    assert_int_equal(line, 13);
    assert_true(wasm_module_source_line(m, (uint32_t)code + 11, &file, &line));
    assert_int_equal(line, 13);
    assert_false(wasm_module_source_line(m, (uint32_t)code + 12, &file, &line));
    assert_false(wasm_module_source_line(m, 3, &file, &line));
    module_free(m);

    /* Every truncation of the section: no crash, no line info or less. */
    for (size_t cut = 0; cut < n; cut++) {
        mb_header(&b);
        mb_funcs(&b, 1, true);
        mb_custom(&b, ".debug_line", dl, cut);
        m = decode(b.b, b.n, &err);
        assert_non_null(m);
        for (uint32_t off = 0; off < b.n; off++)
            wasm_module_source_line(m, off, &file, &line);
        module_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leb_u32),
        cmocka_unit_test(test_leb_signed),
        cmocka_unit_test(test_minimal_module),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_section_errors),
        cmocka_unit_test(test_hostile_counts),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_imports),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_const_exprs),
        cmocka_unit_test(test_exports),
        cmocka_unit_test(test_start),
        cmocka_unit_test(test_elem_segments),
        cmocka_unit_test(test_code),
        cmocka_unit_test(test_data_segments),
        cmocka_unit_test(test_custom_sections),
        cmocka_unit_test(test_name_section),
        cmocka_unit_test(test_debug_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
