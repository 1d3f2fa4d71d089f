/*
 * internal.h - the Proxy-Wasm host's private structures (src/abi/ only).
 *
 * Files:
 *   module.c      pw_module: compile, ABI detection, export checks
 *   vm.c          pw_vm: start-up, calls into the guest (deadlines, traps,
 *                 trace logs, deferred actions), root context, timers
 *   stream.c      pw_stream: stream contexts and their events
 *   hostcalls.c   the env.* import table and the generic helpers every
 *                 hostcall uses (guest memory, allocation, results)
 *   hc_*.c        hostcall families (maps, buffers, properties, ...)
 *   shared.c      process-wide shared data and queues
 *   watchdog.c    the deadline thread that interrupts runaway callbacks
 */
#ifndef WASMGATE_ABI_INTERNAL_H
#define WASMGATE_ABI_INTERNAL_H

#include "abi/abi.h"
#include "stats/stats.h"

#include <stdatomic.h>

/* The callbacks a plugin may export (§4 of the reference). */
#define PW_CALLBACKS(X)                                                                \
    X(ON_CONTEXT_CREATE, "proxy_on_context_create", "ii", "")                          \
    X(ON_VM_START, "proxy_on_vm_start", "ii", "i")                                     \
    X(ON_VALIDATE_CONFIGURATION, "proxy_validate_configuration", "ii", "i")            \
    X(ON_CONFIGURE, "proxy_on_configure", "ii", "i")                                   \
    X(ON_TICK, "proxy_on_tick", "i", "")                                               \
    X(ON_QUEUE_READY, "proxy_on_queue_ready", "ii", "")                                \
    X(ON_FOREIGN_FUNCTION, "proxy_on_foreign_function", "iii", "")                     \
    X(ON_NEW_CONNECTION, "proxy_on_new_connection", "i", "i")                          \
    X(ON_DOWNSTREAM_DATA, "proxy_on_downstream_data", "iii", "i")                      \
    X(ON_DOWNSTREAM_CLOSE, "proxy_on_downstream_connection_close", "ii", "")           \
    X(ON_UPSTREAM_DATA, "proxy_on_upstream_data", "iii", "i")                          \
    X(ON_UPSTREAM_CLOSE, "proxy_on_upstream_connection_close", "ii", "")               \
    X(ON_REQUEST_HEADERS, "proxy_on_request_headers", "iii", "i")                      \
    X(ON_REQUEST_BODY, "proxy_on_request_body", "iii", "i")                            \
    X(ON_REQUEST_TRAILERS, "proxy_on_request_trailers", "ii", "i")                     \
    X(ON_REQUEST_METADATA, "proxy_on_request_metadata", "ii", "i")                     \
    X(ON_RESPONSE_HEADERS, "proxy_on_response_headers", "iii", "i")                    \
    X(ON_RESPONSE_BODY, "proxy_on_response_body", "iii", "i")                          \
    X(ON_RESPONSE_TRAILERS, "proxy_on_response_trailers", "ii", "i")                   \
    X(ON_RESPONSE_METADATA, "proxy_on_response_metadata", "ii", "i")                   \
    X(ON_HTTP_CALL_RESPONSE, "proxy_on_http_call_response", "iiiii", "")               \
    X(ON_GRPC_INITIAL_METADATA, "proxy_on_grpc_receive_initial_metadata", "iii", "")   \
    X(ON_GRPC_RECEIVE, "proxy_on_grpc_receive", "iii", "")                             \
    X(ON_GRPC_TRAILING_METADATA, "proxy_on_grpc_receive_trailing_metadata", "iii", "") \
    X(ON_GRPC_CLOSE, "proxy_on_grpc_close", "iii", "")                                 \
    X(ON_DONE, "proxy_on_done", "i", "i")                                              \
    X(ON_LOG, "proxy_on_log", "i", "")                                                 \
    X(ON_DELETE, "proxy_on_delete", "i", "")

typedef enum pw_callback {
#define PW_CB_ENUM(id, name, params, results) PW_CB_##id,
    PW_CALLBACKS(PW_CB_ENUM)
#undef PW_CB_ENUM
    PW_CB_COUNT
} pw_callback;

const char *pw_callback_name(pw_callback cb);

/* Start-up entry points. */
enum { PW_ENTRY_INITIALIZE, PW_ENTRY_MAIN, PW_ENTRY_MAIN_VOID, PW_ENTRY_START, PW_ENTRY_COUNT };

