/*
 * host_slow_configure - an on_configure that takes long (ABI 0.2.1), for the
 * start-up deadline in the C-level host tests (tests/unit/test_abi_host.c).
 *
 * Plugin configuration:
 *   "forever"   on_configure never returns (a tight loop; logs INFO
 *               "host_slow_configure spinning forever" first)
 *   "<n>"       on_configure busy-waits n milliseconds of
 *               proxy_get_current_time_nanoseconds, then logs INFO
 *               "host_slow_configure spun <n> ms" and returns 1
 *   empty       returns 1 at once
 * on_request_headers adds x-slow-configure: passed.
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "host_slow_configure"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

static volatile uint64_t counter;

__attribute__((noinline)) static void spin_forever(void)
{
    for (;;)
        counter++;
}

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    char *v = pt_plugin_config_value("spin");
    if (v && strcmp(v, "forever") == 0) {
        pw_log(PW_LOG_INFO, "host_slow_configure spinning forever");
        spin_forever();
    }
    int ms = v ? atoi(v) : 0;
    free(v);
    if (ms > 0) {
        uint64_t start = pw_now_ns(), now = start;
        while (now - start < (uint64_t)ms * 1000000u) {
            counter++;
            now = pw_now_ns();
        }
        pw_log(PW_LOG_INFO, "host_slow_configure spun %d ms", ms);
    }
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(n);
    PT_UNUSED(eos);
    PT_EXPECT(pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-slow-configure", "passed"), PW_OK);
    return PW_CONTINUE;
}
