/*
 * modules.c - the bytes of a manifest's module: read from a file, or fetched
 * over http(s) or from an OCI registry through the module cache.
 *
 * This runs on the reload's background thread (reload.c), one plugin after
 * the other; each fetch is bounded by plugins.fetch_timeout_ms. A plugin
 * whose module cannot be had is reported by the caller.
 *
 * Which copy is used, and what sha256 means for each scheme, is the fetch
 * layer's wg_fetch_module; this file maps a manifest onto it: the pull
 * policy, the pull secret's credentials and the insecure registries.
 */
#include "proxy/internal.h"

#include "fetch/fetch.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool registry_is_insecure(const wg_config *c, const char *registry)
{
    for (size_t i = 0; i < c->plugins.ninsecure_registries; i++) {
        const char *r = c->plugins.insecure_registries[i];
        if (strcmp(r, "*") == 0 || strcmp(r, registry) == 0)
            return true;
        /* "host" also covers "host:port". */
        size_t n = strlen(r);
        if (!strchr(r, ':') && strncmp(registry, r, n) == 0 && registry[n] == ':')
            return true;
    }
    return false;
}

/* The host[:port] of an http(s) URL, for the insecure list. */
static void url_host(const char *url, char *host, size_t hostlen)
{
    const char *s = strstr(url, "://");
    s = s ? s + 3 : url;
    size_t n = strcspn(s, "/?#");
    const char *at = memchr(s, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    snprintf(host, hostlen, "%.*s", (int)n, s);
}

/* The pull secret's credentials for the registry: 1 found, 0 anonymous,
 * -1 error (why filled). */
static int pull_credentials(const wg_plugins_set *set, const wg_manifest *m, char **user,
                            char **pass, char *why, size_t whylen)
{
    if (!m->image_pull_secret)
        return 0;
    const wg_plugins_secret *s = wg_plugins_find_secret(set, m->namespace, m->image_pull_secret);
    if (!s) {
        snprintf(why, whylen, "imagePullSecret \"%s\" not found in namespace \"%s\"",
                 m->image_pull_secret, m->namespace);
        return -1;
    }
    char err[256];
    int r = wg_oci_credentials_from_dockerconfig(s->docker_config, m->url.registry, user, pass, err,
                                                 sizeof err);
    if (r < 0)
        snprintf(why, whylen, "imagePullSecret \"%s\": %s", m->image_pull_secret, err);
    if (r == 0)
        wg_log("main", WG_LOG_WARN,
               "imagePullSecret \"%s\" has no entry for %s: pulling anonymously",
               m->image_pull_secret, m->url.registry);
    return r;
}

static bool fetch(wg_proxy *p, const wg_plugins_set *set, const wg_manifest *m, wg_buf *out,
                  char *hex, char *why, size_t whylen)
{
    const wg_config *c = p->config;
    const wg_manifest_url *u = &m->url;
    wg_fetch_request rq = {
        .expect_sha256 = m->sha256,
        .always = wg_manifest_effective_pull_policy(m) == WG_MANIFEST_PULL_ALWAYS,
        .timeout_ms = c->plugins.fetch_timeout_ms,
        .max_bytes = (size_t)c->plugins.max_module_bytes,
        .cancel = &p->stopping_fetches,
        .allow_stale = true,
    };
    char *user = NULL, *pass = NULL;
    if (u->scheme == WG_MANIFEST_SCHEME_OCI) {
        rq.registry = u->registry;
        rq.repository = u->repository;
        rq.tag = u->tag;
        rq.digest = u->digest;
        rq.insecure = registry_is_insecure(c, u->registry);
        if (pull_credentials(set, m, &user, &pass, why, whylen) < 0)
            return false;
        rq.username = user;
        rq.password = pass;
    } else {
        char host[256];
        url_host(u->location, host, sizeof host);
        rq.url = u->location;
        rq.insecure = registry_is_insecure(c, host);
    }
    bool cached = false, stale = false;
    wg_fetch_result result = WG_FETCH_OK;
    rq.result_out = &result;
    rq.stale_out = &stale;
    uint64_t t0 = uv_hrtime();
    bool ok = wg_fetch_module(p->cache, &rq, out, hex, &cached, why, whylen);
    if (stale)
        wg_log("main", WG_LOG_WARN,
               "plugin %s/%s: %s; serving the module this URL resolved to last time (cache)",
               m->namespace, m->name, why);
    wg_metric_add(p->m.cache_lookups[cached ? 1 : 0], 1);
    if (!cached) {
        wg_metric_add(p->m.remote_fetches[result], 1);
        wg_metric_record(p->m.fetch_ms, (uv_hrtime() - t0) / 1000000u);
    }
    free(user);
    free(pass);
    return ok;
}

bool wg_modules_obtain(wg_proxy *p, const wg_plugins_set *set, const wg_manifest *m, wg_buf *out,
                       char hex[static WG_SHA256_HEX_LEN + 1], char *why, size_t whylen)
{
    if (m->url.scheme == WG_MANIFEST_SCHEME_FILE) {
        int r = wg_fetch_read_file(m->url.location, SIZE_MAX - 1, out, why, whylen);
        if (r == 0)
            snprintf(why, whylen, "cannot open %s: %s", m->url.location, strerror(ENOENT));
        if (r != 1)
            return false;
        wg_sha256_hex(out->data, out->len, hex);
        if (m->sha256) {
            if (strcmp(hex, m->sha256) != 0) {
                snprintf(why, whylen, "%s: sha256 mismatch: expected %s, file has %s",
                         m->url.location, m->sha256, hex);
                return false;
            }
        }
        return true;
    }
    if (!p->cache) {
        snprintf(why, whylen, "module cache: %s", p->cache_error);
        return false;
    }
    return fetch(p, set, m, out, hex, why, whylen);
}
