/*
 * modules.c - the bytes of a manifest's module: read from a file, or fetched
 * over http(s) or from an OCI registry through the module cache.
 *
 * This runs at start-up, before the workers exist, one plugin after the
 * other; each fetch is bounded by plugins.fetch_timeout_ms. A plugin whose
 * module cannot be had is reported by the caller as failed to load, and its
 * failStrategy decides what its traffic gets.
 *
 * Which copy is used (reference sections 1.5 and 3.2):
 *   - an expected digest (the sha256 field, or "@sha256:" in an oci URL)
 *     makes the module immutable: a cached copy is used whatever the pull
 *     policy says, and a fetched one must match it;
 *   - otherwise IfNotPresent uses the copy the URL resolved to last time
 *     (the cache's URL index, which survives restarts), and Always fetches.
 * For http(s) the digest is the sha256 of the unboxed module; for oci it is
 * the image manifest's digest. The cache stores modules by their own sha256;
 * an oci image is indexed under both its tagged URL and its digest URL
 * ("oci://registry/repository@sha256:...").
 */
#include "proxy/internal.h"

#include "fetch/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool read_file(const char *path, wg_buf *out, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (!wg_buf_append(out, chunk, n)) {
            fclose(f);
            snprintf(why, whylen, "out of memory reading %s", path);
            return false;
        }
    }
    bool ok = !ferror(f);
    if (!ok)
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    return ok;
}

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

/* Serves a URL from the cache index. 1: out holds the module; 0: miss. */
static int from_index(wg_cache *cache, const char *key, wg_buf *out, char *why, size_t whylen)
{
    wg_cache_url_entry e;
    char err[256];
    int r = wg_cache_lookup_url(cache, key, time(NULL), &e, err, sizeof err);
    if (r < 0) {
        wg_log("main", WG_LOG_WARN, "module cache: %s", err);
        return 0;
    }
    if (r == 0)
        return 0;
    r = wg_cache_get(cache, e.digest, out, why, whylen);
    return r == 1 ? 1 : 0;
}

static bool fetch_http(wg_proxy *p, wg_cache *cache, const wg_manifest *m, wg_buf *out,
                       char *why, size_t whylen)
{
    const wg_config *c = p->config;
    const char *url = m->url.location;
    bool if_not_present = wg_manifest_effective_pull_policy(m) != WG_MANIFEST_PULL_ALWAYS;
    if (m->sha256 && wg_cache_get(cache, m->sha256, out, why, whylen) == 1)
        return true;
    if (!m->sha256 && if_not_present && from_index(cache, url, out, why, whylen) == 1)
        return true;

    char host[256];
    url_host(url, host, sizeof host);
    wg_fetch_options opt = {
        .timeout_ms = c->plugins.fetch_timeout_ms,
        .max_bytes = (size_t)c->plugins.max_module_bytes,
        .insecure = registry_is_insecure(c, host),
    };
    if (!wg_fetch_url(url, &opt, out, why, whylen))
        return false;
    char hex[WG_SHA256_HEX_LEN + 1];
    char err[300];
    if (!wg_cache_put(cache, out->data, out->len, m->sha256, hex, err, sizeof err)) {
        snprintf(why, whylen, "%s: %s", url, err);
        return false;
    }
    if (!wg_cache_bind_url(cache, url, hex, time(NULL), err, sizeof err))
        wg_log("main", WG_LOG_WARN, "module cache: %s", err);
    return true;
}

/* The pull secret's credentials for the registry: 1 found, 0 anonymous,
 * -1 error (why filled). */
static int pull_credentials(wg_proxy *p, const wg_manifest *m, char **user, char **pass,
                            char *why, size_t whylen)
{
    if (!m->image_pull_secret)
        return 0;
    const wg_plugins_secret *s =
        wg_plugins_find_secret(p->manifests, m->namespace, m->image_pull_secret);
    if (!s) {
        snprintf(why, whylen, "imagePullSecret \"%s\" not found in namespace \"%s\"",
                 m->image_pull_secret, m->namespace);
        return -1;
    }
    char err[256];
    int r = wg_oci_credentials_from_dockerconfig(s->docker_config, m->url.registry, user, pass,
                                                 err, sizeof err);
    if (r < 0)
        snprintf(why, whylen, "imagePullSecret \"%s\": %s", m->image_pull_secret, err);
    if (r == 0)
        wg_log("main", WG_LOG_WARN,
               "imagePullSecret \"%s\" has no entry for %s: pulling anonymously",
               m->image_pull_secret, m->url.registry);
    return r;
}

