/*
 * set.c - manifest files and directories into a wg_plugins_set.
 *
 * A file is cut into documents at "---" lines before YAML parsing (as
 * kubectl's YAML reader does), and each piece is parsed on its own: a
 * syntax error in one document then cannot hide the ones after it.
 */
#include "plugins/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE_BYTES (16u * 1024u * 1024u)

wg_plugins_set *wg_plugins_set_new(void)
{
    return calloc(1, sizeof(wg_plugins_set));
}

void wg_plugins_set_free(wg_plugins_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nmanifests; i++)
        wg_plugins_manifest_free(set->manifests[i]);
    free(set->manifests);
    for (size_t i = 0; i < set->nsecrets; i++)
        wg_plugins_secret_free(set->secrets[i]);
    free(set->secrets);
    for (size_t i = 0; i < set->nbad_files; i++)
        free(set->bad_files[i]);
    free(set->bad_files);
    free(set);
}

bool wg_plugins_set_file_had_errors(const wg_plugins_set *set, const char *file)
{
    for (size_t i = 0; set && i < set->nbad_files; i++)
        if (strcmp(set->bad_files[i], file) == 0)
            return true;
    return false;
}

wg_manifest_change wg_manifest_compare(const wg_manifest *before, const wg_manifest *after)
{
    if (!before->spec_json || !after->spec_json || strcmp(before->spec_json, after->spec_json) != 0)
        return WG_MANIFEST_CHANGED;
    if (before->plugin_config_len != after->plugin_config_len ||
        memcmp(before->plugin_config, after->plugin_config, before->plugin_config_len) != 0)
        return WG_MANIFEST_CONFIG_CHANGED;
    /* HOST variables are read from the proxy's environment at load. */
    if (before->nenv != after->nenv)
        return WG_MANIFEST_CHANGED;
    for (size_t i = 0; i < before->nenv; i++)
        if (strcmp(before->env[i].pair, after->env[i].pair) != 0)
            return WG_MANIFEST_CHANGED;
    return WG_MANIFEST_UNCHANGED;
}

