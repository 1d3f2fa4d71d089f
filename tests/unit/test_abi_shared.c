/* Process-wide shared data and shared queues (src/abi/shared.c), driven
 * directly with fake VMs whose host records queue_ready calls. */
#include "abi/internal.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fake VMs ----------------------------------------------------------------------- */

typedef struct fake_host {
    atomic_int calls;
    pw_vm *last;
} fake_host;

static void fake_queue_ready(void *host, pw_vm *vm)
{
    fake_host *h = host;
    h->last = vm;
    atomic_fetch_add(&h->calls, 1);
}

static const pw_host_ops fake_ops = {.queue_ready = fake_queue_ready};

static pw_vm *fake_vm(fake_host *h)
{
    pw_vm *vm = calloc(1, sizeof *vm);
    assert_non_null(vm);
    vm->ops = &fake_ops;
    vm->host = h;
    return vm;
}

static const uint8_t *B(const char *s) { return (const uint8_t *)s; }

static int teardown(void **state)
{
    (void)state;
    pw_shared_shutdown();
    return 0;
}

/* Takes every pending notification of vm; checks they are all for `id`. */
static uint32_t take_all(pw_vm *vm, uint32_t id)
{
    uint32_t ids[64], n, total = 0;
    while ((n = pw_queue_take_ready(vm, ids, 64)) > 0) {
        for (uint32_t i = 0; i < n; i++)
            assert_int_equal(ids[i], id);
        total += n;
    }
    return total;
}

static void expect_item(uint32_t id, const char *want)
{
    wg_buf out = {0};
    assert_int_equal(pw_queue_dequeue(id, &out), PW_OK);
    assert_int_equal(out.len, strlen(want));
    if (out.len)
        assert_memory_equal(out.data, want, out.len);
    wg_buf_free(&out);
}

/* ---- shared data --------------------------------------------------------------------- */

static void test_cas_rules(void **state)
{
    (void)state;
    wg_buf v = {0};
    uint32_t cas = 0, cas2 = 0;

    assert_int_equal(pw_shared_get("vm", B("k"), 1, &v, &cas), PW_NOT_FOUND);
    /* The counter starts at 1. */
    assert_int_equal(pw_shared_set("vm", B("k"), 1, B("one"), 3, 0), PW_OK);
    assert_int_equal(pw_shared_get("vm", B("k"), 1, &v, &cas), PW_OK);
    assert_int_equal(cas, 1);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.data, "one", 3);

    /* A different CAS on an existing key: refused, value unchanged. */
    assert_int_equal(pw_shared_set("vm", B("k"), 1, B("two"), 3, cas + 1000), PW_CAS_MISMATCH);
    assert_int_equal(pw_shared_get("vm", B("k"), 1, &v, &cas2), PW_OK);
    assert_int_equal(cas2, cas);
    assert_memory_equal(v.data, "one", 3);

    /* The right CAS: a new CAS. */
    assert_int_equal(pw_shared_set("vm", B("k"), 1, B("two"), 3, cas), PW_OK);
    assert_int_equal(pw_shared_get("vm", B("k"), 1, &v, &cas2), PW_OK);
    assert_int_not_equal(cas2, cas);
    assert_int_not_equal(cas2, 0);
    assert_memory_equal(v.data, "two", 3);
    /* The old one is stale now. */
    assert_int_equal(pw_shared_set("vm", B("k"), 1, B("three"), 5, cas), PW_CAS_MISMATCH);
    /* CAS 0 always writes. */
    assert_int_equal(pw_shared_set("vm", B("k"), 1, B("four"), 4, 0), PW_OK);
    assert_int_equal(pw_shared_get("vm", B("k"), 1, &v, &cas), PW_OK);
    assert_memory_equal(v.data, "four", 4);

    /* CAS != 0 on a missing key succeeds. */
    assert_int_equal(pw_shared_set("vm", B("new"), 3, B("x"), 1, 12345), PW_OK);
    assert_int_equal(pw_shared_get("vm", B("new"), 3, &v, &cas), PW_OK);
    assert_int_not_equal(cas, 12345);

    /* An empty value (the SDKs' "remove") is a value. */
    assert_int_equal(pw_shared_set("vm", B("k"), 1, NULL, 0, 0), PW_OK);
    assert_int_equal(pw_shared_get("vm", B("k"), 1, &v, &cas), PW_OK);
    assert_int_equal(v.len, 0);
    /* The empty key is a key. */
    assert_int_equal(pw_shared_set("vm", NULL, 0, B("e"), 1, 0), PW_OK);
    assert_int_equal(pw_shared_get("vm", NULL, 0, &v, &cas), PW_OK);
    assert_int_equal(v.len, 1);
    wg_buf_free(&v);
}

