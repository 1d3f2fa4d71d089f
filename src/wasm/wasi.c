/*
 * wasi.c - WASI preview1 (wasi_snapshot_preview1, and wasi_unstable where
 * the core signatures agree) for guests that have no file system.
 *
 * What a guest gets
 *   - its arguments and the configured environment variables;
 *   - clocks, random bytes, sched_yield, proc_exit and poll_oneoff on clocks;
 *   - fd 0: a character device at end of file (fd_read answers nread 0:
 *     a plugin has no stdin);
 *   - fd 1 and 2: character devices that go to config->write_out or, when
 *     that is NULL, to the process's stdout/stderr;
 *   - no preopened directories (fd_prestat_get answers BADF, which is how
 *     wasi-libc learns there are none), so no file can ever be opened.
 *
 * Errno choices (values of the WASI errno enum)
 *   fd >= 3 (nothing else exists)                  BADF 8
 *   path_* on fd 0-2 (no path rights)               NOTCAPABLE 76
 *   fd_seek/tell/pread/pwrite/advise/allocate 0-2   SPIPE 70 (a stream)
 *   fd_sync/datasync/filestat_set_size on 0-2       INVAL 28
 *   fd_readdir on 0-2                               NOTDIR 54
 *   fd_filestat_set_times/set_rights/renumber 0-2   NOTSUP 58
 *   fd_close on 0-2                                 SUCCESS, no effect
 *   sock_*                                          NOTSUP 58
 *   proc_raise                                      NOSYS 52
 *   any guest pointer out of bounds, or no memory   FAULT 21
 *
 * A wasm_wasi is never modified after wasm_wasi_new(): one may serve many
 * stores, on any threads, as long as write_out is thread-safe.
 *
 * Guest memory is little-endian whatever the host is: every field goes
 * through get/put helpers. Every guest pointer is checked with
 * wasm_memory_ptr() before use.
 */
#include "wasm/wasm.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- WASI constants ---------------------------------------------------------------- */

enum {
    E_SUCCESS = 0,
    E_AGAIN = 6,
    E_BADF = 8,
    E_FAULT = 21,
    E_INVAL = 28,
    E_IO = 29,
    E_NOMEM = 48,
    E_NOSYS = 52,
    E_NOTDIR = 54,
    E_NOTSUP = 58,
    E_PIPE = 64,
    E_SPIPE = 70,
    E_NOTCAPABLE = 76,
};

enum {
    FILETYPE_CHARACTER_DEVICE = 2,
};

enum {
    EVENTTYPE_CLOCK = 0,
    EVENTTYPE_FD_READ = 1,
    EVENTTYPE_FD_WRITE = 2,
};

#define SUBCLOCKFLAGS_ABSTIME 1u
#define EVENTRWFLAGS_HANGUP 1u
#define FDFLAGS_ALL 0x1fu /* append, dsync, nonblock, rsync, sync */

/* rights */
#define R_FD_READ (1ull << 1)
#define R_FD_FDSTAT_SET_FLAGS (1ull << 3)
#define R_FD_WRITE (1ull << 6)
#define R_FD_FILESTAT_GET (1ull << 21)
#define R_POLL_FD_READWRITE (1ull << 27)

/* Sizes of the records crossing the ABI. */
#define IOVEC_SIZE 8
#define FDSTAT_SIZE 24
#define FILESTAT_SIZE 64          /* preview1: nlink is u64 */
#define FILESTAT_SIZE_UNSTABLE 56 /* wasi_unstable: nlink is u32 */
#define EVENT_SIZE 32
#define SUBSCRIPTION_SIZE 48
#define SUBSCRIPTION_SIZE_UNSTABLE 56 /* the clock record has an extra identifier */

/* ---- the WASI context --------------------------------------------------------------- */

/* A list of NUL-terminated strings stored back to back, as args_get and
 * environ_get lay them out in guest memory. */
