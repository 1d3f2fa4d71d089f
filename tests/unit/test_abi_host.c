/*
 * test_abi_host.c - the Proxy-Wasm host through its C API (src/abi/abi.h)
 * with real plugins and a fake data plane of this file's own: pw_host_ops
 * that record every call (and what the test was doing when it came),
 * HTTP calls answered when the test decides, ticks fired on demand, and
 * queue notifications across threads. No sockets, no CLI.
 *
 * What tests/abi/test_plugin_run.py covers through `wasmgate plugin run`
 * is not repeated here; these are the things one simulated stream cannot
 * show: chunked bodies, when deferred actions reach the data plane, two
 * streams and late or repeated HTTP call answers, two VMs on two threads,
 * the VM after a failure, configured deadlines and memory caps, start-up
 * restrictions, the wasm:trace log, and load errors.
 *
 * Plugins: C plugins from tests/plugins built by `make plugins` into
 * build/plugins, found through $PLUGIN_DIR or relative to this source file.
 * Small modules for load errors are assembled with wat2wasm.
 */
#include "abi/abi.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- plugins ---------------------------------------------------------------------- */

static const char *plugin_dir(void)
{
    static char dir[4096];
    const char *env = getenv("PLUGIN_DIR");
    if (env && env[0])
        return env;
    /* __FILE__ is this source file (absolute under CMake): its
     * tests/unit/../../build/plugins. */
    const char *slash = strrchr(__FILE__, '/');
    int n = slash ? (int)(slash - __FILE__) : 1;
    snprintf(dir, sizeof dir, "%.*s/../../build/plugins", n, slash ? __FILE__ : ".");
    return dir;
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *data = malloc(cap);
    size_t n;
    while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *d = realloc(data, cap * 2);
            if (!d) {
                free(data);
                data = NULL;
                break;
            }
            data = d;
            cap *= 2;
        }
    }
    fclose(f);
    *size = len;
    return data;
}

static pw_module *load_plugin(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.wasm", plugin_dir(), name);
    size_t size = 0;
    uint8_t *bytes = read_all(path, &size);
    if (!bytes)
        fail_msg("cannot read %s (%s): run `make plugins` first (or set PLUGIN_DIR)", path,
                 strerror(errno));
    wasm_error err = {0};
    pw_module *m = pw_module_load(bytes, size, &err);
    free(bytes);
    if (!m)
        fail_msg("%s does not load: %s", path, err.message);
    return m;
}

/* ---- the fake data plane ---------------------------------------------------------- */

/* What the test is doing when an op arrives. */
typedef enum phase {
    PH_IDLE,
    PH_VM_NEW,
    PH_REQUEST_HEADERS,
    PH_REQUEST_BODY,
    PH_RESPONSE_HEADERS,
    PH_RESPONSE_BODY,
    PH_FINISH,
    PH_TICK,
    PH_CALL_RESPONSE,
    PH_QUEUES,
} phase;

typedef struct host host;
typedef struct fstream fstream;

typedef struct op_record {
    char kind[16]; /* "resume", "close", "local_reply", "http_call" */
    phase phase;
    fstream *stream; /* NULL for http_call */
    int type;        /* stream type; token for http_call */
} op_record;

typedef struct fake_call {
    uint32_t token;
    char cluster[64];
    char path[64];
    char body[64];
    uint32_t timeout_ms;
} fake_call;

#define MAX_OPS 64
#define MAX_CALLS 16

struct host {
    pw_vm *vm;
    phase phase;
    const char *known_cluster; /* NULL: every cluster exists */
    char **logs;               /* "<level> <message>" */
    int nlogs, logs_cap;
    op_record ops[MAX_OPS];
    int nops;
    fake_call calls[MAX_CALLS];
    int ncalls;
    uint32_t tick_period;
    int set_tick_calls;
    int mark_fd; /* >= 0: ops write "MARK <kind>" lines there */
    /* What the data plane does from inside an op (may be NULL). */
    void (*on_resume)(host *h, fstream *fs, pw_stream_type type);
    void (*on_local_reply)(host *h, fstream *fs);
    /* Queue notifications come from any thread. */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    int queue_ready_calls;
    pw_vm *queue_ready_vm;
    pthread_t queue_ready_thread;
};

struct fstream {
    host *h;
    pw_stream *s;
    bool finished;
    wg_headers req_h, req_t, resp_h, resp_t;
    wg_buf req_b, resp_b;
    int resumed[4];
    int closed;
    int replies;
    uint32_t reply_status;
    char reply_details[64];
    int32_t reply_grpc;
    wg_buf reply_body;
    wg_headers reply_headers;
    int hook_result; /* what an event run from an op returned (-1: none) */
};

static void record_op(host *h, const char *kind, fstream *fs, int type)
{
    assert_true(h->nops < MAX_OPS);
    op_record *r = &h->ops[h->nops++];
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    r->phase = h->phase;
    r->stream = fs;
    r->type = type;
    if (h->mark_fd >= 0) {
        char line[64];
        int n = snprintf(line, sizeof line, "MARK %s\n", kind);
        assert_int_equal(write(h->mark_fd, line, (size_t)n), n);
    }
}

static int count_ops(const host *h, const char *kind)
{
    int n = 0;
    for (int i = 0; i < h->nops; i++)
        n += strcmp(h->ops[i].kind, kind) == 0;
    return n;
}

static const op_record *find_op(const host *h, const char *kind, int nth)
{
    for (int i = 0; i < h->nops; i++)
        if (strcmp(h->ops[i].kind, kind) == 0 && nth-- == 0)
            return &h->ops[i];
    return NULL;
}

static pw_status op_http_call(void *hp, pw_vm *vm, uint32_t token, const pw_http_request *req)
{
    host *h = hp;
    if (h->vm) /* not yet known during pw_vm_new */
        assert_ptr_equal(vm, h->vm);
    if (h->known_cluster && strcmp(req->cluster, h->known_cluster) != 0)
        return PW_BAD_ARGUMENT;
    assert_true(h->ncalls < MAX_CALLS);
    fake_call *c = &h->calls[h->ncalls++];
    c->token = token;
    snprintf(c->cluster, sizeof c->cluster, "%s", req->cluster);
    const wg_header *p = wg_headers_get(req->headers, ":path", 5);
    snprintf(c->path, sizeof c->path, "%s", p ? p->value : "");
    snprintf(c->body, sizeof c->body, "%.*s", (int)req->body_len,
             req->body ? (const char *)req->body : "");
    c->timeout_ms = req->timeout_ms;
    record_op(h, "http_call", NULL, (int)token);
    return PW_OK;
}

static void op_set_tick(void *hp, pw_vm *vm, uint32_t period_ms)
{
    host *h = hp;
    (void)vm;
    h->tick_period = period_ms;
    h->set_tick_calls++;
}

/* Any thread, with the host's shared-queue lock held: quick, no pw_* calls. */
static void op_queue_ready(void *hp, pw_vm *vm)
{
    host *h = hp;
    pthread_mutex_lock(&h->qlock);
    h->queue_ready_calls++;
    h->queue_ready_vm = vm;
    h->queue_ready_thread = pthread_self();
    pthread_cond_broadcast(&h->qcond);
    pthread_mutex_unlock(&h->qlock);
}

static void op_resume(void *hp, pw_stream *s, pw_stream_type type)
{
    host *h = hp;
    fstream *fs = pw_stream_userdata(s);
    assert_non_null(fs);
    assert_ptr_equal(fs->s, s);
    assert_false(fs->finished);
    assert_true((int)type >= 0 && (int)type < 4);
    fs->resumed[type]++;
    record_op(h, "resume", fs, (int)type);
    if (h->on_resume)
        h->on_resume(h, fs, type);
}

static void op_close(void *hp, pw_stream *s, pw_stream_type type)
{
    host *h = hp;
    fstream *fs = pw_stream_userdata(s);
    assert_false(fs->finished);
    fs->closed++;
    record_op(h, "close", fs, (int)type);
}

