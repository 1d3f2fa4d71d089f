/*
 * fetch.h - the public header of the fetch layer: where plugin modules come
 * from, and the on-disk cache that keeps them.
 *
 * The layer depends only on base. Nothing here runs in a worker's event
 * loop: fetching blocks (the caller runs it on a background thread), and
 * the cache does plain file I/O.
 *
 * Errors: every function that can fail takes (err, errlen) and writes a
 * one-line, human-readable message there (err may be NULL).
 *
 * The cache (wg_cache) is content addressed, under one directory:
 *
 *   <dir>/sha256/<hex>.wasm     a module, named by the sha256 of its bytes
 *   <dir>/index/<sha256(url)>.json
 *                               {"url": ..., "digest": ..., "fetched_at": ...,
 *                                "last_used": ...}: the digest a URL
 *                               resolved to when it was last fetched
 *
 * Every file is written to a temporary file in the same directory, synced,
 * then renamed into place, so a reader (or a crash) never sees a partial
 * module or index entry. A module's last use is its file's modification
 * time: wg_cache_get() and wg_cache_touch() update it.
 *
 * Several processes may share a cache directory; a wg_cache object itself
 * is not synchronised (one per thread, or a lock around it).
 */
#ifndef WG_FETCH_FETCH_H
#define WG_FETCH_FETCH_H

#include "base/base.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Hex digests are 64 lowercase hex characters plus the NUL. */
#define WG_SHA256_HEX_LEN 64

/* sha256 of data[0..len) as lowercase hex. */
void wg_sha256_hex(const void *data, size_t len, char out_hex[WG_SHA256_HEX_LEN + 1]);

/* True if s is exactly 64 hex digits (either case). */
bool wg_sha256_hex_valid(const char *s);

/* ------------------------------------------------------------------ */
/* The on-disk cache                                                  */
/* ------------------------------------------------------------------ */

typedef struct wg_cache wg_cache;

/* Opens (creating as needed, mode 0755) the cache rooted at dir. */
wg_cache *wg_cache_open(const char *dir, char *err, size_t errlen);
void wg_cache_close(wg_cache *c);
const char *wg_cache_dir(const wg_cache *c);

/* Stores a module. When expect_sha256 is not NULL the bytes must hash to it
 * (any case; an optional "sha256:" prefix is accepted), otherwise nothing is
 * written and the error names both digests. out_hex (may be NULL) receives
 * the digest. Storing a module that is already there only touches it. */
bool wg_cache_put(wg_cache *c, const void *bytes, size_t len, const char *expect_sha256,
                  char out_hex[WG_SHA256_HEX_LEN + 1], char *err, size_t errlen);

/* Reads the module with this digest into out (replacing its content) and
 * touches it. The bytes are re-hashed: a corrupted file is an error.
 * Returns 1 when found, 0 when not in the cache, -1 on error. */
int wg_cache_get(wg_cache *c, const char *hex, wg_buf *out, char *err, size_t errlen);

/* The path where the module with this digest lives (whether or not it is
 * there). False if the digest is malformed or the path does not fit. */
bool wg_cache_path(const wg_cache *c, const char *hex, char *path, size_t pathlen);

/* Sets a module's last-use time. Returns 1, 0 when not in the cache, -1. */
int wg_cache_touch(wg_cache *c, const char *hex, time_t when, char *err, size_t errlen);

/* Records that url resolved to digest hex (fetched_at = last_used = now). */
bool wg_cache_bind_url(wg_cache *c, const char *url, const char *hex, time_t now, char *err,
                       size_t errlen);

typedef struct wg_cache_url_entry {
    char digest[WG_SHA256_HEX_LEN + 1];
    time_t fetched_at, last_used;
} wg_cache_url_entry;

/* Looks url up in the index. A hit whose module is no longer in the cache
 * counts as a miss. On a hit, last_used becomes now (the index entry is
 * rewritten) and the module is touched. Returns 1 (entry filled), 0, -1. */
int wg_cache_lookup_url(wg_cache *c, const char *url, time_t now, wg_cache_url_entry *entry,
                        char *err, size_t errlen);

