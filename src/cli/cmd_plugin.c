/*
 * cmd_plugin.c - `wasmgate plugin run`: one simulated HTTP stream through
 * one Proxy-Wasm plugin, with no network. A tool for plugin authors (see
 * what the plugin does to a request, its logs, metrics and traps) and the
 * acceptance interface of the Proxy-Wasm host.
 *
 * The simulator plays the data plane's part (pw_host_ops): it records HTTP
 * calls and answers them with --http-call-status/--http-call-body (or as an
 * unreachable cluster), fires ticks while the stream waits, delivers queue
 * notifications, and applies resumes and local replies. The result is one
 * JSON object on stdout.
 */
#include "abi/abi.h"
#include "cli/cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a paused stream is given: ticks fired before giving up. */
#define MAX_TICKS_WHILE_PAUSED 100

typedef struct pending_call {
    uint32_t token;
} pending_call;

typedef struct sim {
    /* options */
    const char *file;
    const char *config;
    size_t config_len;
    char *config_owned;
    const char *root_id;
    const char **env;
    int nenv;
    const char *method, *path, *authority;
    wg_headers request_headers;
    const char *body;
    int response_status;
    wg_headers response_headers;
    const char *response_body;
    int call_status;           /* 0: calls fail */
    const char *call_body;
    const char **clusters;     /* known clusters; none given: every name is one */
    int nclusters;
    wg_log_level log_level;

    /* the simulated stream */
    pw_vm *vm;
    pw_stream *stream;
    wg_headers req_h, req_t, resp_h, resp_t;
    wg_buf req_b, resp_b;
    bool request_resumed, response_resumed;
    bool closed;
    bool local_reply;
    uint32_t tick_period;
    bool queue_pending;
    pending_call *calls;
    uint32_t ncalls, calls_cap;

    pw_fail_strategy fail_strategy;
    int requests;              /* streams to run, one after the other */
    pw_slot *slot;

    /* output */
    json_t *logs;
    json_t *http_calls;
    json_t *streams;           /* one summary per stream */
    json_t *trap;              /* the first trap, captured when it happened */
} sim;

static void upstream_response(sim *s);

static void plugin_usage(FILE *out)
{
    fprintf(out,
            "usage: wasmgate plugin run PLUGIN.wasm [options]\n"
            "\n"
            "Runs one HTTP stream through the plugin with no network and prints a JSON\n"
            "object: abi_version, request (as forwarded upstream; null after a local\n"
            "reply), response (as the client receives it), local_reply, http_calls,\n"
            "logs, metrics and trap. Exit status: 0 ok, 1 load failure or trap, 2 usage.\n"
            "\n"
            "plugin:   --config TEXT | --config-file FILE   plugin configuration\n"
            "          --root-id ID   --env NAME=VALUE (repeatable)   --log-level LEVEL\n"
            "request:  --method M (GET)  --path P (/)  --authority A (example.com)\n"
            "          -H 'name: value' (repeatable)   --body TEXT\n"
            "upstream: --response-status N (200)  --response-header 'name: value'\n"
            "          --response-body TEXT\n"
            "calls:    --http-call-status N  --http-call-body TEXT (without them every\n"
            "          HTTP call fails as with an unreachable cluster)\n"
            "          --cluster NAME (repeatable): the known clusters; a call to another\n"
            "          name gets BAD_ARGUMENT. Without it every name is known.\n"
            "failures: --fail-strategy FAIL_CLOSE|FAIL_OPEN|FAIL_RELOAD (FAIL_CLOSE)\n"
            "          --requests N: run N identical streams, one simulated second apart;\n"
            "          the output then has a `streams` summary (the other fields show the\n"
            "          last stream, `trap` the first trap).\n");
}

/* Body bytes as a JSON string (empty bodies included; jansson refuses a
 * NULL pointer even with length 0). */
static json_t *bytes_json(const uint8_t *data, size_t len)
{
    return json_stringn(data ? (const char *)data : "", len);
}

/* ---- the simulated data plane ------------------------------------------------------ */

