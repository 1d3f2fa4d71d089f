/*
 * sieve - sieve of Eratosthenes over odd numbers below 2^23, repeated;
 * byte-array stores with strided access.
 */
#include "common.h"

#define LIMIT (1u << 23)
#define HALF (LIMIT / 2) /* flag[i] stands for 2*i+1 */

static uint8_t composite[HALF];

static uint32_t sieve(uint32_t *last)
{
    for (uint32_t i = 0; i < HALF; i++)
        composite[i] = 0;
    composite[0] = 1; /* 1 is not prime */
    for (uint32_t i = 1; (2 * i + 1) * (2 * i + 1) < LIMIT; i++) {
        if (composite[i])
            continue;
        uint32_t p = 2 * i + 1;
        for (uint32_t j = (p * p) / 2; j < HALF; j += p)
            composite[j] = 1;
    }
    uint32_t count = 1; /* the prime 2 */
    uint32_t h = 0;
    for (uint32_t i = 1; i < HALF; i++)
        if (!composite[i]) {
            count++;
            if ((count & 1023u) == 0)
                h = bench_mix(h, 2 * i + 1);
            *last = 2 * i + 1;
        }
    return bench_mix(h, count);
}

int run(void)
{
    uint32_t reps = bench_scaled(6);
    uint32_t h = 0, last = 0;
    for (uint32_t r = 0; r < reps; r++) {
        h = bench_mix(h, sieve(&last));
        h = bench_mix(h, last);
    }
    return bench_result(h);
}
