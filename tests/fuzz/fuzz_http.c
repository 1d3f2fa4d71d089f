/*
 * fuzz_http.c - libFuzzer target for the HTTP/1.1 parser (src/http).
 *
 * Input: one flags byte (the response's request method, small limits),
 * four seed bytes, then the bytes fed to a request parser and to a
 * response parser. Each parser runs twice: once with all
 * the bytes in one feed, once in random pieces with random pauses from the
 * callbacks. Besides memory errors it checks the parser's promises:
 *   - consumed <= len, and == len for WG_HTTP_OK;
 *   - the events, the result, the error and the bytes consumed do not
 *     depend on the splits or the pauses;
 *   - a stopped parser (error, done) stays stopped;
 *   - heads are sane (lower-case token names, clean values, strings
 *     NUL-terminated at their length), and body bytes match the framing;
 *   - every parsed head can be written back, and parses again to the same;
 *   - a parser reset after reading part of the input (any state) reads the
 *     input exactly as a new one.
 */
#include "http/http.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_http: check failed at line %d: %s\n", __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct ctx {
    wg_http_parser p;
    wg_http_parser_type type;
    const char *method; /* responses: the request's method */
    const wg_http_limits *limits;
    wg_buf log;
    bool in_body;
    bool in_message; /* after a final head, until its end */
    wg_http_body_kind body;
    uint64_t expect_len, body_len;
    uint32_t rng; /* 0: never pause */
} ctx;

static uint32_t next_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 1;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static void maybe_pause(ctx *c)
{
    if (c->rng && next_rand(&c->rng) % 4 == 0)
        wg_http_parser_pause(&c->p);
}

static void logf_(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    CHECK(wg_buf_vappendf(&c->log, fmt, ap));
    va_end(ap);
}

static void end_body(ctx *c)
{
    if (c->in_body)
        logf_(c, "\n");
    c->in_body = false;
}

static bool is_token(const char *s, size_t n, bool lower)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                  (!lower && ch >= 'A' && ch <= 'Z') || (ch && strchr("!#$%&'*+-.^_`|~", ch));
        if (!ok)
            return false;
    }
    return true;
}

static void check_fields(const wg_headers *h)
{
    for (uint32_t i = 0; i < h->count; i++) {
        const wg_header *e = &h->items[i];
        CHECK(is_token(e->name, e->name_len, true));
        for (uint32_t j = 0; j < e->value_len; j++) {
            unsigned char ch = (unsigned char)e->value[j];
            CHECK(ch == '\t' || (ch >= 0x20 && ch != 0x7f));
        }
        if (e->value_len > 0) {
            CHECK(e->value[0] != ' ' && e->value[0] != '\t');
            CHECK(e->value[e->value_len - 1] != ' ' && e->value[e->value_len - 1] != '\t');
        }
    }
}

/* ---- write the head back and parse it again ---------------------------------------------- */

typedef struct reparse {
    int heads;
    wg_buf log;
} reparse;

static void log_head(wg_buf *log, const wg_http_head *h)
{
    if (h->is_request)
        CHECK(wg_buf_appendf(log, "%s %s [%s]\n", h->method, h->path, h->authority));
    else
        CHECK(wg_buf_appendf(log, "%d [%s]\n", h->status, h->reason));
    for (uint32_t i = 0; i < h->headers.count; i++) {
        const wg_header *e = &h->headers.items[i];
        if (h->is_request && strcmp(e->name, "host") == 0)
            continue; /* rewritten from the authority */
        CHECK(wg_buf_appendf(log, "%s: %s\n", e->name, e->value));
    }
}

static void reparse_head(void *arg, const wg_http_head *h)
{
    reparse *r = arg;
    if (r->heads++ == 0)
        log_head(&r->log, h);
}

