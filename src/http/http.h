/*
 * http.h - the public header of the http layer: the HTTP/1.1 codec.
 *
 * Bytes to events (parsing) and messages to bytes (serialising). Nothing
 * here knows about sockets or event loops: the proxy feeds a parser
 * whatever it reads and writes whatever the writers append to a wg_buf,
 * so the codec is unit-testable and fuzzable on its own.
 *
 * Parsing
 *   One wg_http_parser per connection direction: WG_HTTP_REQUEST parses
 *   what a client sends, WG_HTTP_RESPONSE what an upstream answers. Feed
 *   it bytes as they arrive, split anywhere: the events are the same
 *   whatever the splits. Events, in order, for each message:
 *
 *     on_head              once; the head is valid during the call only
 *     on_body              zero or more times: decoded body bytes
 *                          (chunked framing removed), streamed, never
 *                          buffered whole
 *     on_trailers          at most once, chunked messages with trailers
 *     on_message_complete  once
 *
 *   Interim responses (1xx other than 101) produce on_head only; the final
 *   response to the same request follows with its own on_head.
 *
 *   The head (start line, header fields and trailer sections) is checked
 *   strictly before anything is delivered; see "Hostile input" below.
 *
 * Backpressure
 *   A callback may call wg_http_parser_pause(): the current feed returns
 *   WG_HTTP_PAUSED right after that event, with *consumed telling how far
 *   it got; the caller keeps the rest and feeds it again after
 *   wg_http_parser_resume(). An event may still be pending at that point
 *   (e.g. on_message_complete of a message without a body after a pause in
 *   its on_head): after resuming, always call feed, with no new bytes if
 *   there are none.
 *
 * Hostile input: every error stops the parser for good (the connection
 * must be closed after answering). Decisions, with their error kinds:
 *   - line endings are CRLF only: a bare LF or a bare CR anywhere in a
 *     head, a chunk-size line, after chunk data or in trailers: 400;
 *   - obs-fold (a field line starting with SP or HTAB): 400;
 *   - field names are tokens; whitespace between name and colon: 400;
 *   - field values: no control characters except HTAB (obs-text allowed);
 *   - request line: METHOD SP target SP version, single spaces, visible
 *     ASCII only (8-bit bytes in the target must be percent-encoded): 400;
 *     an unknown method: 501; HTTP versions other than 1.x: 505;
 *   - request targets: origin-form, absolute-form (http/https; userinfo
 *     rejected; its authority is used instead of Host), asterisk-form
 *     for OPTIONS only; fragments rejected; CONNECT: 501;
 *   - HTTP/1.1 requests need exactly one Host; HTTP/1.0 at most one;
 *     Host values must look like host[:port]: 400;
 *   - Content-Length must be 1*DIGIT without overflow; a second
 *     Content-Length field is rejected even when its value is identical
 *     (RFC 9110 8.6 allows rejecting; http_parser always does, and
 *     duplicates are a request-smuggling signal): 400;
 *   - Content-Length together with Transfer-Encoding: 400;
 *   - Transfer-Encoding must be exactly "chunked" (one coding, once):
 *     chunked not last, or repeated: 400; another coding (gzip, chunked;
 *     gzip): 501; Transfer-Encoding in an HTTP/1.0 message: 400;
 *   - chunk sizes: hex without overflow, at most limits.max_chunk_size;
 *     chunk extensions are checked for characters and ignored; a
 *     chunk-size line is at most 4 KiB: 400;
 *   - the head above limits.max_head_size, or more than
 *     limits.max_headers field lines: 431 (trailers: the same limits);
 *     a request-target longer than limits.max_url_len: 414.
 *   Responses are held to the same rules; the proxy answers 502 for any
 *   error of a response parser.
 *
 * Serialising
 *   Writers append to a wg_buf and check what they write: a name that is
 *   not a token or a value with CR, LF or another control character
 *   (which a plugin could set) makes them fail without writing anything.
 *   Header maps may be in the Proxy-Wasm form, with pseudo-headers
 *   (:method :path :authority :scheme :status) first: these never become
 *   header lines but give the start line and Host.
 */
#ifndef WASMGATE_HTTP_H
#define WASMGATE_HTTP_H

#include "base/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors -------------------------------------------------------------------- */

