/*
 * write.c - serialising heads, chunks and body framing.
 *
 * Header maps may come from plugins, so what is written is checked first:
 * a field name must be a token, a value must hold no control character
 * but HTAB (no CR or LF: no header injection), a method must be a token
 * and a request-target visible ASCII. Fields marked checked
 * (wg_header.checked: the parser's, validated by its scanner, and not
 * changed since) are not checked twice; Host, made from :authority, always
 * is. A failed write leaves the output as it was.
 */
#include "http/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const wg_header *pseudo(const wg_headers *h, const char *name)
{
    return h ? wg_headers_get(h, name, strlen(name)) : NULL;
}

static bool valid_target(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if ((uint8_t)s[i] < 0x21 || (uint8_t)s[i] > 0x7e)
            return false;
    }
    return true;
}

static bool append_field(wg_buf *out, const char *name, size_t nlen, const char *value, size_t vlen,
                         bool checked)
{
    if (!checked && (!wg_http_is_token(name, nlen) || !wg_http_is_field_value(value, vlen)))
        return false;
    if (!wg_buf_reserve(out, nlen + vlen + 4))
        return false;
    uint8_t *p = out->data + out->len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    out->len = (size_t)(p - out->data);
    return true;
}

/* Room for a head with h's fields, so that writing it allocates once. */
static bool reserve_head(wg_buf *out, const wg_headers *h, size_t start_line)
{
    size_t n = start_line + 2;
    for (uint32_t i = 0; h && i < h->count; i++)
        n += h->items[i].name_len + h->items[i].value_len + 4;
    return wg_buf_reserve(out, n);
}

/* The fields of h but pseudo-headers (and Host when skip_host). */
static bool append_fields(wg_buf *out, const wg_headers *h, bool skip_host)
{
    for (uint32_t i = 0; h && i < h->count; i++) {
        const wg_header *e = &h->items[i];
        if (e->name_len > 0 && e->name[0] == ':')
            continue;
        if (skip_host && wg_http_eq_nocase(e->name, e->name_len, "host"))
            continue;
        if (!append_field(out, e->name, e->name_len, e->value, e->value_len, e->checked))
            return false;
    }
    return true;
}

static bool finish(wg_buf *out, size_t start, bool ok)
{
    if (!ok)
        out->len = start;
    return ok;
}

bool wg_http_write_request_head(wg_buf *out, const char *method, const char *target,
                                const wg_headers *h)
{
    size_t start = out->len;
    const char *m = method, *t = target;
    size_t mlen = m ? strlen(m) : 0, tlen = t ? strlen(t) : 0;
    const wg_header *e = NULL;
    if (!m && (e = pseudo(h, ":method")) != NULL) {
        m = e->value;
        mlen = e->value_len;
    }
    if (!t && (e = pseudo(h, ":path")) != NULL) {
        t = e->value;
        tlen = e->value_len;
    }
    if (!m || !t || !wg_http_is_token(m, mlen) || !valid_target(t, tlen))
        return false;
    const wg_header *authority = pseudo(h, ":authority");
    if (!reserve_head(out, h, mlen + tlen + 16))
        return false;
    bool ok = wg_buf_append(out, m, mlen) && wg_buf_append(out, " ", 1) &&
              wg_buf_append(out, t, tlen) && wg_buf_append_str(out, " HTTP/1.1\r\n");
    /* Host first (RFC 9112 3.2). */
    if (ok && authority)
        ok = append_field(out, "host", 4, authority->value, authority->value_len, false);
    ok = ok && append_fields(out, h, authority != NULL) && wg_buf_append(out, "\r\n", 2);
    return finish(out, start, ok);
}

bool wg_http_write_response_head(wg_buf *out, int status, const char *reason, const wg_headers *h,
                                 unsigned version_minor)
{
    size_t start = out->len;
    if (status == 0) {
        const wg_header *e = pseudo(h, ":status");
        if (!e || e->value_len != 3)
            return false;
        for (int i = 0; i < 3; i++) {
            if (e->value[i] < '0' || e->value[i] > '9')
                return false;
            status = status * 10 + (e->value[i] - '0');
        }
    }
    if (status < 100 || status > 599 || version_minor > 1)
        return false;
    if (!reason)
        reason = wg_http_reason(status);
    if (!wg_http_is_field_value(reason, strlen(reason)))
        return false;
    if (!reserve_head(out, h, strlen(reason) + 16))
        return false;
    /* The status line by hand: it is written for every response. */
    char line[16] = "HTTP/1.x ddd ";
    line[7] = (char)('0' + version_minor);
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    bool ok = wg_buf_append(out, line, 13) && wg_buf_append_str(out, reason) &&
              wg_buf_append(out, "\r\n", 2) && append_fields(out, h, false) &&
              wg_buf_append(out, "\r\n", 2);
    return finish(out, start, ok);
}

/* Decimal or hexadecimal digits of v into buf (no NUL); returns the count. */
static size_t format_u64(char *buf, uint64_t v, unsigned base)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

bool wg_http_write_chunk(wg_buf *out, const void *data, size_t len)
{
    if (len == 0)
        return true;
    size_t start = out->len;
    char size[24];
    size_t n = format_u64(size, len, 16);
    size[n++] = '\r';
    size[n++] = '\n';
    bool ok = wg_buf_reserve(out, len + 24) && wg_buf_append(out, size, n) &&
              wg_buf_append(out, data, len) && wg_buf_append(out, "\r\n", 2);
    return finish(out, start, ok);
}

bool wg_http_write_last_chunk(wg_buf *out, const wg_headers *trailers)
{
    size_t start = out->len;
    bool ok = wg_buf_append(out, "0\r\n", 3) && append_fields(out, trailers, false) &&
              wg_buf_append(out, "\r\n", 2);
    return finish(out, start, ok);
}

wg_http_framing wg_http_choose_framing(bool length_known, bool peer_http11)
{
    if (length_known)
        return WG_HTTP_FRAMING_LENGTH;
    return peer_http11 ? WG_HTTP_FRAMING_CHUNKED : WG_HTTP_FRAMING_CLOSE;
}

bool wg_http_set_framing(wg_headers *h, bool length_known, uint64_t length, bool peer_http11,
                         wg_http_framing *framing)
{
    wg_http_framing f = wg_http_choose_framing(length_known, peer_http11);
    if (f == WG_HTTP_FRAMING_LENGTH) {
        char num[24];
        size_t n = format_u64(num, length, 10);
        if (!wg_headers_set_lower(h, "content-length", 14, num, n))
            return false;
        wg_headers_remove(h, "transfer-encoding", 17);
    } else if (f == WG_HTTP_FRAMING_CHUNKED) {
        if (!wg_headers_set_lower(h, "transfer-encoding", 17, "chunked", 7))
            return false;
        wg_headers_remove(h, "content-length", 14);
    } else {
        wg_headers_remove(h, "content-length", 14);
        wg_headers_remove(h, "transfer-encoding", 17);
    }
    if (framing)
        *framing = f;
    return true;
}
