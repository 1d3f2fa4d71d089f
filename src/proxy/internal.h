/*
 * internal.h - the data plane's private structures (src/proxy/ only).
 *
 * Files:
 *   proxy.c     start-up, signals, drain, the main loop
 *   plugins.c   plugins and snapshots: per-listener chains, publication
 *   reload.c    live reload: watch the manifests, load in the background
 *   modules.c   a manifest's module bytes: file, or http(s)/oci via the cache
 *   worker.c    worker threads, listeners, the plugins' per-worker host side
 *   conn.c      downstream connections: parsing, one stream at a time
 *   stream.c    a request/response exchange and its plugin chain
 *   upstream.c  clusters, the connection pool, forwarding to the upstream,
 *               and the HTTP calls plugins make
 *   admin.c     the admin server
 *   metrics.c   the proxy's own metrics
 */
#ifndef WASMGATE_PROXY_INTERNAL_H
#define WASMGATE_PROXY_INTERNAL_H

#include "abi/abi.h"
#include "fetch/fetch.h"
#include "http/http.h"
#include "plugins/plugins.h"
#include "proxy/proxy.h"
#include "stats/stats.h"

#include <stdatomic.h>
#include <uv.h>

/* How much may wait in a socket's write queue before the other side stops
 * being read (back-pressure). */
#define WG_WRITE_HIGH_WATER (256u * 1024u)

/* ---- plugins (plugins.c) ------------------------------------------------------ */

/* One reading of the manifests directory. Plugins made from it keep it
 * alive (their manifest lives in it). Reference-counted: any thread. */
typedef struct wg_manifests {
    atomic_uint refs;
    wg_plugins_set *set;
} wg_manifests;

wg_manifests *wg_manifests_new(wg_plugins_set *set); /* takes set; refs = 1 */
wg_manifests *wg_manifests_retain(wg_manifests *m);
void wg_manifests_release(wg_manifests *m);

/* A plugin's VM state on one worker, as that worker last published it
 * (wg_vmhost_publish), for the admin server. */
typedef struct wg_plugin_worker_status {
    bool failed;
    uint32_t reloads;
    char error[320];
} wg_plugin_worker_status;

/* One version of a plugin: a manifest and its compiled module. Immutable
 * once made, shared by every snapshot that lists it and by every worker's
 * VM of it; reference-counted (any thread; freed by the last release). A
 * plugin whose module could not be had or started has module NULL and
 * load_error set; its failStrategy then decides (FAIL_OPEN skips it, the
 * others deny its traffic with 403). */
typedef struct wg_plugin {
    atomic_uint refs;
    char *key;               /* "namespace/name" */
    wg_manifests *from;      /* holds the manifest */
    const wg_manifest *manifest;
    pw_module *module;
    pw_plugin_config config; /* strings borrowed from the manifest and key */
    const char **env;        /* the WASI environ of the plugin */
    char *load_error;
    char sha256[65];         /* of the module bytes; "" when none was had */
    /* metrics (per key: every version of a plugin counts in the same ones) */
    wg_metric *traps;
    wg_metric *reloads;
    wg_metric *callback_us;  /* histogram: microseconds in the plugin per stream */
    wg_metric *failed;       /* gauge: VMs failed (per worker count) */
    /* written by the workers, read by the admin server */
    uv_mutex_t status_lock;
    wg_plugin_worker_status *status; /* one per worker */
    uint32_t nstatus;
} wg_plugin;

/* Makes a plugin for manifest m of `from` with no module yet (the caller
 * sets module/sha256 or load_error). NULL when out of memory. */
wg_plugin *wg_plugin_new(wg_proxy *p, wg_manifests *from, const wg_manifest *m);
wg_plugin *wg_plugin_retain(wg_plugin *pl);
void wg_plugin_release(wg_plugin *pl);

/* The plugins that apply to one listener, in chain order: positions in
 * the snapshot's plugins. */
typedef struct wg_chain {
    size_t *index;
    size_t n;
} wg_chain;

/* What the workers run: the plugins of one reload, in order, and each
 * listener's chain. Immutable, reference-counted (any thread). A stream
 * keeps the snapshot it started with until it ends, so a reload never
 * changes the chain under a request in flight. */
typedef struct wg_snapshot {
    atomic_uint refs;
    uint64_t version;        /* 1 for the first, +1 per publication */
    wg_plugin **plugins;     /* each retained */
    char **update_errors;    /* per plugin: why a newer manifest is not serving, or NULL */
    size_t nplugins;
    wg_chain *chains;        /* one per listener */
    size_t nchains;
} wg_snapshot;

