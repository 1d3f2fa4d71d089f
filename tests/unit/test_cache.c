/* The on-disk module cache (src/fetch/cache.c). */
#include "fetch/fetch.h"

#include <setjmp.h> /* cmocka needs these before cmocka.h */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
    char dir[512];
    wg_cache *cache;
} fixture;

static int rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de = NULL;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[4096] = {0};
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[256] = {0};
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/wg-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    /* A nested path: open creates what is missing. */
    char root[600] = {0};
    snprintf(root, sizeof root, "%s/c/d", f->dir);
    f->cache = wg_cache_open(root, err, sizeof err);
    if (!f->cache) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wg_cache_close(f->cache);
    rm_rf(f->dir);
    free(f);
    return 0;
}

/* Number of directory entries other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de = NULL;
    int n = 0;
    while (d && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

static int count_modules(wg_cache *c)
{
    char dir[4096] = {0};
    snprintf(dir, sizeof dir, "%s/sha256", wg_cache_dir(c));
    return count_entries(dir);
}

static bool in_cache(wg_cache *c, const char *hex)
{
    char path[4096] = {0};
    struct stat st;
    return wg_cache_path(c, hex, path, sizeof path) && stat(path, &st) == 0;
}

/* A small module-like blob: \0asm, version, then filler. */
static void make_blob(uint8_t *b, size_t n, uint8_t fill)
{
    memset(b, fill, n);
    memcpy(b, "\0asm\1\0\0\0", 8);
}

static void test_sha256(void **state)
{
    char hex[65] = {0};
    wg_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    wg_sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_true(wg_sha256_hex_valid(hex));
    hex[3] = 'g';
    assert_false(wg_sha256_hex_valid(hex));
    assert_false(wg_sha256_hex_valid("abc"));
}

