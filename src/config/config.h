/*
 * config.h - the public header of the config layer:
 *
 *   1. the proxy's bootstrap configuration (a YAML file, every key in
 *      docs/CONFIG.md): load, validate, free, dump as JSON;
 *   2. the YAML reading kit the bootstrap parser is built on and that the
 *      plugins layer shares for WasmPlugin manifests: a YAML tree with
 *      positions, YAML 1.1 scalar resolution (as Kubernetes tools do), and
 *      a reader that reports every problem as
 *          FILE:LINE:COLUMN: [CONTEXT: ]KEY.PATH: message
 *      one per line, instead of stopping at the first.
 *
 * Ownership: a wg_config owns every string and array reachable from it;
 * wg_config_free() releases them all. Nothing here keeps global state.
 */
#ifndef WG_CONFIG_CONFIG_H
#define WG_CONFIG_CONFIG_H

#include "base/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ==== the bootstrap configuration ======================================== */

/* Defaults (docs/CONFIG.md explains each). */
#define WG_CONFIG_DEFAULT_MAX_REQUEST_HEAD_BYTES (60u * 1024u)
#define WG_CONFIG_DEFAULT_MAX_HEADERS 100u
#define WG_CONFIG_DEFAULT_IDLE_TIMEOUT_MS 60000u
#define WG_CONFIG_DEFAULT_REQUEST_HEAD_TIMEOUT_MS 10000u
#define WG_CONFIG_DEFAULT_MAX_REQUEST_BODY_BUFFER_BYTES (1024u * 1024u)
#define WG_CONFIG_DEFAULT_MAX_RESPONSE_BODY_BUFFER_BYTES (1024u * 1024u)
#define WG_CONFIG_DEFAULT_DRAIN_TIMEOUT_MS 30000u
#define WG_CONFIG_DEFAULT_STREAM_IDLE_TIMEOUT_MS 300000u /* Envoy's stream_idle_timeout */
#define WG_CONFIG_DEFAULT_CONNECT_TIMEOUT_MS 1000u
#define WG_CONFIG_DEFAULT_RESPONSE_TIMEOUT_MS 15000u
#define WG_CONFIG_DEFAULT_CALLBACK_DEADLINE_MS 50u
#define WG_CONFIG_DEFAULT_START_DEADLINE_MS 30000u
#define WG_CONFIG_DEFAULT_MAX_MEMORY_BYTES (256ull * 1024 * 1024)
#define WG_CONFIG_DEFAULT_FETCH_TIMEOUT_MS 30000u
#define WG_CONFIG_DEFAULT_MAX_MODULE_BYTES (256ull * 1024 * 1024)
#define WG_CONFIG_DEFAULT_CACHE_MAX_BYTES (1024ull * 1024 * 1024)
#define WG_CONFIG_DEFAULT_CACHE_UNUSED_TTL_S 86400u
#define WG_CONFIG_DEFAULT_ROOT_NAMESPACE "istio-system"
#define WG_CONFIG_DEFAULT_NAMESPACE "default"
#define WG_CONFIG_DEFAULT_CACHE_DIR ".wasm-cache"
#define WG_CONFIG_MAX_WORKERS 256u

typedef enum wg_config_host_kind {
    WG_CONFIG_HOST_NAME = 0, /* resolved when used */
    WG_CONFIG_HOST_IPV4,
    WG_CONFIG_HOST_IPV6,
} wg_config_host_kind;

/* host:port. IPv6 literals are written in brackets ("[::1]:8080") and
 * stored without them. */
typedef struct wg_config_address {
    char *text; /* as written */
    char *host; /* "127.0.0.1", "::1", "backend.internal" */
    wg_config_host_kind kind;
    uint16_t port; /* listen addresses may use 0: any free port */
} wg_config_address;

/* A listener's side of the workload, for WasmPlugin match.mode. */
typedef enum wg_config_direction {
    WG_CONFIG_INBOUND = 0,  /* Istio's SERVER (sidecar inbound); the default */
    WG_CONFIG_OUTBOUND = 1, /* Istio's CLIENT (outbound, gateways) */
} wg_config_direction;

