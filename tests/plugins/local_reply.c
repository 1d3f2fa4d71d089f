/*
 * local_reply - local responses, pausing, and resuming from on_tick via
 * proxy_set_effective_context (ABI 0.2.1).
 *
 * on_configure: proxy_set_tick_period_milliseconds(<tick_ms>, default 20);
 *   configuration JSON {"tick_ms": "50"} or plain text "50".
 * on_request_headers:
 *   - header x-deny present: send_local_response(403, details "denied by
 *     plugin", body "denied\n", headers x-denied-by: wasmgate) -> OK;
 *     returns PAUSE; logs INFO "local_reply denied <ctx>".
 *   - :path == /pause-then-reply: returns PAUSE; logs INFO
 *     "local_reply paused <ctx> reply". The next on_tick sets the effective
 *     context to <ctx> and sends a local response 200, details
 *     "reply from tick", body "replied from tick\n", header
 *     x-replied-by: tick; logs INFO "local_reply tick reply <ctx>".
 *   - :path == /pause-then-continue: returns PAUSE ("local_reply paused <ctx>
 *     continue-request"); the next tick calls continue_stream(HTTP_REQUEST)
 *     ("local_reply tick continue-request <ctx>").
 *   - :path == /pause-forever: returns PAUSE ("local_reply paused <ctx>
 *     none") and never resumes the stream (for the stream idle timeout).
 *   - header x-hold-body present: on_request_body at end_of_stream returns
 *     StopIterationNoBuffer (3) ("local_reply paused <ctx>
 *     continue-request"); the next tick continues the request. The end of
 *     the body must reach the plugin exactly once (ASSERT FAILED else).
 *   - header x-pause-trailers present: on_request_trailers returns PAUSE
 *     ("local_reply paused <ctx> continue-trailers"); the next tick adds the
 *     request trailer x-added-on-tick: yes and calls
 *     continue_stream(HTTP_REQUEST).
 *   - header x-pause-response present: on_response_headers returns PAUSE
 *     ("local_reply paused <ctx> continue-response"); the next tick calls
 *     continue_stream(HTTP_RESPONSE) ("local_reply tick continue-response").
 * on_response_headers logs INFO "local_reply response <ctx> :status=<s>"
 *   (a local reply passes through it too).
 * Every hostcall status is checked (ASSERT FAILED on anything but OK).
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "local_reply"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

enum { NONE, REPLY, CONTINUE_REQUEST, CONTINUE_RESPONSE, CONTINUE_TRAILERS };
static const char *const action_names[] = {"none", "reply", "continue-request",
                                           "continue-response", "continue-trailers"};

typedef struct {
    int action;
    int pause_response;
    int pause_trailers;
    int hold_body;
    int body_ends; /* on_request_body calls with end_of_stream */
} lr_state_t;

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    uint32_t tick = 20;
    char *v = pt_plugin_config_value("tick_ms");
    if (v && atoi(v) > 0)
        tick = (uint32_t)atoi(v);
    free(v);
    PT_EXPECT(proxy_set_tick_period_milliseconds(tick), PW_OK);
    pw_log(PW_LOG_INFO, "local_reply tick period %u ms", tick);
    return 1;
}

static int has_header(uint32_t map, const char *name)
{
    char *v = NULL;
    pw_status_t st = pw_get_header(map, name, &v);
    free(v);
    return st == PW_OK;
}

