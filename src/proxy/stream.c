/*
 * stream.c - one request/response exchange and its plugin chain.
 *
 * Events (request head/body/end from the connection, response head/body/
 * end from the upstream, resumes and local replies from plugins) only
 * record what happened, then call drive(), which advances the stream as
 * far as it can. drive() is the only place where plugins are called and
 * where the stream may end, and it never runs nested: an event that
 * arrives while it runs (a plugin's resume, delivered by the host when the
 * plugin's callback returns) sets a flag that the running drive() picks up.
 *
 * Bodies flow through stages, one per filter plus a last one for the peer:
 * the bytes in stage i are what filter i has not yet let through (because
 * it is buffering, or because the headers have not passed it yet). Filter
 * order is the chain order for the request and the reverse for the
 * response. Nothing buffers a whole body unless a plugin asks for it.
 */
#include "proxy/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void drive(wg_stream *s);

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Per-worker ids: random 64-bit seed (from the wall clock and the worker)
 * mixed with a counter, formatted like a UUID. */
static void make_request_id(wg_stream *s)
{
    /* Written by hand: snprintf was a visible share of a request's cost. */
    static const char hex[] = "0123456789abcdef";
    uint64_t x = wall_ns() ^ ((uint64_t)s->worker->index << 56) ^ (s->id * 0x9e3779b97f4a7c15u);
    uint64_t y = x * 0xbf58476d1ce4e5b9u ^ (x >> 31);
    uint8_t b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(x >> (8 * i));
        b[8 + i] = (uint8_t)(y >> (8 * i));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant */
    char *o = s->request_id;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = 0;
}

/* ---- creation ---------------------------------------------------------------------- */

static void fill_info(wg_stream *s, pw_stream_info *info)
{
    *info = s->info;
}

wg_stream *wg_stream_new(wg_conn *c, const wg_http_head *head)
{
    wg_worker *w = c->worker;
    wg_vmset *vmset = w->vmset;
    if (!vmset)
        return NULL; /* shutting down */
    const wg_chain *chain = &vmset->snapshot->chains[c->listener];
    wg_stream *s = wg_zalloc(sizeof *s);
    if (!s)
        return NULL;
    s->conn = c;
    s->worker = w;
    /* The stream runs on this snapshot's plugins to its end, whatever a
     * reload publishes meanwhile. */
    s->vmset = vmset;
    vmset->refs++;
    s->chain = chain;
    s->nfilters = chain->n;
    s->id = ++w->next_stream_id;
    s->start_ns = now_ns();
    /* The per-filter arrays live in one block (freed with s->filters). */
    size_t n = s->nfilters + 1;
    size_t size = n * sizeof(wg_filter) + 2 * n * sizeof(wg_buf) + 2 * (n + 1) * sizeof(bool);
    char *block = wg_zalloc(size);
    if (block) {
        s->filters = (wg_filter *)block;
        s->req_stage = (wg_buf *)(block + n * sizeof(wg_filter));
        s->resp_stage = s->req_stage + n;
        s->req_stage_eos = (bool *)(s->resp_stage + n);
        s->resp_stage_eos = s->req_stage_eos + n + 1;
    }
    if (!block || !wg_http_parser_take_headers(&c->parser, &s->req_headers)) {
        wg_stream_free(s);
        return NULL;
    }
    /* Connection-specific fields go now, as in Envoy: plugins never see
     * them and they are not forwarded. */
    wg_http_strip_hop_by_hop(&s->req_headers);
    s->method = head->method;
    s->req_has_body = head->has_body;
    s->head_request = strcmp(head->method, "HEAD") == 0;
    s->expect_continue = head->expect_continue;

    /* x-request-id (kept when the client sent one) and x-forwarded-for. */
    const wg_header *rid = wg_headers_get(&s->req_headers, "x-request-id", 12);
    if (rid && rid->value_len > 0 && rid->value_len < sizeof s->request_id) {
        memcpy(s->request_id, rid->value, rid->value_len);
        s->request_id[rid->value_len] = 0;
    } else {
        make_request_id(s);
        wg_headers_set(&s->req_headers, "x-request-id", 12, s->request_id,
                       strlen(s->request_id));
    }
    const char *bare = c->peer_ip;
    const wg_header *xff = wg_headers_get(&s->req_headers, "x-forwarded-for", 15);
    if (xff) {
        wg_buf v = {0};
        wg_buf_append(&v, xff->value, xff->value_len);
        wg_buf_append(&v, ", ", 2);
        wg_buf_append_str(&v, bare);
        wg_headers_set(&s->req_headers, "x-forwarded-for", 15, (const char *)v.data, v.len);
        wg_buf_free(&v);
    } else {
        wg_headers_add(&s->req_headers, "x-forwarded-for", 15, bare, strlen(bare));
    }
    /* No plugin has run yet: every field is the parser's (it passed the
     * strict scanner) or ours (a hex id, the client's address). */
    wg_headers_mark_checked(&s->req_headers);

    s->info.protocol = c->http10 ? "HTTP/1.0" : "HTTP/1.1";
    s->info.request_id = s->request_id;
    s->info.start_time_ns = wall_ns();
    s->info.connection_id = c->id;
    s->info.source_address = c->peer;
    s->info.source_port = c->peer_port;
    s->info.destination_address = c->local;
    s->info.destination_port = c->local_port;

    /* One context per plugin, as its failure policy allows. */
    uint64_t ms = wg_now_ms();
    for (size_t i = 0; i < s->nfilters; i++) {
        wg_filter *f = &s->filters[i];
        wg_plugin *pl = vmset->snapshot->plugins[chain->index[i]];
        f->stream = s;
        f->index = i;
        f->plugin = pl;
        f->host = vmset->hosts[chain->index[i]];
        f->skipped = true;
        if (!f->host || !f->host->slot) {
            /* The module could not be had: FAIL_CLOSE denies its traffic
             * with 403, as Istio's deny-all fallback does (a VM that fails
             * at run time answers 503 wasm_fail_stream instead). */
            if (pl->config.fail_strategy != PW_FAIL_OPEN)
                s->deny_not_loaded = true;
            continue;
        }
        pw_vm *vm = NULL;
        pw_slot_decision d = pw_slot_acquire(f->host->slot, ms, &vm);
        wg_vmhost_publish(f->host); /* a reload may just have happened */
        if (d == PW_SLOT_DENY) {
            s->deny = true;
            continue;
        }
        if (d == PW_SLOT_SKIP)
            continue;
        f->ps = pw_stream_new(vm, f);
        if (!f->ps) {
            s->deny = true;
            continue;
        }
        f->skipped = false;
        fill_info(s, pw_stream_info_of(f->ps));
        pw_stream_set_request(f->ps, &s->req_headers, &s->req_stage[i], &s->req_trailers);
        f->body_cb_req = pw_module_has_body_callback(pl->module, false);
        f->body_cb_resp = pw_module_has_body_callback(pl->module, true);
        if (f->body_cb_req)
            s->req_reframe = s->req_has_body;
        if (f->body_cb_resp)
            s->resp_reframe = true;
    }
    if (!s->req_has_body)
        s->req_stage_eos[0] = true;
    return s;
}

