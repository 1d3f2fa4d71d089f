/*
 * shared.c - process-wide shared data and shared queues (§3.10, §3.11 of
 * the reference). Every VM of every thread sees the same state.
 *
 * Shared data
 *   A map (vm_id, key) -> (value, cas). Keys are namespaced by the caller's
 *   vm_id. The CAS is one global counter that starts at 1 and skips 0 on
 *   wrap-around; every successful set stores a new CAS. A set with cas != 0
 *   on an existing key whose CAS differs fails with PW_CAS_MISMATCH; a set
 *   with cas != 0 on a missing key succeeds. Nothing is ever deleted (the
 *   ABI has no delete: SDKs write an empty value) until pw_shared_shutdown();
 *   cpp-host drops a namespace when its last VM goes away, which this host
 *   does not track.
 *
 * Queues
 *   Keyed by (vm_id, name); ids are non-zero (1, 2, ...) and never reused.
 *   Registering an existing queue returns its id, keeps its items and makes
 *   the caller its owner (a registration without an owner, from a start
 *   check VM, leaves the owner as it is). Each enqueue owes the owner one notification:
 *   the queue counts them (`pending`), pw_queue_take_ready() hands the id
 *   out once per pending enqueue, and the owner's ops->queue_ready() is
 *   called on every enqueue so that its host schedules delivery. An
 *   enqueue while the queue has no owner (the owner VM was freed) keeps
 *   the item but owes no notification (§9.19). When ownership moves, the
 *   notifications still owed go to the new owner (which is told at once).
 *
 *   Bounds: a queue holds at most PW_QUEUE_MAX_ITEMS (10000) items; an
 *   enqueue beyond that is refused with PW_INTERNAL_FAILURE and the queue
 *   is left unchanged (Envoy has no bound; a consumer that stopped
 *   consuming must not grow the process without limit). Note that the Rust
 *   SDK panics on that status, so a Rust producer fails its VM when the
 *   queue it feeds is full. Item sizes are only checked for overflow.
 *   Queues are never removed; at most PW_QUEUE_MAX_QUEUES may exist
 *   (registering more fails with PW_INTERNAL_FAILURE).
 *
 * Threads
 *   One mutex protects everything. ops->queue_ready() is called WITH the
 *   mutex held: that is what makes it safe against the owner VM being
 *   freed on its own thread at the same moment (pw_vm_free() calls
 *   pw_queue_forget_owner(), which takes the mutex, so the owner cannot go
 *   away during the call). The contract for queue_ready is therefore: be
 *   quick (post a message, write an eventfd) and never call any pw_shared_*
 *   or pw_queue_* function, nor anything that waits for a thread that may
 *   be calling them.
 *
 * Lookups use chained hash tables keyed by the bytes vm_id, 0x00, key
 * (vm_ids are C strings, so the NUL makes the composite key unambiguous),
 * hashed with FNV-1a and a per-process seed.
 */
#include "abi/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PW_QUEUE_MAX_ITEMS 10000u
/* Queues are never removed: a bound on how many may exist (a power of two). */
#define PW_QUEUE_MAX_QUEUES (1u << 24)

/* ---- hash tables ----------------------------------------------------------------- */

typedef struct queue queue;

typedef struct slot {
    struct slot *next;
    uint64_t hash;
    /* Shared data: the value and its CAS. */
    uint8_t *value;
    size_t value_len;
    uint32_t cas;
    /* Queue table: the queue. */
    queue *q;
    size_t klen;
    uint8_t key[]; /* vm_id, 0x00, key */
} slot;

typedef struct table {
    slot **buckets;
    size_t cap; /* a power of two, or 0 */
    size_t count;
} table;

typedef struct qitem {
    struct qitem *next;
    size_t len;
    uint8_t data[];
} qitem;

