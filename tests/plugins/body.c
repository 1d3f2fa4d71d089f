/*
 * body - buffers and rewrites request and response bodies (ABI 0.2.1).
 *
 * on_request_headers / on_response_headers: remove content-length (the body
 *   changes size), expecting OK.
 * on_request_body / on_response_body with end_of_stream = 0: return PAUSE
 *   (buffer) and log INFO "body <request|response> pause size=<n>"; the size
 *   must never shrink between calls of one stream.
 * At end_of_stream = 1 (logs INFO "body <dir> final size=<n> flags=<f>"):
 *   - get_buffer_status: OK, length == body_size
 *   - get_buffer_bytes(0, size): the whole body; (1, 2): the matching window;
 *     start past the end: OK and empty; max past the end: clamped
 *   - get_buffer_status on type 9 -> BAD_ARGUMENT; in the request phase the
 *     response-body buffer (1) -> NOT_FOUND
 *   - set_buffer_bytes(start=0, size=len) with an upper-cased copy (ASCII),
 *     then append (start=len, size=0) the suffix, then prepend (start=0,
 *     size=0) the prefix; the buffer must then read back as
 *     prefix + UPPER(body) + suffix. Logs INFO "body <dir> rewritten size=<n>".
 *   Request:  "req-prefix|"  + UPPER(body) + "|req-suffix"
 *   Response: "resp-prefix|" + UPPER(body) + "|resp-suffix"
 * on_configure: set_buffer_bytes on the (immutable) plugin configuration
 *   -> BAD_ARGUMENT (NOT_FOUND also accepted when the configuration is empty).
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "body"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

typedef struct {
    uint32_t last_size[2];
} body_state_t;

uint32_t proxy_on_configure(uint32_t root, uint32_t config_size)
{
    PT_UNUSED(root);
    pw_status_t st = pw_set_buffer(PW_BUFFER_PLUGIN_CONFIGURATION, 0, 0, "x", 1);
    PT_CHECK(st == PW_BAD_ARGUMENT || (config_size == 0 && st == PW_NOT_FOUND),
             "set_buffer_bytes on plugin configuration -> %u (%s), want BAD_ARGUMENT", st,
             pw_status_name(st));
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(n);
    PT_UNUSED(eos);
    PT_EXPECT(pw_remove_header(PW_MAP_HTTP_REQUEST_HEADERS, "content-length"), PW_OK);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(n);
    PT_UNUSED(eos);
    PT_EXPECT(pw_remove_header(PW_MAP_HTTP_RESPONSE_HEADERS, "content-length"), PW_OK);
    return PW_CONTINUE;
}

static int bytes_equal(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static void rewrite(uint32_t type, uint32_t size, const char *dir, const char *prefix,
                    const char *suffix)
{
    size_t len = 0;
    uint32_t flags = 0;
    if (!PT_EXPECT(proxy_get_buffer_status(type, &len, &flags), PW_OK))
        return;
    pw_log(PW_LOG_INFO, "body %s final size=%u flags=%u", dir, size, flags);
    PT_CHECK(len == size, "%s buffer status length %zu == body_size %u", dir, len, size);

    char *body = NULL;
    size_t blen = 0;
    if (!PT_EXPECT(pw_get_buffer(type, 0, (uint32_t)len, &body, &blen), PW_OK))
        return;
    PT_CHECK(blen == len, "%s get_buffer_bytes returned %zu of %zu bytes", dir, blen, len);

    char *w = NULL;
    size_t wl = 0;
    if (blen >= 3 && PT_EXPECT(pw_get_buffer(type, 1, 2, &w, &wl), PW_OK))
        PT_CHECK(bytes_equal(w, wl, body + 1, 2), "%s window [1,3) matches", dir);
    free(w);
    if (PT_EXPECT(pw_get_buffer(type, (uint32_t)blen + 10, 5, &w, &wl), PW_OK))
        PT_CHECK(wl == 0, "%s read past the end is empty (got %zu)", dir, wl);
    free(w);
    if (PT_EXPECT(pw_get_buffer(type, 0, (uint32_t)blen + 100, &w, &wl), PW_OK))
        PT_CHECK(bytes_equal(w, wl, body, blen), "%s read with a large max is clamped", dir);
    free(w);
    {
        size_t l2;
        uint32_t f2;
        PT_EXPECT(proxy_get_buffer_status(9, &l2, &f2), PW_BAD_ARGUMENT);
        if (type == PW_BUFFER_HTTP_REQUEST_BODY)
            PT_EXPECT(proxy_get_buffer_status(PW_BUFFER_HTTP_RESPONSE_BODY, &l2, &f2),
                      PW_NOT_FOUND);
    }

    char *upper = (char *)malloc(blen ? blen : 1);
    for (size_t i = 0; i < blen; i++) {
        char c = body[i];
        upper[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    PT_EXPECT(pw_set_buffer(type, 0, (uint32_t)blen, upper, blen), PW_OK);
    if (PT_EXPECT(pw_get_buffer_all(type, &w, &wl), PW_OK))
        PT_CHECK(bytes_equal(w, wl, upper, blen), "%s replaced with upper-case copy", dir);
    free(w);

    size_t sl = strlen(suffix), pl = strlen(prefix);
    PT_EXPECT(pw_set_buffer(type, (uint32_t)blen, 0, suffix, sl), PW_OK);
    PT_EXPECT(pw_set_buffer(type, 0, 0, prefix, pl), PW_OK);

    size_t want_len = pl + blen + sl;
    char *want = (char *)malloc(want_len);
    memcpy(want, prefix, pl);
    if (blen)
        memcpy(want + pl, upper, blen);
    memcpy(want + pl + blen, suffix, sl);
    if (PT_EXPECT(pw_get_buffer_all(type, &w, &wl), PW_OK)) {
        if (!PT_CHECK(bytes_equal(w, wl, want, want_len), "%s body is prefix+UPPER+suffix",
                      dir)) {
            char *p = pt_printable(w, wl);
            pw_log(PW_LOG_ERROR, "body %s actual: %s", dir, p ? p : "");
            free(p);
        }
        pw_log(PW_LOG_INFO, "body %s rewritten size=%zu", dir, wl);
    }
    free(w);
    free(want);
    free(upper);
    free(body);
}

static uint32_t on_body(uint32_t ctx, uint32_t type, uint32_t size, uint32_t eos)
{
    int is_req = type == PW_BUFFER_HTTP_REQUEST_BODY;
    const char *dir = is_req ? "request" : "response";
    body_state_t *s = (body_state_t *)pt_ctx_get_or_new(ctx, sizeof(body_state_t));
    if (s) {
        PT_CHECK(size >= s->last_size[!is_req], "%s body size %u >= previous %u", dir, size,
                 s->last_size[!is_req]);
        s->last_size[!is_req] = size;
    }
    if (!eos) {
        pw_log(PW_LOG_INFO, "body %s pause size=%u", dir, size);
        return PW_PAUSE;
    }
    if (is_req)
        rewrite(type, size, dir, "req-prefix|", "|req-suffix");
    else
        rewrite(type, size, dir, "resp-prefix|", "|resp-suffix");
    return PW_CONTINUE;
}

uint32_t proxy_on_request_body(uint32_t ctx, uint32_t size, uint32_t eos)
{
    return on_body(ctx, PW_BUFFER_HTTP_REQUEST_BODY, size, eos);
}

uint32_t proxy_on_response_body(uint32_t ctx, uint32_t size, uint32_t eos)
{
    return on_body(ctx, PW_BUFFER_HTTP_RESPONSE_BODY, size, eos);
}

void proxy_on_delete(uint32_t ctx)
{
    pt_ctx_delete(ctx);
}