/* Takes over plugins[] (references included) and update_errors[]; builds
 * the chains. NULL when out of memory (everything given is released). */
wg_snapshot *wg_snapshot_new(wg_proxy *p, wg_plugin **plugins, char **update_errors, size_t n);
wg_snapshot *wg_snapshot_retain(wg_snapshot *s);
void wg_snapshot_release(wg_snapshot *s);
/* Main thread: makes snap the current one (taking the caller's reference)
 * and hands it to every worker. */
void wg_snapshot_publish(wg_proxy *p, wg_snapshot *snap);

/* Replaces out's content with the module of m (modules.c): read from its
 * file, or fetched over http(s) or from an OCI registry through the module
 * cache (p->cache, opened by the reload), honouring sha256 and the pull
 * policy; imagePullSecret is looked up in `set`. Blocks for up to
 * plugins.fetch_timeout_ms: call it from the reload's background thread,
 * never a worker. False with why filled (naming the URL) when the module
 * cannot be had. hex gets the module's sha256. */
bool wg_modules_obtain(wg_proxy *p, const wg_plugins_set *set, const wg_manifest *m, wg_buf *out,
                       char hex[static WG_SHA256_HEX_LEN + 1], char *why, size_t whylen);

/* ---- live reload (reload.c) -------------------------------------------------------- */

/* Reads the manifests and publishes the first snapshot, running the main
 * loop until it is ready (fetches happen on a background thread even
 * then). False only when out of memory. */
bool wg_reload_initial(wg_proxy *p, wg_buf *errors);
/* Starts watching the manifests directory (and SIGHUP). */
bool wg_reload_watch(wg_proxy *p, wg_buf *errors);
/* Stops watching and cancels fetches in flight; a round in flight
 * finishes and its result is dropped. */
void wg_reload_stop(wg_proxy *p);

/* ---- the process --------------------------------------------------------------- */

typedef struct wg_worker wg_worker;

typedef struct wg_proxy_metrics {
    wg_metric *requests[6];        /* by code class: 1xx..5xx, [0] = other */
    wg_metric *downstream_active;  /* gauge */
    wg_metric *downstream_total;
    wg_metric *upstream_errors_connect;
    wg_metric *upstream_errors_timeout;
    wg_metric *upstream_errors_reset;
    wg_metric *bad_requests;
    wg_metric *local_replies;
    /* module distribution (as the Istio agent's wasm_* metrics) */
    wg_metric *cache_lookups[2];   /* hit="false", hit="true" */
    wg_metric *remote_fetches[5];  /* by wg_fetch_result */
    wg_metric *fetch_ms;           /* histogram: milliseconds per remote fetch */
    wg_metric *cache_entries;      /* gauge: modules in the cache */
    wg_metric *conversions[3];     /* success, fetch_failure, compile_failure */
    /* live reload */
    wg_metric *reload_rounds[2];   /* result="success", result="failure" (not read) */
    wg_metric *snapshot_version;   /* gauge: the published snapshot's version */
} wg_proxy_metrics;

enum { WG_CONVERSION_OK, WG_CONVERSION_FETCH_FAILURE, WG_CONVERSION_COMPILE_FAILURE };

struct wg_proxy {
    const wg_config *config;
    wg_stats *stats;
    wg_proxy_metrics m;
    struct wg_cache *cache;      /* the module cache, opened by the first reload
                                    that needs it (its handle is stateless:
                                    the loaders share it) */
    char cache_error[256];       /* why it could not be opened */
    wg_snapshot *snapshot;       /* the plugins published (main thread) */
    atomic_bool stopping_fetches; /* shutting down: fetches in flight give up */
    struct wg_reloader *reloader;
    wg_worker **workers;
    uint32_t nworkers;
    uv_loop_t loop;              /* the main thread's */
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    struct wg_admin *admin;
    atomic_bool draining;
    atomic_bool drain_expired;   /* the drain timeout passed: close everything */
    atomic_uint workers_done;
    uv_timer_t check_timer;
    int exit_code;
    uint64_t started_ms;
};

void wg_metrics_init(wg_proxy *p);
void wg_metrics_count_response(wg_proxy *p, int status);

/* ---- workers (worker.c) ------------------------------------------------------------ */

/* The host side of one plugin version on one worker: the pw_host_ops
 * `host`, owning the VM slot. Worker thread only; reference-counted by
 * the vmsets that list it and the HTTP calls in flight; at zero its VM is
 * freed (and it, once its timer has closed). */
