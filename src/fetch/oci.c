/*
 * oci.c - the OCI source: pulls a Wasm plugin image over the distribution
 * API v2 (manifest, index, blob), with anonymous, Basic and Bearer token
 * auth, digest checks, a size cap and retries with backoff (see fetch.h).
 */
#include "fetch/internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOG "fetch"

#define MANIFEST_MAX ((size_t)4 * 1024 * 1024)
#define TOKEN_MAX ((size_t)1024 * 1024)

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_WASM_CONFIG "application/vnd.module.wasm.config.v1+json"
#define MT_WASM_LAYER "application/vnd.module.wasm.content.layer.v1+wasm"
#define MT_OCI_TGZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_DOCKER_TGZ "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define ACCEPT_MANIFESTS                                                                           \
    "Accept: " MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST

typedef struct oci_ctx {
    wg_oci_options o;
    const char *registry, *repository;
    int64_t deadline;
    char *auth_header; /* "Authorization: Bearer ..." once a token was obtained */
    bool basic;        /* send the credentials as Basic */
    bool auth_tried;   /* a 401 was answered once already */
} oci_ctx;

/* One response: status, the headers we need, the body (capped). */
typedef struct oci_resp {
    long status;
    char content_type[160];
    char www_auth[1024];
    char location[2048]; /* uploads: where to send the blob */
    wg_fetch_sink body; /* body.out receives it, capped at body.max */
} oci_resp;

static void copy_header_value(char *dst, size_t dstlen, const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    oci_resp *r = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (redirect) */
        r->content_type[0] = '\0';
        r->www_auth[0] = '\0';
        r->location[0] = '\0';
    } else if (n > 9 && strncasecmp(p, "location:", 9) == 0) {
        copy_header_value(r->location, sizeof r->location, p + 9, n - 9);
    } else if (n > 13 && strncasecmp(p, "content-type:", 13) == 0) {
        copy_header_value(r->content_type, sizeof r->content_type, p + 13, n - 13);
    } else if (n > 17 && strncasecmp(p, "www-authenticate:", 17) == 0) {
        copy_header_value(r->www_auth, sizeof r->www_auth, p + 17, n - 17);
    }
    return n;
}

/* What a request sends (pushes); NULL for a GET. */
typedef struct oci_send {
    const char *method; /* "POST", "PUT" */
    const void *data;
    size_t len;
    const char *content_type; /* "Content-Type: ..." header line, or NULL */
} oci_send;

