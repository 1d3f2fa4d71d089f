/*
 * validate.c - the semantics of a parsed head (RFC 9110, RFC 9112): the
 * version, Host and the request-target's form, Content-Length and
 * Transfer-Encoding, and from them the message's framing, keep-alive,
 * Expect and Upgrade. The decisions are listed at the top of http.h.
 */
#include "http/internal.h"

#include <string.h>

static bool fail(wg_http_parser *p, wg_http_error_kind kind, const char *message)
{
    return wg_http_fail(p, kind, message);
}

/* The fields the checks below look at, found in one pass over the head
 * (names are lower-case: the parser stores them so). */
typedef struct fields {
    uint32_t hosts, lengths;
    const wg_header *host, *length; /* the first of each */
    bool transfer_encoding;
    bool expect_continue;
    bool upgrade;
    bool conn_close, conn_keep_alive, conn_upgrade; /* tokens of Connection */
} fields;

static bool is(const wg_header *e, const char *lower, size_t len)
{
    return e->name_len == len && memcmp(e->name, lower, len) == 0;
}

static void find_fields(const wg_headers *hs, fields *f)
{
    memset(f, 0, sizeof *f);
    for (uint32_t i = 0; i < hs->count; i++) {
        const wg_header *e = &hs->items[i];
        switch (e->name_len) {
        case 4:
            if (is(e, "host", 4) && f->hosts++ == 0)
                f->host = e;
            break;
        case 6:
            if (is(e, "expect", 6) && wg_http_eq_nocase(e->value, e->value_len, "100-continue"))
                f->expect_continue = true;
            break;
        case 7:
            if (is(e, "upgrade", 7))
                f->upgrade = true;
            break;
        case 10:
            if (is(e, "connection", 10)) {
                size_t pos = 0, len = 0;
                const char *t = NULL;
                while (wg_http_list_next(e->value, e->value_len, &pos, &t, &len)) {
                    f->conn_close |= wg_http_eq_nocase(t, len, "close");
                    f->conn_keep_alive |= wg_http_eq_nocase(t, len, "keep-alive");
                    f->conn_upgrade |= wg_http_eq_nocase(t, len, "upgrade");
                }
            }
            break;
        case 14:
            if (is(e, "content-length", 14) && f->lengths++ == 0)
                f->length = e;
            break;
        case 17:
            if (is(e, "transfer-encoding", 17))
                f->transfer_encoding = true;
            break;
        default:
            break;
        }
    }
}

/* host [ ":" port ] with reg-name, IPv4 or IP-literal hosts: unreserved,
 * pct-encoded and sub-delims characters, ':' and the brackets. */
static bool authority_char(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    /* A switch, not strchr: a bit test instead of a library call per
     * character of every request's authority. */
    switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '%':
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '[':
    case ']':
        return true;
    default:
        return false;
    }
}

static bool valid_authority(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!authority_char((uint8_t)s[i]))
            return false;
    }
    return true;
}

static bool set_path(wg_http_parser *p, const char *prefix, const char *s, size_t n)
{
    size_t plen = strlen(prefix);
    wg_buf_clear(&p->path);
    if (!wg_buf_reserve(&p->path, plen + n + 1) || !wg_buf_append(&p->path, prefix, plen) ||
        !wg_buf_append(&p->path, s, n) || !wg_buf_append(&p->path, "", 1))
        return fail(p, WG_HTTP_ERR_NO_MEMORY, "out of memory");
    p->head.path = (const char *)p->path.data;
    p->head.path_len = plen + n;
    return true;
}

static bool set_authority(wg_http_parser *p, const char *s, size_t n)
{
    if (!wg_http_set_text(&p->authority, s, n))
        return fail(p, WG_HTTP_ERR_NO_MEMORY, "out of memory");
    p->head.authority = (const char *)p->authority.data;
    p->head.authority_len = n;
    return true;
}

/* absolute-form: scheme "://" authority [ path-abempty ] [ "?" query ]. */
static bool absolute_form(wg_http_parser *p)
{
    const char *t = p->head.target;
    size_t len = p->head.target_len;
    const char *sep = len >= 3 ? strstr(t, "://") : NULL;
    if (!sep)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid request target");
    size_t scheme_len = (size_t)(sep - t);
    if (!wg_http_eq_nocase(t, scheme_len, "http") && !wg_http_eq_nocase(t, scheme_len, "https"))
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "request target scheme is not http or https");
    size_t start = scheme_len + 3, end = start;
    while (end < len && t[end] != '/' && t[end] != '?')
        end++;
    if (end == start)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "request target without authority");
    if (memchr(t + start, '@', end - start))
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "userinfo in request target");
    if (!valid_authority(t + start, end - start))
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid authority in request target");
    if (!set_authority(p, t + start, end - start))
        return false;
    /* An empty path is "/" (RFC 9112 3.2.1), also before a query. */
    return set_path(p, end == len || t[end] == '?' ? "/" : "", t + end, len - end);
}