typedef struct wg_cache_gc_stats {
    size_t kept, evicted; /* modules */
    uint64_t kept_bytes, evicted_bytes;
    size_t index_removed; /* index entries pointing at evicted or missing modules */
} wg_cache_gc_stats;

/* Evicts modules. Digests listed in in_use (n of them) are never evicted.
 * First every module unused for more than unused_ttl_s seconds before now
 * goes (0: no TTL); then the least recently used ones until the total size
 * is at most max_bytes (0: no limit). Index entries whose module is gone
 * are removed, and so are temporary files left by crashed writers (older
 * than an hour). stats may be NULL. */
bool wg_cache_gc(wg_cache *c, time_t now, uint64_t unused_ttl_s, uint64_t max_bytes,
                 const char *const *in_use, size_t n, wg_cache_gc_stats *stats, char *err,
                 size_t errlen);

/* ------------------------------------------------------------------ */
/* Sources                                                            */
/* ------------------------------------------------------------------ */

/* Reads a whole regular file into out (replacing its content), at most max
 * bytes ("module larger than N bytes" beyond). Returns 1, 0 if the file
 * does not exist (err untouched), -1 with err set. */
int wg_fetch_read_file(const char *path, size_t max, wg_buf *out, char *err, size_t errlen);

#define WG_FETCH_DEFAULT_TIMEOUT_MS 30000
#define WG_FETCH_DEFAULT_MAX_BYTES ((size_t)256 * 1024 * 1024)
#define WG_FETCH_DEFAULT_MAX_REDIRECTS 5
#define WG_FETCH_DEFAULT_ATTEMPTS 5
#define WG_FETCH_DEFAULT_BACKOFF_MS 500

/* Zero fields take the defaults above; a NULL options pointer means all
 * defaults. */
/* Progress of a download, called on the fetching thread while bytes
 * arrive: `what` names the transfer (its URL), received counts its bytes
 * so far, total is what the server announced (0: unknown). Several
 * transfers make one OCI pull (manifests, then the blob). */
typedef void (*wg_fetch_progress_fn)(void *ctx, const char *what, uint64_t received,
                                     uint64_t total);

typedef struct wg_fetch_options {
    /* Deadline for the whole fetch, retries and backoff included. */
    long timeout_ms;
    /* Cap on the downloaded body and on the unboxed module: exceeding it is
     * the error "module larger than N bytes" (never a truncation). */
    size_t max_bytes;
    /* Redirects followed (http/https only); -1 for none. */
    int max_redirects;
    /* Attempts in total; retried are connection errors, timeouts and 5xx
     * other than 501, 505 and 511, never 4xx. */
    int max_attempts;
    /* First backoff delay; each next one doubles (0.5 s, 1 s, 2 s, 4 s). */
    long backoff_ms;
    /* Skip TLS certificate and host name verification. */
    bool insecure;
    /* When set and it becomes true (from any thread), the fetch stops
     * soon with the error "cancelled" (a proxy shutting down). */
    const atomic_bool *cancel;
    wg_fetch_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} wg_fetch_options;

/* Fetches a module from file://PATH (PATH as written, so file:///abs/path),
 * http:// or https:// and unboxes it (see wg_fetch_unbox). out is replaced
 * with the module on success. Blocks for up to timeout_ms: call it from a
 * background thread. Thread-safe. The error names the URL and, when the
 * request was retried, the number of attempts. */
bool wg_fetch_url(const char *url, const wg_fetch_options *opt, wg_buf *out, char *err,
                  size_t errlen);

/* Unboxes a downloaded body as Istio does: raw wasm ("\0asm") as is; gzip
 * is decompressed (at most max_bytes); a ustar archive gives its file named
 * plugin.wasm (any directory), else its only *.wasm file; these nest (a
 * .tar.gz works). Anything else is "not a WebAssembly module". in and out
 * must not overlap; max_bytes 0 means the default. */
bool wg_fetch_unbox(const uint8_t *in, size_t len, size_t max_bytes, wg_buf *out, char *err,
                    size_t errlen);

