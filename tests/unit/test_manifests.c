/*
 * test_manifests.c - WasmPlugin manifests and pull Secrets (src/plugins):
 * every field, validation errors with their positions, documents that
 * fail alone, pluginConfig to JSON, env, URLs, selection and ordering.
 */
#include "plugins/plugins.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------------- */

typedef struct parsed {
    wg_plugins_set *set;
    size_t nerrors;
    char *errors; /* NUL-terminated */
    char *warnings;
} parsed;

static char *take(wg_buf *b)
{
    assert_true(wg_buf_append(b, "", 1));
    return (char *)b->data;
}

static parsed parse_text(const char *yaml)
{
    parsed p = {0};
    wg_buf errors = {0}, warnings = {0};
    p.set = wg_plugins_set_new();
    assert_non_null(p.set);
    p.nerrors =
        wg_plugins_parse(p.set, yaml, strlen(yaml), "wasmplugins/auth.yaml", &errors, &warnings);
    p.errors = take(&errors);
    p.warnings = take(&warnings);
    return p;
}

static void parsed_free(parsed *p)
{
    wg_plugins_set_free(p->set);
    free(p->errors);
    free(p->warnings);
}

/* One valid WasmPlugin: returns the set (the manifest is manifests[0]). */
static parsed parse_one(const char *yaml)
{
    parsed p = parse_text(yaml);
    if (p.nerrors)
        fprintf(stderr, "unexpected errors:\n%s", p.errors);
    assert_int_equal(p.nerrors, 0);
    assert_int_equal(p.set->nmanifests, 1);
    return p;
}

static void assert_has_line(const char *text, const char *expected)
{
    size_t elen = strlen(expected);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == elen && memcmp(p, expected, elen) == 0)
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

#define HEAD(name)                                                                                 \
    "apiVersion: extensions.istio.io/v1alpha1\n"                                                   \
    "kind: WasmPlugin\n"                                                                           \
    "metadata: {name: " name "}\n"

/* A plugin whose spec is `spec` (lines after "spec:", indented). */
#define PLUGIN(name, spec) HEAD(name) "spec:\n  url: oci://ghcr.io/org/mod:1.0\n" spec

static void expect_error(const char *yaml, const char *line)
{
    parsed p = parse_text(yaml);
    assert_true(p.nerrors > 0);
    assert_int_equal(p.set->nmanifests, 0);
    assert_has_line(p.errors, line);
    parsed_free(&p);
}

/* The JSON a pluginConfig (given as YAML lines under "pluginConfig:")
 * becomes. */
static void expect_json(const char *config_lines, const char *json)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s", PLUGIN("p", "  pluginConfig:\n"));
    strncat(yaml, config_lines, sizeof yaml - strlen(yaml) - 1);
    parsed p = parse_one(yaml);
    const wg_manifest *m = p.set->manifests[0];
    if (strcmp(m->plugin_config, json) != 0)
        fprintf(stderr, "pluginConfig:\n%s\ngot:      %s\nexpected: %s\n", config_lines,
                m->plugin_config, json);
    assert_string_equal(m->plugin_config, json);
    assert_int_equal(m->plugin_config_len, strlen(json));
    parsed_free(&p);
}

/* ---- a complete manifest --------------------------------------------------------- */