static pw_status sim_http_call(void *host, pw_vm *vm, uint32_t token, const pw_http_request *req)
{
    (void)vm;
    sim *s = host;
    if (s->nclusters > 0) {
        bool known = false;
        for (int i = 0; i < s->nclusters && !known; i++)
            known = strcmp(s->clusters[i], req->cluster) == 0;
        if (!known)
            return PW_BAD_ARGUMENT; /* as Envoy for an unknown cluster */
    }
    json_t *call = json_object();
    json_t *headers = json_array();
    for (uint32_t i = 0; i < req->headers->count; i++) {
        const wg_header *h = &req->headers->items[i];
        json_array_append_new(headers, json_pack("[s#s#]", h->name, (int)h->name_len, h->value,
                                                 (int)h->value_len));
    }
    json_object_set_new(call, "cluster", json_string(req->cluster));
    json_object_set_new(call, "headers", headers);
    json_object_set_new(call, "body", bytes_json(req->body, req->body_len));
    json_object_set_new(call, "timeout_ms", json_integer(req->timeout_ms));
    json_array_append_new(s->http_calls, call);
    /* The answer is delivered after the callback returns, never inside it. */
    if (s->ncalls == s->calls_cap) {
        uint32_t cap = s->calls_cap ? s->calls_cap * 2 : 4;
        pending_call *c = realloc(s->calls, cap * sizeof *c);
        if (!c)
            return PW_INTERNAL_FAILURE;
        s->calls = c;
        s->calls_cap = cap;
    }
    s->calls[s->ncalls++] = (pending_call){token};
    return PW_OK;
}

static void sim_set_tick(void *host, pw_vm *vm, uint32_t period_ms)
{
    (void)vm;
    ((sim *)host)->tick_period = period_ms;
}

static void sim_queue_ready(void *host, pw_vm *vm)
{
    (void)vm;
    ((sim *)host)->queue_pending = true;
}

static void sim_resume(void *host, pw_stream *st, pw_stream_type type)
{
    (void)st;
    sim *s = host;
    if (type == PW_STREAM_REQUEST)
        s->request_resumed = true;
    else if (type == PW_STREAM_RESPONSE)
        s->response_resumed = true;
}

static void sim_close(void *host, pw_stream *st, pw_stream_type type)
{
    (void)st;
    (void)type;
    ((sim *)host)->closed = true;
}

static void sim_local_reply(void *host, pw_stream *st, const pw_local_reply *r)
{
    (void)st;
    sim *s = host;
    s->local_reply = true;
    wg_headers_clear(&s->resp_h);
    char status[16];
    int n = snprintf(status, sizeof status, "%u", r->status);
    wg_headers_add(&s->resp_h, ":status", 7, status, (size_t)n);
    for (uint32_t i = 0; r->headers && i < r->headers->count; i++) {
        const wg_header *h = &r->headers->items[i];
        wg_headers_add(&s->resp_h, h->name, h->name_len, h->value, h->value_len);
    }
    wg_buf_set(&s->resp_b, r->body, r->body_len);
    wg_headers_clear(&s->resp_t);
}

static const char *level_name(wg_log_level l)
{
    static const char *const names[] = {"trace", "debug", "info", "warn", "error", "critical"};
    return l <= WG_LOG_CRITICAL ? names[l] : "off";
}

static void sim_log(void *host, pw_vm *vm, wg_log_level level, const char *msg, size_t len)
{
    (void)vm;
    sim *s = host;
    if (level < s->log_level)
        return;
    json_t *e = json_object();
    json_object_set_new(e, "level", json_string(level_name(level)));
    json_object_set_new(e, "message", json_stringn(msg, len));
    json_array_append_new(s->logs, e);
}

static const pw_host_ops sim_ops = {
    .http_call = sim_http_call,
    .set_tick = sim_set_tick,
    .queue_ready = sim_queue_ready,
    .resume = sim_resume,
    .close = sim_close,
    .local_reply = sim_local_reply,
    .log = sim_log,
};

/* Delivers what is waiting: HTTP call answers, then queue notifications.
 * Returns true if anything was delivered. */