/* One request. A completed exchange is WG_FETCH_TRY_OK whatever its status. */
static wg_fetch_try oci_try(oci_ctx *c, const char *url, const oci_send *send,
                          const char *accept, bool send_basic, oci_resp *r, long timeout_ms,
                          char *err, size_t errlen)
{
    char cerr[CURL_ERROR_SIZE] = {0};
    struct curl_slist *hdrs = NULL;
    CURL *h = curl_easy_init();
    if (!h) {
        wg_fetch_err(err, errlen, "%s: cannot create a transfer", url);
        return WG_FETCH_TRY_FAIL;
    }
    wg_buf_clear(r->body.out);
    r->status = 0;
    r->content_type[0] = r->www_auth[0] = r->location[0] = '\0';
    r->body.too_large = r->body.oom = false;
    if (accept)
        hdrs = curl_slist_append(hdrs, accept);
    if (send) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, send->method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, send->data ? send->data : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)send->len);
        hdrs = curl_slist_append(hdrs, send->content_type ? send->content_type
                                                          : "Content-Type:");
    }
    if (c->auth_header)
        hdrs = curl_slist_append(hdrs, c->auth_header);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, wg_fetch_sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "wasmgate");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    /* Blob downloads may redirect to storage; curl drops the credentials
     * and the Authorization header when the host changes. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)WG_FETCH_DEFAULT_MAX_REDIRECTS);
    wg_fetch_watch watch = {.cancel = c->o.cancel,
                            .progress = c->o.progress,
                            .progress_ctx = c->o.progress_ctx,
                            .what = url};
    wg_fetch_curl_watch(h, &watch);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->o.skip_tls_verify ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->o.skip_tls_verify ? 0L : 2L);
    if (send_basic && c->o.username) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->o.username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->o.password ? c->o.password : "");
    }

    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);

    if (r->body.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        wg_fetch_err(err, errlen, "%s: %s larger than %zu bytes", url,
                     strstr(url, "/manifests/") ? "manifest" : "module", r->body.max);
        return WG_FETCH_TRY_FAIL;
    }
    if (r->body.oom) {
        wg_fetch_err(err, errlen, "%s: out of memory", url);
        return WG_FETCH_TRY_FAIL;
    }
    if (rc != CURLE_OK) {
        wg_fetch_err(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
        return wg_fetch_retryable_curl(rc) ? WG_FETCH_TRY_RETRY : WG_FETCH_TRY_FAIL;
    }
    if (wg_fetch_retryable_status(r->status)) {
        wg_fetch_err(err, errlen, "%s: HTTP status %ld", url, r->status);
        return WG_FETCH_TRY_RETRY;
    }
    return WG_FETCH_TRY_OK;
}

typedef struct oci_try_ctx {
    oci_ctx *c;
    const char *url;
    const oci_send *send;
    const char *accept;
    bool send_basic;
    oci_resp *r;
} oci_try_ctx;

static wg_fetch_try oci_try_once(void *ctx, long timeout_ms, char *err, size_t errlen)
{
    oci_try_ctx *t = ctx;
    return oci_try(t->c, t->url, t->send, t->accept, t->send_basic, t->r, timeout_ms, err, errlen);
}

/* A request with retries and backoff, within the pull's deadline. */
static bool oci_request(oci_ctx *c, const char *url, const oci_send *send, const char *accept,
                        bool send_basic, oci_resp *r, char *err, size_t errlen)
{
    wg_fetch_retry rp = {.deadline = c->deadline,
                         .timeout_ms = c->o.timeout_ms,
                         .max_attempts = c->o.max_attempts,
                         .backoff_ms = c->o.backoff_ms,
                         .cancel = c->o.cancel};
    oci_try_ctx t = {c, url, send, accept, send_basic, r};
    return wg_fetch_with_retries(url, &rp, oci_try_once, &t, err, errlen);
}

/* The value of param (case-insensitive) in a challenge's auth-params:
 * name=value or name="value", comma separated. */
static bool challenge_param(const char *s, const char *param, char *out, size_t outlen)
{
    size_t plen = strlen(param);
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t')
            s++;
        const char *name = s;
        while (*s && *s != '=' && *s != ',' && *s != ' ')
            s++;
        size_t nlen = (size_t)(s - name);
        if (*s != '=') {
            continue;
        }
        s++;
        size_t o = 0;
        bool match = nlen == plen && strncasecmp(name, param, plen) == 0;
        if (*s == '"') {
            s++;
            while (*s && *s != '"') {
                if (*s == '\\' && s[1])
                    s++;
                if (match && o + 1 < outlen)
                    out[o++] = *s;
                s++;
            }
            if (*s == '"')
                s++;
        } else {
            while (*s && *s != ',' && *s != ' ') {
                if (match && o + 1 < outlen)
                    out[o++] = *s;
                s++;
            }
        }
        if (match) {
            out[o] = '\0';
            return true;
        }
    }
    return false;
}

static bool append_query(wg_buf *url, CURL *h, bool *first, const char *name, const char *value)
{
    char *esc = curl_easy_escape(h, value, 0);
    if (!esc)
        return false;
    bool ok = wg_buf_appendf(url, "%c%s=%s", *first ? '?' : '&', name, esc);
    *first = false;
    curl_free(esc);
    return ok;
}

/* Answers a 401: Basic → use the credentials; Bearer → get a token from the
 * realm (with the credentials, if any). */
