/* The OCI source (src/fetch/oci.c) against real registries on loopback:
 * Debian's docker-registry, three instances started for the group: one
 * anonymous, one behind htpasswd Basic auth, one behind Bearer token auth
 * (its token service is tests/fetch/token_server.py). The test pushes its own images
 * over the registry API (blob uploads, manifest PUTs) with libcurl. */
#include "fetch/fetch.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef WG_OCI_TOKEN_SERVER
#error "WG_OCI_TOKEN_SERVER must name tests/fetch/token_server.py"
#endif

#define USER "wguser"
#define PASS "wg-secret-pw"

static char g_dir[512];
#define NREG 3 /* 0 anonymous, 1 Basic, 2 Bearer */
static pid_t g_reg[NREG] = {-1, -1, -1};
static int g_port[NREG];
static char g_host[NREG][64]; /* "127.0.0.1:PORT" */
static pid_t g_tok = -1;
static int g_tok_port;
static char g_bearer[4096]; /* "Authorization: Bearer ..." for pushing to 2 */

/* Modules: the OCI-spec variant's, the compat variant's, a corruptible one. */
static const uint8_t MOD_OCI[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};
static const uint8_t MOD_COMPAT[13] = {0, 'a', 's', 'm', 1, 0, 0, 0, 0, 3, 1, 'c', 0};
static const uint8_t MOD_BAD[13] = {0, 'a', 's', 'm', 1, 0, 0, 0, 0, 3, 1, 'b', 0};

/* Manifest digests of what was pushed ("sha256:..."). */
static char g_dig_oci[80], g_dig_compat[80], g_dig_index[80], g_dig_badman[80];
static char g_hex_badblob[80], g_hex_badman[80];
static size_t g_len_oci, g_len_compat;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    return s * n;
}

typedef struct hdrs {
    char location[2048];
} hdrs;

static size_t on_hdr(char *p, size_t s, size_t n, void *ud)
{
    hdrs *h = ud;
    size_t len = s * n;
    if (len > 9 && strncasecmp(p, "location:", 9) == 0) {
        const char *v = p + 9;
        while (*v == ' ')
            v++;
        size_t vl = len - (size_t)(v - p);
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl < sizeof h->location) {
            memcpy(h->location, v, vl);
            h->location[vl] = '\0';
        }
    }
    return len;
}

/* One request to a test registry; returns the status. */
static long req(int which, const char *method, const char *url, const char *ctype, const void *body,
                size_t len, hdrs *h)
{
    CURL *c = curl_easy_init();
    struct curl_slist *sl = NULL;
    char ct[256] = {0};
    long code = 0;
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        sl = curl_slist_append(sl, ct);
    }
    if (which == 2 && g_bearer[0])
        sl = curl_slist_append(sl, g_bearer);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
    if (which == 1)
        curl_easy_setopt(c, CURLOPT_USERPWD, USER ":" PASS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (h) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(sl);
    return code;
}

static void digest_of(const void *data, size_t len, char out[80])
{
    char hex[WG_SHA256_HEX_LEN + 1] = {0};
    wg_sha256_hex(data, len, hex);
    snprintf(out, 80, "sha256:%s", hex);
}

static int push_blob(int which, const char *repo, const void *data, size_t len, char dig[80])
{
    char url[4400] = {0};
    hdrs h = {{0}};
    digest_of(data, len, dig);
    snprintf(url, sizeof url, "http://%s/v2/%s/blobs/uploads/", g_host[which], repo);
    long st = req(which, "POST", url, NULL, NULL, 0, &h);
    if (st != 202 || !h.location[0]) {
        fprintf(stderr, "upload start: HTTP %ld\n", st);
        return -1;
    }
    if (h.location[0] == '/')
        snprintf(url, sizeof url, "http://%s%s%sdigest=%s", g_host[which], h.location,
                 strchr(h.location, '?') ? "&" : "?", dig);
    else
        snprintf(url, sizeof url, "%s%sdigest=%s", h.location, strchr(h.location, '?') ? "&" : "?",
                 dig);
    st = req(which, "PUT", url, "application/octet-stream", data, len, NULL);
    if (st != 201) {
        fprintf(stderr, "upload finish: HTTP %ld\n", st);
        return -1;
    }
    return 0;
}

