/*
 * yaml.c - YAML text to a tree of wg_config_yaml_node, with positions.
 *
 * Built from libyaml's event API rather than its document loader: the
 * loader replaces a missing tag with the default one, which would make
 * `!!str 1` and `1` indistinguishable, and it accepts recursive aliases,
 * which would turn every walk over the tree into an endless loop.
 */
#include "config/config.h"

#include <yaml.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hostile inputs: nesting and anchors are bounded so walks stay cheap. */
#define YAML_MAX_DEPTH 256
#define YAML_MAX_ANCHORS 1024

typedef struct anchor {
    char *name;
    wg_config_yaml_node *node;
} anchor;

struct wg_config_yaml {
    wg_config_yaml_node **nodes; /* every node, for freeing */
    size_t nnodes, nodes_cap;
    const wg_config_yaml_node **docs;
    size_t ndocs, docs_cap;
};

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static wg_config_yaml_node *new_node(wg_config_yaml *y, wg_config_yaml_kind kind, yaml_mark_t mark,
                                     unsigned first_line)
{
    if (!grow((void **)&y->nodes, &y->nodes_cap, y->nnodes + 1, sizeof *y->nodes))
        return NULL;
    wg_config_yaml_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (unsigned)mark.line + first_line;
    n->column = (unsigned)mark.column + 1;
    y->nodes[y->nnodes++] = n;
    return n;
}

typedef struct frame {
    wg_config_yaml_node *node;
    size_t cap;    /* of node->items */
    size_t nitems; /* items added, keys and values counted separately */
} frame;

typedef struct loader {
    wg_config_yaml *y;
    wg_config_reader *r;
    unsigned first_line;
    frame stack[YAML_MAX_DEPTH];
    size_t depth;
    anchor *anchors;
    size_t nanchors, anchors_cap;
    wg_config_yaml_node *root;
} loader;

static void clear_anchors(loader *l)
{
    for (size_t i = 0; i < l->nanchors; i++)
        free(l->anchors[i].name);
    l->nanchors = 0;
}

static bool is_open(const loader *l, const wg_config_yaml_node *n)
{
    for (size_t i = 0; i < l->depth; i++)
        if (l->stack[i].node == n)
            return true;
    return false;
}

/* Attaches a finished node (or an alias target) to the open collection, or
 * makes it the document's root. */
static bool attach(loader *l, wg_config_yaml_node *n)
{
    if (l->depth == 0) {
        l->root = n;
        return true;
    }
    frame *f = &l->stack[l->depth - 1];
    if (!grow((void **)&f->node->items, &f->cap, f->nitems + 1, sizeof *f->node->items))
        return false;
    f->node->items[f->nitems++] = n;
    /* sequences count items, mappings count complete pairs */
    f->node->count = f->node->kind == WG_CONFIG_YAML_MAPPING ? f->nitems / 2 : f->nitems;
    return true;
}

static int add_anchor(loader *l, const yaml_char_t *name, wg_config_yaml_node *n, yaml_mark_t mark)
{
    if (!name)
        return 1;
    /* A redefined anchor replaces the old one from here on (YAML 1.2). */
    for (size_t i = 0; i < l->nanchors; i++) {
        if (strcmp(l->anchors[i].name, (const char *)name) == 0) {
            l->anchors[i].node = n;
            return 1;
        }
    }
    if (l->nanchors >= YAML_MAX_ANCHORS) {
        wg_config_yaml_node at = {.line = (unsigned)mark.line + l->first_line,
                                  .column = (unsigned)mark.column + 1};
        wg_config_reader_error(l->r, &at, "more than %d anchors in one document", YAML_MAX_ANCHORS);
        return 0;
    }
    if (!grow((void **)&l->anchors, &l->anchors_cap, l->nanchors + 1, sizeof *l->anchors))
        return -1;
    char *copy = strdup((const char *)name);
    if (!copy)
        return -1;
    l->anchors[l->nanchors].name = copy;
    l->anchors[l->nanchors].node = n;
    l->nanchors++;
    return 1;
}

