/*
 * select.c - which plugins apply to a listener (reference section 1.4) and
 * the order they run in (sections 1.6 and 1.7).
 */
#include "plugins/internal.h"

#include <stdlib.h>
#include <string.h>

#define GATEWAY_GROUP "gateway.networking.k8s.io"

void wg_plugins_node_from_config(wg_plugins_node *out, const wg_config *c)
{
    memset(out, 0, sizeof *out);
    out->namespace = c->node.namespace;
    out->labels = c->node.labels;
    out->nlabels = c->node.nlabels;
    out->gateway = c->node.gateway;
    out->root_namespace = c->plugins.root_namespace;
}

static const char *node_namespace(const wg_plugins_node *node)
{
    return node && node->namespace ? node->namespace : WG_CONFIG_DEFAULT_NAMESPACE;
}

static const char *root_namespace(const wg_plugins_node *node)
{
    return node && node->root_namespace ? node->root_namespace : WG_CONFIG_DEFAULT_ROOT_NAMESPACE;
}

static const char *label_value(const wg_plugins_node *node, const char *key)
{
    for (size_t i = 0; node && i < node->nlabels; i++)
        if (strcmp(node->labels[i].key, key) == 0)
            return node->labels[i].value;
    return NULL;
}

static bool targets_node(const wg_manifest *m, const wg_plugins_node *node)
{
    /* Gateways are attached in their own namespace only. */
    if (!node || !node->gateway || strcmp(m->namespace, node_namespace(node)) != 0)
        return false;
    for (size_t i = 0; i < m->ntarget_refs; i++) {
        const wg_manifest_target_ref *t = &m->target_refs[i];
        bool group_ok = !t->group || !*t->group || strcmp(t->group, GATEWAY_GROUP) == 0;
        if (t->kind && strcmp(t->kind, "Gateway") == 0 && group_ok && t->name &&
            strcmp(t->name, node->gateway) == 0)
            return true;
    }
    return false;
}

static bool mode_fits(wg_manifest_mode mode, int direction)
{
    if (direction == WG_PLUGINS_ANY_DIRECTION)
        return true;
    switch (mode) {
    case WG_MANIFEST_MODE_CLIENT:
        return direction == WG_CONFIG_OUTBOUND;
    case WG_MANIFEST_MODE_SERVER:
        return direction == WG_CONFIG_INBOUND;
    default:
        return true; /* UNDEFINED, CLIENT_AND_SERVER */
    }
}

bool wg_manifest_applies(const wg_manifest *m, const wg_plugins_node *node, int listener_direction,
                         uint16_t listener_port)
{
    if (!m)
        return false;
    bool own = strcmp(m->namespace, node_namespace(node)) == 0;
    if (!own && strcmp(m->namespace, root_namespace(node)) != 0)
        return false;

    if (m->ntarget_refs > 0) {
        /* targetRefs replace the selector (they cannot be set together). */
        if (!targets_node(m, node))
            return false;
    } else if (m->has_selector) {
        for (size_t i = 0; i < m->nmatch_labels; i++) {
            const char *v = label_value(node, m->match_labels[i].key);
            if (!v || strcmp(v, m->match_labels[i].value) != 0)
                return false;
        }
    }

    if (m->nmatch == 0)
        return true;
    for (size_t i = 0; i < m->nmatch; i++) {
        const wg_manifest_match *mt = &m->match[i];
        if (!mode_fits(mt->mode, listener_direction))
            continue;
        if (mt->nports == 0 || listener_port == 0)
            return true;
        for (size_t j = 0; j < mt->nports; j++)
            if (mt->ports[j] == listener_port)
                return true;
    }
    return false;
}

/* ---- ordering ------------------------------------------------------------------- */

static int phase_rank(wg_manifest_phase p)
{
    switch (p) {
    case WG_MANIFEST_PHASE_AUTHN:
        return 0;
    case WG_MANIFEST_PHASE_AUTHZ:
        return 1;
    case WG_MANIFEST_PHASE_STATS:
        return 2;
    default:
        return 3; /* UNSPECIFIED_PHASE runs last, just before routing */
    }
}

static int compare_core(const wg_manifest *a, const wg_manifest *b)
{
    int pa = phase_rank(a->phase), pb = phase_rank(b->phase);
    if (pa != pb)
        return pa < pb ? -1 : 1;
    /* priority is INT32_MIN when unset: after every set value */
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    return 0;
}

/* Whatever is left equal (two manifests with the same namespace/name from
 * different sets) is ordered by origin so the sort is deterministic. */