void wg_stream_free(wg_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfilters && s->filters; i++) {
        if (s->filters[i].ps) {
            pw_stream_finish(s->filters[i].ps);
            s->filters[i].ps = NULL;
        }
    }
    if (s->up)
        wg_upstream_release(s, false);
    for (size_t i = 0; s->req_stage && i <= s->nfilters; i++)
        wg_buf_free(&s->req_stage[i]);
    for (size_t i = 0; s->resp_stage && i <= s->nfilters; i++)
        wg_buf_free(&s->resp_stage[i]);
    free(s->filters); /* the block of every per-filter array */
    wg_headers_free(&s->req_headers);
    wg_headers_free(&s->req_trailers);
    wg_headers_free(&s->resp_headers);
    wg_headers_free(&s->resp_trailers);
    wg_headers_free(&s->reply_headers);
    wg_buf_free(&s->reply_body);
    wg_vmset_release(s->vmset);
    free(s);
}

/* ---- plugin calls, with failure policies ------------------------------------------------- */

/* Times a plugin call and applies the plugin's failure policy when it
 * fails: FAIL_OPEN drops the plugin from this stream, the others answer
 * 503 (or reset when the response has started). */
static pw_action call_filter(wg_stream *s, wg_filter *f, pw_action (*fn)(pw_stream *, bool),
                             bool eos)
{
    uint64_t t0 = now_ns();
    pw_action a = fn(f->ps, eos);
    f->time_ns += now_ns() - t0;
    if (a != PW_FAILED)
        return a;
    wg_plugin *pl = f->plugin;
    wg_metric_add(pl->traps, 1);
    /* FAIL_RELOAD's backoff counts from now, not from the next stream. */
    pw_slot_note_failure(f->host->slot, wg_now_ms());
    wg_vmhost_publish(f->host);
    if (pl->config.fail_strategy == PW_FAIL_OPEN) {
        pw_stream_finish(f->ps);
        f->ps = NULL;
        f->skipped = true;
        return PW_CONTINUE;
    }
    s->fail_pending = true;
    return PW_STOP;
}

static pw_action req_headers_fn(pw_stream *ps, bool eos) { return pw_stream_request_headers(ps, eos); }
static pw_action req_body_fn(pw_stream *ps, bool eos) { return pw_stream_request_body(ps, eos); }
static pw_action resp_headers_fn(pw_stream *ps, bool eos) { return pw_stream_response_headers(ps, eos); }
static pw_action resp_body_fn(pw_stream *ps, bool eos) { return pw_stream_response_body(ps, eos); }
static pw_action req_trailers_fn(pw_stream *ps, bool eos)
{
    (void)eos;
    return pw_stream_request_trailers(ps);
}
static pw_action resp_trailers_fn(pw_stream *ps, bool eos)
{
    (void)eos;
    return pw_stream_response_trailers(ps);
}