struct pw_module {
    atomic_int refcount;
    wasm_module *wasm;
    pw_abi_version abi;
    /* Export indices (in the module's function space) or -1. */
    int64_t callbacks[PW_CB_COUNT];
    int64_t entries[PW_ENTRY_COUNT];
    int64_t malloc_index;          /* malloc, else proxy_on_memory_allocate */
};

/* What restricts hostcalls right now (§1.2, §1.4 of the reference). */
typedef enum pw_phase {
    PW_PHASE_NORMAL,
    PW_PHASE_START,    /* _initialize/_start: only proxy_log and WASI */
    PW_PHASE_MALLOC,   /* inside the guest allocator: proxy_log and a few WASI */
} pw_phase;

/* A root or stream context. */
typedef struct pw_context {
    uint32_t id;
    bool is_root;
    bool created;        /* on_context_create has run */
    bool deleted;
    struct pw_stream *stream;   /* NULL for the root */
    wg_headers properties;      /* set by proxy_set_property (path -> value) */
} pw_context;

/* Deferred stream actions, run when the outermost VM call returns. */
typedef enum pw_deferred_kind { PW_DEFER_RESUME, PW_DEFER_CLOSE, PW_DEFER_REPLY } pw_deferred_kind;

typedef struct pw_deferred {
    pw_deferred_kind kind;
    uint32_t context_id;        /* looked up again when run: it may be gone */
    pw_stream_type type;
} pw_deferred;

/* An HTTP call in flight: owned by the root context. */
typedef struct pw_pending_call {
    uint32_t token;
} pw_pending_call;

/* The response being delivered to on_http_call_response. */
typedef struct pw_call_response {
    const wg_headers *headers;
    const wg_headers *trailers;
    const uint8_t *body;
    size_t body_len;
} pw_call_response;

struct pw_stream {
    pw_context ctx;
    pw_vm *vm;
    void *userdata;
    pw_stream_info info;
    wg_headers *request_headers, *request_trailers;
    wg_headers *response_headers, *response_trailers;
    wg_buf *request_body, *response_body;
    bool reply_pending;          /* a local reply waits in `reply` */
    bool replied;                /* one was sent: ignore further ones */
    pw_local_reply reply;        /* strings below are owned by the stream */
    wg_buf reply_body;
    wg_headers reply_headers;
    char *reply_details;
    bool stop_current;           /* force "stop" for the running callback */
    bool finished;
    bool in_event;               /* a pw_stream_* event is running */
    bool response_started;       /* response maps and body exist from here */
    bool finish_requested;       /* pw_stream_finish() came during it */
};

/* A hostcall binding: one per imported env function of a VM. */
struct pw_hostcall_entry;

struct pw_vm {
    pw_module *module;
    pw_plugin_config cfg;        /* with defaults applied; strings in cfg_copy */
    pw_plugin_config *cfg_copy;  /* owned (pw_config_dup) */
    const char *name, *root_id, *vm_id;   /* shorthands into cfg */

    const pw_host_ops *ops;
    void *host;

    wasm_store *store;
    wasm_instance *instance;
    wasm_wasi *wasi;
    wasm_memory *memory;
    wasm_func *callbacks[PW_CB_COUNT];
    uint32_t callback_nresults[PW_CB_COUNT]; /* what each callback returns: 0 or 1 */
    wasm_func *malloc_fn;

    pw_context root;
    uint32_t next_context_id;
    /* Live stream contexts by id: an open-addressing table. */
    pw_context **contexts;
    uint32_t contexts_cap, contexts_count;

    /* The VM call in progress. */
    uint32_t depth;
    pw_context *current;         /* the context of the running callback */
    pw_context *effective;       /* proxy_set_effective_context */
    pw_phase phase;
    pw_callback running;         /* the outermost callback */
    const pw_call_response *call_response;   /* during on_http_call_response */
    bool in_configure;           /* plugin configuration readable */
    bool in_vm_start;            /* VM configuration readable */
    const uint8_t *configure_data; /* the configuration being delivered */
    size_t configure_len;

    pw_deferred *deferred;
    uint32_t ndeferred, deferred_cap;

    /* HTTP calls in flight (tokens), and the status of the last one. */
    pw_pending_call *calls;
    uint32_t ncalls, calls_cap;
    uint32_t next_token;
    uint32_t status_code;
    char status_message[64];

    /* Metrics defined by the plugin: id -> registry metric. */
    struct wg_metric **metrics;
    uint32_t nmetrics, metrics_cap;

