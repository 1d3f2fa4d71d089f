/*
 * test_config.c - the bootstrap configuration (src/config): valid
 * configurations, defaults, path resolution, every validation error with
 * its position, the YAML kit and the JSON dump.
 */
#include "config/config.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------------- */

static wg_config *parse_ok(const char *yaml)
{
    wg_buf errors = {0};
    wg_config *c = wg_config_parse(yaml, strlen(yaml), "/etc/wg/boot.yaml", &errors);
    if (!c)
        fprintf(stderr, "unexpected errors:\n%.*s", (int)errors.len, (const char *)errors.data);
    assert_non_null(c);
    assert_int_equal(errors.len, 0);
    wg_buf_free(&errors);
    return c;
}

/* Parses a configuration that must fail; returns the error text
 * (NUL-terminated, caller frees). */
static char *parse_errors(const char *yaml)
{
    wg_buf errors = {0};
    wg_config *c = wg_config_parse(yaml, strlen(yaml), "boot.yaml", &errors);
    if (c)
        fprintf(stderr, "unexpectedly valid:\n%s\n", yaml);
    assert_null(c);
    assert_true(errors.len > 0);
    assert_int_equal(errors.data[errors.len - 1], '\n');
    assert_true(wg_buf_append(&errors, "", 1));
    return (char *)errors.data;
}

/* The error text contains `expected` as one whole line (or, with a
 * trailing '*', a line starting with it). */
static void assert_has_line(const char *text, const char *expected)
{
    size_t elen = strlen(expected);
    bool prefix = elen > 0 && expected[elen - 1] == '*';
    if (prefix)
        elen--;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if ((prefix ? len >= elen : len == elen) && memcmp(p, expected, elen) == 0)
            return;
        p += len + (nl ? 1 : 0);
    }
    fprintf(stderr, "missing line: %s\nin:\n%s", expected, text);
    fail();
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void expect_error(const char *yaml, const char *line)
{
    char *errors = parse_errors(yaml);
    assert_has_line(errors, line);
    free(errors);
}

#define LISTENER                                                                                   \
    "listeners:\n"                                                                                 \
    "- name: main\n"                                                                               \
    "  address: 127.0.0.1:8080\n"                                                                  \
    "  routes:\n"                                                                                  \
    "  - match: {prefix: /}\n"                                                                     \
    "    direct_response: {status: 200, body: hi}\n"

/* ---- valid configurations -------------------------------------------------------- */

