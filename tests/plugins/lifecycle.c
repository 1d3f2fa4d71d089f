/*
 * lifecycle - logs every callback it receives, with its arguments (ABI 0.2.1).
 *
 * Every callback of the ABI is exported. Each logs one INFO line
 *   "cb <callback name without proxy_ prefix> <arg> <arg> ..."
 * with the context id first, e.g. "cb on_context_create 2 1",
 * "cb on_request_headers 2 7 0", "cb on_vm_start 1 0", "cb on_delete 2".
 *
 * Configuration:
 *   on_vm_start reads the VM configuration (buffer 6) and logs
 *     INFO "vm_config size=<n> value=<text>";
 *   on_configure reads the plugin configuration (buffer 7) and logs
 *     INFO "plugin_config size=<n> value=<text>";
 *   both check that the buffer length equals the size argument.
 *   on_configure returns 0 (reject) when the configuration is the text
 *   `reject`, the JSON string "reject", or a JSON object with a member
 *   "reject": true; it then logs INFO "cb on_configure rejecting".
 *
 * Other checks: the body/data callbacks check that get_buffer_status of their
 * buffer reports the size argument; header callbacks check that the map holds
 * num_headers pairs; on_done returns 1.
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "lifecycle"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

#define CB(fmt, ...) pw_log(PW_LOG_INFO, "cb " fmt, ##__VA_ARGS__)

/* Reads, logs and returns (malloc'd, or NULL when empty) a whole buffer. */
static char *log_buffer(const char *what, uint32_t type, uint32_t expected_size, size_t *lenp)
{
    char *data = NULL;
    size_t len = 0;
    *lenp = 0;
    pw_status_t st = pw_get_buffer(type, 0, expected_size, &data, &len);
    /* An absent configuration may be reported as NOT_FOUND. */
    if (st != PW_OK && !(st == PW_NOT_FOUND && expected_size == 0)) {
        PT_FAIL("%s: get_buffer_bytes(%u) returned %u (%s)", what, type, st,
                pw_status_name(st));
        return NULL;
    }
    char *text = pt_printable(data, len);
    pw_log(PW_LOG_INFO, "%s size=%zu value=%s", what, len, text ? text : "");
    PT_CHECK(len == expected_size, "%s buffer length %zu == size argument %u", what, len,
             expected_size);
    free(text);
    *lenp = len;
    return data;
}

static void check_buffer_size(uint32_t type, uint32_t size)
{
    size_t len = 0;
    uint32_t flags = 0;
    if (PT_EXPECT(proxy_get_buffer_status(type, &len, &flags), PW_OK))
        PT_CHECK(len == size, "buffer %u status length %zu == %u", type, len, size);
}

static void check_map_count(uint32_t map, uint32_t n)
{
    pw_pairs_t pairs;
    if (PT_EXPECT(pw_get_header_pairs(map, &pairs), PW_OK)) {
        PT_CHECK(pairs.count == n, "map %u has %zu pairs == %u", map, pairs.count, n);
        pw_pairs_free(&pairs);
    }
}

void proxy_on_context_create(uint32_t ctx, uint32_t parent)
{
    CB("on_context_create %u %u", ctx, parent);
}

uint32_t proxy_on_vm_start(uint32_t root, uint32_t vm_config_size)
{
    CB("on_vm_start %u %u", root, vm_config_size);
    size_t len;
    free(log_buffer("vm_config", PW_BUFFER_VM_CONFIGURATION, vm_config_size, &len));
    return 1;
}

uint32_t proxy_validate_configuration(uint32_t root, uint32_t size)
{
    CB("validate_configuration %u %u", root, size);
    return 1;
}

static int config_says_reject(const char *d, size_t len)
{
    char *v = pt_config_value(d, len, "reject");
    int reject = v && strcmp(v, "reject") == 0;
    free(v);
    if (reject)
        return 1;
    /* {"reject": true} */
    for (size_t i = 0; i + 8 <= len; i++) {
        if (memcmp(d + i, "\"reject\"", 8) != 0)
            continue;
        size_t j = i + 8;
        while (j < len && (d[j] == ' ' || d[j] == ':' || d[j] == '\t' || d[j] == '\n'))
            j++;
        if (len - j >= 4 && memcmp(d + j, "true", 4) == 0)
            return 1;
    }
    return 0;
}

uint32_t proxy_on_configure(uint32_t root, uint32_t config_size)
{
    CB("on_configure %u %u", root, config_size);
    size_t len;
    char *data = log_buffer("plugin_config", PW_BUFFER_PLUGIN_CONFIGURATION, config_size, &len);
    int reject = data && config_says_reject(data, len);
    free(data);
    if (reject) {
        CB("on_configure rejecting");
        return 0;
    }
    return 1;
}

