#include "stats/stats.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Asserts that the exposition of s is exactly `expected`. */
static void assert_exposition(wg_stats *s, const char *expected)
{
    wg_buf out = {0};
    assert_true(wg_stats_write_prometheus(s, &out));
    assert_true(wg_buf_append(&out, "", 1));
    if (strcmp((const char *)out.data, expected) != 0)
        fprintf(stderr, "--- got:\n%s--- expected:\n%s---\n", (const char *)out.data, expected);
    assert_string_equal((const char *)out.data, expected);
    wg_buf_free(&out);
}

static void test_counter_exposition(void **state)
{
    wg_stats *s = wg_stats_new();
    assert_non_null(s);
    assert_exposition(s, "");
    const char *name = "wasmgate_http_requests_total", *help = "HTTP requests by status class.";
    wg_metric *ok = wg_stats_metric(s, WG_METRIC_COUNTER, name, help, "code_class=\"2xx\"");
    wg_metric *err = wg_stats_metric(s, WG_METRIC_COUNTER, name, help, "code_class=\"5xx\"");
    wg_metric *bad = wg_stats_metric(s, WG_METRIC_COUNTER, name, NULL, "code_class=\"4xx\"");
    assert_non_null(ok);
    assert_non_null(err);
    assert_non_null(bad);
    assert_null(wg_stats_error());
    /* Get-or-create: the same pointer for the same name and labels. */
    assert_ptr_equal(wg_stats_metric(s, WG_METRIC_COUNTER, name, NULL, "code_class=\"2xx\""), ok);
    assert_ptr_not_equal(ok, err);

    wg_metric_add(ok, 3);
    wg_metric_add(ok, 1);
    wg_metric_add(err, 1);
    assert_int_equal(wg_metric_value(ok), 4);
    assert_int_equal(wg_metric_value(bad), 0);
    assert_int_equal(wg_metric_type_of(ok), WG_METRIC_COUNTER);
    assert_string_equal(wg_metric_name(ok), name);
    assert_string_equal(wg_metric_labels(ok), "code_class=\"2xx\"");

    /* Counters ignore gauge and histogram updates. */
    wg_metric_set(ok, 100);
    wg_metric_gauge_add(ok, -1);
    wg_metric_record(ok, 5);
    assert_int_equal(wg_metric_value(ok), 4);
    assert_int_equal(wg_metric_sum(ok), 0);

    assert_exposition(s, "# HELP wasmgate_http_requests_total HTTP requests by status class.\n"
                         "# TYPE wasmgate_http_requests_total counter\n"
                         "wasmgate_http_requests_total{code_class=\"2xx\"} 4\n"
                         "wasmgate_http_requests_total{code_class=\"4xx\"} 0\n"
                         "wasmgate_http_requests_total{code_class=\"5xx\"} 1\n");
    wg_stats_free(s);
}

static void test_gauge_exposition(void **state)
{
    wg_stats *s = wg_stats_new();
    assert_non_null(s);
    wg_metric *g = wg_stats_metric(s, WG_METRIC_GAUGE, "wasmgate_active_streams", NULL, NULL);
    assert_non_null(g);
    /* "" labels are no labels: the same metric. */
    assert_ptr_equal(wg_stats_metric(s, WG_METRIC_GAUGE, "wasmgate_active_streams", NULL, ""), g);
    wg_metric_gauge_add(g, 3);
    wg_metric_gauge_add(g, -10);
    assert_int_equal(wg_metric_gauge_value(g), -7);
    /* As Proxy-Wasm's proxy_get_metric sees it. */
    assert_true(wg_metric_value(g) == (uint64_t)0 - 7);
    wg_metric_add(g, 2);
    assert_int_equal(wg_metric_gauge_value(g), -5);
    assert_exposition(s, "# TYPE wasmgate_active_streams gauge\n"
                         "wasmgate_active_streams -5\n");
    wg_metric_set(g, INT64_MIN);
    assert_true(wg_metric_gauge_value(g) == INT64_MIN);
    wg_metric_set(g, 42);
    assert_int_equal(wg_metric_gauge_value(g), 42);
    /* Histogram updates do nothing to a gauge. */
    wg_metric_record(g, 1000);
    assert_int_equal(wg_metric_gauge_value(g), 42);
    wg_stats_free(s);
}