static void test_every_field(void **state)
{
    setenv("WG_TEST_HOST_VAR", "from-host", 1);
    unsetenv("WG_TEST_ABSENT_VAR");
    parsed p =
        parse_one("apiVersion: extensions.istio.io/v1alpha1\n"
                  "kind: WasmPlugin\n"
                  "metadata:\n"
                  "  name: basic-auth\n"
                  "  namespace: shop\n"
                  "  resourceVersion: \"42\"\n"
                  "  labels: {team: a}\n"
                  "spec:\n"
                  "  selector:\n"
                  "    matchLabels: {app: demo, tier: web}\n"
                  "  url: oci://ghcr.io/org/basic-auth:1.0\n"
                  "  sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
                  "  imagePullPolicy: Always\n"
                  "  imagePullSecret: pull\n"
                  "  pluginConfig: {realm: test}\n"
                  "  pluginName: basic_auth_root\n"
                  "  phase: AUTHN\n"
                  "  priority: -5\n"
                  "  failStrategy: FAIL_OPEN\n"
                  "  type: HTTP\n"
                  "  vmConfig:\n"
                  "    env:\n"
                  "    - {name: MODE, value: strict}\n"
                  "    - {name: EMPTY}\n"
                  "    - {name: WG_TEST_HOST_VAR, valueFrom: HOST}\n"
                  "    - {name: WG_TEST_ABSENT_VAR, valueFrom: HOST}\n"
                  "    - {name: EXPLICIT, valueFrom: INLINE, value: x=y}\n"
                  "  match:\n"
                  "  - mode: SERVER\n"
                  "    ports: [{number: 8080}, {number: 9090}]\n"
                  "  - mode: CLIENT\n");
    const wg_manifest *m = p.set->manifests[0];
    assert_string_equal(m->file, "wasmplugins/auth.yaml");
    assert_int_equal(m->document, 1);
    assert_int_equal(m->line, 1);
    assert_string_equal(m->name, "basic-auth");
    assert_string_equal(m->namespace, "shop");
    assert_string_equal(m->resource_version, "42");
    assert_true(m->has_selector);
    assert_int_equal(m->nmatch_labels, 2);
    assert_string_equal(m->match_labels[0].key, "app");
    assert_string_equal(m->match_labels[0].value, "demo");
    assert_string_equal(m->match_labels[1].key, "tier");
    assert_int_equal(m->ntarget_refs, 0);
    assert_string_equal(m->url.raw, "oci://ghcr.io/org/basic-auth:1.0");
    assert_int_equal(m->url.scheme, WG_MANIFEST_SCHEME_OCI);
    assert_false(m->url.scheme_implicit);
    assert_string_equal(m->url.location, "ghcr.io/org/basic-auth:1.0");
    assert_string_equal(m->url.registry, "ghcr.io");
    assert_string_equal(m->url.repository, "org/basic-auth");
    assert_string_equal(m->url.tag, "1.0");
    assert_null(m->url.digest);
    assert_string_equal(m->sha256,
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_int_equal(m->image_pull_policy, WG_MANIFEST_PULL_ALWAYS);
    assert_string_equal(m->image_pull_secret, "pull");
    assert_string_equal(m->plugin_config, "{\"realm\":\"test\"}");
    assert_string_equal(m->plugin_name, "basic_auth_root");
    assert_int_equal(m->phase, WG_MANIFEST_PHASE_AUTHN);
    assert_true(m->priority_set);
    assert_int_equal(m->priority, -5);
    assert_int_equal(m->fail_strategy, WG_MANIFEST_FAIL_OPEN);

    /* env: HOST read now, absent HOST variables left out */
    assert_int_equal(m->nenv, 4);
    assert_string_equal(m->env[0].name, "MODE");
    assert_int_equal(m->env[0].source, WG_MANIFEST_ENV_INLINE);
    assert_string_equal(m->env[0].value, "strict");
    assert_string_equal(m->env[0].pair, "MODE=strict");
    assert_string_equal(m->env[1].pair, "EMPTY=");
    assert_string_equal(m->env[2].name, "WG_TEST_HOST_VAR");
    assert_int_equal(m->env[2].source, WG_MANIFEST_ENV_HOST);
    assert_string_equal(m->env[2].value, "from-host");
    assert_string_equal(m->env[2].pair, "WG_TEST_HOST_VAR=from-host");
    assert_string_equal(m->env[3].pair, "EXPLICIT=x=y");

    assert_int_equal(m->nmatch, 2);
    assert_int_equal(m->match[0].mode, WG_MANIFEST_MODE_SERVER);
    assert_int_equal(m->match[0].nports, 2);
    assert_int_equal(m->match[0].ports[0], 8080);
    assert_int_equal(m->match[0].ports[1], 9090);
    assert_int_equal(m->match[1].mode, WG_MANIFEST_MODE_CLIENT);
    assert_int_equal(m->match[1].nports, 0);
    assert_string_equal(p.warnings, "");
    assert_ptr_equal(wg_plugins_find(p.set, "shop", "basic-auth"), m);
    assert_null(wg_plugins_find(p.set, "default", "basic-auth"));
    parsed_free(&p);
    unsetenv("WG_TEST_HOST_VAR");
}

static void test_defaults(void **state)
{
    parsed p = parse_one(PLUGIN("minimal", ""));
    const wg_manifest *m = p.set->manifests[0];
    assert_string_equal(m->namespace, "default");
    assert_null(m->resource_version);
    assert_false(m->has_selector);
    assert_null(m->sha256);
    assert_int_equal(m->image_pull_policy, WG_MANIFEST_PULL_UNSPECIFIED);
    assert_null(m->image_pull_secret);
    assert_string_equal(m->plugin_config, ""); /* absent: an empty configuration */
    assert_int_equal(m->plugin_config_len, 0);
    assert_string_equal(m->plugin_name, "");
    assert_int_equal(m->phase, WG_MANIFEST_PHASE_UNSPECIFIED);
    assert_false(m->priority_set);
    assert_int_equal(m->priority, INT32_MIN);
    assert_int_equal(m->fail_strategy, WG_MANIFEST_FAIL_CLOSE);
    assert_int_equal(m->nenv, 0);
    assert_int_equal(m->nmatch, 0);
    parsed_free(&p);

    /* explicit "unspecified" spellings */
    p = parse_one(PLUGIN("explicit", "  phase: UNSPECIFIED_PHASE\n"
                                     "  imagePullPolicy: UNSPECIFIED_POLICY\n"
                                     "  type: UNSPECIFIED_PLUGIN_TYPE\n"
                                     "  failStrategy: FAIL_RELOAD\n"
                                     "  priority: 0\n"
                                     "  sha256: \"\"\n"
                                     "  pluginConfig: {}\n"));
    m = p.set->manifests[0];
    assert_int_equal(m->phase, WG_MANIFEST_PHASE_UNSPECIFIED);
    assert_int_equal(m->fail_strategy, WG_MANIFEST_FAIL_RELOAD);
    assert_true(m->priority_set);
    assert_int_equal(m->priority, 0);
    assert_null(m->sha256);
    assert_string_equal(m->plugin_config, "");
    parsed_free(&p);
}

/* ---- pluginConfig ---------------------------------------------------------------- */

static void test_plugin_config_json(void **state)
{
    /* nested maps and lists, keys sorted, compact */
    expect_json("    z: 1\n"
                "    a:\n"
                "      nested: {list: [1, two, {three: 3}], empty_list: [], empty_map: {}}\n"
                "    m: [[1, 2], [true, null]]\n",
                "{\"a\":{\"nested\":{\"empty_list\":[],\"empty_map\":{},"
                "\"list\":[1,\"two\",{\"three\":3}]}},\"m\":[[1,2],[true,null]],\"z\":1}");
    /* numbers: integers stay integers, reals shortest, as doubles */
    expect_json("    int: 8080\n"
                "    neg: -42\n"
                "    real: 0.1\n"
                "    half: 1.5\n"
                "    one_point_zero: 1.0\n"
                "    exp: 1e3\n"
                "    tiny: 1.25e-7\n"
                "    huge: 1e21\n"
                "    hex: 0x1F\n"
                "    octal: 0755\n"
                "    underscores: 1_000_000\n"
                "    beyond_2_53: 9007199254740993\n"
                "    max_int64: 9223372036854775807\n",
                "{\"beyond_2_53\":9007199254740992,\"exp\":1000,\"half\":1.5,\"hex\":31,"
                "\"huge\":1e+21,\"int\":8080,\"max_int64\":9223372036854776000,"
                "\"neg\":-42,\"octal\":493,\"one_point_zero\":1,\"real\":0.1,"
                "\"tiny\":1.25e-7,\"underscores\":1000000}");
    expect_json("    a: 0.000001\n    b: 123456789.125\n    c: -0.0\n    d: 1e20\n"
                "    e: 0.30000000000000004\n    f: 5e-324\n    g: 1.7976931348623157e308\n",
                "{\"a\":0.000001,\"b\":123456789.125,\"c\":-0,\"d\":100000000000000000000,"
                "\"e\":0.30000000000000004,\"f\":5e-324,\"g\":1.7976931348623157e+308}");
    expect_json("    a: 0.1\n    b: 2.5\n    c: 123.456\n", "{\"a\":0.1,\"b\":2.5,\"c\":123.456}");
    /* booleans and nulls, YAML 1.1 spellings as kubectl reads them */
    expect_json("    t: true\n    word_yes: yes\n    o: On\n    f: false\n    word_n: n\n"
                "    nul: null\n    tilde: ~\n    empty:\n",
                "{\"empty\":null,\"f\":false,\"nul\":null,\"o\":true,\"t\":true,"
                "\"tilde\":null,\"word_n\":false,\"word_yes\":true}");
    /* quoted scalars stay strings, whatever they look like */
    expect_json("    q1: \"123\"\n"
                "    q2: '1.5'\n"
                "    q3: \"true\"\n"
                "    q4: 'null'\n"
                "    q5: !!str 42\n"
                "    block: |\n"
                "      42\n"
                "    plain_text: hello world\n"
                "    version: 1.0.0\n"
                "    date: 2024-01-02\n",
                "{\"block\":\"42\\n\",\"date\":\"2024-01-02\",\"plain_text\":\"hello world\","
                "\"q1\":\"123\",\"q2\":\"1.5\",\"q3\":\"true\",\"q4\":\"null\",\"q5\":\"42\","
                "\"version\":\"1.0.0\"}");
    /* escaping, non-ASCII, NUL */
    expect_json("    s: \"quote\\\" backslash\\\\ tab\\t nl\\n nul\\0 \\u00e9\"\n",
                "{\"s\":\"quote\\\" backslash\\\\ tab\\t nl\\n nul\\u0000 \xc3\xa9\"}");
    /* keys resolved as kubectl does: `yes:` is "true", `0x10:` is "16" */
    expect_json("    yes: 1\n    0x10: 2\n    \"0x10q\": 3\n    ~: 4\n    n: 5\n    \"y\": 6\n",
                "{\"0x10q\":3,\"16\":2,\"false\":5,\"null\":4,\"true\":1,\"y\":6}");
    /* aliases expand */
    expect_json("    a: &x {k: v}\n    b: *x\n", "{\"a\":{\"k\":\"v\"},\"b\":{\"k\":\"v\"}}");
}

static void test_plugin_config_errors(void **state)
{
    expect_error(PLUGIN("p", "  pluginConfig: [1, 2]\n"),
                 "wasmplugins/auth.yaml:6:17: document 1 (default/p): spec.pluginConfig: expected "
                 "a mapping (it becomes a JSON object)");
    expect_error(PLUGIN("p", "  pluginConfig: {a: {b: .inf}}\n"),
                 "wasmplugins/auth.yaml:6:25: document 1 (default/p): spec.pluginConfig.a.b: .inf "
                 "is not a finite number (JSON has no Infinity or NaN)");
    expect_error(PLUGIN("p", "  pluginConfig: {a: [1, .nan]}\n"),
                 "wasmplugins/auth.yaml:6:25: document 1 (default/p): spec.pluginConfig.a[1]: "
                 ".nan is not a finite number (JSON has no Infinity or NaN)");
    expect_error(PLUGIN("p", "  pluginConfig: {a: 1, a: 2}\n"),
                 "wasmplugins/auth.yaml:6:24: document 1 (default/p): spec.pluginConfig.a: "
                 "duplicate key");
    expect_error(PLUGIN("p", "  pluginConfig: {on: 1, true: 2}\n"),
                 "wasmplugins/auth.yaml:6:25: document 1 (default/p): spec.pluginConfig.true: "
                 "duplicate key");
    expect_error(PLUGIN("p", "  pluginConfig: {[a]: 1}\n"),
                 "wasmplugins/auth.yaml:6:18: document 1 (default/p): spec.pluginConfig: keys "
                 "must be scalars");

    /* a billion laughs stops early */
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%s",
             PLUGIN("p", "  pluginConfig:\n"
                         "    a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                         "    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                         "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                         "    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                         "    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                         "    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                         "    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"));
    parsed p = parse_text(yaml);
    assert_int_equal(p.nerrors, 1);
    assert_non_null(strstr(p.errors, "more than 100000 values (aliases expanding?)"));
    parsed_free(&p);
}