static void check_round_trip(ctx *c, const wg_http_head *h)
{
    wg_buf out = {0}, want = {0};
    if (h->is_request) {
        wg_headers map = {0};
        CHECK(wg_http_head_to_headers(h, &map));
        CHECK(wg_http_write_request_head(&out, NULL, NULL, &map));
        wg_headers_free(&map);
    } else {
        /* HTTP/1.2 and later minors are spoken as 1.1. */
        CHECK(wg_http_write_response_head(&out, h->status, h->reason, &h->headers,
                                          h->version_minor > 0 ? 1 : 0));
    }
    log_head(&want, h);

    /* Writing may add a Host field and ": " separators. */
    wg_http_limits limits = {.max_head_size = WG_HTTP_MAX_HEAD_SIZE_CAP,
                             .max_headers = WG_HTTP_DEFAULT_MAX_HEADERS + 1};
    wg_http_callbacks cb = {.on_head = reparse_head};
    reparse r = {0};
    wg_http_parser q;
    wg_http_parser_init(&q, c->type, &limits, &cb, &r);
    wg_http_parser_set_request_method(&q, c->method);
    size_t used = 0;
    wg_http_result res = wg_http_parser_feed(&q, out.data, out.len, &used);
    if (res == WG_HTTP_ERROR)
        fprintf(stderr, "fuzz_http: reparse: %s\n", wg_http_parser_error(&q)->message);
    CHECK(res != WG_HTTP_ERROR);
    CHECK(r.heads == 1);
    CHECK(r.log.len == want.len && memcmp(r.log.data, want.data, want.len) == 0);
    wg_http_parser_free(&q);
    wg_buf_free(&r.log);
    wg_buf_free(&want);
    wg_buf_free(&out);
}

/* ---- the callbacks --------------------------------------------------------------------------- */

static void on_head(void *arg, const wg_http_head *h)
{
    ctx *c = arg;
    end_body(c);
    CHECK(!c->in_message);
    CHECK(h->is_request == (c->type == WG_HTTP_REQUEST));
    CHECK(strlen(h->target) == h->target_len && strlen(h->path) == h->path_len);
    CHECK(strlen(h->authority) == h->authority_len && strlen(h->reason) == h->reason_len);
    CHECK(h->version_major == 1);
    check_fields(&h->headers);
    if (h->is_request) {
        CHECK(h->path_len > 0 && (h->path[0] == '/' || strcmp(h->path, "*") == 0));
        CHECK(h->body != WG_HTTP_BODY_UNTIL_CLOSE);
        logf_(c, "HEAD %s %s [%s]", h->method, h->target, h->authority);
    } else {
        CHECK(h->status >= 100 && h->status <= 599);
        logf_(c, "HEAD %d [%s]", h->status, h->reason);
    }
    logf_(c, " %u.%u ka=%d body=%d/%d cl=%d/%llu ex=%d up=%d\n", h->version_major, h->version_minor,
          h->keep_alive, (int)h->body, h->has_body, h->has_content_length,
          (unsigned long long)h->content_length, h->expect_continue, h->upgrade);
    for (uint32_t i = 0; i < h->headers.count; i++)
        logf_(c, "  %s: %s\n", h->headers.items[i].name, h->headers.items[i].value);
    check_round_trip(c, h);

    bool interim = !h->is_request && h->status / 100 == 1 && h->status != 101;
    if (!interim) {
        c->in_message = true;
        c->body = h->body;
        c->expect_len = h->content_length;
        c->body_len = 0;
    }
    maybe_pause(c);
}

static void on_body(void *arg, const uint8_t *data, size_t len)
{
    ctx *c = arg;
    CHECK(c->in_message && len > 0 && c->body != WG_HTTP_BODY_NONE);
    c->body_len += len;
    if (c->body == WG_HTTP_BODY_LENGTH)
        CHECK(c->body_len <= c->expect_len);
    if (!c->in_body)
        logf_(c, "BODY ");
    c->in_body = true;
    CHECK(wg_buf_append(&c->log, data, len));
    maybe_pause(c);
}

static void on_trailers(void *arg, const wg_headers *t)
{
    ctx *c = arg;
    end_body(c);
    CHECK(c->in_message && c->body == WG_HTTP_BODY_CHUNKED && t->count > 0);
    check_fields(t);
    logf_(c, "TRAILERS\n");
    for (uint32_t i = 0; i < t->count; i++)
        logf_(c, "  %s: %s\n", t->items[i].name, t->items[i].value);
    maybe_pause(c);
}

static void on_complete(void *arg)
{
    ctx *c = arg;
    end_body(c);
    CHECK(c->in_message);
    if (c->body == WG_HTTP_BODY_LENGTH)
        CHECK(c->body_len == c->expect_len);
    if (c->body == WG_HTTP_BODY_NONE)
        CHECK(c->body_len == 0);
    c->in_message = false;
    logf_(c, "END\n");
    maybe_pause(c);
}

static const wg_http_callbacks callbacks = {on_head, on_body, on_trailers, on_complete};

/* ---- driving a parser --------------------------------------------------------------------- */

/* seed 0: everything in one feed, no pauses. pre_len > 0: the parser
 * first reads data[0..pre_len), whatever state that leaves it in, and is
 * reset (as a pooled connection's is) before the real run. */
