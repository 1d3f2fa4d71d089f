/*
 * test_wasi.c - WASI preview1 host functions (src/wasm/wasi.c).
 *
 * The guest modules live in tests/wasi/ as WAT and C sources. They are
 * found through __FILE__ (an absolute path at compile time) and built into
 * a temporary directory when the tests start: WAT with wat2wasm (wabt), C
 * with clang --target=wasm32-wasi (wasi-libc). scripts/deps.sh installs both.
 *
 * Most tests call wasm wrappers exported by wasi_p1.wat (a host function
 * sees the caller's memory only when wasm calls it), set up arguments in
 * the guest memory from C and check what the host function wrote back.
 */
#include "wasm/wasm.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* WASI errno values. */
enum {
    E_SUCCESS = 0,
    E_BADF = 8,
    E_FAULT = 21,
    E_INVAL = 28,
    E_NOSYS = 52,
    E_NOTSUP = 58,
    E_SPIPE = 70,
    E_NOTCAPABLE = 76,
};

#define MEM_SIZE 0x20000u /* wasi_p1.wat has 2 pages */

/* ---- building the guest modules --------------------------------------------------- */

static char g_src[4096]; /* tests/wasi */
static char g_tmp[4096]; /* build directory */

static int run(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void path_in(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        abort();
    }
}

static int build_wat(const char *name)
{
    char in[4200], out[4200];
    path_in(in, sizeof in, g_src, name);
    snprintf(out, sizeof out, "%s/%.*s.wasm", g_tmp, (int)(strlen(name) - 4), name);
    char *argv[] = {"wat2wasm", in, "-o", out, NULL};
    int rc = run(argv);
    if (rc != 0)
        fprintf(stderr, "wat2wasm %s failed (%d)\n", in, rc);
    return rc;
}

static int build_c(const char *name)
{
    char in[4200], out[4200];
    path_in(in, sizeof in, g_src, name);
    snprintf(out, sizeof out, "%s/%.*s.wasm", g_tmp, (int)(strlen(name) - 2), name);
    char *argv[] = {"clang", "--target=wasm32-wasi", "-O2", in, "-o", out, NULL};
    int rc = run(argv);
    if (rc != 0)
        fprintf(stderr, "clang --target=wasm32-wasi %s failed (%d)\n", in, rc);
    return rc;
}

static int group_setup(void **state)
{
    /* __FILE__ is .../tests/unit/test_wasi.c */
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    if (file[0] != '/' || !slash) {
        fprintf(stderr, "test_wasi: cannot locate tests/wasi from %s\n", file);
        return -1;
    }
    snprintf(g_src, sizeof g_src, "%.*s/../wasi", (int)(slash - file), file);

    const char *tmpdir = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/test_wasi.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return -1;
    }
    const char *wats[] = {"wasi_p1.wat", "wasi_unstable.wat", "nomem.wat", "mismatch.wat"};
    for (size_t i = 0; i < sizeof wats / sizeof wats[0]; i++) {
        if (build_wat(wats[i]) != 0)
            return -1;
    }
    if (build_c("hello.c") != 0 || build_c("all_imports.c") != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    if (!g_tmp[0])
        return 0;
    char *argv[] = {"rm", "-rf", g_tmp, NULL};
    return run(argv) == 0 ? 0 : -1;
}

/* ---- running them ------------------------------------------------------------------ */

typedef struct capture {
    char data[3][4096]; /* by fd; [0] collects writes to any other fd */
    size_t len[3];
    int calls;
} capture;

static void capture_write(void *ctx, int fd, const uint8_t *data, size_t size)
{
    capture *c = ctx;
    int slot = (fd == 1 || fd == 2) ? fd : 0;
    size_t room = sizeof c->data[slot] - 1 - c->len[slot];
    size_t n = size < room ? size : room;
    memcpy(c->data[slot] + c->len[slot], data, n);
    c->len[slot] += n;
    c->data[slot][c->len[slot]] = 0;
    c->calls++;
}

typedef struct env {
    capture cap;
    wasm_wasi *wasi;
    wasm_store *store;
    wasm_module *module;
    wasm_instance *inst;
    wasm_memory *mem; /* NULL when the module has none */
} env;

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static wasm_module *load(const char *name)
{
    char path[4200];
    path_in(path, sizeof path, g_tmp, name);
    size_t size = 0;
    uint8_t *bytes = read_file(path, &size);
    wasm_error err;
    memset(&err, 0, sizeof err);
    wasm_module *m = wasm_module_load(bytes, size, &err);
    free(bytes);
    if (!m)
        fail_msg("loading %s: %s", name, err.message);
    return m;
}

