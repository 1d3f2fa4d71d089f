/*
 * common.h - shared helpers for the wasmgate benchmark kernels.
 *
 * Every kernel is a single translation unit that includes this header and
 * defines `int run(void)`, returning a non-negative 31-bit checksum (so the
 * printed value is identical whether an engine prints i32 results as signed
 * or unsigned).
 *
 * The kernels must build freestanding for wasm32 (no libc, no imports), so
 * only the compiler-provided freestanding headers are used here, and the
 * wasm build gets its own memset/memcpy (clang may emit calls to them).
 */
#ifndef WASMGATE_BENCH_COMMON_H
#define WASMGATE_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Work scale in percent (100 = default size). Set by the build script. */
#ifndef BENCH_SCALE_PCT
#define BENCH_SCALE_PCT 100
#endif

/* Scale an iteration count by BENCH_SCALE_PCT, never below 1. */
static inline uint32_t bench_scaled(uint32_t base)
{
    uint64_t n = (uint64_t)base * (uint64_t)BENCH_SCALE_PCT / 100u;
    return n == 0 ? 1u : (uint32_t)n;
}

/* Fold a 32-bit value into the non-negative int range returned by run(). */
static inline int bench_result(uint32_t x)
{
    return (int)(x & 0x7fffffffu);
}

/* Small deterministic generators (no libc rand). */
static inline uint32_t bench_lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state;
}

static inline uint32_t bench_xorshift(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

/* Mix a word into a running 32-bit hash (multiplicative, order sensitive). */
static inline uint32_t bench_mix(uint32_t h, uint32_t v)
{
    h ^= v;
    h *= 0x01000193u;
    h ^= h >> 15;
    return h;
}

#if defined(__wasm__)
/*
 * Freestanding replacements for the two routines clang may call implicitly
 * (struct copies, zero-initialisation, loop idiom recognition).  LLVM does
 * not turn the bodies of functions named memset/memcpy back into calls to
 * themselves.  Word-sized loops when both pointers are 4-byte aligned.
 */
void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    unsigned char b = (unsigned char)c;
    if (n >= 8 && ((uintptr_t)d & 3u) == 0) {
        uint32_t w = b * 0x01010101u;
        uint32_t *dw = (uint32_t *)d;
        size_t words = n >> 2;
        for (size_t i = 0; i < words; i++)
            dw[i] = w;
        d += words << 2;
        n &= 3u;
    }
    while (n--)
        *d++ = b;
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (n >= 8 && (((uintptr_t)d | (uintptr_t)s) & 3u) == 0) {
        uint32_t *dw = (uint32_t *)d;
        const uint32_t *sw = (const uint32_t *)s;
        size_t words = n >> 2;
        for (size_t i = 0; i < words; i++)
            dw[i] = sw[i];
        d += words << 2;
        s += words << 2;
        n &= 3u;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}
#endif /* __wasm__ */

#endif /* WASMGATE_BENCH_COMMON_H */
