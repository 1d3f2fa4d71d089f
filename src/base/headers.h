/*
 * headers.h - an ordered multi-map of HTTP headers (HTTP/1.1 and
 * Proxy-Wasm header maps, trailers, and any other list of byte-string
 * pairs).
 *
 * Entries keep their insertion order and duplicates are allowed. Names and
 * values are byte strings with explicit lengths and may contain any byte;
 * each is also stored NUL-terminated for convenience (so a value that
 * contains NUL is cut short when read as a C string). Names are compared
 * ASCII-case-insensitively; nothing else about them is validated here (the
 * HTTP codec decides what is a legal header).
 *
 * Lookups scan the list: header maps are short, and a scan in order is
 * what keeps duplicates and their order simple.
 *
 * A zeroed wg_headers (or one passed to wg_headers_init) is a valid empty
 * map. Functions that can fail return false (or -1) on allocation failure,
 * or when a name, value or the entry count does not fit in 32 bits, and
 * then leave the map unchanged.
 */
#ifndef WG_BASE_HEADERS_H
#define WG_BASE_HEADERS_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wg_header {
    char *name; /* name_len bytes + NUL */
    uint32_t name_len;
    /* Known fit for the wire (a token name, a field value without CR, LF
     * or other controls but HTAB): set by wg_headers_mark_checked() for
     * entries someone validated, false for every entry added or changed
     * since, so the HTTP writer validates only what something (a plugin)
     * wrote. */
    bool checked;
    char *value; /* value_len bytes + NUL */
    uint32_t value_len;
} wg_header;

struct wg_headers_chunk;

typedef struct wg_headers {
    wg_header *items; /* items[0..count): iterate by index */
    uint32_t count, cap;
    size_t bytes; /* sum of every name_len + value_len */
    /* The entries' strings, bump-allocated in chunks that are freed together
     * (maps live as long as a request: one allocation per map instead of
     * one per header). */
    struct wg_headers_chunk *chunks;
    size_t dead; /* bytes of replaced/removed entries still in the chunks */
} wg_headers;

/* Marks every entry checked (wg_header.checked): only for maps whose every
 * field the caller validated. */
void wg_headers_mark_checked(wg_headers *h);

void wg_headers_init(wg_headers *h);
/* Releases everything; the map is empty and valid again afterwards. */
void wg_headers_free(wg_headers *h);
/* Removes every entry but keeps the entry array for reuse. */
void wg_headers_clear(wg_headers *h);

/* Appends an entry (duplicates allowed). `name`/`value` may be NULL when
 * their length is 0. The _lower variant stores the name ASCII-lower-cased,
 * as HTTP/2 and the Proxy-Wasm hosts present names. */
bool wg_headers_add(wg_headers *h, const char *name, size_t nlen, const char *value, size_t vlen);
/* Adds an entry before all the others (moves them: O(count)). */
bool wg_headers_prepend(wg_headers *h, const char *name, size_t nlen, const char *value,
                        size_t vlen);
bool wg_headers_add_lower(wg_headers *h, const char *name, size_t nlen, const char *value,
                          size_t vlen);

/* Entry i, or NULL when i >= count. */
const wg_header *wg_headers_at(const wg_headers *h, uint32_t i);

/* The first entry with this name, or NULL. */
const wg_header *wg_headers_get(const wg_headers *h, const char *name, size_t nlen);

/* Number of entries with this name. */
uint32_t wg_headers_count(const wg_headers *h, const char *name, size_t nlen);

/* Replaces out's content with the values of every entry with this name, in
 * order, joined by "," (no space, as Envoy joins them for properties).
 * Returns the number of values joined (0: no such header, out is empty) or
 * -1 on allocation failure (out is empty). */
int wg_headers_get_joined(const wg_headers *h, const char *name, size_t nlen, wg_buf *out);

/* Leaves exactly one entry with this name: the first one keeps its
 * position and its name's spelling and gets the new value; later ones are
 * removed. Without such an entry, appends one (the _lower variant then
 * lower-cases the name). */
bool wg_headers_set(wg_headers *h, const char *name, size_t nlen, const char *value, size_t vlen);
bool wg_headers_set_lower(wg_headers *h, const char *name, size_t nlen, const char *value,
                          size_t vlen);

/* Removes every entry with this name; returns how many there were. */
uint32_t wg_headers_remove(wg_headers *h, const char *name, size_t nlen);
/* Removes, in one pass keeping the order of the others, every entry for
 * which drop(entry, ctx) is true; returns how many. */
uint32_t wg_headers_remove_if(wg_headers *h, bool (*drop)(const wg_header *e, void *ctx),
                              void *ctx);

/* Makes dst a copy of src. dst must be initialised; its old entries are
 * released on success and kept on failure. */
bool wg_headers_copy(wg_headers *dst, const wg_headers *src);

/*
 * Proxy-Wasm pair serialisation (header maps and other string pairs):
 *
 *   u32 N                                  little-endian, as every u32 here
 *   N x { u32 name_len, u32 value_len }
 *   N x { name bytes, 0x00, value bytes, 0x00 }
 *
 * e.g. {":method": "GET", ":path": "/"} is
 *   02 00 00 00  07 00 00 00 03 00 00 00  05 00 00 00 01 00 00 00
 *   ":method" 00 "GET" 00 ":path" 00 "/" 00
 */

/* Limits applied to serialised maps received from a plugin. */
#define WG_HEADERS_PAIRS_MAX_COUNT 1024u
#define WG_HEADERS_PAIRS_MAX_SIZE (1024u * 1024u)

/* Replaces out's content with the serialised map. An empty map serialises
 * to nothing (out->len == 0), which plugins read as an empty map. */
bool wg_headers_serialize(const wg_headers *h, wg_buf *out);

/* Replaces h's content with the pairs in data[0..len). Rules:
 *   - len < 4 (including 0): an empty map, success;
 *   - len > WG_HEADERS_PAIRS_MAX_SIZE or N > WG_HEADERS_PAIRS_MAX_COUNT:
 *     failure;
 *   - every name and value must be followed by a NUL byte, and the data
 *     must end exactly after the last one.
 * Any violation, or an allocation failure, returns false and leaves h
 * unchanged. Runs in time linear in len; the whole input is checked before
 * anything is allocated. lower_names stores names lower-cased. */
bool wg_headers_deserialize(wg_headers *h, const uint8_t *data, size_t len, bool lower_names);

#endif /* WG_BASE_HEADERS_H */