typedef struct wg_vmhost {
    int refs;
    wg_worker *worker;
    wg_plugin *plugin;           /* retained */
    pw_slot *slot;               /* NULL when the plugin has no module */
    uv_timer_t tick;
    bool tick_armed;
    atomic_bool queue_pending;
    /* The slot's state as last published (wg_vmhost_publish). */
    bool seen_failed;
    uint32_t seen_reloads;
    struct wg_vmhost *next, *prev; /* every live vmhost of the worker */
} wg_vmhost;

/* Worker thread: publishes the slot's state if it changed (into the
 * plugin's status for this worker, and its metrics). */
void wg_vmhost_publish(wg_vmhost *h);
void wg_vmhost_retain(wg_vmhost *h);
void wg_vmhost_release(wg_vmhost *h);

/* The VMs one worker runs for one snapshot: hosts[i] for the snapshot's
 * plugin i (NULL when that plugin has no module). A plugin unchanged
 * between two snapshots keeps its vmhost, so its VM and state carry on.
 * Worker thread only; reference-counted by the streams that started on it
 * and by the worker while it is current. */
typedef struct wg_vmset {
    int refs;
    wg_snapshot *snapshot;       /* retained */
    wg_vmhost **hosts;           /* each retained */
} wg_vmset;

void wg_vmset_release(wg_vmset *v);

typedef struct wg_upconn wg_upconn;

/* A cluster on one worker: round robin and idle keep-alive connections. */
typedef struct wg_upcluster {
    const wg_config_cluster *config;
    size_t next_endpoint;
    wg_upconn *idle;             /* singly linked via wg_upconn.next_idle */
    uint32_t nidle;
} wg_upcluster;

typedef struct wg_conn wg_conn;

struct wg_worker {
    wg_proxy *proxy;
    uint32_t index;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;             /* queue notifications, drain, stop */
    uv_tcp_t *listeners;         /* one per configured listener */
    bool *listening;
    wg_vmset *vmset;             /* the current one; streams keep theirs */
    wg_vmhost *hosts;            /* every live vmhost (for queue wake-ups) */
    uv_mutex_t pending_lock;
    wg_snapshot *pending;        /* published, not yet adopted (under the lock) */
    atomic_uint_fast64_t adopted_version; /* the snapshot version in use, for /config_dump */
    wg_upcluster *clusters;      /* one per configured cluster */
    wg_conn *conns;              /* live downstream connections */
    uint32_t nconns;
    bool draining;
    bool stopping;
    uint64_t next_stream_id;
};

extern const pw_host_ops wg_host_ops;

bool wg_workers_start(wg_proxy *p, wg_buf *errors);
void wg_workers_drain(wg_proxy *p);     /* thread-safe */
void wg_workers_stop(wg_proxy *p);      /* joins them */
uint64_t wg_now_ms(void);
/* Opens a listening socket with SO_REUSEPORT bound to addr. */
int wg_listen_socket(const wg_config_address *addr, int *fd_out);
void wg_worker_conn_closed(wg_worker *w, wg_conn *c);
void wg_worker_check_stopped(wg_worker *w);

/* ---- downstream (conn.c, stream.c) -------------------------------------------------- */

typedef struct wg_stream wg_stream;

struct wg_conn {
    wg_worker *worker;
    uv_tcp_t tcp;
    size_t listener;             /* index in config->listeners */
    wg_http_parser parser;
    wg_buf in;                   /* bytes read but not yet parsed (paused) */
    wg_stream *stream;           /* the request being served, or NULL */
    uv_timer_t timer;            /* request-head and idle timeouts */
    char peer[64], local[64];    /* "host:port" */
    char peer_ip[64];            /* the client's bare address (x-forwarded-for) */
    uint32_t peer_port, local_port;
    uint64_t id;
    bool reading;
    bool closing;
    int open_handles;            /* while closing: handles not yet closed */
    bool lingering;              /* half-closed after an error, draining input */
    bool in_feed;                /* inside the parser: the stream may not end yet */
    bool done_deferred;          /* it ended inside the parser */
    uint32_t requests;           /* served so far */
    uv_shutdown_t shutdown_req;
    bool close_after;            /* close when the current response is done */
    bool http10;
    size_t write_pending;        /* bytes queued on the socket */
    wg_buf out;                  /* bytes gathered while corked */
    wg_buf spare;                /* memory of a written buffer, for the next
                                    head (wg_conn_buffer) */
    int corked;                  /* > 0: gather writes, send them at uncork */
    wg_conn *next, *prev;        /* in the worker's list */
};

