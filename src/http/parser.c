/*
 * parser.c - the parser object: one phase at a time (head, body, message
 * complete), each step consuming bytes or delivering at most one event,
 * so that a pause requested by a callback takes effect right after it.
 */
#include "http/internal.h"

#include <string.h>

void wg_http_limits_default(wg_http_limits *limits)
{
    limits->max_head_size = WG_HTTP_DEFAULT_MAX_HEAD_SIZE;
    limits->max_headers = WG_HTTP_DEFAULT_MAX_HEADERS;
    limits->max_url_len = WG_HTTP_DEFAULT_MAX_URL_LEN;
    limits->max_chunk_size = WG_HTTP_DEFAULT_MAX_CHUNK_SIZE;
}

static void start_head(wg_http_parser *p)
{
    p->phase = WG_HTTP_PHASE_HEAD;
    wg_http_scan_start(&p->scan,
                       p->type == WG_HTTP_REQUEST ? WG_HTTP_SCAN_REQUEST : WG_HTTP_SCAN_RESPONSE);
    wg_buf_clear(&p->section);
}

void wg_http_parser_init(wg_http_parser *p, wg_http_parser_type type, const wg_http_limits *limits,
                         const wg_http_callbacks *cb, void *ctx)
{
    memset(p, 0, sizeof(*p));
    p->type = type;
    wg_http_limits_default(&p->limits);
    if (limits) {
        if (limits->max_head_size)
            p->limits.max_head_size = limits->max_head_size;
        if (limits->max_headers)
            p->limits.max_headers = limits->max_headers;
        if (limits->max_url_len)
            p->limits.max_url_len = limits->max_url_len;
        if (limits->max_chunk_size)
            p->limits.max_chunk_size = limits->max_chunk_size;
    }
    /* Beyond it http_parser fails first, with a less precise error. */
    if (p->limits.max_head_size > WG_HTTP_MAX_HEAD_SIZE_CAP)
        p->limits.max_head_size = WG_HTTP_MAX_HEAD_SIZE_CAP;
    if (cb)
        p->cb = *cb;
    p->ctx = ctx;
    start_head(p);
}

void wg_http_parser_free(wg_http_parser *p)
{
    wg_buf_free(&p->section);
    wg_buf_free(&p->target);
    wg_buf_free(&p->path);
    wg_buf_free(&p->authority);
    wg_buf_free(&p->reason);
    wg_headers_free(&p->head.headers);
    wg_headers_free(&p->trailers);
}

void wg_http_parser_reset(wg_http_parser *p)
{
    wg_http_parser old = *p;
    wg_http_parser_init(p, old.type, &old.limits, &old.cb, old.ctx);
    /* The buffers change hands, emptied; init allocated nothing. */
    wg_buf *bufs[] = {&p->section, &p->target, &p->path, &p->authority, &p->reason};
    const wg_buf *old_bufs[] = {&old.section, &old.target, &old.path, &old.authority, &old.reason};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        *bufs[i] = *old_bufs[i];
        wg_buf_clear(bufs[i]);
    }
    p->head.headers = old.head.headers;
    wg_headers_clear(&p->head.headers);
    p->trailers = old.trailers;
    wg_headers_clear(&p->trailers);
}

bool wg_http_fail(wg_http_parser *p, wg_http_error_kind kind, const char *message)
{
    if (p->phase != WG_HTTP_PHASE_ERROR) {
        p->error.kind = kind;
        p->error.message = message;
        p->phase = WG_HTTP_PHASE_ERROR;
    }
    return false;
}

void wg_http_body_done(wg_http_parser *p)
{
    p->phase = WG_HTTP_PHASE_COMPLETE;
}

/* Collects the head; once complete, parses and checks it, picks the next
 * phase and delivers on_head. */
