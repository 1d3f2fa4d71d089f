#include "base/headers.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each entry's strings are one block "name\0value\0" (value points into
 * it), carved from chunks the map owns: adding an entry rarely allocates,
 * and clearing or freeing the map frees its few chunks.
 */

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* dst = src with ASCII upper case made lower, eight bytes at a time (every
 * field name of every head goes through here). For each byte b below 0x80,
 * (b + 0x3f) has its top bit set when b >= 'A' and (b + 0x25) when b > 'Z';
 * no sum carries into the next byte. Bytes from 0x80 up stay as they are. */
static void copy_lower(char *dst, const char *src, size_t n)
{
    const uint64_t high = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, src + i, 8);
        uint64_t low7 = x & ~high;
        uint64_t upper = (low7 + 0x3f3f3f3f3f3f3f3fu) & ~(low7 + 0x2525252525252525u) & ~x & high;
        x |= upper >> 2; /* 0x80 >> 2 = 0x20, the case bit */
        memcpy(dst + i, &x, 8);
    }
    if (n - i >= 4) { /* the same on four bytes: most names are short */
        uint32_t x;
        memcpy(&x, src + i, 4);
        uint32_t low7 = x & ~0x80808080u;
        uint32_t upper = (low7 + 0x3f3f3f3fu) & ~(low7 + 0x25252525u) & ~x & 0x80808080u;
        x |= upper >> 2;
        memcpy(dst + i, &x, 4);
        i += 4;
    }
    for (; i < n; i++)
        dst[i] = (char)ascii_lower((unsigned char)src[i]);
}

/* Not strncasecmp: that depends on the locale and stops at NUL bytes. */
static bool name_equal(const wg_header *e, const char *name, size_t nlen)
{
    if (e->name_len != nlen)
        return false;
    /* Fast paths: most candidates differ in the first byte, and most
     * matches are byte-for-byte (names are stored lower-case). */
    if (nlen == 0)
        return true;
    if (ascii_lower((unsigned char)e->name[0]) != ascii_lower((unsigned char)name[0]))
        return false;
    if (memcmp(e->name, name, nlen) == 0)
        return true;
    for (size_t i = 1; i < nlen; i++) {
        if (ascii_lower((unsigned char)e->name[i]) != ascii_lower((unsigned char)name[i]))
            return false;
    }
    return true;
}

struct wg_headers_chunk {
    struct wg_headers_chunk *next;
    size_t used, cap;
    char data[];
};

/* A first chunk of 1 KiB in all, so glibc's per-thread cache serves it. */
#define CHUNK_MIN (1024u - sizeof(struct wg_headers_chunk))

