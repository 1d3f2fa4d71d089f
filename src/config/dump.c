/*
 * dump.c - the effective configuration as JSON (admin /config_dump).
 * Keys are those of the YAML file; every default is written out.
 */
#include "config/config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* json_object_set_new that tolerates a NULL value (allocation failure:
 * the whole dump then fails when it is finally checked). */
static bool put(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        *ok = false;
    return *ok;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *address(const wg_config_address *a)
{
    return a->text ? json_string(a->text) : json_null();
}

static json_t *dump_routes(const wg_config_listener *l, bool *ok)
{
    json_t *arr = json_array();
    if (!arr) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < l->nroutes; i++) {
        const wg_config_route *rt = &l->routes[i];
        json_t *route = json_object(), *match = json_object();
        if (!route || !match) {
            json_decref(route);
            json_decref(match);
            *ok = false;
            break;
        }
        if (rt->prefix)
            put(match, "prefix", json_string(rt->prefix), ok);
        if (rt->exact)
            put(match, "exact", json_string(rt->exact), ok);
        if (rt->host)
            put(match, "host", json_string(rt->host), ok);
        put(route, "match", match, ok);
        if (rt->cluster) {
            put(route, "cluster", json_string(rt->cluster), ok);
        } else {
            json_t *dr = json_object();
            if (dr) {
                put(dr, "status", json_integer(rt->direct_status), ok);
                put(dr, "body",
                    json_stringn(rt->direct_body ? rt->direct_body : "", rt->direct_body_len), ok);
            }
            put(route, "direct_response", dr, ok);
        }
        if (json_array_append_new(arr, route) != 0)
            *ok = false;
    }
    return arr;
}

bool wg_config_dump_json(const wg_config *c, wg_buf *out)
{
    bool ok = true;
    json_t *root = json_object();
    if (!root)
        return false;

    put(root, "source", str_or_null(c->source), &ok);
    json_t *admin = json_object();
    if (admin)
        put(admin, "address", c->has_admin ? address(&c->admin) : json_null(), &ok);
    put(root, "admin", admin, &ok);
    put(root, "workers", json_integer(c->workers), &ok);
    put(root, "access_log", json_boolean(c->access_log), &ok);
    put(root, "log_level", str_or_null(c->log_level), &ok);
    put(root, "component_log_level", str_or_null(c->component_log_level), &ok);

    json_t *node = json_object(), *labels = json_object();
    if (node && labels) {
        put(node, "id", str_or_null(c->node.id), &ok);
        put(node, "namespace", str_or_null(c->node.namespace), &ok);
        for (size_t i = 0; i < c->node.nlabels; i++)
            put(labels, c->node.labels[i].key, json_string(c->node.labels[i].value), &ok);
        put(node, "labels", labels, &ok);
        labels = NULL;
        put(node, "gateway", str_or_null(c->node.gateway), &ok);
    } else {
        json_decref(labels);
    }
    put(root, "node", node, &ok);

    json_t *listeners = json_array();
    for (size_t i = 0; listeners && i < c->nlisteners; i++) {
        const wg_config_listener *l = &c->listeners[i];
        json_t *lj = json_object();
        if (!lj) {
            ok = false;
            break;
        }
        put(lj, "name", str_or_null(l->name), &ok);
        put(lj, "address", address(&l->address), &ok);
        put(lj, "direction", json_string(wg_config_direction_name(l->direction)), &ok);
        put(lj, "routes", dump_routes(l, &ok), &ok);
        if (json_array_append_new(listeners, lj) != 0)
            ok = false;
    }
    put(root, "listeners", listeners, &ok);

    json_t *clusters = json_array();
    for (size_t i = 0; clusters && i < c->nclusters; i++) {
        const wg_config_cluster *cl = &c->clusters[i];
        json_t *cj = json_object(), *eps = json_array();
        if (!cj || !eps) {
            json_decref(cj);
            json_decref(eps);
            ok = false;
            break;
        }
        put(cj, "name", str_or_null(cl->name), &ok);
        for (size_t j = 0; j < cl->nendpoints; j++)
            if (json_array_append_new(eps, address(&cl->endpoints[j])) != 0)
                ok = false;
        put(cj, "endpoints", eps, &ok);
        put(cj, "connect_timeout_ms", json_integer(cl->connect_timeout_ms), &ok);
        put(cj, "response_timeout_ms", json_integer(cl->response_timeout_ms), &ok);
        if (json_array_append_new(clusters, cj) != 0)
            ok = false;
    }
    put(root, "clusters", clusters, &ok);

    const wg_config_limits *lim = &c->limits;
    json_t *limits = json_object();
    if (limits) {
        put(limits, "max_request_head_bytes", json_integer(lim->max_request_head_bytes), &ok);
        put(limits, "max_headers", json_integer(lim->max_headers), &ok);
        put(limits, "idle_timeout_ms", json_integer(lim->idle_timeout_ms), &ok);
        put(limits, "request_head_timeout_ms", json_integer(lim->request_head_timeout_ms), &ok);
        put(limits, "max_request_body_buffer_bytes",
            json_integer((json_int_t)lim->max_request_body_buffer_bytes), &ok);
        put(limits, "max_response_body_buffer_bytes",
            json_integer((json_int_t)lim->max_response_body_buffer_bytes), &ok);
        put(limits, "drain_timeout_ms", json_integer(lim->drain_timeout_ms), &ok);
        put(limits, "stream_idle_timeout_ms", json_integer(lim->stream_idle_timeout_ms), &ok);
    }
    put(root, "limits", limits, &ok);

    const wg_config_plugins *p = &c->plugins;
    json_t *plugins = json_object(), *regs = json_array();
    if (plugins && regs) {
        put(plugins, "manifests", str_or_null(p->manifests), &ok);
        put(plugins, "cache_dir", str_or_null(p->cache_dir), &ok);
        put(plugins, "root_namespace", str_or_null(p->root_namespace), &ok);
        for (size_t i = 0; i < p->ninsecure_registries; i++)
            if (json_array_append_new(regs, json_string(p->insecure_registries[i])) != 0)
                ok = false;
        put(plugins, "insecure_registries", regs, &ok);
        regs = NULL;
        put(plugins, "callback_deadline_ms", json_integer(p->callback_deadline_ms), &ok);
        put(plugins, "start_deadline_ms", json_integer(p->start_deadline_ms), &ok);
        put(plugins, "max_memory_bytes", json_integer((json_int_t)p->max_memory_bytes), &ok);
        put(plugins, "fetch_timeout_ms", json_integer(p->fetch_timeout_ms), &ok);
        put(plugins, "max_module_bytes", json_integer((json_int_t)p->max_module_bytes), &ok);
        put(plugins, "cache_max_bytes", json_integer((json_int_t)p->cache_max_bytes), &ok);
        put(plugins, "cache_unused_ttl_s", json_integer((json_int_t)p->cache_unused_ttl_s), &ok);
        put(plugins, "watch", json_boolean(p->watch), &ok);
    } else {
        json_decref(regs);
    }
    put(root, "plugins", plugins, &ok);

    char *text = ok ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!text)
        return false;
    bool done = wg_buf_set(out, text, strlen(text)) && wg_buf_append(out, "\n", 1);
    free(text);
    return done;
}
