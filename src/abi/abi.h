/*
 * abi.h - the Proxy-Wasm host: plugin modules, VMs, contexts and every
 * proxy_* hostcall of ABI versions 0.1.0, 0.2.0 and 0.2.1.
 *
 * The host knows nothing about sockets. The data plane (the proxy, or the
 * `plugin run` simulator, or a unit test) drives it through this header:
 *
 *   pw_module   a plugin's compiled code and what it exports; immutable and
 *               shared by every worker (reference counted).
 *   pw_vm       one instance of a plugin on one thread: a wasm store, the
 *               root context, timers, pending HTTP calls. Created already
 *               started and configured (on_vm_start, on_configure).
 *   pw_stream   one HTTP stream context in a VM. The data plane hands it the
 *               stream's header maps and body buffers (it keeps owning
 *               them) and calls one function per stream event.
 *
 * What the plugin asks of the data plane (resume or close a stream, send a
 * local reply, start an HTTP call, arm the tick timer) goes through
 * pw_host_ops. Stream actions are deferred until the VM call in progress
 * returns, as Envoy does, so the data plane is never re-entered from inside
 * the plugin.
 *
 * Threads: a pw_vm and its streams belong to one thread. Shared data,
 * shared queues and metrics are process-wide and thread-safe.
 */
#ifndef WASMGATE_ABI_H
#define WASMGATE_ABI_H

#include "base/base.h"
#include "stats/stats.h"
#include "wasm/wasm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- enumerations of the ABI --------------------------------------------- */

typedef enum pw_status {
    PW_OK = 0,
    PW_NOT_FOUND = 1,
    PW_BAD_ARGUMENT = 2,
    PW_SERIALIZATION_FAILURE = 3,
    PW_PARSE_FAILURE = 4,
    PW_INVALID_MEMORY_ACCESS = 6,
    PW_EMPTY = 7,
    PW_CAS_MISMATCH = 8,
    PW_INTERNAL_FAILURE = 10,
    PW_BROKEN_CONNECTION = 11,
    PW_UNIMPLEMENTED = 12,
} pw_status;

typedef enum pw_abi_version {
    PW_ABI_0_1_0,
    PW_ABI_0_2_0,
    PW_ABI_0_2_1,
} pw_abi_version;

const char *pw_abi_version_name(pw_abi_version v); /* "0.2.1" */

typedef enum pw_map_type {
    PW_MAP_REQUEST_HEADERS = 0,
    PW_MAP_REQUEST_TRAILERS = 1,
    PW_MAP_RESPONSE_HEADERS = 2,
    PW_MAP_RESPONSE_TRAILERS = 3,
    PW_MAP_GRPC_INITIAL_METADATA = 4,
    PW_MAP_GRPC_TRAILING_METADATA = 5,
    PW_MAP_HTTP_CALL_RESPONSE_HEADERS = 6,
    PW_MAP_HTTP_CALL_RESPONSE_TRAILERS = 7,
} pw_map_type;

typedef enum pw_buffer_type {
    PW_BUFFER_REQUEST_BODY = 0,
    PW_BUFFER_RESPONSE_BODY = 1,
    PW_BUFFER_DOWNSTREAM_DATA = 2,
    PW_BUFFER_UPSTREAM_DATA = 3,
    PW_BUFFER_HTTP_CALL_RESPONSE_BODY = 4,
    PW_BUFFER_GRPC_CALL_MESSAGE = 5,
    PW_BUFFER_VM_CONFIGURATION = 6,
    PW_BUFFER_PLUGIN_CONFIGURATION = 7,
    PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS = 8,
} pw_buffer_type;

typedef enum pw_stream_type {
    PW_STREAM_REQUEST = 0,
    PW_STREAM_RESPONSE = 1,
    PW_STREAM_DOWNSTREAM = 2,
    PW_STREAM_UPSTREAM = 3,
} pw_stream_type;

/* What a stream callback asks the data plane to do next. */
typedef enum pw_action {
    PW_CONTINUE,     /* go on with the next plugin / the upstream */
    PW_STOP,         /* headers/trailers: wait until the plugin resumes */
    PW_BUFFER,       /* body: keep buffering; call again with more data */
    PW_FAILED,       /* the plugin trapped or the VM is failed: apply the
                        plugin's failure policy */
} pw_action;