/* ---- validation ------------------------------------------------------------------ */

static void test_validation_errors(void **state)
{
    expect_error(PLUGIN("p", "  phase: AUTH\n"),
                 "wasmplugins/auth.yaml:6:10: document 1 (default/p): spec.phase: unknown phase "
                 "\"AUTH\" (expected UNSPECIFIED_PHASE, AUTHN, AUTHZ or STATS)");
    expect_error(PLUGIN("p", "  type: NETWORK\n"),
                 "wasmplugins/auth.yaml:6:9: document 1 (default/p): spec.type: type NETWORK is "
                 "not supported yet: wasmgate has no L4 filters");
    expect_error(PLUGIN("p", "  pluginconfig: {}\n"),
                 "wasmplugins/auth.yaml:6:3: document 1 (default/p): spec.pluginconfig: unknown "
                 "key \"pluginconfig\" (did you mean \"pluginConfig\"?)");
    expect_error(PLUGIN("p", "  sha256: ABCDEF\n"),
                 "wasmplugins/auth.yaml:6:11: document 1 (default/p): spec.sha256: \"ABCDEF\" is "
                 "not 64 lower-case hex digits");
    expect_error(PLUGIN("p", "  sha256: 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789"
                             "abcdef\n"),
                 "wasmplugins/auth.yaml:6:11: document 1 (default/p): spec.sha256: "
                 "\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\" is not 64 "
                 "lower-case hex digits");
    expect_error(PLUGIN("p", "  imagePullPolicy: always\n"),
                 "wasmplugins/auth.yaml:6:20: document 1 (default/p): spec.imagePullPolicy: "
                 "unknown imagePullPolicy \"always\" (expected UNSPECIFIED_POLICY, IfNotPresent "
                 "or Always)");
    expect_error(PLUGIN("p", "  failStrategy: FAIL_CLOSED\n"),
                 "wasmplugins/auth.yaml:6:17: document 1 (default/p): spec.failStrategy: unknown "
                 "failStrategy \"FAIL_CLOSED\" (expected FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD)");
    expect_error(PLUGIN("p", "  priority: 2147483648\n"),
                 "wasmplugins/auth.yaml:6:13: document 1 (default/p): spec.priority: 2147483648 "
                 "is out of range (-2147483648..2147483647)");
    expect_error(PLUGIN("p", "  match: [{mode: BOTH}]\n"),
                 "wasmplugins/auth.yaml:6:18: document 1 (default/p): spec.match[0].mode: unknown "
                 "mode \"BOTH\" (expected UNDEFINED, CLIENT, SERVER or CLIENT_AND_SERVER)");
    expect_error(PLUGIN("p", "  match: [{ports: [{number: 0}]}]\n"),
                 "wasmplugins/auth.yaml:6:29: document 1 (default/p): spec.match[0].ports[0]."
                 "number: 0 is out of range (1..65535)");
    expect_error(PLUGIN("p", "  match: [{ports: [8080]}]\n"),
                 "wasmplugins/auth.yaml:6:20: document 1 (default/p): spec.match[0].ports[0]: "
                 "expected a mapping, got an integer");
    expect_error(PLUGIN("p", "  selector: {matchLabels: {app: demo}}\n"
                             "  targetRefs: [{kind: Gateway, name: gw}]\n"),
                 "wasmplugins/auth.yaml:5:3: document 1 (default/p): spec: at most one of "
                 "selector, targetRef and targetRefs may be set");
    expect_error(PLUGIN("p", "  targetRef: {kind: Gateway, name: a}\n"
                             "  targetRefs: [{kind: Gateway, name: gw}]\n"),
                 "wasmplugins/auth.yaml:5:3: document 1 (default/p): spec: at most one of "
                 "selector, targetRef and targetRefs may be set");
    expect_error(PLUGIN("p", "  targetRefs: [{kind: Deployment, name: x}]\n"),
                 "wasmplugins/auth.yaml:6:23: document 1 (default/p): spec.targetRefs[0].kind: "
                 "unsupported kind \"Deployment\" (expected Gateway, GatewayClass, Service or "
                 "ServiceEntry)");
    expect_error(
        PLUGIN("p", "  targetRefs: [{kind: Gateway, group: networking.istio.io, name: x}]\n"),
        "wasmplugins/auth.yaml:6:39: document 1 (default/p): spec.targetRefs[0].group: "
        "group \"networking.istio.io\" does not fit kind Gateway (expected "
        "\"gateway.networking.k8s.io\")");
    expect_error(PLUGIN("p", "  targetRefs: [{kind: Gateway, name: x, namespace: other}]\n"),
                 "wasmplugins/auth.yaml:6:52: document 1 (default/p): spec.targetRefs[0]."
                 "namespace: cross-namespace references are not supported: leave namespace empty");
    expect_error(PLUGIN("p", "  targetRefs: [{kind: Gateway}]\n"),
                 "wasmplugins/auth.yaml:6:16: document 1 (default/p): spec.targetRefs[0]: "
                 "missing required key \"name\"");
    expect_error(
        PLUGIN("p", "  selector: {matchLabels: {\"app*\": x}}\n"),
        "wasmplugins/auth.yaml:6:28: document 1 (default/p): spec.selector.matchLabels"
        "[\"app*\"]: label keys must be non-empty, and keys and values may not contain '*'");
    expect_error(HEAD("p") "spec:\n  phase: AUTHN\n",
                 "wasmplugins/auth.yaml:5:3: document 1 (default/p): spec: missing required key "
                 "\"url\"");
    expect_error(HEAD("p"), "wasmplugins/auth.yaml:1:1: document 1 (default/p): missing required "
                            "key \"spec\"");
    expect_error("apiVersion: extensions.istio.io/v1beta1\nkind: WasmPlugin\n"
                 "metadata: {name: p}\nspec: {url: x}\n",
                 "wasmplugins/auth.yaml:1:13: document 1: apiVersion: \"extensions.istio.io/"
                 "v1beta1\" is not supported for kind WasmPlugin (expected "
                 "extensions.istio.io/v1alpha1)");
    expect_error("apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
                 "metadata: {namespace: Bad_NS}\nspec: {url: x}\n",
                 "wasmplugins/auth.yaml:3:23: document 1: metadata.namespace: \"Bad_NS\" is not a "
                 "valid namespace (lower-case letters, digits and '-')");
    expect_error("apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
                 "metadata: {namespace: x}\nspec: {url: x}\n",
                 "wasmplugins/auth.yaml:3:11: document 1: metadata: missing required key \"name\"");
    expect_error("kind: [WasmPlugin]\n",
                 "wasmplugins/auth.yaml:1:7: document 1: kind: expected a string, got a list");
    expect_error("- a\n", "wasmplugins/auth.yaml:1:1: document 1: expected a Kubernetes object (a "
                          "mapping with apiVersion and kind)");
    expect_error("apiVersion: v1\n",
                 "wasmplugins/auth.yaml:1:1: document 1: missing required key \"kind\"");
}

