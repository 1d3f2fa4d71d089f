/*
 * properties.c - proxy_get_property / proxy_set_property (§3.6, §6.2, §6.3,
 * §7 of the reference).
 *
 * Paths are segments separated by NUL bytes: "request\0path" (Rust, Go),
 * "request\0path\0" (C++ SDK: one trailing NUL is ignored) or a bare single
 * segment "plugin_root_id". Dots are not separators (as Envoy):
 * "request.path" is one segment and is NOT_FOUND unless a plugin set it.
 *
 * Values are encoded as Envoy encodes them:
 *   string     raw bytes                      int     8 bytes little-endian
 *   bool       1 byte (0/1)                   time    int64 LE, Unix nanoseconds
 *   duration   int64 LE, nanoseconds          map     pairs format (§6.1)
 *   message    protobuf binary (xds.node)
 *
 * Lookup order: first the values set with proxy_set_property on the target
 * context (the effective context, else the current one), matched on the
 * whole path; then the table below. "stream" marks properties that exist
 * only for a stream context: from the root context they are NOT_FOUND. A
 * field the data plane left NULL/0 in pw_stream_info, or a header that is
 * absent, is NOT_FOUND too. Any other path is NOT_FOUND.
 *
 *   path                             type      source                          stream
 *   request.path                     string    :path                             yes
 *   request.url_path                 string    :path up to '?' or '#'            yes
 *   request.host                     string    :authority, else host             yes
 *   request.scheme                   string    :scheme                           yes
 *   request.method                   string    :method                           yes
 *   request.headers                  map       request headers: lower-case       yes
 *                                              names, repeated values joined
 *                                              with ","
 *   request.headers.<name>           string    that header, values joined ","    yes
 *   request.referer                  string    referer                           yes
 *   request.useragent                string    user-agent                        yes
 *   request.time                     time      info.start_time_ns                yes
 *   request.id                       string    x-request-id, else                yes
 *                                              info.request_id
 *   request.protocol                 string    info.protocol                     yes
 *   request.query                    string    :path after '?' up to '#'         yes
 *                                              ("" without '?')
 *   request.duration                 duration  info.duration_ns                  yes
 *   request.size                     int       content-length, else              yes
 *                                              info.request_body_size
 *   request.total_size               int       info.request_body_size +          yes
 *                                              request.headers_bytes
 *   request.headers_bytes            int       sum of name and value lengths     yes
 *   response.code                    int       info.response_code, else :status  yes
 *   response.code_details            string    info.response_code_details        yes
 *   response.headers[.<name>]        map/str   response headers, as request      yes
 *   response.trailers[.<name>]       map/str   response trailers                 yes
 *   response.headers_bytes           int       as request.headers_bytes          yes
 *   response.size                    int       info.response_body_size           yes
 *   response.total_size              int       size + headers and trailers bytes yes
 *   source.address / source.port     str/int   info.source_*                     yes
 *   destination.address / .port      str/int   info.destination_*                yes
 *   connection.id, connection_id     int       info.connection_id                yes
 *   connection.mtls                  bool      always false                      yes
 *   upstream.address / upstream.port str/int   info.upstream_*                   yes
 *   xds.cluster_name, cluster_name   string    info.cluster_name                 yes
 *   xds.route_name, route_name       string    info.route_name                   yes
 *   xds.listener_direction,          int       node.listener_direction           no
 *     listener_direction                       (0 unspecified, 1 in, 2 out)
 *   xds.node, node                   message   config.core.v3.Node: id (1),      no
 *                                              cluster (2), metadata (3, a
 *                                              Struct of string values)
 *   xds.node.id, node.id             string    node.id ("" when unset)           no
 *   xds.node.cluster, node.cluster   string    node.cluster ("" when unset)      no
 *   xds.node.metadata, node.metadata map       the node labels, plus NAMESPACE   no
 *                                              = node.namespace_ when that is
 *                                              set and no label is so named
 *   xds.node.metadata.<key>          string    one of those                      no
 *   plugin_name / plugin_root_id /   string    the plugin's name / root_id /     no
 *     plugin_vm_id                             vm_id
 *
 * proxy_set_property stores the value on the target context under the path
 * as given (minus one trailing NUL), for any path, root context included,
 * and returns OK (the Rust SDK panics on any other status, §9.10; there is
 * no schema to enforce). Setting a path again replaces the value. Values
 * live as long as their context.
 */
