/*
 * chunked.c - the chunked transfer coding (RFC 9112 7.1), decoded
 * strictly: hex sizes without overflow and within limits.max_chunk_size,
 * CRLF (nothing else) after each size line and each chunk's data, chunk
 * extensions checked for characters and dropped, trailers checked by the
 * same scanner as heads.
 *
 *   chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk = 1*("0") [ chunk-ext ] CRLF
 *   trailer-section CRLF
 */
#include "http/internal.h"

enum {
    C_SIZE_START, /* first hex digit */
    C_SIZE,       /* more hex digits, or what follows them */
    C_BWS,        /* whitespace after the size: only before ';' */
    C_EXT,        /* chunk extensions, up to CR */
    C_SIZE_LF,
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_TRAILERS,
};

void wg_http_chunked_start(wg_http_parser *p)
{
    p->chunk_state = C_SIZE_START;
    p->chunk_line = 0;
    p->remaining = 0;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* remaining = remaining * 16 + v, within limits.max_chunk_size. */
static bool add_hex_digit(wg_http_parser *p, int v)
{
    uint64_t max = p->limits.max_chunk_size;
    if (p->remaining > (max >> 4))
        return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "chunk size too large");
    uint64_t t = p->remaining << 4;
    if ((uint64_t)v > max - t)
        return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "chunk size too large");
    p->remaining = t + (uint64_t)v;
    return true;
}

/* One byte of a chunk-size line, or of the CRLF after chunk data. */
static bool line_byte(wg_http_parser *p, uint8_t c)
{
    const char *bad_crlf = "chunk data not followed by CRLF";
    switch (p->chunk_state) {
    case C_SIZE_START:
        if (hex_value(c) < 0)
            return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid chunk size");
        p->chunk_state = C_SIZE;
        return add_hex_digit(p, hex_value(c));
    case C_SIZE:
        if (hex_value(c) >= 0)
            return add_hex_digit(p, hex_value(c));
        if (c == ';')
            p->chunk_state = C_EXT;
        else if (c == ' ' || c == '\t')
            p->chunk_state = C_BWS;
        else if (c == '\r')
            p->chunk_state = C_SIZE_LF;
        else
            return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid chunk size");
        return true;
    case C_BWS:
        if (c == ';')
            p->chunk_state = C_EXT;
        else if (c != ' ' && c != '\t')
            return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid chunk size");
        return true;
    case C_EXT:
        if (c == '\r')
            p->chunk_state = C_SIZE_LF;
        else if (!wg_http_is_field_char(c))
            return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "invalid character in chunk extension");
        return true;
    case C_SIZE_LF:
        if (c != '\n')
            return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "bare CR: CR not followed by LF");
        p->chunk_line = 0;
        if (p->remaining > 0) {
            p->chunk_state = C_DATA;
        } else {
            p->chunk_state = C_TRAILERS;
            wg_http_scan_start(&p->scan, WG_HTTP_SCAN_TRAILERS);
            wg_buf_clear(&p->section);
        }
        return true;
    case C_DATA_CR:
        if (c != '\r')
            return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, bad_crlf);
        p->chunk_state = C_DATA_LF;
        return true;
    case C_DATA_LF:
        if (c != '\n')
            return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, bad_crlf);
        p->chunk_state = C_SIZE_START;
        return true;
    default:
        return wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "internal error: bad chunk state");
    }
}

static size_t data_step(wg_http_parser *p, const uint8_t *data, size_t len)
{
    size_t n = p->remaining < len ? (size_t)p->remaining : len;
    p->remaining -= n;
    if (p->remaining == 0)
        p->chunk_state = C_DATA_CR;
    if (p->cb.on_body)
        p->cb.on_body(p->ctx, data, n);
    return n;
}

static size_t trailers_step(wg_http_parser *p, const uint8_t *data, size_t len)
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
    wg_headers_clear(&p->trailers);
    bool ok = wg_http_split_fields(p->section.data, p->section.len, &p->trailers);
    wg_buf_clear(&p->section);
    if (!ok) {
        wg_http_fail(p, WG_HTTP_ERR_NO_MEMORY, "out of memory");
        return used;
    }
    wg_http_body_done(p);
    if (p->trailers.count > 0 && p->cb.on_trailers)
        p->cb.on_trailers(p->ctx, &p->trailers);
    return used;
}

size_t wg_http_chunked_step(wg_http_parser *p, const uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (p->chunk_state == C_DATA)
            return i + data_step(p, data + i, len - i);
        if (p->chunk_state == C_TRAILERS)
            return i + trailers_step(p, data + i, len - i);
        bool in_size_line = p->chunk_state <= C_EXT;
        if (in_size_line && ++p->chunk_line > WG_HTTP_MAX_CHUNK_LINE) {
            wg_http_fail(p, WG_HTTP_ERR_BAD_REQUEST, "chunk-size line too long");
            return i;
        }
        if (!line_byte(p, data[i]))
            return i;
        i++;
    }
    return i;
}
