/*
 * convert.c - between HTTP/1.1 heads and the Proxy-Wasm view of them
 * (pseudo-headers first, Host as :authority), and the removal of
 * hop-by-hop fields before forwarding.
 */
#include "http/internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool add(wg_headers *h, const char *name, const char *value, size_t vlen)
{
    return wg_headers_add(h, name, strlen(name), value, vlen);
}

bool wg_http_head_to_headers(const wg_http_head *head, wg_headers *out)
{
    wg_headers tmp = {0};
    bool ok = true;
    if (head->is_request) {
        ok = add(&tmp, ":method", head->method, strlen(head->method)) &&
             add(&tmp, ":path", head->path, head->path_len) &&
             add(&tmp, ":authority", head->authority, head->authority_len) &&
             add(&tmp, ":scheme", "http", 4);
    } else {
        char status[WG_U64_DIGITS + 1];
        size_t n = wg_fmt_u64(status, head->status > 0 ? (uint64_t)head->status : 0);
        ok = add(&tmp, ":status", status, n);
    }
    for (uint32_t i = 0; ok && i < head->headers.count; i++) {
        const wg_header *e = &head->headers.items[i];
        if (head->is_request && wg_http_eq_nocase(e->name, e->name_len, "host"))
            continue; /* it is :authority */
        ok = wg_headers_add(&tmp, e->name, e->name_len, e->value, e->value_len);
    }
    if (!ok) {
        wg_headers_free(&tmp);
        return false;
    }
    wg_headers_free(out);
    *out = tmp;
    return true;
}

bool wg_http_parser_take_headers(wg_http_parser *p, wg_headers *out)
{
    wg_http_head *head = &p->head;
    wg_headers *h = &head->headers;
    uint32_t before = h->count;
    bool ok;
    if (head->is_request) {
        /* In reverse, each one going before the others. :authority is
         * copied before Host goes (it may point into Host's value). */
        ok = wg_headers_prepend(h, ":scheme", 7, "http", 4) &&
             wg_headers_prepend(h, ":authority", 10, head->authority, head->authority_len) &&
             wg_headers_prepend(h, ":path", 5, head->path, head->path_len) &&
             wg_headers_prepend(h, ":method", 7, head->method, strlen(head->method));
    } else {
        char status[WG_U64_DIGITS + 1];
        size_t n = wg_fmt_u64(status, head->status > 0 ? (uint64_t)head->status : 0);
        ok = wg_headers_prepend(h, ":status", 7, status, n);
    }
    if (!ok) {
        /* Take back what was put in front. */
        uint32_t added = h->count - before;
        for (uint32_t i = 0; i < added; i++)
            h->bytes -= (size_t)h->items[i].name_len + h->items[i].value_len;
        memmove(h->items, h->items + added, (size_t)before * sizeof *h->items);
        h->count = before;
        return false;
    }
    if (head->is_request)
        wg_headers_remove(h, "host", 4); /* it is :authority (names are lower-cased) */
    /* Every field passed the strict scanner: token names, field values. */
    wg_headers_mark_checked(h);
    wg_headers_free(out);
    *out = *h;
    wg_headers_init(h);
    return true;
}

static bool same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    return wg_http_same_nocase(a, alen, b, blen);
}

static bool is_named(const wg_header *e, const char *name, size_t len)
{
    return same_name(e->name, e->name_len, name, len);
}

/* The fixed hop-by-hop fields, by length first (this runs on every head). */
static bool is_hop_name(const char *n, size_t len)
{
    switch (len) {
    case 2: return same_name(n, len, "te", 2);
    case 7: return same_name(n, len, "trailer", 7) || same_name(n, len, "upgrade", 7);
    case 10: return same_name(n, len, "connection", 10) || same_name(n, len, "keep-alive", 10);
    case 16: return same_name(n, len, "proxy-connection", 16);
    case 17: return same_name(n, len, "transfer-encoding", 17);
    default: return false;
    }
}

typedef struct hop_ctx {
    const char *listed; /* the Connection field's values, or empty */
    size_t listed_len;
    /* It names a field beyond the fixed set ("keep-alive", "close" and
     * "upgrade", the usual values, do not): only then is it searched. */
    bool names_others;
} hop_ctx;

static bool drop_hop(const wg_header *e, void *ctx)
{
    if (is_hop_name(e->name, e->name_len))
        return true;
    const hop_ctx *hc = ctx;
    if (!hc->names_others || (e->name_len > 0 && e->name[0] == ':'))
        return false;
    size_t pos = 0, len = 0;
    const char *name = NULL;
    while (wg_http_list_next(hc->listed, hc->listed_len, &pos, &name, &len))
        if (is_named(e, name, len))
            return true;
    return false;
}

bool wg_http_strip_hop_by_hop(wg_headers *h)
{
    /* One pass removes the fixed set and the fields Connection names. The
     * usual single Connection field is read in place: removal moves
     * entries, never their strings, until the pass is over. Several are
     * joined into a copy first. */
    uint32_t nconn = 0;
    const wg_header *conn = NULL;
    for (uint32_t i = 0; i < h->count; i++) {
        if (is_named(&h->items[i], "connection", 10)) {
            nconn++;
            conn = &h->items[i];
        }
    }
    wg_buf joined = {0};
    hop_ctx ctx = {.listed = "", .listed_len = 0};
    if (nconn == 1) {
        ctx.listed = conn->value;
        ctx.listed_len = conn->value_len;
    } else if (nconn > 1) {
        if (wg_headers_get_joined(h, "connection", 10, &joined) < 0)
            return false;
        ctx.listed = (const char *)joined.data;
        ctx.listed_len = joined.len;
    }
    size_t pos = 0, len = 0;
    const char *name = NULL;
    while (!ctx.names_others && wg_http_list_next(ctx.listed, ctx.listed_len, &pos, &name, &len))
        ctx.names_others = !is_hop_name(name, len) && !same_name(name, len, "close", 5);
    wg_headers_remove_if(h, drop_hop, &ctx);
    wg_buf_free(&joined);
    return true;
}