#include "abi/internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 8

typedef struct seg {
    const uint8_t *p;
    size_t n;
} seg;

static size_t strip_trailing_nul(const uint8_t *p, size_t len)
{
    return len > 0 && p[len - 1] == 0 ? len - 1 : len;
}

/* Splits the path; false when it is empty or has too many segments (no
 * known property has more than four). */
static bool split_path(const uint8_t *p, size_t len, seg *segs, int *nsegs)
{
    len = strip_trailing_nul(p, len);
    if (len == 0)
        return false;
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == 0) {
            if (n == MAX_SEGMENTS)
                return false;
            segs[n++] = (seg){p + start, i - start};
            start = i + 1;
        }
    }
    *nsegs = n;
    return true;
}

static bool is(const seg *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->n == n && memcmp(s->p, lit, n) == 0;
}

/* ---- values ------------------------------------------------------------------------ */

static pw_status ret_bytes(wg_buf *out, const void *p, size_t n)
{
    return wg_buf_set(out, p, n) ? PW_OK : PW_INTERNAL_FAILURE;
}

static pw_status ret_str(wg_buf *out, const char *s)
{
    if (!s)
        return PW_NOT_FOUND;
    return ret_bytes(out, s, strlen(s));
}

static pw_status ret_i64(wg_buf *out, int64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)v >> (8 * i));
    return ret_bytes(out, b, 8);
}

/* An int that is "not found" when 0 (pw_stream_info's convention). */
static pw_status ret_nonzero(wg_buf *out, uint64_t v)
{
    return v ? ret_i64(out, (int64_t)v) : PW_NOT_FOUND;
}

static pw_status ret_bool(wg_buf *out, bool v)
{
    uint8_t b = v ? 1 : 0;
    return ret_bytes(out, &b, 1);
}

/* ---- headers ----------------------------------------------------------------------- */

static const wg_header *header(const wg_headers *h, const char *name)
{
    return h ? wg_headers_get(h, name, strlen(name)) : NULL;
}

static pw_status ret_header(wg_buf *out, const wg_headers *h, const char *name)
{
    const wg_header *e = header(h, name);
    return e ? ret_bytes(out, e->value, e->value_len) : PW_NOT_FOUND;
}

/* Every value of the header, joined with ",". */
static pw_status ret_header_joined(wg_buf *out, const wg_headers *h, const seg *name)
{
    if (!h)
        return PW_NOT_FOUND;
    int n = wg_headers_get_joined(h, (const char *)name->p, name->n, out);
    return n < 0 ? PW_INTERNAL_FAILURE : n == 0 ? PW_NOT_FOUND : PW_OK;
}

/* The whole map: one pair per name (lower-cased), values joined with ",",
 * in the order of first appearance. */
static pw_status ret_header_map(wg_buf *out, const wg_headers *h)
{
    if (!h)
        return PW_NOT_FOUND;
    wg_headers map = {0};
    wg_buf joined = {0};
    bool ok = true;
    for (uint32_t i = 0; ok && i < h->count; i++) {
        const wg_header *e = &h->items[i];
        if (wg_headers_get(&map, e->name, e->name_len))
            continue;
        ok = wg_headers_get_joined(h, e->name, e->name_len, &joined) > 0 &&
             wg_headers_add_lower(&map, e->name, e->name_len, (const char *)joined.data,
                                  joined.len);
    }
    ok = ok && wg_headers_serialize(&map, out);
    wg_headers_free(&map);
    wg_buf_free(&joined);
    return ok ? PW_OK : PW_INTERNAL_FAILURE;
}