typedef struct strlist {
    uint32_t count;
    uint32_t size;     /* bytes in buf, NULs included */
    uint32_t *offsets; /* of each string in buf */
    char *buf;
} strlist;

struct wasm_wasi {
    strlist args;
    strlist env;
    void (*write_out)(void *ctx, int fd, const uint8_t *data, size_t size);
    void *write_ctx;
    bool no_sleep;
};

static bool strlist_init(strlist *list, int n, const char *const *strs)
{
    memset(list, 0, sizeof *list);
    if (n <= 0 || !strs)
        return true;
    uint64_t size = 0;
    for (int i = 0; i < n; i++)
        size += (strs[i] ? strlen(strs[i]) : 0) + 1;
    /* Both the strings and the pointer array must fit a 32-bit guest. */
    if (size > UINT32_MAX || (uint64_t)n * 4 > UINT32_MAX)
        return false;
    list->offsets = malloc((size_t)n * sizeof *list->offsets);
    list->buf = malloc((size_t)size);
    if (!list->offsets || !list->buf)
        return false;
    uint32_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *s = strs[i] ? strs[i] : "";
        size_t len = strlen(s) + 1;
        list->offsets[i] = at;
        memcpy(list->buf + at, s, len);
        at += (uint32_t)len;
    }
    list->count = (uint32_t)n;
    list->size = at;
    return true;
}

static void strlist_free(strlist *list)
{
    free(list->offsets);
    free(list->buf);
}

wasm_wasi *wasm_wasi_new(const wasm_wasi_config *config)
{
    wasm_wasi *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    if (config) {
        if (!strlist_init(&w->args, config->argc, config->argv) ||
            !strlist_init(&w->env, config->envc, config->envp)) {
            wasm_wasi_free(w);
            return NULL;
        }
        w->write_out = config->write_out;
        w->write_ctx = config->write_ctx;
        w->no_sleep = config->no_sleep;
    }
    return w;
}

void wasm_wasi_free(wasm_wasi *wasi)
{
    if (!wasi)
        return;
    strlist_free(&wasi->args);
    strlist_free(&wasi->env);
    free(wasi);
}

/* ---- guest memory helpers ------------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* [offset, offset+size) of the caller's memory 0, or NULL when there is no
 * memory or the range is out of bounds. */
static uint8_t *guest(wasm_memory *mem, uint32_t offset, uint64_t size)
{
    return mem ? wasm_memory_ptr(mem, offset, size) : NULL;
}

#define ARG32(i) ((uint32_t)args[i])
#define ARG64(i) ((uint64_t)args[i])

/* Every WASI function returns an errno as its i32 result. */
static bool ret(wasm_cell *results, uint16_t err)
{
    results[0] = err;
    return true;
}

static bool is_stdio(uint32_t fd)
{
    return fd <= 2;
}

static uint16_t errno_from_host(int e)
{
    switch (e) {
    case EPIPE:
        return E_PIPE;
    case EAGAIN:
        return E_AGAIN;
    case ENOMEM:
        return E_NOMEM;
    default:
        return E_IO;
    }
}

/* ---- args and environment ------------------------------------------------------------ */

static bool sizes_get(wasm_call *call, const strlist *list, const wasm_cell *args,
                      wasm_cell *results)
{
    wasm_memory *mem = wasm_call_memory(call);
    uint8_t *count = guest(mem, ARG32(0), 4);
    uint8_t *size = guest(mem, ARG32(1), 4);
    if (!count || !size)
        return ret(results, E_FAULT);
    put32(count, list->count);
    put32(size, list->size);
    return ret(results, E_SUCCESS);
}

