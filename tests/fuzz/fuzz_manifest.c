/*
 * fuzz_manifest.c - libFuzzer target for the WasmPlugin manifest parser
 * (src/plugins) and, on the same input, the bootstrap configuration parser
 * (src/config): both sit on the same YAML reader.
 *
 * Besides memory errors it checks the parsers' promises: one message line
 * per reported error, a pluginConfig that is empty or a JSON object, and
 * selection and ordering that accept whatever was parsed.
 *
 * Built with -DWASMGATE_FUZZ=ON (clang), as scripts/fuzz.sh configures
 * build-fuzz/; run with the seeds and the dictionary:
 *   mkdir -p build-fuzz/corpus-manifest
 *   build-fuzz/fuzz_manifest -dict=tests/fuzz/manifest.dict -max_len=4096 \
 *       build-fuzz/corpus-manifest tests/fuzz/seeds-manifest
 */
#include "config/config.h"
#include "plugins/plugins.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count_lines(const wg_buf *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

static void check_manifest(const wg_manifest *m)
{
    if (strlen(m->plugin_config) != m->plugin_config_len)
        abort();
    if (m->plugin_config_len) {
        json_error_t err;
        json_t *j = json_loadb(m->plugin_config, m->plugin_config_len, 0, &err);
        if (!j || !json_is_object(j))
            abort();
        json_decref(j);
    }
    if (!m->name || !m->namespace || !m->url.raw || !m->url.location || !m->plugin_name)
        abort();
    if (!m->priority_set && m->priority != INT32_MIN)
        abort();
    for (size_t i = 0; i < m->nenv; i++)
        if (strncmp(m->env[i].pair, m->env[i].name, strlen(m->env[i].name)) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    wg_plugins_set *set = wg_plugins_set_new();
    if (!set)
        return 0;
    wg_buf errors = {0}, warnings = {0};
    size_t nerrors = wg_plugins_parse(set, text, size, "fuzz.yaml", &errors, &warnings);
    if (count_lines(&errors) != nerrors)
        abort();
    (void)wg_plugins_looks_like_manifests(text, size);

    static const wg_config_label labels[] = {{"app", "demo"}, {"version", "v1"}};
    wg_plugins_node node = {
        .namespace = "default", .labels = labels, .nlabels = 2, .gateway = "gw"};
    const wg_manifest **list = set->nmanifests ? calloc(set->nmanifests, sizeof *list) : NULL;
    size_t n = 0;
    for (size_t i = 0; i < set->nmanifests; i++) {
        const wg_manifest *m = set->manifests[i];
        check_manifest(m);
        (void)wg_manifest_effective_pull_policy(m);
        (void)wg_manifest_applies(m, &node, WG_CONFIG_INBOUND, 8080);
        (void)wg_manifest_applies(m, &node, WG_PLUGINS_ANY_DIRECTION, 0);
        if (list)
            list[n++] = m;
    }
    wg_plugins_sort(list, n);
    wg_plugins_sort_for_node(list, n, &node);
    free(list);
    wg_plugins_set_free(set);
    wg_buf_free(&errors);
    wg_buf_free(&warnings);

    wg_config *c = wg_config_parse(text, size, "fuzz/boot.yaml", &errors);
    if (c) {
        if (errors.len)
            abort();
        wg_buf out = {0};
        if (wg_config_dump_json(c, &out)) {
            json_error_t err;
            json_t *j = json_loadb((const char *)out.data, out.len, 0, &err);
            if (!j)
                abort();
            json_decref(j);
        }
        wg_buf_free(&out);
        wg_config_free(c);
    } else if (errors.len == 0 || errors.data[errors.len - 1] != '\n') {
        abort();
    }
    wg_buf_free(&errors);
    return 0;
}