static void test_env_errors(void **state)
{
    expect_error(PLUGIN("p", "  vmConfig:\n    env:\n    - {name: A, valueFrom: HOST, value: x}\n"),
                 "wasmplugins/auth.yaml:8:41: document 1 (default/p): spec.vmConfig.env[0].value: "
                 "a value may only be set when valueFrom is INLINE");
    expect_error(PLUGIN("p", "  vmConfig:\n    env:\n    - {name: A}\n    - {name: A, value: 2}\n"),
                 "wasmplugins/auth.yaml:9:14: document 1 (default/p): spec.vmConfig.env[1].name: "
                 "duplicate variable \"A\"");
    /* a HOST variable the environment lacks still counts as a name */
    unsetenv("WG_TEST_ABSENT_VAR");
    expect_error(PLUGIN("p", "  vmConfig:\n    env:\n"
                             "    - {name: WG_TEST_ABSENT_VAR, valueFrom: HOST}\n"
                             "    - {name: WG_TEST_ABSENT_VAR, valueFrom: HOST}\n"),
                 "wasmplugins/auth.yaml:9:14: document 1 (default/p): spec.vmConfig.env[1].name: "
                 "duplicate variable \"WG_TEST_ABSENT_VAR\"");
    expect_error(PLUGIN("p", "  vmConfig:\n    env:\n    - {name: \"A=B\"}\n"),
                 "wasmplugins/auth.yaml:8:14: document 1 (default/p): spec.vmConfig.env[0].name: "
                 "\"A=B\" must be 1 to 256 characters without '='");
    expect_error(PLUGIN("p", "  vmConfig:\n    env:\n    - {name: A, valueFrom: FILE}\n"),
                 "wasmplugins/auth.yaml:8:28: document 1 (default/p): spec.vmConfig.env[0]."
                 "valueFrom: unknown valueFrom \"FILE\" (expected INLINE or HOST)");
    expect_error(PLUGIN("p", "  vmConfig:\n    envs: []\n"),
                 "wasmplugins/auth.yaml:7:5: document 1 (default/p): spec.vmConfig.envs: unknown "
                 "key \"envs\" (did you mean \"env\"?)");
}

/* ---- documents ------------------------------------------------------------------ */

static void test_documents_fail_alone(void **state)
{
    parsed p = parse_text("# a comment before the first separator\n"
                          "---\n" PLUGIN("first", "  phase: AUTHZ\n")               /* lines 3-8 */
                          "---\n"                                                   /* 9 */
                          "apiVersion: extensions.istio.io/v1alpha1\n"              /* 10 */
                          "kind: WasmPlugin\n"                                      /* 11 */
                          "metadata: {name: auth}\n"                                /* 12 */
                          "spec:\n"                                                 /* 13 */
                          "  url: oci://ghcr.io/org/auth:1\n"                       /* 14 */
                          "  phase: AUTH\n"                                         /* 15 */
                          "  priority: high\n"                                      /* 16 */
                          "--- # comment\n"                                         /* 17 */
                          "this: [is, not, closed\n"                                /* 18 */
                          "---\n"                                                   /* 19 */
                          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n" /* 20-22 */
                          "---\n"                                                   /* 23 */
                          "\n"                                                      /* 24 */
                          "---\n" PLUGIN("last", "")                                /* 26-30 */
                          "---\n" PLUGIN("first", ""));                             /* 32-36 */
    assert_int_equal(p.nerrors, 4);
    assert_int_equal(p.set->nmanifests, 2);
    assert_string_equal(p.set->manifests[0]->name, "first");
    assert_int_equal(p.set->manifests[0]->document, 1);
    assert_int_equal(p.set->manifests[0]->line, 3);
    assert_int_equal(p.set->manifests[0]->phase, WG_MANIFEST_PHASE_AUTHZ);
    assert_string_equal(p.set->manifests[1]->name, "last");
    assert_int_equal(p.set->manifests[1]->document, 5);
    assert_int_equal(p.set->manifests[1]->line, 26);
    assert_has_line(p.errors, "wasmplugins/auth.yaml:15:10: document 2 (default/auth): "
                              "spec.phase: unknown phase \"AUTH\" (expected UNSPECIFIED_PHASE, "
                              "AUTHN, AUTHZ or STATS)");
    assert_has_line(p.errors, "wasmplugins/auth.yaml:16:13: document 2 (default/auth): "
                              "spec.priority: expected an integer, got \"high\"");
    assert_has_line(p.errors, "wasmplugins/auth.yaml:19:1: document 3: YAML syntax error: did "
                              "not find expected ',' or ']' while parsing a flow sequence (line "
                              "18)");
    assert_has_line(p.errors, "wasmplugins/auth.yaml:32:1: document 6 (default/first): "
                              "WasmPlugin default/first is already defined "
                              "(wasmplugins/auth.yaml, document 1)");
    assert_int_equal(count_lines(p.errors), 4);
    assert_string_equal(p.warnings, "wasmplugins/auth.yaml:20:1: warning: document 4: kind "
                                    "ConfigMap v1 is not used by wasmgate; ignored\n");
    parsed_free(&p);
}

static void test_list_kind(void **state)
{
    parsed p = parse_text("apiVersion: v1\n"
                          "kind: List\n"
                          "items:\n"
                          "- apiVersion: extensions.istio.io/v1alpha1\n"
                          "  kind: WasmPlugin\n"
                          "  metadata: {name: a, namespace: x}\n"
                          "  spec: {url: oci://r.io/a:1}\n"
                          "- apiVersion: extensions.istio.io/v1alpha1\n"
                          "  kind: WasmPlugin\n"
                          "  metadata: {name: b}\n"
                          "  spec: {url: oci://r.io/b:1, phase: NOPE}\n"
                          "- apiVersion: v1\n"
                          "  kind: Service\n"
                          "  metadata: {name: svc}\n");
    assert_int_equal(p.nerrors, 1);
    assert_int_equal(p.set->nmanifests, 1);
    assert_string_equal(p.set->manifests[0]->namespace, "x");
    assert_has_line(p.errors, "wasmplugins/auth.yaml:11:38: document 1 (default/b): "
                              "items[1].spec.phase: unknown phase \"NOPE\" (expected "
                              "UNSPECIFIED_PHASE, AUTHN, AUTHZ or STATS)");
    assert_string_equal(p.warnings, "wasmplugins/auth.yaml:12:3: warning: document 1: "
                                    "items[2]: kind Service v1 is not used by wasmgate; ignored\n");
    parsed_free(&p);
}

