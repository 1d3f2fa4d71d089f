/*
 * bootstrap.c - the proxy's bootstrap configuration: read, validate,
 * fill in defaults. docs/CONFIG.md is the user-facing description; keep
 * both in step.
 *
 * Every problem is reported (the reader collects them), so the parser
 * keeps going after an error with whatever it could read: a bad value
 * leaves the default in place, and the result is thrown away at the end
 * when anything was reported.
 */
#include "config/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_FILE_BYTES (16u * 1024u * 1024u)
#define DAY_MS 86400000

typedef wg_config_reader reader;
typedef wg_config_yaml_node node;

/* ---- small helpers -------------------------------------------------------------- */

/* The list at map[key], or NULL (absent/null, or reported when not a list). */
static const node *read_list(reader *r, const node *map, const char *key, bool required)
{
    const node *v = wg_config_yaml_get(map, key);
    if (!v || wg_config_yaml_is_null(v)) {
        if (required)
            wg_config_reader_error(r, map, "missing required key \"%s\"", key);
        return NULL;
    }
    if (v->kind != WG_CONFIG_YAML_SEQUENCE) {
        size_t saved = wg_config_reader_key(r, key);
        wg_config_reader_error(r, v, "expected a list");
        wg_config_reader_restore(r, saved);
        return NULL;
    }
    return v;
}

/* The mapping at map[key], checked against `allowed`, or NULL. */
static const node *read_section(reader *r, const node *map, const char *key,
                                const char *const *allowed)
{
    const node *v = wg_config_yaml_get(map, key);
    if (!v || wg_config_yaml_is_null(v))
        return NULL;
    size_t saved = wg_config_reader_key(r, key);
    bool ok = wg_config_read_mapping(r, v, allowed);
    wg_config_reader_restore(r, saved);
    return ok ? v : NULL;
}

static void read_u32(reader *r, const node *map, const char *key, int64_t min, int64_t max,
                     uint32_t *out)
{
    int64_t v = 0;
    if (wg_config_read_int(r, map, key, false, min, max, &v) == 1)
        *out = (uint32_t)v;
}

static void read_u64(reader *r, const node *map, const char *key, int64_t min, int64_t max,
                     uint64_t *out)
{
    int64_t v = 0;
    if (wg_config_read_int(r, map, key, false, min, max, &v) == 1)
        *out = (uint64_t)v;
}