static void test_cas_counter_is_global(void **state)
{
    (void)state;
    uint32_t c1, c2, c3;
    wg_buf v = {0};
    assert_int_equal(pw_shared_set("a", B("x"), 1, B("1"), 1, 0), PW_OK);
    assert_int_equal(pw_shared_set("b", B("y"), 1, B("1"), 1, 0), PW_OK);
    assert_int_equal(pw_shared_set("a", B("z"), 1, B("1"), 1, 0), PW_OK);
    assert_int_equal(pw_shared_get("a", B("x"), 1, &v, &c1), PW_OK);
    assert_int_equal(pw_shared_get("b", B("y"), 1, &v, &c2), PW_OK);
    assert_int_equal(pw_shared_get("a", B("z"), 1, &v, &c3), PW_OK);
    assert_int_equal(c1, 1);
    assert_int_equal(c2, 2);
    assert_int_equal(c3, 3);
    wg_buf_free(&v);
}

static void test_namespaces(void **state)
{
    (void)state;
    wg_buf v = {0};
    uint32_t cas;
    assert_int_equal(pw_shared_set("a", B("key"), 3, B("A"), 1, 0), PW_OK);
    assert_int_equal(pw_shared_set("b", B("key"), 3, B("B"), 1, 0), PW_OK);
    assert_int_equal(pw_shared_set("", B("key"), 3, B("E"), 1, 0), PW_OK);
    assert_int_equal(pw_shared_get("a", B("key"), 3, &v, &cas), PW_OK);
    assert_memory_equal(v.data, "A", 1);
    assert_int_equal(pw_shared_get("b", B("key"), 3, &v, &cas), PW_OK);
    assert_memory_equal(v.data, "B", 1);
    assert_int_equal(pw_shared_get("", B("key"), 3, &v, &cas), PW_OK);
    assert_memory_equal(v.data, "E", 1);
    /* NULL is the empty vm_id. */
    assert_int_equal(pw_shared_get(NULL, B("key"), 3, &v, &cas), PW_OK);
    assert_memory_equal(v.data, "E", 1);
    assert_int_equal(pw_shared_get("c", B("key"), 3, &v, &cas), PW_NOT_FOUND);

    /* The namespace/key boundary is not ambiguous. */
    assert_int_equal(pw_shared_set("ab", B("c"), 1, B("1"), 1, 0), PW_OK);
    assert_int_equal(pw_shared_get("a", B("bc"), 2, &v, &cas), PW_NOT_FOUND);
    assert_int_equal(pw_shared_get("abc", NULL, 0, &v, &cas), PW_NOT_FOUND);
    /* Keys are bytes: NUL and length matter. */
    assert_int_equal(pw_shared_set("a", B("k\0x"), 3, B("nul"), 3, 0), PW_OK);
    assert_int_equal(pw_shared_get("a", B("k"), 1, &v, &cas), PW_NOT_FOUND);
    assert_int_equal(pw_shared_get("a", B("k\0x"), 3, &v, &cas), PW_OK);
    assert_memory_equal(v.data, "nul", 3);
    wg_buf_free(&v);
}

