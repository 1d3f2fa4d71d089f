/*
 * http_call - an authorisation callout with proxy_http_call (ABI 0.2.1).
 *
 * Configuration: cluster name, JSON {"cluster": "..."} or plain text;
 * default "auth".
 *
 * on_configure (root), probes, both expecting BAD_ARGUMENT:
 *   - http_call without :path            -> BAD_ARGUMENT
 *   - http_call to cluster "no-such-cluster-wasmgate" -> BAD_ARGUMENT
 * on_request_headers: http_call(<cluster>, headers :method GET, :path /check,
 *   :authority auth, body "ping", no trailers, timeout 1000 ms) and PAUSE.
 *   Logs INFO "http_call dispatched <ctx> token=<t>". If the dispatch fails:
 *   INFO "http_call dispatch failed <ctx> status=<n>" and a local reply 503
 *   "dispatch failed\n" (ASSERT FAILED unless the status is BAD_ARGUMENT).
 * on_http_call_response(root, token, nh, body, nt):
 *   - logs INFO "cb on_http_call_response <root> <token> <nh> <body> <nt>"
 *   - the token must be one it dispatched (ASSERT FAILED otherwise)
 *   - proxy_get_status: OK; logs INFO "http_call status code=<c> msg=<m>"
 *   - nh == 0 (failure): set_effective_context(stream), local reply 503
 *     "auth unavailable\n" (details "auth call failed"); logs INFO
 *     "http_call failed <ctx>"
 *   - else reads map 6 (count must equal nh, :status present), buffer 4
 *     (length must equal body size), map 7 (count must equal nt), all BEFORE
 *     switching context, then set_effective_context(stream) -> OK, then reads
 *     :status of map 6 again (must still be readable and equal, as the Rust
 *     SDK reads it after switching)
 *   - :status 200: adds request header x-auth: <response body without
 *     trailing CR/LF>, continue_stream(HTTP_REQUEST) -> OK; logs INFO
 *     "http_call allowed <ctx> x-auth=<v>"
 *   - other status: local reply 403 "forbidden\n" (details "denied by auth
 *     service", header x-auth-status: <status>); logs INFO
 *     "http_call denied <ctx> status=<s>"
 *   - when the stream was deleted before the response: INFO
 *     "http_call stream gone token=<t>" and nothing else
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "http_call"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

#define MAX_PENDING 256
#define STREAM_GONE 0xFFFFFFFFu
static struct {
    uint32_t token;
    uint32_t ctx; /* 0 = a probe from on_configure */
    int used;
} pending[MAX_PENDING];

static char *cluster;

static void remember(uint32_t token, uint32_t ctx)
{
    for (int i = 0; i < MAX_PENDING; i++) {
        if (!pending[i].used) {
            pending[i].used = 1;
            pending[i].token = token;
            pending[i].ctx = ctx;
            return;
        }
    }
    PT_FAIL("too many pending calls");
}

static int take(uint32_t token, uint32_t *ctx)
{
    for (int i = 0; i < MAX_PENDING; i++) {
        if (pending[i].used && pending[i].token == token) {
            pending[i].used = 0;
            *ctx = pending[i].ctx;
            return 1;
        }
    }
    return 0;
}

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    free(cluster);
    cluster = pt_plugin_config_value("cluster");
    if (!cluster)
        cluster = strdup("auth");
    pw_log(PW_LOG_INFO, "http_call configured cluster=%s", cluster);

    uint32_t token = 0;
    if (!PT_EXPECT(pw_http_call(cluster, PW_HEADERS(":method", "GET", ":authority", "auth"),
                                NULL, 0, NULL, 1000, &token),
                   PW_BAD_ARGUMENT))
        remember(token, 0);
    token = 0;
    if (!PT_EXPECT(pw_http_call("no-such-cluster-wasmgate",
                                PW_HEADERS(":method", "GET", ":path", "/", ":authority", "x"),
                                NULL, 0, NULL, 1000, &token),
                   PW_BAD_ARGUMENT))
        remember(token, 0);
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    uint32_t token = 0;
    pw_status_t st = pw_http_call(cluster ? cluster : "auth",
                                  PW_HEADERS(":method", "GET", ":path", "/check", ":authority",
                                             "auth"),
                                  "ping", 4, NULL, 1000, &token);
    if (st != PW_OK) {
        pw_log(PW_LOG_INFO, "http_call dispatch failed %u status=%u", ctx, st);
        if (st != PW_BAD_ARGUMENT)
            PT_FAIL("proxy_http_call returned %u (%s)", st, pw_status_name(st));
        static const char body[] = "dispatch failed\n";
        PT_EXPECT(pw_send_local_response(503, "http call dispatch failed", body,
                                         sizeof body - 1, NULL),
                  PW_OK);
        return PW_PAUSE;
    }
    remember(token, ctx);
    pw_log(PW_LOG_INFO, "http_call dispatched %u token=%u", ctx, token);
    return PW_PAUSE;
}

