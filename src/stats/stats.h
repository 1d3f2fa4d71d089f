/*
 * stats.h - the public header of the stats layer: a thread-safe registry of
 * counters, gauges and histograms, and its Prometheus text exposition.
 *
 * Families and metrics
 *   A family is a name, a type, a help text and a fixed set of label names;
 *   a metric is one family with one set of label values, e.g. family
 *   wasmgate_http_requests_total, labels code_class="2xx". Metrics are
 *   created on first use by wg_stats_metric() and live until the registry
 *   is freed: they are never removed one by one (a removed plugin's
 *   counters stay, which is what Prometheus expects of counters), so a
 *   wg_metric pointer may be kept and used from any thread.
 *
 * Threads
 *   Updates (wg_metric_add, _set, _record, ...) are lock-free relaxed
 *   atomic operations: cheap enough for every request. Creating a metric
 *   and writing the exposition take the registry's mutex.
 *
 * Names
 *   Names are stored exactly as given (plugins define names such as
 *   "my_plugin.active"). The exposition writes each character that is not
 *   valid in a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) as '_':
 *   "my_plugin.active" is exposed as my_plugin_active. Two names that
 *   become equal that way are both written in full (HELP, TYPE, samples),
 *   one after the other in the order of their original names.
 *
 * Labels
 *   Given as text in the exposition syntax: name="value" pairs separated by
 *   commas, e.g. code_class="2xx",plugin="x" (a trailing comma is
 *   accepted; NULL or "" means no labels). Label names are
 *   [a-zA-Z_][a-zA-Z0-9_]*; in values, a backslash, double quote and
 *   newline are written \\ \" and \n (wg_stats_label_append() does that).
 *   The order of the pairs does not matter: the metric is identified by
 *   its pairs sorted by label name. Every metric of a family must use the
 *   same label names; "le" is reserved for histograms' buckets.
 *
 * Histograms
 *   Samples are unsigned integers (typically milliseconds). The buckets'
 *   upper bounds are Envoy's defaults: 0.5 1 5 10 25 50 100 250 500 1000
 *   2500 5000 10000 30000 60000 300000 600000 1800000 3600000 and +Inf.
 *   The sum and the count of the samples are kept too.
 */
#ifndef WASMGATE_STATS_H
#define WASMGATE_STATS_H

#include "base/base.h"

#include <stdbool.h>
#include <stdint.h>

/* The values are Proxy-Wasm's MetricType. */
typedef enum wg_metric_type {
    WG_METRIC_COUNTER = 0,   /* u64, only increases */
    WG_METRIC_GAUGE = 1,     /* i64 */
    WG_METRIC_HISTOGRAM = 2, /* u64 samples */
} wg_metric_type;

/* Number of finite histogram buckets (+Inf comes on top). */
#define WG_STATS_HISTOGRAM_BUCKETS 19

typedef struct wg_stats wg_stats;
typedef struct wg_metric wg_metric;

/* A new, empty registry (NULL if out of memory); mostly for tests. */
wg_stats *wg_stats_new(void);
/* Frees the registry and every metric in it. Ignores the global registry,
 * which lives as long as the process. */
void wg_stats_free(wg_stats *s);
/* The process-wide registry (never NULL). */
wg_stats *wg_stats_global(void);

/* Gets or creates the metric (name, labels). Returns the same pointer for
 * the same name and label pairs. help may be NULL; the first non-empty
 * help given for a family is kept. Returns NULL when the name is empty,
 * the labels are malformed or use other label names than the family's,
 * the name is already registered with another type, or memory runs out;
 * wg_stats_error() then says which. */
wg_metric *wg_stats_metric(wg_stats *s, wg_metric_type type, const char *name, const char *help,
                           const char *labels);

/* Why the last wg_stats_metric() call of this thread returned NULL (a
 * static string), or NULL after a success. */
const char *wg_stats_error(void);

/* Appends name="value" to a label list being built (with a comma first
 * when out is not empty), escaping the value. Keeps a NUL byte after
 * out->len, so (const char *)out->data can be passed to wg_stats_metric()
 * as is. Returns false on allocation failure (out unchanged). */
bool wg_stats_label_append(wg_buf *out, const char *name, const char *value);

/* Updates. Each acts only on its metric type and does nothing with another
 * type or with NULL, so a metric whose creation failed costs nothing.
 *   wg_metric_add        counter += n (also gauge += n)
 *   wg_metric_gauge_add  gauge += delta (may be negative)
 *   wg_metric_set        gauge = v
 *   wg_metric_record     histogram sample
 * Counters and histogram sums wrap around at 2^64. */
void wg_metric_add(wg_metric *m, uint64_t n);
void wg_metric_gauge_add(wg_metric *m, int64_t delta);
void wg_metric_set(wg_metric *m, int64_t v);
void wg_metric_record(wg_metric *m, uint64_t sample);

wg_metric_type wg_metric_type_of(const wg_metric *m);
const char *wg_metric_name(const wg_metric *m);
/* The label pairs in their stored form: sorted by name, values escaped,
 * "" when there are none. */
const char *wg_metric_labels(const wg_metric *m);

/* Current value: a counter's value, a gauge's value converted to uint64_t
 * (two's complement, as Proxy-Wasm's proxy_get_metric returns it), a
 * histogram's number of samples. */
uint64_t wg_metric_value(const wg_metric *m);
/* A gauge's value (0 for other types). */
int64_t wg_metric_gauge_value(const wg_metric *m);
/* A histogram's sum of samples (0 for other types). */
uint64_t wg_metric_sum(const wg_metric *m);

/* Appends the Prometheus text exposition (format 0.0.4) of every metric to
 * out: for each family "# HELP" (when it has help) and "# TYPE", then its
 * samples; families sorted by exposed name, samples by labels, so the
 * output is deterministic. Histograms are written as cumulative
 * name_bucket{le="..."} samples ending with le="+Inf", then name_sum and
 * name_count. On allocation failure returns false and out->len is as
 * before. */
bool wg_stats_write_prometheus(wg_stats *s, wg_buf *out);

#endif /* WASMGATE_STATS_H */