static bool list_get(wasm_call *call, const strlist *list, const wasm_cell *args,
                     wasm_cell *results)
{
    wasm_memory *mem = wasm_call_memory(call);
    uint32_t buf_at = ARG32(1);
    uint8_t *ptrs = guest(mem, ARG32(0), (uint64_t)list->count * 4);
    uint8_t *buf = guest(mem, buf_at, list->size);
    if (!ptrs || !buf)
        return ret(results, E_FAULT);
    for (uint32_t i = 0; i < list->count; i++)
        put32(ptrs + 4 * (size_t)i, buf_at + list->offsets[i]);
    if (list->size)
        memcpy(buf, list->buf, list->size);
    return ret(results, E_SUCCESS);
}

static bool wasi_args_sizes_get(wasm_call *call, void *env, const wasm_cell *args,
                                wasm_cell *results)
{
    return sizes_get(call, &((wasm_wasi *)env)->args, args, results);
}

static bool wasi_args_get(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    return list_get(call, &((wasm_wasi *)env)->args, args, results);
}

static bool wasi_environ_sizes_get(wasm_call *call, void *env, const wasm_cell *args,
                                   wasm_cell *results)
{
    return sizes_get(call, &((wasm_wasi *)env)->env, args, results);
}

static bool wasi_environ_get(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    return list_get(call, &((wasm_wasi *)env)->env, args, results);
}

/* ---- clocks -------------------------------------------------------------------------- */

static bool host_clock(uint32_t id, clockid_t *out)
{
    switch (id) {
    case 0:
        *out = CLOCK_REALTIME;
        return true;
    case 1:
        *out = CLOCK_MONOTONIC;
        return true;
    case 2:
        *out = CLOCK_PROCESS_CPUTIME_ID;
        return true;
    case 3:
        *out = CLOCK_THREAD_CPUTIME_ID;
        return true;
    default:
        return false;
    }
}

static uint64_t ts_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

/* Current time of WASI clock `id` in nanoseconds; false for an unknown clock. */
static bool clock_now(uint32_t id, uint64_t *ns)
{
    clockid_t c = CLOCK_MONOTONIC;
    struct timespec ts = {0, 0};
    if (!host_clock(id, &c) || clock_gettime(c, &ts) != 0)
        return false;
    *ns = ts_ns(&ts);
    return true;
}

static bool wasi_clock_res_get(wasm_call *call, void *env, const wasm_cell *args,
                               wasm_cell *results)
{
    clockid_t c = CLOCK_MONOTONIC;
    struct timespec ts = {0, 0};
    if (!host_clock(ARG32(0), &c) || clock_getres(c, &ts) != 0)
        return ret(results, E_INVAL);
    uint8_t *out = guest(wasm_call_memory(call), ARG32(1), 8);
    if (!out)
        return ret(results, E_FAULT);
    put64(out, ts_ns(&ts));
    return ret(results, E_SUCCESS);
}

static bool wasi_clock_time_get(wasm_call *call, void *env, const wasm_cell *args,
                                wasm_cell *results)
{
    /* args[1] is the requested precision; the host clock is as precise as it gets. */
    uint64_t ns = 0;
    if (!clock_now(ARG32(0), &ns))
        return ret(results, E_INVAL);
    uint8_t *out = guest(wasm_call_memory(call), ARG32(2), 8);
    if (!out)
        return ret(results, E_FAULT);
    put64(out, ns);
    return ret(results, E_SUCCESS);
}

/* ---- random, scheduling, process ------------------------------------------------------ */

static bool wasi_random_get(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    uint32_t len = ARG32(1);
    uint8_t *buf = guest(wasm_call_memory(call), ARG32(0), len);
    if (!buf)
        return ret(results, E_FAULT);
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ret(results, E_IO);
        }
        done += (size_t)n;
    }
    return ret(results, E_SUCCESS);
}

static bool wasi_sched_yield(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    sched_yield();
    return ret(results, E_SUCCESS);
}

static bool wasi_proc_exit(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    return wasm_call_exit(call, (int)ARG32(0));
}

static bool wasi_proc_raise(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    return ret(results, E_NOSYS);
}

/* ---- fd_write / fd_read --------------------------------------------------------------- */

