/*
 * hc_buffers.c - bodies, call responses and configuration buffers (§3.4
 * of the reference), and 0.1.0's proxy_get_configuration.
 *
 * Writes follow the spec's intent, which is a superset of Envoy's: start 0
 * with size >= length replaces everything, start 0 with size 0 prepends,
 * start >= length appends, and anything in between replaces that range
 * (Envoy answers BAD_ARGUMENT there; accepting it breaks no plugin).
 */
#include "abi/internal.h"

typedef struct buffer_view {
    const uint8_t *data;
    size_t len;
    wg_buf *writable;   /* NULL: read-only */
} buffer_view;

/* Finds buffer `type` for the target context. false: not available now. */
static bool find_buffer(pw_vm *vm, uint32_t type, buffer_view *out)
{
    out->writable = NULL;
    switch (type) {
    case PW_BUFFER_REQUEST_BODY:
    case PW_BUFFER_RESPONSE_BODY: {
        pw_stream *s = pw_vm_target_stream(vm);
        /* The response body does not exist before the response headers. */
        wg_buf *b = !s                               ? NULL
                    : type == PW_BUFFER_REQUEST_BODY ? s->request_body
                    : s->response_started            ? s->response_body
                                                     : NULL;
        if (!b)
            return false;
        out->data = b->data;
        out->len = b->len;
        out->writable = s->finished ? NULL : b;
        return true;
    }
    case PW_BUFFER_HTTP_CALL_RESPONSE_BODY:
        if (!vm->call_response)
            return false;
        out->data = vm->call_response->body;
        out->len = vm->call_response->body_len;
        return true;
    case PW_BUFFER_VM_CONFIGURATION:
        /* Envoy lets it be read at any time. */
        out->data = vm->cfg.vm_configuration;
        out->len = vm->cfg.vm_configuration_len;
        return true;
    case PW_BUFFER_PLUGIN_CONFIGURATION:
        /* Only while it is being delivered (not in on_vm_start, as cpp-host). */
        if (!vm->in_configure)
            return false;
        out->data = vm->configure_data;
        out->len = vm->configure_len;
        return true;
    default:
        /* TCP data, gRPC messages and foreign-function arguments never
         * exist in this host (no TCP filters, gRPC calls or async
         * foreign functions). */
        return false;
    }
}

int pw_hc_get_buffer_bytes(pw_vm *vm, const wasm_cell *a)
{
    uint32_t type = (uint32_t)a[0];
    uint64_t start = (uint32_t)a[1], max = (uint32_t)a[2];
    if (type > PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS)
        return PW_BAD_ARGUMENT;
    buffer_view b;
    if (!find_buffer(vm, type, &b))
        return PW_NOT_FOUND;
    /* 64-bit arithmetic: SDKs pass u32::MAX as "everything". */
    uint64_t len = start > b.len ? 0 : b.len - start;
    if (len > max)
        len = max;
    return pw_return_bytes(vm, len ? b.data + start : NULL, (size_t)len, (uint32_t)a[3],
                           (uint32_t)a[4]);
}

int pw_hc_get_buffer_status(pw_vm *vm, const wasm_cell *a)
{
    uint32_t type = (uint32_t)a[0];
    if (type > PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS)
        return PW_BAD_ARGUMENT;
    buffer_view b;
    if (!find_buffer(vm, type, &b))
        return PW_NOT_FOUND;
    if (!pw_mem_write_u32(vm, (uint32_t)a[1], (uint32_t)b.len) ||
        !pw_mem_write_u32(vm, (uint32_t)a[2], 0))
        return PW_INVALID_MEMORY_ACCESS;
    return PW_OK;
}

int pw_hc_set_buffer_bytes(pw_vm *vm, const wasm_cell *a)
{
    uint32_t type = (uint32_t)a[0];
    uint64_t start = (uint32_t)a[1], size = (uint32_t)a[2];
    const uint8_t *data;
    if (type > PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS)
        return PW_BAD_ARGUMENT;
    if (!pw_mem_read(vm, (uint32_t)a[3], (uint32_t)a[4], &data))
        return PW_INVALID_MEMORY_ACCESS;
    buffer_view b;
    if (!find_buffer(vm, type, &b))
        return PW_NOT_FOUND;
    if (!b.writable)
        return PW_BAD_ARGUMENT;
    size_t n = (uint32_t)a[4];
    bool ok;
    if (start >= b.len) {
        ok = wg_buf_append(b.writable, data, n);
    } else {
        uint64_t count = size > b.len - start ? b.len - start : size;
        ok = wg_buf_replace(b.writable, (size_t)start, (size_t)count, data, n);
    }
    return ok ? PW_OK : pw_hc_trap(vm, "out of memory changing a body buffer");
}

int pw_hc_get_configuration(pw_vm *vm, const wasm_cell *a)
{
    /* 0.1.0: the plugin configuration, readable while it is delivered. */
    if (!vm->in_configure)
        return PW_NOT_FOUND;
    return pw_return_bytes(vm, vm->configure_data, vm->configure_len, (uint32_t)a[0],
                           (uint32_t)a[1]);
}
