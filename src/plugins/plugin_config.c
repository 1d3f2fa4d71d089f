/*
 * plugin_config.c - spec.pluginConfig to the JSON text the plugin gets in
 * on_configure, the same JSON value Istio delivers.
 *
 * Istio's path: kubectl turns the YAML into JSON (sigs.k8s.io/yaml, i.e.
 * go-yaml v2 scalar rules: `on` is true, `0x10` is 16, quoted scalars are
 * strings), the API server stores it, istiod reads it into a
 * google.protobuf.Struct and marshals that with jsonpb: compact, keys
 * sorted, and every number an IEEE double written by Go's encoding/json
 * (shortest digits that read back; fixed notation for 1e-6 <= |x| < 1e21,
 * else 1.25e-7 / 1e+21). So integers beyond 2^53 lose precision and 1.0
 * is written 1, as in Istio. An absent or empty pluginConfig gives an
 * empty configuration (zero bytes), not "{}".
 *
 * jansson holds the tree and escapes strings; the numbers are written
 * here, because jansson has one real precision per document.
 *
 * Aliases may make a small document expand enormously ("billion laughs"):
 * the conversion stops after MAX_VALUES values.
 */
#include "plugins/internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 100
#define MAX_VALUES 100000

typedef struct conv {
    reader *r;
    size_t values;
    bool failed;
} conv;

static json_t *number(conv *c, const node *n, double d)
{
    if (!isfinite(d)) {
        wg_config_reader_error(c->r, n, "%s is not a finite number (JSON has no Infinity or NaN)",
                               n->text);
        c->failed = true;
        return NULL;
    }
    return json_real(d);
}

/* A mapping key as sigs.k8s.io/yaml writes it: go-yaml resolves plain
 * keys too, so `yes:` becomes "true" and `0x10:` becomes "16". */
static bool key_text(const node *k, char *buf, size_t buflen, const char **text, size_t *len)
{
    wg_config_yaml_value v;
    *text = k->text;
    *len = k->len;
    switch (wg_config_yaml_resolve(k, &v)) {
    case WG_CONFIG_YAML_NULL:
        *text = "null";
        break;
    case WG_CONFIG_YAML_BOOL:
        *text = v.b ? "true" : "false";
        break;
    case WG_CONFIG_YAML_INT:
        if (v.int_overflow)
            return true; /* keep the text */
        snprintf(buf, buflen, "%lld", (long long)v.i);
        *text = buf;
        break;
    default:
        return true;
    }
    *len = strlen(*text);
    return true;
}

