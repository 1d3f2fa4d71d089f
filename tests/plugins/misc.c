/*
 * misc - log level, time, ticks, proxy_done, foreign functions, gRPC,
 * close_stream and the WASI functions a plugin typically uses (ABI 0.2.1).
 *
 * Configuration (JSON members or defaults): "tick_ms" (100), "grpc_cluster"
 * ("grpc").
 *
 * on_vm_start:
 *   - printf to stdout "misc: hello from stdout" (+ fflush) and fprintf to
 *     stderr "misc: hello from stderr" (each one fd_write)
 *   - clock_gettime(CLOCK_REALTIME) after 2020; CLOCK_MONOTONIC non-decreasing
 *   - getentropy(16 bytes) succeeds and is not all zero (WASI random_get)
 *   - getenv("PLUGIN_ENV"): INFO "misc env PLUGIN_ENV=<v>" or
 *     "misc env PLUGIN_ENV unset"
 *   - proxy_get_log_level: OK and <= 5; INFO "misc log_level=<n>"
 *   - proxy_get_current_time_nanoseconds: OK, non-zero, non-decreasing on a
 *     second call, within 60 s of clock_gettime(REALTIME);
 *     INFO "misc time_ns=<n>"
 * on_configure:
 *   - proxy_set_tick_period_milliseconds(tick_ms) -> OK
 *   - proxy_done() with nothing pending -> NOT_FOUND
 *   - proxy_set_effective_context(0x7fffffff) -> BAD_ARGUMENT
 *   - proxy_call_foreign_function("wasmgate_no_such_function") -> NOT_FOUND
 *     (with and without result pointers)
 *   - gRPC (statuses only logged, never asserted):
 *       INFO "misc grpc_call status=<n> token=<t>" (call left running),
 *       INFO "misc grpc_call2 status=<n>" then "misc grpc_cancel status=<n>",
 *       INFO "misc grpc_stream status=<n> token=<t>", then
 *       "misc grpc_send status=<n>" and "misc grpc_close status=<n>" if OK,
 *       INFO "misc grpc bogus-token send=<n> cancel=<n> close=<n>"
 * on_tick: INFO "misc tick <n>"; the current time must increase between
 *   ticks; at tick 5 the period is set to 0 (INFO "misc tick disabled") and
 *   any later tick is an ASSERT FAILED, except after on_done (below).
 * on_done(root): INFO "misc on_done root <id> deferred", re-arms a 10 ms tick
 *   and returns 0; the next on_tick calls proxy_done() -> OK and logs INFO
 *   "misc proxy_done status=<n>". on_delete(root): INFO
 *   "misc on_delete root <id>". Stream contexts: on_done returns 1.
 * on_request_headers: continue_stream(99) and close_stream(99) ->
 *   BAD_ARGUMENT; with header x-close: close_stream(HTTP_REQUEST) -> OK,
 *   INFO "misc close_stream <ctx>", returns PAUSE.
 * gRPC callbacks log "cb on_grpc_... <root> <token> <n>" and check the map /
 *   buffer sizes; on_grpc_close logs INFO "misc grpc status code=<c> msg=<m>".
 * on_foreign_function logs "cb on_foreign_function <ctx> <id> <size>".
 */
#define _DEFAULT_SOURCE /* clock_gettime, getentropy under -std=c11 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#include <time.h>
#include <unistd.h>
#define PT_PLUGIN "misc"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

static uint32_t root_id;
static uint32_t ticks;
static uint64_t last_tick_ns;
static int pending_done;
static int ticks_disabled;