static uint16_t emit(const wasm_wasi *w, uint32_t fd, const uint8_t *data, size_t size,
                     size_t *done)
{
    if (w->write_out) {
        w->write_out(w->write_ctx, (int)fd, data, size);
        *done += size;
        return E_SUCCESS;
    }
    int hfd = fd == 1 ? STDOUT_FILENO : STDERR_FILENO;
    while (size) {
        ssize_t n = write(hfd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno_from_host(errno);
        }
        data += n;
        size -= (size_t)n;
        *done += (size_t)n;
    }
    return E_SUCCESS;
}

/* Checks a guest iovec array of `n` entries at `at`: every buffer in bounds
 * and the total representable as a u32. Returns the array or NULL. */
static const uint8_t *iovecs(wasm_memory *mem, uint32_t at, uint32_t n, uint16_t *err)
{
    const uint8_t *iov = guest(mem, at, (uint64_t)n * IOVEC_SIZE);
    if (!iov) {
        *err = E_FAULT;
        return NULL;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = iov + (size_t)i * IOVEC_SIZE;
        uint32_t len = get32(e + 4);
        if (!guest(mem, get32(e), len)) {
            *err = E_FAULT;
            return NULL;
        }
        total += len;
    }
    if (total > UINT32_MAX) {
        *err = E_INVAL;
        return NULL;
    }
    return iov;
}

static bool wasi_fd_write(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    const wasm_wasi *w = env;
    uint32_t fd = ARG32(0), niov = ARG32(2);
    if (fd != 1 && fd != 2)
        return ret(results, E_BADF);
    wasm_memory *mem = wasm_call_memory(call);
    uint16_t err = E_SUCCESS;
    const uint8_t *iov = iovecs(mem, ARG32(1), niov, &err);
    if (!iov)
        return ret(results, err);
    uint8_t *nwritten = guest(mem, ARG32(3), 4);
    if (!nwritten)
        return ret(results, E_FAULT);
    size_t done = 0;
    for (uint32_t i = 0; i < niov && err == E_SUCCESS; i++) {
        const uint8_t *e = iov + (size_t)i * IOVEC_SIZE;
        uint32_t len = get32(e + 4);
        if (len)
            err = emit(w, fd, wasm_memory_ptr(mem, get32(e), len), len, &done);
    }
    /* Like write(2): a failure after some bytes went out is a short write. */
    if (err != E_SUCCESS && done == 0)
        return ret(results, err);
    put32(nwritten, (uint32_t)done);
    return ret(results, E_SUCCESS);
}

static bool wasi_fd_read(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    /* fd 0 is always at end of file: a plugin has no stdin. */
    if (ARG32(0) != 0)
        return ret(results, E_BADF);
    wasm_memory *mem = wasm_call_memory(call);
    uint16_t err = E_SUCCESS;
    if (!iovecs(mem, ARG32(1), ARG32(2), &err))
        return ret(results, err);
    uint8_t *nread = guest(mem, ARG32(3), 4);
    if (!nread)
        return ret(results, E_FAULT);
    put32(nread, 0);
    return ret(results, E_SUCCESS);
}

/* ---- other fd_* ---------------------------------------------------------------------- */

static uint64_t stdio_rights(uint32_t fd)
{
    return (fd == 0 ? R_FD_READ : R_FD_WRITE) | R_FD_FDSTAT_SET_FLAGS | R_FD_FILESTAT_GET |
           R_POLL_FD_READWRITE;
}

static bool wasi_fd_fdstat_get(wasm_call *call, void *env, const wasm_cell *args,
                               wasm_cell *results)
{
    uint32_t fd = ARG32(0);
    if (!is_stdio(fd))
        return ret(results, E_BADF);
    uint8_t *st = guest(wasm_call_memory(call), ARG32(1), FDSTAT_SIZE);
    if (!st)
        return ret(results, E_FAULT);
    memset(st, 0, FDSTAT_SIZE);
    st[0] = FILETYPE_CHARACTER_DEVICE;
    put16(st + 2, 0);                /* fs_flags */
    put64(st + 8, stdio_rights(fd)); /* fs_rights_base */
    put64(st + 16, 0);               /* fs_rights_inheriting */
    return ret(results, E_SUCCESS);
}

