/*
 * upstream.c - clusters and upstream connections: round robin over the
 * endpoints, a per-worker pool of idle keep-alive connections, connect and
 * response timeouts, forwarding a stream's request and parsing the answer.
 * Plugins' HTTP calls (callouts) use the same connections, unpooled.
 */
#include "proxy/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plugin's HTTP call in flight. */
typedef struct wg_callout {
    wg_vmhost *host;             /* retained: the VM may outlive its snapshot */
    pw_vm *vm;
    uint32_t token;
    uint32_t timeout_ms;
    wg_buf request;              /* the serialised request */
    wg_headers headers;          /* the response */
    wg_headers trailers;
    wg_buf body;
    bool got_head;
    bool done;
    wg_upconn *up;
} wg_callout;

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void callout_finish(wg_callout *co, bool ok, int synthetic_status);

static _Thread_local uint8_t read_buffer[65536];

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = (char *)read_buffer;
    buf->len = sizeof read_buffer;
}

/* ---- connection lifetime ---------------------------------------------------------- */

/* Freed when both handles have closed (close callbacks run in no
 * promised order). */
static void on_handle_closed(uv_handle_t *h)
{
    wg_upconn *u = h->data;
    if (--u->open_handles > 0)
        return;
    wg_http_parser_free(&u->parser);
    wg_buf_free(&u->spare);
    free(u);
}

static void upconn_close(wg_upconn *u)
{
    if (u->closing)
        return;
    u->closing = true;
    uv_timer_stop(&u->timer);
    u->open_handles = 2;
    uv_close((uv_handle_t *)&u->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&u->timer, on_handle_closed);
}

static void remove_idle(wg_upconn *u)
{
    wg_upcluster *cl = u->cluster;
    for (wg_upconn **p = &cl->idle; *p; p = &(*p)->next_idle) {
        if (*p == u) {
            *p = u->next_idle;
            cl->nidle--;
            return;
        }
    }
}

void wg_upstream_close_idle(wg_worker *w)
{
    for (size_t i = 0; i < w->proxy->config->nclusters; i++) {
        wg_upcluster *cl = &w->clusters[i];
        while (cl->idle) {
            wg_upconn *u = cl->idle;
            cl->idle = u->next_idle;
            cl->nidle--;
            upconn_close(u);
        }
    }
}

void wg_upconn_update_reading(wg_upconn *u)
{
    if (u->closing || !u->connected)
        return;
    /* Back-pressure: stop reading while the client is slow to take it. */
    bool want = true;
    if (u->stream && u->stream->conn && u->stream->conn->write_pending >= WG_WRITE_HIGH_WATER)
        want = false;
    if (want && !u->reading) {
        uv_read_start((uv_stream_t *)&u->tcp, alloc_cb, on_read);
        u->reading = true;
    } else if (!want && u->reading) {
        uv_read_stop((uv_stream_t *)&u->tcp);
        u->reading = false;
    }
}

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct up_write {
    uv_write_t req;
    wg_upconn *up;
    uint8_t *data;
    size_t len;
} up_write;

static void on_written(uv_write_t *req, int status)
{
    up_write *w = (up_write *)req;
    wg_upconn *u = w->up;
    free(w->data);
    size_t len = w->len;
    free(w);
    if (u->closing)
        return;
    u->write_pending -= len;
    if (status < 0)
        return; /* the read side reports the failure */
    if (u->stream && u->stream->conn && u->write_pending < WG_WRITE_HIGH_WATER)
        wg_conn_update_reading(u->stream->conn);
}