/* Space for n bytes that stays put until the map is cleared or freed. */
static char *alloc_in(wg_headers *h, size_t n)
{
    struct wg_headers_chunk *c = h->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : CHUNK_MIN;
        if (cap > 64u * 1024u)
            cap = 64u * 1024u;
        if (cap < n)
            cap = n;
        if (cap > SIZE_MAX - sizeof *c)
            return NULL;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = h->chunks;
        c->used = 0;
        c->cap = cap;
        h->chunks = c;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

static void free_chunks(wg_headers *h)
{
    struct wg_headers_chunk *c = h->chunks;
    while (c) {
        struct wg_headers_chunk *next = c->next;
        free(c);
        c = next;
    }
    h->chunks = NULL;
}

static bool entry_make(wg_headers *h, wg_header *e, const char *name, size_t nlen,
                       const char *value, size_t vlen, bool lower);

/* Replaced and removed entries leave their strings behind; when that waste
 * dominates (a plugin rewriting a header in a loop), copy the live entries
 * into fresh chunks so memory stays proportional to the map. */
static void compact_if_wasteful(wg_headers *h)
{
    if (h->dead < 64u * 1024u || h->dead < 2 * h->bytes)
        return;
    wg_headers fresh = {0};
    fresh.items = h->items;
    fresh.cap = h->cap;
    for (uint32_t i = 0; i < h->count; i++) {
        wg_header *e = &h->items[i];
        wg_header n = {0};
        if (!entry_make(&fresh, &n, e->name, e->name_len, e->value, e->value_len, false)) {
            free_chunks(&fresh); /* keep the old (valid) strings */
            return;
        }
        n.checked = e->checked; /* the same bytes */
        *e = n;
    }
    free_chunks(h);
    h->chunks = fresh.chunks;
    h->dead = 0;
}

static bool entry_make(wg_headers *h, wg_header *e, const char *name, size_t nlen,
                       const char *value, size_t vlen, bool lower)
{
    /* Through uint64_t so the checks still compile where size_t is 32
     * bits (where the first two cannot fail). */
    if ((uint64_t)nlen > UINT32_MAX || (uint64_t)vlen > UINT32_MAX || vlen > SIZE_MAX - 2 - nlen)
        return false;
    e->checked = false; /* new bytes: unchecked */
    char *block = alloc_in(h, nlen + vlen + 2);
    if (!block)
        return false;
    if (lower) {
        copy_lower(block, name, nlen);
    } else if (nlen > 0) {
        memcpy(block, name, nlen);
    }
    block[nlen] = '\0';
    if (vlen > 0)
        memcpy(block + nlen + 1, value, vlen);
    block[nlen + 1 + vlen] = '\0';
    e->name = block;
    e->name_len = (uint32_t)nlen;
    e->value = block + nlen + 1;
    e->value_len = (uint32_t)vlen;
    return true;
}

/* Room for `want` entries in total. */
static bool reserve_items(wg_headers *h, uint32_t want)
{
    if (want <= h->cap)
        return true;
    /* 16 first: a request's fields plus what the proxy and a plugin or two
     * add, without growing (512 bytes, still from malloc's thread cache). */
    uint32_t cap = h->cap < 16 ? 16 : h->cap;
    while (cap < want)
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    size_t size = 0;
    if (__builtin_mul_overflow((size_t)cap, sizeof(wg_header), &size))
        return false;
    wg_header *items = realloc(h->items, size);
    if (!items)
        return false;
    h->items = items;
    h->cap = cap;
    return true;
}

void wg_headers_init(wg_headers *h)
{
    h->items = NULL;
    h->count = 0;
    h->cap = 0;
    h->bytes = 0;
    h->chunks = NULL;
    h->dead = 0;
}

void wg_headers_mark_checked(wg_headers *h)
{
    for (uint32_t i = 0; i < h->count; i++)
        h->items[i].checked = true;
}

void wg_headers_clear(wg_headers *h)
{
    free_chunks(h);
    h->count = 0;
    h->bytes = 0;
    h->dead = 0;
}

void wg_headers_free(wg_headers *h)
{
    wg_headers_clear(h);
    free(h->items);
    wg_headers_init(h);
}

static bool add(wg_headers *h, const char *name, size_t nlen, const char *value, size_t vlen,
                bool lower)
{
    if (h->count == UINT32_MAX || !reserve_items(h, h->count + 1))
        return false;
    wg_header e = {0};
    if (!entry_make(h, &e, name, nlen, value, vlen, lower))
        return false;
    h->items[h->count++] = e;
    h->bytes += (size_t)e.name_len + e.value_len;
    return true;
}

bool wg_headers_add(wg_headers *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
    return add(h, name, nlen, value, vlen, false);
}

bool wg_headers_prepend(wg_headers *h, const char *name, size_t nlen, const char *value,
                        size_t vlen)
{
    if (!add(h, name, nlen, value, vlen, false))
        return false;
    wg_header e = h->items[h->count - 1];
    memmove(h->items + 1, h->items, (size_t)(h->count - 1) * sizeof *h->items);
    h->items[0] = e;
    return true;
}

bool wg_headers_add_lower(wg_headers *h, const char *name, size_t nlen, const char *value,
                          size_t vlen)
{
    return add(h, name, nlen, value, vlen, true);
}

const wg_header *wg_headers_at(const wg_headers *h, uint32_t i)
{
    return i < h->count ? &h->items[i] : NULL;
}

const wg_header *wg_headers_get(const wg_headers *h, const char *name, size_t nlen)
{
    for (uint32_t i = 0; i < h->count; i++) {
        if (name_equal(&h->items[i], name, nlen))
            return &h->items[i];
    }
    return NULL;
}

uint32_t wg_headers_count(const wg_headers *h, const char *name, size_t nlen)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        if (name_equal(&h->items[i], name, nlen))
            n++;
    }
    return n;
}

