/*
 * plugins.h - the public header of the plugins layer: Istio WasmPlugin
 * resources (extensions.istio.io/v1alpha1) read from YAML manifests,
 * their image pull Secrets, which plugins apply to which listener
 * (selection) and in which order they run.
 *
 * The field semantics follow Istio's (the project's reference:
 * istio-wasmplugin.md section 1); docs/CONFIG.md lists where wasmgate
 * differs. The plugin manager (planned) builds on this.
 *
 * Ownership: a wg_plugins_set owns its manifests and secrets and every
 * string in them; wg_plugins_set_free() releases everything (secret bytes
 * are wiped first).
 */
#ifndef WG_PLUGINS_PLUGINS_H
#define WG_PLUGINS_PLUGINS_H

#include "base/base.h"
#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Enums keep Istio's numeric values. */
typedef enum wg_manifest_phase {
    WG_MANIFEST_PHASE_UNSPECIFIED = 0, /* UNSPECIFIED_PHASE: last, before routing */
    WG_MANIFEST_PHASE_AUTHN = 1,
    WG_MANIFEST_PHASE_AUTHZ = 2,
    WG_MANIFEST_PHASE_STATS = 3,
} wg_manifest_phase;

typedef enum wg_manifest_pull_policy {
    WG_MANIFEST_PULL_UNSPECIFIED = 0, /* see wg_manifest_effective_pull_policy */
    WG_MANIFEST_PULL_IF_NOT_PRESENT = 1,
    WG_MANIFEST_PULL_ALWAYS = 2,
} wg_manifest_pull_policy;

typedef enum wg_manifest_fail_strategy {
    WG_MANIFEST_FAIL_CLOSE = 0, /* the default */
    WG_MANIFEST_FAIL_OPEN = 1,
    WG_MANIFEST_FAIL_RELOAD = 2,
} wg_manifest_fail_strategy;

typedef enum wg_manifest_mode {
    WG_MANIFEST_MODE_UNDEFINED = 0, /* as CLIENT_AND_SERVER */
    WG_MANIFEST_MODE_CLIENT = 1,    /* outbound listeners */
    WG_MANIFEST_MODE_SERVER = 2,    /* inbound listeners */
    WG_MANIFEST_MODE_CLIENT_AND_SERVER = 3,
} wg_manifest_mode;

typedef enum wg_manifest_env_source {
    WG_MANIFEST_ENV_INLINE = 0,
    WG_MANIFEST_ENV_HOST = 1,
} wg_manifest_env_source;

typedef enum wg_manifest_scheme {
    WG_MANIFEST_SCHEME_OCI = 0,
    WG_MANIFEST_SCHEME_FILE,
    WG_MANIFEST_SCHEME_HTTP,
    WG_MANIFEST_SCHEME_HTTPS,
} wg_manifest_scheme;

/* spec.url, parsed. */
typedef struct wg_manifest_url {
    char *raw; /* as written */
    wg_manifest_scheme scheme;
    bool scheme_implicit; /* a bare reference: "oci://" was implied */
    /* file: the path ("file://x.wasm" and other relative paths are
     *       resolved against the manifest file's directory);
     * http(s): the whole URL;
     * oci: the reference without "oci://", e.g. "ghcr.io/org/mod:1.0" */
    char *location;
    /* oci only (NULL otherwise). Docker Hub defaults as docker does:
     * "mod" is index.docker.io/library/mod:latest. */
    char *registry;    /* "ghcr.io", "localhost:5000" */
    char *repository;  /* "org/mod" */
    char *tag;         /* "1.0"; "latest" when neither tag nor digest is given */
    bool tag_implicit; /* no tag was written */
    char *digest;      /* "sha256:<64 hex>" from "@sha256:...", or NULL */
} wg_manifest_url;

typedef struct wg_manifest_target_ref {
    char *group; /* "" when unset */
    char *kind;
    char *name;
    char *namespace; /* NULL when unset */
} wg_manifest_target_ref;

typedef struct wg_manifest_env {
    char *name;
    wg_manifest_env_source source;
    char *value; /* INLINE: the value; HOST: read from the proxy's environment */
    char *pair;  /* "NAME=VALUE", the WASI environ entry */
} wg_manifest_env;

