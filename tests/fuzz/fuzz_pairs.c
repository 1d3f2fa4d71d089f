/*
 * fuzz_pairs.c - libFuzzer target for wg_headers_deserialize, the parser
 * of the Proxy-Wasm pair format that plugins hand to the host.
 *
 * Besides memory errors it checks the parser's promises: a failure leaves
 * the map unchanged, a success re-serialises to the same bytes (for a
 * non-empty map) and the byte count stays the sum of the lengths.
 */
#include "base/base.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_bytes(const wg_headers *h)
{
    size_t sum = 0;
    for (uint32_t i = 0; i < h->count; i++)
        sum += (size_t)h->items[i].name_len + h->items[i].value_len;
    if (sum != h->bytes)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wg_headers h = {0};
    if (!wg_headers_add(&h, "sentinel", 8, "v", 1))
        return 0;

    bool lower = size > 0 && (data[0] & 1);
    if (!wg_headers_deserialize(&h, data, size, lower)) {
        if (h.count != 1 || strcmp(h.items[0].name, "sentinel") != 0)
            abort();
        wg_headers_free(&h);
        return 0;
    }
    check_bytes(&h);

    wg_buf out = {0};
    if (wg_headers_serialize(&h, &out)) {
        if (h.count > 0 && !lower && (out.len != size || memcmp(out.data, data, size) != 0))
            abort();
        wg_headers again = {0};
        if (!wg_headers_deserialize(&again, out.data, out.len, false) || again.count != h.count)
            abort();
        wg_headers_free(&again);
    }
    wg_buf_free(&out);

    /* Exercise the map operations on what was parsed. */
    if (h.count > 0) {
        const wg_header *first = &h.items[0];
        char *name = malloc((size_t)first->name_len + 1);
        if (name) {
            memcpy(name, first->name, (size_t)first->name_len + 1);
            uint32_t n = wg_headers_count(&h, name, first->name_len);
            if (n == 0 || wg_headers_get(&h, name, first->name_len) != first)
                abort();
            wg_buf joined = {0};
            if (wg_headers_get_joined(&h, name, first->name_len, &joined) == 0)
                abort();
            wg_buf_free(&joined);
            if (wg_headers_set(&h, name, first->name_len, "x", 1) &&
                wg_headers_count(&h, name, first->name_len) != 1)
                abort();
            check_bytes(&h);
            if (wg_headers_remove(&h, name, first->name_len) != 1)
                abort();
            check_bytes(&h);
            free(name);
        }
    }
    wg_headers_free(&h);
    return 0;
}
