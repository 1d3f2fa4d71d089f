/*
 * wasmgate logging.
 *
 * Every message belongs to a component, a short lowercase name such as
 * "wasm", "http" or "main". Each component can have its own minimum level;
 * components without one use the global level (default: info).
 *
 * Output goes to stderr, one line per message:
 *   [2026-11-26 09:30:01.123][12345][info][wasm] message
 * where 12345 is the kernel thread id. Each line is produced with a single
 * write(2), so lines from different threads do not interleave.
 *
 * Hot paths should use the WG_LOG* macros (or check wg_log_enabled() first):
 * when the level is disabled everywhere this costs one atomic load and a
 * compare, and the arguments are not evaluated.
 */
#ifndef WG_BASE_LOG_H
#define WG_BASE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef enum wg_log_level {
    WG_LOG_TRACE = 0,
    WG_LOG_DEBUG,
    WG_LOG_INFO,
    WG_LOG_WARN,
    WG_LOG_ERROR,
    WG_LOG_CRITICAL,
    WG_LOG_OFF,
} wg_log_level;

/* Longest accepted component name, and how many components may have their
 * own level. Names are [a-z0-9_-]. */
#define WG_LOG_COMPONENT_MAX 15
#define WG_LOG_MAX_COMPONENTS 32

/* Set the global level (used by components without their own level). */
void wg_log_set_level(wg_log_level level);
wg_log_level wg_log_get_level(void);

/* Give one component its own level. Returns 0, or -1 if the name is invalid
 * or the component table is full. */
int wg_log_set_component_level(const char *component, wg_log_level level);

/* Apply a comma-separated spec, e.g. "wasm:trace,http:debug". An item
 * without a colon ("warn") sets the global level. Level names are
 * case-insensitive. Returns NULL on success, otherwise a human-readable
 * error message (thread-local storage, valid until the next call in the same
 * thread); on error nothing is changed. */
const char *wg_log_parse_levels(const char *spec);

/* Back to defaults: global level info, no per-component levels. Meant for
 * startup and tests. */
void wg_log_reset(void);

/* "trace", "debug", ... ; "?" for out-of-range values. */
const char *wg_log_level_name(wg_log_level level);

/* Parse a level name (case-insensitive). Returns 0 and sets *out, or -1. */
int wg_log_level_from_string(const char *name, wg_log_level *out);

/* Send output to another file descriptor (default 2). Mostly for tests. */
void wg_log_set_fd(int fd);

/* Lowest level enabled anywhere; internal, used by the inline check. */
extern _Atomic int wg_log_min_level_;
bool wg_log_enabled_slow_(const char *component, wg_log_level level);

static inline bool wg_log_enabled(const char *component, wg_log_level level)
{
    if ((int)level < atomic_load_explicit(&wg_log_min_level_, memory_order_relaxed))
        return false;
    return wg_log_enabled_slow_(component, level);
}

/* These check wg_log_enabled() too, but their arguments are always
 * evaluated; prefer the macros below. A trailing newline in fmt is dropped.
 * Over-long lines are truncated and end in "...". */
void wg_log(const char *component, wg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void wg_logv(const char *component, wg_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Preferred in code: arguments are evaluated only when the level is on. */
#define WG_LOG(component, level, ...)                                                             \
    do {                                                                                          \
        if (wg_log_enabled((component), (level)))                                                 \
            wg_log((component), (level), __VA_ARGS__);                                            \
    } while (0)

#define WG_TRACE(component, ...) WG_LOG(component, WG_LOG_TRACE, __VA_ARGS__)
#define WG_DEBUG(component, ...) WG_LOG(component, WG_LOG_DEBUG, __VA_ARGS__)
#define WG_INFO(component, ...) WG_LOG(component, WG_LOG_INFO, __VA_ARGS__)
#define WG_WARN(component, ...) WG_LOG(component, WG_LOG_WARN, __VA_ARGS__)
#define WG_ERROR(component, ...) WG_LOG(component, WG_LOG_ERROR, __VA_ARGS__)
#define WG_CRITICAL(component, ...) WG_LOG(component, WG_LOG_CRITICAL, __VA_ARGS__)

#endif /* WG_BASE_LOG_H */
