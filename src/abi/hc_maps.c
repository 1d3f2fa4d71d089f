/*
 * hc_maps.c - header, trailer and call-response maps (§3.5 of the
 * reference).
 *
 * Keys are matched case-insensitively and stored lower-case, as Envoy
 * does. A map the current phase does not have reads as empty (OK), since
 * the Rust SDK panics on anything else from get_pairs; a missing key is
 * NOT_FOUND in 0.2.x but OK with an empty value in 0.1.0. Writing to a map
 * that is not there, or that is read-only (call responses), is
 * BAD_ARGUMENT, as in Envoy.
 */
#include "abi/internal.h"

#include <stdlib.h>

/* The map for `type` in the target context, or NULL. *writable tells if
 * the plugin may change it. */
static wg_headers *find_map(pw_vm *vm, uint32_t type, bool *writable)
{
    *writable = false;
    if (type == PW_MAP_HTTP_CALL_RESPONSE_HEADERS || type == PW_MAP_HTTP_CALL_RESPONSE_TRAILERS) {
        if (!vm->call_response)
            return NULL;
        return (wg_headers *)(type == PW_MAP_HTTP_CALL_RESPONSE_HEADERS
                                  ? vm->call_response->headers
                                  : vm->call_response->trailers);
    }
    pw_stream *s = pw_vm_target_stream(vm);
    if (!s)
        return NULL;
    *writable = !s->finished;
    switch (type) {
    case PW_MAP_REQUEST_HEADERS: return s->request_headers;
    case PW_MAP_REQUEST_TRAILERS: return s->request_trailers;
    /* The response does not exist before its headers arrive. */
    case PW_MAP_RESPONSE_HEADERS: return s->response_started ? s->response_headers : NULL;
    case PW_MAP_RESPONSE_TRAILERS: return s->response_started ? s->response_trailers : NULL;
    default: return NULL; /* gRPC metadata: no gRPC calls here */
    }
}

/* The checks every map-changing hostcall makes, in the order that decides
 * its status: the map type, the guest ranges (a[1..2], and a[3..4] when
 * `second`), then a map this phase may change. */
static int writable_map(pw_vm *vm, const wasm_cell *a, bool second, const uint8_t **first_bytes,
                        const uint8_t **second_bytes, wg_headers **out)
{
    uint32_t type = (uint32_t)a[0];
    if (type > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS)
        return PW_BAD_ARGUMENT;
    if (!pw_mem_read(vm, (uint32_t)a[1], (uint32_t)a[2], first_bytes) ||
        (second && !pw_mem_read(vm, (uint32_t)a[3], (uint32_t)a[4], second_bytes)))
        return PW_INVALID_MEMORY_ACCESS;
    bool writable;
    *out = find_map(vm, type, &writable);
    if (!*out || !writable)
        return PW_BAD_ARGUMENT;
    return PW_OK;
}

int pw_hc_get_header_map_pairs(pw_vm *vm, const wasm_cell *a)
{
    uint32_t type = (uint32_t)a[0];
    if (type > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS)
        return PW_BAD_ARGUMENT;
    bool writable;
    const wg_headers *h = find_map(vm, type, &writable);
    wg_buf out = {0};
    if (h && !wg_headers_serialize(h, &out)) {
        wg_buf_free(&out);
        return pw_hc_trap(vm, "out of memory serialising a header map");
    }
    int r = pw_return_bytes(vm, out.data, out.len, (uint32_t)a[1], (uint32_t)a[2]);
    wg_buf_free(&out);
    return r;
}

int pw_hc_set_header_map_pairs(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *data;
    wg_headers *h = NULL;
    int st = writable_map(vm, a, false, &data, NULL, &h);
    if (st != PW_OK)
        return st;
    wg_headers fresh;
    wg_headers_init(&fresh);
    /* A malformed buffer clears the map, as cpp-host decodes it as empty. */
    if (!wg_headers_deserialize(&fresh, data, (uint32_t)a[2], true))
        wg_headers_clear(&fresh);
    wg_headers_free(h);
    *h = fresh;
    return PW_OK;
}

int pw_hc_get_header_map_size(pw_vm *vm, const wasm_cell *a)
{
    uint32_t type = (uint32_t)a[0];
    if (type > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS)
        return PW_BAD_ARGUMENT;
    bool writable;
    const wg_headers *h = find_map(vm, type, &writable);
    /* Envoy answers the bytes of keys and values; keep that. */
    uint32_t size = h ? (uint32_t)h->bytes : 0;
    return pw_mem_write_u32(vm, (uint32_t)a[1], size) ? PW_OK : PW_INVALID_MEMORY_ACCESS;
}

int pw_hc_get_header_map_value(pw_vm *vm, const wasm_cell *a)
{
    uint32_t type = (uint32_t)a[0];
    const uint8_t *key;
    if (type > PW_MAP_HTTP_CALL_RESPONSE_TRAILERS)
        return PW_BAD_ARGUMENT;
    if (!pw_mem_read(vm, (uint32_t)a[1], (uint32_t)a[2], &key))
        return PW_INVALID_MEMORY_ACCESS;
    bool writable;
    const wg_headers *h = find_map(vm, type, &writable);
    const wg_header *v = h ? wg_headers_get(h, (const char *)key, (uint32_t)a[2]) : NULL;
    if (!v) {
        if (vm->module->abi == PW_ABI_0_1_0)
            return pw_return_bytes(vm, NULL, 0, (uint32_t)a[3], (uint32_t)a[4]);
        return PW_NOT_FOUND;
    }
    return pw_return_bytes(vm, v->value, v->value_len, (uint32_t)a[3], (uint32_t)a[4]);
}

/* add and replace share their argument handling. */
static int change_value(pw_vm *vm, const wasm_cell *a, bool replace)
{
    const uint8_t *key, *value;
    wg_headers *h = NULL;
    int st = writable_map(vm, a, true, &key, &value, &h);
    if (st != PW_OK)
        return st;
    bool ok = replace ? wg_headers_set_lower(h, (const char *)key, (uint32_t)a[2],
                                             (const char *)value, (uint32_t)a[4])
                      : wg_headers_add_lower(h, (const char *)key, (uint32_t)a[2],
                                             (const char *)value, (uint32_t)a[4]);
    if (!ok)
        return pw_hc_trap(vm, "out of memory changing a header map");
    return PW_OK;
}

int pw_hc_add_header_map_value(pw_vm *vm, const wasm_cell *a) { return change_value(vm, a, false); }

int pw_hc_replace_header_map_value(pw_vm *vm, const wasm_cell *a)
{
    return change_value(vm, a, true);
}

int pw_hc_remove_header_map_value(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *key;
    wg_headers *h = NULL;
    int st = writable_map(vm, a, false, &key, NULL, &h);
    if (st != PW_OK)
        return st;
    wg_headers_remove(h, (const char *)key, (uint32_t)a[2]);
    return PW_OK;
}