static size_t map_count(uint32_t map)
{
    pw_pairs_t p;
    size_t n = (size_t)-1;
    if (PT_EXPECT(pw_get_header_pairs(map, &p), PW_OK)) {
        n = p.count;
        pw_pairs_free(&p);
    }
    return n;
}

void proxy_on_http_call_response(uint32_t root, uint32_t token, uint32_t nh, uint32_t body_size,
                                 uint32_t nt)
{
    pw_log(PW_LOG_INFO, "cb on_http_call_response %u %u %u %u %u", root, token, nh, body_size,
           nt);
    uint32_t ctx = 0;
    if (!take(token, &ctx)) {
        PT_FAIL("on_http_call_response for unknown token %u", token);
        return;
    }
    uint32_t code = 0;
    char *msg = NULL;
    if (PT_EXPECT(pw_get_status(&code, &msg), PW_OK))
        pw_log(PW_LOG_INFO, "http_call status code=%u msg=%s", code, msg);
    free(msg);
    if (ctx == 0)
        return; /* a probe that unexpectedly succeeded (already reported) */
    if (ctx == STREAM_GONE) {
        pw_log(PW_LOG_INFO, "http_call stream gone token=%u", token);
        return;
    }

    if (nh == 0) {
        PT_EXPECT(proxy_set_effective_context(ctx), PW_OK);
        static const char b[] = "auth unavailable\n";
        PT_EXPECT(pw_send_local_response(503, "auth call failed", b, sizeof b - 1, NULL), PW_OK);
        pw_log(PW_LOG_INFO, "http_call failed %u", ctx);
        return;
    }

    size_t c = map_count(PW_MAP_HTTP_CALL_RESPONSE_HEADERS);
    PT_CHECK(c == nh, "http call response has %zu headers == %u", c, nh);
    char *status = NULL;
    PT_EXPECT(pw_get_header(PW_MAP_HTTP_CALL_RESPONSE_HEADERS, ":status", &status), PW_OK);
    char *body = NULL;
    size_t blen = 0;
    PT_EXPECT(pw_get_buffer(PW_BUFFER_HTTP_CALL_RESPONSE_BODY, 0, body_size, &body, &blen),
              PW_OK);
    PT_CHECK(blen == body_size, "http call body length %zu == %u", blen, body_size);
    c = map_count(PW_MAP_HTTP_CALL_RESPONSE_TRAILERS);
    PT_CHECK(c == nt, "http call response has %zu trailers == %u", c, nt);

    PT_EXPECT(proxy_set_effective_context(ctx), PW_OK);
    char *status2 = NULL;
    if (PT_EXPECT(pw_get_header(PW_MAP_HTTP_CALL_RESPONSE_HEADERS, ":status", &status2), PW_OK))
        PT_CHECK(status && strcmp(status, status2) == 0,
                 ":status still readable after set_effective_context ('%s')", status2);
    free(status2);

    if (status && strcmp(status, "200") == 0) {
        while (blen && (body[blen - 1] == '\n' || body[blen - 1] == '\r'))
            blen--;
        char *v = (char *)malloc(blen + 1);
        if (blen)
            memcpy(v, body, blen);
        v[blen] = '\0';
        PT_EXPECT(pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-auth", v), PW_OK);
        PT_EXPECT(proxy_continue_stream(PW_STREAM_HTTP_REQUEST), PW_OK);
        pw_log(PW_LOG_INFO, "http_call allowed %u x-auth=%s", ctx, v);
        free(v);
    } else {
        static const char b[] = "forbidden\n";
        PT_EXPECT(pw_send_local_response(403, "denied by auth service", b, sizeof b - 1,
                                         PW_HEADERS("x-auth-status", status ? status : "")),
                  PW_OK);
        pw_log(PW_LOG_INFO, "http_call denied %u status=%s", ctx, status ? status : "-");
    }
    free(status);
    free(body);
}

void proxy_on_delete(uint32_t ctx)
{
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i].used && pending[i].ctx == ctx)
            pending[i].ctx = STREAM_GONE;
}
