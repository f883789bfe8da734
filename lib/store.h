/*
 * struct kvs: the state of an open store, shared by the files that implement
 * it, and the store core (store.c): logging, the segment list and slot
 * table, rolling the active segment, key comparison against records.
 * doc/DESIGN.md explains the locking; in short:
 *
 *   write_mutex   one writer at a time: appends to the active segment and
 *                 index updates happen in log order. Taken before a shard lock.
 *   shard locks   (index.h) readers share, the writer and compaction exclude.
 *                 A reader holds its shard's read lock while it copies a value
 *                 out of a segment mapping, which is what keeps that segment
 *                 alive: compaction moves entries under the write lock and
 *                 sweeps every shard lock before it frees a segment. Point
 *                 gets take no lock: they read in a read section (readers.h),
 *                 which compaction waits for too.
 *   seg_mutex     the list of segments and the slot table (leaf lock).
 *   sync_mutex    group commit state (leaf lock).
 *   bg_mutex      background thread wake-ups (leaf lock).
 *   ahead_mutex   grow-ahead requests (leaf lock, apart from a segment's
 *                 grow_mutex, which the grow-ahead thread takes after it).
 *   compact_mutex one compaction at a time (taken before everything above).
 *   order         after compact_mutex: flush_mutex, then merge_mutex,
 *                 both before write_mutex and the shard locks; view_mutex
 *                 and the order thread's mutex are leaves (order.h).
 */
#ifndef KVS_STORE_H
#define KVS_STORE_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "internal.h"
#include "options.h"
#include "order.h"
#include "segment.h"

/* Slot 0 is never used, so a zeroed index entry means "empty". */
#define KVS_SLOT_COUNT 65536u

struct kvs {
    struct kvs_options opts;
    char *dir;
    int dirfd;
    int lock_fd;
    uint64_t seed; /* key hash seed, from the segment headers */

    struct kvs_index index;
    struct kvs_order order; /* key order for iterators and snapshots */
    bool index_file_stale; /* the INDEX file is to be removed (background thread) */
    bool prefault_pending; /* map the recovered segments in (background thread) */

    pthread_mutex_t seg_mutex;
    struct kvs_segment *_Atomic *slots; /* KVS_SLOT_COUNT entries */
    uint32_t slot_next;                 /* where the search for a free slot starts */
    struct kvs_segment **segs;          /* every segment, in epoch order */
    size_t nsegs, segs_cap;
    uint32_t next_id;
    uint64_t next_writer_epoch;
    bool dir_dirty; /* a file was created or removed since the last directory fsync */

    pthread_mutex_t write_mutex;
    struct kvs_segment *active; /* NULL when read-only */
    uint64_t write_seq;         /* records appended since open */
    /* odd while a batch's index updates are being made: point reads that
     * overlap one are retried, so that none sees part of a batch (batch.c) */
    _Atomic uint64_t batch_seq;
    /* index changes made by writes (stored under write_mutex): a multi-get
     * that sees it unchanged across its reads saw no write between them */
    _Atomic uint64_t index_changes;
    uint64_t write_counts[2];   /* sets and removes that wrote, since open */
    _Atomic bool write_failed;  /* a sync failed: refuse writes (see kvs_set) */
    _Atomic int failed_errno;   /* why (the errno of that sync) */
    _Atomic bool small_pages;   /* kvs_sync() was called: writer segments use small pages */

    pthread_mutex_t sync_mutex;
    pthread_cond_t sync_cond;     /* wakes the interval thread (stop) */
    pthread_cond_t gather_cond;   /* wakes a leader waiting for its group */
    _Atomic uint64_t synced_seq;  /* every record up to here is on stable storage */
    _Atomic uint32_t sync_epoch;  /* bumped as a round ends; waiters sleep on it */
    _Atomic uint64_t round;       /* rounds started since open */
    bool sync_leader;             /* a thread is running fdatasync for the group */
    bool sync_stop;               /* tells the interval thread to exit */
    unsigned arrived;             /* callers waiting for the next round */
    unsigned last_group;          /* callers the last round was started for */
    uint64_t last_sync_us;        /* how long the last round's syncs took */