static void op_local_reply(void *hp, pw_stream *s, const pw_local_reply *r)
{
    host *h = hp;
    fstream *fs = pw_stream_userdata(s);
    assert_ptr_equal(fs->s, s);
    assert_false(fs->finished);
    fs->replies++;
    fs->reply_status = r->status;
    snprintf(fs->reply_details, sizeof fs->reply_details, "%s", r->details ? r->details : "");
    fs->reply_grpc = r->grpc_status;
    wg_buf_set(&fs->reply_body, r->body, r->body_len);
    wg_headers_clear(&fs->reply_headers);
    if (r->headers)
        assert_true(wg_headers_copy(&fs->reply_headers, r->headers));
    record_op(h, "local_reply", fs, 0);
    if (h->on_local_reply)
        h->on_local_reply(h, fs);
}

static void op_log(void *hp, pw_vm *vm, wg_log_level level, const char *msg, size_t len)
{
    host *h = hp;
    (void)vm;
    if (h->nlogs == h->logs_cap) {
        int cap = h->logs_cap ? h->logs_cap * 2 : 64;
        char **l = realloc(h->logs, (size_t)cap * sizeof *l);
        assert_non_null(l);
        h->logs = l;
        h->logs_cap = cap;
    }
    size_t n = len + 16;
    char *line = malloc(n);
    assert_non_null(line);
    snprintf(line, n, "%d %.*s", (int)level, (int)len, msg);
    h->logs[h->nlogs++] = line;
}

static const pw_host_ops fake_ops = {
    .http_call = op_http_call,
    .set_tick = op_set_tick,
    .queue_ready = op_queue_ready,
    .resume = op_resume,
    .close = op_close,
    .local_reply = op_local_reply,
    .log = op_log,
};

static void host_init(host *h)
{
    memset(h, 0, sizeof *h);
    h->mark_fd = -1;
    pthread_mutex_init(&h->qlock, NULL);
    pthread_cond_init(&h->qcond, NULL);
}

static void host_free(host *h)
{
    for (int i = 0; i < h->nlogs; i++)
        free(h->logs[i]);
    free(h->logs);
    pthread_mutex_destroy(&h->qlock);
    pthread_cond_destroy(&h->qcond);
}

/* The message of log line i (after the level). */
static const char *log_msg(const host *h, int i)
{
    return strchr(h->logs[i], ' ') + 1;
}

/* Index of the first log message starting with `prefix` at or after `from`,
 * or -1. */
static int find_log_from(const host *h, int from, const char *prefix)
{
    for (int i = from; i < h->nlogs; i++)
        if (strncmp(log_msg(h, i), prefix, strlen(prefix)) == 0)
            return i;
    return -1;
}

static int find_log(const host *h, const char *prefix)
{
    return find_log_from(h, 0, prefix);
}

static int count_logs(const host *h, const char *prefix)
{
    int n = 0;
    for (int i = 0; (i = find_log_from(h, i, prefix)) >= 0; i++)
        n++;
    return n;
}

static void dump_logs(const host *h)
{
    for (int i = 0; i < h->nlogs; i++)
        print_message("  log: %s\n", h->logs[i]);
}

static void expect_log(const host *h, const char *prefix)
{
    if (find_log(h, prefix) < 0) {
        dump_logs(h);
        fail_msg("no plugin log line starting with \"%s\"", prefix);
    }
}

/* Plugins report failed checks as "ASSERT FAILED: ..." lines. */
static void expect_no_plugin_failures(const host *h)
{
    for (int i = 0; i < h->nlogs; i++)
        if (strstr(h->logs[i], "ASSERT FAILED"))
            fail_msg("the plugin reported: %s", h->logs[i]);
}

static pw_plugin_config base_config(const char *configuration)
{
    return (pw_plugin_config){
        .name = "host-test",
        .root_id = "",
        .vm_id = "",
        .configuration = (const uint8_t *)(configuration ? configuration : ""),
        .configuration_len = configuration ? strlen(configuration) : 0,
        .node = {.id = "node-1", .cluster = "local", .namespace_ = "default"},
    };
}

static pw_vm *start_vm(host *h, pw_module *m, const pw_plugin_config *cfg)
{
    wasm_error err = {0};
    h->phase = PH_VM_NEW;
    pw_vm *vm = pw_vm_new(m, cfg, &fake_ops, h, &err);
    h->phase = PH_IDLE;
    if (!vm) {
        dump_logs(h);
        fail_msg("pw_vm_new failed: %s", err.message);
    }
    h->vm = vm;
    return vm;
}

/* The usual set-up: a host running a VM of the named test plugin with the
 * default configuration; host_stop_plugin ends it. */
static pw_module *host_start_plugin(host *h, const char *plugin)
{
    host_init(h);
    pw_module *m = load_plugin(plugin);
    pw_plugin_config cfg = base_config(NULL);
    start_vm(h, m, &cfg);
    return m;
}

static void host_stop_plugin(host *h, pw_module *m)
{
    pw_vm_free(h->vm);
    pw_module_release(m);
    host_free(h);
}

/* pw_vm_new expected to fail; returns the message (static storage). */
static const char *start_vm_fails(host *h, pw_module *m, const pw_plugin_config *cfg)
{
    static wasm_error err;
    memset(&err, 0, sizeof err);
    h->phase = PH_VM_NEW;
    pw_vm *vm = pw_vm_new(m, cfg, &fake_ops, h, &err);
    h->phase = PH_IDLE;
    if (vm) {
        pw_vm_free(vm);
        fail_msg("pw_vm_new succeeded but should have failed");
    }
    assert_true(err.message[0] != '\0');
    return err.message;
}

static void add_header(wg_headers *hs, const char *name, const char *value)
{
    assert_true(wg_headers_add(hs, name, strlen(name), value, strlen(value)));
}

/* A GET (or `method`) stream for `path`; extra headers as name, value, ..., NULL. */
static fstream *new_stream(host *h, const char *method, const char *path, ...)
{
    fstream *fs = calloc(1, sizeof *fs);
    assert_non_null(fs);
    fs->h = h;
    add_header(&fs->req_h, ":method", method);
    add_header(&fs->req_h, ":path", path);
    add_header(&fs->req_h, ":authority", "example.com");
    add_header(&fs->req_h, ":scheme", "http");
    va_list ap;
    va_start(ap, path);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL)
        add_header(&fs->req_h, name, va_arg(ap, const char *));
    va_end(ap);
    fs->s = pw_stream_new(h->vm, fs);
    assert_non_null(fs->s);
    pw_stream_info *info = pw_stream_info_of(fs->s);
    info->protocol = "HTTP/1.1";
    info->source_address = "127.0.0.1:40000";
    info->source_port = 40000;
    info->destination_address = "127.0.0.1:8080";
    info->destination_port = 8080;
    pw_stream_set_request(fs->s, &fs->req_h, &fs->req_b, &fs->req_t);
    pw_stream_set_response(fs->s, &fs->resp_h, &fs->resp_b, &fs->resp_t);
    return fs;
}

static pw_action request_headers(fstream *fs, bool eos)
{
    phase saved = fs->h->phase;
    fs->h->phase = PH_REQUEST_HEADERS;
    pw_action a = pw_stream_request_headers(fs->s, eos);
    fs->h->phase = saved;
    return a;
}

static pw_action request_body(fstream *fs, const char *chunk, bool eos)
{
    assert_true(wg_buf_append_str(&fs->req_b, chunk));
    phase saved = fs->h->phase;
    fs->h->phase = PH_REQUEST_BODY;
    pw_action a = pw_stream_request_body(fs->s, eos);
    fs->h->phase = saved;
    return a;
}

static pw_action response_headers(fstream *fs, const char *status, bool eos)
{
    if (status)
        add_header(&fs->resp_h, ":status", status);
    phase saved = fs->h->phase;
    fs->h->phase = PH_RESPONSE_HEADERS;
    pw_action a = pw_stream_response_headers(fs->s, eos);
    fs->h->phase = saved;
    return a;
}

static pw_action response_body(fstream *fs, const char *chunk, bool eos)
{
    assert_true(wg_buf_append_str(&fs->resp_b, chunk));
    phase saved = fs->h->phase;
    fs->h->phase = PH_RESPONSE_BODY;
    pw_action a = pw_stream_response_body(fs->s, eos);
    fs->h->phase = saved;
    return a;
}

