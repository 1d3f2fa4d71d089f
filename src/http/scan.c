/*
 * scan.c - the strict line discipline of head and trailer sections.
 *
 * Debian builds http_parser without HTTP_PARSER_STRICT, so on its own it
 * accepts a bare LF as a line ending, any byte after a CR, obs-fold,
 * spaces before the colon and tabs or 8-bit bytes in request targets.
 * Every byte of a section goes through this scanner first, one byte at a
 * time (so the verdict never depends on how the input was split), and
 * http_parser only ever sees a complete section that passed it. The
 * scanner also finds the end of the section and applies the size, field
 * count and target length limits.
 */
#include "http/internal.h"

#include <string.h>

enum {
    S_LEADING, /* before the start line: empty lines are skipped (RFC 9112 2.2) */
    S_LEADING_CR,
    S_START_LINE,
    S_START_LINE_CR,
    S_FIELD_START,
    S_NAME,
    S_VALUE,
    S_VALUE_CR,
    S_END_CR,
    S_END,
};

void wg_http_scan_start(wg_http_scan *s, int kind)
{
    memset(s, 0, sizeof(*s));
    s->kind = (uint8_t)kind;
    s->state = kind == WG_HTTP_SCAN_TRAILERS ? S_FIELD_START : S_LEADING;
}

bool wg_http_scan_started(const wg_http_scan *s)
{
    return s->state != S_LEADING && s->state != S_LEADING_CR;
}

static bool fail(wg_http_error *err, wg_http_error_kind kind, const char *message)
{
    err->kind = kind;
    err->message = message;
    return false;
}

/* request-line = method SP request-target SP HTTP-version, with single
 * spaces and visible ASCII only. */
static bool request_line_byte(wg_http_scan *s, const wg_http_limits *limits, uint8_t c,
                              wg_http_error *err)
{
    if (c == ' ') {
        if (s->last == 0 || s->last == ' ' || ++s->spaces > 2)
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "malformed request line");
    } else if (c < 0x21 || c > 0x7e) {
        return fail(err, WG_HTTP_ERR_BAD_REQUEST, "invalid character in request line");
    } else if (s->spaces == 0 && !wg_http_is_tchar(c)) {
        return fail(err, WG_HTTP_ERR_BAD_REQUEST, "invalid character in method");
    } else if (s->spaces == 1 && ++s->target_len > limits->max_url_len) {
        return fail(err, WG_HTTP_ERR_URI_TOO_LONG, "request target too long");
    }
    s->last = c;
    return true;
}

static bool start_line_byte(wg_http_scan *s, const wg_http_limits *limits, uint8_t c,
                            wg_http_error *err)
{
    if (c == '\r') {
        if (s->kind == WG_HTTP_SCAN_REQUEST && (s->spaces != 2 || s->last == ' '))
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "malformed request line");
        s->state = S_START_LINE_CR;
        return true;
    }
    if (c == '\n')
        return fail(err, WG_HTTP_ERR_BAD_REQUEST, "bare LF: lines must end with CRLF");
    if (s->kind == WG_HTTP_SCAN_REQUEST)
        return request_line_byte(s, limits, c, err);
    /* status-line: the reason phrase may hold HTAB, SP and obs-text. */
    if (!wg_http_is_field_char(c))
        return fail(err, WG_HTTP_ERR_BAD_REQUEST, "invalid character in status line");
    return true;
}

static bool field_byte(wg_http_scan *s, const wg_http_limits *limits, uint8_t c, wg_http_error *err)
{
    if (c == '\n' && s->state != S_VALUE_CR && s->state != S_END_CR)
        return fail(err, WG_HTTP_ERR_BAD_REQUEST, "bare LF: lines must end with CRLF");
    switch (s->state) {
    case S_FIELD_START:
        if (c == '\r')
            s->state = S_END_CR;
        else if (c == ' ' || c == '\t')
            return fail(err, WG_HTTP_ERR_BAD_REQUEST,
                        "obs-fold or whitespace at the start of a field line");
        else if (c == ':')
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "empty field name");
        else if (!wg_http_is_tchar(c))
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "invalid character in field name");
        else
            s->state = S_NAME;
        return true;
    case S_NAME:
        if (c == ':')
            s->state = S_VALUE;
        else if (c == ' ' || c == '\t')
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "whitespace between field name and colon");
        else if (c == '\r')
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "field line without a colon");
        else if (!wg_http_is_tchar(c))
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "invalid character in field name");
        return true;
    case S_VALUE:
        if (c == '\r')
            s->state = S_VALUE_CR;
        else if (!wg_http_is_field_char(c))
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "invalid character in field value");
        return true;
    case S_VALUE_CR:
        if (c != '\n')
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "bare CR: CR not followed by LF");
        if (++s->fields > limits->max_headers)
            return fail(err, WG_HTTP_ERR_HEAD_TOO_LARGE, "too many header fields");
        s->state = S_FIELD_START;
        return true;
    case S_END_CR:
        if (c != '\n')
            return fail(err, WG_HTTP_ERR_BAD_REQUEST, "bare CR: CR not followed by LF");
        s->state = S_END;
        return true;
    default:
        return fail(err, WG_HTTP_ERR_BAD_REQUEST, "internal error: bad scanner state");
    }
}

/* Where data[i..len) stops being a run of bytes that leave the state as it
 * is and pass its check, within the section size limit: such runs (names,
 * values, request targets, reason phrases; most of a head) are taken in a
 * tight loop. The verdict is the same as byte by byte: the first byte
 * that ends a run, or would exceed a limit, goes through the full path. */