static void test_full_config(void **state)
{
    const char *yaml = "admin: {address: 127.0.0.1:9901}\n"
                       "workers: 2\n"
                       "node: {id: demo, namespace: shop, labels: {app: demo, version: v1},\n"
                       "       gateway: my-gateway}\n"
                       "listeners:\n"
                       "- name: main\n"
                       "  address: 127.0.0.1:8080\n"
                       "  direction: inbound\n"
                       "  routes:\n"
                       "  - match: {prefix: /api, host: API.Example.com}\n"
                       "    cluster: backend\n"
                       "  - match: {exact: /hello}\n"
                       "    direct_response: {status: 404, body: \"nope\\n\"}\n"
                       "- name: egress\n"
                       "  address: \"[::1]:8081\"\n"
                       "  direction: outbound\n"
                       "  routes:\n"
                       "  - match: {prefix: /}\n"
                       "    cluster: other\n"
                       "clusters:\n"
                       "- name: backend\n"
                       "  endpoints: [127.0.0.1:9000, \"localhost:9001\", \"[::1]:9002\"]\n"
                       "  connect_timeout_ms: 250\n"
                       "  response_timeout_ms: 0\n"
                       "- name: other\n"
                       "  endpoints: [backend.internal:80]\n"
                       "limits:\n"
                       "  max_request_head_bytes: 32KiB\n"
                       "  max_headers: 50\n"
                       "  idle_timeout_ms: 5000\n"
                       "  request_head_timeout_ms: 2000\n"
                       "  max_request_body_buffer_bytes: 2MiB\n"
                       "  max_response_body_buffer_bytes: 4194304\n"
                       "  drain_timeout_ms: 0\n"
                       "plugins:\n"
                       "  manifests: ./wasmplugins\n"
                       "  cache_dir: /var/cache/wasmgate\n"
                       "  root_namespace: mesh-root\n"
                       "  insecure_registries: [\"localhost:5000\", registry.local, \"*\"]\n"
                       "  callback_deadline_ms: 20\n"
                       "  start_deadline_ms: 5000\n"
                       "  max_memory_bytes: 64MiB\n"
                       "  fetch_timeout_ms: 10000\n"
                       "  max_module_bytes: 10MiB\n"
                       "  cache_max_bytes: 1GiB\n"
                       "  cache_unused_ttl_s: 3600\n"
                       "  watch: false\n"
                       "access_log: false\n"
                       "log_level: debug\n"
                       "component_log_level: \"wasm:trace,http:debug\"\n";
    wg_config *c = parse_ok(yaml);

    assert_string_equal(c->source, "/etc/wg/boot.yaml");
    assert_string_equal(c->base_dir, "/etc/wg");
    assert_true(c->has_admin);
    assert_string_equal(c->admin.host, "127.0.0.1");
    assert_int_equal(c->admin.port, 9901);
    assert_int_equal(c->admin.kind, WG_CONFIG_HOST_IPV4);
    assert_int_equal(c->workers, 2);
    assert_false(c->workers_auto);

    assert_string_equal(c->node.id, "demo");
    assert_string_equal(c->node.namespace, "shop");
    assert_string_equal(c->node.gateway, "my-gateway");
    assert_int_equal(c->node.nlabels, 2);
    assert_string_equal(c->node.labels[0].key, "app");
    assert_string_equal(c->node.labels[0].value, "demo");
    assert_string_equal(c->node.labels[1].key, "version");
    assert_string_equal(c->node.labels[1].value, "v1");

    assert_int_equal(c->nlisteners, 2);
    const wg_config_listener *l = &c->listeners[0];
    assert_string_equal(l->name, "main");
    assert_string_equal(l->address.text, "127.0.0.1:8080");
    assert_int_equal(l->address.port, 8080);
    assert_int_equal(l->direction, WG_CONFIG_INBOUND);
    assert_int_equal(l->nroutes, 2);
    assert_string_equal(l->routes[0].prefix, "/api");
    assert_null(l->routes[0].exact);
    assert_string_equal(l->routes[0].host, "api.example.com"); /* lower-cased */
    assert_string_equal(l->routes[0].cluster, "backend");
    assert_int_equal(l->routes[0].cluster_index, 0);
    assert_int_equal(l->routes[0].direct_status, 0);
    assert_string_equal(l->routes[1].exact, "/hello");
    assert_null(l->routes[1].cluster);
    assert_int_equal(l->routes[1].direct_status, 404);
    assert_string_equal(l->routes[1].direct_body, "nope\n");
    assert_int_equal(l->routes[1].direct_body_len, 5);

    l = &c->listeners[1];
    assert_string_equal(l->address.host, "::1");
    assert_int_equal(l->address.kind, WG_CONFIG_HOST_IPV6);
    assert_int_equal(l->address.port, 8081);
    assert_int_equal(l->direction, WG_CONFIG_OUTBOUND);
    assert_int_equal(l->routes[0].cluster_index, 1);

    assert_int_equal(c->nclusters, 2);
    assert_string_equal(c->clusters[0].name, "backend");
    assert_int_equal(c->clusters[0].nendpoints, 3);
    assert_string_equal(c->clusters[0].endpoints[1].host, "localhost");
    assert_int_equal(c->clusters[0].endpoints[1].kind, WG_CONFIG_HOST_NAME);
    assert_int_equal(c->clusters[0].endpoints[2].port, 9002);
    assert_int_equal(c->clusters[0].connect_timeout_ms, 250);
    assert_int_equal(c->clusters[0].response_timeout_ms, 0);
    assert_int_equal(c->clusters[1].connect_timeout_ms, WG_CONFIG_DEFAULT_CONNECT_TIMEOUT_MS);
    assert_int_equal(c->clusters[1].response_timeout_ms, WG_CONFIG_DEFAULT_RESPONSE_TIMEOUT_MS);
    assert_int_equal(wg_config_find_cluster(c, "other"), 1);
    assert_int_equal(wg_config_find_cluster(c, "none"), -1);

    assert_int_equal(c->limits.max_request_head_bytes, 32 * 1024);
    assert_int_equal(c->limits.max_headers, 50);
    assert_int_equal(c->limits.idle_timeout_ms, 5000);
    assert_int_equal(c->limits.request_head_timeout_ms, 2000);
    assert_int_equal(c->limits.max_request_body_buffer_bytes, 2 * 1024 * 1024);
    assert_int_equal(c->limits.max_response_body_buffer_bytes, 4194304);
    assert_int_equal(c->limits.drain_timeout_ms, 0);

    assert_string_equal(c->plugins.manifests, "/etc/wg/wasmplugins");
    assert_string_equal(c->plugins.cache_dir, "/var/cache/wasmgate");
    assert_string_equal(c->plugins.root_namespace, "mesh-root");
    assert_int_equal(c->plugins.ninsecure_registries, 3);
    assert_string_equal(c->plugins.insecure_registries[0], "localhost:5000");
    assert_string_equal(c->plugins.insecure_registries[1], "registry.local");
    assert_string_equal(c->plugins.insecure_registries[2], "*");
    assert_int_equal(c->plugins.callback_deadline_ms, 20);
    assert_int_equal(c->plugins.start_deadline_ms, 5000);
    assert_int_equal(c->plugins.max_memory_bytes, 64ull << 20);
    assert_int_equal(c->plugins.fetch_timeout_ms, 10000);
    assert_int_equal(c->plugins.max_module_bytes, 10ull << 20);
    assert_int_equal(c->plugins.cache_max_bytes, 1ull << 30);
    assert_int_equal(c->plugins.cache_unused_ttl_s, 3600);
    assert_false(c->plugins.watch);

    assert_false(c->access_log);
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->component_log_level, "wasm:trace,http:debug");
    wg_config_free(c);
}

