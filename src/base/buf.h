/*
 * buf.h - a growable byte buffer.
 *
 * A zeroed wg_buf (or one passed to wg_buf_init) is a valid empty buffer;
 * nothing is allocated until bytes are added. data[0..len) are the bytes,
 * cap is the allocated size. The contents are not NUL-terminated.
 *
 * Functions that can grow the buffer return false on allocation failure or
 * when the size would overflow size_t, and then leave the buffer unchanged.
 * Limiting how large a buffer may become is the caller's business.
 *
 * Source pointers may point into the buffer itself (e.g. appending part of
 * the buffer to itself): such calls work on a copy of the source.
 */
#ifndef WG_BASE_BUF_H
#define WG_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wg_buf {
    uint8_t *data;
    size_t len, cap;
} wg_buf;

void wg_buf_init(wg_buf *b);

/* Releases the memory; the buffer is empty and valid again afterwards. */
void wg_buf_free(wg_buf *b);

/* Empties the buffer but keeps its memory for reuse. */
void wg_buf_clear(wg_buf *b);

/* Buffer recycling, for objects that build and send a buffer per message
 * (a connection's heads): wg_buf_keep keeps the larger of `spare`'s and
 * `used`'s memory (emptied) in `spare`, as long as it is at most max_cap
 * bytes, and frees the other; `used` is empty afterwards either way.
 * wg_buf_take moves spare's memory (or nothing) out into an empty buffer. */
void wg_buf_keep(wg_buf *spare, wg_buf *used, size_t max_cap);
wg_buf wg_buf_take(wg_buf *spare);

/* Makes room for at least `extra` more bytes beyond len, so that the next
 * appends of up to `extra` bytes do not allocate. */
bool wg_buf_reserve(wg_buf *b, size_t extra);

/* `data` may be NULL when n is 0. */
bool wg_buf_append(wg_buf *b, const void *data, size_t n);
bool wg_buf_append_str(wg_buf *b, const char *s);
bool wg_buf_prepend(wg_buf *b, const void *data, size_t n);

/* Replaces the whole content. */
bool wg_buf_set(wg_buf *b, const void *data, size_t n);

/* Removes the first n bytes (all of them if n >= len). Moves the rest, so it
 * costs O(len): fine for headers and body chunks, not for a FIFO of
 * many small reads. */
void wg_buf_drain(wg_buf *b, size_t n);

/* The general splice: removes `count` bytes at `start` and inserts
 * data[0..n) there. start is clamped to len and count to what follows
 * start, so (len, 0) appends and (0, len) replaces everything. */
bool wg_buf_replace(wg_buf *b, size_t start, size_t count, const void *data, size_t n);

/* printf-style append. The arguments must not point into b. On failure
 * (allocation or an encoding error reported by vsnprintf) len is
 * unchanged. */
bool wg_buf_appendf(wg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool wg_buf_vappendf(wg_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* For the per-request path, where snprintf's generality costs hundreds of
 * instructions a call: */
/* v in decimal into out (at least WG_U64_DIGITS + 1 bytes), NUL-terminated;
 * returns the number of digits. */
#define WG_U64_DIGITS 20
size_t wg_fmt_u64(char *out, uint64_t v);
/* Copies the C string src into dst of `size` bytes (> 0), truncated to
 * fit, always NUL-terminated; returns the length copied. */
size_t wg_str_copy(char *dst, size_t size, const char *src);

#endif /* WG_BASE_BUF_H */
