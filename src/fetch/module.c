/*
 * module.c - a module by URL through the cache: the cached copy when the
 * request allows it, else a fetch that is verified and stored.
 *
 * Which copy is used (the reference's sections 1.5 and 3.2):
 *   - an expected digest makes the module immutable: a cached copy is used
 *     whatever the pull policy says, and a fetched one must match it;
 *   - otherwise, unless the policy is Always, the copy the URL resolved to
 *     last time (the cache's URL index, which survives restarts).
 * For http(s) the digest is the sha256 of the unboxed module; for OCI it is
 * the image manifest's. The cache stores modules by their own sha256; an
 * OCI image is indexed under its tagged URL and its digest URL
 * ("oci://registry/repository@sha256:...").
 */
#include "fetch/internal.h"

#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG "fetch"

/* Serves an index key from the cache. True: out holds the module and hex
 * its digest. */
static bool from_index(wg_cache *cache, const char *key, wg_buf *out,
                       char hex[WG_SHA256_HEX_LEN + 1])
{
    wg_cache_url_entry e;
    char err[256];
    int r = wg_cache_lookup_url(cache, key, time(NULL), &e, err, sizeof err);
    if (r < 0)
        wg_log(LOG, WG_LOG_WARN, "module cache: %s", err);
    if (r != 1 || wg_cache_get(cache, e.digest, out, err, sizeof err) != 1)
        return false;
    memcpy(hex, e.digest, WG_SHA256_HEX_LEN + 1);
    return true;
}

static bool module_http(wg_cache *cache, const wg_fetch_request *rq, wg_buf *out,
                        char hex[WG_SHA256_HEX_LEN + 1], bool *cached, wg_fetch_result *result,
                        char *err, size_t errlen)
{
    char cerr[256];
    if (rq->expect_sha256 && wg_cache_get(cache, rq->expect_sha256, out, cerr, sizeof cerr) == 1) {
        snprintf(hex, WG_SHA256_HEX_LEN + 1, "%s", rq->expect_sha256);
        *cached = true;
        return true;
    }
    if (!rq->expect_sha256 && !rq->always && from_index(cache, rq->url, out, hex)) {
        *cached = true;
        return true;
    }
    wg_fetch_options opt = {
        .timeout_ms = rq->timeout_ms,
        .max_bytes = rq->max_bytes,
        .insecure = rq->insecure,
        .cancel = rq->cancel,
        .progress = rq->progress,
        .progress_ctx = rq->progress_ctx,
    };
    if (!wg_fetch_url(rq->url, &opt, out, err, errlen)) {
        *result = WG_FETCH_DOWNLOAD_FAILURE;
        return false;
    }
    wg_sha256_hex(out->data, out->len, hex);
    if (rq->expect_sha256 && strcmp(hex, rq->expect_sha256) != 0) {
        *result = WG_FETCH_CHECKSUM_MISMATCH;
        wg_fetch_err(err, errlen, "%s: sha256 mismatch: expected %s, module has %s", rq->url,
                     rq->expect_sha256, hex);
        return false;
    }
    if (!wg_cache_put(cache, out->data, out->len, rq->expect_sha256, hex, cerr, sizeof cerr)) {
        *result = WG_FETCH_OTHER_FAILURE;
        wg_fetch_err(err, errlen, "%s: %s", rq->url, cerr);
        return false;
    }
    if (!wg_cache_bind_url(cache, rq->url, hex, time(NULL), cerr, sizeof cerr))
        wg_log(LOG, WG_LOG_WARN, "module cache: %s", cerr);
    return true;
}

