/*
 * numeric.h - float operations whose Wasm semantics differ from plain C
 * (private to src/wasm/).
 *
 * NaN rules: the spec lets an operation return any NaN with the quiet bit
 * set ("arithmetic NaN") when an input is a NaN, and requires the canonical
 * NaN when all NaN inputs are canonical. x86 arithmetic on a NaN operand
 * returns that operand quieted, which satisfies both; libm's rounding
 * functions may hand back a signalling NaN unchanged, so these wrappers
 * route NaNs through an addition, which quiets them.
 */
#ifndef WASMGATE_WASM_NUMERIC_H
#define WASMGATE_WASM_NUMERIC_H

#include <math.h>
#include <stdint.h>

static inline float wasm_f32_ceil(float a) { return a != a ? a + a : ceilf(a); }
static inline float wasm_f32_floor(float a) { return a != a ? a + a : floorf(a); }
static inline float wasm_f32_trunc(float a) { return a != a ? a + a : truncf(a); }
static inline float wasm_f32_nearest(float a) { return a != a ? a + a : nearbyintf(a); }
static inline float wasm_f32_sqrt(float a) { return a != a ? a + a : sqrtf(a); }
static inline double wasm_f64_ceil(double a) { return a != a ? a + a : ceil(a); }
static inline double wasm_f64_floor(double a) { return a != a ? a + a : floor(a); }
static inline double wasm_f64_trunc(double a) { return a != a ? a + a : trunc(a); }
static inline double wasm_f64_nearest(double a) { return a != a ? a + a : nearbyint(a); }
static inline double wasm_f64_sqrt(double a) { return a != a ? a + a : sqrt(a); }

/* min/max: a NaN input gives a NaN; -0 is below +0. */
static inline float wasm_f32_min(float a, float b)
{
    if (a != a || b != b)
        return a + b;
    if (a == b)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline float wasm_f32_max(float a, float b)
{
    if (a != a || b != b)
        return a + b;
    if (a == b)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline double wasm_f64_min(double a, double b)
{
    if (a != a || b != b)
        return a + b;
    if (a == b)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline double wasm_f64_max(double a, double b)
{
    if (a != a || b != b)
        return a + b;
    if (a == b)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

/* Saturating truncations: NaN gives 0, out-of-range values the nearest
 * bound. */
static inline int32_t wasm_sat_f32_i32(float a)
{
    if (a != a)
        return 0;
    if (a < -2147483648.0f)
        return INT32_MIN;
    if (a >= 2147483648.0f)
        return INT32_MAX;
    return (int32_t)a;
}

static inline uint32_t wasm_sat_f32_u32(float a)
{
    if (a != a || a <= -1.0f)
        return 0;
    if (a >= 4294967296.0f)
        return UINT32_MAX;
    return (uint32_t)a;
}

static inline int32_t wasm_sat_f64_i32(double a)
{
    if (a != a)
        return 0;
    if (a <= -2147483649.0)
        return INT32_MIN;
    if (a >= 2147483648.0)
        return INT32_MAX;
    return (int32_t)a;
}

static inline uint32_t wasm_sat_f64_u32(double a)
{
    if (a != a || a <= -1.0)
        return 0;
    if (a >= 4294967296.0)
        return UINT32_MAX;
    return (uint32_t)a;
}

static inline int64_t wasm_sat_f32_i64(float a)
{
    if (a != a)
        return 0;
    if (a < -9223372036854775808.0f)
        return INT64_MIN;
    if (a >= 9223372036854775808.0f)
        return INT64_MAX;
    return (int64_t)a;
}

static inline uint64_t wasm_sat_f32_u64(float a)
{
    if (a != a || a <= -1.0f)
        return 0;
    if (a >= 18446744073709551616.0f)
        return UINT64_MAX;
    return (uint64_t)a;
}

static inline int64_t wasm_sat_f64_i64(double a)
{
    if (a != a)
        return 0;
    if (a < -9223372036854775808.0)
        return INT64_MIN;
    if (a >= 9223372036854775808.0)
        return INT64_MAX;
    return (int64_t)a;
}

static inline uint64_t wasm_sat_f64_u64(double a)
{
    if (a != a || a <= -1.0)
        return 0;
    if (a >= 18446744073709551616.0)
        return UINT64_MAX;
    return (uint64_t)a;
}

#endif
