#include "base/base.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Name and length of a string literal. */
#define S(lit) (lit), (sizeof(lit) - 1)

static void add(wg_headers *h, const char *name, const char *value)
{
    assert_true(wg_headers_add(h, name, strlen(name), value, strlen(value)));
}

static void assert_entry(const wg_headers *h, uint32_t i, const char *name, const char *value)
{
    const wg_header *e = wg_headers_at(h, i);
    assert_non_null(e);
    assert_int_equal(e->name_len, strlen(name));
    assert_int_equal(e->value_len, strlen(value));
    assert_memory_equal(e->name, name, e->name_len);
    assert_memory_equal(e->value, value, e->value_len);
    /* Stored NUL-terminated. */
    assert_int_equal(e->name[e->name_len], '\0');
    assert_int_equal(e->value[e->value_len], '\0');
}

/* bytes must always be the sum of the lengths. */
static void assert_bytes(const wg_headers *h)
{
    size_t sum = 0;
    for (uint32_t i = 0; i < h->count; i++)
        sum += (size_t)h->items[i].name_len + h->items[i].value_len;
    assert_int_equal(h->bytes, sum);
}

static void test_add_get_case_insensitive(void **state)
{
    wg_headers h = {0};
    assert_null(wg_headers_get(&h, S("host")));
    add(&h, "Host", "example.com");
    add(&h, "Content-Type", "text/plain");
    assert_int_equal(h.count, 2);
    assert_int_equal(h.bytes, 4 + 11 + 12 + 10);

    const wg_header *e = wg_headers_get(&h, S("HOST"));
    assert_non_null(e);
    assert_string_equal(e->value, "example.com");
    /* The name keeps its spelling. */
    assert_string_equal(e->name, "Host");
    assert_non_null(wg_headers_get(&h, S("content-type")));
    assert_null(wg_headers_get(&h, S("content-typ")));
    assert_null(wg_headers_get(&h, S("content-type2")));
    /* Only ASCII letters fold: 0xC4 and 0xE4 are different names. */
    assert_true(wg_headers_add(&h, S("x-\xC4"), S("1")));
    assert_null(wg_headers_get(&h, S("x-\xE4")));
    assert_non_null(wg_headers_get(&h, S("X-\xC4")));
    /* '@' (0x40) and '`' (0x60) differ by the case bit but are not letters. */
    add(&h, "a@", "v");
    assert_null(wg_headers_get(&h, S("a`")));

    assert_null(wg_headers_at(&h, h.count));
    assert_bytes(&h);
    wg_headers_free(&h);
    assert_null(h.items);
    assert_int_equal(h.count, 0);
}

static void test_binary_names_and_values(void **state)
{
    wg_headers h = {0};
    assert_true(wg_headers_add(&h, S("k\0ey"), S("v\0al\xff")));
    assert_true(wg_headers_add(&h, NULL, 0, NULL, 0));
    const wg_header *e = wg_headers_get(&h, S("K\0EY"));
    assert_non_null(e);
    assert_int_equal(e->value_len, 5);
    assert_memory_equal(e->value, "v\0al\xff", 5);
    assert_null(wg_headers_get(&h, S("k")));
    e = wg_headers_get(&h, "", 0);
    assert_non_null(e);
    assert_ptr_equal(e, wg_headers_at(&h, 1));
    assert_string_equal(e->value, "");
    assert_bytes(&h);
    wg_headers_free(&h);
}

static void test_add_lower(void **state)
{
    wg_headers h = {0};
    assert_true(wg_headers_add_lower(&h, S("X-Request-ID"), S("AbC")));
    assert_entry(&h, 0, "x-request-id", "AbC");
    assert_true(wg_headers_set_lower(&h, S("New-Header"), S("V")));
    assert_entry(&h, 1, "new-header", "V");
    wg_headers_free(&h);
}

/* Lower-casing works on eight bytes at a time: every byte value, at every
 * position of names from 1 to 24 bytes (whole words and tails), against a
 * byte-by-byte reference. Only A-Z change. */