typedef struct wg_config_route {
    /* match: exactly one of prefix and exact is set; both start with '/'. */
    char *prefix;
    char *exact;
    char *host; /* lower-case; "*.example.com" wildcards; NULL: any host */
    /* action: a cluster, or a direct response when cluster is NULL */
    char *cluster;
    size_t cluster_index; /* into wg_config.clusters, when cluster is set */
    int direct_status;    /* 200..599 for a direct response, else 0 */
    char *direct_body;    /* NUL-terminated; may be "" */
    size_t direct_body_len;
} wg_config_route;

typedef struct wg_config_listener {
    char *name;
    wg_config_address address;
    wg_config_direction direction;
    wg_config_route *routes; /* first match wins; at least one */
    size_t nroutes;
} wg_config_listener;

typedef struct wg_config_cluster {
    char *name;
    wg_config_address *endpoints; /* round robin; at least one */
    size_t nendpoints;
    uint32_t connect_timeout_ms;  /* no connection in time: 503 */
    uint32_t response_timeout_ms; /* no response head in time: 504 */
} wg_config_cluster;

typedef struct wg_config_label {
    char *key;
    char *value;
} wg_config_label;

/* The workload identity WasmPlugin selection works on. */
typedef struct wg_config_node {
    char *id;        /* defaults to "wasmgate" */
    char *namespace; /* defaults to "default" */
    wg_config_label *labels;
    size_t nlabels;
    char *gateway; /* name for targetRefs kind Gateway, or NULL */
} wg_config_node;

typedef struct wg_config_limits {
    uint32_t max_request_head_bytes;         /* request line + headers: 431 */
    uint32_t max_headers;                    /* header count: 431 */
    uint32_t idle_timeout_ms;                /* idle keep-alive connection: closed */
    uint32_t request_head_timeout_ms;        /* head not complete in time: 408 */
    uint64_t max_request_body_buffer_bytes;  /* a plugin buffers more: 413 */
    uint64_t max_response_body_buffer_bytes; /* a plugin buffers more: 500 */
    uint32_t drain_timeout_ms;               /* SIGTERM: longest wait for streams */
    uint32_t stream_idle_timeout_ms;         /* a stream without activity: 408 or reset; 0: none */
} wg_config_limits;

typedef struct wg_config_plugins {
    char *manifests;            /* directory of WasmPlugin manifests, or NULL: none */
    char *cache_dir;            /* module cache */
    char *root_namespace;       /* plugins there apply to every namespace */
    char **insecure_registries; /* "host", "host:port" or "*" */
    size_t ninsecure_registries;
    uint32_t callback_deadline_ms; /* one plugin callback */
    uint32_t start_deadline_ms;    /* VM start + on_configure */
    uint64_t max_memory_bytes;     /* linear memory per VM */
    uint32_t fetch_timeout_ms;     /* one module fetch, all attempts */
    uint64_t max_module_bytes;     /* a larger module is an error */
    uint64_t cache_max_bytes;      /* 0: no limit */
    uint64_t cache_unused_ttl_s;   /* 0: never expire */
    bool watch;                    /* reload when the manifests directory changes */
} wg_config_plugins;

typedef struct wg_config {
    char *source;   /* the file name given to load/parse */
    char *base_dir; /* relative paths were resolved against it */
    bool has_admin;
    wg_config_address admin;
    uint32_t workers;  /* effective: the CPU count when not set */
    bool workers_auto; /* workers was not set */
    wg_config_node node;
    wg_config_listener *listeners;
    size_t nlisteners;
    wg_config_cluster *clusters;
    size_t nclusters;
    wg_config_limits limits;
    wg_config_plugins plugins;
    bool access_log;
    char *log_level;           /* "info", ...; NULL when unset */
    char *component_log_level; /* "wasm:trace,http:debug"; NULL when unset */
} wg_config;

/* Reads and validates a bootstrap file. Relative paths in it are resolved
 * against the file's directory (made absolute). On any error returns NULL
 * and appends every problem found to `errors` (if not NULL), one line
 * each, e.g.
 *   bootstrap.yaml:12:14: listeners[0].address: "127.0.0.1:80x" is not host:port
 */
wg_config *wg_config_load(const char *path, wg_buf *errors);

/* The same from text. name_for_errors names the text in messages; its
 * directory part (if any) is the base of relative paths, as if the text
 * had been read from that file. */