typedef struct wg_manifest_match {
    wg_manifest_mode mode;
    uint16_t *ports; /* empty: any port */
    size_t nports;
} wg_manifest_match;

typedef struct wg_manifest {
    /* origin, for messages */
    char *file;
    unsigned document; /* 1-based index in the file */
    unsigned line;

    /* metadata */
    char *name;
    char *namespace;        /* "default" when unset */
    char *resource_version; /* metadata.resourceVersion, or NULL */

    /* spec; unset optional strings are NULL unless noted */
    bool has_selector;
    wg_config_label *match_labels; /* selector.matchLabels */
    size_t nmatch_labels;
    wg_manifest_target_ref *target_refs; /* targetRefs, or the legacy targetRef */
    size_t ntarget_refs;
    wg_manifest_url url;
    char *sha256; /* 64 lower-case hex digits, or NULL */
    wg_manifest_pull_policy image_pull_policy;
    char *image_pull_secret; /* a Secret in the plugin's namespace, or NULL */
    char *plugin_config;     /* JSON text of pluginConfig; "" when absent or empty */
    size_t plugin_config_len;
    char *plugin_name; /* root id; "" when unset */
    wg_manifest_phase phase;
    bool priority_set;
    int32_t priority; /* INT32_MIN when unset: sorts after every set value */
    wg_manifest_fail_strategy fail_strategy;
    wg_manifest_env *env; /* vmConfig.env; HOST variables the proxy's
                             environment lacks are left out */
    size_t nenv;
    wg_manifest_match *match; /* empty: all traffic */
    size_t nmatch;

    /* The spec without pluginConfig as canonical JSON, to tell what an
     * edit changed (wg_manifest_compare); NULL when it could not be made. */
    char *spec_json;
} wg_manifest;

/* What differs between two versions of a manifest, from the least to the
 * most: live reload keeps the plugin's VMs when nothing changed, reuses
 * its compiled module when only pluginConfig did, and fetches again (as
 * the pull policy says) for anything else. */
typedef enum wg_manifest_change {
    WG_MANIFEST_UNCHANGED,
    WG_MANIFEST_CONFIG_CHANGED, /* pluginConfig only */
    WG_MANIFEST_CHANGED,
} wg_manifest_change;

wg_manifest_change wg_manifest_compare(const wg_manifest *before, const wg_manifest *after);

/* A kubernetes.io/dockerconfigjson Secret, for imagePullSecret. */
typedef struct wg_plugins_secret {
    char *name;
    char *namespace;
    char *file;
    unsigned document;
    char *docker_config; /* the decoded .dockerconfigjson (JSON text); never log it */
    size_t docker_config_len;
} wg_plugins_secret;

typedef struct wg_plugins_set {
    wg_manifest **manifests; /* in the order they were read */
    size_t nmanifests;
    wg_plugins_secret **secrets;
    size_t nsecrets;
    /* What wg_plugins_load_dir could not read: the directory itself, or
     * files with at least one invalid document (paths as loaded). Live
     * reload keeps the plugins such files held at their last good version. */
    bool dir_unreadable;
    char **bad_files;
    size_t nbad_files;
} wg_plugins_set;

/* True when the set's reading of `file` had errors. */
bool wg_plugins_set_file_had_errors(const wg_plugins_set *set, const char *file);

wg_plugins_set *wg_plugins_set_new(void);
void wg_plugins_set_free(wg_plugins_set *set);

/* Adds the WasmPlugins and pull Secrets of one YAML text (documents
 * separated by "---" lines; "kind: List" documents are expanded). Each
 * document stands alone: an invalid one is left out and reported, the
 * others are added. Errors are appended to `errors` one per line, naming
 * the file, position, document and field:
 *   auth.yaml:9:10: document 2 (default/auth): spec.phase: unknown phase "AUTH" (...)
 * Warnings (ignored kinds, fields without effect) go to `warnings`, or to
 * the log when it is NULL. A WasmPlugin or Secret whose namespace/name is
 * already in the set is an error. Returns the number of errors. */
size_t wg_plugins_parse(wg_plugins_set *set, const char *text, size_t len, const char *file,
                        wg_buf *errors, wg_buf *warnings);

/* The same for a file, and for every *.yaml / *.yml file of a directory
 * (not recursive, hidden files skipped, in name order). The directory
 * variant also warns about imagePullSecrets missing from the set. */