static uint64_t ts_ns(const struct timespec *t)
{
    return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

void proxy_on_context_create(uint32_t ctx, uint32_t parent)
{
    if (parent == 0)
        root_id = ctx;
}

uint32_t proxy_on_vm_start(uint32_t root, uint32_t size)
{
    PT_UNUSED(root);
    PT_UNUSED(size);
    printf("misc: hello from stdout\n");
    fflush(stdout);
    fprintf(stderr, "misc: hello from stderr\n");

    struct timespec rt, m1, m2;
    PT_CHECK(clock_gettime(CLOCK_REALTIME, &rt) == 0, "clock_gettime(REALTIME)");
    PT_CHECK(rt.tv_sec > 1577836800, "realtime after 2020 (%lld)", (long long)rt.tv_sec);
    PT_CHECK(clock_gettime(CLOCK_MONOTONIC, &m1) == 0, "clock_gettime(MONOTONIC)");
    PT_CHECK(clock_gettime(CLOCK_MONOTONIC, &m2) == 0, "clock_gettime(MONOTONIC) again");
    PT_CHECK(ts_ns(&m2) >= ts_ns(&m1), "monotonic clock does not go back");

    unsigned char rnd[16] = {0};
    int any = 0;
    PT_CHECK(getentropy(rnd, sizeof rnd) == 0, "getentropy(16)");
    for (size_t i = 0; i < sizeof rnd; i++)
        any |= rnd[i];
    PT_CHECK(any != 0, "random bytes are not all zero");

    const char *env = getenv("PLUGIN_ENV");
    if (env)
        pw_log(PW_LOG_INFO, "misc env PLUGIN_ENV=%s", env);
    else
        pw_log(PW_LOG_INFO, "misc env PLUGIN_ENV unset");

    uint32_t level = 99;
    if (PT_EXPECT(proxy_get_log_level(&level), PW_OK))
        PT_CHECK(level <= 5, "log level %u <= 5", level);
    pw_log(PW_LOG_INFO, "misc log_level=%u", level);

    uint64_t t1 = 0, t2 = 0;
    PT_EXPECT(proxy_get_current_time_nanoseconds(&t1), PW_OK);
    PT_EXPECT(proxy_get_current_time_nanoseconds(&t2), PW_OK);
    PT_CHECK(t1 != 0, "current time is non-zero");
    PT_CHECK(t2 >= t1, "current time does not go back (%llu, %llu)", (unsigned long long)t1,
             (unsigned long long)t2);
    uint64_t wasi = ts_ns(&rt);
    uint64_t diff = t1 > wasi ? t1 - wasi : wasi - t1;
    PT_CHECK(diff < 60ull * 1000000000ull, "proxy time within 60 s of WASI realtime (%llu ns)",
             (unsigned long long)diff);
    pw_log(PW_LOG_INFO, "misc time_ns=%llu", (unsigned long long)t1);
    last_tick_ns = t2;
    return 1;
}

static void grpc_probes(void)
{
    char *cluster = pt_plugin_config_value("grpc_cluster");
    const char *c = cluster ? cluster : "grpc";
    static const char msg[] = "\0\0\0\0\0"; /* an empty protobuf message */
    uint32_t token = 0;
    pw_status_t st = pw_grpc_call(c, "wasmgate.test.Echo", "Ping",
                                  PW_HEADERS("x-grpc-meta", "1"), msg, 0, 1000, &token);
    pw_log(PW_LOG_INFO, "misc grpc_call status=%u token=%u", st, token);

    token = 0;
    st = pw_grpc_call(c, "wasmgate.test.Echo", "Ping", NULL, msg, 0, 1000, &token);
    pw_log(PW_LOG_INFO, "misc grpc_call2 status=%u", st);
    if (st == PW_OK)
        pw_log(PW_LOG_INFO, "misc grpc_cancel status=%u", proxy_grpc_cancel(token));

    token = 0;
    st = pw_grpc_stream(c, "wasmgate.test.Echo", "Stream", NULL, &token);
    pw_log(PW_LOG_INFO, "misc grpc_stream status=%u token=%u", st, token);
    if (st == PW_OK) {
        pw_log(PW_LOG_INFO, "misc grpc_send status=%u", proxy_grpc_send(token, msg, 5, 0));
        pw_log(PW_LOG_INFO, "misc grpc_close status=%u", proxy_grpc_close(token));
    }
    const uint32_t bogus = 0x7FFFFFF1u;
    pw_status_t s1 = proxy_grpc_send(bogus, msg, 5, 1);
    pw_status_t s2 = proxy_grpc_cancel(bogus);
    pw_status_t s3 = proxy_grpc_close(bogus);
    pw_log(PW_LOG_INFO, "misc grpc bogus-token send=%u cancel=%u close=%u", s1, s2, s3);
    free(cluster);
}

uint32_t proxy_on_configure(uint32_t root, uint32_t size)
{
    PT_UNUSED(size);
    root_id = root;
    uint32_t tick = 100;
    char *v = pt_plugin_config_value("tick_ms");
    if (v && atoi(v) > 0)
        tick = (uint32_t)atoi(v);
    free(v);
    PT_EXPECT(proxy_set_tick_period_milliseconds(tick), PW_OK);
    PT_EXPECT(proxy_done(), PW_NOT_FOUND);
    PT_EXPECT(proxy_set_effective_context(0x7FFFFFFFu), PW_BAD_ARGUMENT);

    char *ret = NULL;
    size_t rl = 0;
    PT_EXPECT(pw_call_foreign_function("wasmgate_no_such_function", "x", 1, &ret, &rl),
              PW_NOT_FOUND);
    free(ret);
    static const char fname[] = "wasmgate_no_such_function";
    PT_EXPECT(proxy_call_foreign_function(fname, sizeof fname - 1, NULL, 0, NULL, NULL),
              PW_NOT_FOUND);

    grpc_probes();
    pw_log(PW_LOG_INFO, "misc configured tick_ms=%u", tick);
    return 1;
}

void proxy_on_tick(uint32_t root)
{
    uint64_t now = 0;
    PT_EXPECT(proxy_get_current_time_nanoseconds(&now), PW_OK);
    if (pending_done) {
        pending_done = 0;
        PT_EXPECT(proxy_set_tick_period_milliseconds(0), PW_OK);
        pw_status_t st = proxy_done();
        PT_CHECK(st == PW_OK, "proxy_done after on_done returned 0 -> %u (%s)", st,
                 pw_status_name(st));
        pw_log(PW_LOG_INFO, "misc proxy_done status=%u", st);
        return;
    }
    ticks++;
    PT_CHECK(root == root_id, "tick on our root (%u == %u)", root, root_id);
    PT_CHECK(!ticks_disabled, "no tick after the period was set to 0 (tick %u)", ticks);
    PT_CHECK(now > last_tick_ns, "time increases between ticks (%llu > %llu)",
             (unsigned long long)now, (unsigned long long)last_tick_ns);
    last_tick_ns = now;
    pw_log(PW_LOG_INFO, "misc tick %u", ticks);
    if (ticks == 5) {
        PT_EXPECT(proxy_set_tick_period_milliseconds(0), PW_OK);
        ticks_disabled = 1;
        pw_log(PW_LOG_INFO, "misc tick disabled");
    }
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    PT_EXPECT(proxy_continue_stream(99), PW_BAD_ARGUMENT);
    PT_EXPECT(proxy_close_stream(99), PW_BAD_ARGUMENT);
    char *v = NULL;
    if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-close", &v) == PW_OK) {
        free(v);
        PT_EXPECT(proxy_close_stream(PW_STREAM_HTTP_REQUEST), PW_OK);
        pw_log(PW_LOG_INFO, "misc close_stream %u", ctx);
        return PW_PAUSE;
    }
    free(v);
    return PW_CONTINUE;
}

