/*
 * trap - traps in on_request_headers when the request has header x-trap
 * (ABI 0.2.1). Built with -g, so the trap site has DWARF line info, and the
 * helpers are noinline so they appear in the backtrace:
 *   proxy_on_request_headers -> trap_check_request -> trap_do_<kind>
 * x-trap value selects the kind:
 *   "" / "unreachable"  __builtin_trap() in trap_do_unreachable (default)
 *   "div0"              integer division by zero in trap_do_div0
 *   "oob"               load from address 0xfffffff0 in trap_do_oob
 *   "stack"             unbounded recursion in trap_do_recurse, through
 *                       call_indirect (call stack exhaustion; no
 *                       shadow-stack use)
 *   "abort"             abort() from trap_do_abort
 * Before trapping it logs INFO "trap about to trap <kind> <ctx>". Requests
 * without x-trap get x-trap-plugin: passed and INFO "trap passed <ctx>".
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#define PT_PLUGIN "trap"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

static volatile int zero = 0;
static volatile int never = -1;

__attribute__((noinline)) static void trap_do_unreachable(void)
{
    __builtin_trap();
}

__attribute__((noinline)) static int trap_do_div0(int x)
{
    return x / zero;
}

__attribute__((noinline)) static int trap_do_oob(void)
{
    volatile int *p = (volatile int *)(uintptr_t)0xfffffff0u;
    return *p;
}

static int trap_do_recurse(int n);
/* Calling through a volatile pointer keeps the compiler from turning the
 * recursion into a loop. */
static int (*volatile recurse_ptr)(int) = trap_do_recurse;

__attribute__((noinline)) static int trap_do_recurse(int n)
{
    if (n == never)
        return 0;
    return recurse_ptr(n + 1) + 1;
}

__attribute__((noinline)) static void trap_do_abort(void)
{
    abort();
}

__attribute__((noinline)) static int trap_check_request(uint32_t ctx)
{
    char *kind = NULL;
    if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-trap", &kind) != PW_OK) {
        free(kind);
        return 0;
    }
    const char *k = kind[0] ? kind : "unreachable";
    pw_log(PW_LOG_INFO, "trap about to trap %s %u", k, ctx);
    int r = 0;
    if (strcmp(k, "div0") == 0)
        r = trap_do_div0((int)ctx);
    else if (strcmp(k, "oob") == 0)
        r = trap_do_oob();
    else if (strcmp(k, "stack") == 0)
        r = trap_do_recurse(0);
    else if (strcmp(k, "abort") == 0)
        trap_do_abort();
    else
        trap_do_unreachable();
    free(kind);
    PT_FAIL("did not trap (result %d)", r);
    return 1;
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    PT_UNUSED(n);
    PT_UNUSED(eos);
    if (trap_check_request(ctx))
        return PW_PAUSE;
    PT_EXPECT(pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-trap-plugin", "passed"), PW_OK);
    pw_log(PW_LOG_INFO, "trap passed %u", ctx);
    return PW_CONTINUE;
}