void proxy_on_tick(uint32_t root)
{
    CB("on_tick %u", root);
}

void proxy_on_queue_ready(uint32_t root, uint32_t queue_id)
{
    CB("on_queue_ready %u %u", root, queue_id);
}

void proxy_on_foreign_function(uint32_t ctx, uint32_t function_id, uint32_t args_size)
{
    CB("on_foreign_function %u %u %u", ctx, function_id, args_size);
    check_buffer_size(PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS, args_size);
}

uint32_t proxy_on_new_connection(uint32_t ctx)
{
    CB("on_new_connection %u", ctx);
    return PW_CONTINUE;
}

uint32_t proxy_on_downstream_data(uint32_t ctx, uint32_t size, uint32_t eos)
{
    CB("on_downstream_data %u %u %u", ctx, size, eos);
    check_buffer_size(PW_BUFFER_DOWNSTREAM_DATA, size);
    return PW_CONTINUE;
}

void proxy_on_downstream_connection_close(uint32_t ctx, uint32_t peer)
{
    CB("on_downstream_connection_close %u %u", ctx, peer);
}

uint32_t proxy_on_upstream_data(uint32_t ctx, uint32_t size, uint32_t eos)
{
    CB("on_upstream_data %u %u %u", ctx, size, eos);
    check_buffer_size(PW_BUFFER_UPSTREAM_DATA, size);
    return PW_CONTINUE;
}

void proxy_on_upstream_connection_close(uint32_t ctx, uint32_t peer)
{
    CB("on_upstream_connection_close %u %u", ctx, peer);
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    CB("on_request_headers %u %u %u", ctx, n, eos);
    check_map_count(PW_MAP_HTTP_REQUEST_HEADERS, n);
    return PW_CONTINUE;
}

uint32_t proxy_on_request_body(uint32_t ctx, uint32_t size, uint32_t eos)
{
    CB("on_request_body %u %u %u", ctx, size, eos);
    check_buffer_size(PW_BUFFER_HTTP_REQUEST_BODY, size);
    return PW_CONTINUE;
}

uint32_t proxy_on_request_trailers(uint32_t ctx, uint32_t n)
{
    CB("on_request_trailers %u %u", ctx, n);
    check_map_count(PW_MAP_HTTP_REQUEST_TRAILERS, n);
    return PW_CONTINUE;
}

uint32_t proxy_on_request_metadata(uint32_t ctx, uint32_t n)
{
    CB("on_request_metadata %u %u", ctx, n);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    CB("on_response_headers %u %u %u", ctx, n, eos);
    check_map_count(PW_MAP_HTTP_RESPONSE_HEADERS, n);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_body(uint32_t ctx, uint32_t size, uint32_t eos)
{
    CB("on_response_body %u %u %u", ctx, size, eos);
    check_buffer_size(PW_BUFFER_HTTP_RESPONSE_BODY, size);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_trailers(uint32_t ctx, uint32_t n)
{
    CB("on_response_trailers %u %u", ctx, n);
    check_map_count(PW_MAP_HTTP_RESPONSE_TRAILERS, n);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_metadata(uint32_t ctx, uint32_t n)
{
    CB("on_response_metadata %u %u", ctx, n);
    return PW_CONTINUE;
}

void proxy_on_http_call_response(uint32_t root, uint32_t token, uint32_t nh, uint32_t body,
                                 uint32_t nt)
{
    CB("on_http_call_response %u %u %u %u %u", root, token, nh, body, nt);
}

void proxy_on_grpc_receive_initial_metadata(uint32_t root, uint32_t token, uint32_t n)
{
    CB("on_grpc_receive_initial_metadata %u %u %u", root, token, n);
}

void proxy_on_grpc_receive(uint32_t root, uint32_t token, uint32_t size)
{
    CB("on_grpc_receive %u %u %u", root, token, size);
}

void proxy_on_grpc_receive_trailing_metadata(uint32_t root, uint32_t token, uint32_t n)
{
    CB("on_grpc_receive_trailing_metadata %u %u %u", root, token, n);
}

void proxy_on_grpc_close(uint32_t root, uint32_t token, uint32_t status)
{
    CB("on_grpc_close %u %u %u", root, token, status);
}

uint32_t proxy_on_done(uint32_t ctx)
{
    CB("on_done %u", ctx);
    return 1;
}

void proxy_on_log(uint32_t ctx)
{
    CB("on_log %u", ctx);
}

void proxy_on_delete(uint32_t ctx)
{
    CB("on_delete %u", ctx);
}