static bool oci_authenticate(oci_ctx *c, const char *challenge, const char *url, char *err,
                             size_t errlen)
{
    c->auth_tried = true;
    if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (!c->o.username) {
            wg_fetch_err(err, errlen, "%s: HTTP status 401 (the registry wants credentials)", url);
            return false;
        }
        c->basic = true;
        return true;
    }
    if (strncasecmp(challenge, "Bearer", 6) != 0) {
        wg_fetch_err(err, errlen, "%s: HTTP status 401 with an unsupported challenge \"%.40s\"",
                     url, challenge);
        return false;
    }
    const char *params = challenge + 6;
    char realm[512] = {0}, service[256] = {0}, scope[512] = {0};
    if (!challenge_param(params, "realm", realm, sizeof realm) || !realm[0]) {
        wg_fetch_err(err, errlen, "%s: HTTP status 401, Bearer challenge without a realm", url);
        return false;
    }
    if (strncmp(realm, "http://", 7) != 0 && strncmp(realm, "https://", 8) != 0) {
        wg_fetch_err(err, errlen, "%s: token realm %s is not an http(s) URL", url, realm);
        return false;
    }
    bool have_service = challenge_param(params, "service", service, sizeof service);
    if (!challenge_param(params, "scope", scope, sizeof scope) || !scope[0])
        snprintf(scope, sizeof scope, "repository:%s:pull", c->repository);

    wg_buf turl = {0};
    wg_buf body = {0};
    bool ok = false;
    bool first = strchr(realm, '?') == NULL;
    CURL *h = curl_easy_init();
    json_t *root = NULL;
    if (!h || !wg_buf_append_str(&turl, realm) ||
        (have_service && !append_query(&turl, h, &first, "service", service)) ||
        !append_query(&turl, h, &first, "scope", scope) || !wg_buf_append(&turl, "", 1)) {
        wg_fetch_err(err, errlen, "out of memory");
        goto done;
    }
    oci_resp r = {.body = {.out = &body, .max = TOKEN_MAX}};
    char *saved = c->auth_header;
    c->auth_header = NULL;
    bool sent = oci_request(c, (const char *)turl.data, NULL, NULL, true, &r, err, errlen);
    c->auth_header = saved;
    if (!sent)
        goto done;
    if (r.status < 200 || r.status > 299) {
        wg_fetch_err(err, errlen, "%s: token request to %s: HTTP status %ld", url, realm, r.status);
        goto done;
    }
    json_error_t jerr = {0};
    root = json_loadb((const char *)body.data, body.len, 0, &jerr);
    const char *tok = json_string_value(json_object_get(root, "token"));
    if (!tok || !*tok)
        tok = json_string_value(json_object_get(root, "access_token"));
    if (!tok || !*tok) {
        wg_fetch_err(err, errlen, "%s: token response from %s has no token", url, realm);
        goto done;
    }
    size_t need = strlen(tok) + sizeof "Authorization: Bearer ";
    char *hdr = malloc(need);
    if (!hdr) {
        wg_fetch_err(err, errlen, "out of memory");
        goto done;
    }
    snprintf(hdr, need, "Authorization: Bearer %s", tok);
    free(c->auth_header);
    c->auth_header = hdr;
    c->basic = false;
    ok = true;
done:
    json_decref(root);
    if (h)
        curl_easy_cleanup(h);
    wg_buf_free(&turl);
    wg_buf_free(&body);
    return ok;
}

/* The registry's error message, if the body is its {"errors": [...]}. */
static void registry_error(const wg_buf *body, char *out, size_t outlen)
{
    out[0] = '\0';
    json_error_t jerr = {0};
    json_t *root = json_loadb((const char *)body->data, body->len, 0, &jerr);
    json_t *e = json_array_get(json_object_get(root, "errors"), 0);
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code || msg)
        snprintf(out, outlen, " (%s%s%s)", code ? code : "", code && msg ? ": " : "",
                 msg ? msg : "");
    json_decref(root);
}

/* A request that answers a 401 once (authenticating), then expects a 2xx:
 * anything else is an error naming the URL and the registry's message. */
static bool oci_call(oci_ctx *c, const char *url, const oci_send *send, const char *accept,
                     oci_resp *r, char *err, size_t errlen)
{
    for (;;) {
        if (!oci_request(c, url, send, accept, c->basic, r, err, errlen))
            return false;
        if (r->status == 401 && !c->auth_tried) {
            if (!oci_authenticate(c, r->www_auth, url, err, errlen))
                return false;
            continue;
        }
        break;
    }
    if (r->status < 200 || r->status > 299) {
        char detail[256] = {0};
        registry_error(r->body.out, detail, sizeof detail);
        wg_fetch_err(err, errlen, "%s: HTTP status %ld%s", url, r->status, detail);
        return false;
    }
    return true;
}