int wg_headers_get_joined(const wg_headers *h, const char *name, size_t nlen, wg_buf *out)
{
    wg_buf_clear(out);
    int n = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        const wg_header *e = &h->items[i];
        if (!name_equal(e, name, nlen))
            continue;
        if (n == INT_MAX || (n > 0 && !wg_buf_append(out, ",", 1)) ||
            !wg_buf_append(out, e->value, e->value_len)) {
            wg_buf_clear(out);
            return -1;
        }
        n++;
    }
    return n;
}

/* Removes the entries with this name from index `from` on, in one pass
 * that keeps the order of the others. */
static uint32_t remove_from(wg_headers *h, uint32_t from, const char *name, size_t nlen)
{
    uint32_t kept = from;
    for (uint32_t i = from; i < h->count; i++) {
        wg_header *e = &h->items[i];
        if (name_equal(e, name, nlen)) {
            h->bytes -= (size_t)e->name_len + e->value_len;
            h->dead += (size_t)e->name_len + e->value_len + 2;
        } else {
            h->items[kept++] = *e;
        }
    }
    uint32_t removed = h->count - kept;
    h->count = kept;
    compact_if_wasteful(h);
    return removed;
}

static bool set(wg_headers *h, const char *name, size_t nlen, const char *value, size_t vlen,
                bool lower)
{
    uint32_t first = 0;
    while (first < h->count && !name_equal(&h->items[first], name, nlen))
        first++;
    if (first == h->count)
        return add(h, name, nlen, value, vlen, lower);

    wg_header *old = &h->items[first];
    wg_header e = {0};
    if (!entry_make(h, &e, old->name, old->name_len, value, vlen, false))
        return false;
    h->bytes -= (size_t)old->name_len + old->value_len;
    h->dead += (size_t)old->name_len + old->value_len + 2;
    *old = e; /* the old strings stay in the chunks until compaction */
    h->bytes += (size_t)e.name_len + e.value_len;
    remove_from(h, first + 1, name, nlen);
    return true;
}

bool wg_headers_set(wg_headers *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
    return set(h, name, nlen, value, vlen, false);
}

bool wg_headers_set_lower(wg_headers *h, const char *name, size_t nlen, const char *value,
                          size_t vlen)
{
    return set(h, name, nlen, value, vlen, true);
}

uint32_t wg_headers_remove_if(wg_headers *h, bool (*drop)(const wg_header *e, void *ctx),
                              void *ctx)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        wg_header *e = &h->items[i];
        if (drop(e, ctx)) {
            h->bytes -= (size_t)e->name_len + e->value_len;
            h->dead += (size_t)e->name_len + e->value_len + 2;
        } else {
            h->items[kept++] = *e;
        }
    }
    uint32_t removed = h->count - kept;
    h->count = kept;
    compact_if_wasteful(h);
    return removed;
}

uint32_t wg_headers_remove(wg_headers *h, const char *name, size_t nlen)
{
    return remove_from(h, 0, name, nlen);
}

