/*
 * head.c - turns a complete head into a wg_http_head with http_parser.
 *
 * The scanner (scan.c) has already checked every byte and found the end,
 * so http_parser runs once over the whole head: it parses the method, the
 * request-target's characters, the version, the status code, splits the
 * field lines, and checks Content-Length (digits, overflow, duplicates,
 * together with Transfer-Encoding). A fresh http_parser per head, on the
 * stack: body framing is ours (parser.c, chunked.c), so on_headers_complete
 * answers "no body" and http_parser's job ends with the head.
 */
#include "http/internal.h"

#include <http_parser.h>
#include <string.h>

typedef struct span {
    const char *at;
    size_t len;
} span;

typedef struct collector {
    wg_http_parser *p;
    span url, status, name, value;
    bool have_field; /* name/value hold a field not added yet */
    bool in_value;   /* the last callback was on_header_value */
    bool complete;   /* on_headers_complete was called */
    bool no_memory;
} collector;

bool wg_http_set_text(wg_buf *b, const void *s, size_t n)
{
    wg_buf_clear(b);
    return wg_buf_reserve(b, n + 1) && wg_buf_append(b, s, n) && wg_buf_append(b, "", 1);
}

/* http_parser hands over each string in pieces when it spans the end of
 * the input; ours is one buffer, so pieces are contiguous. */
static int extend(span *s, const char *at, size_t len)
{
    if (!s->at) {
        s->at = at;
        s->len = len;
        return 0;
    }
    if (s->at + s->len != at)
        return -1;
    s->len += len;
    return 0;
}

static int add_field(collector *c)
{
    if (!c->have_field)
        return 0;
    size_t vlen = c->value.len;
    /* http_parser skips leading whitespace but keeps trailing whitespace. */
    while (vlen > 0 && (c->value.at[vlen - 1] == ' ' || c->value.at[vlen - 1] == '\t'))
        vlen--;
    if (!wg_headers_add_lower(&c->p->head.headers, c->name.at, c->name.len, c->value.at, vlen)) {
        c->no_memory = true;
        return -1;
    }
    c->name = (span){0};
    c->value = (span){0};
    c->have_field = false;
    c->in_value = false;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    collector *c = hp->data;
    return extend(&c->url, at, len);
}

static int on_status(http_parser *hp, const char *at, size_t len)
{
    collector *c = hp->data;
    return extend(&c->status, at, len);
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    collector *c = hp->data;
    if (c->in_value && add_field(c) != 0)
        return -1;
    c->have_field = true;
    return extend(&c->name, at, len);
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    collector *c = hp->data;
    c->in_value = true;
    return extend(&c->value, at, len);
}

static int on_headers_complete(http_parser *hp)
{
    collector *c = hp->data;
    if (add_field(c) != 0)
        return -1;
    c->complete = true;
    return 1; /* "no body": the body is not http_parser's business */
}

static bool pending_is(const collector *c, const char *name)
{
    return c->have_field && wg_http_eq_nocase(c->name.at, c->name.len, name);
}

static bool fail_errno(wg_http_parser *p, const collector *c, enum http_errno e)
{
    const char *msg = http_errno_description(e);
    wg_http_error_kind kind = WG_HTTP_ERR_BAD_REQUEST;
    switch (e) {
    case HPE_INVALID_METHOD:
    case HPE_UNKNOWN: /* what a method that matches no known prefix gives */
        if (p->type == WG_HTTP_REQUEST && !c->url.at) {
            /* The scanner checked that it is a token. */
            kind = WG_HTTP_ERR_NOT_IMPLEMENTED;
            msg = "unknown method";
        }
        break;
    case HPE_INVALID_URL:
        msg = "invalid request target";
        break;
    case HPE_INVALID_VERSION:
    case HPE_INVALID_CONSTANT:
        msg = "malformed HTTP version";
        break;
    case HPE_INVALID_STATUS:
        msg = "invalid status code";
        break;
    case HPE_INVALID_CONTENT_LENGTH:
        msg = "invalid Content-Length";
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH: {
        uint32_t n = wg_headers_count(&p->head.headers, "content-length", 14);
        n += pending_is(c, "content-length") ? 1 : 0;
        msg = n > 1 ? "several Content-Length fields" : "both Content-Length and Transfer-Encoding";
        break;
    }
    case HPE_HEADER_OVERFLOW:
        kind = WG_HTTP_ERR_HEAD_TOO_LARGE;
        msg = "header section too large";
        break;
    default:
        break;
    }
    return wg_http_fail(p, kind, msg);
}

static void reset_head(wg_http_parser *p)
{
    wg_headers keep = p->head.headers;
    wg_headers_clear(&keep);
    memset(&p->head, 0, sizeof(p->head));
    p->head.headers = keep;
    p->head.is_request = p->type == WG_HTTP_REQUEST;
    p->head.method = p->head.target = p->head.path = p->head.authority = p->head.reason = "";
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Without HTTP_PARSER_STRICT, http_parser reads "HTTQ/1.1" as HTTP/1.1:
 * the version must be exactly "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3). */
static bool check_version_text(wg_http_parser *p)
{
    const uint8_t *d = p->section.data;
    size_t len = p->section.len, start = 0;
    while (start + 1 < len && d[start] == '\r' && d[start + 1] == '\n')
        start += 2; /* empty lines before the start line */
    const uint8_t *cr = memchr(d + start, '\r', len - start);
    size_t end = cr ? (size_t)(cr - d) : len, from = start, to = end;
    if (p->type == WG_HTTP_REQUEST) {
        from = end; /* after the last space */
        while (from > start && d[from - 1] != ' ')
            from--;
    } else {
        const uint8_t *sp = memchr(d + start, ' ', end - start);
        to = sp ? (size_t)(sp - d) : end;
    }
    const uint8_t *v = d + from;
    if (to - from != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' ||
        !is_digit(v[7]))
        return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "malformed HTTP version");
    return true;
}

bool wg_http_parse_head(wg_http_parser *p)
{
    reset_head(p);
    if (!check_version_text(p))
        return false;

    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_status = on_status;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;

    collector c = {.p = p};
    http_parser hp;
    http_parser_init(&hp, p->type == WG_HTTP_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE);
    hp.data = &c;
    const char *data = (const char *)p->section.data;
    size_t n = http_parser_execute(&hp, &settings, data, p->section.len);

    if (c.no_memory)
        return wg_http_fail(p, WG_HTTP_ERR_NO_MEMORY, "out of memory");
    if (HTTP_PARSER_ERRNO(&hp) != HPE_OK)
        return fail_errno(p, &c, HTTP_PARSER_ERRNO(&hp));
    if (!c.complete || n != p->section.len)
        return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "malformed message head");

    wg_http_head *h = &p->head;
    h->version_major = hp.http_major;
    h->version_minor = hp.http_minor;
    if (p->type == WG_HTTP_REQUEST) {
        h->method = http_method_str((enum http_method)hp.method);
        if (!wg_http_set_text(&p->target, c.url.at, c.url.len))
            return wg_http_fail(p, WG_HTTP_ERR_NO_MEMORY, "out of memory");
        h->target = (const char *)p->target.data;
        h->target_len = c.url.len;
    } else {
        h->status = (int)hp.status_code;
        if (!wg_http_set_text(&p->reason, c.status.at, c.status.len))
            return wg_http_fail(p, WG_HTTP_ERR_NO_MEMORY, "out of memory");
        h->reason = (const char *)p->reason.data;
        h->reason_len = c.status.len;
    }
    return true;
}
