/*
 * reload.c - live reload of the plugins.
 *
 * A round reads the manifests directory and makes a new snapshot
 * (plugins.c) from it and from the current one:
 *   - a manifest that did not change keeps its plugin, so every worker
 *     keeps the plugin's VM and its state;
 *   - a change of pluginConfig alone makes a new plugin on the same
 *     compiled module (no fetch, no compile);
 *   - any other change, or a new manifest, gets its module as the pull
 *     policy says (fetch.h's wg_fetch_module: cache or registry);
 *   - a file:// module is read again each round, and reloaded when its
 *     bytes changed;
 *   - every new plugin is started once on the round's thread (a "start
 *     check": on_vm_start and on_configure) before anything is published.
 * A new version that fails (fetch, digest, compile, start check) leaves
 * the last good version serving, with the failure reported in the log,
 * /plugins and metrics; only a plugin that never loaded follows its
 * failStrategy. A file with an invalid document keeps the plugins it held
 * at their last good version too (an editor's half-written save must not
 * remove an authentication plugin). An unreadable directory changes
 * nothing.
 *
 * Threads: a round's reading, fetching, compiling and start checks run on
 * libuv's thread pool (uv_queue_work), one round at a time, so neither the
 * workers nor the admin server wait for a registry; the new snapshot is
 * published from the main loop when the round is done. Changes that
 * arrive during a round start another one after it.
 *
 * What starts a round: the first one at start-up (wg_reload_initial, which
 * runs the main loop until it is published, so no request is served
 * before the plugins are in place), a change in the directory (inotify
 * through uv_fs_event, after RELOAD_SETTLE_MS without further change),
 * SIGHUP, a retry after failures (RETRY_FIRST_MS doubling up to
 * RETRY_MAX_MS) so that a registry that was down is tried again, and,
 * while watching, a rescan every RESCAN_MS: a safety net for changes
 * inotify does not see (network file systems), and the time the module
 * cache's expiry runs even when nothing changes.
 */
#include "proxy/internal.h"

#include "fetch/fetch.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RELOAD_SETTLE_MS 200u
#define RETRY_FIRST_MS 1000u
#define RETRY_MAX_MS 60000u
#define RESCAN_MS (5u * 60u * 1000u)

typedef struct round_item {
    const wg_manifest *manifest; /* in the round's manifests; NULL: kept from a bad file */
    wg_plugin *previous;         /* the same key in the base snapshot (retained), or NULL */
    wg_plugin *plugin;           /* the result (retained) */
    char *update_error;          /* why `manifest` is not what serves (the last good one does) */
    bool retry;                  /* it failed in a way that may work later */
} round_item;

typedef struct round {
    uv_work_t work;
    struct wg_reloader *reloader;
    wg_proxy *p;
    wg_snapshot *base;       /* retained: what was current when the round began */
    wg_manifests *manifests; /* read by the round */
    round_item *items;
    size_t nitems;
    bool unreadable; /* the directory could not be read: keep the base */
    bool retry;      /* something failed that may work later */
    char reason[64];
} round;

typedef struct wg_reloader {
    wg_proxy *p;
    uv_fs_event_t watch;
    bool watching;
    uv_timer_t settle; /* a burst of changes makes one round */
    uv_timer_t retry;
    uint32_t retry_ms;
    uv_timer_t rescan;
    uv_signal_t sighup;
    bool sighup_open, watch_open;
    int open_handles; /* freed when they are closed and no round runs */
    round *running;
    bool again; /* asked for while a round was running */
    char again_reason[64];
    bool initial_done;
    bool stopped;
} wg_reloader;

static void round_start(wg_reloader *r, const char *reason);

/* ---- the start check ------------------------------------------------------------- */

/* The check VM's host: it serves no traffic, so it has no streams and no
 * timers, and its HTTP calls are accepted as the data plane would accept
 * them but never sent (the VM is gone before an answer could come). */
typedef struct check_host {
    const wg_proxy *p;
    const wg_plugin *pl;
} check_host;

