/*
 * address.c - host:port parsing and path resolution.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static bool valid_hostname(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok || (label == 0 && c == '-') || ++label > 63)
            return false;
    }
    /* a trailing dot (absolute name) is fine; a trailing '-' is not */
    return h[n - 1] != '-';
}

static bool all_digits_and_dots(const char *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
            return false;
    return true;
}

bool wg_config_address_parse(const char *text, bool allow_port_zero, wg_config_address *out,
                             const char **why)
{
    const char *dummy = NULL;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    const char *host = text, *port = NULL;
    size_t hlen = 0;
    wg_config_host_kind kind = WG_CONFIG_HOST_NAME;
    char tmp[256];

    if (len == 0) {
        *why = "the address is empty";
        return false;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close) {
            *why = "an IPv6 address needs a closing ']'";
            return false;
        }
        host = text + 1;
        hlen = (size_t)(close - host);
        if (close[1] != ':') {
            *why = "the port is missing";
            return false;
        }
        port = close + 2;
        if (hlen == 0 || hlen >= sizeof tmp) {
            *why = "the IPv6 address is not valid";
            return false;
        }
        memcpy(tmp, host, hlen);
        tmp[hlen] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, tmp, &a6) != 1) {
            *why = "the IPv6 address is not valid";
            return false;
        }
        kind = WG_CONFIG_HOST_IPV6;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon) {
            *why = "the port is missing";
            return false;
        }
        if (memchr(text, ':', (size_t)(colon - text))) {
            *why = "write IPv6 addresses in brackets, e.g. [::1]:8080";
            return false;
        }
        hlen = (size_t)(colon - text);
        port = colon + 1;
        if (hlen == 0) {
            *why = "the host is missing";
            return false;
        }
        if (hlen >= sizeof tmp) {
            *why = "the host name is too long";
            return false;
        }
        memcpy(tmp, text, hlen);
        tmp[hlen] = '\0';
        if (all_digits_and_dots(tmp, hlen)) {
            struct in_addr a4;
            if (inet_pton(AF_INET, tmp, &a4) != 1) {
                *why = "the IPv4 address is not valid";
                return false;
            }
            kind = WG_CONFIG_HOST_IPV4;
        } else if (!valid_hostname(tmp, hlen)) {
            *why = "the host is not a valid name or IP address";
            return false;
        }
    }

    size_t plen = strlen(port);
    unsigned long p = 0;
    if (plen == 0 || plen > 5) {
        *why = "the port must be a number 1..65535";
        return false;
    }
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9') {
            *why = "the port must be a number 1..65535";
            return false;
        }
        p = p * 10 + (unsigned long)(port[i] - '0');
    }
    if (p > 65535 || (p == 0 && !allow_port_zero)) {
        *why = allow_port_zero ? "the port must be a number 0..65535"
                               : "the port must be a number 1..65535";
        return false;
    }

    out->text = strdup(text);
    out->host = strdup(tmp);
    if (!out->text || !out->host) {
        wg_config_address_free(out);
        *why = "out of memory";
        return false;
    }
    out->kind = kind;
    out->port = (uint16_t)p;
    return true;
}

void wg_config_address_free(wg_config_address *a)
{
    if (!a)
        return;
    free(a->text);
    free(a->host);
    memset(a, 0, sizeof *a);
}

char *wg_config_resolve_path(const char *base_dir, const char *path)
{
    wg_buf joined = {0};
    bool ok = true;
    if (path[0] != '/' && base_dir && *base_dir) {
        ok = wg_buf_append_str(&joined, base_dir) && wg_buf_append_str(&joined, "/");
    }
    ok = ok && wg_buf_append_str(&joined, path) && wg_buf_append(&joined, "", 1);
    if (!ok) {
        wg_buf_free(&joined);
        return NULL;
    }
    const char *src = (const char *)joined.data;
    bool absolute = src[0] == '/';
    /* Fold segments in place into out: "." disappears, ".." removes the
     * previous segment unless there is none (or it is ".." itself). */
    char *out = malloc(joined.len + 2);
    if (!out) {
        wg_buf_free(&joined);
        return NULL;
    }
    size_t olen = 0;
    size_t nsegs = 0; /* segments in out that ".." may remove */
    if (absolute)
        out[olen++] = '/';
    const char *p = src;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t slen = (size_t)(p - seg);
        if (slen == 1 && seg[0] == '.')
            continue;
        if (slen == 2 && seg[0] == '.' && seg[1] == '.') {
            if (nsegs > 0) {
                /* drop the last segment */
                while (olen > (absolute ? 1u : 0u) && out[olen - 1] != '/')
                    olen--;
                if (olen > (absolute ? 1u : 0u))
                    olen--; /* its separator */
                nsegs--;
                continue;
            }
            if (absolute)
                continue; /* "/.." is "/" */
        } else {
            nsegs++;
        }
        if (olen > 0 && out[olen - 1] != '/')
            out[olen++] = '/';
        memcpy(out + olen, seg, slen);
        olen += slen;
    }
    if (olen == 0)
        out[olen++] = '.';
    out[olen] = '\0';
    wg_buf_free(&joined);
    return out;
}