static bool deliver_pending(sim *s)
{
    bool any = false;
    while (s->ncalls > 0) {
        pending_call c = s->calls[0];
        memmove(s->calls, s->calls + 1, (s->ncalls - 1) * sizeof *s->calls);
        s->ncalls--;
        any = true;
        if (s->call_status == 0) {
            pw_vm_http_call_response(s->vm, c.token, NULL, NULL, 0, NULL);
            continue;
        }
        wg_headers h, t;
        wg_headers_init(&h);
        wg_headers_init(&t);
        char status[16];
        int n = snprintf(status, sizeof status, "%d", s->call_status);
        const char *body = s->call_body ? s->call_body : "";
        char len[24];
        int ln = snprintf(len, sizeof len, "%zu", strlen(body));
        wg_headers_add(&h, ":status", 7, status, (size_t)n);
        wg_headers_add(&h, "content-length", 14, len, (size_t)ln);
        pw_vm_http_call_response(s->vm, c.token, &h, (const uint8_t *)body, strlen(body), &t);
        wg_headers_free(&h);
        wg_headers_free(&t);
    }
    if (s->queue_pending) {
        s->queue_pending = false;
        pw_vm_deliver_queues(s->vm);
        any = true;
    }
    return any;
}

/* Waits for a paused direction to resume: answers, queues, then ticks.
 * Returns false when nothing more can happen (the stream stays paused). */
static bool wait_resumed(sim *s, bool *resumed)
{
    for (int ticks = 0; !*resumed && !s->local_reply && !s->closed && !pw_vm_failed(s->vm);) {
        if (deliver_pending(s))
            continue;
        if (s->tick_period == 0 || ticks++ >= MAX_TICKS_WHILE_PAUSED)
            return false;
        pw_vm_tick(s->vm);
    }
    return *resumed || s->local_reply;
}

/* ---- the stream ---------------------------------------------------------------------- */

static json_t *headers_json(const wg_headers *h)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < h->count; i++)
        json_array_append_new(a, json_pack("[s#s#]", h->items[i].name, (int)h->items[i].name_len,
                                           h->items[i].value, (int)h->items[i].value_len));
    return a;
}

/* The response phase, for the upstream's answer or a local reply. */
static bool run_response(sim *s)
{
    bool body = s->resp_b.len > 0;
    pw_action a = pw_stream_response_headers(s->stream, !body);
    if (a == PW_FAILED)
        return false;
    if (a == PW_STOP && !s->local_reply) {
        s->response_resumed = false;
        if (!wait_resumed(s, &s->response_resumed))
            return true;
    }
    if (body) {
        a = pw_stream_response_body(s->stream, true);
        if (a == PW_FAILED)
            return false;
    }
    return true;
}

/* Runs the stream; false when the plugin failed it. */
static bool run_stream(sim *s, bool *forwarded)
{
    *forwarded = false;
    s->stream = pw_stream_new(s->vm, s);
    if (!s->stream)
        return false;
    pw_stream_info *info = pw_stream_info_of(s->stream);
    info->protocol = "HTTP/1.1";
    info->source_address = "127.0.0.1:40000";
    info->source_port = 40000;
    info->destination_address = "127.0.0.1:8080";
    info->destination_port = 8080;
    info->connection_id = 1;
    info->request_id = "plugin-run-0001";
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    info->start_time_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    pw_stream_set_request(s->stream, &s->req_h, &s->req_b, &s->req_t);
    pw_stream_set_response(s->stream, &s->resp_h, &s->resp_b, &s->resp_t);

    bool has_body = s->req_b.len > 0;
    pw_action a = pw_stream_request_headers(s->stream, !has_body);
    if (a == PW_FAILED)
        return false;
    if (a == PW_STOP && !s->local_reply && !wait_resumed(s, &s->request_resumed))
        goto paused;
    if (!s->local_reply && !s->closed && has_body) {
        a = pw_stream_request_body(s->stream, true);
        if (a == PW_FAILED)
            return false;
        if (a == PW_STOP && !s->local_reply) {
            s->request_resumed = false;
            if (!wait_resumed(s, &s->request_resumed))
                goto paused;
        }
    }
    if (s->closed)
        goto paused;
    if (!s->local_reply) {
        /* The upstream answers. */
        *forwarded = true;
        info->response_code = (uint32_t)s->response_status;
        info->upstream_address = "127.0.0.1:9000";
        info->upstream_port = 9000;
        info->cluster_name = "backend";
        upstream_response(s);
    }
    /* As in Envoy, a local reply also passes through the response callbacks. */
    if (!run_response(s))
        return false;
paused:
    return true;
}

/* ---- output ---------------------------------------------------------------------------- */

