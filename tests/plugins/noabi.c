/*
 * noabi - no ABI version marker at all (the host treats it as 0.1.0, so the
 * header callbacks take 2 arguments). Adds the request header x-noabi: 1 and
 * logs INFO "noabi request <ctx>".
 */
#define PW_ABI_0_1_0_CALLBACKS
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "noabi"
#include "plugin_test.h"

/* deliberately no PROXY_WASM_ABI_* marker */

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n)
{
    PT_UNUSED(n);
    PT_EXPECT(pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-noabi", "1"), PW_OK);
    pw_log(PW_LOG_INFO, "noabi request %u", ctx);
    return PW_CONTINUE;
}
