/*
 * sha256.c - digests (OpenSSL's libcrypto) and the error helper.
 */
#include "fetch/internal.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>

void wg_sha256_hex(const void *data, size_t len, char out_hex[WG_SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE] = {0};
    unsigned int mdlen = 0;
    /* Only fails on allocation failure inside OpenSSL; the digest is then
     * all zeroes, which never matches a real module. */
    if (!EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL))
        mdlen = 32;
    for (unsigned i = 0; i < 32; i++) {
        out_hex[2 * i] = digits[md[i] >> 4];
        out_hex[2 * i + 1] = digits[md[i] & 15];
    }
    out_hex[WG_SHA256_HEX_LEN] = '\0';
}

bool wg_sha256_hex_valid(const char *s)
{
    if (!s)
        return false;
    for (size_t i = 0; i < WG_SHA256_HEX_LEN; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return false;
    }
    return s[WG_SHA256_HEX_LEN] == '\0';
}

void wg_fetch_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
