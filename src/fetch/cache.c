/*
 * cache.c - the content-addressed module cache on disk (see fetch.h).
 */
#include "fetch/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"
#define STALE_TMP_S 3600

struct wg_cache {
    char *dir;
};

/* Lowercases a digest, accepting an optional "sha256:" prefix. */
static bool norm_digest(const char *in, char out[WG_SHA256_HEX_LEN + 1])
{
    if (!in)
        return false;
    if (strncmp(in, "sha256:", 7) == 0)
        in += 7;
    if (!wg_sha256_hex_valid(in))
        return false;
    for (size_t i = 0; i < WG_SHA256_HEX_LEN; i++)
        out[i] = (in[i] >= 'A' && in[i] <= 'F') ? (char)(in[i] - 'A' + 'a') : in[i];
    out[WG_SHA256_HEX_LEN] = '\0';
    return true;
}

static bool mkdir_p(const char *path, char *err, size_t errlen)
{
    char tmp[4096] = {0};
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) {
        wg_fetch_err(err, errlen, "cache directory path is empty or too long");
        return false;
    }
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            wg_fetch_err(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
            return false;
        }
        tmp[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        wg_fetch_err(err, errlen, "%s is not a directory", path);
        return false;
    }
    return true;
}

wg_cache *wg_cache_open(const char *dir, char *err, size_t errlen)
{
    char sub[4096] = {0};
    if (!dir || !mkdir_p(dir, err, errlen))
        return NULL;
    if (snprintf(sub, sizeof sub, "%s/sha256", dir) >= (int)sizeof sub ||
        !mkdir_p(sub, err, errlen))
        return NULL;
    if (snprintf(sub, sizeof sub, "%s/index", dir) >= (int)sizeof sub || !mkdir_p(sub, err, errlen))
        return NULL;
    wg_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        wg_fetch_err(err, errlen, "out of memory");
        return NULL;
    }
    return c;
}

void wg_cache_close(wg_cache *c)
{
    if (!c)
        return;
    free(c->dir);
    free(c);
}

const char *wg_cache_dir(const wg_cache *c)
{
    return c->dir;
}

bool wg_cache_path(const wg_cache *c, const char *hex, char *path, size_t pathlen)
{
    char norm[WG_SHA256_HEX_LEN + 1] = {0};
    if (!norm_digest(hex, norm))
        return false;
    int n = snprintf(path, pathlen, "%s/sha256/%s.wasm", c->dir, norm);
    return n > 0 && (size_t)n < pathlen;
}

static bool index_path(const wg_cache *c, const char *url, char *path, size_t pathlen)
{
    char h[WG_SHA256_HEX_LEN + 1] = {0};
    wg_sha256_hex(url, strlen(url), h);
    int n = snprintf(path, pathlen, "%s/index/%s.json", c->dir, h);
    return n > 0 && (size_t)n < pathlen;
}

/* Writes data to `final` atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory. On failure nothing is
 * left behind. */
