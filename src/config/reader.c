/*
 * reader.c - positioned error messages, key paths, and typed reads of
 * YAML values, shared by the bootstrap parser and the plugins layer.
 */
#include "config/config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void wg_config_reader_init(wg_config_reader *r, const char *file, wg_buf *errors, wg_buf *warnings)
{
    memset(r, 0, sizeof *r);
    r->file = file;
    r->errors = errors;
    r->warnings = warnings;
    r->errors_start = errors ? errors->len : 0;
    r->warnings_start = warnings ? warnings->len : 0;
}

typedef struct msg_line {
    const char *text;
    size_t len;
    unsigned line, column;
    size_t seq;
} msg_line;

static int cmp_msg(const void *a, const void *b)
{
    const msg_line *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* "FILE:LINE:COL: ..." -> LINE, COL; 0, 0 without a position. */
static void position_of(const char *p, size_t n, size_t skip, unsigned *line, unsigned *col)
{
    *line = *col = 0;
    if (n <= skip || p[skip] != ':')
        return;
    size_t i = skip + 1;
    unsigned v[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        size_t start = i;
        while (i < n && p[i] >= '0' && p[i] <= '9' && v[k] < 100000000u)
            v[k] = v[k] * 10 + (unsigned)(p[i++] - '0');
        if (i == start || i >= n || p[i] != ':')
            return;
        i++;
    }
    *line = v[0];
    *col = v[1];
}

static void sort_lines(const wg_config_reader *r, wg_buf *b, size_t from)
{
    if (!b || b->len <= from)
        return;
    const char *file = r->file && *r->file ? r->file : "<config>";
    size_t flen = strlen(file);
    size_t n = 0;
    for (size_t i = from; i < b->len; i++)
        if (b->data[i] == '\n')
            n++;
    if (n < 2)
        return;
    msg_line *lines = calloc(n, sizeof *lines);
    char *copy = malloc(b->len - from);
    if (!lines || !copy) {
        free(lines);
        free(copy);
        return;
    }
    memcpy(copy, b->data + from, b->len - from);
    size_t k = 0, start = 0, total = b->len - from;
    for (size_t i = 0; i < total && k < n; i++) {
        if (copy[i] != '\n')
            continue;
        msg_line *m = &lines[k];
        m->text = copy + start;
        m->len = i + 1 - start;
        m->seq = k;
        if (m->len > flen && memcmp(m->text, file, flen) == 0)
            position_of(m->text, m->len, flen, &m->line, &m->column);
        k++;
        start = i + 1;
    }
    qsort(lines, k, sizeof *lines, cmp_msg);
    size_t at = from;
    for (size_t i = 0; i < k; i++) {
        memcpy(b->data + at, lines[i].text, lines[i].len);
        at += lines[i].len;
    }
    free(lines);
    free(copy);
}

void wg_config_reader_finish(wg_config_reader *r)
{
    sort_lines(r, r->errors, r->errors_start);
    sort_lines(r, r->warnings, r->warnings_start);
}

/* Appends "FILE:LINE:COL: [warning: ]CONTEXT: PATH: " to b. */
static void prefix(const wg_config_reader *r, const wg_config_yaml_node *at, bool warning,
                   wg_buf *b)
{
    const char *file = r->file && *r->file ? r->file : "<config>";
    if (at)
        wg_buf_appendf(b, "%s:%u:%u: ", file, at->line, at->column);
    else
        wg_buf_appendf(b, "%s: ", file);
    if (warning)
        wg_buf_append_str(b, "warning: ");
    if (r->context && *r->context)
        wg_buf_appendf(b, "%s: ", r->context);
    if (r->path_len)
        wg_buf_appendf(b, "%.*s: ", (int)r->path_len, r->path);
}

static void vmessage(wg_config_reader *r, bool error, const wg_config_yaml_node *at,
                     const char *fmt, va_list ap)
{
    wg_buf line = {0}, text = {0};
    prefix(r, at, !error, &text);
    wg_buf_vappendf(&text, fmt, ap);
    /* Messages quote the file's text (keys, values): control characters
     * are escaped so that every message stays on one line. */
    for (size_t i = 0; i < text.len; i++) {
        unsigned char c = text.data[i];
        if (c == '\n')
            wg_buf_append_str(&line, "\\n");
        else if (c == '\t')
            wg_buf_append_str(&line, "\\t");
        else if (c < 0x20 || c == 0x7f)
            wg_buf_appendf(&line, "\\x%02x", c);
        else
            wg_buf_append(&line, &text.data[i], 1);
    }
    wg_buf_free(&text);
    if (error) {
        r->nerrors++;
        if (r->errors) {
            wg_buf_append(r->errors, line.data, line.len);
            wg_buf_append(r->errors, "\n", 1);
        }
    } else {
        r->nwarnings++;
        if (r->warnings) {
            wg_buf_append(r->warnings, line.data, line.len);
            wg_buf_append(r->warnings, "\n", 1);
        } else {
            WG_WARN("config", "%.*s", (int)line.len, (const char *)line.data);
        }
    }
    wg_buf_free(&line);
}

void wg_config_reader_error(wg_config_reader *r, const wg_config_yaml_node *at, const char *fmt,
                            ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(r, true, at, fmt, ap);
    va_end(ap);
}

void wg_config_reader_warning(wg_config_reader *r, const wg_config_yaml_node *at, const char *fmt,
                              ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(r, false, at, fmt, ap);
    va_end(ap);
}

/* ---- key paths ------------------------------------------------------------------ */

static void path_append(wg_config_reader *r, const char *s, size_t n)
{
    size_t room = sizeof r->path - 1 - r->path_len;
    if (n > room) {
        /* Truncated paths still point the right way. */
        n = room;
    }
    memcpy(r->path + r->path_len, s, n);
    r->path_len += n;
    r->path[r->path_len] = '\0';
}

static bool plain_word(const char *key)
{
    if (!*key)
        return false;
    for (const char *p = key; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

size_t wg_config_reader_key(wg_config_reader *r, const char *key)
{
    size_t saved = r->path_len;
    if (plain_word(key)) {
        if (r->path_len)
            path_append(r, ".", 1);
        path_append(r, key, strlen(key));
    } else {
        path_append(r, "[\"", 2);
        path_append(r, key, strlen(key));
        path_append(r, "\"]", 2);
    }
    return saved;
}

size_t wg_config_reader_index(wg_config_reader *r, size_t i)
{
    size_t saved = r->path_len;
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "[%zu]", i);
    path_append(r, tmp, (size_t)n);
    return saved;
}

void wg_config_reader_restore(wg_config_reader *r, size_t saved)
{
    if (saved <= r->path_len) {
        r->path_len = saved;
        r->path[saved] = '\0';
    }
}

/* ---- mappings ------------------------------------------------------------------- */

static const char *kind_name(const wg_config_yaml_node *n)
{
    switch (n->kind) {
    case WG_CONFIG_YAML_SEQUENCE:
        return "a list";
    case WG_CONFIG_YAML_MAPPING:
        return "a mapping";
    default:
        break;
    }
    wg_config_yaml_value v;
    switch (wg_config_yaml_resolve(n, &v)) {
    case WG_CONFIG_YAML_NULL:
        return "null";
    case WG_CONFIG_YAML_BOOL:
        return "a boolean";
    case WG_CONFIG_YAML_INT:
        return "an integer";
    case WG_CONFIG_YAML_FLOAT:
        return "a number";
    default:
        return "a string";
    }
}

/* Optimal string alignment distance, capped: only small ones matter. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The allowed key a typo most likely meant, or NULL. */
static const char *suggest(const char *key, const char *const *allowed)
{
    const char *best = NULL;
    size_t best_d = 3, len = strlen(key);
    for (; *allowed; allowed++) {
        if (strcasecmp(key, *allowed) == 0)
            return *allowed;
        size_t d = edit_distance(key, *allowed);
        if (d < best_d && d < len) {
            best = *allowed;
            best_d = d;
        }
    }
    return best;
}

static int cmp_key_ptr(const void *a, const void *b)
{
    const wg_config_yaml_node *x = *(const wg_config_yaml_node *const *)a;
    const wg_config_yaml_node *y = *(const wg_config_yaml_node *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    /* by position, so the first occurrence comes first */
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->column < y->column ? -1 : (x->column > y->column);
}

bool wg_config_read_mapping(wg_config_reader *r, const wg_config_yaml_node *node,
                            const char *const *allowed)
{
    if (!node || node->kind != WG_CONFIG_YAML_MAPPING) {
        wg_config_reader_error(r, node, "expected a mapping, got %s",
                               node ? kind_name(node) : "nothing");
        return false;
    }
    size_t nscalar = 0;
    for (size_t i = 0; i < node->count; i++) {
        const wg_config_yaml_node *k = node->items[2 * i];
        if (k->kind != WG_CONFIG_YAML_SCALAR) {
            wg_config_reader_error(r, k, "keys must be scalars, got %s", kind_name(k));
            continue;
        }
        nscalar++;
        if (!allowed)
            continue;
        bool known = false;
        for (const char *const *a = allowed; *a; a++) {
            if (strlen(*a) == k->len && memcmp(*a, k->text, k->len) == 0) {
                known = true;
                break;
            }
        }
        if (known)
            continue;
        const char *hint = strlen(k->text) == k->len ? suggest(k->text, allowed) : NULL;
        size_t saved = wg_config_reader_key(r, k->text);
        if (hint)
            wg_config_reader_error(r, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->text,
                                   hint);
        else
            wg_config_reader_error(r, k, "unknown key \"%s\"", k->text);
        wg_config_reader_restore(r, saved);
    }
    if (nscalar > 1) {
        const wg_config_yaml_node **keys = malloc(nscalar * sizeof *keys);
        if (keys) {
            size_t n = 0;
            for (size_t i = 0; i < node->count; i++)
                if (node->items[2 * i]->kind == WG_CONFIG_YAML_SCALAR)
                    keys[n++] = node->items[2 * i];
            qsort(keys, n, sizeof *keys, cmp_key_ptr);
            for (size_t i = 1; i < n; i++) {
                if (keys[i]->len == keys[i - 1]->len &&
                    memcmp(keys[i]->text, keys[i - 1]->text, keys[i]->len) == 0) {
                    size_t saved = wg_config_reader_key(r, keys[i]->text);
                    wg_config_reader_error(r, keys[i], "duplicate key (first at line %u)",
                                           keys[i - 1]->line);
                    wg_config_reader_restore(r, saved);
                }
            }
            free(keys);
        }
    }
    return true;
}

/* ---- typed reads ---------------------------------------------------------------- */

/* Looks key up; 0 when absent or null (reporting a missing required key). */
static int lookup(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                  bool required, const wg_config_yaml_node **out)
{
    const wg_config_yaml_node *v = wg_config_yaml_get(map, key);
    if (!v || wg_config_yaml_is_null(v)) {
        if (required) {
            if (v) {
                size_t saved = wg_config_reader_key(r, key);
                wg_config_reader_error(r, v, "a value is required");
                wg_config_reader_restore(r, saved);
            } else {
                wg_config_reader_error(r, map, "missing required key \"%s\"", key);
            }
        }
        return 0;
    }
    *out = v;
    return 1;
}

int wg_config_read_string(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                          bool required, char **out)
{
    const wg_config_yaml_node *v = NULL;
    if (lookup(r, map, key, required, &v) == 0)
        return 0;
    size_t saved = wg_config_reader_key(r, key);
    int rc = -1;
    if (v->kind != WG_CONFIG_YAML_SCALAR) {
        wg_config_reader_error(r, v, "expected a string, got %s", kind_name(v));
    } else if (strlen(v->text) != v->len) {
        wg_config_reader_error(r, v, "strings may not contain NUL characters");
    } else {
        char *copy = strdup(v->text);
        if (!copy) {
            wg_config_reader_error(r, v, "out of memory");
        } else {
            free(*out);
            *out = copy;
            rc = 1;
        }
    }
    wg_config_reader_restore(r, saved);
    return rc;
}

int wg_config_read_bool(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                        bool required, bool *out)
{
    const wg_config_yaml_node *v = NULL;
    if (lookup(r, map, key, required, &v) == 0)
        return 0;
    size_t saved = wg_config_reader_key(r, key);
    wg_config_yaml_value val;
    int rc = -1;
    if (wg_config_yaml_resolve(v, &val) == WG_CONFIG_YAML_BOOL) {
        *out = val.b;
        rc = 1;
    } else if (v->kind == WG_CONFIG_YAML_SCALAR) {
        wg_config_reader_error(r, v, "expected true or false, got \"%s\"", v->text);
    } else {
        wg_config_reader_error(r, v, "expected true or false, got %s", kind_name(v));
    }
    wg_config_reader_restore(r, saved);
    return rc;
}

int wg_config_read_int(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                       bool required, int64_t min, int64_t max, int64_t *out)
{
    const wg_config_yaml_node *v = NULL;
    if (lookup(r, map, key, required, &v) == 0)
        return 0;
    size_t saved = wg_config_reader_key(r, key);
    wg_config_yaml_value val;
    int rc = -1;
    wg_config_yaml_type t = wg_config_yaml_resolve(v, &val);
    if (t != WG_CONFIG_YAML_INT) {
        if (v->kind == WG_CONFIG_YAML_SCALAR && t == WG_CONFIG_YAML_STRING && !v->plain)
            wg_config_reader_error(r, v, "expected an integer, got the string \"%s\"", v->text);
        else if (v->kind == WG_CONFIG_YAML_SCALAR)
            wg_config_reader_error(r, v, "expected an integer, got \"%s\"", v->text);
        else
            wg_config_reader_error(r, v, "expected an integer, got %s", kind_name(v));
    } else if (val.int_overflow || val.i < min || val.i > max) {
        wg_config_reader_error(r, v, "%s is out of range (%" PRId64 "..%" PRId64 ")", v->text, min,
                               max);
    } else {
        *out = val.i;
        rc = 1;
    }
    wg_config_reader_restore(r, saved);
    return rc;
}

/* "64KiB" -> 65536; false when not a size. */
static bool parse_size_text(const char *s, uint64_t *out)
{
    const char *p = s;
    while (*p == ' ')
        p++;
    if (!(*p >= '0' && *p <= '9'))
        return false;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    while (*p == ' ')
        p++;
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0},    {"B", 0},    {"Ki", 10}, {"KiB", 10},
                 {"Mi", 20}, {"MiB", 20}, {"Gi", 30}, {"GiB", 30}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
                return false;
            *out = v << units[i].shift;
            return true;
        }
    }
    return false;
}