/* A header map property: the map, or one header with a 3rd segment. */
static pw_status ret_map_property(wg_buf *out, const wg_headers *h, const seg *rest, int nrest)
{
    if (nrest == 0)
        return ret_header_map(out, h);
    if (nrest == 1)
        return ret_header_joined(out, h, &rest[0]);
    return PW_NOT_FOUND;
}

static uint64_t headers_bytes(const wg_headers *h) { return h ? h->bytes : 0; }

/* The :path header's value and length, or false. */
static bool request_path(const pw_stream *s, const char **p, size_t *n)
{
    const wg_header *e = header(s->request_headers, ":path");
    if (!e)
        return false;
    *p = e->value;
    *n = e->value_len;
    return true;
}

/* A decimal u64 header value (content-length, :status). */
static bool header_u64(const wg_headers *h, const char *name, uint64_t *v)
{
    const wg_header *e = header(h, name);
    if (!e || e->value_len == 0 || e->value_len > 19)
        return false;
    uint64_t x = 0;
    for (uint32_t i = 0; i < e->value_len; i++) {
        char c = e->value[i];
        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (uint64_t)(c - '0');
    }
    *v = x;
    return true;
}

/* ---- families ---------------------------------------------------------------------- */

static pw_status request_property(pw_stream *s, const seg *r, int n, wg_buf *out)
{
    const wg_headers *h = s->request_headers;
    const pw_stream_info *info = &s->info;
    if (n == 0)
        return PW_NOT_FOUND;
    if (is(&r[0], "headers"))
        return ret_map_property(out, h, r + 1, n - 1);
    if (n != 1)
        return PW_NOT_FOUND;
    const char *path;
    size_t plen;
    if (is(&r[0], "path"))
        return ret_header(out, h, ":path");
    if (is(&r[0], "url_path")) {
        if (!request_path(s, &path, &plen))
            return PW_NOT_FOUND;
        size_t end = 0;
        while (end < plen && path[end] != '?' && path[end] != '#')
            end++;
        return ret_bytes(out, path, end);
    }
    if (is(&r[0], "query")) {
        if (!request_path(s, &path, &plen))
            return PW_NOT_FOUND;
        const char *q = memchr(path, '?', plen);
        if (!q)
            return ret_bytes(out, "", 0);
        q++;
        size_t qlen = plen - (size_t)(q - path);
        const char *frag = memchr(q, '#', qlen);
        return ret_bytes(out, q, frag ? (size_t)(frag - q) : qlen);
    }
    if (is(&r[0], "host")) {
        pw_status st = ret_header(out, h, ":authority");
        return st == PW_NOT_FOUND ? ret_header(out, h, "host") : st;
    }
    if (is(&r[0], "scheme"))
        return ret_header(out, h, ":scheme");
    if (is(&r[0], "method"))
        return ret_header(out, h, ":method");
    if (is(&r[0], "referer"))
        return ret_header(out, h, "referer");
    if (is(&r[0], "useragent"))
        return ret_header(out, h, "user-agent");
    if (is(&r[0], "id")) {
        pw_status st = ret_header(out, h, "x-request-id");
        return st == PW_NOT_FOUND ? ret_str(out, info->request_id) : st;
    }
    if (is(&r[0], "time"))
        return ret_nonzero(out, info->start_time_ns);
    if (is(&r[0], "protocol"))
        return ret_str(out, info->protocol);
    if (is(&r[0], "duration"))
        return ret_nonzero(out, info->duration_ns);
    if (is(&r[0], "size")) {
        uint64_t cl;
        if (header_u64(h, "content-length", &cl))
            return ret_i64(out, (int64_t)cl);
        return ret_i64(out, (int64_t)info->request_body_size);
    }
    if (is(&r[0], "total_size"))
        return ret_i64(out, (int64_t)(info->request_body_size + headers_bytes(h)));
    if (is(&r[0], "headers_bytes"))
        return h ? ret_i64(out, (int64_t)h->bytes) : PW_NOT_FOUND;
    return PW_NOT_FOUND;
}

