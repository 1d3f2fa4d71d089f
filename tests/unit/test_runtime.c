/*
 * test_runtime.c - the embedding API of the WebAssembly runtime: host
 * functions, traps and backtraces, limits, interruption, re-entrancy.
 *
 * Modules are written in the text format and assembled with wabt's
 * wat2wasm (a test dependency installed by scripts/deps.sh).
 */
#include "wasm/wasm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Assembles `wat` into a freshly allocated byte array. */
static uint8_t *assemble(const char *wat, size_t *size)
{
    char dir[] = "/tmp/wg-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[64], out[64], cmd[256];
    snprintf(in, sizeof in, "%s/m.wat", dir);
    snprintf(out, sizeof out, "%s/m.wasm", dir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs(wat, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "wat2wasm --debug-names %s -o %s", in, out);
    assert_int_equal(system(cmd), 0);
    f = fopen(out, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc((size_t)n);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(in);
    unlink(out);
    rmdir(dir);
    *size = (size_t)n;
    return bytes;
}

static wasm_module *load(const char *wat)
{
    size_t size;
    uint8_t *bytes = assemble(wat, &size);
    wasm_error err = {0};
    wasm_module *m = wasm_module_load(bytes, size, &err);
    if (!m)
        fail_msg("load failed: %s", err.message);
    free(bytes);
    return m;
}

static wasm_instance *instantiate(wasm_store *s, wasm_module *m, const wasm_extern *imports,
                                  uint32_t n)
{
    wasm_error err = {0};
    wasm_instance *inst = wasm_instance_new(s, m, imports, n, &err);
    if (!inst)
        fail_msg("instantiate failed: %s", err.message);
    return inst;
}

static void test_call_export(void **state)
{
    (void)state;
    wasm_module *m = load("(module (func (export \"add\") (param i32 i32) (result i32)"
                          "  local.get 0 local.get 1 i32.add))");
    wasm_store *s = wasm_store_new(NULL);
    wasm_instance *inst = instantiate(s, m, NULL, 0);
    wasm_func *add = wasm_instance_func(inst, "add");
    assert_non_null(add);
    wasm_cell args[2] = {0xffffffffu, 2}, res[1] = {0};
    assert_true(wasm_func_call(s, add, args, 2, res, 1));
    assert_int_equal(res[0], 1); /* i32 results are zero-extended */
    /* Wrong arity is an error, not a crash. */
    assert_false(wasm_func_call(s, add, args, 1, res, 1));
    wasm_store_free(s);
    wasm_module_release(m);
}

static bool host_double(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    int *calls = env;
    (*calls)++;
    assert_non_null(wasm_call_instance(call));
    results[0] = (uint32_t)args[0] * 2;
    return true;
}

static void test_host_function(void **state)
{
    (void)state;
    wasm_module *m = load("(module (import \"env\" \"double\" (func $d (param i32) (result i32)))"
                          "  (func (export \"f\") (param i32) (result i32)"
                          "    local.get 0 call $d call $d))");
    wasm_store *s = wasm_store_new(NULL);
    int calls = 0;
    uint8_t i32 = WASM_I32;
    wasm_functype ft = {1, 1, &i32, &i32};
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(s, &ft, host_double, &calls, "double");
    wasm_instance *inst = instantiate(s, m, &imp, 1);
    wasm_cell arg = 5, res = 0;
    assert_true(wasm_func_call(s, wasm_instance_func(inst, "f"), &arg, 1, &res, 1));
    assert_int_equal(res, 20);
    assert_int_equal(calls, 2);
    wasm_store_free(s);
    wasm_module_release(m);
}

static void test_link_errors(void **state)
{
    (void)state;
    wasm_module *m = load("(module (import \"env\" \"f\" (func (param i64))))");
    wasm_store *s = wasm_store_new(NULL);
    uint8_t i32 = WASM_I32;
    wasm_functype ft = {1, 0, &i32, NULL};
    int calls = 0;
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(s, &ft, host_double, &calls, "f");
    wasm_error err = {0};
    assert_null(wasm_instance_new(s, m, &imp, 1, &err));
    assert_false(err.trapped);
    assert_non_null(strstr(err.message, "env.f"));
    assert_null(wasm_instance_new(s, m, NULL, 0, &err));
    wasm_store_free(s);
    wasm_module_release(m);
}

static void test_trap_backtrace(void **state)
{
    (void)state;
    wasm_module *m = load("(module"
                          "  (func $inner (param i32) (result i32) local.get 0 i32.const 0 i32.div_u)"
                          "  (func $middle (param i32) (result i32) local.get 0 call $inner)"
                          "  (func (export \"outer\") (result i32) i32.const 7 call $middle))");
    wasm_store *s = wasm_store_new(NULL);
    wasm_instance *inst = instantiate(s, m, NULL, 0);
    wasm_cell res;
    assert_false(wasm_func_call(s, wasm_instance_func(inst, "outer"), NULL, 0, &res, 1));
    const wasm_trap *t = wasm_store_last_trap(s);
    assert_int_equal(t->kind, WASM_TRAP_DIV_BY_ZERO);
    assert_string_equal(t->message, "integer divide by zero");
    assert_int_equal(t->nframes, 3);
    assert_string_equal(t->frames[0].name, "inner");
    assert_string_equal(t->frames[1].name, "middle");
    assert_int_equal(t->frames[2].func_index, 2);
    assert_true(t->frames[0].code_offset > 0);
    /* The store is usable after a trap. */
    wasm_func *inner = wasm_instance_func(inst, "outer");
    assert_false(wasm_func_call(s, inner, NULL, 0, &res, 1));
    wasm_store_free(s);
    wasm_module_release(m);
}

static void test_stack_exhaustion(void **state)
{
    (void)state;
    wasm_module *m = load("(module (func $f (export \"f\") call $f))");
    wasm_store_config cfg = {.max_call_depth = 500};
    wasm_store *s = wasm_store_new(&cfg);
    wasm_instance *inst = instantiate(s, m, NULL, 0);
    assert_false(wasm_func_call(s, wasm_instance_func(inst, "f"), NULL, 0, NULL, 0));
    const wasm_trap *t = wasm_store_last_trap(s);
    assert_int_equal(t->kind, WASM_TRAP_STACK_EXHAUSTED);
    assert_true(t->frames_truncated);
    wasm_store_free(s);
    wasm_module_release(m);
}

static void test_memory_cap(void **state)
{
    (void)state;
    wasm_module *m = load("(module (memory (export \"mem\") 1)"
                          "  (func (export \"grow\") (param i32) (result i32)"
                          "    local.get 0 memory.grow))");
    wasm_store_config cfg = {.max_memory_pages = 4};
    wasm_store *s = wasm_store_new(&cfg);
    wasm_instance *inst = instantiate(s, m, NULL, 0);
    wasm_func *grow = wasm_instance_func(inst, "grow");
    wasm_cell arg = 3, res = 0;
    assert_true(wasm_func_call(s, grow, &arg, 1, &res, 1));
    assert_int_equal(res, 1);
    arg = 1;
    assert_true(wasm_func_call(s, grow, &arg, 1, &res, 1));
    assert_int_equal(res, 0xffffffffu); /* -1: over the store's cap */
    wasm_memory *mem = wasm_instance_memory(inst, 0);
    assert_int_equal(wasm_memory_pages(mem), 4);
    uint8_t byte = 0;
    assert_true(wasm_memory_read(mem, 4 * 65536 - 1, &byte, 1));
    assert_false(wasm_memory_read(mem, 4 * 65536 - 1, &byte, 2));
    assert_null(wasm_memory_ptr(mem, UINT64_MAX, 2));
    wasm_store_free(s);
    wasm_module_release(m);
}

typedef struct interrupter {
    wasm_store *store;
} interrupter;

static void *interrupt_later(void *arg)
{
    interrupter *it = arg;
    usleep(50 * 1000);
    wasm_store_interrupt(it->store);
    return NULL;
}

static void test_interrupt(void **state)
{
    (void)state;
    wasm_module *m = load("(module (func (export \"spin\") (loop $l br $l)))");
    wasm_store *s = wasm_store_new(NULL);
    wasm_instance *inst = instantiate(s, m, NULL, 0);
    interrupter it = {s};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, interrupt_later, &it), 0);
    assert_false(wasm_func_call(s, wasm_instance_func(inst, "spin"), NULL, 0, NULL, 0));
    pthread_join(th, NULL);
    assert_int_equal(wasm_store_last_trap(s)->kind, WASM_TRAP_INTERRUPTED);
    assert_string_equal(wasm_store_last_trap(s)->message, "interrupted");
    wasm_store_free(s);
    wasm_module_release(m);
}