/* pw_stream_finish (unless the data plane already did), then frees fs. */
static void finish_stream(fstream *fs)
{
    if (!fs->finished) {
        phase saved = fs->h->phase;
        fs->h->phase = PH_FINISH;
        fs->finished = true;
        pw_stream_finish(fs->s);
        fs->h->phase = saved;
    }
    wg_headers_free(&fs->req_h);
    wg_headers_free(&fs->req_t);
    wg_headers_free(&fs->resp_h);
    wg_headers_free(&fs->resp_t);
    wg_headers_free(&fs->reply_headers);
    wg_buf_free(&fs->req_b);
    wg_buf_free(&fs->resp_b);
    wg_buf_free(&fs->reply_body);
    free(fs);
}

static void tick(host *h)
{
    h->phase = PH_TICK;
    pw_vm_tick(h->vm);
    h->phase = PH_IDLE;
}

/* Answers call `token` with `status` and `body` (status NULL: the call failed). */
static void answer_call(host *h, uint32_t token, const char *status, const char *body)
{
    wg_headers hs, ts;
    wg_headers_init(&hs);
    wg_headers_init(&ts);
    if (status) {
        add_header(&hs, ":status", status);
        char len[24];
        snprintf(len, sizeof len, "%zu", strlen(body));
        add_header(&hs, "content-length", len);
    }
    h->phase = PH_CALL_RESPONSE;
    if (status)
        pw_vm_http_call_response(h->vm, token, &hs, (const uint8_t *)body, strlen(body), &ts);
    else
        pw_vm_http_call_response(h->vm, token, NULL, NULL, 0, NULL);
    h->phase = PH_IDLE;
    wg_headers_free(&hs);
    wg_headers_free(&ts);
}

static const char *header_value(const wg_headers *hs, const char *name)
{
    const wg_header *x = wg_headers_get(hs, name, strlen(name));
    return x ? x->value : NULL;
}

static void expect_header(const wg_headers *hs, const char *name, const char *want)
{
    const char *v = header_value(hs, name);
    if (!v)
        fail_msg("header %s is missing (want \"%s\")", name, want);
    assert_string_equal(v, want);
}

static void expect_bytes(const wg_buf *b, const char *want)
{
    size_t n = strlen(want);
    if (b->len != n || (n && memcmp(b->data, want, n) != 0))
        fail_msg("got \"%.*s\", want \"%s\"", (int)b->len, b->data ? (char *)b->data : "", want);
}

/* ---- the process log, captured --------------------------------------------------- */

typedef struct capture {
    int fd;
} capture;

/* Sends wasmgate's log to a temporary file with the given levels. */
static void capture_begin(capture *c, const char *levels)
{
    char path[] = "/tmp/wg-test-abi-host-XXXXXX";
    c->fd = mkstemp(path);
    assert_true(c->fd >= 0);
    unlink(path);
    wg_log_set_fd(c->fd);
    const char *err = wg_log_parse_levels(levels);
    if (err)
        fail_msg("wg_log_parse_levels(%s): %s", levels, err);
}

/* Back to the default log; returns what was logged (free it). */
static char *capture_end(capture *c)
{
    wg_log_reset();
    wg_log_set_fd(2);
    off_t size = lseek(c->fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(c->fd, text, (size_t)size, 0), size);
    text[size] = '\0';
    close(c->fd);
    c->fd = -1;
    return text;
}

/* Fails with a captured log printed in full (cmocka truncates long messages). */
#define fail_with_log(log, ...)                                                                    \
    do {                                                                                           \
        fprintf(stderr, "captured log:\n%s\n", log);                                               \
        fail_msg(__VA_ARGS__);                                                                     \
    } while (0)

/* Position of `needle` in `text` at or after `from`, failing when absent. */
static size_t expect_text(const char *text, size_t from, const char *needle)
{
    const char *p = strstr(text + from, needle);
    if (!p)
        fail_with_log(text, "log has no \"%s\" after offset %zu", needle, from);
    return (size_t)(p - text);
}

/* ---- stream results and chunked bodies ----------------------------------------------- */

static void test_body_chunks_are_buffered(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "body");

    fstream *fs = new_stream(&h, "POST", "/upload", "content-length", "9", NULL);
    assert_int_equal(request_headers(fs, false), PW_CONTINUE);
    assert_null(header_value(&fs->req_h, "content-length"));
    /* Pause from a body callback means "buffer": PW_BUFFER, and each call
     * reports everything buffered so far. */
    assert_int_equal(request_body(fs, "abc", false), PW_BUFFER);
    assert_int_equal(request_body(fs, "def", false), PW_BUFFER);
    assert_int_equal(request_body(fs, "ghi", true), PW_CONTINUE);
    int a = find_log(&h, "body request pause size=3");
    int b = find_log_from(&h, a + 1, "body request pause size=6");
    int c = find_log_from(&h, b + 1, "body request final size=9");
    assert_true(a >= 0 && b > a && c > b);
    expect_log(&h, "body request rewritten size=31");
    expect_bytes(&fs->req_b, "req-prefix|ABCDEFGHI|req-suffix");

    assert_int_equal(response_headers(fs, "200", false), PW_CONTINUE);
    assert_int_equal(response_body(fs, "xy", false), PW_BUFFER);
    assert_int_equal(response_body(fs, "z", true), PW_CONTINUE);
    expect_log(&h, "body response pause size=2");
    expect_log(&h, "body response final size=3");
    expect_bytes(&fs->resp_b, "resp-prefix|XYZ|resp-suffix");
    finish_stream(fs);

    assert_int_equal(h.nops, 0); /* nothing deferred */
    expect_no_plugin_failures(&h);
    assert_false(pw_vm_failed(h.vm));
    host_stop_plugin(&h, m);
}

/* ---- deferred actions: resume and local replies ------------------------------------- */

/* The data plane continues at once when resumed: the upstream "answers"
 * and the response headers go through the plugin, from inside the op. */
static void respond_on_resume(host *h, fstream *fs, pw_stream_type type)
{
    (void)h;
    if (type == PW_STREAM_REQUEST)
        fs->hook_result = response_headers(fs, "200", true);
}

static void test_resume_comes_from_tick(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "local_reply");
    assert_int_equal(h.tick_period, 20);
    h.on_resume = respond_on_resume;

    fstream *fs = new_stream(&h, "GET", "/pause-then-continue", NULL);
    fs->hook_result = -1;
    /* Pause from a header callback is a full stop... */
    assert_int_equal(request_headers(fs, true), PW_STOP);
    assert_int_equal(count_ops(&h, "resume"), 0);
    /* ...until the plugin resumes it, here from on_tick. */
    tick(&h);
    assert_int_equal(count_ops(&h, "resume"), 1);
    const op_record *r = find_op(&h, "resume", 0);
    assert_int_equal(r->phase, PH_TICK);
    assert_ptr_equal(r->stream, fs);
    assert_int_equal(r->type, PW_STREAM_REQUEST);
    /* Stream events are allowed from inside the op. */
    assert_int_equal(fs->hook_result, PW_CONTINUE);
    expect_log(&h, "local_reply response 2 :status=200");
    tick(&h);
    assert_int_equal(count_ops(&h, "resume"), 1); /* exactly once */

    /* A paused response is resumed the same way, with its own type. */
    h.on_resume = NULL;
    fstream *fs2 = new_stream(&h, "GET", "/", "x-pause-response", "1", NULL);
    assert_int_equal(request_headers(fs2, true), PW_CONTINUE);
    assert_int_equal(response_headers(fs2, "200", true), PW_STOP);
    assert_int_equal(count_ops(&h, "resume"), 1);
    tick(&h);
    assert_int_equal(count_ops(&h, "resume"), 2);
    r = find_op(&h, "resume", 1);
    assert_int_equal(r->phase, PH_TICK);
    assert_ptr_equal(r->stream, fs2);
    assert_int_equal(r->type, PW_STREAM_RESPONSE);
    assert_int_equal(fs2->resumed[PW_STREAM_RESPONSE], 1);
    assert_int_equal(fs2->resumed[PW_STREAM_REQUEST], 0);

    finish_stream(fs);
    finish_stream(fs2);
    expect_no_plugin_failures(&h);
    pw_vm_free(h.vm);
    assert_int_equal(h.tick_period, 0); /* the timer is disarmed with the VM */
    pw_module_release(m);
    host_free(&h);
}

