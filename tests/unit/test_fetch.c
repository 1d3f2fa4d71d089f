/* Module sources (src/fetch/fetch.c, unbox.c) against a real HTTP server on
 * loopback: tests/fetch/server.py, started once for the whole group. */
#include "fetch/fetch.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#ifndef WG_FETCH_TEST_SERVER
#error "WG_FETCH_TEST_SERVER must name tests/fetch/server.py"
#endif

static char g_dir[512];
static pid_t g_server = -1;
static int g_port;
static int g_tls_port; /* 0 when no certificate could be made */

/* The module the server serves as mod.wasm. */
static uint8_t g_mod[300];

static void write_file(const char *name, const void *data, size_t len)
{
    char path[1024] = {0};
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static int group_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/wg-fetch-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    for (size_t i = 0; i < sizeof g_mod; i++)
        g_mod[i] = (uint8_t)(i * 7);
    memcpy(g_mod, "\0asm\1\0\0\0", 8);
    write_file("mod.wasm", g_mod, sizeof g_mod);
    write_file("plugin.wasm", g_mod, sizeof g_mod);
    write_file("readme.txt", "hello\n", 6);
    static uint8_t zeros[200000];
    memcpy(zeros, "\0asm\1\0\0\0", 8);
    write_file("big.wasm", zeros, sizeof zeros);

    /* A self-signed certificate for the HTTPS listener, if openssl is here. */
    char cmd[2048] = {0};
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout '%s/key.pem' -out '%s/cert.pem' -days 2 -subj /CN=127.0.0.1 "
             ">/dev/null 2>&1",
             g_dir, g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "openssl not usable: the HTTPS test will fail\n");

    int fds[2] = {-1, -1};
    if (pipe(fds) != 0)
        return -1;
    g_server = fork();
    if (g_server < 0)
        return -1;
    if (g_server == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", WG_FETCH_TEST_SERVER, g_dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *fp = fdopen(fds[0], "r");
    char line[64] = {0};
    if (!fp || !fgets(line, sizeof line, fp)) {
        fprintf(stderr, "test server did not start\n");
        return -1;
    }
    fclose(fp);
    g_port = atoi(line);
    const char *sp = strchr(line, ' ');
    g_tls_port = sp ? atoi(sp + 1) : 0;
    return g_port > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    if (g_server > 0) {
        kill(g_server, SIGTERM);
        waitpid(g_server, NULL, 0);
    }
    DIR *d = opendir(g_dir);
    struct dirent *de = NULL;
    while (d && (de = readdir(d)) != NULL) {
        char path[1024] = {0};
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", g_dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(g_dir);
    return 0;
}

static const char *url(const char *path)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", g_port, path);
    return buf;
}

