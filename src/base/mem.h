/*
 * mem.h - allocation helpers for objects made on every request.
 */
#ifndef WG_BASE_MEM_H
#define WG_BASE_MEM_H

#include <stdlib.h>
#include <string.h>

/* Zeroed memory, freed with free(). For per-request objects use this, not
 * calloc: Debian 12's glibc (2.36) serves calloc from the allocator's slow
 * path, never from the per-thread cache that serves malloc's small sizes
 * (callgrind: ~270 instructions for a 400-byte calloc, ~60 for malloc and
 * memset). */
static inline void *wg_zalloc(size_t size)
{
    void *p = malloc(size);
    if (!p)
        return NULL;
    /* Hide where p comes from, or the compiler turns malloc and memset
     * back into calloc. */
    __asm__("" : "+r"(p));
    memset(p, 0, size);
    return p;
}

#endif /* WG_BASE_MEM_H */
