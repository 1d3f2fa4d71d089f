/*
 * bad_configure - a plugin whose start-up fails (ABI 0.2.1).
 *
 * on_configure always returns 0 and logs INFO "bad_configure rejecting".
 * on_vm_start returns 0 (INFO "bad_configure failing vm_start") when the VM
 * configuration (buffer 6) is the text `fail_vm_start`, else 1.
 * on_request_headers would add x-bad-configure: reached (it must never run).
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "bad_configure"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

uint32_t proxy_on_vm_start(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    char *cfg = NULL;
    int fail = 0;
    if (size && pw_get_vm_configuration_str(&cfg) == PW_OK)
        fail = strcmp(cfg, "fail_vm_start") == 0;
    free(cfg);
    if (fail) {
        pw_log(PW_LOG_INFO, "bad_configure failing vm_start");
        return 0;
    }
    return 1;
}

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    pw_log(PW_LOG_INFO, "bad_configure rejecting");
    return 0;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    PT_FAIL("on_request_headers reached for %u although on_configure failed", ctx);
    pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-bad-configure", "reached");
    return PW_CONTINUE;
}