static int64_t now_ms(void)
{
    struct timespec ts = {0};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How many /status requests the server saw for key. */
static int server_count(const char *key)
{
    char path[128] = {0};
    snprintf(path, sizeof path, "/count/%s", key);
    /* Not a module, so read it with a raw HTTP/1.0 request. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256] = {0};
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    assert_int_equal(write(s, req, (size_t)n), n);
    char resp[1024] = {0};
    size_t got = 0;
    ssize_t r = 0;
    while ((r = read(s, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)r;
    close(s);
    char *body = strstr(resp, "\r\n\r\n");
    assert_non_null(body);
    return atoi(body + 4);
}

static void expect_module(const char *u, const wg_fetch_options *o)
{
    char err[256] = {0};
    wg_buf b = {0};
    bool ok = wg_fetch_url(u, o, &b, err, sizeof err);
    if (!ok)
        fprintf(stderr, "%s: %s\n", u, err);
    assert_true(ok);
    assert_int_equal(b.len, sizeof g_mod);
    assert_memory_equal(b.data, g_mod, sizeof g_mod);
    wg_buf_free(&b);
}

static void expect_error(const char *u, const wg_fetch_options *o, const char *msg)
{
    char err[256] = {0};
    wg_buf b = {0};
    bool ok = wg_fetch_url(u, o, &b, err, sizeof err);
    if (!strstr(err, msg))
        fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", u, err, msg);
    assert_false(ok);
    assert_non_null(strstr(err, msg));
    wg_buf_free(&b);
}

static void test_file(void **state)
{
    char u[1024] = {0};
    snprintf(u, sizeof u, "file://%s/mod.wasm", g_dir);
    expect_module(u, NULL);
    wg_fetch_options small = {.max_bytes = 100};
    expect_error(u, &small, "module larger than 100 bytes");
    snprintf(u, sizeof u, "file://%s/missing.wasm", g_dir);
    expect_error(u, NULL, "no such file");
    snprintf(u, sizeof u, "file://%s/readme.txt", g_dir);
    expect_error(u, NULL, "not a WebAssembly module");
    expect_error("ftp://example.com/x.wasm", NULL, "unsupported URL scheme");
}

static void test_http_plain(void **state)
{
    expect_module(url("/f/mod.wasm"), NULL);
    expect_error(url("/f/readme.txt"), NULL, "not a WebAssembly module");
}

static void test_http_4xx_not_retried(void **state)
{
    wg_fetch_options o = {.backoff_ms = 10};
    expect_error(url("/status/404?key=k404"), &o, "HTTP status 404");
    assert_int_equal(server_count("k404"), 1);
    expect_error(url("/status/501?key=k501"), &o, "HTTP status 501");
    assert_int_equal(server_count("k501"), 1);
}

static void test_http_5xx_retried(void **state)
{
    wg_fetch_options o = {.backoff_ms = 10};
    int64_t t0 = now_ms();
    char err[256] = {0};
    wg_buf b = {0};
    assert_true(wg_fetch_url(url("/status/500?key=k500&times=2"), &o, &b, err, sizeof err));
    assert_int_equal(b.len, 8);
    assert_int_equal(server_count("k500"), 3);
    /* Backoff 10 ms then 20 ms. */
    assert_true(now_ms() - t0 >= 30);
    wg_buf_free(&b);

    /* Always failing: stops after max_attempts. */
    o.max_attempts = 3;
    expect_error(url("/status/503?key=k503"), &o, "HTTP status 503 (3 attempts)");
    assert_int_equal(server_count("k503"), 3);
}

static void test_connection_refused_retried(void **state)
{
    /* A port nobody listens on. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    close(s);
    char u[128] = {0};
    snprintf(u, sizeof u, "http://127.0.0.1:%d/x.wasm", ntohs(sa.sin_port));
    wg_fetch_options o = {.backoff_ms = 50, .max_attempts = 3};
    int64_t t0 = now_ms();
    expect_error(u, &o, "127.0.0.1");
    /* Retried: 50 ms + 100 ms of backoff. */
    assert_true(now_ms() - t0 >= 150);
}

static void test_tls_to_plain_server_fails(void **state)
{
    char u[128] = {0};
    snprintf(u, sizeof u, "https://127.0.0.1:%d/f/mod.wasm", g_port);
    wg_fetch_options o = {.backoff_ms = 2000, .timeout_ms = 5000};
    int64_t t0 = now_ms();
    expect_error(u, &o, "127.0.0.1");
    /* A TLS failure is not retried (no 2 s backoff). */
    assert_true(now_ms() - t0 < 1500);
    o.insecure = true;
    expect_error(u, &o, "127.0.0.1");
}

static void test_tls_verification(void **state)
{
    if (!g_tls_port)
        fail_msg("no HTTPS listener: the openssl command (installed by scripts/deps.sh) is "
                 "needed to make its certificate");
    char u[128] = {0};
    snprintf(u, sizeof u, "https://127.0.0.1:%d/f/mod.wasm", g_tls_port);
    /* Self-signed: refused by default, and not retried. */
    wg_fetch_options o = {.backoff_ms = 2000, .timeout_ms = 5000};
    int64_t t0 = now_ms();
    expect_error(u, &o, "certificate");
    assert_true(now_ms() - t0 < 1500);
    o.insecure = true;
    expect_module(u, &o);
}

static void test_redirects(void **state)
{
    expect_module(url("/redirect/3/mod.wasm"), NULL);
    expect_module(url("/redirect/5/mod.wasm"), NULL);
    expect_error(url("/redirect/6/mod.wasm"), NULL, "edirect");
    wg_fetch_options none = {.max_redirects = -1};
    expect_error(url("/redirect/1/mod.wasm"), &none, "HTTP status 302");
}

static void test_timeout(void **state)
{
    wg_fetch_options o = {.timeout_ms = 1000, .backoff_ms = 100};
    int64_t t0 = now_ms();
    char err[256] = {0};
    wg_buf b = {0};
    assert_false(wg_fetch_url(url("/slow"), &o, &b, err, sizeof err));
    int64_t took = now_ms() - t0;
    assert_true(took >= 900);
    assert_true(took < 2500);
    assert_non_null(strstr(err, "imed out"));
    wg_buf_free(&b);
}

/* A body cut short is an error (retried, then reported), never a module. */
static void test_truncated_body(void **state)
{
    (void)state;
    wg_fetch_options o = {.max_attempts = 2, .backoff_ms = 10};
    expect_error(url("/truncated"), &o, "(2 attempts)");
}

static void test_size_cap(void **state)
{
    wg_fetch_options o = {.max_bytes = 50000};
    char err[256] = {0};
    wg_buf b = {0};
    assert_true(wg_fetch_url(url("/large/40000"), &o, &b, err, sizeof err));
    assert_int_equal(b.len, 40000);
    assert_true(wg_fetch_url(url("/large/50000?stream=1"), &o, &b, err, sizeof err));
    assert_int_equal(b.len, 50000);
    wg_buf_free(&b);
    /* Known length, and close-delimited: both refused, never truncated. */
    expect_error(url("/large/100000"), &o, "module larger than 50000 bytes");
    expect_error(url("/large/50001?stream=1"), &o, "module larger than 50000 bytes");
    expect_error(url("/large/3000000?stream=1"), &o, "module larger than 50000 bytes");
}

/* A registry that answers badly (tests/fetch/server.py, one repository per
 * fault): each pull fails with a message that names the fault, and is
 * counted as the Istio agent counts it. */
static void test_malformed_registry_answers(void **state)
{
    (void)state;
    static const struct {
        const char *repository, *message;
        wg_fetch_result result;
    } cases[] = {
        {"badjson", "not a JSON object", WG_FETCH_MANIFEST_FAILURE},
        {"html", "not a JSON object", WG_FETCH_MANIFEST_FAILURE},
        {"nolayers", "without layers", WG_FETCH_DOWNLOAD_FAILURE},
        {"notwasmimage", "not a Wasm plugin image", WG_FETCH_DOWNLOAD_FAILURE},
        {"notwasmlayer", "is not a WebAssembly module", WG_FETCH_DOWNLOAD_FAILURE},
        {"nodigest", "layer without a sha256 digest", WG_FETCH_DOWNLOAD_FAILURE},
        {"emptyindex", "index without a usable sha256 entry", WG_FETCH_MANIFEST_FAILURE},
        {"nestedindex", "nested indexes are not supported", WG_FETCH_MANIFEST_FAILURE},
        {"indexsize", "size mismatch", WG_FETCH_MANIFEST_FAILURE},
        {"hugemanifest", "manifest larger than 4194304 bytes", WG_FETCH_MANIFEST_FAILURE},
        {"unknown", "HTTP status 404", WG_FETCH_MANIFEST_FAILURE},
    };
    char registry[64];
    snprintf(registry, sizeof registry, "127.0.0.1:%d", g_port);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wg_fetch_result result = WG_FETCH_OK;
        wg_oci_options o = {.insecure = true, .timeout_ms = 5000, .result_out = &result};
        char err[512] = {0};
        wg_buf mod = {0};
        bool ok = wg_fetch_oci(registry, cases[i].repository, "v1", &o, &mod, NULL, err,
                               sizeof err);
        if (ok || !strstr(err, cases[i].message) || result != cases[i].result)
            fprintf(stderr, "%s: ok=%d result=%s err=\"%s\", want \"%s\" (%s)\n",
                    cases[i].repository, ok, wg_fetch_result_name(result), err,
                    cases[i].message, wg_fetch_result_name(cases[i].result));
        assert_false(ok);
        assert_non_null(strstr(err, cases[i].message));
        assert_int_equal(result, cases[i].result);
        assert_int_equal(mod.len, 0);
        wg_buf_free(&mod);
    }
}

