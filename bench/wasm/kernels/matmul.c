/*
 * matmul - double-precision dense matrix multiply, C = A * B (200x200).
 *
 * i-k-j loop order (streams rows of B and C).  Each repetition perturbs one
 * element of B so that no repetition is redundant.  IEEE-754 results are
 * deterministic (no fast-math, no FMA contraction on the baseline targets),
 * so the checksum must match bit for bit across engines.
 */
#include "common.h"

#define N 200

static double A[N][N], B[N][N], C[N][N];

static double gen(uint32_t *seed)
{
    /* uniform in [-1, 1) with 24 random bits */
    return (double)(int32_t)(bench_lcg(seed) >> 8) / 8388608.0 - 1.0;
}

static void matmul(void)
{
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++)
            C[i][j] = 0.0;
        for (int k = 0; k < N; k++) {
            double aik = A[i][k];
            for (int j = 0; j < N; j++)
                C[i][j] += aik * B[k][j];
        }
    }
}

int run(void)
{
    uint32_t seed = 777u;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            A[i][j] = gen(&seed);
            B[i][j] = gen(&seed);
        }

    uint32_t reps = bench_scaled(8);
    double acc = 0.0;
    for (uint32_t r = 0; r < reps; r++) {
        matmul();
        int p = (int)(r % N), q = (int)((r * 7u) % N);
        acc += C[p][q];
        B[p][q] += 0.5;
    }
    double trace = 0.0, sum = 0.0;
    for (int i = 0; i < N; i++) {
        trace += C[i][i];
        for (int j = 0; j < N; j++)
            sum += C[i][j];
    }
    /* all three are O(10^3) at most: safe to convert after scaling */
    uint32_t h = 0;
    h = bench_mix(h, (uint32_t)(int64_t)(acc * 1048576.0));
    h = bench_mix(h, (uint32_t)(int64_t)(trace * 1048576.0));
    h = bench_mix(h, (uint32_t)(int64_t)(sum * 1048576.0));
    return bench_result(h);
}
