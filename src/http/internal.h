/*
 * internal.h - what the files of the http layer share (private).
 *
 *   scan.c      strict line discipline of head and trailer sections
 *   head.c      a complete head -> wg_http_head, through http_parser
 *   validate.c  the head's semantics: Host, targets, framing, keep-alive
 *   chunked.c   the chunked body decoder
 *   parser.c    the parser object: phases, feeding, pausing, events
 *   tokens.c    character classes and comma-separated token lists
 *   convert.c   parsed head <-> Proxy-Wasm header map, hop-by-hop fields
 *   write.c     serialising heads, chunks and framing
 *   status.c    reason phrases and error statuses
 */
#ifndef WG_HTTP_INTERNAL_H
#define WG_HTTP_INTERNAL_H

#include "http/http.h"

/* Parser phases (wg_http_parser.phase). */
enum {
    WG_HTTP_PHASE_HEAD,        /* collecting a head */
    WG_HTTP_PHASE_LENGTH,      /* body of `remaining` bytes */
    WG_HTTP_PHASE_CHUNKED,     /* chunked body, see chunk_state */
    WG_HTTP_PHASE_UNTIL_CLOSE, /* body until finish() */
    WG_HTTP_PHASE_COMPLETE,    /* on_message_complete is due */
    WG_HTTP_PHASE_DONE,        /* no further message */
    WG_HTTP_PHASE_ERROR,
};

/* Largest chunk-size line (size and extensions, without CRLF). */
#define WG_HTTP_MAX_CHUNK_LINE 4096u

/* ---- parser.c ---- */

/* Records the error and kills the parser. Returns false, for
 * `return wg_http_fail(...)`. */
bool wg_http_fail(wg_http_parser *p, wg_http_error_kind kind, const char *message);

/* The body has ended: on_message_complete is due. */
void wg_http_body_done(wg_http_parser *p);

/* ---- scan.c ---- */

enum { WG_HTTP_SCAN_REQUEST, WG_HTTP_SCAN_RESPONSE, WG_HTTP_SCAN_TRAILERS };
enum { WG_HTTP_SCAN_MORE, WG_HTTP_SCAN_END, WG_HTTP_SCAN_FAILED };

void wg_http_scan_start(wg_http_scan *s, int kind);

/* Checks data[0..len) as the continuation of a section. Returns MORE
 * (*used == len), END (*used: up to and including the blank line's LF) or
 * FAILED (*used: the offending byte; *err set). */
int wg_http_scan_feed(wg_http_scan *s, const wg_http_limits *limits, const uint8_t *data,
                      size_t len, size_t *used, wg_http_error *err);

/* Whether the section has started (more than leading empty lines). */
bool wg_http_scan_started(const wg_http_scan *s);

/* Appends the field lines of a section that wg_http_scan_feed accepted
 * (trailers: no start line) to out, names lower-cased. */
bool wg_http_split_fields(const uint8_t *data, size_t len, wg_headers *out);

/* ---- head.c ---- */

/* Replaces b's content with s[0..n) followed by a NUL (b->len is n + 1). */
bool wg_http_set_text(wg_buf *b, const void *s, size_t n);

/* Parses p->section, a complete head that wg_http_scan_feed accepted, into
 * p->head (without the framing decisions). False: p failed. */
bool wg_http_parse_head(wg_http_parser *p);

/* ---- validate.c ---- */

/* Checks the semantics of p->head and fills in authority, path, framing,
 * keep-alive, expect_continue and upgrade. False: p failed. */
bool wg_http_check_head(wg_http_parser *p);

/* ---- chunked.c ---- */

void wg_http_chunked_start(wg_http_parser *p);

/* Consumes chunked framing and data; delivers at most one event. Returns
 * the bytes used. */
size_t wg_http_chunked_step(wg_http_parser *p, const uint8_t *data, size_t len);

/* ---- tokens.c ---- */

extern const uint8_t wg_http_tchar_table[256];
static inline bool wg_http_is_tchar(uint8_t c) { return wg_http_tchar_table[c] != 0; }
/* A field-value byte: HTAB, SP, VCHAR or obs-text. */
static inline bool wg_http_is_field_char(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}
bool wg_http_is_token(const char *s, size_t len);
bool wg_http_is_field_value(const char *s, size_t len);
/* ASCII case-insensitive equality of s[0..len) and the C string lit. */
bool wg_http_eq_nocase(const char *s, size_t len, const char *lit);
/* The same for two counted strings. Not strncasecmp: that depends on the
 * locale, stops at NUL bytes and costs a library call per name. Inline:
 * the usual answer, different lengths, then costs one compare. */
static inline bool wg_http_same_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        uint8_t x = (uint8_t)a[i], y = (uint8_t)b[i];
        if (x != y && (x | 0x20) != (y | 0x20))
            return false;
        if (x != y && ((x | 0x20) < 'a' || (x | 0x20) > 'z'))
            return false;
    }
    return true;
}

/* Iterates over the elements of a comma-separated list, skipping empty
 * ones and trimming SP/HTAB: *pos starts at 0; returns false at the end. */
bool wg_http_list_next(const char *s, size_t len, size_t *pos, const char **elem, size_t *elem_len);

#endif /* WG_HTTP_INTERNAL_H */
