/* The metric hostcalls (src/abi/hc_metrics.c) and the shared data / queue
 * hostcalls that need no guest allocator (src/abi/hc_shared.c), called
 * directly on a fake VM that has a wasm memory but no module. */
#include "abi/internal.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    pw_vm vm;
    wasm_store *store;
} fixture;

enum { NAME = 64, OUT = 16, BAD = 0x7ffffff0 };

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    wasm_store_config sc = {0};
    f->store = wasm_store_new(&sc);
    assert_non_null(f->store);
    wasm_error err;
    f->vm.memory = wasm_memory_new(f->store, (wasm_limits){1, 1, true}, &err);
    assert_non_null(f->vm.memory);
    f->vm.name = "metrics-plugin";
    f->vm.vm_id = "metrics-vm";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pw_queue_forget_owner(&f->vm);
    pw_shared_shutdown();
    free(f->vm.metrics);
    wasm_store_free(f->store);
    free(f);
    return 0;
}

static void put(fixture *f, uint32_t at, const char *s)
{
    assert_true(wasm_memory_write(f->vm.memory, at, s, strlen(s)));
}

static uint32_t u32_at(fixture *f, uint32_t at)
{
    const uint8_t *p = wasm_memory_ptr(f->vm.memory, at, 4);
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64_at(fixture *f, uint32_t at)
{
    const uint8_t *p = wasm_memory_ptr(f->vm.memory, at, 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int define(fixture *f, uint32_t type, const char *name, uint32_t *id)
{
    put(f, NAME, name);
    wasm_cell a[4] = {type, NAME, strlen(name), OUT};
    int r = pw_hc_define_metric(&f->vm, a);
    *id = u32_at(f, OUT);
    return r;
}

static int increment(fixture *f, uint32_t id, int64_t delta)
{
    wasm_cell a[2] = {id, (uint64_t)delta};
    return pw_hc_increment_metric(&f->vm, a);
}

static int record(fixture *f, uint32_t id, int64_t v)
{
    wasm_cell a[2] = {id, (uint64_t)v};
    return pw_hc_record_metric(&f->vm, a);
}

static int get(fixture *f, uint32_t id, uint64_t *v)
{
    wasm_cell a[2] = {id, OUT};
    int r = pw_hc_get_metric(&f->vm, a);
    *v = u64_at(f, OUT);
    return r;
}

static void test_ids(void **state)
{
    fixture *f = *state;
    uint32_t c1, c2, g1, h1, c3;
    assert_int_equal(define(f, 0, "test_abi.ids.c1", &c1), PW_OK);
    assert_int_equal(define(f, 1, "test_abi.ids.g1", &g1), PW_OK);
    assert_int_equal(define(f, 0, "test_abi.ids.c2", &c2), PW_OK);
    assert_int_equal(define(f, 2, "test_abi.ids.h1", &h1), PW_OK);
    assert_int_equal(define(f, 0, "test_abi.ids.c1", &c3), PW_OK);
    assert_int_equal(c1, 4);
    assert_int_equal(c2, 8);
    assert_int_equal(c3, 12);
    assert_int_equal(g1, 5);
    assert_int_equal(h1, 6);
    /* The same name: a new id for the same metric. */
    assert_int_equal(increment(f, c1, 2), PW_OK);
    assert_int_equal(increment(f, c3, 3), PW_OK);
    uint64_t v;
    assert_int_equal(get(f, c1, &v), PW_OK);
    assert_int_equal(v, 5);
    assert_int_equal(get(f, c3, &v), PW_OK);
    assert_int_equal(v, 5);
    /* In the global registry under exactly that name. */
    wg_metric *m = wg_stats_metric(wg_stats_global(), WG_METRIC_COUNTER, "test_abi.ids.c1", NULL,
                                   NULL);
    assert_non_null(m);
    assert_int_equal(wg_metric_value(m), 5);
    wg_buf text = {0};
    assert_true(wg_stats_write_prometheus(wg_stats_global(), &text));
    assert_true(wg_buf_append(&text, "", 1));
    assert_non_null(strstr((const char *)text.data,
                           "# HELP test_abi_ids_c1 Defined by plugin metrics-plugin"));
    wg_buf_free(&text);
}

static void test_errors(void **state)
{
    fixture *f = *state;
    uint32_t id, c;
    uint64_t v;
    assert_int_equal(define(f, 3, "test_abi.err.x", &id), PW_BAD_ARGUMENT);
    assert_int_equal(define(f, 0, "test_abi.err.c", &c), PW_OK);
    /* The name exists with another type. */
    assert_int_equal(define(f, 1, "test_abi.err.c", &id), PW_BAD_ARGUMENT);
    wasm_cell a[4] = {0, BAD, 4, OUT};
    assert_int_equal(pw_hc_define_metric(&f->vm, a), PW_INVALID_MEMORY_ACCESS);
    wasm_cell b[4] = {0, NAME, 4, BAD};
    assert_int_equal(pw_hc_define_metric(&f->vm, b), PW_INVALID_MEMORY_ACCESS);
    wasm_cell e[4] = {0, NAME, 0, OUT};
    assert_int_equal(pw_hc_define_metric(&f->vm, e), PW_BAD_ARGUMENT);

    /* Unknown ids. */
    assert_int_equal(increment(f, 0, 1), PW_NOT_FOUND);
    assert_int_equal(increment(f, 5, 1), PW_NOT_FOUND);
    assert_int_equal(increment(f, 8, 1), PW_NOT_FOUND);
    assert_int_equal(increment(f, 7, 1), PW_NOT_FOUND);
    assert_int_equal(record(f, 1000, 1), PW_NOT_FOUND);
    assert_int_equal(get(f, 0xfffffffc, &v), PW_NOT_FOUND);
    wasm_cell g[2] = {c, BAD};
    assert_int_equal(pw_hc_get_metric(&f->vm, g), PW_INVALID_MEMORY_ACCESS);
}

static void test_semantics(void **state)
{
    fixture *f = *state;
    uint32_t c, g, h;
    uint64_t v;
    assert_int_equal(define(f, 0, "test_abi.sem.c", &c), PW_OK);
    assert_int_equal(define(f, 1, "test_abi.sem.g", &g), PW_OK);
    assert_int_equal(define(f, 2, "test_abi.sem.h", &h), PW_OK);

    assert_int_equal(increment(f, c, 0), PW_BAD_ARGUMENT);
    assert_int_equal(increment(f, c, -1), PW_BAD_ARGUMENT);
    assert_int_equal(increment(f, c, 10), PW_OK);
    assert_int_equal(record(f, c, 5), PW_OK); /* a counter adds */
    assert_int_equal(get(f, c, &v), PW_OK);
    assert_int_equal(v, 15);

    assert_int_equal(increment(f, g, 10), PW_OK);
    assert_int_equal(increment(f, g, -25), PW_OK);
    assert_int_equal(get(f, g, &v), PW_OK);
    assert_int_equal((int64_t)v, -15);
    assert_int_equal(record(f, g, 7), PW_OK); /* a gauge is set */
    assert_int_equal(get(f, g, &v), PW_OK);
    assert_int_equal(v, 7);

    assert_int_equal(increment(f, h, 1), PW_BAD_ARGUMENT);
    assert_int_equal(record(f, h, 30), PW_OK);
    assert_int_equal(record(f, h, 70), PW_OK);
    assert_int_equal(get(f, h, &v), PW_BAD_ARGUMENT);
    wg_metric *m = wg_stats_metric(wg_stats_global(), WG_METRIC_HISTOGRAM, "test_abi.sem.h", NULL,
                                   NULL);
    assert_int_equal(wg_metric_value(m), 2);
    assert_int_equal(wg_metric_sum(m), 100);
}

static void test_shared_hostcalls(void **state)
{
    fixture *f = *state;
    put(f, NAME, "key");
    put(f, NAME + 8, "value");
    wasm_cell set[5] = {NAME, 3, NAME + 8, 5, 0};
    assert_int_equal(pw_hc_set_shared_data(&f->vm, set), PW_OK);
    wasm_cell bad[5] = {BAD, 3, NAME + 8, 5, 0};
    assert_int_equal(pw_hc_set_shared_data(&f->vm, bad), PW_INVALID_MEMORY_ACCESS);
    wasm_cell mismatch[5] = {NAME, 3, NAME + 8, 5, 999};
    assert_int_equal(pw_hc_set_shared_data(&f->vm, mismatch), PW_CAS_MISMATCH);
    /* Written in the caller's namespace. */
    wg_buf v = {0};
    uint32_t cas;
    assert_int_equal(pw_shared_get("metrics-vm", (const uint8_t *)"key", 3, &v, &cas), PW_OK);
    assert_int_equal(v.len, 5);
    wg_buf_free(&v);
    wasm_cell missing[5] = {NAME + 8, 5, OUT, OUT + 4, OUT + 8};
    assert_int_equal(pw_hc_get_shared_data(&f->vm, missing), PW_NOT_FOUND);

    /* Queues. */
    put(f, NAME, "queue");
    wasm_cell reg[3] = {NAME, 5, OUT};
    assert_int_equal(pw_hc_register_shared_queue(&f->vm, reg), PW_OK);
    uint32_t id = u32_at(f, OUT);
    assert_int_not_equal(id, 0);
    wasm_cell reg_bad[3] = {NAME, 5, BAD};
    assert_int_equal(pw_hc_register_shared_queue(&f->vm, reg_bad), PW_INVALID_MEMORY_ACCESS);

    put(f, NAME + 8, "metrics-vm");
    wasm_cell res_own[5] = {0, 0, NAME, 5, OUT + 4};
    assert_int_equal(pw_hc_resolve_shared_queue(&f->vm, res_own), PW_OK);
    assert_int_equal(u32_at(f, OUT + 4), id);
    wasm_cell res_named[5] = {NAME + 8, 10, NAME, 5, OUT + 8};
    assert_int_equal(pw_hc_resolve_shared_queue(&f->vm, res_named), PW_OK);
    assert_int_equal(u32_at(f, OUT + 8), id);
    wasm_cell res_other[5] = {NAME + 8, 7, NAME, 5, OUT + 8};
    assert_int_equal(pw_hc_resolve_shared_queue(&f->vm, res_other), PW_NOT_FOUND);

    wasm_cell deq[3] = {id, OUT, OUT + 4};
    assert_int_equal(pw_hc_dequeue_shared_queue(&f->vm, deq), PW_EMPTY);
    wasm_cell enq[3] = {id, NAME, 5};
    assert_int_equal(pw_hc_enqueue_shared_queue(&f->vm, enq), PW_OK);
    wasm_cell enq_unknown[3] = {id + 100, NAME, 5};
    assert_int_equal(pw_hc_enqueue_shared_queue(&f->vm, enq_unknown), PW_NOT_FOUND);
    /* A bad out-pointer does not cost the item. */
    wasm_cell deq_bad[3] = {id, BAD, OUT + 4};
    assert_int_equal(pw_hc_dequeue_shared_queue(&f->vm, deq_bad), PW_INVALID_MEMORY_ACCESS);
    assert_int_equal(pw_queue_dequeue(id, &v), PW_OK);
    assert_int_equal(v.len, 5);
    wg_buf_free(&v);
    uint32_t ids[4];
    assert_int_equal(pw_queue_take_ready(&f->vm, ids, 4), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_hostcalls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
