/*
 * headers - exercises the header-map hostcalls (ABI 0.2.1).
 *
 * Request headers (on_request_headers), all checked with ASSERT FAILED lines:
 *   - get_header_map_pairs: parses (§6.1) and holds num_headers pairs;
 *     :method :path :authority :scheme present, non-empty and equal to
 *     get_header_map_value; logs INFO "headers request <name>=<value>"
 *   - get_header_map_size: OK (value only logged: "headers request
 *     map_size=<n> serialized=<bytes> count=<pairs>")
 *   - missing key -> NOT_FOUND; map type 99 -> BAD_ARGUMENT
 *   - add x-foo: 1, then get "X-FOO" and "x-foo" -> "1" (case-insensitive)
 *   - add x-multi: a, add x-multi: b -> get gives "a", pairs hold both
 *   - replace x-multi: c -> get "c", exactly one x-multi left
 *   - replace of an absent key x-replaced-new: n adds it
 *   - remove "X-MULTI" -> OK, then get -> NOT_FOUND; remove absent -> OK
 *   - add x-empty with "" -> get returns OK and ""
 *   - set_header_map_pairs with every current pair except x-remove-me, plus
 *     x-set-pairs: yes; read back: same count/contents
 *   - a client header x-case-test (any case) is found as "X-Case-Test"
 *   So upstream receives x-foo: 1, x-replaced-new: n, x-empty: "",
 *   x-set-pairs: yes, and no x-multi / x-remove-me.
 * Response headers (on_response_headers):
 *   - pairs count == num_headers; :status present, 3 digits, equal in pairs
 *   - add x-resp-added: 1 (get "X-RESP-ADDED"), replace x-resp-replaced: r,
 *     remove x-remove-me (then NOT_FOUND), missing key -> NOT_FOUND,
 *     set_pairs with current pairs + x-resp-set-pairs: yes
 *   So downstream receives x-resp-added: 1, x-resp-replaced: r,
 *   x-resp-set-pairs: yes, and no x-remove-me.
 * Trailers: pairs count == num_trailers; adds x-trailer-added: 1 (request
 *   and response trailers).
 * on_log: request :path and response :status still readable (OK); logs
 *   INFO "headers on_log <ctx> :path=<p> :status=<s>".
 * Each header callback ends with INFO "headers request done <ctx>" /
 * "headers response done <ctx>".
 */
#define PROXY_WASM_IMPLEMENTATION
#include "proxy_wasm.h"
#include <strings.h>
#define PT_PLUGIN "headers"
#include "plugin_test.h"

PROXY_WASM_ABI_0_2_1

/* get `name` and check it equals `want` */
static void expect_value(uint32_t map, const char *name, const char *want)
{
    char *v = NULL;
    if (PT_EXPECT(pw_get_header(map, name, &v), PW_OK))
        PT_CHECK(strcmp(v, want) == 0, "map %u %s = '%s' (want '%s')", map, name, v, want);
    free(v);
}

static void expect_missing(uint32_t map, const char *name)
{
    char *v = NULL;
    pw_status_t st = pw_get_header(map, name, &v);
    PT_CHECK(st == PW_NOT_FOUND, "map %u get %s -> %u (%s), want NOT_FOUND", map, name, st,
             pw_status_name(st));
    free(v);
}

static size_t count_key(const pw_pairs_t *p, const char *key)
{
    size_t n = 0, kl = strlen(key);
    for (size_t i = 0; i < p->count; i++)
        if (p->items[i].key_len == kl && strncasecmp(p->items[i].key, key, kl) == 0)
            n++;
    return n;
}

/* Checks a pseudo-header: present, non-empty, same via get and pairs. */
static void check_pseudo(uint32_t map, const pw_pairs_t *pairs, const char *name,
                         const char *phase)
{
    char *v = NULL;
    if (PT_EXPECT(pw_get_header(map, name, &v), PW_OK)) {
        pw_log(PW_LOG_INFO, "headers %s %s=%s", phase, name, v);
        PT_CHECK(v[0] != '\0', "%s %s is non-empty", phase, name);
        const pw_pair_t *p = pw_pairs_find(pairs, name);
        PT_CHECK(p && p->value_len == strlen(v) && memcmp(p->value, v, p->value_len) == 0,
                 "%s %s in pairs equals get value '%s'", phase, name, v);
    }
    free(v);
}