static void test_histogram_exposition(void **state)
{
    wg_stats *s = wg_stats_new();
    assert_non_null(s);
    wg_metric *h = wg_stats_metric(s, WG_METRIC_HISTOGRAM, "wasmgate_request_ms",
                                   "Request time\\latency\nin ms.", "plugin=\"auth\"");
    wg_metric *bare = wg_stats_metric(s, WG_METRIC_HISTOGRAM, "bare_ms", NULL, NULL);
    assert_non_null(h);
    assert_non_null(bare);
    /* 0 falls in le=0.5, 1 in le=1, 5 in le=5 (bounds are inclusive),
     * 7 in le=10, 3600001 only in +Inf. */
    wg_metric_record(h, 0);
    wg_metric_record(h, 1);
    wg_metric_record(h, 5);
    wg_metric_record(h, 7);
    wg_metric_record(h, 3600000);
    wg_metric_record(h, 3600001);
    assert_int_equal(wg_metric_value(h), 6);
    assert_int_equal(wg_metric_sum(h), 7200014);
    wg_metric_record(bare, 60000);
    /* Counter and gauge updates do nothing to a histogram. */
    wg_metric_add(h, 5);
    wg_metric_set(h, 5);
    assert_int_equal(wg_metric_value(h), 6);

    assert_exposition(s, "# TYPE bare_ms histogram\n"
                         "bare_ms_bucket{le=\"0.5\"} 0\n"
                         "bare_ms_bucket{le=\"1\"} 0\n"
                         "bare_ms_bucket{le=\"5\"} 0\n"
                         "bare_ms_bucket{le=\"10\"} 0\n"
                         "bare_ms_bucket{le=\"25\"} 0\n"
                         "bare_ms_bucket{le=\"50\"} 0\n"
                         "bare_ms_bucket{le=\"100\"} 0\n"
                         "bare_ms_bucket{le=\"250\"} 0\n"
                         "bare_ms_bucket{le=\"500\"} 0\n"
                         "bare_ms_bucket{le=\"1000\"} 0\n"
                         "bare_ms_bucket{le=\"2500\"} 0\n"
                         "bare_ms_bucket{le=\"5000\"} 0\n"
                         "bare_ms_bucket{le=\"10000\"} 0\n"
                         "bare_ms_bucket{le=\"30000\"} 0\n"
                         "bare_ms_bucket{le=\"60000\"} 1\n"
                         "bare_ms_bucket{le=\"300000\"} 1\n"
                         "bare_ms_bucket{le=\"600000\"} 1\n"
                         "bare_ms_bucket{le=\"1800000\"} 1\n"
                         "bare_ms_bucket{le=\"3600000\"} 1\n"
                         "bare_ms_bucket{le=\"+Inf\"} 1\n"
                         "bare_ms_sum 60000\n"
                         "bare_ms_count 1\n"
                         "# HELP wasmgate_request_ms Request time\\\\latency\\nin ms.\n"
                         "# TYPE wasmgate_request_ms histogram\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"0.5\"} 1\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"1\"} 2\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"5\"} 3\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"10\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"25\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"50\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"100\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"250\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"500\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"1000\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"2500\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"5000\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"10000\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"30000\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"60000\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"300000\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"600000\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"1800000\"} 4\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"3600000\"} 5\n"
                         "wasmgate_request_ms_bucket{plugin=\"auth\",le=\"+Inf\"} 6\n"
                         "wasmgate_request_ms_sum{plugin=\"auth\"} 7200014\n"
                         "wasmgate_request_ms_count{plugin=\"auth\"} 6\n");
    wg_stats_free(s);
}

static void test_sort_and_help_adoption(void **state)
{
    wg_stats *s = wg_stats_new();
    assert_non_null(s);
    /* Registered out of order; the exposition sorts families by name and
     * samples by labels. A family created without help takes the first
     * help given later; later different help is ignored. */
    assert_non_null(wg_stats_metric(s, WG_METRIC_COUNTER, "zeta", NULL, "k=\"b\""));
    assert_non_null(wg_stats_metric(s, WG_METRIC_GAUGE, "alpha", "First.", NULL));
    assert_non_null(wg_stats_metric(s, WG_METRIC_COUNTER, "zeta", "Zeta help.", "k=\"a\""));
    assert_non_null(wg_stats_metric(s, WG_METRIC_COUNTER, "zeta", "Other help.", "k=\"c\""));
    assert_non_null(wg_stats_metric(s, WG_METRIC_GAUGE, "alpha", "Second.", ""));
    assert_exposition(s, "# HELP alpha First.\n"
                         "# TYPE alpha gauge\n"
                         "alpha 0\n"
                         "# HELP zeta Zeta help.\n"
                         "# TYPE zeta counter\n"
                         "zeta{k=\"a\"} 0\n"
                         "zeta{k=\"b\"} 0\n"
                         "zeta{k=\"c\"} 0\n");
    wg_stats_free(s);
}

