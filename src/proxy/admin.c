/*
 * admin.c - the admin server, on the main thread's loop (p->loop).
 *
 * One request per connection (every answer says "Connection: close"),
 * parsed with the project's HTTP/1.1 parser with small limits: the admin
 * address is meant for loopback and operators, not for traffic.
 *
 *   GET  /ready             200 "LIVE\n", or 503 "DRAINING\n" once SIGTERM arrived
 *   GET  /stats/prometheus  every metric (the proxy's and the plugins'), text 0.0.4
 *   GET  /config_dump       {"bootstrap": <effective config>, "plugins": [...]}
 *   GET  /plugins           [{name, namespace, state, error, restarts, traps, ...}]
 *   GET  /logging           {"level": global, "components": {name: level}}
 *   POST /logging?wasm=trace&http=debug   (also "?level=debug" for the global
 *                           level, and "?http=debug,wasm=info"): sets them,
 *                           answers the new levels; 400 on an unknown level
 *
 * HEAD is accepted wherever GET is. Other paths: 404; a known path with
 * another method: 405 with Allow.
 *
 * Lifetime: wg_admin_start binds and listens (the socket is bound before
 * any libuv handle exists, so a failure leaves nothing to clean up);
 * wg_admin_stop closes the listener and every connection. Handles close
 * asynchronously: their memory is released by their close callbacks, so
 * the loop must run once more after wg_admin_stop (as it must for any
 * uv_close) before uv_loop_close.
 */
#include "proxy/internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN_MAX_HEAD (16u * 1024u)
#define ADMIN_MAX_HEADERS 64u
#define ADMIN_MAX_URL (4u * 1024u)
#define ADMIN_MAX_BODY (64u * 1024u)
#define ADMIN_TIMEOUT_MS 10000u
#define ADMIN_READ_BUF (16u * 1024u)
/* Components that have their own level set through POST /logging. */
#define ADMIN_MAX_TRACKED WG_LOG_MAX_COMPONENTS

typedef struct admin_conn admin_conn;

struct wg_admin {
    wg_proxy *proxy;
    uv_tcp_t server;
    bool listening;
    bool stopping;
    unsigned refs; /* open server handle + live connections */
    admin_conn *conns;
    char address[80];
    char readbuf[ADMIN_READ_BUF]; /* every read is parsed before the next one */
    char tracked[ADMIN_MAX_TRACKED][WG_LOG_COMPONENT_MAX + 1];
    size_t ntracked;
};

struct admin_conn {
    struct wg_admin *admin;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    wg_buf out;
    wg_http_parser parser;
    int open_handles;
    bool closing;
    bool responded;
    bool complete; /* a whole request was read */
    bool body_too_large;
    bool is_head;
    char method[16];
    char *target; /* path and query, NUL-terminated */
    wg_buf body;
    admin_conn *next, *prev;
};

/* The components listed by /logging besides those set through it: the
 * names the code base logs under. */
static const char *const known_components[] = {
    "access", "admin", "config", "http", "main", "proxy", "wasm", NULL,
};

/* ---- small JSON writer ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n) (n > 0), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* A JSON string; invalid UTF-8 becomes U+FFFD. */
static void json_strn(wg_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    wg_buf_append(b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            wg_buf_append(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n':
                wg_buf_append(b, "\\n", 2);
                break;
            case '\r':
                wg_buf_append(b, "\\r", 2);
                break;
            case '\t':
                wg_buf_append(b, "\\t", 2);
                break;
            default:
                wg_buf_appendf(b, "\\u%04x", c);
            }
            i++;
        } else if (c < 0x80) {
            size_t j = i;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\')
                j++;
            wg_buf_append(b, p + i, j - i);
            i = j;
        } else {
            size_t len = utf8_seq(p + i, n - i);
            if (len == 0) {
                wg_buf_append_str(b, "\\ufffd");
                i++;
            } else {
                wg_buf_append(b, p + i, len);
                i += len;
            }
        }
    }
    wg_buf_append(b, "\"", 1);
}