static bool fetch_oci(wg_proxy *p, wg_cache *cache, const wg_manifest *m, wg_buf *out,
                      char *why, size_t whylen)
{
    const wg_config *c = p->config;
    const wg_manifest_url *u = &m->url;
    /* The expected manifest digest: the sha256 field, else the URL's. */
    char expect[WG_OCI_DIGEST_LEN] = "";
    if (m->sha256)
        snprintf(expect, sizeof expect, "sha256:%s", m->sha256);
    else if (u->digest)
        snprintf(expect, sizeof expect, "%s", u->digest);
    char digest_key[1024], tag_key[1024];
    snprintf(digest_key, sizeof digest_key, "oci://%s/%s@%s", u->registry, u->repository,
             expect);
    snprintf(tag_key, sizeof tag_key, "oci://%s/%s:%s", u->registry, u->repository, u->tag);
    if (expect[0] && from_index(cache, digest_key, out, why, whylen) == 1)
        return true;
    if (!expect[0] && wg_manifest_effective_pull_policy(m) != WG_MANIFEST_PULL_ALWAYS &&
        from_index(cache, tag_key, out, why, whylen) == 1)
        return true;

    char *user = NULL, *pass = NULL;
    if (pull_credentials(p, m, &user, &pass, why, whylen) < 0)
        return false;
    bool insecure = registry_is_insecure(c, u->registry);
    wg_oci_options opt = {
        .username = user,
        .password = pass,
        .skip_tls_verify = insecure,
        .timeout_ms = c->plugins.fetch_timeout_ms,
        .max_bytes = (size_t)c->plugins.max_module_bytes,
    };
    const char *ref = u->digest ? u->digest : u->tag;
    char got[WG_OCI_DIGEST_LEN] = "";
    /* A registry listed as insecure may also speak plain HTTP (as docker
     * and Istio allow for such registries): https is tried once, without
     * retries, then plain http with the usual retries. */
    if (insecure)
        opt.max_attempts = 1;
    bool ok = wg_fetch_oci(u->registry, u->repository, ref, &opt, out, got, why, whylen);
    if (!ok && insecure) {
        char first[300];
        snprintf(first, sizeof first, "%s", why);
        opt.insecure = true;
        opt.max_attempts = 0;
        ok = wg_fetch_oci(u->registry, u->repository, ref, &opt, out, got, why, whylen);
        if (!ok)
            wg_log("main", WG_LOG_DEBUG, "oci over https failed first: %s", first);
    }
    free(user);
    free(pass);
    if (!ok)
        return false;
    if (expect[0] && strcmp(expect, got) != 0) {
        snprintf(why, whylen,
                 "oci://%s: manifest digest mismatch: expected %s (sha256), registry has %s",
                 u->location, expect, got);
        return false;
    }
    char hex[WG_SHA256_HEX_LEN + 1];
    char err[300];
    if (!wg_cache_put(cache, out->data, out->len, NULL, hex, err, sizeof err)) {
        snprintf(why, whylen, "%s: %s", u->location, err);
        return false;
    }
    snprintf(digest_key, sizeof digest_key, "oci://%s/%s@%s", u->registry, u->repository, got);
    time_t now = time(NULL);
    if (!wg_cache_bind_url(cache, digest_key, hex, now, err, sizeof err) ||
        (!u->digest && !wg_cache_bind_url(cache, tag_key, hex, now, err, sizeof err)))
        wg_log("main", WG_LOG_WARN, "module cache: %s", err);
    return true;
}

bool wg_modules_obtain(wg_proxy *p, const wg_manifest *m, wg_buf *out, char *why,
                       size_t whylen)
{
    if (m->url.scheme == WG_MANIFEST_SCHEME_FILE) {
        if (!read_file(m->url.location, out, why, whylen))
            return false;
        if (m->sha256) {
            char hex[WG_SHA256_HEX_LEN + 1];
            wg_sha256_hex(out->data, out->len, hex);
            if (strcmp(hex, m->sha256) != 0) {
                snprintf(why, whylen, "%s: sha256 mismatch: expected %s, file has %s",
                         m->url.location, m->sha256, hex);
                return false;
            }
        }
        return true;
    }
    if (!p->cache) {
        char err[256];
        p->cache = wg_cache_open(p->config->plugins.cache_dir, err, sizeof err);
        if (!p->cache) {
            snprintf(why, whylen, "module cache: %s", err);
            return false;
        }
    }
    if (m->url.scheme == WG_MANIFEST_SCHEME_OCI)
        return fetch_oci(p, p->cache, m, out, why, whylen);
    return fetch_http(p, p->cache, m, out, why, whylen);
}