static void test_many_keys(void **state)
{
    (void)state;
    char key[32], val[32];
    enum { N = 20000 };
    for (int i = 0; i < N; i++) {
        int kl = snprintf(key, sizeof key, "key-%d", i);
        int vl = snprintf(val, sizeof val, "value-%d", i * 7);
        assert_int_equal(pw_shared_set(i % 2 ? "odd" : "even", B(key), (size_t)kl, B(val),
                                       (size_t)vl, 0),
                         PW_OK);
    }
    wg_buf v = {0};
    uint32_t cas;
    for (int i = 0; i < N; i++) {
        int kl = snprintf(key, sizeof key, "key-%d", i);
        int vl = snprintf(val, sizeof val, "value-%d", i * 7);
        assert_int_equal(pw_shared_get(i % 2 ? "odd" : "even", B(key), (size_t)kl, &v, &cas),
                         PW_OK);
        assert_int_equal(cas, (uint32_t)i + 1);
        assert_int_equal(v.len, (size_t)vl);
        assert_memory_equal(v.data, val, v.len);
        assert_int_equal(pw_shared_get(i % 2 ? "even" : "odd", B(key), (size_t)kl, &v, &cas),
                         PW_NOT_FOUND);
    }
    wg_buf_free(&v);
}

/* ---- queues ---------------------------------------------------------------------------- */

static void test_queue_register_resolve(void **state)
{
    (void)state;
    fake_host h = {0};
    pw_vm *vm = fake_vm(&h);
    uint32_t id = 0, id2 = 0, id3 = 0, r = 0;
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm, &id), PW_OK);
    assert_int_not_equal(id, 0);
    assert_int_equal(pw_queue_resolve("v", B("q"), 1, &r), PW_OK);
    assert_int_equal(r, id);
    assert_int_equal(pw_queue_resolve("w", B("q"), 1, &r), PW_NOT_FOUND);
    assert_int_equal(pw_queue_resolve("v", B("other"), 5, &r), PW_NOT_FOUND);
    assert_int_equal(pw_queue_resolve("v", B("q\0"), 2, &r), PW_NOT_FOUND);

    assert_int_equal(pw_queue_register("v", B("q2"), 2, vm, &id2), PW_OK);
    assert_int_equal(pw_queue_register("w", B("q"), 1, vm, &id3), PW_OK);
    assert_int_not_equal(id2, 0);
    assert_int_not_equal(id3, 0);
    assert_int_not_equal(id2, id);
    assert_int_not_equal(id3, id);
    assert_int_not_equal(id3, id2);
    assert_int_equal(pw_queue_resolve("w", B("q"), 1, &r), PW_OK);
    assert_int_equal(r, id3);
    /* Registering again: the same id. */
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm, &r), PW_OK);
    assert_int_equal(r, id);
    assert_int_equal(atomic_load(&h.calls), 0);
    pw_queue_forget_owner(vm);
    free(vm);
}

static void test_queue_fifo_and_statuses(void **state)
{
    (void)state;
    uint32_t id = 0;
    wg_buf out = {0};
    assert_int_equal(pw_queue_register("v", B("q"), 1, NULL, &id), PW_OK);
    assert_int_equal(pw_queue_dequeue(id, &out), PW_EMPTY);
    assert_int_equal(pw_queue_dequeue(0, &out), PW_NOT_FOUND);
    assert_int_equal(pw_queue_dequeue(id + 1000, &out), PW_NOT_FOUND);
    assert_int_equal(pw_queue_enqueue(0, B("x"), 1), PW_NOT_FOUND);
    assert_int_equal(pw_queue_enqueue(id + 1000, B("x"), 1), PW_NOT_FOUND);

    assert_int_equal(pw_queue_enqueue(id, B("first"), 5), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("second"), 6), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, NULL, 0), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("a\0b"), 3), PW_OK);
    expect_item(id, "first");
    expect_item(id, "second");
    expect_item(id, "");
    assert_int_equal(pw_queue_dequeue(id, &out), PW_OK);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "a\0b", 3);
    assert_int_equal(pw_queue_dequeue(id, &out), PW_EMPTY);
    wg_buf_free(&out);
}