/* ------------------------------------------------------------------ */
/* OCI registries (oci.c)                                             */
/* ------------------------------------------------------------------ */

/* "sha256:" + 64 hex digits + NUL. */
#define WG_OCI_DIGEST_LEN 72

/* Why a fetch failed, with the names of the Istio agent's
 * wasm_remote_fetch_count results. */
typedef enum wg_fetch_result {
    WG_FETCH_OK,                /* "success" */
    WG_FETCH_DOWNLOAD_FAILURE,  /* "download_failure": the module (http body, OCI blob) */
    WG_FETCH_MANIFEST_FAILURE,  /* "manifest_failure": OCI manifests and indexes, auth */
    WG_FETCH_CHECKSUM_MISMATCH, /* "checksum_mismatched": not the expected sha256 */
    WG_FETCH_OTHER_FAILURE,     /* "fetch_failure": none of the above (the module could not
                                   be stored in the cache) */
} wg_fetch_result;

const char *wg_fetch_result_name(wg_fetch_result r);

/* Zero fields take the wg_fetch_options defaults; NULL means all defaults
 * and anonymous access. */
typedef struct wg_oci_options {
    /* Credentials (e.g. from wg_oci_credentials_from_dockerconfig), used
     * only when the registry answers 401: as Basic credentials, or to get
     * a Bearer token from the realm it names. NULL: anonymous. */
    const char *username, *password;
    /* Plain http:// instead of https://. */
    bool insecure;
    /* https: skip TLS certificate and host name verification. */
    bool skip_tls_verify;
    /* Deadline for the whole pull (manifests, token, blob, retries). */
    long timeout_ms;
    /* Cap on every blob and on the unboxed module ("module larger than N
     * bytes"); manifests are capped at 4 MiB as well. */
    size_t max_bytes;
    /* Attempts per request and first backoff delay, as wg_fetch_options:
     * connection errors, timeouts and 5xx other than 501/505/511. */
    int max_attempts;
    long backoff_ms;
    const atomic_bool *cancel; /* as wg_fetch_options */
    wg_fetch_progress_fn progress; /* as wg_fetch_options */
    void *progress_ctx;
    /* Output, may be NULL: how wg_fetch_oci ended. */
    wg_fetch_result *result_out;
    /* Output, may be NULL (WG_OCI_DIGEST_LEN bytes): "sha256:<hex>" of the
     * image manifest the module came from: the index's chosen entry, or
     * the manifest the reference named when it is not an index. */
    char *image_digest_out;
} wg_oci_options;

/* Pulls a Wasm plugin image over the OCI distribution API v2 (blocking;
 * call it from a background thread; thread-safe).
 *
 * reference is a tag or "sha256:<hex>". The manifest the reference names
 * is hashed as received; manifest_digest_out gets "sha256:<hex>" of it (for
 * a digest reference it must equal the reference, else an error). An OCI
 * index or Docker manifest list resolves to its linux/amd64 entry (when
 * entries carry platforms) or its first entry; that manifest's digest is
 * checked against the index entry, and manifest_digest_out stays the digest
 * of what the reference named (the index; opt->image_digest_out gets the
 * entry's).
 *
 * Image variants: the OCI-spec one (a layer of media type
 * application/vnd.module.wasm.content.layer.v1+wasm holding the raw module)
 * and the compat one (the last layer is a tar+gzip layer holding
 * plugin.wasm, unboxed by wg_fetch_unbox). Every blob is checked against
 * its descriptor's sha256 digest and size. module_out is replaced with the
 * module on success. manifest_digest_out may be NULL. */
bool wg_fetch_oci(const char *registry, const char *repository, const char *reference,
                  const wg_oci_options *opt, wg_buf *module_out,
                  char manifest_digest_out[WG_OCI_DIGEST_LEN], char *err, size_t errlen);

/* Publishes a module as an OCI-spec Wasm image (the variant Istio reads:
 * a config of media type application/vnd.module.wasm.config.v1+json and
 * two layers, that config as runtime-config.json and the module as
 * application/vnd.module.wasm.content.layer.v1+wasm) under
 * registry/repository:tag. Authentication and retries as wg_fetch_oci
 * (the registry's challenge asks for push scope). manifest_digest_out
 * (may be NULL) gets the pushed manifest's digest. Blocking. */
