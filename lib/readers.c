/*
 * The registry of read-section counters (see readers.h): a list that only
 * grows, each counter taken by one live thread at a time.
 */
#include "readers.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "internal.h"

__thread struct kvs_reader *kvs__my_reader __attribute__((tls_model("initial-exec")));

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct kvs_reader *_Atomic registry; /* newest first */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool key_made;

/* At the thread's exit: its counter is free for another thread. The
 * thread-local pointer is cleared first, so that a read made later in this
 * thread's exit (another key's destructor) takes a counter again. */
static void reader_release(void *p)
{
    struct kvs_reader *r = p;
    kvs__my_reader = NULL;
    atomic_store_explicit(&r->taken, false, memory_order_release);
}

/* fork(): the child has only the forking thread. The others' counters are
 * free in it, and closed (one may have been inside a section, which would
 * never close: a wait would hang). The mutex is held across the fork, so
 * that the registry is not copied mid-change. */
static void before_fork(void)
{
    pthread_mutex_lock(&registry_mutex);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&registry_mutex);
}

static void after_fork_child(void)
{
    for (struct kvs_reader *r = atomic_load(&registry); r; r = r->next) {
        if (r == kvs__my_reader)
            continue;
        atomic_store(&r->taken, false);
        if (atomic_load(&r->sections) & 1)
            atomic_fetch_add(&r->sections, 1);
    }
    pthread_mutex_unlock(&registry_mutex);
}

static void make_key(void)
{
    key_made = pthread_key_create(&exit_key, reader_release) == 0 &&
               pthread_atfork(before_fork, after_fork_parent, after_fork_child) == 0;
}

/* A free counter of the registry, or a new one added to it. */
static struct kvs_reader *take_counter(void)
{
    pthread_mutex_lock(&registry_mutex);
    struct kvs_reader *r = atomic_load_explicit(&registry, memory_order_relaxed);
    for (; r; r = r->next) {
        bool taken = false;
        if (atomic_compare_exchange_strong(&r->taken, &taken, true))
            break;
    }
    if (!r && (r = aligned_alloc(64, sizeof(*r))) != NULL) {
        atomic_init(&r->sections, 0);
        atomic_init(&r->taken, true);
        r->next = atomic_load_explicit(&registry, memory_order_relaxed);
        atomic_store_explicit(&registry, r, memory_order_release);
    }
    pthread_mutex_unlock(&registry_mutex);
    return r;
}

struct kvs_reader *kvs__reader_register(void)
{
    pthread_once(&key_once, make_key);
    if (!key_made)
        return NULL;
    struct kvs_reader *r = take_counter();
    if (!r)
        return NULL;
    if (pthread_setspecific(exit_key, r) != 0) {
        atomic_store_explicit(&r->taken, false, memory_order_release);
        return NULL;
    }
    kvs__my_reader = r;
    return r;
}

/* Until the counter moves past an odd value seen (the section closes);
 * spinning first, as sections are short, then yielding the CPU, as its
 * reader may be waiting for one. */
static void wait_past(struct kvs_reader *r, uint64_t seen)
{
    for (unsigned spins = 0; atomic_load_explicit(&r->sections, memory_order_acquire) == seen;
         spins++) {
        if (spins < 100)
            kvs__cpu_relax();
        else
            sched_yield();
    }
}

void kvs__readers_wait(void)
{
    /* Under the mutex: a counter registered after this read is taken by a
     * thread whose sections come after this call (through the mutex), and
     * so see every change made before it. */
    pthread_mutex_lock(&registry_mutex);
    struct kvs_reader *newest = atomic_load_explicit(&registry, memory_order_relaxed);
    pthread_mutex_unlock(&registry_mutex);
    for (struct kvs_reader *r = newest; r; r = r->next) {
        /* A read-modify-write, not a load: it and the reader's increment
         * come in one order. If it comes first, the increment reads what it
         * wrote (release) and the section sees every change made before this
         * call; if it comes after, it sees the section open, and waits. */
        uint64_t s = atomic_fetch_add_explicit(&r->sections, 0, memory_order_acq_rel);
        if (s & 1)
            wait_past(r, s);
    }
}

size_t kvs__readers_registered(void)
{
    size_t n = 0;
    pthread_mutex_lock(&registry_mutex);
    for (struct kvs_reader *r = atomic_load(&registry); r; r = r->next)
        n++;
    pthread_mutex_unlock(&registry_mutex);
    return n;
}
