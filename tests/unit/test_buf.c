#include "base/base.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdint.h>
#include <string.h>

/* Asserts b holds exactly the C string s. */
#define assert_buf(b, s)                                                                           \
    do {                                                                                           \
        assert_int_equal((b)->len, strlen(s));                                                     \
        if ((b)->len)                                                                              \
            assert_memory_equal((b)->data, (s), (b)->len);                                         \
    } while (0)

static void test_zeroed_is_valid(void **state)
{
    wg_buf b = {0};
    assert_int_equal(b.len, 0);
    wg_buf_clear(&b);
    wg_buf_drain(&b, 10);
    assert_true(wg_buf_append(&b, NULL, 0));
    assert_int_equal(b.len, 0);
    wg_buf_free(&b);
    assert_null(b.data);

    wg_buf_init(&b);
    assert_true(wg_buf_append_str(&b, "abc"));
    assert_buf(&b, "abc");
    wg_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_append_prepend_set(void **state)
{
    wg_buf b = {0};
    assert_true(wg_buf_append(&b, "world", 5));
    assert_true(wg_buf_prepend(&b, "hello ", 6));
    assert_true(wg_buf_append_str(&b, "!"));
    assert_buf(&b, "hello world!");
    assert_true(wg_buf_set(&b, "xy", 2));
    assert_buf(&b, "xy");
    assert_true(wg_buf_set(&b, NULL, 0));
    assert_int_equal(b.len, 0);

    /* Many appends: growth keeps every byte. */
    for (int i = 0; i < 10000; i++)
        assert_true(wg_buf_append(&b, &(uint8_t){(uint8_t)i}, 1));
    assert_int_equal(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], (uint8_t)i);
    assert_true(b.cap >= b.len);
    wg_buf_free(&b);
}

static void test_reserve_and_clear(void **state)
{
    wg_buf b = {0};
    assert_true(wg_buf_reserve(&b, 1000));
    assert_true(b.cap >= 1000);
    uint8_t *before = b.data;
    for (int i = 0; i < 1000; i++)
        assert_true(wg_buf_append(&b, "z", 1));
    /* Reserved room means no reallocation. */
    assert_ptr_equal(b.data, before);
    size_t cap = b.cap;
    wg_buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);

    /* Size overflow is refused and leaves the buffer alone. */
    assert_true(wg_buf_append_str(&b, "keep"));
    assert_false(wg_buf_reserve(&b, SIZE_MAX));
    assert_false(wg_buf_reserve(&b, SIZE_MAX - 2));
    assert_buf(&b, "keep");
    wg_buf_free(&b);
}

static void test_drain(void **state)
{
    wg_buf b = {0};
    assert_true(wg_buf_append_str(&b, "0123456789"));
    wg_buf_drain(&b, 3);
    assert_buf(&b, "3456789");
    wg_buf_drain(&b, 0);
    assert_buf(&b, "3456789");
    wg_buf_drain(&b, 100);
    assert_int_equal(b.len, 0);
    wg_buf_free(&b);
}

static void test_replace(void **state)
{
    wg_buf b = {0};
    assert_true(wg_buf_append_str(&b, "Hello, world"));
    /* Same size. */
    assert_true(wg_buf_replace(&b, 0, 5, "HOWDY", 5));
    assert_buf(&b, "HOWDY, world");
    /* Grow in the middle. */
    assert_true(wg_buf_replace(&b, 7, 5, "big world", 9));
    assert_buf(&b, "HOWDY, big world");
    /* Shrink in the middle. */
    assert_true(wg_buf_replace(&b, 5, 6, "-", 1));
    assert_buf(&b, "HOWDY-world");
    /* Pure insert and pure delete. */
    assert_true(wg_buf_replace(&b, 5, 0, "!!", 2));
    assert_buf(&b, "HOWDY!!-world");
    assert_true(wg_buf_replace(&b, 0, 7, NULL, 0));
    assert_buf(&b, "-world");
    /* Clamping: a start past the end appends, a count past the end stops
     * at the end. */
    assert_true(wg_buf_replace(&b, 1000, 5, "+", 1));
    assert_buf(&b, "-world+");
    assert_true(wg_buf_replace(&b, 1, SIZE_MAX, "W", 1));
    assert_buf(&b, "-W");
    assert_true(wg_buf_replace(&b, 0, SIZE_MAX, "all", 3));
    assert_buf(&b, "all");
    wg_buf_free(&b);
}