static void test_defaults(void **state)
{
    wg_config *c = parse_ok(LISTENER);
    assert_false(c->has_admin);
    assert_true(c->workers_auto);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c->workers, cpus < 1 ? 1 : cpus > 256 ? 256 : cpus);
    assert_string_equal(c->node.id, "wasmgate");
    assert_string_equal(c->node.namespace, "default");
    assert_int_equal(c->node.nlabels, 0);
    assert_null(c->node.gateway);
    assert_int_equal(c->listeners[0].direction, WG_CONFIG_INBOUND);
    assert_int_equal(c->listeners[0].routes[0].direct_status, 200);
    assert_string_equal(c->listeners[0].routes[0].direct_body, "hi");
    assert_int_equal(c->nclusters, 0);

    assert_int_equal(c->limits.max_request_head_bytes, 60 * 1024);
    assert_int_equal(c->limits.max_headers, 100);
    assert_int_equal(c->limits.idle_timeout_ms, 60000);
    assert_int_equal(c->limits.request_head_timeout_ms, 10000);
    assert_int_equal(c->limits.max_request_body_buffer_bytes, 1024 * 1024);
    assert_int_equal(c->limits.max_response_body_buffer_bytes, 1024 * 1024);
    assert_int_equal(c->limits.drain_timeout_ms, 30000);

    assert_null(c->plugins.manifests);
    assert_string_equal(c->plugins.cache_dir, "/etc/wg/.wasm-cache");
    assert_string_equal(c->plugins.root_namespace, "istio-system");
    assert_int_equal(c->plugins.ninsecure_registries, 0);
    assert_int_equal(c->plugins.callback_deadline_ms, 50);
    assert_int_equal(c->plugins.start_deadline_ms, 30000);
    assert_int_equal(c->plugins.max_memory_bytes, 256ull << 20);
    assert_int_equal(c->plugins.fetch_timeout_ms, 30000);
    assert_int_equal(c->plugins.max_module_bytes, 256ull << 20);
    assert_int_equal(c->plugins.cache_max_bytes, 1ull << 30);
    assert_int_equal(c->plugins.cache_unused_ttl_s, 86400);
    assert_true(c->plugins.watch);

    assert_true(c->access_log);
    assert_null(c->log_level);
    assert_null(c->component_log_level);
    wg_config_free(c);

    /* null values ("key:" with nothing) mean "not set" */
    c = parse_ok("workers:\nnode:\nlimits:\nplugins: {manifests: ~}\n" LISTENER);
    assert_true(c->workers_auto);
    assert_null(c->plugins.manifests);
    wg_config_free(c);
}

static void test_relative_paths(void **state)
{
    const char *yaml = "plugins: {manifests: ../shared/./plugins/, cache_dir: cache}\n" LISTENER;
    wg_config *c = parse_ok(yaml);
    assert_string_equal(c->plugins.manifests, "/etc/shared/plugins");
    assert_string_equal(c->plugins.cache_dir, "/etc/wg/cache");
    wg_config_free(c);

    /* A name without a directory: relative to the current directory. */
    wg_buf errors = {0};
    c = wg_config_parse(yaml, strlen(yaml), "boot.yaml", &errors);
    assert_non_null(c);
    assert_string_equal(c->plugins.manifests, "../shared/plugins");
    assert_string_equal(c->plugins.cache_dir, "cache");
    wg_config_free(c);

    /* wg_config_load: relative to the file's real directory. */
    char dir[] = "/tmp/wg-config-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/boot.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("plugins: {manifests: ./wasmplugins, cache_dir: /abs/cache}\n" LISTENER, f);
    fclose(f);
    c = wg_config_load(path, &errors);
    assert_non_null(c);
    char expected[300];
    snprintf(expected, sizeof expected, "%s/wasmplugins", dir);
    assert_string_equal(c->plugins.manifests, expected);
    assert_string_equal(c->plugins.cache_dir, "/abs/cache");
    assert_string_equal(c->base_dir, dir);
    assert_string_equal(c->source, path);
    wg_config_free(c);
    unlink(path);
    rmdir(dir);

    /* a missing file */
    c = wg_config_load("/nonexistent/wasmgate.yaml", &errors);
    assert_null(c);
    assert_true(wg_buf_append(&errors, "", 1));
    assert_non_null(strstr((const char *)errors.data, "/nonexistent/wasmgate.yaml: cannot open"));
    wg_buf_free(&errors);
}

