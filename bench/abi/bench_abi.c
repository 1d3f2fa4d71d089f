/*
 * bench_abi - the cost of crossing between the proxy and a plugin, in ns
 * per operation (`make bench-abi`; see docs/BENCHMARKS.md).
 *
 *   empty_callback      one host->vm call of an empty proxy_on_tick, through
 *                       the whole host path (context save/restore, deadline
 *                       arm/disarm, trace check, deferred actions)
 *   get_header_value    one proxy_get_header_map_value from inside a
 *                       callback: vm->host call, header lookup, guest malloc
 *                       of the result and the guest's free
 *   request_add_header  one full request through the header-adding plugin:
 *                       stream context creation, request and response
 *                       headers (each adding a header), on_log, on_done,
 *                       on_delete; plus the copy of the header maps
 *   map_copy_baseline   the header-map copies alone (data-plane work the
 *                       line above includes)
 *
 * Usage: bench_abi BENCH_PLUGIN.wasm ADD_HEADER_PLUGIN.wasm
 * Each figure is the best of 5 runs of about 0.3 s.
 */
#include "abi/abi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* ---- a data plane that does nothing ---- */

static pw_status nop_http_call(void *h, pw_vm *vm, uint32_t t, const pw_http_request *r)
{
    (void)h, (void)vm, (void)t, (void)r;
    return PW_BAD_ARGUMENT;
}
static void nop_tick(void *h, pw_vm *vm, uint32_t p) { (void)h, (void)vm, (void)p; }
static void nop_queue(void *h, pw_vm *vm) { (void)h, (void)vm; }
static void nop_stream(void *h, pw_stream *s, pw_stream_type t) { (void)h, (void)s, (void)t; }
static void nop_reply(void *h, pw_stream *s, const pw_local_reply *r) { (void)h, (void)s, (void)r; }
static void nop_log(void *h, pw_vm *vm, wg_log_level l, const char *m, size_t n)
{
    (void)h, (void)vm, (void)l, (void)m, (void)n;
}

static const pw_host_ops ops = {nop_http_call, nop_tick,  nop_queue, nop_stream,
                                nop_stream,    nop_reply, nop_log};

static pw_vm *start_vm(const char *path, const char *config)
{
    size_t size = 0;
    uint8_t *bytes = read_file(path, &size);
    if (!bytes) {
        fprintf(stderr, "bench_abi: cannot read %s\n", path);
        exit(1);
    }
    wasm_error err = {0};
    pw_module *m = pw_module_load(bytes, size, &err);
    free(bytes);
    if (!m) {
        fprintf(stderr, "bench_abi: %s: %s\n", path, err.message);
        exit(1);
    }
    pw_plugin_config cfg = {
        .name = "bench",
        .root_id = "",
        .vm_id = "",
        .configuration = (const uint8_t *)config,
        .configuration_len = strlen(config),
        /* Generous: a benchmark loop must not trip the deadline. */
        .callback_deadline_ms = 10000,
    };
    pw_vm *vm = pw_vm_new(m, &cfg, &ops, NULL, &err);
    pw_module_release(m);
    if (!vm) {
        fprintf(stderr, "bench_abi: %s: %s\n", path, err.message);
        exit(1);
    }
    return vm;
}

typedef struct request_maps {
    wg_headers req_template, resp_template;
    wg_headers req, resp, req_t, resp_t;
    wg_buf req_b, resp_b;
} request_maps;

static void add(wg_headers *h, const char *n, const char *v)
{
    wg_headers_add(h, n, strlen(n), v, strlen(v));
}

static void maps_init(request_maps *m)
{
    memset(m, 0, sizeof *m);
    add(&m->req_template, ":method", "GET");
    add(&m->req_template, ":path", "/index.html");
    add(&m->req_template, ":authority", "example.com");
    add(&m->req_template, ":scheme", "http");
    add(&m->req_template, "user-agent", "wrk");
    add(&m->req_template, "accept", "*/*");
    add(&m->req_template, "x-bench", "value");
    add(&m->resp_template, ":status", "200");
    add(&m->resp_template, "content-type", "text/html");
    add(&m->resp_template, "content-length", "612");
}

/* Runs fn(arg, iterations) and returns the best ns per iteration. */
static double measure(void (*fn)(void *, long), void *arg, long iterations)
{
    double best = 1e30;
    fn(arg, iterations / 10); /* warm up */
    for (int run = 0; run < 5; run++) {
        double t0 = now_ns();
        fn(arg, iterations);
        double per = (now_ns() - t0) / (double)iterations;
        if (per < best)
            best = per;
    }
    return best;
}

static void run_ticks(void *vm, long n)
{
    for (long i = 0; i < n; i++)
        pw_vm_tick(vm);
}

typedef struct stream_bench {
    pw_vm *vm;
    request_maps maps;
    bool events;   /* false: only the map copies */
} stream_bench;

static void run_streams(void *arg, long n)
{
    stream_bench *b = arg;
    request_maps *m = &b->maps;
    for (long i = 0; i < n; i++) {
        wg_headers_copy(&m->req, &m->req_template);
        wg_headers_copy(&m->resp, &m->resp_template);
        if (!b->events)
            continue;
        pw_stream *s = pw_stream_new(b->vm, NULL);
        pw_stream_set_request(s, &m->req, &m->req_b, &m->req_t);
        pw_stream_set_response(s, &m->resp, &m->resp_b, &m->resp_t);
        pw_stream_request_headers(s, true);
        pw_stream_response_headers(s, true);
        pw_stream_finish(s);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_abi BENCH_PLUGIN.wasm ADD_HEADER_PLUGIN.wasm\n");
        return 2;
    }
    enum { LOOPS = 1000 };
    char loops[16];
    snprintf(loops, sizeof loops, "%d", LOOPS);

    /* 1. empty callback */
    pw_vm *vm = start_vm(argv[1], "0");
    double empty = measure(run_ticks, vm, 2000000);

    /* 2. hostcall round trip: a request whose on_request_headers makes
     * LOOPS calls, minus one that makes none. */
    stream_bench none = {.vm = vm, .events = true};
    maps_init(&none.maps);
    double base = measure(run_streams, &none, 100000);
    pw_vm *vm_loop = start_vm(argv[1], loops);
    stream_bench with = {.vm = vm_loop, .events = true};
    maps_init(&with.maps);
    double looped = measure(run_streams, &with, 2000);
    double get_value = (looped - base) / LOOPS;

    /* 3. a full request through the header-adding plugin */
    pw_vm *vm_add = start_vm(argv[2], "on");
    stream_bench add_b = {.vm = vm_add, .events = true};
    maps_init(&add_b.maps);
    double request = measure(run_streams, &add_b, 200000);
    stream_bench copy_b = {.vm = vm_add, .events = false};
    maps_init(&copy_b.maps);
    double copies = measure(run_streams, &copy_b, 1000000);

    printf("| operation | ns per operation |\n|---|---:|\n");
    printf("| empty host->vm callback (proxy_on_tick) | %.1f |\n", empty);
    printf("| proxy_get_header_map_value round trip (incl. guest malloc/free) | %.1f |\n",
           get_value);
    printf("| full request through add_header (all callbacks of a stream) | %.1f |\n", request);
    printf("| of which: copying the request and response header maps | %.1f |\n", copies);

    pw_vm_free(vm);
    pw_vm_free(vm_loop);
    pw_vm_free(vm_add);
    pw_global_shutdown();
    return 0;
}