void wg_conn_accept(wg_worker *w, size_t listener, uv_stream_t *server);
void wg_conn_close(wg_conn *c);
/* Writes as much of data as the socket takes right now, without a write
 * request (conn.c). Returns the bytes written (all of them is the usual
 * case), or -1 on a socket error. */
ssize_t wg_try_write(uv_stream_t *stream, const wg_buf *data);

/* Queues bytes on the connection's socket (the buffer is taken over).
 * Between cork and uncork, writes are gathered into one (a response head
 * and its first body bytes leave in one system call). */
void wg_conn_write(wg_conn *c, wg_buf *data);
/* An empty buffer to build the next write in, with the memory of one
 * written before when there is one (no allocation per response). */
wg_buf wg_conn_buffer(wg_conn *c);
/* Buffers up to this size are kept for reuse, one per connection. */
#define WG_SPARE_BUFFER_MAX 2048u
void wg_conn_cork(wg_conn *c);
void wg_conn_uncork(wg_conn *c);
void wg_conn_stream_done(wg_conn *c);
void wg_conn_update_reading(wg_conn *c);

/* One plugin of a stream's chain. */
typedef struct wg_filter {
    wg_stream *stream;
    size_t index;
    wg_plugin *plugin;
    wg_vmhost *host;             /* NULL when the plugin has no module */
    pw_stream *ps;               /* NULL when skipped */
    bool skipped;
    bool body_cb_req, body_cb_resp;     /* the module has that body callback */
    bool body_eos_req, body_eos_resp;   /* saw end_of_stream in its body callback */
    uint64_t time_ns;            /* spent in the plugin */
} wg_filter;

/* Where the stream waits. */
typedef enum wg_stream_wait {
    WG_WAIT_NONE,
    WG_WAIT_REQ_HEADERS,         /* filter at req_hdr_next paused */
    WG_WAIT_REQ_BODY,            /* filter at req_body_stop paused (not buffering) */
    WG_WAIT_RESP_HEADERS,
    WG_WAIT_RESP_BODY,
    WG_WAIT_REQ_TRAILERS,        /* filter at req_trl_next paused the request trailers */
    WG_WAIT_RESP_TRAILERS,
} wg_stream_wait;

struct wg_stream {
    wg_conn *conn;
    wg_worker *worker;
    wg_vmset *vmset;             /* retained: the plugins it started with */
    const wg_chain *chain;
    wg_filter *filters;
    size_t nfilters;
    uint64_t id;
    char request_id[40];
    uint64_t start_ns;
    uint64_t active_ms;          /* loop time of its last event (stream idle timeout) */

    /* request */
    wg_headers req_headers;      /* Proxy-Wasm form: :method :path :authority :scheme first */
    wg_headers req_trailers;
    wg_buf *req_stage;           /* nfilters + 1 body stages; the last one goes upstream */
    bool req_has_body;
    bool req_complete;           /* the downstream request ended */
    bool req_reframe;            /* plugins may change the body: chunked upstream */
    size_t req_hdr_next;         /* next filter for the request headers */
    size_t req_trl_next;         /* next filter for the request trailers */
    bool req_trl_done;           /* every filter saw them (or there are none) */
    bool req_headers_done;       /* every filter saw them: routed */
    uint64_t req_bytes;

    /* response */
    wg_headers resp_headers;     /* ":status" first */
    wg_headers resp_trailers;
    wg_buf *resp_stage;          /* body stages in reverse chain order; the last one goes downstream */
    bool resp_started;           /* the upstream (or a local reply) produced a head */
    bool resp_has_body;
    bool resp_complete;          /* the upstream response ended */
    bool resp_reframe;
    size_t resp_hdr_next;        /* how many filters (from the end) have seen the response head */
    size_t resp_trl_next;        /* the same for the response trailers */
    bool resp_trl_done;
    bool resp_head_sent;         /* written downstream */
    bool resp_body_done;         /* the last byte is written downstream */
    wg_http_framing down_framing;
    uint64_t resp_bytes;
    int status;