static json_t *trap_json(const pw_vm *vm)
{
    const wasm_trap *t = pw_vm_trap(vm);
    json_t *o = json_object();
    json_object_set_new(o, "function", json_string(pw_vm_failed_function(vm)));
    json_object_set_new(o, "message", json_string(t->message));
    json_t *bt = json_array();
    for (uint32_t i = 0; i < t->nframes; i++) {
        const wasm_frame_info *f = &t->frames[i];
        json_t *fr = json_object();
        json_object_set_new(fr, "index", json_integer(i));
        json_object_set_new(fr, "offset", json_integer(f->code_offset));
        json_object_set_new(fr, "function", f->name ? json_string(f->name) : json_null());
        const char *file = NULL;
        uint32_t line = 0;
        if (f->module && wasm_module_source_line(f->module, f->code_offset, &file, &line)) {
            json_object_set_new(fr, "file", json_string(file));
            json_object_set_new(fr, "line", json_integer(line));
        }
        json_array_append_new(bt, fr);
    }
    json_object_set_new(o, "backtrace", bt);
    return o;
}

static json_t *metrics_json(const pw_vm *vm)
{
    json_t *a = json_array();
    uint32_t n = pw_vm_metric_count(vm);
    for (uint32_t i = 0; i < n; i++) {
        wg_metric *m = pw_vm_metric(vm, i);
        bool seen = !m;
        for (uint32_t k = 0; k < i && !seen; k++)
            seen = pw_vm_metric(vm, k) == m;
        if (seen)
            continue;
        static const char *const types[] = {"counter", "gauge", "histogram"};
        wg_metric_type t = wg_metric_type_of(m);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(wg_metric_name(m)));
        json_object_set_new(o, "type", json_string(types[t]));
        if (t == WG_METRIC_GAUGE)
            json_object_set_new(o, "value", json_integer(wg_metric_gauge_value(m)));
        else
            json_object_set_new(o, "value", json_integer((json_int_t)wg_metric_value(m)));
        if (t == WG_METRIC_HISTOGRAM)
            json_object_set_new(o, "sum", json_integer((json_int_t)wg_metric_sum(m)));
        json_array_append_new(a, o);
    }
    return a;
}

static void print_result(sim *s, pw_module *mod, bool forwarded, const char *load_error)
{
    json_t *out = json_object();
    json_object_set_new(out, "abi_version",
                        mod ? json_string(pw_abi_version_name(pw_module_abi(mod))) : json_null());
    if (forwarded) {
        json_t *req = json_object();
        json_object_set_new(req, "headers", headers_json(&s->req_h));
        json_object_set_new(req, "body", bytes_json(s->req_b.data, s->req_b.len));
        json_object_set_new(out, "request", req);
    } else {
        json_object_set_new(out, "request", json_null());
    }
    json_t *resp = json_object();
    const wg_header *st = wg_headers_get(&s->resp_h, ":status", 7);
    json_object_set_new(resp, "status", st ? json_integer(atoi(st->value)) : json_null());
    json_object_set_new(resp, "headers", headers_json(&s->resp_h));
    json_object_set_new(resp, "body", bytes_json(s->resp_b.data, s->resp_b.len));
    json_object_set_new(out, "response", resp);
    json_object_set_new(out, "local_reply", json_boolean(s->local_reply));
    json_object_set_new(out, "http_calls", json_incref(s->http_calls));
    json_object_set_new(out, "logs", json_incref(s->logs));
    json_object_set_new(out, "metrics", s->vm ? metrics_json(s->vm) : json_array());
    json_object_set_new(out, "trap", s->trap ? json_incref(s->trap) : json_null());
    if (s->requests > 1)
        json_object_set_new(out, "streams", json_incref(s->streams));
    if (load_error)
        json_object_set_new(out, "error", json_string(load_error));
    else if (s->slot && s->trap)
        json_object_set_new(out, "error", json_string(pw_slot_error(s->slot)));
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text) {
        puts(text);
        free(text);
    }
    json_decref(out);
}

/* ---- options ----------------------------------------------------------------------------- */

static bool parse_header(const char *arg, wg_headers *h)
{
    const char *colon = strchr(arg, ':');
    if (colon == arg) /* a pseudo-header such as ":path: /x" */
        colon = strchr(arg + 1, ':');
    if (!colon || colon == arg)
        return false;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return wg_headers_add_lower(h, arg, (size_t)(colon - arg), v, strlen(v));
}