static size_t g_last_len;

static int push_manifest(int which, const char *repo, const char *ref, const char *mt,
                         const char *json, char dig[80])
{
    char url[1024] = {0};
    snprintf(url, sizeof url, "http://%s/v2/%s/manifests/%s", g_host[which], repo, ref);
    long st = req(which, "PUT", url, mt, json, strlen(json), NULL);
    if (st != 201) {
        fprintf(stderr, "manifest %s:%s: HTTP %ld\n", repo, ref, st);
        return -1;
    }
    if (dig)
        digest_of(json, strlen(json), dig);
    g_last_len = strlen(json);
    return 0;
}

static int write_text(const char *name, const char *text)
{
    char path[1024] = {0};
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -1;
    fputs(text, fp);
    return fclose(fp);
}

static int read_all(const char *path, uint8_t **data, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    static uint8_t buf[65536];
    *len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    *data = buf;
    return 0;
}

static int start_registry(int which)
{
    char cfg[2048] = {0}, name[64] = {0};
    g_port[which] = free_port();
    snprintf(g_host[which], sizeof g_host[which], "127.0.0.1:%d", g_port[which]);
    int n = snprintf(cfg, sizeof cfg,
                     "version: 0.1\n"
                     "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                     "storage:\n  filesystem:\n    rootdirectory: %s/data%d\n"
                     "http:\n  addr: %s\n",
                     g_dir, which, g_host[which]);
    if (which == 1)
        snprintf(cfg + n, sizeof cfg - (size_t)n,
                 "auth:\n  htpasswd:\n    realm: wg-test\n    path: %s/htpasswd\n", g_dir);
    if (which == 2)
        snprintf(cfg + n, sizeof cfg - (size_t)n,
                 "auth:\n  token:\n    realm: http://127.0.0.1:%d/token\n"
                 "    service: wg-registry\n    issuer: wg-issuer\n"
                 "    rootcertbundle: %s/token.crt\n",
                 g_tok_port, g_dir);
    snprintf(name, sizeof name, "config%d.yml", which);
    if (write_text(name, cfg) != 0)
        return -1;
    char path[1024] = {0};
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) {
            dup2(nul, 1);
            dup2(nul, 2);
        }
        execlp("docker-registry", "docker-registry", "serve", path, (char *)NULL);
        _exit(127);
    }
    g_reg[which] = pid;
    char url[256] = {0};
    snprintf(url, sizeof url, "http://%s/v2/", g_host[which]);
    for (int i = 0; i < 100; i++) { /* up to 5 s */
        long st = req(which, "GET", url, NULL, NULL, 0, NULL);
        if (st == 200 || (which > 0 && st == 401))
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            g_reg[which] = -1;
            fprintf(stderr, "docker-registry exited at start\n");
            return -1;
        }
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "docker-registry did not answer on %s\n", g_host[which]);
    return -1;
}

/* Config + layers + manifest of the OCI-spec variant holding mod. */
static int push_oci_variant(int which, const char *repo, const char *tag, const uint8_t *mod,
                            size_t len, const char *annotation, char mdig[80], char lhex[80])
{
    const char *conf = "{\"type\":\"envoy_proxy\",\"abiVersions\":[\"v0-4d576\"]}";
    char cdig[80] = {0}, ldig[80] = {0}, json[4096] = {0};
    if (push_blob(which, repo, conf, strlen(conf), cdig) || push_blob(which, repo, mod, len, ldig))
        return -1;
    snprintf(json, sizeof json,
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
             "\"config\":{\"mediaType\":\"application/vnd.module.wasm.config.v1+json\","
             "\"digest\":\"%s\",\"size\":%zu},"
             "\"layers\":[{\"mediaType\":\"application/vnd.module.wasm.config.v1+json\","
             "\"digest\":\"%s\",\"size\":%zu,"
             "\"annotations\":{\"org.opencontainers.image.title\":\"runtime-config.json\"}},"
             "{\"mediaType\":\"application/vnd.module.wasm.content.layer.v1+wasm\","
             "\"digest\":\"%s\",\"size\":%zu,"
             "\"annotations\":{\"org.opencontainers.image.title\":\"filter.wasm\"}}],"
             "\"annotations\":{\"wg.test\":\"%s\"}}",
             cdig, strlen(conf), cdig, strlen(conf), ldig, len, annotation);
    if (lhex)
        snprintf(lhex, 80, "%s", ldig + 7);
    return push_manifest(which, repo, tag, "application/vnd.oci.image.manifest.v1+json", json,
                         mdig);
}