/* ---- local replies -------------------------------------------------------------------- */

/* Replaces the response with one made here (a plugin's local reply, a
 * direct-response route, a failure). `through` is how many filters (from
 * the first) see it in their response callbacks. */
static void start_local_response(wg_stream *s, int status, const char *details,
                                 const uint8_t *body, size_t len, const wg_headers *headers,
                                 size_t through)
{
    if (s->resp_head_sent) {
        /* Too late for a new response: abandon the connection. */
        s->reset = true;
        return;
    }
    if (s->up)
        wg_upstream_release(s, false);
    s->local_reply = true;
    s->details = details;
    wg_headers_clear(&s->resp_headers);
    wg_headers_clear(&s->resp_trailers);
    char st[WG_U64_DIGITS + 1];
    size_t n = wg_fmt_u64(st, status > 0 ? (uint64_t)status : 0);
    wg_headers_add(&s->resp_headers, ":status", 7, st, n);
    for (uint32_t i = 0; headers && i < headers->count; i++) {
        const wg_header *h = &headers->items[i];
        if (h->name_len > 0 && h->name[0] != ':')
            wg_headers_add_lower(&s->resp_headers, h->name, h->name_len, h->value, h->value_len);
    }
    if (!wg_headers_get(&s->resp_headers, "content-type", 12) && len > 0)
        wg_headers_add(&s->resp_headers, "content-type", 12, "text/plain", 10);
    for (size_t i = 0; i <= s->nfilters; i++) {
        wg_buf_clear(&s->resp_stage[i]);
        s->resp_stage_eos[i] = false;
    }
    /* The response skips the filters after `through`. */
    s->resp_first = s->nfilters - through;
    wg_buf_set(&s->resp_stage[s->resp_first], body, len);
    s->resp_stage_eos[s->resp_first] = true;
    s->resp_has_body = len > 0;
    s->resp_complete = true;
    s->resp_started = true;
    s->resp_hdr_next = s->resp_first;
    s->status = status;
    s->resp_length_known = true;
    s->resp_length = len;
    s->wait = WG_WAIT_NONE;
    wg_metric_add(s->worker->proxy->m.local_replies, 1);
}

void wg_stream_local_reply(wg_stream *s, int status, const char *details, const uint8_t *body,
                           size_t body_len, const wg_headers *headers)
{
    start_local_response(s, status, details, body, body_len, headers, s->nfilters);
    drive(s);
}

/* ---- events from plugins ----------------------------------------------------------------- */

void wg_stream_on_resume(wg_filter *f, pw_stream_type type)
{
    wg_stream *s = f->stream;
    bool request = type == PW_STREAM_REQUEST;
    bool waiting_here =
        s->waiting == f &&
        (request ? (s->wait == WG_WAIT_REQ_HEADERS || s->wait == WG_WAIT_REQ_BODY ||
                    s->wait == WG_WAIT_REQ_TRAILERS)
                 : (s->wait == WG_WAIT_RESP_HEADERS || s->wait == WG_WAIT_RESP_BODY ||
                    s->wait == WG_WAIT_RESP_TRAILERS));
    if (!waiting_here) {
        /* The plugin resumed from inside the callback that is pausing:
         * remember it for when that callback returns. */
        if (s->calling == f)
            s->resume_pending = true;
        return;
    }
    switch (s->wait) {
    case WG_WAIT_REQ_HEADERS: s->req_hdr_next = s->wait_pos + 1; break;
    case WG_WAIT_RESP_HEADERS: s->resp_hdr_next = s->wait_pos + 1; break;
    case WG_WAIT_REQ_BODY: s->pass_req_stage = true; break;
    case WG_WAIT_REQ_TRAILERS: s->req_trl_next = s->wait_pos + 1; break;
    case WG_WAIT_RESP_TRAILERS: s->resp_trl_next = s->wait_pos + 1; break;
    default: s->pass_resp_stage = true; break;
    }
    s->wait = WG_WAIT_NONE;
    s->waiting = NULL;
    drive(s);
}

void wg_stream_on_close(wg_filter *f)
{
    wg_stream *s = f->stream;
    s->reset = true;
    s->details = "wasm_close_stream";
    drive(s);
}

void wg_stream_on_local_reply(wg_filter *f, const pw_local_reply *r)
{
    wg_stream *s = f->stream;
    /* Copy it: the host's reply is only valid during this call. */
    wg_buf_set(&s->reply_body, r->body, r->body_len);
    wg_headers_clear(&s->reply_headers);
    if (r->headers)
        wg_headers_copy(&s->reply_headers, r->headers);
    snprintf(s->reply_details, sizeof s->reply_details, "%s", r->details ? r->details : "");
    s->reply_status = (int)r->status;
    s->reply_through = f->index + 1;
    s->reply_pending = true;
    drive(s);
}

/* ---- the request ---------------------------------------------------------------------------- */

void wg_stream_request_body(wg_stream *s, const uint8_t *data, size_t len)
{
    s->req_bytes += len;
    /* A stream that already answered drops the rest of the request. */
    if (!s->local_reply)
        wg_buf_append(&s->req_stage[0], data, len);
    drive(s);
}