/* ---- modules ---------------------------------------------------------------- */

typedef struct pw_module pw_module;

/* Compiles a plugin module and checks it is a usable Proxy-Wasm plugin
 * (memory, allocator, ABI marker; no marker means 0.1.0). Returns NULL with
 * a message in err. */
pw_module *pw_module_load(const uint8_t *bytes, size_t size, wasm_error *err);
pw_module *pw_module_retain(pw_module *m);
void pw_module_release(pw_module *m);
pw_abi_version pw_module_abi(const pw_module *m);
/* Whether the plugin exports a request (or response) body callback: the
 * data plane re-frames bodies only through plugins that may change them. */
bool pw_module_has_body_callback(const pw_module *m, bool response);
wasm_module *pw_module_wasm(const pw_module *m);

/* ---- configuration ---------------------------------------------------------- */

/* Failure policy applied by the data plane when a plugin fails a stream. */
typedef enum pw_fail_strategy {
    PW_FAIL_CLOSE,   /* 503 local reply, details wasm_fail_stream */
    PW_FAIL_OPEN,    /* skip the plugin */
    PW_FAIL_RELOAD,  /* recreate the VM (with backoff) for the next stream */
} pw_fail_strategy;

/* Facts about the proxy node, for properties (node.*, xds.*). */
typedef struct pw_node_info {
    const char *id;
    const char *cluster;
    const char *namespace_;
    int nlabels;
    const char *const *label_keys;
    const char *const *label_values;
    int listener_direction;   /* 0 unspecified, 1 inbound, 2 outbound */
} pw_node_info;

/* Everything a VM needs to start. The host copies what it keeps. */
typedef struct pw_plugin_config {
    const char *name;                 /* plugin_name */
    const char *root_id;              /* plugin_root_id ("" when none) */
    const char *vm_id;                /* plugin_vm_id, namespace of shared data */
    const uint8_t *configuration;     /* plugin configuration (buffer 7) */
    size_t configuration_len;
    const uint8_t *vm_configuration;  /* VM configuration (buffer 6) */
    size_t vm_configuration_len;
    int nenv;
    const char *const *env;           /* "NAME=VALUE", the only WASI environ */
    uint32_t max_memory_bytes;        /* 0: 256 MiB */
    uint32_t callback_deadline_ms;    /* stream and timer callbacks; 0: 50 */
    uint32_t start_deadline_ms;       /* start-up and on_configure; 0: 30000 */
    pw_fail_strategy fail_strategy;
    pw_node_info node;
    /* A VM started only to see whether the plugin starts (and configures)
     * before it is put in service: its proxy_register_shared_queue gets the
     * queue's id but does not take the queue from the VMs that serve. */
    bool start_check;
} pw_plugin_config;

/* ---- the data plane's side ---------------------------------------------------- */

typedef struct pw_vm pw_vm;
typedef struct pw_stream pw_stream;

/* A local reply requested by the plugin. Owned by the host; valid during
 * the stream_local_reply call. */
typedef struct pw_local_reply {
    uint32_t status;
    const char *details;       /* NUL-terminated, whitespace replaced by '_' */
    const uint8_t *body;
    size_t body_len;
    const wg_headers *headers;
    int32_t grpc_status;       /* -1: none */
} pw_local_reply;

/* An HTTP call the plugin dispatched. Owned by the host; valid during the
 * http_call call (copy what you keep). */
typedef struct pw_http_request {
    const char *cluster;       /* NUL-terminated upstream name */
    const wg_headers *headers; /* includes :method :path :authority */
    const uint8_t *body;
    size_t body_len;
    const wg_headers *trailers;
    uint32_t timeout_ms;       /* 0: none */
} pw_http_request;