static void test_add_lower_every_byte(void **state)
{
    (void)state;
    for (size_t len = 1; len <= 24; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (unsigned c = 0; c < 256; c++) {
                char name[24], want[24];
                for (size_t i = 0; i < len; i++)
                    name[i] = (char)("aZ@[`{Q9"[i % 8]); /* the edges of A-Z and a-z */
                name[pos] = (char)c;
                for (size_t i = 0; i < len; i++) {
                    unsigned char b = (unsigned char)name[i];
                    want[i] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
                }
                wg_headers h = {0};
                assert_true(wg_headers_add_lower(&h, name, len, "v", 1));
                assert_int_equal(h.items[0].name_len, len);
                if (memcmp(h.items[0].name, want, len) != 0)
                    fail_msg("len %zu, byte 0x%02x at %zu: wrong lower case", len, c, pos);
                assert_int_equal(h.items[0].name[len], 0);
                wg_headers_free(&h);
            }
        }
    }
}

static void test_prepend(void **state)
{
    (void)state;
    wg_headers h;
    wg_headers_init(&h);
    assert_true(wg_headers_add(&h, "b", 1, "2", 1));
    assert_true(wg_headers_add(&h, "c", 1, "3", 1));
    assert_true(wg_headers_prepend(&h, "a", 1, "1", 1));
    assert_int_equal(h.count, 3);
    const char *order[] = {"a", "b", "c"};
    for (uint32_t i = 0; i < 3; i++)
        assert_string_equal(h.items[i].name, order[i]);
    assert_int_equal(h.bytes, 6);
    const wg_header *a = wg_headers_get(&h, "a", 1);
    assert_non_null(a);
    assert_string_equal(a->value, "1");
    wg_headers_free(&h);
}

/* Entries someone validated stay marked; anything written since is not. */
static void test_checked_marks(void **state)
{
    (void)state;
    wg_headers h;
    wg_headers_init(&h);
    assert_true(wg_headers_add(&h, "a", 1, "1", 1));
    assert_true(wg_headers_add(&h, "b", 1, "2", 1));
    assert_false(h.items[0].checked);
    wg_headers_mark_checked(&h);
    assert_true(h.items[0].checked && h.items[1].checked);
    assert_true(wg_headers_add(&h, "c", 1, "3", 1));
    assert_true(wg_headers_set(&h, "a", 1, "changed", 7)); /* a new value */
    const wg_header *a = wg_headers_get(&h, "a", 1);
    assert_false(a->checked);
    assert_true(wg_headers_get(&h, "b", 1)->checked);
    assert_false(wg_headers_get(&h, "c", 1)->checked);
    wg_headers copy;
    wg_headers_init(&copy);
    assert_true(wg_headers_copy(&copy, &h));
    assert_true(wg_headers_get(&copy, "b", 1)->checked);
    assert_false(wg_headers_get(&copy, "c", 1)->checked);
    wg_headers_free(&copy);
    wg_headers_free(&h);
}

static void test_multi_values(void **state)
{
    wg_headers h = {0};
    wg_buf out = {0};
    add(&h, "Set-Cookie", "a=1");
    add(&h, "Other", "x");
    add(&h, "set-cookie", "b=2");
    add(&h, "SET-COOKIE", "");
    assert_int_equal(wg_headers_count(&h, S("set-cookie")), 3);
    assert_int_equal(wg_headers_count(&h, S("other")), 1);
    assert_int_equal(wg_headers_count(&h, S("none")), 0);
    /* get returns the first. */
    assert_string_equal(wg_headers_get(&h, S("Set-Cookie"))->value, "a=1");

    assert_int_equal(wg_headers_get_joined(&h, S("set-cookie"), &out), 3);
    assert_int_equal(out.len, 8);
    assert_memory_equal(out.data, "a=1,b=2,", 8);
    assert_int_equal(wg_headers_get_joined(&h, S("other"), &out), 1);
    assert_int_equal(out.len, 1);
    assert_memory_equal(out.data, "x", 1);
    /* Absent: 0 and out emptied. */
    assert_int_equal(wg_headers_get_joined(&h, S("missing"), &out), 0);
    assert_int_equal(out.len, 0);
    wg_buf_free(&out);
    wg_headers_free(&h);
}

static void test_set(void **state)
{
    wg_headers h = {0};
    add(&h, "A", "1");
    add(&h, "Dup", "first");
    add(&h, "B", "2");
    add(&h, "dup", "second");
    add(&h, "C", "3");
    add(&h, "DUP", "third");

    /* All occurrences become one, at the first one's position and with its
     * spelling; the others keep their order. */
    assert_true(wg_headers_set(&h, S("dUp"), S("only")));
    assert_int_equal(h.count, 4);
    assert_entry(&h, 0, "A", "1");
    assert_entry(&h, 1, "Dup", "only");
    assert_entry(&h, 2, "B", "2");
    assert_entry(&h, 3, "C", "3");
    assert_bytes(&h);

    /* Single occurrence: value replaced in place. */
    assert_true(wg_headers_set(&h, S("b"), S("22")));
    assert_entry(&h, 2, "B", "22");
    /* Absent: appended as given. */
    assert_true(wg_headers_set(&h, S("New"), S("n")));
    assert_int_equal(h.count, 5);
    assert_entry(&h, 4, "New", "n");
    /* Empty value. */
    assert_true(wg_headers_set(&h, S("a"), "", 0));
    assert_entry(&h, 0, "A", "");
    assert_bytes(&h);
    wg_headers_free(&h);
}

