#include "http/http.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a recorder of parser events, as text ---------------------------------------------- */

typedef struct rec {
    wg_buf log;
    bool in_body;
    wg_http_parser *p;
    /* Pause after these events. */
    bool pause_on_head, pause_on_complete;
    wg_headers last_headers; /* head_to_headers of the last head */
    wg_headers taken;        /* wg_http_parser_take_headers of it */
} rec;

static void log_str(rec *r, const char *s)
{
    assert_true(wg_buf_append_str(&r->log, s));
}

static void end_body(rec *r)
{
    if (r->in_body)
        log_str(r, "\n");
    r->in_body = false;
}

static const char *body_name(wg_http_body_kind k)
{
    switch (k) {
    case WG_HTTP_BODY_NONE:
        return "none";
    case WG_HTTP_BODY_LENGTH:
        return "length";
    case WG_HTTP_BODY_CHUNKED:
        return "chunked";
    default:
        return "close";
    }
}

static void log_fields(rec *r, const wg_headers *h)
{
    for (uint32_t i = 0; i < h->count; i++)
        assert_true(wg_buf_appendf(&r->log, "  %s: %s\n", h->items[i].name, h->items[i].value));
}

static void on_head(void *ctx, const wg_http_head *h)
{
    rec *r = ctx;
    end_body(r);
    /* Strings are NUL-terminated at their length. */
    assert_int_equal(strlen(h->target), h->target_len);
    assert_int_equal(strlen(h->path), h->path_len);
    assert_int_equal(strlen(h->authority), h->authority_len);
    assert_int_equal(strlen(h->reason), h->reason_len);
    if (h->is_request)
        assert_true(wg_buf_appendf(&r->log, "HEAD %s %s [%s] %s", h->method, h->path, h->authority,
                                   h->target));
    else
        assert_true(wg_buf_appendf(&r->log, "HEAD %d [%s]", h->status, h->reason));
    assert_true(wg_buf_appendf(&r->log, " v%u.%u ka=%d body=%s has_body=%d", h->version_major,
                               h->version_minor, h->keep_alive, body_name(h->body), h->has_body));
    if (h->has_content_length)
        assert_true(wg_buf_appendf(&r->log, " cl=%llu", (unsigned long long)h->content_length));
    if (h->expect_continue)
        log_str(r, " expect");
    if (h->upgrade)
        log_str(r, " upgrade");
    log_str(r, "\n");
    log_fields(r, &h->headers);
    assert_true(wg_http_head_to_headers(h, &r->last_headers));
    /* Taking the fields (what the data plane does) gives the same view and
     * leaves the head without fields. */
    assert_true(wg_http_parser_take_headers(r->p, &r->taken));
    assert_int_equal(r->taken.count, r->last_headers.count);
    for (uint32_t i = 0; i < r->taken.count; i++) {
        assert_string_equal(r->taken.items[i].name, r->last_headers.items[i].name);
        assert_string_equal(r->taken.items[i].value, r->last_headers.items[i].value);
    }
    assert_int_equal(h->headers.count, 0);
    if (r->pause_on_head)
        wg_http_parser_pause(r->p);
}

static void on_body(void *ctx, const uint8_t *data, size_t len)
{
    rec *r = ctx;
    assert_true(len > 0);
    if (!r->in_body)
        log_str(r, "BODY ");
    r->in_body = true;
    assert_true(wg_buf_append(&r->log, data, len));
}

static void on_trailers(void *ctx, const wg_headers *t)
{
    rec *r = ctx;
    end_body(r);
    log_str(r, "TRAILERS\n");
    log_fields(r, t);
}

static void on_complete(void *ctx)
{
    rec *r = ctx;
    end_body(r);
    log_str(r, "END\n");
    if (r->pause_on_complete)
        wg_http_parser_pause(r->p);
}

static const wg_http_callbacks callbacks = {on_head, on_body, on_trailers, on_complete};

static void rec_free(rec *r)
{
    wg_buf_free(&r->log);
    wg_headers_free(&r->last_headers);
    wg_headers_free(&r->taken);
}

/* The log as a C string (appends a NUL that is not counted). */
static const char *log_text(rec *r)
{
    assert_true(wg_buf_reserve(&r->log, 1));
    r->log.data[r->log.len] = '\0';
    return (const char *)r->log.data;
}

/* ---- running a parser over an input ---------------------------------------------------- */

typedef struct run {
    rec r;
    wg_http_parser p;
    wg_http_result result;
    size_t consumed;
    wg_http_error_kind error;
} run;

/* Feeds `in` in pieces of `step` bytes (0: all at once), resuming after
 * pauses, until everything is consumed or the parser stops. */
static void feed_in_steps(run *x, const char *in, size_t len, size_t step)
{
    size_t off = 0;
    x->result = WG_HTTP_OK;
    for (int guard = 0; guard < 100000; guard++) {
        size_t n = step == 0 || len - off < step ? len - off : step;
        size_t c = 0;
        x->result = wg_http_parser_feed(&x->p, in + off, n, &c);
        assert_true(c <= n);
        off += c;
        if (x->result == WG_HTTP_PAUSED) {
            wg_http_parser_resume(&x->p);
            continue;
        }
        if (x->result != WG_HTTP_OK || off == len)
            break;
        assert_int_equal(c, n);
    }
    x->consumed = off;
    x->error = wg_http_parser_error(&x->p)->kind;
}

static void run_init(run *x, wg_http_parser_type type, const wg_http_limits *limits)
{
    memset(x, 0, sizeof(*x));
    wg_http_parser_init(&x->p, type, limits, &callbacks, &x->r);
    x->r.p = &x->p;
}

static void run_free(run *x)
{
    wg_http_parser_free(&x->p);
    rec_free(&x->r);
}

static void parse(run *x, wg_http_parser_type type, const char *in, size_t step)
{
    run_init(x, type, NULL);
    feed_in_steps(x, in, strlen(in), step);
}

/* Every split of the input gives the same events: all at once, byte by
 * byte, and cut in two at every position. Returns the events. */