    struct pw_binding *bindings; /* one per hostcall table entry, made on demand */

    uint32_t tick_period_ms;
    bool done_pending;           /* root on_done said "not yet" */
    bool delete_root;            /* proxy_done came: on_delete after the call */
    bool shutting_down;          /* pw_vm_shutdown() started */
    uint32_t live_streams;       /* pw_stream_new minus pw_stream_finish */
    uint64_t streams_completed;  /* finished without the VM failing */
    bool retired;                /* free when the last stream finishes */           /* root on_done answered false */
    bool failed;
    char error[320];
    char failed_function[64];
    wasm_trap trap;
    struct pw_watch *watch;      /* deadline registration */
};

/* ---- config.c ---- */

/* A deep copy in one allocation; free() it. NULL when out of memory. */
pw_plugin_config *pw_config_dup(const pw_plugin_config *src);

/* ---- vm.c ---------------------------------------------------------------------- */

/* Calls callback cb with args (cell per param). Returns false when the
 * callback trapped or the VM is failed; *result gets the i32 result (or
 * `dflt` when the plugin does not export the callback). */
bool pw_vm_call(pw_vm *vm, pw_callback cb, pw_context *ctx, const wasm_cell *args,
                uint32_t nargs, uint32_t dflt, uint32_t *result);