    pthread_mutex_t bg_mutex;
    pthread_cond_t bg_cond;
    bool bg_stop;
    bool bg_kicked;
    bool bg_running, sync_running;
    pthread_t bg_thread, sync_thread;
    pthread_mutex_t compact_mutex;
    /* Threads other than the background one waiting for compact_mutex
     * (kvs__compact_lock): the background thread then does not take it
     * again at once. */
    _Atomic unsigned compact_waiters;
    _Atomic bool compact_abort; /* close asks a running compaction to stop */

    pthread_mutex_t ahead_mutex;  /* the grow-ahead thread's request (ahead.c) */
    pthread_cond_t ahead_cond;
    struct kvs_segment *ahead_seg; /* segment to grow (referenced), or NULL */
    uint64_t ahead_to;             /* to this file length */
    bool ahead_stop, ahead_running;
    pthread_t ahead_thread;

    _Atomic uint64_t stats[KVS_STAT_COUNT_];
};

/* The handle refuses writes from now on: a sync failed with err. */
static inline void kvs__fail(struct kvs *db, int err)
{
    int none = 0;
    atomic_compare_exchange_strong(&db->failed_errno, &none, err ? err : EIO);
    atomic_store(&db->write_failed, true);
}

/* KVS_EIO for a call refused because the handle failed, errno saying why. */
static inline int kvs__refused(struct kvs *db)
{
    int err = atomic_load(&db->failed_errno);
    errno = err ? err : EIO;
    return KVS_EIO;
}

/* Logging through the user's callback (printf-style). */
void kvs__log(struct kvs *db, kvs_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void kvs__stat_add(struct kvs *db, kvs_stat_t which, uint64_t n)
{
    atomic_fetch_add_explicit(&db->stats[which], n, memory_order_relaxed);
}

static inline struct kvs_segment *kvs__slot_get(struct kvs *db, uint32_t slot)
{
    return atomic_load_explicit(&db->slots[slot], memory_order_acquire);
}

/* The bytes of the record at loc. */
const uint8_t *kvs__loc_record(struct kvs *db, const struct kvs_loc *loc);
/* Key comparison callback for the index: does the record at loc hold this
 * key? (Its checksum is not verified: a reader verifies what it returns.) */
int kvs__key_eq(void *db, const struct kvs_loc *loc, const void *key, size_t klen);
/* The expiry of the record at loc (ms since the epoch), 0 if none. */
uint64_t kvs__loc_expire(struct kvs *db, const struct kvs_loc *loc);
/* The size of a long record (one its index entry lists as
 * KVS_LOC_SIZE_LONG), from its header; 0, which no record has, if the header
 * disagrees with the index or runs the record past its segment. */
uint32_t kvs__loc_long_size(struct kvs *db, const struct kvs_loc *loc);
/* Make loc->size exact: a location taken from an index entry may carry
 * KVS_LOC_SIZE_LONG instead of the size of a long record. */
static inline void kvs__loc_exact(struct kvs *db, struct kvs_loc *loc)
{
    if (loc->size == KVS_LOC_SIZE_LONG)
        loc->size = kvs__loc_long_size(db, loc);
}

/* Argument checks of the public calls: a usable key (KVS_EINVAL,
 * KVS_ETOOBIG), and for writes a value too and a writable handle. */
int kvs__check_key(const kvs_t *db, const void *key, size_t klen);
int kvs__check_write(const kvs_t *db, const void *key, size_t klen, const void *val,
                     size_t vlen);
/* The same for an entry of a batch (no handle yet). */
int kvs__check_entry(const void *key, size_t klen, const void *val, size_t vlen);

/* segment list (db.c) */
/* Put s in slot of the slot table (free until then). */
void kvs__db_set_slot(struct kvs *db, struct kvs_segment *s, uint32_t slot);
int kvs__db_add_segment(struct kvs *db, struct kvs_segment *s);
void kvs__db_remove_segment(struct kvs *db, struct kvs_segment *s);
int kvs__db_new_segment(struct kvs *db, uint64_t epoch, uint32_t flags, uint64_t capacity,
                        struct kvs_segment **out);
/* Seal the active segment and start a new one with room for need bytes.
 * Caller holds write_mutex. */
int kvs__db_roll(struct kvs *db, uint64_t need);
/* Account that the record at loc no longer holds a live value. */
void kvs__db_retire_loc(struct kvs *db, const struct kvs_loc *loc);

#endif
