/*
 * manifest.c - one WasmPlugin document (reference section 1.1) into a
 * wg_manifest, with Istio's validation: the CRD's schema and CEL rules and
 * istiod's Go checks. Unknown fields are errors (as kubectl's strict field
 * validation makes them), so a typo never goes unnoticed.
 */
#include "plugins/internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WASMPLUGIN_API_VERSION "extensions.istio.io/v1alpha1"

/* ObjectMeta: name and namespace are used, the rest is accepted so that
 * `kubectl get -o yaml` output loads. */
static const char *const metadata_keys[] = {"name",
                                            "namespace",
                                            "labels",
                                            "annotations",
                                            "uid",
                                            "resourceVersion",
                                            "generation",
                                            "creationTimestamp",
                                            "deletionTimestamp",
                                            "deletionGracePeriodSeconds",
                                            "finalizers",
                                            "ownerReferences",
                                            "managedFields",
                                            "generateName",
                                            "selfLink",
                                            NULL};

static bool valid_dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '.')
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
    }
    return true;
}

static bool valid_dns_label(const char *s)
{
    return strlen(s) <= 63 && !strchr(s, '.') && valid_dns_subdomain(s);
}

static void error_at_key(reader *r, const node *map, const char *key, const char *fmt,
                         const char *arg)
{
    size_t saved = wg_config_reader_key(r, key);
    wg_config_reader_error(r, wg_config_yaml_get(map, key), fmt, arg);
    wg_config_reader_restore(r, saved);
}

bool wg_plugins_check_api_version(reader *r, const node *root, const char *kind,
                                  const char *expected)
{
    char *api = NULL;
    bool ok = false;
    if (wg_config_read_string(r, root, "apiVersion", true, &api) == 1) {
        ok = strcmp(api, expected) == 0;
        if (!ok) {
            size_t saved = wg_config_reader_key(r, "apiVersion");
            wg_config_reader_error(r, wg_config_yaml_get(root, "apiVersion"),
                                   "\"%s\" is not supported for kind %s (expected %s)", api, kind,
                                   expected);
            wg_config_reader_restore(r, saved);
        }
    }
    free(api);
    return ok;
}

bool wg_plugins_read_metadata(reader *r, const node *root, wg_plugins_doc *doc, char **name,
                              char **ns, char **resource_version)
{
    size_t before = r->nerrors;
    const node *meta = wg_config_yaml_get(root, "metadata");
    if (!meta || wg_config_yaml_is_null(meta)) {
        wg_config_reader_error(r, root, "missing required key \"metadata\"");
        return false;
    }
    size_t saved = wg_config_reader_key(r, "metadata");
    if (wg_config_read_mapping(r, meta, metadata_keys)) {
        if (wg_config_read_string(r, meta, "name", true, name) == 1 && !valid_dns_subdomain(*name))
            error_at_key(r, meta, "name",
                         "\"%s\" is not a valid name (lower-case letters, digits, '-' and '.')",
                         *name);
        if (wg_config_read_string(r, meta, "namespace", false, ns) == 1 && !valid_dns_label(*ns))
            error_at_key(r, meta, "namespace",
                         "\"%s\" is not a valid namespace (lower-case letters, digits and '-')",
                         *ns);
        const node *rv = wg_config_yaml_get(meta, "resourceVersion");
        if (resource_version && rv && rv->kind == WG_CONFIG_YAML_SCALAR &&
            !wg_config_yaml_is_null(rv))
            wg_config_read_string(r, meta, "resourceVersion", false, resource_version);
    }
    wg_config_reader_restore(r, saved);
    if (!*ns)
        *ns = strdup(WG_CONFIG_DEFAULT_NAMESPACE);
    if (!*ns) {
        wg_config_reader_error(r, NULL, "out of memory");
        return false;
    }
    if (*name && r->nerrors == before) {
        snprintf(doc->label, sizeof doc->label, "document %u (%s/%s)", doc->index, *ns, *name);
        r->context = doc->label;
    }
    return r->nerrors == before;
}

