/*
 * shared - shared data (with CAS) and shared queues (ABI 0.2.1).
 *
 * on_configure (root), all checked:
 *   - get_shared_data("shared_test_never_set") -> NOT_FOUND
 *   - on a fresh random key "cas_probe_<hex>":
 *       get -> NOT_FOUND; set("a", cas=12345) on the missing key -> OK;
 *       get -> "a" with cas1 != 0; set("b", cas1) -> OK; get -> "b", cas2 != cas1;
 *       set("c", stale cas1) -> CAS_MISMATCH; get -> still "b";
 *       set("d", cas 0) -> OK (unconditional); set("", 0) -> OK, get -> OK, empty
 *   - register_shared_queue("wasmgate_requests") -> OK, id != 0; registering
 *     again -> the same id; resolve("", name) and resolve(<plugin_vm_id>, name)
 *     -> the same id; resolve("", "no-such-queue-wasmgate") -> NOT_FOUND;
 *     draining the queue ends with EMPTY; enqueue/dequeue on an unknown id
 *     -> NOT_FOUND
 *   Logs INFO "shared configured queue=<id>".
 * on_request_headers: increments shared "counter" (decimal text) with a
 *   get/set-with-cas retry loop (CAS_MISMATCH -> retry); logs INFO
 *   "shared counter=<n>"; enqueues the request :path -> OK; logs INFO
 *   "shared enqueued <path>".
 * on_response_headers: adds x-shared-counter: <n> (the value this request set).
 * on_queue_ready(root, id): logs INFO "cb on_queue_ready <root> <id>"; id must
 *   be the registered one; dequeues until EMPTY, logging INFO
 *   "shared dequeued <item>" per item; the final status must be EMPTY.
 */
#define _DEFAULT_SOURCE /* clock_gettime, getentropy under -std=c11 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#include <unistd.h>
#define PT_PLUGIN "shared"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

#define QUEUE_NAME "wasmgate_requests"
static uint32_t queue_id;

typedef struct {
    unsigned long long counter;
} sh_state_t;

/* get key and check its value (and return its cas) */
static uint32_t expect_shared(const char *key, const char *want)
{
    char *d = NULL;
    size_t l = 0;
    uint32_t cas = 0;
    if (PT_EXPECT(pw_get_shared_data(key, &d, &l, &cas), PW_OK))
        PT_CHECK(l == strlen(want) && (l == 0 || memcmp(d, want, l) == 0),
                 "shared %s == '%s' (len %zu)", key, want, l);
    free(d);
    return cas;
}

