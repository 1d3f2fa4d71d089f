/*
 * prometheus.c - the Prometheus text exposition format, version 0.0.4.
 */
#include "stats/registry.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static bool prom_name_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

char *wg_stats_prom_name_(const char *name)
{
    size_t n = strlen(name);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = prom_name_char(name[i], i == 0) ? name[i] : '_';
    out[n] = '\0';
    return out;
}

/* By exposed name; colliding exposed names by original name, so the order
 * never depends on registration order. */
static int family_cmp(const void *a, const void *b)
{
    const stats_family *x = *(stats_family *const *)a, *y = *(stats_family *const *)b;
    int c = strcmp(x->prom_name, y->prom_name);
    return c != 0 ? c : strcmp(x->name, y->name);
}

static int metric_cmp(const void *a, const void *b)
{
    const wg_metric *x = *(wg_metric *const *)a, *y = *(wg_metric *const *)b;
    return strcmp(x->labels, y->labels);
}

/* HELP text escapes only backslash and newline. */
static bool append_help(wg_buf *out, const char *help)
{
    const char *run = help;
    for (const char *p = help; *p; p++) {
        if (*p != '\\' && *p != '\n')
            continue;
        if (!wg_buf_append(out, run, (size_t)(p - run)) ||
            !wg_buf_append_str(out, *p == '\\' ? "\\\\" : "\\n"))
            return false;
        run = p + 1;
    }
    return wg_buf_append_str(out, run);
}

static const char *type_name(wg_metric_type type)
{
    switch (type) {
    case WG_METRIC_COUNTER:
        return "counter";
    case WG_METRIC_GAUGE:
        return "gauge";
    case WG_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

static bool write_histogram(wg_buf *out, const char *name, const wg_metric *m)
{
    const char *labels = m->labels;
    const char *sep = *labels ? "," : "";
    /* The samples are read one by one while other threads record, so
     * _count is taken from the buckets read here (it always equals the
     * +Inf bucket); _sum may include a sample or two more or less. */
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= WG_STATS_HISTOGRAM_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        const char *le = i < WG_STATS_HISTOGRAM_BUCKETS ? wg_stats_bucket_le_[i] : "+Inf";
        if (!wg_buf_appendf(out, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, labels, sep, le,
                            cumulative))
            return false;
    }
    uint64_t sum = atomic_load_explicit(&m->value, memory_order_relaxed);
    if (*labels)
        return wg_buf_appendf(out, "%s_sum{%s} %" PRIu64 "\n%s_count{%s} %" PRIu64 "\n", name,
                              labels, sum, name, labels, cumulative);
    return wg_buf_appendf(out, "%s_sum %" PRIu64 "\n%s_count %" PRIu64 "\n", name, sum, name,
                          cumulative);
}

static bool write_sample(wg_buf *out, const char *name, const wg_metric *m)
{
    const char *labels = m->labels;
    bool ok =
        *labels ? wg_buf_appendf(out, "%s{%s} ", name, labels) : wg_buf_appendf(out, "%s ", name);
    if (!ok)
        return false;
    if (m->type == WG_METRIC_GAUGE)
        return wg_buf_appendf(out, "%" PRId64 "\n", wg_metric_gauge_value(m));
    return wg_buf_appendf(out, "%" PRIu64 "\n", wg_metric_value(m));
}

static bool write_family(wg_buf *out, stats_family *f)
{
    const char *name = f->prom_name;
    if (f->help && (!wg_buf_appendf(out, "# HELP %s ", name) || !append_help(out, f->help) ||
                    !wg_buf_append(out, "\n", 1)))
        return false;
    if (!wg_buf_appendf(out, "# TYPE %s %s\n", name, type_name(f->type)))
        return false;
    /* Sorted in place: the array is only touched under the lock, and
     * updaters hold metric pointers, not indexes. */
    qsort(f->metrics, f->nmetrics, sizeof f->metrics[0], metric_cmp);
    for (size_t i = 0; i < f->nmetrics; i++) {
        const wg_metric *m = f->metrics[i];
        if (!(f->type == WG_METRIC_HISTOGRAM ? write_histogram(out, name, m)
                                             : write_sample(out, name, m)))
            return false;
    }
    return true;
}

bool wg_stats_write_prometheus(wg_stats *s, wg_buf *out)
{
    size_t start = out->len;
    bool ok = true;
    pthread_mutex_lock(&s->lock);
    /* Sort a copy: s->families keeps registration order. */
    stats_family **sorted = NULL;
    if (s->nfamilies > 0) {
        sorted = malloc(s->nfamilies * sizeof *sorted);
        ok = sorted != NULL;
    }
    if (ok && sorted) {
        memcpy(sorted, s->families, s->nfamilies * sizeof *sorted);
        qsort(sorted, s->nfamilies, sizeof *sorted, family_cmp);
        for (size_t i = 0; i < s->nfamilies && ok; i++)
            ok = write_family(out, sorted[i]);
    }
    pthread_mutex_unlock(&s->lock);
    free(sorted);
    if (!ok)
        out->len = start;
    return ok;
}