/* ---- spec pieces ---------------------------------------------------------------- */

static const node *get(const node *map, const char *key)
{
    const node *v = wg_config_yaml_get(map, key);
    return v && !wg_config_yaml_is_null(v) ? v : NULL;
}

static void read_selector(reader *r, const node *spec, wg_manifest *m)
{
    static const char *const keys[] = {"matchLabels", NULL};
    const node *sel = get(spec, "selector");
    if (!sel)
        return;
    m->has_selector = true;
    size_t saved = wg_config_reader_key(r, "selector");
    if (wg_config_read_mapping(r, sel, keys)) {
        const node *labels = get(sel, "matchLabels");
        size_t s2 = wg_config_reader_key(r, "matchLabels");
        if (labels && wg_config_read_mapping(r, labels, NULL) && labels->count) {
            if (labels->count > 4096)
                wg_config_reader_error(r, labels, "more than 4096 labels");
            m->match_labels = calloc(labels->count, sizeof *m->match_labels);
            for (size_t i = 0; m->match_labels && i < labels->count; i++) {
                const node *k = labels->items[2 * i];
                if (k->kind != WG_CONFIG_YAML_SCALAR)
                    continue;
                char *value = NULL;
                if (wg_config_read_string(r, labels, k->text, true, &value) != 1)
                    continue;
                if (k->len == 0 || strlen(k->text) != k->len || strchr(k->text, '*') ||
                    strchr(value, '*')) {
                    size_t s3 = wg_config_reader_key(r, k->text);
                    wg_config_reader_error(r, k,
                                           "label keys must be non-empty, and keys and "
                                           "values may not contain '*'");
                    wg_config_reader_restore(r, s3);
                    free(value);
                    continue;
                }
                wg_config_label *l = &m->match_labels[m->nmatch_labels];
                l->key = strdup(k->text);
                l->value = value;
                m->nmatch_labels++;
                if (!l->key)
                    wg_config_reader_error(r, k, "out of memory");
            }
        }
        wg_config_reader_restore(r, s2);
    }
    wg_config_reader_restore(r, saved);
}

typedef struct ref_kind {
    const char *kind;
    const char *groups[3];
} ref_kind;

static const ref_kind ref_kinds[] = {
    {"Gateway", {"gateway.networking.k8s.io", "", NULL}},
    {"GatewayClass", {"gateway.networking.k8s.io", NULL, NULL}},
    {"Service", {"", "core", NULL}},
    {"ServiceEntry", {"networking.istio.io", NULL, NULL}},
};

static void read_target_ref(reader *r, const node *item, wg_manifest *m, wg_manifest_target_ref *t)
{
    static const char *const keys[] = {"group", "kind", "name", "namespace", NULL};
    if (!wg_config_read_mapping(r, item, keys))
        return;
    wg_config_read_string(r, item, "group", false, &t->group);
    if (!t->group)
        t->group = strdup("");
    wg_config_read_string(r, item, "kind", true, &t->kind);
    wg_config_read_string(r, item, "name", true, &t->name);
    wg_config_read_string(r, item, "namespace", false, &t->namespace);
    if (t->group && strlen(t->group) > 253)
        error_at_key(r, item, "group", "%s", "longer than 253 characters");
    if (t->name && (strlen(t->name) == 0 || strlen(t->name) > 253))
        error_at_key(r, item, "name", "%s", "must be 1 to 253 characters");
    if (!t->kind)
        return;
    if (strlen(t->kind) == 0 || strlen(t->kind) > 63) {
        error_at_key(r, item, "kind", "%s", "must be 1 to 63 characters");
        return;
    }
    const ref_kind *rk = NULL;
    for (size_t i = 0; i < sizeof ref_kinds / sizeof ref_kinds[0]; i++)
        if (strcmp(ref_kinds[i].kind, t->kind) == 0)
            rk = &ref_kinds[i];
    if (!rk) {
        error_at_key(r, item, "kind",
                     "unsupported kind \"%s\" (expected Gateway, GatewayClass, Service or "
                     "ServiceEntry)",
                     t->kind);
        return;
    }
    bool group_ok = false;
    for (size_t i = 0; rk->groups[i]; i++)
        if (t->group && strcmp(rk->groups[i], t->group) == 0)
            group_ok = true;
    if (!group_ok) {
        size_t saved = wg_config_reader_key(r, "group");
        wg_config_reader_error(r, get(item, "group") ? get(item, "group") : item,
                               "group \"%s\" does not fit kind %s (expected \"%s\")",
                               t->group ? t->group : "", t->kind, rk->groups[0]);
        wg_config_reader_restore(r, saved);
    }
    if (t->namespace && *t->namespace && m->namespace && strcmp(t->namespace, m->namespace) != 0)
        error_at_key(r, item, "namespace", "%s",
                     "cross-namespace references are not supported: leave namespace empty");
    if (strcmp(t->kind, "Gateway") != 0)
        wg_config_reader_warning(r, item,
                                 "targetRefs kind %s never selects wasmgate (only kind Gateway, "
                                 "matched against node.gateway, does)",
                                 t->kind);
}

