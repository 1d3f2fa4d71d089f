#include "base/log.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int reset(void **state)
{
    wg_log_reset();
    wg_log_set_fd(STDERR_FILENO);
    return 0;
}

static void test_defaults(void **state)
{
    assert_int_equal(wg_log_get_level(), WG_LOG_INFO);
    assert_true(wg_log_enabled("wasm", WG_LOG_INFO));
    assert_true(wg_log_enabled("wasm", WG_LOG_CRITICAL));
    assert_false(wg_log_enabled("wasm", WG_LOG_DEBUG));
    assert_false(wg_log_enabled("http", WG_LOG_TRACE));
    /* OFF is not a message level. */
    assert_false(wg_log_enabled("wasm", WG_LOG_OFF));
    assert_true(wg_log_enabled(NULL, WG_LOG_WARN));
}

static void test_parse_valid(void **state)
{
    assert_null(wg_log_parse_levels("wasm:trace,http:debug"));
    assert_true(wg_log_enabled("wasm", WG_LOG_TRACE));
    assert_true(wg_log_enabled("http", WG_LOG_DEBUG));
    assert_false(wg_log_enabled("http", WG_LOG_TRACE));
    /* Other components keep the global level. */
    assert_false(wg_log_enabled("main", WG_LOG_DEBUG));
    assert_true(wg_log_enabled("main", WG_LOG_INFO));
}

static void test_parse_global_and_case(void **state)
{
    assert_null(wg_log_parse_levels(" WARN , wasm:Error ,"));
    assert_int_equal(wg_log_get_level(), WG_LOG_WARN);
    assert_false(wg_log_enabled("main", WG_LOG_INFO));
    assert_true(wg_log_enabled("main", WG_LOG_WARN));
    assert_false(wg_log_enabled("wasm", WG_LOG_WARN));
    assert_true(wg_log_enabled("wasm", WG_LOG_ERROR));

    assert_null(wg_log_parse_levels("off"));
    assert_false(wg_log_enabled("main", WG_LOG_CRITICAL));
    /* A component override still wins over a global "off". */
    assert_true(wg_log_enabled("wasm", WG_LOG_ERROR));

    assert_null(wg_log_parse_levels(""));
    assert_int_equal(wg_log_get_level(), WG_LOG_OFF);
}

static void test_parse_later_items_win(void **state)
{
    assert_null(wg_log_parse_levels("wasm:trace,wasm:error"));
    assert_false(wg_log_enabled("wasm", WG_LOG_WARN));
    assert_true(wg_log_enabled("wasm", WG_LOG_ERROR));
}

static void test_parse_bad_component(void **state)
{
    static const char *const bad[] = {
        ":trace",            /* empty component */
        "wasm:trace:debug",  /* two colons */
        "Wasm:debug",        /* upper case */
        "wa sm:debug",       /* space inside the name */
        "wasm.vm:debug",     /* bad character */
        "abcdefghijklmnop:info", /* 16 characters, one too many */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *err = wg_log_parse_levels(bad[i]);
        assert_non_null(err);
        assert_non_null(strstr(err, "invalid log level spec"));
    }
    assert_non_null(strstr(wg_log_parse_levels("wasm:trace:debug"), "component:level"));
    assert_non_null(strstr(wg_log_parse_levels("x y:debug"), "component names"));
    /* 15 characters is fine. */
    assert_null(wg_log_parse_levels("abcdefghijklmno:debug"));
}

static void test_parse_bad_level(void **state)
{
    const char *err = wg_log_parse_levels("wasm:verbose");
    assert_non_null(err);
    assert_non_null(strstr(err, "wasm:verbose"));
    assert_non_null(strstr(err, "unknown level"));

    assert_non_null(wg_log_parse_levels("wasm:"));
    assert_non_null(wg_log_parse_levels("loud"));
    assert_non_null(wg_log_parse_levels("http:debu"));
    assert_non_null(wg_log_parse_levels("http:debugx"));
}