static void cas_checks(void)
{
    char *d = NULL;
    size_t l = 0;
    uint32_t cas = 0;
    PT_EXPECT(pw_get_shared_data("shared_test_never_set", &d, &l, &cas), PW_NOT_FOUND);

    unsigned char rnd[8];
    char key[64];
    if (getentropy(rnd, sizeof rnd) != 0)
        PT_FAIL("getentropy failed");
    snprintf(key, sizeof key, "cas_probe_%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);

    PT_EXPECT(pw_get_shared_data(key, &d, &l, &cas), PW_NOT_FOUND);
    PT_EXPECT(pw_set_shared_data(key, "a", 1, 12345), PW_OK);
    uint32_t cas1 = expect_shared(key, "a");
    PT_CHECK(cas1 != 0, "cas after first set is non-zero (%u)", cas1);
    PT_EXPECT(pw_set_shared_data(key, "b", 1, cas1), PW_OK);
    uint32_t cas2 = expect_shared(key, "b");
    PT_CHECK(cas2 != cas1 && cas2 != 0, "cas changes on set (%u -> %u)", cas1, cas2);
    PT_EXPECT(pw_set_shared_data(key, "c", 1, cas1), PW_CAS_MISMATCH);
    expect_shared(key, "b");
    PT_EXPECT(pw_set_shared_data(key, "d", 1, 0), PW_OK);
    expect_shared(key, "d");
    PT_EXPECT(pw_set_shared_data(key, "", 0, 0), PW_OK);
    expect_shared(key, "");
    pw_log(PW_LOG_INFO, "shared cas checks done key=%s", key);
}

static void drain(const char *when)
{
    pw_status_t st;
    char *d;
    size_t l;
    int n = 0;
    while ((st = pw_dequeue_shared_queue(queue_id, &d, &l)) == PW_OK && n < 100000) {
        char *p = pt_printable(d, l);
        pw_log(PW_LOG_INFO, "shared dequeued %s", p ? p : "");
        free(p);
        free(d);
        n++;
    }
    PT_CHECK(st == PW_EMPTY, "%s: dequeue ends with EMPTY (got %u %s)", when, st,
             pw_status_name(st));
}

static void queue_checks(void)
{
    uint32_t id2 = 0, id3 = 0;
    PT_EXPECT(pw_register_shared_queue(QUEUE_NAME, &queue_id), PW_OK);
    PT_CHECK(queue_id != 0, "queue id is non-zero");
    PT_EXPECT(pw_register_shared_queue(QUEUE_NAME, &id2), PW_OK);
    PT_CHECK(id2 == queue_id, "re-register gives the same id (%u, %u)", queue_id, id2);
    PT_EXPECT(pw_resolve_shared_queue("", QUEUE_NAME, &id3), PW_OK);
    PT_CHECK(id3 == queue_id, "resolve(\"\") gives the same id (%u, %u)", queue_id, id3);
    char *vm_id = NULL;
    if (PT_EXPECT(pw_get_property_str(PW_PATH("plugin_vm_id"), &vm_id), PW_OK)) {
        id3 = 0;
        PT_EXPECT(pw_resolve_shared_queue(vm_id, QUEUE_NAME, &id3), PW_OK);
        PT_CHECK(id3 == queue_id, "resolve(vm_id '%s') gives the same id (%u, %u)", vm_id,
                 queue_id, id3);
    }
    free(vm_id);
    PT_EXPECT(pw_resolve_shared_queue("", "no-such-queue-wasmgate", &id3), PW_NOT_FOUND);
    drain("on_configure");
    char *d = NULL;
    size_t l = 0;
    PT_EXPECT(pw_enqueue_shared_queue(0xFFFFFFF0u, "x", 1), PW_NOT_FOUND);
    PT_EXPECT(pw_dequeue_shared_queue(0xFFFFFFF0u, &d, &l), PW_NOT_FOUND);
    free(d);
}

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    cas_checks();
    queue_checks();
    pw_log(PW_LOG_INFO, "shared configured queue=%u", queue_id);
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    unsigned long long value = 0;
    int done = 0;
    for (int attempt = 0; attempt < 100 && !done; attempt++) {
        char *d = NULL;
        size_t l = 0;
        uint32_t cas = 0;
        pw_status_t st = pw_get_shared_data("counter", &d, &l, &cas);
        value = 0;
        if (st == PW_OK) {
            for (size_t i = 0; i < l && d[i] >= '0' && d[i] <= '9'; i++)
                value = value * 10 + (unsigned long long)(d[i] - '0');
        } else if (st != PW_NOT_FOUND) {
            PT_FAIL("get counter returned %u (%s)", st, pw_status_name(st));
            free(d);
            break;
        }
        free(d);
        char buf[32];
        int bl = snprintf(buf, sizeof buf, "%llu", value + 1);
        st = pw_set_shared_data("counter", buf, (size_t)bl, cas);
        if (st == PW_OK) {
            done = 1;
            value++;
        } else if (st != PW_CAS_MISMATCH) {
            PT_FAIL("set counter returned %u (%s)", st, pw_status_name(st));
            break;
        }
    }
    PT_CHECK(done, "counter incremented");
    sh_state_t *s = (sh_state_t *)pt_ctx_get_or_new(ctx, sizeof(sh_state_t));
    s->counter = value;
    pw_log(PW_LOG_INFO, "shared counter=%llu", value);

    char *path = NULL;
    if (PT_EXPECT(pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path), PW_OK)) {
        PT_EXPECT(pw_enqueue_shared_queue(queue_id, path, strlen(path)), PW_OK);
        pw_log(PW_LOG_INFO, "shared enqueued %s", path);
    }
    free(path);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    sh_state_t *s = (sh_state_t *)pt_ctx_get(ctx);
    if (s) {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", s->counter);
        PT_EXPECT(pw_add_header(PW_MAP_HTTP_RESPONSE_HEADERS, "x-shared-counter", buf), PW_OK);
    }
    return PW_CONTINUE;
}

void proxy_on_queue_ready(uint32_t root, uint32_t id)
{
    pw_log(PW_LOG_INFO, "cb on_queue_ready %u %u", root, id);
    PT_CHECK(id == queue_id, "on_queue_ready for our queue (%u == %u)", id, queue_id);
    drain("on_queue_ready");
}

void proxy_on_delete(uint32_t ctx)
{
    pt_ctx_delete(ctx);
}