/* Flips one byte of a blob stored by registry 0 (its filesystem layout:
 * docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data). Offset 0 means
 * inside a manifest's closing annotation value (the JSON stays valid). */
static int corrupt_blob(const char *hex, long off)
{
    char path[1024] = {0};
    snprintf(path, sizeof path, "%s/data0/docker/registry/v2/blobs/sha256/%.2s/%s/data", g_dir, hex,
             hex);
    FILE *fp = fopen(path, "r+b");
    if (!fp) {
        fprintf(stderr, "no blob file %s\n", path);
        return -1;
    }
    if (off == 0) {
        fseek(fp, 0, SEEK_END);
        off = ftell(fp) - 5; /* ...,"wg.test":"bad-manifest"}} : inside the value */
    }
    fseek(fp, off, SEEK_SET);
    int ch = fgetc(fp);
    fseek(fp, off, SEEK_SET);
    fputc(ch == 'x' ? 'y' : 'x', fp);
    return fclose(fp);
}

static int start_token_server(void)
{
    int fds[2] = {-1, -1};
    if (pipe(fds) != 0)
        return -1;
    g_tok = fork();
    if (g_tok < 0)
        return -1;
    if (g_tok == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", WG_OCI_TOKEN_SERVER, g_dir, USER, PASS, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *fp = fdopen(fds[0], "r");
    char line[64] = {0};
    if (!fp || !fgets(line, sizeof line, fp)) {
        fprintf(stderr, "token server did not start\n");
        if (fp)
            fclose(fp);
        return -1;
    }
    fclose(fp);
    g_tok_port = atoi(line);
    return g_tok_port > 0 ? 0 : -1;
}

typedef struct body {
    char text[8192];
    size_t len;
} body;

static size_t keep(char *p, size_t s, size_t n, void *ud)
{
    body *b = ud;
    size_t len = s * n;
    if (len >= sizeof b->text - b->len)
        return 0;
    memcpy(b->text + b->len, p, len);
    b->len += len;
    return len;
}

/* A push+pull token for registry 2, for the test's own uploads. */
static int get_push_token(void)
{
    char url[256] = {0};
    body b = {{0}, 0};
    snprintf(url, sizeof url,
             "http://127.0.0.1:%d/token?service=wg-registry&scope=repository:wg/mod:pull,push",
             g_tok_port);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERPWD, USER ":" PASS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    const char *t = strstr(b.text, "\"token\": \"");
    if (rc != CURLE_OK || !t) {
        fprintf(stderr, "no push token: %s\n", b.text);
        return -1;
    }
    t += 10;
    size_t n = strcspn(t, "\"");
    snprintf(g_bearer, sizeof g_bearer, "Authorization: Bearer %.*s", (int)n, t);
    return 0;
}

static int group_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/wg-oci-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char cmd[2048] = {0};
    snprintf(cmd, sizeof cmd, "htpasswd -Bbc '%s/htpasswd' %s %s >/dev/null 2>&1", g_dir, USER,
             PASS);
    if (system(cmd) != 0) {
        fprintf(stderr, "htpasswd (apache2-utils) failed\n");
        return -1;
    }
    if (start_token_server() != 0 || start_registry(0) != 0 || start_registry(1) != 0 ||
        start_registry(2) != 0 || get_push_token() != 0)
        return -1;

    /* The compat variant's layer: a tar.gz holding plugin.wasm. */
    char path[1024] = {0};
    snprintf(path, sizeof path, "%s/plugin.wasm", g_dir);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(MOD_COMPAT, 1, sizeof MOD_COMPAT, fp) != sizeof MOD_COMPAT)
        return -1;
    fclose(fp);
    snprintf(cmd, sizeof cmd, "cd '%s' && tar -cf - plugin.wasm | gzip -n > layer.tgz", g_dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/layer.tgz", g_dir);
    uint8_t *tgz = NULL;
    size_t tgzlen = 0;
    if (read_all(path, &tgz, &tgzlen) != 0)
        return -1;

    for (int which = 0; which < NREG; which++)
        if (push_oci_variant(which, "wg/mod", "v1", MOD_OCI, sizeof MOD_OCI, "plain", g_dig_oci,
                             NULL))
            return -1;
    g_len_oci = g_last_len;

    /* Docker compat image. */
    const char *conf = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
    char cdig[80] = {0}, ldig[80] = {0}, json[4096] = {0};
    if (push_blob(0, "wg/mod", conf, strlen(conf), cdig) ||
        push_blob(0, "wg/mod", tgz, tgzlen, ldig))
        return -1;
    snprintf(json, sizeof json,
             "{\"schemaVersion\":2,"
             "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
             "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
             "\"digest\":\"%s\",\"size\":%zu},"
             "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
             "\"digest\":\"%s\",\"size\":%zu}]}",
             cdig, strlen(conf), ldig, tgzlen);
    if (push_manifest(0, "wg/mod", "compat", "application/vnd.docker.distribution.manifest.v2+json",
                      json, g_dig_compat))
        return -1;
    g_len_compat = g_last_len;

    /* An index: linux/arm64 → the compat image, linux/amd64 → the OCI-spec one. */
    snprintf(json, sizeof json,
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
             "\"manifests\":["
             "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
             "\"digest\":\"%s\",\"size\":%zu,"
             "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
             "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
             "\"digest\":\"%s\",\"size\":%zu,"
             "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
             g_dig_compat, g_len_compat, g_dig_oci, g_len_oci);
    if (push_manifest(0, "wg/mod", "multi", "application/vnd.oci.image.index.v1+json", json,
                      g_dig_index))
        return -1;

    /* Images to corrupt on disk: one whose module blob will not match its
     * digest, one whose manifest will not. */
    if (push_oci_variant(0, "wg/bad", "blob", MOD_BAD, sizeof MOD_BAD, "bad-blob", NULL,
                         g_hex_badblob) ||
        push_oci_variant(0, "wg/bad", "manifest", MOD_OCI, sizeof MOD_OCI, "bad-manifest",
                         g_dig_badman, NULL))
        return -1;
    snprintf(g_hex_badman, sizeof g_hex_badman, "%s", g_dig_badman + 7);
    if (corrupt_blob(g_hex_badblob, 12) != 0 || corrupt_blob(g_hex_badman, 0) != 0)
        return -1;
    return 0;
}

