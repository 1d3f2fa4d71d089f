/*
 * memops - memory-copy heavy kernel: many memcpy/memset/memmove-like block
 * operations of varied sizes and alignments inside a 4 MiB arena, plus a
 * byte-wise overlapping move written as a plain loop.
 *
 * Natively the block copies go to the C library's memcpy/memset; in wasm
 * they go to the simple word-loop versions in common.h (no bulk-memory
 * instructions, MVP wasm only).
 */
#include "common.h"

#define ARENA (4u << 20)
#define MAXBLK 8192u

static uint8_t arena[ARENA];

/* overlapping move, forward or backward as needed */
static void move_bytes(uint8_t *dst, const uint8_t *src, uint32_t n)
{
    if (dst < src) {
        for (uint32_t i = 0; i < n; i++)
            dst[i] = src[i];
    } else if (dst > src) {
        for (uint32_t i = n; i-- > 0;)
            dst[i] = src[i];
    }
}

static uint32_t sample(uint32_t h, uint32_t off)
{
    uint32_t w = (uint32_t)arena[off] | ((uint32_t)arena[off + 1] << 8) |
                 ((uint32_t)arena[off + 2] << 16) | ((uint32_t)arena[off + 3] << 24);
    return bench_mix(h, w);
}

int run(void)
{
    uint32_t seed = 0x1234567u;
    for (uint32_t i = 0; i < ARENA; i += 4) {
        uint32_t r = bench_lcg(&seed);
        arena[i] = (uint8_t)(r >> 24);
        arena[i + 1] = (uint8_t)(r >> 16);
        arena[i + 2] = (uint8_t)(r >> 8);
        arena[i + 3] = (uint8_t)r;
    }

    uint32_t ops = bench_scaled(360000);
    uint32_t h = 0;
    for (uint32_t k = 0; k < ops; k++) {
        uint32_t r = bench_xorshift(&seed);
        uint32_t n = (r & 7u) == 0 ? (r >> 3) % MAXBLK : (r >> 3) % 512u;
        uint32_t src = bench_lcg(&seed) % (ARENA - MAXBLK - 64u);
        uint32_t dst = bench_lcg(&seed) % (ARENA - MAXBLK - 64u);
        switch (r >> 30) {
        case 0:
        case 1: /* aligned copy, non-overlapping (distinct halves) */
            src &= ~3u;
            dst &= ~3u;
            if ((src < ARENA / 2) == (dst < ARENA / 2))
                dst ^= ARENA / 2;
            if (dst > ARENA - MAXBLK)
                dst = ARENA - MAXBLK;
            if ((src < dst ? dst - src : src - dst) < n)
                break;
            __builtin_memcpy(arena + dst, arena + src, n);
            break;
        case 2: /* overlapping, unaligned move */
            move_bytes(arena + dst, arena + (dst + (r & 63u)), n);
            break;
        default: /* fill */
            __builtin_memset(arena + dst, (int)(r & 0xffu), n / 2);
            break;
        }
        if ((k & 255u) == 0)
            h = sample(h, dst);
    }
    for (uint32_t off = 0; off < ARENA; off += 4093u)
        h = sample(h, off);
    return bench_result(h);
}