static void report_at(loader *l, yaml_mark_t mark, const char *fmt, const char *arg)
{
    wg_config_yaml_node at = {.line = (unsigned)mark.line + l->first_line,
                              .column = (unsigned)mark.column + 1};
    wg_config_reader_error(l->r, &at, fmt, arg);
}

static void report_syntax(loader *l, const yaml_parser_t *p)
{
    yaml_mark_t mark = p->problem_mark;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    wg_config_yaml_node at = {.line = (unsigned)mark.line + l->first_line,
                              .column = (unsigned)mark.column + 1};
    if (p->error == YAML_MEMORY_ERROR) {
        wg_config_reader_error(l->r, NULL, "YAML: out of memory");
    } else if (p->context) {
        wg_config_reader_error(l->r, &at, "YAML syntax error: %s %s (line %u)", problem, p->context,
                               (unsigned)p->context_mark.line + l->first_line);
    } else {
        wg_config_reader_error(l->r, &at, "YAML syntax error: %s", problem);
    }
}

/* Handles one event; false stops the stream (error already reported, or
 * out of memory: *oom set). */
static bool on_event(loader *l, const yaml_event_t *ev, bool *oom)
{
    wg_config_yaml *y = l->y;
    wg_config_yaml_node *n = NULL;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        l->root = NULL;
        l->depth = 0;
        clear_anchors(l);
        return true;
    case YAML_DOCUMENT_END_EVENT:
        if (l->root) {
            if (!grow((void **)&y->docs, &y->docs_cap, y->ndocs + 1, sizeof *y->docs)) {
                *oom = true;
                return false;
            }
            y->docs[y->ndocs++] = l->root;
        }
        l->root = NULL;
        return true;
    case YAML_SCALAR_EVENT: {
        n = new_node(y, WG_CONFIG_YAML_SCALAR, ev->start_mark, l->first_line);
        if (!n)
            break;
        size_t len = ev->data.scalar.length;
        n->text = malloc(len + 1);
        if (!n->text)
            break;
        memcpy(n->text, ev->data.scalar.value, len);
        n->text[len] = '\0';
        n->len = len;
        if (ev->data.scalar.tag) {
            n->tag = strdup((const char *)ev->data.scalar.tag);
            if (!n->tag)
                break;
        }
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !n->tag;
        int added = add_anchor(l, ev->data.scalar.anchor, n, ev->start_mark);
        if (added <= 0) {
            *oom = added < 0;
            return false;
        }
        if (!attach(l, n))
            break;
        return true;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (l->depth >= YAML_MAX_DEPTH) {
            report_at(l, ev->start_mark, "YAML nested deeper than %s levels", "256");
            return false;
        }
        n = new_node(y, seq ? WG_CONFIG_YAML_SEQUENCE : WG_CONFIG_YAML_MAPPING, ev->start_mark,
                     l->first_line);
        if (!n)
            break;
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        if (tag) {
            n->tag = strdup((const char *)tag);
            if (!n->tag)
                break;
        }
        const yaml_char_t *anc =
            seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        int added = add_anchor(l, anc, n, ev->start_mark);
        if (added <= 0) {
            *oom = added < 0;
            return false;
        }
        l->stack[l->depth].node = n;
        l->stack[l->depth].cap = 0;
        l->stack[l->depth].nitems = 0;
        l->depth++;
        return true;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        if (l->depth == 0)
            return true;
        n = l->stack[--l->depth].node;
        if (!attach(l, n))
            break;
        return true;
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        wg_config_yaml_node *target = NULL;
        for (size_t i = 0; i < l->nanchors; i++)
            if (strcmp(l->anchors[i].name, name) == 0)
                target = l->anchors[i].node;
        if (!target) {
            report_at(l, ev->start_mark, "unknown anchor \"%s\"", name);
            return false;
        }
        if (is_open(l, target)) {
            report_at(l, ev->start_mark, "alias \"*%s\" refers to a node that contains it", name);
            return false;
        }
        if (!attach(l, target))
            break;
        return true;
    }
    default:
        return true;
    }
    *oom = true;
    return false;
}