static void test_one_notification_per_enqueue(void **state)
{
    (void)state;
    fake_host h1 = {0}, h2 = {0};
    pw_vm *vm1 = fake_vm(&h1), *vm2 = fake_vm(&h2);
    uint32_t id = 0, ids[8];
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm1, &id), PW_OK);
    assert_int_equal(pw_queue_take_ready(vm1, ids, 8), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pw_queue_enqueue(id, B("x"), 1), PW_OK);
    assert_int_equal(atomic_load(&h1.calls), 3);
    assert_ptr_equal(h1.last, vm1);
    assert_int_equal(atomic_load(&h2.calls), 0);
    /* Not for another VM. */
    assert_int_equal(pw_queue_take_ready(vm2, ids, 8), 0);
    /* Once per enqueue, respecting max. */
    assert_int_equal(pw_queue_take_ready(vm1, ids, 2), 2);
    assert_int_equal(ids[0], id);
    assert_int_equal(ids[1], id);
    assert_int_equal(pw_queue_take_ready(vm1, ids, 8), 1);
    assert_int_equal(ids[0], id);
    assert_int_equal(pw_queue_take_ready(vm1, ids, 8), 0);
    /* Dequeueing does not consume notifications, nor the reverse. */
    expect_item(id, "x");
    assert_int_equal(pw_queue_enqueue(id, B("y"), 1), PW_OK);
    assert_int_equal(take_all(vm1, id), 1);

    /* Two queues of one VM. */
    uint32_t id2 = 0;
    assert_int_equal(pw_queue_register("v", B("other"), 5, vm1, &id2), PW_OK);
    assert_int_equal(pw_queue_enqueue(id2, B("a"), 1), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("b"), 1), PW_OK);
    assert_int_equal(pw_queue_take_ready(vm1, ids, 8), 2);
    assert_true((ids[0] == id && ids[1] == id2) || (ids[0] == id2 && ids[1] == id));
    /* A registration without an owner (a start check VM) gets the id and
     * leaves the queue with its owner. */
    uint32_t again = 0;
    assert_int_equal(pw_queue_register("v", B("q"), 1, NULL, &again), PW_OK);
    assert_int_equal(again, id);
    int before = atomic_load(&h1.calls);
    assert_int_equal(pw_queue_enqueue(id, B("c"), 1), PW_OK);
    assert_int_equal(atomic_load(&h1.calls), before + 1);
    assert_int_equal(take_all(vm1, id), 1);
    pw_queue_forget_owner(vm1);
    pw_queue_forget_owner(vm2);
    free(vm1);
    free(vm2);
}

static void test_ownership_moves(void **state)
{
    (void)state;
    fake_host h1 = {0}, h2 = {0};
    pw_vm *vm1 = fake_vm(&h1), *vm2 = fake_vm(&h2);
    uint32_t id = 0, again = 0, ids[8];
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm1, &id), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("1"), 1), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("2"), 1), PW_OK);
    assert_int_equal(atomic_load(&h1.calls), 2);

    /* Same id, items kept; the notifications still owed go to vm2, which
     * is told at once. */
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm2, &again), PW_OK);
    assert_int_equal(again, id);
    assert_int_equal(atomic_load(&h2.calls), 1);
    assert_int_equal(pw_queue_take_ready(vm1, ids, 8), 0);
    assert_int_equal(take_all(vm2, id), 2);

    assert_int_equal(pw_queue_enqueue(id, B("3"), 1), PW_OK);
    assert_int_equal(atomic_load(&h1.calls), 2);
    assert_int_equal(atomic_load(&h2.calls), 2);
    assert_int_equal(take_all(vm1, id), 0);
    assert_int_equal(take_all(vm2, id), 1);
    expect_item(id, "1");
    expect_item(id, "2");
    expect_item(id, "3");

    /* Registering again by the owner changes nothing. */
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm2, &again), PW_OK);
    assert_int_equal(atomic_load(&h2.calls), 2);
    pw_queue_forget_owner(vm1);
    pw_queue_forget_owner(vm2);
    free(vm1);
    free(vm2);
}

