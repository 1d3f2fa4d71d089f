/*
 * convert.c - between HTTP/1.1 heads and the Proxy-Wasm view of them
 * (pseudo-headers first, Host as :authority), and the removal of
 * hop-by-hop fields before forwarding.
 */
#include "http/internal.h"

#include <stdio.h>
#include <string.h>

static bool add(wg_headers *h, const char *name, const char *value, size_t vlen)
{
    return wg_headers_add(h, name, strlen(name), value, vlen);
}

bool wg_http_head_to_headers(const wg_http_head *head, wg_headers *out)
{
    wg_headers tmp = {0};
    bool ok = true;
    if (head->is_request) {
        ok = add(&tmp, ":method", head->method, strlen(head->method)) &&
             add(&tmp, ":path", head->path, head->path_len) &&
             add(&tmp, ":authority", head->authority, head->authority_len) &&
             add(&tmp, ":scheme", "http", 4);
    } else {
        char status[16];
        int n = snprintf(status, sizeof(status), "%d", head->status);
        ok = add(&tmp, ":status", status, (size_t)n);
    }
    for (uint32_t i = 0; ok && i < head->headers.count; i++) {
        const wg_header *e = &head->headers.items[i];
        if (head->is_request && wg_http_eq_nocase(e->name, e->name_len, "host"))
            continue; /* it is :authority */
        ok = wg_headers_add(&tmp, e->name, e->name_len, e->value, e->value_len);
    }
    if (!ok) {
        wg_headers_free(&tmp);
        return false;
    }
    wg_headers_free(out);
    *out = tmp;
    return true;
}

static const char *const hop_by_hop[] = {
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
};

bool wg_http_strip_hop_by_hop(wg_headers *h)
{
    /* A copy: a listed name may be "connection" itself. */
    wg_buf listed = {0};
    if (wg_headers_get_joined(h, "connection", 10, &listed) < 0)
        return false;
    size_t pos = 0, len = 0;
    const char *name = NULL;
    while (wg_http_list_next((const char *)listed.data, listed.len, &pos, &name, &len)) {
        if (name[0] != ':')
            wg_headers_remove(h, name, len);
    }
    wg_buf_free(&listed);
    for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++)
        wg_headers_remove(h, hop_by_hop[i], strlen(hop_by_hop[i]));
    return true;
}