static bool check_target_and_host(wg_http_parser *p, const fields *f, bool http11)
{
    wg_http_head *h = &p->head;
    if (f->hosts > 1)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "several Host fields");
    if (f->hosts == 0 && http11)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "missing Host field");
    const wg_header *host = f->host;
    if (host && !valid_authority(host->value, host->value_len))
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid Host field");

    if (memchr(h->target, '#', h->target_len))
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "fragment in request target");
    if (h->target[0] == '*') {
        if (h->target_len != 1 || strcmp(h->method, "OPTIONS") != 0)
            return fail(p, WG_HTTP_ERR_BAD_REQUEST, "asterisk-form target outside OPTIONS *");
    } else if (h->target[0] != '/') {
        /* Its authority replaces Host (RFC 9112 3.2.2). */
        return absolute_form(p);
    }
    if (!set_path(p, "", h->target, h->target_len))
        return false;
    return host ? set_authority(p, host->value, host->value_len) : set_authority(p, "", 0);
}

static bool check_content_length(wg_http_parser *p, const fields *f)
{
    wg_http_head *h = &p->head;
    if (f->lengths == 0)
        return true;
    if (f->lengths > 1) /* http_parser rejects this already */
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "several Content-Length fields");
    const wg_header *e = f->length;
    uint64_t v = 0;
    if (e->value_len == 0)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid Content-Length");
    for (uint32_t i = 0; i < e->value_len; i++) {
        char c = e->value[i];
        if (c < '0' || c > '9' || __builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(c - '0'), &v))
            return fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid Content-Length");
    }
    h->has_content_length = true;
    h->content_length = v;
    return true;
}

/* Only "Transfer-Encoding: chunked" is accepted. Sets *chunked when the
 * field is there. */
static bool check_transfer_encoding(wg_http_parser *p, const fields *f, bool http11,
                                    bool *chunked)
{
    const wg_headers *hs = &p->head.headers;
    *chunked = false;
    if (!f->transfer_encoding)
        return true;
    if (!http11)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "Transfer-Encoding in an HTTP/1.0 message");
    if (p->head.has_content_length) /* http_parser rejects this already */
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "both Content-Length and Transfer-Encoding");
    uint32_t codings = 0, chunks = 0;
    bool last_chunked = false;
    for (uint32_t i = 0; i < hs->count; i++) {
        const wg_header *e = &hs->items[i];
        if (!wg_http_eq_nocase(e->name, e->name_len, "transfer-encoding"))
            continue;
        size_t pos = 0, len = 0;
        const char *coding = NULL;
        while (wg_http_list_next(e->value, e->value_len, &pos, &coding, &len)) {
            last_chunked = wg_http_eq_nocase(coding, len, "chunked");
            codings++;
            chunks += last_chunked ? 1 : 0;
        }
    }
    if (!last_chunked)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "chunked is not the final transfer coding");
    if (chunks > 1)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "chunked transfer coding applied twice");
    if (codings > 1)
        return fail(p, WG_HTTP_ERR_NOT_IMPLEMENTED, "unsupported transfer coding");
    *chunked = true;
    return true;
}

static bool check_request(wg_http_parser *p, const fields *f, bool http11)
{
    wg_http_head *h = &p->head;
    if (strcmp(h->method, "CONNECT") == 0)
        return fail(p, WG_HTTP_ERR_NOT_IMPLEMENTED, "CONNECT is not supported");
    if (!check_target_and_host(p, f, http11))
        return false;
    bool chunked = false;
    if (!check_transfer_encoding(p, f, http11, &chunked))
        return false;
    /* A request without either has no body (RFC 9112 6.3). */
    if (chunked)
        h->body = WG_HTTP_BODY_CHUNKED;
    else if (h->has_content_length)
        h->body = WG_HTTP_BODY_LENGTH;
    h->expect_continue = http11 && f->expect_continue;
    h->upgrade = http11 && f->upgrade && f->conn_upgrade;
    return true;
}

static bool check_response(wg_http_parser *p, const fields *f, bool http11)
{
    wg_http_head *h = &p->head;
    if (h->status < 100 || h->status > 599)
        return fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid status code");
    if (h->status == 101 || (p->req_connect && h->status / 100 == 2)) {
        h->upgrade = true; /* the connection now carries another protocol */
        return true;
    }
    if (p->req_head || h->status / 100 == 1 || h->status == 204 || h->status == 304)
        return true; /* no body, whatever the fields say */
    bool chunked = false;
    if (!check_transfer_encoding(p, f, http11, &chunked))
        return false;
    if (chunked)
        h->body = WG_HTTP_BODY_CHUNKED;
    else if (h->has_content_length)
        h->body = WG_HTTP_BODY_LENGTH;
    else
        h->body = WG_HTTP_BODY_UNTIL_CLOSE;
    return true;
}

bool wg_http_check_head(wg_http_parser *p)
{
    wg_http_head *h = &p->head;
    /* HTTP/1.2 and later minors are handled as 1.1 (RFC 9110 2.5). */
    if (h->version_major != 1)
        return fail(p, WG_HTTP_ERR_VERSION, "unsupported HTTP version");
    bool http11 = h->version_minor >= 1;
    fields f;
    find_fields(&h->headers, &f);
    if (!check_content_length(p, &f))
        return false;
    bool ok = p->type == WG_HTTP_REQUEST ? check_request(p, &f, http11)
                                         : check_response(p, &f, http11);
    if (!ok)
        return false;

    h->has_body =
        h->body == WG_HTTP_BODY_LENGTH ? h->content_length > 0 : h->body != WG_HTTP_BODY_NONE;
    h->keep_alive = !f.conn_close && (http11 || f.conn_keep_alive);
    if (h->body == WG_HTTP_BODY_UNTIL_CLOSE || (!h->is_request && h->upgrade))
        h->keep_alive = false;
    return true;
}