static json_t *convert(conv *c, const node *n, int depth)
{
    if (++c->values > MAX_VALUES) {
        if (!c->failed)
            wg_config_reader_error(c->r, n, "more than %d values (aliases expanding?)", MAX_VALUES);
        c->failed = true;
        return NULL;
    }
    if (depth > MAX_DEPTH) {
        wg_config_reader_error(c->r, n, "nested deeper than %d levels", MAX_DEPTH);
        c->failed = true;
        return NULL;
    }
    if (n->kind == WG_CONFIG_YAML_SEQUENCE) {
        json_t *arr = json_array();
        if (!arr)
            return NULL;
        for (size_t i = 0; i < n->count && !c->failed; i++) {
            size_t saved = wg_config_reader_index(c->r, i);
            json_t *v = convert(c, n->items[i], depth + 1);
            wg_config_reader_restore(c->r, saved);
            if (!v || json_array_append_new(arr, v) != 0) {
                c->failed = true;
                break;
            }
        }
        if (c->failed) {
            json_decref(arr);
            return NULL;
        }
        return arr;
    }
    if (n->kind == WG_CONFIG_YAML_MAPPING) {
        json_t *obj = json_object();
        if (!obj)
            return NULL;
        for (size_t i = 0; i < n->count && !c->failed; i++) {
            const node *k = n->items[2 * i];
            if (k->kind != WG_CONFIG_YAML_SCALAR) {
                wg_config_reader_error(c->r, k, "keys must be scalars");
                c->failed = true;
                break;
            }
            char buf[32];
            const char *kt = NULL;
            size_t kl = 0;
            key_text(k, buf, sizeof buf, &kt, &kl);
            if (strcmp(k->text, "<<") == 0 && k->plain) {
                wg_config_reader_error(c->r, k, "merge keys (<<) are not supported");
                c->failed = true;
                break;
            }
            char *key = strndup(kt, kl);
            size_t saved = wg_config_reader_key(c->r, key ? key : "?");
            if (!key) {
                c->failed = true;
            } else if (json_object_getn(obj, kt, kl)) {
                wg_config_reader_error(c->r, k, "duplicate key");
                c->failed = true;
            } else {
                json_t *v = convert(c, n->items[2 * i + 1], depth + 1);
                if (!v) {
                    c->failed = true;
                } else if (json_object_setn_new(obj, kt, kl, v) != 0) {
                    wg_config_reader_error(c->r, k, "the key is not valid UTF-8");
                    c->failed = true;
                }
            }
            wg_config_reader_restore(c->r, saved);
            free(key);
        }
        if (c->failed) {
            json_decref(obj);
            return NULL;
        }
        return obj;
    }

    wg_config_yaml_value v;
    switch (wg_config_yaml_resolve(n, &v)) {
    case WG_CONFIG_YAML_NULL:
        return json_null();
    case WG_CONFIG_YAML_BOOL:
        return json_boolean(v.b);
    case WG_CONFIG_YAML_INT:
    case WG_CONFIG_YAML_FLOAT:
        return number(c, n, v.f);
    default: {
        json_t *s = json_stringn(n->text, n->len);
        if (!s) {
            wg_config_reader_error(c->r, n, "the string is not valid UTF-8");
            c->failed = true;
        }
        return s;
    }
    }
}

/* d as Go's encoding/json writes a float64. */
static void go_number(double d, char *out, size_t outlen)
{
    char e[64];
    for (int p = 0; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e is "[-]D[.DDD]e[+-]XX": collect the digits and the exponent */
    const char *q = e;
    bool neg = *q == '-';
    if (neg)
        q++;
    char digits[32];
    size_t nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd < sizeof digits - 1)
            digits[nd++] = *q;
    digits[nd] = '\0';
    int exp10 = *q == 'e' ? atoi(q + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = '\0';

    size_t o = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 < outlen)                                                                        \
            out[o++] = (ch);                                                                       \
    } while (0)
    if (neg)
        PUT('-');
    double a = fabs(d);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        PUT(digits[0]);
        if (nd > 1) {
            PUT('.');
            for (size_t i = 1; i < nd; i++)
                PUT(digits[i]);
        }
        char tail[16];
        /* Go writes e-07 as e-7, and at least two digits after e+ */
        snprintf(tail, sizeof tail, exp10 < 0 ? "e-%d" : "e+%02d", exp10 < 0 ? -exp10 : exp10);
        for (const char *t = tail; *t; t++)
            PUT(*t);
    } else if (exp10 >= 0) {
        for (int i = 0; i <= exp10; i++)
            PUT((size_t)i < nd ? digits[i] : '0');
        if ((size_t)exp10 + 1 < nd) {
            PUT('.');
            for (size_t i = (size_t)exp10 + 1; i < nd; i++)
                PUT(digits[i]);
        }
    } else {
        PUT('0');
        PUT('.');
        for (int i = 0; i < -exp10 - 1; i++)
            PUT('0');
        for (size_t i = 0; i < nd; i++)
            PUT(digits[i]);
    }
#undef PUT
    out[o] = '\0';
}

typedef struct key_ref {
    const char *key;
    size_t len;
    json_t *value;
} key_ref;

