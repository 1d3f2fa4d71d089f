/*
 * fib - naive doubly recursive Fibonacci: dominated by call/return overhead.
 */
#include "common.h"

/* volatile so the compiler cannot fold the recursion at compile time */
static volatile uint32_t fib_base = 27;

__attribute__((noinline)) static uint32_t fib(uint32_t n)
{
    if (n < 2)
        return n;
    return fib(n - 1) + fib(n - 2);
}

int run(void)
{
    uint32_t reps = bench_scaled(48);
    uint32_t h = 0;
    for (uint32_t i = 0; i < reps; i++) {
        uint32_t n = fib_base + (i % 4); /* fib(27) .. fib(30) */
        h = bench_mix(h, fib(n) + i);
    }
    return bench_result(h);
}