static void rm_rf(const char *dir)
{
    char cmd[1200] = {0};
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static int group_teardown(void **state)
{
    for (int i = 0; i < NREG; i++) {
        if (g_reg[i] > 0) {
            kill(g_reg[i], SIGTERM);
            waitpid(g_reg[i], NULL, 0);
        }
    }
    if (g_tok > 0) {
        kill(g_tok, SIGTERM);
        waitpid(g_tok, NULL, 0);
    }
    curl_global_cleanup();
    rm_rf(g_dir);
    return 0;
}

static wg_oci_options opts(int which, bool creds)
{
    wg_oci_options o = {.insecure = true, .timeout_ms = 5000, .max_attempts = 2, .backoff_ms = 50};
    if (creds) {
        o.username = USER;
        o.password = PASS;
    }
    (void)which;
    return o;
}

static bool pull(int which, const char *repo, const char *ref, const wg_oci_options *o, wg_buf *mod,
                 char dig[WG_OCI_DIGEST_LEN], char *err, size_t errlen)
{
    wg_buf_clear(mod);
    err[0] = '\0';
    bool ok = wg_fetch_oci(g_host[which], repo, ref, o, mod, dig, err, errlen);
    if (!ok)
        fprintf(stderr, "  (%s)\n", err);
    return ok;
}

static void test_oci_variant_by_tag_and_digest(void **state)
{
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
    wg_oci_options o = opts(0, false);
    assert_true(pull(0, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_int_equal(mod.len, sizeof MOD_OCI);
    assert_memory_equal(mod.data, MOD_OCI, sizeof MOD_OCI);
    assert_string_equal(dig, g_dig_oci);

    memset(dig, 0, sizeof dig);
    assert_true(pull(0, "wg/mod", g_dig_oci, &o, &mod, dig, err, sizeof err));
    assert_memory_equal(mod.data, MOD_OCI, sizeof MOD_OCI);
    assert_string_equal(dig, g_dig_oci);
    wg_buf_free(&mod);
}

static void test_compat_variant(void **state)
{
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
    wg_oci_options o = opts(0, false);
    assert_true(pull(0, "wg/mod", "compat", &o, &mod, dig, err, sizeof err));
    assert_int_equal(mod.len, sizeof MOD_COMPAT);
    assert_memory_equal(mod.data, MOD_COMPAT, sizeof MOD_COMPAT);
    assert_string_equal(dig, g_dig_compat);
    wg_buf_free(&mod);
}

static void test_index_picks_linux_amd64(void **state)
{
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
    wg_oci_options o = opts(0, false);
    assert_true(pull(0, "wg/mod", "multi", &o, &mod, dig, err, sizeof err));
    assert_int_equal(mod.len, sizeof MOD_OCI);
    assert_memory_equal(mod.data, MOD_OCI, sizeof MOD_OCI);
    assert_string_equal(dig, g_dig_index);
    assert_true(pull(0, "wg/mod", g_dig_index, &o, &mod, dig, err, sizeof err));
    assert_memory_equal(mod.data, MOD_OCI, sizeof MOD_OCI);
    /* The image the module came from: the index's linux/amd64 entry. */
    char image[WG_OCI_DIGEST_LEN] = {0};
    o.image_digest_out = image;
    assert_true(pull(0, "wg/mod", "multi", &o, &mod, dig, err, sizeof err));
    assert_string_equal(image, g_dig_oci);
    assert_true(pull(0, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_string_equal(image, g_dig_oci); /* no index: the manifest itself */
    wg_buf_free(&mod);
}

/* sha256 of an index image: the index's digest (what the user pins) and
 * its platform image's (what Istio compares) are both accepted, and the
 * module is then cached under both. */
static void test_index_sha256_either_digest(void **state)
{
    (void)state;
    char dir[] = "/tmp/wg-oci-cache-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[512] = {0};
    wg_cache *cache = wg_cache_open(dir, err, sizeof err);
    assert_non_null(cache);
    const char *pins[] = {g_dig_index + 7, g_dig_oci + 7}; /* hex after "sha256:" */
    for (int i = 0; i < 2; i++) {
        wg_fetch_request rq = {.registry = g_host[0], .repository = "wg/mod", .tag = "multi",
                               .expect_sha256 = pins[i], .insecure = true, .timeout_ms = 5000};
        wg_buf mod = {0};
        bool cached = true;
        assert_true(wg_fetch_module(cache, &rq, &mod, NULL, &cached, err, sizeof err));
        assert_memory_equal(mod.data, MOD_OCI, sizeof MOD_OCI);
        /* The first pull fetched; the second finds the module by the other digest. */
        assert_int_equal(cached, i == 1);
        wg_buf_free(&mod);
    }
    char wrong[65];
    memset(wrong, 'a', 64);
    wrong[64] = 0;
    wg_fetch_request rq = {.registry = g_host[0], .repository = "wg/mod", .tag = "multi",
                           .expect_sha256 = wrong, .insecure = true, .timeout_ms = 5000};
    wg_buf mod = {0};
    assert_false(wg_fetch_module(cache, &rq, &mod, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "registry has index"));
    assert_non_null(strstr(err, g_dig_oci));
    wg_buf_free(&mod);
    wg_cache_close(cache);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_unknown_tag_and_digest(void **state)
{
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
    wg_oci_options o = opts(0, false);
    assert_false(pull(0, "wg/mod", "nope", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "HTTP status 404"));
    assert_non_null(strstr(err, "MANIFEST_UNKNOWN"));
    assert_non_null(strstr(err, "/v2/wg/mod/manifests/nope"));
    assert_false(pull(0, "wg/nothing", "v1", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "HTTP status 404"));
    /* A well-formed digest nobody pushed. */
    char other[80] = {0};
    digest_of("x", 1, other);
    assert_false(pull(0, "wg/mod", other, &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "HTTP status 404"));
    /* Malformed references never reach the network. */
    assert_false(pull(0, "wg/mod", "sha256:abc", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "malformed digest"));
    assert_false(pull(0, "wg/mod", "v1/../x", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "malformed"));
    assert_int_equal(mod.len, 0);
    wg_buf_free(&mod);
}

static void test_digest_mismatch(void **state)
{
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
    wg_oci_options o = opts(0, false);
    /* The module blob was altered in storage. */
    assert_false(pull(0, "wg/bad", "blob", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "digest mismatch"));
    assert_non_null(strstr(err, g_hex_badblob));
    /* The manifest was altered: by tag nothing can be checked, but the
     * digest reported is that of the bytes received ... */
    assert_true(pull(0, "wg/bad", "manifest", &o, &mod, dig, err, sizeof err));
    assert_string_not_equal(dig, g_dig_badman);
    /* ... and by digest the mismatch is an error. */
    assert_false(pull(0, "wg/bad", g_dig_badman, &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "digest mismatch"));
    assert_non_null(strstr(err, "manifest"));
    wg_buf_free(&mod);
}

static void test_size_cap(void **state)
{
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
    wg_oci_options o = opts(0, false);
    o.max_bytes = 4; /* smaller than the manifest already */
    assert_false(pull(0, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "larger than 4 bytes"));
    wg_buf_free(&mod);
}

static void test_basic_auth(void **state)
{
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
    wg_oci_options o = opts(1, false);
    assert_false(pull(1, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "401"));

    o = opts(1, true);
    assert_true(pull(1, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_memory_equal(mod.data, MOD_OCI, sizeof MOD_OCI);
    assert_string_equal(dig, g_dig_oci);

    o.password = "wrong";
    assert_false(pull(1, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "HTTP status 401"));
    wg_buf_free(&mod);
}

static void test_bearer_auth(void **state)
{
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
    wg_oci_options o = opts(2, false);
    /* Anonymous: the token service refuses. */
    assert_false(pull(2, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_non_null(strstr(err, "token request"));
    assert_non_null(strstr(err, "401"));

    o = opts(2, true);
    assert_true(pull(2, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_memory_equal(mod.data, MOD_OCI, sizeof MOD_OCI);
    assert_string_equal(dig, g_dig_oci);

    /* The token was asked for with the challenge's service and scope. */
    char path[1024] = {0}, log[8192] = {0};
    snprintf(path, sizeof path, "%s/token.log", g_dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(log, 1, sizeof log - 1, fp);
    fclose(fp);
    log[n] = '\0';
    assert_non_null(strstr(log, "service=wg-registry&scope=repository%3Awg%2Fmod%3Apull\n"));
    wg_buf_free(&mod);
}

/* wg_oci_push: what it publishes pulls back as the same module, with the
 * digest it reported, through Basic and Bearer authentication (the token
 * for push scope), and nothing is pushed without credentials. */
static void test_push_round_trip(void **state)
{
    (void)state;
    static const uint8_t module[] = {0, 'a', 's', 'm', 1, 0, 0, 0, 0, 4, 'p', 'u', 's', 'h'};
    for (int which = 1; which <= 2; which++) {
        wg_buf mod = {0};
        char pushed[WG_OCI_DIGEST_LEN] = {0}, dig[WG_OCI_DIGEST_LEN] = {0}, err[512] = {0};
        wg_oci_options o = opts(which, false);
        assert_false(wg_oci_push(g_host[which], "wg/pushed", "v1", &o, module, sizeof module,
                                 pushed, err, sizeof err));
        assert_non_null(strstr(err, "401"));
        o = opts(which, true);
        assert_true(wg_oci_push(g_host[which], "wg/pushed", "v1", &o, module, sizeof module,
                                pushed, err, sizeof err));
        assert_true(pull(which, "wg/pushed", "v1", &o, &mod, dig, err, sizeof err));
        assert_int_equal(mod.len, sizeof module);
        assert_memory_equal(mod.data, module, sizeof module);
        assert_string_equal(dig, pushed);
        wg_buf_free(&mod);
    }
}

static void test_basic_auth_from_dockerconfig(void **state)
{
    char json[1024] = {0}, err[256] = {0};
    char *u = NULL, *p = NULL;
    /* base64("wguser:wg-secret-pw") */
    snprintf(json, sizeof json,
             "{\"auths\":{\"other.example\":{\"username\":\"a\",\"password\":\"b\"},"
             "\"http://%s/\":{\"auth\":\"d2d1c2VyOndnLXNlY3JldC1wdw==\"}}}",
             g_host[1]);
    assert_int_equal(wg_oci_credentials_from_dockerconfig(json, g_host[1], &u, &p, err, sizeof err),
                     1);
    assert_string_equal(u, USER);
    assert_string_equal(p, PASS);
    wg_oci_options o = opts(1, false);
    o.username = u;
    o.password = p;
    wg_buf mod = {0};
    char dig[WG_OCI_DIGEST_LEN] = {0};
    assert_true(pull(1, "wg/mod", "v1", &o, &mod, dig, err, sizeof err));
    assert_memory_equal(mod.data, MOD_OCI, sizeof MOD_OCI);
    free(u);
    free(p);
    wg_buf_free(&mod);
}

static void test_dockerconfig_parsing(void **state)
{
    char err[256] = {0};
    char *u = NULL, *p = NULL;
    const char *doc = "{\"auths\":{"
                      "\"https://index.docker.io/v1/\":{\"username\":\"hub\",\"password\":\"h\"},"
                      "\"ghcr.io\":{\"username\":\"gh\",\"password\":\"g\"},"
                      "\"broken.example\":{\"auth\":\"!!!\"},"
                      "\"empty.example\":{}}}";
    assert_int_equal(
        wg_oci_credentials_from_dockerconfig(doc, "docker.io", &u, &p, err, sizeof err), 1);
    assert_string_equal(u, "hub");
    assert_string_equal(p, "h");
    free(u);
    free(p);
    assert_int_equal(wg_oci_credentials_from_dockerconfig(doc, "ghcr.io", &u, &p, err, sizeof err),
                     1);
    assert_string_equal(u, "gh");
    free(u);
    free(p);
    assert_int_equal(wg_oci_credentials_from_dockerconfig(doc, "quay.io", &u, &p, err, sizeof err),
                     0);
    assert_null(u);
    assert_int_equal(
        wg_oci_credentials_from_dockerconfig(doc, "broken.example", &u, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "base64"));
    assert_int_equal(
        wg_oci_credentials_from_dockerconfig(doc, "empty.example", &u, &p, err, sizeof err), -1);
    assert_int_equal(
        wg_oci_credentials_from_dockerconfig("{\"auths\":", "x", &u, &p, err, sizeof err), -1);
    assert_int_equal(wg_oci_credentials_from_dockerconfig("{}", "x", &u, &p, err, sizeof err), 0);
    assert_null(u);
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oci_variant_by_tag_and_digest),
        cmocka_unit_test(test_compat_variant),
        cmocka_unit_test(test_index_picks_linux_amd64),
        cmocka_unit_test(test_index_sha256_either_digest),
        cmocka_unit_test(test_unknown_tag_and_digest),
        cmocka_unit_test(test_digest_mismatch),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_bearer_auth),
        cmocka_unit_test(test_push_round_trip),
        cmocka_unit_test(test_basic_auth_from_dockerconfig),
        cmocka_unit_test(test_dockerconfig_parsing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