static bool wasi_fd_fdstat_set_flags(wasm_call *call, void *env, const wasm_cell *args,
                                     wasm_cell *results)
{
    if (!is_stdio(ARG32(0)))
        return ret(results, E_BADF);
    /* Accepted and ignored: output never blocks the guest for long and input is at EOF. */
    return ret(results, (ARG32(1) & ~FDFLAGS_ALL) ? E_INVAL : E_SUCCESS);
}

static bool filestat_get(wasm_call *call, const wasm_cell *args, wasm_cell *results, bool unstable)
{
    if (!is_stdio(ARG32(0)))
        return ret(results, E_BADF);
    size_t size = unstable ? FILESTAT_SIZE_UNSTABLE : FILESTAT_SIZE;
    uint8_t *st = guest(wasm_call_memory(call), ARG32(1), size);
    if (!st)
        return ret(results, E_FAULT);
    /* dev, ino, nlink, size and the times are 0; only the type is known. */
    memset(st, 0, size);
    st[16] = FILETYPE_CHARACTER_DEVICE;
    return ret(results, E_SUCCESS);
}

static bool wasi_fd_filestat_get(wasm_call *call, void *env, const wasm_cell *args,
                                 wasm_cell *results)
{
    return filestat_get(call, args, results, false);
}

static bool wasi_unstable_fd_filestat_get(wasm_call *call, void *env, const wasm_cell *args,
                                          wasm_cell *results)
{
    return filestat_get(call, args, results, true);
}

static bool wasi_fd_close(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    /* The host's stdio is not the guest's to close: pretend. */
    return ret(results, is_stdio(ARG32(0)) ? E_SUCCESS : E_BADF);
}

static bool wasi_fd_renumber(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    if (!is_stdio(ARG32(0)) || !is_stdio(ARG32(1)))
        return ret(results, E_BADF);
    return ret(results, E_NOTSUP);
}

static bool wasi_badf(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    return ret(results, E_BADF);
}

static bool wasi_notsup(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    return ret(results, E_NOTSUP);
}

/* An fd_* call that only fd 0-2 could answer, with `stdio_err`. */
#define FD_NO_FILES(fname, stdio_err)                                                                  \
    static bool fname(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)       \
    {                                                                                              \
        return ret(results, is_stdio(ARG32(0)) ? (stdio_err) : E_BADF);                            \
    }

FD_NO_FILES(wasi_fd_spipe, E_SPIPE)   /* seek, tell, pread, pwrite, advise, allocate */
FD_NO_FILES(wasi_fd_inval, E_INVAL)   /* sync, datasync, filestat_set_size */
FD_NO_FILES(wasi_fd_notdir, E_NOTDIR) /* readdir */
FD_NO_FILES(wasi_fd_notsup, E_NOTSUP) /* filestat_set_times, fdstat_set_rights */

/* A path_* call whose directory fd is argument `i`: no fd is a directory
 * with path rights, so fd 0-2 lack the capability and the rest do not exist. */
#define PATH_NO_FILES(fname, i)                                                                        \
    static bool fname(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)       \
    {                                                                                              \
        return ret(results, is_stdio(ARG32(i)) ? E_NOTCAPABLE : E_BADF);                           \
    }

PATH_NO_FILES(wasi_path_at0, 0)
PATH_NO_FILES(wasi_path_at2, 2) /* path_symlink(old_path, old_len, fd, new_path, new_len) */

/* ---- poll_oneoff --------------------------------------------------------------------- */