typedef enum wg_http_error_kind {
    WG_HTTP_ERR_NONE = 0,
    WG_HTTP_ERR_BAD_REQUEST,     /* 400: malformed or ambiguous message */
    WG_HTTP_ERR_HEAD_TOO_LARGE,  /* 431: head or trailers over the limits */
    WG_HTTP_ERR_URI_TOO_LONG,    /* 414 */
    WG_HTTP_ERR_NOT_IMPLEMENTED, /* 501: unknown method or transfer coding, CONNECT */
    WG_HTTP_ERR_VERSION,         /* 505: not HTTP/1.x */
    WG_HTTP_ERR_INCOMPLETE,      /* the connection closed in the middle of a message */
    WG_HTTP_ERR_NO_MEMORY,       /* 500 */
} wg_http_error_kind;

typedef struct wg_http_error {
    wg_http_error_kind kind;
    const char *message; /* static text, e.g. "bare LF in header section" */
} wg_http_error;

/* The status code to answer a client with for this kind (400, 431, 414,
 * 501, 505, 400, 500; 0 for WG_HTTP_ERR_NONE). */
int wg_http_error_status(wg_http_error_kind kind);

/* ---- limits ---------------------------------------------------------------------- */

#define WG_HTTP_DEFAULT_MAX_HEAD_SIZE (60u * 1024u)
/* http_parser's compiled-in limit; larger max_head_size values are
 * lowered to it. */
#define WG_HTTP_MAX_HEAD_SIZE_CAP (80u * 1024u)
#define WG_HTTP_DEFAULT_MAX_HEADERS 100u
#define WG_HTTP_DEFAULT_MAX_URL_LEN (16u * 1024u)
#define WG_HTTP_DEFAULT_MAX_CHUNK_SIZE (UINT64_C(1) << 32)

typedef struct wg_http_limits {
    size_t max_head_size;    /* bytes of a head (start line to blank line), or of trailers */
    uint32_t max_headers;    /* field lines in a head, or in trailers */
    size_t max_url_len;      /* bytes of a request-target */
    uint64_t max_chunk_size; /* largest chunk-size accepted */
} wg_http_limits;

/* Fills in the defaults above. */
void wg_http_limits_default(wg_http_limits *limits);

/* ---- parsed messages ----------------------------------------------------------------- */

typedef enum wg_http_body_kind {
    WG_HTTP_BODY_NONE,        /* nothing follows the head */
    WG_HTTP_BODY_LENGTH,      /* content_length bytes (possibly 0) */
    WG_HTTP_BODY_CHUNKED,     /* Transfer-Encoding: chunked */
    WG_HTTP_BODY_UNTIL_CLOSE, /* responses: the body ends when the connection does */
} wg_http_body_kind;

/*
 * A parsed head. Strings are NUL-terminated and, like the head itself,
 * valid during on_head only (copy what you keep).
 */
typedef struct wg_http_head {
    bool is_request;

    /* Requests. */
    const char *method; /* "GET", "POST", ... (a static string) */
    const char *target; /* the request-target as received */
    size_t target_len;
    const char *path; /* origin-form: the target; absolute-form: its path and
                         query ("/" when empty); asterisk-form: "*" */
    size_t path_len;
    const char *authority; /* absolute-form: its authority; else Host; else "" */
    size_t authority_len;

    /* Responses. */
    int status;
    const char *reason; /* reason phrase, possibly "" */
    size_t reason_len;

    unsigned version_major, version_minor;

    /* Every field line in order: names lower-cased, values without the
     * surrounding whitespace. */
    wg_headers headers;

    /* Whether the connection may carry another message after this one:
     * HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
     * "Connection: keep-alive"; never after a close-delimited body or an
     * upgrade. When false the parser stops after this message. */
    bool keep_alive;

    wg_http_body_kind body;
    bool has_body; /* body bytes may follow: LENGTH > 0, CHUNKED or UNTIL_CLOSE */

    /* The Content-Length field, when there is one (also when the message
     * has no body, e.g. a response to HEAD). */
    bool has_content_length;
    uint64_t content_length;

    bool expect_continue; /* HTTP/1.1 request with "Expect: 100-continue" */

    /* Requests: HTTP/1.1 with Upgrade and "Connection: upgrade" (the parser
     * goes on parsing HTTP after the message: pause it in
     * on_message_complete to switch protocols). Responses: 101, or 2xx to
     * CONNECT; the parser stops after the head and the bytes after it
     * belong to the new protocol. */
    bool upgrade;
} wg_http_head;