static char *read_text_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    wg_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        wg_buf_append(&b, chunk, n);
    fclose(f);
    wg_buf_append(&b, "", 1);
    *len = b.len - 1;
    return (char *)b.data;
}

static int parse_options(sim *s, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && ++i)
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            plugin_usage(stdout);
            return -1;
        } else if (OPT("--config")) {
            s->config = v;
            s->config_len = strlen(v);
        } else if (OPT("--config-file")) {
            s->config_owned = read_text_file(v, &s->config_len);
            if (!s->config_owned) {
                fprintf(stderr, "error: cannot read %s: %s\n", v, strerror(errno));
                return WG_EXIT_USAGE;
            }
            s->config = s->config_owned;
        } else if (OPT("--root-id")) {
            s->root_id = v;
        } else if (OPT("--env")) {
            if (!strchr(v, '=')) {
                fprintf(stderr, "error: --env needs NAME=VALUE\n");
                return WG_EXIT_USAGE;
            }
            s->env[s->nenv++] = v;
        } else if (OPT("--method")) {
            s->method = v;
        } else if (OPT("--path")) {
            s->path = v;
        } else if (OPT("--authority")) {
            s->authority = v;
        } else if (OPT("-H") || OPT("--header")) {
            if (!parse_header(v, &s->request_headers)) {
                fprintf(stderr, "error: -H needs 'name: value', got '%s'\n", v);
                return WG_EXIT_USAGE;
            }
        } else if (OPT("--body")) {
            s->body = v;
        } else if (OPT("--response-status")) {
            s->response_status = atoi(v);
            if (s->response_status < 100 || s->response_status > 999) {
                fprintf(stderr, "error: --response-status needs an HTTP status code\n");
                return WG_EXIT_USAGE;
            }
        } else if (OPT("--response-header")) {
            if (!parse_header(v, &s->response_headers)) {
                fprintf(stderr, "error: --response-header needs 'name: value'\n");
                return WG_EXIT_USAGE;
            }
        } else if (OPT("--response-body")) {
            s->response_body = v;
        } else if (OPT("--http-call-status")) {
            s->call_status = atoi(v);
            if (s->call_status < 100 || s->call_status > 999) {
                fprintf(stderr, "error: --http-call-status needs an HTTP status code\n");
                return WG_EXIT_USAGE;
            }
        } else if (OPT("--http-call-body")) {
            s->call_body = v;
        } else if (OPT("--fail-strategy")) {
            if (strcmp(v, "FAIL_CLOSE") == 0)
                s->fail_strategy = PW_FAIL_CLOSE;
            else if (strcmp(v, "FAIL_OPEN") == 0)
                s->fail_strategy = PW_FAIL_OPEN;
            else if (strcmp(v, "FAIL_RELOAD") == 0)
                s->fail_strategy = PW_FAIL_RELOAD;
            else {
                fprintf(stderr, "error: --fail-strategy is FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD\n");
                return WG_EXIT_USAGE;
            }
        } else if (OPT("--requests")) {
            s->requests = atoi(v);
            if (s->requests < 1 || s->requests > 100000) {
                fprintf(stderr, "error: --requests needs a number from 1 to 100000\n");
                return WG_EXIT_USAGE;
            }
        } else if (OPT("--cluster")) {
            s->clusters[s->nclusters++] = v;
        } else if (OPT("--log-level")) {
            if (wg_log_level_from_string(v, &s->log_level) != 0) {
                fprintf(stderr, "error: unknown log level '%s'\n", v);
                return WG_EXIT_USAGE;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "error: unknown or incomplete option %s\n", a);
            plugin_usage(stderr);
            return WG_EXIT_USAGE;
        } else if (!s->file) {
            s->file = a;
        } else {
            fprintf(stderr, "error: unexpected argument %s\n", a);
            return WG_EXIT_USAGE;
        }
#undef OPT
    }
    if (!s->file) {
        plugin_usage(stderr);
        return WG_EXIT_USAGE;
    }
    return 0;
}

static uint8_t *read_module(const char *path, size_t *size)
{
    size_t len = 0;
    char *data = read_text_file(path, &len);
    *size = len;
    return (uint8_t *)data;
}

