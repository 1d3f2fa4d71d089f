/*
 * loop - never returns from on_request_headers when the request has header
 * x-loop (ABI 0.2.1); for the per-call deadline. x-loop value:
 *   "" / "spin"   a tight loop on a volatile counter (back-edges only)
 *   "calls"       a loop calling a small noinline function
 *   "hostcall"    a loop calling proxy_get_current_time_nanoseconds
 * Logs INFO "loop spinning <kind> <ctx>" first. Other requests get
 * x-loop-plugin: passed and INFO "loop passed <ctx>".
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "loop"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

static volatile uint64_t counter;

__attribute__((noinline)) static void loop_step(void)
{
    counter++;
}

__attribute__((noinline)) static void loop_spin_forever(const char *kind)
{
    if (strcmp(kind, "calls") == 0) {
        for (;;)
            loop_step();
    } else if (strcmp(kind, "hostcall") == 0) {
        for (;;) {
            uint64_t t;
            proxy_get_current_time_nanoseconds(&t);
            counter += t;
        }
    } else {
        for (;;)
            counter++;
    }
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    char *kind = NULL;
    if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-loop", &kind) == PW_OK) {
        const char *k = kind[0] ? kind : "spin";
        pw_log(PW_LOG_INFO, "loop spinning %s %u", k, ctx);
        loop_spin_forever(k);
    }
    free(kind);
    PT_EXPECT(pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-loop-plugin", "passed"), PW_OK);
    pw_log(PW_LOG_INFO, "loop passed %u", ctx);
    return PW_CONTINUE;
}
