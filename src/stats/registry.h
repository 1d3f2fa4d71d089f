/*
 * registry.h - the registry's data structures, shared by stats.c (creation
 * and updates) and prometheus.c (exposition). Private to the stats layer.
 */
#ifndef WG_STATS_REGISTRY_H
#define WG_STATS_REGISTRY_H

#include "stats/stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Open-addressing hash table of pointers; the items carry their keys. */
typedef struct stats_slot {
    uint64_t hash;
    void *item; /* NULL: free slot */
} stats_slot;

typedef struct stats_table {
    stats_slot *slots;
    size_t cap, count; /* cap: 0 or a power of two */
} stats_table;

typedef struct stats_family {
    char *name;        /* as registered */
    char *prom_name;   /* name with invalid characters replaced by '_' */
    char *help;        /* NULL: none given yet */
    char *label_names; /* sorted, comma-separated; "" for none */
    wg_metric_type type;
    wg_metric **metrics;
    size_t nmetrics, metrics_cap;
} stats_family;

struct wg_metric {
    /* Counter value, gauge value or histogram sum; written with relaxed
     * atomics. The gauge is stored in the same uint64_t: adding a
     * two's-complement delta is the same operation, and unsigned atomic
     * arithmetic wraps without undefined behaviour. */
    _Atomic uint64_t value;
    wg_metric_type type;
    stats_family *family;
    char *labels; /* canonical: sorted by name, values escaped */
    /* Histograms only: per-bucket (not cumulative) sample counts, the
     * last one for +Inf. */
    _Atomic uint64_t buckets[];
};

struct wg_stats {
    pthread_mutex_t lock; /* creation and exposition */
    stats_family **families;
    size_t nfamilies, families_cap;
    stats_table by_name; /* stats_family, keyed by name */
    stats_table by_key;  /* wg_metric, keyed by name and labels */
};

/* Bucket upper bounds: as written in le="..." and as the largest integer
 * sample that falls in the bucket (samples are integers, so v <= 0.5 is
 * v <= 0). */
extern const char *const wg_stats_bucket_le_[WG_STATS_HISTOGRAM_BUCKETS];
extern const uint64_t wg_stats_bucket_max_[WG_STATS_HISTOGRAM_BUCKETS];

/* name with every character invalid in a Prometheus name replaced by '_';
 * malloc'ed, NULL when out of memory. */
char *wg_stats_prom_name_(const char *name);

#endif /* WG_STATS_REGISTRY_H */