/* Instantiates `name` with every import resolved by WASI. */
static void env_open_cfg(env *e, const char *name, wasm_wasi_config cfg)
{
    memset(e, 0, sizeof *e);
    cfg.write_out = capture_write;
    cfg.write_ctx = &e->cap;
    e->wasi = wasm_wasi_new(&cfg);
    assert_non_null(e->wasi);
    e->store = wasm_store_new(NULL);
    assert_non_null(e->store);
    e->module = load(name);
    uint32_t n = wasm_module_import_count(e->module);
    wasm_extern *imports = calloc(n ? n : 1, sizeof *imports);
    assert_non_null(imports);
    for (uint32_t i = 0; i < n; i++) {
        wasm_import_desc d;
        wasm_module_import(e->module, i, &d);
        if (!wasm_wasi_resolve(e->wasi, e->store, &d, &imports[i]))
            fail_msg("%s: import %s.%s did not resolve", name, d.module, d.name);
        assert_int_equal(imports[i].kind, WASM_EXTERN_FUNC);
    }
    wasm_error err;
    memset(&err, 0, sizeof err);
    e->inst = wasm_instance_new(e->store, e->module, imports, n, &err);
    free(imports);
    if (!e->inst)
        fail_msg("instantiating %s: %s", name, err.message);
    wasm_extern m;
    if (wasm_instance_export(e->inst, "memory", &m) && m.kind == WASM_EXTERN_MEMORY)
        e->mem = m.of.memory;
}

static void env_open(env *e, const char *name)
{
    static const char *const argv[] = {"prog", "a", "b c", ""};
    static const char *const envp[] = {"GREETING=hi", "EMPTY="};
    wasm_wasi_config cfg = {4, argv, 2, envp, NULL, NULL, false};
    env_open_cfg(e, name, cfg);
}

static void env_close(env *e)
{
    wasm_store_free(e->store);
    wasm_module_release(e->module);
    wasm_wasi_free(e->wasi);
}

static void cap_reset(env *e)
{
    memset(&e->cap, 0, sizeof e->cap);
}

/* Calls export `name`; returns false on a trap. */
static bool try_call(env *e, const char *name, const wasm_cell *args, uint32_t nargs,
                     wasm_cell *result)
{
    wasm_func *f = wasm_instance_func(e->inst, name);
    if (!f)
        fail_msg("no export %s", name);
    wasm_functype t;
    wasm_func_type(f, &t);
    assert_int_equal(t.nparams, nargs);
    wasm_cell res[1] = {0};
    assert_true(t.nresults <= 1);
    bool ok = wasm_func_call(e->store, f, args, nargs, res, t.nresults);
    if (result)
        *result = res[0];
    return ok;
}

/* Calls a wrapper that returns an errno. */
static uint32_t call(env *e, const char *name, const wasm_cell *args, uint32_t nargs)
{
    wasm_cell r = 0;
    if (!try_call(e, name, args, nargs, &r))
        fail_msg("%s trapped: %s", name, wasm_store_last_trap(e->store)->message);
    return (uint32_t)r;
}

#define CALL(e, name, ...)                                                                         \
    call((e), (name), (const wasm_cell[]){__VA_ARGS__},                                            \
         (uint32_t)(sizeof((wasm_cell[]){__VA_ARGS__}) / sizeof(wasm_cell)))
#define CALL0(e, name) call((e), (name), NULL, 0)

static uint8_t *at(env *e, uint32_t offset, uint64_t size)
{
    uint8_t *p = wasm_memory_ptr(e->mem, offset, size);
    assert_non_null(p);
    return p;
}