static void read_target_refs(reader *r, const node *spec, wg_manifest *m)
{
    const node *one = get(spec, "targetRef");
    const node *many = get(spec, "targetRefs");
    int set = (get(spec, "selector") != NULL) + (one != NULL) + (many != NULL);
    if (set > 1)
        wg_config_reader_error(r, spec,
                               "at most one of selector, targetRef and targetRefs may "
                               "be set");
    if (one) {
        size_t saved = wg_config_reader_key(r, "targetRef");
        m->target_refs = calloc(1, sizeof *m->target_refs);
        if (m->target_refs) {
            m->ntarget_refs = 1;
            read_target_ref(r, one, m, &m->target_refs[0]);
        }
        wg_config_reader_restore(r, saved);
    }
    if (many) {
        size_t saved = wg_config_reader_key(r, "targetRefs");
        if (many->kind != WG_CONFIG_YAML_SEQUENCE) {
            wg_config_reader_error(r, many, "expected a list");
        } else if (many->count > 16) {
            wg_config_reader_error(r, many, "at most 16 targetRefs are allowed");
        } else if (many->count && !m->target_refs) {
            m->target_refs = calloc(many->count, sizeof *m->target_refs);
            for (size_t i = 0; m->target_refs && i < many->count; i++) {
                size_t s2 = wg_config_reader_index(r, i);
                read_target_ref(r, many->items[i], m, &m->target_refs[m->ntarget_refs++]);
                wg_config_reader_restore(r, s2);
            }
        }
        wg_config_reader_restore(r, saved);
    }
}

