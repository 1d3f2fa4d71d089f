/*
 * chain_tag - makes the order of a plugin chain visible (ABI 0.2.1).
 *
 * Configuration: the tag, JSON {"tag": "..."} or plain text; default "?".
 *
 * Effects:
 *   request:  appends "<tag>" to header x-chain (a new field when absent,
 *             else "<old>,<tag>"), so plugins running A then B give "A,B";
 *   response: the same with header x-chain-resp (response order is the
 *             reverse of the request order: "B,A").
 * Logs: INFO "chain_tag configured tag=<tag>" in on_configure.
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "chain_tag"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

static char *tag;

uint32_t proxy_on_configure(uint32_t root_id, uint32_t config_size)
{
    PT_UNUSED(root_id);
    PT_UNUSED(config_size);
    char *v = pt_plugin_config_value("tag");
    free(tag);
    tag = v ? v : strdup("?");
    pw_log(PW_LOG_INFO, "chain_tag configured tag=%s", tag);
    return 1;
}

static void append_tag(uint32_t map, const char *name)
{
    char *old = NULL;
    pw_status_t st = pw_get_header(map, name, &old);
    if (st == PW_OK && old && old[0]) {
        size_t n = strlen(old) + 1 + strlen(tag) + 1;
        char *v = (char *)malloc(n);
        snprintf(v, n, "%s,%s", old, tag);
        PT_EXPECT(pw_replace_header(map, name, v), PW_OK);
        free(v);
    } else {
        PT_EXPECT(pw_add_header(map, name, tag), PW_OK);
    }
    free(old);
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(n);
    PT_UNUSED(eos);
    append_tag(PW_MAP_HTTP_REQUEST_HEADERS, "x-chain");
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(n);
    PT_UNUSED(eos);
    append_tag(PW_MAP_HTTP_RESPONSE_HEADERS, "x-chain-resp");
    return PW_CONTINUE;
}
