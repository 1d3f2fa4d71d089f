/*
 * unbox.c - from a downloaded body to the module: gzip and ustar layers are
 * peeled off until raw wasm remains (see wg_fetch_unbox in fetch.h).
 */
#include "fetch/internal.h"

#include <string.h>
#include <zlib.h>

#define MAX_LAYERS 4
#define TAR_BLOCK 512

static bool gunzip(const uint8_t *in, size_t len, size_t max, wg_buf *out, char *err, size_t errlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        wg_fetch_err(err, errlen, "cannot start gzip decompression");
        return false;
    }
    bool ok = false;
    zs.next_in = (Bytef *)(uintptr_t)in;
    size_t left = len;
    for (;;) {
        if (zs.avail_in == 0 && left > 0) {
            zs.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
            left -= zs.avail_in;
        }
        if (out->cap - out->len < 16384 &&
            !wg_buf_reserve(out, out->len < 65536 ? 65536 : out->len)) {
            wg_fetch_err(err, errlen, "out of memory");
            goto done;
        }
        size_t room = out->cap - out->len;
        if (room > (1u << 30))
            room = 1u << 30;
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)room;
        int r = inflate(&zs, Z_NO_FLUSH);
        out->len += room - zs.avail_out;
        if (out->len > max) {
            wg_fetch_err(err, errlen, "module larger than %zu bytes", max);
            goto done;
        }
        if (r == Z_STREAM_END)
            break;
        if (r == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
            wg_fetch_err(err, errlen, "truncated gzip data");
            goto done;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            wg_fetch_err(err, errlen, "invalid gzip data: %s", zs.msg ? zs.msg : "error");
            goto done;
        }
    }
    ok = true;
done:
    inflateEnd(&zs);
    return ok;
}

/* Parses an octal tar number field; false if malformed or base-256. */
static bool tar_octal(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && p[i] == ' ')
        i++;
    bool any = false;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
        if (v >> 60)
            return false;
        v = v * 8 + (uint64_t)(p[i] - '0');
        any = true;
    }
    for (; i < n; i++)
        if (p[i] != ' ' && p[i] != '\0')
            return false;
    *out = v;
    return any;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Finds the module in a ustar archive: the entry whose base name is
 * plugin.wasm, else the only *.wasm file. */
static bool untar(const uint8_t *in, size_t len, const uint8_t **mod, size_t *modlen, char *err,
                  size_t errlen)
{
    const uint8_t *plugin = NULL, *single = NULL;
    size_t plugin_len = 0, single_len = 0, nwasm = 0;
    char longname[1024] = {0};
    bool have_long = false;
    size_t off = 0;
    bool ended = false;
    while (off + TAR_BLOCK <= len) {
        const uint8_t *h = in + off;
        if (all_zero(h, TAR_BLOCK)) {
            ended = true;
            break;
        }
        uint64_t size = 0;
        if (!tar_octal(h + 124, 12, &size) || size > len - off - TAR_BLOCK) {
            wg_fetch_err(err, errlen, "malformed tar archive");
            return false;
        }
        const uint8_t *data = h + TAR_BLOCK;
        char type = (char)h[156];
        char name[512] = {0};
        if (have_long) {
            memcpy(name, longname, sizeof name - 1);
            have_long = false;
        } else {
            size_t pl = memcmp(h + 257, "ustar", 5) == 0 ? strnlen((const char *)h + 345, 155) : 0;
            size_t nl = strnlen((const char *)h, 100);
            if (pl)
                memcpy(name, h + 345, pl), name[pl] = '/';
            memcpy(name + (pl ? pl + 1 : 0), h, nl);
        }
        if (type == 'L') {
            size_t n = size < sizeof longname - 1 ? (size_t)size : sizeof longname - 1;
            memcpy(longname, data, n);
            longname[n] = '\0';
            have_long = true;
        } else if (type == '0' || type == '\0') {
            const char *base = strrchr(name, '/');
            base = base ? base + 1 : name;
            if (strcmp(base, "plugin.wasm") == 0 && !plugin) {
                plugin = data;
                plugin_len = (size_t)size;
            }
            if (has_suffix(base, ".wasm")) {
                nwasm++;
                single = data;
                single_len = (size_t)size;
            }
        }
        uint64_t padded = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
        if (padded > len - off - TAR_BLOCK)
            padded = len - off - TAR_BLOCK;
        off += TAR_BLOCK + (size_t)padded;
    }
    if (!ended) {
        wg_fetch_err(err, errlen, "truncated tar archive (no end-of-archive blocks)");
        return false;
    }
    if (plugin) {
        *mod = plugin;
        *modlen = plugin_len;
        return true;
    }
    if (nwasm == 1) {
        *mod = single;
        *modlen = single_len;
        return true;
    }
    wg_fetch_err(err, errlen,
                 "tar archive holds no plugin.wasm and %zu .wasm files (expected exactly one)",
                 nwasm);
    return false;
}

bool wg_fetch_unbox(const uint8_t *in, size_t len, size_t max_bytes, wg_buf *out, char *err,
                    size_t errlen)
{
    if (max_bytes == 0)
        max_bytes = WG_FETCH_DEFAULT_MAX_BYTES;
    wg_buf held = {0}; /* the current layer when it is not `in` */
    const uint8_t *cur = in;
    size_t n = len;
    bool ok = false;
    for (int layer = 0; layer < MAX_LAYERS; layer++) {
        if (n >= 8 && memcmp(cur, "\0asm", 4) == 0) {
            if (n > max_bytes) {
                wg_fetch_err(err, errlen, "module larger than %zu bytes", max_bytes);
                goto out;
            }
            if (!wg_buf_set(out, cur, n)) {
                wg_fetch_err(err, errlen, "out of memory");
                goto out;
            }
            ok = true;
            goto out;
        }
        wg_buf next = {0};
        if (n >= 2 && cur[0] == 0x1f && cur[1] == 0x8b) {
            if (!gunzip(cur, n, max_bytes, &next, err, errlen)) {
                wg_buf_free(&next);
                goto out;
            }
        } else if (n >= TAR_BLOCK && memcmp(cur + 257, "ustar", 5) == 0) {
            const uint8_t *m = NULL;
            size_t ml = 0;
            if (!untar(cur, n, &m, &ml, err, errlen))
                goto out;
            if (!wg_buf_set(&next, m, ml)) {
                wg_fetch_err(err, errlen, "out of memory");
                wg_buf_free(&next);
                goto out;
            }
        } else {
            break;
        }
        wg_buf_free(&held);
        held = next;
        cur = held.data;
        n = held.len;
    }
    wg_fetch_err(err, errlen, "not a WebAssembly module");
out:
    wg_buf_free(&held);
    return ok;
}