static void test_put_get(void **state)
{
    fixture *f = *state;
    uint8_t blob[1000];
    char hex[65] = {0}, want[65] = {0}, err[256] = {0};
    wg_buf b = {0};
    make_blob(blob, sizeof blob, 7);
    wg_sha256_hex(blob, sizeof blob, want);

    assert_int_equal(wg_cache_get(f->cache, want, &b, err, sizeof err), 0);
    assert_true(wg_cache_put(f->cache, blob, sizeof blob, NULL, hex, err, sizeof err));
    assert_string_equal(hex, want);
    assert_int_equal(wg_cache_get(f->cache, want, &b, err, sizeof err), 1);
    assert_int_equal(b.len, sizeof blob);
    assert_memory_equal(b.data, blob, sizeof blob);

    /* Stored where documented. */
    char path[4096] = {0}, expect[4096] = {0};
    assert_true(wg_cache_path(f->cache, want, path, sizeof path));
    snprintf(expect, sizeof expect, "%s/sha256/%s.wasm", wg_cache_dir(f->cache), want);
    assert_string_equal(path, expect);

    /* Again, with the expected digest in upper case and a prefix: same entry. */
    char upper[80] = "sha256:";
    for (int i = 0; i < 64; i++)
        upper[7 + i] = (char)(want[i] >= 'a' ? want[i] - 'a' + 'A' : want[i]);
    assert_true(wg_cache_put(f->cache, blob, sizeof blob, upper, NULL, err, sizeof err));
    assert_int_equal(count_modules(f->cache), 1);

    /* Lookups with malformed digests are errors. */
    assert_int_equal(wg_cache_get(f->cache, "nope", &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "malformed"));

    /* A corrupted file is detected. */
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 100, SEEK_SET);
    fputc('X', fp);
    fclose(fp);
    assert_int_equal(wg_cache_get(f->cache, want, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrupt"));
    wg_buf_free(&b);
}

static void test_digest_mismatch(void **state)
{
    fixture *f = *state;
    uint8_t blob[100];
    char err[256] = {0}, got[65] = {0};
    const char *wrong = "0000000000000000000000000000000000000000000000000000000000000001";
    make_blob(blob, sizeof blob, 1);
    wg_sha256_hex(blob, sizeof blob, got);
    assert_false(wg_cache_put(f->cache, blob, sizeof blob, wrong, NULL, err, sizeof err));
    assert_non_null(strstr(err, "mismatch"));
    assert_non_null(strstr(err, wrong));
    assert_non_null(strstr(err, got));
    assert_int_equal(count_modules(f->cache), 0);

    assert_false(wg_cache_put(f->cache, blob, sizeof blob, "xyz", NULL, err, sizeof err));
    assert_non_null(strstr(err, "malformed"));
    assert_int_equal(count_modules(f->cache), 0);
}

static void test_atomic_failure_leaves_nothing(void **state)
{
    fixture *f = *state;
    static uint8_t blob[256 * 1024];
    char err[256] = {0};
    struct rlimit old, lim;
    make_blob(blob, sizeof blob, 3);

    /* Make the write fail part way: the file size limit stops it at 64 KiB. */
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    bool ok = wg_cache_put(f->cache, blob, sizeof blob, NULL, NULL, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);

    assert_false(ok);
    assert_non_null(strstr(err, "cannot write"));
    assert_int_equal(count_modules(f->cache), 0); /* no module, no temporary file */

    /* Works once the limit is gone. */
    assert_true(wg_cache_put(f->cache, blob, sizeof blob, NULL, NULL, err, sizeof err));
    assert_int_equal(count_modules(f->cache), 1);
}

static void test_url_index(void **state)
{
    fixture *f = *state;
    uint8_t a[64], b[64];
    char ha[65] = {0}, hb[65] = {0}, err[256] = {0};
    wg_cache_url_entry e = {.fetched_at = 0};
    const char *url = "https://example.com/plugins/\"quoted\"\\path.wasm?x=1";
    make_blob(a, sizeof a, 1);
    make_blob(b, sizeof b, 2);
    assert_true(wg_cache_put(f->cache, a, sizeof a, NULL, ha, err, sizeof err));
    assert_true(wg_cache_put(f->cache, b, sizeof b, NULL, hb, err, sizeof err));

    assert_int_equal(wg_cache_lookup_url(f->cache, url, 100, &e, err, sizeof err), 0);
    assert_true(wg_cache_bind_url(f->cache, url, ha, 100, err, sizeof err));
    assert_int_equal(wg_cache_lookup_url(f->cache, url, 150, &e, err, sizeof err), 1);
    assert_string_equal(e.digest, ha);
    assert_int_equal(e.fetched_at, 100);
    assert_int_equal(e.last_used, 150);
    assert_int_equal(wg_cache_lookup_url(f->cache, url, 160, &e, err, sizeof err), 1);
    assert_int_equal(e.last_used, 160);

    /* The entry file is where documented and holds the URL, JSON-escaped. */
    char path[4096] = {0}, uh[65] = {0};
    wg_sha256_hex(url, strlen(url), uh);
    snprintf(path, sizeof path, "%s/index/%s.json", wg_cache_dir(f->cache), uh);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char line[1024] = {0};
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_non_null(strstr(line, "\"url\": \"https://example.com/plugins/\\\"quoted\\\"\\\\path"));
    assert_non_null(strstr(line, ha));
    assert_non_null(strstr(line, "\"fetched_at\": 100"));
    assert_non_null(strstr(line, "\"last_used\": 160"));

    /* Rebinding (a new tag push) replaces the digest. */
    assert_true(wg_cache_bind_url(f->cache, url, hb, 200, err, sizeof err));
    assert_int_equal(wg_cache_lookup_url(f->cache, url, 201, &e, err, sizeof err), 1);
    assert_string_equal(e.digest, hb);

    /* Another URL is another entry. */
    assert_int_equal(
        wg_cache_lookup_url(f->cache, "https://example.com/other", 1, &e, err, sizeof err), 0);

    /* A module evicted behind the index's back is a miss. */
    char mod[4096] = {0};
    assert_true(wg_cache_path(f->cache, hb, mod, sizeof mod));
    assert_int_equal(unlink(mod), 0);
    assert_int_equal(wg_cache_lookup_url(f->cache, url, 300, &e, err, sizeof err), 0);
}

/* Puts a blob with the given fill and size, last used at `when`. */
static void put_at(wg_cache *c, uint8_t fill, size_t size, time_t when, char hex[65])
{
    uint8_t *blob = malloc(size);
    char err[256] = {0};
    make_blob(blob, size, fill);
    assert_true(wg_cache_put(c, blob, size, NULL, hex, err, sizeof err));
    assert_int_equal(wg_cache_touch(c, hex, when, err, sizeof err), 1);
    free(blob);
}

static void test_gc_ttl(void **state)
{
    fixture *f = *state;
    char a[65] = {0}, b[65] = {0}, c[65] = {0}, err[256] = {0};
    wg_cache_gc_stats st = {0};
    put_at(f->cache, 1, 100, 1000, a); /* old */
    put_at(f->cache, 2, 100, 1000, b); /* old but in use */
    put_at(f->cache, 3, 100, 9000, c); /* recent */
    assert_true(wg_cache_bind_url(f->cache, "http://x/a", a, 1000, err, sizeof err));
    assert_true(wg_cache_bind_url(f->cache, "http://x/c", c, 9000, err, sizeof err));

    const char *in_use[] = {b};
    assert_true(wg_cache_gc(f->cache, 10000, 3600, 0, in_use, 1, &st, err, sizeof err));
    assert_false(in_cache(f->cache, a));
    assert_true(in_cache(f->cache, b));
    assert_true(in_cache(f->cache, c));
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.evicted_bytes, 100);
    assert_int_equal(st.kept, 2);
    assert_int_equal(st.kept_bytes, 200);
    assert_int_equal(st.index_removed, 1); /* http://x/a pointed at a */

    wg_cache_url_entry e = {.fetched_at = 0};
    assert_int_equal(wg_cache_lookup_url(f->cache, "http://x/a", 10000, &e, err, sizeof err), 0);
    assert_int_equal(wg_cache_lookup_url(f->cache, "http://x/c", 10000, &e, err, sizeof err), 1);

    /* No TTL and no size limit: nothing goes. */
    assert_true(wg_cache_gc(f->cache, 1000000, 0, 0, NULL, 0, &st, err, sizeof err));
    assert_int_equal(st.evicted, 0);
    assert_int_equal(count_modules(f->cache), 2);
}

