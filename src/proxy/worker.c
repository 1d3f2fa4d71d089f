/*
 * worker.c - worker threads: one libuv loop each, with its own listening
 * sockets (SO_REUSEPORT: the kernel spreads connections), connections,
 * upstream pools, and one VM per plugin (pw_slot). Also the host side of
 * those VMs: the pw_host_ops the Proxy-Wasm host calls.
 */
#include "proxy/internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t wg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int wg_listen_socket(const wg_config_address *addr, int *fd_out)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int r;
    if (addr->kind == WG_CONFIG_HOST_IPV6)
        r = uv_ip6_addr(addr->host, addr->port, (struct sockaddr_in6 *)&ss);
    else
        r = uv_ip4_addr(addr->kind == WG_CONFIG_HOST_NAME ? "0.0.0.0" : addr->host, addr->port,
                        (struct sockaddr_in *)&ss);
    if (r != 0)
        return r;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    socklen_t len =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *fd_out = fd;
    return 0;
}

/* ---- the host side of plugin VMs ------------------------------------------------- */

static pw_status host_http_call(void *host, pw_vm *vm, uint32_t token, const pw_http_request *req)
{
    return wg_callout_start(host, vm, token, req);
}

static void on_tick(uv_timer_t *t)
{
    wg_vmhost *h = t->data;
    pw_vm *vm = pw_slot_vm(h->slot);
    if (vm && !pw_vm_failed(vm))
        pw_vm_tick(vm);
}

static void host_set_tick(void *host, pw_vm *vm, uint32_t period_ms)
{
    (void)vm;
    wg_vmhost *h = host;
    if (period_ms == 0) {
        uv_timer_stop(&h->tick);
        h->tick_armed = false;
        return;
    }
    uv_timer_start(&h->tick, on_tick, period_ms, period_ms);
    h->tick_armed = true;
}

static void host_queue_ready(void *host, pw_vm *vm)
{
    (void)vm;
    /* Any thread: flag it and wake the owner's loop. */
    wg_vmhost *h = host;
    atomic_store(&h->queue_pending, true);
    uv_async_send(&h->worker->wake);
}

static void host_resume(void *host, pw_stream *s, pw_stream_type type)
{
    (void)host;
    wg_stream_on_resume(pw_stream_userdata(s), type);
}

static void host_close(void *host, pw_stream *s, pw_stream_type type)
{
    (void)host;
    (void)type;
    wg_stream_on_close(pw_stream_userdata(s));
}

static void host_local_reply(void *host, pw_stream *s, const pw_local_reply *reply)
{
    (void)host;
    wg_stream_on_local_reply(pw_stream_userdata(s), reply);
}

const pw_host_ops wg_host_ops = {
    .http_call = host_http_call,
    .set_tick = host_set_tick,
    .queue_ready = host_queue_ready,
    .resume = host_resume,
    .close = host_close,
    .local_reply = host_local_reply,
    .log = NULL, /* the process log, component "wasm" */
};

void wg_vmhost_publish(wg_vmhost *h)
{
    if (!h->slot)
        return;
    bool failed = pw_slot_failed(h->slot);
    uint32_t reloads = pw_slot_reloads(h->slot);
    if (failed == h->seen_failed && reloads == h->seen_reloads)
        return;
    wg_plugin *pl = h->plugin;
    if (failed != h->seen_failed)
        wg_metric_gauge_add(pl->failed, failed ? 1 : -1);
    if (reloads > h->seen_reloads)
        wg_metric_add(pl->reloads, reloads - h->seen_reloads);
    h->seen_failed = failed;
    h->seen_reloads = reloads;
    wg_plugin_worker_status *st = &pl->status[h->worker->index % pl->nstatus];
    uv_mutex_lock(&pl->status_lock);
    st->failed = failed;
    st->reloads = reloads;
    snprintf(st->error, sizeof st->error, "%s", failed ? pw_slot_error(h->slot) : "");
    uv_mutex_unlock(&pl->status_lock);
}

/* ---- plugin versions on this worker ----------------------------------------------- */

static wg_vmhost *vmhost_new(wg_worker *w, wg_plugin *pl)
{
    wg_vmhost *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->refs = 1;
    h->worker = w;
    h->plugin = wg_plugin_retain(pl);
    atomic_init(&h->queue_pending, false);
    uv_timer_init(&w->loop, &h->tick);
    h->tick.data = h;
    h->next = w->hosts;
    if (w->hosts)
        w->hosts->prev = h;
    w->hosts = h;
    /* The VM starts here, on the thread it belongs to. */
    h->slot = pw_slot_new(pl->module, &pl->config, &wg_host_ops, h);
    if (h->slot && !pw_slot_vm(h->slot))
        wg_log("main", WG_LOG_ERROR, "worker %u: plugin %s failed to start: %s", w->index, pl->key,
               pw_slot_error(h->slot));
    wg_vmhost_publish(h);
    return h;
}