/* Names of listeners and clusters appear in stats and logs. */
static bool valid_name(const char *s)
{
    if (!*s || strlen(s) > 128)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* A Kubernetes namespace: an RFC 1123 label. */
static bool valid_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static const node *value_of(const node *map, const char *key)
{
    return wg_config_yaml_get(map, key);
}

/* Reads a name and checks its syntax; false when absent or invalid. */
static bool read_name(reader *r, const node *map, const char *what, char **out)
{
    if (wg_config_read_string(r, map, "name", true, out) != 1)
        return false;
    if (!valid_name(*out)) {
        size_t saved = wg_config_reader_key(r, "name");
        wg_config_reader_error(r, value_of(map, "name"),
                               "%s name \"%s\" may only use letters, digits, '_', '-' and '.'",
                               what, *out);
        wg_config_reader_restore(r, saved);
        return false;
    }
    return true;
}

static bool read_address(reader *r, const node *map, const char *key, bool required,
                         bool allow_zero, wg_config_address *out)
{
    char *text = NULL;
    if (wg_config_read_string(r, map, key, required, &text) != 1)
        return false;
    const char *why = NULL;
    wg_config_address a;
    bool ok = wg_config_address_parse(text, allow_zero, &a, &why);
    if (!ok) {
        size_t saved = wg_config_reader_key(r, key);
        wg_config_reader_error(r, value_of(map, key), "\"%s\" is not host:port (%s)", text, why);
        wg_config_reader_restore(r, saved);
    } else {
        wg_config_address_free(out);
        *out = a;
    }
    free(text);
    return ok;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup("");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Replaces *path by its resolution against base (reporting OOM). */
static void resolve_in_place(reader *r, const char *base, char **path)
{
    if (!*path)
        return;
    char *abs = wg_config_resolve_path(base, *path);
    if (!abs) {
        wg_config_reader_error(r, NULL, "out of memory");
        return;
    }
    free(*path);
    *path = abs;
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    if (n > (long)WG_CONFIG_MAX_WORKERS)
        return WG_CONFIG_MAX_WORKERS;
    return (unsigned)n;
}

/* ---- sections ------------------------------------------------------------------- */

static void read_admin(reader *r, wg_config *c, const node *root)
{
    static const char *const keys[] = {"address", NULL};
    const node *admin = read_section(r, root, "admin", keys);
    if (!admin)
        return;
    size_t saved = wg_config_reader_key(r, "admin");
    c->has_admin = read_address(r, admin, "address", true, true, &c->admin);
    wg_config_reader_restore(r, saved);
}

static void read_node(reader *r, wg_config *c, const node *root)
{
    static const char *const keys[] = {"id", "namespace", "labels", "gateway", NULL};
    const node *n = read_section(r, root, "node", keys);
    if (!n)
        return;
    size_t saved = wg_config_reader_key(r, "node");
    wg_config_read_string(r, n, "id", false, &c->node.id);
    if (wg_config_read_string(r, n, "namespace", false, &c->node.namespace) == 1 &&
        !valid_dns_label(c->node.namespace)) {
        size_t s2 = wg_config_reader_key(r, "namespace");
        wg_config_reader_error(r, value_of(n, "namespace"),
                               "\"%s\" is not a valid namespace (lower-case letters, digits "
                               "and '-', at most 63)",
                               c->node.namespace);
        wg_config_reader_restore(r, s2);
    }
    if (wg_config_read_string(r, n, "gateway", false, &c->node.gateway) == 1 && !*c->node.gateway) {
        size_t s2 = wg_config_reader_key(r, "gateway");
        wg_config_reader_error(r, value_of(n, "gateway"), "the gateway name is empty");
        wg_config_reader_restore(r, s2);
    }

    const node *labels = value_of(n, "labels");
    if (labels && !wg_config_yaml_is_null(labels)) {
        size_t s2 = wg_config_reader_key(r, "labels");
        if (wg_config_read_mapping(r, labels, NULL) && labels->count) {
            c->node.labels = calloc(labels->count, sizeof *c->node.labels);
            if (!c->node.labels)
                wg_config_reader_error(r, labels, "out of memory");
            for (size_t i = 0; c->node.labels && i < labels->count; i++) {
                const node *k = labels->items[2 * i];
                if (k->kind != WG_CONFIG_YAML_SCALAR)
                    continue; /* reported by read_mapping */
                char *value = NULL;
                if (wg_config_read_string(r, labels, k->text, true, &value) != 1)
                    continue;
                if (k->len == 0 || strlen(k->text) != k->len || strchr(k->text, '*') ||
                    strchr(value, '*')) {
                    size_t s3 = wg_config_reader_key(r, k->text);
                    wg_config_reader_error(r, k,
                                           "label keys must be non-empty and labels may "
                                           "not contain '*'");
                    wg_config_reader_restore(r, s3);
                    free(value);
                    continue;
                }
                /* a duplicate key was reported; keep the last value only */
                bool dup = false;
                for (size_t j = 0; j < c->node.nlabels; j++) {
                    if (strcmp(c->node.labels[j].key, k->text) == 0) {
                        free(c->node.labels[j].value);
                        c->node.labels[j].value = value;
                        dup = true;
                    }
                }
                if (dup)
                    continue;
                c->node.labels[c->node.nlabels].key = strdup(k->text);
                c->node.labels[c->node.nlabels].value = value;
                if (!c->node.labels[c->node.nlabels].key)
                    wg_config_reader_error(r, k, "out of memory");
                c->node.nlabels++;
            }
        }
        wg_config_reader_restore(r, s2);
    }
    wg_config_reader_restore(r, saved);
}

static void read_clusters(reader *r, wg_config *c, const node *root)
{
    static const char *const keys[] = {"name", "endpoints", "connect_timeout_ms",
                                       "response_timeout_ms", NULL};
    const node *list = read_list(r, root, "clusters", false);
    if (!list || list->count == 0)
        return;
    c->clusters = calloc(list->count, sizeof *c->clusters);
    if (!c->clusters) {
        wg_config_reader_error(r, list, "out of memory");
        return;
    }
    size_t saved = wg_config_reader_key(r, "clusters");
    for (size_t i = 0; i < list->count; i++) {
        const node *item = list->items[i];
        size_t s2 = wg_config_reader_index(r, i);
        wg_config_cluster *cl = &c->clusters[c->nclusters++];
        cl->connect_timeout_ms = WG_CONFIG_DEFAULT_CONNECT_TIMEOUT_MS;
        cl->response_timeout_ms = WG_CONFIG_DEFAULT_RESPONSE_TIMEOUT_MS;
        if (!wg_config_read_mapping(r, item, keys)) {
            wg_config_reader_restore(r, s2);
            continue;
        }
        if (read_name(r, item, "cluster", &cl->name)) {
            for (size_t j = 0; j + 1 < c->nclusters; j++) {
                if (c->clusters[j].name && strcmp(c->clusters[j].name, cl->name) == 0) {
                    size_t s3 = wg_config_reader_key(r, "name");
                    wg_config_reader_error(r, value_of(item, "name"),
                                           "duplicate cluster name \"%s\" (also clusters[%zu])",
                                           cl->name, j);
                    wg_config_reader_restore(r, s3);
                    break;
                }
            }
        }
        const node *eps = read_list(r, item, "endpoints", true);
        if (eps) {
            size_t s3 = wg_config_reader_key(r, "endpoints");
            if (eps->count == 0)
                wg_config_reader_error(r, eps, "a cluster needs at least one endpoint");
            else
                cl->endpoints = calloc(eps->count, sizeof *cl->endpoints);
            for (size_t j = 0; cl->endpoints && j < eps->count; j++) {
                const node *e = eps->items[j];
                size_t s4 = wg_config_reader_index(r, j);
                const char *why = NULL;
                if (e->kind != WG_CONFIG_YAML_SCALAR || wg_config_yaml_is_null(e)) {
                    wg_config_reader_error(r, e, "expected \"host:port\"");
                } else if (!wg_config_address_parse(e->text, false, &cl->endpoints[cl->nendpoints],
                                                    &why)) {
                    wg_config_reader_error(r, e, "\"%s\" is not host:port (%s)", e->text, why);
                } else {
                    cl->nendpoints++;
                }
                wg_config_reader_restore(r, s4);
            }
            wg_config_reader_restore(r, s3);
        }
        read_u32(r, item, "connect_timeout_ms", 1, DAY_MS, &cl->connect_timeout_ms);
        read_u32(r, item, "response_timeout_ms", 0, DAY_MS, &cl->response_timeout_ms);
        wg_config_reader_restore(r, s2);
    }
    wg_config_reader_restore(r, saved);
}

static bool valid_route_host(const char *h)
{
    if (strncmp(h, "*.", 2) == 0)
        h += 2;
    size_t n = strlen(h);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return false;
    }
    return true;
}

static void read_route(reader *r, wg_config *c, const node *item, wg_config_route *rt)
{
    static const char *const keys[] = {"match", "cluster", "direct_response", NULL};
    static const char *const match_keys[] = {"prefix", "exact", "host", NULL};
    static const char *const direct_keys[] = {"status", "body", NULL};
    if (!wg_config_read_mapping(r, item, keys))
        return;

    const node *match = value_of(item, "match");
    if (!match || wg_config_yaml_is_null(match)) {
        wg_config_reader_error(r, item, "missing required key \"match\"");
    } else {
        size_t saved = wg_config_reader_key(r, "match");
        if (wg_config_read_mapping(r, match, match_keys)) {
            int np = wg_config_read_string(r, match, "prefix", false, &rt->prefix);
            int ne = wg_config_read_string(r, match, "exact", false, &rt->exact);
            if (np == 1 && ne == 1) {
                wg_config_reader_error(r, match, "set either \"prefix\" or \"exact\", not both");
            } else if (np == 0 && ne == 0) {
                wg_config_reader_error(r, match, "needs \"prefix\" or \"exact\"");
            }
            const char *which = np == 1 ? "prefix" : "exact";
            const char *path = np == 1 ? rt->prefix : ne == 1 ? rt->exact : NULL;
            if (path && path[0] != '/') {
                size_t s2 = wg_config_reader_key(r, which);
                wg_config_reader_error(r, value_of(match, which), "\"%s\" must start with '/'",
                                       path);
                wg_config_reader_restore(r, s2);
            }
            if (wg_config_read_string(r, match, "host", false, &rt->host) == 1) {
                if (!valid_route_host(rt->host)) {
                    size_t s2 = wg_config_reader_key(r, "host");
                    wg_config_reader_error(
                        r, value_of(match, "host"),
                        "\"%s\" is not a host name (wildcards: \"*.example.com\")", rt->host);
                    wg_config_reader_restore(r, s2);
                }
                for (char *p = rt->host; *p; p++)
                    if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
            }
        }
        wg_config_reader_restore(r, saved);
    }

    const node *cl = value_of(item, "cluster");
    const node *dr = value_of(item, "direct_response");
    bool has_cl = cl && !wg_config_yaml_is_null(cl);
    bool has_dr = dr && !wg_config_yaml_is_null(dr);
    if (has_cl == has_dr) {
        wg_config_reader_error(r, item,
                               has_cl ? "set either \"cluster\" or \"direct_response\", "
                                        "not both"
                                      : "needs \"cluster\" or \"direct_response\"");
    }
    if (has_cl && wg_config_read_string(r, item, "cluster", false, &rt->cluster) == 1) {
        long idx = wg_config_find_cluster(c, rt->cluster);
        if (idx < 0) {
            size_t s2 = wg_config_reader_key(r, "cluster");
            wg_config_reader_error(r, cl, "unknown cluster \"%s\"", rt->cluster);
            wg_config_reader_restore(r, s2);
        } else {
            rt->cluster_index = (size_t)idx;
        }
    }
    if (has_dr) {
        size_t saved = wg_config_reader_key(r, "direct_response");
        if (wg_config_read_mapping(r, dr, direct_keys)) {
            int64_t status = 200;
            if (wg_config_read_int(r, dr, "status", true, 200, 599, &status) == 1)
                rt->direct_status = (int)status;
            if (wg_config_read_string(r, dr, "body", false, &rt->direct_body) != 1) {
                free(rt->direct_body);
                rt->direct_body = strdup("");
            }
            rt->direct_body_len = rt->direct_body ? strlen(rt->direct_body) : 0;
        }
        wg_config_reader_restore(r, saved);
    }
}

static void read_listeners(reader *r, wg_config *c, const node *root)
{
    static const char *const keys[] = {"name", "address", "direction", "routes", NULL};
    static const char *const directions[] = {"inbound", "outbound", NULL};
    const node *list = read_list(r, root, "listeners", true);
    if (!list)
        return;
    size_t saved = wg_config_reader_key(r, "listeners");
    if (list->count == 0) {
        wg_config_reader_error(r, list, "at least one listener is required");
        wg_config_reader_restore(r, saved);
        return;
    }
    c->listeners = calloc(list->count, sizeof *c->listeners);
    if (!c->listeners) {
        wg_config_reader_error(r, list, "out of memory");
        wg_config_reader_restore(r, saved);
        return;
    }
    for (size_t i = 0; i < list->count; i++) {
        const node *item = list->items[i];
        size_t s2 = wg_config_reader_index(r, i);
        wg_config_listener *l = &c->listeners[c->nlisteners++];
        if (!wg_config_read_mapping(r, item, keys)) {
            wg_config_reader_restore(r, s2);
            continue;
        }
        if (read_name(r, item, "listener", &l->name)) {
            for (size_t j = 0; j + 1 < c->nlisteners; j++) {
                if (c->listeners[j].name && strcmp(c->listeners[j].name, l->name) == 0) {
                    size_t s3 = wg_config_reader_key(r, "name");
                    wg_config_reader_error(r, value_of(item, "name"),
                                           "duplicate listener name \"%s\" (also listeners[%zu])",
                                           l->name, j);
                    wg_config_reader_restore(r, s3);
                    break;
                }
            }
        }
        if (read_address(r, item, "address", true, true, &l->address) && l->address.port != 0) {
            /* Two sockets cannot bind the same address and port. */
            for (size_t j = 0; j + 1 < c->nlisteners; j++) {
                const wg_config_address *o = &c->listeners[j].address;
                if (o->host && o->port == l->address.port &&
                    strcmp(o->host, l->address.host) == 0) {
                    size_t s3 = wg_config_reader_key(r, "address");
                    wg_config_reader_error(r, value_of(item, "address"),
                                           "address %s is already used by listeners[%zu]",
                                           l->address.text, j);
                    wg_config_reader_restore(r, s3);
                    break;
                }
            }
            if (c->has_admin && c->admin.port == l->address.port &&
                strcmp(c->admin.host, l->address.host) == 0) {
                size_t s3 = wg_config_reader_key(r, "address");
                wg_config_reader_error(r, value_of(item, "address"),
                                       "address %s is already used by admin.address",
                                       l->address.text);
                wg_config_reader_restore(r, s3);
            }
        }
        int dir = WG_CONFIG_INBOUND;
        if (wg_config_read_enum(r, item, "direction", false, "direction", directions, &dir) == 1)
            l->direction = (wg_config_direction)dir;

        const node *routes = read_list(r, item, "routes", true);
        if (routes) {
            size_t s3 = wg_config_reader_key(r, "routes");
            if (routes->count == 0)
                wg_config_reader_error(r, routes, "a listener needs at least one route");
            else
                l->routes = calloc(routes->count, sizeof *l->routes);
            for (size_t j = 0; l->routes && j < routes->count; j++) {
                size_t s4 = wg_config_reader_index(r, j);
                read_route(r, c, routes->items[j], &l->routes[l->nroutes++]);
                wg_config_reader_restore(r, s4);
            }
            wg_config_reader_restore(r, s3);
        }
        wg_config_reader_restore(r, s2);
    }
    wg_config_reader_restore(r, saved);
}

static void read_limits(reader *r, wg_config *c, const node *root)
{
    static const char *const keys[] = {"max_request_head_bytes",
                                       "max_headers",
                                       "idle_timeout_ms",
                                       "request_head_timeout_ms",
                                       "max_request_body_buffer_bytes",
                                       "max_response_body_buffer_bytes",
                                       "drain_timeout_ms",
                                       "stream_idle_timeout_ms",
                                       NULL};
    const node *m = read_section(r, root, "limits", keys);
    if (!m)
        return;
    size_t saved = wg_config_reader_key(r, "limits");
    wg_config_limits *l = &c->limits;
    uint64_t v = 0;
    if (wg_config_read_size(r, m, "max_request_head_bytes", false, 1024, 1024 * 1024, &v) == 1)
        l->max_request_head_bytes = (uint32_t)v;
    read_u32(r, m, "max_headers", 1, 10000, &l->max_headers);
    read_u32(r, m, "idle_timeout_ms", 1, DAY_MS, &l->idle_timeout_ms);
    read_u32(r, m, "request_head_timeout_ms", 1, DAY_MS, &l->request_head_timeout_ms);
    wg_config_read_size(r, m, "max_request_body_buffer_bytes", false, 0, 1ull << 30,
                        &l->max_request_body_buffer_bytes);
    wg_config_read_size(r, m, "max_response_body_buffer_bytes", false, 0, 1ull << 30,
                        &l->max_response_body_buffer_bytes);
    read_u32(r, m, "drain_timeout_ms", 0, DAY_MS, &l->drain_timeout_ms);
    read_u32(r, m, "stream_idle_timeout_ms", 0, DAY_MS, &l->stream_idle_timeout_ms);
    wg_config_reader_restore(r, saved);
}

/* "host", "host:port", "[v6]" or "[v6]:port". */
static bool valid_registry(const char *s)
{
    wg_config_address a;
    if (wg_config_address_parse(s, false, &a, NULL)) {
        wg_config_address_free(&a);
        return true;
    }
    char *with_port = NULL;
    if (asprintf(&with_port, "%s:1", s) < 0)
        return false;
    bool ok = wg_config_address_parse(with_port, false, &a, NULL);
    if (ok)
        wg_config_address_free(&a);
    free(with_port);
    return ok;
}

static void read_plugins(reader *r, wg_config *c, const node *root)
{
    static const char *const keys[] = {"manifests",
                                       "cache_dir",
                                       "root_namespace",
                                       "insecure_registries",
                                       "callback_deadline_ms",
                                       "start_deadline_ms",
                                       "max_memory_bytes",
                                       "fetch_timeout_ms",
                                       "max_module_bytes",
                                       "cache_max_bytes",
                                       "cache_unused_ttl_s",
                                       "watch",
                                       NULL};
    const node *m = read_section(r, root, "plugins", keys);
    if (!m)
        return;
    size_t saved = wg_config_reader_key(r, "plugins");
    wg_config_plugins *p = &c->plugins;
    if (wg_config_read_string(r, m, "manifests", false, &p->manifests) == 1 && !*p->manifests) {
        size_t s2 = wg_config_reader_key(r, "manifests");
        wg_config_reader_error(r, value_of(m, "manifests"), "the path is empty");
        wg_config_reader_restore(r, s2);
    }
    if (wg_config_read_string(r, m, "cache_dir", false, &p->cache_dir) == 1 && !*p->cache_dir) {
        size_t s2 = wg_config_reader_key(r, "cache_dir");
        wg_config_reader_error(r, value_of(m, "cache_dir"), "the path is empty");
        wg_config_reader_restore(r, s2);
    }
    if (wg_config_read_string(r, m, "root_namespace", false, &p->root_namespace) == 1 &&
        !valid_dns_label(p->root_namespace)) {
        size_t s2 = wg_config_reader_key(r, "root_namespace");
        wg_config_reader_error(r, value_of(m, "root_namespace"), "\"%s\" is not a valid namespace",
                               p->root_namespace);
        wg_config_reader_restore(r, s2);
    }
    const node *regs = read_list(r, m, "insecure_registries", false);
    if (regs && regs->count) {
        size_t s2 = wg_config_reader_key(r, "insecure_registries");
        p->insecure_registries = calloc(regs->count, sizeof *p->insecure_registries);
        for (size_t i = 0; p->insecure_registries && i < regs->count; i++) {
            const node *e = regs->items[i];
            size_t s3 = wg_config_reader_index(r, i);
            bool ok = e->kind == WG_CONFIG_YAML_SCALAR && !wg_config_yaml_is_null(e) &&
                      strlen(e->text) == e->len;
            if (ok && strcmp(e->text, "*") != 0)
                ok = valid_registry(e->text);
            if (!ok) {
                wg_config_reader_error(r, e,
                                       "expected a registry \"host\", \"host:port\" or \"*\"");
            } else {
                p->insecure_registries[p->ninsecure_registries] = strdup(e->text);
                if (p->insecure_registries[p->ninsecure_registries])
                    p->ninsecure_registries++;
            }
            wg_config_reader_restore(r, s3);
        }
        wg_config_reader_restore(r, s2);
    }
    read_u32(r, m, "callback_deadline_ms", 1, 60000, &p->callback_deadline_ms);
    read_u32(r, m, "start_deadline_ms", 1, 600000, &p->start_deadline_ms);
    wg_config_read_size(r, m, "max_memory_bytes", false, 64 * 1024, 1ull << 32,
                        &p->max_memory_bytes);
    read_u32(r, m, "fetch_timeout_ms", 1, 3600000, &p->fetch_timeout_ms);
    wg_config_read_size(r, m, "max_module_bytes", false, 8, 1ull << 32, &p->max_module_bytes);
    wg_config_read_size(r, m, "cache_max_bytes", false, 0, 1ull << 50, &p->cache_max_bytes);
    read_u64(r, m, "cache_unused_ttl_s", 0, 10ll * 365 * 86400, &p->cache_unused_ttl_s);
    wg_config_read_bool(r, m, "watch", false, &p->watch);
    wg_config_reader_restore(r, saved);
}

static bool valid_component_levels(const char *spec, const char **why)
{
    const char *p = spec;
    if (!*p) {
        *why = "is empty";
        return false;
    }
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (n == 0 || n >= sizeof item) {
            *why = "has an empty or over-long item";
            return false;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *colon = strchr(item, ':');
        const char *level = item;
        if (colon) {
            *colon = '\0';
            level = colon + 1;
            size_t clen = strlen(item);
            if (clen == 0 || clen > WG_LOG_COMPONENT_MAX) {
                *why = "has a component name that is empty or longer than 15 characters";
                return false;
            }
            for (const char *q = item; *q; q++) {
                if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_' ||
                      *q == '-')) {
                    *why = "has a component name with characters other than [a-z0-9_-]";
                    return false;
                }
            }
        }
        wg_log_level lv;
        if (wg_log_level_from_string(level, &lv) != 0) {
            *why = "has an unknown level (trace, debug, info, warn, error, critical, off)";
            return false;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return true;
}

static void read_top_level(reader *r, wg_config *c, const node *root)
{
    int64_t workers = 0;
    if (wg_config_read_int(r, root, "workers", false, 1, WG_CONFIG_MAX_WORKERS, &workers) == 1) {
        c->workers = (uint32_t)workers;
        c->workers_auto = false;
    }
    wg_config_read_bool(r, root, "access_log", false, &c->access_log);
    if (wg_config_read_string(r, root, "log_level", false, &c->log_level) == 1) {
        wg_log_level lv;
        if (wg_log_level_from_string(c->log_level, &lv) != 0) {
            size_t saved = wg_config_reader_key(r, "log_level");
            wg_config_reader_error(r, value_of(root, "log_level"),
                                   "unknown level \"%s\" (expected trace, debug, info, warn, "
                                   "error, critical or off)",
                                   c->log_level);
            wg_config_reader_restore(r, saved);
        }
    }
    if (wg_config_read_string(r, root, "component_log_level", false, &c->component_log_level) ==
        1) {
        const char *why = NULL;
        if (!valid_component_levels(c->component_log_level, &why)) {
            size_t saved = wg_config_reader_key(r, "component_log_level");
            wg_config_reader_error(r, value_of(root, "component_log_level"),
                                   "\"%s\" %s; expected e.g. \"wasm:trace,http:debug\"",
                                   c->component_log_level, why);
            wg_config_reader_restore(r, saved);
        }
    }
}

/* ---- entry points ----------------------------------------------------------------- */

static wg_config *config_new(void)
{
    wg_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->workers = cpu_count();
    c->workers_auto = true;
    c->access_log = true;
    c->limits = (wg_config_limits){
        .max_request_head_bytes = WG_CONFIG_DEFAULT_MAX_REQUEST_HEAD_BYTES,
        .max_headers = WG_CONFIG_DEFAULT_MAX_HEADERS,
        .idle_timeout_ms = WG_CONFIG_DEFAULT_IDLE_TIMEOUT_MS,
        .request_head_timeout_ms = WG_CONFIG_DEFAULT_REQUEST_HEAD_TIMEOUT_MS,
        .max_request_body_buffer_bytes = WG_CONFIG_DEFAULT_MAX_REQUEST_BODY_BUFFER_BYTES,
        .max_response_body_buffer_bytes = WG_CONFIG_DEFAULT_MAX_RESPONSE_BODY_BUFFER_BYTES,
        .drain_timeout_ms = WG_CONFIG_DEFAULT_DRAIN_TIMEOUT_MS,
        .stream_idle_timeout_ms = WG_CONFIG_DEFAULT_STREAM_IDLE_TIMEOUT_MS,
    };
    c->plugins = (wg_config_plugins){
        .callback_deadline_ms = WG_CONFIG_DEFAULT_CALLBACK_DEADLINE_MS,
        .start_deadline_ms = WG_CONFIG_DEFAULT_START_DEADLINE_MS,
        .max_memory_bytes = WG_CONFIG_DEFAULT_MAX_MEMORY_BYTES,
        .fetch_timeout_ms = WG_CONFIG_DEFAULT_FETCH_TIMEOUT_MS,
        .max_module_bytes = WG_CONFIG_DEFAULT_MAX_MODULE_BYTES,
        .cache_max_bytes = WG_CONFIG_DEFAULT_CACHE_MAX_BYTES,
        .cache_unused_ttl_s = WG_CONFIG_DEFAULT_CACHE_UNUSED_TTL_S,
        .watch = true,
    };
    return c;
}

/* Defaults that are strings, filled once everything was read. */
static void fill_string_defaults(reader *r, wg_config *c)
{
    if (!c->node.id)
        c->node.id = strdup("wasmgate");
    if (!c->node.namespace)
        c->node.namespace = strdup(WG_CONFIG_DEFAULT_NAMESPACE);
    if (!c->plugins.root_namespace)
        c->plugins.root_namespace = strdup(WG_CONFIG_DEFAULT_ROOT_NAMESPACE);
    if (!c->plugins.cache_dir)
        c->plugins.cache_dir = strdup(WG_CONFIG_DEFAULT_CACHE_DIR);
    if (!c->node.id || !c->node.namespace || !c->plugins.root_namespace || !c->plugins.cache_dir)
        wg_config_reader_error(r, NULL, "out of memory");
    resolve_in_place(r, c->base_dir, &c->plugins.manifests);
    resolve_in_place(r, c->base_dir, &c->plugins.cache_dir);
}

static wg_config *parse(const char *text, size_t len, const char *name, const char *base_dir,
                        wg_buf *errors)
{
    static const char *const top_keys[] = {
        "admin",   "workers",    "node",      "listeners",           "clusters", "limits",
        "plugins", "access_log", "log_level", "component_log_level", NULL};
    reader r;
    wg_config_reader_init(&r, name, errors, NULL);
    wg_config *c = config_new();
    if (!c) {
        wg_config_reader_error(&r, NULL, "out of memory");
        return NULL;
    }
    c->source = strdup(name ? name : "");
    c->base_dir = strdup(base_dir ? base_dir : "");
    if (!c->source || !c->base_dir) {
        wg_config_reader_error(&r, NULL, "out of memory");
        wg_config_free(c);
        return NULL;
    }

    wg_config_yaml *y = wg_config_yaml_parse(text, len, 1, &r);
    if (!y) {
        wg_config_reader_error(&r, NULL, "out of memory");
        wg_config_free(c);
        return NULL;
    }
    const node *root = wg_config_yaml_doc(y, 0);
    if (r.nerrors == 0) {
        if (!root || wg_config_yaml_is_null(root)) {
            wg_config_reader_error(&r, root,
                                   "the configuration is empty (at least "
                                   "\"listeners\" is required)");
        } else if (wg_config_yaml_ndocs(y) > 1) {
            wg_config_reader_error(&r, wg_config_yaml_doc(y, 1),
                                   "expected a single YAML document, found %zu",
                                   wg_config_yaml_ndocs(y));
        } else if (wg_config_read_mapping(&r, root, top_keys)) {
            read_top_level(&r, c, root);
            read_admin(&r, c, root);
            read_node(&r, c, root);
            read_clusters(&r, c, root);
            read_listeners(&r, c, root);
            read_limits(&r, c, root);
            read_plugins(&r, c, root);
            fill_string_defaults(&r, c);
        }
    }
    wg_config_yaml_free(y);
    wg_config_reader_finish(&r);
    if (r.nerrors) {
        wg_config_free(c);
        return NULL;
    }
    return c;
}

wg_config *wg_config_parse(const char *yaml_text, size_t len, const char *name_for_errors,
                           wg_buf *errors)
{
    const char *name = name_for_errors ? name_for_errors : "<config>";
    char *dir = dir_of(name);
    if (!dir) {
        if (errors)
            wg_buf_appendf(errors, "%s: out of memory\n", name);
        return NULL;
    }
    wg_config *c = parse(yaml_text ? yaml_text : "", yaml_text ? len : 0, name, dir, errors);
    free(dir);
    return c;
}

wg_config *wg_config_load(const char *path, wg_buf *errors)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errors)
            wg_buf_appendf(errors, "%s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    wg_buf text = {0};
    char chunk[8192];
    size_t n = 0;
    bool ok = true;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (text.len + n > MAX_FILE_BYTES) {
            if (errors)
                wg_buf_appendf(errors, "%s: larger than %u bytes\n", path, MAX_FILE_BYTES);
            ok = false;
            break;
        }
        if (!wg_buf_append(&text, chunk, n)) {
            if (errors)
                wg_buf_appendf(errors, "%s: out of memory\n", path);
            ok = false;
            break;
        }
    }
    if (ok && ferror(f)) {
        if (errors)
            wg_buf_appendf(errors, "%s: read error: %s\n", path, strerror(errno));
        ok = false;
    }
    fclose(f);
    if (!ok) {
        wg_buf_free(&text);
        return NULL;
    }

    /* Relative paths are relative to the file's real directory, so they
     * keep working whatever the working directory is later. */
    char *dir = dir_of(path);
    char *real = dir ? realpath(*dir ? dir : ".", NULL) : NULL;
    wg_config *c = NULL;
    if (!real) {
        if (errors)
            wg_buf_appendf(errors, "%s: cannot resolve the directory: %s\n", path, strerror(errno));
    } else {
        c = parse(text.data ? (const char *)text.data : "", text.len, path, real, errors);
    }
    free(real);
    free(dir);
    wg_buf_free(&text);
    return c;
}