static void test_forget_owner(void **state)
{
    (void)state;
    fake_host h1 = {0}, h2 = {0};
    pw_vm *vm1 = fake_vm(&h1), *vm2 = fake_vm(&h2);
    uint32_t id = 0, other = 0, ids[8];
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm1, &id), PW_OK);
    assert_int_equal(pw_queue_register("v", B("r"), 1, vm2, &other), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("a"), 1), PW_OK);
    assert_int_equal(pw_queue_enqueue(other, B("o"), 1), PW_OK);
    pw_queue_forget_owner(vm1);
    free(vm1); /* gone: nothing may touch it any more */
    assert_int_equal(pw_queue_take_ready(vm2, ids, 8), 1);
    assert_int_equal(ids[0], other);

    /* The queue stays; enqueues work but notify nobody (§9.19). */
    assert_int_equal(pw_queue_enqueue(id, B("b"), 1), PW_OK);
    assert_int_equal(atomic_load(&h1.calls), 1);
    uint32_t r = 0;
    assert_int_equal(pw_queue_resolve("v", B("q"), 1, &r), PW_OK);
    assert_int_equal(r, id);
    expect_item(id, "a");

    /* A new owner gets the later notifications only. */
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm2, &r), PW_OK);
    assert_int_equal(r, id);
    assert_int_equal(take_all(vm2, id), 0);
    assert_int_equal(pw_queue_enqueue(id, B("c"), 1), PW_OK);
    assert_int_equal(take_all(vm2, id), 1);
    expect_item(id, "b");
    expect_item(id, "c");
    pw_queue_forget_owner(vm2);
    free(vm2);
}

static void test_queue_bound(void **state)
{
    (void)state;
    uint32_t id = 0;
    assert_int_equal(pw_queue_register("v", B("q"), 1, NULL, &id), PW_OK);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(pw_queue_enqueue(id, B("x"), 1), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("y"), 1), PW_INTERNAL_FAILURE);
    expect_item(id, "x");
    assert_int_equal(pw_queue_enqueue(id, B("z"), 1), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("y"), 1), PW_INTERNAL_FAILURE);
}

static void test_shutdown_resets(void **state)
{
    (void)state;
    uint32_t id = 0, r = 0, cas = 0;
    wg_buf v = {0};
    assert_int_equal(pw_shared_set("v", B("k"), 1, B("x"), 1, 0), PW_OK);
    assert_int_equal(pw_queue_register("v", B("q"), 1, NULL, &id), PW_OK);
    assert_int_equal(pw_queue_enqueue(id, B("x"), 1), PW_OK);
    pw_shared_shutdown();
    assert_int_equal(pw_shared_get("v", B("k"), 1, &v, &cas), PW_NOT_FOUND);
    assert_int_equal(pw_queue_resolve("v", B("q"), 1, &r), PW_NOT_FOUND);
    assert_int_equal(pw_queue_dequeue(id, &v), PW_NOT_FOUND);
    wg_buf_free(&v);
}

/* ---- threads ---------------------------------------------------------------------------- */

enum { PRODUCERS = 4, PER_PRODUCER = 2000, CAS_ROUNDS = 500 };

typedef struct producer {
    int index;
    uint32_t queue;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    char item[32];
    for (int i = 0; i < PER_PRODUCER; i++) {
        int n = snprintf(item, sizeof item, "%d:%d", p->index, i);
        if (pw_queue_enqueue(p->queue, B(item), (size_t)n) != PW_OK)
            return (void *)1;
    }
    /* A shared counter incremented with CAS retries. */
    for (int i = 0; i < CAS_ROUNDS; i++) {
        for (;;) {
            wg_buf v = {0};
            uint32_t cas = 0;
            uint64_t count = 0;
            pw_status got = pw_shared_get("v", B("counter"), 7, &v, &cas);
            if (got == PW_OK && v.len == sizeof count)
                memcpy(&count, v.data, sizeof count);
            wg_buf_free(&v);
            if (got != PW_OK || cas == 0)
                return (void *)1; /* created before the threads start */
            count++;
            pw_status st =
                pw_shared_set("v", B("counter"), 7, (const uint8_t *)&count, sizeof count, cas);
            if (st == PW_OK)
                break;
            if (st != PW_CAS_MISMATCH)
                return (void *)1;
        }
    }
    return NULL;
}

