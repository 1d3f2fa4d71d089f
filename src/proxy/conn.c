/*
 * conn.c - downstream connections: reading, parsing, timeouts, writing.
 *
 * A connection serves one request at a time: the parser pauses at the end
 * of each request, and resumes when its response has been written, so
 * pipelined requests are answered in order. Bytes read while paused wait
 * in conn->in. A malformed request gets a short 4xx/5xx and the connection
 * is closed.
 */
#include "proxy/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct write_req {
    uv_write_t req;
    wg_conn *conn;
    uint8_t *data;
    size_t len;
} write_req;

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void feed(wg_conn *c, const uint8_t *data, size_t len);

static _Thread_local uint8_t read_buffer[65536];

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = (char *)read_buffer;
    buf->len = sizeof read_buffer;
}

static void linger_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    alloc_cb(h, suggested, buf);
}

/* ---- closing ----------------------------------------------------------------------- */

/* The connection is freed when both of its handles have closed (libuv
 * runs close callbacks in no promised order). */
static void on_handle_closed(uv_handle_t *h)
{
    wg_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    wg_http_parser_free(&c->parser);
    wg_buf_free(&c->in);
    wg_buf_free(&c->out);
    wg_buf_free(&c->spare);
    free(c);
}

void wg_conn_close(wg_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->stream) {
        wg_stream *s = c->stream;
        c->stream = NULL;
        s->conn = NULL;
        wg_stream_free(s);
    }
    wg_worker_conn_closed(c->worker, c);
    c->open_handles = 2;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* ---- lingering close ------------------------------------------------------------------ */

/* Closing a socket with unread bytes makes the kernel send a reset, and
 * the client may then lose the response (a 431 for a huge head, say). So
 * an error response is followed by a half-close, and whatever the client
 * still sends is read and dropped for a short while before the close. */
static void on_linger_timeout(uv_timer_t *t) { wg_conn_close(t->data); }

static void on_linger_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0)
        wg_conn_close(stream->data);
}

static void linger_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    wg_conn *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        wg_conn_close(c);
        return;
    }
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = true;
    uv_read_start((uv_stream_t *)&c->tcp, linger_alloc, on_linger_read);
    uv_timer_start(&c->timer, on_linger_timeout, 2000, 0);
}

static void linger_close(wg_conn *c)
{
    if (c->closing || c->lingering)
        return;
    c->lingering = true;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        wg_conn_close(c);
}

/* ---- writing ------------------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    wg_conn *c = w->conn;
    free(w->data);
    size_t len = w->len;
    free(w);
    if (c->closing)
        return;
    c->write_pending -= len;
    if (status < 0) {
        wg_conn_close(c);
        return;
    }
    if (c->stream && c->write_pending < WG_WRITE_HIGH_WATER)
        wg_stream_downstream_writable(c->stream);
    if (!c->stream && c->close_after && c->write_pending == 0)
        linger_close(c);
}

static void send_now(wg_conn *c, wg_buf *data);

void wg_conn_write(wg_conn *c, wg_buf *data)
{
    if (data->len == 0 || c->closing) {
        wg_buf_free(data);
        return;
    }
    if (c->corked > 0) {
        if (c->out.len == 0) {
            wg_buf_free(&c->out);
            c->out = *data; /* take it over whole */
            memset(data, 0, sizeof *data);
        } else {
            wg_buf_append(&c->out, data->data, data->len);
            wg_buf_keep(&c->spare, data, WG_SPARE_BUFFER_MAX);
        }
        return;
    }
    send_now(c, data);
}

wg_buf wg_conn_buffer(wg_conn *c)
{
    return wg_buf_take(&c->spare);
}

void wg_conn_cork(wg_conn *c) { c->corked++; }

void wg_conn_uncork(wg_conn *c)
{
    if (--c->corked > 0)
        return;
    if (c->out.len > 0 && !c->closing) {
        wg_buf data = c->out;
        memset(&c->out, 0, sizeof c->out);
        send_now(c, &data);
    }
    /* A close decided while corked waited for these bytes. */
    if (!c->closing && !c->stream && c->close_after && c->write_pending == 0)
        linger_close(c);
}

/* Writes at once when the socket takes it all (the usual case: no write
 * request, no callback, no epoll change); queues the rest. */
ssize_t wg_try_write(uv_stream_t *stream, const wg_buf *data)
{
    uv_buf_t b = uv_buf_init((char *)data->data, (unsigned)data->len);
    int n = uv_try_write(stream, &b, 1);
    if (n == UV_EAGAIN)
        return 0;
    return n < 0 ? -1 : n;
}