static uint32_t rd32(env *e, uint32_t offset)
{
    const uint8_t *p = at(e, offset, 4);
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(env *e, uint32_t offset)
{
    return (uint64_t)rd32(e, offset) | (uint64_t)rd32(e, offset + 4) << 32;
}

static void wr32(env *e, uint32_t offset, uint32_t v)
{
    uint8_t *p = at(e, offset, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(env *e, uint32_t offset, uint64_t v)
{
    wr32(e, offset, (uint32_t)v);
    wr32(e, offset + 4, (uint32_t)(v >> 32));
}

static void wr16(env *e, uint32_t offset, uint16_t v)
{
    uint8_t *p = at(e, offset, 2);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void wrstr(env *e, uint32_t offset, const char *s)
{
    memcpy(at(e, offset, strlen(s)), s, strlen(s));
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_args_env_roundtrip(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");

    assert_int_equal(CALL0(&e, "echo_args"), E_SUCCESS);
    assert_string_equal(e.cap.data[1], "prog\na\nb c\n\n");
    assert_int_equal(e.cap.len[2], 0);
    /* The pointer array points into the string buffer. */
    assert_int_equal(rd32(&e, 0x8000), 4);
    assert_int_equal(rd32(&e, 0x8004), 5 + 2 + 4 + 1);
    assert_int_equal(rd32(&e, 0x8100), 0x9000);
    assert_int_equal(rd32(&e, 0x8104), 0x9005);
    assert_memory_equal(at(&e, 0x9000, 12), "prog\0a\0b c\0\0", 12);

    cap_reset(&e);
    assert_int_equal(CALL0(&e, "echo_env"), E_SUCCESS);
    assert_string_equal(e.cap.data[1], "GREETING=hi\nEMPTY=\n");
    assert_int_equal(CALL(&e, "environ_sizes_get", 0x100, 0x104), E_SUCCESS);
    assert_int_equal(rd32(&e, 0x100), 2);
    assert_int_equal(rd32(&e, 0x104), 12 + 7);

    /* Out-of-range pointers. */
    assert_int_equal(CALL(&e, "args_sizes_get", MEM_SIZE - 2, 0x100), E_FAULT);
    assert_int_equal(CALL(&e, "args_sizes_get", 0x100, 0xffffffff), E_FAULT);
    assert_int_equal(CALL(&e, "args_get", 0xfffffff0, 0x9000), E_FAULT);
    assert_int_equal(CALL(&e, "args_get", 0x8100, MEM_SIZE - 4), E_FAULT);
    assert_int_equal(CALL(&e, "environ_get", MEM_SIZE - 4, 0x9000), E_FAULT);
    env_close(&e);
}

static void test_no_args_no_env(void **state)
{
    env e;
    wasm_wasi_config cfg;
    memset(&cfg, 0, sizeof cfg);
    env_open_cfg(&e, "wasi_p1.wasm", cfg);
    assert_int_equal(CALL0(&e, "echo_args"), E_SUCCESS);
    assert_int_equal(CALL0(&e, "echo_env"), E_SUCCESS);
    assert_int_equal(e.cap.len[1], 0);
    wr32(&e, 0x100, 99);
    wr32(&e, 0x104, 99);
    assert_int_equal(CALL(&e, "environ_sizes_get", 0x100, 0x104), E_SUCCESS);
    assert_int_equal(rd32(&e, 0x100), 0);
    assert_int_equal(rd32(&e, 0x104), 0);
    env_close(&e);

    /* A NULL config is an empty one; freeing NULL is a no-op. */
    wasm_wasi *w = wasm_wasi_new(NULL);
    assert_non_null(w);
    wasm_wasi_free(w);
    wasm_wasi_free(NULL);
}

static void test_clocks(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    assert_int_equal(CALL(&e, "clock_time_get", 1, 0, 0x100), E_SUCCESS);
    uint64_t t1 = rd64(&e, 0x100);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
    assert_int_equal(CALL(&e, "clock_time_get", 1, 1000, 0x100), E_SUCCESS);
    uint64_t t2 = rd64(&e, 0x100);
    assert_true(t2 > t1);
    assert_true(t2 - t1 >= 1000000u);

    /* Realtime is nanoseconds since 1970: after 2020. */
    assert_int_equal(CALL(&e, "clock_time_get", 0, 0, 0x100), E_SUCCESS);
    assert_true(rd64(&e, 0x100) > 1577836800ull * 1000000000u);
    assert_int_equal(CALL(&e, "clock_time_get", 2, 0, 0x100), E_SUCCESS);
    assert_int_equal(CALL(&e, "clock_time_get", 3, 0, 0x100), E_SUCCESS);
    assert_int_equal(CALL(&e, "clock_time_get", 4, 0, 0x100), E_INVAL);
    assert_int_equal(CALL(&e, "clock_time_get", 1, 0, MEM_SIZE - 7), E_FAULT);

    wr64(&e, 0x200, 0);
    assert_int_equal(CALL(&e, "clock_res_get", 1, 0x200), E_SUCCESS);
    uint64_t res = rd64(&e, 0x200);
    assert_true(res > 0 && res <= 1000000000u);
    assert_int_equal(CALL(&e, "clock_res_get", 0, 0x200), E_SUCCESS);
    assert_int_equal(CALL(&e, "clock_res_get", 77, 0x200), E_INVAL);
    assert_int_equal(CALL(&e, "clock_res_get", 1, 0xffffffff), E_FAULT);
    env_close(&e);
}

static void test_random(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    uint8_t *buf = at(&e, 0x1000, 512);
    memset(buf, 0, 512);
    assert_int_equal(CALL(&e, "random_get", 0x1000, 256), E_SUCCESS);
    int zeros = 0;
    for (int i = 0; i < 256; i++)
        zeros += buf[i] == 0;
    assert_true(zeros < 32);
    /* Nothing past the requested length. */
    for (int i = 256; i < 512; i++)
        assert_int_equal(buf[i], 0);
    uint8_t first[256];
    memcpy(first, buf, sizeof first);
    assert_int_equal(CALL(&e, "random_get", 0x1000, 256), E_SUCCESS);
    assert_memory_not_equal(first, buf, sizeof first);

    /* A big request is filled too (getrandom may return short reads). */
    assert_int_equal(CALL(&e, "random_get", 0, MEM_SIZE), E_SUCCESS);
    assert_int_equal(CALL(&e, "random_get", MEM_SIZE, 0), E_SUCCESS);
    assert_int_equal(CALL(&e, "random_get", MEM_SIZE - 8, 16), E_FAULT);
    assert_int_equal(CALL(&e, "random_get", 0xffffffff, 2), E_FAULT);
    env_close(&e);
}

static void test_fd_write_routing(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    wrstr(&e, 0x1000, "out!");
    wrstr(&e, 0x1010, "err");
    wr32(&e, 0x2000, 0x1000);
    wr32(&e, 0x2004, 4);
    wr32(&e, 0x2008, 0x1010);
    wr32(&e, 0x200c, 3);

    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 1, 0x2100), E_SUCCESS);
    assert_int_equal(rd32(&e, 0x2100), 4);
    assert_string_equal(e.cap.data[1], "out!");
    assert_int_equal(e.cap.len[2], 0);

    assert_int_equal(CALL(&e, "fd_write", 2, 0x2008, 1, 0x2100), E_SUCCESS);
    assert_int_equal(rd32(&e, 0x2100), 3);
    assert_string_equal(e.cap.data[2], "err");
    assert_string_equal(e.cap.data[1], "out!");

    /* Two iovecs, one of them empty. */
    wr32(&e, 0x2010, 0x1000);
    wr32(&e, 0x2014, 0);
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2008, 2, 0x2100), E_SUCCESS);
    assert_int_equal(rd32(&e, 0x2100), 3);
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 2, 0x2100), E_SUCCESS);
    assert_int_equal(rd32(&e, 0x2100), 7);
    assert_string_equal(e.cap.data[1], "out!errout!err");
    /* No iovecs at all. */
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 0, 0x2100), E_SUCCESS);
    assert_int_equal(rd32(&e, 0x2100), 0);

    /* Only 1 and 2 are writable. */
    int calls = e.cap.calls;
    assert_int_equal(CALL(&e, "fd_write", 0, 0x2000, 1, 0x2100), E_BADF);
    assert_int_equal(CALL(&e, "fd_write", 3, 0x2000, 1, 0x2100), E_BADF);
    assert_int_equal(CALL(&e, "fd_write", 0xffffffff, 0x2000, 1, 0x2100), E_BADF);
    assert_int_equal(e.cap.calls, calls);
    assert_int_equal(e.cap.len[0], 0);
    env_close(&e);
}