bool wg_oci_push(const char *registry, const char *repository, const char *tag,
                 const wg_oci_options *opt, const uint8_t *module, size_t len,
                 char manifest_digest_out[WG_OCI_DIGEST_LEN], char *err, size_t errlen);

/* Finds registry's credentials in a Docker config JSON (the
 * .dockerconfigjson of a kubernetes.io/dockerconfigjson Secret): the
 * "auths" entry whose key is the registry host, or a URL with that host
 * (Docker Hub's names, docker.io, index.docker.io and
 * registry-1.docker.io, all match https://index.docker.io/v1/). The entry's
 * "username"/"password", else its "auth" (base64 of user:password).
 * Returns 1 with *username and *password malloc'd (free them), 0 when there
 * is no entry for the registry (pull anonymously), -1 on a malformed
 * document or entry. */
int wg_oci_credentials_from_dockerconfig(const char *json_text, const char *registry,
                                         char **username, char **password, char *err,
                                         size_t errlen);

/* ------------------------------------------------------------------ */
/* A module by URL, through the cache (module.c)                      */
/* ------------------------------------------------------------------ */

/* What to get. Either url (http:// or https://) or registry + repository
 * (+ tag or digest) for an OCI image. Strings are borrowed. */
typedef struct wg_fetch_request {
    const char *url;
    const char *registry, *repository;
    const char *tag;    /* NULL: "latest" */
    const char *digest; /* "sha256:<hex>" from the reference, or NULL */
    /* The expected digest, 64 lower-case hex digits, or NULL: of the
     * unboxed module for http(s), of the image manifest for OCI (as Istio's
     * sha256 field). For an image index either digest is accepted: the
     * index's (what a user pins) or the platform image's (what Istio
     * compares). A known digest (this or the reference's) means any cached
     * copy is good. */
    const char *expect_sha256;
    /* Pull policy Always: without a known digest, fetch even when the URL
     * was resolved before (IfNotPresent uses the cache's last resolution). */
    bool always;
    const char *username, *password; /* OCI credentials, or NULL */
    /* Skip TLS verification; for OCI also allows plain HTTP after one
     * failed https try. */
    bool insecure;
    long timeout_ms;           /* 0: default */
    size_t max_bytes;          /* 0: default */
    const atomic_bool *cancel; /* as wg_fetch_options; may be NULL */
    wg_fetch_progress_fn progress; /* as wg_fetch_options; may be NULL */
    void *progress_ctx;
    /* OCI: receives the manifest digest when the image was fetched (left
     * alone on a cache hit). May be NULL. */
    char *manifest_digest_out; /* WG_OCI_DIGEST_LEN bytes */
    /* Output, may be NULL: WG_FETCH_OK on a cache hit or a good fetch,
     * else why it failed (for metrics; also when a stale copy was served). */
    wg_fetch_result *result_out;
    /* Always without a known digest, when the fetch fails (anything but a
     * checksum mismatch, which is a verdict): serve the copy the URL last
     * resolved to, if the cache has one, rather than nothing. A registry
     * outage then does not take a working plugin away (Istio's deny-all).
     * *stale_out (may be NULL) tells it happened; err then says why the
     * fetch failed. */
    bool allow_stale;
    bool *stale_out;
} wg_fetch_request;

/* Gets a module: from the cache when the request allows it (see above),
 * else fetched, verified, stored and indexed under its URL. out is replaced
 * with the module; module_hex (may be NULL) gets its sha256; *from_cache
 * (may be NULL) tells whether no fetch was needed. Blocks for up to
 * timeout_ms. False with err naming the URL. */
bool wg_fetch_module(wg_cache *cache, const wg_fetch_request *rq, wg_buf *out,
                     char module_hex[WG_SHA256_HEX_LEN + 1], bool *from_cache, char *err,
                     size_t errlen);

#endif /* WG_FETCH_FETCH_H */