static char *events_any_split(wg_http_parser_type type, const char *method, const char *in,
                              wg_http_result *result)
{
    size_t len = strlen(in);
    run whole;
    run_init(&whole, type, NULL);
    wg_http_parser_set_request_method(&whole.p, method);
    feed_in_steps(&whole, in, len, 0);
    char *expect = strdup(log_text(&whole.r));

    run bytes;
    run_init(&bytes, type, NULL);
    wg_http_parser_set_request_method(&bytes.p, method);
    feed_in_steps(&bytes, in, len, 1);
    assert_string_equal(log_text(&bytes.r), expect);
    assert_int_equal(bytes.result, whole.result);
    assert_int_equal(bytes.consumed, whole.consumed);
    run_free(&bytes);

    for (size_t cut = 1; cut < len; cut++) {
        run two;
        run_init(&two, type, NULL);
        wg_http_parser_set_request_method(&two.p, method);
        size_t c1 = 0, c2 = 0;
        two.result = wg_http_parser_feed(&two.p, in, cut, &c1);
        if (two.result == WG_HTTP_OK)
            two.result = wg_http_parser_feed(&two.p, in + cut, len - cut, &c2);
        assert_string_equal(log_text(&two.r), expect);
        assert_int_equal(two.result, whole.result);
        assert_int_equal(c1 + c2, whole.consumed);
        run_free(&two);
    }
    *result = whole.result;
    run_free(&whole);
    return expect;
}

static void expect_events(wg_http_parser_type type, const char *in, const char *events,
                          wg_http_result result)
{
    wg_http_result got = WG_HTTP_ERROR;
    char *log = events_any_split(type, NULL, in, &got);
    assert_string_equal(log, events);
    assert_int_equal(got, result);
    free(log);
}

/* ---- requests ------------------------------------------------------------------------- */

static void test_simple_get(void **state)
{
    run x;
    parse(&x, WG_HTTP_REQUEST,
          "GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t  \r\n"
          "X-Empty:\r\nAccept:  */*\r\n\r\n",
          0);
    assert_int_equal(x.result, WG_HTTP_OK);
    assert_string_equal(log_text(&x.r),
                        "HEAD GET /a/b?c=d [example.com:8080] /a/b?c=d v1.1 ka=1 body=none "
                        "has_body=0\n"
                        "  host: example.com:8080\n"
                        "  user-agent: t\n"
                        "  x-empty: \n"
                        "  accept: */*\n"
                        "END\n");
    /* The Proxy-Wasm view: pseudo-headers first, Host as :authority. */
    const wg_headers *h = &x.r.last_headers;
    assert_int_equal(h->count, 7);
    const char *want[][2] = {
        {":method", "GET"},  {":path", "/a/b?c=d"}, {":authority", "example.com:8080"},
        {":scheme", "http"}, {"user-agent", "t"},   {"x-empty", ""},
        {"accept", "*/*"}};
    for (uint32_t i = 0; i < 7; i++) {
        assert_string_equal(h->items[i].name, want[i][0]);
        assert_string_equal(h->items[i].value, want[i][1]);
    }
    run_free(&x);
}

static void test_keep_alive(void **state)
{
    const char *next = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    struct {
        const char *head;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in), "%s%s", cases[i].head, next);
        run x;
        parse(&x, WG_HTTP_REQUEST, in, 0);
        const char *log = log_text(&x.r);
        if (cases[i].keep_alive) {
            /* Both requests, all consumed. */
            assert_int_equal(x.result, WG_HTTP_OK);
            assert_int_equal(x.consumed, strlen(in));
            assert_non_null(strstr(log, "GET /next"));
        } else {
            /* The parser stops after the first; the next stays with the caller. */
            assert_int_equal(x.result, WG_HTTP_DONE);
            assert_int_equal(x.consumed, strlen(cases[i].head));
            assert_null(strstr(log, "GET /next"));
            assert_non_null(strstr(log, "ka=0"));
        }
        run_free(&x);
    }
}

static const char *pipeline = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                              "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                              "\r\n" /* an empty line between requests is ignored */
                              "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3;name=value;x=\"q\"\r\nabc\r\n"
                              "A\r\n0123456789\r\n"
                              "0\r\nX-Checksum: 42\r\nX-Other:  two words \r\n\r\n"
                              "HEAD /4 HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n";

static const char *pipeline_events = "HEAD GET /1 [a] /1 v1.1 ka=1 body=none has_body=0\n"
                                     "  host: a\n"
                                     "END\n"
                                     "HEAD POST /2 [a] /2 v1.1 ka=1 body=length has_body=1 cl=5\n"
                                     "  host: a\n"
                                     "  content-length: 5\n"
                                     "BODY hello\n"
                                     "END\n"
                                     "HEAD POST /3 [a] /3 v1.1 ka=1 body=chunked has_body=1\n"
                                     "  host: a\n"
                                     "  transfer-encoding: chunked\n"
                                     "BODY abc0123456789\n"
                                     "TRAILERS\n"
                                     "  x-checksum: 42\n"
                                     "  x-other: two words\n"
                                     "END\n"
                                     "HEAD HEAD /4 [a] /4 v1.1 ka=1 body=none has_body=0 expect\n"
                                     "  host: a\n"
                                     "  expect: 100-continue\n"
                                     "END\n";

static void test_pipelined_any_split(void **state)
{
    expect_events(WG_HTTP_REQUEST, pipeline, pipeline_events, WG_HTTP_OK);
}

