/*
 * proxy.c - start-up, signals and shutdown.
 *
 * SIGTERM or SIGINT: stop accepting, let in-flight requests finish (idle
 * keep-alive connections are closed at once), and after
 * limits.drain_timeout_ms close whatever is left; then exit 0.
 */
#include "proxy/internal.h"

#include "fetch/fetch.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void on_check(uv_timer_t *t)
{
    wg_proxy *p = t->data;
    if (atomic_load(&p->workers_done) < p->nworkers)
        return;
    /* Every worker has finished: close the main loop's handles. */
    uv_timer_stop(&p->check_timer);
    uv_close((uv_handle_t *)&p->check_timer, NULL);
    uv_close((uv_handle_t *)&p->drain_timer, NULL);
    uv_close((uv_handle_t *)&p->sigterm, NULL);
    uv_close((uv_handle_t *)&p->sigint, NULL);
    wg_admin_stop(p);
}

static void on_drain_expired(uv_timer_t *t)
{
    wg_proxy *p = t->data;
    wg_log("main", WG_LOG_WARN, "drain timeout: closing the connections still open");
    atomic_store(&p->drain_expired, true);
    wg_workers_drain(p);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    wg_proxy *p = sig->data;
    if (atomic_exchange(&p->draining, true))
        return;
    wg_log("main", WG_LOG_INFO, "%s: draining (at most %u ms)",
           signum == SIGTERM ? "SIGTERM" : "SIGINT", p->config->limits.drain_timeout_ms);
    wg_reload_stop(p); /* the plugins stay as they are until the end */
    wg_workers_drain(p);
    uv_timer_start(&p->drain_timer, on_drain_expired, p->config->limits.drain_timeout_ms, 0);
    uv_timer_start(&p->check_timer, on_check, 20, 20);
}

wg_proxy *wg_proxy_new(const wg_config *config, wg_buf *errors)
{
    /* A peer that closes while we write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    wg_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->config = config;
    p->stats = wg_stats_global();
    atomic_init(&p->draining, false);
    atomic_init(&p->drain_expired, false);
    atomic_init(&p->workers_done, 0);
    atomic_init(&p->stopping_fetches, false);
    p->started_ms = wg_now_ms();
    if (uv_loop_init(&p->loop) != 0) {
        free(p);
        return NULL;
    }
    p->loop.data = p;
    p->nworkers = config->workers ? config->workers : 1;
    wg_metrics_init(p);
    if (!wg_reload_initial(p, errors))
        goto fail;
    if (config->has_admin && !wg_admin_start(p, errors))
        goto fail;
    uv_signal_init(&p->loop, &p->sigterm);
    uv_signal_init(&p->loop, &p->sigint);
    p->sigterm.data = p->sigint.data = p;
    uv_signal_start(&p->sigterm, on_signal, SIGTERM);
    uv_signal_start(&p->sigint, on_signal, SIGINT);
    uv_timer_init(&p->loop, &p->drain_timer);
    uv_timer_init(&p->loop, &p->check_timer);
    p->drain_timer.data = p->check_timer.data = p;
    if (!wg_workers_start(p, errors))
        goto fail;
    if (!wg_reload_watch(p, errors))
        goto fail;
    for (size_t l = 0; l < config->nlisteners; l++)
        wg_log("main", WG_LOG_INFO, "listener %s on %s (%s), %zu plugin(s)",
               config->listeners[l].name, config->listeners[l].address.text,
               wg_config_direction_name(config->listeners[l].direction), p->snapshot->chains[l].n);
    wg_log("main", WG_LOG_INFO, "wasmgate started with %u worker(s)", p->nworkers);
    return p;
fail:
    /* Workers that started are stopped by a drain. */
    if (p->workers) {
        atomic_store(&p->draining, true);
        atomic_store(&p->drain_expired, true);
        for (uint32_t i = 0; i < p->nworkers; i++)
            if (p->workers[i] && p->workers[i]->thread)
                uv_async_send(&p->workers[i]->wake);
    }
    return NULL;
}

int wg_proxy_run(wg_proxy *p)
{
    uv_run(&p->loop, UV_RUN_DEFAULT);
    wg_workers_stop(p);
    wg_log("main", WG_LOG_INFO, "stopped");
    return 0;
}

void wg_proxy_free(wg_proxy *p)
{
    if (!p)
        return;
    wg_reload_stop(p);
    wg_snapshot_release(p->snapshot);
    wg_cache_close(p->cache);
    uv_loop_close(&p->loop);
    free(p);
}
