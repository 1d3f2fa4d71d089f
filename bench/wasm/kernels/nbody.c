/*
 * nbody - softened gravitational N-body simulation in double precision
 * (24 bodies, symplectic leapfrog).  Uses sqrt, which maps to the exact
 * f64.sqrt instruction in wasm and to sqrtsd natively, so results are
 * bit-identical across engines.
 */
#include "common.h"

#define NB 24

typedef struct {
    double x, y, z;
    double vx, vy, vz;
    double m;
} body;

static body bodies[NB];

static double unit(uint32_t *seed)
{
    return (double)(bench_lcg(seed) >> 8) / 16777216.0; /* [0, 1) */
}

static void init(void)
{
    uint32_t seed = 4242u;
    for (int i = 0; i < NB; i++) {
        bodies[i].x = 2.0 * unit(&seed) - 1.0;
        bodies[i].y = 2.0 * unit(&seed) - 1.0;
        bodies[i].z = 0.2 * unit(&seed) - 0.1;
        /* roughly rotating disc */
        bodies[i].vx = -0.3 * bodies[i].y;
        bodies[i].vy = 0.3 * bodies[i].x;
        bodies[i].vz = 0.01 * (unit(&seed) - 0.5);
        bodies[i].m = 0.02 + 0.05 * unit(&seed);
    }
}

#define SOFT2 0.01

static void step(double dt)
{
    for (int i = 0; i < NB; i++) {
        double ax = 0.0, ay = 0.0, az = 0.0;
        for (int j = 0; j < NB; j++) {
            if (j == i)
                continue;
            double dx = bodies[j].x - bodies[i].x;
            double dy = bodies[j].y - bodies[i].y;
            double dz = bodies[j].z - bodies[i].z;
            double r2 = dx * dx + dy * dy + dz * dz + SOFT2;
            double inv = 1.0 / (r2 * __builtin_sqrt(r2));
            double s = bodies[j].m * inv;
            ax += dx * s;
            ay += dy * s;
            az += dz * s;
        }
        bodies[i].vx += dt * ax;
        bodies[i].vy += dt * ay;
        bodies[i].vz += dt * az;
    }
    for (int i = 0; i < NB; i++) {
        bodies[i].x += dt * bodies[i].vx;
        bodies[i].y += dt * bodies[i].vy;
        bodies[i].z += dt * bodies[i].vz;
    }
}

static double energy(void)
{
    double e = 0.0;
    for (int i = 0; i < NB; i++) {
        const body *b = &bodies[i];
        e += 0.5 * b->m * (b->vx * b->vx + b->vy * b->vy + b->vz * b->vz);
        for (int j = i + 1; j < NB; j++) {
            double dx = bodies[j].x - b->x;
            double dy = bodies[j].y - b->y;
            double dz = bodies[j].z - b->z;
            e -= b->m * bodies[j].m / __builtin_sqrt(dx * dx + dy * dy + dz * dz + SOFT2);
        }
    }
    return e;
}

int run(void)
{
    init();
    uint32_t steps = bench_scaled(20000);
    double e0 = energy();
    for (uint32_t s = 0; s < steps; s++)
        step(0.001);
    double e1 = energy();
    double px = 0.0;
    for (int i = 0; i < NB; i++)
        px += bodies[i].m * bodies[i].x;
    uint32_t h = 0;
    h = bench_mix(h, (uint32_t)(int64_t)(e0 * 1e9));
    h = bench_mix(h, (uint32_t)(int64_t)(e1 * 1e9));
    h = bench_mix(h, (uint32_t)(int64_t)(px * 1e9));
    return bench_result(h);
}