static int compare_origin(const wg_manifest *a, const wg_manifest *b)
{
    int c = strcmp(a->file ? a->file : "", b->file ? b->file : "");
    if (c)
        return c;
    if (a->document != b->document)
        return a->document < b->document ? -1 : 1;
    return 0;
}

static int compare(const void *pa, const void *pb)
{
    const wg_manifest *a = *(const wg_manifest *const *)pa;
    const wg_manifest *b = *(const wg_manifest *const *)pb;
    int c = compare_core(a, b);
    if (c)
        return c;
    c = strcmp(a->namespace, b->namespace);
    if (c)
        return c;
    c = strcmp(a->name, b->name);
    return c ? c : compare_origin(a, b);
}

void wg_plugins_sort(const wg_manifest **manifests, size_t n)
{
    if (n > 1)
        qsort(manifests, n, sizeof *manifests, compare);
}

/* qsort has no context argument; a thread-local one keeps this reentrant
 * across threads. */
static _Thread_local const wg_plugins_node *sort_node;

static int compare_for_node(const void *pa, const void *pb)
{
    const wg_manifest *a = *(const wg_manifest *const *)pa;
    const wg_manifest *b = *(const wg_manifest *const *)pb;
    int c = compare_core(a, b);
    if (c)
        return c;
    /* Istio appends the proxy's namespace before the root namespace. */
    const char *own = node_namespace(sort_node);
    bool a_own = strcmp(a->namespace, own) == 0, b_own = strcmp(b->namespace, own) == 0;
    if (a_own != b_own)
        return a_own ? -1 : 1;
    c = strcmp(a->name, b->name);
    if (c)
        return c;
    c = strcmp(a->namespace, b->namespace);
    return c ? c : compare_origin(a, b);
}

void wg_plugins_sort_for_node(const wg_manifest **manifests, size_t n, const wg_plugins_node *node)
{
    if (n < 2)
        return;
    const wg_plugins_node *saved = sort_node;
    sort_node = node;
    qsort(manifests, n, sizeof *manifests, compare_for_node);
    sort_node = saved;
}

wg_manifest_pull_policy wg_manifest_effective_pull_policy(const wg_manifest *m)
{
    if (m->sha256 || m->url.digest)
        return WG_MANIFEST_PULL_IF_NOT_PRESENT;
    if (m->image_pull_policy != WG_MANIFEST_PULL_UNSPECIFIED)
        return m->image_pull_policy;
    if (m->url.scheme == WG_MANIFEST_SCHEME_OCI && m->url.raw) {
        size_t n = strlen(m->url.raw);
        if (n >= 7 && strcmp(m->url.raw + n - 7, ":latest") == 0)
            return WG_MANIFEST_PULL_ALWAYS;
    }
    return WG_MANIFEST_PULL_IF_NOT_PRESENT;
}

/* ---- names ---------------------------------------------------------------------- */

const char *wg_manifest_phase_name(wg_manifest_phase p)
{
    switch (p) {
    case WG_MANIFEST_PHASE_AUTHN:
        return "AUTHN";
    case WG_MANIFEST_PHASE_AUTHZ:
        return "AUTHZ";
    case WG_MANIFEST_PHASE_STATS:
        return "STATS";
    default:
        return "UNSPECIFIED_PHASE";
    }
}

const char *wg_manifest_pull_policy_name(wg_manifest_pull_policy p)
{
    switch (p) {
    case WG_MANIFEST_PULL_IF_NOT_PRESENT:
        return "IfNotPresent";
    case WG_MANIFEST_PULL_ALWAYS:
        return "Always";
    default:
        return "UNSPECIFIED_POLICY";
    }
}

const char *wg_manifest_fail_strategy_name(wg_manifest_fail_strategy f)
{
    switch (f) {
    case WG_MANIFEST_FAIL_OPEN:
        return "FAIL_OPEN";
    case WG_MANIFEST_FAIL_RELOAD:
        return "FAIL_RELOAD";
    default:
        return "FAIL_CLOSE";
    }
}

const char *wg_manifest_mode_name(wg_manifest_mode m)
{
    switch (m) {
    case WG_MANIFEST_MODE_CLIENT:
        return "CLIENT";
    case WG_MANIFEST_MODE_SERVER:
        return "SERVER";
    case WG_MANIFEST_MODE_CLIENT_AND_SERVER:
        return "CLIENT_AND_SERVER";
    default:
        return "UNDEFINED";
    }
}

const char *wg_manifest_scheme_name(wg_manifest_scheme s)
{
    switch (s) {
    case WG_MANIFEST_SCHEME_FILE:
        return "file";
    case WG_MANIFEST_SCHEME_HTTP:
        return "http";
    case WG_MANIFEST_SCHEME_HTTPS:
        return "https";
    default:
        return "oci";
    }
}