static void test_fd_write_bad_pointers(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    wrstr(&e, 0x1000, "data");
    wr32(&e, 0x2000, 0x1000);
    wr32(&e, 0x2004, 4);

    /* The iovec array itself out of range, or crossing the end. */
    assert_int_equal(CALL(&e, "fd_write", 1, 0xfffffff0, 1, 0x2100), E_FAULT);
    assert_int_equal(CALL(&e, "fd_write", 1, MEM_SIZE - 4, 1, 0x2100), E_FAULT);
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 0x20000000, 0x2100), E_FAULT);
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 0xffffffff, 0x2100), E_FAULT);
    /* A buffer out of range. */
    wr32(&e, 0x3000, MEM_SIZE - 16);
    wr32(&e, 0x3004, 0x100);
    assert_int_equal(CALL(&e, "fd_write", 1, 0x3000, 1, 0x2100), E_FAULT);
    wr32(&e, 0x3000, 0xffffffff);
    wr32(&e, 0x3004, 1);
    assert_int_equal(CALL(&e, "fd_write", 2, 0x3000, 1, 0x2100), E_FAULT);
    /* A good iovec followed by a bad one: nothing is written. */
    wr32(&e, 0x2008, 0xfffffff0);
    wr32(&e, 0x200c, 0x20);
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 2, 0x2100), E_FAULT);
    /* nwritten out of range. */
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 1, MEM_SIZE - 3), E_FAULT);
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 1, 0xffffffff), E_FAULT);
    assert_int_equal(e.cap.calls, 0);

    /* Still works afterwards. */
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 1, 0x2100), E_SUCCESS);
    assert_string_equal(e.cap.data[1], "data");
    env_close(&e);
}

static void test_fd_write_process_stdout(void **state)
{
    /* With write_out NULL, fd 1 goes to the process's stdout. */
    wasm_wasi *w = wasm_wasi_new(&(wasm_wasi_config){0, NULL, 0, NULL, NULL, NULL, false});
    assert_non_null(w);
    wasm_store *store = wasm_store_new(NULL);
    wasm_module *m = load("wasi_p1.wasm");
    uint32_t n = wasm_module_import_count(m);
    wasm_extern *imports = calloc(n, sizeof *imports);
    for (uint32_t i = 0; i < n; i++) {
        wasm_import_desc d;
        wasm_module_import(m, i, &d);
        assert_true(wasm_wasi_resolve(w, store, &d, &imports[i]));
    }
    wasm_error err;
    wasm_instance *inst = wasm_instance_new(store, m, imports, n, &err);
    free(imports);
    assert_non_null(inst);
    wasm_memory *mem = wasm_instance_memory(inst, 0);
    const uint8_t iov[8] = {0x00, 0x10, 0, 0, 5, 0, 0, 0};
    assert_true(wasm_memory_write(mem, 0x1000, "piped", 5));
    assert_true(wasm_memory_write(mem, 0x2000, iov, sizeof iov));
    wasm_func *f = wasm_instance_func(inst, "fd_write");

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    dup2(fds[1], STDOUT_FILENO);
    wasm_cell args[4] = {1, 0x2000, 1, 0x2100}, res = 99;
    bool ok = wasm_func_call(store, f, args, 4, &res, 1);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fds[1]);
    char buf[16] = {0};
    ssize_t got = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);

    assert_true(ok);
    assert_int_equal(res, E_SUCCESS);
    assert_int_equal(got, 5);
    assert_string_equal(buf, "piped");
    uint32_t nwritten = 0;
    assert_true(wasm_memory_read(mem, 0x2100, &nwritten, 4));
    assert_int_equal(nwritten, 5);
    wasm_store_free(store);
    wasm_module_release(m);
    wasm_wasi_free(w);
}