static void upconn_write(wg_upconn *u, wg_buf *data)
{
    if (data->len == 0 || u->closing) {
        wg_buf_free(data);
        return;
    }
    /* At once when the socket takes it all (see conn.c's send_now). */
    size_t done = 0;
    if (u->write_pending == 0) {
        ssize_t n = wg_try_write((uv_stream_t *)&u->tcp, data);
        if (n < 0 || (size_t)n == data->len) {
            /* On an error the read side reports the failure. */
            wg_buf_keep(&u->spare, data, WG_SPARE_BUFFER_MAX);
            return;
        }
        done = (size_t)n;
    }
    up_write *w = malloc(sizeof *w);
    if (!w) {
        wg_buf_free(data);
        return;
    }
    w->up = u;
    w->data = data->data;
    w->len = data->len - done;
    memset(data, 0, sizeof *data);
    uv_buf_t b = uv_buf_init((char *)w->data + done, (unsigned)w->len);
    u->write_pending += w->len;
    if (uv_write(&w->req, (uv_stream_t *)&u->tcp, &b, 1, on_written) != 0) {
        u->write_pending -= w->len;
        free(w->data);
        free(w);
    }
}

/* ---- parsing the response -------------------------------------------------------------- */

static void on_head(void *ctx, const wg_http_head *head)
{
    wg_upconn *u = ctx;
    if (head->status >= 100 && head->status < 200)
        return; /* interim (100 Continue): the real head follows */
    uv_timer_stop(&u->timer);
    if (u->stream) {
        wg_stream_upstream_head(u->stream, head);
    } else if (u->callout) {
        u->callout->got_head = true;
        wg_http_head_to_headers(head, &u->callout->headers);
    }
}

static void on_body(void *ctx, const uint8_t *data, size_t len)
{
    wg_upconn *u = ctx;
    if (u->stream)
        wg_stream_upstream_body(u->stream, data, len);
    else if (u->callout)
        wg_buf_append(&u->callout->body, data, len);
}

static void on_trailers(void *ctx, const wg_headers *trailers)
{
    wg_upconn *u = ctx;
    if (u->callout)
        wg_headers_copy(&u->callout->trailers, trailers);
    else if (u->stream)
        wg_headers_copy(&u->stream->resp_trailers, trailers);
}

static void on_complete(void *ctx)
{
    wg_upconn *u = ctx;
    wg_http_parser_pause(&u->parser);
    u->reusable = u->parser.head.keep_alive;
    if (u->stream)
        wg_stream_upstream_complete(u->stream, NULL);
    else if (u->callout)
        callout_finish(u->callout, true, 0);
}

static const wg_http_callbacks parser_callbacks = {on_head, on_body, on_trailers, on_complete};

