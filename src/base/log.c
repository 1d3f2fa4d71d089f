#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Longest line written, including the prefix and the newline. */
#define LOG_LINE_MAX 4096

/* Upper bound on the number of items in one wg_log_parse_levels() spec. */
#define SPEC_MAX_ITEMS 64

#define LEVEL_UNSET (-1)

/*
 * Per-component levels live in a fixed table. Entries are only ever
 * appended (under g_lock) and a name never changes once published, so
 * readers can scan the table without locking: they load the count with
 * acquire semantics and only look at entries below it.
 */
typedef struct comp_entry {
    char name[WG_LOG_COMPONENT_MAX + 1];
    _Atomic int level; /* LEVEL_UNSET: follow the global level */
} comp_entry;

static comp_entry g_components[WG_LOG_MAX_COMPONENTS];
static _Atomic int g_ncomponents;
static _Atomic int g_level = WG_LOG_INFO;
static _Atomic int g_fd = STDERR_FILENO;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

_Atomic int wg_log_min_level_ = WG_LOG_INFO;

static const char *const level_names[] = {
    [WG_LOG_TRACE] = "trace", [WG_LOG_DEBUG] = "debug", [WG_LOG_INFO] = "info",
    [WG_LOG_WARN] = "warn",   [WG_LOG_ERROR] = "error", [WG_LOG_CRITICAL] = "critical",
    [WG_LOG_OFF] = "off",
};

const char *wg_log_level_name(wg_log_level level)
{
    if ((int)level < WG_LOG_TRACE || level > WG_LOG_OFF)
        return "?";
    return level_names[level];
}

static int level_from_span(const char *s, size_t len, wg_log_level *out)
{
    for (int i = WG_LOG_TRACE; i <= WG_LOG_OFF; i++) {
        if (strlen(level_names[i]) == len && strncasecmp(s, level_names[i], len) == 0) {
            *out = (wg_log_level)i;
            return 0;
        }
    }
    return -1;
}

int wg_log_level_from_string(const char *name, wg_log_level *out)
{
    return level_from_span(name, strlen(name), out);
}

