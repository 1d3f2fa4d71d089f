/*
 * internal.h - private helpers shared by the fetch layer's files.
 */
#ifndef WG_FETCH_INTERNAL_H
#define WG_FETCH_INTERNAL_H

#include "fetch/fetch.h"

/* Formats an error message into err (NULL or errlen 0: nothing). */
void wg_fetch_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads a whole regular file into out, at most max bytes ("module larger
 * than N bytes" beyond). Returns 1, 0 if the file does not exist, -1. */
int wg_fetch_read_file(const char *path, size_t max, wg_buf *out, char *err, size_t errlen);

#endif /* WG_FETCH_INTERNAL_H */
