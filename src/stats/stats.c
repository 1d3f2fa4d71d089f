/*
 * stats.c - the metrics registry: creation (under the mutex) and lock-free
 * updates.
 */
#include "stats/registry.h"

#include <stdlib.h>
#include <string.h>

const char *const wg_stats_bucket_le_[WG_STATS_HISTOGRAM_BUCKETS] = {
    "0.5",  "1",    "5",     "10",    "25",    "50",     "100",    "250",     "500",     "1000",
    "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000",
};
const uint64_t wg_stats_bucket_max_[WG_STATS_HISTOGRAM_BUCKETS] = {
    0,    1,    5,     10,    25,    50,     100,    250,     500,     1000,
    2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
};

/* The reason for the last failure of wg_stats_metric() in this thread. */
static _Thread_local const char *t_error;

/* The global registry needs no allocation to exist: an empty registry is
 * all zeroes plus an initialised mutex, so it can never be missing. */
static wg_stats g_global = {.lock = PTHREAD_MUTEX_INITIALIZER};

const char *wg_stats_error(void)
{
    return t_error;
}

wg_stats *wg_stats_global(void)
{
    return &g_global;
}

/* ---- hash table ----------------------------------------------------------- */

static uint64_t hash_str(uint64_t h, const char *s)
{
    /* FNV-1a: short keys, no adversary (names come from code and plugin
     * configuration, not from requests). */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

#define HASH_SEED 14695981039346656037ull

static uint64_t key_hash(const char *name, const char *labels)
{
    uint64_t h = hash_str(HASH_SEED, name);
    /* Separator, so that ("ab", "") and ("a", "b") tend to differ. */
    h = (h ^ 0xff) * 1099511628211ull;
    return hash_str(h, labels);
}

typedef bool (*stats_eq_fn)(const void *item, const void *key);

static void *table_find(const stats_table *t, uint64_t hash, stats_eq_fn eq, const void *key)
{
    if (t->cap == 0)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        const stats_slot *slot = &t->slots[i];
        if (!slot->item)
            return NULL;
        if (slot->hash == hash && eq(slot->item, key))
            return slot->item;
    }
}

static void table_put(stats_table *t, uint64_t hash, void *item)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)hash & mask;
    while (t->slots[i].item)
        i = (i + 1) & mask;
    t->slots[i].hash = hash;
    t->slots[i].item = item;
    t->count++;
}

/* Room for `want` items at most half full, so that a later table_put
 * cannot fail and probes stay short. */
static bool table_reserve(stats_table *t, size_t want)
{
    if (want <= t->cap / 2)
        return true;
    size_t cap = t->cap ? t->cap : 16;
    while (cap / 2 < want) {
        if (cap > SIZE_MAX / 2 / sizeof(stats_slot))
            return false;
        cap *= 2;
    }
    stats_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    stats_table bigger = {slots, cap, 0};
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].item)
            table_put(&bigger, t->slots[i].hash, t->slots[i].item);
    }
    free(t->slots);
    *t = bigger;
    return true;
}

static bool family_eq(const void *item, const void *key)
{
    return strcmp(((const stats_family *)item)->name, key) == 0;
}

typedef struct metric_key {
    const char *name, *labels;
} metric_key;

static bool metric_eq(const void *item, const void *key)
{
    const wg_metric *m = item;
    const metric_key *k = key;
    return strcmp(m->family->name, k->name) == 0 && strcmp(m->labels, k->labels) == 0;
}

/* ---- labels --------------------------------------------------------------- */