static void test_local_reply_from_tick(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "local_reply");

    fstream *fs = new_stream(&h, "GET", "/pause-then-reply", NULL);
    assert_int_equal(request_headers(fs, true), PW_STOP);
    assert_int_equal(fs->replies, 0);
    tick(&h);
    assert_int_equal(fs->replies, 1);
    assert_int_equal(find_op(&h, "local_reply", 0)->phase, PH_TICK);
    assert_int_equal(fs->reply_status, 200);
    assert_string_equal(fs->reply_details, "reply_from_tick"); /* whitespace -> '_' */
    assert_int_equal(fs->reply_grpc, -1);
    expect_bytes(&fs->reply_body, "replied from tick\n");
    expect_header(&fs->reply_headers, "x-replied-by", "tick");
    tick(&h);
    assert_int_equal(fs->replies, 1);
    assert_int_equal(count_ops(&h, "resume"), 0);
    finish_stream(fs);
    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

/* The local reply reaches the data plane once the guest's callback has
 * returned: in the wasm:trace log, the op's marker follows the callback's
 * return line. */
static void test_local_reply_after_callback_returns(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "local_reply");

    capture cap;
    capture_begin(&cap, "wasm:trace");
    h.mark_fd = cap.fd;
    fstream *fs = new_stream(&h, "GET", "/", "x-deny", "1", NULL);
    pw_action a = request_headers(fs, true);
    h.mark_fd = -1;
    char *log = capture_end(&cap);

    assert_int_equal(a, PW_STOP);
    assert_int_equal(fs->replies, 1);
    assert_int_equal(find_op(&h, "local_reply", 0)->phase, PH_REQUEST_HEADERS);
    size_t call = expect_text(log, 0, "[host->vm] proxy_on_request_headers(2, 5, 1)");
    size_t hostcall = expect_text(log, call, "[vm->host] env.proxy_send_local_response(");
    size_t ret = expect_text(log, hostcall, "[host<-vm] proxy_on_request_headers return: 1");
    expect_text(log, ret, "MARK local_reply");
    assert_true(strstr(log, "MARK local_reply") > log + ret); /* not before the return */
    free(log);
    assert_int_equal(fs->reply_status, 403);
    assert_string_equal(fs->reply_details, "denied_by_plugin");
    finish_stream(fs);
    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

/* A data plane that completes a local reply at once: it finishes the
 * stream from inside the op (the host finishes it when the event returns). */
static void finish_on_reply(host *h, fstream *fs)
{
    (void)h;
    fs->finished = true;
    pw_stream_finish(fs->s);
}

/* ...or first passes the reply through the plugin's response callbacks
 * (as Envoy does), then finishes the stream. */
static void respond_then_finish_on_reply(host *h, fstream *fs)
{
    (void)h;
    char status[16];
    snprintf(status, sizeof status, "%u", fs->reply_status);
    fs->hook_result = response_headers(fs, status, true);
    fs->finished = true;
    pw_stream_finish(fs->s);
}

static void test_stream_finished_inside_local_reply(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "local_reply");

    capture cap;
    capture_begin(&cap, "wasm:trace");
    h.on_local_reply = finish_on_reply;
    fstream *fs = new_stream(&h, "GET", "/", "x-deny", "1", NULL);
    assert_int_equal(request_headers(fs, true), PW_STOP);
    char *log = capture_end(&cap);
    assert_int_equal(fs->replies, 1);
    /* The stream was finished (on_log, on_done, on_delete) once the event returned. */
    size_t ret = expect_text(log, 0, "[host<-vm] proxy_on_request_headers return: 1");
    expect_text(log, ret, "[host->vm] proxy_on_delete(2)");
    free(log);
    finish_stream(fs); /* only frees the data plane's side */

    /* The VM goes on. */
    h.on_local_reply = NULL;
    fs = new_stream(&h, "GET", "/", NULL);
    assert_int_equal(request_headers(fs, true), PW_CONTINUE);
    finish_stream(fs);
    assert_false(pw_vm_failed(h.vm));
    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

/* A local reply then passes through the plugin's response callbacks (as in
 * Envoy), and their answer is the plugin's: only the callback that sent
 * the reply is forced to "stop" (cpp-host resets that after each call). */
static void test_local_reply_passes_through_response_callbacks(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "local_reply");
    fstream *fs = new_stream(&h, "GET", "/", "x-deny", "1", NULL);
    assert_int_equal(request_headers(fs, true), PW_STOP);
    assert_int_equal(fs->replies, 1);
    pw_action a = response_headers(fs, "403", true);
    expect_log(&h, "local_reply response 2 :status=403");
    /* The plugin returned Continue: a data plane waiting for a resume on
     * PW_STOP would never send the reply. */
    assert_int_equal(a, PW_CONTINUE);
    finish_stream(fs);
    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

/* The same from inside the local_reply op, then the stream is finished
 * there too: a nested stream event inside a deferred action, then
 * pw_stream_finish. (Run last: under ASan a use-after-free here aborts
 * the whole program.) */
static void test_response_and_finish_inside_local_reply(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "local_reply");
    h.on_local_reply = respond_then_finish_on_reply;
    fstream *fs = new_stream(&h, "GET", "/", "x-deny", "1", NULL);
    fs->hook_result = -1;
    assert_int_equal(request_headers(fs, true), PW_STOP);
    assert_int_equal(fs->replies, 1);
    assert_true(fs->hook_result == PW_CONTINUE || fs->hook_result == PW_STOP);
    expect_log(&h, "local_reply response 2 :status=403");
    finish_stream(fs);

    h.on_local_reply = NULL;
    fs = new_stream(&h, "GET", "/", NULL);
    assert_int_equal(request_headers(fs, true), PW_CONTINUE);
    finish_stream(fs);
    assert_false(pw_vm_failed(h.vm));
    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

/* ---- HTTP calls ------------------------------------------------------------------------ */

static pw_vm *start_http_call_vm(host *h, pw_module **m)
{
    *m = load_plugin("http_call");
    h->known_cluster = "auth";
    pw_plugin_config cfg = base_config("auth");
    return start_vm(h, *m, &cfg);
}

static void test_http_call_two_streams(void **state)
{
    (void)state;
    host h;
    host_init(&h);
    pw_module *m;
    start_http_call_vm(&h, &m);
    assert_int_equal(h.ncalls, 0); /* on_configure's probes were refused */

    fstream *a = new_stream(&h, "GET", "/a", NULL);
    fstream *b = new_stream(&h, "GET", "/b", NULL);
    assert_int_equal(request_headers(a, true), PW_STOP);
    assert_int_equal(request_headers(b, true), PW_STOP);
    assert_int_equal(h.ncalls, 2);
    uint32_t ta = h.calls[0].token, tb = h.calls[1].token;
    assert_int_not_equal(ta, tb);
    assert_string_equal(h.calls[0].cluster, "auth");
    assert_string_equal(h.calls[0].path, "/check");
    assert_string_equal(h.calls[0].body, "ping");
    assert_int_equal(h.calls[0].timeout_ms, 1000);

    /* B first: the answer goes to the root, which resumes B through the
     * effective context; the resume arrives after the callback returned. */
    capture cap;
    capture_begin(&cap, "wasm:trace");
    h.mark_fd = cap.fd;
    answer_call(&h, tb, "200", "bob\n");
    h.mark_fd = -1;
    char *log = capture_end(&cap);
    size_t ret = expect_text(log, 0, "[host<-vm] proxy_on_http_call_response return: void");
    expect_text(log, ret, "MARK resume");
    assert_true(strstr(log, "MARK resume") > log + ret);
    free(log);

    assert_int_equal(count_ops(&h, "resume"), 1);
    const op_record *r = find_op(&h, "resume", 0);
    assert_ptr_equal(r->stream, b);
    assert_int_equal(r->phase, PH_CALL_RESPONSE);
    assert_int_equal(r->type, PW_STREAM_REQUEST);
    expect_header(&b->req_h, "x-auth", "bob");
    assert_null(header_value(&a->req_h, "x-auth"));

    answer_call(&h, ta, "200", "alice");
    assert_int_equal(count_ops(&h, "resume"), 2);
    r = find_op(&h, "resume", 1);
    assert_ptr_equal(r->stream, a);
    assert_int_equal(r->phase, PH_CALL_RESPONSE);
    expect_header(&a->req_h, "x-auth", "alice");
    expect_header(&b->req_h, "x-auth", "bob");
    assert_int_equal(wg_headers_count(&a->req_h, "x-auth", 6), 1);
    assert_int_equal(wg_headers_count(&b->req_h, "x-auth", 6), 1);
    expect_log(&h, "http_call allowed 3 x-auth=bob");
    expect_log(&h, "http_call allowed 2 x-auth=alice");

    /* A token answered twice, or never issued: ignored. */
    int responses = count_logs(&h, "cb on_http_call_response");
    assert_int_equal(responses, 2);
    answer_call(&h, ta, "200", "again");
    answer_call(&h, 4000, "200", "never issued");
    assert_int_equal(count_logs(&h, "cb on_http_call_response"), 2);
    assert_int_equal(count_ops(&h, "resume"), 2);
    expect_header(&a->req_h, "x-auth", "alice");

    finish_stream(a);
    finish_stream(b);
    expect_no_plugin_failures(&h);
    assert_false(pw_vm_failed(h.vm));
    host_stop_plugin(&h, m);
}