static pw_status response_property(pw_stream *s, const seg *r, int n, wg_buf *out)
{
    const wg_headers *h = s->response_headers, *t = s->response_trailers;
    const pw_stream_info *info = &s->info;
    if (n == 0)
        return PW_NOT_FOUND;
    if (is(&r[0], "headers"))
        return ret_map_property(out, h, r + 1, n - 1);
    if (is(&r[0], "trailers"))
        return ret_map_property(out, t, r + 1, n - 1);
    if (n != 1)
        return PW_NOT_FOUND;
    if (is(&r[0], "code")) {
        uint64_t code = info->response_code;
        if (!code && !header_u64(h, ":status", &code))
            return PW_NOT_FOUND;
        return ret_i64(out, (int64_t)code);
    }
    if (is(&r[0], "code_details"))
        return ret_str(out, info->response_code_details);
    if (is(&r[0], "headers_bytes"))
        return h ? ret_i64(out, (int64_t)h->bytes) : PW_NOT_FOUND;
    if (is(&r[0], "size"))
        return ret_i64(out, (int64_t)info->response_body_size);
    if (is(&r[0], "total_size"))
        return ret_i64(out,
                       (int64_t)(info->response_body_size + headers_bytes(h) + headers_bytes(t)));
    return PW_NOT_FOUND;
}

/* source.*, destination.*, upstream.*: address and port. */
static pw_status address_property(const char *address, uint32_t port, const seg *r, int n,
                                  wg_buf *out)
{
    if (n != 1)
        return PW_NOT_FOUND;
    if (is(&r[0], "address"))
        return ret_str(out, address);
    if (is(&r[0], "port"))
        return ret_nonzero(out, port);
    return PW_NOT_FOUND;
}

static pw_status connection_property(pw_stream *s, const seg *r, int n, wg_buf *out)
{
    if (n != 1)
        return PW_NOT_FOUND;
    if (is(&r[0], "id"))
        return ret_nonzero(out, s->info.connection_id);
    if (is(&r[0], "mtls"))
        return ret_bool(out, false);
    return PW_NOT_FOUND;
}

/* ---- the node ------------------------------------------------------------------------ */

/* The node metadata: the labels, then NAMESPACE unless a label has that
 * name. */
static bool node_metadata(const pw_vm *vm, wg_headers *md)
{
    const pw_node_info *node = &vm->cfg.node;
    for (int i = 0; i < node->nlabels; i++) {
        const char *k = node->label_keys[i], *v = node->label_values[i];
        if (!wg_headers_add(md, k, strlen(k), v, strlen(v)))
            return false;
    }
    const char *ns = node->namespace_;
    bool has_ns = false;
    for (uint32_t i = 0; i < md->count; i++)
        has_ns |= md->items[i].name_len == 9 && memcmp(md->items[i].name, "NAMESPACE", 9) == 0;
    if (ns && ns[0] && !has_ns)
        return wg_headers_add(md, "NAMESPACE", 9, ns, strlen(ns));
    return true;
}

static bool pb_varint(wg_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return wg_buf_append(b, tmp, n);
}

/* A length-delimited field (wire type 2). */
static bool pb_bytes(wg_buf *b, uint32_t field, const void *p, size_t n)
{
    return pb_varint(b, (uint64_t)field << 3 | 2) && pb_varint(b, n) && wg_buf_append(b, p, n);
}

/* config.core.v3.Node { string id = 1; string cluster = 2;
 * google.protobuf.Struct metadata = 3; }, with Struct { map<string, Value>
 * fields = 1; } and Value { string string_value = 3; }. Empty fields are
 * left out, as proto3 does. */