static void test_remove_clear(void **state)
{
    wg_headers h = {0};
    add(&h, "X", "1");
    add(&h, "Y", "2");
    add(&h, "x", "3");
    add(&h, "Z", "4");
    add(&h, "X", "5");
    assert_int_equal(wg_headers_remove(&h, S("x")), 3);
    assert_int_equal(h.count, 2);
    assert_entry(&h, 0, "Y", "2");
    assert_entry(&h, 1, "Z", "4");
    assert_bytes(&h);
    assert_int_equal(wg_headers_remove(&h, S("x")), 0);
    assert_int_equal(wg_headers_remove(&h, S("z")), 1);
    assert_int_equal(wg_headers_remove(&h, S("Y")), 1);
    assert_int_equal(h.count, 0);
    assert_int_equal(h.bytes, 0);

    add(&h, "a", "b");
    uint32_t cap = h.cap;
    wg_headers_clear(&h);
    assert_int_equal(h.count, 0);
    assert_int_equal(h.bytes, 0);
    assert_int_equal(h.cap, cap);
    add(&h, "c", "d");
    assert_entry(&h, 0, "c", "d");
    wg_headers_free(&h);
}

static void test_copy(void **state)
{
    wg_headers src = {0}, dst = {0};
    add(&src, "One", "1");
    add(&src, "Two", "2");
    add(&dst, "old", "gone");
    assert_true(wg_headers_copy(&dst, &src));
    assert_int_equal(dst.count, 2);
    assert_int_equal(dst.bytes, src.bytes);
    assert_entry(&dst, 0, "One", "1");
    assert_entry(&dst, 1, "Two", "2");
    /* A deep copy. */
    assert_ptr_not_equal(dst.items[0].name, src.items[0].name);
    assert_true(wg_headers_set(&src, S("one"), S("changed")));
    assert_entry(&dst, 0, "One", "1");
    assert_true(wg_headers_copy(&dst, &dst));
    assert_int_equal(dst.count, 2);
    wg_headers_free(&src);
    /* Copying an empty map empties dst. */
    assert_true(wg_headers_copy(&dst, &src));
    assert_int_equal(dst.count, 0);
    wg_headers_free(&dst);
}

/* ---- pair serialisation -------------------------------------------------- */

static const uint8_t worked_example[] = {
    0x02, 0x00, 0x00, 0x00,                         /* N = 2 */
    0x07, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, /* 7, 3 */
    0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* 5, 1 */
    ':',  'm',  'e',  't',  'h',  'o',  'd',  0x00, 'G', 'E',
    'T',  0x00, ':',  'p',  'a',  't',  'h',  0x00, '/', 0x00,
};

static void test_serialize_worked_example(void **state)
{
    wg_headers h = {0};
    wg_buf out = {0};
    add(&h, ":method", "GET");
    add(&h, ":path", "/");
    assert_true(wg_headers_serialize(&h, &out));
    assert_int_equal(out.len, sizeof worked_example);
    assert_memory_equal(out.data, worked_example, sizeof worked_example);

    wg_headers back = {0};
    assert_true(wg_headers_deserialize(&back, worked_example, sizeof worked_example, false));
    assert_int_equal(back.count, 2);
    assert_entry(&back, 0, ":method", "GET");
    assert_entry(&back, 1, ":path", "/");
    assert_int_equal(back.bytes, h.bytes);
    wg_headers_free(&back);
    wg_headers_free(&h);
    wg_buf_free(&out);
}

static void test_serialize_empty(void **state)
{
    wg_headers h = {0};
    wg_buf out = {0};
    assert_true(wg_buf_append_str(&out, "stale"));
    assert_true(wg_headers_serialize(&h, &out));
    assert_int_equal(out.len, 0);
    wg_buf_free(&out);
}