static pw_status check_http_call(void *host, pw_vm *vm, uint32_t token, const pw_http_request *req)
{
    (void)vm, (void)token;
    const check_host *h = host;
    if (wg_config_find_cluster(h->p->config, req->cluster) < 0)
        return PW_BAD_ARGUMENT; /* what the data plane answers */
    return PW_OK;
}

static void check_set_tick(void *host, pw_vm *vm, uint32_t period_ms)
{
    (void)host, (void)vm, (void)period_ms;
}

static void check_queue_ready(void *host, pw_vm *vm)
{
    (void)host, (void)vm;
}

static void check_stream_op(void *host, pw_stream *s, pw_stream_type type)
{
    (void)host, (void)s, (void)type;
}

static void check_local_reply(void *host, pw_stream *s, const pw_local_reply *reply)
{
    (void)host, (void)s, (void)reply;
}

static void check_log(void *host, pw_vm *vm, wg_log_level level, const char *msg, size_t len)
{
    (void)vm;
    const wg_plugin *pl = ((const check_host *)host)->pl;
    if (wg_log_enabled("wasm", level))
        wg_log("wasm", level, "wasm log %s %s (start check): %.*s", pl->key, pl->config.root_id,
               (int)len, msg);
}

static const pw_host_ops check_ops = {
    .http_call = check_http_call,
    .set_tick = check_set_tick,
    .queue_ready = check_queue_ready,
    .resume = check_stream_op,
    .close = check_stream_op,
    .local_reply = check_local_reply,
    .log = check_log,
};

/* Starts the plugin once (instantiation, on_vm_start, on_configure) so
 * that a version that cannot start is never published. */
static bool start_check(const wg_proxy *p, wg_plugin *pl, char *why, size_t whylen)
{
    wasm_error err = {0};
    check_host host = {.p = p, .pl = pl};
    pw_plugin_config config = pl->config;
    config.start_check = true; /* leaves shared queues to the serving VMs */
    pw_vm *vm = pw_vm_new(pl->module, &config, &check_ops, &host, &err);
    if (!vm) {
        snprintf(why, whylen, "%s: the plugin failed to start: %s", pl->manifest->url.location,
                 err.message);
        return false;
    }
    pw_vm_free(vm);
    return true;
}

/* ---- one plugin ------------------------------------------------------------------- */