wg_config_yaml *wg_config_yaml_parse(const char *text, size_t len, unsigned first_line,
                                     wg_config_reader *r)
{
    wg_config_yaml *y = calloc(1, sizeof *y);
    if (!y)
        return NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(y);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    loader l = {.y = y, .r = r, .first_line = first_line ? first_line : 1};
    bool oom = false;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR)
                oom = true;
            else
                report_syntax(&l, &parser);
            break;
        }
        bool ok = on_event(&l, &ev, &oom);
        yaml_event_type_t type = ev.type;
        yaml_event_delete(&ev);
        if (!ok || type == YAML_STREAM_END_EVENT)
            break;
    }
    clear_anchors(&l);
    free(l.anchors);
    yaml_parser_delete(&parser);
    if (oom) {
        wg_config_yaml_free(y);
        return NULL;
    }
    return y;
}

size_t wg_config_yaml_ndocs(const wg_config_yaml *y)
{
    return y ? y->ndocs : 0;
}

const wg_config_yaml_node *wg_config_yaml_doc(const wg_config_yaml *y, size_t i)
{
    return y && i < y->ndocs ? y->docs[i] : NULL;
}

void wg_config_yaml_free(wg_config_yaml *y)
{
    if (!y)
        return;
    for (size_t i = 0; i < y->nnodes; i++) {
        wg_config_yaml_node *n = y->nodes[i];
        free(n->text);
        free(n->tag);
        free(n->items);
        free(n);
    }
    free(y->nodes);
    free(y->docs);
    free(y);
}

/* ---- lookups ------------------------------------------------------------------ */

const wg_config_yaml_node *wg_config_yaml_get(const wg_config_yaml_node *map, const char *key)
{
    if (!map || map->kind != WG_CONFIG_YAML_MAPPING)
        return NULL;
    size_t klen = strlen(key);
    const wg_config_yaml_node *found = NULL;
    for (size_t i = 0; i < map->count; i++) {
        const wg_config_yaml_node *k = map->items[2 * i];
        if (k->kind == WG_CONFIG_YAML_SCALAR && k->len == klen && memcmp(k->text, key, klen) == 0)
            found = map->items[2 * i + 1];
    }
    return found;
}

bool wg_config_yaml_is_null(const wg_config_yaml_node *n)
{
    wg_config_yaml_value v;
    return n && n->kind == WG_CONFIG_YAML_SCALAR &&
           wg_config_yaml_resolve(n, &v) == WG_CONFIG_YAML_NULL;
}

/* ---- scalar resolution (YAML 1.1, as go-yaml v2) ----------------------------- */

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/* Go's strconv.ParseInt(s, 0, 64) / ParseUint on s with '_' already
 * removed: optional sign, then 0x/0o/0b/leading-0 octal or decimal. Sets
 * *mag to the magnitude (saturating; *overflow when beyond uint64). */
static bool parse_go_int(const char *s, bool *neg, uint64_t *mag, bool *overflow)
{
    *neg = false;
    *overflow = false;
    if (*s == '+' || *s == '-') {
        *neg = *s == '-';
        s++;
    }
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O')) {
        base = 8;
        s += 2;
    } else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
        base = 2;
        s += 2;
    } else if (s[0] == '0' && s[1] != '\0') {
        base = 8;
        s += 1;
    }
    if (*s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        int d = digit_value(*s);
        if (d >= (int)base)
            return false;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            *overflow = true;
        else
            v = v * base + (uint64_t)d;
    }
    *mag = v;
    return true;
}

