/*
 * proxy_wasm.h - a small single-header C SDK for Proxy-Wasm plugins.
 *
 * Target: clang --target=wasm32-wasi -mexec-model=reactor with wasi-libc.
 *
 *   #define PROXY_WASM_IMPLEMENTATION   // in exactly one .c file of the plugin
 *   #include "proxy_wasm.h"
 *   PROXY_WASM_ABI_0_2_1                // the ABI marker export (file scope)
 *
 *   uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
 *   {                                   // exported because the header
 *       pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hello", "1");
 *       return PW_CONTINUE;             // declares it with export_name
 *   }
 *
 *   // Spelling the export out is equivalent (and needed for names the
 *   // header does not declare):
 *   PW_EXPORT(proxy_on_log) void proxy_on_log(uint32_t ctx) { ... }
 *
 * Build: clang --target=wasm32-wasi -O2 -mexec-model=reactor -I sdk/c x.c
 * The reactor model exports `_initialize` (runs static constructors); the
 * host calls it once before any callback.
 *
 * What the header gives you
 *
 *   - The ABI enumerations with a PW_ prefix (status, log level, action,
 *     buffer, map, stream, peer and metric types, gRPC status codes).
 *   - A declaration of every hostcall of ABI 0.1.0, 0.2.0 and 0.2.1, imported
 *     from module "env" under its ABI name (proxy_log, proxy_http_call, ...).
 *     A plugin may call them directly; only the ones it calls become imports.
 *   - Callback prototypes: every callback the host may call is declared with
 *     __attribute__((export_name("<same name>"))), so a plugin exports a
 *     callback simply by defining a function with that name (the compiler
 *     also checks its signature). Callbacks a plugin does not define are not
 *     exported, and the host treats them as no-ops. The names and signatures
 *     are exactly the ABI ones: proxy_on_context_create, proxy_on_vm_start,
 *     proxy_on_configure, proxy_on_request_headers, ... (see the list below).
 *     ABI 0.1.0 header callbacks take two arguments instead of three: define
 *     PW_ABI_0_1_0_CALLBACKS before including the header to get those.
 *     PW_EXPORT(name) exports any other function under `name`.
 *   - In the PROXY_WASM_IMPLEMENTATION translation unit: the allocator
 *     exports. Both `malloc` and `proxy_on_memory_allocate` are exported
 *     (hosts differ on which one they call first); both call malloc().
 *     Define PW_NO_MALLOC_EXPORT to export only proxy_on_memory_allocate.
 *   - The ABI marker macros PROXY_WASM_ABI_0_1_0, PROXY_WASM_ABI_0_2_0 and
 *     PROXY_WASM_ABI_0_2_1, each defining the exported marker function.
 *     Use exactly one per module, at file scope.
 *   - static inline helpers (prefix pw_): formatted logging, header maps,
 *     the pairs serialisation, buffers, properties, local replies, HTTP and
 *     gRPC callouts, shared data and queues, metrics, foreign functions.
 *
 * Memory ownership: every helper that returns bytes through a `char **` or
 * `void **` out-parameter hands over a malloc'd block (allocated through the
 * module's own allocator by the host, or by the helper) that the caller must
 * free(). An empty result is returned as NULL with length 0 by the byte
 * helpers, and as a malloc'd "" by the string helpers (names ending in _str
 * and pw_get_header). On failure the out-parameters are set to NULL/0.
 *
 * Hostcalls and the helpers that reach the host return a pw_status_t
 * (PW_OK on success); pw_status_name() gives its name.
 *
 * Hostcall restrictions worth knowing: hosts modelled on proxy-wasm-cpp-host
 * refuse most hostcalls during _initialize (static constructors) and inside
 * the allocator, so do not call proxy_* functions from constructors.
 */
#ifndef PROXY_WASM_H
#define PROXY_WASM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Enumerations                                                             */
/* ------------------------------------------------------------------------ */

typedef uint32_t pw_status_t;

enum pw_status {
    PW_OK = 0,
    PW_NOT_FOUND = 1,
    PW_BAD_ARGUMENT = 2,
    PW_SERIALIZATION_FAILURE = 3,
    PW_PARSE_FAILURE = 4,
    PW_BAD_EXPRESSION = 5,         /* not in the spec */
    PW_INVALID_MEMORY_ACCESS = 6,
    PW_EMPTY = 7,
    PW_CAS_MISMATCH = 8,
    PW_RESULT_MISMATCH = 9,        /* not in the spec */
    PW_INTERNAL_FAILURE = 10,
    PW_BROKEN_CONNECTION = 11,     /* not in the spec; HTTP-call failure status */
    PW_UNIMPLEMENTED = 12,
};

enum pw_log_level {
    PW_LOG_TRACE = 0,
    PW_LOG_DEBUG = 1,
    PW_LOG_INFO = 2,
    PW_LOG_WARN = 3,
    PW_LOG_ERROR = 4,
    PW_LOG_CRITICAL = 5,
};

/* Returned by stream callbacks. PAUSE from a body callback means "buffer". */
enum pw_action {
    PW_CONTINUE = 0,
    PW_PAUSE = 1,
};

enum pw_buffer_type {
    PW_BUFFER_HTTP_REQUEST_BODY = 0,
    PW_BUFFER_HTTP_RESPONSE_BODY = 1,
    PW_BUFFER_DOWNSTREAM_DATA = 2,
    PW_BUFFER_UPSTREAM_DATA = 3,
    PW_BUFFER_HTTP_CALL_RESPONSE_BODY = 4,
    PW_BUFFER_GRPC_CALL_MESSAGE = 5,
    PW_BUFFER_VM_CONFIGURATION = 6,          /* 0.2.0+ */
    PW_BUFFER_PLUGIN_CONFIGURATION = 7,      /* 0.2.0+ */
    PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS = 8,/* 0.2.0+ */
};