static void json_str(wg_buf *b, const char *s)
{
    if (!s)
        wg_buf_append_str(b, "null");
    else
        json_strn(b, s, strlen(s));
}

/* "key": (with a comma first unless first) */
static void json_key(wg_buf *b, const char *key, bool first)
{
    if (!first)
        wg_buf_append(b, ",", 1);
    json_str(b, key);
    wg_buf_append(b, ":", 1);
}

/* ---- connections --------------------------------------------------------------- */

static void admin_unref(struct wg_admin *a)
{
    if (--a->refs == 0 && a->stopping)
        free(a);
}

static void conn_handle_closed(uv_handle_t *h)
{
    admin_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct wg_admin *a = c->admin;
    wg_http_parser_free(&c->parser);
    wg_buf_free(&c->out);
    wg_buf_free(&c->body);
    free(c->target);
    free(c);
    admin_unref(a);
}

static void conn_close(admin_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->admin->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_close(req->data);
}

static void on_written(uv_write_t *req, int status)
{
    admin_conn *c = req->data;
    if (c->closing)
        return;
    if (status < 0 || uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

static void on_timeout(uv_timer_t *t);

/* Sends a complete response and closes the connection once it is out. */
static void respond(admin_conn *c, int status, const char *content_type, const wg_buf *body,
                    const char *allow)
{
    if (c->responded || c->closing)
        return;
    c->responded = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    /* A client that does not read its answer is dropped after a while. */
    uv_timer_start(&c->timer, on_timeout, ADMIN_TIMEOUT_MS, 0);

    wg_headers h;
    wg_headers_init(&h);
    char len[32];
    size_t body_len = body ? body->len : 0;
    snprintf(len, sizeof len, "%zu", body_len);
    bool ok = true;
    if (content_type)
        ok &= wg_headers_add(&h, "content-type", 12, content_type, strlen(content_type));
    ok &= wg_headers_add(&h, "content-length", 14, len, strlen(len));
    ok &= wg_headers_add(&h, "cache-control", 13, "no-cache", 8);
    if (allow)
        ok &= wg_headers_add(&h, "allow", 5, allow, strlen(allow));
    ok &= wg_headers_add(&h, "connection", 10, "close", 5);
    wg_buf_clear(&c->out);
    ok = ok && wg_http_write_response_head(&c->out, status, NULL, &h, 1);
    wg_headers_free(&h);
    if (ok && body && body_len && !c->is_head)
        ok = wg_buf_append(&c->out, body->data, body_len);
    if (!ok) {
        WG_ERROR("admin", "out of memory writing a response");
        conn_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    c->write_req.data = c;
    c->shutdown_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        conn_close(c);
}

static void respond_text(admin_conn *c, int status, const char *text)
{
    wg_buf b;
    wg_buf_init(&b);
    wg_buf_append_str(&b, text);
    respond(c, status, "text/plain; charset=utf-8", &b, NULL);
    wg_buf_free(&b);
}

static void respond_json(admin_conn *c, int status, wg_buf *json)
{
    wg_buf_append(json, "\n", 1);
    respond(c, status, "application/json", json, NULL);
}

static void respond_error_json(admin_conn *c, int status, const char *message)
{
    wg_buf b;
    wg_buf_init(&b);
    wg_buf_append_str(&b, "{\"error\":");
    json_str(&b, message);
    wg_buf_append_str(&b, "}");
    respond_json(c, status, &b);
    wg_buf_free(&b);
}

/* ---- endpoints ----------------------------------------------------------------- */

static void handle_ready(admin_conn *c)
{
    if (atomic_load(&c->admin->proxy->draining))
        respond_text(c, 503, "DRAINING\n");
    else
        respond_text(c, 200, "LIVE\n");
}

static void handle_prometheus(admin_conn *c)
{
    wg_proxy *p = c->admin->proxy;
    wg_buf b;
    wg_buf_init(&b);
    if (!wg_stats_write_prometheus(p->stats ? p->stats : wg_stats_global(), &b)) {
        wg_buf_free(&b);
        respond_text(c, 500, "out of memory\n");
        return;
    }
    respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", &b, NULL);
    wg_buf_free(&b);
}

/* Reads the plugin's status on every worker, as the workers published it
 * (wg_vmhost_publish, under the plugin's lock: the slots themselves belong
 * to the worker threads). */
typedef struct plugin_status {
    uint32_t failed_workers;
    uint64_t restarts;
    char error[320];
} plugin_status;

static void plugin_status_read(wg_plugin *pl, plugin_status *st)
{
    memset(st, 0, sizeof *st);
    if (pl->load_error)
        snprintf(st->error, sizeof st->error, "%s", pl->load_error);
    uv_mutex_lock(&pl->status_lock);
    for (uint32_t i = 0; i < pl->nstatus; i++) {
        const wg_plugin_worker_status *ws = &pl->status[i];
        st->restarts += ws->reloads;
        if (ws->failed) {
            st->failed_workers++;
            if (!st->error[0])
                snprintf(st->error, sizeof st->error, "%s", ws->error);
        }
    }
    uv_mutex_unlock(&pl->status_lock);
}

static const char *plugin_state(const wg_plugin *pl, const plugin_status *st, uint32_t nworkers)
{
    if (!pl->module)
        return "failed";
    if (st->failed_workers == 0)
        return "loaded";
    return st->failed_workers >= nworkers ? "failed" : "degraded";
}

static void write_plugin_common(wg_buf *b, const wg_plugin *pl)
{
    const wg_manifest *m = pl->manifest;
    json_key(b, "name", true);
    json_str(b, m ? m->name : pl->key);
    json_key(b, "namespace", false);
    json_str(b, m ? m->namespace : NULL);
}

/* The listeners whose chain includes the snapshot's plugin i, and where. */
static void write_plugin_listeners(wg_buf *b, const wg_proxy *p, const wg_snapshot *snap, size_t i)
{
    wg_buf_append(b, "[", 1);
    bool first = true;
    for (size_t l = 0; l < snap->nchains; l++) {
        const wg_chain *ch = &snap->chains[l];
        for (size_t k = 0; k < ch->n; k++) {
            if (ch->index[k] != i)
                continue;
            if (!first)
                wg_buf_append(b, ",", 1);
            first = false;
            wg_buf_append_str(b, "{\"listener\":");
            json_str(b, p->config->listeners[l].name);
            wg_buf_appendf(b, ",\"position\":%zu}", k);
        }
    }
    wg_buf_append(b, "]", 1);
}

static void handle_config_dump(admin_conn *c)
{
    wg_proxy *p = c->admin->proxy;
    wg_buf cfg, b;
    wg_buf_init(&cfg);
    wg_buf_init(&b);
    if (!wg_config_dump_json(p->config, &cfg)) {
        wg_buf_free(&cfg);
        respond_text(c, 500, "out of memory\n");
        return;
    }
    wg_buf_append_str(&b, "{\"bootstrap\":");
    wg_buf_append(&b, cfg.data, cfg.len);
    wg_buf_free(&cfg);
    /* The snapshot published, and the one each worker runs (they differ
     * for the moment between a reload's publication and its adoption). */
    const wg_snapshot *snap = p->snapshot;
    wg_buf_appendf(&b, ",\"plugins_snapshot\":{\"version\":%llu,\"workers\":[",
                   (unsigned long long)snap->version);
    for (uint32_t i = 0; p->workers && i < p->nworkers; i++)
        wg_buf_appendf(&b, "%s%llu", i ? "," : "",
                       (unsigned long long)atomic_load(&p->workers[i]->adopted_version));
    wg_buf_append_str(&b, "]}");
    wg_buf_append_str(&b, ",\"plugins\":[");
    for (size_t i = 0; i < snap->nplugins; i++) {
        const wg_plugin *pl = snap->plugins[i];
        const wg_manifest *m = pl->manifest;
        if (i)
            wg_buf_append(&b, ",", 1);
        wg_buf_append(&b, "{", 1);
        write_plugin_common(&b, pl);
        json_key(&b, "url", false);
        json_str(&b, m ? m->url.raw : NULL);
        /* spec.sha256 as configured, and the digest of the module in use
         * (for oci the two differ: sha256 names the image manifest). */
        json_key(&b, "sha256", false);
        json_str(&b, m ? m->sha256 : NULL);
        json_key(&b, "module_sha256", false);
        json_str(&b, pl->sha256[0] ? pl->sha256 : NULL);
        json_key(&b, "plugin_name", false);
        json_str(&b, m ? m->plugin_name : NULL);
        json_key(&b, "phase", false);
        json_str(&b, m ? wg_manifest_phase_name(m->phase) : NULL);
        json_key(&b, "priority", false);
        if (m && m->priority_set)
            wg_buf_appendf(&b, "%d", (int)m->priority);
        else
            wg_buf_append_str(&b, "null");
        json_key(&b, "fail_strategy", false);
        json_str(&b, m ? wg_manifest_fail_strategy_name(m->fail_strategy) : NULL);
        json_key(&b, "state", false);
        json_str(&b, pl->module ? "loaded" : "failed");
        json_key(&b, "error", false);
        json_str(&b, pl->load_error);
        json_key(&b, "update_error", false);
        json_str(&b, snap->update_errors[i]);
        json_key(&b, "listeners", false);
        write_plugin_listeners(&b, p, snap, i);
        wg_buf_append(&b, "}", 1);
    }
    wg_buf_append_str(&b, "]}");
    respond_json(c, 200, &b);
    wg_buf_free(&b);
}

static void handle_plugins(admin_conn *c)
{
    wg_proxy *p = c->admin->proxy;
    wg_buf b;
    wg_buf_init(&b);
    wg_buf_append(&b, "[", 1);
    const wg_snapshot *snap = p->snapshot;
    for (size_t i = 0; i < snap->nplugins; i++) {
        wg_plugin *pl = snap->plugins[i];
        plugin_status st;
        plugin_status_read(pl, &st);
        if (i)
            wg_buf_append(&b, ",", 1);
        wg_buf_append(&b, "{", 1);
        write_plugin_common(&b, pl);
        json_key(&b, "state", false);
        json_str(&b, plugin_state(pl, &st, p->nworkers));
        json_key(&b, "error", false);
        json_str(&b, st.error[0] ? st.error : NULL);
        /* A newer manifest that failed while this version keeps serving. */
        json_key(&b, "update_error", false);
        json_str(&b, snap->update_errors[i]);
        json_key(&b, "module_sha256", false);
        json_str(&b, pl->sha256[0] ? pl->sha256 : NULL);
        json_key(&b, "failed_workers", false);
        wg_buf_appendf(&b, "%u", st.failed_workers);
        json_key(&b, "restarts", false);
        wg_buf_appendf(&b, "%llu", (unsigned long long)st.restarts);
        json_key(&b, "traps", false);
        wg_buf_appendf(&b, "%llu",
                       (unsigned long long)(pl->traps ? wg_metric_value(pl->traps) : 0));
        wg_buf_append(&b, "}", 1);
    }
    wg_buf_append(&b, "]", 1);
    respond_json(c, 200, &b);
    wg_buf_free(&b);
}

/* The level in effect for a component (its own, else the global one). */
static const char *effective_level(const char *component)
{
    for (int l = WG_LOG_TRACE; l < WG_LOG_OFF; l++)
        if (wg_log_enabled(component, (wg_log_level)l))
            return wg_log_level_name((wg_log_level)l);
    return wg_log_level_name(WG_LOG_OFF);
}

static bool tracked(const struct wg_admin *a, const char *name)
{
    for (size_t i = 0; i < a->ntracked; i++)
        if (strcmp(a->tracked[i], name) == 0)
            return true;
    return false;
}

static void track(struct wg_admin *a, const char *name)
{
    for (size_t i = 0; known_components[i]; i++)
        if (strcmp(known_components[i], name) == 0)
            return;
    if (tracked(a, name) || a->ntracked >= ADMIN_MAX_TRACKED)
        return;
    size_t n = strnlen(name, WG_LOG_COMPONENT_MAX);
    memcpy(a->tracked[a->ntracked], name, n);
    a->tracked[a->ntracked++][n] = '\0';
}

static void write_levels(const struct wg_admin *a, wg_buf *b)
{
    wg_buf_append_str(b, "{\"level\":");
    json_str(b, wg_log_level_name(wg_log_get_level()));
    wg_buf_append_str(b, ",\"components\":{");
    bool first = true;
    for (size_t i = 0; known_components[i]; i++) {
        json_key(b, known_components[i], first);
        json_str(b, effective_level(known_components[i]));
        first = false;
    }
    for (size_t i = 0; i < a->ntracked; i++) {
        json_key(b, a->tracked[i], first);
        json_str(b, effective_level(a->tracked[i]));
        first = false;
    }
    wg_buf_append_str(b, "}}");
}

static bool valid_component(const char *s, size_t n)
{
    if (n == 0 || n > WG_LOG_COMPONENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

#define MAX_LEVEL_ITEMS 32

static void handle_logging_post(admin_conn *c, const char *query)
{
    struct wg_admin *a = c->admin;
    struct {
        char name[WG_LOG_COMPONENT_MAX + 1];
        bool global;
        wg_log_level level;
    } items[MAX_LEVEL_ITEMS];
    size_t n = 0;
    char err[160];

    /* Validate everything first: a bad item changes nothing. */
    const char *s = query ? query : "";
    while (*s) {
        size_t len = strcspn(s, "&,");
        if (len > 0) {
            const char *eq = memchr(s, '=', len);
            if (!eq) {
                snprintf(err, sizeof err, "\"%.*s\" is not COMPONENT=LEVEL",
                         (int)(len > 64 ? 64 : len), s);
                respond_error_json(c, 400, err);
                return;
            }
            size_t klen = (size_t)(eq - s), vlen = len - klen - 1;
            char level[16];
            if (vlen == 0 || vlen >= sizeof level) {
                snprintf(err, sizeof err,
                         "unknown level \"%.*s\" (trace, debug, info, warn, "
                         "error, critical, off)",
                         (int)(vlen > 15 ? 15 : vlen), eq + 1);
                respond_error_json(c, 400, err);
                return;
            }
            memcpy(level, eq + 1, vlen);
            level[vlen] = '\0';
            if (n >= MAX_LEVEL_ITEMS) {
                respond_error_json(c, 400, "too many items");
                return;
            }
            bool global = klen == 5 && memcmp(s, "level", 5) == 0;
            if (!global && !valid_component(s, klen)) {
                snprintf(err, sizeof err,
                         "invalid component name \"%.*s\" ([a-z0-9_-], 1 to %d "
                         "characters)",
                         (int)(klen > 32 ? 32 : klen), s, WG_LOG_COMPONENT_MAX);
                respond_error_json(c, 400, err);
                return;
            }
            if (wg_log_level_from_string(level, &items[n].level) != 0) {
                snprintf(err, sizeof err,
                         "unknown level \"%s\" (trace, debug, info, warn, "
                         "error, critical, off)",
                         level);
                respond_error_json(c, 400, err);
                return;
            }
            items[n].global = global;
            if (!global) {
                memcpy(items[n].name, s, klen);
                items[n].name[klen] = '\0';
            }
            n++;
        }
        s += len;
        if (*s)
            s++;
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].global) {
            wg_log_set_level(items[i].level);
            WG_INFO("admin", "log level set to %s", wg_log_level_name(items[i].level));
        } else if (wg_log_set_component_level(items[i].name, items[i].level) != 0) {
            snprintf(err, sizeof err, "cannot set the level of \"%.15s\": too many components",
                     items[i].name);
            respond_error_json(c, 400, err);
            return;
        } else {
            track(a, items[i].name);
            WG_INFO("admin", "log level of %s set to %s", items[i].name,
                    wg_log_level_name(items[i].level));
        }
    }
    wg_buf b;
    wg_buf_init(&b);
    write_levels(a, &b);
    respond_json(c, 200, &b);
    wg_buf_free(&b);
}

static void handle_logging_get(admin_conn *c)
{
    wg_buf b;
    wg_buf_init(&b);
    write_levels(c->admin, &b);
    respond_json(c, 200, &b);
    wg_buf_free(&b);
}

static void dispatch(admin_conn *c)
{
    if (c->body_too_large) {
        respond_text(c, 413, "request body too large\n");
        return;
    }
    char *path = c->target ? c->target : "/";
    char *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    bool get = strcmp(c->method, "GET") == 0 || c->is_head;
    bool post = strcmp(c->method, "POST") == 0;
    WG_DEBUG("admin", "%s %s%s%s", c->method, path, query ? "?" : "", query ? query : "");

    if (strcmp(path, "/ready") == 0) {
        if (get)
            handle_ready(c);
        else
            respond(c, 405, NULL, NULL, "GET, HEAD");
    } else if (strcmp(path, "/stats/prometheus") == 0) {
        if (get)
            handle_prometheus(c);
        else
            respond(c, 405, NULL, NULL, "GET, HEAD");
    } else if (strcmp(path, "/config_dump") == 0) {
        if (get)
            handle_config_dump(c);
        else
            respond(c, 405, NULL, NULL, "GET, HEAD");
    } else if (strcmp(path, "/plugins") == 0) {
        if (get)
            handle_plugins(c);
        else
            respond(c, 405, NULL, NULL, "GET, HEAD");
    } else if (strcmp(path, "/logging") == 0) {
        if (post)
            handle_logging_post(c, query);
        else if (get)
            handle_logging_get(c);
        else
            respond(c, 405, NULL, NULL, "GET, HEAD, POST");
    } else {
        respond_text(c, 404,
                     "not found; endpoints: GET /ready, GET /stats/prometheus, GET /config_dump, "
                     "GET /plugins, GET|POST /logging\n");
    }
}

/* ---- parser callbacks ------------------------------------------------------------ */

static void on_head(void *ctx, const wg_http_head *head)
{
    admin_conn *c = ctx;
    snprintf(c->method, sizeof c->method, "%s", head->method ? head->method : "");
    c->is_head = strcmp(c->method, "HEAD") == 0;
    free(c->target);
    c->target = strndup(head->path ? head->path : "/", head->path ? head->path_len : 1);
}

static void on_body(void *ctx, const uint8_t *data, size_t len)
{
    admin_conn *c = ctx;
    if (c->body_too_large)
        return;
    if (c->body.len + len > ADMIN_MAX_BODY || !wg_buf_append(&c->body, data, len)) {
        c->body_too_large = true;
        c->complete = true;
        wg_http_parser_pause(&c->parser);
    }
}

static void on_message_complete(void *ctx)
{
    admin_conn *c = ctx;
    c->complete = true;
    wg_http_parser_pause(&c->parser);
}

static const wg_http_callbacks parser_callbacks = {
    .on_head = on_head,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- socket callbacks ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    admin_conn *c = h->data;
    buf->base = c->admin->readbuf;
    buf->len = sizeof c->admin->readbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    admin_conn *c = s->data;
    if (c->closing || c->responded)
        return;
    wg_http_result r;
    if (nread < 0) {
        /* EOF or an error before a whole request: nobody to answer. */
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    size_t used = 0;
    r = wg_http_parser_feed(&c->parser, buf->base, (size_t)nread, &used);
    if (r == WG_HTTP_ERROR) {
        const wg_http_error *e = wg_http_parser_error(&c->parser);
        int status = wg_http_error_status(e->kind);
        char msg[160];
        snprintf(msg, sizeof msg, "%s\n", e->message ? e->message : "bad request");
        WG_DEBUG("admin", "bad request: %s", e->message ? e->message : "?");
        respond_text(c, status ? status : 400, msg);
        return;
    }
    if (c->complete)
        dispatch(c);
}

static void on_timeout(uv_timer_t *t)
{
    admin_conn *c = t->data;
    if (!c->responded)
        respond_text(c, 408, "request timeout\n");
    else
        conn_close(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct wg_admin *a = server->data;
    if (status < 0) {
        WG_WARN("admin", "accept: %s", uv_strerror(status));
        return;
    }
    admin_conn *c = calloc(1, sizeof *c);
    if (!c) {
        WG_ERROR("admin", "out of memory accepting a connection");
        return;
    }
    c->admin = a;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->open_handles = 1;
    a->refs++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
        return;
    }
    uv_timer_init(server->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;

    wg_http_limits limits;
    wg_http_limits_default(&limits);
    limits.max_head_size = ADMIN_MAX_HEAD;
    limits.max_headers = ADMIN_MAX_HEADERS;
    limits.max_url_len = ADMIN_MAX_URL;
    limits.max_chunk_size = ADMIN_MAX_BODY;
    wg_http_parser_init(&c->parser, WG_HTTP_REQUEST, &limits, &parser_callbacks, c);

    uv_timer_start(&c->timer, on_timeout, ADMIN_TIMEOUT_MS, 0);
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

/* ---- start and stop ---------------------------------------------------------------- */

/* A listening socket for addr, or -1 with the reason in errors. */
static int admin_socket(const wg_config_address *addr, wg_buf *errors)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    memset(&ss, 0, sizeof ss);
    int rc = 0;
    if (addr->kind == WG_CONFIG_HOST_IPV4) {
        rc = uv_ip4_addr(addr->host, addr->port, (struct sockaddr_in *)&ss);
        sslen = sizeof(struct sockaddr_in);
    } else if (addr->kind == WG_CONFIG_HOST_IPV6) {
        rc = uv_ip6_addr(addr->host, addr->port, (struct sockaddr_in6 *)&ss);
        sslen = sizeof(struct sockaddr_in6);
    } else {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        char port[8];
        snprintf(port, sizeof port, "%u", (unsigned)addr->port);
        int gai = getaddrinfo(addr->host, port, &hints, &res);
        if (gai != 0 || !res) {
            wg_buf_appendf(errors, "admin.address %s: cannot resolve %s: %s\n", addr->text,
                           addr->host, gai_strerror(gai));
            return -1;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        sslen = (socklen_t)res->ai_addrlen;
        freeaddrinfo(res);
    }
    if (rc != 0) {
        wg_buf_appendf(errors, "admin.address %s: %s\n", addr->text, uv_strerror(rc));
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        wg_buf_appendf(errors, "admin.address %s: socket: %s\n", addr->text, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 128) != 0) {
        wg_buf_appendf(errors, "admin.address %s: %s\n", addr->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void server_closed(uv_handle_t *h)
{
    admin_unref(h->data);
}

bool wg_admin_start(wg_proxy *p, wg_buf *errors)
{
    if (!p->config->has_admin)
        return true;
    int fd = admin_socket(&p->config->admin, errors);
    if (fd < 0)
        return false;
    struct wg_admin *a = calloc(1, sizeof *a);
    if (!a) {
        close(fd);
        wg_buf_append_str(errors, "admin: out of memory\n");
        return false;
    }
    a->proxy = p;
    uv_tcp_init(&p->loop, &a->server);
    a->server.data = a;
    a->refs = 1;
    int rc = uv_tcp_open(&a->server, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->server, 128, on_connection);
    if (rc != 0) {
        wg_buf_appendf(errors, "admin.address %s: %s\n", p->config->admin.text, uv_strerror(rc));
        /* Released by the close callback when the loop runs. */
        a->stopping = true;
        uv_close((uv_handle_t *)&a->server, server_closed);
        return false;
    }
    a->listening = true;

    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[64] = "?";
    unsigned port = p->config->admin.port;
    if (uv_tcp_getsockname(&a->server, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            snprintf(a->address, sizeof a->address, "[%s]:%u", host, port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            snprintf(a->address, sizeof a->address, "%s:%u", host, port);
        }
    } else {
        snprintf(a->address, sizeof a->address, "%s", p->config->admin.text);
    }
    p->admin = a;
    WG_INFO("admin", "admin listening on %s", a->address);
    return true;
}

void wg_admin_stop(wg_proxy *p)
{
    struct wg_admin *a = p->admin;
    if (!a)
        return;
    p->admin = NULL;
    a->stopping = true;
    while (a->conns)
        conn_close(a->conns);
    uv_close((uv_handle_t *)&a->server, server_closed);
}