/* Clears what one stream leaves behind and builds the client's request. */
static void reset_stream(sim *s)
{
    wg_headers_clear(&s->req_h);
    wg_headers_clear(&s->req_t);
    wg_headers_clear(&s->resp_h);
    wg_headers_clear(&s->resp_t);
    wg_buf_clear(&s->req_b);
    wg_buf_clear(&s->resp_b);
    s->request_resumed = s->response_resumed = false;
    s->closed = s->local_reply = false;
    s->stream = NULL;
    wg_headers_add(&s->req_h, ":method", 7, s->method, strlen(s->method));
    wg_headers_add(&s->req_h, ":path", 5, s->path, strlen(s->path));
    wg_headers_add(&s->req_h, ":authority", 10, s->authority, strlen(s->authority));
    wg_headers_add(&s->req_h, ":scheme", 7, "http", 4);
    for (uint32_t i = 0; i < s->request_headers.count; i++) {
        const wg_header *h = &s->request_headers.items[i];
        wg_headers_add(&s->req_h, h->name, h->name_len, h->value, h->value_len);
    }
    if (s->body)
        wg_buf_set(&s->req_b, s->body, strlen(s->body));
}

/* The upstream's answer, when the plugin is skipped or let the request go. */
static void upstream_response(sim *s)
{
    char status[16];
    int n = snprintf(status, sizeof status, "%d", s->response_status);
    wg_headers_add(&s->resp_h, ":status", 7, status, (size_t)n);
    for (uint32_t i = 0; i < s->response_headers.count; i++) {
        const wg_header *h = &s->response_headers.items[i];
        wg_headers_add_lower(&s->resp_h, h->name, h->name_len, h->value, h->value_len);
    }
    if (s->response_body)
        wg_buf_set(&s->resp_b, s->response_body, strlen(s->response_body));
}

static void fail_stream_reply(sim *s)
{
    wg_headers_clear(&s->resp_h);
    wg_headers_add(&s->resp_h, ":status", 7, "503", 3);
    wg_buf_set(&s->resp_b, "wasm_fail_stream", 16);
    s->local_reply = true;
}

/* Runs one stream at simulated time now_ms through the slot's policy.
 * Returns whether the request went upstream. */
static bool run_one(sim *s, uint64_t now_ms, bool *trapped)
{
    pw_vm *vm = NULL;
    pw_slot_decision d = pw_slot_acquire(s->slot, now_ms, &vm);
    static const char *const names[] = {"run", "skip", "deny"};
    bool forwarded = false;
    bool failed_now = false;
    s->vm = vm;
    if (d == PW_SLOT_RUN) {
        bool ok = run_stream(s, &forwarded);
        if (!ok && pw_vm_failed(vm)) {
            failed_now = true;
            *trapped = true;
            if (!s->trap && pw_vm_failed_function(vm)[0])
                s->trap = trap_json(vm);
            fprintf(stderr, "error: %s\n", pw_vm_error(vm));
            if (s->fail_strategy == PW_FAIL_OPEN && !s->local_reply) {
                /* The failed plugin steps aside; the request goes on. */
                wg_headers_clear(&s->resp_h);
                wg_buf_clear(&s->resp_b);
                upstream_response(s);
                forwarded = true;
            } else {
                fail_stream_reply(s);
                forwarded = false;
            }
        }
        deliver_pending(s);
        if (s->stream)
            pw_stream_finish(s->stream);
        s->stream = NULL;
    } else if (d == PW_SLOT_SKIP) {
        upstream_response(s);
        forwarded = true;
    } else {
        fail_stream_reply(s);
    }
    if (s->local_reply)
        forwarded = false;
    const wg_header *st = wg_headers_get(&s->resp_h, ":status", 7);
    json_t *summary = json_object();
    json_object_set_new(summary, "plugin", json_string(names[d]));
    json_object_set_new(summary, "status", st ? json_integer(atoi(st->value)) : json_null());
    json_object_set_new(summary, "local_reply", json_boolean(s->local_reply));
    json_object_set_new(summary, "trapped", json_boolean(failed_now));
    json_object_set_new(summary, "vm_reloads", json_integer(pw_slot_reloads(s->slot)));
    json_array_append_new(s->streams, summary);
    return forwarded;
}

