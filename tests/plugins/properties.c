/*
 * properties - proxy_get_property / proxy_set_property (ABI 0.2.1).
 *
 * Every value is logged at INFO as "prop <dotted path> = <value>" (strings
 * as text, integers decoded from 8-byte little-endian, maps as
 * "<n> pairs"), or "prop <dotted path> status=<n> (<NAME>)" when the host
 * returns something other than OK.
 *
 * Required (ASSERT FAILED unless OK and as described):
 *   on_configure (root): plugin_name, plugin_root_id, plugin_vm_id
 *   on_request_headers:
 *     request.path == :path header; request.method == :method header;
 *     request.headers parses as pairs (§6.1), and when the client sent
 *       x-prop, request.headers.x-prop (3 segments) == its value;
 *     request.protocol starts with "HTTP/"; source.address and
 *     destination.address non-empty; plugin_name, plugin_root_id,
 *     plugin_vm_id OK;
 *     a missing path (wasmgate.no.such.property) -> NOT_FOUND;
 *     the C++ SDK path form "request\0path\0" (trailing NUL) gives the same
 *     value as "request\0path";
 *     set_property(["wasmgate_test_prop"], "value-<ctx>") -> OK and reading
 *     it back gives the same bytes.
 *   on_response_headers: response.code is 8 bytes and equals :status;
 *     wasmgate_test_prop still reads back.
 * Logged only (OK or not): request.id, request.time, source.port,
 *   destination.port, node.id, xds.node.id, the dotted single segment
 *   "request.path", response.code during the request phase, and
 *   request.path / response.code in on_log.
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "properties"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

#define CUSTOM_PROP "wasmgate_test_prop"

static void dotted(const char *const *path, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; path[i] && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "." : "", path[i]);
}

/* Gets and logs a string property; returns the value (malloc'd) or NULL. */
static char *prop_str(const char *const *path, int required)
{
    char name[128], *v = NULL;
    dotted(path, name, sizeof name);
    pw_status_t st = pw_get_property_str(path, &v);
    if (st == PW_OK) {
        char *p = pt_printable(v, strlen(v));
        pw_log(PW_LOG_INFO, "prop %s = %s", name, p ? p : "");
        free(p);
        return v;
    }
    pw_log(PW_LOG_INFO, "prop %s status=%u (%s)", name, st, pw_status_name(st));
    if (required)
        PT_FAIL("get_property %s returned %u (%s)", name, st, pw_status_name(st));
    return NULL;
}

/* Gets and logs an integer property. */
static int prop_int(const char *const *path, int required, int64_t *out)
{
    char name[128];
    dotted(path, name, sizeof name);
    pw_status_t st = pw_get_property_int(path, out);
    if (st == PW_OK) {
        pw_log(PW_LOG_INFO, "prop %s = %lld", name, (long long)*out);
        return 1;
    }
    pw_log(PW_LOG_INFO, "prop %s status=%u (%s)", name, st, pw_status_name(st));
    if (required)
        PT_FAIL("get_property %s returned %u (%s) (SERIALIZATION_FAILURE here = not 8 bytes)",
                name, st, pw_status_name(st));
    return 0;
}

static void plugin_props(void)
{
    free(prop_str(PW_PATH("plugin_name"), 1));
    free(prop_str(PW_PATH("plugin_root_id"), 1));
    free(prop_str(PW_PATH("plugin_vm_id"), 1));
}

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    plugin_props();
    return 1;
}

static void expect_equal_header(const char *prop_value, const char *header, const char *what)
{
    char *h = NULL;
    if (PT_EXPECT(pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, header, &h), PW_OK) && prop_value)
        PT_CHECK(strcmp(h, prop_value) == 0, "%s '%s' == header %s '%s'", what, prop_value,
                 header, h);
    free(h);
}