bool wg_headers_copy(wg_headers *dst, const wg_headers *src)
{
    if (dst == src)
        return true;
    wg_headers tmp = {0};
    if (!reserve_items(&tmp, src->count))
        return false;
    for (uint32_t i = 0; i < src->count; i++) {
        const wg_header *e = &src->items[i];
        if (!add(&tmp, e->name, e->name_len, e->value, e->value_len, false)) {
            wg_headers_free(&tmp);
            return false;
        }
    }
    for (uint32_t i = 0; i < src->count; i++)
        tmp.items[i].checked = src->items[i].checked; /* the same bytes */
    wg_headers_free(dst);
    *dst = tmp;
    return true;
}

/* ---- Proxy-Wasm pair serialisation ---------------------------------------- */

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool wg_headers_serialize(const wg_headers *h, wg_buf *out)
{
    wg_buf_clear(out);
    if (h->count == 0)
        return true;

    /* 4 + 8 N + bytes + 2 N, checked for overflow (a concern only where
     * size_t is 32 bits). */
    size_t n = h->count;
    if (n > (SIZE_MAX - 4) / 10 || h->bytes > SIZE_MAX - 4 - 10 * n)
        return false;
    size_t size = 4 + 10 * n + h->bytes;
    if (!wg_buf_reserve(out, size))
        return false;

    uint8_t *p = out->data;
    put_u32le(p, h->count);
    p += 4;
    for (uint32_t i = 0; i < h->count; i++) {
        put_u32le(p, h->items[i].name_len);
        put_u32le(p + 4, h->items[i].value_len);
        p += 8;
    }
    for (uint32_t i = 0; i < h->count; i++) {
        const wg_header *e = &h->items[i];
        /* The stored strings are NUL-terminated already: copy len + 1. */
        memcpy(p, e->name, (size_t)e->name_len + 1);
        p += e->name_len + 1;
        memcpy(p, e->value, (size_t)e->value_len + 1);
        p += e->value_len + 1;
    }
    out->len = size;
    return true;
}

/* Checks that a string of `slen` bytes and its NUL fit at *pos. Lengths
 * are compared with what is left before any arithmetic on them, so a
 * hostile length cannot overflow or read past the end. */
static bool take_string(size_t len, size_t *pos, uint32_t slen, const uint8_t *data)
{
    size_t left = len - *pos;
    if (slen >= left) /* needs slen + 1 bytes */
        return false;
    if (data[*pos + slen] != 0)
        return false;
    *pos += (size_t)slen + 1;
    return true;
}

bool wg_headers_deserialize(wg_headers *h, const uint8_t *data, size_t len, bool lower_names)
{
    if (len > WG_HEADERS_PAIRS_MAX_SIZE)
        return false;
    if (len < 4) {
        wg_headers_clear(h);
        return true;
    }
    uint32_t n = get_u32le(data);
    if (n > WG_HEADERS_PAIRS_MAX_COUNT)
        return false;
    /* n <= 1024, so this cannot overflow. */
    size_t pos = 4 + 8 * (size_t)n;
    if (pos > len)
        return false;

    /* Pass 1: check the whole layout without allocating anything. */
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *sizes = data + 4 + 8 * (size_t)i;
        if (!take_string(len, &pos, get_u32le(sizes), data) ||
            !take_string(len, &pos, get_u32le(sizes + 4), data))
            return false;
    }
    if (pos != len)
        return false;

    /* Pass 2: build a new map, and only swap it in once it is complete. */
    wg_headers tmp = {0};
    if (!reserve_items(&tmp, n))
        return false;
    pos = 4 + 8 * (size_t)n;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *sizes = data + 4 + 8 * (size_t)i;
        uint32_t nlen = get_u32le(sizes), vlen = get_u32le(sizes + 4);
        const char *name = (const char *)data + pos;
        const char *value = name + nlen + 1;
        if (!add(&tmp, name, nlen, value, vlen, lower_names)) {
            wg_headers_free(&tmp);
            return false;
        }
        pos += (size_t)nlen + 1 + vlen + 1;
    }
    wg_headers_free(h);
    *h = tmp;
    return true;
}
