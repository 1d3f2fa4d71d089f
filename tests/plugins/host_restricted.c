/*
 * host_restricted - hostcalls from a static constructor, and what the root
 * context sees (ABI 0.2.1), for the C-level host tests
 * (tests/unit/test_abi_host.c).
 *
 * A reactor's _initialize runs the static constructors, where hosts modelled
 * on cpp-host allow only proxy_log (and WASI). The constructor reads the WASI
 * environment variable HOST_RESTRICTED (WASI is allowed there):
 *   "property"  calls proxy_get_property("plugin_name") (must trap)
 *   "metric"    calls proxy_define_metric (must trap)
 *   otherwise   nothing restricted
 * and always logs INFO "host_restricted constructor mode=<mode>" first
 * (proxy_log is allowed). If a restricted call returns instead of trapping,
 * it logs INFO "host_restricted constructor call returned <status>".
 *
 * Root context probes:
 *   on_context_create(root, 0): proxy_get_property("plugin_root_id") (a bare
 *     segment, as the C++ SDK reads it there); logs INFO
 *     "host_restricted create <ctx> <parent> plugin_root_id status=<s> value=<v>"
 *   on_configure: logs INFO "host_restricted root request.path status=<s>"
 *     and "host_restricted root plugin_name status=<s> value=<v>"
 * Streams: on_request_headers logs INFO
 *   "host_restricted stream request.path status=<s> value=<v>".
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "host_restricted"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

__attribute__((constructor)) static void host_restricted_init(void)
{
    const char *mode = getenv("HOST_RESTRICTED");
    if (!mode)
        mode = "none";
    pw_log(PW_LOG_INFO, "host_restricted constructor mode=%s", mode);
    pw_status_t st = PW_OK;
    if (strcmp(mode, "property") == 0) {
        static const char path[] = "plugin_name";
        char *d = NULL;
        size_t l = 0;
        st = proxy_get_property(path, sizeof path - 1, &d, &l);
        free(d);
    } else if (strcmp(mode, "metric") == 0) {
        static const char name[] = "host_restricted_counter";
        uint32_t id = 0;
        st = proxy_define_metric(PW_METRIC_COUNTER, name, sizeof name - 1, &id);
    } else {
        return;
    }
    pw_log(PW_LOG_INFO, "host_restricted constructor call returned %u", st);
}

/* Gets a property (path of NUL-separated segments, no trailing NUL) and
 * logs "<what> status=<s> value=<v>". */
static void probe(const char *what, const char *path, size_t len)
{
    char *d = NULL;
    size_t l = 0;
    pw_status_t st = proxy_get_property(path, len, &d, &l);
    char *p = pt_printable(d ? d : "", st == PW_OK ? l : 0);
    pw_log(PW_LOG_INFO, "host_restricted %s status=%u value=%s", what, st, p ? p : "");
    free(p);
    free(d);
}

void proxy_on_context_create(uint32_t ctx, uint32_t parent)
{
    if (parent != 0)
        return;
    char what[64];
    snprintf(what, sizeof what, "create %u %u plugin_root_id", ctx, parent);
    static const char path[] = "plugin_root_id";
    probe(what, path, sizeof path - 1);
}

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    static const char request_path[] = "request\0path";
    static const char plugin_name[] = "plugin_name";
    probe("root request.path", request_path, sizeof request_path - 1);
    probe("root plugin_name", plugin_name, sizeof plugin_name - 1);
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(n);
    PT_UNUSED(eos);
    static const char request_path[] = "request\0path";
    probe("stream request.path", request_path, sizeof request_path - 1);
    return PW_CONTINUE;
}