/* Flags written by proxy_get_buffer_status. */
enum pw_buffer_flags {
    PW_BUFFER_FLAG_END_OF_STREAM = 1,
};

enum pw_map_type {
    PW_MAP_HTTP_REQUEST_HEADERS = 0,
    PW_MAP_HTTP_REQUEST_TRAILERS = 1,
    PW_MAP_HTTP_RESPONSE_HEADERS = 2,
    PW_MAP_HTTP_RESPONSE_TRAILERS = 3,
    PW_MAP_GRPC_CALL_INITIAL_METADATA = 4,
    PW_MAP_GRPC_CALL_TRAILING_METADATA = 5,
    PW_MAP_HTTP_CALL_RESPONSE_HEADERS = 6,
    PW_MAP_HTTP_CALL_RESPONSE_TRAILERS = 7,
};

enum pw_stream_type {
    PW_STREAM_HTTP_REQUEST = 0,
    PW_STREAM_HTTP_RESPONSE = 1,
    PW_STREAM_DOWNSTREAM = 2,
    PW_STREAM_UPSTREAM = 3,
};

enum pw_peer_type {
    PW_PEER_UNKNOWN = 0,
    PW_PEER_LOCAL = 1,
    PW_PEER_REMOTE = 2,
};

enum pw_metric_type {
    PW_METRIC_COUNTER = 0,
    PW_METRIC_GAUGE = 1,
    PW_METRIC_HISTOGRAM = 2,
};

enum pw_grpc_status {
    PW_GRPC_OK = 0,
    PW_GRPC_CANCELED = 1,
    PW_GRPC_UNKNOWN = 2,
    PW_GRPC_INVALID_ARGUMENT = 3,
    PW_GRPC_DEADLINE_EXCEEDED = 4,
    PW_GRPC_NOT_FOUND = 5,
    PW_GRPC_ALREADY_EXISTS = 6,
    PW_GRPC_PERMISSION_DENIED = 7,
    PW_GRPC_RESOURCE_EXHAUSTED = 8,
    PW_GRPC_FAILED_PRECONDITION = 9,
    PW_GRPC_ABORTED = 10,
    PW_GRPC_OUT_OF_RANGE = 11,
    PW_GRPC_UNIMPLEMENTED = 12,
    PW_GRPC_INTERNAL = 13,
    PW_GRPC_UNAVAILABLE = 14,
    PW_GRPC_DATA_LOSS = 15,
    PW_GRPC_UNAUTHENTICATED = 16,
};
/* grpc_status argument of proxy_send_local_response meaning "not gRPC". */
#define PW_GRPC_STATUS_NONE 0xFFFFFFFFu

/* ------------------------------------------------------------------------ */
/* Export / import attributes and the ABI marker                            */
/* ------------------------------------------------------------------------ */

#define PW_EXPORT(name) __attribute__((export_name(#name)))
#define PW_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

#define PW__ABI_MARKER(fn)                                                    \
    PW_EXPORT(fn) void fn(void);                                              \
    void fn(void) {}

/* Place exactly one of these at file scope (no trailing semicolon needed). */
#define PROXY_WASM_ABI_0_1_0 PW__ABI_MARKER(proxy_abi_version_0_1_0)
#define PROXY_WASM_ABI_0_2_0 PW__ABI_MARKER(proxy_abi_version_0_2_0)
#define PROXY_WASM_ABI_0_2_1 PW__ABI_MARKER(proxy_abi_version_0_2_1)

/* ------------------------------------------------------------------------ */
/* Hostcalls (imports from "env"). All return a pw_status_t.                */
/* Pointers and size_t are 32-bit on wasm32.                                */
/* ------------------------------------------------------------------------ */

/* Logging and time */
PW_IMPORT(proxy_log)
pw_status_t proxy_log(uint32_t level, const char *msg, size_t msg_len);
PW_IMPORT(proxy_get_log_level) /* 0.2.1 */
pw_status_t proxy_get_log_level(uint32_t *ret_level);
PW_IMPORT(proxy_get_current_time_nanoseconds)
pw_status_t proxy_get_current_time_nanoseconds(uint64_t *ret_time);
PW_IMPORT(proxy_set_tick_period_milliseconds)
pw_status_t proxy_set_tick_period_milliseconds(uint32_t period_ms);

/* Configuration (0.1.0 only; 0.2.x uses buffer types 6 and 7) */
PW_IMPORT(proxy_get_configuration)
pw_status_t proxy_get_configuration(char **ret_data, size_t *ret_size);

/* Contexts */
PW_IMPORT(proxy_set_effective_context)
pw_status_t proxy_set_effective_context(uint32_t context_id);
PW_IMPORT(proxy_done)
pw_status_t proxy_done(void);

/* Buffers */
PW_IMPORT(proxy_get_buffer_bytes)
pw_status_t proxy_get_buffer_bytes(uint32_t type, uint32_t start, uint32_t max_size,
                                   char **ret_data, size_t *ret_size);
PW_IMPORT(proxy_get_buffer_status)
pw_status_t proxy_get_buffer_status(uint32_t type, size_t *ret_size, uint32_t *ret_flags);
PW_IMPORT(proxy_set_buffer_bytes)
pw_status_t proxy_set_buffer_bytes(uint32_t type, uint32_t start, uint32_t size,
                                   const char *data, size_t data_size);