static bool write_atomic(const char *dir, const char *final, const void *data, size_t len,
                         char *err, size_t errlen)
{
    char tmp[4096] = {0};
    if (snprintf(tmp, sizeof tmp, "%s/" TMP_PREFIX "XXXXXX", dir) >= (int)sizeof tmp) {
        wg_fetch_err(err, errlen, "cache path too long");
        return false;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        wg_fetch_err(err, errlen, "cannot create a temporary file in %s: %s", dir, strerror(errno));
        return false;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            wg_fetch_err(err, errlen, "cannot write %s: %s", tmp,
                         w < 0 ? strerror(errno) : "short write");
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        wg_fetch_err(err, errlen, "cannot sync %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        wg_fetch_err(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, final) != 0) {
        wg_fetch_err(err, errlen, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
        goto fail;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return true;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return false;
}

/* Reads a whole file, at most max bytes. Returns 1, 0 if it does not exist,
 * -1 on error (including "larger than max"). */
int wg_fetch_read_file(const char *path, size_t max, wg_buf *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        wg_fetch_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        wg_fetch_err(err, errlen, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > (uint64_t)max) {
        wg_fetch_err(err, errlen, "module larger than %zu bytes", max);
        close(fd);
        return -1;
    }
    wg_buf_clear(out);
    if (!wg_buf_reserve(out, (size_t)st.st_size + 1)) {
        wg_fetch_err(err, errlen, "out of memory");
        close(fd);
        return -1;
    }
    for (;;) {
        if (out->len > max) {
            wg_fetch_err(err, errlen, "module larger than %zu bytes", max);
            close(fd);
            return -1;
        }
        if (out->cap - out->len < 4096 && !wg_buf_reserve(out, 65536)) {
            wg_fetch_err(err, errlen, "out of memory");
            close(fd);
            return -1;
        }
        ssize_t r = read(fd, out->data + out->len, out->cap - out->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            wg_fetch_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        out->len += (size_t)r;
    }
    close(fd);
    if (out->len > max) {
        wg_fetch_err(err, errlen, "module larger than %zu bytes", max);
        return -1;
    }
    return 1;
}

static int touch_path(const char *path, time_t when, bool now, char *err, size_t errlen)
{
    struct timespec ts[2] = {{0}};
    ts[0].tv_sec = ts[1].tv_sec = when;
    if (now)
        ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
    if (utimensat(AT_FDCWD, path, ts, 0) != 0) {
        if (errno == ENOENT)
            return 0;
        wg_fetch_err(err, errlen, "cannot touch %s: %s", path, strerror(errno));
        return -1;
    }
    return 1;
}

bool wg_cache_put(wg_cache *c, const void *bytes, size_t len, const char *expect_sha256,
                  char out_hex[WG_SHA256_HEX_LEN + 1], char *err, size_t errlen)
{
    char want[WG_SHA256_HEX_LEN + 1] = {0};
    char got[WG_SHA256_HEX_LEN + 1] = {0};
    char path[4096] = {0};
    char dir[4096] = {0};
    if (expect_sha256 && !norm_digest(expect_sha256, want)) {
        wg_fetch_err(err, errlen, "malformed sha256 digest \"%s\"", expect_sha256);
        return false;
    }
    wg_sha256_hex(bytes, len, got);
    if (expect_sha256 && strcmp(want, got) != 0) {
        wg_fetch_err(err, errlen, "sha256 mismatch: expected %s, module has %s", want, got);
        return false;
    }
    if (!wg_cache_path(c, got, path, sizeof path) ||
        snprintf(dir, sizeof dir, "%s/sha256", c->dir) >= (int)sizeof dir) {
        wg_fetch_err(err, errlen, "cache path too long");
        return false;
    }
    int t = touch_path(path, 0, true, err, errlen);
    if (t < 0)
        return false;
    if (t == 0 && !write_atomic(dir, path, bytes, len, err, errlen))
        return false;
    if (out_hex)
        memcpy(out_hex, got, sizeof got);
    return true;
}

int wg_cache_get(wg_cache *c, const char *hex, wg_buf *out, char *err, size_t errlen)
{
    char path[4096] = {0};
    char want[WG_SHA256_HEX_LEN + 1] = {0};
    char got[WG_SHA256_HEX_LEN + 1] = {0};
    if (!norm_digest(hex, want) || !wg_cache_path(c, want, path, sizeof path)) {
        wg_fetch_err(err, errlen, "malformed sha256 digest \"%s\"", hex ? hex : "(null)");
        return -1;
    }
    int r = wg_fetch_read_file(path, SIZE_MAX - 1, out, err, errlen);
    if (r <= 0)
        return r;
    wg_sha256_hex(out->data, out->len, got);
    if (strcmp(got, want) != 0) {
        wg_fetch_err(err, errlen, "cached module %s is corrupt (its sha256 is %s)", path, got);
        wg_buf_clear(out);
        return -1;
    }
    return touch_path(path, 0, true, err, errlen) < 0 ? -1 : 1;
}

int wg_cache_touch(wg_cache *c, const char *hex, time_t when, char *err, size_t errlen)
{
    char path[4096] = {0};
    if (!wg_cache_path(c, hex, path, sizeof path)) {
        wg_fetch_err(err, errlen, "malformed sha256 digest \"%s\"", hex ? hex : "(null)");
        return -1;
    }
    return touch_path(path, when, false, err, errlen);
}

/* ---- the URL index ---- */

static bool json_str(wg_buf *b, const char *s)
{
    bool ok = wg_buf_append(b, "\"", 1);
    for (; ok && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            ok = wg_buf_appendf(b, "\\%c", ch);
        else if (ch < 0x20)
            ok = wg_buf_appendf(b, "\\u%04x", ch);
        else
            ok = wg_buf_append(b, s, 1);
    }
    return ok && wg_buf_append(b, "\"", 1);
}

static bool write_index(wg_cache *c, const char *url, const char *digest, time_t fetched_at,
                        time_t last_used, char *err, size_t errlen)
{
    char path[4096] = {0};
    char dir[4096] = {0};
    wg_buf b = {0};
    if (!index_path(c, url, path, sizeof path) ||
        snprintf(dir, sizeof dir, "%s/index", c->dir) >= (int)sizeof dir) {
        wg_fetch_err(err, errlen, "cache path too long");
        return false;
    }
    bool ok = wg_buf_append_str(&b, "{\"url\": ") && json_str(&b, url) &&
              wg_buf_appendf(&b,
                             ", \"digest\": \"%s\", \"fetched_at\": %" PRId64
                             ", \"last_used\": %" PRId64 "}\n",
                             digest, (int64_t)fetched_at, (int64_t)last_used);
    if (!ok) {
        wg_fetch_err(err, errlen, "out of memory");
        wg_buf_free(&b);
        return false;
    }
    ok = write_atomic(dir, path, b.data, b.len, err, errlen);
    wg_buf_free(&b);
    return ok;
}

/* Finds `"key": ` in a NUL-terminated index file and returns what follows. */
static const char *json_field(const char *text, const char *key)
{
    char pat[64] = {0};
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    return p;
}

/* Parses the fields of an index file we wrote. */
static bool parse_index(wg_buf *b, wg_cache_url_entry *e)
{
    if (!wg_buf_append(b, "", 1))
        return false;
    const char *text = (const char *)b->data;
    const char *d = json_field(text, "digest");
    const char *f = json_field(text, "fetched_at");
    const char *u = json_field(text, "last_used");
    if (!d || !f || !u || *d != '"')
        return false;
    char hex[WG_SHA256_HEX_LEN + 1] = {0};
    memcpy(hex, d + 1, strnlen(d + 1, WG_SHA256_HEX_LEN));
    if (d[1 + WG_SHA256_HEX_LEN] != '"' || !norm_digest(hex, e->digest))
        return false;
    char *end = NULL;
    e->fetched_at = (time_t)strtoll(f, &end, 10);
    if (end == f)
        return false;
    e->last_used = (time_t)strtoll(u, &end, 10);
    return end != u;
}

bool wg_cache_bind_url(wg_cache *c, const char *url, const char *hex, time_t now, char *err,
                       size_t errlen)
{
    char norm[WG_SHA256_HEX_LEN + 1] = {0};
    if (!url || !norm_digest(hex, norm)) {
        wg_fetch_err(err, errlen, "malformed sha256 digest \"%s\"", hex ? hex : "(null)");
        return false;
    }
    return write_index(c, url, norm, now, now, err, errlen);
}

int wg_cache_lookup_url(wg_cache *c, const char *url, time_t now, wg_cache_url_entry *entry,
                        char *err, size_t errlen)
{
    char path[4096] = {0};
    char mod[4096] = {0};
    wg_buf b = {0};
    wg_cache_url_entry e = {.fetched_at = 0};
    if (!url || !index_path(c, url, path, sizeof path)) {
        wg_fetch_err(err, errlen, "cache path too long");
        return -1;
    }
    int r = wg_fetch_read_file(path, 1 << 20, &b, err, errlen);
    if (r <= 0) {
        wg_buf_free(&b);
        return r;
    }
    bool ok = parse_index(&b, &e);
    wg_buf_free(&b);
    if (!ok) {
        wg_fetch_err(err, errlen, "malformed cache index entry %s", path);
        return -1;
    }
    struct stat st;
    if (!wg_cache_path(c, e.digest, mod, sizeof mod) || stat(mod, &st) != 0)
        return 0;
    e.last_used = now;
    if (!write_index(c, url, e.digest, e.fetched_at, now, err, errlen))
        return -1;
    if (touch_path(mod, now, false, err, errlen) < 0)
        return -1;
    if (entry)
        *entry = e;
    return 1;
}

/* ---- eviction ---- */

typedef struct gc_mod {
    char hex[WG_SHA256_HEX_LEN + 1];
    time_t used;
    uint64_t size;
    bool in_use, evict;
} gc_mod;

static int cmp_used(const void *a, const void *b)
{
    const gc_mod *x = a, *y = b;
    if (x->used != y->used)
        return x->used < y->used ? -1 : 1;
    return strcmp(x->hex, y->hex);
}

/* Removes temporary files older than an hour from dir. */
static void remove_stale_tmp(const char *dir, DIR *d, time_t now)
{
    struct dirent *de = NULL;
    char path[4096] = {0};
    struct stat st;
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
            continue;
        if (stat(path, &st) == 0 && st.st_mtime + STALE_TMP_S < now)
            unlink(path);
    }
}

bool wg_cache_gc(wg_cache *c, time_t now, uint64_t unused_ttl_s, uint64_t max_bytes,
                 const char *const *in_use, size_t n, wg_cache_gc_stats *stats, char *err,
                 size_t errlen)
{
    char dir[4096] = {0};
    char path[4096] = {0};
    gc_mod *mods = NULL;
    size_t nmods = 0, capmods = 0;
    wg_cache_gc_stats st_local = {0};
    wg_cache_gc_stats *st = stats ? stats : &st_local;
    bool ok = false;
    DIR *d = NULL;
    struct dirent *de = NULL;
    wg_buf b = {0};
    memset(st, 0, sizeof *st);

    snprintf(dir, sizeof dir, "%s/sha256", c->dir);
    if (!(d = opendir(dir))) {
        wg_fetch_err(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        return false;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l != WG_SHA256_HEX_LEN + 5 || strcmp(de->d_name + WG_SHA256_HEX_LEN, ".wasm") != 0)
            continue;
        char hex[WG_SHA256_HEX_LEN + 1] = {0};
        memcpy(hex, de->d_name, WG_SHA256_HEX_LEN);
        struct stat sb;
        if (!wg_sha256_hex_valid(hex) ||
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path ||
            stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (nmods == capmods) {
            size_t nc = capmods ? capmods * 2 : 16;
            gc_mod *nm = realloc(mods, nc * sizeof *nm);
            if (!nm) {
                wg_fetch_err(err, errlen, "out of memory");
                goto out;
            }
            mods = nm;
            capmods = nc;
        }
        gc_mod *m = &mods[nmods++];
        memset(m, 0, sizeof *m);
        memcpy(m->hex, hex, sizeof hex);
        m->used = sb.st_mtime;
        m->size = (uint64_t)sb.st_size;
        for (size_t i = 0; i < n; i++) {
            char norm[WG_SHA256_HEX_LEN + 1] = {0};
            if (in_use[i] && norm_digest(in_use[i], norm) && strcmp(norm, hex) == 0)
                m->in_use = true;
        }
    }
    remove_stale_tmp(dir, d, now);

    if (nmods > 1) /* mods is NULL when the cache holds no module */
        qsort(mods, nmods, sizeof *mods, cmp_used);
    uint64_t total = 0;
    for (size_t i = 0; i < nmods; i++) {
        gc_mod *m = &mods[i];
        if (!m->in_use && unused_ttl_s > 0 && m->used < now &&
            (uint64_t)(now - m->used) > unused_ttl_s)
            m->evict = true;
        else
            total += m->size;
    }
    for (size_t i = 0; max_bytes > 0 && total > max_bytes && i < nmods; i++) {
        if (mods[i].in_use || mods[i].evict)
            continue;
        mods[i].evict = true;
        total -= mods[i].size;
    }
    for (size_t i = 0; i < nmods; i++) {
        gc_mod *m = &mods[i];
        if (!m->evict) {
            st->kept++;
            st->kept_bytes += m->size;
            continue;
        }
        if (snprintf(path, sizeof path, "%s/%s.wasm", dir, m->hex) >= (int)sizeof path)
            continue;
        if (unlink(path) != 0 && errno != ENOENT) {
            wg_fetch_err(err, errlen, "cannot remove %s: %s", path, strerror(errno));
            goto out;
        }
        st->evicted++;
        st->evicted_bytes += m->size;
    }

    /* Index entries whose module is gone. */
    closedir(d);
    snprintf(dir, sizeof dir, "%s/index", c->dir);
    if (!(d = opendir(dir))) {
        wg_fetch_err(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
            continue;
        char mod[4096] = {0};
        wg_cache_url_entry e = {.fetched_at = 0};
        struct stat sb;
        if (wg_fetch_read_file(path, 1 << 20, &b, NULL, 0) <= 0)
            continue;
        if (parse_index(&b, &e) && wg_cache_path(c, e.digest, mod, sizeof mod) &&
            stat(mod, &sb) == 0)
            continue;
        if (unlink(path) == 0)
            st->index_removed++;
    }
    remove_stale_tmp(dir, d, now);
    ok = true;
out:
    if (d)
        closedir(d);
    wg_buf_free(&b);
    free(mods);
    return ok;
}