static bool same_string(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The two manifests name the same module the same way. */
static bool same_module(const wg_manifest *a, const wg_manifest *b)
{
    return strcmp(a->url.location, b->url.location) == 0 && same_string(a->sha256, b->sha256) &&
           same_string(a->image_pull_secret, b->image_pull_secret) &&
           wg_manifest_effective_pull_policy(a) == wg_manifest_effective_pull_policy(b);
}

/* Gets, compiles and checks pl's module from `bytes` (whose sha256 is
 * `hex`) or, when bytes is NULL, from its source. False with
 * pl->load_error set on failure. */
static bool load_module(round *rd, wg_plugin *pl, const wg_buf *bytes, const char *hex)
{
    wg_proxy *p = rd->p;
    const wg_manifest *m = pl->manifest;
    char why[400] = "";
    wg_buf fetched = {0};
    int conversion = WG_CONVERSION_FETCH_FAILURE;
    char fetched_hex[WG_SHA256_HEX_LEN + 1];
    if (!bytes && wg_modules_obtain(p, rd->manifests->set, m, &fetched, fetched_hex, why,
                                    sizeof why)) {
        bytes = &fetched;
        hex = fetched_hex;
    }
    if (bytes) {
        snprintf(pl->sha256, sizeof pl->sha256, "%s", hex);
        wasm_error err = {0};
        pl->module = pw_module_load(bytes->data, bytes->len, &err);
        conversion = pl->module ? WG_CONVERSION_OK : WG_CONVERSION_COMPILE_FAILURE;
        if (!pl->module)
            snprintf(why, sizeof why, "%s: %s", m->url.location, err.message);
    }
    wg_buf_free(&fetched);
    wg_metric_add(p->m.conversions[conversion], 1);
    if (pl->module && !start_check(p, pl, why, sizeof why)) {
        pw_module_release(pl->module);
        pl->module = NULL;
    }
    if (!pl->module)
        pl->load_error = strdup(why[0] ? why : "out of memory");
    return pl->module != NULL;
}

static void count_update_failure(wg_proxy *p, const char *key)
{
    wg_buf labels = {0};
    wg_stats_label_append(&labels, "plugin", key);
    wg_buf_append(&labels, "", 1);
    wg_metric *m =
        wg_stats_metric(p->stats, WG_METRIC_COUNTER, "wasmgate_plugin_update_failures_total",
                        "Loads of a new plugin version that failed (retries included) while "
                        "the last good one kept serving",
                        (const char *)labels.data);
    wg_metric_add(m, 1);
    wg_buf_free(&labels);
}

/* Decides what serves for one manifest (see the top of the file). */
static void load_item(round *rd, round_item *it)
{
    wg_proxy *p = rd->p;
    wg_plugin *prev = it->previous;
    bool prev_ok = prev && prev->module;
    if (!it->manifest) {
        it->plugin = wg_plugin_retain(prev);
        char msg[600];
        snprintf(msg, sizeof msg, "%s has invalid documents: the last good version serves",
                 prev->manifest->file);
        it->update_error = strdup(msg);
        return;
    }
    const wg_manifest *m = it->manifest;
    wg_manifest_change change = prev ? wg_manifest_compare(prev->manifest, m) : WG_MANIFEST_CHANGED;

    /* A file module is read again, whatever else changed: a rebuilt
     * module is a new version. */
    wg_buf bytes = {0};
    char hex[WG_SHA256_HEX_LEN + 1] = "";
    bool have_bytes = false, module_changed = false;
    char why[400] = "";
    if (prev_ok && m->url.scheme == WG_MANIFEST_SCHEME_FILE) {
        have_bytes = wg_modules_obtain(p, rd->manifests->set, m, &bytes, hex, why, sizeof why);
        module_changed = !have_bytes || strcmp(hex, prev->sha256) != 0;
    }
    if (prev_ok && change == WG_MANIFEST_UNCHANGED && !module_changed) {
        it->plugin = wg_plugin_retain(prev);
        wg_buf_free(&bytes);
        return;
    }

    wg_plugin *pl = wg_plugin_new(p, rd->manifests, m);
    if (!pl) {
        wg_buf_free(&bytes);
        it->plugin = wg_plugin_retain(prev);
        it->update_error = strdup("out of memory");
        it->retry = true;
        return;
    }
    /* Reuse the compiled module when the module is the same: always for a
     * pluginConfig-only change, and for other changes unless the pull
     * policy asks to fetch again. */
    bool reuse = prev_ok && !module_changed &&
                 (change == WG_MANIFEST_CONFIG_CHANGED ||
                  (same_module(prev->manifest, m) &&
                   wg_manifest_effective_pull_policy(m) != WG_MANIFEST_PULL_ALWAYS));
    bool ok;
    if (reuse) {
        pl->module = pw_module_retain(prev->module);
        memcpy(pl->sha256, prev->sha256, sizeof pl->sha256);
        ok = start_check(p, pl, why, sizeof why);
        if (!ok) {
            pw_module_release(pl->module);
            pl->module = NULL;
            pl->load_error = strdup(why);
        }
    } else if (module_changed && !have_bytes) {
        pl->load_error = strdup(why);
        ok = false;
    } else {
        ok = load_module(rd, pl, have_bytes ? &bytes : NULL, hex);
    }
    wg_buf_free(&bytes);

    const char *strategy = wg_manifest_fail_strategy_name(m->fail_strategy);
    if (ok) {
        it->plugin = pl;
        wg_log("main", WG_LOG_INFO, "plugin %s %s: %s (module sha256 %.12s, ABI %s)", pl->key,
               prev ? (reuse ? "reconfigured" : "updated") : "loaded", m->url.location, pl->sha256,
               pw_abi_version_name(pw_module_abi(pl->module)));
        return;
    }
    it->retry = true;
    if (prev_ok) {
        /* Never replace a working plugin with a broken one. */
        wg_log("main", WG_LOG_ERROR,
               "plugin %s: the new version failed, the last good one (module sha256 %.12s) "
               "keeps serving: %s",
               pl->key, prev->sha256, pl->load_error);
        count_update_failure(p, pl->key);
        it->update_error = pl->load_error;
        pl->load_error = NULL;
        it->plugin = wg_plugin_retain(prev);
        wg_plugin_release(pl);
        return;
    }
    wg_log("main", WG_LOG_ERROR, "plugin %s failed to load (%s applies): %s", pl->key, strategy,
           pl->load_error);
    it->plugin = pl;
}

/* ---- a round on the thread pool ---------------------------------------------------- */

/* Plugins load in parallel, LOADERS at a time, so one slow registry
 * delays only its own plugins (the round still waits for it). */
#define LOADERS 4

typedef struct loader {
    round *rd;
    atomic_size_t *next;
} loader;

static void loader_main(void *arg)
{
    loader *l = arg;
    size_t i;
    while ((i = atomic_fetch_add(l->next, 1)) < l->rd->nitems)
        load_item(l->rd, &l->rd->items[i]);
}

static void load_items(round *rd)
{
    atomic_size_t next;
    atomic_init(&next, 0);
    loader l = {.rd = rd, .next = &next};
    uv_thread_t threads[LOADERS - 1];
    size_t nthreads = 0;
    /* This thread loads too; helpers only when there is more than one
     * plugin to load. */
    for (size_t k = 1; k < LOADERS && k < rd->nitems; k++) {
        if (uv_thread_create(&threads[nthreads], loader_main, &l) != 0)
            break;
        nthreads++;
    }
    loader_main(&l);
    for (size_t k = 0; k < nthreads; k++)
        uv_thread_join(&threads[k]);
}

static wg_plugin *find_in(const wg_snapshot *s, const wg_manifest *m)
{
    for (size_t i = 0; s && i < s->nplugins; i++) {
        const wg_manifest *o = s->plugins[i]->manifest;
        if (strcmp(o->namespace, m->namespace) == 0 && strcmp(o->name, m->name) == 0)
            return s->plugins[i];
    }
    return NULL;
}

static bool listed(const round *rd, const wg_plugin *pl)
{
    for (size_t i = 0; i < rd->nitems; i++)
        if (rd->items[i].previous == pl)
            return true;
    return false;
}

/* Puts the items in chain order (phase, priority, then names). */
static void sort_items(round *rd, const wg_plugins_node *node)
{
    size_t n = rd->nitems;
    const wg_manifest **order = calloc(n ? n : 1, sizeof *order);
    round_item *sorted = calloc(n ? n : 1, sizeof *sorted);
    if (!order || !sorted) {
        free(order);
        free(sorted);
        return; /* the directory's order then; still correct, just unsorted */
    }
    for (size_t i = 0; i < n; i++)
        order[i] = rd->items[i].plugin->manifest;
    wg_plugins_sort_for_node(order, n, node);
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < n; i++)
            if (rd->items[i].plugin && rd->items[i].plugin->manifest == order[k]) {
                sorted[k] = rd->items[i];
                rd->items[i].plugin = NULL;
                break;
            }
    free(rd->items);
    free(order);
    rd->items = sorted;
}