static void test_fd_read_and_stat(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    wr32(&e, 0x2000, 0x1000);
    wr32(&e, 0x2004, 16);
    wr32(&e, 0x2100, 1234);
    /* stdin is at end of file. */
    assert_int_equal(CALL(&e, "fd_read", 0, 0x2000, 1, 0x2100), E_SUCCESS);
    assert_int_equal(rd32(&e, 0x2100), 0);
    assert_int_equal(CALL(&e, "fd_read", 1, 0x2000, 1, 0x2100), E_BADF);
    assert_int_equal(CALL(&e, "fd_read", 5, 0x2000, 1, 0x2100), E_BADF);
    assert_int_equal(CALL(&e, "fd_read", 0, 0xfffffffc, 1, 0x2100), E_FAULT);
    assert_int_equal(CALL(&e, "fd_read", 0, 0x2000, 1, MEM_SIZE), E_FAULT);

    /* fd_fdstat_get: 0-2 are character devices. */
    for (uint32_t fd = 0; fd <= 2; fd++) {
        memset(at(&e, 0x3000, 32), 0xaa, 32);
        assert_int_equal(CALL(&e, "fd_fdstat_get", fd, 0x3000), E_SUCCESS);
        assert_int_equal(at(&e, 0x3000, 1)[0], 2);
        uint64_t rights = rd64(&e, 0x3008);
        assert_true(rights & (fd == 0 ? 1u << 1 : 1u << 6)); /* fd_read / fd_write */
        assert_false(rights & (1u << 2));                    /* no fd_seek: a tty */
        assert_int_equal(rd64(&e, 0x3010), 0);
        assert_int_equal(at(&e, 0x3018, 1)[0], 0xaa); /* 24 bytes, no more */
    }
    assert_int_equal(CALL(&e, "fd_fdstat_get", 3, 0x3000), E_BADF);
    assert_int_equal(CALL(&e, "fd_fdstat_get", 1, MEM_SIZE - 8), E_FAULT);
    assert_int_equal(CALL(&e, "fd_fdstat_set_flags", 1, 0), E_SUCCESS);
    assert_int_equal(CALL(&e, "fd_fdstat_set_flags", 1, 0x100), E_INVAL);
    assert_int_equal(CALL(&e, "fd_fdstat_set_flags", 4, 0), E_BADF);

    /* fd_filestat_get: the preview1 record is 64 bytes. */
    memset(at(&e, 0x3000, 80), 0xaa, 80);
    assert_int_equal(CALL(&e, "fd_filestat_get", 2, 0x3000), E_SUCCESS);
    assert_int_equal(at(&e, 0x3010, 1)[0], 2);
    assert_int_equal(rd64(&e, 0x3020), 0); /* size */
    assert_int_equal(rd64(&e, 0x3038), 0); /* ctim, the last field */
    assert_int_equal(at(&e, 0x3040, 1)[0], 0xaa);
    assert_int_equal(CALL(&e, "fd_filestat_get", 3, 0x3000), E_BADF);
    assert_int_equal(CALL(&e, "fd_filestat_get", 0, MEM_SIZE - 63), E_FAULT);
    env_close(&e);
}

static void test_no_preopens_no_paths(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    /* wasi-libc probes fds from 3 until BADF. */
    assert_int_equal(CALL(&e, "fd_prestat_get", 3, 0x100), E_BADF);
    assert_int_equal(CALL(&e, "fd_prestat_get", 0, 0x100), E_BADF);
    assert_int_equal(CALL(&e, "fd_prestat_dir_name", 3, 0x100, 16), E_BADF);

    wrstr(&e, 0x200, "etc/passwd");
    assert_int_equal(CALL(&e, "path_open", 3, 1, 0x200, 10, 0, 0x3f, 0x3f, 0, 0x300), E_BADF);
    assert_int_equal(CALL(&e, "path_open", 0, 1, 0x200, 10, 0, 0x3f, 0x3f, 0, 0x300), E_NOTCAPABLE);
    assert_int_equal(CALL(&e, "path_symlink", 0x200, 10, 4, 0x200, 10), E_BADF);
    assert_int_equal(CALL(&e, "path_symlink", 0x200, 10, 1, 0x200, 10), E_NOTCAPABLE);
    env_close(&e);
}

static void test_misc_errnos(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    assert_int_equal(CALL(&e, "fd_seek", 1, 0, 0, 0x100), E_SPIPE);
    assert_int_equal(CALL(&e, "fd_seek", 0, 5, 1, 0x100), E_SPIPE);
    assert_int_equal(CALL(&e, "fd_seek", 7, 0, 0, 0x100), E_BADF);
    assert_int_equal(CALL(&e, "fd_tell", 2, 0x100), E_SPIPE);
    assert_int_equal(CALL(&e, "fd_tell", 3, 0x100), E_BADF);
    assert_int_equal(CALL(&e, "fd_close", 9), E_BADF);
    assert_int_equal(CALL(&e, "proc_raise", 2), E_NOSYS);
    assert_int_equal(CALL0(&e, "sched_yield"), E_SUCCESS);
    assert_int_equal(CALL(&e, "sock_recv", 3, 0x100, 1, 0, 0x200, 0x204), E_NOTSUP);

    /* Closing stdout is a no-op: output still works. */
    assert_int_equal(CALL(&e, "fd_close", 1), E_SUCCESS);
    wrstr(&e, 0x1000, "still");
    wr32(&e, 0x2000, 0x1000);
    wr32(&e, 0x2004, 5);
    assert_int_equal(CALL(&e, "fd_write", 1, 0x2000, 1, 0x2100), E_SUCCESS);
    assert_string_equal(e.cap.data[1], "still");
    env_close(&e);
}