void wg_stream_start(wg_stream *s)
{
    /* The head is in: run the request-head callbacks and route now, so the
     * body streams (and Expect: 100-continue gets its answer). */
    drive(s);
}

void wg_stream_request_error(wg_stream *s, int status, const char *message)
{
    s->conn->close_after = true;
    s->req_complete = true; /* nothing more will be read */
    if (s->resp_head_sent) {
        s->reset = true;
    } else {
        char body[200];
        int n = snprintf(body, sizeof body, "%d %s: %s\n", status, wg_http_reason(status),
                         message);
        start_local_response(s, status, "bad_request_body", (const uint8_t *)body, (size_t)n,
                             NULL, s->nfilters);
    }
    drive(s);
}

void wg_stream_request_trailers(wg_stream *s, const wg_headers *trailers)
{
    wg_headers_copy(&s->req_trailers, trailers);
}

void wg_stream_request_complete(wg_stream *s)
{
    s->req_complete = true;
    s->req_stage_eos[0] = true;
    s->info.request_body_size = s->req_bytes;
    drive(s);
}

/* Runs the request-head callbacks from the next filter on. */
static bool step_request_headers(wg_stream *s)
{
    if (s->req_headers_done || s->wait != WG_WAIT_NONE || s->local_reply)
        return false;
    bool progress = false;
    while (s->req_hdr_next < s->nfilters) {
        wg_filter *f = &s->filters[s->req_hdr_next];
        if (f->skipped) {
            s->req_hdr_next++;
            continue;
        }
        s->calling = f;
        s->resume_pending = false;
        bool eos = !s->req_has_body;
        pw_action a = call_filter(s, f, req_headers_fn, eos);
        s->calling = NULL;
        progress = true;
        if (s->fail_pending || s->reply_pending || s->reset || s->local_reply)
            return true;
        if (a == PW_STOP && !s->resume_pending) {
            s->wait = WG_WAIT_REQ_HEADERS;
            s->waiting = f;
            s->wait_pos = s->req_hdr_next;
            return true;
        }
        s->req_hdr_next++;
    }
    s->req_headers_done = true;
    (void)progress;
    return true;
}

/* After the request head: a direct response or an upstream. */
static bool step_route(wg_stream *s)
{
    if (!s->req_headers_done || s->routed || s->local_reply)
        return false;
    s->routed = true;
    const wg_config *cfg = s->worker->proxy->config;
    const wg_config_listener *l = &cfg->listeners[s->conn->listener];
    const wg_header *path = wg_headers_get(&s->req_headers, ":path", 5);
    const wg_header *auth = wg_headers_get(&s->req_headers, ":authority", 10);
    size_t plen = path ? path->value_len : 0;
    const char *p = path ? path->value : "/";
    size_t qpos = 0;
    while (qpos < plen && p[qpos] != '?')
        qpos++;
    const wg_config_route *route = NULL;
    for (size_t i = 0; i < l->nroutes && !route; i++) {
        const wg_config_route *r = &l->routes[i];
        if (r->host) {
            if (!auth)
                continue;
            size_t hl = auth->value_len;
            const char *hv = auth->value;
            for (size_t k = 0; k < auth->value_len; k++)
                if (hv[k] == ':')
                    hl = k;
            if (r->host[0] == '*') {
                size_t sl = strlen(r->host + 1);
                if (hl < sl || strncasecmp(hv + hl - sl, r->host + 1, sl) != 0)
                    continue;
            } else if (strlen(r->host) != hl || strncasecmp(hv, r->host, hl) != 0) {
                continue;
            }
        }
        if (r->exact && (strlen(r->exact) != qpos || memcmp(r->exact, p, qpos) != 0))
            continue;
        if (r->prefix && (qpos < strlen(r->prefix) || memcmp(r->prefix, p, strlen(r->prefix))))
            continue;
        route = r;
    }
    s->route = route;
    if (!route) {
        static const char body[] = "no route for this request\n";
        start_local_response(s, 404, "route_not_found", (const uint8_t *)body,
                             sizeof body - 1, NULL, s->nfilters);
        return true;
    }
    if (!route->cluster) {
        start_local_response(s, route->direct_status, "direct_response",
                             (const uint8_t *)route->direct_body, route->direct_body_len, NULL,
                             s->nfilters);
        return true;
    }
    if (s->expect_continue && !s->req_complete) {
        /* The client waits for this before sending its body. */
        wg_buf out = {0};
        wg_buf_append_str(&out, "HTTP/1.1 100 Continue\r\n\r\n");
        wg_conn_write(s->conn, &out);
        s->continue_sent = true;
    }
    wg_headers_remove(&s->req_headers, "expect", 6);
    s->cluster = &s->worker->clusters[route->cluster_index];
    s->info.cluster_name = route->cluster;
    for (size_t i = 0; i < s->nfilters; i++)
        if (s->filters[i].ps)
            fill_info(s, pw_stream_info_of(s->filters[i].ps));
    wg_upstream_start(s);
    return true;
}