static void free_route(wg_config_route *rt)
{
    free(rt->prefix);
    free(rt->exact);
    free(rt->host);
    free(rt->cluster);
    free(rt->direct_body);
}

void wg_config_free(wg_config *c)
{
    if (!c)
        return;
    free(c->source);
    free(c->base_dir);
    wg_config_address_free(&c->admin);
    free(c->node.id);
    free(c->node.namespace);
    free(c->node.gateway);
    for (size_t i = 0; i < c->node.nlabels; i++) {
        free(c->node.labels[i].key);
        free(c->node.labels[i].value);
    }
    free(c->node.labels);
    for (size_t i = 0; i < c->nlisteners; i++) {
        wg_config_listener *l = &c->listeners[i];
        free(l->name);
        wg_config_address_free(&l->address);
        for (size_t j = 0; j < l->nroutes; j++)
            free_route(&l->routes[j]);
        free(l->routes);
    }
    free(c->listeners);
    for (size_t i = 0; i < c->nclusters; i++) {
        wg_config_cluster *cl = &c->clusters[i];
        free(cl->name);
        for (size_t j = 0; j < cl->nendpoints; j++)
            wg_config_address_free(&cl->endpoints[j]);
        free(cl->endpoints);
    }
    free(c->clusters);
    free(c->plugins.manifests);
    free(c->plugins.cache_dir);
    free(c->plugins.root_namespace);
    for (size_t i = 0; i < c->plugins.ninsecure_registries; i++)
        free(c->plugins.insecure_registries[i]);
    free(c->plugins.insecure_registries);
    free(c->log_level);
    free(c->component_log_level);
    free(c);
}

long wg_config_find_cluster(const wg_config *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->nclusters; i++)
        if (c->clusters[i].name && strcmp(c->clusters[i].name, name) == 0)
            return (long)i;
    return -1;
}

const char *wg_config_direction_name(wg_config_direction d)
{
    return d == WG_CONFIG_OUTBOUND ? "outbound" : "inbound";
}