uint32_t proxy_on_done(uint32_t ctx)
{
    if (ctx != root_id)
        return 1;
    pw_log(PW_LOG_INFO, "misc on_done root %u deferred", ctx);
    pending_done = 1;
    PT_EXPECT(proxy_set_tick_period_milliseconds(10), PW_OK);
    return 0;
}

void proxy_on_delete(uint32_t ctx)
{
    if (ctx == root_id)
        pw_log(PW_LOG_INFO, "misc on_delete root %u", ctx);
}

static void check_map(uint32_t map, uint32_t n)
{
    pw_pairs_t p;
    if (PT_EXPECT(pw_get_header_pairs(map, &p), PW_OK)) {
        PT_CHECK(p.count == n, "map %u has %zu entries == %u", map, p.count, n);
        pw_pairs_free(&p);
    }
}

void proxy_on_grpc_receive_initial_metadata(uint32_t root, uint32_t token, uint32_t n)
{
    pw_log(PW_LOG_INFO, "cb on_grpc_receive_initial_metadata %u %u %u", root, token, n);
    check_map(PW_MAP_GRPC_CALL_INITIAL_METADATA, n);
}

void proxy_on_grpc_receive(uint32_t root, uint32_t token, uint32_t size)
{
    pw_log(PW_LOG_INFO, "cb on_grpc_receive %u %u %u", root, token, size);
    size_t len = 0;
    uint32_t flags = 0;
    if (PT_EXPECT(proxy_get_buffer_status(PW_BUFFER_GRPC_CALL_MESSAGE, &len, &flags), PW_OK))
        PT_CHECK(len == size, "grpc message length %zu == %u", len, size);
}

void proxy_on_grpc_receive_trailing_metadata(uint32_t root, uint32_t token, uint32_t n)
{
    pw_log(PW_LOG_INFO, "cb on_grpc_receive_trailing_metadata %u %u %u", root, token, n);
    check_map(PW_MAP_GRPC_CALL_TRAILING_METADATA, n);
}

void proxy_on_grpc_close(uint32_t root, uint32_t token, uint32_t status)
{
    pw_log(PW_LOG_INFO, "cb on_grpc_close %u %u %u", root, token, status);
    uint32_t code = 0;
    char *msg = NULL;
    if (PT_EXPECT(pw_get_status(&code, &msg), PW_OK))
        pw_log(PW_LOG_INFO, "misc grpc status code=%u msg=%s", code, msg);
    free(msg);
}

void proxy_on_foreign_function(uint32_t ctx, uint32_t id, uint32_t size)
{
    pw_log(PW_LOG_INFO, "cb on_foreign_function %u %u %u", ctx, id, size);
}