/* ---- URLs ------------------------------------------------------------------------ */

static void test_urls(void **state)
{
    static const struct {
        const char *url;
        wg_manifest_scheme scheme;
        bool implicit;
        const char *location, *registry, *repository, *tag, *digest;
    } ok[] = {
        {"ghcr.io/org/mod:1.0", WG_MANIFEST_SCHEME_OCI, true, "ghcr.io/org/mod:1.0", "ghcr.io",
         "org/mod", "1.0", NULL},
        {"oci://localhost:5000/mod", WG_MANIFEST_SCHEME_OCI, false, "localhost:5000/mod",
         "localhost:5000", "mod", "latest", NULL},
        {"OCI://localhost/a/b/c:v_1", WG_MANIFEST_SCHEME_OCI, false, "localhost/a/b/c:v_1",
         "localhost", "a/b/c", "v_1", NULL},
        {"mod", WG_MANIFEST_SCHEME_OCI, true, "mod", "index.docker.io", "library/mod", "latest",
         NULL},
        {"docker.io/org/mod", WG_MANIFEST_SCHEME_OCI, true, "docker.io/org/mod", "index.docker.io",
         "org/mod", "latest", NULL},
        {"oci://[::1]:5000/"
         "m@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         WG_MANIFEST_SCHEME_OCI, false,
         "[::1]:5000/m@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "[::1]:5000", "m", NULL,
         "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"https://example.com/plugins/a.wasm?x=1", WG_MANIFEST_SCHEME_HTTPS, false,
         "https://example.com/plugins/a.wasm?x=1", NULL, NULL, NULL, NULL},
        {"http://user@127.0.0.1:8000/a.wasm", WG_MANIFEST_SCHEME_HTTP, false,
         "http://user@127.0.0.1:8000/a.wasm", NULL, NULL, NULL, NULL},
        {"file:///opt/plugins/a.wasm", WG_MANIFEST_SCHEME_FILE, false, "/opt/plugins/a.wasm", NULL,
         NULL, NULL, NULL},
        /* relative file paths: against the manifest's directory */
        {"file://./a.wasm", WG_MANIFEST_SCHEME_FILE, false, "wasmplugins/a.wasm", NULL, NULL, NULL,
         NULL},
        {"file://../build/a.wasm", WG_MANIFEST_SCHEME_FILE, false, "build/a.wasm", NULL, NULL, NULL,
         NULL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml, HEAD("p") "spec: {url: \"%s\"}\n", ok[i].url);
        parsed p = parse_one(yaml);
        const wg_manifest_url *u = &p.set->manifests[0]->url;
        assert_string_equal(u->raw, ok[i].url);
        assert_int_equal(u->scheme, ok[i].scheme);
        assert_int_equal(u->scheme_implicit, ok[i].implicit);
        assert_string_equal(u->location, ok[i].location);
#define CHECK(field)                                                                               \
    if (ok[i].field)                                                                               \
        assert_string_equal(u->field, ok[i].field);                                                \
    else                                                                                           \
        assert_null(u->field);
        CHECK(registry)
        CHECK(repository)
        CHECK(tag)
        CHECK(digest)
#undef CHECK
        parsed_free(&p);
    }

    static const struct {
        const char *url, *why;
    } bad[] = {
        {"registry:5000/mod:tag", "unsupported scheme \"registry\" (a registry with a port needs "
                                  "the oci:// prefix: \"oci://registry:5000/mod:tag\")"},
        /* as Go's url.Parse sees it: the scheme "mod" */
        {"mod:2", "unsupported scheme \"mod\" (a registry with a port needs the oci:// prefix: "
                  "\"oci://mod:2\")"},
        {"ftp://host/a.wasm", "unsupported scheme \"ftp\" (expected oci, http, https or file)"},
        {"oci:ghcr.io/a", "expected \"oci://\""},
        {"oci://ghcr.io/Org/mod", "the repository \"Org/mod\" is not valid (lower-case letters, "
                                  "digits, '.', '_', '-', components separated by '/')"},
        {"oci://ghcr.io/mod@sha256:abc", "the digest \"sha256:abc\" is not sha256:<64 lower-case "
                                         "hex digits>"},
        {"oci://ghcr.io/mod:", "the tag \"\" is not valid"},
        {"https:///a.wasm", "the URL has no host"},
        {"file://", "the file path is empty"},
        {":nothing", "missing protocol scheme"},
        {"a b", "the URL contains whitespace or control characters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[512], line[512];
        snprintf(yaml, sizeof yaml, HEAD("p") "spec:\n  url: \"%s\"\n", bad[i].url);
        snprintf(line, sizeof line,
                 "wasmplugins/auth.yaml:5:8: document 1 (default/p): spec.url: \"%s\": %s",
                 bad[i].url, bad[i].why);
        expect_error(yaml, line);
    }
}

static void test_pull_policy(void **state)
{
    static const struct {
        const char *spec;
        wg_manifest_pull_policy expected;
    } cases[] = {
        {"{url: oci://r.io/m:latest}", WG_MANIFEST_PULL_ALWAYS},
        {"{url: \"r.io/m:latest\"}", WG_MANIFEST_PULL_ALWAYS},
        {"{url: oci://r.io/m}", WG_MANIFEST_PULL_IF_NOT_PRESENT}, /* implicit latest */
        {"{url: oci://r.io/m:1}", WG_MANIFEST_PULL_IF_NOT_PRESENT},
        {"{url: \"https://h/m:latest\"}", WG_MANIFEST_PULL_IF_NOT_PRESENT},
        {"{url: oci://r.io/m:1, imagePullPolicy: Always}", WG_MANIFEST_PULL_ALWAYS},
        {"{url: oci://r.io/m:latest, imagePullPolicy: IfNotPresent}",
         WG_MANIFEST_PULL_IF_NOT_PRESENT},
        {"{url: oci://r.io/m:latest, imagePullPolicy: Always, sha256: "
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}",
         WG_MANIFEST_PULL_IF_NOT_PRESENT},
        {"{url: \"oci://r.io/m@sha256:0123456789abcdef0123456789abcdef0123456789abcdef01234567"
         "89abcdef\", imagePullPolicy: Always}",
         WG_MANIFEST_PULL_IF_NOT_PRESENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml, HEAD("p") "spec: %s\n", cases[i].spec);
        parsed p = parse_one(yaml);
        assert_int_equal(wg_manifest_effective_pull_policy(p.set->manifests[0]), cases[i].expected);
        parsed_free(&p);
    }
}

/* ---- secrets ---------------------------------------------------------------------- */