wg_config *wg_config_parse(const char *yaml_text, size_t len, const char *name_for_errors,
                           wg_buf *errors);

void wg_config_free(wg_config *c);

/* Replaces out's content with the effective configuration (every default
 * filled in) as JSON, for the admin /config_dump. false on allocation
 * failure. */
bool wg_config_dump_json(const wg_config *c, wg_buf *out);

/* Index of the cluster called `name`, or -1. */
long wg_config_find_cluster(const wg_config *c, const char *name);

const char *wg_config_direction_name(wg_config_direction d); /* "inbound"/"outbound" */

/* Parses "host:port" into out (fields owned by out; release with
 * wg_config_address_free). allow_port_zero is for listen addresses. On
 * failure returns false and, if why is not NULL, sets it to a static
 * explanation. */
bool wg_config_address_parse(const char *text, bool allow_port_zero, wg_config_address *out,
                             const char **why);
void wg_config_address_free(wg_config_address *a);

/* base_dir + "/" + path with "." and ".." segments folded, or a copy of
 * path when it is absolute or base_dir is NULL/"". malloc'ed; NULL on
 * allocation failure. */
char *wg_config_resolve_path(const char *base_dir, const char *path);

/* ==== the YAML reading kit =============================================== */

typedef enum wg_config_yaml_kind {
    WG_CONFIG_YAML_SCALAR = 0,
    WG_CONFIG_YAML_SEQUENCE,
    WG_CONFIG_YAML_MAPPING,
} wg_config_yaml_kind;

/* A node of a parsed document. An alias is the anchored node itself, so a
 * node may be reachable from several places (never from inside itself:
 * recursive aliases are rejected by the parser). */
typedef struct wg_config_yaml_node {
    wg_config_yaml_kind kind;
    unsigned line, column; /* 1-based position in the file */
    /* scalars */
    char *text; /* the value, NUL-terminated; may contain NUL ("\0") */
    size_t len;
    bool plain; /* unquoted, untagged: subject to type resolution */
    char *tag;  /* explicit tag ("tag:yaml.org,2002:str", "!"), or NULL */
    /* sequences: items[0..count); mappings: count pairs, items[2i] is a
     * key and items[2i+1] its value */
    struct wg_config_yaml_node **items;
    size_t count;
} wg_config_yaml_node;

/* Resolved type of a scalar, as YAML 1.1 and go-yaml v2 (what kubectl and
 * sigs.k8s.io/yaml use) resolve plain scalars:
 *   null   "", ~, null, Null, NULL
 *   bool   true/false, yes/no, on/off, y/n (and their Title and UPPER case)
 *   int    [-+]digits, 0x.., 0o.., 0b.., leading-0 octal; '_' ignored
 *   float  [-+](digits[.digits]|.digits)[e[-+]digits], .inf, .nan
 *   string everything else, and every quoted or !!str-tagged scalar. */
typedef enum wg_config_yaml_type {
    WG_CONFIG_YAML_NULL = 0,
    WG_CONFIG_YAML_BOOL,
    WG_CONFIG_YAML_INT,
    WG_CONFIG_YAML_FLOAT,
    WG_CONFIG_YAML_STRING,
} wg_config_yaml_type;

typedef struct wg_config_yaml_value {
    wg_config_yaml_type type;
    bool b;
    int64_t i;         /* INT within int64 */
    double f;          /* FLOAT, and INT as a double (also beyond int64) */
    bool int_overflow; /* an INT beyond int64: only f is meaningful */
} wg_config_yaml_value;

/* Scalars only; collections resolve to STRING with nothing set. */
wg_config_yaml_type wg_config_yaml_resolve(const wg_config_yaml_node *n, wg_config_yaml_value *out);

/* The value of `key` in a mapping (the last one if duplicated), or NULL
 * (also when map is not a mapping). */
const wg_config_yaml_node *wg_config_yaml_get(const wg_config_yaml_node *map, const char *key);

/* A plain null scalar (an absent value such as "key:"). */
bool wg_config_yaml_is_null(const wg_config_yaml_node *n);

typedef struct wg_config_reader wg_config_reader;

/* A parsed YAML stream: its documents and the nodes they own. */
typedef struct wg_config_yaml wg_config_yaml;