/* Header / trailer / metadata maps */
PW_IMPORT(proxy_get_header_map_pairs)
pw_status_t proxy_get_header_map_pairs(uint32_t map, char **ret_data, size_t *ret_size);
PW_IMPORT(proxy_set_header_map_pairs)
pw_status_t proxy_set_header_map_pairs(uint32_t map, const char *data, size_t size);
PW_IMPORT(proxy_get_header_map_size)
pw_status_t proxy_get_header_map_size(uint32_t map, size_t *ret_size);
PW_IMPORT(proxy_get_header_map_value)
pw_status_t proxy_get_header_map_value(uint32_t map, const char *key, size_t key_len,
                                       char **ret_value, size_t *ret_size);
PW_IMPORT(proxy_add_header_map_value)
pw_status_t proxy_add_header_map_value(uint32_t map, const char *key, size_t key_len,
                                       const char *value, size_t value_len);
PW_IMPORT(proxy_replace_header_map_value)
pw_status_t proxy_replace_header_map_value(uint32_t map, const char *key, size_t key_len,
                                           const char *value, size_t value_len);
PW_IMPORT(proxy_remove_header_map_value)
pw_status_t proxy_remove_header_map_value(uint32_t map, const char *key, size_t key_len);

/* Properties */
PW_IMPORT(proxy_get_property)
pw_status_t proxy_get_property(const char *path, size_t path_len, char **ret_data,
                               size_t *ret_size);
PW_IMPORT(proxy_set_property)
pw_status_t proxy_set_property(const char *path, size_t path_len, const char *value,
                               size_t value_len);

/* Stream control */
PW_IMPORT(proxy_continue_request) /* 0.1.0 */
pw_status_t proxy_continue_request(void);
PW_IMPORT(proxy_continue_response) /* 0.1.0 */
pw_status_t proxy_continue_response(void);
PW_IMPORT(proxy_clear_route_cache) /* 0.1.0 */
pw_status_t proxy_clear_route_cache(void);
PW_IMPORT(proxy_continue_stream) /* 0.2.x */
pw_status_t proxy_continue_stream(uint32_t stream_type);
PW_IMPORT(proxy_close_stream) /* 0.2.x */
pw_status_t proxy_close_stream(uint32_t stream_type);
PW_IMPORT(proxy_send_local_response)
pw_status_t proxy_send_local_response(uint32_t status_code, const char *details,
                                      size_t details_len, const char *body, size_t body_len,
                                      const char *headers, size_t headers_len,
                                      uint32_t grpc_status);
PW_IMPORT(proxy_get_status)
pw_status_t proxy_get_status(uint32_t *ret_code, char **ret_msg, size_t *ret_msg_size);

/* HTTP callouts */
PW_IMPORT(proxy_http_call)
pw_status_t proxy_http_call(const char *upstream, size_t upstream_len, const char *headers,
                            size_t headers_len, const char *body, size_t body_len,
                            const char *trailers, size_t trailers_len, uint32_t timeout_ms,
                            uint32_t *ret_token);

/* gRPC callouts */
PW_IMPORT(proxy_grpc_call)
pw_status_t proxy_grpc_call(const char *upstream, size_t upstream_len, const char *service,
                            size_t service_len, const char *method, size_t method_len,
                            const char *initial_metadata, size_t initial_metadata_len,
                            const char *message, size_t message_len, uint32_t timeout_ms,
                            uint32_t *ret_token);
PW_IMPORT(proxy_grpc_stream)
pw_status_t proxy_grpc_stream(const char *upstream, size_t upstream_len, const char *service,
                              size_t service_len, const char *method, size_t method_len,
                              const char *initial_metadata, size_t initial_metadata_len,
                              uint32_t *ret_token);
PW_IMPORT(proxy_grpc_send)
pw_status_t proxy_grpc_send(uint32_t token, const char *message, size_t message_len,
                            uint32_t end_stream);
PW_IMPORT(proxy_grpc_cancel)
pw_status_t proxy_grpc_cancel(uint32_t token);
PW_IMPORT(proxy_grpc_close)
pw_status_t proxy_grpc_close(uint32_t token);

/* Shared data */
PW_IMPORT(proxy_get_shared_data)
pw_status_t proxy_get_shared_data(const char *key, size_t key_len, char **ret_value,
                                  size_t *ret_size, uint32_t *ret_cas);
PW_IMPORT(proxy_set_shared_data)
pw_status_t proxy_set_shared_data(const char *key, size_t key_len, const char *value,
                                  size_t value_len, uint32_t cas);

/* Shared queues */
PW_IMPORT(proxy_register_shared_queue)
pw_status_t proxy_register_shared_queue(const char *name, size_t name_len, uint32_t *ret_id);
PW_IMPORT(proxy_resolve_shared_queue)
pw_status_t proxy_resolve_shared_queue(const char *vm_id, size_t vm_id_len, const char *name,
                                       size_t name_len, uint32_t *ret_id);
PW_IMPORT(proxy_enqueue_shared_queue)
pw_status_t proxy_enqueue_shared_queue(uint32_t queue_id, const char *value, size_t value_len);
PW_IMPORT(proxy_dequeue_shared_queue)
pw_status_t proxy_dequeue_shared_queue(uint32_t queue_id, char **ret_data, size_t *ret_size);

/* Metrics */
PW_IMPORT(proxy_define_metric)
pw_status_t proxy_define_metric(uint32_t type, const char *name, size_t name_len,
                                uint32_t *ret_id);