typedef struct consumer {
    uint32_t queue;
    int got;
    bool ordered;
} consumer;

static void *consume(void *arg)
{
    consumer *c = arg;
    int next[PRODUCERS] = {0};
    wg_buf v = {0};
    c->ordered = true;
    while (c->got < PRODUCERS * PER_PRODUCER) {
        pw_status st = pw_queue_dequeue(c->queue, &v);
        if (st == PW_EMPTY) {
            sched_yield();
            continue;
        }
        if (st != PW_OK)
            break;
        char item[32];
        size_t n = v.len < sizeof item - 1 ? v.len : sizeof item - 1;
        memcpy(item, v.data, n);
        item[n] = 0;
        int who, seq;
        if (sscanf(item, "%d:%d", &who, &seq) != 2 || who < 0 || who >= PRODUCERS ||
            seq != next[who])
            c->ordered = false;
        else
            next[who]++;
        c->got++;
    }
    wg_buf_free(&v);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    fake_host h = {0};
    pw_vm *vm = fake_vm(&h);
    uint32_t id = 0;
    assert_int_equal(pw_queue_register("v", B("q"), 1, vm, &id), PW_OK);
    /* The counter exists from the start, so that every update is a
     * conditional one (a set with CAS 0 would overwrite unconditionally). */
    uint64_t zero = 0;
    assert_int_equal(pw_shared_set("v", B("counter"), 7, (const uint8_t *)&zero, sizeof zero, 0),
                     PW_OK);

    producer p[PRODUCERS];
    consumer c = {.queue = id};
    pthread_t tp[PRODUCERS], tc;
    assert_int_equal(pthread_create(&tc, NULL, consume, &c), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (producer){i, id};
        assert_int_equal(pthread_create(&tp[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        void *ret;
        assert_int_equal(pthread_join(tp[i], &ret), 0);
        assert_null(ret);
    }
    assert_int_equal(pthread_join(tc, NULL), 0);

    assert_int_equal(c.got, PRODUCERS * PER_PRODUCER);
    assert_true(c.ordered); /* FIFO per producer */
    wg_buf v = {0};
    assert_int_equal(pw_queue_dequeue(id, &v), PW_EMPTY);
    assert_int_equal(atomic_load(&h.calls), PRODUCERS * PER_PRODUCER);
    assert_int_equal(take_all(vm, id), PRODUCERS * PER_PRODUCER);

    uint32_t cas;
    uint64_t count = 0;
    assert_int_equal(pw_shared_get("v", B("counter"), 7, &v, &cas), PW_OK);
    assert_int_equal(v.len, sizeof count);
    memcpy(&count, v.data, sizeof count);
    assert_int_equal(count, PRODUCERS * CAS_ROUNDS);
    wg_buf_free(&v);
    pw_queue_forget_owner(vm);
    free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cas_rules, teardown),
        cmocka_unit_test_teardown(test_cas_counter_is_global, teardown),
        cmocka_unit_test_teardown(test_namespaces, teardown),
        cmocka_unit_test_teardown(test_many_keys, teardown),
        cmocka_unit_test_teardown(test_queue_register_resolve, teardown),
        cmocka_unit_test_teardown(test_queue_fifo_and_statuses, teardown),
        cmocka_unit_test_teardown(test_one_notification_per_enqueue, teardown),
        cmocka_unit_test_teardown(test_ownership_moves, teardown),
        cmocka_unit_test_teardown(test_forget_owner, teardown),
        cmocka_unit_test_teardown(test_queue_bound, teardown),
        cmocka_unit_test_teardown(test_shutdown_resets, teardown),
        cmocka_unit_test_teardown(test_concurrent, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