void wg_vmhost_retain(wg_vmhost *h)
{
    h->refs++;
}

static void on_vmhost_closed(uv_handle_t *t)
{
    free(t->data);
}

void wg_vmhost_release(wg_vmhost *h)
{
    if (!h || --h->refs > 0)
        return;
    wg_worker *w = h->worker;
    if (h->prev)
        h->prev->next = h->next;
    else
        w->hosts = h->next;
    if (h->next)
        h->next->prev = h->prev;
    if (h->seen_failed)
        wg_metric_gauge_add(h->plugin->failed, -1);
    pw_slot_free(h->slot);
    wg_plugin_release(h->plugin);
    uv_close((uv_handle_t *)&h->tick, on_vmhost_closed);
}

void wg_vmset_release(wg_vmset *v)
{
    if (!v || --v->refs > 0)
        return;
    for (size_t i = 0; i < v->snapshot->nplugins; i++)
        wg_vmhost_release(v->hosts[i]);
    wg_snapshot_release(v->snapshot);
    free(v->hosts);
    free(v);
}

/* The VMs for snap: those of plugins the current vmset already runs are
 * kept, the others started now. */
static wg_vmset *vmset_new(wg_worker *w, wg_snapshot *snap)
{
    wg_vmset *v = calloc(1, sizeof *v);
    if (v)
        v->hosts = calloc(snap->nplugins ? snap->nplugins : 1, sizeof *v->hosts);
    if (!v || !v->hosts) {
        free(v);
        wg_snapshot_release(snap);
        return NULL;
    }
    v->refs = 1;
    v->snapshot = snap;
    const wg_vmset *cur = w->vmset;
    for (size_t i = 0; i < snap->nplugins; i++) {
        wg_plugin *pl = snap->plugins[i];
        if (!pl->module)
            continue;
        for (size_t k = 0; cur && k < cur->snapshot->nplugins && !v->hosts[i]; k++) {
            if (cur->hosts[k] && cur->hosts[k]->plugin == pl) {
                v->hosts[i] = cur->hosts[k];
                wg_vmhost_retain(v->hosts[i]);
            }
        }
        if (!v->hosts[i])
            v->hosts[i] = vmhost_new(w, pl);
    }
    return v;
}

/* Takes the snapshot the main thread published, if any. Streams already
 * running keep theirs (and with it the VMs they use). */
static void adopt_snapshot(wg_worker *w)
{
    uv_mutex_lock(&w->pending_lock);
    wg_snapshot *snap = w->pending;
    w->pending = NULL;
    uv_mutex_unlock(&w->pending_lock);
    if (!snap)
        return;
    if (w->stopping) {
        wg_snapshot_release(snap);
        return;
    }
    uint64_t version = snap->version;
    wg_vmset *v = vmset_new(w, snap);
    if (!v) {
        wg_log("main", WG_LOG_ERROR, "worker %u: out of memory adopting plugins snapshot %llu",
               w->index, (unsigned long long)version);
        return;
    }
    wg_vmset_release(w->vmset);
    w->vmset = v;
    atomic_store(&w->adopted_version, version);
}

/* ---- the loop --------------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
    wg_worker *w = server->loop->data;
    if (status < 0 || w->draining)
        return;
    size_t listener = (size_t)(uintptr_t)server->data;
    wg_conn_accept(w, listener, server);
}

static void close_listeners(wg_worker *w)
{
    for (size_t l = 0; l < w->proxy->config->nlisteners; l++) {
        if (w->listening[l] && !uv_is_closing((uv_handle_t *)&w->listeners[l]))
            uv_close((uv_handle_t *)&w->listeners[l], NULL);
        w->listening[l] = false;
    }
}

static void close_all(wg_worker *w)
{
    close_listeners(w);
    for (wg_conn *c = w->conns; c; c = c->next)
        wg_conn_close(c);
    wg_upstream_close_idle(w);
    /* The VMs go when the last stream and HTTP call using them are done. */
    wg_vmset *v = w->vmset;
    w->vmset = NULL;
    wg_vmset_release(v);
    if (!uv_is_closing((uv_handle_t *)&w->wake))
        uv_close((uv_handle_t *)&w->wake, NULL);
}

void wg_worker_check_stopped(wg_worker *w)
{
    if (w->draining && w->nconns == 0 && !w->stopping) {
        w->stopping = true;
        close_all(w);
    }
}