typedef struct pw_host_ops {
    /* Start an HTTP call; answer later with pw_vm_http_call_response() on
     * the VM's thread. Return PW_OK, PW_BAD_ARGUMENT (unknown cluster) or
     * PW_INTERNAL_FAILURE. Required. */
    pw_status (*http_call)(void *host, pw_vm *vm, uint32_t token, const pw_http_request *req);
    /* Arm (period > 0) or disarm the VM's tick timer; call pw_vm_tick()
     * every period. Required. */
    void (*set_tick)(void *host, pw_vm *vm, uint32_t period_ms);
    /* Thread-safe: a shared queue this VM owns got an item; arrange for
     * pw_vm_deliver_queues() to run on the VM's thread. Required. */
    void (*queue_ready)(void *host, pw_vm *vm);
    /* Deferred stream actions (called after the VM call returns). The
     * stream's data-plane pointer is pw_stream_userdata(s). Required. */
    void (*resume)(void *host, pw_stream *s, pw_stream_type type);
    void (*close)(void *host, pw_stream *s, pw_stream_type type);
    void (*local_reply)(void *host, pw_stream *s, const pw_local_reply *reply);
    /* Optional: where the plugin's log lines (proxy_log, WASI stdout at
     * info and stderr at error) go. NULL: the process log, component
     * "wasm", as "wasm log <plugin> <root_id> <vm_id>: message". */
    void (*log)(void *host, pw_vm *vm, wg_log_level level, const char *msg, size_t len);
} pw_host_ops;

/* Facts about a stream for properties (request.*, source.*, ...): the data
 * plane fills what it knows; NULL/0 fields are "not found". Strings are
 * borrowed and must live as long as the stream. */
typedef struct pw_stream_info {
    const char *protocol;            /* "HTTP/1.1" */
    const char *request_id;          /* x-request-id */
    uint64_t start_time_ns;          /* Unix ns of the first byte */
    uint64_t connection_id;
    const char *source_address;      /* "ip:port" */
    uint32_t source_port;
    const char *destination_address;
    uint32_t destination_port;
    const char *upstream_address;
    uint32_t upstream_port;
    const char *cluster_name;
    const char *route_name;
    uint32_t response_code;          /* 0 until the response starts */
    const char *response_code_details;
    uint64_t request_body_size;
    uint64_t response_body_size;
    uint64_t duration_ns;            /* after completion */
} pw_stream_info;

/* ---- VMs ---------------------------------------------------------------------- */

/* Instantiates the module, runs its start-up and the plugin's root context
 * (on_context_create, on_vm_start, on_configure). Returns NULL with a
 * message in err (a trap, a false answer, a link error...). */
pw_vm *pw_vm_new(pw_module *module, const pw_plugin_config *config, const pw_host_ops *ops,
                 void *host, wasm_error *err);
/* Starts the plugin's shutdown: on_done on the root context, then
 * on_delete. Returns true when that is complete; false when the plugin
 * answered "not yet" and will call proxy_done() later (keep delivering
 * ticks and call responses until pw_vm_shutdown_complete()). */
bool pw_vm_shutdown(pw_vm *vm);
bool pw_vm_shutdown_complete(const pw_vm *vm);
/* Frees the VM; a shutdown still pending is cut short (on_delete runs). */
void pw_vm_free(pw_vm *vm);

/* A VM fails for good when a callback traps or overruns its deadline. */
bool pw_vm_failed(const pw_vm *vm);
/* The failure, e.g. "Function: proxy_on_request_headers failed: unreachable". */
const char *pw_vm_error(const pw_vm *vm);
/* The last trap of this VM, with its backtrace, and the guest function
 * that was called ("proxy_on_request_headers", "_initialize", ...). */
const wasm_trap *pw_vm_trap(const pw_vm *vm);
const char *pw_vm_failed_function(const pw_vm *vm);
/* The metrics the plugin defined (entries may repeat: defining a name
 * twice gives two ids for one metric). */
uint32_t pw_vm_metric_count(const pw_vm *vm);
wg_metric *pw_vm_metric(const pw_vm *vm, uint32_t i);
const pw_plugin_config *pw_vm_config(const pw_vm *vm);
pw_abi_version pw_vm_abi(const pw_vm *vm);
void *pw_vm_host(const pw_vm *vm);

/* Delivers a new plugin configuration (on_configure). false when the
 * plugin rejects it or traps. */
bool pw_vm_configure(pw_vm *vm, const uint8_t *configuration, size_t len);
/* Timer tick (on_tick on the root context). */
void pw_vm_tick(pw_vm *vm);
/* The answer to HTTP call `token`: headers NULL means the call failed
 * (reset, no upstream): the plugin sees 0 headers and status 11 "reset". */