int wg_config_read_size(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                        bool required, uint64_t min, uint64_t max, uint64_t *out)
{
    const wg_config_yaml_node *v = NULL;
    if (lookup(r, map, key, required, &v) == 0)
        return 0;
    size_t saved = wg_config_reader_key(r, key);
    wg_config_yaml_value val;
    int rc = -1;
    uint64_t size = 0;
    bool ok = false;
    if (v->kind == WG_CONFIG_YAML_SCALAR) {
        wg_config_yaml_type t = wg_config_yaml_resolve(v, &val);
        if (t == WG_CONFIG_YAML_INT && !val.int_overflow && val.i >= 0) {
            size = (uint64_t)val.i;
            ok = true;
        } else if (t == WG_CONFIG_YAML_STRING && strlen(v->text) == v->len) {
            ok = parse_size_text(v->text, &size);
        }
    }
    if (!ok) {
        if (v->kind == WG_CONFIG_YAML_SCALAR)
            wg_config_reader_error(
                r, v, "expected a byte count such as 1048576 or \"1MiB\", got \"%s\"", v->text);
        else
            wg_config_reader_error(r, v, "expected a byte count, got %s", kind_name(v));
    } else if (size < min || size > max) {
        wg_config_reader_error(r, v, "%s is out of range (%" PRIu64 "..%" PRIu64 " bytes)", v->text,
                               min, max);
    } else {
        *out = size;
        rc = 1;
    }
    wg_config_reader_restore(r, saved);
    return rc;
}

