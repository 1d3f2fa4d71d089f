/*
 * url.c - spec.url (reference section 1.2).
 *
 * The scheme is found the way Go's url.Parse (what istiod uses) finds it,
 * so the same strings are accepted and rejected: "ghcr.io/org/mod:1.0"
 * has no scheme (a bare reference: oci), "registry:5000/mod:1" has the
 * scheme "registry" and is rejected (it needs "oci://").
 */
#include "plugins/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return false;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c);
}

/* Go's getScheme: the scheme length, 0 when there is none; -1 for a
 * leading ':' ("missing protocol scheme"). */
static long scheme_length(const char *s)
{
    for (long i = 0; s[i]; i++) {
        char c = s[i];
        if (is_alpha(c))
            continue;
        if (is_digit(c) || c == '+' || c == '-' || c == '.') {
            if (i == 0)
                return 0;
            continue;
        }
        if (c == ':')
            return i == 0 ? -1 : i;
        return 0;
    }
    return 0;
}

/* OCI repository path: lower-case components of [a-z0-9] joined by
 * separators ('.', '_', "__", '-'...), separated by '/'. */
static bool valid_repository(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    const char *p = s;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || !is_lower_alnum(p[0]) || !is_lower_alnum(p[len - 1]))
            return false;
        for (size_t i = 0; i < len; i++) {
            char c = p[i];
            if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-')
                return false;
        }
        if (!end)
            break;
        p = end + 1;
        if (!*p)
            return false; /* trailing '/' */
    }
    return true;
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    if (!(is_alpha(s[0]) || is_digit(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

static bool valid_sha256_hex(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool valid_registry(const char *s)
{
    char *with_port = NULL;
    const char *text = s;
    /* "host" alone: check it as "host:1" */
    bool has_port = s[0] == '[' ? strstr(s, "]:") != NULL : strchr(s, ':') != NULL;
    if (!has_port) {
        if (asprintf(&with_port, "%s:1", s) < 0)
            return false;
        text = with_port;
    }
    wg_config_address a;
    bool ok = wg_config_address_parse(text, false, &a, NULL);
    if (ok)
        wg_config_address_free(&a);
    free(with_port);
    return ok;
}

/* Splits an OCI reference (without "oci://") as docker and
 * go-containerregistry do. */
static bool parse_oci(const char *ref, wg_manifest_url *u, char *why, size_t whylen)
{
    if (!*ref)
        return fail(why, whylen, "the OCI reference is empty");
    char *work = strdup(ref);
    if (!work)
        return fail(why, whylen, "out of memory");
    bool ok = false;
    char *at = strchr(work, '@');
    if (at) {
        *at = '\0';
        const char *digest = at + 1;
        if (strncmp(digest, "sha256:", 7) != 0 || !valid_sha256_hex(digest + 7)) {
            fail(why, whylen, "the digest \"%s\" is not sha256:<64 lower-case hex digits>", digest);
            goto out;
        }
        u->digest = strdup(digest);
        if (!u->digest) {
            fail(why, whylen, "out of memory");
            goto out;
        }
    }
    /* name[:tag]; the tag's ':' comes after the last '/' */
    char *slash = strrchr(work, '/');
    char *colon = strrchr(slash ? slash : work, ':');
    if (colon) {
        *colon = '\0';
        if (!valid_tag(colon + 1)) {
            fail(why, whylen, "the tag \"%s\" is not valid", colon + 1);
            goto out;
        }
        u->tag = strdup(colon + 1);
    } else if (!u->digest) {
        u->tag = strdup("latest");
        u->tag_implicit = true;
    } else {
        u->tag_implicit = true;
    }
    if ((colon || !u->digest) && !u->tag) {
        fail(why, whylen, "out of memory");
        goto out;
    }
    const char *repo = work;
    char *first = strchr(work, '/');
    if (first &&
        (memchr(work, '.', (size_t)(first - work)) || memchr(work, ':', (size_t)(first - work)) ||
         ((size_t)(first - work) == 9 && strncmp(work, "localhost", 9) == 0))) {
        *first = '\0';
        if (!valid_registry(work)) {
            fail(why, whylen, "the registry \"%s\" is not host or host:port", work);
            goto out;
        }
        u->registry = strdup(strcmp(work, "docker.io") == 0 ? "index.docker.io" : work);
        repo = first + 1;
    } else {
        u->registry = strdup("index.docker.io");
    }
    if (!u->registry) {
        fail(why, whylen, "out of memory");
        goto out;
    }
    if (!valid_repository(repo)) {
        fail(why, whylen,
             "the repository \"%s\" is not valid (lower-case letters, digits, '.', '_', '-', "
             "components separated by '/')",
             repo);
        goto out;
    }
    if (strcmp(u->registry, "index.docker.io") == 0 && !strchr(repo, '/')) {
        if (asprintf(&u->repository, "library/%s", repo) < 0)
            u->repository = NULL;
    } else {
        u->repository = strdup(repo);
    }
    if (!u->repository) {
        fail(why, whylen, "out of memory");
        goto out;
    }
    ok = true;
out:
    free(work);
    return ok;
}

bool wg_plugins_url_parse(const char *raw, const char *dir, wg_manifest_url *out, char *why,
                          size_t whylen)
{
    memset(out, 0, sizeof *out);
    bool ok = false;
    if (!*raw)
        return fail(why, whylen, "the URL is empty");
    for (const char *p = raw; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return fail(why, whylen, "the URL contains whitespace or control characters");
    out->raw = strdup(raw);
    if (!out->raw)
        return fail(why, whylen, "out of memory");

    long slen = scheme_length(raw);
    if (slen < 0) {
        fail(why, whylen, "missing protocol scheme");
        goto out;
    }
    char scheme[16] = "";
    if (slen >= (long)sizeof scheme) {
        fail(why, whylen, "unsupported scheme \"%.*s\" (expected oci, http, https or file)",
             (int)slen, raw);
        goto out;
    }
    for (long i = 0; i < slen; i++)
        scheme[i] = (char)(raw[i] >= 'A' && raw[i] <= 'Z' ? raw[i] - 'A' + 'a' : raw[i]);
    scheme[slen] = '\0';
    const char *rest = raw + slen + (slen ? 1 : 0);

    if (slen == 0) {
        /* A bare reference: istiod rewrites it to oci://. */
        out->scheme = WG_MANIFEST_SCHEME_OCI;
        out->scheme_implicit = true;
        out->location = strdup(raw);
        if (!out->location) {
            fail(why, whylen, "out of memory");
            goto out;
        }
        ok = parse_oci(raw, out, why, whylen);
        goto out;
    }
    bool known = strcmp(scheme, "oci") == 0 || strcmp(scheme, "http") == 0 ||
                 strcmp(scheme, "https") == 0 || strcmp(scheme, "file") == 0;
    if (!known) {
        /* "registry:5000/mod:tag" parses with the scheme "registry" */
        if (is_digit(rest[0]))
            fail(why, whylen,
                 "unsupported scheme \"%s\" (a registry with a port needs the oci:// prefix: "
                 "\"oci://%s\")",
                 scheme, raw);
        else
            fail(why, whylen, "unsupported scheme \"%s\" (expected oci, http, https or file)",
                 scheme);
        goto out;
    }
    if (strncmp(rest, "//", 2) != 0) {
        fail(why, whylen, "expected \"%s://\"", scheme);
        goto out;
    }
    rest += 2;
    if (strcmp(scheme, "oci") == 0) {
        out->scheme = WG_MANIFEST_SCHEME_OCI;
        out->location = strdup(rest);
        if (!out->location) {
            fail(why, whylen, "out of memory");
            goto out;
        }
        ok = parse_oci(rest, out, why, whylen);
    } else if (strcmp(scheme, "file") == 0) {
        out->scheme = WG_MANIFEST_SCHEME_FILE;
        /* Istio takes the URL minus "file://": file:///a/b.wasm is /a/b.wasm. */
        if (!*rest) {
            fail(why, whylen, "the file path is empty");
            goto out;
        }
        out->location = wg_config_resolve_path(rest[0] == '/' ? NULL : dir, rest);
        if (!out->location) {
            fail(why, whylen, "out of memory");
            goto out;
        }
        ok = true;
    } else {
        out->scheme =
            strcmp(scheme, "https") == 0 ? WG_MANIFEST_SCHEME_HTTPS : WG_MANIFEST_SCHEME_HTTP;
        size_t hlen = strcspn(rest, "/?#");
        const char *userinfo_end = memchr(rest, '@', hlen);
        const char *host = userinfo_end ? userinfo_end + 1 : rest;
        size_t host_len = hlen - (size_t)(host - rest);
        if (host_len == 0) {
            fail(why, whylen, "the URL has no host");
            goto out;
        }
        out->location = strdup(raw);
        if (!out->location) {
            fail(why, whylen, "out of memory");
            goto out;
        }
        ok = true;
    }
out:
    if (!ok)
        wg_plugins_url_free(out);
    return ok;
}

void wg_plugins_url_free(wg_manifest_url *u)
{
    free(u->raw);
    free(u->location);
    free(u->registry);
    free(u->repository);
    free(u->tag);
    free(u->digest);
    memset(u, 0, sizeof *u);
}