/* The cache keeps within its limits (plugins.cache_max_bytes,
 * cache_unused_ttl_s), never evicting a module the round's plugins use. */
static void collect_cache_garbage(round *rd)
{
    wg_proxy *p = rd->p;
    if (!p->cache)
        return;
    const wg_config_plugins *cp = &p->config->plugins;
    const char **in_use = calloc(rd->nitems ? rd->nitems : 1, sizeof *in_use);
    if (!in_use)
        return;
    size_t n = 0;
    for (size_t i = 0; i < rd->nitems; i++)
        if (rd->items[i].plugin && rd->items[i].plugin->sha256[0])
            in_use[n++] = rd->items[i].plugin->sha256;
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

static void round_work(uv_work_t *work)
{
    round *rd = work->data;
    wg_proxy *p = rd->p;
    const wg_config *c = p->config;
    wg_plugins_set *set = wg_plugins_set_new();
    if (!set) {
        rd->unreadable = rd->retry = true;
        return;
    }
    wg_buf errors = {0}, warnings = {0};
    wg_plugins_load_dir(set, c->plugins.manifests, &errors, &warnings);
    /* An invalid document never stops the others: report and go on. */
    if (warnings.len)
        wg_log("main", WG_LOG_WARN, "%.*s", (int)warnings.len, (const char *)warnings.data);
    if (errors.len)
        wg_log("main", WG_LOG_ERROR, "%.*s", (int)errors.len, (const char *)errors.data);
    wg_buf_free(&errors);
    wg_buf_free(&warnings);
    if (set->dir_unreadable) {
        wg_plugins_set_free(set);
        rd->unreadable = rd->retry = true;
        return;
    }
    rd->manifests = wg_manifests_new(set);
    if (!rd->manifests) {
        rd->unreadable = rd->retry = true;
        return;
    }
    size_t nbase = rd->base ? rd->base->nplugins : 0;
    rd->items = calloc(set->nmanifests + nbase + 1, sizeof *rd->items);
    if (!rd->items) {
        rd->unreadable = rd->retry = true;
        return;
    }
    wg_plugins_node node;
    wg_plugins_node_from_config(&node, c);
    for (size_t i = 0; i < set->nmanifests; i++) {
        const wg_manifest *m = set->manifests[i];
        if (!wg_manifest_applies(m, &node, WG_PLUGINS_ANY_DIRECTION, 0))
            continue;
        round_item *it = &rd->items[rd->nitems++];
        it->manifest = m;
        it->previous = wg_plugin_retain(find_in(rd->base, m));
    }
    /* Plugins whose file now has errors and no longer defines them. */
    for (size_t i = 0; i < nbase; i++) {
        wg_plugin *pl = rd->base->plugins[i];
        if (!pl->module || listed(rd, pl) ||
            !wg_plugins_set_file_had_errors(set, pl->manifest->file) ||
            wg_plugins_find(set, pl->manifest->namespace, pl->manifest->name))
            continue;
        round_item *it = &rd->items[rd->nitems++];
        it->previous = wg_plugin_retain(pl);
    }
    bool remote = false;
    for (size_t i = 0; i < rd->nitems; i++)
        remote |= rd->items[i].manifest &&
                  rd->items[i].manifest->url.scheme != WG_MANIFEST_SCHEME_FILE;
    if (remote && !p->cache)
        p->cache = wg_cache_open(c->plugins.cache_dir, p->cache_error, sizeof p->cache_error);
    load_items(rd);
    size_t kept = 0;
    for (size_t i = 0; i < rd->nitems; i++) {
        rd->retry |= rd->items[i].retry;
        if (rd->items[i].plugin)
            rd->items[kept++] = rd->items[i];
        else
            wg_plugin_release(rd->items[i].previous), free(rd->items[i].update_error);
    }
    rd->nitems = kept; /* only out of memory leaves an item without a plugin */
    sort_items(rd, &node);
    collect_cache_garbage(rd);
}

/* ---- the main loop's side ----------------------------------------------------------- */

static void round_free(round *rd)
{
    for (size_t i = 0; i < rd->nitems; i++) {
        wg_plugin_release(rd->items[i].previous);
        wg_plugin_release(rd->items[i].plugin);
        free(rd->items[i].update_error);
    }
    free(rd->items);
    wg_manifests_release(rd->manifests);
    wg_snapshot_release(rd->base);
    free(rd);
}

static void reloader_maybe_free(wg_reloader *r)
{
    if (r->stopped && r->open_handles == 0 && !r->running)
        free(r);
}

/* Logs the plugins the new snapshot no longer has. */
static void log_removed(const wg_snapshot *base, const wg_snapshot *next)
{
    for (size_t i = 0; base && i < base->nplugins; i++) {
        const wg_plugin *pl = base->plugins[i];
        bool still = false;
        for (size_t k = 0; k < next->nplugins && !still; k++)
            still = strcmp(next->plugins[k]->key, pl->key) == 0;
        if (!still)
            wg_log("main", WG_LOG_INFO, "plugin %s removed", pl->key);
    }
}

/* Moves the round's results into a snapshot and publishes it. */
static bool publish(round *rd)
{
    wg_proxy *p = rd->p;
    size_t n = rd->nitems;
    const wg_snapshot *base = rd->base;
    bool same = base && base->nplugins == n;
    for (size_t i = 0; same && i < n; i++)
        same = rd->items[i].plugin == base->plugins[i] &&
               same_string(rd->items[i].update_error, base->update_errors[i]);
    if (same)
        return true; /* nothing changed: keep the snapshot and its version */
    wg_plugin **plugins = calloc(n ? n : 1, sizeof *plugins);
    char **update_errors = calloc(n ? n : 1, sizeof *update_errors);
    if (!plugins || !update_errors) {
        free(plugins);
        free(update_errors);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        plugins[i] = rd->items[i].plugin;
        update_errors[i] = rd->items[i].update_error;
        rd->items[i].plugin = NULL;
        rd->items[i].update_error = NULL;
    }
    wg_snapshot *next = wg_snapshot_new(p, plugins, update_errors, n);
    if (!next)
        return false;
    log_removed(rd->base, next);
    wg_snapshot_publish(p, next);
    wg_log("main", WG_LOG_INFO, "plugins: snapshot %llu published (%zu plugins; %s)",
           (unsigned long long)next->version, n, rd->reason);
    return true;
}

static void on_retry(uv_timer_t *t)
{
    round_start(t->data, "retry after failures");
}

static void round_done(uv_work_t *work, int status)
{
    round *rd = work->data;
    wg_reloader *r = rd->reloader;
    wg_proxy *p = rd->p;
    r->running = NULL;
    if (r->stopped || status != 0) {
        round_free(rd);
        r->initial_done = true;
        reloader_maybe_free(r);
        return;
    }
    bool ok = !rd->unreadable && publish(rd);
    wg_metric_add(p->m.reload_rounds[ok ? 0 : 1], 1);
    if (rd->unreadable)
        wg_log("main", WG_LOG_ERROR, "plugins: %s cannot be read: the plugins stay as they are",
               p->config->plugins.manifests);
    if (!p->snapshot) {
        /* The first round failed: start with no plugins rather than none
         * at all; the retry brings them when the directory is readable. */
        wg_snapshot *empty = wg_snapshot_new(p, NULL, NULL, 0);
        if (empty)
            wg_snapshot_publish(p, empty);
    }
    /* The watch is set again each round: the directory may have been
     * replaced (a ConfigMap update, a `mv` of a new directory). */
    if (r->watching) {
        uv_fs_event_stop(&r->watch);
        uv_fs_event_start(&r->watch, r->watch.cb, p->config->plugins.manifests, 0);
    }
    if (rd->retry && !r->again) {
        r->retry_ms = r->retry_ms ? r->retry_ms * 2 : RETRY_FIRST_MS;
        if (r->retry_ms > RETRY_MAX_MS)
            r->retry_ms = RETRY_MAX_MS;
        uv_timer_start(&r->retry, on_retry, r->retry_ms, 0);
    } else if (!rd->retry) {
        r->retry_ms = 0;
    }
    round_free(rd);
    r->initial_done = true;
    if (r->again) {
        r->again = false;
        round_start(r, r->again_reason);
    }
}

static void round_start(wg_reloader *r, const char *reason)
{
    if (r->stopped)
        return;
    if (r->running) {
        r->again = true;
        snprintf(r->again_reason, sizeof r->again_reason, "%s", reason);
        return;
    }
    uv_timer_stop(&r->retry);
    round *rd = calloc(1, sizeof *rd);
    if (!rd) {
        wg_log("main", WG_LOG_ERROR, "plugins: out of memory starting a reload");
        return;
    }
    rd->reloader = r;
    rd->p = r->p;
    rd->base = wg_snapshot_retain(r->p->snapshot);
    snprintf(rd->reason, sizeof rd->reason, "%s", reason);
    rd->work.data = rd;
    if (uv_queue_work(&r->p->loop, &rd->work, round_work, round_done) != 0) {
        round_free(rd);
        return;
    }
    r->running = rd;
}

static void on_settled(uv_timer_t *t)
{
    round_start(t->data, "the manifests changed");
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    wg_reloader *r = h->data;
    if (status < 0)
        wg_log("main", WG_LOG_WARN, "plugins: watching %s: %s", r->p->config->plugins.manifests,
               uv_strerror(status));
    wg_log("main", WG_LOG_DEBUG, "plugins: %s changed", filename ? filename : "the directory");
    /* Editors write a file in several steps: wait for quiet. */
    uv_timer_start(&r->settle, on_settled, RELOAD_SETTLE_MS, 0);
}

static void on_rescan(uv_timer_t *t)
{
    round_start(t->data, "periodic rescan");
}

static void on_sighup(uv_signal_t *s, int signum)
{
    (void)signum;
    wg_log("main", WG_LOG_INFO, "SIGHUP: reloading the plugins");
    round_start(s->data, "SIGHUP");
}

static void on_handle_closed(uv_handle_t *h)
{
    wg_reloader *r = h->data;
    r->open_handles--;
    reloader_maybe_free(r);
}

/* ---- entry points ---------------------------------------------------------------- */

bool wg_reload_initial(wg_proxy *p, wg_buf *errors)
{
    if (!p->config->plugins.manifests) {
        wg_snapshot *empty = wg_snapshot_new(p, NULL, NULL, 0);
        if (!empty) {
            wg_buf_appendf(errors, "out of memory loading plugins\n");
            return false;
        }
        wg_snapshot_publish(p, empty);
        return true;
    }
    wg_reloader *r = calloc(1, sizeof *r);
    if (!r) {
        wg_buf_appendf(errors, "out of memory loading plugins\n");
        return false;
    }
    r->p = p;
    p->reloader = r;
    uv_timer_init(&p->loop, &r->settle);
    uv_timer_init(&p->loop, &r->retry);
    uv_timer_init(&p->loop, &r->rescan);
    r->settle.data = r->retry.data = r->rescan.data = r;
    r->open_handles = 3;
    round_start(r, "start-up");
    while (!r->initial_done)
        uv_run(&p->loop, UV_RUN_ONCE);
    if (!p->snapshot) {
        wg_buf_appendf(errors, "out of memory loading plugins\n");
        return false;
    }
    return true;
}

bool wg_reload_watch(wg_proxy *p, wg_buf *errors)
{
    wg_reloader *r = p->reloader;
    if (!r)
        return true;
    uv_signal_init(&p->loop, &r->sighup);
    r->sighup.data = r;
    r->sighup_open = true;
    r->open_handles++;
    uv_signal_start(&r->sighup, on_sighup, SIGHUP);
    if (!p->config->plugins.watch)
        return true;
    uv_fs_event_init(&p->loop, &r->watch);
    r->watch.data = r;
    r->watch_open = true;
    r->open_handles++;
    int rc = uv_fs_event_start(&r->watch, on_fs_event, p->config->plugins.manifests, 0);
    if (rc != 0) {
        wg_buf_appendf(errors, "plugins.manifests: cannot watch %s: %s\n",
                       p->config->plugins.manifests, uv_strerror(rc));
        return false;
    }
    r->watching = true;
    uv_timer_start(&r->rescan, on_rescan, RESCAN_MS, RESCAN_MS);
    return true;
}

void wg_reload_stop(wg_proxy *p)
{
    wg_reloader *r = p->reloader;
    if (!r || r->stopped)
        return;
    r->stopped = true;
    p->reloader = NULL;
    /* A round waiting for a registry must not hold the exit up. */
    atomic_store(&p->stopping_fetches, true);
    uv_close((uv_handle_t *)&r->settle, on_handle_closed);
    uv_close((uv_handle_t *)&r->retry, on_handle_closed);
    uv_close((uv_handle_t *)&r->rescan, on_handle_closed);
    if (r->sighup_open)
        uv_close((uv_handle_t *)&r->sighup, on_handle_closed);
    if (r->watch_open)
        uv_close((uv_handle_t *)&r->watch, on_handle_closed);
    reloader_maybe_free(r);
}