/* Nothing for flow_body to do: no stage holds bytes and the end of the
 * body (if it came) has passed every filter. drive() asks on every round,
 * so this is checked first. */
static inline bool body_idle(const wg_stream *s, bool response)
{
    const wg_buf *stage = response ? s->resp_stage : s->req_stage;
    const bool *eos = response ? s->resp_stage_eos : s->req_stage_eos;
    for (size_t k = response ? s->resp_first : 0; k < s->nfilters; k++)
        if (stage[k].len > 0 || eos[k] != eos[k + 1])
            return false;
    return true;
}

/* Generic body flow through stages [first, n]: filter k (in processing
 * order) is filters[order(k)]. Returns true on progress. drive() calls it
 * only when !body_idle(). */
static bool flow_body(wg_stream *s, bool response)
{
    wg_buf *stage = response ? s->resp_stage : s->req_stage;
    bool *eos = response ? s->resp_stage_eos : s->req_stage_eos;
    size_t first = response ? s->resp_first : 0;
    size_t ready = response ? s->resp_hdr_next : s->req_hdr_next; /* head passed these */
    uint64_t limit = response ? s->worker->proxy->config->limits.max_response_body_buffer_bytes
                              : s->worker->proxy->config->limits.max_request_body_buffer_bytes;
    bool progress = false;
    for (size_t k = first; k < s->nfilters; k++) {
        if (k >= ready)
            return progress; /* the head has not passed this filter yet */
        if (s->wait == (response ? WG_WAIT_RESP_BODY : WG_WAIT_REQ_BODY) && s->wait_pos == k)
            return progress;
        wg_filter *f = &s->filters[response ? s->nfilters - 1 - k : k];
        bool *pass = response ? &s->pass_resp_stage : &s->pass_req_stage;
        bool delivered = response ? f->body_eos_resp : f->body_eos_req;
        bool has_body = response ? s->resp_has_body : s->req_has_body;
        if (*pass && s->wait_pos == k) {
            /* Resumed after "stop": these bytes go on without another call
             * (and the end of the body, if it came, was seen already). */
            *pass = false;
            if (eos[k]) {
                if (response)
                    f->body_eos_resp = true;
                else
                    f->body_eos_req = true;
            }
        } else if (!f->skipped && has_body && !delivered && (stage[k].len > 0 || eos[k])) {
            s->calling = f;
            s->resume_pending = false;
            /* Most plugins have no body callbacks: their answer would be
             * Continue, so the event is not worth its VM call. A failed VM
             * still gets it, so that its failure policy applies. */
            bool wants = (response ? f->body_cb_resp : f->body_cb_req) ||
                         pw_vm_failed(pw_stream_vm(f->ps));
            pw_action a = wants ? call_filter(s, f, response ? resp_body_fn : req_body_fn, eos[k])
                                : PW_CONTINUE;
            s->calling = NULL;
            progress = true;
            if (s->fail_pending || s->reply_pending || s->reset)
                return true;
            if (a == PW_BUFFER && !s->resume_pending) {
                if (stage[k].len > limit) {
                    static const char msg[] = "body too large to buffer\n";
                    if (response)
                        start_local_response(s, 500, "response_payload_too_large",
                                             (const uint8_t *)msg, sizeof msg - 1, NULL,
                                             s->nfilters);
                    else
                        start_local_response(s, 413, "request_payload_too_large",
                                             (const uint8_t *)msg, sizeof msg - 1, NULL,
                                             s->nfilters);
                }
                return true;
            }
            if (a == PW_STOP && !s->resume_pending) {
                s->wait = response ? WG_WAIT_RESP_BODY : WG_WAIT_REQ_BODY;
                s->waiting = f;
                s->wait_pos = k;
                return true;
            }
            if (eos[k]) {
                if (response)
                    f->body_eos_resp = true;
                else
                    f->body_eos_req = true;
            }
        }
        /* Let the bytes through to the next stage: moved when that stage is
         * empty (the usual case: a body streams through without a copy per
         * plugin), else appended. */
        if (stage[k].len > 0) {
            if (stage[k + 1].len == 0) {
                wg_buf moved = stage[k + 1];
                stage[k + 1] = stage[k];
                stage[k] = moved;
            } else {
                if (!wg_buf_append(&stage[k + 1], stage[k].data, stage[k].len))
                    return progress;
                wg_buf_clear(&stage[k]);
            }
            progress = true;
        }
        if (eos[k] && !eos[k + 1]) {
            eos[k + 1] = true;
            progress = true;
        }
    }
    return progress;
}

/* Runs the trailers through the filters, in the direction's order (the
 * response from resp_first). A plugin may pause them (StopIteration) until
 * it resumes the stream, as for headers. True once every filter has seen
 * them, or when there are none. */
