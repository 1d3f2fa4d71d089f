/*
 * internal.h - private helpers shared by the fetch layer's files.
 */
#ifndef WG_FETCH_INTERNAL_H
#define WG_FETCH_INTERNAL_H

#include "fetch/fetch.h"

/* Formats an error message into err (NULL or errlen 0: nothing). */
void wg_fetch_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Where a curl transfer's body goes: appended to out, at most max bytes
 * in all; beyond that (too_large) or without memory (oom) the transfer is
 * stopped. wg_fetch_sink_write is the CURLOPT_WRITEFUNCTION, the sink its
 * CURLOPT_WRITEDATA (fetch.c). */
typedef struct wg_fetch_sink {
    wg_buf *out;
    size_t max;
    bool too_large, oom;
} wg_fetch_sink;
size_t wg_fetch_sink_write(char *p, size_t size, size_t nmemb, void *sink);

/* Shared by the http(s) and OCI sources (fetch.c). */
int64_t wg_fetch_now_ms(void); /* CLOCK_MONOTONIC */
/* Sleeps ms, or less when *cancel (may be NULL) becomes true: returns
 * false then. */
bool wg_fetch_sleep_ms(int64_t ms, const atomic_bool *cancel);
/* What a transfer reports to and hears from its caller: progress, and a
 * cancellation. Must outlive the transfer. */
typedef struct wg_fetch_watch {
    const atomic_bool *cancel;
    wg_fetch_progress_fn progress;
    void *progress_ctx;
    const char *what;
} wg_fetch_watch;
/* Installs curl's progress callback for w (nothing when w asks for
 * nothing): the transfer stops when *w->cancel becomes true. */
void wg_fetch_curl_watch(void *curl, wg_fetch_watch *w);
bool wg_fetch_cancelled(const atomic_bool *cancel);

/* One try of a request: done, worth another try (a network error, a 5xx),
 * or failed for good. err holds the reason when it is not OK. */
typedef enum wg_fetch_try { WG_FETCH_TRY_OK, WG_FETCH_TRY_RETRY, WG_FETCH_TRY_FAIL } wg_fetch_try;
typedef wg_fetch_try (*wg_fetch_try_fn)(void *ctx, long timeout_ms, char *err, size_t errlen);
/* How a request is retried (the http(s) and OCI sources' options). */
typedef struct wg_fetch_retry {
    int64_t deadline;   /* wg_fetch_now_ms() clock */
    long timeout_ms;    /* what the deadline came from, for the message */
    int max_attempts;
    long backoff_ms;    /* before the second try; doubles each time */
    const atomic_bool *cancel;
} wg_fetch_retry;
/* Calls try_once until it is OK or fails for good, the attempts are used
 * up, the deadline would pass or *cancel is set, sleeping the backoff in
 * between; each try gets the time left. On failure err holds the last
 * reason (with the number of attempts when there were several), or
 * "URL: timed out after N ms" / "URL: cancelled". */
bool wg_fetch_with_retries(const char *url, const wg_fetch_retry *rp, wg_fetch_try_fn try_once,
                           void *ctx, char *err, size_t errlen);
/* 5xx other than 501, 505 and 511. */
bool wg_fetch_retryable_status(long code);
/* Connection errors, timeouts, empty or partial replies (a CURLcode). */
bool wg_fetch_retryable_curl(int code);
/* curl_global_init, once per process. */
bool wg_fetch_curl_init(char *err, size_t errlen);

#endif /* WG_FETCH_INTERNAL_H */