static void test_gzip_and_tar(void **state)
{
    expect_module(url("/gzip/mod.wasm"), NULL);
    expect_module(url("/tar/mod.wasm"), NULL);
    expect_module(url("/tgz/mod.wasm"), NULL);
    expect_module(url("/tgz/plugin.wasm"), NULL);
    /* The cap applies to what decompression produces. */
    wg_fetch_options o = {.max_bytes = 100000};
    expect_error(url("/gzip/big.wasm"), &o, "module larger than 100000 bytes");
    expect_error(url("/gzip/readme.txt"), NULL, "not a WebAssembly module");
    expect_error(url("/tar/readme.txt"), NULL, "no plugin.wasm and 0 .wasm files");
}

/* Appends a ustar entry to b. */
static void tar_add(wg_buf *b, const char *name, const void *data, size_t len)
{
    uint8_t h[512] = {0};
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "0000644");
    snprintf((char *)h + 124, 12, "%011o", (unsigned)len);
    h[156] = '0';
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    assert_true(wg_buf_append(b, h, 512));
    assert_true(wg_buf_append(b, data, len));
    static const uint8_t pad[512];
    if (len % 512)
        assert_true(wg_buf_append(b, pad, 512 - len % 512));
}

static void test_unbox(void **state)
{
    char err[256] = {0};
    wg_buf tar = {0}, out = {0};
    uint8_t other[20] = {0};
    memcpy(other, "\0asm\1\0\0\0", 8);
    other[10] = 9;
    static const uint8_t end[1024];

    tar_add(&tar, "a.wasm", other, sizeof other);
    tar_add(&tar, "b.wasm", other, sizeof other);
    assert_true(wg_buf_append(&tar, end, sizeof end));
    assert_false(wg_fetch_unbox(tar.data, tar.len, 0, &out, err, sizeof err));
    assert_non_null(strstr(err, "no plugin.wasm and 2 .wasm files"));

    /* plugin.wasm wins over other .wasm files, in any directory. */
    wg_buf_clear(&tar);
    tar_add(&tar, "a.wasm", other, sizeof other);
    tar_add(&tar, "./x/plugin.wasm", g_mod, sizeof g_mod);
    tar_add(&tar, "b.wasm", other, sizeof other);
    assert_true(wg_buf_append(&tar, end, sizeof end));
    assert_true(wg_fetch_unbox(tar.data, tar.len, 0, &out, err, sizeof err));
    assert_int_equal(out.len, sizeof g_mod);
    assert_memory_equal(out.data, g_mod, sizeof g_mod);

    /* A truncated archive is an error, not a short module: cut inside an
     * entry, and between entries (no end-of-archive blocks). */
    assert_false(wg_fetch_unbox(tar.data, 1024 + 512 + 100, 0, &out, err, sizeof err));
    assert_non_null(strstr(err, "malformed tar"));
    assert_false(wg_fetch_unbox(tar.data, 1024, 0, &out, err, sizeof err));
    assert_non_null(strstr(err, "truncated tar"));

    /* Truncated gzip. */
    uint8_t gz[1024] = {0};
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = g_mod;
    zs.avail_in = sizeof g_mod;
    zs.next_out = gz;
    zs.avail_out = sizeof gz;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gzlen = sizeof gz - zs.avail_out;
    deflateEnd(&zs);
    assert_true(wg_fetch_unbox(gz, gzlen, 0, &out, err, sizeof err));
    assert_int_equal(out.len, sizeof g_mod);
    assert_false(wg_fetch_unbox(gz, gzlen / 2, 0, &out, err, sizeof err));
    assert_non_null(strstr(err, "gzip"));

    /* Too short to be a module, and garbage. */
    assert_false(wg_fetch_unbox((const uint8_t *)"\0asm", 4, 0, &out, err, sizeof err));
    assert_non_null(strstr(err, "not a WebAssembly module"));
    assert_false(wg_fetch_unbox(NULL, 0, 0, &out, err, sizeof err));
    wg_buf_free(&tar);
    wg_buf_free(&out);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_http_plain),
        cmocka_unit_test(test_http_4xx_not_retried),
        cmocka_unit_test(test_http_5xx_retried),
        cmocka_unit_test(test_connection_refused_retried),
        cmocka_unit_test(test_tls_to_plain_server_fails),
        cmocka_unit_test(test_tls_verification),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_truncated_body),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_malformed_registry_answers),
        cmocka_unit_test(test_gzip_and_tar),
        cmocka_unit_test(test_unbox),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