static bool encode_node(const pw_vm *vm, const wg_headers *md, wg_buf *out)
{
    const pw_node_info *node = &vm->cfg.node;
    wg_buf st = {0}, entry = {0}, value = {0};
    bool ok = true;
    for (uint32_t i = 0; ok && i < md->count; i++) {
        const wg_header *e = &md->items[i];
        wg_buf_clear(&entry);
        wg_buf_clear(&value);
        ok = pb_bytes(&value, 3, e->value, e->value_len) &&
             pb_bytes(&entry, 1, e->name, e->name_len) &&
             pb_bytes(&entry, 2, value.data, value.len) && pb_bytes(&st, 1, entry.data, entry.len);
    }
    wg_buf_clear(out);
    if (ok && node->id && node->id[0])
        ok = pb_bytes(out, 1, node->id, strlen(node->id));
    if (ok && node->cluster && node->cluster[0])
        ok = pb_bytes(out, 2, node->cluster, strlen(node->cluster));
    if (ok && st.len)
        ok = pb_bytes(out, 3, st.data, st.len);
    wg_buf_free(&st);
    wg_buf_free(&entry);
    wg_buf_free(&value);
    return ok;
}

static pw_status node_property(const pw_vm *vm, const seg *r, int n, wg_buf *out)
{
    const pw_node_info *node = &vm->cfg.node;
    if (n >= 1 && is(&r[0], "id"))
        return n == 1 ? ret_str(out, node->id ? node->id : "") : PW_NOT_FOUND;
    if (n >= 1 && is(&r[0], "cluster"))
        return n == 1 ? ret_str(out, node->cluster ? node->cluster : "") : PW_NOT_FOUND;
    if (n >= 1 && !is(&r[0], "metadata"))
        return PW_NOT_FOUND;
    if (n > 2)
        return PW_NOT_FOUND;
    wg_headers md = {0};
    pw_status st = PW_OK;
    if (!node_metadata(vm, &md)) {
        st = PW_INTERNAL_FAILURE;
    } else if (n == 0) {
        st = encode_node(vm, &md, out) ? PW_OK : PW_INTERNAL_FAILURE;
    } else if (n == 1) {
        st = wg_headers_serialize(&md, out) ? PW_OK : PW_INTERNAL_FAILURE;
    } else {
        st = PW_NOT_FOUND;
        for (uint32_t i = 0; i < md.count; i++) {
            const wg_header *e = &md.items[i];
            if (e->name_len == r[1].n && memcmp(e->name, r[1].p, r[1].n) == 0) {
                st = ret_bytes(out, e->value, e->value_len);
                break;
            }
        }
    }
    wg_headers_free(&md);
    return st;
}

/* xds.* (r is after "xds"), and the legacy top-level names (r is the
 * whole path). Returns -1 when the name is not one of them. */
static int xds_property(pw_vm *vm, pw_stream *s, const seg *r, int n, wg_buf *out)
{
    if (n == 0)
        return -1;
    if (is(&r[0], "node"))
        return node_property(vm, r + 1, n - 1, out);
    if (is(&r[0], "listener_direction"))
        return n == 1 ? ret_i64(out, vm->cfg.node.listener_direction) : PW_NOT_FOUND;
    if (is(&r[0], "cluster_name"))
        return n == 1 && s ? ret_str(out, s->info.cluster_name) : PW_NOT_FOUND;
    if (is(&r[0], "route_name"))
        return n == 1 && s ? ret_str(out, s->info.route_name) : PW_NOT_FOUND;
    return -1;
}

/* ---- values set by the plugin -------------------------------------------------------- */

static int32_t find_set(const wg_headers *props, const uint8_t *path, size_t len)
{
    for (uint32_t i = 0; i < props->count; i++) {
        const wg_header *e = &props->items[i];
        if (e->name_len == len && (len == 0 || memcmp(e->name, path, len) == 0))
            return (int32_t)i;
    }
    return -1;
}

/* ---- entry points ---------------------------------------------------------------------- */