static bool valid_component_span(const char *s, size_t len)
{
    if (len == 0 || len > WG_LOG_COMPONENT_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static comp_entry *find_component(const char *name, size_t len)
{
    int n = atomic_load_explicit(&g_ncomponents, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        if (strncmp(g_components[i].name, name, len) == 0 && g_components[i].name[len] == '\0')
            return &g_components[i];
    }
    return NULL;
}

/* Caller holds g_lock. */
static void recompute_min_level(void)
{
    int min = atomic_load(&g_level);
    int n = atomic_load(&g_ncomponents);
    for (int i = 0; i < n; i++) {
        int l = atomic_load(&g_components[i].level);
        if (l != LEVEL_UNSET && l < min)
            min = l;
    }
    atomic_store(&wg_log_min_level_, min);
}

/* Caller holds g_lock and has validated the name. */
static int set_component_locked(const char *name, size_t len, wg_log_level level)
{
    comp_entry *c = find_component(name, len);
    if (!c) {
        int n = atomic_load(&g_ncomponents);
        if (n >= WG_LOG_MAX_COMPONENTS)
            return -1;
        c = &g_components[n];
        memcpy(c->name, name, len);
        c->name[len] = '\0';
        atomic_store(&c->level, (int)level);
        atomic_store_explicit(&g_ncomponents, n + 1, memory_order_release);
        return 0;
    }
    atomic_store(&c->level, (int)level);
    return 0;
}

void wg_log_set_level(wg_log_level level)
{
    pthread_mutex_lock(&g_lock);
    atomic_store(&g_level, (int)level);
    recompute_min_level();
    pthread_mutex_unlock(&g_lock);
}

wg_log_level wg_log_get_level(void)
{
    return (wg_log_level)atomic_load(&g_level);
}

int wg_log_set_component_level(const char *component, wg_log_level level)
{
    if (!component || !valid_component_span(component, strlen(component)))
        return -1;
    pthread_mutex_lock(&g_lock);
    int rc = set_component_locked(component, strlen(component), level);
    recompute_min_level();
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void wg_log_reset(void)
{
    pthread_mutex_lock(&g_lock);
    atomic_store(&g_level, WG_LOG_INFO);
    int n = atomic_load(&g_ncomponents);
    for (int i = 0; i < n; i++)
        atomic_store(&g_components[i].level, LEVEL_UNSET);
    recompute_min_level();
    pthread_mutex_unlock(&g_lock);
}

void wg_log_set_fd(int fd)
{
    atomic_store(&g_fd, fd);
}

bool wg_log_enabled_slow_(const char *component, wg_log_level level)
{
    if ((int)level < WG_LOG_TRACE || level >= WG_LOG_OFF)
        return false;
    int min = atomic_load_explicit(&g_level, memory_order_relaxed);
    if (component) {
        comp_entry *c = find_component(component, strlen(component));
        if (c) {
            int l = atomic_load_explicit(&c->level, memory_order_relaxed);
            if (l != LEVEL_UNSET)
                min = l;
        }
    }
    return (int)level >= min;
}

/* ---- spec parsing ---- */

typedef struct spec_item {
    const char *name; /* NULL: global level */
    size_t name_len;
    wg_log_level level;
} spec_item;

static _Thread_local char parse_error[256];

static const char *spec_error(const char *item, size_t len, const char *why)
{
    snprintf(parse_error, sizeof parse_error, "invalid log level spec '%.*s': %s",
             (int)(len > 64 ? 64 : len), item, why);
    return parse_error;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

const char *wg_log_parse_levels(const char *spec)
{
    spec_item items[SPEC_MAX_ITEMS];
    int nitems = 0;

    if (!spec)
        return "invalid log level spec: NULL";

    /* Pass 1: parse and validate everything without changing state. */
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *next = *end ? end + 1 : end;

        while (p < end && is_space(*p))
            p++;
        while (end > p && is_space(end[-1]))
            end--;
        size_t len = (size_t)(end - p);
        if (len == 0) { /* tolerate empty items such as a trailing comma */
            p = next;
            continue;
        }
        if (nitems == SPEC_MAX_ITEMS)
            return spec_error(spec, strlen(spec), "too many items");

        spec_item *it = &items[nitems];
        const char *colon = memchr(p, ':', len);
        const char *lvl = p;
        size_t lvl_len = len;
        it->name = NULL;
        it->name_len = 0;
        if (colon) {
            it->name = p;
            it->name_len = (size_t)(colon - p);
            lvl = colon + 1;
            lvl_len = (size_t)(end - lvl);
            if (memchr(lvl, ':', lvl_len))
                return spec_error(p, len, "expected 'component:level'");
            if (!valid_component_span(it->name, it->name_len))
                return spec_error(p, len,
                                  "component names are 1-15 characters from a-z, 0-9, '_', '-'");
        }
        if (level_from_span(lvl, lvl_len, &it->level) != 0)
            return spec_error(p, len,
                              "unknown level (expected trace, debug, info, warn, error, "
                              "critical or off)");
        nitems++;
        p = next;
    }

    /* Pass 2: make sure new components fit, then apply. */
    pthread_mutex_lock(&g_lock);
    int fresh = 0;
    for (int i = 0; i < nitems; i++) {
        if (!items[i].name || find_component(items[i].name, items[i].name_len))
            continue;
        bool dup = false;
        for (int j = 0; j < i; j++) {
            if (items[j].name && items[j].name_len == items[i].name_len &&
                memcmp(items[j].name, items[i].name, items[i].name_len) == 0)
                dup = true;
        }
        if (!dup)
            fresh++;
    }
    if (atomic_load(&g_ncomponents) + fresh > WG_LOG_MAX_COMPONENTS) {
        pthread_mutex_unlock(&g_lock);
        return spec_error(spec, strlen(spec), "too many distinct components");
    }
    for (int i = 0; i < nitems; i++) {
        if (items[i].name)
            set_component_locked(items[i].name, items[i].name_len, items[i].level);
        else
            atomic_store(&g_level, (int)items[i].level);
    }
    recompute_min_level();
    pthread_mutex_unlock(&g_lock);
    return NULL;
}

/* ---- output ---- */

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere to report a logging failure */
        }
        buf += w;
        len -= (size_t)w;
    }
}

void wg_logv(const char *component, wg_log_level level, const char *fmt, va_list ap)
{
    if (!wg_log_enabled(component, level))
        return;
    if (!component)
        component = "-";

    int saved_errno = errno; /* callers often log right after a failed call */
    char buf[LOG_LINE_MAX];
    const size_t cap = sizeof buf - 1; /* keep one byte for the newline */
    size_t n = 0;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    n += strftime(buf, cap, "[%Y-%m-%d %H:%M:%S", &tm);
    int r = snprintf(buf + n, cap - n, ".%03ld][%ld][%s][%s] ", ts.tv_nsec / 1000000L,
                     (long)gettid(), wg_log_level_name(level), component);
    if (r > 0)
        n = (size_t)r >= cap - n ? cap - 1 : n + (size_t)r;

    errno = saved_errno; /* so "%m" works */
    r = vsnprintf(buf + n, cap - n, fmt, ap);
    if (r > 0) {
        if ((size_t)r >= cap - n) {
            n = cap - 1;
            memcpy(buf + n - 3, "...", 3);
        } else {
            n += (size_t)r;
        }
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n++] = '\n';

    write_all(atomic_load_explicit(&g_fd, memory_order_relaxed), buf, n);
    errno = saved_errno;
}

void wg_log(const char *component, wg_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wg_logv(component, level, fmt, ap);
    va_end(ap);
}
