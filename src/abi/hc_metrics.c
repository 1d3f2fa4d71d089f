/*
 * hc_metrics.c - the metric hostcalls (§3.12 of the reference).
 *
 * A plugin's metric lives in the process-wide registry (wg_stats_global())
 * under exactly the name the plugin gave, with no prefix and no labels, so
 * the plugin's own Prometheus names are what the exposition shows (the
 * exposition turns characters such as '.' into '_'). Its help text is
 * "Defined by plugin <plugin name>" (the first definer's, for a name several
 * plugins share: they then share the metric too). Defining a name that
 * exists with another type, or with labels (one of the host's own
 * families), fails with PW_BAD_ARGUMENT.
 *
 * Ids are cpp-host's/Envoy's: the type is in the low 2 bits and each type
 * counts up in steps of 4 from its type value, the first id of a type being
 * type + 4 (counters 4, 8, ...; gauges 5, 9, ...; histograms 6, 10, ...).
 * Defining the same name again returns a new id for the same metric. The id
 * type + 4k lives at vm->metrics[(k - 1) * 3 + type]; a VM may hold at most
 * MAX_METRIC_SLOTS slots (then PW_INTERNAL_FAILURE), which bounds the
 * memory of a plugin that defines its metrics on every request.
 *
 *   increment  counter: delta > 0 adds, delta <= 0 -> BAD_ARGUMENT;
 *              gauge: adds (signed); histogram -> BAD_ARGUMENT
 *   record     counter: adds (the value as u64, as Envoy); gauge: sets;
 *              histogram: records a sample (as u64)
 *   get        counter, gauge (two's complement u64): the value;
 *              histogram -> BAD_ARGUMENT
 * An id this VM never returned gives PW_NOT_FOUND.
 */
#include "abi/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_METRIC_SLOTS (1u << 20)

static wg_metric *metric_of(pw_vm *vm, uint32_t id)
{
    uint32_t type = id & 3u, k = id >> 2;
    if (type > WG_METRIC_HISTOGRAM || k == 0)
        return NULL;
    uint64_t idx = (uint64_t)(k - 1) * 3 + type;
    if (idx >= vm->nmetrics)
        return NULL;
    return vm->metrics[idx];
}

/* proxy_define_metric(type, name_ptr, name_len, ret_id_ptr) */
int pw_hc_define_metric(pw_vm *vm, const wasm_cell *a)
{
    uint32_t type = (uint32_t)a[0], name_len = (uint32_t)a[2];
    const uint8_t *name;
    if (type > WG_METRIC_HISTOGRAM)
        return PW_BAD_ARGUMENT;
    if (!pw_mem_read(vm, (uint32_t)a[1], name_len, &name) ||
        !pw_mem_write_u32(vm, (uint32_t)a[3], 0))
        return PW_INVALID_MEMORY_ACCESS;
    if (name_len == 0 || memchr(name, 0, name_len))
        return PW_BAD_ARGUMENT;

    /* The next id of this type: one past the last slot of the type used. */
    uint32_t k = 1;
    for (uint32_t i = type; i < vm->nmetrics; i += 3)
        if (vm->metrics[i])
            k = i / 3 + 2;
    uint32_t idx = (k - 1) * 3 + type;
    if (idx >= MAX_METRIC_SLOTS)
        return PW_INTERNAL_FAILURE;
    if (idx >= vm->metrics_cap) {
        uint32_t cap = vm->metrics_cap ? vm->metrics_cap : 16;
        while (cap <= idx)
            cap *= 2;
        wg_metric **m = realloc(vm->metrics, (size_t)cap * sizeof *m);
        if (!m)
            return PW_INTERNAL_FAILURE;
        memset(m + vm->metrics_cap, 0, (size_t)(cap - vm->metrics_cap) * sizeof *m);
        vm->metrics = m;
        vm->metrics_cap = cap;
    }

    char *cname = malloc((size_t)name_len + 1);
    if (!cname)
        return PW_INTERNAL_FAILURE;
    memcpy(cname, name, name_len);
    cname[name_len] = 0;
    char help[200];
    snprintf(help, sizeof help, "Defined by plugin %s", vm->name ? vm->name : "");
    wg_metric *m = wg_stats_metric(wg_stats_global(), (wg_metric_type)type, cname, help, NULL);
    free(cname);
    if (!m) {
        const char *why = wg_stats_error();
        return why && strcmp(why, "out of memory") == 0 ? PW_INTERNAL_FAILURE : PW_BAD_ARGUMENT;
    }
    vm->metrics[idx] = m;
    if (idx >= vm->nmetrics)
        vm->nmetrics = idx + 1;
    uint32_t id = (k << 2) | type;
    return pw_mem_write_u32(vm, (uint32_t)a[3], id) ? PW_OK : PW_INVALID_MEMORY_ACCESS;
}

/* proxy_increment_metric(id, i64 delta) */
int pw_hc_increment_metric(pw_vm *vm, const wasm_cell *a)
{
    wg_metric *m = metric_of(vm, (uint32_t)a[0]);
    int64_t delta = (int64_t)a[1];
    if (!m)
        return PW_NOT_FOUND;
    switch (wg_metric_type_of(m)) {
    case WG_METRIC_COUNTER:
        if (delta <= 0)
            return PW_BAD_ARGUMENT;
        wg_metric_add(m, (uint64_t)delta);
        return PW_OK;
    case WG_METRIC_GAUGE:
        wg_metric_gauge_add(m, delta);
        return PW_OK;
    default:
        return PW_BAD_ARGUMENT;
    }
}

/* proxy_record_metric(id, i64 value) */
int pw_hc_record_metric(pw_vm *vm, const wasm_cell *a)
{
    wg_metric *m = metric_of(vm, (uint32_t)a[0]);
    uint64_t value = (uint64_t)a[1];
    if (!m)
        return PW_NOT_FOUND;
    switch (wg_metric_type_of(m)) {
    case WG_METRIC_COUNTER:
        wg_metric_add(m, value);
        return PW_OK;
    case WG_METRIC_GAUGE:
        wg_metric_set(m, (int64_t)value);
        return PW_OK;
    default:
        wg_metric_record(m, value);
        return PW_OK;
    }
}

/* proxy_get_metric(id, ret_u64_ptr) */
int pw_hc_get_metric(pw_vm *vm, const wasm_cell *a)
{
    wg_metric *m = metric_of(vm, (uint32_t)a[0]);
    if (!m)
        return PW_NOT_FOUND;
    if (wg_metric_type_of(m) == WG_METRIC_HISTOGRAM)
        return PW_BAD_ARGUMENT;
    return pw_mem_write_u64(vm, (uint32_t)a[1], wg_metric_value(m)) ? PW_OK
                                                                     : PW_INVALID_MEMORY_ACCESS;
}