static void test_http_call_after_stream_finished(void **state)
{
    (void)state;
    host h;
    host_init(&h);
    pw_module *m;
    start_http_call_vm(&h, &m);

    fstream *c = new_stream(&h, "GET", "/c", NULL);
    assert_int_equal(request_headers(c, true), PW_STOP);
    assert_int_equal(h.ncalls, 1);
    uint32_t token = h.calls[0].token;
    finish_stream(c); /* the client went away */

    int nops = h.nops;
    answer_call(&h, token, "200", "late");
    char want[64];
    snprintf(want, sizeof want, "http_call stream gone token=%u", token);
    expect_log(&h, want);
    assert_int_equal(h.nops, nops); /* nothing reached the finished stream */
    assert_false(pw_vm_failed(h.vm));
    answer_call(&h, token, "200", "later");
    assert_int_equal(count_logs(&h, "cb on_http_call_response"), 1);

    /* The VM still serves streams: a denial this time. */
    fstream *d = new_stream(&h, "GET", "/d", NULL);
    assert_int_equal(request_headers(d, true), PW_STOP);
    assert_int_equal(h.ncalls, 2);
    answer_call(&h, h.calls[1].token, "401", "no");
    assert_int_equal(d->replies, 1);
    assert_int_equal(d->reply_status, 403);
    expect_header(&d->reply_headers, "x-auth-status", "401");
    assert_int_equal(find_op(&h, "local_reply", 0)->phase, PH_CALL_RESPONSE);
    finish_stream(d);

    /* After the root context is gone, answers are not delivered either. */
    fstream *e = new_stream(&h, "GET", "/e", NULL);
    assert_int_equal(request_headers(e, true), PW_STOP);
    assert_int_equal(h.ncalls, 3);
    finish_stream(e);
    assert_true(pw_vm_shutdown(h.vm)); /* on_done, then on_delete of the root */
    int responses = count_logs(&h, "cb on_http_call_response");
    capture cap;
    capture_begin(&cap, "wasm:trace");
    answer_call(&h, h.calls[2].token, "200", "too late");
    char *log = capture_end(&cap);
    assert_null(strstr(log, "[host->vm]"));
    free(log);
    assert_int_equal(count_logs(&h, "cb on_http_call_response"), responses);

    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

/* ---- shared queues across threads -------------------------------------------------------- */

typedef struct producer {
    pw_module *module;
    atomic_int step; /* the consumer allows enqueue number `step` */
    char error[256];
    int enqueued;
} producer;

static void producer_fail(producer *p, const char *what)
{
    if (!p->error[0])
        snprintf(p->error, sizeof p->error, "%s", what);
}

/* Thread 2: a VM of the same vm_id that enqueues two items, one at a time. */
static void *producer_main(void *arg)
{
    producer *p = arg;
    host h;
    host_init(&h);
    pw_plugin_config cfg = base_config("producer");
    cfg.vm_id = "host_queue_vm";
    wasm_error err = {0};
    h.vm = pw_vm_new(p->module, &cfg, &fake_ops, &h, &err);
    if (!h.vm) {
        producer_fail(p, err.message);
        host_free(&h);
        return NULL;
    }
    static const char *const paths[] = {"/one", "/two"};
    for (int i = 0; i < 2; i++) {
        while (atomic_load(&p->step) < i)
            usleep(1000);
        fstream *fs = calloc(1, sizeof *fs);
        if (!fs || !wg_headers_add(&fs->req_h, ":path", 5, paths[i], strlen(paths[i])) ||
            !(fs->s = pw_stream_new(h.vm, fs))) {
            producer_fail(p, "out of memory");
            free(fs);
            break;
        }
        fs->h = &h;
        pw_stream_set_request(fs->s, &fs->req_h, &fs->req_b, &fs->req_t);
        if (pw_stream_request_headers(fs->s, true) != PW_CONTINUE)
            producer_fail(p, "the producer's stream did not continue");
        fs->finished = true;
        pw_stream_finish(fs->s);
        wg_headers_free(&fs->req_h);
        free(fs);
        p->enqueued++;
    }
    if (find_log(&h, "host_queue resolved id=") < 0 ||
        find_log(&h, "host_queue enqueued /two status=0") < 0)
        producer_fail(p, "the producer did not resolve or enqueue");
    for (int i = 0; i < h.nlogs; i++)
        if (strstr(h.logs[i], "ASSERT FAILED"))
            producer_fail(p, h.logs[i]);
    if (pw_vm_failed(h.vm))
        producer_fail(p, pw_vm_error(h.vm));
    pw_vm_free(h.vm);
    host_free(&h);
    return NULL;
}

static void wait_notifications(host *h, int n)
{
    pthread_mutex_lock(&h->qlock);
    for (int waited = 0; h->queue_ready_calls < n && waited < 1000; waited++) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 10 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->qcond, &h->qlock, &until);
    }
    int got = h->queue_ready_calls;
    pthread_mutex_unlock(&h->qlock);
    if (got < n)
        fail_msg("waited 10 s for %d queue notifications, got %d", n, got);
}

static void test_shared_queue_two_threads(void **state)
{
    (void)state;
    host h;
    host_init(&h);
    pw_module *m = load_plugin("host_queue");
    pw_plugin_config cfg = base_config("consumer");
    cfg.vm_id = "host_queue_vm";
    start_vm(&h, m, &cfg); /* thread 1 (this one) registers */
    expect_log(&h, "host_queue registered id=");

    producer p = {.module = m};
    atomic_init(&p.step, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer_main, &p), 0);

    /* The enqueue on thread 2 notifies VM 1's host from thread 2... */
    wait_notifications(&h, 1);
    pthread_mutex_lock(&h.qlock);
    assert_ptr_equal(h.queue_ready_vm, h.vm);
    assert_true(pthread_equal(h.queue_ready_thread, t));
    pthread_mutex_unlock(&h.qlock);
    /* ...and VM 1 gets the item on its own thread when its host delivers. */
    assert_int_equal(find_log(&h, "host_queue ready"), -1);
    h.phase = PH_QUEUES;
    pw_vm_deliver_queues(h.vm);
    expect_log(&h, "host_queue ready 1 ");
    expect_log(&h, "host_queue dequeued /one");

    atomic_store(&p.step, 1); /* the second item, while VM 1 is idle */
    wait_notifications(&h, 2);
    pw_vm_deliver_queues(h.vm);
    h.phase = PH_IDLE;
    pthread_join(t, NULL);
    if (p.error[0])
        fail_msg("thread 2: %s", p.error);
    assert_int_equal(p.enqueued, 2);
    expect_log(&h, "host_queue dequeued /two");
    assert_int_equal(count_logs(&h, "host_queue dequeued"), 2);
    expect_log(&h, "host_queue drained status=7");
    /* Nothing left: delivering again does nothing. */
    int nlogs = h.nlogs;
    pw_vm_deliver_queues(h.vm);
    assert_int_equal(h.nlogs, nlogs);

    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

/* ---- failures ------------------------------------------------------------------------- */