static size_t head_step(wg_http_parser *p, const uint8_t *data, size_t len)
{
    size_t used = 0;
    wg_http_error err = {0};
    int r = wg_http_scan_feed(&p->scan, &p->limits, data, len, &used, &err);
    if (r == WG_HTTP_SCAN_FAILED) {
        wg_http_fail(p, err.kind, err.message);
        return used;
    }
    if (!wg_buf_append(&p->section, data, used)) {
        wg_http_fail(p, WG_HTTP_ERR_NO_MEMORY, "out of memory");
        return used;
    }
    if (r == WG_HTTP_SCAN_MORE)
        return used;
    if (!wg_http_parse_head(p) || !wg_http_check_head(p))
        return used;

    const wg_http_head *h = &p->head;
    if (!h->is_request && h->status / 100 == 1 && h->status != 101) {
        start_head(p); /* interim: the final response follows */
    } else if (h->body == WG_HTTP_BODY_LENGTH && h->content_length > 0) {
        p->remaining = h->content_length;
        p->phase = WG_HTTP_PHASE_LENGTH;
    } else if (h->body == WG_HTTP_BODY_CHUNKED) {
        p->phase = WG_HTTP_PHASE_CHUNKED;
        wg_http_chunked_start(p);
    } else if (h->body == WG_HTTP_BODY_UNTIL_CLOSE) {
        p->phase = WG_HTTP_PHASE_UNTIL_CLOSE;
    } else {
        p->phase = WG_HTTP_PHASE_COMPLETE;
    }
    wg_buf_clear(&p->section);
    if (p->cb.on_head)
        p->cb.on_head(p->ctx, h);
    return used;
}

static size_t length_step(wg_http_parser *p, const uint8_t *data, size_t len)
{
    size_t n = p->remaining < len ? (size_t)p->remaining : len;
    p->remaining -= n;
    if (p->remaining == 0)
        p->phase = WG_HTTP_PHASE_COMPLETE;
    if (p->cb.on_body)
        p->cb.on_body(p->ctx, data, n);
    return n;
}

static size_t until_close_step(wg_http_parser *p, const uint8_t *data, size_t len)
{
    if (p->cb.on_body)
        p->cb.on_body(p->ctx, data, len);
    return len;
}

static void complete_step(wg_http_parser *p)
{
    if (p->head.keep_alive)
        start_head(p);
    else
        p->phase = WG_HTTP_PHASE_DONE;
    if (p->cb.on_message_complete)
        p->cb.on_message_complete(p->ctx);
}

static wg_http_result result(const wg_http_parser *p)
{
    if (p->phase == WG_HTTP_PHASE_ERROR)
        return WG_HTTP_ERROR;
    if (p->phase == WG_HTTP_PHASE_DONE)
        return WG_HTTP_DONE;
    return p->paused ? WG_HTTP_PAUSED : WG_HTTP_OK;
}

wg_http_result wg_http_parser_feed(wg_http_parser *p, const void *data, size_t len,
                                   size_t *consumed)
{
    const uint8_t *bytes = data;
    size_t off = 0;
    while (!p->paused && p->phase != WG_HTTP_PHASE_ERROR && p->phase != WG_HTTP_PHASE_DONE) {
        if (off == len && p->phase != WG_HTTP_PHASE_COMPLETE)
            break;
        switch (p->phase) {
        case WG_HTTP_PHASE_HEAD:
            off += head_step(p, bytes + off, len - off);
            break;
        case WG_HTTP_PHASE_LENGTH:
            off += length_step(p, bytes + off, len - off);
            break;
        case WG_HTTP_PHASE_CHUNKED:
            off += wg_http_chunked_step(p, bytes + off, len - off);
            break;
        case WG_HTTP_PHASE_UNTIL_CLOSE:
            off += until_close_step(p, bytes + off, len - off);
            break;
        default: /* WG_HTTP_PHASE_COMPLETE */
            complete_step(p);
            break;
        }
    }
    *consumed = off;
    return result(p);
}

wg_http_result wg_http_parser_finish(wg_http_parser *p)
{
    switch (p->phase) {
    case WG_HTTP_PHASE_ERROR:
    case WG_HTTP_PHASE_DONE:
        return result(p);
    case WG_HTTP_PHASE_UNTIL_CLOSE:
    case WG_HTTP_PHASE_COMPLETE:
        complete_step(p);
        p->phase = WG_HTTP_PHASE_DONE;
        return WG_HTTP_DONE;
    case WG_HTTP_PHASE_HEAD:
        if (!wg_http_scan_started(&p->scan)) {
            p->phase = WG_HTTP_PHASE_DONE;
            return WG_HTTP_DONE;
        }
        break;
    default:
        break;
    }
    wg_http_fail(p, WG_HTTP_ERR_INCOMPLETE, "connection closed before the end of the message");
    return WG_HTTP_ERROR;
}

void wg_http_parser_pause(wg_http_parser *p)
{
    p->paused = true;
}

void wg_http_parser_resume(wg_http_parser *p)
{
    p->paused = false;
}

void wg_http_parser_set_request_method(wg_http_parser *p, const char *method)
{
    p->req_head = method && strcmp(method, "HEAD") == 0;
    p->req_connect = method && strcmp(method, "CONNECT") == 0;
}

const wg_http_error *wg_http_parser_error(const wg_http_parser *p)
{
    return &p->error;
}
