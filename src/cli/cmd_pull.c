/*
 * wasmgate pull URL - fetches a module into the module cache, the way the
 * proxy would, and prints its digest and cached path.
 *
 * A pull always asks the server (as `docker pull`), unless the URL names a
 * digest already in the cache. Progress goes to stderr: a bar per download
 * on a terminal, a line per download otherwise. Credentials for a registry come from a
 * Docker config JSON file (~/.docker/config.json, or the .dockerconfigjson
 * of a pull Secret).
 */
#include "cli/cli.h"
#include "config/config.h"
#include "fetch/fetch.h"
#include "plugins/plugins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Progress on stderr: on a terminal, one bar per transfer redrawn in
 * place (at most ten times a second); otherwise a plain line as each
 * transfer starts, which logs keep readable. */
typedef struct pull_progress {
    bool tty;
    char what[512];   /* the transfer being shown */
    bool bar_open;    /* a bar is on the current line */
    uint64_t drawn_ms;
} pull_progress;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "12.3 MiB" */
static void human_bytes(uint64_t n, char *out, size_t outlen)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(out, outlen, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* The part of a URL worth showing: what follows the host. */
static const char *transfer_name(const char *url)
{
    const char *s = strstr(url, "://");
    s = s ? strchr(s + 3, '/') : NULL;
    return s ? s + 1 : url;
}

static void on_progress(void *ctx, const char *what, uint64_t received, uint64_t total)
{
    pull_progress *pp = ctx;
    bool started = strcmp(pp->what, what) != 0;
    if (started) {
        if (pp->bar_open)
            fputc('\n', stderr);
        pp->bar_open = false;
        snprintf(pp->what, sizeof pp->what, "%s", what);
        if (!pp->tty)
            fprintf(stderr, "fetching %s\n", what);
    }
    if (!pp->tty)
        return;
    uint64_t now = now_ms();
    if (!started && received != total && now - pp->drawn_ms < 100)
        return;
    pp->drawn_ms = now;
    char got[32], all[32];
    human_bytes(received, got, sizeof got);
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    if (total) {
        size_t filled = (size_t)(received >= total ? WIDTH : received * WIDTH / total);
        memset(bar, '#', filled);
        memset(bar + filled, ' ', WIDTH - filled);
        bar[WIDTH] = 0;
        human_bytes(total, all, sizeof all);
        fprintf(stderr, "\r%-40.40s [%s] %s / %s\033[K", transfer_name(what), bar, got, all);
    } else {
        fprintf(stderr, "\r%-40.40s %s\033[K", transfer_name(what), got);
    }
    fflush(stderr);
    pp->bar_open = true;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: wasmgate pull URL [--pull-secret FILE] [--cache-dir DIR] [--insecure]\n"
            "                         [--timeout-ms N]\n"
            "\n"
            "Fetches a module into the module cache and prints its sha256 and path.\n"
            "URL is oci://REGISTRY/REPO[:TAG|@sha256:DIGEST] (or a bare reference),\n"
            "http://... or https://...\n"
            "\n"
            "  --pull-secret FILE  Docker config JSON with the registry's credentials\n"
            "  --cache-dir DIR     the cache (default: " WG_CONFIG_DEFAULT_CACHE_DIR ")\n"
            "  --insecure          skip TLS verification; registries may use plain HTTP\n"
            "  --timeout-ms N      deadline for the whole fetch (default: 30000)\n");
}

int cmd_pull(int argc, char **argv)
{
    const char *url = NULL, *cache_dir = WG_CONFIG_DEFAULT_CACHE_DIR;
    cli_registry_opts args = {.timeout_ms = WG_CONFIG_DEFAULT_FETCH_TIMEOUT_MS};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_registry_option("pull", argc, argv, &i, &args);
        if (r < 0)
            return WG_EXIT_USAGE;
        if (r > 0)
            continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return WG_EXIT_OK;
        } else if (strcmp(a, "--cache-dir") == 0 && i + 1 < argc) {
            cache_dir = argv[++i];
        } else if (a[0] == '-' || url) {
            fprintf(stderr, "wasmgate pull: unexpected argument \"%s\"\n", a);
            usage(stderr);
            return WG_EXIT_USAGE;
        } else {
            url = a;
        }
    }
    if (!url) {
        usage(stderr);
        return WG_EXIT_USAGE;
    }

    char why[512] = "";
    wg_manifest_url u;
    if (!wg_plugins_url_parse(url, ".", &u, why, sizeof why)) {
        fprintf(stderr, "wasmgate pull: \"%s\": %s\n", url, why);
        return WG_EXIT_USAGE;
    }
    int rc = WG_EXIT_FAILURE;
    char *user = NULL, *pass = NULL;
    wg_cache *cache = NULL;
    wg_buf module = {0};
    if (u.scheme == WG_MANIFEST_SCHEME_FILE) {
        fprintf(stderr, "wasmgate pull: \"%s\" is a local file: nothing to pull\n", url);
        rc = WG_EXIT_USAGE;
        goto out;
    }
    if (args.secret_file && u.scheme != WG_MANIFEST_SCHEME_OCI) {
        fprintf(stderr, "wasmgate pull: --pull-secret applies to oci:// only\n");
        rc = WG_EXIT_USAGE;
        goto out;
    }
    if (!cli_registry_credentials("pull", args.secret_file, u.registry, &user, &pass))
        goto out;
    cache = wg_cache_open(cache_dir, why, sizeof why);
    if (!cache) {
        fprintf(stderr, "wasmgate pull: %s\n", why);
        goto out;
    }
    char manifest_digest[WG_OCI_DIGEST_LEN] = "";
    wg_fetch_request rq = {
        .always = true,
        .username = user,
        .password = pass,
        .insecure = args.insecure,
        .timeout_ms = args.timeout_ms,
        .manifest_digest_out = manifest_digest,
    };
    if (u.scheme == WG_MANIFEST_SCHEME_OCI) {
        rq.registry = u.registry;
        rq.repository = u.repository;
        rq.tag = u.tag;
        rq.digest = u.digest;
    } else {
        rq.url = u.location;
    }
    pull_progress progress = {.tty = isatty(STDERR_FILENO) == 1};
    rq.progress = on_progress;
    rq.progress_ctx = &progress;
    char hex[WG_SHA256_HEX_LEN + 1] = "";
    bool cached = false;
    bool fetched = wg_fetch_module(cache, &rq, &module, hex, &cached, why, sizeof why);
    if (progress.bar_open)
        fputc('\n', stderr);
    if (!fetched) {
        fprintf(stderr, "wasmgate pull: %s\n", why);
        goto out;
    }
    char path[4096];
    wg_cache_path(cache, hex, path, sizeof path);
    printf("sha256:%s\n", hex);
    if (manifest_digest[0])
        printf("manifest: %s\n", manifest_digest);
    printf("path: %s\n", path);
    printf("size: %zu bytes%s\n", module.len, cached ? " (already cached)" : "");
    rc = WG_EXIT_OK;
out:
    wg_buf_free(&module);
    wg_cache_close(cache);
    cli_wipe_free(pass); /* credentials: not left in freed memory */
    cli_wipe_free(user);
    wg_plugins_url_free(&u);
    return rc;
}