size_t wg_plugins_load_file(wg_plugins_set *set, const char *path, wg_buf *errors,
                            wg_buf *warnings);
size_t wg_plugins_load_dir(wg_plugins_set *set, const char *dir, wg_buf *errors, wg_buf *warnings);

/* True when `text` holds at least one document with a top-level "kind"
 * (a Kubernetes object), i.e. a manifest file rather than a bootstrap
 * configuration. */
bool wg_plugins_looks_like_manifests(const char *text, size_t len);

const wg_plugins_secret *wg_plugins_find_secret(const wg_plugins_set *set, const char *ns,
                                                const char *name);
const wg_manifest *wg_plugins_find(const wg_plugins_set *set, const char *ns, const char *name);

/* ---- selection ------------------------------------------------------------------ */

/* What selection matches against; pointers are borrowed. */
typedef struct wg_plugins_node {
    const char *namespace; /* NULL: "default" */
    const wg_config_label *labels;
    size_t nlabels;
    const char *gateway;        /* this proxy's Gateway name, or NULL */
    const char *root_namespace; /* NULL: "istio-system" */
} wg_plugins_node;

/* Borrows from c (valid while c lives). */
void wg_plugins_node_from_config(wg_plugins_node *out, const wg_config *c);

/* listener_direction: WG_CONFIG_INBOUND (SERVER) or WG_CONFIG_OUTBOUND
 * (CLIENT), or WG_PLUGINS_ANY_DIRECTION; listener_port 0 matches any port
 * (Istio's "any listener" lookup: does the plugin apply anywhere?). */
#define WG_PLUGINS_ANY_DIRECTION (-1)

/* Does m apply to this node's listener?
 *   namespace: m's namespace is the node's, or the root namespace;
 *   targetRefs (when set): a Gateway ref (group gateway.networking.k8s.io
 *     or empty) naming node->gateway, with m in the node's namespace;
 *     other kinds (Service, ServiceEntry, GatewayClass) never match;
 *   else selector.matchLabels: all present in the node's labels;
 *   match[]: any entry whose mode fits the direction (UNDEFINED and
 *     CLIENT_AND_SERVER fit both) and whose ports (if any) include the
 *     listener port. */
bool wg_manifest_applies(const wg_manifest *m, const wg_plugins_node *node, int listener_direction,
                         uint16_t listener_port);

/* ---- ordering ------------------------------------------------------------------- */

/* Chain order: phase AUTHN, AUTHZ, STATS, then UNSPECIFIED_PHASE; within a
 * phase higher priority first (unset = INT32_MIN); ties by namespace,
 * then name (Istio uses the creation time first, which files lack). */
void wg_plugins_sort(const wg_manifest **manifests, size_t n);

/* The same, with Istio's namespace tie-break for one node: the node's own
 * namespace before the root namespace, then name. */
void wg_plugins_sort_for_node(const wg_manifest **manifests, size_t n, const wg_plugins_node *node);

/* Parses a spec.url as Istio does (see docs/CONFIG.md, URLs); relative
 * file paths are resolved against dir (NULL: the working directory). out
 * is owned by the caller: release it with wg_plugins_url_free. False with a
 * message in why[0..whylen). */
bool wg_plugins_url_parse(const char *raw, const char *dir, wg_manifest_url *out, char *why,
                          size_t whylen);
void wg_plugins_url_free(wg_manifest_url *u);

/* The pull policy in effect (reference section 1.5): IfNotPresent when a
 * digest is known (sha256 or "@sha256:" in the URL); the policy when set;
 * otherwise Always only for an oci URL whose reference literally ends in
 * ":latest". */
wg_manifest_pull_policy wg_manifest_effective_pull_policy(const wg_manifest *m);

/* Istio's enum spellings ("AUTHN", "IfNotPresent", "FAIL_OPEN", ...). */
const char *wg_manifest_phase_name(wg_manifest_phase p);
const char *wg_manifest_pull_policy_name(wg_manifest_pull_policy p);
const char *wg_manifest_fail_strategy_name(wg_manifest_fail_strategy f);
const char *wg_manifest_mode_name(wg_manifest_mode m);
const char *wg_manifest_scheme_name(wg_manifest_scheme s); /* "oci", "file", ... */

#endif /* WG_PLUGINS_PLUGINS_H */
