/*
 * add_header - adds one request and one response header (ABI 0.2.1).
 *
 * Also the benchmark plugin, so the per-request path makes exactly one
 * hostcall per callback and logs only on failure.
 *
 * Configuration (plugin configuration, read in on_configure): the value of
 * the request header. JSON {"value": "..."} or plain text; empty -> "on".
 *
 * Effects:
 *   request:  x-wasmgate: <value>
 *   response: x-plugin: add_header
 * Logs: INFO "add_header configured value=<value>" in on_configure.
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "add_header"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

static char *header_value;
static size_t header_value_len;

uint32_t proxy_on_configure(uint32_t root_id, uint32_t config_size)
{
    PT_UNUSED(root_id);
    PT_UNUSED(config_size);
    char *v = pt_plugin_config_value("value");
    free(header_value);
    header_value = v ? v : strdup("on");
    header_value_len = strlen(header_value);
    pw_log(PW_LOG_INFO, "add_header configured value=%s", header_value);
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t num_headers, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(num_headers);
    PT_UNUSED(eos);
    static const char name[] = "x-wasmgate";
    const char *v = header_value ? header_value : "on";
    size_t vl = header_value ? header_value_len : 2;
    pw_status_t st = proxy_add_header_map_value(PW_MAP_HTTP_REQUEST_HEADERS, name,
                                                sizeof name - 1, v, vl);
    if (st != PW_OK)
        PT_FAIL("add x-wasmgate returned %u (%s)", st, pw_status_name(st));
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t num_headers, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(num_headers);
    PT_UNUSED(eos);
    static const char name[] = "x-plugin", value[] = "add_header";
    pw_status_t st = proxy_add_header_map_value(PW_MAP_HTTP_RESPONSE_HEADERS, name,
                                                sizeof name - 1, value, sizeof value - 1);
    if (st != PW_OK)
        PT_FAIL("add x-plugin returned %u (%s)", st, pw_status_name(st));
    return PW_CONTINUE;
}