/* The upstream connection ended or failed. */
static void upconn_failed(wg_upconn *u, int status, const char *details)
{
    wg_stream *s = u->stream;
    wg_callout *co = u->callout;
    u->stream = NULL;
    u->callout = NULL;
    upconn_close(u);
    if (s) {
        s->up = NULL;
        wg_stream_upstream_failed(s, status, details);
    } else if (co) {
        co->up = NULL;
        callout_finish(co, false, status == 504 ? 504 : 0);
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    wg_upconn *u = stream->data;
    if (nread == 0)
        return;
    wg_proxy *p = u->worker->proxy;
    if (nread < 0) {
        if (!u->stream && !u->callout) {
            /* An idle pooled connection was closed by the upstream. */
            remove_idle(u);
            upconn_close(u);
            return;
        }
        /* A close-delimited body ends here; anything else (a close before
         * or in the middle of the response) is a reset. */
        bool started = u->stream ? u->stream->resp_started : (u->callout && u->callout->got_head);
        if (started && (wg_http_parser_finish(&u->parser) == WG_HTTP_DONE ||
                        (u->stream && u->stream->resp_complete))) {
            u->reusable = false;
            if (u->stream && !u->stream->resp_complete)
                wg_stream_upstream_complete(u->stream, NULL);
            return;
        }
        wg_metric_add(p->m.upstream_errors_reset, 1);
        upconn_failed(u, 502, "upstream_reset_before_response_complete");
        return;
    }
    if (!u->stream && !u->callout) {
        /* Bytes on an idle connection: it is not safe to reuse. */
        remove_idle(u);
        upconn_close(u);
        return;
    }
    /* A response head and body read together leave in one write. */
    wg_conn *down = u->stream ? u->stream->conn : NULL;
    if (down)
        wg_conn_cork(down);
    size_t consumed = 0;
    wg_http_result r = wg_http_parser_feed(&u->parser, buf->base, (size_t)nread, &consumed);
    if (down)
        wg_conn_uncork(down);
    if (r == WG_HTTP_ERROR) {
        wg_metric_add(p->m.upstream_errors_reset, 1);
        upconn_failed(u, 502, "upstream_malformed_response");
    } else if (consumed < (size_t)nread && r != WG_HTTP_OK) {
        u->reusable = false; /* extra bytes after the response */
    }
}

/* ---- connecting ------------------------------------------------------------------------- */

static void on_timeout(uv_timer_t *t)
{
    wg_upconn *u = t->data;
    wg_proxy *p = u->worker->proxy;
    wg_metric_add(p->m.upstream_errors_timeout, 1);
    if (!u->connected)
        upconn_failed(u, 503, "upstream_connect_timeout");
    else
        upconn_failed(u, 504, "upstream_response_timeout");
}

static void send_stream_head(wg_upconn *u);

static void on_connect(uv_connect_t *req, int status)
{
    wg_upconn *u = req->data;
    if (u->closing)
        return;
    if (status < 0) {
        wg_metric_add(u->worker->proxy->m.upstream_errors_connect, 1);
        upconn_failed(u, 503, "upstream_connect_failed");
        return;
    }
    u->connected = true;
    uv_tcp_nodelay(&u->tcp, 1);
    uv_timer_stop(&u->timer);
    if (u->stream) {
        send_stream_head(u);
    } else if (u->callout) {
        wg_callout *co = u->callout;
        upconn_write(u, &co->request);
        if (co->timeout_ms)
            uv_timer_start(&u->timer, on_timeout, co->timeout_ms, 0);
    }
    wg_upconn_update_reading(u);
}

static wg_upconn *upconn_new(wg_worker *w, wg_upcluster *cl, size_t endpoint)
{
    const wg_config_cluster *cc = cl->config;
    const wg_config_address *ep = &cc->endpoints[endpoint];
    wg_upconn *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->worker = w;
    u->cluster = cl;
    u->endpoint = endpoint;
    snprintf(u->address, sizeof u->address, "%s", ep->text);
    uv_tcp_init(&w->loop, &u->tcp);
    u->tcp.data = u;
    uv_timer_init(&w->loop, &u->timer);
    u->timer.data = u;
    wg_http_parser_init(&u->parser, WG_HTTP_RESPONSE, NULL, &parser_callbacks, u);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int r = ep->kind == WG_CONFIG_HOST_IPV6
                ? uv_ip6_addr(ep->host, ep->port, (struct sockaddr_in6 *)&ss)
                : uv_ip4_addr(ep->kind == WG_CONFIG_HOST_NAME && strcmp(ep->host, "localhost") == 0
                                  ? "127.0.0.1"
                                  : ep->host,
                              ep->port, (struct sockaddr_in *)&ss);
    u->connect_req.data = u;
    if (r != 0 || uv_tcp_connect(&u->connect_req, &u->tcp, (struct sockaddr *)&ss, on_connect) != 0) {
        /* Reported asynchronously, like any connect failure. */
        u->connected = false;
        uv_timer_start(&u->timer, on_timeout, 0, 0);
        return u;
    }
    uv_timer_start(&u->timer, on_timeout, cc->connect_timeout_ms, 0);
    return u;
}

/* ---- streams ------------------------------------------------------------------------------ */

static void send_stream_head(wg_upconn *u)
{
    wg_stream *s = u->stream;
    /* The request map is written as it is (the plugins are done with the
     * head; hop-by-hop fields were dropped when the stream began). */
    wg_headers *h = &s->req_headers;
    const wg_header *m = wg_headers_get(h, ":method", 7);
    const wg_header *path = wg_headers_get(h, ":path", 5);
    char method[32] = "GET";
    if (m && m->value_len < sizeof method) {
        memcpy(method, m->value, m->value_len);
        method[m->value_len] = 0;
    }
    char target_buf[256];
    char *target = target_buf;
    size_t plen = path ? path->value_len : 1;
    if (plen >= sizeof target_buf && !(target = malloc(plen + 1))) {
        upconn_failed(u, 502, "out_of_memory");
        return;
    }
    memcpy(target, path ? path->value : "/", plen);
    target[plen] = 0;
    if (s->req_has_body) {
        bool has_length = wg_headers_get(h, "content-length", 14) != NULL;
        s->up_chunked = s->req_reframe || !has_length;
        if (s->up_chunked) {
            wg_headers_remove(h, "content-length", 14);
            wg_headers_set(h, "transfer-encoding", 17, "chunked", 7);
        }
    }
    wg_buf out = wg_buf_take(&u->spare);
    bool ok = wg_http_write_request_head(&out, method, target, h);
    if (target != target_buf)
        free(target);
    if (!ok) {
        wg_buf_free(&out);
        upconn_failed(u, 502, "request_head_not_writable");
        return;
    }
    wg_http_parser_set_request_method(&u->parser, method);
    upconn_write(u, &out);
    s->up_head_sent = true;
    uv_timer_start(&u->timer, on_timeout, u->cluster->config->response_timeout_ms, 0);
    wg_str_copy(s->upstream_addr, sizeof s->upstream_addr, u->address);
    wg_stream_downstream_writable(s); /* drives the body on */
}

/* Round robin picks the endpoint first; then an idle connection to that
 * endpoint is reused if there is one (so keep-alive does not pin traffic
 * to one endpoint). */
void wg_upstream_start(wg_stream *s)
{
    wg_upcluster *cl = s->cluster;
    size_t endpoint = cl->next_endpoint++ % cl->config->nendpoints;
    for (wg_upconn **p = &cl->idle; *p; p = &(*p)->next_idle) {
        wg_upconn *u = *p;
        if (u->endpoint != endpoint)
            continue;
        *p = u->next_idle;
        cl->nidle--;
        u->next_idle = NULL;
        u->stream = s;
        s->up = u;
        if (u->parser_stale) {
            wg_http_parser_reset(&u->parser);
            u->parser_stale = false;
        }
        send_stream_head(u);
        wg_upconn_update_reading(u);
        return;
    }
    wg_upconn *u = upconn_new(s->worker, cl, endpoint);
    if (!u) {
        wg_stream_upstream_failed(s, 503, "out_of_memory");
        return;
    }
    u->stream = s;
    s->up = u;
}

void wg_upstream_send_body(wg_stream *s, const uint8_t *data, size_t len, bool end,
                           const wg_headers *trailers)
{
    wg_upconn *u = s->up;
    if (!u)
        return;
    wg_buf out = wg_buf_take(&u->spare);
    if (s->up_chunked) {
        if (len)
            wg_http_write_chunk(&out, data, len);
        if (end)
            wg_http_write_last_chunk(&out, trailers);
    } else if (len) {
        wg_buf_append(&out, data, len);
    }
    upconn_write(u, &out);
}

void wg_upstream_release(wg_stream *s, bool reusable)
{
    wg_upconn *u = s->up;
    if (!u)
        return;
    s->up = NULL;
    u->stream = NULL;
    uv_timer_stop(&u->timer);
    wg_upcluster *cl = u->cluster;
    if (reusable && u->reusable && u->connected && !u->closing && cl->nidle < 64 &&
        !s->worker->draining) {
        /* Keep it, reading: a close from the upstream removes it. */
        u->reusable = false;
        u->next_idle = cl->idle;
        cl->idle = u;
        cl->nidle++;
        /* We may be inside this parser's callback: reset it on reuse. */
        u->parser_stale = true;
        if (!u->reading) {
            uv_read_start((uv_stream_t *)&u->tcp, alloc_cb, on_read);
            u->reading = true;
        }
        return;
    }
    upconn_close(u);
}

/* ---- plugin HTTP calls -------------------------------------------------------------------- */

static void callout_free(wg_callout *co)
{
    wg_vmhost_release(co->host);
    wg_buf_free(&co->request);
    wg_buf_free(&co->body);
    wg_headers_free(&co->headers);
    wg_headers_free(&co->trailers);
    free(co);
}

/* Delivers the answer (exactly once). A timeout answers 504 with headers,
 * as Envoy's async client; other failures answer "no headers". */
static void callout_finish(wg_callout *co, bool ok, int synthetic_status)
{
    if (co->done)
        return;
    co->done = true;
    wg_upconn *u = co->up;
    co->up = NULL;
    if (u) {
        u->callout = NULL;
        upconn_close(u);
    }
    pw_vm *vm = pw_slot_vm(co->host->slot);
    if (vm == co->vm && !pw_vm_failed(vm)) {
        if (ok) {
            pw_vm_http_call_response(vm, co->token, &co->headers, co->body.data, co->body.len,
                                     &co->trailers);
        } else if (synthetic_status) {
            wg_headers h;
            wg_headers_init(&h);
            char st[8];
            int n = snprintf(st, sizeof st, "%d", synthetic_status);
            wg_headers_add(&h, ":status", 7, st, (size_t)n);
            static const char body[] = "upstream request timeout";
            pw_vm_http_call_response(vm, co->token, &h, (const uint8_t *)body, sizeof body - 1,
                                     NULL);
            wg_headers_free(&h);
        } else {
            pw_vm_http_call_response(vm, co->token, NULL, NULL, 0, NULL);
        }
    }
    callout_free(co);
}

pw_status wg_callout_start(wg_vmhost *h, pw_vm *vm, uint32_t token, const pw_http_request *req)
{
    wg_worker *w = h->worker;
    long ci = wg_config_find_cluster(w->proxy->config, req->cluster);
    if (ci < 0)
        return PW_BAD_ARGUMENT; /* as Envoy for an unknown cluster */
    wg_callout *co = calloc(1, sizeof *co);
    if (!co)
        return PW_INTERNAL_FAILURE;
    co->host = h;
    wg_vmhost_retain(h);
    co->vm = vm;
    co->token = token;
    co->timeout_ms = req->timeout_ms;
    wg_headers_init(&co->headers);
    wg_headers_init(&co->trailers);
    /* The request: pseudo-headers give the start line, Content-Length is
     * set when there is a body. */
    wg_headers hh;
    wg_headers_init(&hh);
    wg_headers_copy(&hh, req->headers);
    wg_http_strip_hop_by_hop(&hh);
    wg_headers_remove(&hh, "content-length", 14);
    if (req->body_len > 0) {
        char len[24];
        int n = snprintf(len, sizeof len, "%zu", req->body_len);
        wg_headers_add(&hh, "content-length", 14, len, (size_t)n);
    }
    const wg_header *m = wg_headers_get(&hh, ":method", 7);
    const wg_header *path = wg_headers_get(&hh, ":path", 5);
    char method[32] = "GET";
    if (m && m->value_len < sizeof method) {
        memcpy(method, m->value, m->value_len);
        method[m->value_len] = 0;
    }
    wg_buf target = {0};
    wg_buf_append(&target, path->value, path->value_len);
    wg_buf_append(&target, "", 1);
    bool ok = wg_http_write_request_head(&co->request, method, (const char *)target.data, &hh);
    wg_buf_free(&target);
    wg_headers_free(&hh);
    if (!ok) {
        callout_free(co);
        return PW_BAD_ARGUMENT;
    }
    wg_buf_append(&co->request, req->body, req->body_len);
    wg_upcluster *cl = &w->clusters[ci];
    wg_upconn *u = upconn_new(w, cl, cl->next_endpoint++ % cl->config->nendpoints);
    if (!u) {
        callout_free(co);
        return PW_INTERNAL_FAILURE;
    }
    wg_http_parser_set_request_method(&u->parser, method);
    u->callout = co;
    co->up = u;
    return PW_OK;
}