/* GET of /v2/<repo>/<kind>/<ref>. */
static bool oci_get(oci_ctx *c, const char *kind, const char *ref, const char *accept, size_t max,
                    wg_buf *body, char *ctype, size_t ctypelen, char *err, size_t errlen)
{
    char url[2048] = {0};
    int n = snprintf(url, sizeof url, "%s://%s/v2/%s/%s/%s", c->o.insecure ? "http" : "https",
                     c->registry, c->repository, kind, ref);
    if (n < 0 || (size_t)n >= sizeof url) {
        wg_fetch_err(err, errlen, "%s/%s: reference too long", c->registry, c->repository);
        return false;
    }
    oci_resp r = {.body = {.out = body, .max = max}};
    if (!oci_call(c, url, NULL, accept, &r, err, errlen))
        return false;
    if (ctype)
        snprintf(ctype, ctypelen, "%s", r.content_type);
    return true;
}

/* "sha256:<64 hex>" → the lowercase hex, or false. */
static bool parse_digest(const char *d, char hex[WG_SHA256_HEX_LEN + 1])
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || !wg_sha256_hex_valid(d + 7))
        return false;
    for (size_t i = 0; i <= WG_SHA256_HEX_LEN; i++) {
        char ch = d[7 + i];
        hex[i] = (ch >= 'A' && ch <= 'F') ? (char)(ch - 'A' + 'a') : ch;
    }
    return true;
}

/* Checks bytes against a descriptor's digest (and size, when >= 0). */
static bool verify(const char *what, const wg_buf *b, const char *want_hex, json_int_t size,
                   char *err, size_t errlen)
{
    char got[WG_SHA256_HEX_LEN + 1] = {0};
    wg_sha256_hex(b->data, b->len, got);
    if (strcmp(got, want_hex) != 0) {
        wg_fetch_err(err, errlen, "%s: digest mismatch: expected sha256:%s, got sha256:%s", what,
                     want_hex, got);
        return false;
    }
    if (size >= 0 && (json_int_t)b->len != size) {
        wg_fetch_err(err, errlen, "%s: size mismatch: expected %lld bytes, got %zu", what,
                     (long long)size, b->len);
        return false;
    }
    return true;
}

static bool is_index(const char *mt)
{
    return strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0;
}

/* The media type of a manifest: its mediaType field, else Content-Type. */
static const char *manifest_type(json_t *root, const char *ctype)
{
    const char *mt = json_string_value(json_object_get(root, "mediaType"));
    if (mt && *mt)
        return mt;
    if (json_is_array(json_object_get(root, "manifests")))
        return MT_OCI_INDEX;
    return ctype;
}

/* Fetches the manifest ref (verified against want_hex when given) and parses
 * it. digest_hex receives the sha256 of the bytes. */
static json_t *fetch_manifest(oci_ctx *c, const char *ref, const char *want_hex,
                              json_int_t want_size, char digest_hex[WG_SHA256_HEX_LEN + 1],
                              char *ctype, size_t ctypelen, char *err, size_t errlen)
{
    wg_buf body = {0};
    json_t *root = NULL;
    char what[600] = {0};
    snprintf(what, sizeof what, "%s/%s@%s: manifest", c->registry, c->repository, ref);
    size_t max = c->o.max_bytes < MANIFEST_MAX ? c->o.max_bytes : MANIFEST_MAX;
    if (!oci_get(c, "manifests", ref, ACCEPT_MANIFESTS, max, &body, ctype, ctypelen, err, errlen))
        goto done;
    wg_sha256_hex(body.data, body.len, digest_hex);
    if (want_hex && !verify(what, &body, want_hex, want_size, err, errlen))
        goto done;
    json_error_t jerr = {0};
    root = json_loadb((const char *)body.data, body.len, 0, &jerr);
    if (!json_is_object(root)) {
        wg_fetch_err(err, errlen, "%s: not a JSON object: %s", what, jerr.text);
        json_decref(root);
        root = NULL;
    }
done:
    wg_buf_free(&body);
    return root;
}

/* A descriptor's digest (hex) and size; false if malformed. */
static bool descriptor(json_t *d, char hex[WG_SHA256_HEX_LEN + 1], json_int_t *size)
{
    json_t *s = json_object_get(d, "size");
    *size = json_is_integer(s) ? json_integer_value(s) : -1;
    return json_is_object(d) && parse_digest(json_string_value(json_object_get(d, "digest")), hex);
}

/* The index entry to follow: linux/amd64 if entries carry platforms, else
 * the first. */