typedef struct pending_event {
    uint64_t userdata;
    uint64_t wait_ns; /* clock: from now until the timeout */
    uint16_t error;
    uint16_t rwflags;
    uint8_t type;
    bool now; /* happens without waiting */
} pending_event;

static void sleep_ns(uint64_t ns)
{
    struct timespec deadline = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    uint64_t end = ts_ns(&deadline) + ns;
    deadline.tv_sec = (time_t)(end / 1000000000u);
    deadline.tv_nsec = (long)(end % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR)
        ;
}

/* Reads one subscription into *ev. Returns an errno for the whole call
 * (an unknown tag), else E_SUCCESS. */
static uint16_t read_subscription(const uint8_t *s, bool unstable, pending_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->userdata = get64(s);
    ev->type = s[8];
    switch (ev->type) {
    case EVENTTYPE_CLOCK: {
        /* preview1: id@16 timeout@24 precision@32 flags@40;
         * wasi_unstable has an identifier at 16 first, so +8. */
        const uint8_t *c = s + (unstable ? 24 : 16);
        uint32_t id = get32(c);
        uint64_t timeout = get64(c + 8);
        uint16_t flags = get16(c + 24);
        uint64_t now = 0;
        if (!clock_now(id, &now)) {
            ev->error = E_INVAL;
            ev->now = true;
        } else if (flags & SUBCLOCKFLAGS_ABSTIME) {
            ev->wait_ns = timeout > now ? timeout - now : 0;
        } else {
            ev->wait_ns = timeout;
        }
        return E_SUCCESS;
    }
    case EVENTTYPE_FD_READ:
    case EVENTTYPE_FD_WRITE: {
        uint32_t fd = get32(s + 16);
        ev->now = true;
        if (ev->type == EVENTTYPE_FD_READ && fd == 0)
            ev->rwflags = EVENTRWFLAGS_HANGUP; /* at end of file */
        else if (ev->type == EVENTTYPE_FD_WRITE && (fd == 1 || fd == 2))
            ev->rwflags = 0; /* always writable */
        else
            ev->error = E_BADF;
        return E_SUCCESS;
    }
    default:
        return E_INVAL;
    }
}

static bool poll_oneoff(wasm_call *call, const wasm_cell *args, wasm_cell *results, bool unstable,
                        bool no_sleep)
{
    wasm_memory *mem = wasm_call_memory(call);
    uint32_t n = ARG32(2);
    size_t sub_size = unstable ? SUBSCRIPTION_SIZE_UNSTABLE : SUBSCRIPTION_SIZE;
    const uint8_t *in = guest(mem, ARG32(0), (uint64_t)n * sub_size);
    uint8_t *out = guest(mem, ARG32(1), (uint64_t)n * EVENT_SIZE);
    uint8_t *nevents = guest(mem, ARG32(3), 4);
    if (!in || !out || !nevents)
        return ret(results, E_FAULT);
    if (n == 0)
        return ret(results, E_INVAL); /* would wait forever */

    /* Everything is read before anything is written: in and out may overlap. */
    pending_event *evs = calloc(n, sizeof *evs);
    if (!evs)
        return ret(results, E_NOMEM);
    bool any_now = false;
    uint64_t min_wait = UINT64_MAX;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t err = read_subscription(in + (size_t)i * sub_size, unstable, &evs[i]);
        if (err != E_SUCCESS) {
            free(evs);
            return ret(results, err);
        }
        if (evs[i].now)
            any_now = true;
        else if (evs[i].wait_ns < min_wait)
            min_wait = evs[i].wait_ns;
    }
    /* Something is ready now: report it (and any clock already expired)
     * without waiting. Otherwise sleep until the earliest timeout (cputime
     * clocks are approximated by wall time) and report every clock that
     * has expired by then. */
    uint64_t horizon = any_now ? 0 : min_wait;
    if (horizon > 0 && !no_sleep)
        sleep_ns(horizon);
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++) {
        const pending_event *ev = &evs[i];
        if (!ev->now && ev->wait_ns > horizon)
            continue;
        uint8_t *e = out + (size_t)count * EVENT_SIZE;
        memset(e, 0, EVENT_SIZE);
        put64(e, ev->userdata);
        put16(e + 8, ev->error);
        e[10] = ev->type;
        put64(e + 16, 0); /* fd_readwrite.nbytes */
        put16(e + 24, ev->rwflags);
        count++;
    }
    free(evs);
    put32(nevents, count);
    return ret(results, E_SUCCESS);
}