static bool run_trailers(wg_stream *s, bool response)
{
    wg_headers *t = response ? &s->resp_trailers : &s->req_trailers;
    bool *done = response ? &s->resp_trl_done : &s->req_trl_done;
    size_t *next = response ? &s->resp_trl_next : &s->req_trl_next;
    if (*done || t->count == 0)
        return *done = true;
    if (s->wait == (response ? WG_WAIT_RESP_TRAILERS : WG_WAIT_REQ_TRAILERS))
        return false;
    if (response && *next < s->resp_first)
        *next = s->resp_first;
    while (*next < s->nfilters) {
        wg_filter *f = &s->filters[response ? s->nfilters - 1 - *next : *next];
        if (f->skipped) {
            (*next)++;
            continue;
        }
        s->calling = f;
        s->resume_pending = false;
        pw_action a = call_filter(s, f, response ? resp_trailers_fn : req_trailers_fn, true);
        s->calling = NULL;
        if (s->fail_pending || s->reply_pending || s->reset)
            return false;
        if (a == PW_STOP && !s->resume_pending) {
            s->wait = response ? WG_WAIT_RESP_TRAILERS : WG_WAIT_REQ_TRAILERS;
            s->waiting = f;
            s->wait_pos = *next;
            return false;
        }
        (*next)++;
    }
    return *done = true;
}

/* The request body's last stage goes upstream. */
static bool step_request_to_upstream(wg_stream *s)
{
    size_t n = s->nfilters;
    if (s->local_reply) {
        wg_buf_clear(&s->req_stage[n]);
        return false;
    }
    if (!s->up || !s->up_head_sent)
        return false;
    bool progress = false;
    if (s->req_stage[n].len > 0) {
        wg_upstream_send_body(s, s->req_stage[n].data, s->req_stage[n].len, false, NULL);
        wg_buf_clear(&s->req_stage[n]);
        progress = true;
    }
    if (s->req_stage_eos[n] && !s->up_body_sent && s->req_complete) {
        if (s->wait == WG_WAIT_REQ_TRAILERS)
            return progress; /* until the plugin resumes */
        if (!run_trailers(s, false))
            return true; /* a plugin paused the trailers just now, or failed */
        s->up_body_sent = true;
        wg_upstream_send_body(s, NULL, 0, true, &s->req_trailers);
        progress = true;
    }
    return progress;
}

/* ---- the response --------------------------------------------------------------------------- */

void wg_stream_upstream_head(wg_stream *s, const wg_http_head *head)
{
    if (!s->up || !wg_http_parser_take_headers(&s->up->parser, &s->resp_headers)) {
        wg_headers_clear(&s->resp_headers);
        wg_http_head_to_headers(head, &s->resp_headers);
    }
    s->status = head->status;
    s->resp_started = true;
    s->resp_has_body = head->has_body && !s->head_request;
    s->resp_length_known = head->has_content_length && head->body == WG_HTTP_BODY_LENGTH;
    s->resp_length = head->content_length;
    s->info.response_code = (uint32_t)head->status;
    s->info.upstream_address = s->upstream_addr;
    for (size_t i = 0; i < s->nfilters; i++) {
        wg_filter *f = &s->filters[i];
        if (f->ps) {
            pw_stream_info_of(f->ps)->response_code = (uint32_t)head->status;
            pw_stream_info_of(f->ps)->upstream_address = s->upstream_addr;
            pw_stream_set_response(f->ps, &s->resp_headers,
                                   &s->resp_stage[s->nfilters - 1 - i], &s->resp_trailers);
        }
    }
    if (!s->resp_has_body)
        s->resp_stage_eos[0] = true;
    drive(s);
}

void wg_stream_upstream_body(wg_stream *s, const uint8_t *data, size_t len)
{
    s->resp_bytes += len;
    wg_buf_append(&s->resp_stage[0], data, len);
    drive(s);
}

void wg_stream_upstream_complete(wg_stream *s, const wg_headers *trailers)
{
    if (trailers)
        wg_headers_copy(&s->resp_trailers, trailers);
    s->resp_complete = true;
    s->resp_stage_eos[s->resp_first] = true;
    s->info.response_body_size = s->resp_bytes;
    drive(s);
}

void wg_stream_upstream_failed(wg_stream *s, int status, const char *details)
{
    if (s->resp_head_sent) {
        s->reset = true;
    } else {
        char body[128];
        int n = snprintf(body, sizeof body, "%s\n", details);
        start_local_response(s, status, details, (const uint8_t *)body, (size_t)n, NULL,
                             s->nfilters);
    }
    drive(s);
}

void wg_stream_downstream_writable(wg_stream *s)
{
    if (s->up)
        wg_upconn_update_reading(s->up);
    drive(s);
}