static bool module_oci(wg_cache *cache, const wg_fetch_request *rq, wg_buf *out,
                       char hex[WG_SHA256_HEX_LEN + 1], bool *cached, wg_fetch_result *result,
                       char *err, size_t errlen)
{
    char expect[WG_OCI_DIGEST_LEN] = "";
    if (rq->expect_sha256)
        snprintf(expect, sizeof expect, "sha256:%s", rq->expect_sha256);
    else if (rq->digest)
        snprintf(expect, sizeof expect, "%s", rq->digest);
    char digest_key[1024], tag_key[1024];
    snprintf(digest_key, sizeof digest_key, "oci://%s/%s@%s", rq->registry, rq->repository,
             expect);
    snprintf(tag_key, sizeof tag_key, "oci://%s/%s:%s", rq->registry, rq->repository,
             rq->tag ? rq->tag : "latest");
    if ((expect[0] && from_index(cache, digest_key, out, hex)) ||
        (!expect[0] && !rq->always && from_index(cache, tag_key, out, hex))) {
        *cached = true;
        return true;
    }

    wg_oci_options opt = {
        .username = rq->username,
        .password = rq->password,
        .skip_tls_verify = rq->insecure,
        .timeout_ms = rq->timeout_ms,
        .max_bytes = rq->max_bytes,
        .cancel = rq->cancel,
        .progress = rq->progress,
        .progress_ctx = rq->progress_ctx,
        .result_out = result,
    };
    char image[WG_OCI_DIGEST_LEN] = "";
    opt.image_digest_out = image;
    const char *ref = rq->digest ? rq->digest : rq->tag ? rq->tag : "latest";
    char got[WG_OCI_DIGEST_LEN] = "";
    /* An insecure registry may also speak plain HTTP (as docker and Istio
     * allow for such registries): https is tried once, without retries,
     * then plain HTTP with the usual retries. */
    if (rq->insecure)
        opt.max_attempts = 1;
    bool ok = wg_fetch_oci(rq->registry, rq->repository, ref, &opt, out, got, err, errlen);
    if (!ok && rq->insecure) {
        WG_DEBUG(LOG, "over https: %s; trying plain http", err);
        opt.insecure = true;
        opt.max_attempts = 0;
        ok = wg_fetch_oci(rq->registry, rq->repository, ref, &opt, out, got, err, errlen);
    }
    if (!ok) {
        /* The usual cause: a registry that speaks plain HTTP. */
        if (err && !rq->insecure && strstr(err, "wrong version number")) {
            size_t l = strlen(err);
            if (l < errlen)
                snprintf(err + l, errlen - l,
                         " (a plain-HTTP registry must be listed as insecure: "
                         "plugins.insecure_registries, or pull --insecure)");
        }
        return false;
    }
    if (expect[0] && strcmp(expect, got) != 0 && strcmp(expect, image) != 0) {
        *result = WG_FETCH_CHECKSUM_MISMATCH;
        if (strcmp(image, got) != 0)
            wg_fetch_err(err, errlen,
                         "oci://%s/%s:%s: manifest digest mismatch: expected %s (sha256), "
                         "registry has index %s with image %s",
                         rq->registry, rq->repository, ref, expect, got, image);
        else
            wg_fetch_err(err, errlen,
                         "oci://%s/%s:%s: manifest digest mismatch: expected %s (sha256), "
                         "registry has %s",
                         rq->registry, rq->repository, ref, expect, got);
        return false;
    }
    char cerr[300];
    if (!wg_cache_put(cache, out->data, out->len, NULL, hex, cerr, sizeof cerr)) {
        *result = WG_FETCH_OTHER_FAILURE;
        wg_fetch_err(err, errlen, "%s/%s: %s", rq->registry, rq->repository, cerr);
        return false;
    }
    snprintf(digest_key, sizeof digest_key, "oci://%s/%s@%s", rq->registry, rq->repository, got);
    time_t now = time(NULL);
    bool bound = wg_cache_bind_url(cache, digest_key, hex, now, cerr, sizeof cerr);
    if (bound && strcmp(image, got) != 0) {
        /* An index: its platform image's digest finds the module too. */
        snprintf(digest_key, sizeof digest_key, "oci://%s/%s@%s", rq->registry, rq->repository,
                 image);
        bound = wg_cache_bind_url(cache, digest_key, hex, now, cerr, sizeof cerr);
    }
    if (!bound || (!rq->digest && !wg_cache_bind_url(cache, tag_key, hex, now, cerr, sizeof cerr)))
        wg_log(LOG, WG_LOG_WARN, "module cache: %s", cerr);
    if (rq->manifest_digest_out)
        memcpy(rq->manifest_digest_out, got, sizeof got);
    return true;
}

bool wg_fetch_module(wg_cache *cache, const wg_fetch_request *rq, wg_buf *out,
                     char module_hex[WG_SHA256_HEX_LEN + 1], bool *from_cache, char *err,
                     size_t errlen)
{
    bool cached = false;
    char hex[WG_SHA256_HEX_LEN + 1] = "";
    wg_fetch_result result = WG_FETCH_OK;
    bool ok = rq->registry ? module_oci(cache, rq, out, hex, &cached, &result, err, errlen)
                           : module_http(cache, rq, out, hex, &cached, &result, err, errlen);
    bool stale = false;
    if (ok) {
        result = WG_FETCH_OK;
    } else if (rq->allow_stale && rq->always && result != WG_FETCH_CHECKSUM_MISMATCH) {
        /* The last resolution of the URL, if any (what IfNotPresent uses). */
        char key[1024];
        if (rq->registry)
            snprintf(key, sizeof key, "oci://%s/%s:%s", rq->registry, rq->repository,
                     rq->tag ? rq->tag : "latest");
        else
            snprintf(key, sizeof key, "%s", rq->url);
        stale = !rq->digest && !rq->expect_sha256 && from_index(cache, key, out, hex);
        ok = stale;
    }
    if (rq->stale_out)
        *rq->stale_out = stale;
    if (rq->result_out)
        *rq->result_out = result;
    if (ok && module_hex)
        memcpy(module_hex, hex, sizeof hex);
    if (from_cache)
        *from_cache = ok && cached;
    return ok;
}

const char *wg_fetch_result_name(wg_fetch_result r)
{
    switch (r) {
    case WG_FETCH_OK: return "success";
    case WG_FETCH_DOWNLOAD_FAILURE: return "download_failure";
    case WG_FETCH_MANIFEST_FAILURE: return "manifest_failure";
    case WG_FETCH_CHECKSUM_MISMATCH: return "checksum_mismatched";
    case WG_FETCH_OTHER_FAILURE: return "fetch_failure";
    }
    return "unknown";
}