pw_status pw_property_get(pw_vm *vm, const uint8_t *path, size_t len, wg_buf *out)
{
    wg_buf_clear(out);
    pw_context *ctx = pw_vm_target(vm);
    size_t klen = strip_trailing_nul(path, len);
    int32_t i = find_set(&ctx->properties, path, klen);
    if (i >= 0)
        return ret_bytes(out, ctx->properties.items[i].value, ctx->properties.items[i].value_len);

    seg r[MAX_SEGMENTS];
    int n;
    if (!split_path(path, len, r, &n))
        return PW_NOT_FOUND;
    pw_stream *s = ctx->stream;

    if (n == 1) {
        if (is(&r[0], "plugin_name"))
            return ret_str(out, vm->name);
        if (is(&r[0], "plugin_root_id"))
            return ret_str(out, vm->root_id);
        if (is(&r[0], "plugin_vm_id"))
            return ret_str(out, vm->vm_id);
        if (is(&r[0], "connection_id"))
            return s ? ret_nonzero(out, s->info.connection_id) : PW_NOT_FOUND;
    }
    if (is(&r[0], "xds")) {
        int st = xds_property(vm, s, r + 1, n - 1, out);
        return st < 0 ? PW_NOT_FOUND : (pw_status)st;
    }
    int st = xds_property(vm, s, r, n, out); /* legacy: node, cluster_name, ... */
    if (st >= 0)
        return (pw_status)st;
    if (!s)
        return PW_NOT_FOUND;
    if (is(&r[0], "request"))
        return request_property(s, r + 1, n - 1, out);
    if (is(&r[0], "response"))
        return response_property(s, r + 1, n - 1, out);
    if (is(&r[0], "source"))
        return address_property(s->info.source_address, s->info.source_port, r + 1, n - 1, out);
    if (is(&r[0], "destination"))
        return address_property(s->info.destination_address, s->info.destination_port, r + 1,
                                n - 1, out);
    if (is(&r[0], "upstream"))
        return address_property(s->info.upstream_address, s->info.upstream_port, r + 1, n - 1,
                                out);
    if (is(&r[0], "connection"))
        return connection_property(s, r + 1, n - 1, out);
    return PW_NOT_FOUND;
}

pw_status pw_property_set(pw_vm *vm, const uint8_t *path, size_t len, const uint8_t *value,
                          size_t value_len)
{
    pw_context *ctx = pw_vm_target(vm);
    wg_headers *props = &ctx->properties;
    size_t klen = strip_trailing_nul(path, len);
    int32_t at = find_set(props, path, klen);
    if (at < 0) {
        return wg_headers_add(props, (const char *)path, klen, (const char *)value, value_len)
                   ? PW_OK
                   : PW_INTERNAL_FAILURE;
    }
    /* Replace: rebuild the map with the new value in place (names are
     * compared byte for byte here, while wg_headers_set would match them
     * ignoring case). */
    wg_headers tmp = {0};
    bool ok = true;
    for (uint32_t i = 0; ok && i < props->count; i++) {
        const wg_header *e = &props->items[i];
        if ((int32_t)i == at)
            ok = wg_headers_add(&tmp, e->name, e->name_len, (const char *)value, value_len);
        else
            ok = wg_headers_add(&tmp, e->name, e->name_len, e->value, e->value_len);
    }
    if (!ok) {
        wg_headers_free(&tmp);
        return PW_INTERNAL_FAILURE;
    }
    wg_headers_free(props);
    *props = tmp;
    return PW_OK;
}

/* ---- hostcalls ------------------------------------------------------------------------- */

/* proxy_get_property(path_ptr, path_len, ret_ptr_ptr, ret_size_ptr) */
int pw_hc_get_property(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *path;
    uint32_t len = (uint32_t)a[1];
    if (!pw_mem_read(vm, (uint32_t)a[0], len, &path))
        return PW_INVALID_MEMORY_ACCESS;
    wg_buf value = {0};
    int r = pw_property_get(vm, path, len, &value);
    if (r == PW_OK)
        r = pw_return_bytes(vm, value.data, value.len, (uint32_t)a[2], (uint32_t)a[3]);
    wg_buf_free(&value);
    return r;
}

/* proxy_set_property(path_ptr, path_len, value_ptr, value_len) */
int pw_hc_set_property(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *path, *value;
    uint32_t len = (uint32_t)a[1], value_len = (uint32_t)a[3];
    if (!pw_mem_read(vm, (uint32_t)a[0], len, &path) ||
        !pw_mem_read(vm, (uint32_t)a[2], value_len, &value))
        return PW_INVALID_MEMORY_ACCESS;
    return pw_property_set(vm, path, len, value, value_len);
}