/* A host function that calls back into the guest (as Proxy-Wasm hosts call
 * the guest's allocator from inside a hostcall). */
static bool host_reenter(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    wasm_func **alloc = env;
    wasm_cell in = args[0] + 1, out = 0;
    if (!wasm_func_call(wasm_call_store(call), *alloc, &in, 1, &out, 1))
        return false;
    results[0] = out * 10;
    return true;
}

static void test_reentrant_call(void **state)
{
    (void)state;
    wasm_module *m = load("(module (import \"env\" \"h\" (func $h (param i32) (result i32)))"
                          "  (func (export \"alloc\") (param i32) (result i32)"
                          "    local.get 0 i32.const 100 i32.add)"
                          "  (func (export \"f\") (param i32) (result i32)"
                          "    (local i32) i32.const 5 local.set 1"
                          "    local.get 0 call $h local.get 1 i32.add))");
    wasm_store *s = wasm_store_new(NULL);
    wasm_func *alloc = NULL;
    uint8_t i32 = WASM_I32;
    wasm_functype ft = {1, 1, &i32, &i32};
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(s, &ft, host_reenter, &alloc, "h");
    wasm_instance *inst = instantiate(s, m, &imp, 1);
    alloc = wasm_instance_func(inst, "alloc");
    wasm_cell arg = 1, res = 0;
    assert_true(wasm_func_call(s, wasm_instance_func(inst, "f"), &arg, 1, &res, 1));
    assert_int_equal(res, (1 + 1 + 100) * 10 + 5);
    wasm_store_free(s);
    wasm_module_release(m);
}

