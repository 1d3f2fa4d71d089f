/*
 * credentials.c - registry credentials for pull and push, from a Docker
 * config JSON file (~/.docker/config.json, or a pull Secret's
 * .dockerconfigjson).
 */
#include "cli/cli.h"
#include "fetch/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_text(const char *cmd, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "wasmgate %s: %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    wg_buf b = {0};
    char chunk[8192];
    size_t n;
    bool ok = true;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = ok && wg_buf_append(&b, chunk, n);
    ok = ok && !ferror(f) && wg_buf_append(&b, "", 1);
    fclose(f);
    if (!ok) {
        fprintf(stderr, "wasmgate %s: cannot read %s\n", cmd, path);
        if (b.data)
            memset(b.data, 0, b.len);
        wg_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

void cli_wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

bool cli_registry_credentials(const char *cmd, const char *file, const char *registry,
                              char **user, char **pass)
{
    *user = *pass = NULL;
    if (!file)
        return true;
    char *text = read_text(cmd, file);
    if (!text)
        return false;
    char why[256] = "";
    int r = wg_oci_credentials_from_dockerconfig(text, registry, user, pass, why, sizeof why);
    cli_wipe_free(text);
    if (r < 0) {
        fprintf(stderr, "wasmgate %s: %s: %s\n", cmd, file, why);
        return false;
    }
    if (r == 0)
        fprintf(stderr, "wasmgate %s: %s has no credentials for %s: going anonymously\n", cmd,
                file, registry);
    return true;
}