static void test_round_trip(void **state)
{
    wg_headers h = {0}, back = {0};
    wg_buf out = {0}, again = {0};
    add(&h, "Host", "example.com");
    add(&h, "x-dup", "1");
    add(&h, "X-Dup", "2");
    assert_true(wg_headers_add(&h, "", 0, S("empty name")));
    assert_true(wg_headers_add(&h, S("empty-value"), "", 0));
    assert_true(wg_headers_add(&h, S("bin\0ary"), S("\0\x01\xff")));
    assert_true(wg_headers_serialize(&h, &out));
    assert_int_equal(out.len, 4 + 10 * h.count + h.bytes);

    assert_true(wg_headers_deserialize(&back, out.data, out.len, false));
    assert_int_equal(back.count, h.count);
    assert_int_equal(back.bytes, h.bytes);
    for (uint32_t i = 0; i < h.count; i++) {
        assert_int_equal(back.items[i].name_len, h.items[i].name_len);
        assert_int_equal(back.items[i].value_len, h.items[i].value_len);
        assert_memory_equal(back.items[i].name, h.items[i].name, h.items[i].name_len);
        assert_memory_equal(back.items[i].value, h.items[i].value, h.items[i].value_len);
    }
    assert_true(wg_headers_serialize(&back, &again));
    assert_int_equal(again.len, out.len);
    assert_memory_equal(again.data, out.data, out.len);

    /* lower_names folds names only. */
    assert_true(wg_headers_deserialize(&back, out.data, out.len, true));
    assert_entry(&back, 0, "host", "example.com");
    assert_entry(&back, 2, "x-dup", "2");
    assert_bytes(&back);

    wg_headers_free(&h);
    wg_headers_free(&back);
    wg_buf_free(&out);
    wg_buf_free(&again);
}

/* A map holding one sentinel entry, to check that failures leave it. */
static void sentinel(wg_headers *h)
{
    wg_headers_free(h);
    add(h, "sentinel", "kept");
}

static void assert_sentinel(const wg_headers *h)
{
    assert_int_equal(h->count, 1);
    assert_entry(h, 0, "sentinel", "kept");
}