PW_IMPORT(proxy_increment_metric)
pw_status_t proxy_increment_metric(uint32_t metric_id, int64_t delta);
PW_IMPORT(proxy_record_metric)
pw_status_t proxy_record_metric(uint32_t metric_id, uint64_t value);
PW_IMPORT(proxy_get_metric)
pw_status_t proxy_get_metric(uint32_t metric_id, uint64_t *ret_value);

/* Foreign functions */
PW_IMPORT(proxy_call_foreign_function)
pw_status_t proxy_call_foreign_function(const char *name, size_t name_len, const char *args,
                                        size_t args_len, char **ret_data, size_t *ret_size);

/* ------------------------------------------------------------------------ */
/* Callbacks (exports). Define the ones you need; they are exported by name. */
/* Return values: Action (PW_CONTINUE/PW_PAUSE) for stream callbacks;       */
/* non-zero = success / "may finalise now" for vm_start, configure,         */
/* validate_configuration and on_done.                                      */
/* ------------------------------------------------------------------------ */

#define PW__CB(name) PW_EXPORT(name)

PW__CB(proxy_on_context_create) void proxy_on_context_create(uint32_t context_id,
                                                             uint32_t parent_context_id);
PW__CB(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root_context_id,
                                                     uint32_t vm_configuration_size);
PW__CB(proxy_validate_configuration)
uint32_t proxy_validate_configuration(uint32_t root_context_id, uint32_t configuration_size);
PW__CB(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root_context_id,
                                                       uint32_t plugin_configuration_size);
PW__CB(proxy_on_tick) void proxy_on_tick(uint32_t root_context_id);
PW__CB(proxy_on_queue_ready) void proxy_on_queue_ready(uint32_t root_context_id,
                                                       uint32_t queue_id);
PW__CB(proxy_on_foreign_function) /* 0.2.x */
void proxy_on_foreign_function(uint32_t context_id, uint32_t function_id,
                               uint32_t arguments_size);

/* TCP */
PW__CB(proxy_on_new_connection) uint32_t proxy_on_new_connection(uint32_t context_id);
PW__CB(proxy_on_downstream_data)
uint32_t proxy_on_downstream_data(uint32_t context_id, uint32_t data_size, uint32_t end_of_stream);
PW__CB(proxy_on_downstream_connection_close)
void proxy_on_downstream_connection_close(uint32_t context_id, uint32_t peer_type);
PW__CB(proxy_on_upstream_data)
uint32_t proxy_on_upstream_data(uint32_t context_id, uint32_t data_size, uint32_t end_of_stream);
PW__CB(proxy_on_upstream_connection_close)
void proxy_on_upstream_connection_close(uint32_t context_id, uint32_t peer_type);

/* HTTP */
#ifdef PW_ABI_0_1_0_CALLBACKS
PW__CB(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t context_id, uint32_t num_headers);
PW__CB(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t context_id, uint32_t num_headers);
#else
PW__CB(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t context_id, uint32_t num_headers,
                                  uint32_t end_of_stream);
PW__CB(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t context_id, uint32_t num_headers,
                                   uint32_t end_of_stream);
#endif
PW__CB(proxy_on_request_body)
uint32_t proxy_on_request_body(uint32_t context_id, uint32_t body_size, uint32_t end_of_stream);
PW__CB(proxy_on_request_trailers)
uint32_t proxy_on_request_trailers(uint32_t context_id, uint32_t num_trailers);
PW__CB(proxy_on_request_metadata)
uint32_t proxy_on_request_metadata(uint32_t context_id, uint32_t num_elements);
PW__CB(proxy_on_response_body)
uint32_t proxy_on_response_body(uint32_t context_id, uint32_t body_size, uint32_t end_of_stream);
PW__CB(proxy_on_response_trailers)
uint32_t proxy_on_response_trailers(uint32_t context_id, uint32_t num_trailers);
PW__CB(proxy_on_response_metadata)
uint32_t proxy_on_response_metadata(uint32_t context_id, uint32_t num_elements);

/* Callouts (delivered to the root context of the caller) */
PW__CB(proxy_on_http_call_response)
void proxy_on_http_call_response(uint32_t root_context_id, uint32_t token, uint32_t num_headers,
                                 uint32_t body_size, uint32_t num_trailers);
PW__CB(proxy_on_grpc_receive_initial_metadata)
void proxy_on_grpc_receive_initial_metadata(uint32_t root_context_id, uint32_t token,
                                            uint32_t num_elements);
PW__CB(proxy_on_grpc_receive)
void proxy_on_grpc_receive(uint32_t root_context_id, uint32_t token, uint32_t message_size);
PW__CB(proxy_on_grpc_receive_trailing_metadata)
void proxy_on_grpc_receive_trailing_metadata(uint32_t root_context_id, uint32_t token,
                                             uint32_t num_elements);
PW__CB(proxy_on_grpc_close)
void proxy_on_grpc_close(uint32_t root_context_id, uint32_t token, uint32_t status_code);

/* End of a context */
PW__CB(proxy_on_done) uint32_t proxy_on_done(uint32_t context_id);
PW__CB(proxy_on_log) void proxy_on_log(uint32_t context_id);
PW__CB(proxy_on_delete) void proxy_on_delete(uint32_t context_id);

/* Allocator exports (defined in the PROXY_WASM_IMPLEMENTATION unit). */
PW_EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size);