static void test_proc_exit(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    wasm_cell arg = 3;
    assert_false(try_call(&e, "proc_exit", &arg, 1, NULL));
    const wasm_trap *trap = wasm_store_last_trap(e.store);
    assert_int_equal(trap->kind, WASM_TRAP_EXIT);
    assert_int_equal(trap->exit_code, 3);

    /* The store is usable afterwards, and exit 0 is an exit trap too. */
    assert_int_equal(CALL0(&e, "sched_yield"), E_SUCCESS);
    arg = 0;
    assert_false(try_call(&e, "proc_exit", &arg, 1, NULL));
    assert_int_equal(wasm_store_last_trap(e.store)->kind, WASM_TRAP_EXIT);
    assert_int_equal(wasm_store_last_trap(e.store)->exit_code, 0);
    env_close(&e);
}

/* preview1 subscription: userdata@0 tag@8 clock{id@16 timeout@24 precision@32 flags@40} */
static void sub_clock(env *e, uint32_t at_, uint64_t userdata, uint32_t id, uint64_t timeout,
                      uint16_t flags)
{
    memset(at(e, at_, 48), 0, 48);
    wr64(e, at_, userdata);
    at(e, at_ + 8, 1)[0] = 0;
    wr32(e, at_ + 16, id);
    wr64(e, at_ + 24, timeout);
    wr16(e, at_ + 40, flags);
}

static void sub_fd(env *e, uint32_t at_, uint64_t userdata, uint8_t type, uint32_t fd)
{
    memset(at(e, at_, 48), 0, 48);
    wr64(e, at_, userdata);
    at(e, at_ + 8, 1)[0] = type;
    wr32(e, at_ + 16, fd);
}

/* event: userdata@0 error@8 type@10 nbytes@16 flags@24, 32 bytes */
static void check_event(env *e, uint32_t at_, uint64_t userdata, uint16_t error, uint8_t type)
{
    assert_int_equal(rd64(e, at_), userdata);
    const uint8_t *p = at(e, at_, 32);
    assert_int_equal(p[8] | p[9] << 8, error);
    assert_int_equal(p[10], type);
}

/* no_sleep (what the proxy uses for plugins): a 60 s sleep returns at once
 * with its clock event, so a guest cannot block a worker. */
static void test_poll_oneoff_no_sleep(void **state)
{
    (void)state;
    static const char *const argv[] = {"prog"};
    env e;
    env_open_cfg(&e, "wasi_p1.wasm", (wasm_wasi_config){1, argv, 0, NULL, NULL, NULL, true});
    const uint32_t in = 0x4000, out = 0x5000, nev = 0x6000;
    sub_clock(&e, in, 42, 1, 60ull * 1000000000u, 0);
    uint64_t t0 = mono_ns();
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 1, nev), E_SUCCESS);
    assert_true(mono_ns() - t0 < 5ull * 1000000000u);
    assert_int_equal(rd32(&e, nev), 1);
    check_event(&e, out, 42, 0, 0);
    env_close(&e);
}