/* Replaces the map with its current pairs minus `drop`, plus (add_k, add_v);
 * checks the result. */
static void rewrite_pairs(uint32_t map, const char *drop, const char *add_k, const char *add_v)
{
    pw_pairs_t cur;
    if (!PT_EXPECT(pw_get_header_pairs(map, &cur), PW_OK))
        return;
    pw_pair_t *items = (pw_pair_t *)calloc(cur.count + 1, sizeof *items);
    size_t n = 0;
    for (size_t i = 0; i < cur.count; i++) {
        if (strcasecmp(cur.items[i].key, drop) == 0)
            continue;
        items[n++] = cur.items[i];
    }
    items[n].key = add_k;
    items[n].key_len = strlen(add_k);
    items[n].value = add_v;
    items[n].value_len = strlen(add_v);
    n++;
    PT_EXPECT(pw_set_header_pairs(map, items, n), PW_OK);

    pw_pairs_t after;
    if (PT_EXPECT(pw_get_header_pairs(map, &after), PW_OK)) {
        PT_CHECK(after.count == n, "map %u after set_pairs has %zu pairs (want %zu)", map,
                 after.count, n);
        PT_CHECK(count_key(&after, drop) == 0, "map %u: %s gone after set_pairs", map, drop);
        const pw_pair_t *p = pw_pairs_find(&after, add_k);
        PT_CHECK(p && p->value_len == strlen(add_v) && memcmp(p->value, add_v, p->value_len) == 0,
                 "map %u: %s present after set_pairs", map, add_k);
        for (size_t i = 0; i < n && i < after.count; i++) {
            const pw_pair_t *q = pw_pairs_find(&after, items[i].key);
            if (!PT_CHECK(q != NULL, "map %u: %s kept after set_pairs", map, items[i].key))
                break;
        }
        pw_pairs_free(&after);
    }
    free(items);
    pw_pairs_free(&cur);
}

uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    const uint32_t M = PW_MAP_HTTP_REQUEST_HEADERS;
    PT_UNUSED(eos);
    pw_pairs_t pairs;
    if (PT_EXPECT(pw_get_header_pairs(M, &pairs), PW_OK)) {
        PT_CHECK(pairs.count == n, "request pairs count %zu == num_headers %u", pairs.count, n);
        check_pseudo(M, &pairs, ":method", "request");
        check_pseudo(M, &pairs, ":path", "request");
        check_pseudo(M, &pairs, ":authority", "request");
        check_pseudo(M, &pairs, ":scheme", "request");
        size_t sz = 0;
        if (PT_EXPECT(proxy_get_header_map_size(M, &sz), PW_OK))
            pw_log(PW_LOG_INFO, "headers request map_size=%zu serialized=%zu count=%zu", sz,
                   pairs.raw_len, pairs.count);
        const pw_pair_t *ct = pw_pairs_find(&pairs, "x-case-test");
        if (ct)
            expect_value(M, "X-Case-Test", ct->value);
        pw_pairs_free(&pairs);
    }

    expect_missing(M, "x-does-not-exist");
    {
        char *d = NULL;
        size_t l = 0;
        PT_EXPECT(proxy_get_header_map_pairs(99, &d, &l), PW_BAD_ARGUMENT);
        free(d);
        d = NULL;
        PT_EXPECT(proxy_get_header_map_value(99, "x", 1, &d, &l), PW_BAD_ARGUMENT);
        free(d);
    }

    PT_EXPECT(pw_add_header(M, "x-foo", "1"), PW_OK);
    expect_value(M, "X-FOO", "1");
    expect_value(M, "x-foo", "1");

    PT_EXPECT(pw_add_header(M, "x-multi", "a"), PW_OK);
    PT_EXPECT(pw_add_header(M, "x-multi", "b"), PW_OK);
    expect_value(M, "x-multi", "a");
    if (PT_EXPECT(pw_get_header_pairs(M, &pairs), PW_OK)) {
        PT_CHECK(count_key(&pairs, "x-multi") == 2, "two x-multi after two adds (got %zu)",
                 count_key(&pairs, "x-multi"));
        pw_pairs_free(&pairs);
    }

    PT_EXPECT(pw_replace_header(M, "x-multi", "c"), PW_OK);
    expect_value(M, "x-multi", "c");
    if (PT_EXPECT(pw_get_header_pairs(M, &pairs), PW_OK)) {
        PT_CHECK(count_key(&pairs, "x-multi") == 1, "one x-multi after replace (got %zu)",
                 count_key(&pairs, "x-multi"));
        pw_pairs_free(&pairs);
    }

    PT_EXPECT(pw_replace_header(M, "x-replaced-new", "n"), PW_OK);
    expect_value(M, "x-replaced-new", "n");

    PT_EXPECT(pw_remove_header(M, "X-MULTI"), PW_OK);
    expect_missing(M, "x-multi");
    PT_EXPECT(pw_remove_header(M, "x-absent"), PW_OK);

    PT_EXPECT(pw_add_header(M, "x-empty", ""), PW_OK);
    expect_value(M, "x-empty", "");

    rewrite_pairs(M, "x-remove-me", "x-set-pairs", "yes");
    expect_missing(M, "x-remove-me");
    expect_value(M, "x-set-pairs", "yes");
    expect_value(M, "x-foo", "1");

    pw_log(PW_LOG_INFO, "headers request done %u", ctx);
    return PW_CONTINUE;
}

uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos)
{
    const uint32_t M = PW_MAP_HTTP_RESPONSE_HEADERS;
    PT_UNUSED(eos);
    pw_pairs_t pairs;
    if (PT_EXPECT(pw_get_header_pairs(M, &pairs), PW_OK)) {
        PT_CHECK(pairs.count == n, "response pairs count %zu == num_headers %u", pairs.count,
                 n);
        check_pseudo(M, &pairs, ":status", "response");
        pw_pairs_free(&pairs);
    }
    char *status = NULL;
    if (pw_get_header(M, ":status", &status) == PW_OK)
        PT_CHECK(strlen(status) == 3 && status[0] >= '1' && status[0] <= '5',
                 ":status '%s' is a 3-digit code", status);
    free(status);

    PT_EXPECT(pw_add_header(M, "x-resp-added", "1"), PW_OK);
    expect_value(M, "X-RESP-ADDED", "1");
    PT_EXPECT(pw_replace_header(M, "x-resp-replaced", "r"), PW_OK);
    expect_value(M, "x-resp-replaced", "r");
    PT_EXPECT(pw_remove_header(M, "x-remove-me"), PW_OK);
    expect_missing(M, "x-remove-me");
    expect_missing(M, "x-does-not-exist");
    rewrite_pairs(M, "x-remove-me", "x-resp-set-pairs", "yes");
    expect_value(M, "x-resp-added", "1");

    pw_log(PW_LOG_INFO, "headers response done %u", ctx);
    return PW_CONTINUE;
}

static uint32_t trailers(uint32_t map, uint32_t n, const char *what)
{
    pw_pairs_t pairs;
    if (PT_EXPECT(pw_get_header_pairs(map, &pairs), PW_OK)) {
        PT_CHECK(pairs.count == n, "%s trailers count %zu == %u", what, pairs.count, n);
        pw_pairs_free(&pairs);
    }
    PT_EXPECT(pw_add_header(map, "x-trailer-added", "1"), PW_OK);
    expect_value(map, "x-trailer-added", "1");
    pw_log(PW_LOG_INFO, "headers %s trailers done n=%u", what, n);
    return PW_CONTINUE;
}

uint32_t proxy_on_request_trailers(uint32_t ctx, uint32_t n)
{
    PT_UNUSED(ctx);
    return trailers(PW_MAP_HTTP_REQUEST_TRAILERS, n, "request");
}

uint32_t proxy_on_response_trailers(uint32_t ctx, uint32_t n)
{
    PT_UNUSED(ctx);
    return trailers(PW_MAP_HTTP_RESPONSE_TRAILERS, n, "response");
}

void proxy_on_log(uint32_t ctx)
{
    char *path = NULL, *status = NULL;
    PT_EXPECT(pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path), PW_OK);
    PT_EXPECT(pw_get_header(PW_MAP_HTTP_RESPONSE_HEADERS, ":status", &status), PW_OK);
    pw_log(PW_LOG_INFO, "headers on_log %u :path=%s :status=%s", ctx, path ? path : "-",
           status ? status : "-");
    free(path);
    free(status);
}
