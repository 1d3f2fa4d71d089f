/*
 * host_queue - a shared queue between two VMs of one vm_id (ABI 0.2.1), for
 * the C-level host tests (tests/unit/test_abi_host.c).
 *
 * The plugin configuration picks the role:
 *   "consumer"  on_configure registers queue "host_queue_q" -> OK; logs INFO
 *               "host_queue registered id=<id>". on_queue_ready(root, id)
 *               logs INFO "host_queue ready <root> <id>", dequeues until
 *               EMPTY logging INFO "host_queue dequeued <item>" per item, then
 *               INFO "host_queue drained status=<final status>".
 *   "producer"  on_configure resolves ("", "host_queue_q") and logs INFO
 *               "host_queue resolved id=<id> status=<status>".
 *               on_request_headers enqueues the request :path and logs INFO
 *               "host_queue enqueued <path> status=<status>".
 * Unexpected statuses are reported as ASSERT FAILED.
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "host_queue"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

#define QUEUE_NAME "host_queue_q"

static uint32_t queue_id;
static int consumer;

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    char *role = pt_plugin_config_value("role");
    consumer = role && strcmp(role, "consumer") == 0;
    free(role);
    if (consumer) {
        PT_EXPECT(pw_register_shared_queue(QUEUE_NAME, &queue_id), PW_OK);
        pw_log(PW_LOG_INFO, "host_queue registered id=%u", queue_id);
    } else {
        pw_status_t st = pw_resolve_shared_queue("", QUEUE_NAME, &queue_id);
        PT_CHECK(st == PW_OK, "resolve %s -> %u (%s)", QUEUE_NAME, st, pw_status_name(st));
        pw_log(PW_LOG_INFO, "host_queue resolved id=%u status=%u", queue_id, st);
    }
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(ctx);
    PT_UNUSED(n);
    PT_UNUSED(eos);
    char *path = NULL;
    if (PT_EXPECT(pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path), PW_OK)) {
        pw_status_t st = pw_enqueue_shared_queue(queue_id, path, strlen(path));
        PT_CHECK(st == PW_OK, "enqueue -> %u (%s)", st, pw_status_name(st));
        pw_log(PW_LOG_INFO, "host_queue enqueued %s status=%u", path, st);
    }
    free(path);
    return PW_CONTINUE;
}

void proxy_on_queue_ready(uint32_t root, uint32_t id)
{
    pw_log(PW_LOG_INFO, "host_queue ready %u %u", root, id);
    PT_CHECK(consumer, "on_queue_ready reaches the consumer only");
    PT_CHECK(id == queue_id, "on_queue_ready for our queue (%u == %u)", id, queue_id);
    pw_status_t st;
    char *d;
    size_t l;
    while ((st = pw_dequeue_shared_queue(id, &d, &l)) == PW_OK) {
        pw_log(PW_LOG_INFO, "host_queue dequeued %.*s", (int)l, d ? d : "");
        free(d);
    }
    PT_CHECK(st == PW_EMPTY, "dequeue ends with EMPTY (got %u)", st);
    pw_log(PW_LOG_INFO, "host_queue drained status=%u", st);
}