void pw_vm_http_call_response(pw_vm *vm, uint32_t token, const wg_headers *headers,
                              const uint8_t *body, size_t body_len, const wg_headers *trailers);
/* Runs on_queue_ready for every pending enqueue on this VM's queues. */
void pw_vm_deliver_queues(pw_vm *vm);

/* ---- streams -------------------------------------------------------------------- */

/* Creates a stream context (on_context_create runs lazily on the first
 * event). `userdata` is the data plane's stream. */
pw_stream *pw_stream_new(pw_vm *vm, void *userdata);
void *pw_stream_userdata(const pw_stream *s);
pw_vm *pw_stream_vm(const pw_stream *s);
pw_stream_info *pw_stream_info_of(pw_stream *s);

/* The stream's maps and bodies, owned by the data plane. Set them before
 * the events that use them; NULL means "not available". */
void pw_stream_set_request(pw_stream *s, wg_headers *headers, wg_buf *body, wg_headers *trailers);
void pw_stream_set_response(pw_stream *s, wg_headers *headers, wg_buf *body,
                            wg_headers *trailers);

/* Stream events. Body events report the bytes currently in the body buffer
 * (all of it while the plugin is buffering). */
pw_action pw_stream_request_headers(pw_stream *s, bool end_of_stream);
pw_action pw_stream_request_body(pw_stream *s, bool end_of_stream);
pw_action pw_stream_request_trailers(pw_stream *s);
pw_action pw_stream_response_headers(pw_stream *s, bool end_of_stream);
pw_action pw_stream_response_body(pw_stream *s, bool end_of_stream);
pw_action pw_stream_response_trailers(pw_stream *s);
/* on_log, then on_done and on_delete; frees the stream. */
void pw_stream_finish(pw_stream *s);

/* ---- plugin slots: one plugin on one worker, with its failure policy ---- */

/* A slot owns the worker's current VM for a plugin and applies the
 * plugin's failStrategy when that VM fails:
 *   FAIL_CLOSE   every later stream is denied (503, details wasm_fail_stream)
 *   FAIL_OPEN    every later stream skips the plugin
 *   FAIL_RELOAD  a fresh VM is created for later streams, after a backoff
 *                that doubles with each consecutive failure (base 1 s, as
 *                Envoy's default, at most 60 s); streams that arrive during
 *                the backoff are denied. A VM that cannot even start is not
 *                reloaded: that is fail-close (reload covers runtime errors).
 * A failed VM is freed once its last stream has finished. */
typedef struct pw_slot pw_slot;

typedef enum pw_slot_decision {
    PW_SLOT_RUN,    /* run the stream through *vm */
    PW_SLOT_SKIP,   /* fail open: the plugin is skipped */
    PW_SLOT_DENY,   /* fail close: answer 503 wasm_fail_stream */
} pw_slot_decision;

/* Creates the slot and its first VM. Returns NULL only when out of memory;
 * a VM that fails to start leaves the slot failed (see pw_slot_error). */
pw_slot *pw_slot_new(pw_module *module, const pw_plugin_config *config, const pw_host_ops *ops,
                     void *host);
void pw_slot_free(pw_slot *slot);
/* What to do with a new stream at monotonic time now_ms. */
pw_slot_decision pw_slot_acquire(pw_slot *slot, uint64_t now_ms, pw_vm **vm);
/* The data plane saw the current VM fail at now_ms: FAIL_RELOAD's backoff
 * counts from there (otherwise from the next pw_slot_acquire). */
void pw_slot_note_failure(pw_slot *slot, uint64_t now_ms);
/* The VM currently in use (or NULL), for timers, call answers, queues. */
pw_vm *pw_slot_vm(const pw_slot *slot);
bool pw_slot_failed(const pw_slot *slot);
const char *pw_slot_error(const pw_slot *slot);   /* "" when none */
uint32_t pw_slot_reloads(const pw_slot *slot);    /* VMs created after failures */

/* ---- process-wide state ------------------------------------------------------------ */

/* Call once before creating VMs (starts the deadline watchdog thread);
 * pw_global_shutdown() at exit frees shared data and queues. */
bool pw_global_init(void);
void pw_global_shutdown(void);

#endif