static void test_bodies(void **state)
{
    expect_events(WG_HTTP_REQUEST, "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                  "HEAD PUT /x [a] /x v1.1 ka=1 body=length has_body=0 cl=0\n"
                  "  host: a\n"
                  "  content-length: 0\n"
                  "END\n",
                  WG_HTTP_OK);
    /* Chunk sizes in upper and lower case, leading zeros, BWS before ';'. */
    expect_events(WG_HTTP_REQUEST,
                  "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                  "0001\r\nZ\r\n1a ;ext\r\nabcdefghijklmnopqrstuvwxyz\r\n000\r\n\r\n",
                  "HEAD POST /c [a] /c v1.1 ka=1 body=chunked has_body=1\n"
                  "  host: a\n"
                  "  transfer-encoding: Chunked\n"
                  "BODY Zabcdefghijklmnopqrstuvwxyz\n"
                  "END\n",
                  WG_HTTP_OK);
    /* Body bytes are streamed as they come, never all at once. */
    run x;
    parse(&x, WG_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab", 0);
    assert_int_equal(x.result, WG_HTTP_OK);
    assert_string_equal(log_text(&x.r), "HEAD POST / [a] / v1.1 ka=1 body=length has_body=1 "
                                        "cl=4\n  host: a\n  content-length: 4\nBODY ab");
    size_t c = 0;
    assert_int_equal(wg_http_parser_feed(&x.p, "cdGET", 5, &c), WG_HTTP_OK);
    assert_int_equal(c, 5);
    assert_non_null(strstr(log_text(&x.r), "BODY abcd\nEND\n"));
    /* The connection closing in the middle of the next head. */
    assert_int_equal(wg_http_parser_finish(&x.p), WG_HTTP_ERROR);
    assert_int_equal(wg_http_parser_error(&x.p)->kind, WG_HTTP_ERR_INCOMPLETE);
    run_free(&x);
}

static void test_targets(void **state)
{
    expect_events(WG_HTTP_REQUEST,
                  "GET http://Example.COM:8080?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"
                  "GET https://h/p/a?b HTTP/1.1\r\nHost: h\r\n\r\n"
                  "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"
                  "GET / HTTP/1.0\r\n\r\n",
                  "HEAD GET /?q=1 [Example.COM:8080] http://Example.COM:8080?q=1 v1.1 ka=1 "
                  "body=none has_body=0\n"
                  "  host: other\n"
                  "END\n"
                  "HEAD GET /p/a?b [h] https://h/p/a?b v1.1 ka=1 body=none has_body=0\n"
                  "  host: h\n"
                  "END\n"
                  "HEAD OPTIONS * [h] * v1.1 ka=1 body=none has_body=0\n"
                  "  host: h\n"
                  "END\n"
                  "HEAD GET / [] / v1.0 ka=0 body=none has_body=0\n"
                  "END\n",
                  WG_HTTP_DONE);
}

/* Host takes exactly RFC 3986's authority characters: letters, digits,
 * "-._~%!$&'()*+,;=:[]". Every byte value, in the middle of a Host. */
static void test_host_characters(void **state)
{
    (void)state;
    static const char allowed[] = "-._~%!$&'()*+,;=:[]";
    for (unsigned c = 1; c < 256; c++) {
        char in[64];
        int n = snprintf(in, sizeof in, "GET / HTTP/1.1\r\nHost: a%cb\r\n\r\n", (char)c);
        run x;
        run_init(&x, WG_HTTP_REQUEST, NULL);
        feed_in_steps(&x, in, (size_t)n, 0);
        bool want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    strchr(allowed, (int)c) != NULL;
        if (want != (x.result != WG_HTTP_ERROR))
            fail_msg("Host byte 0x%02x: %s", c, want ? "refused" : "accepted");
        run_free(&x);
    }
}

static void test_upgrade_request(void **state)
{
    /* The parser goes on after an upgrade request: pausing is the caller's
     * decision, depending on the upstream's answer. */
    expect_events(WG_HTTP_REQUEST,
                  "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                  "GET /ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                  "HEAD GET /ws [a] /ws v1.1 ka=1 body=none has_body=0 upgrade\n"
                  "  host: a\n"
                  "  connection: Upgrade\n"
                  "  upgrade: websocket\n"
                  "END\n"
                  "HEAD GET /ws [] /ws v1.0 ka=0 body=none has_body=0\n"
                  "  connection: Upgrade\n"
                  "  upgrade: websocket\n"
                  "END\n",
                  WG_HTTP_DONE);
}

/* ---- hostile input ----------------------------------------------------------------------- */

typedef struct hostile {
    wg_http_parser_type type;
    const char *in;
    wg_http_error_kind kind;
} hostile;

#define REQ WG_HTTP_REQUEST
#define RESP WG_HTTP_RESPONSE
#define BAD WG_HTTP_ERR_BAD_REQUEST
#define CHUNKED_POST "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

static const hostile hostile_cases[] = {
    /* Line endings. */
    {REQ, "GET / HTTP/1.1\nHost: a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\n\n", BAD},
    {REQ, "GET / HTTP/1.1\rHost: a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\n\rX", BAD},
    {REQ, "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    /* Field lines. */
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", BAD},  /* obs-fold */
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", BAD}, /* obs-fold */
    {REQ, "GET / HTTP/1.1\r\n Host: a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: 1\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n", BAD},
    /* Request line. */
    {REQ, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", BAD},
    {REQ, " GET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET /\r\n\r\n", BAD}, /* HTTP/0.9 */
    {REQ, "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET / HTTQ/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.x\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET * HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {REQ, "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {REQ, "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", WG_HTTP_ERR_NOT_IMPLEMENTED},
    {REQ, "get / HTTP/1.1\r\nHost: a\r\n\r\n", WG_HTTP_ERR_NOT_IMPLEMENTED},
    {REQ, "CONX / HTTP/1.1\r\nHost: a\r\n\r\n", WG_HTTP_ERR_NOT_IMPLEMENTED},
    {REQ, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", WG_HTTP_ERR_NOT_IMPLEMENTED},
    {REQ, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", WG_HTTP_ERR_VERSION},
    {REQ, "GET / HTTP/0.9\r\nHost: a\r\n\r\n", WG_HTTP_ERR_VERSION},
    /* Host. */
    {REQ, "GET / HTTP/1.1\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", BAD},
    {REQ, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", BAD},
    /* Content-Length. */
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", BAD},
    /* Transfer-Encoding. */
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
     BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
     BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", BAD},
    {REQ,
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
     BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", BAD},
    {REQ, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     WG_HTTP_ERR_NOT_IMPLEMENTED},
    {REQ,
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
     WG_HTTP_ERR_NOT_IMPLEMENTED},
    {REQ, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", BAD},
    /* Chunked framing. */
    {REQ, CHUNKED_POST "5\r\nhelloXX0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "5\r\nhello\n0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "5\nhello\r\n0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "5\rXhello\r\n0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "5 \r\nhello\r\n0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "5x\r\nhello\r\n0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "-5\r\nhello\r\n0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "\r\n", BAD},
    {REQ, CHUNKED_POST "5;a\x01\r\nhello\r\n0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "5;a\nhello\r\n0\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "ffffffffffffffffff\r\n", BAD},
    {REQ, CHUNKED_POST "10000000000000000\r\n", BAD},
    {REQ, CHUNKED_POST "100000001\r\n", BAD}, /* above the 4 GiB default */
    {REQ, CHUNKED_POST "0\r\nX : y\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "0\r\nX: y\n\r\n", BAD},
    {REQ, CHUNKED_POST "0\r\nX: y\r\n z\r\n\r\n", BAD},
    {REQ, CHUNKED_POST "0\r\n\n", BAD},
    /* Responses. */
    {RESP, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", BAD},
    {RESP, "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", BAD},
    {RESP, "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", BAD},
    {RESP, "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", WG_HTTP_ERR_VERSION},
    {RESP, "HTTP/1.1 99 Low\r\nContent-Length: 0\r\n\r\n", BAD},
    {RESP, "HTTP/1.1 600 High\r\nContent-Length: 0\r\n\r\n", BAD},
    {RESP, "HTTP/1.1 2x0 OK\r\n\r\n", BAD},
    {RESP, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", BAD},
    {RESP, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", BAD},
    {RESP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     WG_HTTP_ERR_NOT_IMPLEMENTED},
    {RESP, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX", BAD},
    {RESP, "ICY 200 OK\r\n\r\n", BAD},
};

static void test_hostile(void **state)
{
    for (size_t i = 0; i < sizeof(hostile_cases) / sizeof(hostile_cases[0]); i++) {
        const hostile *c = &hostile_cases[i];
        /* Same verdict whatever the splits. */
        for (size_t step = 0; step <= 1; step++) {
            run x;
            parse(&x, c->type, c->in, step);
            if (x.result != WG_HTTP_ERROR || x.error != c->kind) {
                print_error(
                    "case %zu (step %zu): result %d, error %d (%s), want error %d\n", i, step,
                    (int)x.result, (int)x.error,
                    wg_http_parser_error(&x.p)->message ? wg_http_parser_error(&x.p)->message : "-",
                    (int)c->kind);
                fail();
            }
            assert_non_null(wg_http_parser_error(&x.p)->message);
            /* The parser stays stopped. */
            size_t used = 1;
            assert_int_equal(wg_http_parser_feed(&x.p, "GET", 3, &used), WG_HTTP_ERROR);
            assert_int_equal(used, 0);
            assert_int_equal(wg_http_parser_finish(&x.p), WG_HTTP_ERROR);
            run_free(&x);
        }
    }
}

static void test_error_position(void **state)
{
    /* A byte-level error stops at the offending byte. */
    run x;
    parse(&x, WG_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 0);
    assert_int_equal(x.result, WG_HTTP_ERROR);
    assert_int_equal(x.consumed, 23);
    assert_string_equal(wg_http_parser_error(&x.p)->message, "bare LF: lines must end with CRLF");
    run_free(&x);
    parse(&x, WG_HTTP_REQUEST, CHUNKED_POST "2\r\nabXY", 0);
    assert_int_equal(x.result, WG_HTTP_ERROR);
    assert_int_equal(x.consumed, strlen(CHUNKED_POST) + 5);
    assert_non_null(strstr(log_text(&x.r), "BODY ab"));
    run_free(&x);
}

/* ---- limits ---------------------------------------------------------------------------- */

/* A request whose head is exactly `size` bytes, with `fields` (>= 2)
 * fields: Host, X-2..., and a Y filler. */
static char *request_of_size(size_t size, uint32_t fields)
{
    wg_buf b = {0};
    assert_true(wg_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\n"));
    for (uint32_t i = 2; i < fields; i++)
        assert_true(wg_buf_appendf(&b, "X-%u: v\r\n", i));
    /* "Y: " + filler + CRLF, then the blank line. */
    size_t fixed = b.len + 3 + 2 + 2;
    assert_true(size > fixed);
    assert_true(wg_buf_append_str(&b, "Y: "));
    for (size_t i = fixed; i < size; i++)
        assert_true(wg_buf_append(&b, "y", 1));
    assert_true(wg_buf_append(&b, "\r\n\r\n", 5)); /* with the NUL */
    char *s = (char *)b.data;
    assert_int_equal(strlen(s), size);
    return s;
}

static void expect_limit(const wg_http_limits *limits, const char *in, wg_http_error_kind kind)
{
    for (size_t step = 0; step <= 1; step++) {
        run x;
        run_init(&x, WG_HTTP_REQUEST, limits);
        feed_in_steps(&x, in, strlen(in), step == 0 ? 0 : 7);
        if (kind == WG_HTTP_ERR_NONE) {
            assert_int_equal(x.result, WG_HTTP_OK);
            assert_non_null(strstr(log_text(&x.r), "END\n"));
        } else {
            assert_int_equal(x.result, WG_HTTP_ERROR);
            assert_int_equal(x.error, kind);
        }
        run_free(&x);
    }
}

static void test_head_size_limit(void **state)
{
    char *ok = request_of_size(WG_HTTP_DEFAULT_MAX_HEAD_SIZE, 2);
    char *big = request_of_size(WG_HTTP_DEFAULT_MAX_HEAD_SIZE + 1, 2);
    expect_limit(NULL, ok, WG_HTTP_ERR_NONE);
    expect_limit(NULL, big, WG_HTTP_ERR_HEAD_TOO_LARGE);
    free(ok);
    free(big);

    wg_http_limits small = {.max_head_size = 100};
    ok = request_of_size(100, 2);
    big = request_of_size(101, 2);
    expect_limit(&small, ok, WG_HTTP_ERR_NONE);
    expect_limit(&small, big, WG_HTTP_ERR_HEAD_TOO_LARGE);
    free(ok);
    free(big);

    /* Endless empty lines before a request count too. */
    char crlfs[300];
    for (size_t i = 0; i < 298; i += 2)
        memcpy(crlfs + i, "\r\n", 2);
    crlfs[298] = '\0';
    expect_limit(&small, crlfs, WG_HTTP_ERR_HEAD_TOO_LARGE);

    /* Trailers have the same budget. */
    wg_buf b = {0};
    assert_true(wg_buf_append_str(&b, CHUNKED_POST "0\r\nT: "));
    for (int i = 0; i < 100; i++)
        assert_true(wg_buf_append(&b, "t", 1));
    assert_true(wg_buf_append(&b, "\r\n\r\n", 5));
    expect_limit(&small, (const char *)b.data, WG_HTTP_ERR_HEAD_TOO_LARGE);
    wg_http_limits fits = {.max_head_size = 120};
    expect_limit(&fits, (const char *)b.data, WG_HTTP_ERR_NONE);
    wg_buf_free(&b);
}

static void test_header_count_limit(void **state)
{
    char *ok = request_of_size(2000, WG_HTTP_DEFAULT_MAX_HEADERS);
    char *many = request_of_size(2000, WG_HTTP_DEFAULT_MAX_HEADERS + 1);
    expect_limit(NULL, ok, WG_HTTP_ERR_NONE);
    expect_limit(NULL, many, WG_HTTP_ERR_HEAD_TOO_LARGE);
    free(ok);
    free(many);
    wg_http_limits three = {.max_headers = 3};
    ok = request_of_size(200, 3);
    many = request_of_size(200, 4);
    expect_limit(&three, ok, WG_HTTP_ERR_NONE);
    expect_limit(&three, many, WG_HTTP_ERR_HEAD_TOO_LARGE);
    free(ok);
    free(many);
}

static void test_url_and_chunk_limits(void **state)
{
    wg_http_limits l = {.max_url_len = 10, .max_chunk_size = 16};
    expect_limit(&l, "GET /123456789 HTTP/1.1\r\nHost: a\r\n\r\n", WG_HTTP_ERR_NONE);
    expect_limit(&l, "GET /1234567890 HTTP/1.1\r\nHost: a\r\n\r\n", WG_HTTP_ERR_URI_TOO_LONG);
    expect_limit(&l, CHUNKED_POST "10\r\n0123456789abcdef\r\n0\r\n\r\n", WG_HTTP_ERR_NONE);
    expect_limit(&l, CHUNKED_POST "11\r\n0123456789abcdefg\r\n0\r\n\r\n", WG_HTTP_ERR_BAD_REQUEST);
    /* The chunk-size line (size and extensions) is bounded. */
    wg_buf b = {0};
    assert_true(wg_buf_append_str(&b, CHUNKED_POST "1;"));
    for (int i = 0; i < 5000; i++)
        assert_true(wg_buf_append(&b, "e", 1));
    assert_true(wg_buf_append(&b, "\r\nx\r\n0\r\n\r\n", 11));
    expect_limit(NULL, (const char *)b.data, WG_HTTP_ERR_BAD_REQUEST);
    wg_buf_free(&b);
}

/* ---- responses ------------------------------------------------------------------------- */

static void test_response_basic(void **state)
{
    expect_events(WG_HTTP_RESPONSE,
                  "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
                  "HTTP/1.1 404 Not  Found\tat all\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "2\r\nno\r\n0\r\n\r\n"
                  "HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n",
                  "HEAD 200 [OK] v1.1 ka=1 body=length has_body=1 cl=3\n"
                  "  content-length: 3\n"
                  "BODY abc\n"
                  "END\n"
                  "HEAD 404 [Not  Found\tat all] v1.1 ka=1 body=chunked has_body=1\n"
                  "  transfer-encoding: chunked\n"
                  "BODY no\n"
                  "END\n"
                  "HEAD 500 [] v1.1 ka=1 body=length has_body=0 cl=0\n"
                  "  content-length: 0\n"
                  "END\n",
                  WG_HTTP_OK);
}

static void test_response_continue(void **state)
{
    /* 100 Continue is a head of its own (no END), then the real response. */
    expect_events(WG_HTTP_RESPONSE,
                  "HTTP/1.1 100 Continue\r\n\r\n"
                  "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                  "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
                  "HEAD 100 [Continue] v1.1 ka=1 body=none has_body=0\n"
                  "HEAD 103 [Early Hints] v1.1 ka=1 body=none has_body=0\n"
                  "  link: </s.css>\n"
                  "HEAD 201 [Created] v1.1 ka=1 body=length has_body=1 cl=2\n"
                  "  content-length: 2\n"
                  "BODY ok\n"
                  "END\n",
                  WG_HTTP_OK);
}

static void test_response_without_body(void **state)
{
    /* HEAD: the fields describe a body that is not sent. */
    wg_http_result r = WG_HTTP_ERROR;
    char *log = events_any_split(WG_HTTP_RESPONSE, "HEAD",
                                 "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                                 &r);
    assert_int_equal(r, WG_HTTP_OK);
    assert_string_equal(log, "HEAD 200 [OK] v1.1 ka=1 body=none has_body=0 cl=10\n"
                             "  content-length: 10\n"
                             "END\n"
                             "HEAD 200 [OK] v1.1 ka=1 body=none has_body=0\n"
                             "  transfer-encoding: chunked\n"
                             "END\n");
    free(log);
    expect_events(WG_HTTP_RESPONSE,
                  "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
                  "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
                  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
                  "HEAD 204 [No Content] v1.1 ka=1 body=none has_body=0 cl=10\n"
                  "  content-length: 10\n"
                  "END\n"
                  "HEAD 304 [Not Modified] v1.1 ka=1 body=none has_body=0 cl=10\n"
                  "  content-length: 10\n"
                  "END\n"
                  "HEAD 200 [OK] v1.0 ka=1 body=length has_body=1 cl=1\n"
                  "  connection: keep-alive\n"
                  "  content-length: 1\n"
                  "BODY x\n"
                  "END\n",
                  WG_HTTP_OK);
}

static void test_response_until_close(void **state)
{
    run x;
    parse(&x, WG_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nServer: s\r\n\r\nsome", 0);
    assert_int_equal(x.result, WG_HTTP_OK);
    size_t c = 0;
    assert_int_equal(wg_http_parser_feed(&x.p, " more", 5, &c), WG_HTTP_OK);
    assert_string_equal(log_text(&x.r), "HEAD 200 [OK] v1.1 ka=0 body=close has_body=1\n"
                                        "  server: s\n"
                                        "BODY some more");
    assert_int_equal(wg_http_parser_finish(&x.p), WG_HTTP_DONE);
    assert_string_equal(log_text(&x.r) + x.r.log.len - 5, "\nEND\n");
    assert_int_equal(wg_http_parser_feed(&x.p, "x", 1, &c), WG_HTTP_DONE);
    assert_int_equal(c, 0);
    run_free(&x);

    /* A cut Content-Length body is an error; a clean end is not. */
    parse(&x, WG_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 0);
    assert_int_equal(wg_http_parser_finish(&x.p), WG_HTTP_ERROR);
    assert_int_equal(wg_http_parser_error(&x.p)->kind, WG_HTTP_ERR_INCOMPLETE);
    run_free(&x);
    parse(&x, WG_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\r\n", 0);
    assert_int_equal(wg_http_parser_finish(&x.p), WG_HTTP_DONE);
    run_free(&x);
}

static void test_response_upgrade(void **state)
{
    const char *in = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n\r\n\x81\x05hello";
    run x;
    parse(&x, WG_HTTP_RESPONSE, in, 0);
    assert_int_equal(x.result, WG_HTTP_DONE);
    assert_int_equal(x.consumed, strlen(in) - 7); /* the frame is the caller's */
    assert_string_equal(log_text(&x.r),
                        "HEAD 101 [Switching Protocols] v1.1 ka=0 body=none has_body=0 upgrade\n"
                        "  upgrade: websocket\n"
                        "  connection: Upgrade\n"
                        "END\n");
    run_free(&x);

    /* A 2xx to CONNECT starts a tunnel. */
    run_init(&x, WG_HTTP_RESPONSE, NULL);
    wg_http_parser_set_request_method(&x.p, "CONNECT");
    feed_in_steps(&x, "HTTP/1.1 200 OK\r\n\r\ntunnel", 25, 0);
    assert_int_equal(x.result, WG_HTTP_DONE);
    assert_int_equal(x.consumed, 19);
    run_free(&x);
}

/* ---- pausing --------------------------------------------------------------------------- */

/* A reset parser (a pooled upstream connection's) reads the next message
 * as a new parser would, whatever state the last one left it in, and
 * keeps its limits. */
static void test_parser_reset(void **state)
{
    (void)state;
    static const char second[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nA: 1\r\n\r\nok";
    run fresh;
    parse(&fresh, WG_HTTP_RESPONSE, second, 0);
    const char *want = log_text(&fresh.r);

    static const char *firsts[] = {
        /* complete, with a chunked body and trailers */
        "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: x\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nContent-Len",                             /* cut in the head */
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",                  /* cut in the body */
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", /* failed */
    };
    for (size_t i = 0; i < sizeof firsts / sizeof firsts[0]; i++) {
        run x;
        run_init(&x, WG_HTTP_RESPONSE, NULL);
        feed_in_steps(&x, firsts[i], strlen(firsts[i]), 0);
        wg_http_parser_reset(&x.p);
        wg_buf_clear(&x.r.log);
        x.r.in_body = false;
        feed_in_steps(&x, second, sizeof second - 1, 0);
        assert_int_equal(x.result, WG_HTTP_OK);
        assert_string_equal(log_text(&x.r), want);
        run_free(&x);
    }
    run_free(&fresh);

    wg_http_limits limits = {.max_headers = 1};
    run x;
    run_init(&x, WG_HTTP_RESPONSE, &limits);
    wg_http_parser_reset(&x.p);
    feed_in_steps(&x, second, sizeof second - 1, 0);
    assert_int_equal(x.result, WG_HTTP_ERROR);
    assert_int_equal(x.error, WG_HTTP_ERR_HEAD_TOO_LARGE);
    run_free(&x);
}

static void test_pause_after_message(void **state)
{
    run x;
    run_init(&x, WG_HTTP_REQUEST, NULL);
    x.r.pause_on_complete = true;
    const char *in = pipeline;
    size_t len = strlen(in), off = 0, c = 0, messages = 0;
    for (;;) {
        wg_http_result r = wg_http_parser_feed(&x.p, in + off, len - off, &c);
        off += c;
        if (r != WG_HTTP_PAUSED)
            break;
        messages++;
        /* Stopped right after a message: the next one starts here. */
        assert_true(off == len || strncmp(in + off, "GET", 3) == 0 ||
                    strncmp(in + off, "POST", 4) == 0 || strncmp(in + off, "HEAD", 4) == 0 ||
                    strncmp(in + off, "\r\nPOST", 6) == 0);
        /* Paused: nothing moves until resumed. */
        assert_int_equal(wg_http_parser_feed(&x.p, in + off, len - off, &c), WG_HTTP_PAUSED);
        assert_int_equal(c, 0);
        wg_http_parser_resume(&x.p);
    }
    assert_int_equal(messages, 4);
    assert_int_equal(off, len);
    assert_string_equal(log_text(&x.r), pipeline_events);
    run_free(&x);
}

static void test_pause_in_head(void **state)
{
    /* Pausing in on_head of a message without a body leaves
     * on_message_complete pending: a feed without new bytes delivers it. */
    run x;
    run_init(&x, WG_HTTP_REQUEST, NULL);
    x.r.pause_on_head = true;
    const char *in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t c = 0;
    assert_int_equal(wg_http_parser_feed(&x.p, in, strlen(in), &c), WG_HTTP_PAUSED);
    assert_int_equal(c, strlen(in));
    assert_null(strstr(log_text(&x.r), "END"));
    wg_http_parser_resume(&x.p);
    x.r.pause_on_head = false;
    assert_int_equal(wg_http_parser_feed(&x.p, NULL, 0, &c), WG_HTTP_OK);
    assert_int_equal(c, 0);
    assert_non_null(strstr(log_text(&x.r), "END\n"));

    /* Pausing from outside a callback. */
    wg_http_parser_pause(&x.p);
    assert_int_equal(wg_http_parser_feed(&x.p, in, strlen(in), &c), WG_HTTP_PAUSED);
    assert_int_equal(c, 0);
    wg_http_parser_resume(&x.p);
    assert_int_equal(wg_http_parser_feed(&x.p, in, strlen(in), &c), WG_HTTP_OK);
    assert_int_equal(c, strlen(in));
    assert_int_equal(wg_http_parser_finish(&x.p), WG_HTTP_DONE);
    run_free(&x);
}

/* ---- serialising ----------------------------------------------------------------------- */

static void add(wg_headers *h, const char *name, const char *value)
{
    assert_true(wg_headers_add(h, name, strlen(name), value, strlen(value)));
}

static const char *buf_text(wg_buf *b)
{
    assert_true(wg_buf_reserve(b, 1));
    b->data[b->len] = '\0';
    return (const char *)b->data;
}

static void test_write_request_head(void **state)
{
    wg_headers h = {0};
    add(&h, ":method", "POST");
    add(&h, ":path", "/up?x=1");
    add(&h, ":authority", "backend:9000");
    add(&h, ":scheme", "http");
    add(&h, "host", "ignored");
    add(&h, "content-type", "text/plain");
    add(&h, "x-multi", "1");
    add(&h, "x-multi", "2");
    add(&h, "content-length", "2");
    wg_buf out = {0};
    assert_true(wg_http_write_request_head(&out, NULL, NULL, &h));
    assert_string_equal(buf_text(&out), "POST /up?x=1 HTTP/1.1\r\n"
                                        "host: backend:9000\r\n"
                                        "content-type: text/plain\r\n"
                                        "x-multi: 1\r\n"
                                        "x-multi: 2\r\n"
                                        "content-length: 2\r\n"
                                        "\r\n");
    /* Round trip: parse it back and get the same map. */
    assert_true(wg_buf_append(&out, "hi", 2));
    run x;
    parse(&x, WG_HTTP_REQUEST, buf_text(&out), 0);
    assert_int_equal(x.result, WG_HTTP_OK);
    assert_non_null(strstr(log_text(&x.r), "BODY hi\nEND\n"));
    const wg_headers *back = &x.r.last_headers;
    wg_headers_remove(&h, "host", 4);
    assert_int_equal(back->count, h.count);
    for (uint32_t i = 0; i < h.count; i++) {
        assert_string_equal(back->items[i].name, h.items[i].name);
        assert_string_equal(back->items[i].value, h.items[i].value);
    }
    run_free(&x);

    /* Explicit method and target; Host fields kept without :authority. */
    wg_headers plain = {0};
    add(&plain, "Host", "h");
    wg_buf_clear(&out);
    assert_true(wg_http_write_request_head(&out, "GET", "/", &plain));
    assert_string_equal(buf_text(&out), "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    wg_headers_free(&plain);
    wg_headers_free(&h);
    wg_buf_free(&out);
}

static void test_write_rejects_injection(void **state)
{
    wg_buf out = {0};
    assert_true(wg_buf_append_str(&out, "kept"));
    struct {
        const char *name, *value;
    } bad[] = {
        {"x", "a\r\nInjected: yes"},
        {"x", "a\nb"},
        {"x", "a\rb"},
        {"x y", "v"},
        {"", "v"},
        {"x:", "v"},
        {"x", "nul\x01"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wg_headers h = {0};
        add(&h, bad[i].name, bad[i].value);
        assert_false(wg_http_write_request_head(&out, "GET", "/", &h));
        assert_false(wg_http_write_response_head(&out, 200, NULL, &h, 1));
        assert_false(wg_http_write_last_chunk(&out, &h));
        wg_headers_free(&h);
    }
    wg_headers h = {0};
    assert_false(wg_http_write_request_head(&out, "GET", "/a b", &h));
    assert_false(wg_http_write_request_head(&out, "GET", "", &h));
    assert_false(wg_http_write_request_head(&out, "G T", "/", &h));
    assert_false(wg_http_write_request_head(&out, NULL, "/", &h)); /* no :method */
    assert_false(wg_http_write_response_head(&out, 200, "OK\r\nX: y", &h, 1));
    assert_false(wg_http_write_response_head(&out, 99, NULL, &h, 1));
    assert_false(wg_http_write_response_head(&out, 0, NULL, &h, 1)); /* no :status */
    add(&h, ":status", "2000");
    assert_false(wg_http_write_response_head(&out, 0, NULL, &h, 1));
    assert_false(wg_http_write_response_head(&out, 200, NULL, &h, 2));
    wg_headers_free(&h);
    assert_string_equal(buf_text(&out), "kept"); /* never a partial write */
    wg_buf_free(&out);
}

static void test_write_response_and_chunks(void **state)
{
    wg_headers h = {0};
    add(&h, ":status", "404");
    add(&h, "content-type", "text/html");
    wg_buf out = {0};
    assert_true(wg_http_set_framing(&h, false, 0, true, NULL));
    assert_true(wg_http_write_response_head(&out, 0, NULL, &h, 1));
    assert_true(wg_http_write_chunk(&out, "hello ", 6));
    assert_true(wg_http_write_chunk(&out, "", 0)); /* nothing: it would end the body */
    char big[300];
    memset(big, 'z', sizeof(big));
    assert_true(wg_http_write_chunk(&out, big, sizeof(big)));
    wg_headers t = {0};
    add(&t, ":ignored", "x");
    add(&t, "x-sum", "7");
    assert_true(wg_http_write_last_chunk(&out, &t));
    const char *text = buf_text(&out);
    assert_int_equal(strncmp(text,
                             "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\n"
                             "transfer-encoding: chunked\r\n\r\n6\r\nhello \r\n12c\r\nzzz",
                             87),
                     0);
    assert_string_equal(text + out.len - 19, "zz\r\n0\r\nx-sum: 7\r\n\r\n");

    run x;
    parse(&x, WG_HTTP_RESPONSE, text, 1);
    assert_int_equal(x.result, WG_HTTP_OK);
    const char *log = log_text(&x.r);
    assert_non_null(strstr(log, "HEAD 404 [Not Found] v1.1 ka=1 body=chunked"));
    assert_non_null(strstr(log, "BODY hello zzzz"));
    assert_non_null(strstr(log, "zz\nTRAILERS\n  x-sum: 7\nEND\n"));
    run_free(&x);

    /* HTTP/1.0 and an explicit reason. */
    wg_buf_clear(&out);
    wg_headers_clear(&h);
    assert_true(wg_http_write_response_head(&out, 599, "Odd", &h, 0));
    assert_string_equal(buf_text(&out), "HTTP/1.0 599 Odd\r\n\r\n");
    wg_headers_free(&h);
    wg_headers_free(&t);
    wg_buf_free(&out);
}

static void test_framing(void **state)
{
    assert_int_equal(wg_http_choose_framing(true, false), WG_HTTP_FRAMING_LENGTH);
    assert_int_equal(wg_http_choose_framing(false, true), WG_HTTP_FRAMING_CHUNKED);
    assert_int_equal(wg_http_choose_framing(false, false), WG_HTTP_FRAMING_CLOSE);

    wg_headers h = {0};
    add(&h, "Content-Length", "1");
    add(&h, "Transfer-Encoding", "chunked");
    add(&h, "content-length", "2");
    wg_http_framing f = WG_HTTP_FRAMING_CLOSE;
    assert_true(wg_http_set_framing(&h, true, 18446744073709551615ull, false, &f));
    assert_int_equal(f, WG_HTTP_FRAMING_LENGTH);
    assert_int_equal(h.count, 1);
    assert_string_equal(h.items[0].value, "18446744073709551615");
    assert_true(wg_http_set_framing(&h, false, 0, true, &f));
    assert_int_equal(f, WG_HTTP_FRAMING_CHUNKED);
    assert_int_equal(h.count, 1);
    assert_string_equal(h.items[0].name, "transfer-encoding");
    assert_true(wg_http_set_framing(&h, false, 0, false, &f));
    assert_int_equal(f, WG_HTTP_FRAMING_CLOSE);
    assert_int_equal(h.count, 0);
    wg_headers_free(&h);
}

static void test_strip_hop_by_hop(void **state)
{
    wg_headers h = {0};
    add(&h, ":authority", "a");
    add(&h, "Connection", "X-Private, keep-alive, :authority");
    add(&h, "connection", "Upgrade,,connection");
    add(&h, "Keep-Alive", "timeout=5");
    add(&h, "Proxy-Connection", "keep-alive");
    add(&h, "TE", "trailers");
    add(&h, "Trailer", "x-sum");
    add(&h, "Transfer-Encoding", "chunked");
    add(&h, "Upgrade", "websocket");
    add(&h, "x-private", "secret");
    add(&h, "X-Public", "ok");
    assert_true(wg_http_strip_hop_by_hop(&h));
    assert_int_equal(h.count, 2);
    assert_string_equal(h.items[0].name, ":authority");
    assert_string_equal(h.items[1].name, "X-Public");
    wg_headers_free(&h);

    /* More names listed than the split keeps: the rest are found too. */
    wg_headers many = {0};
    add(&many, "Connection", "close, a1, a2, a3, a4, a5, a6, a7, a8, a9, A10");
    add(&many, "a1", "x");
    add(&many, "a9", "x");
    add(&many, "a10", "x");
    add(&many, "a11", "kept");
    assert_true(wg_http_strip_hop_by_hop(&many));
    assert_int_equal(many.count, 1);
    assert_string_equal(many.items[0].name, "a11");
    wg_headers_free(&many);

    /* Only letters match regardless of case: '@' and '`', '[' and '{'
     * differ by the case bit too, but are different characters. */
    wg_headers odd = {0};
    add(&odd, "Connection", "x@, Y[, \xc1");
    add(&odd, "X@", "listed");
    add(&odd, "y[", "listed");
    add(&odd, "x`", "kept");
    add(&odd, "y{", "kept");
    add(&odd, "\xe1", "kept");
    add(&odd, "\xc1", "listed");
    assert_true(wg_http_strip_hop_by_hop(&odd));
    assert_int_equal(odd.count, 3);
    assert_string_equal(odd.items[0].name, "x`");
    assert_string_equal(odd.items[1].name, "y{");
    assert_string_equal(odd.items[2].name, "\xe1");
    wg_headers_free(&odd);

    wg_headers t = {0};
    add(&t, "connection", "close");
    add(&t, "Connection", "Keep-Alive ,  Upgrade");
    assert_true(wg_http_header_has_token(&t, "connection", "close"));
    assert_true(wg_http_header_has_token(&t, "CONNECTION", "keep-alive"));
    assert_true(wg_http_header_has_token(&t, "connection", "upgrade"));
    assert_false(wg_http_header_has_token(&t, "connection", "keep"));
    assert_false(wg_http_header_has_token(&t, "upgrade", "close"));
    wg_headers_free(&t);
}

static void test_reasons_and_statuses(void **state)
{
    assert_string_equal(wg_http_reason(200), "OK");
    assert_string_equal(wg_http_reason(404), "Not Found");
    assert_string_equal(wg_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(wg_http_reason(503), "Service Unavailable");
    assert_string_equal(wg_http_reason(299), "");
    assert_string_equal(wg_http_reason(-1), "");
    assert_int_equal(wg_http_error_status(WG_HTTP_ERR_NONE), 0);
    assert_int_equal(wg_http_error_status(WG_HTTP_ERR_BAD_REQUEST), 400);
    assert_int_equal(wg_http_error_status(WG_HTTP_ERR_HEAD_TOO_LARGE), 431);
    assert_int_equal(wg_http_error_status(WG_HTTP_ERR_URI_TOO_LONG), 414);
    assert_int_equal(wg_http_error_status(WG_HTTP_ERR_NOT_IMPLEMENTED), 501);
    assert_int_equal(wg_http_error_status(WG_HTTP_ERR_VERSION), 505);
    assert_int_equal(wg_http_error_status(WG_HTTP_ERR_NO_MEMORY), 500);
}

/* Parse, convert to the Proxy-Wasm view, strip hop-by-hop fields, write
 * for upstream, parse again: same request. */
static void test_proxy_round_trip(void **state)
{
    run x;
    parse(&x, WG_HTTP_REQUEST,
          "GET http://origin:81/p?q HTTP/1.1\r\nHost: origin:81\r\nConnection: keep-alive, "
          "x-hop\r\nX-Hop: 1\r\nAccept: */*\r\n\r\n",
          0);
    assert_int_equal(x.result, WG_HTTP_OK);
    wg_headers map = {0};
    assert_true(wg_headers_copy(&map, &x.r.last_headers));
    assert_true(wg_http_strip_hop_by_hop(&map));
    wg_buf out = {0};
    assert_true(wg_http_write_request_head(&out, NULL, NULL, &map));
    assert_string_equal(buf_text(&out),
                        "GET /p?q HTTP/1.1\r\nhost: origin:81\r\naccept: */*\r\n\r\n");
    run y;
    parse(&y, WG_HTTP_REQUEST, buf_text(&out), 0);
    assert_int_equal(y.result, WG_HTTP_OK);
    assert_int_equal(y.r.last_headers.count, map.count);
    for (uint32_t i = 0; i < map.count; i++) {
        assert_string_equal(y.r.last_headers.items[i].name, map.items[i].name);
        assert_string_equal(y.r.last_headers.items[i].value, map.items[i].value);
    }
    run_free(&y);
    run_free(&x);
    wg_headers_free(&map);
    wg_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelined_any_split),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_host_characters),
        cmocka_unit_test(test_upgrade_request),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_error_position),
        cmocka_unit_test(test_head_size_limit),
        cmocka_unit_test(test_header_count_limit),
        cmocka_unit_test(test_url_and_chunk_limits),
        cmocka_unit_test(test_response_basic),
        cmocka_unit_test(test_response_continue),
        cmocka_unit_test(test_response_without_body),
        cmocka_unit_test(test_response_until_close),
        cmocka_unit_test(test_response_upgrade),
        cmocka_unit_test(test_parser_reset),
        cmocka_unit_test(test_pause_after_message),
        cmocka_unit_test(test_pause_in_head),
        cmocka_unit_test(test_write_request_head),
        cmocka_unit_test(test_write_rejects_injection),
        cmocka_unit_test(test_write_response_and_chunks),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_strip_hop_by_hop),
        cmocka_unit_test(test_reasons_and_statuses),
        cmocka_unit_test(test_proxy_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
