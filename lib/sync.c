/*
 * Durability: group commit for KVS_SYNC_ALWAYS, the interval thread for
 * KVS_SYNC_INTERVAL, and kvs_sync(). All three go through kvs__sync_upto():
 * a caller that needs records up to seq on disk either finds them synced,
 * waits for the running leader, or becomes the leader and syncs everything
 * appended so far, on behalf of every waiting writer.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "store.h"
#include "sync.h"

/* Next sealed segment numbered up to max_id that still needs an fdatasync
 * (referenced), or NULL. */
static struct kvs_segment *next_unsynced(struct kvs *db, bool *dir_dirty, uint32_t max_id)
{
    struct kvs_segment *found = NULL;
    pthread_mutex_lock(&db->seg_mutex);
    for (size_t i = 0; i < db->nsegs; i++) {
        struct kvs_segment *s = db->segs[i];
        if (s->id <= max_id && atomic_load(&s->sealed) && !atomic_load(&s->synced)) {
            kvs__seg_ref(s);
            found = s;
            break;
        }
    }
    if (dir_dirty) {
        *dir_dirty = db->dir_dirty;
        db->dir_dirty = false;
    }
    pthread_mutex_unlock(&db->seg_mutex);
    return found;
}

int kvs__sync_dir_if_dirty(struct kvs *db)
{
    pthread_mutex_lock(&db->seg_mutex);
    bool dirty = db->dir_dirty;
    db->dir_dirty = false;
    pthread_mutex_unlock(&db->seg_mutex);
    if (dirty && kvs__io_sync_dir(db->dirfd) < 0) {
        /* the names of new segments may not be durable, and a later fsync
         * need not say so again: refuse writes, as for a failed fdatasync */
        int err = errno;
        kvs__log(db, KVS_LOG_ERROR, "fsync of the directory failed: %s", strerror(err));
        kvs__fail(db, err);
        pthread_mutex_lock(&db->seg_mutex);
        db->dir_dirty = true;
        pthread_mutex_unlock(&db->seg_mutex);
        errno = err;
        return KVS_EIO;
    }
    return KVS_OK;
}

static int datasync(struct kvs *db, struct kvs_segment *s)
{
    kvs__stat_add(db, KVS_STAT_SYNCS, 1);
    if (kvs__seg_datasync(s) < 0) {
        kvs__log(db, KVS_LOG_ERROR, "fdatasync of segment %u failed: %s", s->id,
                 strerror(errno));
        return KVS_EIO;
    }
    return KVS_OK;
}

/*
 * Make every record appended so far durable; *target receives the sequence
 * number that covers. Sealed segments first (they hold older records), then
 * the active one, then the directory (new segment files). Only the segments
 * numbered up to the active one: those sealed later hold later records
 * (or a compaction's copies, which it syncs itself), and a writer sealing
 * them faster than they are synced would keep this loop going for as long
 * as it writes (kvs_sync, and compaction before it deletes its inputs,
 * would not return).
 */
static int sync_pending(struct kvs *db, uint64_t *target)
{
    pthread_mutex_lock(&db->write_mutex);
    *target = db->write_seq;
    struct kvs_segment *active = db->active;
    if (active)
        kvs__seg_ref(active);
    pthread_mutex_unlock(&db->write_mutex);

    uint32_t max_id = active ? active->id : UINT32_MAX;
    int rc = kvs__sync_dir_if_dirty(db);
    struct kvs_segment *s;
    while (rc == KVS_OK && (s = next_unsynced(db, NULL, max_id)) != NULL) {
        rc = datasync(db, s);
        if (rc == KVS_OK) {
            atomic_store(&s->synced, true);
            kvs__seg_close_fd(s);
        }
        kvs__seg_unref(s);
    }
    if (rc == KVS_OK && active)
        rc = datasync(db, active);
    kvs__seg_unref(active);
    return rc;
}

/*
 * Waiters sleep on a futex rather than a condition variable: a woken waiter
 * that its round covered returns without taking sync_mutex. With a condition
 * variable every woken waiter re-takes the mutex in turn, a chain of wake-ups
 * that costs more than the fdatasync itself on a busy machine.
 */