static bool wasi_poll_oneoff(wasm_call *call, void *env, const wasm_cell *args, wasm_cell *results)
{
    return poll_oneoff(call, args, results, false, ((const wasm_wasi *)env)->no_sleep);
}

static bool wasi_unstable_poll_oneoff(wasm_call *call, void *env, const wasm_cell *args,
                                      wasm_cell *results)
{
    return poll_oneoff(call, args, results, true, ((const wasm_wasi *)env)->no_sleep);
}

/* ---- resolution ---------------------------------------------------------------------- */

#define P1 1u       /* wasi_snapshot_preview1 */
#define UNSTABLE 2u /* wasi_unstable */
#define BOTH (P1 | UNSTABLE)

/* params/results: one letter per value, 'i' i32, 'I' i64. */
typedef struct wasi_entry {
    const char *name;
    const char *params;
    const char *results;
    wasm_host_fn fn;
    unsigned modules;
} wasi_entry;

static const wasi_entry wasi_table[] = {
    {"args_get", "ii", "i", wasi_args_get, BOTH},
    {"args_sizes_get", "ii", "i", wasi_args_sizes_get, BOTH},
    {"environ_get", "ii", "i", wasi_environ_get, BOTH},
    {"environ_sizes_get", "ii", "i", wasi_environ_sizes_get, BOTH},
    {"clock_res_get", "ii", "i", wasi_clock_res_get, BOTH},
    {"clock_time_get", "iIi", "i", wasi_clock_time_get, BOTH},
    {"fd_advise", "iIIi", "i", wasi_fd_spipe, BOTH},
    {"fd_allocate", "iII", "i", wasi_fd_spipe, BOTH},
    {"fd_close", "i", "i", wasi_fd_close, BOTH},
    {"fd_datasync", "i", "i", wasi_fd_inval, BOTH},
    {"fd_fdstat_get", "ii", "i", wasi_fd_fdstat_get, BOTH},
    {"fd_fdstat_set_flags", "ii", "i", wasi_fd_fdstat_set_flags, BOTH},
    {"fd_fdstat_set_rights", "iII", "i", wasi_fd_notsup, BOTH},
    {"fd_filestat_get", "ii", "i", wasi_fd_filestat_get, P1},
    {"fd_filestat_get", "ii", "i", wasi_unstable_fd_filestat_get, UNSTABLE},
    {"fd_filestat_set_size", "iI", "i", wasi_fd_inval, BOTH},
    {"fd_filestat_set_times", "iIIi", "i", wasi_fd_notsup, BOTH},
    {"fd_pread", "iiiIi", "i", wasi_fd_spipe, BOTH},
    {"fd_prestat_get", "ii", "i", wasi_badf, BOTH},
    {"fd_prestat_dir_name", "iii", "i", wasi_badf, BOTH},
    {"fd_pwrite", "iiiIi", "i", wasi_fd_spipe, BOTH},
    {"fd_read", "iiii", "i", wasi_fd_read, BOTH},
    {"fd_readdir", "iiiIi", "i", wasi_fd_notdir, BOTH},
    {"fd_renumber", "ii", "i", wasi_fd_renumber, BOTH},
    /* wasi_unstable encodes whence differently; both answer SPIPE/BADF. */
    {"fd_seek", "iIii", "i", wasi_fd_spipe, BOTH},
    {"fd_sync", "i", "i", wasi_fd_inval, BOTH},
    {"fd_tell", "ii", "i", wasi_fd_spipe, BOTH},
    {"fd_write", "iiii", "i", wasi_fd_write, BOTH},
    {"path_create_directory", "iii", "i", wasi_path_at0, BOTH},
    {"path_filestat_get", "iiiii", "i", wasi_path_at0, BOTH},
    {"path_filestat_set_times", "iiiiIIi", "i", wasi_path_at0, BOTH},
    {"path_link", "iiiiiii", "i", wasi_path_at0, BOTH},
    {"path_open", "iiiiiIIii", "i", wasi_path_at0, BOTH},
    {"path_readlink", "iiiiii", "i", wasi_path_at0, BOTH},
    {"path_remove_directory", "iii", "i", wasi_path_at0, BOTH},
    {"path_rename", "iiiiii", "i", wasi_path_at0, BOTH},
    {"path_symlink", "iiiii", "i", wasi_path_at2, BOTH},
    {"path_unlink_file", "iii", "i", wasi_path_at0, BOTH},
    {"poll_oneoff", "iiii", "i", wasi_poll_oneoff, P1},
    {"poll_oneoff", "iiii", "i", wasi_unstable_poll_oneoff, UNSTABLE},
    {"proc_exit", "i", "", wasi_proc_exit, BOTH},
    {"proc_raise", "i", "i", wasi_proc_raise, BOTH},
    {"sched_yield", "", "i", wasi_sched_yield, BOTH},
    {"random_get", "ii", "i", wasi_random_get, BOTH},
    {"sock_accept", "iii", "i", wasi_notsup, P1},
    {"sock_recv", "iiiiii", "i", wasi_notsup, BOTH},
    {"sock_send", "iiiii", "i", wasi_notsup, BOTH},
    {"sock_shutdown", "ii", "i", wasi_notsup, BOTH},
};

