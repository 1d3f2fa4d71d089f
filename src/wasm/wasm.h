/*
 * wasm.h - the public interface of wasmgate's WebAssembly runtime.
 *
 * The runtime knows nothing about Proxy-Wasm: it loads, validates and runs
 * any WebAssembly 2.0 module, with host functions supplied by the embedder.
 *
 * Objects and lifetimes
 *   wasm_module    decoded, validated and compiled code. Immutable once
 *                  loaded, so one module may be shared by every thread.
 *                  Reference counted: wasm_module_load() returns one
 *                  reference, wasm_module_retain()/wasm_module_release().
 *                  Every instance also holds a reference.
 *   wasm_store     everything that runs: instances, memories, tables,
 *                  globals, host functions and the execution stack. A store
 *                  belongs to one thread at a time (except for
 *                  wasm_store_interrupt). Freeing the store frees every
 *                  object created in it; there is no per-object free.
 *   wasm_instance  a module instantiated in a store.
 *
 * Values crossing the API are raw 64-bit cells (wasm_cell): i32 in the low
 * 32 bits (zero-extended), i64 as is, f32/f64 as their IEEE bit patterns (so
 * NaN payloads survive), funcref as a wasm_func pointer, externref as an
 * embedder-chosen uintptr_t. A null reference is 0.
 *
 * Errors: functions that can fail take a wasm_error * and fill it with a
 * message a user can act on (and, for module bytes, the byte offset).
 */
#ifndef WASMGATE_WASM_H
#define WASMGATE_WASM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- value types ------------------------------------------------------ */

typedef enum wasm_valtype {
    WASM_I32 = 0x7f,
    WASM_I64 = 0x7e,
    WASM_F32 = 0x7d,
    WASM_F64 = 0x7c,
    WASM_V128 = 0x7b,
    WASM_FUNCREF = 0x70,
    WASM_EXTERNREF = 0x6f,
} wasm_valtype;

typedef uint64_t wasm_cell;

/* "i32", "f64", "funcref", ...; "?" for anything else. */
const char *wasm_valtype_name(uint8_t type);

/* A function signature. The arrays are owned by whoever made the struct
 * (the module, for types it returns). */
typedef struct wasm_functype {
    uint32_t nparams;
    uint32_t nresults;
    const uint8_t *params;  /* wasm_valtype values */
    const uint8_t *results; /* wasm_valtype values */
} wasm_functype;

typedef struct wasm_limits {
    uint32_t min;
    uint32_t max;
    bool has_max;
} wasm_limits;

typedef enum wasm_extern_kind {
    WASM_EXTERN_FUNC = 0,
    WASM_EXTERN_TABLE = 1,
    WASM_EXTERN_MEMORY = 2,
    WASM_EXTERN_GLOBAL = 3,
} wasm_extern_kind;

const char *wasm_extern_kind_name(wasm_extern_kind kind);

/* ---- errors and traps --------------------------------------------------- */

typedef struct wasm_error {
    char message[256];
    size_t offset;   /* byte offset in the module, when has_offset */
    bool has_offset;
    bool trapped;    /* wasm_instance_new: a trap (start function, segment
                        initialisation), not a link error */
} wasm_error;

typedef enum wasm_trap_kind {
    WASM_TRAP_NONE = 0,
    WASM_TRAP_UNREACHABLE,
    WASM_TRAP_MEMORY_OOB,
    WASM_TRAP_TABLE_OOB,
    WASM_TRAP_UNDEFINED_ELEMENT,
    WASM_TRAP_UNINITIALIZED_ELEMENT,
    WASM_TRAP_INDIRECT_CALL_TYPE,
    WASM_TRAP_DIV_BY_ZERO,
    WASM_TRAP_INT_OVERFLOW,
    WASM_TRAP_INVALID_CONVERSION,
    WASM_TRAP_STACK_EXHAUSTED,
    WASM_TRAP_INTERRUPTED,
    WASM_TRAP_HOST,       /* raised by a host function */
    WASM_TRAP_EXIT,       /* WASI proc_exit: not an error, see exit_code */
    WASM_TRAP_KIND_COUNT
} wasm_trap_kind;

