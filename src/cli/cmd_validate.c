/*
 * wasmgate validate FILE|DIR... - checks bootstrap configurations and
 * WasmPlugin manifests without starting anything.
 *
 * A directory is a directory of manifests. A file holding Kubernetes
 * objects (documents with a top-level "kind") is a manifest file; any
 * other file is a bootstrap configuration, and the manifests directory it
 * names (plugins.manifests) is checked too when it exists.
 */
#include "cli/cli.h"
#include "config/config.h"
#include "plugins/plugins.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: wasmgate validate FILE|DIR...\n"
                 "\n"
                 "Checks bootstrap configurations and WasmPlugin manifests (files, or\n"
                 "directories of *.yaml/*.yml files) and prints \"NAME: ok\" or every error.\n"
                 "A bootstrap configuration's plugins.manifests directory is checked too.\n"
                 "Exits with 1 when anything is wrong.\n");
}

static void print_buf(FILE *out, const wg_buf *b)
{
    if (b->len)
        fwrite(b->data, 1, b->len, out);
}

static bool read_text(const char *path, wg_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return false;
    }
    char chunk[8192];
    size_t n = 0;
    bool ok = true;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (!wg_buf_append(out, chunk, n)) {
            ok = false;
            break;
        }
    if (ferror(f) || !ok) {
        fprintf(stderr, "%s: cannot read\n", path);
        ok = false;
    }
    fclose(f);
    return ok;
}

/* Returns true when valid. */
static bool check_manifests(const char *path, bool dir)
{
    wg_plugins_set *set = wg_plugins_set_new();
    if (!set) {
        fprintf(stderr, "%s: out of memory\n", path);
        return false;
    }
    wg_buf errors = {0}, warnings = {0};
    size_t n = dir ? wg_plugins_load_dir(set, path, &errors, &warnings)
                   : wg_plugins_load_file(set, path, &errors, &warnings);
    print_buf(stderr, &warnings);
    print_buf(stderr, &errors);
    if (n == 0)
        printf("%s: ok\n", path);
    wg_buf_free(&errors);
    wg_buf_free(&warnings);
    wg_plugins_set_free(set);
    return n == 0;
}

static bool check_bootstrap(const char *path)
{
    wg_buf errors = {0};
    wg_config *c = wg_config_load(path, &errors);
    if (!c) {
        print_buf(stderr, &errors);
        wg_buf_free(&errors);
        return false;
    }
    wg_buf_free(&errors);
    printf("%s: ok\n", path);
    bool ok = true;
    const char *dir = c->plugins.manifests;
    struct stat st;
    if (dir) {
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            ok = check_manifests(dir, true);
        else
            fprintf(stderr, "%s: warning: plugins.manifests: %s is not a directory (yet)\n", path,
                    dir);
    }
    wg_config_free(c);
    return ok;
}

int cmd_validate(int argc, char **argv)
{
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "-h") == 0 || strcmp(argv[first], "--help") == 0) {
            usage(stdout);
            return WG_EXIT_OK;
        }
        if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        }
        fprintf(stderr, "wasmgate validate: unknown option '%s'\n\n", argv[first]);
        usage(stderr);
        return WG_EXIT_USAGE;
    }
    if (first >= argc) {
        fprintf(stderr, "wasmgate validate: no file given\n\n");
        usage(stderr);
        return WG_EXIT_USAGE;
    }

    bool all_ok = true;
    for (int i = first; i < argc; i++) {
        const char *path = argv[i];
        struct stat st;
        if (stat(path, &st) != 0) {
            fprintf(stderr, "%s: %s\n", path, strerror(errno));
            all_ok = false;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            all_ok &= check_manifests(path, true);
            continue;
        }
        wg_buf text = {0};
        if (!read_text(path, &text)) {
            all_ok = false;
        } else if (wg_plugins_looks_like_manifests((const char *)text.data, text.len)) {
            all_ok &= check_manifests(path, false);
        } else {
            all_ok &= check_bootstrap(path);
        }
        wg_buf_free(&text);
    }
    fflush(stdout);
    return all_ok ? WG_EXIT_OK : WG_EXIT_FAILURE;
}