static bool valid_sha256(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void read_env(reader *r, const node *spec, wg_manifest *m)
{
    static const char *const vm_keys[] = {"env", NULL};
    static const char *const env_keys[] = {"name", "valueFrom", "value", NULL};
    static const char *const sources[] = {"INLINE", "HOST", NULL};
    const node *vm = get(spec, "vmConfig");
    if (!vm)
        return;
    size_t saved = wg_config_reader_key(r, "vmConfig");
    const node *env = NULL;
    if (wg_config_read_mapping(r, vm, vm_keys))
        env = get(vm, "env");
    size_t s2 = wg_config_reader_key(r, "env");
    if (env && env->kind != WG_CONFIG_YAML_SEQUENCE) {
        wg_config_reader_error(r, env, "expected a list");
    } else if (env && env->count > 256) {
        wg_config_reader_error(r, env, "at most 256 variables are allowed");
    } else if (env && env->count) {
        m->env = calloc(env->count, sizeof *m->env);
        for (size_t i = 0; m->env && i < env->count; i++) {
            const node *item = env->items[i];
            size_t s3 = wg_config_reader_index(r, i);
            wg_manifest_env e = {0};
            int src = WG_MANIFEST_ENV_INLINE;
            bool ok = wg_config_read_mapping(r, item, env_keys);
            ok = ok && wg_config_read_string(r, item, "name", true, &e.name) == 1;
            if (ok && (strlen(e.name) == 0 || strlen(e.name) > 256 || strchr(e.name, '='))) {
                error_at_key(r, item, "name", "\"%s\" must be 1 to 256 characters without '='",
                             e.name);
                ok = false;
            }
            if (wg_config_read_enum(r, item, "valueFrom", false, "valueFrom", sources, &src) < 0)
                ok = false;
            e.source = (wg_manifest_env_source)src;
            int has_value = wg_config_read_string(r, item, "value", false, &e.value);
            if (has_value < 0)
                ok = false;
            if (has_value == 1 && e.source == WG_MANIFEST_ENV_HOST) {
                error_at_key(r, item, "value", "%s",
                             "a value may only be set when valueFrom is INLINE");
                ok = false;
            }
            if (has_value == 1 && strlen(e.value) > 2048) {
                error_at_key(r, item, "value", "%s", "longer than 2048 characters");
                ok = false;
            }
            /* Names must be unique, whether or not a HOST variable exists. */
            for (size_t j = 0; ok && j < i; j++) {
                const node *prev = get(env->items[j], "name");
                if (prev && prev->kind == WG_CONFIG_YAML_SCALAR &&
                    strcmp(prev->text, e.name) == 0) {
                    error_at_key(r, item, "name", "duplicate variable \"%s\"", e.name);
                    ok = false;
                }
            }
            if (ok && e.source == WG_MANIFEST_ENV_HOST) {
                /* Read once, now: later changes to the proxy's environment
                 * do not reach running plugins. */
                const char *host = getenv(e.name);
                if (!host) {
                    ok = false; /* silently skipped, as Envoy does */
                    free(e.name);
                    free(e.value);
                    wg_config_reader_restore(r, s3);
                    continue;
                }
                e.value = strdup(host);
            } else if (ok && !e.value) {
                e.value = strdup("");
            }
            if (ok && (!e.value || asprintf(&e.pair, "%s=%s", e.name, e.value) < 0)) {
                e.pair = NULL;
                wg_config_reader_error(r, item, "out of memory");
                ok = false;
            }
            if (ok)
                m->env[m->nenv++] = e;
            else {
                free(e.name);
                free(e.value);
                free(e.pair);
            }
            wg_config_reader_restore(r, s3);
        }
    }
    wg_config_reader_restore(r, s2);
    wg_config_reader_restore(r, saved);
}

static void read_match(reader *r, const node *spec, wg_manifest *m)
{
    static const char *const match_keys[] = {"mode", "ports", NULL};
    static const char *const port_keys[] = {"number", NULL};
    static const char *const modes[] = {"UNDEFINED", "CLIENT", "SERVER", "CLIENT_AND_SERVER", NULL};
    const node *list = get(spec, "match");
    if (!list)
        return;
    size_t saved = wg_config_reader_key(r, "match");
    if (list->kind != WG_CONFIG_YAML_SEQUENCE) {
        wg_config_reader_error(r, list, "expected a list");
    } else if (list->count) {
        m->match = calloc(list->count, sizeof *m->match);
        for (size_t i = 0; m->match && i < list->count; i++) {
            const node *item = list->items[i];
            size_t s2 = wg_config_reader_index(r, i);
            wg_manifest_match *mt = &m->match[m->nmatch++];
            if (wg_config_read_mapping(r, item, match_keys)) {
                int mode = WG_MANIFEST_MODE_UNDEFINED;
                if (wg_config_read_enum(r, item, "mode", false, "mode", modes, &mode) == 1)
                    mt->mode = (wg_manifest_mode)mode;
                const node *ports = get(item, "ports");
                size_t s3 = wg_config_reader_key(r, "ports");
                if (ports && ports->kind != WG_CONFIG_YAML_SEQUENCE) {
                    wg_config_reader_error(r, ports, "expected a list");
                } else if (ports && ports->count) {
                    mt->ports = calloc(ports->count, sizeof *mt->ports);
                    for (size_t j = 0; mt->ports && j < ports->count; j++) {
                        size_t s4 = wg_config_reader_index(r, j);
                        int64_t number = 0;
                        if (wg_config_read_mapping(r, ports->items[j], port_keys) &&
                            wg_config_read_int(r, ports->items[j], "number", true, 1, 65535,
                                               &number) == 1)
                            mt->ports[mt->nports++] = (uint16_t)number;
                        wg_config_reader_restore(r, s4);
                    }
                }
                wg_config_reader_restore(r, s3);
            }
            wg_config_reader_restore(r, s2);
        }
    }
    wg_config_reader_restore(r, saved);
}

static void read_spec(reader *r, const node *spec, wg_plugins_doc *doc, wg_manifest *m)
{
    static const char *const keys[] = {"selector",
                                       "targetRef",
                                       "targetRefs",
                                       "url",
                                       "sha256",
                                       "imagePullPolicy",
                                       "imagePullSecret",
                                       "verificationKey",
                                       "pluginConfig",
                                       "pluginName",
                                       "phase",
                                       "priority",
                                       "vmConfig",
                                       "match",
                                       "failStrategy",
                                       "type",
                                       NULL};
    static const char *const policies[] = {"UNSPECIFIED_POLICY", "IfNotPresent", "Always", NULL};
    static const char *const phases[] = {"UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS", NULL};
    static const char *const strategies[] = {"FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD", NULL};
    static const char *const types[] = {"UNSPECIFIED_PLUGIN_TYPE", "HTTP", "NETWORK", NULL};

    if (!wg_config_read_mapping(r, spec, keys))
        return;

    int type = 0;
    if (wg_config_read_enum(r, spec, "type", false, "type", types, &type) == 1 && type == 2) {
        size_t saved = wg_config_reader_key(r, "type");
        wg_config_reader_error(r, get(spec, "type"),
                               "type NETWORK is not supported yet: wasmgate has no L4 filters");
        wg_config_reader_restore(r, saved);
    }

    read_selector(r, spec, m);
    read_target_refs(r, spec, m);

    char *url = NULL;
    if (wg_config_read_string(r, spec, "url", true, &url) == 1) {
        char why[512];
        if (!wg_plugins_url_parse(url, doc->dir, &m->url, why, sizeof why)) {
            size_t saved = wg_config_reader_key(r, "url");
            wg_config_reader_error(r, get(spec, "url"), "\"%s\": %s", url, why);
            wg_config_reader_restore(r, saved);
        }
    }
    free(url);

    if (wg_config_read_string(r, spec, "sha256", false, &m->sha256) == 1) {
        if (!*m->sha256) {
            free(m->sha256);
            m->sha256 = NULL;
        } else if (!valid_sha256(m->sha256)) {
            error_at_key(r, spec, "sha256", "\"%s\" is not 64 lower-case hex digits", m->sha256);
        } else if (m->url.digest && strcmp(m->url.digest + 7, m->sha256) != 0) {
            size_t saved = wg_config_reader_key(r, "sha256");
            wg_config_reader_warning(r, get(spec, "sha256"),
                                     "differs from the digest in the URL; the sha256 field is "
                                     "the one checked");
            wg_config_reader_restore(r, saved);
        }
    }

    int v = 0;
    if (wg_config_read_enum(r, spec, "imagePullPolicy", false, "imagePullPolicy", policies, &v) ==
        1)
        m->image_pull_policy = (wg_manifest_pull_policy)v;
    if (wg_config_read_string(r, spec, "imagePullSecret", false, &m->image_pull_secret) == 1) {
        size_t n = strlen(m->image_pull_secret);
        if (n == 0) {
            free(m->image_pull_secret);
            m->image_pull_secret = NULL;
        } else if (n > 253) {
            error_at_key(r, spec, "imagePullSecret", "%s", "longer than 253 characters");
        }
    }
    char *vkey = NULL;
    if (wg_config_read_string(r, spec, "verificationKey", false, &vkey) == 1) {
        size_t saved = wg_config_reader_key(r, "verificationKey");
        wg_config_reader_warning(r, get(spec, "verificationKey"),
                                 "signature verification is not implemented (nor in Istio); "
                                 "ignored");
        wg_config_reader_restore(r, saved);
    }
    free(vkey);

    {
        size_t saved = wg_config_reader_key(r, "pluginConfig");
        wg_plugins_config_to_json(r, wg_config_yaml_get(spec, "pluginConfig"), &m->plugin_config,
                                  &m->plugin_config_len);
        wg_config_reader_restore(r, saved);
    }

    if (wg_config_read_string(r, spec, "pluginName", false, &m->plugin_name) == 1 &&
        strlen(m->plugin_name) > 256)
        error_at_key(r, spec, "pluginName", "%s", "longer than 256 characters");
    if (!m->plugin_name)
        m->plugin_name = strdup("");

    if (wg_config_read_enum(r, spec, "phase", false, "phase", phases, &v) == 1)
        m->phase = (wg_manifest_phase)v;
    int64_t prio = 0;
    if (wg_config_read_int(r, spec, "priority", false, INT32_MIN, INT32_MAX, &prio) == 1) {
        m->priority_set = true;
        m->priority = (int32_t)prio;
    }
    if (wg_config_read_enum(r, spec, "failStrategy", false, "failStrategy", strategies, &v) == 1)
        m->fail_strategy = (wg_manifest_fail_strategy)v;

    read_env(r, spec, m);
    read_match(r, spec, m);
}

wg_manifest *wg_plugins_read_wasmplugin(reader *r, const node *root, wg_plugins_doc *doc)
{
    static const char *const top_keys[] = {"apiVersion", "kind",   "metadata",
                                           "spec",       "status", NULL};
    size_t before = r->nerrors;
    wg_manifest *m = calloc(1, sizeof *m);
    if (!m) {
        wg_config_reader_error(r, root, "out of memory");
        return NULL;
    }
    m->priority = INT32_MIN;
    m->document = doc->index;
    m->line = root->line;
    m->file = strdup(doc->file);

    wg_config_read_mapping(r, root, top_keys);
    wg_plugins_check_api_version(r, root, "WasmPlugin", WASMPLUGIN_API_VERSION);
    wg_plugins_read_metadata(r, root, doc, &m->name, &m->namespace, &m->resource_version);

    const node *spec = get(root, "spec");
    if (!spec) {
        wg_config_reader_error(r, root, "missing required key \"spec\"");
    } else {
        size_t saved = wg_config_reader_key(r, "spec");
        read_spec(r, spec, doc, m);
        wg_config_reader_restore(r, saved);
        wg_plugins_spec_fingerprint(spec, &m->spec_json);
    }
    if (!m->file || !m->plugin_name || !m->plugin_config)
        if (r->nerrors == before)
            wg_config_reader_error(r, root, "out of memory");
    if (r->nerrors != before) {
        wg_plugins_manifest_free(m);
        return NULL;
    }
    return m;
}

void wg_plugins_manifest_free(wg_manifest *m)
{
    if (!m)
        return;
    free(m->file);
    free(m->name);
    free(m->namespace);
    free(m->resource_version);
    for (size_t i = 0; i < m->nmatch_labels; i++) {
        free(m->match_labels[i].key);
        free(m->match_labels[i].value);
    }
    free(m->match_labels);
    for (size_t i = 0; i < m->ntarget_refs; i++) {
        free(m->target_refs[i].group);
        free(m->target_refs[i].kind);
        free(m->target_refs[i].name);
        free(m->target_refs[i].namespace);
    }
    free(m->target_refs);
    wg_plugins_url_free(&m->url);
    free(m->sha256);
    free(m->image_pull_secret);
    free(m->plugin_config);
    free(m->plugin_name);
    free(m->spec_json);
    for (size_t i = 0; i < m->nenv; i++) {
        free(m->env[i].name);
        free(m->env[i].value);
        free(m->env[i].pair);
    }
    free(m->env);
    for (size_t i = 0; i < m->nmatch; i++)
        free(m->match[i].ports);
    free(m->match);
    free(m);
}
