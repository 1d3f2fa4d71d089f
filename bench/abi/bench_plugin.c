/*
 * bench_plugin - the guest side of `make bench-abi`.
 *
 *   proxy_on_tick: empty, to time one host->vm call and nothing else.
 *   proxy_on_request_headers: calls proxy_get_header_map_value N times
 *     (N = the plugin configuration, a decimal number; 0 by default) and
 *     frees each value, to time the hostcall round trip including the
 *     guest allocation of the result.
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"

#include <stdlib.h>

PROXY_WASM_ABI_0_2_1

static uint32_t loops;

uint32_t proxy_on_configure(uint32_t root_id, uint32_t size)
{
    (void)root_id;
    char *data = NULL;
    size_t len = 0;
    if (size > 0 && pw_get_buffer(PW_BUFFER_PLUGIN_CONFIGURATION, 0, size, &data, &len) == PW_OK &&
        data) {
        char text[32] = {0};
        memcpy(text, data, len < sizeof text - 1 ? len : sizeof text - 1);
        loops = (uint32_t)strtoul(text, NULL, 10);
        free(data);
    }
    return 1;
}

void proxy_on_tick(uint32_t root_id) { (void)root_id; }

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t num_headers, uint32_t eos)
{
    (void)ctx;
    (void)num_headers;
    (void)eos;
    for (uint32_t i = 0; i < loops; i++) {
        char *value = NULL;
        size_t len = 0;
        if (proxy_get_header_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-bench", 7, &value, &len) ==
            PW_OK)
            free(value);
    }
    return 0;
}