static void send_now(wg_conn *c, wg_buf *data)
{
    size_t done = 0;
    if (c->write_pending == 0) {
        ssize_t n = wg_try_write((uv_stream_t *)&c->tcp, data);
        if (n < 0 || (size_t)n == data->len) {
            wg_buf_keep(&c->spare, data, WG_SPARE_BUFFER_MAX);
            if (n < 0)
                wg_conn_close(c);
            return;
        }
        done = (size_t)n;
    }
    write_req *w = malloc(sizeof *w);
    if (!w) {
        wg_buf_free(data);
        wg_conn_close(c);
        return;
    }
    w->conn = c;
    w->data = data->data;
    w->len = data->len - done;
    data->data = NULL;
    data->len = data->cap = 0;
    uv_buf_t b = uv_buf_init((char *)w->data + done, (unsigned)w->len);
    c->write_pending += w->len;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        c->write_pending -= w->len;
        free(w->data);
        free(w);
        wg_conn_close(c);
    }
}

/* ---- timeouts -------------------------------------------------------------------------- */

static void send_error(wg_conn *c, int status, const char *message)
{
    wg_headers h;
    wg_headers_init(&h);
    char body[300];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", status, wg_http_reason(status), message);
    char len[24];
    int ln = snprintf(len, sizeof len, "%d", n);
    wg_headers_add(&h, "content-type", 12, "text/plain", 10);
    wg_headers_add(&h, "content-length", 14, len, (size_t)ln);
    wg_headers_add(&h, "connection", 10, "close", 5);
    wg_buf out = {0};
    wg_http_write_response_head(&out, status, NULL, &h, 1);
    wg_buf_append(&out, body, (size_t)n);
    wg_headers_free(&h);
    c->close_after = true;
    wg_conn_write(c, &out);
    wg_metrics_count_response(c->worker->proxy, status);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (c->write_pending == 0 && c->corked == 0)
        linger_close(c); /* (when corked, the uncork closes after sending) */
}

static void on_timeout(uv_timer_t *t)
{
    wg_conn *c = t->data;
    if (c->stream || c->closing || c->lingering)
        return;
    if (c->in.len > 0 || c->parser.scan.bytes > 0) {
        /* A head started but did not finish in time (slowloris). */
        wg_metric_add(c->worker->proxy->m.bad_requests, 1);
        send_error(c, 408, "the request head did not arrive in time");
    } else {
        wg_conn_close(c); /* idle keep-alive connection */
    }
}

/* While a stream runs, the connection's timer watches its idleness. */
static void on_stream_timeout(uv_timer_t *t)
{
    wg_conn *c = t->data;
    uint64_t timeout = c->worker->proxy->config->limits.stream_idle_timeout_ms;
    if (!c->stream || c->closing || c->lingering || timeout == 0)
        return;
    uint64_t left = wg_stream_idle_check(c->stream, uv_now(&c->worker->loop), timeout);
    if (left > 0)
        uv_timer_start(&c->timer, on_stream_timeout, left, 0);
}

