/*
 * oom - grows linear memory without bound when the request has header x-oom
 * (ABI 0.2.1); for the per-VM memory cap. x-oom value:
 *   "" / "grow"  memory.grow by 16 pages (1 MiB) until it fails (-1); logs
 *                INFO "oom grow failed pages=<total pages>" and continues
 *                (the memory stays allocated)
 *   "malloc"     malloc 1 MiB blocks (touching each) until malloc returns
 *                NULL; logs INFO "oom malloc failed after <n> MiB", frees
 *                them and continues
 *   "trap"       like "grow", then traps (as a Rust plugin aborts on OOM)
 * Before it starts: INFO "oom growing <kind> <ctx> pages=<current pages>".
 * Requests get x-oom-plugin: passed (when it did not trap).
 * A host without a cap would loop until the 4 GiB wasm32 limit.
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "oom"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

__attribute__((noinline)) static size_t oom_grow_until_failure(void)
{
    while (__builtin_wasm_memory_grow(0, 16) != (size_t)-1) {
    }
    return __builtin_wasm_memory_size(0);
}

__attribute__((noinline)) static size_t oom_malloc_until_failure(void)
{
    void **blocks = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            void **nb = (void **)realloc(blocks, ncap * sizeof *nb);
            if (!nb)
                break;
            blocks = nb;
            cap = ncap;
        }
        char *b = (char *)malloc(1u << 20);
        if (!b)
            break;
        memset(b, (int)n, 1u << 20);
        blocks[n++] = b;
    }
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
    return n;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    char *kind = NULL;
    if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-oom", &kind) == PW_OK) {
        const char *k = kind[0] ? kind : "grow";
        pw_log(PW_LOG_INFO, "oom growing %s %u pages=%zu", k, ctx,
               (size_t)__builtin_wasm_memory_size(0));
        if (strcmp(k, "malloc") == 0) {
            size_t mib = oom_malloc_until_failure();
            pw_log(PW_LOG_INFO, "oom malloc failed after %zu MiB", mib);
        } else {
            size_t pages = oom_grow_until_failure();
            pw_log(PW_LOG_INFO, "oom grow failed pages=%zu", pages);
            if (strcmp(k, "trap") == 0)
                __builtin_trap();
        }
    }
    free(kind);
    PT_EXPECT(pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-oom-plugin", "passed"), PW_OK);
    return PW_CONTINUE;
}