int wg_config_read_enum(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                        bool required, const char *what, const char *const *names, int *out)
{
    const wg_config_yaml_node *v = NULL;
    if (lookup(r, map, key, required, &v) == 0)
        return 0;
    size_t saved = wg_config_reader_key(r, key);
    int rc = -1;
    if (v->kind == WG_CONFIG_YAML_SCALAR) {
        for (int i = 0; names[i]; i++) {
            if (strlen(names[i]) == v->len && memcmp(names[i], v->text, v->len) == 0) {
                *out = i;
                rc = 1;
                break;
            }
        }
    }
    if (rc != 1) {
        wg_buf expected = {0};
        size_t n = 0;
        while (names[n])
            n++;
        for (size_t i = 0; i < n; i++)
            wg_buf_appendf(&expected, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
        wg_buf_append(&expected, "", 1);
        const char *list = expected.data ? (const char *)expected.data : "";
        if (v->kind == WG_CONFIG_YAML_SCALAR)
            wg_config_reader_error(r, v, "unknown %s \"%s\" (expected %s)", what, v->text, list);
        else
            wg_config_reader_error(r, v, "expected a %s (%s), got %s", what, list, kind_name(v));
        wg_buf_free(&expected);
    }
    wg_config_reader_restore(r, saved);
    return rc;
}