static void test_secrets(void **state)
{
    /* {"auths":{"r.io":{"auth":"dTpw"}}} */
    parsed p = parse_text("apiVersion: v1\n"
                          "kind: Secret\n"
                          "metadata: {name: pull, namespace: shop}\n"
                          "type: kubernetes.io/dockerconfigjson\n"
                          "data:\n"
                          "  .dockerconfigjson: eyJhdXRocyI6eyJyLmlvIjp7ImF1dGgiOiJkVHB3In19fQ==\n"
                          "---\n"
                          "apiVersion: v1\n"
                          "kind: Secret\n"
                          "metadata: {name: plain}\n"
                          "type: kubernetes.io/dockerconfigjson\n"
                          "data: {.dockerconfigjson: bm90IHRoaXM=}\n"
                          "stringData:\n"
                          "  .dockerconfigjson: '{\"auths\":{}}'\n"
                          "---\n"
                          "apiVersion: v1\n"
                          "kind: Secret\n"
                          "metadata: {name: opaque}\n"
                          "data: {password: c2VjcmV0}\n"
                          "---\n"
                          "apiVersion: v1\n"
                          "kind: Secret\n"
                          "metadata: {name: bad64}\n"
                          "type: kubernetes.io/dockerconfigjson\n"
                          "data: {.dockerconfigjson: \"c2VjcmV0LXRva2Vu!!\"}\n"
                          "---\n"
                          "apiVersion: v1\n"
                          "kind: Secret\n"
                          "metadata: {name: notjson}\n"
                          "type: kubernetes.io/dockerconfigjson\n"
                          "stringData: {.dockerconfigjson: \"hunter2-password\"}\n"
                          "---\n"
                          "apiVersion: v1\n"
                          "kind: Secret\n"
                          "metadata: {name: missing}\n"
                          "type: kubernetes.io/dockerconfigjson\n"
                          "data: {other: eyJ9}\n");
    assert_int_equal(p.set->nsecrets, 2);
    const wg_plugins_secret *s = wg_plugins_find_secret(p.set, "shop", "pull");
    assert_non_null(s);
    assert_string_equal(s->docker_config, "{\"auths\":{\"r.io\":{\"auth\":\"dTpw\"}}}");
    assert_int_equal(s->docker_config_len, strlen(s->docker_config));
    assert_int_equal(s->document, 1);
    s = wg_plugins_find_secret(p.set, "default", "plain");
    assert_non_null(s);
    assert_string_equal(s->docker_config, "{\"auths\":{}}"); /* stringData wins */
    assert_null(wg_plugins_find_secret(p.set, "default", "opaque"));
    assert_null(wg_plugins_find_secret(p.set, "default", "pull"));

    assert_int_equal(p.nerrors, 3);
    assert_has_line(p.errors, "wasmplugins/auth.yaml:25:27: document 4 (default/bad64): "
                              "data[\".dockerconfigjson\"]: not valid base64");
    assert_has_line(p.errors, "wasmplugins/auth.yaml:31:33: document 5 (default/notjson): "
                              "stringData[\".dockerconfigjson\"]: the docker config is not a JSON "
                              "object");
    assert_has_line(p.errors, "wasmplugins/auth.yaml:33:1: document 6 (default/missing): "
                              "data[\".dockerconfigjson\"] is required for type "
                              "kubernetes.io/dockerconfigjson");
    /* secrets never appear in messages */
    assert_null(strstr(p.errors, "c2VjcmV0"));
    assert_null(strstr(p.errors, "hunter2"));
    assert_null(strstr(p.warnings, "c2VjcmV0"));
    assert_has_line(p.warnings, "wasmplugins/auth.yaml:16:1: warning: document 3 "
                                "(default/opaque): Secret of type Opaque ignored (only "
                                "kubernetes.io/dockerconfigjson image pull secrets are used)");
    parsed_free(&p);
}

/* ---- files and directories --------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_dir(void **state)
{
    char dir[] = "/tmp/wg-manifests-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "b.yaml", PLUGIN("b", "  imagePullSecret: creds\n"));
    write_file(dir, "a.yml", PLUGIN("a", "  url: file://mod.wasm\n"));
    write_file(dir, "c.yaml", PLUGIN("c", "  phase: BAD\n"));
    write_file(dir, ".hidden.yaml", PLUGIN("hidden", ""));
    write_file(dir, "notes.txt", "not yaml at all: [\n");

    wg_plugins_set *set = wg_plugins_set_new();
    wg_buf errors = {0}, warnings = {0};
    size_t n = wg_plugins_load_dir(set, dir, &errors, &warnings);
    char *e = take(&errors), *w = take(&warnings);
    assert_int_equal(n, 2); /* a.yml: duplicate url key; c.yaml: bad phase */
    char line[1024];
    snprintf(line, sizeof line,
             "%s/a.yml:6:3: document 1 (default/a): spec.url: duplicate key (first at line 5)",
             dir);
    assert_has_line(e, line);
    snprintf(line, sizeof line,
             "%s/c.yaml:6:10: document 1 (default/c): spec.phase: unknown phase \"BAD\" (expected "
             "UNSPECIFIED_PHASE, AUTHN, AUTHZ or STATS)",
             dir);
    assert_has_line(e, line);
    assert_int_equal(set->nmanifests, 1);
    assert_string_equal(set->manifests[0]->name, "b");
    /* Live reload keeps what bad files held: they are recorded. */
    assert_false(set->dir_unreadable);
    assert_int_equal(set->nbad_files, 2);
    snprintf(line, sizeof line, "%s/c.yaml", dir);
    assert_true(wg_plugins_set_file_had_errors(set, line));
    snprintf(line, sizeof line, "%s/b.yaml", dir);
    assert_false(wg_plugins_set_file_had_errors(set, line));
    snprintf(line, sizeof line,
             "%s/b.yaml:1:1: warning: document 1 (default/b): spec.imagePullSecret: no Secret "
             "default/creds in %s: fetching this module will fail",
             dir, dir);
    assert_has_line(w, line);
    free(e);
    free(w);
    wg_plugins_set_free(set);

    /* file:// paths are relative to the manifest file's directory */
    write_file(dir, "a.yml", HEAD("a") "spec: {url: \"file://mod.wasm\"}\n");
    set = wg_plugins_set_new();
    char path[512];
    snprintf(path, sizeof path, "%s/a.yml", dir);
    assert_int_equal(wg_plugins_load_file(set, path, NULL, NULL), 0);
    char *real = realpath(dir, NULL);
    snprintf(line, sizeof line, "%s/mod.wasm", real);
    assert_string_equal(set->manifests[0]->url.location, line);
    free(real);
    wg_plugins_set_free(set);

    const char *names[] = {"a.yml", "b.yaml", "c.yaml", ".hidden.yaml", "notes.txt"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);

    set = wg_plugins_set_new();
    wg_buf_init(&errors);
    assert_int_equal(wg_plugins_load_dir(set, "/nonexistent-dir", &errors, NULL), 1);
    e = take(&errors);
    assert_non_null(strstr(e, "/nonexistent-dir: cannot open the directory"));
    assert_true(set->dir_unreadable);
    free(e);
    wg_plugins_set_free(set);
}