/* go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool yaml_style_float(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    } else {
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9')
                s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static bool resolve_number(const char *text, size_t len, wg_config_yaml_value *out)
{
    /* go-yaml only tries numbers for scalars starting like one. */
    char c0 = text[0];
    if (len == 0 || len > 400 || !((c0 >= '0' && c0 <= '9') || c0 == '+' || c0 == '-' || c0 == '.'))
        return false;
    char buf[404];
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] != '_')
            buf[n++] = text[i];
    buf[n] = '\0';

    bool neg = false, overflow = false;
    uint64_t mag = 0;
    if (parse_go_int(buf, &neg, &mag, &overflow)) {
        if (!overflow && (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
            out->type = WG_CONFIG_YAML_INT;
            out->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
            out->f = (double)out->i;
            return true;
        }
        if (!overflow && buf[0] != '-' && buf[0] != '+') {
            /* go-yaml's ParseUint step: an unsigned integer beyond int64 */
            out->type = WG_CONFIG_YAML_INT;
            out->int_overflow = true;
            out->f = (double)mag;
            return true;
        }
        /* larger still: go-yaml tries it as a float below */
    }
    if (yaml_style_float(buf)) {
        errno = 0;
        char *end = NULL;
        double d = strtod(buf, &end);
        /* Out of range (Go's ParseFloat fails with ErrRange): a string. */
        if (end && *end == '\0' && !(errno == ERANGE && isinf(d))) {
            out->type = WG_CONFIG_YAML_FLOAT;
            out->f = d;
            return true;
        }
    }
    return false;
}

wg_config_yaml_type wg_config_yaml_resolve(const wg_config_yaml_node *n, wg_config_yaml_value *out)
{
    memset(out, 0, sizeof *out);
    out->type = WG_CONFIG_YAML_STRING;
    if (!n || n->kind != WG_CONFIG_YAML_SCALAR)
        return out->type;
    if (!n->plain) {
        /* Explicit core-schema tags force the type; anything else
         * (quoted, "!", !!str, custom tags) is a string. */
        if (n->tag && strncmp(n->tag, "tag:yaml.org,2002:", 18) == 0) {
            const char *t = n->tag + 18;
            wg_config_yaml_node plain = *n;
            plain.plain = true;
            plain.tag = NULL;
            wg_config_yaml_value v;
            wg_config_yaml_type got = wg_config_yaml_resolve(&plain, &v);
            if ((strcmp(t, "null") == 0 && got == WG_CONFIG_YAML_NULL) ||
                (strcmp(t, "bool") == 0 && got == WG_CONFIG_YAML_BOOL) ||
                (strcmp(t, "int") == 0 && got == WG_CONFIG_YAML_INT) ||
                (strcmp(t, "float") == 0 &&
                 (got == WG_CONFIG_YAML_FLOAT || got == WG_CONFIG_YAML_INT))) {
                *out = v;
                if (strcmp(t, "float") == 0)
                    out->type = WG_CONFIG_YAML_FLOAT;
            }
        }
        return out->type;
    }
    if (strlen(n->text) != n->len)
        return out->type; /* embedded NUL: only possible in quoted scalars, but be sure */
    const char *s = n->text;
    if (in_list(s, null_words)) {
        out->type = WG_CONFIG_YAML_NULL;
    } else if (in_list(s, true_words)) {
        out->type = WG_CONFIG_YAML_BOOL;
        out->b = true;
    } else if (in_list(s, false_words)) {
        out->type = WG_CONFIG_YAML_BOOL;
        out->b = false;
    } else if (strcmp(s, ".inf") == 0 || strcmp(s, ".Inf") == 0 || strcmp(s, ".INF") == 0 ||
               strcmp(s, "+.inf") == 0 || strcmp(s, "+.Inf") == 0 || strcmp(s, "+.INF") == 0) {
        out->type = WG_CONFIG_YAML_FLOAT;
        out->f = INFINITY;
    } else if (strcmp(s, "-.inf") == 0 || strcmp(s, "-.Inf") == 0 || strcmp(s, "-.INF") == 0) {
        out->type = WG_CONFIG_YAML_FLOAT;
        out->f = -INFINITY;
    } else if (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0) {
        out->type = WG_CONFIG_YAML_FLOAT;
        out->f = NAN;
    } else if (!resolve_number(n->text, n->len, out)) {
        memset(out, 0, sizeof *out);
        out->type = WG_CONFIG_YAML_STRING;
    }
    return out->type;
}