static int plugin_run(int argc, char **argv)
{
    sim s;
    memset(&s, 0, sizeof s);
    s.env = calloc((size_t)argc + 1, sizeof *s.env);
    s.clusters = calloc((size_t)argc + 1, sizeof *s.clusters);
    s.method = "GET";
    s.path = "/";
    s.authority = "example.com";
    s.response_status = 200;
    s.log_level = WG_LOG_TRACE;
    s.root_id = "";
    s.config = "";
    s.logs = json_array();
    s.http_calls = json_array();
    s.streams = json_array();
    s.requests = 1;
    int rc = s.env && s.clusters ? parse_options(&s, argc, argv) : WG_EXIT_FAILURE;
    pw_module *mod = NULL;
    uint8_t *bytes = NULL;
    bool forwarded = false;
    if (rc != 0) {
        rc = rc < 0 ? WG_EXIT_OK : rc;
        goto out;
    }
    size_t size = 0;
    bytes = read_module(s.file, &size);
    if (!bytes) {
        fprintf(stderr, "error: cannot read %s: %s\n", s.file, strerror(errno));
        rc = WG_EXIT_FAILURE;
        goto out;
    }
    wasm_error err = {0};
    mod = pw_module_load(bytes, size, &err);
    if (!mod) {
        fprintf(stderr, "error: %s: %s\n", s.file, err.message);
        print_result(&s, NULL, false, err.message);
        rc = WG_EXIT_FAILURE;
        goto out;
    }
    pw_plugin_config cfg = {
        .name = "plugin",
        .root_id = s.root_id,
        .vm_id = "",
        .configuration = (const uint8_t *)s.config,
        .configuration_len = s.config_len,
        .nenv = s.nenv,
        .env = s.env,
        .fail_strategy = s.fail_strategy,
        .node = {.id = "plugin-run", .cluster = "local", .namespace_ = "default"},
    };
    s.slot = pw_slot_new(mod, &cfg, &sim_ops, &s);
    if (!s.slot) {
        rc = WG_EXIT_FAILURE;
        goto out;
    }
    if (!pw_slot_vm(s.slot)) {
        /* The plugin did not start (trap in start-up, on_configure false...). */
        fprintf(stderr, "error: %s: %s\n", s.file, pw_slot_error(s.slot));
        print_result(&s, mod, false, pw_slot_error(s.slot));
        rc = WG_EXIT_FAILURE;
        goto out;
    }
    bool trapped = false;
    for (int i = 0; i < s.requests; i++) {
        reset_stream(&s);
        /* Simulated time: one second between streams, so a FAIL_RELOAD
         * backoff (1 s, doubling) elapses in a few streams. */
        forwarded = run_one(&s, (uint64_t)i * 1000u, &trapped);
    }
    /* Shut the plugin down, giving one that drains (proxy_done later) its
     * ticks and call answers. */
    s.vm = pw_slot_vm(s.slot);
    if (s.vm && !pw_vm_shutdown(s.vm)) {
        for (int ticks = 0; !pw_vm_shutdown_complete(s.vm) && ticks < MAX_TICKS_WHILE_PAUSED;) {
            if (deliver_pending(&s))
                continue;
            if (s.tick_period == 0)
                break;
            pw_vm_tick(s.vm);
            ticks++;
        }
    }
    print_result(&s, mod, forwarded, NULL);
    rc = trapped ? WG_EXIT_FAILURE : WG_EXIT_OK;
out:
    pw_slot_free(s.slot);
    pw_module_release(mod);
    free(bytes);
    free(s.env);
    free(s.clusters);
    free(s.calls);
    free(s.config_owned);
    wg_headers_free(&s.request_headers);
    wg_headers_free(&s.response_headers);
    wg_headers_free(&s.req_h);
    wg_headers_free(&s.req_t);
    wg_headers_free(&s.resp_h);
    wg_headers_free(&s.resp_t);
    wg_buf_free(&s.req_b);
    wg_buf_free(&s.resp_b);
    json_decref(s.logs);
    json_decref(s.http_calls);
    json_decref(s.streams);
    json_decref(s.trap);
    return rc;
}

int cmd_plugin(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return plugin_run(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        plugin_usage(stdout);
        return WG_EXIT_OK;
    }
    plugin_usage(stderr);
    return WG_EXIT_USAGE;
}
