/*
 * Durability: group commit for KVS_SYNC_ALWAYS, the interval thread for
 * KVS_SYNC_INTERVAL, and kvs_sync(). All three go through kvs__sync_upto():
 * a caller that needs records up to seq on disk either finds them synced,
 * waits for the running leader, or becomes the leader and syncs everything
 * appended so far, on behalf of every waiting writer.
 */
#include <errno.h>
#include <sched.h>
#include <time.h>

#include "db.h"
#include "io.h"

/* Next sealed segment that still needs an fdatasync (referenced), or NULL. */
static struct kvs_segment *next_unsynced(struct kvs *db, bool *dir_dirty)
{
    struct kvs_segment *found = NULL;
    pthread_mutex_lock(&db->seg_mutex);
    for (size_t i = 0; i < db->nsegs; i++) {
        struct kvs_segment *s = db->segs[i];
        if (atomic_load(&s->sealed) && !atomic_load(&s->synced)) {
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
        pthread_mutex_lock(&db->seg_mutex);
        db->dir_dirty = true;
        pthread_mutex_unlock(&db->seg_mutex);
        return KVS_EIO;
    }
    return KVS_OK;
}

static int datasync(struct kvs *db, struct kvs_segment *s)
{
    kvs__stat_add(db, KVS_STAT_SYNCS, 1);
    if (kvs__io_datasync(s->fd) < 0) {
        kvs__log(db, KVS_LOG_ERROR, "fdatasync of segment %u failed: %s", s->id,
                 strerror(errno));
        return KVS_EIO;
    }
    return KVS_OK;
}

/*
 * Make every record appended so far durable; *target receives the sequence
 * number that covers. Sealed segments first (they hold older records), then
 * the active one, then the directory (new segment files).
 */
static int sync_pending(struct kvs *db, uint64_t *target)
{
    pthread_mutex_lock(&db->write_mutex);
    *target = db->write_seq;
    struct kvs_segment *active = db->active;
    if (active)
        kvs__seg_ref(active);
    pthread_mutex_unlock(&db->write_mutex);

    int rc = kvs__sync_dir_if_dirty(db);
    struct kvs_segment *s;
    while (rc == KVS_OK && (s = next_unsynced(db, NULL)) != NULL) {
        rc = datasync(db, s);
        if (rc == KVS_OK)
            atomic_store(&s->synced, true);
        kvs__seg_unref(s);
    }
    if (rc == KVS_OK && active)
        rc = datasync(db, active);
    kvs__seg_unref(active);
    return rc;
}

/*
 * Writers released by the previous round are about to append again: let
 * them, for as long as appends keep coming (a few scheduler turns at most),
 * so that this round covers them too instead of starting a round of its own.
 * A lone writer pays one sched_yield per fdatasync.
 */
static void gather_writers(struct kvs *db)
{
    uint64_t seen = atomic_load_explicit(&db->appended_seq, memory_order_relaxed);
    for (int turn = 0; turn < 8; turn++) {
        sched_yield();
        uint64_t now = atomic_load_explicit(&db->appended_seq, memory_order_relaxed);
        if (now == seen)
            break;
        seen = now;
    }
}

int kvs__sync_upto(struct kvs *db, uint64_t seq)
{
    int rc = KVS_OK;
    pthread_mutex_lock(&db->sync_mutex);
    while (db->synced_seq < seq) {
        if (atomic_load(&db->write_failed)) {
            rc = KVS_EIO;
            break;
        }
        if (db->sync_leader) {
            pthread_cond_wait(&db->sync_cond, &db->sync_mutex);
            continue;
        }
        db->sync_leader = true;
        pthread_mutex_unlock(&db->sync_mutex);
        gather_writers(db);
        uint64_t target = 0;
        rc = sync_pending(db, &target);
        int saved = errno;
        if (rc != KVS_OK)
            atomic_store(&db->write_failed, true);
        pthread_mutex_lock(&db->sync_mutex);
        db->sync_leader = false;
        if (rc == KVS_OK && target > db->synced_seq) {
            kvs__stat_add(db, KVS_STAT_SYNCED_WRITES, target - db->synced_seq);
            db->synced_seq = target;
        }
        pthread_cond_broadcast(&db->sync_cond);
        errno = saved;
        if (rc != KVS_OK)
            break;
    }
    pthread_mutex_unlock(&db->sync_mutex);
    if (rc == KVS_EIO && errno == 0)
        errno = EIO;
    return rc;
}

static void *sync_thread_main(void *arg)
{
    struct kvs *db = arg;
    for (;;) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        uint64_t ns = (uint64_t)deadline.tv_nsec + (uint64_t)db->opts.sync_interval_ms * 1000000u;
        deadline.tv_sec += (time_t)(ns / 1000000000u);
        deadline.tv_nsec = (long)(ns % 1000000000u);
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