static void test_trap_fails_the_vm_for_good(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "trap");

    fstream *a = new_stream(&h, "GET", "/", "x-trap", "div0", NULL);
    assert_int_equal(request_headers(a, false), PW_FAILED);
    assert_true(pw_vm_failed(h.vm));
    assert_string_equal(pw_vm_failed_function(h.vm), "proxy_on_request_headers");
    assert_non_null(strstr(pw_vm_error(h.vm), "integer divide by zero"));

    /* From now on nothing reaches the guest: no callback in the trace log,
     * no plugin log, and every event answers PW_FAILED. */
    int nlogs = h.nlogs;
    capture cap;
    capture_begin(&cap, "wasm:trace");
    wg_buf_set(&a->req_b, "x", 1);
    assert_int_equal(pw_stream_request_body(a->s, true), PW_FAILED);
    fstream *b = new_stream(&h, "GET", "/", NULL);
    assert_int_equal(request_headers(b, true), PW_FAILED);
    assert_int_equal(response_headers(b, "200", true), PW_FAILED);
    tick(&h);
    pw_vm_deliver_queues(h.vm);
    answer_call(&h, 4, "200", "x");
    assert_false(pw_vm_configure(h.vm, (const uint8_t *)"x", 1));
    finish_stream(a);
    finish_stream(b);
    assert_true(pw_vm_shutdown(h.vm));
    assert_true(pw_vm_shutdown_complete(h.vm));
    char *log = capture_end(&cap);
    if (strstr(log, "[host->vm]"))
        fail_with_log(log, "the failed VM was called");
    free(log);
    assert_int_equal(h.nlogs, nlogs);
    assert_int_equal(h.nops, 0);
    pw_vm_free(h.vm);

    /* A new VM from the same module works (what FAIL_RELOAD builds on). */
    host h2;
    host_init(&h2);
    pw_plugin_config cfg = base_config(NULL);
    start_vm(&h2, m, &cfg);
    fstream *c = new_stream(&h2, "GET", "/", NULL);
    assert_int_equal(request_headers(c, true), PW_CONTINUE);
    expect_header(&c->req_h, "x-trap-plugin", "passed");
    finish_stream(c);
    assert_false(pw_vm_failed(h2.vm));
    expect_no_plugin_failures(&h2);
    pw_vm_free(h2.vm);

    pw_module_release(m);
    host_free(&h);
    host_free(&h2);
}

/* The loop plugin on a VM whose callbacks may run for 20 ms. */
static pw_module *start_loop_plugin(host *h)
{
    host_init(h);
    pw_module *m = load_plugin("loop");
    pw_plugin_config cfg = base_config(NULL);
    cfg.callback_deadline_ms = 20;
    start_vm(h, m, &cfg);
    return m;
}

/* A request whose headers callback spins forever: the deadline stops it
 * (the call returns) and fails the VM. */
static fstream *expect_spin_stopped(host *h)
{
    fstream *fs = new_stream(h, "GET", "/", "x-loop", "spin", NULL);
    assert_int_equal(request_headers(fs, true), PW_FAILED);
    assert_true(pw_vm_failed(h->vm));
    assert_string_equal(pw_vm_failed_function(h->vm), "proxy_on_request_headers");
    if (!strstr(pw_vm_error(h->vm), "execution time limit exceeded (20 ms)"))
        fail_msg("unexpected error: %s", pw_vm_error(h->vm));
    return fs;
}

static void test_callback_deadline_is_configurable(void **state)
{
    (void)state;
    host h;
    pw_module *m = start_loop_plugin(&h);
    finish_stream(expect_spin_stopped(&h));
    host_stop_plugin(&h, m);
}

/* Voluntary context switches of this process's thread named `name`, or -1
 * when there is none: how often it went to sleep. */
static long thread_sleeps(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    long result = -1;
    struct dirent *e;
    while (result < 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (strcmp(comm, name) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        char line[200];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "voluntary_ctxt_switches: %ld", &result) == 1)
                break;
        fclose(f);
    }
    closedir(d);
    return result;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* With no call running, the watchdog stops waking up every few
 * milliseconds; the next call wakes it, and its deadline holds. */
static void test_watchdog_sleeps_while_idle(void **state)
{
    (void)state;
    host h;
    pw_module *m = start_loop_plugin(&h);

    /* It dozes after a second without calls: wait for 300 ms in which it
     * did not wake (it woke ~60 times in 300 ms before). */
    long before = -1, after = -2;
    for (int i = 0; i < 20 && before != after; i++) {
        before = thread_sleeps("wg-watchdog");
        assert_true(before >= 0);
        sleep_ms(300);
        after = thread_sleeps("wg-watchdog");
    }
    assert_int_equal(before, after);

    fstream *fs = expect_spin_stopped(&h);
    assert_true(thread_sleeps("wg-watchdog") > after);
    finish_stream(fs);
    host_stop_plugin(&h, m);
}

static void test_start_deadline_applies_to_on_configure(void **state)
{
    (void)state;
    pw_module *m = load_plugin("host_slow_configure");

    /* on_configure runs on the start-up budget, not the callback one. */
    host h;
    host_init(&h);
    pw_plugin_config cfg = base_config("60");
    cfg.callback_deadline_ms = 20;
    cfg.start_deadline_ms = 5000;
    start_vm(&h, m, &cfg);
    expect_log(&h, "host_slow_configure spun 60 ms");
    fstream *fs = new_stream(&h, "GET", "/", NULL);
    assert_int_equal(request_headers(fs, true), PW_CONTINUE);
    expect_header(&fs->req_h, "x-slow-configure", "passed");
    finish_stream(fs);
    pw_vm_free(h.vm);
    host_free(&h);

    /* And that budget stops one that never ends. */
    host_init(&h);
    cfg = base_config("forever");
    cfg.start_deadline_ms = 100;
    const char *msg = start_vm_fails(&h, m, &cfg);
    if (!strstr(msg, "execution time limit exceeded (100 ms)") ||
        !strstr(msg, "proxy_on_configure"))
        fail_msg("unexpected error: %s", msg);
    expect_log(&h, "host_slow_configure spinning forever");
    host_free(&h);
    pw_module_release(m);
}

static void test_memory_cap(void **state)
{
    (void)state;
    host h;
    host_init(&h);
    pw_module *m = load_plugin("oom");
    pw_plugin_config cfg = base_config(NULL);
    cfg.max_memory_bytes = 4u << 20;
    start_vm(&h, m, &cfg);
    fstream *fs = new_stream(&h, "GET", "/", "x-oom", "grow", NULL);
    assert_int_equal(request_headers(fs, true), PW_CONTINUE);
    int i = find_log(&h, "oom grow failed pages=");
    if (i < 0) {
        dump_logs(&h);
        fail_msg("no 'oom grow failed' line");
    }
    int pages = atoi(log_msg(&h, i) + strlen("oom grow failed pages="));
    assert_true(pages > 0);
    assert_true(pages <= 64);
    expect_header(&fs->req_h, "x-oom-plugin", "passed");
    finish_stream(fs);
    assert_false(pw_vm_failed(h.vm));
    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

static void test_restricted_hostcalls_at_start(void **state)
{
    (void)state;
    pw_module *m = load_plugin("host_restricted");
    static const struct {
        const char *env, *function;
    } restricted[] = {
        {"HOST_RESTRICTED=property", "proxy_get_property"},
        {"HOST_RESTRICTED=metric", "proxy_define_metric"},
    };
    for (size_t k = 0; k < sizeof restricted / sizeof restricted[0]; k++) {
        host h;
        host_init(&h);
        pw_plugin_config cfg = base_config(NULL);
        const char *env[] = {restricted[k].env};
        cfg.env = env;
        cfg.nenv = 1;
        const char *msg = start_vm_fails(&h, m, &cfg);
        if (!strstr(msg, "restricted_callback") || !strstr(msg, restricted[k].function) ||
            !strstr(msg, "_initialize"))
            fail_msg("%s: unexpected error: %s", restricted[k].env, msg);
        /* proxy_log from the constructor is allowed (it logged first). */
        expect_log(&h, "host_restricted constructor mode=");
        assert_int_equal(find_log(&h, "host_restricted constructor call returned"), -1);
        assert_int_equal(find_log(&h, "host_restricted create"), -1);
        host_free(&h);
    }

    /* Without restricted calls it starts, and the root context sees the
     * plugin's properties (plugin_root_id already in on_context_create, as
     * the C++ SDK needs) but no request ones. */
    host h;
    host_init(&h);
    pw_plugin_config cfg = base_config(NULL);
    cfg.root_id = "my-root";
    start_vm(&h, m, &cfg);
    expect_log(&h, "host_restricted constructor mode=none");
    expect_log(&h, "host_restricted create 1 0 plugin_root_id status=0 value=my-root");
    expect_log(&h, "host_restricted root request.path status=1 ");
    expect_log(&h, "host_restricted root plugin_name status=0 value=host-test");
    fstream *fs = new_stream(&h, "GET", "/p", NULL);
    assert_int_equal(request_headers(fs, true), PW_CONTINUE);
    expect_log(&h, "host_restricted stream request.path status=0 value=/p");
    finish_stream(fs);
    expect_no_plugin_failures(&h);
    pw_vm_free(h.vm);
    host_free(&h);
    pw_module_release(m);
}

static void test_vm_start_false(void **state)
{
    (void)state;
    host h;
    host_init(&h);
    pw_module *m = load_plugin("bad_configure");
    pw_plugin_config cfg = base_config(NULL);
    static const char vm_config[] = "fail_vm_start";
    cfg.vm_configuration = (const uint8_t *)vm_config;
    cfg.vm_configuration_len = sizeof vm_config - 1;
    const char *msg = start_vm_fails(&h, m, &cfg);
    if (!strstr(msg, "proxy_on_vm_start"))
        fail_msg("unexpected error: %s", msg);
    expect_log(&h, "bad_configure failing vm_start");
    assert_int_equal(find_log(&h, "bad_configure rejecting"), -1); /* no on_configure */
    host_free(&h);
    pw_module_release(m);
}

/* After pw_vm_shutdown() has deleted the root context (on_delete), nothing
 * may reach it any more (SDKs panic on unknown context ids): not a tick
 * that was already due, nor a queue notification from another VM. */
static void test_no_tick_after_root_deleted(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "local_reply");
    assert_int_equal(h.tick_period, 20);
    assert_true(pw_vm_shutdown(h.vm));
    assert_true(pw_vm_shutdown_complete(h.vm));
    assert_int_equal(h.tick_period, 0); /* disarmed */
    capture cap;
    capture_begin(&cap, "wasm:trace");
    tick(&h); /* a tick that was already due */
    char *log = capture_end(&cap);
    if (strstr(log, "[host->vm]"))
        fail_with_log(log, "the deleted root context was called");
    free(log);
    host_stop_plugin(&h, m);
}