static void test_self_source(void **state)
{
    wg_buf b = {0};
    assert_true(wg_buf_append_str(&b, "abc"));
    /* Appending the buffer to itself, repeatedly, across reallocations. */
    for (int i = 0; i < 6; i++)
        assert_true(wg_buf_append(&b, b.data, b.len));
    assert_int_equal(b.len, 3 * 64);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(b.data[i], "abc"[i % 3]);

    assert_true(wg_buf_set(&b, "0123456789", 10));
    assert_true(wg_buf_prepend(&b, b.data + 5, 5));
    assert_buf(&b, "567890123456789");
    assert_true(wg_buf_set(&b, b.data + 10, 5));
    assert_buf(&b, "56789");
    assert_true(wg_buf_replace(&b, 1, 3, b.data, 5));
    assert_buf(&b, "5567899");
    wg_buf_free(&b);
}

static void test_appendf(void **state)
{
    wg_buf b = {0};
    assert_true(wg_buf_appendf(&b, "%d-%s", 42, "x"));
    assert_buf(&b, "42-x");
    assert_true(wg_buf_appendf(&b, "%s", ""));
    assert_buf(&b, "42-x");

    /* Longer than the spare capacity: formats a second time. */
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_true(wg_buf_appendf(&b, "[%s]", big));
    assert_int_equal(b.len, 4 + 2 + 4999);
    assert_int_equal(b.data[4], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[5000], 'q');

    /* Exactly filling the spare capacity still needs room for the NUL. */
    wg_buf c = {0};
    assert_true(wg_buf_reserve(&c, 8));
    size_t fill = c.cap;
    char exact[256];
    assert_true(fill < sizeof exact);
    memset(exact, 'e', fill);
    exact[fill] = '\0';
    assert_true(wg_buf_appendf(&c, "%s", exact));
    assert_int_equal(c.len, fill);
    assert_memory_equal(c.data, exact, fill);
    wg_buf_free(&c);
    wg_buf_free(&b);
}

/* keep holds on to the larger buffer up to the cap; take hands it out
 * empty, with its memory. */
static void test_keep_and_take(void **state)
{
    (void)state;
    wg_buf spare = {0}, b = {0};
    assert_true(wg_buf_append(&b, "0123456789", 10));
    size_t small = b.cap;
    wg_buf_keep(&spare, &b, 4096);
    assert_null(b.data);
    assert_int_equal(b.len + b.cap, 0);
    assert_int_equal(spare.len, 0);
    assert_int_equal(spare.cap, small);

    wg_buf big = {0};
    assert_true(wg_buf_reserve(&big, 3000));
    wg_buf_keep(&spare, &big, 4096); /* larger: replaces the small one */
    assert_true(spare.cap >= 3000);
    size_t kept = spare.cap;

    wg_buf other = {0};
    assert_true(wg_buf_append(&other, "x", 1));
    wg_buf_keep(&spare, &other, 4096); /* smaller: freed */
    assert_int_equal(spare.cap, kept);

    wg_buf huge = {0};
    assert_true(wg_buf_reserve(&huge, 8192));
    wg_buf_keep(&spare, &huge, 4096); /* over the cap: freed */
    assert_int_equal(spare.cap, kept);
    assert_null(huge.data);

    wg_buf out = wg_buf_take(&spare);
    assert_int_equal(out.len, 0);
    assert_int_equal(out.cap, kept);
    assert_null(spare.data);
    assert_int_equal(spare.cap, 0);
    wg_buf none = wg_buf_take(&spare); /* nothing kept: an empty buffer */
    assert_null(none.data);
    assert_int_equal(none.cap, 0);
    wg_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zeroed_is_valid),   cmocka_unit_test(test_append_prepend_set),
        cmocka_unit_test(test_reserve_and_clear), cmocka_unit_test(test_drain),
        cmocka_unit_test(test_replace),           cmocka_unit_test(test_self_source),
        cmocka_unit_test(test_appendf),           cmocka_unit_test(test_keep_and_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