/* What an edit changed decides what live reload does with the plugin. */
static void test_compare(void **state)
{
    (void)state;
    parsed a = parse_one(HEAD("a") "spec:\n  url: oci://r.io/a:1\n  pluginConfig: {x: 1}\n");
    const wg_manifest *ma = a.set->manifests[0];
    assert_non_null(ma->spec_json);
    assert_int_equal(wg_manifest_compare(ma, ma), WG_MANIFEST_UNCHANGED);

    /* Same spec written differently (key order, flow style, quoting). */
    parsed same =
        parse_one(HEAD("a") "spec:\n  pluginConfig:\n    x: 1\n  url: \"oci://r.io/a:1\"\n");
    assert_int_equal(wg_manifest_compare(ma, same.set->manifests[0]), WG_MANIFEST_UNCHANGED);

    parsed cfg = parse_one(HEAD("a") "spec:\n  url: oci://r.io/a:1\n  pluginConfig: {x: 2}\n");
    assert_int_equal(wg_manifest_compare(ma, cfg.set->manifests[0]), WG_MANIFEST_CONFIG_CHANGED);

    parsed url = parse_one(HEAD("a") "spec:\n  url: oci://r.io/a:2\n  pluginConfig: {x: 1}\n");
    assert_int_equal(wg_manifest_compare(ma, url.set->manifests[0]), WG_MANIFEST_CHANGED);

    parsed prio = parse_one(
        HEAD("a") "spec:\n  url: oci://r.io/a:1\n  pluginConfig: {x: 1}\n  priority: 5\n");
    assert_int_equal(wg_manifest_compare(ma, prio.set->manifests[0]), WG_MANIFEST_CHANGED);

    parsed_free(&a);
    parsed_free(&same);
    parsed_free(&cfg);
    parsed_free(&url);
    parsed_free(&prio);
}

static void test_looks_like_manifests(void **state)
{
    const char *m = "# comment\n---\nkind: Whatever\n";
    assert_true(wg_plugins_looks_like_manifests(m, strlen(m)));
    m = "broken: [\n---\n" PLUGIN("p", "");
    assert_true(wg_plugins_looks_like_manifests(m, strlen(m)));
    m = "listeners: []\nadmin: {address: 1.2.3.4:5}\n";
    assert_false(wg_plugins_looks_like_manifests(m, strlen(m)));
    assert_false(wg_plugins_looks_like_manifests("", 0));
}

/* ---- selection ------------------------------------------------------------------- */

static const wg_config_label node_labels[] = {{"app", "demo"}, {"tier", "web"}};

static wg_plugins_node demo_node(void)
{
    wg_plugins_node n = {.namespace = "shop",
                         .labels = node_labels,
                         .nlabels = 2,
                         .gateway = "my-gw",
                         .root_namespace = "istio-system"};
    return n;
}

/* Does the plugin with this metadata/spec apply to (direction, port)? */
static bool applies(const char *ns, const char *spec, int direction, uint16_t port,
                    const wg_plugins_node *node)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
             "metadata: {name: p, namespace: %s}\n"
             "spec:\n  url: oci://r.io/m:1\n%s",
             ns, spec);
    parsed p = parse_one(yaml);
    bool r = wg_manifest_applies(p.set->manifests[0], node, direction, port);
    parsed_free(&p);
    return r;
}

static void test_selection_namespace_and_labels(void **state)
{
    wg_plugins_node n = demo_node();
    const int IN = WG_CONFIG_INBOUND;
    /* namespace */
    assert_true(applies("shop", "", IN, 8080, &n));
    assert_true(applies("istio-system", "", IN, 8080, &n)); /* root: everywhere */
    assert_false(applies("other", "", IN, 8080, &n));
    assert_false(applies("default", "", IN, 8080, &n));
    wg_plugins_node custom_root = n;
    custom_root.root_namespace = "mesh";
    assert_true(applies("mesh", "", IN, 8080, &custom_root));
    assert_false(applies("istio-system", "", IN, 8080, &custom_root));
    wg_plugins_node defaults = {0}; /* namespace "default", root "istio-system" */
    assert_true(applies("default", "", IN, 80, &defaults));
    assert_true(applies("istio-system", "", IN, 80, &defaults));
    assert_false(applies("shop", "", IN, 80, &defaults));

    /* selector.matchLabels: all present */
    assert_true(applies("shop", "  selector: {matchLabels: {app: demo}}\n", IN, 1, &n));
    assert_true(applies("shop", "  selector: {matchLabels: {app: demo, tier: web}}\n", IN, 1, &n));
    assert_false(applies("shop", "  selector: {matchLabels: {app: demo, tier: db}}\n", IN, 1, &n));
    assert_false(applies("shop", "  selector: {matchLabels: {app: other}}\n", IN, 1, &n));
    assert_false(applies("shop", "  selector: {matchLabels: {zone: a}}\n", IN, 1, &n));
    assert_true(applies("shop", "  selector: {}\n", IN, 1, &n));
    assert_true(applies("shop", "  selector: {matchLabels: {}}\n", IN, 1, &n));
    assert_true(applies("istio-system", "  selector: {matchLabels: {app: demo}}\n", IN, 1, &n));
    assert_false(applies("istio-system", "  selector: {matchLabels: {app: x}}\n", IN, 1, &n));
    assert_false(applies("shop", "  selector: {matchLabels: {app: demo}}\n", IN, 1, &defaults));
}

static void test_selection_target_refs(void **state)
{
    wg_plugins_node n = demo_node();
    const int IN = WG_CONFIG_INBOUND;
    assert_true(applies("shop", "  targetRefs: [{kind: Gateway, name: my-gw}]\n", IN, 1, &n));
    assert_true(applies("shop",
                        "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, "
                        "name: my-gw}]\n",
                        IN, 1, &n));
    assert_true(applies("shop", "  targetRef: {kind: Gateway, name: my-gw}\n", IN, 1, &n));
    assert_true(applies("shop",
                        "  targetRefs: [{kind: Gateway, name: a}, {kind: Gateway, name: my-gw}]\n",
                        IN, 1, &n));
    assert_false(applies("shop", "  targetRefs: [{kind: Gateway, name: other-gw}]\n", IN, 1, &n));
    /* targetRefs in the root namespace name a Gateway there, not ours */
    assert_false(
        applies("istio-system", "  targetRefs: [{kind: Gateway, name: my-gw}]\n", IN, 1, &n));
    /* a node that is no gateway */
    wg_plugins_node plain = n;
    plain.gateway = NULL;
    assert_false(applies("shop", "  targetRefs: [{kind: Gateway, name: my-gw}]\n", IN, 1, &plain));
    /* waypoint-only kinds never select wasmgate (and say so) */
    parsed p = parse_one("apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
                         "metadata: {name: p, namespace: shop}\n"
                         "spec:\n  url: oci://r.io/m:1\n"
                         "  targetRefs: [{kind: Service, name: my-gw}]\n");
    assert_false(wg_manifest_applies(p.set->manifests[0], &n, IN, 1));
    assert_has_line(p.warnings, "wasmplugins/auth.yaml:6:16: warning: document 1 (shop/p): "
                                "spec.targetRefs[0]: targetRefs kind Service never selects "
                                "wasmgate (only kind Gateway, matched against node.gateway, does)");
    parsed_free(&p);
}