static uint32_t pause_for(uint32_t ctx, int action)
{
    lr_state_t *s = (lr_state_t *)pt_ctx_get_or_new(ctx, sizeof(lr_state_t));
    s->action = action;
    pw_log(PW_LOG_INFO, "local_reply paused %u %s", ctx, action_names[action]);
    return PW_PAUSE;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    if (has_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-deny")) {
        static const char body[] = "denied\n";
        PT_EXPECT(pw_send_local_response(403, "denied by plugin", body, sizeof body - 1,
                                         PW_HEADERS("x-denied-by", "wasmgate")),
                  PW_OK);
        pw_log(PW_LOG_INFO, "local_reply denied %u", ctx);
        return PW_PAUSE;
    }
    if (has_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hold-body")) {
        lr_state_t *s = (lr_state_t *)pt_ctx_get_or_new(ctx, sizeof(lr_state_t));
        s->hold_body = 1;
    }
    if (has_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-pause-trailers")) {
        lr_state_t *s = (lr_state_t *)pt_ctx_get_or_new(ctx, sizeof(lr_state_t));
        s->pause_trailers = 1;
    }
    if (has_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-pause-response")) {
        lr_state_t *s = (lr_state_t *)pt_ctx_get_or_new(ctx, sizeof(lr_state_t));
        s->pause_response = 1;
    }
    char *path = NULL;
    uint32_t action = PW_CONTINUE;
    if (PT_EXPECT(pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path), PW_OK)) {
        if (strcmp(path, "/pause-then-reply") == 0)
            action = pause_for(ctx, REPLY);
        else if (strcmp(path, "/pause-then-continue") == 0)
            action = pause_for(ctx, CONTINUE_REQUEST);
        else if (strcmp(path, "/pause-forever") == 0)
            action = pause_for(ctx, NONE);
    }
    free(path);
    return action;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    char *status = NULL;
    PT_EXPECT(pw_get_header(PW_MAP_HTTP_RESPONSE_HEADERS, ":status", &status), PW_OK);
    pw_log(PW_LOG_INFO, "local_reply response %u :status=%s", ctx, status ? status : "-");
    free(status);
    lr_state_t *s = (lr_state_t *)pt_ctx_get(ctx);
    if (s && s->pause_response) {
        s->pause_response = 0;
        return pause_for(ctx, CONTINUE_RESPONSE);
    }
    return PW_CONTINUE;
}

uint32_t proxy_on_request_body(uint32_t ctx, uint32_t size, uint32_t eos)
{
    PT_UNUSED(size);
    lr_state_t *s = (lr_state_t *)pt_ctx_get(ctx);
    if (!s || !s->hold_body || !eos)
        return PW_CONTINUE;
    s->body_ends++;
    PT_CHECK(s->body_ends == 1, "the end of the body reached the plugin %d times", s->body_ends);
    if (s->body_ends > 1)
        return PW_CONTINUE;
    pause_for(ctx, CONTINUE_REQUEST);
    return 3; /* StopIterationNoBuffer: hold until resumed */
}

uint32_t proxy_on_request_trailers(uint32_t ctx, uint32_t n)
{
    PT_UNUSED(n);
    lr_state_t *s = (lr_state_t *)pt_ctx_get(ctx);
    if (s && s->pause_trailers) {
        s->pause_trailers = 0;
        return pause_for(ctx, CONTINUE_TRAILERS);
    }
    return PW_CONTINUE;
}

void proxy_on_tick(uint32_t root)
{
    PT_UNUSED(root);
    for (pt_node_t *node = pt_nodes; node; node = node->next) {
        lr_state_t *s = (lr_state_t *)node->data;
        int action = s->action;
        if (action == NONE)
            continue;
        s->action = NONE;
        if (!PT_EXPECT(proxy_set_effective_context(node->id), PW_OK))
            continue;
        if (action == REPLY) {
            static const char body[] = "replied from tick\n";
            PT_EXPECT(pw_send_local_response(200, "reply from tick", body, sizeof body - 1,
                                             PW_HEADERS("x-replied-by", "tick")),
                      PW_OK);
        } else if (action == CONTINUE_REQUEST) {
            PT_EXPECT(proxy_continue_stream(PW_STREAM_HTTP_REQUEST), PW_OK);
        } else if (action == CONTINUE_TRAILERS) {
            PT_EXPECT(pw_add_header(PW_MAP_HTTP_REQUEST_TRAILERS, "x-added-on-tick", "yes"), PW_OK);
            PT_EXPECT(proxy_continue_stream(PW_STREAM_HTTP_REQUEST), PW_OK);
        } else {
            PT_EXPECT(proxy_continue_stream(PW_STREAM_HTTP_RESPONSE), PW_OK);
        }
        pw_log(PW_LOG_INFO, "local_reply tick %s %u", action_names[action], node->id);
    }
}

void proxy_on_delete(uint32_t ctx)
{
    pt_ctx_delete(ctx);
}