#define WASM_TRAP_MAX_FRAMES 32

typedef struct wasm_frame_info {
    uint32_t func_index;  /* index in the module's function space */
    uint32_t code_offset; /* byte offset of the instruction in the module */
    const char *name;     /* from the name section, or NULL */
    const struct wasm_module *module;
} wasm_frame_info;

typedef struct wasm_trap {
    wasm_trap_kind kind;
    char message[256];
    int exit_code;          /* for WASM_TRAP_EXIT */
    uint32_t nframes;       /* innermost first */
    bool frames_truncated;  /* more frames existed than were kept */
    wasm_frame_info frames[WASM_TRAP_MAX_FRAMES];
} wasm_trap;

/* Fills err (which may be NULL) with a message and no offset: for
 * embedders that report their own errors through a wasm_error. */
void wasm_error_setf(wasm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The spec's message for a trap kind, e.g. "integer divide by zero". */
const char *wasm_trap_kind_message(wasm_trap_kind kind);

/* ---- modules -------------------------------------------------------------- */

typedef struct wasm_module wasm_module;

/* Decodes, validates and compiles. Returns NULL and fills err on failure.
 * The bytes are copied: the caller keeps ownership of `bytes`. */
wasm_module *wasm_module_load(const uint8_t *bytes, size_t size, wasm_error *err);
/* Decode and validate only (no code generation); for tools and fuzzing.
 * Returns true when the module is valid. */
bool wasm_module_validate(const uint8_t *bytes, size_t size, wasm_error *err);
wasm_module *wasm_module_retain(wasm_module *module);
void wasm_module_release(wasm_module *module);

typedef struct wasm_import_desc {
    const char *module;   /* NUL-terminated copies owned by the module */
    const char *name;
    wasm_extern_kind kind;
    wasm_functype func;        /* WASM_EXTERN_FUNC */
    uint8_t table_elem;        /* WASM_EXTERN_TABLE: WASM_FUNCREF or WASM_EXTERNREF */
    wasm_limits limits;        /* WASM_EXTERN_TABLE and WASM_EXTERN_MEMORY */
    uint8_t global_type;       /* WASM_EXTERN_GLOBAL */
    bool global_mutable;
} wasm_import_desc;

typedef struct wasm_export_desc {
    const char *name;
    wasm_extern_kind kind;
    uint32_t index;            /* in the module's space of that kind */
} wasm_export_desc;

uint32_t wasm_module_import_count(const wasm_module *module);
void wasm_module_import(const wasm_module *module, uint32_t i, wasm_import_desc *out);
uint32_t wasm_module_export_count(const wasm_module *module);
void wasm_module_export(const wasm_module *module, uint32_t i, wasm_export_desc *out);
/* Index of the export called `name` of the given kind, or -1. */
int64_t wasm_module_find_export(const wasm_module *module, const char *name, wasm_extern_kind kind);
/* Signature of function `func_index` (imported or defined). */
bool wasm_module_func_type(const wasm_module *module, uint32_t func_index, wasm_functype *out);
/* Name of function `func_index` from the name section, or NULL. */
const char *wasm_module_func_name(const wasm_module *module, uint32_t func_index);
/* Source position of a code offset, from DWARF .debug_line when present.
 * Returns false when unknown. *file stays valid while the module lives. */
bool wasm_module_source_line(const wasm_module *module, uint32_t code_offset,
                             const char **file, uint32_t *line);
/* Custom section by name (the first one), or NULL. */
const uint8_t *wasm_module_custom_section(const wasm_module *module, const char *name,
                                          size_t *size);

/* ---- stores --------------------------------------------------------------- */

typedef struct wasm_store wasm_store;
typedef struct wasm_instance wasm_instance;
typedef struct wasm_func wasm_func;
typedef struct wasm_memory wasm_memory;
typedef struct wasm_table wasm_table;
typedef struct wasm_global wasm_global;

typedef struct wasm_store_config {
    uint32_t max_memory_pages;   /* cap on any memory of this store; 0: 65536 */
    uint32_t max_call_depth;     /* wasm frames; 0: 10000 */
    size_t value_stack_cells;    /* 64-bit cells; 0: 1 Mi cells (8 MiB) */
    uint32_t max_table_elems;    /* 0: 10,000,000 */
} wasm_store_config;

/* config may be NULL for defaults. Returns NULL only when out of memory. */
wasm_store *wasm_store_new(const wasm_store_config *config);
void wasm_store_free(wasm_store *store);
/* Thread-safe: makes the call running in `store` (if any, or the next one)
 * trap with "interrupted" at its next loop back-edge or call. */
void wasm_store_interrupt(wasm_store *store);
/* Cancels a pending interrupt that no call has seen yet. */
void wasm_store_clear_interrupt(wasm_store *store);
/* The trap of the last failed call in this store. */
const wasm_trap *wasm_store_last_trap(const wasm_store *store);
/* Called around every call from wasm into a host function of this store,
 * for trace logs: once before the call (returned false, results NULL) and
 * once after it (returned true; ok false when it trapped). `name` is the
 * name the host function was created with. */
typedef void (*wasm_host_trace_fn)(void *ctx, const char *name, const wasm_cell *args,
                                   uint32_t nargs, const wasm_cell *results, uint32_t nresults,
                                   bool returned, bool ok);
void wasm_store_set_host_trace(wasm_store *store, wasm_host_trace_fn fn, void *ctx);
/* Attach embedder data to the store (not owned). */
void wasm_store_set_userdata(wasm_store *store, void *data);
void *wasm_store_userdata(const wasm_store *store);

/* ---- host functions ------------------------------------------------------- */

/* What a host function sees of its caller. */
typedef struct wasm_call wasm_call;

wasm_store *wasm_call_store(wasm_call *call);
/* The calling instance; NULL when called directly by the embedder. */
wasm_instance *wasm_call_instance(wasm_call *call);
/* Memory 0 of the calling instance, or NULL. */
wasm_memory *wasm_call_memory(wasm_call *call);
/* Record a trap; the host function must then return false. */
bool wasm_call_trap(wasm_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* WASI proc_exit: record an exit trap with this code; return false after. */
bool wasm_call_exit(wasm_call *call, int code);

/* Returns true on success (results written), false after wasm_call_trap().
 * args and results hold the function type's params and results. A host
 * function may call back into the store (e.g. the guest's allocator). */
typedef bool (*wasm_host_fn)(wasm_call *call, void *env, const wasm_cell *args,
                             wasm_cell *results);

/* The type arrays are copied. `name` is for backtraces and may be NULL. */
wasm_func *wasm_func_new_host(wasm_store *store, const wasm_functype *type, wasm_host_fn fn,
                              void *env, const char *name);
void wasm_func_type(const wasm_func *func, wasm_functype *out);

/* ---- memories, tables, globals -------------------------------------------- */

wasm_memory *wasm_memory_new(wasm_store *store, wasm_limits limits, wasm_error *err);
uint8_t *wasm_memory_data(wasm_memory *memory);   /* moves when the memory grows */
uint64_t wasm_memory_size(const wasm_memory *memory);  /* in bytes */
uint32_t wasm_memory_pages(const wasm_memory *memory);
/* Returns the old size in pages, or -1 when it cannot grow. */
int64_t wasm_memory_grow(wasm_memory *memory, uint32_t delta_pages);
/* Bounds-checked access; false when [offset, offset+size) is out of range. */
bool wasm_memory_read(const wasm_memory *memory, uint64_t offset, void *dst, size_t size);
bool wasm_memory_write(wasm_memory *memory, uint64_t offset, const void *src, size_t size);
/* A pointer to [offset, offset+size) in memory, or NULL when out of range.
 * Valid until the memory grows (i.e. until the next call into wasm). */
uint8_t *wasm_memory_ptr(wasm_memory *memory, uint64_t offset, uint64_t size);

wasm_table *wasm_table_new(wasm_store *store, uint8_t elem_type, wasm_limits limits,
                           wasm_cell init, wasm_error *err);
uint32_t wasm_table_size(const wasm_table *table);
bool wasm_table_get(const wasm_table *table, uint32_t index, wasm_cell *out);
bool wasm_table_set(wasm_table *table, uint32_t index, wasm_cell value);

wasm_global *wasm_global_new(wasm_store *store, uint8_t type, bool mutable_, wasm_cell value);
wasm_cell wasm_global_get(const wasm_global *global);
void wasm_global_set(wasm_global *global, wasm_cell value);
uint8_t wasm_global_type(const wasm_global *global);
bool wasm_global_mutable(const wasm_global *global);

/* ---- instances ------------------------------------------------------------ */

typedef struct wasm_extern {
    wasm_extern_kind kind;
    union {
        wasm_func *func;
        wasm_table *table;
        wasm_memory *memory;
        wasm_global *global;
    } of;
} wasm_extern;

/* Instantiates `module` in `store` with one extern per module import, in
 * import order; types are checked. Runs the data/element segments and the
 * start function. Returns NULL and fills err on failure (link error or a
 * trap during start: then err says so and wasm_store_last_trap() has it). */
wasm_instance *wasm_instance_new(wasm_store *store, wasm_module *module,
                                 const wasm_extern *imports, uint32_t nimports, wasm_error *err);
const wasm_module *wasm_instance_module(const wasm_instance *instance);
/* Export by name; false when there is none. */
bool wasm_instance_export(const wasm_instance *instance, const char *name, wasm_extern *out);
/* The same for names that may contain NUL bytes. */
bool wasm_instance_export_n(const wasm_instance *instance, const char *name, size_t len,
                            wasm_extern *out);
wasm_func *wasm_instance_func(const wasm_instance *instance, const char *name);
wasm_memory *wasm_instance_memory(const wasm_instance *instance, uint32_t index);
/* Embedder data (not owned). */
void wasm_instance_set_userdata(wasm_instance *instance, void *data);
void *wasm_instance_userdata(const wasm_instance *instance);

/* ---- calls ---------------------------------------------------------------- */

/* Calls `func` with the argument cells; on success writes the results and
 * returns true. On a trap returns false; wasm_store_last_trap() tells why.
 * May be called from inside a host function (re-entrant). */
bool wasm_func_call(wasm_store *store, wasm_func *func, const wasm_cell *args, uint32_t nargs,
                    wasm_cell *results, uint32_t nresults);

/* ---- WASI preview1 -------------------------------------------------------- */

typedef struct wasm_wasi_config {
    int argc;
    const char *const *argv;
    int envc;
    const char *const *envp;   /* "NAME=VALUE" */
    /* Where fd 1 and 2 go. NULL: the process's stdout/stderr. */
    void (*write_out)(void *ctx, int fd, const uint8_t *data, size_t size);
    void *write_ctx;
    /* poll_oneoff never sleeps: clock subscriptions are reported as due at
     * once. For embedders whose threads must not block (a proxy worker);
     * cpp-host/Envoy likewise never sleep there. */
    bool no_sleep;
} wasm_wasi_config;

typedef struct wasm_wasi wasm_wasi;

/* The strings are copied. */
wasm_wasi *wasm_wasi_new(const wasm_wasi_config *config);
void wasm_wasi_free(wasm_wasi *wasi);
/* Resolves a module import against WASI (wasi_snapshot_preview1 and
 * wasi_unstable): creates the host function in `store` and returns true, or
 * false when the import is not a WASI function. */
bool wasm_wasi_resolve(wasm_wasi *wasi, wasm_store *store, const wasm_import_desc *import,
                       wasm_extern *out);

#ifdef __cplusplus
}
#endif

#endif
