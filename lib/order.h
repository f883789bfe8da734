/*
 * Key order for iterators and snapshots, kept off the writer's path.
 *
 * The writer only notes a reference to each record it appends (pending
 * writes, under write_mutex: a store into an array). A flush sorts the
 * pending writes into a run (run.h) and appends it to the current view; the
 * order thread flushes once enough piled up, merges runs so that few stay
 * (a newer run at most a quarter of the one before it, one run once the
 * store is idle). A compaction, before it retires its inputs, has every run
 * merged into one that points at the copies (kvs__order_refresh), so that
 * only handles open at that moment keep the inputs' files.
 *
 * A view is immutable: a list of runs, oldest first, the newest entry of a
 * key counting. Iterators and snapshots take a reference on the current
 * view right after a flush, so they see every write acknowledged before
 * they were created and none after, and keep every segment they may read
 * mapped (through the runs' pins) until they let go.
 *
 * Why a view is exact once flushed: a run's entry of a key is the key's
 * record at the run's flush, except that a merge may replace an entry whose
 * segment compaction moved or retired by the key's current location, or
 * drop it if the key is gone. The write that made that newer state is then either in
 * a newer run or in the pending writes, so it wins as soon as they are
 * flushed, which every user of a view does first.
 *
 * The first view is built from the hash index in the background, while the
 * writer already notes its writes: they are newer than anything the hash
 * showed before they were made, so they win in the same way. It is built
 * when first needed (the first iterator or snapshot of the handle): until
 * then the order is dormant, the writer notes nothing and the order costs
 * neither memory nor the order thread's sorting, which on two CPUs halved
 * a write burst's throughput. A store whose last clean close saved its
 * order (ORDER) loads it at open, as it is cheap and the store was iterated.
 */
#ifndef KVS_ORDER_H
#define KVS_ORDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run.h"

struct kvs;
struct kvs_segment;
struct kvs_pending_block;

struct kvs_view {
    _Atomic int refcount;
    uint32_t nruns;
    struct kvs_run *runs[]; /* oldest first */
};

struct kvs_order {
    /* Pending writes, in write order (write_mutex). */
    struct kvs_pending_block *head, *tail;
    struct kvs_pending_block *spare; /* allocated by prepare, not yet used */
    _Atomic uint64_t pending;  /* written under write_mutex; the thread peeks */
    bool off;                  /* building the first view failed: note nothing */

    pthread_mutex_t flush_mutex; /* one flush or first build at a time */
    pthread_mutex_t merge_mutex; /* one merge at a time (runs move only then) */
    pthread_mutex_t view_mutex;  /* guards view (a leaf) */
    struct kvs_view *view;       /* NULL until the first one is built */

    pthread_mutex_t mutex; /* the thread's wake-ups (a leaf) */
    pthread_cond_t cond;   /* kicks the thread; tells waiters the view is ready */
    _Atomic bool stop;     /* also polled by long work */
    bool kicked, building, ready, running;
    /* No view yet and nobody asked for one: nothing is noted (changes only
     * from true to false, under compact_mutex and write_mutex). */
    bool dormant;
    bool wanted; /* an iterator or snapshot asked for the first view (mutex) */
    int build_rc;          /* how building the first view ended */
    pthread_t thread;
    _Atomic uint64_t flushes, merges; /* statistics */
    _Atomic int handles;   /* iterators and snapshots not yet destroyed */
};

void kvs__order_init(struct kvs_order *o);
/* Start the order thread, which builds the first view from the index now
 * if a saved order may be loaded, otherwise once an iterator or snapshot
 * asks for it. Caller: open, once recovery filled the index. */
int kvs__order_start(struct kvs *db);
/* Stop the thread (the view stays). */
void kvs__order_stop(struct kvs *db);
/* At a clean close, the thread stopped and every segment sealed: save the
 * order for the next open (order_file.h). */
int kvs__order_save(struct kvs *db);
/* Stop the thread and drop the view and the pending writes. */
void kvs__order_release(struct kvs *db);
void kvs__order_destroy(struct kvs_order *o);

/* Writer, under write_mutex, before appending records: room for n more
 * pending writes, so that noting them cannot fail. KVS_OK or KVS_ENOMEM. */
int kvs__order_prepare(struct kvs *db, uint64_t n);
/* Writer, under write_mutex, once the index points at the record. */
void kvs__order_note(struct kvs *db, kvs_ref ref);
/* Writer, after write_mutex: flush the pending writes itself if the
 * order thread fell far behind. */
void kvs__order_after_write(struct kvs *db);

/* A referenced view holding every write acknowledged before the call.
 * KVS_OK, KVS_ENOMEM, or the error that building the first view met. */
int kvs__order_acquire(struct kvs *db, struct kvs_view **out);
void kvs__view_unref(struct kvs_view *v);
/* The newest entry of key in v: KVS_OK and *ref, or KVS_NOT_FOUND when no
 * run has it or the newest entry is a tombstone. */
int kvs__view_find(struct kvs *db, const struct kvs_view *v, const void *key, size_t klen,
                   kvs_ref *ref);

/* Compaction copied records (its inputs are flagged `moved`) and is about
 * to retire its inputs: flush, and merge every run into one whose entries
 * point where the index points now, so that no run pins an input once it is
 * retired (only the handles open now still do). Caller holds compact_mutex.
 * On failure the inputs must not be retired: runs still point into them. */
int kvs__order_refresh(struct kvs *db);

/* Bytes held by the current view's runs, and how many runs it has. */
void kvs__order_usage(struct kvs *db, uint64_t *bytes, uint64_t *runs);

#endif