static void test_parse_error_changes_nothing(void **state)
{
    /* The valid first item must not be applied when a later one is bad. */
    assert_non_null(wg_log_parse_levels("wasm:trace,debug,http:nope"));
    assert_false(wg_log_enabled("wasm", WG_LOG_TRACE));
    assert_int_equal(wg_log_get_level(), WG_LOG_INFO);
}

static void test_set_component_level(void **state)
{
    assert_int_equal(wg_log_set_component_level("http", WG_LOG_DEBUG), 0);
    assert_true(wg_log_enabled("http", WG_LOG_DEBUG));
    assert_false(wg_log_enabled("wasm", WG_LOG_DEBUG));
    assert_int_equal(wg_log_set_component_level("", WG_LOG_DEBUG), -1);
    assert_int_equal(wg_log_set_component_level("BAD", WG_LOG_DEBUG), -1);

    wg_log_set_level(WG_LOG_ERROR);
    assert_true(wg_log_enabled("http", WG_LOG_DEBUG));
    assert_false(wg_log_enabled("main", WG_LOG_WARN));

    wg_log_reset();
    assert_false(wg_log_enabled("http", WG_LOG_DEBUG));
    assert_true(wg_log_enabled("main", WG_LOG_INFO));
}

static void test_level_names(void **state)
{
    wg_log_level l;
    assert_string_equal(wg_log_level_name(WG_LOG_CRITICAL), "critical");
    assert_string_equal(wg_log_level_name((wg_log_level)42), "?");
    assert_int_equal(wg_log_level_from_string("debug", &l), 0);
    assert_int_equal(l, WG_LOG_DEBUG);
    assert_int_equal(wg_log_level_from_string("nope", &l), -1);
}

/* Capture what one call writes, through a pipe. */
static void capture(char *out, size_t outsz, const char *component, wg_log_level level,
                    const char *msg)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    wg_log_set_fd(fds[1]);
    wg_log(component, level, "%s", msg);
    wg_log_set_fd(STDERR_FILENO);
    close(fds[1]);
    ssize_t n = read(fds[0], out, outsz - 1);
    close(fds[0]);
    assert_true(n >= 0);
    out[n] = '\0';
}

static void test_output_format(void **state)
{
    char line[8192];
    capture(line, sizeof line, "wasm", WG_LOG_WARN, "hello 42\n");

    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^\\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}\\]"
                             "\\[[0-9]+\\]\\[warn\\]\\[wasm\\] hello 42\n$",
                             REG_EXTENDED),
                     0);
    int rc = regexec(&re, line, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("unexpected log line: '%s'", line);

    /* Disabled levels write nothing. */
    capture(line, sizeof line, "wasm", WG_LOG_DEBUG, "hidden");
    assert_string_equal(line, "");
}

static void test_output_truncated(void **state)
{
    static char big[10000];
    memset(big, 'x', sizeof big - 1);
    char line[16384];
    capture(line, sizeof line, "main", WG_LOG_ERROR, big);
    size_t len = strlen(line);
    assert_true(len > 100 && len <= 4096);
    assert_memory_equal(line + len - 4, "...\n", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, reset),
        cmocka_unit_test_setup(test_parse_valid, reset),
        cmocka_unit_test_setup(test_parse_global_and_case, reset),
        cmocka_unit_test_setup(test_parse_later_items_win, reset),
        cmocka_unit_test_setup(test_parse_bad_component, reset),
        cmocka_unit_test_setup(test_parse_bad_level, reset),
        cmocka_unit_test_setup(test_parse_error_changes_nothing, reset),
        cmocka_unit_test_setup(test_set_component_level, reset),
        cmocka_unit_test_setup(test_level_names, reset),
        cmocka_unit_test_setup(test_output_format, reset),
        cmocka_unit_test_setup(test_output_truncated, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