typedef struct label_span {
    const char *name, *value; /* value: as written, escapes included */
    size_t nlen, vlen;
} label_span;

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static int span_cmp(const void *a, const void *b)
{
    const label_span *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    return (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/* Splits `text` into pairs. Returns the number of pairs, or -1 with
 * t_error set. spans has room for every pair text can hold. */
static long split_labels(const char *text, label_span *spans)
{
    const char *p = text;
    long n = 0;
    while (*p) {
        label_span sp = {0};
        sp.name = p;
        if (!is_name_start(*p)) {
            t_error = "invalid label name";
            return -1;
        }
        while (is_name_char(*p))
            p++;
        sp.nlen = (size_t)(p - sp.name);
        if (p[0] != '=' || p[1] != '"') {
            t_error = "expected =\" after a label name";
            return -1;
        }
        p += 2;
        sp.value = p;
        while (*p != '"') {
            if (*p == '\0') {
                t_error = "unterminated label value";
                return -1;
            }
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
                    t_error = "invalid escape in a label value";
                    return -1;
                }
                p++;
            }
            p++;
        }
        sp.vlen = (size_t)(p - sp.value);
        p++;
        spans[n++] = sp;
        if (*p == ',')
            p++;
        else if (*p != '\0') {
            t_error = "expected , between labels";
            return -1;
        }
    }
    return n;
}

/* Moves the buffer's bytes into a NUL-terminated string (NULL when out of
 * memory). The buffer is left empty. */
static char *take_cstr(wg_buf *b)
{
    if (!wg_buf_append(b, "", 1)) {
        wg_buf_free(b);
        return NULL;
    }
    char *s = (char *)b->data;
    wg_buf_init(b);
    return s;
}

/* Appends a label value as written (escapes validated) in canonical form:
 * escapes kept, a raw newline written as \n. */
static bool append_value_canonical(wg_buf *out, const char *v, size_t n)
{
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\') {
            i++; /* the escaped character is copied with the run */
        } else if (v[i] == '\n') {
            if (!wg_buf_append(out, v + run, i - run) || !wg_buf_append(out, "\\n", 2))
                return false;
            run = i + 1;
        }
    }
    return wg_buf_append(out, v + run, n - run);
}

/* Parses labels into the canonical pair list and the comma-separated label
 * names, both sorted by label name. Returns false with t_error set. */
static bool canonical_labels(const char *text, wg_metric_type type, char **canon, char **names)
{
    /* The shortest pair, a="", takes 4 characters: a bound on the count. */
    size_t max_pairs = strlen(text) / 4 + 1;
    label_span *spans = calloc(max_pairs, sizeof *spans);
    if (!spans) {
        t_error = "out of memory";
        return false;
    }
    long n = split_labels(text, spans);
    if (n < 0) {
        free(spans);
        return false;
    }
    qsort(spans, (size_t)n, sizeof *spans, span_cmp);

    wg_buf c = {0}, l = {0};
    bool ok = true;
    for (long i = 0; i < n && ok; i++) {
        const label_span *sp = &spans[i];
        if (i > 0 && span_cmp(sp, sp - 1) == 0) {
            t_error = "duplicate label name";
            ok = false;
            break;
        }
        if (type == WG_METRIC_HISTOGRAM && sp->nlen == 2 && memcmp(sp->name, "le", 2) == 0) {
            t_error = "label \"le\" is reserved for histogram buckets";
            ok = false;
            break;
        }
        ok = (i == 0 || (wg_buf_append(&c, ",", 1) && wg_buf_append(&l, ",", 1))) &&
             wg_buf_append(&c, sp->name, sp->nlen) && wg_buf_append(&c, "=\"", 2) &&
             append_value_canonical(&c, sp->value, sp->vlen) && wg_buf_append(&c, "\"", 1) &&
             wg_buf_append(&l, sp->name, sp->nlen);
        if (!ok)
            t_error = "out of memory";
    }
    free(spans);
    if (ok) {
        *canon = take_cstr(&c);
        *names = take_cstr(&l);
        if (!*canon || !*names) {
            free(*canon);
            free(*names);
            *canon = *names = NULL;
            t_error = "out of memory";
            return false;
        }
        return true;
    }
    wg_buf_free(&c);
    wg_buf_free(&l);
    return false;
}

bool wg_stats_label_append(wg_buf *out, const char *name, const char *value)
{
    size_t start = out->len;
    bool ok = (start == 0 || wg_buf_append(out, ",", 1)) && wg_buf_append_str(out, name) &&
              wg_buf_append(out, "=\"", 2);
    for (const char *v = value; ok && *v; v++) {
        if (*v == '\\')
            ok = wg_buf_append(out, "\\\\", 2);
        else if (*v == '"')
            ok = wg_buf_append(out, "\\\"", 2);
        else if (*v == '\n')
            ok = wg_buf_append(out, "\\n", 2);
        else
            ok = wg_buf_append(out, v, 1);
    }
    /* The closing quote, then a NUL kept outside len. */
    ok = ok && wg_buf_append(out, "\"", 1) && wg_buf_reserve(out, 1);
    if (!ok) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return false;
    }
    out->data[out->len] = '\0';
    return true;
}

