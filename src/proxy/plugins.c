/*
 * plugins.c - from WasmPlugin manifests to per-listener plugin chains.
 *
 * At start-up the manifests directory is read, every manifest that applies
 * to this node is compiled once (the module is shared by all workers), and
 * each listener gets the ordered list of plugins whose match selects it.
 * Modules come from files or are fetched (modules.c); a plugin whose
 * module cannot be had or compiled is reported as failed to load, and its
 * failStrategy decides what its traffic gets.
 */
#include "proxy/internal.h"

#include "fetch/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pw_fail_strategy fail_strategy(wg_manifest_fail_strategy s)
{
    switch (s) {
    case WG_MANIFEST_FAIL_OPEN: return PW_FAIL_OPEN;
    case WG_MANIFEST_FAIL_RELOAD: return PW_FAIL_RELOAD;
    default: return PW_FAIL_CLOSE;
    }
}

static char *join_key(const wg_manifest *m)
{
    size_t n = strlen(m->namespace) + strlen(m->name) + 2;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s/%s", m->namespace, m->name);
    return k;
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
    pl->callback_us = wg_stats_metric(p->stats, WG_METRIC_HISTOGRAM,
                                      "wasmgate_plugin_callback_microseconds",
                                      "Time spent in the plugin per stream", l);
    pl->failed = wg_stats_metric(p->stats, WG_METRIC_GAUGE, "wasmgate_plugin_vms_failed",
                                 "Worker VMs of the plugin currently failed", l);
    wg_buf_free(&labels);
}

/* Compiles the module of one applicable manifest. */
static wg_plugin *load_plugin(wg_proxy *p, const wg_manifest *m)
{
    const wg_config *c = p->config;
    wg_plugin *pl = calloc(1, sizeof *pl);
    if (!pl)
        return NULL;
    pl->manifest = m;
    pl->key = join_key(m);
    pl->env = calloc(m->nenv + 1, sizeof *pl->env);
    if (!pl->key || !pl->env) {
        free(pl->key);
        free(pl->env);
        free(pl);
        return NULL;
    }
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
    char why[300] = "";
    wg_buf bytes = {0};
    int conversion = WG_CONVERSION_FETCH_FAILURE;
    if (wg_modules_obtain(p, m, &bytes, why, sizeof why)) {
        wg_sha256_hex(bytes.data, bytes.len, pl->sha256);
        wasm_error err = {0};
        pl->module = pw_module_load(bytes.data, bytes.len, &err);
        conversion = pl->module ? WG_CONVERSION_OK : WG_CONVERSION_COMPILE_FAILURE;
        if (!pl->module)
            snprintf(why, sizeof why, "%s: %s", m->url.location, err.message);
    }
    wg_buf_free(&bytes);
    wg_metric_add(p->m.conversions[conversion], 1);
    if (!pl->module) {
        pl->load_error = strdup(why);
        wg_log("main", WG_LOG_ERROR, "plugin %s failed to load (%s applies): %s", pl->key,
               wg_manifest_fail_strategy_name(m->fail_strategy), why);
    } else {
        wg_log("main", WG_LOG_INFO, "plugin %s loaded: %s (ABI %s)", pl->key, m->url.location,
               pw_abi_version_name(pw_module_abi(pl->module)));
    }
    return pl;
}

/* Once the plugins have their modules: the cache keeps within its limits
 * (plugins.cache_max_bytes, cache_unused_ttl_s), never evicting a module a
 * plugin of this process uses. */
