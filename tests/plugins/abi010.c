/*
 * abi010 - an ABI 0.1.0 plugin (exports proxy_abi_version_0_1_0; header
 * callbacks take 2 arguments; uses the 0.1.0-only hostcalls).
 *
 * on_configure: proxy_get_configuration -> OK, length == the size argument;
 *   logs INFO "abi010 configuration size=<n> value=<text>"; sets a 20 ms tick.
 * on_request_headers(ctx, n):
 *   - get_header_map_value of a missing key -> OK with an empty value
 *     (the 0.1.0 rule; NOT_FOUND here is an ASSERT FAILED)
 *   - adds x-abi: 0.1.0, then proxy_clear_route_cache() -> OK
 *   - header x-pause present: returns PAUSE (INFO "abi010 paused request
 *     <ctx>"); the next tick sets the effective context and calls
 *     proxy_continue_request() -> OK (INFO "abi010 continue_request <ctx>")
 * on_response_headers(ctx, n): adds x-abi-response: 0.1.0; when the request
 *   had x-pause-response, returns PAUSE (INFO "abi010 paused response <ctx>")
 *   and the next tick calls proxy_continue_response() -> OK (INFO
 *   "abi010 continue_response <ctx>").
 */
#define PW_ABI_0_1_0_CALLBACKS
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "abi010"
#include "plugin_test.h"

PROXY_WASM_ABI_0_1_0

enum { NONE, CONTINUE_REQUEST, CONTINUE_RESPONSE };

typedef struct {
    int pending;
    int pause_response;
} a_state_t;

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    char *data = NULL;
    size_t len = 0;
    if (PT_EXPECT(proxy_get_configuration(&data, &len), PW_OK)) {
        PT_CHECK(len == size, "configuration length %zu == %u", len, size);
        char *p = pt_printable(data, len);
        pw_log(PW_LOG_INFO, "abi010 configuration size=%zu value=%s", len, p ? p : "");
        free(p);
    }
    free(data);
    PT_EXPECT(proxy_set_tick_period_milliseconds(20), PW_OK);
    return 1;
}

static int has_header(const char *name)
{
    char *v = NULL;
    pw_status_t st = pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, name, &v);
    int present = st == PW_OK && v && v[0];
    free(v);
    return present;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n)
{
    PT_UNUSED(n);
    char *v = NULL;
    if (PT_EXPECT(pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-abi010-missing", &v), PW_OK))
        PT_CHECK(v[0] == '\0', "missing header reads as empty (got '%s')", v);
    free(v);
    PT_EXPECT(pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-abi", "0.1.0"), PW_OK);
    PT_EXPECT(proxy_clear_route_cache(), PW_OK);

    a_state_t *s = (a_state_t *)pt_ctx_get_or_new(ctx, sizeof(a_state_t));
    s->pause_response = has_header("x-pause-response");
    if (has_header("x-pause")) {
        s->pending = CONTINUE_REQUEST;
        pw_log(PW_LOG_INFO, "abi010 paused request %u", ctx);
        return PW_PAUSE;
    }
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n)
{
    PT_UNUSED(n);
    PT_EXPECT(pw_add_header(PW_MAP_HTTP_RESPONSE_HEADERS, "x-abi-response", "0.1.0"), PW_OK);
    a_state_t *s = (a_state_t *)pt_ctx_get(ctx);
    if (s && s->pause_response) {
        s->pause_response = 0;
        s->pending = CONTINUE_RESPONSE;
        pw_log(PW_LOG_INFO, "abi010 paused response %u", ctx);
        return PW_PAUSE;
    }
    return PW_CONTINUE;
}

void proxy_on_tick(uint32_t root)
{
    PT_UNUSED(root);
    for (pt_node_t *node = pt_nodes; node; node = node->next) {
        a_state_t *s = (a_state_t *)node->data;
        int what = s->pending;
        if (what == NONE)
            continue;
        s->pending = NONE;
        if (!PT_EXPECT(proxy_set_effective_context(node->id), PW_OK))
            continue;
        if (what == CONTINUE_REQUEST) {
            PT_EXPECT(proxy_continue_request(), PW_OK);
            pw_log(PW_LOG_INFO, "abi010 continue_request %u", node->id);
        } else {
            PT_EXPECT(proxy_continue_response(), PW_OK);
            pw_log(PW_LOG_INFO, "abi010 continue_response %u", node->id);
        }
    }
}

void proxy_on_delete(uint32_t ctx)
{
    pt_ctx_delete(ctx);
}