    /* control */
    wg_stream_wait wait;
    wg_filter *waiting;          /* the filter that paused the stream */
    size_t wait_pos;             /* its position in the direction's order */
    bool pass_req_stage, pass_resp_stage;  /* let the waiting stage through once */
    wg_filter *calling;          /* the filter whose callback is running */
    int busy;                    /* inside drive(): events only record */
    bool resume_pending;         /* `calling` resumed inside its own callback */
    bool local_reply;            /* the response is made here, not upstream */
    bool reply_pending;          /* a plugin asked for a local reply */
    int reply_status;
    size_t reply_through;        /* filters that see the reply's response */
    wg_buf reply_body;
    wg_headers reply_headers;
    char reply_details[128];
    bool deny;                   /* a failed plugin denies the stream (503) */
    bool deny_not_loaded;        /* a plugin whose module is missing denies it (403) */
    bool fail_pending;           /* a plugin failed during this stream */
    const char *details;         /* response code details for the log */
    bool reset;                  /* abandon: close the connection */
    bool finished;
    const char *method;
    bool head_request;
    bool expect_continue;
    bool continue_sent;
    uint64_t bytes_out;          /* response body bytes written downstream */
    bool *req_stage_eos;         /* the whole request body reached stage i */
    bool *resp_stage_eos;
    size_t resp_first;           /* response order starts here (local replies) */
    bool resp_length_known;
    uint64_t resp_length;

    /* routing and upstream */
    bool routed;
    const wg_config_route *route;
    wg_upcluster *cluster;
    wg_upconn *up;
    bool up_head_sent;           /* the request head is on the upstream socket */
    bool up_body_sent;           /* and the end of its body */
    bool up_chunked;             /* the request body goes chunked */
    pw_stream_info info;
    char upstream_addr[64];
};

/* stream.c */
wg_stream *wg_stream_new(wg_conn *c, const wg_http_head *head);
/* After the head: starts the chain. */
void wg_stream_start(wg_stream *s);
/* The stream idle timeout (limits.stream_idle_timeout_ms) at loop time
 * now: returns 0 when it ended the stream, else the milliseconds left. */
uint64_t wg_stream_idle_check(wg_stream *s, uint64_t now, uint64_t timeout);
/* The request body was malformed: answer `status` if still possible. */
void wg_stream_request_error(wg_stream *s, int status, const char *message);
void wg_stream_request_body(wg_stream *s, const uint8_t *data, size_t len);
void wg_stream_request_trailers(wg_stream *s, const wg_headers *trailers);
void wg_stream_request_complete(wg_stream *s);
void wg_stream_free(wg_stream *s);
/* From upstream.c: */
void wg_stream_upstream_head(wg_stream *s, const wg_http_head *head);
void wg_stream_upstream_body(wg_stream *s, const uint8_t *data, size_t len);
void wg_stream_upstream_complete(wg_stream *s, const wg_headers *trailers);
void wg_stream_upstream_failed(wg_stream *s, int status, const char *details);
/* The downstream socket drained: more response body may flow. */
void wg_stream_downstream_writable(wg_stream *s);
/* The data plane's answer to a plugin's request. */
void wg_stream_local_reply(wg_stream *s, int status, const char *details, const uint8_t *body,
                           size_t body_len, const wg_headers *headers);
/* Called by the host ops. */
void wg_stream_on_resume(wg_filter *f, pw_stream_type type);
void wg_stream_on_close(wg_filter *f);
void wg_stream_on_local_reply(wg_filter *f, const pw_local_reply *reply);

/* ---- upstream (upstream.c) -------------------------------------------------------------- */

struct wg_upconn {
    wg_worker *worker;
    wg_upcluster *cluster;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t timer;            /* connect, then response timeout */
    wg_http_parser parser;
    wg_stream *stream;           /* NULL when idle, or for a callout */
    struct wg_callout *callout;
    bool connected;
    bool closing;
    int open_handles;
    size_t endpoint;             /* index in the cluster's endpoints */
    bool parser_stale;           /* pooled: reset the parser before reuse */
    bool reusable;
    bool reading;
    size_t write_pending;
    wg_buf spare; /* memory of a written buffer, for the next head */
    char address[64];
    wg_upconn *next_idle;
};

/* Connects (or reuses) a connection for the stream and sends the head. */
void wg_upstream_start(wg_stream *s);
/* Sends request body bytes (framing applied) or the end of the body. */
void wg_upstream_send_body(wg_stream *s, const uint8_t *data, size_t len, bool end,
                           const wg_headers *trailers);
/* The stream no longer needs its connection (done: pool it; else close). */
void wg_upstream_release(wg_stream *s, bool reusable);
void wg_upstream_close_idle(wg_worker *w);
void wg_upconn_update_reading(wg_upconn *u);

/* A plugin's HTTP call to a configured cluster (upstream.c); the answer
 * comes back through pw_vm_http_call_response, never synchronously. */
pw_status wg_callout_start(wg_vmhost *h, pw_vm *vm, uint32_t token, const pw_http_request *req);

/* ---- admin (admin.c) ------------------------------------------------------------------ */

bool wg_admin_start(wg_proxy *p, wg_buf *errors);
void wg_admin_stop(wg_proxy *p);

#endif
