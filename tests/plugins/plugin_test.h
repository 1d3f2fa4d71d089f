/*
 * plugin_test.h - checks and small utilities shared by the test plugins.
 *
 * Each plugin defines PT_PLUGIN (its name, a string literal) before
 * including this header, after proxy_wasm.h.
 *
 * Log conventions the host tests rely on:
 *   ERROR "ASSERT FAILED: <plugin>: <function>:<line>: <detail>"   a failed check
 *   DEBUG "ok: <plugin>: <detail>"                                  a passed check
 */
#ifndef PLUGIN_TEST_H
#define PLUGIN_TEST_H

#include "proxy_wasm.h"

#ifndef PT_PLUGIN
#error "define PT_PLUGIN before including plugin_test.h"
#endif

#define PT_FAIL(fmt, ...)                                                                      \
    pw_log(PW_LOG_ERROR, "ASSERT FAILED: " PT_PLUGIN ": %s:%d: " fmt, __func__, __LINE__,      \
           ##__VA_ARGS__)

#define PT_PASS(fmt, ...) pw_log(PW_LOG_DEBUG, "ok: " PT_PLUGIN ": " fmt, ##__VA_ARGS__)

/* Checks a condition; evaluates to the condition's truth. */
#define PT_CHECK(cond, fmt, ...)                                                               \
    ({                                                                                         \
        int pt_c_ = !!(cond);                                                                  \
        if (pt_c_)                                                                             \
            PT_PASS(fmt, ##__VA_ARGS__);                                                       \
        else                                                                                   \
            PT_FAIL(fmt " [failed: %s]", ##__VA_ARGS__, #cond);                                \
        pt_c_;                                                                                 \
    })

/* Checks that a hostcall returned `expected`; evaluates to 1 when it did. */
#define PT_EXPECT(expr, expected)                                                              \
    ({                                                                                         \
        pw_status_t pt_s_ = (expr);                                                            \
        pw_status_t pt_e_ = (expected);                                                        \
        if (pt_s_ == pt_e_)                                                                    \
            PT_PASS("%s -> %s", #expr, pw_status_name(pt_s_));                                 \
        else                                                                                   \
            PT_FAIL("%s returned %u (%s), expected %u (%s)", #expr, pt_s_,                     \
                    pw_status_name(pt_s_), pt_e_, pw_status_name(pt_e_));                      \
        pt_s_ == pt_e_;                                                                        \
    })

#define PT_UNUSED(x) ((void)(x))

/* ---- per-context state: a small linked list keyed by context id ---- */

typedef struct pt_node {
    uint32_t id;
    struct pt_node *next;
    void *data;
} pt_node_t;

static pt_node_t *pt_nodes;

/* The state of context `id`, or NULL. */
static inline void *pt_ctx_get(uint32_t id)
{
    for (pt_node_t *n = pt_nodes; n; n = n->next)
        if (n->id == id)
            return n->data;
    return NULL;
}

/* The state of context `id`, created zeroed (size bytes) if absent. */
static inline void *pt_ctx_get_or_new(uint32_t id, size_t size)
{
    void *d = pt_ctx_get(id);
    if (d)
        return d;
    pt_node_t *n = (pt_node_t *)calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->data = calloc(1, size ? size : 1);
    if (!n->data) {
        free(n);
        return NULL;
    }
    n->id = id;
    n->next = pt_nodes;
    pt_nodes = n;
    return n->data;
}

static inline void pt_ctx_delete(uint32_t id)
{
    for (pt_node_t **pp = &pt_nodes; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            pt_node_t *n = *pp;
            *pp = n->next;
            free(n->data);
            free(n);
            return;
        }
    }
}

/* ---- configuration ---- */

/*
 * Extracts a setting from plugin configuration text. Istio delivers
 * `pluginConfig` as JSON, tests may also pass raw text, so:
 *   {"key": "value", ...}  -> value of `key` (a JSON string; simple escapes)
 *   "text"                 -> text
 *   anything else          -> the text with surrounding white space removed
 * Returns a malloc'd string, or NULL when the configuration is empty or the
 * JSON object has no such string member.
 */
static inline char *pt_config_value(const char *cfg, size_t len, const char *key)
{
    size_t b = 0, e = len;
    while (b < e && (cfg[b] == ' ' || cfg[b] == '\t' || cfg[b] == '\r' || cfg[b] == '\n'))
        b++;
    while (e > b && (cfg[e - 1] == ' ' || cfg[e - 1] == '\t' || cfg[e - 1] == '\r' ||
                     cfg[e - 1] == '\n'))
        e--;
    if (b == e)
        return NULL;
    const char *p = cfg + b, *end = cfg + e;
    if (*p == '{') {
        size_t kl = strlen(key);
        for (const char *q = p; q + kl + 2 <= end; q++) {
            if (q[0] != '"' || memcmp(q + 1, key, kl) != 0 || q[kl + 1] != '"')
                continue;
            const char *r = q + kl + 2;
            while (r < end && (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n'))
                r++;
            if (r >= end || *r != ':')
                continue;
            r++;
            while (r < end && (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n'))
                r++;
            if (r >= end || *r != '"')
                return NULL;
            p = r;
            break;
        }
        if (*p == '{')
            return NULL;
    }
    if (*p == '"') {
        char *out = (char *)malloc((size_t)(end - p));
        size_t o = 0;
        if (!out)
            return NULL;
        for (const char *q = p + 1; q < end && *q != '"'; q++) {
            if (*q == '\\' && q + 1 < end) {
                q++;
                out[o++] = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
            } else {
                out[o++] = *q;
            }
        }
        out[o] = '\0';
        return out;
    }
    char *out = (char *)malloc((size_t)(end - p) + 1);
    if (!out)
        return NULL;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return out;
}

/* Reads the plugin configuration (buffer 7) and extracts `key` from it. */
static inline char *pt_plugin_config_value(const char *key)
{
    char *data;
    size_t len;
    if (pw_get_buffer_all(PW_BUFFER_PLUGIN_CONFIGURATION, &data, &len) != PW_OK)
        return NULL;
    char *v = data ? pt_config_value(data, len, key) : NULL;
    free(data);
    return v;
}

/* Makes bytes printable for a log line: a malloc'd copy with control and
 * non-ASCII bytes as \xNN and NULs as \0. */
static inline char *pt_printable(const char *data, size_t len)
{
    char *out = (char *)malloc(len * 4 + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == 0) {
            out[o++] = '\\';
            out[o++] = '0';
        } else if (c < 0x20 || c >= 0x7f || c == '\\') {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

#endif /* PLUGIN_TEST_H */