/* Parses every document in text[0..len). first_line is the file line of
 * text's first line (1 for a whole file; more when a caller parses a part).
 * A syntax error is reported through r and ends the stream: the documents
 * before it are kept. Returns NULL only on allocation failure. */
wg_config_yaml *wg_config_yaml_parse(const char *text, size_t len, unsigned first_line,
                                     wg_config_reader *r);
size_t wg_config_yaml_ndocs(const wg_config_yaml *y);
/* Root of document i; NULL when i is out of range. */
const wg_config_yaml_node *wg_config_yaml_doc(const wg_config_yaml *y, size_t i);
void wg_config_yaml_free(wg_config_yaml *y);

/* Collects positioned messages. Initialise with wg_config_reader_init;
 * the key path is built with _key/_index and restored with _restore:
 *
 *     size_t saved = wg_config_reader_key(r, "listeners");
 *     ... saved2 = wg_config_reader_index(r, 0) ... restore(r, saved2) ...
 *     wg_config_reader_restore(r, saved);
 */
struct wg_config_reader {
    const char *file;    /* name shown in messages */
    const char *context; /* shown after the position, e.g. "document 2
                            (default/auth)"; NULL: none */
    wg_buf *errors;      /* receives error lines; NULL: only counted */
    wg_buf *warnings;    /* receives warning lines; NULL: logged ("config") */
    size_t nerrors, nwarnings;
    char path[512];
    size_t path_len;
    size_t errors_start, warnings_start; /* buffer lengths at init */
};

void wg_config_reader_init(wg_config_reader *r, const char *file, wg_buf *errors, wg_buf *warnings);

/* Sorts the lines this reader appended (to errors and to warnings) by
 * position, so they read top to bottom; lines without a position first.
 * Call once done; the reader may still be used afterwards. */
void wg_config_reader_finish(wg_config_reader *r);

/* "FILE:LINE:COL: CONTEXT: PATH: message\n" (parts omitted when empty;
 * no position when `at` is NULL). */
void wg_config_reader_error(wg_config_reader *r, const wg_config_yaml_node *at, const char *fmt,
                            ...) __attribute__((format(printf, 3, 4)));
void wg_config_reader_warning(wg_config_reader *r, const wg_config_yaml_node *at, const char *fmt,
                              ...) __attribute__((format(printf, 3, 4)));

/* Extend the path with ".key" (["key"] when the key is not a plain word)
 * or "[i]"; both return the previous length for _restore. */
size_t wg_config_reader_key(wg_config_reader *r, const char *key);
size_t wg_config_reader_index(wg_config_reader *r, size_t i);
void wg_config_reader_restore(wg_config_reader *r, size_t saved);

/* Checks that `node` is a mapping whose keys are distinct scalars from
 * `allowed` (NULL-terminated; NULL allows any key). Reports each unknown
 * key (with a "did you mean" when one is close) and each duplicate.
 * Returns false only when node is not a mapping (reported). */
bool wg_config_read_mapping(wg_config_reader *r, const wg_config_yaml_node *node,
                            const char *const *allowed);

/* Typed reads of map[key]. Each returns 1 when the value was read into
 * *out, 0 when the key is absent or null (then *out is unchanged, and a
 * "missing required key" error is reported when `required`), -1 after
 * reporting a bad value. Problems are reported at the value with the
 * key's path. */

/* Any non-null scalar, as text (so `version: 1.0` reads "1.0"). Replaces
 * *out (freeing the previous string). */
int wg_config_read_string(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                          bool required, char **out);
int wg_config_read_bool(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                        bool required, bool *out);
/* An integer in [min, max]. */
int wg_config_read_int(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                       bool required, int64_t min, int64_t max, int64_t *out);
/* A byte count in [min, max]: an integer, or a string with a binary
 * suffix: "64KiB", "1MiB", "2GiB" (also Ki, Mi, Gi as in Kubernetes). */
int wg_config_read_size(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                        bool required, uint64_t min, uint64_t max, uint64_t *out);
/* One of names[] (NULL-terminated, case-sensitive); *out is its index.
 * `what` names the kind of value in the message: unknown phase "X"
 * (expected A, B or C). */
int wg_config_read_enum(wg_config_reader *r, const wg_config_yaml_node *map, const char *key,
                        bool required, const char *what, const char *const *names, int *out);

#endif /* WG_CONFIG_CONFIG_H */