static void arm_head_timer(wg_conn *c, bool started)
{
    const wg_config_limits *l = &c->worker->proxy->config->limits;
    /* A new connection must send its first head in time too; between
     * requests the (longer) keep-alive idle timeout applies. */
    uint64_t ms = started || c->requests == 0 ? l->request_head_timeout_ms : l->idle_timeout_ms;
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* ---- parsing --------------------------------------------------------------------------------- */

static void on_head(void *ctx, const wg_http_head *head)
{
    wg_conn *c = ctx;
    uv_timer_stop(&c->timer);
    c->http10 = head->version_minor == 0;
    if (!head->keep_alive)
        c->close_after = true;
    if (c->worker->draining)
        c->close_after = true;
    c->stream = wg_stream_new(c, head);
    if (!c->stream) {
        send_error(c, 500, "out of memory");
        return;
    }
    c->requests++;
    uint32_t idle = c->worker->proxy->config->limits.stream_idle_timeout_ms;
    if (idle)
        uv_timer_start(&c->timer, on_stream_timeout, idle, 0);
    wg_stream_start(c->stream);
}

static void on_body(void *ctx, const uint8_t *data, size_t len)
{
    wg_conn *c = ctx;
    if (c->stream)
        wg_stream_request_body(c->stream, data, len);
}

static void on_trailers(void *ctx, const wg_headers *trailers)
{
    wg_conn *c = ctx;
    if (c->stream)
        wg_stream_request_trailers(c->stream, trailers);
}

static void on_complete(void *ctx)
{
    wg_conn *c = ctx;
    /* One request at a time: the next waits until this one is answered. */
    wg_http_parser_pause(&c->parser);
    if (c->stream)
        wg_stream_request_complete(c->stream);
}

static const wg_http_callbacks parser_callbacks = {on_head, on_body, on_trailers, on_complete};

void wg_conn_update_reading(wg_conn *c)
{
    if (c->closing)
        return;
    /* Keep reading between requests (stopping and restarting costs two
     * system calls a request): bytes that come while the parser waits for
     * the current response are kept, up to a limit. Stop while the stream
     * pushes back (its upstream write queue is full). */
    bool want = !c->close_after && c->in.len < 65536;
    if (c->stream && c->stream->up && c->stream->up->write_pending >= WG_WRITE_HIGH_WATER)
        want = false;
    if (want && !c->reading) {
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
        c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void feed(wg_conn *c, const uint8_t *data, size_t len)
{
    size_t consumed = 0;
    c->in_feed = true;
    wg_http_result r = wg_http_parser_feed(&c->parser, data, len, &consumed);
    c->in_feed = false;
    if (c->closing)
        return;
    switch (r) {
    case WG_HTTP_OK:
        break;
    case WG_HTTP_PAUSED:
    case WG_HTTP_DONE:
        if (consumed < len && r == WG_HTTP_PAUSED)
            wg_buf_append(&c->in, data + consumed, len - consumed);
        break;
    case WG_HTTP_ERROR: {
        const wg_http_error *e = wg_http_parser_error(&c->parser);
        wg_metric_add(c->worker->proxy->m.bad_requests, 1);
        if (c->stream) {
            /* Broken mid-body: answer if the response has not started. */
            wg_stream_request_error(c->stream, wg_http_error_status(e->kind), e->message);
            if (c->done_deferred) {
                c->done_deferred = false;
                wg_conn_stream_done(c);
            }
            return;
        }
        send_error(c, wg_http_error_status(e->kind), e->message);
        return;
    }
    }
    if (c->done_deferred) {
        /* The stream ended inside a parser callback: finish it now, which
         * may feed the next pipelined request. */
        c->done_deferred = false;
        wg_conn_stream_done(c);
        return;
    }
    if (!c->stream && !c->closing && c->parser.scan.bytes > 0)
        arm_head_timer(c, true);
    wg_conn_update_reading(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    wg_conn *c = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* The client went away (or half-closed: treat it the same). */
        if (c->stream && !c->stream->req_complete) {
            wg_conn_close(c);
            return;
        }
        if (!c->stream) {
            wg_conn_close(c);
            return;
        }
        c->close_after = true;
        uv_read_stop(stream);
        c->reading = false;
        return;
    }
    if (c->in.len > 0 || c->parser.paused) {
        wg_buf_append(&c->in, buf->base, (size_t)nread);
        wg_conn_update_reading(c);
        return;
    }
    feed(c, (const uint8_t *)buf->base, (size_t)nread);
}

/* The response went out: serve the next request, or close. */
void wg_conn_stream_done(wg_conn *c)
{
    if (c->in_feed) {
        c->done_deferred = true;
        return;
    }
    wg_stream *s = c->stream;
    c->stream = NULL;
    wg_stream_free(s);
    if (c->closing)
        return;
    if (c->close_after) {
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        if (c->write_pending == 0 && c->corked == 0)
            linger_close(c);
        return;
    }
    arm_head_timer(c, c->in.len > 0);
    wg_http_parser_resume(&c->parser);
    /* Bytes that arrived meanwhile (a pipelined request) go first. */
    wg_buf pending = c->in;
    memset(&c->in, 0, sizeof c->in);
    feed(c, pending.data ? pending.data : (const uint8_t *)"", pending.len);
    wg_buf_free(&pending);
}

/* "host:port" ("[host]:port" for IPv6) into out; the bare host into host
 * too when it is not NULL (INET6_ADDRSTRLEN bytes at least). */
static void addr_string(const struct sockaddr_storage *ss, char *out, size_t len, uint32_t *port,
                        char *host)
{
    char bare[INET6_ADDRSTRLEN] = "";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, bare, sizeof bare);
        *port = ntohs(a->sin6_port);
        snprintf(out, len, "[%s]:%u", bare, *port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, bare, sizeof bare);
        *port = ntohs(a->sin_port);
        snprintf(out, len, "%s:%u", bare, *port);
    }
    if (host)
        memcpy(host, bare, sizeof bare);
}

void wg_conn_accept(wg_worker *w, size_t listener, uv_stream_t *server)
{
    wg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->worker = w;
    c->listener = listener;
    c->id = ++w->next_stream_id;
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    uv_timer_init(&w->loop, &c->timer);
    c->timer.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = true;
        c->open_handles = 2;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_string(&ss, c->peer, sizeof c->peer, &c->peer_port, c->peer_ip);
    len = sizeof ss;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_string(&ss, c->local, sizeof c->local, &c->local_port, NULL);
    const wg_config_limits *l = &w->proxy->config->limits;
    wg_http_limits limits;
    wg_http_limits_default(&limits);
    limits.max_head_size = l->max_request_head_bytes;
    limits.max_headers = l->max_headers;
    wg_http_parser_init(&c->parser, WG_HTTP_REQUEST, &limits, &parser_callbacks, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    wg_metric_gauge_add(w->proxy->m.downstream_active, 1);
    wg_metric_add(w->proxy->m.downstream_total, 1);
    arm_head_timer(c, false);
    wg_conn_update_reading(c);
}