/* A queue whose owner's root context is gone. */
static void test_no_queue_delivery_after_root_deleted(void **state)
{
    (void)state;
    capture cap;
    char *log;
    pw_module *m = load_plugin("host_queue");
    pw_plugin_config cfg;
    host consumer, producer;
    host_init(&consumer);
    host_init(&producer);
    cfg = base_config("consumer");
    cfg.vm_id = "host_queue_shutdown";
    start_vm(&consumer, m, &cfg);
    cfg = base_config("producer");
    cfg.vm_id = "host_queue_shutdown";
    start_vm(&producer, m, &cfg);
    assert_true(pw_vm_shutdown(consumer.vm));
    fstream *fs = new_stream(&producer, "GET", "/after-shutdown", NULL);
    assert_int_equal(request_headers(fs, true), PW_CONTINUE);
    finish_stream(fs);
    expect_log(&producer, "host_queue enqueued /after-shutdown status=0");
    capture_begin(&cap, "wasm:trace");
    consumer.phase = PH_QUEUES;
    pw_vm_deliver_queues(consumer.vm); /* whether or not it was notified */
    consumer.phase = PH_IDLE;
    log = capture_end(&cap);
    if (strstr(log, "[host->vm]"))
        fail_with_log(log, "the deleted root context was called");
    free(log);
    assert_int_equal(find_log(&consumer, "host_queue ready"), -1);
    expect_no_plugin_failures(&consumer);
    expect_no_plugin_failures(&producer);
    pw_vm_free(consumer.vm);
    pw_vm_free(producer.vm);
    pw_module_release(m);
    host_free(&consumer);
    host_free(&producer);
}

/* ---- the wasm:trace log ------------------------------------------------------------------- */

static void test_trace_log(void **state)
{
    (void)state;
    host h;
    pw_module *m = host_start_plugin(&h, "add_header");

    capture cap;
    capture_begin(&cap, "wasm:trace");
    fstream *fs = new_stream(&h, "GET", "/", NULL);
    assert_int_equal(request_headers(fs, true), PW_CONTINUE);
    char *log = capture_end(&cap);
    size_t at = expect_text(log, 0, "[host->vm] proxy_on_request_headers(2, 4, 1)");
    at = expect_text(log, at, "[vm->host] env.proxy_add_header_map_value(0, ");
    at = expect_text(log, at, "[vm<-host] env.proxy_add_header_map_value return: 0");
    expect_text(log, at, "[host<-vm] proxy_on_request_headers return: 0");
    free(log);
    expect_header(&fs->req_h, "x-wasmgate", "on");
    finish_stream(fs);
    host_stop_plugin(&h, m);

    /* WASI calls show under their module name (misc's on_vm_start writes to
     * stdout and reads the clocks). */
    host_init(&h);
    m = load_plugin("misc");
    capture_begin(&cap, "wasm:trace");
    pw_plugin_config cfg = base_config(NULL);
    start_vm(&h, m, &cfg);
    log = capture_end(&cap);
    at = expect_text(log, 0, "[host->vm] _initialize()");
    at = expect_text(log, at, "[host->vm] proxy_on_vm_start(1, 0)");
    at = expect_text(log, at, "[vm->host] wasi_snapshot_preview1.fd_write(1, ");
    expect_text(log, at, "[vm<-host] wasi_snapshot_preview1.fd_write return: 0");
    expect_text(log, at, "[vm->host] wasi_snapshot_preview1.clock_time_get(");
    free(log);
    expect_log(&h, "misc: hello from stdout");
    /* And the log is quiet again. */
    capture_begin(&cap, "info");
    tick(&h);
    log = capture_end(&cap);
    assert_null(strstr(log, "[host->vm]"));
    free(log);
    expect_log(&h, "misc tick 1");
    expect_no_plugin_failures(&h);
    host_stop_plugin(&h, m);
}

/* ---- module load errors ------------------------------------------------------------------- */

