/*
 * fetch.c - module sources: file:// and http(s):// (libcurl, blocking),
 * with a deadline, redirects, a size cap and retries with backoff.
 */
#include "fetch/internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG "fetch"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_OK;

static void curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int64_t wg_fetch_now_ms(void)
{
    struct timespec ts = {0};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool wg_fetch_cancelled(const atomic_bool *cancel)
{
    return cancel && atomic_load(cancel);
}

bool wg_fetch_sleep_ms(int64_t ms, const atomic_bool *cancel)
{
    /* In slices, so that a cancellation is seen within 50 ms. */
    while (ms > 0 && !wg_fetch_cancelled(cancel)) {
        int64_t slice = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)slice * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        ms -= slice;
    }
    return !wg_fetch_cancelled(cancel);
}

static int on_progress(void *watch, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ultotal, (void)ulnow;
    wg_fetch_watch *w = watch;
    if (w->progress && dlnow > 0)
        w->progress(w->progress_ctx, w->what, (uint64_t)dlnow,
                    dltotal > 0 ? (uint64_t)dltotal : 0);
    return wg_fetch_cancelled(w->cancel) ? 1 : 0; /* non-zero aborts the transfer */
}

void wg_fetch_curl_watch(void *curl, wg_fetch_watch *w)
{
    if (!w->cancel && !w->progress)
        return;
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)w);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
}

size_t wg_fetch_sink_write(char *p, size_t size, size_t nmemb, void *sink)
{
    wg_fetch_sink *s = sink;
    size_t n = size * nmemb;
    if (n > s->max - s->out->len) {
        s->too_large = true;
        return 0;
    }
    if (!wg_buf_append(s->out, p, n)) {
        s->oom = true;
        return 0;
    }
    return n;
}

bool wg_fetch_retryable_status(long code)
{
    return code >= 500 && code != 501 && code != 505 && code != 511;
}

bool wg_fetch_retryable_curl(int code)
{
    switch ((CURLcode)code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

static wg_fetch_try http_attempt(const char *url, const wg_fetch_options *o, long timeout_ms,
                                 wg_buf *body, char *err, size_t errlen)
{
    char cerr[CURL_ERROR_SIZE] = {0};
    wg_fetch_sink s = {.out = body, .max = o->max_bytes};
    CURL *h = curl_easy_init();
    if (!h) {
        wg_fetch_err(err, errlen, "%s: cannot create a transfer", url);
        return WG_FETCH_TRY_FAIL;
    }
    wg_buf_clear(body);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, wg_fetch_sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "wasmgate");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (o->max_redirects >= 0) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)o->max_redirects);
    }
    wg_fetch_watch watch = {.cancel = o->cancel,
                            .progress = o->progress,
                            .progress_ctx = o->progress_ctx,
                            .what = url};
    wg_fetch_curl_watch(h, &watch);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);

    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);

    if (s.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        wg_fetch_err(err, errlen, "%s: module larger than %zu bytes", url, o->max_bytes);
        return WG_FETCH_TRY_FAIL;
    }
    if (s.oom) {
        wg_fetch_err(err, errlen, "%s: out of memory", url);
        return WG_FETCH_TRY_FAIL;
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
        wg_fetch_err(err, errlen, "%s: HTTP status %ld", url, code);
        return wg_fetch_retryable_status(code) ? WG_FETCH_TRY_RETRY : WG_FETCH_TRY_FAIL;
    }
    if (rc != CURLE_OK) {
        wg_fetch_err(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
        return wg_fetch_retryable_curl(rc) ? WG_FETCH_TRY_RETRY : WG_FETCH_TRY_FAIL;
    }
    if (code < 200 || code > 299) {
        wg_fetch_err(err, errlen, "%s: HTTP status %ld", url, code);
        return WG_FETCH_TRY_FAIL;
    }
    return WG_FETCH_TRY_OK;
}

bool wg_fetch_curl_init(char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK) {
        wg_fetch_err(err, errlen, "cannot initialise libcurl: %s",
                     curl_easy_strerror(curl_init_result));
        return false;
    }
    return true;
}