static void test_name_sanitising(void **state)
{
    wg_stats *s = wg_stats_new();
    assert_non_null(s);
    wg_metric *dot = wg_stats_metric(s, WG_METRIC_GAUGE, "my_plugin.active", NULL, NULL);
    wg_metric *digit = wg_stats_metric(s, WG_METRIC_COUNTER, "9lives-x:y", NULL, NULL);
    /* "a.b" and "a_b" collide once sanitised: both are written, ordered by
     * their original names ('.' < '_'). */
    wg_metric *ab1 = wg_stats_metric(s, WG_METRIC_COUNTER, "a_b", NULL, NULL);
    wg_metric *ab2 = wg_stats_metric(s, WG_METRIC_COUNTER, "a.b", NULL, NULL);
    wg_metric *utf8 = wg_stats_metric(s, WG_METRIC_COUNTER, "caf\xc3\xa9", NULL, NULL);
    assert_non_null(dot);
    assert_non_null(digit);
    assert_non_null(ab1);
    assert_non_null(ab2);
    assert_non_null(utf8);
    assert_ptr_not_equal(ab1, ab2);
    /* Names are stored as given. */
    assert_string_equal(wg_metric_name(dot), "my_plugin.active");
    wg_metric_set(dot, 2);
    wg_metric_add(digit, 9);
    wg_metric_add(ab1, 1);
    wg_metric_add(ab2, 2);
    assert_exposition(s, "# TYPE _lives_x:y counter\n"
                         "_lives_x:y 9\n"
                         "# TYPE a_b counter\n"
                         "a_b 2\n"
                         "# TYPE a_b counter\n"
                         "a_b 1\n"
                         "# TYPE caf__ counter\n"
                         "caf__ 0\n"
                         "# TYPE my_plugin_active gauge\n"
                         "my_plugin_active 2\n");
    wg_stats_free(s);
}

static void test_labels(void **state)
{
    wg_stats *s = wg_stats_new();
    assert_non_null(s);
    /* Pair order does not matter; a trailing comma is accepted. */
    wg_metric *m = wg_stats_metric(s, WG_METRIC_COUNTER, "c", NULL, "b=\"2\",a=\"1\"");
    assert_non_null(m);
    assert_string_equal(wg_metric_labels(m), "a=\"1\",b=\"2\"");
    assert_ptr_equal(wg_stats_metric(s, WG_METRIC_COUNTER, "c", NULL, "a=\"1\",b=\"2\","), m);

    /* Escapes: kept as written; a raw newline becomes \n. */
    wg_metric *e = wg_stats_metric(s, WG_METRIC_COUNTER, "c", NULL, "a=\"q\\\"b\\\\s\nn\",b=\"\"");
    assert_non_null(e);
    assert_string_equal(wg_metric_labels(e), "a=\"q\\\"b\\\\s\\nn\",b=\"\"");
    assert_ptr_equal(
        wg_stats_metric(s, WG_METRIC_COUNTER, "c", NULL, "a=\"q\\\"b\\\\s\\nn\",b=\"\""), e);

    /* wg_stats_label_append builds the same text from raw values. */
    wg_buf l = {0};
    assert_true(wg_stats_label_append(&l, "b", ""));
    assert_true(wg_stats_label_append(&l, "a", "q\"b\\s\nn"));
    assert_ptr_equal(wg_stats_metric(s, WG_METRIC_COUNTER, "c", NULL, (const char *)l.data), e);
    wg_buf_free(&l);

    wg_metric_add(e, 1);
    assert_exposition(s, "# TYPE c counter\n"
                         "c{a=\"1\",b=\"2\"} 0\n"
                         "c{a=\"q\\\"b\\\\s\\nn\",b=\"\"} 1\n");

    /* Malformed label text. */
    static const char *const bad[] = {
        "a",         "a=1",       "a=\"1",    "=\"1\"",    "1a=\"x\"",        "a=\"x\"b=\"y\"",
        "a=\"x\",,", "a=\"\\t\"", "a=\"x\" ", "a-b=\"x\"", "a=\"x\",a=\"y\"", ",",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(wg_stats_metric(s, WG_METRIC_COUNTER, "c", NULL, bad[i]));
        assert_non_null(wg_stats_error());
    }
    /* Label names are fixed per family. */
    assert_null(wg_stats_metric(s, WG_METRIC_COUNTER, "c", NULL, "a=\"1\""));
    assert_non_null(strstr(wg_stats_error(), "label names"));
    assert_null(wg_stats_metric(s, WG_METRIC_COUNTER, "c", NULL, NULL));
    /* "le" belongs to histogram buckets. */
    assert_null(wg_stats_metric(s, WG_METRIC_HISTOGRAM, "h", NULL, "le=\"1\""));
    assert_non_null(strstr(wg_stats_error(), "le"));
    assert_non_null(wg_stats_metric(s, WG_METRIC_COUNTER, "not_a_histogram", NULL, "le=\"1\""));
    wg_stats_free(s);
}