static void test_poll_oneoff(void **state)
{
    env e;
    env_open(&e, "wasi_p1.wasm");
    const uint32_t in = 0x4000, out = 0x5000, nev = 0x6000;

    /* A 1 ms relative sleep on the monotonic clock. */
    sub_clock(&e, in, 0x1122334455667788ull, 1, 1000000, 0);
    wr32(&e, nev, 99);
    uint64_t t0 = mono_ns();
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 1, nev), E_SUCCESS);
    assert_true(mono_ns() - t0 >= 1000000u);
    assert_int_equal(rd32(&e, nev), 1);
    check_event(&e, out, 0x1122334455667788ull, 0, 0);

    /* Two clocks: the earlier one fires. */
    sub_clock(&e, in, 1, 1, 1000000, 0);
    sub_clock(&e, in + 48, 2, 1, 60ull * 1000000000u, 0);
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 2, nev), E_SUCCESS);
    assert_int_equal(rd32(&e, nev), 1);
    check_event(&e, out, 1, 0, 0);

    /* An absolute realtime deadline in the past fires at once. */
    sub_clock(&e, in, 3, 0, 1, 1);
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 1, nev), E_SUCCESS);
    assert_int_equal(rd32(&e, nev), 1);
    check_event(&e, out, 3, 0, 0);
    /* An absolute monotonic deadline 2 ms ahead. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    sub_clock(&e, in, 4, 1, now + 2000000, 1);
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 1, nev), E_SUCCESS);
    assert_true(mono_ns() >= now + 2000000);
    check_event(&e, out, 4, 0, 0);

    /* fd subscriptions answer at once; the clock is not reported. */
    sub_fd(&e, in, 5, 1, 7); /* fd_read on 7: BADF */
    sub_clock(&e, in + 48, 6, 1, 60ull * 1000000000u, 0);
    sub_fd(&e, in + 96, 7, 2, 1); /* fd_write on 1: ready */
    t0 = mono_ns();
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 3, nev), E_SUCCESS);
    assert_true(mono_ns() - t0 < 5ull * 1000000000u);
    assert_int_equal(rd32(&e, nev), 2);
    check_event(&e, out, 5, E_BADF, 1);
    check_event(&e, out + 32, 7, 0, 2);

    /* An expired clock is reported along with a ready fd, a pending one is not. */
    sub_fd(&e, in, 10, 2, 2);
    sub_clock(&e, in + 48, 11, 0, 1, 1);
    sub_clock(&e, in + 96, 12, 1, 60ull * 1000000000u, 0);
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 3, nev), E_SUCCESS);
    assert_int_equal(rd32(&e, nev), 2);
    check_event(&e, out, 10, 0, 2);
    check_event(&e, out + 32, 11, 0, 0);

    /* An unknown clock is an error event. */
    sub_clock(&e, in, 8, 42, 0, 0);
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 1, nev), E_SUCCESS);
    assert_int_equal(rd32(&e, nev), 1);
    check_event(&e, out, 8, E_INVAL, 0);

    /* Bad calls. */
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 0, nev), E_INVAL);
    sub_fd(&e, in, 9, 3, 1); /* no such event type */
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 1, nev), E_INVAL);
    assert_int_equal(CALL(&e, "poll_oneoff", MEM_SIZE - 40, out, 1, nev), E_FAULT);
    assert_int_equal(CALL(&e, "poll_oneoff", in, MEM_SIZE - 16, 1, nev), E_FAULT);
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 1, 0xffffffff), E_FAULT);
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 0x10000000, nev), E_FAULT);
    env_close(&e);
}

static void test_unstable(void **state)
{
    env e;
    env_open(&e, "wasi_unstable.wasm");
    wrstr(&e, 0x1000, "old");
    wr32(&e, 0x2000, 0x1000);
    wr32(&e, 0x2004, 3);
    assert_int_equal(CALL(&e, "fd_write", 2, 0x2000, 1, 0x2100), E_SUCCESS);
    assert_string_equal(e.cap.data[2], "old");

    /* filestat is 56 bytes in wasi_unstable (nlink is a u32). */
    memset(at(&e, 0x3000, 64), 0xaa, 64);
    assert_int_equal(CALL(&e, "fd_filestat_get", 1, 0x3000), E_SUCCESS);
    assert_int_equal(at(&e, 0x3010, 1)[0], 2);
    assert_int_equal(rd64(&e, 0x3030), 0); /* ctim */
    assert_int_equal(at(&e, 0x3038, 1)[0], 0xaa);

    /* A subscription's clock record starts with an identifier. */
    const uint32_t in = 0x4000, out = 0x5000, nev = 0x6000;
    memset(at(&e, in, 56), 0, 56);
    wr64(&e, in, 0xabcdef);        /* userdata */
    wr64(&e, in + 16, 0xdeadbeef); /* identifier: a bad clock id for preview1 */
    wr32(&e, in + 24, 1);          /* monotonic */
    wr64(&e, in + 32, 1000000);    /* 1 ms */
    uint64_t t0 = mono_ns();
    assert_int_equal(CALL(&e, "poll_oneoff", in, out, 1, nev), E_SUCCESS);
    assert_true(mono_ns() - t0 >= 1000000u);
    assert_int_equal(rd32(&e, nev), 1);
    check_event(&e, out, 0xabcdef, 0, 0);

    assert_int_equal(CALL(&e, "fd_seek", 1, 0, 2, 0x100), E_SPIPE);
    env_close(&e);
}