static void drive(ctx *c, const uint8_t *data, size_t len, uint32_t seed, size_t pre_len)
{
    wg_http_parser_init(&c->p, c->type, c->limits, &callbacks, c);
    if (pre_len > 0) {
        wg_http_parser_set_request_method(&c->p, c->method);
        size_t used = 0;
        wg_http_parser_feed(&c->p, data, pre_len, &used);
        wg_http_parser_reset(&c->p);
        wg_buf_clear(&c->log);
        c->in_body = c->in_message = false;
        c->body = WG_HTTP_BODY_NONE;
        c->expect_len = c->body_len = 0;
    }
    wg_http_parser_set_request_method(&c->p, c->method);
    c->rng = seed;
    uint32_t split = seed;
    size_t off = 0, rounds = 0;
    wg_http_result r = WG_HTTP_OK;
    for (;;) {
        CHECK(++rounds < 4 * len + 1000); /* every feed makes progress */
        size_t n = len - off;
        if (seed && n > 1) {
            uint32_t x = next_rand(&split);
            size_t piece = 1 + (x % 4 == 0 ? 0 : (x >> 8) % 64);
            n = piece < n ? piece : n;
        }
        size_t used = SIZE_MAX;
        r = wg_http_parser_feed(&c->p, data + off, n, &used);
        CHECK(used <= n);
        CHECK(r != WG_HTTP_OK || used == n);
        off += used;
        if (r == WG_HTTP_PAUSED) {
            CHECK(seed != 0);
            wg_http_parser_resume(&c->p);
            continue;
        }
        if (r != WG_HTTP_OK || off == len)
            break;
    }
    const wg_http_error *err = wg_http_parser_error(&c->p);
    CHECK((r == WG_HTTP_ERROR) == (err->kind != WG_HTTP_ERR_NONE));
    CHECK(r != WG_HTTP_ERROR || err->message != NULL);
    if (r == WG_HTTP_ERROR || r == WG_HTTP_DONE) {
        size_t used = SIZE_MAX;
        CHECK(wg_http_parser_feed(&c->p, "x", 1, &used) == r && used == 0);
    }
    c->rng = 0;
    wg_http_result fin = wg_http_parser_finish(&c->p);
    CHECK(fin == WG_HTTP_DONE || fin == WG_HTTP_ERROR);
    end_body(c);
    logf_(c, "RESULT %d consumed %zu error %d %s finish %d\n", (int)r, off, (int)err->kind,
          err->message ? err->message : "-", (int)fin);
    wg_http_parser_free(&c->p);
}

/* Aborts, showing both, unless the two runs logged the same events. */
static void expect_same_events(const ctx *a, const ctx *b, const char *what)
{
    if (a->log.len == b->log.len && memcmp(a->log.data, b->log.data, a->log.len) == 0)
        return;
    fprintf(stderr, "fuzz_http: %s\n--- first:\n%.*s\n--- second:\n%.*s\n", what, (int)a->log.len,
            (const char *)a->log.data, (int)b->log.len, (const char *)b->log.data);
    abort();
}

static void check_type(wg_http_parser_type type, const char *method, const wg_http_limits *limits,
                       const uint8_t *data, size_t len, uint32_t seed)
{
    ctx whole = {.type = type, .method = method, .limits = limits};
    drive(&whole, data, len, 0, 0);
    ctx pieces = {.type = type, .method = method, .limits = limits};
    drive(&pieces, data, len, seed ? seed : 1, 0);
    expect_same_events(&whole, &pieces, "events depend on the splits");
    ctx reused = {.type = type, .method = method, .limits = limits};
    drive(&reused, data, len, 0, len ? 1 + seed % len : 0);
    expect_same_events(&whole, &reused, "a reset parser differs from a new one");
    wg_buf_free(&whole.log);
    wg_buf_free(&pieces.log);
    wg_buf_free(&reused.log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    static const char *const methods[] = {NULL, "GET", "HEAD", "CONNECT"};
    const char *method = methods[data[0] & 3];
    uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
                    (uint32_t)data[4] << 24;
    /* Small limits, to reach them with small inputs. */
    static const wg_http_limits small = {
        .max_head_size = 200, .max_headers = 4, .max_url_len = 24, .max_chunk_size = 300};
    const wg_http_limits *limits = (data[0] & 4) ? &small : NULL;
    check_type(WG_HTTP_REQUEST, NULL, limits, data + 5, size - 5, seed);
    check_type(WG_HTTP_RESPONSE, method, limits, data + 5, size - 5, seed);
    return 0;
}