const wg_manifest *wg_plugins_find(const wg_plugins_set *set, const char *ns, const char *name)
{
    for (size_t i = 0; set && i < set->nmanifests; i++) {
        const wg_manifest *m = set->manifests[i];
        if (strcmp(m->namespace, ns) == 0 && strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

const wg_plugins_secret *wg_plugins_find_secret(const wg_plugins_set *set, const char *ns,
                                                const char *name)
{
    for (size_t i = 0; set && i < set->nsecrets; i++) {
        const wg_plugins_secret *s = set->secrets[i];
        if (strcmp(s->namespace, ns) == 0 && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

/* ---- splitting ------------------------------------------------------------------ */

/* A document separator: "---" alone on its line, optionally followed by
 * spaces and a comment. ("--- value" is left to the YAML parser.) */
static bool separator_line(const char *p, size_t n)
{
    if (n < 3 || memcmp(p, "---", 3) != 0)
        return false;
    for (size_t i = 3; i < n; i++) {
        if (p[i] == '#')
            return i > 3 && (p[i - 1] == ' ' || p[i - 1] == '\t');
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    }
    return true;
}

typedef struct chunk {
    const char *text;
    size_t len;
    unsigned first_line;
} chunk;

typedef bool (*chunk_fn)(void *ctx, const chunk *c);

static bool split(const char *text, size_t len, chunk_fn fn, void *ctx)
{
    size_t start = 0, pos = 0;
    unsigned line = 1, start_line = 1;
    while (pos <= len) {
        const char *nl = pos < len ? memchr(text + pos, '\n', len - pos) : NULL;
        size_t end = nl ? (size_t)(nl - text) : len;
        if (separator_line(text + pos, end - pos)) {
            chunk c = {text + start, pos - start, start_line};
            if (!fn(ctx, &c))
                return false;
            start = nl ? end + 1 : len;
            start_line = line + 1;
        }
        if (!nl)
            break;
        pos = end + 1;
        line++;
    }
    chunk c = {text + start, len - start, start_line};
    return fn(ctx, &c);
}

/* ---- documents ------------------------------------------------------------------ */

typedef struct parse_ctx {
    wg_plugins_set *set;
    const char *file;
    char *dir;
    wg_buf *errors, *warnings;
    size_t nerrors;
    unsigned ndocs;
} parse_ctx;

static bool push(void ***arr, size_t *n, void *item)
{
    void **p = realloc(*arr, (*n + 1) * sizeof **arr);
    if (!p)
        return false;
    p[(*n)++] = item;
    *arr = p;
    return true;
}

static void add_manifest(parse_ctx *pc, reader *r, const node *root, wg_manifest *m)
{
    const wg_manifest *old = wg_plugins_find(pc->set, m->namespace, m->name);
    if (old) {
        wg_config_reader_error(r, root, "WasmPlugin %s/%s is already defined (%s, document %u)",
                               m->namespace, m->name, old->file, old->document);
        wg_plugins_manifest_free(m);
        return;
    }
    if (!push((void ***)&pc->set->manifests, &pc->set->nmanifests, m)) {
        wg_config_reader_error(r, root, "out of memory");
        wg_plugins_manifest_free(m);
    }
}

static void add_secret(parse_ctx *pc, reader *r, const node *root, wg_plugins_secret *s)
{
    const wg_plugins_secret *old = wg_plugins_find_secret(pc->set, s->namespace, s->name);
    if (old) {
        wg_config_reader_error(r, root, "Secret %s/%s is already defined (%s, document %u)",
                               s->namespace, s->name, old->file, old->document);
        wg_plugins_secret_free(s);
        return;
    }
    if (!push((void ***)&pc->set->secrets, &pc->set->nsecrets, s)) {
        wg_config_reader_error(r, root, "out of memory");
        wg_plugins_secret_free(s);
    }
}

/* One object: a WasmPlugin, a Secret, a List of them, or another kind
 * (ignored). in_list: an item of a List (no nested lists). */
static void read_object(parse_ctx *pc, reader *r, const node *root, wg_plugins_doc *doc,
                        bool in_list)
{
    if (!root || root->kind != WG_CONFIG_YAML_MAPPING) {
        wg_config_reader_error(r, root,
                               "expected a Kubernetes object (a mapping with apiVersion and kind)");
        return;
    }
    char *kind = NULL;
    if (wg_config_read_string(r, root, "kind", true, &kind) != 1)
        return;
    if (strcmp(kind, "WasmPlugin") == 0) {
        wg_manifest *m = wg_plugins_read_wasmplugin(r, root, doc);
        if (m)
            add_manifest(pc, r, root, m);
    } else if (strcmp(kind, "Secret") == 0) {
        wg_plugins_secret *s = wg_plugins_read_secret(r, root, doc);
        if (s)
            add_secret(pc, r, root, s);
    } else if (strcmp(kind, "List") == 0 && !in_list) {
        const node *items = wg_config_yaml_get(root, "items");
        size_t saved = wg_config_reader_key(r, "items");
        if (items && items->kind == WG_CONFIG_YAML_SEQUENCE) {
            for (size_t i = 0; i < items->count; i++) {
                size_t s2 = wg_config_reader_index(r, i);
                const char *context = r->context;
                read_object(pc, r, items->items[i], doc, true);
                /* the item's name does not name the whole document */
                r->context = context;
                snprintf(doc->label, sizeof doc->label, "document %u", doc->index);
                wg_config_reader_restore(r, s2);
            }
        } else if (items && !wg_config_yaml_is_null(items)) {
            wg_config_reader_error(r, items, "expected a list");
        }
        wg_config_reader_restore(r, saved);
    } else {
        const node *api = wg_config_yaml_get(root, "apiVersion");
        wg_config_reader_warning(r, root, "kind %s%s%s is not used by wasmgate; ignored", kind,
                                 api && api->kind == WG_CONFIG_YAML_SCALAR ? " " : "",
                                 api && api->kind == WG_CONFIG_YAML_SCALAR ? api->text : "");
    }
    free(kind);
}

static bool on_chunk(void *ctx, const chunk *c)
{
    parse_ctx *pc = ctx;
    wg_plugins_doc doc = {.file = pc->file, .dir = pc->dir, .index = pc->ndocs + 1};
    snprintf(doc.label, sizeof doc.label, "document %u", doc.index);
    reader r;
    wg_config_reader_init(&r, pc->file, pc->errors, pc->warnings);
    r.context = doc.label;

    wg_config_yaml *y = wg_config_yaml_parse(c->text, c->len, c->first_line, &r);
    if (!y) {
        wg_config_reader_error(&r, NULL, "out of memory");
        pc->nerrors += r.nerrors;
        return false;
    }
    size_t ndocs = wg_config_yaml_ndocs(y);
    if (ndocs == 0 && r.nerrors)
        pc->ndocs++; /* a document that does not parse still counts */
    for (size_t i = 0; i < ndocs; i++) {
        const node *root = wg_config_yaml_doc(y, i);
        if (i > 0) {
            doc.index = pc->ndocs + 1;
            snprintf(doc.label, sizeof doc.label, "document %u", doc.index);
            r.context = doc.label;
        }
        if (wg_config_yaml_is_null(root))
            continue; /* an empty document ("---" then nothing) */
        pc->ndocs++;
        read_object(pc, &r, root, &doc, false);
    }
    wg_config_yaml_free(y);
    wg_config_reader_finish(&r);
    pc->nerrors += r.nerrors;
    return true;
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

static size_t parse_in(wg_plugins_set *set, const char *text, size_t len, const char *file,
                       const char *dir, wg_buf *errors, wg_buf *warnings)
{
    parse_ctx pc = {
        .set = set, .file = file ? file : "<manifests>", .errors = errors, .warnings = warnings};
    pc.dir = dir ? strdup(dir) : dir_of(pc.file);
    if (!pc.dir) {
        if (errors)
            wg_buf_appendf(errors, "%s: out of memory\n", pc.file);
        return 1;
    }
    split(text ? text : "", text ? len : 0, on_chunk, &pc);
    free(pc.dir);
    return pc.nerrors;
}

size_t wg_plugins_parse(wg_plugins_set *set, const char *text, size_t len, const char *file,
                        wg_buf *errors, wg_buf *warnings)
{
    return parse_in(set, text, len, file, NULL, errors, warnings);
}

static bool read_file(const char *path, wg_buf *out, wg_buf *errors)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errors)
            wg_buf_appendf(errors, "%s: cannot open: %s\n", path, strerror(errno));
        return false;
    }
    char chunk_buf[8192];
    size_t n = 0;
    bool ok = true;
    while ((n = fread(chunk_buf, 1, sizeof chunk_buf, f)) > 0) {
        if (out->len + n > MAX_FILE_BYTES || !wg_buf_append(out, chunk_buf, n)) {
            if (errors)
                wg_buf_appendf(errors, "%s: larger than %u bytes or out of memory\n", path,
                               MAX_FILE_BYTES);
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
    return ok;
}

size_t wg_plugins_load_file(wg_plugins_set *set, const char *path, wg_buf *errors, wg_buf *warnings)
{
    wg_buf text = {0};
    if (!read_file(path, &text, errors)) {
        wg_buf_free(&text);
        return 1;
    }
    /* file:// paths are relative to the manifest's real directory. */
    char *dir = dir_of(path);
    char *real = dir ? realpath(*dir ? dir : ".", NULL) : NULL;
    size_t n = parse_in(set, text.data ? (const char *)text.data : "", text.len, path,
                        real ? real : dir, errors, warnings);
    free(real);
    free(dir);
    wg_buf_free(&text);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool yaml_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return false;
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

size_t wg_plugins_load_dir(wg_plugins_set *set, const char *dir, wg_buf *errors, wg_buf *warnings)
{
    DIR *d = opendir(dir);
    if (!d) {
        set->dir_unreadable = true;
        if (errors)
            wg_buf_appendf(errors, "%s: cannot open the directory: %s\n", dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t nnames = 0, nerrors = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!yaml_name(e->d_name))
            continue;
        char *copy = strdup(e->d_name);
        if (!copy || !push((void ***)&names, &nnames, copy)) {
            free(copy);
            nerrors++;
            if (errors)
                wg_buf_appendf(errors, "%s: out of memory\n", dir);
            break;
        }
    }
    closedir(d);
    if (nnames)
        qsort(names, nnames, sizeof *names, cmp_str);
    size_t dlen = strlen(dir);
    bool slash = dlen > 0 && dir[dlen - 1] == '/';
    for (size_t i = 0; i < nnames; i++) {
        char *path = NULL;
        if (asprintf(&path, "%s%s%s", dir, slash ? "" : "/", names[i]) < 0) {
            nerrors++;
        } else {
            struct stat st;
            size_t bad = 0;
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                bad = wg_plugins_load_file(set, path, errors, warnings);
            nerrors += bad;
            if (!bad || !push((void ***)&set->bad_files, &set->nbad_files, path))
                free(path);
        }
        free(names[i]);
    }
    free(names);

    /* Istio fails the fetch when the secret is missing; say so early. */
    for (size_t i = 0; i < set->nmanifests; i++) {
        const wg_manifest *m = set->manifests[i];
        if (!m->image_pull_secret ||
            wg_plugins_find_secret(set, m->namespace, m->image_pull_secret))
            continue;
        reader r;
        char label[320];
        snprintf(label, sizeof label, "document %u (%s/%s)", m->document, m->namespace, m->name);
        wg_config_reader_init(&r, m->file, NULL, warnings);
        r.context = label;
        wg_config_yaml_node at = {.line = m->line, .column = 1};
        wg_config_reader_key(&r, "spec");
        wg_config_reader_key(&r, "imagePullSecret");
        wg_config_reader_warning(&r, &at, "no Secret %s/%s in %s: fetching this module will fail",
                                 m->namespace, m->image_pull_secret, dir);
    }
    return nerrors;
}

/* ---- detection ------------------------------------------------------------------ */

typedef struct detect_ctx {
    bool found;
} detect_ctx;

static bool detect_chunk(void *ctx, const chunk *c)
{
    detect_ctx *dc = ctx;
    reader r;
    wg_config_reader_init(&r, "", NULL, NULL);
    wg_config_yaml *y = wg_config_yaml_parse(c->text, c->len, c->first_line, &r);
    for (size_t i = 0; y && i < wg_config_yaml_ndocs(y); i++) {
        const node *kind = wg_config_yaml_get(wg_config_yaml_doc(y, i), "kind");
        if (kind && kind->kind == WG_CONFIG_YAML_SCALAR)
            dc->found = true;
    }
    wg_config_yaml_free(y);
    return !dc->found;
}

bool wg_plugins_looks_like_manifests(const char *text, size_t len)
{
    detect_ctx dc = {false};
    split(text ? text : "", text ? len : 0, detect_chunk, &dc);
    return dc.found;
}