static bool step_response_headers(wg_stream *s)
{
    if (!s->resp_started || s->resp_hdr_next >= s->nfilters ||
        (s->wait != WG_WAIT_NONE && s->wait != WG_WAIT_REQ_BODY &&
         s->wait != WG_WAIT_REQ_TRAILERS))
        return false;
    while (s->resp_hdr_next < s->nfilters) {
        wg_filter *f = &s->filters[s->nfilters - 1 - s->resp_hdr_next];
        if (f->skipped || !f->ps) {
            s->resp_hdr_next++;
            continue;
        }
        pw_stream_set_response(f->ps, &s->resp_headers,
                               &s->resp_stage[s->resp_hdr_next], &s->resp_trailers);
        s->calling = f;
        s->resume_pending = false;
        bool eos = !s->resp_has_body;
        pw_action a = call_filter(s, f, resp_headers_fn, eos);
        s->calling = NULL;
        if (s->fail_pending || s->reset)
            return true;
        if (s->reply_pending) {
            /* A second local reply during the first one's response path:
             * ignored, as the host does. */
            s->reply_pending = false;
        }
        if (a == PW_STOP && !s->resume_pending && !s->local_reply) {
            s->wait = WG_WAIT_RESP_HEADERS;
            s->waiting = f;
            s->wait_pos = s->resp_hdr_next;
            return true;
        }
        s->resp_hdr_next++;
    }
    return true;
}

/* Writes the response head downstream, with the framing the body needs. */
static bool step_write_head(wg_stream *s)
{
    if (!s->resp_started || s->resp_head_sent || s->resp_hdr_next < s->nfilters)
        return false;
    wg_conn *c = s->conn;
    wg_headers *h = &s->resp_headers;
    const wg_header *st = wg_headers_get(h, ":status", 7);
    int status = st ? atoi(st->value) : 502;
    s->status = status;
    wg_http_strip_hop_by_hop(h);
    bool body_allowed = !s->head_request && status != 204 && status != 304 && status >= 200;
    if (!body_allowed) {
        /* HEAD keeps the upstream's Content-Length: it describes the GET. */
        s->down_framing = WG_HTTP_FRAMING_LENGTH;
        if (status == 204 || status == 304 || status < 200) {
            wg_headers_remove(h, "content-length", 14);
            wg_headers_remove(h, "transfer-encoding", 17);
        }
    } else {
        bool known = s->resp_length_known && !s->resp_reframe;
        uint64_t len = s->resp_length;
        if (!s->resp_has_body) {
            known = true;
            len = 0;
        }
        wg_http_set_framing(h, known, len, !c->http10, &s->down_framing);
        if (s->down_framing == WG_HTTP_FRAMING_CLOSE)
            c->close_after = true;
    }
    if (!s->req_complete && s->expect_continue && !s->continue_sent)
        c->close_after = true; /* the body will never come: close after */
    if (c->close_after)
        wg_headers_set(h, "connection", 10, "close", 5);
    else if (c->http10)
        wg_headers_set(h, "connection", 10, "keep-alive", 10);
    wg_buf out = wg_conn_buffer(c);
    if (!wg_http_write_response_head(&out, status, NULL, h, c->http10 ? 0 : 1)) {
        wg_buf_free(&out);
        s->reset = true;
        return true;
    }
    s->resp_head_sent = true;
    if (!body_allowed) {
        s->resp_body_done = true;
        for (size_t i = 0; i <= s->nfilters; i++)
            wg_buf_clear(&s->resp_stage[i]);
    }
    wg_conn_write(c, &out);
    return true;
}

static bool step_response_to_downstream(wg_stream *s)
{
    size_t n = s->nfilters;
    if (!s->resp_head_sent || s->resp_body_done)
        return false;
    wg_conn *c = s->conn;
    bool progress = false;
    if (s->resp_stage[n].len > 0) {
        s->bytes_out += s->resp_stage[n].len;
        if (s->down_framing == WG_HTTP_FRAMING_CHUNKED) {
            wg_buf out = wg_conn_buffer(c);
            wg_http_write_chunk(&out, s->resp_stage[n].data, s->resp_stage[n].len);
            wg_buf_clear(&s->resp_stage[n]);
            wg_conn_write(c, &out);
        } else {
            wg_conn_write(c, &s->resp_stage[n]); /* hands the bytes over, no copy */
        }
        progress = true;
    }
    if (s->resp_stage_eos[n]) {
        if (s->wait == WG_WAIT_RESP_TRAILERS)
            return progress; /* until the plugin resumes */
        if (!run_trailers(s, true))
            return true; /* a plugin paused the trailers just now, or failed */
        if (s->down_framing == WG_HTTP_FRAMING_CHUNKED) {
            wg_buf out = wg_conn_buffer(c);
            wg_http_write_last_chunk(&out, &s->resp_trailers);
            wg_conn_write(c, &out);
        }
        s->resp_body_done = true;
        progress = true;
    }
    return progress;
}

/* ---- the end --------------------------------------------------------------------------------- */