static void test_resolve_path(void **state)
{
    static const struct {
        const char *base, *path, *expected;
    } cases[] = {
        {"/etc/wg", "x", "/etc/wg/x"},
        {"/etc/wg", "./x/", "/etc/wg/x"},
        {"/etc/wg", "../x", "/etc/x"},
        {"/etc/wg", "../../../x", "/x"},
        {"/etc/wg", "/abs//y/./z", "/abs/y/z"},
        {"rel", "../../x", "../x"},
        {"", "./a/b/..", "a"},
        {NULL, ".", "."},
        {"/", "a", "/a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = wg_config_resolve_path(cases[i].base, cases[i].path);
        assert_non_null(got);
        assert_string_equal(got, cases[i].expected);
        free(got);
    }
}

static void test_addresses(void **state)
{
    static const struct {
        const char *text;
        bool ok;
        const char *host;
        unsigned port;
        wg_config_host_kind kind;
    } cases[] = {
        {"127.0.0.1:8080", true, "127.0.0.1", 8080, WG_CONFIG_HOST_IPV4},
        {"[::1]:8080", true, "::1", 8080, WG_CONFIG_HOST_IPV6},
        {"[2001:db8::1]:443", true, "2001:db8::1", 443, WG_CONFIG_HOST_IPV6},
        {"localhost:65535", true, "localhost", 65535, WG_CONFIG_HOST_NAME},
        {"backend.svc.cluster.local:80", true, "backend.svc.cluster.local", 80,
         WG_CONFIG_HOST_NAME},
        {"0.0.0.0:0", true, "0.0.0.0", 0, WG_CONFIG_HOST_IPV4},
        {"127.0.0.1:80x", false, NULL, 0, 0},
        {"127.0.0.1", false, NULL, 0, 0},
        {"127.0.0.1:", false, NULL, 0, 0},
        {":80", false, NULL, 0, 0},
        {"::1:8080", false, NULL, 0, 0},
        {"[::1]8080", false, NULL, 0, 0},
        {"[::1:8080", false, NULL, 0, 0},
        {"[nonsense]:80", false, NULL, 0, 0},
        {"256.1.1.1:80", false, NULL, 0, 0},
        {"1.2.3:80", false, NULL, 0, 0},
        {"host:65536", false, NULL, 0, 0},
        {"host:123456", false, NULL, 0, 0},
        {"bad_host!:80", false, NULL, 0, 0},
        {"-leading.dash:80", false, NULL, 0, 0},
        {"", false, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wg_config_address a;
        const char *why = NULL;
        bool ok = wg_config_address_parse(cases[i].text, true, &a, &why);
        if (ok != cases[i].ok)
            fprintf(stderr, "address \"%s\": got %d (%s)\n", cases[i].text, ok, why ? why : "");
        assert_int_equal(ok, cases[i].ok);
        if (ok) {
            assert_string_equal(a.host, cases[i].host);
            assert_string_equal(a.text, cases[i].text);
            assert_int_equal(a.port, cases[i].port);
            assert_int_equal(a.kind, cases[i].kind);
            wg_config_address_free(&a);
        } else {
            assert_non_null(why);
        }
    }
    wg_config_address a;
    assert_false(wg_config_address_parse("127.0.0.1:0", false, &a, NULL));
}

/* ---- validation errors ------------------------------------------------------------ */

static void test_error_address(void **state)
{
    expect_error("listeners:\n"
                 "- name: main\n"
                 "  address: 127.0.0.1:80x\n"
                 "  routes: [{match: {prefix: /}, direct_response: {status: 200}}]\n",
                 "boot.yaml:3:12: listeners[0].address: \"127.0.0.1:80x\" is not host:port "
                 "(the port must be a number 1..65535)");
    expect_error("listeners:\n"
                 "- name: main\n"
                 "  address: \"::1:8080\"\n"
                 "  routes: [{match: {prefix: /}, direct_response: {status: 200}}]\n",
                 "boot.yaml:3:12: listeners[0].address: \"::1:8080\" is not host:port (write "
                 "IPv6 addresses in brackets, e.g. [::1]:8080)");
    expect_error("admin: {address: localhost}\n" LISTENER,
                 "boot.yaml:1:18: admin.address: \"localhost\" is not host:port (the port is "
                 "missing)");
    expect_error("clusters:\n- name: b\n  endpoints: [127.0.0.1:0]\n" LISTENER,
                 "boot.yaml:3:15: clusters[0].endpoints[0]: \"127.0.0.1:0\" is not host:port (the "
                 "port must be a number 1..65535)");
    expect_error("admin: {address: 127.0.0.1:8080}\n" LISTENER,
                 "boot.yaml:4:12: listeners[0].address: address 127.0.0.1:8080 is already used "
                 "by admin.address");
}

static void test_error_unknown_keys(void **state)
{
    char *e = parse_errors("admin: {adress: 127.0.0.1:9901}\n"
                           "listner: []\n"
                           "workerz: 2\n"
                           "limits: {max_header: 5, Idle_Timeout_Ms: 3, zzz: 1}\n" LISTENER);
    assert_has_line(e, "boot.yaml:1:9: admin.adress: unknown key \"adress\" (did you mean "
                       "\"address\"?)");
    assert_has_line(e, "boot.yaml:1:8: admin: missing required key \"address\"");
    assert_has_line(e, "boot.yaml:2:1: listner: unknown key \"listner\" (did you mean "
                       "\"listeners\"?)");
    assert_has_line(e, "boot.yaml:3:1: workerz: unknown key \"workerz\" (did you mean "
                       "\"workers\"?)");
    assert_has_line(e, "boot.yaml:4:10: limits.max_header: unknown key \"max_header\" (did you "
                       "mean \"max_headers\"?)");
    assert_has_line(e, "boot.yaml:4:25: limits.Idle_Timeout_Ms: unknown key \"Idle_Timeout_Ms\" "
                       "(did you mean \"idle_timeout_ms\"?)");
    assert_has_line(e, "boot.yaml:4:45: limits.zzz: unknown key \"zzz\"");
    /* every error, not just the first */
    assert_int_equal(count_lines(e), 7);
    /* sorted by position */
    assert_true(strstr(e, "1:8:") < strstr(e, "1:9:"));
    assert_true(strstr(e, "1:9:") < strstr(e, "2:1:"));
    free(e);

    expect_error("listeners:\n- name: a\n  adress: 1.2.3.4:5\n  routes: []\n",
                 "boot.yaml:3:3: listeners[0].adress: unknown key \"adress\" (did you mean "
                 "\"address\"?)");
    expect_error("workers: 1\nworkers: 2\n" LISTENER,
                 "boot.yaml:2:1: workers: duplicate key (first at line 1)");
}

static void test_error_types_and_ranges(void **state)
{
    expect_error("workers: 0\n" LISTENER, "boot.yaml:1:10: workers: 0 is out of range (1..256)");
    expect_error("workers: 257\n" LISTENER,
                 "boot.yaml:1:10: workers: 257 is out of range (1..256)");
    expect_error("workers: two\n" LISTENER,
                 "boot.yaml:1:10: workers: expected an integer, got \"two\"");
    expect_error("workers: \"2\"\n" LISTENER,
                 "boot.yaml:1:10: workers: expected an integer, got the string \"2\"");
    expect_error("workers: [1]\n" LISTENER,
                 "boot.yaml:1:10: workers: expected an integer, got a list");
    expect_error("access_log: maybe\n" LISTENER,
                 "boot.yaml:1:13: access_log: expected true or false, got \"maybe\"");
    expect_error("limits: {max_headers: 1e3}\n" LISTENER,
                 "boot.yaml:1:23: limits.max_headers: expected an integer, got \"1e3\"");
    expect_error("limits: {idle_timeout_ms: -5}\n" LISTENER,
                 "boot.yaml:1:27: limits.idle_timeout_ms: -5 is out of range (1..86400000)");
    expect_error("limits: {max_request_head_bytes: 10}\n" LISTENER,
                 "boot.yaml:1:34: limits.max_request_head_bytes: 10 is out of range "
                 "(1024..1048576 bytes)");
    expect_error("plugins: {max_memory_bytes: 1TiB}\n" LISTENER,
                 "boot.yaml:1:29: plugins.max_memory_bytes: expected a byte count such as "
                 "1048576 or \"1MiB\", got \"1TiB\"");
    expect_error("plugins: {callback_deadline_ms: 0}\n" LISTENER,
                 "boot.yaml:1:33: plugins.callback_deadline_ms: 0 is out of range (1..60000)");
    expect_error("node: {labels: [a]}\n" LISTENER,
                 "boot.yaml:1:16: node.labels: expected a mapping, got a list");
    expect_error("node: {namespace: Default}\n" LISTENER,
                 "boot.yaml:1:19: node.namespace: \"Default\" is not a valid namespace "
                 "(lower-case letters, digits and '-', at most 63)");
    expect_error("node: {labels: {\"*\": x}}\n" LISTENER,
                 "boot.yaml:1:17: node.labels[\"*\"]: label keys must be non-empty and labels "
                 "may not contain '*'");
    expect_error("log_level: loud\n" LISTENER,
                 "boot.yaml:1:12: log_level: unknown level \"loud\" (expected trace, debug, "
                 "info, warn, error, critical or off)");
    expect_error("component_log_level: \"wasm:trace,http:chatty\"\n" LISTENER,
                 "boot.yaml:1:22: component_log_level: \"wasm:trace,http:chatty\" has an "
                 "unknown level (trace, debug, info, warn, error, critical, off); expected "
                 "e.g. \"wasm:trace,http:debug\"");
    expect_error("plugins: {insecure_registries: [\"a b\"]}\n" LISTENER,
                 "boot.yaml:1:33: plugins.insecure_registries[0]: expected a registry \"host\", "
                 "\"host:port\" or \"*\"");
    expect_error("plugins: {root_namespace: Istio_System}\n" LISTENER,
                 "boot.yaml:1:27: plugins.root_namespace: \"Istio_System\" is not a valid "
                 "namespace");
    expect_error("plugins: [1]\n" LISTENER,
                 "boot.yaml:1:10: plugins: expected a mapping, got a list");
}

static void test_error_listeners_and_routes(void **state)
{
    char *e = parse_errors("listeners:\n"
                           "- name: main\n"                       /* 2 */
                           "  address: 127.0.0.1:8080\n"          /* 3 */
                           "  direction: sideways\n"              /* 4 */
                           "  routes:\n"                          /* 5 */
                           "  - match: {prefix: /}\n"             /* 6 */
                           "    cluster: nope\n"                  /* 7 */
                           "  - match: {exact: foo}\n"            /* 8 */
                           "    cluster: backend\n"               /* 9 */
                           "    direct_response: {status: 200}\n" /* 10 */
                           "  - match: {prefix: /a, exact: /b}\n" /* 11 */
                           "  - match: {host: \"bad host\"}\n"    /* 12 */
                           "    direct_response: {status: 700}\n" /* 13 */
                           "  - cluster: backend\n"               /* 14 */
                           "- name: main\n"                       /* 15 */
                           "  address: 127.0.0.1:8080\n"          /* 16 */
                           "  routes: []\n"                       /* 17 */
                           "- name: \"bad name\"\n"               /* 18 */
                           "  address: 127.0.0.1:8081\n"          /* 19 */
                           "clusters:\n"                          /* 20 */
                           "- name: backend\n"                    /* 21 */
                           "  endpoints: [127.0.0.1:9000]\n"      /* 22 */
                           "- name: backend\n"                    /* 23 */
                           "  endpoints: []\n"                    /* 24 */
                           "- endpoints: [1.2.3.4:5]\n");         /* 25 */
    assert_has_line(e, "boot.yaml:4:14: listeners[0].direction: unknown direction \"sideways\" "
                       "(expected inbound or outbound)");
    assert_has_line(e, "boot.yaml:7:14: listeners[0].routes[0].cluster: unknown cluster \"nope\"");
    assert_has_line(e, "boot.yaml:8:20: listeners[0].routes[1].match.exact: \"foo\" must start "
                       "with '/'");
    assert_has_line(e, "boot.yaml:8:5: listeners[0].routes[1]: set either \"cluster\" or "
                       "\"direct_response\", not both");
    assert_has_line(e, "boot.yaml:11:12: listeners[0].routes[2].match: set either \"prefix\" or "
                       "\"exact\", not both");
    assert_has_line(e, "boot.yaml:11:5: listeners[0].routes[2]: needs \"cluster\" or "
                       "\"direct_response\"");
    assert_has_line(e, "boot.yaml:12:12: listeners[0].routes[3].match: needs \"prefix\" or "
                       "\"exact\"");
    assert_has_line(e, "boot.yaml:12:19: listeners[0].routes[3].match.host: \"bad host\" is not "
                       "a host name (wildcards: \"*.example.com\")");
    assert_has_line(e, "boot.yaml:13:31: listeners[0].routes[3].direct_response.status: 700 is "
                       "out of range (200..599)");
    assert_has_line(e, "boot.yaml:14:5: listeners[0].routes[4]: missing required key \"match\"");
    assert_has_line(e, "boot.yaml:15:9: listeners[1].name: duplicate listener name \"main\" "
                       "(also listeners[0])");
    assert_has_line(e, "boot.yaml:16:12: listeners[1].address: address 127.0.0.1:8080 is already "
                       "used by listeners[0]");
    assert_has_line(e, "boot.yaml:17:11: listeners[1].routes: a listener needs at least one route");
    assert_has_line(e, "boot.yaml:18:9: listeners[2].name: listener name \"bad name\" may only use "
                       "letters, digits, '_', '-' and '.'");
    assert_has_line(e, "boot.yaml:18:3: listeners[2]: missing required key \"routes\"");
    assert_has_line(e, "boot.yaml:23:9: clusters[1].name: duplicate cluster name \"backend\" "
                       "(also clusters[0])");
    assert_has_line(e, "boot.yaml:24:14: clusters[1].endpoints: a cluster needs at least one "
                       "endpoint");
    assert_has_line(e, "boot.yaml:25:3: clusters[2]: missing required key \"name\"");
    assert_int_equal(count_lines(e), 18);
    free(e);
}

static void test_error_documents(void **state)
{
    expect_error("", "boot.yaml: the configuration is empty (at least \"listeners\" is required)");
    expect_error("# only a comment\n",
                 "boot.yaml: the configuration is empty (at least \"listeners\" is required)");
    expect_error("workers: 2\n", "boot.yaml:1:1: missing required key \"listeners\"");
    expect_error("listeners: []\n", "boot.yaml:1:12: listeners: at least one listener is required");
    expect_error("- a\n- b\n", "boot.yaml:1:1: expected a mapping, got a list");
    expect_error(LISTENER "---\nworkers: 2\n",
                 "boot.yaml:8:1: expected a single YAML document, found 2");
    expect_error("workers: 2\nlisteners: [\n",
                 "boot.yaml:3:1: YAML syntax error: did not find expected node content while "
                 "parsing a flow node (line 3)");
    expect_error("a: &x [*x]\n", "boot.yaml:1:8: alias \"*x\" refers to a node that contains it");
    expect_error("a: *nope\n", "boot.yaml:1:4: unknown anchor \"nope\"");
}

/* Anchors and aliases work as everywhere in YAML. */
static void test_aliases(void **state)
{
    wg_config *c = parse_ok("listeners:\n"
                            "- name: a\n"
                            "  address: 127.0.0.1:1\n"
                            "  routes: &routes\n"
                            "  - {match: {prefix: /}, direct_response: {status: 201}}\n"
                            "- name: b\n"
                            "  address: 127.0.0.1:2\n"
                            "  routes: *routes\n");
    assert_int_equal(c->nlisteners, 2);
    assert_int_equal(c->listeners[1].nroutes, 1);
    assert_int_equal(c->listeners[1].routes[0].direct_status, 201);
    wg_config_free(c);
}

/* ---- the YAML kit ----------------------------------------------------------------- */

static void test_yaml_resolve(void **state)
{
    static const struct {
        const char *yaml;
        wg_config_yaml_type type;
        double f;
        int64_t i;
        bool b;
    } cases[] = {
        {"v: ~", WG_CONFIG_YAML_NULL, 0, 0, false},
        {"v:", WG_CONFIG_YAML_NULL, 0, 0, false},
        {"v: Null", WG_CONFIG_YAML_NULL, 0, 0, false},
        {"v: true", WG_CONFIG_YAML_BOOL, 0, 0, true},
        {"v: yes", WG_CONFIG_YAML_BOOL, 0, 0, true},
        {"v: On", WG_CONFIG_YAML_BOOL, 0, 0, true},
        {"v: n", WG_CONFIG_YAML_BOOL, 0, 0, false},
        {"v: FALSE", WG_CONFIG_YAML_BOOL, 0, 0, false},
        {"v: 42", WG_CONFIG_YAML_INT, 42, 42, false},
        {"v: -7", WG_CONFIG_YAML_INT, -7, -7, false},
        {"v: +7", WG_CONFIG_YAML_INT, 7, 7, false},
        {"v: 1_000", WG_CONFIG_YAML_INT, 1000, 1000, false},
        {"v: 0x1F", WG_CONFIG_YAML_INT, 31, 31, false},
        {"v: 0o17", WG_CONFIG_YAML_INT, 15, 15, false},
        {"v: 0755", WG_CONFIG_YAML_INT, 493, 493, false},
        {"v: 0b101", WG_CONFIG_YAML_INT, 5, 5, false},
        {"v: 9223372036854775807", WG_CONFIG_YAML_INT, 9223372036854775807.0, INT64_MAX, false},
        {"v: 1.5", WG_CONFIG_YAML_FLOAT, 1.5, 0, false},
        {"v: .5", WG_CONFIG_YAML_FLOAT, 0.5, 0, false},
        {"v: 1e3", WG_CONFIG_YAML_FLOAT, 1000, 0, false},
        {"v: 08", WG_CONFIG_YAML_FLOAT, 8, 0, false},
        {"v: -.inf", WG_CONFIG_YAML_FLOAT, -INFINITY, 0, false},
        {"v: \"42\"", WG_CONFIG_YAML_STRING, 0, 0, false},
        {"v: '1.5'", WG_CONFIG_YAML_STRING, 0, 0, false},
        {"v: !!str 42", WG_CONFIG_YAML_STRING, 0, 0, false},
        {"v: !!int \"42\"", WG_CONFIG_YAML_INT, 42, 42, false},
        {"v: |\n  42\n", WG_CONFIG_YAML_STRING, 0, 0, false},
        {"v: 1e400", WG_CONFIG_YAML_STRING, 0, 0, false},
        {"v: 2001-12-14", WG_CONFIG_YAML_STRING, 0, 0, false},
        {"v: 12:30", WG_CONFIG_YAML_STRING, 0, 0, false},
        {"v: _1", WG_CONFIG_YAML_STRING, 0, 0, false},
        {"v: hello", WG_CONFIG_YAML_STRING, 0, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wg_config_reader r;
        wg_config_reader_init(&r, "t", NULL, NULL);
        wg_config_yaml *y = wg_config_yaml_parse(cases[i].yaml, strlen(cases[i].yaml), 1, &r);
        assert_non_null(y);
        assert_int_equal(r.nerrors, 0);
        const wg_config_yaml_node *v = wg_config_yaml_get(wg_config_yaml_doc(y, 0), "v");
        assert_non_null(v);
        wg_config_yaml_value val;
        wg_config_yaml_type t = wg_config_yaml_resolve(v, &val);
        if (t != cases[i].type)
            fprintf(stderr, "%s: type %d\n", cases[i].yaml, (int)t);
        assert_int_equal(t, cases[i].type);
        if (t == WG_CONFIG_YAML_INT) {
            assert_int_equal(val.i, cases[i].i);
            assert_true(val.f == cases[i].f);
        } else if (t == WG_CONFIG_YAML_FLOAT) {
            assert_true(val.f == cases[i].f);
        } else if (t == WG_CONFIG_YAML_BOOL) {
            assert_int_equal(val.b, cases[i].b);
        }
        wg_config_yaml_free(y);
    }
}

static void test_yaml_positions_and_docs(void **state)
{
    const char *text = "a: 1\n---\nb:\n  - x\n  - {y: z}\n--- \n";
    wg_config_reader r;
    wg_config_reader_init(&r, "t", NULL, NULL);
    wg_config_yaml *y = wg_config_yaml_parse(text, strlen(text), 10, &r);
    assert_non_null(y);
    assert_int_equal(r.nerrors, 0);
    assert_int_equal(wg_config_yaml_ndocs(y), 3);
    const wg_config_yaml_node *b = wg_config_yaml_get(wg_config_yaml_doc(y, 1), "b");
    assert_non_null(b);
    assert_int_equal(b->kind, WG_CONFIG_YAML_SEQUENCE);
    assert_int_equal(b->count, 2);
    assert_int_equal(b->line, 13); /* first_line 10 + 3 */
    assert_int_equal(b->column, 3);
    const wg_config_yaml_node *m = b->items[1];
    assert_int_equal(m->kind, WG_CONFIG_YAML_MAPPING);
    assert_int_equal(m->count, 1);
    assert_string_equal(m->items[0]->text, "y");
    assert_string_equal(m->items[1]->text, "z");
    assert_int_equal(m->items[1]->line, 14);
    assert_int_equal(m->items[1]->column, 9);
    assert_true(wg_config_yaml_is_null(wg_config_yaml_doc(y, 2)));
    assert_null(wg_config_yaml_doc(y, 3));
    wg_config_yaml_free(y);

    /* an embedded NUL survives, with its length */
    text = "s: \"a\\0b\"\n";
    y = wg_config_yaml_parse(text, strlen(text), 1, &r);
    const wg_config_yaml_node *s = wg_config_yaml_get(wg_config_yaml_doc(y, 0), "s");
    assert_int_equal(s->len, 3);
    assert_memory_equal(s->text, "a\0b", 3);
    wg_config_yaml_free(y);

    /* nesting is bounded */
    char deep[1200];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    wg_buf errors = {0};
    wg_config_reader_init(&r, "deep", &errors, NULL);
    y = wg_config_yaml_parse(deep, sizeof deep, 1, &r);
    assert_non_null(y);
    assert_int_equal(r.nerrors, 1);
    assert_true(wg_buf_append(&errors, "", 1));
    assert_string_equal((const char *)errors.data,
                        "deep:1:257: YAML nested deeper than 256 levels\n");
    wg_buf_free(&errors);
    wg_config_yaml_free(y);
}

/* ---- the JSON dump ---------------------------------------------------------------- */

static void test_dump_json(void **state)
{
    wg_config *c = parse_ok("admin: {address: \"[::1]:9901\"}\n"
                            "workers: 3\n"
                            "node: {labels: {app: demo}}\n"
                            "clusters: [{name: b, endpoints: [127.0.0.1:9000]}]\n"
                            "listeners:\n"
                            "- name: main\n"
                            "  address: 127.0.0.1:8080\n"
                            "  direction: outbound\n"
                            "  routes:\n"
                            "  - {match: {prefix: /x}, cluster: b}\n"
                            "  - {match: {exact: /}, direct_response: {status: 200, body: hi}}\n");
    wg_buf out = {0};
    assert_true(wg_config_dump_json(c, &out));
    json_error_t err;
    json_t *j = json_loadb((const char *)out.data, out.len, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "admin"), "address")),
                        "[::1]:9901");
    assert_int_equal(json_integer_value(json_object_get(j, "workers")), 3);
    assert_true(json_is_true(json_object_get(j, "access_log")));
    assert_true(json_is_null(json_object_get(j, "log_level")));
    json_t *node = json_object_get(j, "node");
    assert_string_equal(json_string_value(json_object_get(node, "namespace")), "default");
    assert_string_equal(json_string_value(json_object_get(json_object_get(node, "labels"), "app")),
                        "demo");
    json_t *l = json_array_get(json_object_get(j, "listeners"), 0);
    assert_string_equal(json_string_value(json_object_get(l, "direction")), "outbound");
    json_t *routes = json_object_get(l, "routes");
    assert_int_equal(json_array_size(routes), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(routes, 0), "cluster")),
                        "b");
    json_t *dr = json_object_get(json_array_get(routes, 1), "direct_response");
    assert_int_equal(json_integer_value(json_object_get(dr, "status")), 200);
    assert_string_equal(json_string_value(json_object_get(dr, "body")), "hi");
    json_t *cl = json_array_get(json_object_get(j, "clusters"), 0);
    assert_int_equal(json_integer_value(json_object_get(cl, "connect_timeout_ms")), 1000);
    assert_int_equal(json_integer_value(json_object_get(cl, "response_timeout_ms")), 15000);
    json_t *limits = json_object_get(j, "limits");
    assert_int_equal(json_integer_value(json_object_get(limits, "max_request_head_bytes")), 61440);
    assert_int_equal(json_integer_value(json_object_get(limits, "drain_timeout_ms")), 30000);
    json_t *plugins = json_object_get(j, "plugins");
    assert_true(json_is_null(json_object_get(plugins, "manifests")));
    assert_string_equal(json_string_value(json_object_get(plugins, "root_namespace")),
                        "istio-system");
    assert_int_equal(json_integer_value(json_object_get(plugins, "max_memory_bytes")), 256 << 20);
    assert_int_equal(json_integer_value(json_object_get(plugins, "cache_unused_ttl_s")), 86400);
    json_decref(j);
    wg_buf_free(&out);
    wg_config_free(c);
}

