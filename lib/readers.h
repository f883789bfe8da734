/*
 * Read sections: what lets a point read look a key up without taking its
 * shard's lock (read.c), and still never touch memory that was freed.
 *
 * A reader that skips the lock may hold a location it read from the index
 * while compaction moves the key elsewhere and deletes the old segment, or
 * a table pointer while the index grows into a new region. So every such
 * read runs inside a read section, and whoever frees memory that a reader
 * could have reached through the index first makes the memory unreachable
 * (moves the entries, installs the new table), then calls
 * kvs__readers_wait(), which returns once every section that was open when
 * it was called has closed. Sections that open later cannot reach the old
 * memory any more.
 *
 * Each thread has one section counter of its own, on its own cache line,
 * odd while the thread is inside a section: opening and closing one writes
 * only that line, so readers on different CPUs never move a cache line
 * between them (the shard lock's line did, on every get: 13-20 % of the
 * time of two reader threads). The counters live in a registry shared by
 * every store of the process, so kvs__readers_wait() also waits for readers
 * of other stores: sections are a few hundred nanoseconds long.
 *
 * A thread gets its counter at its first section and gives it back when it
 * exits (a thread-specific key's destructor); counters are reused, never
 * freed. Sections do not nest, and are never held across a wait for a lock
 * or for a writer (kvs__readers_wait() is called by writers: a reader that
 * waited for one inside a section could wait forever).
 */
#ifndef KVS_READERS_H
#define KVS_READERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvs_reader {
    _Atomic uint64_t sections; /* odd while inside one */
    _Atomic bool taken;        /* by a live thread */
    struct kvs_reader *next;   /* in the registry, set once */
} __attribute__((aligned(64)));

/* The calling thread's counter, NULL until its first section. */
extern __thread struct kvs_reader *kvs__my_reader __attribute__((tls_model("initial-exec")));

/* Give the calling thread a counter; NULL when memory is short. */
struct kvs_reader *kvs__reader_register(void);

/*
 * Open a read section; false if the thread could not get a counter (out of
 * memory), then the caller reads under the shard lock instead. The increment
 * is an acquire: the section's loads come after it, and if
 * kvs__readers_wait()'s read of the counter came first, they see the index
 * as its caller left it.
 */
static inline bool kvs__read_begin(void)
{
    struct kvs_reader *r = kvs__my_reader;
    if (__builtin_expect(r == NULL, 0) && (r = kvs__reader_register()) == NULL)
        return false;
    atomic_fetch_add_explicit(&r->sections, 1, memory_order_acquire);
    return true;
}

/* Close the section kvs__read_begin() opened: a plain release store, as only
 * this thread changes the count (kvs__readers_wait's read-modify-write
 * writes back the value it read, so it never undoes this store). */
static inline void kvs__read_end(void)
{
    struct kvs_reader *r = kvs__my_reader;
    atomic_store_explicit(&r->sections, atomic_load_explicit(&r->sections, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* Wait until every read section open at the time of the call has closed.
 * Call it after making the memory to free unreachable from the index. */
void kvs__readers_wait(void);

/* Counters in the registry, taken or free (tests: exited threads' counters
 * are reused). */
size_t kvs__readers_registered(void);

#endif