struct queue {
    uint32_t id;
    pw_vm *owner;            /* NULL: nobody is notified */
    uint32_t pending;        /* notifications owed to the owner */
    qitem *head, *tail;
    uint32_t count;
    bool ready;              /* in the ready list (owner && pending) */
    queue *ready_prev, *ready_next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static table g_data, g_queue_names;
static queue **g_queues;     /* by id - 1 */
static uint32_t g_nqueues, g_queues_cap;
static queue *g_ready_head, *g_ready_tail;
static uint32_t g_next_cas = 1;
static uint64_t g_seed;

static uint64_t fnv_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_key(const char *vm_id, size_t vlen, const uint8_t *key, size_t klen)
{
    if (!g_seed) {
        uint64_t s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&g_data;
        g_seed = s ? s : 1;
    }
    uint64_t h = 14695981039346656037ull ^ g_seed;
    h = fnv_bytes(h, (const uint8_t *)vm_id, vlen);
    h = fnv_bytes(h, (const uint8_t *)"", 1);
    h = fnv_bytes(h, key, klen);
    /* Mix the high bits in: buckets use the low ones. */
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static slot *table_find(const table *t, uint64_t hash, const char *vm_id, size_t vlen,
                        const uint8_t *key, size_t klen)
{
    if (t->cap == 0)
        return NULL;
    for (slot *s = t->buckets[hash & (t->cap - 1)]; s; s = s->next) {
        if (s->hash == hash && s->klen == vlen + 1 + klen &&
            memcmp(s->key, vm_id, vlen) == 0 && s->key[vlen] == 0 &&
            (klen == 0 || memcmp(s->key + vlen + 1, key, klen) == 0))
            return s;
    }
    return NULL;
}

/* A new slot for (vm_id, key), not yet in the table. */
static slot *slot_new(uint64_t hash, const char *vm_id, size_t vlen, const uint8_t *key,
                      size_t klen)
{
    if (vlen > SIZE_MAX - 1 - klen || vlen + 1 + klen > SIZE_MAX - sizeof(slot))
        return NULL;
    size_t n = vlen + 1 + klen;
    slot *s = calloc(1, sizeof(slot) + n);
    if (!s)
        return NULL;
    s->hash = hash;
    s->klen = n;
    memcpy(s->key, vm_id, vlen);
    s->key[vlen] = 0;
    if (klen)
        memcpy(s->key + vlen + 1, key, klen);
    return s;
}

/* Inserts s (not present); false when the table cannot grow. */
static bool table_insert(table *t, slot *s)
{
    if (t->count + 1 > t->cap - t->cap / 4) { /* load factor 3/4 */
        size_t cap = t->cap ? t->cap * 2 : 64;
        if (cap < t->cap || cap > SIZE_MAX / sizeof(slot *))
            return false;
        slot **b = calloc(cap, sizeof *b);
        if (!b)
            return false;
        for (size_t i = 0; i < t->cap; i++) {
            slot *e = t->buckets[i];
            while (e) {
                slot *next = e->next;
                e->next = b[e->hash & (cap - 1)];
                b[e->hash & (cap - 1)] = e;
                e = next;
            }
        }
        free(t->buckets);
        t->buckets = b;
        t->cap = cap;
    }
    s->next = t->buckets[s->hash & (t->cap - 1)];
    t->buckets[s->hash & (t->cap - 1)] = s;
    t->count++;
    return true;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        slot *s = t->buckets[i];
        while (s) {
            slot *next = s->next;
            free(s->value);
            free(s);
            s = next;
        }
    }
    free(t->buckets);
    *t = (table){0};
}

/* ---- shared data ------------------------------------------------------------------- */

static uint32_t next_cas(void)
{
    uint32_t c = g_next_cas++;
    if (g_next_cas == 0)
        g_next_cas = 1;
    return c;
}

pw_status pw_shared_get(const char *vm_id, const uint8_t *key, size_t key_len, wg_buf *value,
                        uint32_t *cas)
{
    if (!vm_id)
        vm_id = "";
    size_t vlen = strlen(vm_id);
    pw_status st = PW_OK;
    pthread_mutex_lock(&g_lock);
    uint64_t h = hash_key(vm_id, vlen, key, key_len);
    slot *s = table_find(&g_data, h, vm_id, vlen, key, key_len);
    if (!s) {
        st = PW_NOT_FOUND;
    } else if (!wg_buf_set(value, s->value, s->value_len)) {
        st = PW_INTERNAL_FAILURE;
    } else {
        *cas = s->cas;
    }
    pthread_mutex_unlock(&g_lock);
    return st;
}

pw_status pw_shared_set(const char *vm_id, const uint8_t *key, size_t key_len,
                        const uint8_t *value, size_t value_len, uint32_t cas)
{
    if (!vm_id)
        vm_id = "";
    size_t vlen = strlen(vm_id);
    /* Copy the value outside the lock. */
    uint8_t *copy = NULL;
    if (value_len) {
        copy = malloc(value_len);
        if (!copy)
            return PW_INTERNAL_FAILURE;
        memcpy(copy, value, value_len);
    }
    pw_status st = PW_OK;
    pthread_mutex_lock(&g_lock);
    uint64_t h = hash_key(vm_id, vlen, key, key_len);
    slot *s = table_find(&g_data, h, vm_id, vlen, key, key_len);
    if (s) {
        if (cas != 0 && cas != s->cas) {
            st = PW_CAS_MISMATCH;
        } else {
            free(s->value);
            s->value = copy;
            s->value_len = value_len;
            s->cas = next_cas();
            copy = NULL;
        }
    } else {
        s = slot_new(h, vm_id, vlen, key, key_len);
        if (!s || !table_insert(&g_data, s)) {
            free(s);
            st = PW_INTERNAL_FAILURE;
        } else {
            s->value = copy;
            s->value_len = value_len;
            s->cas = next_cas();
            copy = NULL;
        }
    }
    pthread_mutex_unlock(&g_lock);
    free(copy);
    return st;
}

/* ---- queues ----------------------------------------------------------------------- */

static void ready_add(queue *q)
{
    if (q->ready)
        return;
    q->ready = true;
    q->ready_next = NULL;
    q->ready_prev = g_ready_tail;
    if (g_ready_tail)
        g_ready_tail->ready_next = q;
    else
        g_ready_head = q;
    g_ready_tail = q;
}

static void ready_remove(queue *q)
{
    if (!q->ready)
        return;
    if (q->ready_prev)
        q->ready_prev->ready_next = q->ready_next;
    else
        g_ready_head = q->ready_next;
    if (q->ready_next)
        q->ready_next->ready_prev = q->ready_prev;
    else
        g_ready_tail = q->ready_prev;
    q->ready = false;
    q->ready_prev = q->ready_next = NULL;
}

/* Tells the owner's host that delivery is due. Called with g_lock held
 * (see the contract at the top of this file). */
static void notify_owner(queue *q)
{
    pw_vm *vm = q->owner;
    if (vm && vm->ops && vm->ops->queue_ready)
        vm->ops->queue_ready(vm->host, vm);
}

static queue *queue_by_id(uint32_t id)
{
    if (id == 0 || id > g_nqueues)
        return NULL;
    return g_queues[id - 1];
}

pw_status pw_queue_register(const char *vm_id, const uint8_t *name, size_t name_len, pw_vm *owner,
                            uint32_t *id)
{
    if (!vm_id)
        vm_id = "";
    size_t vlen = strlen(vm_id);
    pw_status st = PW_OK;
    pthread_mutex_lock(&g_lock);
    uint64_t h = hash_key(vm_id, vlen, name, name_len);
    slot *s = table_find(&g_queue_names, h, vm_id, vlen, name, name_len);
    if (s) {
        queue *q = s->q;
        /* No owner given: the queue stays with the VM that has it. */
        if (owner && q->owner != owner) {
            q->owner = owner;
            if (q->pending) {
                ready_add(q);
                notify_owner(q);
            }
        }
        *id = q->id;
        goto out;
    }
    if (g_nqueues == PW_QUEUE_MAX_QUEUES) {
        st = PW_INTERNAL_FAILURE;
        goto out;
    }
    if (g_nqueues == g_queues_cap) {
        uint32_t cap = g_queues_cap ? g_queues_cap * 2 : 16;
        queue **a = realloc(g_queues, (size_t)cap * sizeof *a);
        if (!a) {
            st = PW_INTERNAL_FAILURE;
            goto out;
        }
        g_queues = a;
        g_queues_cap = cap;
    }
    queue *q = calloc(1, sizeof *q);
    s = slot_new(h, vm_id, vlen, name, name_len);
    if (!q || !s || !table_insert(&g_queue_names, s)) {
        free(q);
        free(s);
        st = PW_INTERNAL_FAILURE;
        goto out;
    }
    q->id = g_nqueues + 1;
    q->owner = owner;
    s->q = q;
    g_queues[g_nqueues++] = q;
    *id = q->id;
out:
    pthread_mutex_unlock(&g_lock);
    return st;
}

pw_status pw_queue_resolve(const char *vm_id, const uint8_t *name, size_t name_len, uint32_t *id)
{
    if (!vm_id)
        vm_id = "";
    size_t vlen = strlen(vm_id);
    pw_status st = PW_OK;
    pthread_mutex_lock(&g_lock);
    uint64_t h = hash_key(vm_id, vlen, name, name_len);
    slot *s = table_find(&g_queue_names, h, vm_id, vlen, name, name_len);
    if (s)
        *id = s->q->id;
    else
        st = PW_NOT_FOUND;
    pthread_mutex_unlock(&g_lock);
    return st;
}

pw_status pw_queue_enqueue(uint32_t id, const uint8_t *value, size_t len)
{
    if (len > SIZE_MAX - sizeof(qitem))
        return PW_INTERNAL_FAILURE;
    /* Copy outside the lock. */
    qitem *it = malloc(sizeof(qitem) + len);
    if (!it)
        return PW_INTERNAL_FAILURE;
    it->next = NULL;
    it->len = len;
    if (len)
        memcpy(it->data, value, len);
    pw_status st = PW_OK;
    pthread_mutex_lock(&g_lock);
    queue *q = queue_by_id(id);
    if (!q) {
        st = PW_NOT_FOUND;
    } else if (q->count >= PW_QUEUE_MAX_ITEMS) {
        st = PW_INTERNAL_FAILURE;
    } else {
        if (q->tail)
            q->tail->next = it;
        else
            q->head = it;
        q->tail = it;
        q->count++;
        it = NULL;
        if (q->owner) {
            if (q->pending < UINT32_MAX)
                q->pending++;
            ready_add(q);
            notify_owner(q);
        }
    }
    pthread_mutex_unlock(&g_lock);
    free(it);
    return st;
}

pw_status pw_queue_dequeue(uint32_t id, wg_buf *out)
{
    qitem *it = NULL;
    pw_status st = PW_OK;
    pthread_mutex_lock(&g_lock);
    queue *q = queue_by_id(id);
    if (!q) {
        st = PW_NOT_FOUND;
    } else if (!q->head) {
        st = PW_EMPTY;
    } else if (!wg_buf_set(out, q->head->data, q->head->len)) {
        st = PW_INTERNAL_FAILURE; /* the item stays */
    } else {
        it = q->head;
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        q->count--;
    }
    pthread_mutex_unlock(&g_lock);
    free(it);
    return st;
}

void pw_queue_forget_owner(pw_vm *vm)
{
    if (!vm)
        return;
    pthread_mutex_lock(&g_lock);
    for (uint32_t i = 0; i < g_nqueues; i++) {
        queue *q = g_queues[i];
        if (q->owner == vm) {
            q->owner = NULL;
            q->pending = 0;
            ready_remove(q);
        }
    }
    pthread_mutex_unlock(&g_lock);
}

uint32_t pw_queue_take_ready(pw_vm *vm, uint32_t *ids, uint32_t max)
{
    uint32_t n = 0;
    pthread_mutex_lock(&g_lock);
    queue *q = g_ready_head;
    while (q && n < max) {
        queue *next = q->ready_next;
        if (q->owner == vm) {
            while (q->pending > 0 && n < max) {
                ids[n++] = q->id;
                q->pending--;
            }
            if (q->pending == 0)
                ready_remove(q);
        }
        q = next;
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

void pw_shared_shutdown(void)
{
    pthread_mutex_lock(&g_lock);
    table_free(&g_data);
    table_free(&g_queue_names);
    for (uint32_t i = 0; i < g_nqueues; i++) {
        qitem *it = g_queues[i]->head;
        while (it) {
            qitem *next = it->next;
            free(it);
            it = next;
        }
        free(g_queues[i]);
    }
    free(g_queues);
    g_queues = NULL;
    g_nqueues = g_queues_cap = 0;
    g_ready_head = g_ready_tail = NULL;
    g_next_cas = 1;
    pthread_mutex_unlock(&g_lock);
}