static int cmp_key(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static bool emit_string(wg_buf *out, const char *s, size_t len)
{
    json_t *str = json_stringn(s, len);
    char *text = str ? json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(str);
    bool ok = text && wg_buf_append_str(out, text);
    free(text);
    return ok;
}

/* Compact JSON with sorted keys (jsonpb's output shape). */
static bool emit(wg_buf *out, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        key_ref *keys = n ? calloc(n, sizeof *keys) : NULL;
        if (n && !keys)
            return false;
        for (void *it = json_object_iter(v); it && i < n; it = json_object_iter_next(v, it)) {
            keys[i].key = json_object_iter_key(it);
            keys[i].len = json_object_iter_key_len(it);
            keys[i].value = json_object_iter_value(it);
            i++;
        }
        if (i > 1)
            qsort(keys, i, sizeof *keys, cmp_key);
        bool ok = wg_buf_append(out, "{", 1);
        for (size_t k = 0; ok && k < i; k++) {
            ok = (k == 0 || wg_buf_append(out, ",", 1)) &&
                 emit_string(out, keys[k].key, keys[k].len) && wg_buf_append(out, ":", 1) &&
                 emit(out, keys[k].value);
        }
        free(keys);
        return ok && wg_buf_append(out, "}", 1);
    }
    case JSON_ARRAY: {
        bool ok = wg_buf_append(out, "[", 1);
        for (size_t k = 0; ok && k < json_array_size(v); k++)
            ok = (k == 0 || wg_buf_append(out, ",", 1)) && emit(out, json_array_get(v, k));
        return ok && wg_buf_append(out, "]", 1);
    }
    case JSON_STRING:
        return emit_string(out, json_string_value(v), json_string_length(v));
    case JSON_REAL: {
        char num[64];
        go_number(json_real_value(v), num, sizeof num);
        return wg_buf_append_str(out, num);
    }
    case JSON_INTEGER: {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        return wg_buf_append_str(out, num);
    }
    case JSON_TRUE:
        return wg_buf_append_str(out, "true");
    case JSON_FALSE:
        return wg_buf_append_str(out, "false");
    default:
        return wg_buf_append_str(out, "null");
    }
}

bool wg_plugins_config_to_json(reader *r, const node *cfg, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!cfg || wg_config_yaml_is_null(cfg) ||
        (cfg->kind == WG_CONFIG_YAML_MAPPING && cfg->count == 0)) {
        *out = strdup("");
        return *out != NULL;
    }
    if (cfg->kind != WG_CONFIG_YAML_MAPPING) {
        wg_config_reader_error(r, cfg, "expected a mapping (it becomes a JSON object)");
        return false;
    }
    conv c = {.r = r};
    json_t *root = convert(&c, cfg, 0);
    if (!root || c.failed) {
        if (!c.failed)
            wg_config_reader_error(r, cfg, "out of memory");
        json_decref(root);
        return false;
    }
    wg_buf text = {0};
    bool ok = emit(&text, root) && wg_buf_append(&text, "", 1);
    json_decref(root);
    if (!ok) {
        wg_buf_free(&text);
        wg_config_reader_error(r, cfg, "out of memory");
        return false;
    }
    *out = (char *)text.data;
    *out_len = text.len - 1;
    return true;
}

bool wg_plugins_spec_fingerprint(const node *spec, char **out)
{
    *out = NULL;
    /* Messages have nowhere to go: the caller reads the spec for real
     * (and reports its errors) elsewhere. */
    reader quiet;
    wg_config_reader_init(&quiet, "", NULL, NULL);
    conv c = {.r = &quiet};
    json_t *root = spec ? convert(&c, spec, 0) : NULL;
    if (!root || c.failed || !json_is_object(root)) {
        json_decref(root);
        return false;
    }
    json_object_del(root, "pluginConfig");
    wg_buf text = {0};
    bool ok = emit(&text, root) && wg_buf_append(&text, "", 1);
    json_decref(root);
    if (!ok) {
        wg_buf_free(&text);
        return false;
    }
    *out = (char *)text.data;
    return true;
}
