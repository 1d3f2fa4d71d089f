/*
 * plugins.c - plugins and snapshots, and how a snapshot reaches the workers.
 *
 * A wg_plugin is one version of one WasmPlugin: its manifest and compiled
 * module. A wg_snapshot is what one reload produced: the plugins that
 * apply to this node, in order, and each listener's chain of them. Both
 * are immutable and reference-counted, so the main thread can publish a
 * new snapshot while workers still serve streams that started on the
 * previous one; whichever thread drops the last reference frees it.
 *
 * Publication: the main thread keeps the current snapshot in p->snapshot
 * and puts a reference in each worker's `pending` slot (under the
 * worker's lock), then wakes the worker, which adopts it between events
 * (worker.c). Loading plugins is reload.c's job.
 */
#include "proxy/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- manifests ----------------------------------------------------------------- */

wg_manifests *wg_manifests_new(wg_plugins_set *set)
{
    wg_manifests *m = calloc(1, sizeof *m);
    if (!m) {
        wg_plugins_set_free(set);
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->set = set;
    return m;
}

wg_manifests *wg_manifests_retain(wg_manifests *m)
{
    if (m)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

void wg_manifests_release(wg_manifests *m)
{
    if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
        return;
    wg_plugins_set_free(m->set);
    free(m);
}

/* ---- plugins -------------------------------------------------------------------- */

static pw_fail_strategy fail_strategy(wg_manifest_fail_strategy s)
{
    switch (s) {
    case WG_MANIFEST_FAIL_OPEN:
        return PW_FAIL_OPEN;
    case WG_MANIFEST_FAIL_RELOAD:
        return PW_FAIL_RELOAD;
    default:
        return PW_FAIL_CLOSE;
    }
}

static void create_metrics(wg_proxy *p, wg_plugin *pl)
{
    wg_buf labels = {0};
    wg_stats_label_append(&labels, "plugin", pl->key);
    wg_buf_append(&labels, "", 1);
    const char *l = (const char *)labels.data;
    pl->traps = wg_stats_metric(p->stats, WG_METRIC_COUNTER, "wasmgate_plugin_traps_total",
                                "Plugin VMs failed by a trap or a deadline", l);
    pl->reloads = wg_stats_metric(p->stats, WG_METRIC_COUNTER, "wasmgate_plugin_reloads_total",
                                  "Fresh VMs created after a failure (FAIL_RELOAD)", l);
    pl->callback_us =
        wg_stats_metric(p->stats, WG_METRIC_HISTOGRAM, "wasmgate_plugin_callback_microseconds",
                        "Time spent in the plugin per stream", l);
    pl->failed = wg_stats_metric(p->stats, WG_METRIC_GAUGE, "wasmgate_plugin_vms_failed",
                                 "Worker VMs of the plugin currently failed", l);
    wg_buf_free(&labels);
}

wg_plugin *wg_plugin_new(wg_proxy *p, wg_manifests *from, const wg_manifest *m)
{
    const wg_config *c = p->config;
    wg_plugin *pl = calloc(1, sizeof *pl);
    if (!pl)
        return NULL;
    atomic_init(&pl->refs, 1);
    size_t klen = strlen(m->namespace) + strlen(m->name) + 2;
    pl->key = malloc(klen);
    pl->env = calloc(m->nenv + 1, sizeof *pl->env);
    pl->nstatus = p->nworkers ? p->nworkers : 1;
    pl->status = calloc(pl->nstatus, sizeof *pl->status);
    if (!pl->key || !pl->env || !pl->status) {
        free(pl->key);
        free(pl->env);
        free(pl->status);
        free(pl);
        return NULL;
    }
    snprintf(pl->key, klen, "%s/%s", m->namespace, m->name);
    uv_mutex_init(&pl->status_lock);
    pl->from = wg_manifests_retain(from);
    pl->manifest = m;
    for (size_t i = 0; i < m->nenv; i++)
        pl->env[i] = m->env[i].pair;
    pl->config = (pw_plugin_config){
        .name = pl->key,
        .root_id = m->plugin_name ? m->plugin_name : "",
        .vm_id = "",
        .configuration = (const uint8_t *)m->plugin_config,
        .configuration_len = m->plugin_config_len,
        .nenv = (int)m->nenv,
        .env = pl->env,
        .max_memory_bytes = c->plugins.max_memory_bytes > UINT32_MAX
                                ? UINT32_MAX
                                : (uint32_t)c->plugins.max_memory_bytes,
        .callback_deadline_ms = c->plugins.callback_deadline_ms,
        .start_deadline_ms = c->plugins.start_deadline_ms,
        .fail_strategy = fail_strategy(m->fail_strategy),
        .node = {.id = c->node.id, .cluster = "wasmgate", .namespace_ = c->node.namespace},
    };
    create_metrics(p, pl);
    return pl;
}

wg_plugin *wg_plugin_retain(wg_plugin *pl)
{
    if (pl)
        atomic_fetch_add(&pl->refs, 1);
    return pl;
}

void wg_plugin_release(wg_plugin *pl)
{
    if (!pl || atomic_fetch_sub(&pl->refs, 1) != 1)
        return;
    pw_module_release(pl->module);
    uv_mutex_destroy(&pl->status_lock);
    free(pl->status);
    free(pl->key);
    free(pl->env);
    free(pl->load_error);
    wg_manifests_release(pl->from);
    free(pl);
}

/* ---- snapshots ------------------------------------------------------------------- */

wg_snapshot *wg_snapshot_new(wg_proxy *p, wg_plugin **plugins, char **update_errors, size_t n)
{
    const wg_config *c = p->config;
    wg_snapshot *s = calloc(1, sizeof *s);
    if (s)
        s->chains = calloc(c->nlisteners ? c->nlisteners : 1, sizeof *s->chains);
    if (!s || !s->chains) {
        for (size_t i = 0; i < n; i++) {
            wg_plugin_release(plugins[i]);
            free(update_errors[i]);
        }
        free(plugins);
        free(update_errors);
        if (s)
            free(s->chains);
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->plugins = plugins;
    s->update_errors = update_errors;
    s->nplugins = n;
    s->nchains = c->nlisteners;
    /* Each listener: the plugins whose match selects its direction and
     * port, in the snapshot's order. */
    wg_plugins_node node;
    wg_plugins_node_from_config(&node, c);
    for (size_t l = 0; l < c->nlisteners; l++) {
        const wg_config_listener *lc = &c->listeners[l];
        wg_chain *ch = &s->chains[l];
        ch->index = calloc(n ? n : 1, sizeof *ch->index);
        if (!ch->index) {
            wg_snapshot_release(s);
            return NULL;
        }
        int dir = lc->direction == WG_CONFIG_OUTBOUND ? 1 : 0;
        for (size_t i = 0; i < n; i++)
            if (wg_manifest_applies(plugins[i]->manifest, &node, dir, lc->address.port))
                ch->index[ch->n++] = i;
    }
    return s;
}

wg_snapshot *wg_snapshot_retain(wg_snapshot *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void wg_snapshot_release(wg_snapshot *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->nplugins; i++) {
        wg_plugin_release(s->plugins[i]);
        free(s->update_errors[i]);
    }
    free(s->plugins);
    free(s->update_errors);
    for (size_t l = 0; l < s->nchains; l++)
        free(s->chains[l].index);
    free(s->chains);
    free(s);
}

void wg_snapshot_publish(wg_proxy *p, wg_snapshot *snap)
{
    wg_snapshot *old = p->snapshot;
    snap->version = old ? old->version + 1 : 1;
    p->snapshot = snap;
    wg_metric_set(p->m.snapshot_version, (int64_t)snap->version);
    for (uint32_t i = 0; p->workers && i < p->nworkers; i++) {
        wg_worker *w = p->workers[i];
        wg_snapshot_retain(snap);
        uv_mutex_lock(&w->pending_lock);
        wg_snapshot *unadopted = w->pending;
        w->pending = snap;
        uv_mutex_unlock(&w->pending_lock);
        wg_snapshot_release(unadopted);
        uv_async_send(&w->wake);
    }
    wg_snapshot_release(old);
}