/* Every callback may be NULL. ctx is the pointer given to init. */
typedef struct wg_http_callbacks {
    void (*on_head)(void *ctx, const wg_http_head *head);
    void (*on_body)(void *ctx, const uint8_t *data, size_t len);
    void (*on_trailers)(void *ctx, const wg_headers *trailers); /* valid during the call */
    void (*on_message_complete)(void *ctx);
} wg_http_callbacks;

/* ---- the parser ----------------------------------------------------------------------- */

typedef enum wg_http_parser_type {
    WG_HTTP_REQUEST,
    WG_HTTP_RESPONSE,
} wg_http_parser_type;

typedef enum wg_http_result {
    WG_HTTP_OK,     /* every byte was consumed */
    WG_HTTP_PAUSED, /* paused by a callback (or before the call); keep the rest */
    WG_HTTP_DONE,   /* no further message on this connection (not keep-alive,
                       or upgraded): the bytes after it are not consumed */
    WG_HTTP_ERROR,  /* see wg_http_parser_error(); the parser is dead */
} wg_http_result;

/* The line scanner's state (private). */
typedef struct wg_http_scan {
    uint8_t state, kind, spaces, last;
    uint32_t fields;
    size_t bytes, target_len;
} wg_http_scan;

/* Everything in here is private: use the functions below. */
typedef struct wg_http_parser {
    wg_http_parser_type type;
    wg_http_limits limits;
    wg_http_callbacks cb;
    void *ctx;
    uint8_t phase;
    bool paused;
    bool req_head, req_connect; /* responses: the method of the request */
    wg_http_error error;
    wg_http_scan scan;
    wg_buf section; /* the head or trailer section being collected */
    wg_http_head head;
    wg_buf target, path, authority, reason; /* the head's strings */
    wg_headers trailers;
    uint64_t remaining; /* bytes left in the body (LENGTH) or the chunk */
    uint8_t chunk_state;
    uint32_t chunk_line; /* bytes of the current chunk-size line */
} wg_http_parser;

/* limits: NULL, or any field 0, for the defaults. cb may be NULL. Never
 * fails; allocates nothing until fed. */
void wg_http_parser_init(wg_http_parser *p, wg_http_parser_type type, const wg_http_limits *limits,
                         const wg_http_callbacks *cb, void *ctx);
void wg_http_parser_free(wg_http_parser *p);
/* Back to the state of wg_http_parser_init (same type, limits, callbacks
 * and context) for a new message on a reused connection, keeping the
 * memory its buffers have grown: no allocation per request. Not from a
 * callback. */
void wg_http_parser_reset(wg_http_parser *p);

/* Parses data[0..len) (data may be NULL when len is 0), calling the
 * callbacks. *consumed (always <= len) is how many bytes were used: all of
 * them for WG_HTTP_OK; up to the event that paused for WG_HTTP_PAUSED; up
 * to the end of the last message for WG_HTTP_DONE; up to the offending
 * byte for WG_HTTP_ERROR. Must not be called from a callback. */
wg_http_result wg_http_parser_feed(wg_http_parser *p, const void *data, size_t len,
                                   size_t *consumed);

/* The peer closed the connection (EOF). Completes a close-delimited body
 * (on_message_complete); returns WG_HTTP_DONE then, or when nothing was
 * started since the last message (interim responses count as finished:
 * whether a final response is still owed is the caller's knowledge), and
 * WG_HTTP_ERROR (WG_HTTP_ERR_INCOMPLETE) when a message was cut short. */
wg_http_result wg_http_parser_finish(wg_http_parser *p);

/* Backpressure; see the top of this file. Pausing from outside a callback
 * makes the next feed return WG_HTTP_PAUSED without consuming anything. */
void wg_http_parser_pause(wg_http_parser *p);
void wg_http_parser_resume(wg_http_parser *p);

/* Response parsers: the method of the request the next responses answer
 * (HEAD: no body; CONNECT: a 2xx starts a tunnel). It stays in force until
 * set again, across interim responses; call it before feeding the
 * response, e.g. from on_message_complete of the previous one. */