static void test_resolve_refuses(void **state)
{
    wasm_wasi *w = wasm_wasi_new(NULL);
    wasm_store *store = wasm_store_new(NULL);
    wasm_module *m = load("mismatch.wasm");
    uint32_t n = wasm_module_import_count(m);
    assert_int_equal(n, 4);
    for (uint32_t i = 0; i < n; i++) {
        wasm_import_desc d;
        wasm_extern ext;
        memset(&ext, 0, sizeof ext);
        wasm_module_import(m, i, &d);
        assert_false(wasm_wasi_resolve(w, store, &d, &ext));
        assert_null(ext.of.func);
    }
    /* And instantiating without them is a link error, not a crash. */
    wasm_error err;
    assert_null(wasm_instance_new(store, m, NULL, 0, &err));

    const uint8_t i32x4[] = {WASM_I32, WASM_I32, WASM_I32, WASM_I32};
    const uint8_t r32[] = {WASM_I32}, r64[] = {WASM_I64};
    wasm_import_desc d;
    memset(&d, 0, sizeof d);
    d.module = "wasi_snapshot_preview1";
    d.name = "fd_write";
    d.kind = WASM_EXTERN_FUNC;
    d.func = (wasm_functype){4, 1, i32x4, r32};
    wasm_extern ext;
    assert_true(wasm_wasi_resolve(w, store, &d, &ext));
    assert_int_equal(ext.kind, WASM_EXTERN_FUNC);
    wasm_functype t;
    wasm_func_type(ext.of.func, &t);
    assert_int_equal(t.nparams, 4);
    assert_int_equal(t.nresults, 1);
    assert_int_equal(t.results[0], WASM_I32);

    d.module = "wasi_unstable";
    assert_true(wasm_wasi_resolve(w, store, &d, &ext));
    d.func.results = r64;
    assert_false(wasm_wasi_resolve(w, store, &d, &ext));
    d.func = (wasm_functype){3, 1, i32x4, r32};
    assert_false(wasm_wasi_resolve(w, store, &d, &ext));
    d.func = (wasm_functype){4, 0, i32x4, NULL};
    assert_false(wasm_wasi_resolve(w, store, &d, &ext));
    d.func = (wasm_functype){4, 1, i32x4, r32};
    d.module = "wasi";
    assert_false(wasm_wasi_resolve(w, store, &d, &ext));
    d.module = "wasi_snapshot_preview1";
    d.kind = WASM_EXTERN_MEMORY;
    assert_false(wasm_wasi_resolve(w, store, &d, &ext));
    d.kind = WASM_EXTERN_FUNC;
    d.name = "fd_writ";
    assert_false(wasm_wasi_resolve(w, store, &d, &ext));
    /* sock_accept came after wasi_unstable. */
    d.name = "sock_accept";
    d.func = (wasm_functype){3, 1, i32x4, r32};
    assert_true(wasm_wasi_resolve(w, store, &d, &ext));
    d.module = "wasi_unstable";
    assert_false(wasm_wasi_resolve(w, store, &d, &ext));

    wasm_store_free(store);
    wasm_module_release(m);
    wasm_wasi_free(w);
}

static void test_no_memory(void **state)
{
    env e;
    env_open(&e, "nomem.wasm");
    assert_null(e.mem);
    assert_int_equal(CALL0(&e, "fd_write"), E_FAULT);
    assert_int_equal(CALL0(&e, "clock_time_get"), E_FAULT);
    assert_int_equal(CALL0(&e, "args_get"), E_FAULT);
    assert_int_equal(e.cap.calls, 0);
    env_close(&e);
}

static void test_hello_c(void **state)
{
    static const char *const argv[] = {"hello", "a", "b c"};
    static const char *const envp[] = {"OTHER=x", "GREETING=hi"};
    env e;
    env_open_cfg(&e, "hello.wasm", (wasm_wasi_config){3, argv, 2, envp, NULL, NULL, false});
    assert_false(try_call(&e, "_start", NULL, 0, NULL));
    const wasm_trap *trap = wasm_store_last_trap(e.store);
    assert_int_equal(trap->kind, WASM_TRAP_EXIT);
    assert_int_equal(trap->exit_code, 7);
    assert_string_equal(e.cap.data[1], "argc=3\n"
                                       "argv[0]=hello\n"
                                       "argv[1]=a\n"
                                       "argv[2]=b c\n"
                                       "GREETING=hi\n");
    assert_string_equal(e.cap.data[2], "hello: done\n");
    env_close(&e);

    /* Without the variable. */
    env_open_cfg(&e, "hello.wasm", (wasm_wasi_config){1, argv, 0, NULL, NULL, NULL, false});
    assert_false(try_call(&e, "_start", NULL, 0, NULL));
    assert_int_equal(wasm_store_last_trap(e.store)->exit_code, 7);
    assert_string_equal(e.cap.data[1], "argc=1\nargv[0]=hello\nGREETING=(unset)\n");
    env_close(&e);
}

static void test_every_wasi_libc_import(void **state)
{
    /* all_imports.c imports every function of wasi-libc's <wasi/api.h>. */
    env e;
    env_open(&e, "all_imports.wasm");
    assert_true(wasm_module_import_count(e.module) >= 44);
    wasm_cell r = 0;
    bool ok = try_call(&e, "_start", NULL, 0, &r);
    /* main returns 0: _start returns, or exits with 0 on older wasi-libc. */
    if (!ok) {
        assert_int_equal(wasm_store_last_trap(e.store)->kind, WASM_TRAP_EXIT);
        assert_int_equal(wasm_store_last_trap(e.store)->exit_code, 0);
    }
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_env_roundtrip),
        cmocka_unit_test(test_no_args_no_env),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_fd_write_routing),
        cmocka_unit_test(test_fd_write_bad_pointers),
        cmocka_unit_test(test_fd_write_process_stdout),
        cmocka_unit_test(test_fd_read_and_stat),
        cmocka_unit_test(test_no_preopens_no_paths),
        cmocka_unit_test(test_misc_errnos),
        cmocka_unit_test(test_proc_exit),
        cmocka_unit_test(test_poll_oneoff),
        cmocka_unit_test(test_poll_oneoff_no_sleep),
        cmocka_unit_test(test_unstable),
        cmocka_unit_test(test_resolve_refuses),
        cmocka_unit_test(test_no_memory),
        cmocka_unit_test(test_hello_c),
        cmocka_unit_test(test_every_wasi_libc_import),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