static void wait_for_epoch_change(_Atomic uint32_t *epoch, uint32_t seen)
{
    syscall(SYS_futex, (uint32_t *)epoch, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void wake_epoch_waiters(_Atomic uint32_t *epoch)
{
    syscall(SYS_futex, (uint32_t *)epoch, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Longest a leader waits for its group: a wait beyond a sync's own cost
 * would lose more than the merged round gains. */
#define GATHER_MAX_US 1000u

/*
 * The writers that the last round released are about to append again. Wait
 * until as many callers as that round had have arrived, or half a round's
 * time has passed, so that this round covers them all. Without the wait the
 * writers split into two groups that take turns, each round covering half
 * of them. A lone writer (last_group 1) never waits, and a writer that
 * stopped writing costs one timed-out wait, after which the group is smaller.
 * Caller is the leader and holds sync_mutex.
 */
static void gather_writers(struct kvs *db)
{
    if (db->arrived >= db->last_group)
        return;
    struct timespec deadline = kvs__deadline_in_us(KVS_MIN(db->last_sync_us / 2, GATHER_MAX_US));
    while (db->arrived < db->last_group)
        if (pthread_cond_timedwait(&db->gather_cond, &db->sync_mutex, &deadline) == ETIMEDOUT)
            break;
}

/* Run one round as the leader: sync everything appended so far. Caller
 * holds sync_mutex, which is released during the syncs. */
static int lead_round(struct kvs *db)
{
    db->sync_leader = true;
    gather_writers(db);
    db->last_group = db->arrived;
    db->arrived = 0;
    db->round++;
    pthread_mutex_unlock(&db->sync_mutex);

    uint64_t start = kvs__now_us();
    uint64_t target = 0;
    int rc = sync_pending(db, &target);
    int saved = errno;
    if (rc != KVS_OK)
        kvs__fail(db, saved);
    uint64_t took = kvs__now_us() - start;

    pthread_mutex_lock(&db->sync_mutex);
    db->sync_leader = false;
    db->last_sync_us = took;
    if (rc == KVS_OK && target > db->synced_seq) {
        kvs__stat_add(db, KVS_STAT_SYNCED_WRITES, target - db->synced_seq);
        atomic_store_explicit(&db->synced_seq, target, memory_order_release);
    }
    atomic_fetch_add_explicit(&db->sync_epoch, 1, memory_order_release);
    wake_epoch_waiters(&db->sync_epoch);
    errno = saved;
    return rc;
}

/* Sleep until the running round ends. Returns true if it covered seq and
 * the caller is done (its count went with that round); false with
 * sync_mutex held again otherwise. Caller holds sync_mutex. */
static bool wait_for_round(struct kvs *db, uint64_t seq, uint64_t my_round)
{
    uint32_t seen = atomic_load_explicit(&db->sync_epoch, memory_order_acquire);
    pthread_mutex_unlock(&db->sync_mutex);
    wait_for_epoch_change(&db->sync_epoch, seen);
    if (atomic_load_explicit(&db->synced_seq, memory_order_acquire) >= seq &&
        atomic_load_explicit(&db->round, memory_order_relaxed) != my_round)
        return true;
    pthread_mutex_lock(&db->sync_mutex);
    return false;
}

int kvs__sync_upto(struct kvs *db, uint64_t seq)
{
    int rc = KVS_OK;
    if (atomic_load_explicit(&db->synced_seq, memory_order_acquire) >= seq)
        return KVS_OK;
    pthread_mutex_lock(&db->sync_mutex);
    /* counted for the next round until one starts (round changes) */
    uint64_t my_round = db->round;
    if (++db->arrived >= db->last_group && db->sync_leader)
        pthread_cond_signal(&db->gather_cond);
    while (db->synced_seq < seq) {
        if (atomic_load(&db->write_failed)) {
            rc = kvs__refused(db);
            break;
        }
        if (db->sync_leader) {
            if (wait_for_round(db, seq, my_round))
                return KVS_OK;
            continue;
        }
        rc = lead_round(db);
        if (rc != KVS_OK)
            break;
    }
    /* covered by a round that started before this caller was counted */
    if (my_round == db->round)
        db->arrived--;
    pthread_mutex_unlock(&db->sync_mutex);
    if (rc == KVS_EIO && errno == 0)
        errno = EIO;
    return rc;
}

static void *sync_thread_main(void *arg)
{
    struct kvs *db = arg;
    for (;;) {
        struct timespec deadline = kvs__deadline_in_us((uint64_t)db->opts.sync_interval_ms * 1000u);
        pthread_mutex_lock(&db->sync_mutex);
        int rc = 0;
        while (!db->sync_stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&db->sync_cond, &db->sync_mutex, &deadline);
        bool stop = db->sync_stop;
        pthread_mutex_unlock(&db->sync_mutex);
        if (stop)
            break;
        pthread_mutex_lock(&db->write_mutex);
        uint64_t seq = db->write_seq;
        pthread_mutex_unlock(&db->write_mutex);
        kvs__sync_upto(db, seq);
    }
    return NULL;
}

int kvs__sync_start(struct kvs *db)
{
    if (db->opts.sync != KVS_SYNC_INTERVAL)
        return KVS_OK;
    if (pthread_create(&db->sync_thread, NULL, sync_thread_main, db) != 0)
        return KVS_ENOMEM;
    db->sync_running = true;
    return KVS_OK;
}

void kvs__sync_stop(struct kvs *db)
{
    if (!db->sync_running)
        return;
    pthread_mutex_lock(&db->sync_mutex);
    db->sync_stop = true;
    pthread_cond_broadcast(&db->sync_cond);
    pthread_mutex_unlock(&db->sync_mutex);
    pthread_join(db->sync_thread, NULL);
    db->sync_running = false;
}
