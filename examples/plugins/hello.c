/*
 * hello - the demo Proxy-Wasm plugin (C, ABI 0.2.1), run by `make run`.
 *
 * Configuration (the WasmPlugin's pluginConfig, as JSON):
 *   {"greeting": "hi"}        default greeting: "hello"
 *
 * On every request:
 *   - adds the request header  x-hello: <greeting>  (the upstream sees it);
 *   - path /hello: answers itself, without an upstream, with a local reply
 *     200 "hello from a wasm plugin\n" and the header x-hello: <greeting>;
 * On every response (local replies included):
 *   - sets the response header  x-wasmgate-plugin: hello
 *
 * Build (scripts/build-examples.sh does this):
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -I sdk/c \
 *       examples/plugins/hello.c -o hello.wasm
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"

PROXY_WASM_ABI_0_2_1

static char *greeting;

/* The string value of "key" in a flat JSON object, or NULL. Enough for a
 * demo: no nested objects, simple escapes only. */
static char *json_string_member(const char *json, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = json; (p = strchr(p, '"')) != NULL; p++) {
        if (strncmp(p + 1, key, klen) != 0 || p[1 + klen] != '"')
            continue;
        const char *q = p + klen + 2;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        if (*q++ != ':')
            continue;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        if (*q++ != '"')
            return NULL;
        char *out = malloc(strlen(q) + 1);
        size_t n = 0;
        if (!out)
            return NULL;
        for (; *q && *q != '"'; q++) {
            if (*q == '\\' && q[1])
                q++;
            out[n++] = *q;
        }
        out[n] = '\0';
        return out;
    }
    return NULL;
}

uint32_t proxy_on_configure(uint32_t root_id, uint32_t config_size)
{
    (void)root_id;
    (void)config_size;
    char *config = NULL;
    char *g = NULL;
    if (pw_get_plugin_configuration_str(&config) == PW_OK && config)
        g = json_string_member(config, "greeting");
    free(config);
    free(greeting);
    greeting = g ? g : strdup("hello");
    pw_log(PW_LOG_INFO, "hello plugin configured: greeting=\"%s\"", greeting);
    return 1; /* configuration accepted */
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t num_headers, uint32_t end_of_stream)
{
    (void)ctx;
    (void)num_headers;
    (void)end_of_stream;
    pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hello", greeting);

    char *path = NULL;
    pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path);
    int is_hello = path && (strcmp(path, "/hello") == 0 || strncmp(path, "/hello?", 7) == 0);
    free(path);
    if (is_hello) {
        static const char body[] = "hello from a wasm plugin\n";
        pw_send_local_response(200, "hello plugin", body, sizeof body - 1,
                               PW_HEADERS("x-hello", greeting, "content-type", "text/plain"));
        return PW_PAUSE; /* the local reply ends the request */
    }
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t num_headers, uint32_t end_of_stream)
{
    (void)ctx;
    (void)num_headers;
    (void)end_of_stream;
    pw_replace_header(PW_MAP_HTTP_RESPONSE_HEADERS, "x-wasmgate-plugin", "hello");
    return PW_CONTINUE;
}