#define MAX_VALUES 16

static bool decode_types(const char *letters, uint8_t *types, uint32_t *n)
{
    size_t len = strlen(letters);
    if (len > MAX_VALUES)
        return false;
    for (size_t i = 0; i < len; i++)
        types[i] = letters[i] == 'I' ? WASM_I64 : WASM_I32;
    *n = (uint32_t)len;
    return true;
}

static bool same_types(const uint8_t *a, uint32_t na, const uint8_t *b, uint32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

bool wasm_wasi_resolve(wasm_wasi *wasi, wasm_store *store, const wasm_import_desc *import,
                       wasm_extern *out)
{
    if (!wasi || !store || !import || !out || import->kind != WASM_EXTERN_FUNC || !import->module ||
        !import->name)
        return false;
    unsigned module = 0;
    if (strcmp(import->module, "wasi_snapshot_preview1") == 0)
        module = P1;
    else if (strcmp(import->module, "wasi_unstable") == 0)
        module = UNSTABLE;
    else
        return false;
    for (size_t i = 0; i < sizeof wasi_table / sizeof wasi_table[0]; i++) {
        const wasi_entry *e = &wasi_table[i];
        if (!(e->modules & module) || strcmp(e->name, import->name) != 0)
            continue;
        uint8_t params[MAX_VALUES], res[MAX_VALUES];
        wasm_functype type = {0, 0, params, res};
        if (!decode_types(e->params, params, &type.nparams) ||
            !decode_types(e->results, res, &type.nresults))
            return false;
        if (!same_types(params, type.nparams, import->func.params, import->func.nparams) ||
            !same_types(res, type.nresults, import->func.results, import->func.nresults))
            return false; /* declared with another signature: a link error */
        char name[96];
        snprintf(name, sizeof name, "%s.%s", import->module, e->name);
        wasm_func *f = wasm_func_new_host(store, &type, e->fn, wasi, name);
        if (!f)
            return false;
        out->kind = WASM_EXTERN_FUNC;
        out->of.func = f;
        return true;
    }
    return false;
}
