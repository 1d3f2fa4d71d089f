/*
 * hc_shared.c - the shared data and shared queue hostcalls (§3.10, §3.11 of
 * the reference) on top of shared.c. The namespace is the caller's vm_id.
 *
 * Out-pointers are checked (by writing a zero) before anything with a side
 * effect happens, so a bad pointer never costs a dequeued item or moves a
 * queue's ownership: the call then returns PW_INVALID_MEMORY_ACCESS and
 * changes nothing.
 */
#include "abi/internal.h"

#include <stdlib.h>
#include <string.h>

/* proxy_get_shared_data(key_ptr, key_len, ret_val_ptr_ptr, ret_val_size_ptr, ret_cas_ptr) */
int pw_hc_get_shared_data(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *key;
    uint32_t key_len = (uint32_t)a[1];
    if (!pw_mem_read(vm, (uint32_t)a[0], key_len, &key))
        return PW_INVALID_MEMORY_ACCESS;
    if (!pw_mem_write_u32(vm, (uint32_t)a[2], 0) || !pw_mem_write_u32(vm, (uint32_t)a[3], 0) ||
        !pw_mem_write_u32(vm, (uint32_t)a[4], 0))
        return PW_INVALID_MEMORY_ACCESS;
    wg_buf value = {0};
    uint32_t cas = 0;
    int r = pw_shared_get(vm->vm_id, key, key_len, &value, &cas);
    if (r == PW_OK) {
        r = pw_return_bytes(vm, value.data, value.len, (uint32_t)a[2], (uint32_t)a[3]);
        if (r == PW_OK && !pw_mem_write_u32(vm, (uint32_t)a[4], cas))
            r = PW_INVALID_MEMORY_ACCESS;
    }
    wg_buf_free(&value);
    return r;
}

/* proxy_set_shared_data(key_ptr, key_len, val_ptr, val_len, cas) */
int pw_hc_set_shared_data(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *key, *val;
    uint32_t key_len = (uint32_t)a[1], val_len = (uint32_t)a[3];
    if (!pw_mem_read(vm, (uint32_t)a[0], key_len, &key) ||
        !pw_mem_read(vm, (uint32_t)a[2], val_len, &val))
        return PW_INVALID_MEMORY_ACCESS;
    return pw_shared_set(vm->vm_id, key, key_len, val, val_len, (uint32_t)a[4]);
}

/* proxy_register_shared_queue(name_ptr, name_len, ret_id_ptr) */
int pw_hc_register_shared_queue(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *name;
    uint32_t name_len = (uint32_t)a[1];
    if (!pw_mem_read(vm, (uint32_t)a[0], name_len, &name) ||
        !pw_mem_write_u32(vm, (uint32_t)a[2], 0))
        return PW_INVALID_MEMORY_ACCESS;
    uint32_t id = 0;
    pw_status st =
        pw_queue_register(vm->vm_id, name, name_len, vm->cfg.start_check ? NULL : vm, &id);
    if (st != PW_OK)
        return st;
    return pw_mem_write_u32(vm, (uint32_t)a[2], id) ? PW_OK : PW_INVALID_MEMORY_ACCESS;
}

/* proxy_resolve_shared_queue(vm_id_ptr, vm_id_len, name_ptr, name_len, ret_id_ptr) */
int pw_hc_resolve_shared_queue(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *vm_id, *name;
    uint32_t vm_id_len = (uint32_t)a[1], name_len = (uint32_t)a[3];
    if (!pw_mem_read(vm, (uint32_t)a[0], vm_id_len, &vm_id) ||
        !pw_mem_read(vm, (uint32_t)a[2], name_len, &name) ||
        !pw_mem_write_u32(vm, (uint32_t)a[4], 0))
        return PW_INVALID_MEMORY_ACCESS;
    uint32_t id = 0;
    pw_status st;
    if (vm_id_len == 0) {
        st = pw_queue_resolve(vm->vm_id, name, name_len, &id);
    } else if (memchr(vm_id, 0, vm_id_len)) {
        st = PW_NOT_FOUND; /* vm_ids are C strings: no VM has this one */
    } else {
        char *copy = malloc((size_t)vm_id_len + 1);
        if (!copy)
            return PW_INTERNAL_FAILURE;
        memcpy(copy, vm_id, vm_id_len);
        copy[vm_id_len] = 0;
        st = pw_queue_resolve(copy, name, name_len, &id);
        free(copy);
    }
    if (st != PW_OK)
        return st;
    return pw_mem_write_u32(vm, (uint32_t)a[4], id) ? PW_OK : PW_INVALID_MEMORY_ACCESS;
}

/* proxy_enqueue_shared_queue(id, val_ptr, val_len) */
int pw_hc_enqueue_shared_queue(pw_vm *vm, const wasm_cell *a)
{
    const uint8_t *val;
    uint32_t val_len = (uint32_t)a[2];
    if (!pw_mem_read(vm, (uint32_t)a[1], val_len, &val))
        return PW_INVALID_MEMORY_ACCESS;
    return pw_queue_enqueue((uint32_t)a[0], val, val_len);
}

/* proxy_dequeue_shared_queue(id, ret_val_ptr_ptr, ret_val_size_ptr) */
int pw_hc_dequeue_shared_queue(pw_vm *vm, const wasm_cell *a)
{
    if (!pw_mem_write_u32(vm, (uint32_t)a[1], 0) || !pw_mem_write_u32(vm, (uint32_t)a[2], 0))
        return PW_INVALID_MEMORY_ACCESS;
    wg_buf value = {0};
    int r = pw_queue_dequeue((uint32_t)a[0], &value);
    if (r == PW_OK)
        r = pw_return_bytes(vm, value.data, value.len, (uint32_t)a[1], (uint32_t)a[2]);
    wg_buf_free(&value);
    return r;
}
