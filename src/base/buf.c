#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small first allocation: most buffers hold a header value or a short
 * body chunk, and doubling from here reaches any size in few steps. */
#define BUF_MIN_CAP 64

void wg_buf_init(wg_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void wg_buf_free(wg_buf *b)
{
    free(b->data);
    wg_buf_init(b);
}

void wg_buf_clear(wg_buf *b)
{
    b->len = 0;
}

void wg_buf_keep(wg_buf *spare, wg_buf *used, size_t max_cap)
{
    if (used->cap > spare->cap && used->cap <= max_cap) {
        wg_buf_free(spare);
        *spare = *used;
        spare->len = 0;
        wg_buf_init(used);
        return;
    }
    wg_buf_free(used);
}

wg_buf wg_buf_take(wg_buf *spare)
{
    wg_buf b = *spare;
    b.len = 0;
    wg_buf_init(spare);
    return b;
}

bool wg_buf_reserve(wg_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return false;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}

/* Whether p points into b's allocation. Compared as integers: relational
 * comparison of pointers into different objects is undefined in C. */
static bool points_into(const wg_buf *b, const void *p)
{
    if (!b->data || !p)
        return false;
    uintptr_t start = (uintptr_t)b->data, q = (uintptr_t)p;
    return q >= start && q - start < b->cap;
}

bool wg_buf_replace(wg_buf *b, size_t start, size_t count, const void *data, size_t n)
{
    if (start > b->len)
        start = b->len;
    if (count > b->len - start)
        count = b->len - start;

    if (n > 0 && points_into(b, data)) {
        /* Growing may move the memory and the splice moves bytes around
         * underneath the source: work from a private copy. */
        void *copy = malloc(n);
        if (!copy)
            return false;
        memcpy(copy, data, n);
        bool ok = wg_buf_replace(b, start, count, copy, n);
        free(copy);
        return ok;
    }

    if (n > count && !wg_buf_reserve(b, n - count))
        return false;
    size_t tail = b->len - start - count;
    if (n != count && tail > 0)
        memmove(b->data + start + n, b->data + start + count, tail);
    if (n > 0)
        memcpy(b->data + start, data, n);
    b->len = b->len - count + n;
    return true;
}

bool wg_buf_append(wg_buf *b, const void *data, size_t n)
{
    /* The common case, kept short: parsers append byte runs all the time. */
    if (n == 0)
        return true;
    if (points_into(b, data))
        return wg_buf_replace(b, b->len, 0, data, n);
    if (b->cap - b->len < n && !wg_buf_reserve(b, n))
        return false;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return true;
}

bool wg_buf_append_str(wg_buf *b, const char *s)
{
    return wg_buf_replace(b, b->len, 0, s, strlen(s));
}

bool wg_buf_prepend(wg_buf *b, const void *data, size_t n)
{
    return wg_buf_replace(b, 0, 0, data, n);
}

bool wg_buf_set(wg_buf *b, const void *data, size_t n)
{
    return wg_buf_replace(b, 0, b->len, data, n);
}

void wg_buf_drain(wg_buf *b, size_t n)
{
    /* Shrinking never allocates, so this cannot fail. */
    (void)wg_buf_replace(b, 0, n, NULL, 0);
}

bool wg_buf_vappendf(wg_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);

    /* First try the spare capacity: most formatted pieces are short. */
    size_t avail = b->cap - b->len;
    int n = vsnprintf(avail ? (char *)b->data + b->len : NULL, avail, fmt, ap);
    if (n < 0) {
        va_end(again);
        return false;
    }
    if ((size_t)n < avail) {
        va_end(again);
        b->len += (size_t)n;
        return true;
    }
    /* vsnprintf writes a terminating NUL: room for it too. */
    if (!wg_buf_reserve(b, (size_t)n + 1)) {
        va_end(again);
        return false;
    }
    int m = vsnprintf((char *)b->data + b->len, b->cap - b->len, fmt, again);
    va_end(again);
    if (m != n)
        return false;
    b->len += (size_t)n;
    return true;
}

bool wg_buf_appendf(wg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = wg_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return ok;
}

size_t wg_fmt_u64(char *out, uint64_t v)
{
    char tmp[WG_U64_DIGITS];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

size_t wg_str_copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}
