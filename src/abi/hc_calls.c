/*
 * hc_calls.c - HTTP callouts, gRPC callouts and foreign functions (§3.8,
 * §3.9, §3.13 of the reference).
 *
 * HTTP calls go to a cluster of the data plane (pw_host_ops.http_call);
 * the answer comes back later through pw_vm_http_call_response(), on the
 * root context, exactly once per token.
 *
 * gRPC: this host has no gRPC clusters. Every gRPC call or stream answers
 * PARSE_FAILURE, Envoy's status for an unknown gRPC upstream, and the
 * token functions answer NOT_FOUND (no such call). Plugins that only
 * import them load and run normally.
 *
 * Foreign functions offered: "clear_route_cache" (no arguments, empty
 * result; routes are chosen after the plugin chain, so there is nothing to
 * clear). Any other name answers NOT_FOUND.
 */
#include "abi/internal.h"

#include <stdlib.h>
#include <string.h>

static bool remember_call(pw_vm *vm, uint32_t token)
{
    if (vm->ncalls == vm->calls_cap) {
        uint32_t cap = vm->calls_cap ? vm->calls_cap * 2 : 8;
        pw_pending_call *c = realloc(vm->calls, cap * sizeof *c);
        if (!c)
            return false;
        vm->calls = c;
        vm->calls_cap = cap;
    }
    vm->calls[vm->ncalls++] = (pw_pending_call){token};
    return true;
}

int pw_hc_http_call(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *upstream, *hdrs, *body, *trls;
    uint32_t up_len = (uint32_t)a[1], h_len = (uint32_t)a[3], b_len = (uint32_t)a[5],
             t_len = (uint32_t)a[7];
    int32_t timeout = (int32_t)(uint32_t)a[8];
    uint32_t token_ptr = (uint32_t)a[9];
    if (!pw_mem_read(vm, (uint32_t)a[0], up_len, &upstream) ||
        !pw_mem_read(vm, (uint32_t)a[2], h_len, &hdrs) ||
        !pw_mem_read(vm, (uint32_t)a[4], b_len, &body) ||
        !pw_mem_read(vm, (uint32_t)a[6], t_len, &trls))
        return PW_INVALID_MEMORY_ACCESS;
    /* Validate the token pointer before starting anything, as cpp-host. */
    if (!pw_mem_write_u32(vm, token_ptr, 0))
        return PW_INVALID_MEMORY_ACCESS;
    if (timeout < 0 || up_len == 0)
        return PW_BAD_ARGUMENT;

    wg_headers headers, trailers;
    wg_headers_init(&headers);
    wg_headers_init(&trailers);
    char *cluster = malloc((size_t)up_len + 1);
    int status = PW_BAD_ARGUMENT;
    if (!cluster) {
        status = pw_hc_trap(vm, "out of memory starting an HTTP call");
        goto out;
    }
    memcpy(cluster, upstream, up_len);
    cluster[up_len] = 0;
    if (!wg_headers_deserialize(&headers, hdrs, h_len, true) ||
        !wg_headers_deserialize(&trailers, trls, t_len, true))
        goto out;
    /* Envoy requires these three. */
    if (!wg_headers_get(&headers, ":method", 7) || !wg_headers_get(&headers, ":path", 5) ||
        !wg_headers_get(&headers, ":authority", 10))
        goto out;
    uint32_t token = vm->next_token;
    pw_http_request req = {
        .cluster = cluster,
        .headers = &headers,
        .body = body,
        .body_len = b_len,
        .trailers = &trailers,
        .timeout_ms = (uint32_t)timeout,
    };
    status = vm->ops->http_call(vm->host, vm, token, &req);
    if (status != PW_OK)
        goto out;
    /* HTTP call tokens are 0 mod 4 (gRPC ones would be 1 and 2), as cpp-host. */
    vm->next_token += 4;
    if (!remember_call(vm, token)) {
        status = pw_hc_trap(vm, "out of memory recording an HTTP call");
        goto out;
    }
    status = pw_mem_write_u32(vm, token_ptr, token) ? PW_OK : PW_INVALID_MEMORY_ACCESS;
out:
    free(cluster);
    wg_headers_free(&headers);
    wg_headers_free(&trailers);
    return status;
}

/* The pointer arguments of a gRPC call are still checked: a plugin passing
 * garbage learns it the same way as with any other hostcall. */
static int check_ranges(pw_vm *vm, const wasm_cell *a, int npairs)
{
    for (int i = 0; i < npairs; i++) {
        const uint8_t *p;
        if (!pw_mem_read(vm, (uint32_t)a[2 * i], (uint32_t)a[2 * i + 1], &p))
            return PW_INVALID_MEMORY_ACCESS;
    }
    return PW_OK;
}

int pw_hc_grpc_call(pw_vm *vm, const wasm_cell *a)
{
    int r = check_ranges(vm, a, 5);
    return r != PW_OK ? r : PW_PARSE_FAILURE;
}

int pw_hc_grpc_stream(pw_vm *vm, const wasm_cell *a)
{
    int r = check_ranges(vm, a, 4);
    return r != PW_OK ? r : PW_PARSE_FAILURE;
}

int pw_hc_grpc_send(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *p;
    if (!pw_mem_read(vm, (uint32_t)a[1], (uint32_t)a[2], &p))
        return PW_INVALID_MEMORY_ACCESS;
    return PW_NOT_FOUND;
}

int pw_hc_grpc_cancel(pw_vm *vm, const wasm_cell *a)
{
    (void)vm;
    (void)a;
    return PW_NOT_FOUND;
}

int pw_hc_grpc_close(pw_vm *vm, const wasm_cell *a)
{
    (void)vm;
    (void)a;
    return PW_NOT_FOUND;
}

int pw_hc_call_foreign_function(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *name, *args;
    uint32_t name_len = (uint32_t)a[1];
    if (!pw_mem_read(vm, (uint32_t)a[0], name_len, &name) ||
        !pw_mem_read(vm, (uint32_t)a[2], (uint32_t)a[3], &args))
        return PW_INVALID_MEMORY_ACCESS;
    if (name_len == 17 && memcmp(name, "clear_route_cache", 17) == 0) {
        if ((uint32_t)a[4] == 0)
            return PW_OK; /* the caller wants no result */
        return pw_return_bytes(vm, NULL, 0, (uint32_t)a[4], (uint32_t)a[5]);
    }
    return PW_NOT_FOUND;
}