/* Assembles WebAssembly text with wat2wasm (a test dependency). */
static uint8_t *wat_to_wasm(const char *wat, size_t *size)
{
    char dir[] = "/tmp/wg-test-abi-host-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char wat_path[64], wasm_path[64], cmd[200];
    snprintf(wat_path, sizeof wat_path, "%s/in.wat", dir);
    snprintf(wasm_path, sizeof wasm_path, "%s/out.wasm", dir);
    FILE *f = fopen(wat_path, "w");
    assert_non_null(f);
    fputs(wat, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "wat2wasm --debug-names %s -o %s 2>&1", wat_path, wasm_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[1024];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    uint8_t *bytes = rc == 0 ? read_all(wasm_path, size) : NULL;
    unlink(wat_path);
    unlink(wasm_path);
    rmdir(dir);
    if (!bytes)
        fail_msg("wat2wasm failed (%d): %s\n%s", rc, out, wat);
    return bytes;
}

/* The module's load error, or NULL when it loads (m gets the module). */
static const char *load_error(const char *wat, pw_module **m)
{
    static wasm_error err;
    memset(&err, 0, sizeof err);
    size_t size;
    uint8_t *bytes = wat_to_wasm(wat, &size);
    *m = pw_module_load(bytes, size, &err);
    free(bytes);
    return *m ? NULL : err.message;
}

#define PLUGIN_BASE                                                                                \
    "  (memory (export \"memory\") 1)"                                                             \
    "  (func (export \"malloc\") (param i32) (result i32) i32.const 1024)"                         \
    "  (func (export \"proxy_on_tick\") (param i32))"

static void expect_load_error(const char *wat, const char *want)
{
    pw_module *m = NULL;
    const char *msg = load_error(wat, &m);
    if (!msg) {
        pw_module_release(m);
        fail_msg("the module loaded; want an error with \"%s\"", want);
    }
    if (!strstr(msg, want))
        fail_msg("error \"%s\" does not mention \"%s\"", msg, want);
}

/* Loads, but pw_vm_new refuses it with a message containing want and want2. */
static void expect_link_error(const char *wat, const char *want, const char *want2)
{
    pw_module *m = NULL;
    const char *lerr = load_error(wat, &m);
    if (lerr)
        fail_msg("does not load: %s", lerr);
    host h;
    host_init(&h);
    pw_plugin_config cfg = base_config(NULL);
    const char *msg = start_vm_fails(&h, m, &cfg);
    if (!strstr(msg, want) || !strstr(msg, want2))
        fail_msg("error \"%s\" does not mention \"%s\" and \"%s\"", msg, want, want2);
    host_free(&h);
    pw_module_release(m);
}

static void test_module_load_errors(void **state)
{
    (void)state;
    expect_load_error("(module"
                      "  (func (export \"malloc\") (param i32) (result i32) i32.const 0)"
                      "  (func (export \"proxy_on_tick\") (param i32)))",
                      "no memory");
    expect_load_error("(module"
                      "  (memory (export \"memory\") 1)"
                      "  (func (export \"proxy_on_tick\") (param i32)))",
                      "missing malloc");
    /* An allocator of the wrong type is no allocator. */
    expect_load_error("(module"
                      "  (memory (export \"memory\") 1)"
                      "  (func (export \"malloc\") (param i64) (result i64) i64.const 0)"
                      "  (func (export \"proxy_on_tick\") (param i32)))",
                      "missing malloc");
    expect_load_error("(module" PLUGIN_BASE "  (func (export \"proxy_abi_version_0_2_1\"))"
                      "  (func (export \"proxy_on_request_headers\") (param i32 i32)"
                      "     (result i32) i32.const 0))",
                      "Bad function signature for: proxy_on_request_headers");
    expect_load_error("(module" PLUGIN_BASE "  (func (export \"proxy_abi_version_0_2_1\"))"
                      "  (func (export \"proxy_on_done\") (param i32)))",
                      "Bad function signature for: proxy_on_done");
    expect_load_error("(module" PLUGIN_BASE "  (func (export \"_initialize\") (param i32)))",
                      "Bad function signature for: _initialize");

    /* The two-argument header callback is right for 0.1.0 (no marker). */
    pw_module *m = NULL;
    const char *msg =
        load_error("(module" PLUGIN_BASE "  (func (export \"proxy_on_request_headers\")"
                   "     (param i32 i32) (result i32) i32.const 0))",
                   &m);
    if (msg)
        fail_msg("0.1.0 module does not load: %s", msg);
    assert_int_equal(pw_module_abi(m), PW_ABI_0_1_0);
    pw_module_release(m);

    /* Imports are checked when a VM links the module. */
    expect_link_error("(module"
                      "  (import \"env\" \"nonexistent_function\" (func (param i32)))" PLUGIN_BASE
                      "  (func (export \"proxy_abi_version_0_2_1\")))",
                      "missing import", "env.nonexistent_function");
    expect_link_error("(module"
                      "  (import \"wasi_snapshot_preview1\" \"no_such_call\" (func))" PLUGIN_BASE
                      "  (func (export \"proxy_abi_version_0_2_1\")))",
                      "missing import", "wasi_snapshot_preview1.no_such_call");
    expect_link_error(
        "(module"
        "  (import \"env\" \"proxy_log\" (func (param i32 i32) (result i32)))" PLUGIN_BASE
        "  (func (export \"proxy_abi_version_0_2_1\")))",
        "import type mismatch", "proxy_log");
    expect_link_error("(module"
                      "  (import \"env\" \"proxy_get_current_time_nanoseconds\""
                      "     (func (param i64) (result i32)))" PLUGIN_BASE
                      "  (func (export \"proxy_abi_version_0_2_1\")))",
                      "import type mismatch", "proxy_get_current_time_nanoseconds");
}

/* Start-up with hand-written modules: the guest allocator's restrictions
 * (cpp-host's MallocWithHostcall: only proxy_log and a few WASI functions
 * inside malloc) and a module whose initial memory exceeds the cap. */
#define ALLOC_PLUGIN(malloc_body)                                                                  \
    "(module"                                                                                      \
    "  (import \"env\" \"proxy_log\" (func $log (param i32 i32 i32) (result i32)))"                \
    "  (import \"env\" \"proxy_done\" (func $done (result i32)))"                                  \
    "  (import \"env\" \"proxy_get_buffer_bytes\""                                                 \
    "     (func $get (param i32 i32 i32 i32 i32) (result i32)))"                                   \
    "  (memory (export \"memory\") 1)"                                                             \
    "  (data (i32.const 16) \"in malloc\")"                                                        \
    "  (func (export \"malloc\") (param i32) (result i32)"                                         \
    "    (drop (call $log (i32.const 2) (i32.const 16) (i32.const 9)))" malloc_body                \
    "    i32.const 1024)"                                                                          \
    "  (func (export \"proxy_abi_version_0_2_1\"))"                                                \
    "  (func (export \"proxy_on_vm_start\") (param i32 i32) (result i32)"                          \
    "    (call $get (i32.const 6) (i32.const 0) (local.get 1) (i32.const 0)"                       \
    "               (i32.const 4))"                                                                \
    "    i32.eqz))"

static void test_start_with_handwritten_modules(void **state)
{
    (void)state;
    static const char vm_config[] = "vm-config";
    pw_plugin_config cfg = base_config(NULL);
    cfg.vm_configuration = (const uint8_t *)vm_config;
    cfg.vm_configuration_len = sizeof vm_config - 1;

    /* proxy_log inside malloc is fine: on_vm_start gets its buffer. */
    pw_module *m = NULL;
    const char *msg = load_error(ALLOC_PLUGIN(""), &m);
    if (msg)
        fail_msg("does not load: %s", msg);
    host h;
    host_init(&h);
    start_vm(&h, m, &cfg);
    expect_log(&h, "in malloc");
    pw_vm_free(h.vm);
    host_free(&h);
    pw_module_release(m);

    /* proxy_done inside malloc traps, and the VM does not start. */
    msg = load_error(ALLOC_PLUGIN("(drop (call $done))"), &m);
    if (msg)
        fail_msg("does not load: %s", msg);
    host_init(&h);
    msg = start_vm_fails(&h, m, &cfg);
    if (!strstr(msg, "restricted_callback") || !strstr(msg, "proxy_done"))
        fail_msg("unexpected error: %s", msg);
    expect_log(&h, "in malloc");
    host_free(&h);
    pw_module_release(m);

    /* 100 pages of initial memory with a 64-page cap. */
    msg = load_error("(module"
                     "  (memory (export \"memory\") 100)"
                     "  (func (export \"malloc\") (param i32) (result i32) i32.const 1024)"
                     "  (func (export \"proxy_on_tick\") (param i32))"
                     "  (func (export \"proxy_abi_version_0_2_1\")))",
                     &m);
    if (msg)
        fail_msg("does not load: %s", msg);
    host_init(&h);
    cfg = base_config(NULL);
    cfg.max_memory_bytes = 4u << 20;
    msg = start_vm_fails(&h, m, &cfg);
    if (!strstr(msg, "memory"))
        fail_msg("unexpected error: %s", msg);
    host_free(&h);
    pw_module_release(m);
}

int main(void)
{
    pw_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_chunks_are_buffered),
        cmocka_unit_test(test_resume_comes_from_tick),
        cmocka_unit_test(test_local_reply_from_tick),
        cmocka_unit_test(test_local_reply_after_callback_returns),
        cmocka_unit_test(test_stream_finished_inside_local_reply),
        cmocka_unit_test(test_local_reply_passes_through_response_callbacks),
        cmocka_unit_test(test_http_call_two_streams),
        cmocka_unit_test(test_http_call_after_stream_finished),
        cmocka_unit_test(test_shared_queue_two_threads),
        cmocka_unit_test(test_trap_fails_the_vm_for_good),
        cmocka_unit_test(test_callback_deadline_is_configurable),
        cmocka_unit_test(test_watchdog_sleeps_while_idle),
        cmocka_unit_test(test_start_deadline_applies_to_on_configure),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_restricted_hostcalls_at_start),
        cmocka_unit_test(test_vm_start_false),
        cmocka_unit_test(test_no_tick_after_root_deleted),
        cmocka_unit_test(test_no_queue_delivery_after_root_deleted),
        cmocka_unit_test(test_trace_log),
        cmocka_unit_test(test_module_load_errors),
        cmocka_unit_test(test_start_with_handwritten_modules),
        cmocka_unit_test(test_response_and_finish_inside_local_reply),
    };
    /* TEST_FILTER / TEST_SKIP: cmocka name patterns (e.g. "test_http_*"). */
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    if (getenv("TEST_SKIP"))
        cmocka_set_skip_filter(getenv("TEST_SKIP"));
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pw_global_shutdown();
    return failed;
}