/* ---- creation ------------------------------------------------------------- */

/* Returns the array with room for `want` elements (reallocated if
 * needed), or NULL when out of memory, the old array being then untouched.
 * want is at least 1, so an array that is big enough is never NULL. */
static void *grow_array(void *arr, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return arr;
    size_t n = *cap ? *cap : 8;
    while (n < want) {
        if (n > SIZE_MAX / 2 / elem)
            return NULL;
        n *= 2;
    }
    void *p = realloc(arr, n * elem);
    if (p)
        *cap = n;
    return p;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void family_free(stats_family *f)
{
    for (size_t i = 0; i < f->nmetrics; i++) {
        free(f->metrics[i]->labels);
        free(f->metrics[i]);
    }
    free(f->metrics);
    free(f->name);
    free(f->prom_name);
    free(f->help);
    free(f->label_names);
    free(f);
}

static stats_family *family_new(wg_metric_type type, const char *name, const char *help,
                                char **label_names)
{
    stats_family *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->type = type;
    f->name = dup_str(name);
    f->prom_name = wg_stats_prom_name_(name);
    if (help && *help)
        f->help = dup_str(help);
    if (!f->name || !f->prom_name || (help && *help && !f->help)) {
        family_free(f);
        return NULL;
    }
    f->label_names = *label_names;
    *label_names = NULL;
    return f;
}

static wg_metric *metric_new(stats_family *f, char **labels)
{
    size_t nbuckets = f->type == WG_METRIC_HISTOGRAM ? WG_STATS_HISTOGRAM_BUCKETS + 1 : 0;
    wg_metric *m = malloc(sizeof *m + nbuckets * sizeof m->buckets[0]);
    if (!m)
        return NULL;
    atomic_init(&m->value, 0);
    for (size_t i = 0; i < nbuckets; i++)
        atomic_init(&m->buckets[i], 0);
    m->type = f->type;
    m->family = f;
    m->labels = *labels;
    *labels = NULL;
    return m;
}

/* Called with the lock held. Takes *canon and *names when it keeps them. */
static wg_metric *get_or_create(wg_stats *s, wg_metric_type type, const char *name,
                                const char *help, char **canon, char **names)
{
    uint64_t fhash = hash_str(HASH_SEED, name);
    stats_family *f = table_find(&s->by_name, fhash, family_eq, name);
    metric_key key = {name, *canon};
    uint64_t mhash = key_hash(name, *canon);
    if (f) {
        if (f->type != type) {
            t_error = "metric name already registered with another type";
            return NULL;
        }
        if (strcmp(f->label_names, *names) != 0) {
            t_error = "label names differ from the metric family's";
            return NULL;
        }
        /* Help is cosmetic: a family created without it adopts the first
         * one given; failing to copy it is not an error. */
        if (!f->help && help && *help)
            f->help = dup_str(help);
        wg_metric *m = table_find(&s->by_key, mhash, metric_eq, &key);
        if (m)
            return m;
    }

    /* Everything that can fail happens before anything is published. */
    t_error = "out of memory";
    if (!table_reserve(&s->by_key, s->by_key.count + 1))
        return NULL;
    stats_family *created = NULL;
    if (!f) {
        if (!table_reserve(&s->by_name, s->by_name.count + 1))
            return NULL;
        stats_family **families =
            grow_array(s->families, &s->families_cap, s->nfamilies + 1, sizeof *families);
        if (!families)
            return NULL;
        s->families = families;
        created = family_new(type, name, help, names);
        if (!created)
            return NULL;
        f = created;
    }
    wg_metric *m = NULL;
    wg_metric **metrics = grow_array(f->metrics, &f->metrics_cap, f->nmetrics + 1, sizeof *metrics);
    if (metrics) {
        f->metrics = metrics;
        m = metric_new(f, canon);
    }
    if (!m) {
        if (created)
            family_free(created);
        return NULL;
    }

    if (created) {
        s->families[s->nfamilies++] = created;
        table_put(&s->by_name, fhash, created);
    }
    f->metrics[f->nmetrics++] = m;
    table_put(&s->by_key, mhash, m);
    t_error = NULL;
    return m;
}

wg_metric *wg_stats_metric(wg_stats *s, wg_metric_type type, const char *name, const char *help,
                           const char *labels)
{
    t_error = NULL;
    if (!s) {
        t_error = "no registry";
        return NULL;
    }
    if (!name || !*name) {
        t_error = "metric name is empty";
        return NULL;
    }
    if (type != WG_METRIC_COUNTER && type != WG_METRIC_GAUGE && type != WG_METRIC_HISTOGRAM) {
        t_error = "invalid metric type";
        return NULL;
    }
    /* Parsed outside the lock: only the registry needs protecting. */
    char *canon = NULL, *names = NULL;
    if (!canonical_labels(labels ? labels : "", type, &canon, &names))
        return NULL;

    pthread_mutex_lock(&s->lock);
    wg_metric *m = get_or_create(s, type, name, help, &canon, &names);
    pthread_mutex_unlock(&s->lock);

    free(canon);
    free(names);
    return m;
}

wg_stats *wg_stats_new(void)
{
    wg_stats *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void wg_stats_free(wg_stats *s)
{
    if (!s || s == &g_global)
        return;
    for (size_t i = 0; i < s->nfamilies; i++)
        family_free(s->families[i]);
    free(s->families);
    free(s->by_name.slots);
    free(s->by_key.slots);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- updates and reads ---------------------------------------------------- */

void wg_metric_add(wg_metric *m, uint64_t n)
{
    if (m && (m->type == WG_METRIC_COUNTER || m->type == WG_METRIC_GAUGE))
        atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

void wg_metric_gauge_add(wg_metric *m, int64_t delta)
{
    /* Adding the two's-complement bits of delta is signed addition. */
    if (m && m->type == WG_METRIC_GAUGE)
        atomic_fetch_add_explicit(&m->value, (uint64_t)delta, memory_order_relaxed);
}

void wg_metric_set(wg_metric *m, int64_t v)
{
    if (m && m->type == WG_METRIC_GAUGE)
        atomic_store_explicit(&m->value, (uint64_t)v, memory_order_relaxed);
}

void wg_metric_record(wg_metric *m, uint64_t sample)
{
    if (!m || m->type != WG_METRIC_HISTOGRAM)
        return;
    /* First bucket whose bound is >= sample; WG_STATS_HISTOGRAM_BUCKETS
     * is +Inf. */
    size_t lo = 0, hi = WG_STATS_HISTOGRAM_BUCKETS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sample <= wg_stats_bucket_max_[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&m->buckets[lo], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->value, sample, memory_order_relaxed);
}

wg_metric_type wg_metric_type_of(const wg_metric *m)
{
    return m->type;
}

const char *wg_metric_name(const wg_metric *m)
{
    return m->family->name;
}

const char *wg_metric_labels(const wg_metric *m)
{
    return m->labels;
}

uint64_t wg_metric_value(const wg_metric *m)
{
    if (m->type != WG_METRIC_HISTOGRAM)
        return atomic_load_explicit(&m->value, memory_order_relaxed);
    uint64_t count = 0;
    for (size_t i = 0; i <= WG_STATS_HISTOGRAM_BUCKETS; i++)
        count += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
    return count;
}

int64_t wg_metric_gauge_value(const wg_metric *m)
{
    if (m->type != WG_METRIC_GAUGE)
        return 0;
    uint64_t u = atomic_load_explicit(&m->value, memory_order_relaxed);
    /* Back to signed without relying on implementation-defined
     * conversion of out-of-range values. */
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(UINT64_MAX - u) - 1;
}

uint64_t wg_metric_sum(const wg_metric *m)
{
    if (m->type != WG_METRIC_HISTOGRAM)
        return 0;
    return atomic_load_explicit(&m->value, memory_order_relaxed);
}