static void test_gc_lru_size(void **state)
{
    fixture *f = *state;
    char a[65] = {0}, b[65] = {0}, c[65] = {0}, d[65] = {0}, err[256] = {0};
    wg_cache_gc_stats st = {0};
    put_at(f->cache, 1, 1000, 100, a); /* least recently used, but in use */
    put_at(f->cache, 2, 1000, 200, b);
    put_at(f->cache, 3, 1000, 300, c);
    put_at(f->cache, 4, 1000, 400, d);

    /* Upper-case in-use digest still matches. */
    char upper[65] = {0};
    for (int i = 0; i < 64; i++)
        upper[i] = (char)(a[i] >= 'a' ? a[i] - 'a' + 'A' : a[i]);
    const char *in_use[] = {NULL, upper};
    assert_true(wg_cache_gc(f->cache, 500, 0, 2500, in_use, 2, &st, err, sizeof err));
    assert_true(in_cache(f->cache, a));
    assert_false(in_cache(f->cache, b));
    assert_false(in_cache(f->cache, c));
    assert_true(in_cache(f->cache, d));
    assert_int_equal(st.evicted, 2);
    assert_int_equal(st.kept_bytes, 2000);

    /* The in-use module survives even when the limit cannot be met. */
    assert_true(wg_cache_gc(f->cache, 500, 0, 10, in_use, 2, &st, err, sizeof err));
    assert_true(in_cache(f->cache, a));
    assert_false(in_cache(f->cache, d));
    assert_int_equal(st.kept, 1);

    /* Nor does the TTL evict it. */
    assert_true(wg_cache_gc(f->cache, 1000000, 60, 0, in_use, 2, &st, err, sizeof err));
    assert_true(in_cache(f->cache, a));
    assert_true(wg_cache_gc(f->cache, 1000000, 60, 0, NULL, 0, &st, err, sizeof err));
    assert_false(in_cache(f->cache, a));
}

static void test_gc_ttl_then_lru(void **state)
{
    fixture *f = *state;
    char a[65] = {0}, b[65] = {0}, c[65] = {0}, err[256] = {0};
    wg_cache_gc_stats st = {0};
    put_at(f->cache, 1, 1000, 9500, a); /* recent */
    put_at(f->cache, 2, 1000, 100, b);  /* expired */
    put_at(f->cache, 3, 1000, 9000, c); /* older than a */
    /* TTL removes b; then c (LRU) to fit 1500 bytes. */
    assert_true(wg_cache_gc(f->cache, 10000, 3600, 1500, NULL, 0, &st, err, sizeof err));
    assert_true(in_cache(f->cache, a));
    assert_false(in_cache(f->cache, b));
    assert_false(in_cache(f->cache, c));
    assert_int_equal(st.evicted, 2);

    /* A stale temporary file from a crashed writer is cleaned up. */
    char tmp[4096] = {0};
    snprintf(tmp, sizeof tmp, "%s/sha256/.tmp-crashed", wg_cache_dir(f->cache));
    FILE *fp = fopen(tmp, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_true(wg_cache_gc(f->cache, time(NULL) + 60, 0, 0, NULL, 0, &st, err, sizeof err));
    assert_int_equal(access(tmp, F_OK), 0); /* fresh: kept (may be a live writer's) */
    assert_true(wg_cache_gc(f->cache, time(NULL) + 7200, 0, 0, NULL, 0, &st, err, sizeof err));
    assert_int_equal(access(tmp, F_OK), -1);
}

/* A cache that holds nothing (the first start of a proxy) is collected
 * without error. */
static void test_gc_empty(void **state)
{
    fixture *f = *state;
    char err[256] = {0};
    wg_cache_gc_stats st = {0};
    assert_true(wg_cache_gc(f->cache, 10000, 3600, 1, NULL, 0, &st, err, sizeof err));
    assert_int_equal(st.kept, 0);
    assert_int_equal(st.evicted, 0);
}

static void test_open_errors(void **state)
{
    fixture *f = *state;
    char err[256] = {0}, file[4096] = {0};
    snprintf(file, sizeof file, "%s/plain", f->dir);
    FILE *fp = fopen(file, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_null(wg_cache_open(file, err, sizeof err));
    assert_non_null(strstr(err, "plain"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_failure_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_lru_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_ttl_then_lru, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