bool wg_fetch_with_retries(const char *url, const wg_fetch_retry *rp, wg_fetch_try_fn try_once,
                           void *ctx, char *err, size_t errlen)
{
    long delay = rp->backoff_ms;
    int attempt = 1;
    for (;; attempt++) {
        int64_t left = rp->deadline - wg_fetch_now_ms();
        if (left <= 0) {
            wg_fetch_err(err, errlen, "%s: timed out after %ld ms", url, rp->timeout_ms);
            return false;
        }
        wg_fetch_try t = try_once(ctx, (long)left, err, errlen);
        if (t == WG_FETCH_TRY_OK)
            return true;
        if (wg_fetch_cancelled(rp->cancel)) {
            wg_fetch_err(err, errlen, "%s: cancelled", url);
            return false;
        }
        if (t == WG_FETCH_TRY_FAIL || attempt >= rp->max_attempts ||
            wg_fetch_now_ms() + delay >= rp->deadline)
            break;
        WG_DEBUG(LOG, "%s (attempt %d of %d); retrying in %ld ms", err ? err : url, attempt,
                 rp->max_attempts, delay);
        if (!wg_fetch_sleep_ms(delay, rp->cancel)) {
            wg_fetch_err(err, errlen, "%s: cancelled", url);
            return false;
        }
        delay *= 2;
    }
    if (attempt > 1 && err) {
        size_t l = strlen(err);
        if (l < errlen)
            snprintf(err + l, errlen - l, " (%d attempts)", attempt);
    }
    return false;
}

typedef struct http_try_ctx {
    const char *url;
    const wg_fetch_options *o;
    wg_buf *body;
} http_try_ctx;

static wg_fetch_try http_try(void *ctx, long timeout_ms, char *err, size_t errlen)
{
    http_try_ctx *t = ctx;
    return http_attempt(t->url, t->o, timeout_ms, t->body, err, errlen);
}

static bool fetch_http(const char *url, const wg_fetch_options *o, wg_buf *body, char *err,
                       size_t errlen)
{
    if (!wg_fetch_curl_init(err, errlen))
        return false;
    wg_fetch_retry rp = {.deadline = wg_fetch_now_ms() + o->timeout_ms,
                         .timeout_ms = o->timeout_ms,
                         .max_attempts = o->max_attempts,
                         .backoff_ms = o->backoff_ms,
                         .cancel = o->cancel};
    http_try_ctx t = {url, o, body};
    return wg_fetch_with_retries(url, &rp, http_try, &t, err, errlen);
}

static bool fetch_file(const char *path, const wg_fetch_options *o, wg_buf *body, char *err,
                       size_t errlen)
{
    if (!*path) {
        wg_fetch_err(err, errlen, "file:// URL without a path");
        return false;
    }
    int r = wg_fetch_read_file(path, o->max_bytes, body, err, errlen);
    if (r == 0)
        wg_fetch_err(err, errlen, "%s: no such file", path);
    return r == 1;
}

bool wg_fetch_url(const char *url, const wg_fetch_options *opt, wg_buf *out, char *err,
                  size_t errlen)
{
    wg_fetch_options o = {0};
    if (opt)
        o = *opt;
    if (o.timeout_ms <= 0)
        o.timeout_ms = WG_FETCH_DEFAULT_TIMEOUT_MS;
    if (o.max_bytes == 0)
        o.max_bytes = WG_FETCH_DEFAULT_MAX_BYTES;
    if (o.max_redirects == 0)
        o.max_redirects = WG_FETCH_DEFAULT_MAX_REDIRECTS;
    if (o.max_attempts <= 0)
        o.max_attempts = WG_FETCH_DEFAULT_ATTEMPTS;
    if (o.backoff_ms <= 0)
        o.backoff_ms = WG_FETCH_DEFAULT_BACKOFF_MS;

    wg_buf body = {0};
    bool ok = false;
    if (!url) {
        wg_fetch_err(err, errlen, "no URL");
    } else if (strncmp(url, "file://", 7) == 0) {
        ok = fetch_file(url + 7, &o, &body, err, errlen);
    } else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        ok = fetch_http(url, &o, &body, err, errlen);
    } else {
        wg_fetch_err(err, errlen,
                     "%s: unsupported URL scheme (expected file://, http:// or https://)", url);
    }
    if (ok) {
        char uerr[256] = {0};
        ok = wg_fetch_unbox(body.data, body.len, o.max_bytes, out, uerr, sizeof uerr);
        if (!ok)
            wg_fetch_err(err, errlen, "%s: %s", url, uerr);
    }
    wg_buf_free(&body);
    return ok;
}