#ifdef PROXY_WASM_IMPLEMENTATION
void *proxy_on_memory_allocate(size_t size) { return malloc(size); }
#ifndef PW_NO_MALLOC_EXPORT
/* Exported under the name "malloc" (the C symbol is libc's malloc). */
PW_EXPORT(malloc) void *pw__exported_malloc(size_t size);
void *pw__exported_malloc(size_t size) { return malloc(size); }
#endif
#endif

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* A NULL-terminated list of C strings, as a compound literal:
 *   PW_PATH("request", "headers", "x-foo")         property path segments
 *   PW_HEADERS(":method", "GET", ":path", "/")     alternating key, value  */
#define PW_STRV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define PW_PATH(...) PW_STRV(__VA_ARGS__)
#define PW_HEADERS(...) PW_STRV(__VA_ARGS__)

static inline const char *pw_status_name(pw_status_t s)
{
    static const char *const names[] = {
        "OK", "NOT_FOUND", "BAD_ARGUMENT", "SERIALIZATION_FAILURE", "PARSE_FAILURE",
        "BAD_EXPRESSION", "INVALID_MEMORY_ACCESS", "EMPTY", "CAS_MISMATCH",
        "RESULT_MISMATCH", "INTERNAL_FAILURE", "BROKEN_CONNECTION", "UNIMPLEMENTED",
    };
    return s < sizeof names / sizeof names[0] ? names[s] : "UNKNOWN_STATUS";
}

