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

/* The file as a NUL-terminated string (malloc'd), or NULL after printing
 * why. */
static char *read_text(const char *cmd, const char *path)
{
    wg_buf b = {0};
    char why[300] = "";
    int r = wg_fetch_read_file(path, (size_t)1 << 20, &b, why, sizeof why);
    if (r == 1 && wg_buf_append(&b, "", 1))
        return (char *)b.data;
    if (r < 0)
        fprintf(stderr, "wasmgate %s: %s\n", cmd, why); /* names the file */
    else
        fprintf(stderr, "wasmgate %s: %s: %s\n", cmd, path,
                r == 0 ? strerror(ENOENT) : "out of memory");
    if (b.data)
        memset(b.data, 0, b.len);
    wg_buf_free(&b);
    return NULL;
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

int cli_registry_option(const char *cmd, int argc, char **argv, int *i, cli_registry_opts *o)
{
    const char *a = argv[*i];
    bool has_value = *i + 1 < argc;
    if (strcmp(a, "--insecure") == 0) {
        o->insecure = true;
        return 1;
    }
    if (strcmp(a, "--pull-secret") == 0 && has_value) {
        o->secret_file = argv[++*i];
        return 1;
    }
    if (strcmp(a, "--timeout-ms") == 0 && has_value) {
        char *end = NULL;
        o->timeout_ms = strtol(argv[++*i], &end, 10);
        if (!end || *end || o->timeout_ms <= 0) {
            fprintf(stderr, "wasmgate %s: --timeout-ms wants a positive integer\n", cmd);
            return -1;
        }
        return 1;
    }
    return 0;
}