static void expect_custom_prop(uint32_t ctx)
{
    char want[32], *v = NULL;
    snprintf(want, sizeof want, "value-%u", ctx);
    if (PT_EXPECT(pw_get_property_str(PW_PATH(CUSTOM_PROP), &v), PW_OK))
        PT_CHECK(strcmp(v, want) == 0, "%s reads back '%s' (want '%s')", CUSTOM_PROP, v, want);
    free(v);
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    int64_t iv;

    char *path = prop_str(PW_PATH("request", "path"), 1);
    expect_equal_header(path, ":path", "request.path");
    char *method = prop_str(PW_PATH("request", "method"), 1);
    expect_equal_header(method, ":method", "request.method");
    free(method);

    char *hd = NULL;
    size_t hl = 0;
    pw_status_t st = pw_get_property(PW_PATH("request", "headers"), &hd, &hl);
    if (PT_CHECK(st == PW_OK, "request.headers status %u (%s)", st, pw_status_name(st))) {
        pw_pairs_t pairs;
        if (PT_EXPECT(pw_parse_pairs(hd, hl, &pairs), PW_OK)) {
            pw_log(PW_LOG_INFO, "prop request.headers = %zu pairs", pairs.count);
            pw_pairs_free(&pairs);
        }
    }
    free(hd);
    char *xprop = NULL;
    if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-prop", &xprop) == PW_OK) {
        char *pv = prop_str(PW_PATH("request", "headers", "x-prop"), 1);
        if (pv)
            PT_CHECK(strcmp(pv, xprop) == 0, "request.headers.x-prop '%s' == header '%s'", pv,
                     xprop);
        free(pv);
    }
    free(xprop);

    free(prop_str(PW_PATH("request", "id"), 0));
    prop_int(PW_PATH("request", "time"), 0, &iv);
    char *proto = prop_str(PW_PATH("request", "protocol"), 1);
    if (proto)
        PT_CHECK(strncmp(proto, "HTTP/", 5) == 0, "request.protocol '%s' starts with HTTP/",
                 proto);
    free(proto);

    char *src = prop_str(PW_PATH("source", "address"), 1);
    if (src)
        PT_CHECK(src[0] != '\0', "source.address non-empty");
    free(src);
    char *dst = prop_str(PW_PATH("destination", "address"), 1);
    if (dst)
        PT_CHECK(dst[0] != '\0', "destination.address non-empty");
    free(dst);
    prop_int(PW_PATH("source", "port"), 0, &iv);
    prop_int(PW_PATH("destination", "port"), 0, &iv);

    plugin_props();
    free(prop_str(PW_PATH("node", "id"), 0));
    free(prop_str(PW_PATH("xds", "node", "id"), 0));

    char *d = NULL;
    size_t l = 0;
    PT_EXPECT(pw_get_property(PW_PATH("wasmgate", "no", "such", "property"), &d, &l),
              PW_NOT_FOUND);
    free(d);

    /* C++ SDK form: every segment NUL-terminated. */
    static const char cpp_path[] = "request\0path"; /* + the implicit trailing NUL */
    d = NULL;
    l = 0;
    if (PT_EXPECT(proxy_get_property(cpp_path, sizeof cpp_path, &d, &l), PW_OK) && path)
        PT_CHECK(l == strlen(path) && memcmp(d, path, l) == 0,
                 "trailing-NUL path gives the same request.path");
    free(d);
    free(path);

    /* Dotted single segment: host-specific (Envoy: NOT_FOUND, Kong: OK). */
    free(prop_str(PW_PATH("request.path"), 0));
    prop_int(PW_PATH("response", "code"), 0, &iv);

    char val[32];
    snprintf(val, sizeof val, "value-%u", ctx);
    PT_EXPECT(pw_set_property(PW_PATH(CUSTOM_PROP), val, strlen(val)), PW_OK);
    expect_custom_prop(ctx);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    int64_t code = 0;
    char *status = NULL;
    if (prop_int(PW_PATH("response", "code"), 1, &code) &&
        PT_EXPECT(pw_get_header(PW_MAP_HTTP_RESPONSE_HEADERS, ":status", &status), PW_OK))
        PT_CHECK(code == atoi(status), "response.code %lld == :status %s", (long long)code,
                 status);
    free(status);
    expect_custom_prop(ctx);
    return PW_CONTINUE;
}

void proxy_on_log(uint32_t ctx)
{
    PT_UNUSED(ctx);
    int64_t iv;
    free(prop_str(PW_PATH("request", "path"), 0));
    prop_int(PW_PATH("response", "code"), 0, &iv);
}