/* Makes sure on_context_create ran for ctx. */
bool pw_vm_ensure_created(pw_vm *vm, pw_context *ctx);
/* Marks the VM failed with a message (first failure wins). */
void pw_vm_fail(pw_vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queues a stream action until the current VM call returns. */
void pw_vm_defer(pw_vm *vm, pw_deferred_kind kind, uint32_t context_id, pw_stream_type type);
pw_context *pw_vm_find_context(pw_vm *vm, uint32_t id);
bool pw_vm_add_context(pw_vm *vm, pw_context *ctx);
void pw_vm_remove_context(pw_vm *vm, pw_context *ctx);
/* The context hostcalls act on: the effective one, else the current one. */
pw_context *pw_vm_target(pw_vm *vm);
pw_stream *pw_vm_target_stream(pw_vm *vm);

/* ---- hostcalls.c ------------------------------------------------------------------ */

/* Resolves an `env` import to a host function of this VM; false when the
 * name is unknown or the declared type differs (err says which). */
bool pw_hostcalls_resolve(pw_vm *vm, const wasm_import_desc *imp, wasm_extern *out,
                          wasm_error *err);

/* A hostcall's answer: a status for the guest, or a trap (the hostcall
 * has recorded it with pw_hc_trap()). */
#define PW_HC_TRAP (-1)

/* A hostcall body: arguments as cells (i32 in the low bits). */
typedef int (*pw_hc_fn)(pw_vm *vm, const wasm_cell *args);

/* Records a trap from inside a hostcall; returns PW_HC_TRAP. */
int pw_hc_trap(pw_vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The hostcall families (hc_*.c), looked up by name in hostcalls.c. */
int pw_hc_get_header_map_pairs(pw_vm *vm, const wasm_cell *a);
int pw_hc_set_header_map_pairs(pw_vm *vm, const wasm_cell *a);
int pw_hc_get_header_map_size(pw_vm *vm, const wasm_cell *a);
int pw_hc_get_header_map_value(pw_vm *vm, const wasm_cell *a);
int pw_hc_add_header_map_value(pw_vm *vm, const wasm_cell *a);
int pw_hc_replace_header_map_value(pw_vm *vm, const wasm_cell *a);
int pw_hc_remove_header_map_value(pw_vm *vm, const wasm_cell *a);
int pw_hc_get_buffer_bytes(pw_vm *vm, const wasm_cell *a);
int pw_hc_get_buffer_status(pw_vm *vm, const wasm_cell *a);
int pw_hc_set_buffer_bytes(pw_vm *vm, const wasm_cell *a);
int pw_hc_get_configuration(pw_vm *vm, const wasm_cell *a);
int pw_hc_get_property(pw_vm *vm, const wasm_cell *a);
int pw_hc_set_property(pw_vm *vm, const wasm_cell *a);
int pw_hc_http_call(pw_vm *vm, const wasm_cell *a);
int pw_hc_grpc_call(pw_vm *vm, const wasm_cell *a);
int pw_hc_grpc_stream(pw_vm *vm, const wasm_cell *a);
int pw_hc_grpc_send(pw_vm *vm, const wasm_cell *a);
int pw_hc_grpc_cancel(pw_vm *vm, const wasm_cell *a);
int pw_hc_grpc_close(pw_vm *vm, const wasm_cell *a);
int pw_hc_call_foreign_function(pw_vm *vm, const wasm_cell *a);
int pw_hc_get_shared_data(pw_vm *vm, const wasm_cell *a);
int pw_hc_set_shared_data(pw_vm *vm, const wasm_cell *a);
int pw_hc_register_shared_queue(pw_vm *vm, const wasm_cell *a);
int pw_hc_resolve_shared_queue(pw_vm *vm, const wasm_cell *a);
int pw_hc_enqueue_shared_queue(pw_vm *vm, const wasm_cell *a);
int pw_hc_dequeue_shared_queue(pw_vm *vm, const wasm_cell *a);
int pw_hc_define_metric(pw_vm *vm, const wasm_cell *a);
int pw_hc_increment_metric(pw_vm *vm, const wasm_cell *a);
int pw_hc_record_metric(pw_vm *vm, const wasm_cell *a);
int pw_hc_get_metric(pw_vm *vm, const wasm_cell *a);

/* Helpers for hostcall bodies. Guest memory is re-read on every use, since
 * any call into the guest may grow (and move) it. */
bool pw_mem_read(pw_vm *vm, uint32_t ptr, uint32_t len, const uint8_t **out);
bool pw_mem_write_u32(pw_vm *vm, uint32_t ptr, uint32_t value);
bool pw_mem_write_u64(pw_vm *vm, uint32_t ptr, uint64_t value);
/* Copies bytes into newly allocated guest memory and writes the pointer and
 * size to the out-pointers ((0,0) for empty data). Returns PW_OK,
 * PW_INVALID_MEMORY_ACCESS or PW_HC_TRAP (the allocator trapped). */
int pw_return_bytes(pw_vm *vm, const void *data, size_t len, uint32_t ptr_ptr, uint32_t size_ptr);
/* Calls the guest allocator; 0 on failure. *trapped tells a trap apart. */
uint32_t pw_guest_alloc(pw_vm *vm, uint32_t size, bool *trapped);

/* ---- shared.c: process-wide shared data and queues ------------------------------- */

pw_status pw_shared_get(const char *vm_id, const uint8_t *key, size_t key_len, wg_buf *value,
                        uint32_t *cas);
pw_status pw_shared_set(const char *vm_id, const uint8_t *key, size_t key_len,
                        const uint8_t *value, size_t value_len, uint32_t cas);
pw_status pw_queue_register(const char *vm_id, const uint8_t *name, size_t name_len, pw_vm *owner,
                            uint32_t *id);
pw_status pw_queue_resolve(const char *vm_id, const uint8_t *name, size_t name_len, uint32_t *id);
pw_status pw_queue_enqueue(uint32_t id, const uint8_t *value, size_t len);
pw_status pw_queue_dequeue(uint32_t id, wg_buf *out);
/* Removes the VM as owner of its queues (they stay, undelivered). */
void pw_queue_forget_owner(pw_vm *vm);
/* Takes the ids of this VM's queues with pending notifications. */
uint32_t pw_queue_take_ready(pw_vm *vm, uint32_t *ids, uint32_t max);
void pw_shared_shutdown(void);

/* ---- watchdog.c ------------------------------------------------------------------ */

/* Deadlines for guest calls, without a system call on the hot path: each
 * VM registers a slot; starting a call stores its budget and bumps a
 * generation counter (atomics only). A thread samples all slots every few
 * milliseconds and interrupts the store of a call that has been running
 * for longer than its budget (precision: one sampling period). */
typedef struct pw_watch pw_watch;
pw_watch *pw_watch_register(wasm_store *store);
void pw_watch_unregister(pw_watch *w);
void pw_watch_begin(pw_watch *w, uint32_t budget_ms);
/* Ends the call; true if the deadline fired during it. */
bool pw_watch_end(pw_watch *w);
void pw_watchdog_stop(void);

/* ---- properties.c ------------------------------------------------------------------ */

/* Looks up a property path (NUL-separated segments) for the target context
 * and serialises its value into out. */
pw_status pw_property_get(pw_vm *vm, const uint8_t *path, size_t len, wg_buf *out);
pw_status pw_property_set(pw_vm *vm, const uint8_t *path, size_t len, const uint8_t *value,
                          size_t value_len);

#endif