static void on_wake(uv_async_t *a)
{
    wg_worker *w = a->data;
    adopt_snapshot(w);
    for (wg_vmhost *h = w->hosts; h; h = h->next) {
        if (atomic_exchange(&h->queue_pending, false)) {
            pw_vm *vm = pw_slot_vm(h->slot);
            if (vm && !pw_vm_failed(vm))
                pw_vm_deliver_queues(vm);
        }
    }
    if (atomic_load(&w->proxy->draining) && !w->draining) {
        /* Stop accepting; close idle connections; let streams finish. */
        w->draining = true;
        close_listeners(w);
        wg_conn *next;
        for (wg_conn *c = w->conns; c; c = next) {
            next = c->next;
            if (!c->stream)
                wg_conn_close(c);
            else
                c->close_after = true;
        }
    }
    if (w->draining && w->nconns == 0)
        wg_worker_check_stopped(w);
    if (atomic_load(&w->proxy->drain_expired) && !w->stopping) {
        /* Drain timed out: close what is left. */
        w->stopping = true;
        close_all(w);
    }
}

static void worker_main(void *arg)
{
    wg_worker *w = arg;
    char name[16]; /* the kernel's limit, NUL included */
    snprintf(name, sizeof name, "wg-worker-%u", (unsigned)(w->index % 10000u));
    pthread_setname_np(pthread_self(), name); /* for top -H, ps -L */
    /* The plugins' VMs belong to this thread: they start here. */
    adopt_snapshot(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    atomic_fetch_add(&w->proxy->workers_done, 1);
}

static bool worker_init(wg_proxy *p, wg_worker *w, uint32_t index, wg_buf *errors)
{
    const wg_config *c = p->config;
    w->proxy = p;
    w->index = index;
    if (uv_loop_init(&w->loop) != 0)
        return false;
    w->loop.data = w;
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    w->listeners = calloc(c->nlisteners ? c->nlisteners : 1, sizeof *w->listeners);
    w->listening = calloc(c->nlisteners ? c->nlisteners : 1, sizeof *w->listening);
    w->clusters = calloc(c->nclusters ? c->nclusters : 1, sizeof *w->clusters);
    if (!w->listeners || !w->listening || !w->clusters)
        return false;
    for (size_t i = 0; i < c->nclusters; i++)
        w->clusters[i].config = &c->clusters[i];
    uv_mutex_init(&w->pending_lock);
    atomic_init(&w->adopted_version, 0);
    /* The snapshot published at start-up, adopted by the thread. */
    w->pending = wg_snapshot_retain(p->snapshot);
    for (size_t l = 0; l < c->nlisteners; l++) {
        int fd = -1;
        int r = wg_listen_socket(&c->listeners[l].address, &fd);
        if (r != 0) {
            wg_buf_appendf(errors, "listener %s: cannot listen on %s: %s\n", c->listeners[l].name,
                           c->listeners[l].address.text, uv_strerror(r));
            return false;
        }
        uv_tcp_init(&w->loop, &w->listeners[l]);
        uv_tcp_open(&w->listeners[l], fd);
        w->listeners[l].data = (void *)(uintptr_t)l;
        r = uv_listen((uv_stream_t *)&w->listeners[l], 1024, on_connection);
        if (r != 0) {
            wg_buf_appendf(errors, "listener %s: %s\n", c->listeners[l].name, uv_strerror(r));
            return false;
        }
        w->listening[l] = true;
    }
    return true;
}

bool wg_workers_start(wg_proxy *p, wg_buf *errors)
{
    p->workers = calloc(p->nworkers, sizeof *p->workers);
    if (!p->workers)
        return false;
    for (uint32_t i = 0; i < p->nworkers; i++) {
        p->workers[i] = calloc(1, sizeof(wg_worker));
        if (!p->workers[i] || !worker_init(p, p->workers[i], i, errors))
            return false;
    }
    for (uint32_t i = 0; i < p->nworkers; i++) {
        if (uv_thread_create(&p->workers[i]->thread, worker_main, p->workers[i]) != 0) {
            wg_buf_appendf(errors, "cannot start worker thread %u\n", i);
            return false;
        }
    }
    return true;
}

void wg_workers_drain(wg_proxy *p)
{
    for (uint32_t i = 0; i < p->nworkers; i++)
        uv_async_send(&p->workers[i]->wake);
}

void wg_workers_stop(wg_proxy *p)
{
    for (uint32_t i = 0; i < p->nworkers; i++) {
        wg_worker *w = p->workers[i];
        uv_thread_join(&w->thread);
        uv_loop_close(&w->loop);
        free(w->listeners);
        free(w->listening);
        wg_snapshot_release(w->pending);
        uv_mutex_destroy(&w->pending_lock);
        free(w->clusters);
        free(w);
    }
    free(p->workers);
    p->workers = NULL;
}

void wg_worker_conn_closed(wg_worker *w, wg_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    wg_metric_gauge_add(w->proxy->m.downstream_active, -1);
    if (w->draining)
        wg_worker_check_stopped(w);
}