static void access_log(wg_stream *s)
{
    if (!s->worker->proxy->config->access_log || !wg_log_enabled("access", WG_LOG_INFO))
        return;
    const wg_header *m = wg_headers_get(&s->req_headers, ":method", 7);
    const wg_header *p = wg_headers_get(&s->req_headers, ":path", 5);
    uint64_t ms = (now_ns() - s->start_ns) / 1000000u;
    wg_log("access", WG_LOG_INFO, "%s \"%.*s %.*s %s\" %d %llu %llu %llums \"%s\" \"%s\" %s", s->conn ? s->conn->peer : "-",
           m ? (int)m->value_len : 1, m ? m->value : "-", p ? (int)p->value_len : 1,
           p ? p->value : "-", s->info.protocol, s->status,
           (unsigned long long)s->req_bytes, (unsigned long long)s->bytes_out,
           (unsigned long long)ms, s->upstream_addr[0] ? s->upstream_addr : "-",
           s->request_id, s->details ? s->details : (s->local_reply ? "local_reply" : "via_upstream"));
}

static void complete(wg_stream *s)
{
    s->finished = true;
    wg_proxy *p = s->worker->proxy;
    wg_metrics_count_response(p, s->status);
    uint64_t dur = now_ns() - s->start_ns;
    for (size_t i = 0; i < s->nfilters; i++) {
        wg_filter *f = &s->filters[i];
        if (f->ps) {
            pw_stream_info *info = pw_stream_info_of(f->ps);
            info->duration_ns = dur;
            info->response_code = (uint32_t)s->status;
            info->response_body_size = s->resp_bytes;
            uint64_t t0 = now_ns();
            pw_stream_finish(f->ps);
            f->time_ns += now_ns() - t0;
            f->ps = NULL;
        }
        if (!f->skipped || f->time_ns)
            wg_metric_record(f->plugin->callback_us, f->time_ns / 1000u);
    }
    access_log(s);
    if (s->up)
        wg_upstream_release(s, s->resp_complete && !s->local_reply);
    if (!s->req_complete)
        s->conn->close_after = true; /* the rest of the request is not read */
    wg_conn_stream_done(s->conn);
}

static void fail_stream(wg_stream *s)
{
    s->fail_pending = false;
    static const char body[] = "wasm_fail_stream";
    start_local_response(s, 503, "wasm_fail_stream", (const uint8_t *)body, sizeof body - 1,
                         NULL, 0);
}

uint64_t wg_stream_idle_check(wg_stream *s, uint64_t now, uint64_t timeout)
{
    uint64_t idle = now - s->active_ms;
    if (idle < timeout)
        return timeout - idle;
    wg_log("http", WG_LOG_DEBUG, "stream %llu: no activity for %llu ms: ended",
           (unsigned long long)s->id, (unsigned long long)idle);
    static const char body[] = "stream timeout\n";
    /* After the response head, start_local_response resets instead. */
    start_local_response(s, 408, "stream_idle_timeout", (const uint8_t *)body, sizeof body - 1,
                         NULL, s->nfilters);
    drive(s);
    return 0;
}

static void drive(wg_stream *s)
{
    if (s->busy || s->finished)
        return;
    /* Every event of the stream comes through here: its activity clock. */
    s->active_ms = uv_now(&s->worker->loop);
    s->busy++;
    /* Whatever this round writes downstream leaves in one system call. */
    wg_conn *c = s->conn;
    wg_conn_cork(c);
    for (int rounds = 0; rounds < 1000; rounds++) {
        if (s->reset) {
            s->busy--;
            wg_metrics_count_response(s->worker->proxy, s->status ? s->status : 500);
            wg_conn_uncork(c);
            wg_conn_close(c); /* frees the stream */
            return;
        }
        if (s->deny_not_loaded) {
            s->deny_not_loaded = false;
            s->deny = false;
            static const char body[] = "RBAC: access denied\n";
            start_local_response(s, 403, "wasm_plugin_not_loaded", (const uint8_t *)body,
                                 sizeof body - 1, NULL, 0);
        }
        if (s->deny) {
            s->deny = false;
            fail_stream(s);
        }
        if (s->fail_pending)
            fail_stream(s);
        if (s->reply_pending) {
            s->reply_pending = false;
            start_local_response(s, s->reply_status, s->reply_details, s->reply_body.data,
                                 s->reply_body.len, &s->reply_headers, s->reply_through);
        }
        bool progress = false;
        progress |= step_request_headers(s);
        progress |= step_route(s);
        /* body_idle() first: the usual answer, and cheaper than a call. */
        if (!s->local_reply && !body_idle(s, false))
            progress |= flow_body(s, false);
        progress |= step_request_to_upstream(s);
        progress |= step_response_headers(s);
        progress |= step_write_head(s);
        if (s->resp_head_sent && c->write_pending < WG_WRITE_HIGH_WATER && !body_idle(s, true))
            progress |= flow_body(s, true);
        progress |= step_response_to_downstream(s);
        /* Done when the response is out and the request fully read. A
         * local reply to a client still waiting for 100 Continue will never
         * get the body: end there and close. */
        if (s->resp_body_done &&
            (s->req_complete || (s->local_reply && s->expect_continue && !s->continue_sent))) {
            s->busy--;
            wg_conn_uncork(c);
            complete(s);
            return;
        }
        if (!progress && !s->reply_pending && !s->fail_pending && !s->reset && !s->deny &&
            !s->deny_not_loaded)
            break;
    }
    s->busy--;
    wg_conn_uncork(c);
}