/* Little-endian integer decoding (numeric property values are 8-byte LE). */
static inline uint64_t pw_load_u64_le(const void *p)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static inline uint32_t pw_load_u32_le(const void *p)
{
    const unsigned char *b = (const unsigned char *)p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline void pw_store_u32_le(void *p, uint32_t v)
{
    unsigned char *b = (unsigned char *)p;
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

/* Turns a host-returned (data, len) into a NUL-terminated malloc'd string. */
static inline pw_status_t pw__to_cstr(char *data, size_t len, char **out)
{
    char *s = (char *)realloc(data, len + 1);
    if (!s) {
        free(data);
        *out = NULL;
        return PW_INVALID_MEMORY_ACCESS;
    }
    s[len] = '\0';
    *out = s;
    return PW_OK;
}

/* ---- logging ---- */

static inline pw_status_t pw_vlog(uint32_t level, const char *fmt, va_list ap)
{
    char stack[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return PW_BAD_ARGUMENT;
    }
    pw_status_t st;
    if ((size_t)n < sizeof stack) {
        st = proxy_log(level, stack, (size_t)n);
    } else {
        char *heap = (char *)malloc((size_t)n + 1);
        if (heap) {
            vsnprintf(heap, (size_t)n + 1, fmt, ap2);
            st = proxy_log(level, heap, (size_t)n);
            free(heap);
        } else {
            st = proxy_log(level, stack, sizeof stack - 1); /* truncated */
        }
    }
    va_end(ap2);
    return st;
}

/* printf-style logging through proxy_log. */
__attribute__((format(printf, 2, 3))) static inline pw_status_t pw_log(uint32_t level,
                                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pw_status_t st = pw_vlog(level, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- pairs (header maps, metadata; ABI serialisation §6.1) ---- */

typedef struct {
    const char *key; /* NUL-terminated when produced by pw_parse_pairs */
    size_t key_len;
    const char *value;
    size_t value_len;
} pw_pair_t;

typedef struct {
    pw_pair_t *items;
    size_t count;
    char *raw; /* owned serialised bytes the items point into (may be NULL) */
    size_t raw_len;
} pw_pairs_t;

static inline void pw_pairs_free(pw_pairs_t *p)
{
    free(p->items);
    free(p->raw);
    p->items = NULL;
    p->raw = NULL;
    p->count = 0;
    p->raw_len = 0;
}

/* Parses the pairs format. The items point into `data` (which must outlive
 * them); `out->raw` is left NULL. Accepts the empty forms (len 0, len < 4).
 * Returns PW_PARSE_FAILURE on malformed input. */
static inline pw_status_t pw_parse_pairs(const char *data, size_t len, pw_pairs_t *out)
{
    out->items = NULL;
    out->count = 0;
    out->raw = NULL;
    out->raw_len = 0;
    if (len < 4)
        return PW_OK;
    uint32_t n = pw_load_u32_le(data);
    if (n == 0)
        return len == 4 ? PW_OK : PW_PARSE_FAILURE;
    if ((size_t)n > (len - 4) / 8)
        return PW_PARSE_FAILURE;
    pw_pair_t *items = (pw_pair_t *)calloc(n, sizeof *items);
    if (!items)
        return PW_INVALID_MEMORY_ACCESS;
    size_t pos = 4 + (size_t)n * 8;
    for (uint32_t i = 0; i < n; i++) {
        size_t kl = pw_load_u32_le(data + 4 + (size_t)i * 8);
        size_t vl = pw_load_u32_le(data + 8 + (size_t)i * 8);
        if (kl >= len - pos || data[pos + kl] != '\0')
            goto bad;
        items[i].key = data + pos;
        items[i].key_len = kl;
        pos += kl + 1;
        if (vl >= len - pos || data[pos + vl] != '\0')
            goto bad;
        items[i].value = data + pos;
        items[i].value_len = vl;
        pos += vl + 1;
    }
    if (pos != len)
        goto bad;
    out->items = items;
    out->count = n;
    return PW_OK;
bad:
    free(items);
    return PW_PARSE_FAILURE;
}

/* Serialises pairs. An empty list gives the 4-byte form (count 0).
 * *out is malloc'd; free it. */
static inline pw_status_t pw_serialize_pairs(const pw_pair_t *pairs, size_t n, char **out,
                                             size_t *out_len)
{
    size_t total = 4;
    for (size_t i = 0; i < n; i++)
        total += 8 + pairs[i].key_len + 1 + pairs[i].value_len + 1;
    char *buf = (char *)malloc(total);
    *out = NULL;
    *out_len = 0;
    if (!buf)
        return PW_INVALID_MEMORY_ACCESS;
    pw_store_u32_le(buf, (uint32_t)n);
    size_t pos = 4 + n * 8;
    for (size_t i = 0; i < n; i++) {
        pw_store_u32_le(buf + 4 + i * 8, (uint32_t)pairs[i].key_len);
        pw_store_u32_le(buf + 8 + i * 8, (uint32_t)pairs[i].value_len);
        if (pairs[i].key_len)
            memcpy(buf + pos, pairs[i].key, pairs[i].key_len);
        pos += pairs[i].key_len;
        buf[pos++] = '\0';
        if (pairs[i].value_len)
            memcpy(buf + pos, pairs[i].value, pairs[i].value_len);
        pos += pairs[i].value_len;
        buf[pos++] = '\0';
    }
    *out = buf;
    *out_len = total;
    return PW_OK;
}

/* Serialises a NULL-terminated list of alternating C-string keys and values
 * (see PW_HEADERS). kv == NULL gives an empty (4-byte) serialisation. */
static inline pw_status_t pw_serialize_strv(const char *const *kv, char **out, size_t *out_len)
{
    size_t n = 0;
    while (kv && kv[2 * n] && kv[2 * n + 1])
        n++;
    pw_pair_t *pairs = (pw_pair_t *)calloc(n ? n : 1, sizeof *pairs);
    if (!pairs) {
        *out = NULL;
        *out_len = 0;
        return PW_INVALID_MEMORY_ACCESS;
    }
    for (size_t i = 0; i < n; i++) {
        pairs[i].key = kv[2 * i];
        pairs[i].key_len = strlen(kv[2 * i]);
        pairs[i].value = kv[2 * i + 1];
        pairs[i].value_len = strlen(kv[2 * i + 1]);
    }
    pw_status_t st = pw_serialize_pairs(pairs, n, out, out_len);
    free(pairs);
    return st;
}

/* Finds the first pair whose key equals `key` (case-insensitively). */
static inline const pw_pair_t *pw_pairs_find(const pw_pairs_t *p, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < p->count; i++) {
        if (p->items[i].key_len != kl)
            continue;
        size_t j = 0;
        for (; j < kl; j++) {
            unsigned char a = (unsigned char)p->items[i].key[j], b = (unsigned char)key[j];
            if (a >= 'A' && a <= 'Z')
                a = (unsigned char)(a + 32);
            if (b >= 'A' && b <= 'Z')
                b = (unsigned char)(b + 32);
            if (a != b)
                break;
        }
        if (j == kl)
            return &p->items[i];
    }
    return NULL;
}

/* ---- header maps ---- */

/* Value of header `name` in `map` as a malloc'd NUL-terminated string
 * (free it). Status as returned by the host: PW_NOT_FOUND for a missing key
 * on 0.2.x hosts; 0.1.0 hosts return PW_OK and "". */
static inline pw_status_t pw_get_header(uint32_t map, const char *name, char **out_value)
{
    char *data = NULL;
    size_t len = 0;
    *out_value = NULL;
    pw_status_t st = proxy_get_header_map_value(map, name, strlen(name), &data, &len);
    if (st != PW_OK) {
        free(data);
        return st;
    }
    return pw__to_cstr(data, len, out_value);
}

static inline pw_status_t pw_add_header(uint32_t map, const char *name, const char *value)
{
    return proxy_add_header_map_value(map, name, strlen(name), value, strlen(value));
}

static inline pw_status_t pw_replace_header(uint32_t map, const char *name, const char *value)
{
    return proxy_replace_header_map_value(map, name, strlen(name), value, strlen(value));
}

static inline pw_status_t pw_remove_header(uint32_t map, const char *name)
{
    return proxy_remove_header_map_value(map, name, strlen(name));
}

/* All pairs of `map`. Free with pw_pairs_free(). */
static inline pw_status_t pw_get_header_pairs(uint32_t map, pw_pairs_t *out)
{
    char *data = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    pw_status_t st = proxy_get_header_map_pairs(map, &data, &len);
    if (st != PW_OK) {
        free(data);
        return st;
    }
    st = pw_parse_pairs(data, len, out);
    if (st != PW_OK) {
        free(data);
        return st;
    }
    out->raw = data;
    out->raw_len = len;
    return PW_OK;
}

/* Replaces the whole map with `pairs`. */
static inline pw_status_t pw_set_header_pairs(uint32_t map, const pw_pair_t *pairs, size_t n)
{
    char *buf;
    size_t len;
    pw_status_t st = pw_serialize_pairs(pairs, n, &buf, &len);
    if (st != PW_OK)
        return st;
    st = proxy_set_header_map_pairs(map, buf, len);
    free(buf);
    return st;
}

/* ---- buffers ---- */

/* Up to `max` bytes from `start` of buffer `type`. *data is malloc'd (free
 * it) or NULL when the result is empty. */
static inline pw_status_t pw_get_buffer(uint32_t type, uint32_t start, uint32_t max,
                                        char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    pw_status_t st = proxy_get_buffer_bytes(type, start, max, data, len);
    if (st != PW_OK) {
        free(*data);
        *data = NULL;
        *len = 0;
    }
    return st;
}

/* The whole buffer (length from proxy_get_buffer_status). */
static inline pw_status_t pw_get_buffer_all(uint32_t type, char **data, size_t *len)
{
    size_t size = 0;
    uint32_t flags = 0;
    *data = NULL;
    *len = 0;
    pw_status_t st = proxy_get_buffer_status(type, &size, &flags);
    if (st != PW_OK)
        return st;
    return pw_get_buffer(type, 0, (uint32_t)size, data, len);
}

/* Replaces `size` bytes at `start` with `data`. start=0,size=0 prepends;
 * start>=length appends; start=0,size>=length replaces everything. */
static inline pw_status_t pw_set_buffer(uint32_t type, uint32_t start, uint32_t size,
                                        const void *data, size_t len)
{
    return proxy_set_buffer_bytes(type, start, size, (const char *)data, len);
}

/* A whole buffer as a malloc'd NUL-terminated string ("" when empty). */
static inline pw_status_t pw_get_buffer_str(uint32_t type, char **out)
{
    char *data;
    size_t len;
    *out = NULL;
    pw_status_t st = pw_get_buffer_all(type, &data, &len);
    if (st != PW_OK)
        return st;
    return pw__to_cstr(data, len, out);
}

/* Plugin configuration (0.2.x: buffer 7; readable in on_configure). */
static inline pw_status_t pw_get_plugin_configuration_str(char **out)
{
    return pw_get_buffer_str(PW_BUFFER_PLUGIN_CONFIGURATION, out);
}

/* VM configuration (buffer 6; readable in on_vm_start). */
static inline pw_status_t pw_get_vm_configuration_str(char **out)
{
    return pw_get_buffer_str(PW_BUFFER_VM_CONFIGURATION, out);
}

/* ---- properties ---- */

/* Joins path segments with NUL separators (no trailing NUL). *out is
 * malloc'd. */
static inline pw_status_t pw_join_path(const char *const *segments, char **out, size_t *out_len)
{
    size_t total = 0, n = 0;
    for (; segments[n]; n++)
        total += strlen(segments[n]) + 1;
    char *buf = (char *)malloc(total ? total : 1);
    *out = buf;
    *out_len = 0;
    if (!buf)
        return PW_INVALID_MEMORY_ACCESS;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(segments[i]);
        if (i)
            buf[pos++] = '\0';
        memcpy(buf + pos, segments[i], l);
        pos += l;
    }
    *out_len = pos;
    return PW_OK;
}

/* Property at `path` (e.g. PW_PATH("request", "path")), raw bytes as the host
 * serialised them; *data is malloc'd or NULL when empty. */
static inline pw_status_t pw_get_property(const char *const *path, char **data, size_t *len)
{
    char *p;
    size_t pl;
    *data = NULL;
    *len = 0;
    pw_status_t st = pw_join_path(path, &p, &pl);
    if (st != PW_OK)
        return st;
    st = proxy_get_property(p, pl, data, len);
    free(p);
    if (st != PW_OK) {
        free(*data);
        *data = NULL;
        *len = 0;
    }
    return st;
}

/* String property as a malloc'd NUL-terminated string. */
static inline pw_status_t pw_get_property_str(const char *const *path, char **out)
{
    char *data;
    size_t len;
    *out = NULL;
    pw_status_t st = pw_get_property(path, &data, &len);
    if (st != PW_OK)
        return st;
    return pw__to_cstr(data, len, out);
}

/* Integer property (8-byte little-endian, §6.3). PW_SERIALIZATION_FAILURE
 * when the value is not 8 bytes long. */
static inline pw_status_t pw_get_property_int(const char *const *path, int64_t *out)
{
    char *data;
    size_t len;
    *out = 0;
    pw_status_t st = pw_get_property(path, &data, &len);
    if (st != PW_OK)
        return st;
    if (len != 8) {
        free(data);
        return PW_SERIALIZATION_FAILURE;
    }
    *out = (int64_t)pw_load_u64_le(data);
    free(data);
    return PW_OK;
}

static inline pw_status_t pw_set_property(const char *const *path, const void *value,
                                          size_t len)
{
    char *p;
    size_t pl;
    pw_status_t st = pw_join_path(path, &p, &pl);
    if (st != PW_OK)
        return st;
    st = proxy_set_property(p, pl, (const char *)value, len);
    free(p);
    return st;
}

/* ---- stream control ---- */

/* Sends a local response. `headers` is a PW_HEADERS(...) list or NULL;
 * `details` may be NULL. grpc_status: PW_GRPC_STATUS_NONE unless gRPC. */
static inline pw_status_t pw_send_local_response_grpc(uint32_t status, const char *details,
                                                      const void *body, size_t body_len,
                                                      const char *const *headers,
                                                      uint32_t grpc_status)
{
    char *hb = NULL;
    size_t hl = 0;
    if (headers) {
        pw_status_t st = pw_serialize_strv(headers, &hb, &hl);
        if (st != PW_OK)
            return st;
    }
    pw_status_t st = proxy_send_local_response(status, details, details ? strlen(details) : 0,
                                               (const char *)body, body_len, hb, hl,
                                               grpc_status);
    free(hb);
    return st;
}

static inline pw_status_t pw_send_local_response(uint32_t status, const char *details,
                                                 const void *body, size_t body_len,
                                                 const char *const *headers)
{
    return pw_send_local_response_grpc(status, details, body, body_len, headers,
                                       PW_GRPC_STATUS_NONE);
}

/* Status of the last HTTP/gRPC callout; *msg is a malloc'd string (free). */
static inline pw_status_t pw_get_status(uint32_t *code, char **msg)
{
    char *data = NULL;
    size_t len = 0;
    *code = 0;
    *msg = NULL;
    pw_status_t st = proxy_get_status(code, &data, &len);
    if (st != PW_OK) {
        free(data);
        return st;
    }
    return pw__to_cstr(data, len, msg);
}

static inline uint64_t pw_now_ns(void)
{
    uint64_t t = 0;
    proxy_get_current_time_nanoseconds(&t);
    return t;
}

/* ---- HTTP and gRPC callouts ---- */

/* headers/trailers: PW_HEADERS(...) lists (trailers may be NULL; headers
 * must include :method, :path and :authority). */
static inline pw_status_t pw_http_call(const char *upstream, const char *const *headers,
                                       const void *body, size_t body_len,
                                       const char *const *trailers, uint32_t timeout_ms,
                                       uint32_t *token)
{
    char *hb = NULL, *tb = NULL;
    size_t hl = 0, tl = 0;
    pw_status_t st = pw_serialize_strv(headers, &hb, &hl);
    if (st == PW_OK && trailers)
        st = pw_serialize_strv(trailers, &tb, &tl);
    if (st == PW_OK)
        st = proxy_http_call(upstream, strlen(upstream), hb, hl, (const char *)body, body_len,
                             tb, tl, timeout_ms, token);
    free(hb);
    free(tb);
    return st;
}

static inline pw_status_t pw_grpc_call(const char *upstream, const char *service,
                                       const char *method, const char *const *metadata,
                                       const void *message, size_t message_len,
                                       uint32_t timeout_ms, uint32_t *token)
{
    char *mb = NULL;
    size_t ml = 0;
    if (metadata) {
        pw_status_t st = pw_serialize_strv(metadata, &mb, &ml);
        if (st != PW_OK)
            return st;
    }
    pw_status_t st = proxy_grpc_call(upstream, strlen(upstream), service, strlen(service),
                                     method, strlen(method), mb, ml, (const char *)message,
                                     message_len, timeout_ms, token);
    free(mb);
    return st;
}

static inline pw_status_t pw_grpc_stream(const char *upstream, const char *service,
                                         const char *method, const char *const *metadata,
                                         uint32_t *token)
{
    char *mb = NULL;
    size_t ml = 0;
    if (metadata) {
        pw_status_t st = pw_serialize_strv(metadata, &mb, &ml);
        if (st != PW_OK)
            return st;
    }
    pw_status_t st = proxy_grpc_stream(upstream, strlen(upstream), service, strlen(service),
                                       method, strlen(method), mb, ml, token);
    free(mb);
    return st;
}

/* ---- shared data and queues ---- */

static inline pw_status_t pw_get_shared_data(const char *key, char **data, size_t *len,
                                             uint32_t *cas)
{
    *data = NULL;
    *len = 0;
    *cas = 0;
    pw_status_t st = proxy_get_shared_data(key, strlen(key), data, len, cas);
    if (st != PW_OK) {
        free(*data);
        *data = NULL;
        *len = 0;
    }
    return st;
}

static inline pw_status_t pw_set_shared_data(const char *key, const void *data, size_t len,
                                             uint32_t cas)
{
    return proxy_set_shared_data(key, strlen(key), (const char *)data, len, cas);
}

static inline pw_status_t pw_register_shared_queue(const char *name, uint32_t *id)
{
    return proxy_register_shared_queue(name, strlen(name), id);
}

/* vm_id "" means the caller's own VM id. */
static inline pw_status_t pw_resolve_shared_queue(const char *vm_id, const char *name,
                                                  uint32_t *id)
{
    return proxy_resolve_shared_queue(vm_id, strlen(vm_id), name, strlen(name), id);
}

static inline pw_status_t pw_enqueue_shared_queue(uint32_t id, const void *data, size_t len)
{
    return proxy_enqueue_shared_queue(id, (const char *)data, len);
}

/* PW_EMPTY when nothing is queued. */
static inline pw_status_t pw_dequeue_shared_queue(uint32_t id, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    pw_status_t st = proxy_dequeue_shared_queue(id, data, len);
    if (st != PW_OK) {
        free(*data);
        *data = NULL;
        *len = 0;
    }
    return st;
}

/* ---- metrics ---- */

static inline pw_status_t pw_define_metric(uint32_t type, const char *name, uint32_t *id)
{
    return proxy_define_metric(type, name, strlen(name), id);
}

static inline pw_status_t pw_increment_metric(uint32_t id, int64_t delta)
{
    return proxy_increment_metric(id, delta);
}

static inline pw_status_t pw_record_metric(uint32_t id, uint64_t value)
{
    return proxy_record_metric(id, value);
}

static inline pw_status_t pw_get_metric(uint32_t id, uint64_t *value)
{
    *value = 0;
    return proxy_get_metric(id, value);
}

/* ---- foreign functions ---- */

static inline pw_status_t pw_call_foreign_function(const char *name, const void *args,
                                                   size_t args_len, char **ret, size_t *ret_len)
{
    *ret = NULL;
    *ret_len = 0;
    pw_status_t st = proxy_call_foreign_function(name, strlen(name), (const char *)args,
                                                 args_len, ret, ret_len);
    if (st != PW_OK) {
        free(*ret);
        *ret = NULL;
        *ret_len = 0;
    }
    return st;
}

#ifdef __cplusplus
}
#endif

#endif /* PROXY_WASM_H */