static void test_errors(void **state)
{
    wg_stats *s = wg_stats_new();
    assert_non_null(s);
    wg_metric *c = wg_stats_metric(s, WG_METRIC_COUNTER, "x", NULL, NULL);
    assert_non_null(c);
    /* Type conflict. */
    assert_null(wg_stats_metric(s, WG_METRIC_GAUGE, "x", NULL, NULL));
    assert_non_null(strstr(wg_stats_error(), "another type"));
    assert_null(wg_stats_metric(s, WG_METRIC_HISTOGRAM, "x", NULL, NULL));
    /* A success clears the error. */
    assert_ptr_equal(wg_stats_metric(s, WG_METRIC_COUNTER, "x", NULL, NULL), c);
    assert_null(wg_stats_error());
    /* Empty names and bad types. */
    assert_null(wg_stats_metric(s, WG_METRIC_COUNTER, "", NULL, NULL));
    assert_non_null(wg_stats_error());
    assert_null(wg_stats_metric(s, WG_METRIC_COUNTER, NULL, NULL, NULL));
    assert_null(wg_stats_metric(s, (wg_metric_type)7, "y", NULL, NULL));
    assert_non_null(wg_stats_error());
    /* Updates through NULL (a failed registration) do nothing. */
    wg_metric_add(NULL, 1);
    wg_metric_gauge_add(NULL, 1);
    wg_metric_set(NULL, 1);
    wg_metric_record(NULL, 1);
    /* The failures registered nothing. */
    assert_exposition(s, "# TYPE x counter\nx 0\n");
    wg_stats_free(s);
    wg_stats_free(NULL);
}

static void test_global(void **state)
{
    wg_stats *g = wg_stats_global();
    assert_non_null(g);
    assert_ptr_equal(wg_stats_global(), g);
    wg_metric *m = wg_stats_metric(g, WG_METRIC_COUNTER, "test_global_total", NULL, NULL);
    assert_non_null(m);
    wg_metric_add(m, 2);
    /* Freeing the global registry is ignored: its metrics stay valid. */
    wg_stats_free(g);
    wg_metric_add(m, 1);
    assert_int_equal(wg_metric_value(m), 3);
    assert_ptr_equal(wg_stats_metric(g, WG_METRIC_COUNTER, "test_global_total", NULL, NULL), m);
}

/* ---- threads ------------------------------------------------------------- */

#define THREADS 4
#define ITERATIONS 200000

typedef struct worker {
    wg_stats *s;
    wg_metric *counter, *gauge, *histogram; /* as this thread got them */
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    /* Every thread registers the same metrics: creation races must still
     * yield one metric each. */
    w->counter = wg_stats_metric(w->s, WG_METRIC_COUNTER, "t_total", NULL, "k=\"v\"");
    w->gauge = wg_stats_metric(w->s, WG_METRIC_GAUGE, "t_gauge", NULL, NULL);
    w->histogram = wg_stats_metric(w->s, WG_METRIC_HISTOGRAM, "t_ms", NULL, NULL);
    for (uint64_t i = 0; i < ITERATIONS; i++) {
        wg_metric_add(w->counter, 1);
        wg_metric_gauge_add(w->gauge, 2);
        wg_metric_gauge_add(w->gauge, -1);
        wg_metric_record(w->histogram, i % 100);
    }
    return NULL;
}

static void *scrape(void *arg)
{
    wg_stats *s = arg;
    wg_buf out = {0};
    for (int i = 0; i < 50; i++) {
        out.len = 0;
        if (!wg_stats_write_prometheus(s, &out))
            break;
    }
    wg_buf_free(&out);
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    wg_stats *s = wg_stats_new();
    assert_non_null(s);
    worker w[THREADS];
    pthread_t t[THREADS], scraper;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.s = s};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&scraper, NULL, scrape, s), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(pthread_join(scraper, NULL), 0);

    for (int i = 1; i < THREADS; i++) {
        assert_non_null(w[i].counter);
        assert_ptr_equal(w[i].counter, w[0].counter);
        assert_ptr_equal(w[i].gauge, w[0].gauge);
        assert_ptr_equal(w[i].histogram, w[0].histogram);
    }
    uint64_t total = (uint64_t)THREADS * ITERATIONS;
    assert_int_equal(wg_metric_value(w[0].counter), total);
    assert_int_equal(wg_metric_gauge_value(w[0].gauge), (int64_t)total);
    assert_int_equal(wg_metric_value(w[0].histogram), total);
    /* Each thread records 0..99 ITERATIONS/100 times: 4950 per round. */
    assert_int_equal(wg_metric_sum(w[0].histogram), (uint64_t)THREADS * (ITERATIONS / 100) * 4950);
    wg_stats_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_exposition),
        cmocka_unit_test(test_gauge_exposition),
        cmocka_unit_test(test_histogram_exposition),
        cmocka_unit_test(test_sort_and_help_adoption),
        cmocka_unit_test(test_name_sanitising),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_global),
        cmocka_unit_test(test_concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