static bool host_trap(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    return wasm_call_trap(call, "denied by host (%d)", 42);
}

static void test_host_trap(void **state)
{
    (void)state;
    wasm_module *m = load("(module (import \"env\" \"t\" (func $t))"
                          "  (func $g (export \"g\") call $t))");
    wasm_store *s = wasm_store_new(NULL);
    wasm_functype ft = {0, 0, NULL, NULL};
    wasm_extern imp = {.kind = WASM_EXTERN_FUNC};
    imp.of.func = wasm_func_new_host(s, &ft, host_trap, NULL, "t");
    wasm_instance *inst = instantiate(s, m, &imp, 1);
    assert_false(wasm_func_call(s, wasm_instance_func(inst, "g"), NULL, 0, NULL, 0));
    const wasm_trap *t = wasm_store_last_trap(s);
    assert_int_equal(t->kind, WASM_TRAP_HOST);
    assert_string_equal(t->message, "denied by host (42)");
    assert_int_equal(t->nframes, 1);
    assert_string_equal(t->frames[0].name, "g");
    wasm_store_free(s);
    wasm_module_release(m);
}

static void test_start_trap(void **state)
{
    (void)state;
    wasm_module *m = load("(module (func $s unreachable) (start $s))");
    wasm_store *s = wasm_store_new(NULL);
    wasm_error err = {0};
    assert_null(wasm_instance_new(s, m, NULL, 0, &err));
    assert_true(err.trapped);
    assert_non_null(strstr(err.message, "unreachable"));
    wasm_store_free(s);
    wasm_module_release(m);
}

static void test_bad_module(void **state)
{
    (void)state;
    static const uint8_t junk[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0xff};
    wasm_error err = {0};
    assert_null(wasm_module_load(junk, sizeof junk, &err));
    assert_true(err.message[0] != 0);
    assert_true(err.has_offset);
    /* An invalid body names its function. */
    wasm_error err2 = {0};
    size_t size;
    uint8_t *bytes = assemble("(module (func (result i32) i32.const 1))", &size);
    /* Corrupt the i32.const into i64.const: a type mismatch. */
    for (size_t i = size; i-- > 0;) {
        if (bytes[i] == 0x41) {
            bytes[i] = 0x42;
            break;
        }
    }
    assert_null(wasm_module_load(bytes, size, &err2));
    assert_non_null(strstr(err2.message, "type mismatch"));
    assert_non_null(strstr(err2.message, "function 0"));
    free(bytes);
}

static void test_shared_module(void **state)
{
    (void)state;
    /* One compiled module, two stores (as two proxy workers would). */
    wasm_module *m = load("(module (global $g (mut i32) (i32.const 0))"
                          "  (func (export \"inc\") (result i32)"
                          "    global.get $g i32.const 1 i32.add global.set $g global.get $g))");
    wasm_store *a = wasm_store_new(NULL), *b = wasm_store_new(NULL);
    wasm_instance *ia = instantiate(a, m, NULL, 0), *ib = instantiate(b, m, NULL, 0);
    wasm_cell r = 0;
    assert_true(wasm_func_call(a, wasm_instance_func(ia, "inc"), NULL, 0, &r, 1));
    assert_true(wasm_func_call(a, wasm_instance_func(ia, "inc"), NULL, 0, &r, 1));
    assert_int_equal(r, 2);
    assert_true(wasm_func_call(b, wasm_instance_func(ib, "inc"), NULL, 0, &r, 1));
    assert_int_equal(r, 1);
    wasm_store_free(a);
    wasm_store_free(b);
    wasm_module_release(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_export),   cmocka_unit_test(test_host_function),
        cmocka_unit_test(test_link_errors),   cmocka_unit_test(test_trap_backtrace),
        cmocka_unit_test(test_stack_exhaustion), cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_interrupt),     cmocka_unit_test(test_reentrant_call),
        cmocka_unit_test(test_host_trap),     cmocka_unit_test(test_start_trap),
        cmocka_unit_test(test_bad_module),    cmocka_unit_test(test_shared_module),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