static json_t *pick_entry(json_t *manifests)
{
    size_t i = 0;
    json_t *m = NULL;
    json_array_foreach(manifests, i, m)
    {
        json_t *p = json_object_get(m, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *arch = json_string_value(json_object_get(p, "architecture"));
        if (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0)
            return m;
    }
    return json_array_get(manifests, 0);
}

static bool fetch_blob(oci_ctx *c, json_t *desc, wg_buf *out, char *err, size_t errlen)
{
    char hex[WG_SHA256_HEX_LEN + 1] = {0};
    json_int_t size = -1;
    if (!descriptor(desc, hex, &size)) {
        wg_fetch_err(err, errlen, "%s/%s: layer without a sha256 digest", c->registry,
                     c->repository);
        return false;
    }
    char what[600] = {0};
    snprintf(what, sizeof what, "%s/%s: blob sha256:%s", c->registry, c->repository, hex);
    if (size >= 0 && (uint64_t)size > (uint64_t)c->o.max_bytes) {
        wg_fetch_err(err, errlen, "%s: module larger than %zu bytes", what, c->o.max_bytes);
        return false;
    }
    char ref[80] = {0};
    snprintf(ref, sizeof ref, "sha256:%s", hex);
    if (!oci_get(c, "blobs", ref, NULL, c->o.max_bytes, out, NULL, 0, err, errlen))
        return false;
    return verify(what, out, hex, size, err, errlen);
}

/* From an image manifest to the module. */
static bool extract_module(oci_ctx *c, json_t *manifest, const char *mt, wg_buf *module_out,
                           char *err, size_t errlen)
{
    json_t *layers = json_object_get(manifest, "layers");
    size_t n = json_array_size(layers);
    if (n == 0) {
        wg_fetch_err(err, errlen, "%s/%s: image manifest (%s) without layers", c->registry,
                     c->repository, mt && *mt ? mt : "no media type");
        return false;
    }
    json_t *wasm = NULL;
    for (size_t i = 0; i < n && !wasm; i++) {
        const char *lmt =
            json_string_value(json_object_get(json_array_get(layers, i), "mediaType"));
        if (lmt && strcmp(lmt, MT_WASM_LAYER) == 0)
            wasm = json_array_get(layers, i);
    }
    json_t *last = json_array_get(layers, n - 1);
    const char *last_mt = json_string_value(json_object_get(last, "mediaType"));
    bool compat =
        last_mt && (strcmp(last_mt, MT_OCI_TGZ) == 0 || strcmp(last_mt, MT_DOCKER_TGZ) == 0);
    if (!wasm && !compat) {
        wg_fetch_err(err, errlen,
                     "%s/%s: not a Wasm plugin image: no %s layer and the last layer is %s, "
                     "not a tar+gzip layer",
                     c->registry, c->repository, MT_WASM_LAYER, last_mt ? last_mt : "untyped");
        return false;
    }
    wg_buf blob = {0};
    bool ok = fetch_blob(c, wasm ? wasm : last, &blob, err, errlen);
    if (ok && wasm) {
        if (blob.len < 8 || memcmp(blob.data, "\0asm", 4) != 0) {
            wg_fetch_err(err, errlen, "%s/%s: the %s layer is not a WebAssembly module",
                         c->registry, c->repository, MT_WASM_LAYER);
            ok = false;
        } else {
            ok = wg_buf_set(module_out, blob.data, blob.len);
            if (!ok)
                wg_fetch_err(err, errlen, "out of memory");
        }
    } else if (ok) {
        char uerr[256] = {0};
        wg_buf tmp = {0};
        ok = wg_fetch_unbox(blob.data, blob.len, c->o.max_bytes, &tmp, uerr, sizeof uerr);
        if (ok) {
            wg_buf_free(module_out);
            *module_out = tmp;
        } else {
            wg_buf_free(&tmp);
            wg_fetch_err(err, errlen, "%s/%s: last layer: %s", c->registry, c->repository, uerr);
        }
    }
    wg_buf_free(&blob);
    return ok;
}

static void ctx_init(oci_ctx *c, const char *registry, const char *repository,
                     const wg_oci_options *opt)
{
    memset(c, 0, sizeof *c);
    c->registry = registry;
    c->repository = repository;
    if (opt)
        c->o = *opt;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = WG_FETCH_DEFAULT_TIMEOUT_MS;
    if (c->o.max_bytes == 0)
        c->o.max_bytes = WG_FETCH_DEFAULT_MAX_BYTES;
    if (c->o.max_attempts <= 0)
        c->o.max_attempts = WG_FETCH_DEFAULT_ATTEMPTS;
    if (c->o.backoff_ms <= 0)
        c->o.backoff_ms = WG_FETCH_DEFAULT_BACKOFF_MS;
}

bool wg_fetch_oci(const char *registry, const char *repository, const char *reference,
                  const wg_oci_options *opt, wg_buf *module_out,
                  char manifest_digest_out[WG_OCI_DIGEST_LEN], char *err, size_t errlen)
{
    oci_ctx c;
    ctx_init(&c, registry, repository, opt);
    if (c.o.result_out)
        *c.o.result_out = WG_FETCH_MANIFEST_FAILURE; /* until the manifests are in */

    if (!registry || !*registry || !repository || !*repository || !reference || !*reference) {
        wg_fetch_err(err, errlen, "OCI reference without a registry, repository or tag/digest");
        return false;
    }
    /* Repository components are [a-z0-9._-/]; tags [A-Za-z0-9._-]. Anything
     * that would change the URL's meaning is refused. */
    if (strpbrk(registry, "/?#@ ") || strpbrk(repository, "?#@ %") ||
        strpbrk(reference, "/?#@ %")) {
        wg_fetch_err(err, errlen, "%s/%s: malformed OCI reference \"%s\"", registry, repository,
                     reference);
        return false;
    }
    char want[WG_SHA256_HEX_LEN + 1] = {0};
    bool by_digest = strchr(reference, ':') != NULL;
    if (by_digest && !parse_digest(reference, want)) {
        wg_fetch_err(err, errlen, "%s/%s: malformed digest \"%s\" (expected sha256:<64 hex>)",
                     registry, repository, reference);
        return false;
    }
    if (!wg_fetch_curl_init(err, errlen))
        return false;
    c.deadline = wg_fetch_now_ms() + c.o.timeout_ms;

    bool ok = false, manifests_done = false;
    char top_hex[WG_SHA256_HEX_LEN + 1] = {0};
    char child_hex[WG_SHA256_HEX_LEN + 1] = {0};
    char ctype[160] = {0};
    json_t *m = fetch_manifest(&c, reference, by_digest ? want : NULL, -1, top_hex, ctype,
                               sizeof ctype, err, errlen);
    if (!m)
        goto done;
    const char *mt = manifest_type(m, ctype);
    if (mt && is_index(mt)) {
        json_t *entry = pick_entry(json_object_get(m, "manifests"));
        char ehex[WG_SHA256_HEX_LEN + 1] = {0};
        json_int_t esize = -1;
        if (!descriptor(entry, ehex, &esize)) {
            wg_fetch_err(err, errlen, "%s/%s@%s: index without a usable sha256 entry", registry,
                         repository, reference);
            goto done;
        }
        char ref[80] = {0};
        snprintf(ref, sizeof ref, "sha256:%s", ehex);
        json_t *child =
            fetch_manifest(&c, ref, ehex, esize, child_hex, ctype, sizeof ctype, err, errlen);
        if (!child)
            goto done;
        json_decref(m);
        m = child;
        mt = manifest_type(m, ctype);
        if (mt && is_index(mt)) {
            wg_fetch_err(err, errlen, "%s/%s@%s: nested indexes are not supported", registry,
                         repository, reference);
            goto done;
        }
    }
    manifests_done = true;
    ok = extract_module(&c, m, mt, module_out, err, errlen);
    if (ok && manifest_digest_out)
        snprintf(manifest_digest_out, WG_OCI_DIGEST_LEN, "sha256:%s", top_hex);
    if (ok && c.o.image_digest_out)
        snprintf(c.o.image_digest_out, WG_OCI_DIGEST_LEN, "sha256:%s",
                 child_hex[0] ? child_hex : top_hex);
done:
    if (c.o.result_out)
        *c.o.result_out = ok               ? WG_FETCH_OK
                          : manifests_done ? WG_FETCH_DOWNLOAD_FAILURE
                                           : WG_FETCH_MANIFEST_FAILURE;
    json_decref(m);
    free(c.auth_header);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Push                                                               */
/* ------------------------------------------------------------------ */

/* The runtime-config layer Istio's OCI-spec variant carries next to the
 * module (Istio's extractor wants exactly these two layers). */
#define PUSH_CONFIG "{\"type\":\"envoy_proxy\",\"abiVersions\":[]}"

/* Uploads one blob (POST, then a monolithic PUT). */
static bool push_blob(oci_ctx *c, const void *data, size_t len, const char *digest, char *err,
                      size_t errlen)
{
    const char *scheme = c->o.insecure ? "http" : "https";
    char url[4096] = {0};
    snprintf(url, sizeof url, "%s://%s/v2/%s/blobs/uploads/", scheme, c->registry,
             c->repository);
    wg_buf body = {0};
    oci_resp r = {.body = {.out = &body, .max = TOKEN_MAX}};
    oci_send post = {.method = "POST"};
    bool ok = oci_call(c, url, &post, NULL, &r, err, errlen);
    if (ok && !r.location[0]) {
        wg_fetch_err(err, errlen, "%s: upload accepted without a Location", url);
        ok = false;
    }
    if (ok) {
        const char *sep = strchr(r.location, '?') ? "&" : "?";
        int n = r.location[0] == '/'
                    ? snprintf(url, sizeof url, "%s://%s%s%sdigest=%s", scheme, c->registry,
                               r.location, sep, digest)
                    : snprintf(url, sizeof url, "%s%sdigest=%s", r.location, sep, digest);
        if (n < 0 || (size_t)n >= sizeof url) {
            wg_fetch_err(err, errlen, "%s/%s: upload location too long", c->registry,
                         c->repository);
            ok = false;
        }
    }
    if (ok) {
        oci_send put = {.method = "PUT",
                        .data = data,
                        .len = len,
                        .content_type = "Content-Type: application/octet-stream"};
        ok = oci_call(c, url, &put, NULL, &r, err, errlen);
    }
    wg_buf_free(&body);
    return ok;
}

bool wg_oci_push(const char *registry, const char *repository, const char *tag,
                 const wg_oci_options *opt, const uint8_t *module, size_t len,
                 char manifest_digest_out[WG_OCI_DIGEST_LEN], char *err, size_t errlen)
{
    oci_ctx c;
    ctx_init(&c, registry, repository, opt);
    if (!registry || !*registry || !repository || !*repository || !tag || !*tag ||
        strpbrk(registry, "/?#@ ") || strpbrk(repository, "?#@ %") || strpbrk(tag, "/?#@ %:")) {
        wg_fetch_err(err, errlen, "push needs oci://REGISTRY/REPOSITORY:TAG");
        return false;
    }
    if (!wg_fetch_curl_init(err, errlen))
        return false;
    c.deadline = wg_fetch_now_ms() + c.o.timeout_ms;

    char cdig[WG_OCI_DIGEST_LEN], mdig[WG_OCI_DIGEST_LEN], mhex[WG_SHA256_HEX_LEN + 1];
    wg_sha256_hex(PUSH_CONFIG, strlen(PUSH_CONFIG), mhex);
    snprintf(cdig, sizeof cdig, "sha256:%s", mhex);
    wg_sha256_hex(module, len, mhex);
    snprintf(mdig, sizeof mdig, "sha256:%s", mhex);

    bool ok = false;
    char *manifest = NULL;
    json_t *root = json_pack(
        "{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I, s:{s:s}}, {s:s, s:s, s:I, s:{s:s}}]}",
        "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "config", "mediaType", MT_WASM_CONFIG,
        "digest", cdig, "size", (json_int_t)strlen(PUSH_CONFIG), "layers", "mediaType",
        MT_WASM_CONFIG, "digest", cdig, "size", (json_int_t)strlen(PUSH_CONFIG), "annotations",
        "org.opencontainers.image.title", "runtime-config.json", "mediaType", MT_WASM_LAYER,
        "digest", mdig, "size", (json_int_t)len, "annotations", "org.opencontainers.image.title",
        "plugin.wasm");
    manifest = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (!manifest) {
        wg_fetch_err(err, errlen, "out of memory");
        goto done;
    }
    if (!push_blob(&c, PUSH_CONFIG, strlen(PUSH_CONFIG), cdig, err, errlen) ||
        !push_blob(&c, module, len, mdig, err, errlen))
        goto done;
    char url[2048] = {0};
    snprintf(url, sizeof url, "%s://%s/v2/%s/manifests/%s", c.o.insecure ? "http" : "https",
             registry, repository, tag);
    wg_buf body = {0};
    oci_resp r = {.body = {.out = &body, .max = TOKEN_MAX}};
    oci_send put = {.method = "PUT",
                    .data = manifest,
                    .len = strlen(manifest),
                    .content_type = "Content-Type: " MT_OCI_MANIFEST};
    ok = oci_call(&c, url, &put, NULL, &r, err, errlen);
    wg_buf_free(&body);
    if (ok && manifest_digest_out) {
        wg_sha256_hex(manifest, strlen(manifest), mhex);
        snprintf(manifest_digest_out, WG_OCI_DIGEST_LEN, "sha256:%s", mhex);
    }
done:
    free(manifest);
    json_decref(root);
    free(c.auth_header);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Docker config JSON                                                 */
/* ------------------------------------------------------------------ */

static int b64_value(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Decodes base64 (padding optional) into a malloc'd NUL-terminated string. */
static char *b64_decode(const char *in)
{
    size_t len = strlen(in);
    char *out = malloc(len / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '=')
            break;
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    if (memchr(out, '\0', o)) {
        free(out);
        return NULL;
    }
    return out;
}

static bool is_docker_hub(const char *host, size_t n)
{
    static const char *const names[] = {"docker.io", "index.docker.io", "registry-1.docker.io"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncmp(host, names[i], n) == 0)
            return true;
    return false;
}

/* Does an auths key (a host, host:port or URL) name registry? */
static bool key_matches(const char *key, const char *registry)
{
    const char *host = key;
    const char *p = strstr(key, "://");
    if (p)
        host = p + 3;
    size_t n = strcspn(host, "/");
    size_t rn = strlen(registry);
    if (n == rn && strncasecmp(host, registry, n) == 0)
        return true;
    return is_docker_hub(host, n) && is_docker_hub(registry, rn);
}

int wg_oci_credentials_from_dockerconfig(const char *json_text, const char *registry,
                                         char **username, char **password, char *err, size_t errlen)
{
    *username = *password = NULL;
    if (!json_text || !registry) {
        wg_fetch_err(err, errlen, "docker config: no document or registry");
        return -1;
    }
    json_error_t jerr = {0};
    json_t *root = json_loads(json_text, 0, &jerr);
    int ret = -1;
    if (!json_is_object(root)) {
        wg_fetch_err(err, errlen, "docker config: %s", root ? "not a JSON object" : jerr.text);
        goto done;
    }
    json_t *auths = json_object_get(root, "auths");
    if (!auths) {
        ret = 0;
        goto done;
    }
    if (!json_is_object(auths)) {
        wg_fetch_err(err, errlen, "docker config: \"auths\" is not an object");
        goto done;
    }
    const char *key = NULL;
    json_t *entry = NULL;
    json_t *found = NULL;
    json_object_foreach(auths, key, entry)
    {
        if (key_matches(key, registry)) {
            found = entry;
            break;
        }
    }
    if (!found) {
        ret = 0;
        goto done;
    }
    if (!json_is_object(found)) {
        wg_fetch_err(err, errlen, "docker config: the entry for %s is not an object", registry);
        goto done;
    }
    const char *u = json_string_value(json_object_get(found, "username"));
    const char *pw = json_string_value(json_object_get(found, "password"));
    const char *auth = json_string_value(json_object_get(found, "auth"));
    if (u && *u) {
        *username = strdup(u);
        *password = strdup(pw ? pw : "");
    } else if (auth && *auth) {
        char *dec = b64_decode(auth);
        char *colon = dec ? strchr(dec, ':') : NULL;
        if (!colon) {
            free(dec);
            wg_fetch_err(err, errlen,
                         "docker config: the \"auth\" of %s is not base64 of "
                         "user:password",
                         registry);
            goto done;
        }
        *colon = '\0';
        *username = strdup(dec);
        *password = strdup(colon + 1);
        free(dec);
    } else {
        wg_fetch_err(err, errlen,
                     "docker config: the entry for %s has neither username/password nor auth",
                     registry);
        goto done;
    }
    if (!*username || !*password) {
        free(*username);
        free(*password);
        *username = *password = NULL;
        wg_fetch_err(err, errlen, "out of memory");
        goto done;
    }
    ret = 1;
done:
    json_decref(root);
    return ret;
}