static void collect_cache_garbage(wg_proxy *p)
{
    if (!p->cache)
        return;
    const wg_config_plugins *cp = &p->config->plugins;
    const char **in_use = calloc(p->nplugins ? p->nplugins : 1, sizeof *in_use);
    if (!in_use)
        return;
    size_t n = 0;
    for (size_t i = 0; i < p->nplugins; i++)
        if (p->plugins[i]->sha256[0])
            in_use[n++] = p->plugins[i]->sha256;
    wg_cache_gc_stats st = {0};
    char err[256];
    if (!wg_cache_gc(p->cache, time(NULL), cp->cache_unused_ttl_s, cp->cache_max_bytes, in_use, n,
                     &st, err, sizeof err))
        wg_log("main", WG_LOG_WARN, "module cache %s: %s", wg_cache_dir(p->cache), err);
    else
        wg_metric_set(p->m.cache_entries, (int64_t)st.kept);
    if (st.evicted)
        wg_log("main", WG_LOG_INFO, "module cache: %zu modules (%llu bytes) evicted, %zu kept",
               st.evicted, (unsigned long long)st.evicted_bytes, st.kept);
    free(in_use);
}

bool wg_plugins_load(wg_proxy *p, wg_buf *errors)
{
    const wg_config *c = p->config;
    p->chains = calloc(c->nlisteners ? c->nlisteners : 1, sizeof *p->chains);
    if (!p->chains)
        return false;
    if (!c->plugins.manifests)
        return true;
    p->manifests = wg_plugins_set_new();
    wg_buf perrors = {0}, warnings = {0};
    wg_plugins_load_dir(p->manifests, c->plugins.manifests, &perrors, &warnings);
    /* An invalid document never stops the others: report and go on. */
    if (warnings.len)
        wg_log("main", WG_LOG_WARN, "%.*s", (int)warnings.len, (const char *)warnings.data);
    if (perrors.len)
        wg_log("main", WG_LOG_ERROR, "%.*s", (int)perrors.len, (const char *)perrors.data);
    wg_buf_free(&perrors);
    wg_buf_free(&warnings);

    wg_plugins_node node;
    wg_plugins_node_from_config(&node, c);
    size_t n = p->manifests->nmanifests;
    const wg_manifest **applicable = calloc(n ? n : 1, sizeof *applicable);
    p->plugins = calloc(n ? n : 1, sizeof *p->plugins);
    if (!applicable || !p->plugins) {
        free(applicable);
        wg_buf_appendf(errors, "out of memory loading plugins\n");
        return false;
    }
    size_t na = 0;
    for (size_t i = 0; i < n; i++) {
        const wg_manifest *m = p->manifests->manifests[i];
        if (wg_manifest_applies(m, &node, WG_PLUGINS_ANY_DIRECTION, 0))
            applicable[na++] = m;
    }
    wg_plugins_sort_for_node(applicable, na, &node);
    for (size_t i = 0; i < na; i++) {
        wg_plugin *pl = load_plugin(p, applicable[i]);
        if (!pl) {
            free(applicable);
            wg_buf_appendf(errors, "out of memory loading plugins\n");
            return false;
        }
        pl->index = p->nplugins;
        p->plugins[p->nplugins++] = pl;
    }
    free(applicable);
    collect_cache_garbage(p);
    /* Each listener: the plugins whose match selects its direction and port. */
    for (size_t l = 0; l < c->nlisteners; l++) {
        const wg_config_listener *lc = &c->listeners[l];
        wg_chain *ch = &p->chains[l];
        ch->plugins = calloc(p->nplugins ? p->nplugins : 1, sizeof *ch->plugins);
        if (!ch->plugins)
            return false;
        int dir = lc->direction == WG_CONFIG_OUTBOUND ? 1 : 0;
        for (size_t i = 0; i < p->nplugins; i++) {
            if (wg_manifest_applies(p->plugins[i]->manifest, &node, dir, lc->address.port))
                ch->plugins[ch->n++] = p->plugins[i];
        }
    }
    return true;
}

void wg_plugins_unload(wg_proxy *p)
{
    for (size_t i = 0; i < p->nplugins; i++) {
        wg_plugin *pl = p->plugins[i];
        pw_module_release(pl->module);
        free(pl->key);
        free(pl->env);
        free(pl->load_error);
        free(pl);
    }
    free(p->plugins);
    if (p->chains) {
        for (size_t l = 0; l < p->config->nlisteners; l++)
            free(p->chains[l].plugins);
    }
    free(p->chains);
    wg_plugins_set_free(p->manifests);
    wg_cache_close(p->cache);
}
