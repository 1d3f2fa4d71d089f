/*
 * watchdog.c - stops guest calls that run past their deadline.
 *
 * The hot path (a callback per request) must not pay for a timer: a call
 * only stores its budget and a new generation number in its VM's slot.
 * One thread wakes every PERIOD_MS, and for each slot whose call is still
 * the same one it saw before, adds the period to the time it has been
 * running; past the budget it claims the call (compare-and-swap of the
 * generation, which the call's end races for too) and interrupts the store
 * (thread-safe): the call traps with "interrupted" at its next loop
 * back-edge or call. A claim that loses to the call's end does nothing,
 * and an interrupt that arrives just after the call ended is cleared by it,
 * so no deadline ever hits the wrong call.
 *
 * An idle proxy should not wake 200 times a second: after DOZE_AFTER_MS
 * without a running call the thread dozes, waking once a second (DOZE_MS)
 * or when a call begins. A call start stores its generation, then reads
 * `dozing`; the thread sets `dozing`, then looks at every slot once more.
 * Without a full fence on the call's side (it would cost every callback a
 * locked instruction) both may read the other's old value in a rare race;
 * the dozing thread then sees the call at its next wake-up, so a deadline
 * is late by at most DOZE_MS, never missed.
 */
#include "abi/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define PERIOD_MS 5u
#define DOZE_AFTER_MS 1000u
#define DOZE_MS 1000u

struct pw_watch {
    wasm_store *store;
    /* The generation of the call running now, 0 when none. Both sides
     * clear it with a compare-and-swap, so exactly one of "the call ended"
     * and "the deadline fired" wins. */
    atomic_uint armed;
    atomic_uint budget_ms;
    atomic_bool interrupting;   /* the watchdog is between claim and interrupt */
    unsigned next_generation;   /* owned by the VM's thread */
    /* Owned by the watchdog thread: */
    unsigned seen_generation;
    unsigned running_ms;
    struct pw_watch *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pw_watch *watches;
static pthread_t thread;
static bool running, stopping;
static atomic_bool dozing;

/* Counts time for every running call and stops those past their budget.
 * Returns whether any call was running. */
static bool sample(void)
{
    bool busy = false;
    for (pw_watch *w = watches; w; w = w->next) {
        unsigned gen = atomic_load(&w->armed);
        if (gen == 0) {
            w->running_ms = 0;
            continue;
        }
        busy = true;
        if (gen != w->seen_generation) {
            /* A new call: it started within the last period. */
            w->seen_generation = gen;
            w->running_ms = 0;
            continue;
        }
        w->running_ms += PERIOD_MS;
        if (w->running_ms < atomic_load(&w->budget_ms))
            continue;
        atomic_store(&w->interrupting, true);
        unsigned expected = gen;
        if (atomic_compare_exchange_strong(&w->armed, &expected, 0))
            wasm_store_interrupt(w->store);
        atomic_store(&w->interrupting, false);
    }
    return busy;
}

static bool any_armed(void)
{
    for (pw_watch *w = watches; w; w = w->next)
        if (atomic_load(&w->armed) != 0)
            return true;
    return false;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "wg-watchdog"); /* for top -H, ps -L */
    unsigned idle_ms = 0;
    pthread_mutex_lock(&lock);
    while (!stopping) {
        bool doze = atomic_load(&dozing);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(doze ? DOZE_MS : PERIOD_MS) * 1000000L;
        while (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        /* Woken early by pw_watch_begin (or stop) when dozing. */
        pthread_cond_timedwait(&wake, &lock, &until);
        if (stopping)
            break;
        if (doze) {
            if (!any_armed())
                continue;                 /* still idle: doze on */
            atomic_store(&dozing, false); /* the race above: a call runs */
        }
        idle_ms = sample() ? 0 : idle_ms + PERIOD_MS;
        if (idle_ms >= DOZE_AFTER_MS) {
            idle_ms = 0;
            atomic_store(&dozing, true);
            if (any_armed()) /* a call began meanwhile: keep counting */
                atomic_store(&dozing, false);
        }
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

pw_watch *pw_watch_register(wasm_store *store)
{
    pw_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->store = store;
    atomic_init(&w->armed, 0);
    atomic_init(&w->budget_ms, 0);
    atomic_init(&w->interrupting, false);
    pthread_mutex_lock(&lock);
    if (!running) {
        stopping = false;
        atomic_store(&dozing, false);
        if (pthread_create(&thread, NULL, watchdog_main, NULL) != 0) {
            pthread_mutex_unlock(&lock);
            free(w);
            return NULL;
        }
        running = true;
    }
    w->next = watches;
    watches = w;
    pthread_mutex_unlock(&lock);
    return w;
}

void pw_watch_unregister(pw_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&lock);
    for (pw_watch **p = &watches; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    free(w);
}

void pw_watch_begin(pw_watch *w, uint32_t budget_ms)
{
    if (++w->next_generation == 0)
        w->next_generation = 1;
    atomic_store_explicit(&w->budget_ms, budget_ms ? budget_ms : 1, memory_order_relaxed);
    /* A release store (a plain move on x86): the watchdog may see the new
     * call a little late, which only delays its count by one period (or,
     * in the race the top of the file describes, by DOZE_MS). */
    atomic_store_explicit(&w->armed, w->next_generation, memory_order_release);
    if (atomic_load_explicit(&dozing, memory_order_relaxed)) {
        pthread_mutex_lock(&lock);
        if (atomic_load(&dozing)) {
            atomic_store(&dozing, false);
            pthread_cond_signal(&wake);
        }
        pthread_mutex_unlock(&lock);
    }
}

bool pw_watch_end(pw_watch *w)
{
    unsigned expected = w->next_generation;
    if (atomic_compare_exchange_strong(&w->armed, &expected, 0))
        return false;
    /* The deadline fired. Wait until the watchdog has delivered its
     * interrupt, then drop it if the call ended without seeing it, so it
     * cannot hit the next call. */
    while (atomic_load(&w->interrupting))
        ;
    wasm_store_clear_interrupt(w->store);
    return true;
}

void pw_watchdog_stop(void)
{
    pthread_mutex_lock(&lock);
    if (!running) {
        pthread_mutex_unlock(&lock);
        return;
    }
    stopping = true;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(thread, NULL);
    pthread_mutex_lock(&lock);
    running = false;
    pthread_mutex_unlock(&lock);
}