static void test_selection_match(void **state)
{
    wg_plugins_node n = demo_node();
    const int IN = WG_CONFIG_INBOUND, OUT = WG_CONFIG_OUTBOUND, ANY = WG_PLUGINS_ANY_DIRECTION;
    static const struct {
        const char *match;
        bool in_8080, in_9090, out_8080, out_9090;
    } cases[] = {
        {"", true, true, true, true},
        {"  match: []\n", true, true, true, true},
        {"  match: [{mode: UNDEFINED}]\n", true, true, true, true},
        {"  match: [{mode: CLIENT_AND_SERVER}]\n", true, true, true, true},
        {"  match: [{mode: SERVER}]\n", true, true, false, false},
        {"  match: [{mode: CLIENT}]\n", false, false, true, true},
        {"  match: [{ports: [{number: 8080}]}]\n", true, false, true, false},
        {"  match: [{mode: SERVER, ports: [{number: 8080}]}]\n", true, false, false, false},
        /* OR across entries, AND within one */
        {"  match: [{mode: SERVER, ports: [{number: 8080}]}, {mode: CLIENT, ports: [{number: "
         "9090}]}]\n",
         true, false, false, true},
        {"  match: [{mode: CLIENT}, {ports: [{number: 9090}]}]\n", false, true, true, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got[4] = {applies("shop", cases[i].match, IN, 8080, &n),
                       applies("shop", cases[i].match, IN, 9090, &n),
                       applies("shop", cases[i].match, OUT, 8080, &n),
                       applies("shop", cases[i].match, OUT, 9090, &n)};
        bool want[4] = {cases[i].in_8080, cases[i].in_9090, cases[i].out_8080, cases[i].out_9090};
        for (int k = 0; k < 4; k++) {
            if (got[k] != want[k])
                fprintf(stderr, "match case %zu (%s), column %d\n", i, cases[i].match, k);
            assert_int_equal(got[k], want[k]);
        }
        /* any direction, any port: applies somewhere unless nothing matches */
        assert_true(applies("shop", cases[i].match, ANY, 0, &n));
    }
    assert_false(applies("shop", "  match: [{mode: CLIENT}]\n", IN, 0, &n));
    assert_true(applies("shop", "  match: [{ports: [{number: 1}]}]\n", ANY, 0, &n));
    assert_false(applies("shop", "  match: [{ports: [{number: 1}]}]\n", ANY, 2, &n));
    /* match applies on top of namespace and selector */
    assert_false(applies("other", "  match: [{mode: SERVER}]\n", IN, 8080, &n));
    assert_false(applies("shop", "  selector: {matchLabels: {app: x}}\n  match: [{mode: SERVER}]\n",
                         IN, 8080, &n));
}

/* ---- ordering -------------------------------------------------------------------- */

static void test_ordering(void **state)
{
    parsed p = parse_text(
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: unspecified, namespace: shop}\nspec: {url: x, priority: 100}\n---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: stats, namespace: shop}\nspec: {url: x, phase: STATS}\n---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: authz-low, namespace: shop}\nspec: {url: x, phase: AUTHZ, priority: "
        "-10}\n"
        "---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: authz-unset, namespace: shop}\nspec: {url: x, phase: AUTHZ}\n---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: authz-high, namespace: shop}\nspec: {url: x, phase: AUTHZ, priority: "
        "10}\n"
        "---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: authn-b, namespace: shop}\nspec: {url: x, phase: AUTHN}\n---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: authn-a, namespace: shop}\nspec: {url: x, phase: AUTHN}\n---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: authn-a, namespace: istio-system}\nspec: {url: x, phase: AUTHN}\n---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: authn-0, namespace: istio-system}\nspec: {url: x, phase: AUTHN}\n---\n"
        "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
        "metadata: {name: authn-zero, namespace: shop}\n"
        "spec: {url: x, phase: AUTHN, priority: 0}\n");
    assert_int_equal(p.nerrors, 0);
    assert_int_equal(p.set->nmanifests, 10);
    const wg_manifest *list[10];
    for (size_t i = 0; i < 10; i++)
        list[i] = p.set->manifests[i];

    wg_plugins_sort(list, 10);
    static const char *const expected[] = {
        "shop/authn-zero",      /* AUTHN, priority 0 beats unset */
        "istio-system/authn-0", /* unset priorities: by namespace, then name */
        "istio-system/authn-a", "shop/authn-a",     "shop/authn-b",
        "shop/authz-high", /* AUTHZ: 10, -10, unset (INT32_MIN) */
        "shop/authz-low",       "shop/authz-unset", "shop/stats", /* STATS */
        "shop/unspecified", /* UNSPECIFIED_PHASE last, whatever its priority */
    };
    for (size_t i = 0; i < 10; i++) {
        char id[128];
        snprintf(id, sizeof id, "%s/%s", list[i]->namespace, list[i]->name);
        assert_string_equal(id, expected[i]);
    }

    /* For a node: its own namespace before the root namespace (Istio's
     * lookup order), then name. */
    wg_plugins_node n = demo_node();
    wg_plugins_sort_for_node(list, 10, &n);
    static const char *const for_node[] = {
        "shop/authn-zero",      "shop/authn-a",     "shop/authn-b",   "istio-system/authn-0",
        "istio-system/authn-a", "shop/authz-high",  "shop/authz-low", "shop/authz-unset",
        "shop/stats",           "shop/unspecified",
    };
    for (size_t i = 0; i < 10; i++) {
        char id[128];
        snprintf(id, sizeof id, "%s/%s", list[i]->namespace, list[i]->name);
        assert_string_equal(id, for_node[i]);
    }
    wg_plugins_sort(list, 0);
    wg_plugins_sort(list, 1);
    parsed_free(&p);
}

static void test_names(void **state)
{
    assert_string_equal(wg_manifest_phase_name(WG_MANIFEST_PHASE_AUTHZ), "AUTHZ");
    assert_string_equal(wg_manifest_phase_name(WG_MANIFEST_PHASE_UNSPECIFIED), "UNSPECIFIED_PHASE");
    assert_string_equal(wg_manifest_pull_policy_name(WG_MANIFEST_PULL_IF_NOT_PRESENT),
                        "IfNotPresent");
    assert_string_equal(wg_manifest_fail_strategy_name(WG_MANIFEST_FAIL_RELOAD), "FAIL_RELOAD");
    assert_string_equal(wg_manifest_mode_name(WG_MANIFEST_MODE_CLIENT_AND_SERVER),
                        "CLIENT_AND_SERVER");
    assert_string_equal(wg_manifest_scheme_name(WG_MANIFEST_SCHEME_HTTPS), "https");
}

static void test_node_from_config(void **state)
{
    const char *yaml = "node: {namespace: shop, labels: {app: demo}, gateway: gw}\n"
                       "plugins: {root_namespace: mesh}\n"
                       "listeners: [{name: l, address: 127.0.0.1:1, routes: [{match: {prefix: /}, "
                       "direct_response: {status: 200}}]}]\n";
    wg_config *c = wg_config_parse(yaml, strlen(yaml), "b.yaml", NULL);
    assert_non_null(c);
    wg_plugins_node n;
    wg_plugins_node_from_config(&n, c);
    assert_string_equal(n.namespace, "shop");
    assert_string_equal(n.root_namespace, "mesh");
    assert_string_equal(n.gateway, "gw");
    assert_int_equal(n.nlabels, 1);
    assert_string_equal(n.labels[0].value, "demo");
    wg_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_plugin_config_json),
        cmocka_unit_test(test_plugin_config_errors),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_documents_fail_alone),
        cmocka_unit_test(test_list_kind),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_pull_policy),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_looks_like_manifests),
        cmocka_unit_test(test_selection_namespace_and_labels),
        cmocka_unit_test(test_selection_target_refs),
        cmocka_unit_test(test_selection_match),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_node_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