static void assert_rejected(const uint8_t *data, size_t len)
{
    wg_headers h = {0};
    sentinel(&h);
    assert_false(wg_headers_deserialize(&h, data, len, false));
    assert_sentinel(&h);
    assert_false(wg_headers_deserialize(&h, data, len, true));
    assert_sentinel(&h);
    wg_headers_free(&h);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void test_deserialize_short_is_empty(void **state)
{
    wg_headers h = {0};
    const uint8_t junk[3] = {0xff, 0xff, 0xff};
    for (size_t len = 0; len < 4; len++) {
        sentinel(&h);
        assert_true(wg_headers_deserialize(&h, len ? junk : NULL, len, false));
        assert_int_equal(h.count, 0);
        assert_int_equal(h.bytes, 0);
    }
    /* N = 0 in exactly 4 bytes is an empty map too. */
    sentinel(&h);
    const uint8_t zero[4] = {0};
    assert_true(wg_headers_deserialize(&h, zero, 4, false));
    assert_int_equal(h.count, 0);
    wg_headers_free(&h);
}

static void test_deserialize_malformed(void **state)
{
    uint8_t m[sizeof worked_example + 8];

    /* Every truncation of a valid map is invalid (< 4 bytes is empty). */
    for (size_t len = 4; len < sizeof worked_example; len++)
        assert_rejected(worked_example, len);

    /* Trailing bytes. */
    memcpy(m, worked_example, sizeof worked_example);
    m[sizeof worked_example] = 0;
    assert_rejected(m, sizeof worked_example + 1);
    const uint8_t zero_plus[5] = {0, 0, 0, 0, 0};
    assert_rejected(zero_plus, sizeof zero_plus);

    /* Each NUL terminator replaced. */
    static const size_t nuls[] = {27, 31, 37, 39};
    for (size_t i = 0; i < sizeof nuls / sizeof nuls[0]; i++) {
        memcpy(m, worked_example, sizeof worked_example);
        assert_int_equal(m[nuls[i]], 0);
        m[nuls[i]] = 'x';
        assert_rejected(m, sizeof worked_example);
    }

    /* Lengths that disagree with the data: one longer/shorter key, whose
     * bytes still add up to the total. */
    memcpy(m, worked_example, sizeof worked_example);
    put32(m + 4, 8); /* ":method\0" as the key: next byte 'G' is not NUL */
    assert_rejected(m, sizeof worked_example);
    memcpy(m, worked_example, sizeof worked_example);
    put32(m + 4, 6);
    put32(m + 8, 4);
    assert_rejected(m, sizeof worked_example);

    /* Huge lengths must not overflow or read out of bounds. */
    memcpy(m, worked_example, sizeof worked_example);
    put32(m + 4, UINT32_MAX);
    assert_rejected(m, sizeof worked_example);
    memcpy(m, worked_example, sizeof worked_example);
    put32(m + 16, UINT32_MAX - 1);
    assert_rejected(m, sizeof worked_example);
    memcpy(m, worked_example, sizeof worked_example);
    put32(m + 12, 0x80000000u);
    assert_rejected(m, sizeof worked_example);

    /* A count larger than the size table the data holds. */
    memcpy(m, worked_example, sizeof worked_example);
    put32(m, 3);
    assert_rejected(m, sizeof worked_example);
    put32(m, 1); /* too few: the rest is trailing garbage */
    assert_rejected(m, sizeof worked_example);
}

static void test_deserialize_hostile_count(void **state)
{
    const uint8_t hostile[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_rejected(hostile, sizeof hostile);
    const uint8_t just_over[4] = {0x01, 0x04, 0, 0}; /* 1025 */
    assert_rejected(just_over, sizeof just_over);
}

static void test_deserialize_limits(void **state)
{
    /* 1024 pairs of empty strings: the largest count, accepted. */
    size_t n = WG_HEADERS_PAIRS_MAX_COUNT;
    size_t len = 4 + 8 * n + 2 * n;
    uint8_t *data = calloc(len, 1);
    assert_non_null(data);
    put32(data, (uint32_t)n);
    wg_headers h = {0};
    assert_true(wg_headers_deserialize(&h, data, len, false));
    assert_int_equal(h.count, n);
    assert_int_equal(h.bytes, 0);
    free(data);

    /* 1025 pairs, data complete: rejected for the count alone. */
    n = WG_HEADERS_PAIRS_MAX_COUNT + 1;
    len = 4 + 8 * n + 2 * n;
    data = calloc(len, 1);
    assert_non_null(data);
    put32(data, (uint32_t)n);
    assert_rejected(data, len);
    free(data);

    /* Exactly 1 MiB in one value is accepted; one byte more is not. */
    len = WG_HEADERS_PAIRS_MAX_SIZE;
    data = calloc(len + 1, 1);
    assert_non_null(data);
    uint32_t vlen = (uint32_t)(len - 4 - 8 - 2);
    put32(data, 1);
    put32(data + 4, 0);
    put32(data + 8, vlen);
    memset(data + 13, 'v', vlen);
    assert_true(wg_headers_deserialize(&h, data, len, false));
    assert_int_equal(h.count, 1);
    assert_int_equal(h.items[0].value_len, vlen);
    put32(data + 8, vlen + 1);
    data[13 + vlen] = 'v';
    assert_rejected(data, len + 1);
    free(data);
    wg_headers_free(&h);
}

/* Rewriting a header in a loop (a plugin can) must not grow the map's
 * storage without bound: replaced strings are compacted away. */
static void test_rewrite_loop_stays_bounded(void **state)
{
    (void)state;
    wg_headers h;
    wg_headers_init(&h);
    assert_true(wg_headers_add(&h, "x-keep", 6, "k", 1));
    char value[64];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(value, sizeof value, "value-%d", i);
        assert_true(wg_headers_set(&h, "x-loop", 6, value, (size_t)n));
    }
    assert_int_equal(h.count, 2);
    assert_string_equal(wg_headers_get(&h, "x-loop", 6)->value, "value-99999");
    assert_string_equal(wg_headers_get(&h, "x-keep", 6)->value, "k");
    assert_true(h.dead < 256u * 1024u);
    wg_headers_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite_loop_stays_bounded),
        cmocka_unit_test(test_add_get_case_insensitive),
        cmocka_unit_test(test_binary_names_and_values),
        cmocka_unit_test(test_add_lower),
        cmocka_unit_test(test_add_lower_every_byte),
        cmocka_unit_test(test_prepend),
        cmocka_unit_test(test_checked_marks),
        cmocka_unit_test(test_multi_values),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_remove_clear),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_serialize_worked_example),
        cmocka_unit_test(test_serialize_empty),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_deserialize_short_is_empty),
        cmocka_unit_test(test_deserialize_malformed),
        cmocka_unit_test(test_deserialize_hostile_count),
        cmocka_unit_test(test_deserialize_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