void wg_http_parser_set_request_method(wg_http_parser *p, const char *method);

/* The error after WG_HTTP_ERROR (kind WG_HTTP_ERR_NONE otherwise). */
const wg_http_error *wg_http_parser_error(const wg_http_parser *p);

/* ---- header helpers ------------------------------------------------------------------ */

/* Whether any field `name` holds `token` in its comma-separated list
 * (ASCII case-insensitive, whitespace around elements ignored), e.g.
 * ("connection", "close"). */
bool wg_http_header_has_token(const wg_headers *h, const char *name, const char *token);

/* Removes the hop-by-hop fields: Connection, Keep-Alive, Proxy-Connection,
 * TE, Trailer, Transfer-Encoding, Upgrade, and every field named in
 * Connection (pseudo-headers excepted). False on allocation failure (h is
 * then unchanged). */
bool wg_http_strip_hop_by_hop(wg_headers *h);

/* Replaces out's content (out must be initialised) with the Proxy-Wasm
 * view of a parsed head: a request gives :method, :path, :authority and
 * :scheme ("http"), a response :status, first; then every header field in
 * order, except Host for requests (it is :authority). False on allocation
 * failure (out unchanged). */
bool wg_http_head_to_headers(const wg_http_head *head, wg_headers *out);

/* The same view of the head being delivered (call it during on_head), made
 * by moving the head's fields rather than copying them: out's content is
 * replaced and the head is left without fields. For the data plane, which
 * needs that view of every head it forwards. False on allocation failure
 * (out unchanged, the head intact). */
bool wg_http_parser_take_headers(wg_http_parser *p, wg_headers *out);

/* ---- serialising --------------------------------------------------------------------- */

/* The reason phrase of a status code ("Not Found"), "" when unknown. */
const char *wg_http_reason(int status);

/*
 * Appends "METHOD target HTTP/1.1", Host, the fields of h and the blank
 * line. method/target NULL: taken from :method/:path in h. Host: from
 * :authority when h has one (Host fields in h are then skipped), else the
 * Host fields of h. Pseudo-headers are never written. Fails (false, out
 * unchanged) on a missing or invalid method or target, an invalid field
 * (name not a token, value with a control character other than HTAB) or
 * allocation failure.
 */
bool wg_http_write_request_head(wg_buf *out, const char *method, const char *target,
                                const wg_headers *h);

/* Appends "HTTP/1.<version_minor> status reason", the fields of h and the
 * blank line. status 0: taken from :status in h. reason NULL: the standard
 * phrase. version_minor is 0 or 1. Fails like the request writer. */
bool wg_http_write_response_head(wg_buf *out, int status, const char *reason, const wg_headers *h,
                                 unsigned version_minor);

/* Appends one chunk (size line, data, CRLF). len 0 appends nothing: an
 * empty chunk would end the body. */
bool wg_http_write_chunk(wg_buf *out, const void *data, size_t len);

/* Appends the last chunk, the trailer fields (trailers may be NULL;
 * pseudo-headers are skipped) and the final CRLF. */
bool wg_http_write_last_chunk(wg_buf *out, const wg_headers *trailers);

typedef enum wg_http_framing {
    WG_HTTP_FRAMING_LENGTH,  /* Content-Length */
    WG_HTTP_FRAMING_CHUNKED, /* Transfer-Encoding: chunked */
    WG_HTTP_FRAMING_CLOSE,   /* neither: the body ends when the connection is
                                closed (responses only) */
} wg_http_framing;

/* How to frame an outgoing body: the length when known, else chunked for
 * an HTTP/1.1 peer, else close-delimited. */
wg_http_framing wg_http_choose_framing(bool length_known, bool peer_http11);

/* Chooses like wg_http_choose_framing and makes h say so: sets
 * content-length (LENGTH) or transfer-encoding: chunked (CHUNKED) and
 * removes the other (both for CLOSE). False on allocation failure (h
 * unchanged). *framing may be NULL. */
bool wg_http_set_framing(wg_headers *h, bool length_known, uint64_t length, bool peer_http11,
                         wg_http_framing *framing);

#endif /* WASMGATE_HTTP_H */