static size_t run_end(const wg_http_scan *s, const wg_http_limits *limits, const uint8_t *data,
                      size_t i, size_t len)
{
    size_t room = limits->max_head_size > s->bytes ? limits->max_head_size - s->bytes : 0;
    size_t end = len - i < room ? len : i + room;
    size_t k = i;
    switch (s->state) {
    case S_NAME:
        while (k < end && wg_http_is_tchar(data[k]))
            k++;
        break;
    case S_VALUE:
        while (k < end && wg_http_is_field_char(data[k]) && data[k] != '\r')
            k++;
        break;
    case S_START_LINE:
        if (s->kind != WG_HTTP_SCAN_REQUEST) {
            while (k < end && wg_http_is_field_char(data[k]) && data[k] != '\r')
                k++;
        } else if (s->spaces == 1 && s->last != ' ') {
            /* The request target: visible ASCII, counted against its limit. */
            size_t left = limits->max_url_len > s->target_len ? limits->max_url_len - s->target_len
                                                               : 0;
            if (end - i > left)
                end = i + left;
            while (k < end && data[k] >= 0x21 && data[k] <= 0x7e)
                k++;
        }
        break;
    default:
        break;
    }
    return k;
}

/* A whole field line at data[i..len) taken at once, when it is all there
 * and valid (name ":" value CRLF, within the size and field-count
 * limits): returns its length. 0 leaves the line to the byte-at-a-time
 * path, which then reports whatever is wrong at the byte where it is. */
static size_t field_line(const wg_http_scan *s, const wg_http_limits *limits, const uint8_t *data,
                         size_t i, size_t len)
{
    size_t k = i;
    while (k < len && wg_http_is_tchar(data[k]))
        k++;
    if (k == i || k >= len || data[k] != ':')
        return 0;
    k++;
    while (k < len && wg_http_is_field_char(data[k]) && data[k] != '\r')
        k++;
    if (k + 1 >= len || data[k] != '\r' || data[k + 1] != '\n')
        return 0;
    k += 2;
    if (s->bytes + (k - i) > limits->max_head_size || s->fields + 1 > limits->max_headers)
        return 0;
    return k - i;
}

int wg_http_scan_feed(wg_http_scan *s, const wg_http_limits *limits, const uint8_t *data,
                      size_t len, size_t *used, wg_http_error *err)
{
    size_t i = 0;
    for (; i < len && s->state != S_END; i++) {
        if (s->state == S_FIELD_START) {
            size_t n = field_line(s, limits, data, i, len);
            if (n > 0) {
                s->bytes += n;
                s->fields++;
                i += n - 1; /* the loop's i++ takes the last byte */
                continue;
            }
        }
        size_t k = run_end(s, limits, data, i, len);
        if (k > i) {
            s->bytes += k - i;
            if (s->state == S_START_LINE && s->kind == WG_HTTP_SCAN_REQUEST) {
                s->target_len += k - i;
                s->last = data[k - 1];
            }
            i = k;
            if (i == len)
                break;
        }
        uint8_t c = data[i];
        bool ok = true;
        if (++s->bytes > limits->max_head_size) {
            ok = fail(err, WG_HTTP_ERR_HEAD_TOO_LARGE,
                      s->kind == WG_HTTP_SCAN_TRAILERS ? "trailer section too large"
                                                       : "header section too large");
        } else if (s->state == S_LEADING || s->state == S_LEADING_CR) {
            if (s->state == S_LEADING_CR) {
                if (c == '\n')
                    s->state = S_LEADING;
                else
                    ok = fail(err, WG_HTTP_ERR_BAD_REQUEST, "bare CR: CR not followed by LF");
            } else if (c == '\r') {
                s->state = S_LEADING_CR;
            } else if (c == '\n') {
                ok = fail(err, WG_HTTP_ERR_BAD_REQUEST, "bare LF: lines must end with CRLF");
            } else {
                s->state = S_START_LINE;
                ok = start_line_byte(s, limits, c, err);
            }
        } else if (s->state == S_START_LINE) {
            ok = start_line_byte(s, limits, c, err);
        } else if (s->state == S_START_LINE_CR) {
            if (c == '\n')
                s->state = S_FIELD_START;
            else
                ok = fail(err, WG_HTTP_ERR_BAD_REQUEST, "bare CR: CR not followed by LF");
        } else {
            ok = field_byte(s, limits, c, err);
        }
        if (!ok) {
            *used = i;
            return WG_HTTP_SCAN_FAILED;
        }
    }
    *used = i;
    return s->state == S_END ? WG_HTTP_SCAN_END : WG_HTTP_SCAN_MORE;
}

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

bool wg_http_split_fields(const uint8_t *data, size_t len, wg_headers *out)
{
    size_t i = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && data[eol] != '\r')
            eol++;
        if (eol == i)
            break; /* the blank line */
        const uint8_t *colon = memchr(data + i, ':', eol - i);
        if (colon) {
            size_t name_len = (size_t)(colon - (data + i));
            size_t v = name_len + 1 + i, vend = eol;
            while (v < vend && is_ows(data[v]))
                v++;
            while (vend > v && is_ows(data[vend - 1]))
                vend--;
            if (!wg_headers_add_lower(out, (const char *)data + i, name_len, (const char *)data + v,
                                      vend - v))
                return false;
        }
        i = eol + 2;
    }
    return true;
}