static void test_example_file(void **state)
{
    /* examples/wasmgate.yaml must stay valid (the test runs from the build
     * tree; the source tree is found through this file's path). */
    char path[1024];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strstr(path, "tests/unit/test_config.c");
    if (!slash)
        fail_msg("cannot find the source tree from %s", __FILE__);
    strcpy(slash, "examples/wasmgate.yaml");
    wg_buf errors = {0};
    wg_config *c = wg_config_load(path, &errors);
    if (!c)
        fprintf(stderr, "%.*s", (int)errors.len, (const char *)errors.data);
    assert_non_null(c);
    assert_int_equal(c->listeners[0].address.port, 8080);
    assert_int_equal(c->admin.port, 9901);
    assert_string_equal(c->listeners[0].routes[0].direct_body, "hello from wasmgate\n");
    size_t n = strlen(c->plugins.manifests);
    assert_true(n > 21);
    assert_string_equal(c->plugins.manifests + n - 21, "/examples/wasmplugins");
    wg_config_free(c);
    wg_buf_free(&errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_resolve_path),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_error_address),
        cmocka_unit_test(test_error_unknown_keys),
        cmocka_unit_test(test_error_types_and_ranges),
        cmocka_unit_test(test_error_listeners_and_routes),
        cmocka_unit_test(test_error_documents),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_yaml_resolve),
        cmocka_unit_test(test_yaml_positions_and_docs),
        cmocka_unit_test(test_dump_json),
        cmocka_unit_test(test_example_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
