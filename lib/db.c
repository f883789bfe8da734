/*
 * The public calls that open, close, sync and compact a store. Reads are in
 * read.c, writes in write.c and batch.c, the store core in store.c.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ahead.h"
#include "compact.h"
#include "index_file.h"
#include "io.h"
#include "lock.h"
#include "recovery.h"
#include "segment.h"
#include "sync.h"

/*
 * A KVS_SYNC_NONE store that syncs on its own schedule: from now on keep each
 * sync to the pages written since the last one (see segment_writes). The
 * active segment's huge folios cannot be split, so it is sealed (written back
 * once) and the next one uses small pages. Caller holds write_mutex.
 */
static void small_pages_from_now(struct kvs *db)
{
    if (atomic_load(&db->small_pages))
        return;
    atomic_store(&db->small_pages, true);
    if (!db->active || db->active->small_pages || db->active->write_through)
        return;
    int rc = kvs__db_roll(db, 0);
    if (rc != KVS_OK) /* still correct: syncs of this segment write more */
        kvs__log(db, KVS_LOG_WARN, "cannot start a segment with small pages: %s",
                 kvs_strerror(rc));
}

int kvs_sync(kvs_t *db)
{
    if (!db)
        return KVS_EINVAL;
    if (db->opts.read_only)
        return KVS_OK;
    pthread_mutex_lock(&db->write_mutex);
    small_pages_from_now(db);
    uint64_t seq = db->write_seq;
    pthread_mutex_unlock(&db->write_mutex);
    return kvs__sync_upto(db, seq);
}

int kvs_compact(kvs_t *db)
{
    if (!db)
        return KVS_EINVAL;
    if (db->opts.read_only)
        return KVS_EREADONLY;
    return kvs__compact_now(db);
}

/* ---- open and close ---- */

/* mkdir -p: create each missing component of path. */
static int make_dirs(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return KVS_ENOMEM;
    int rc = KVS_OK;
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (kvs__io_mkdir(copy) < 0 && errno != EEXIST) {
                rc = errno == ENOENT ? KVS_ENOENT : KVS_EIO;
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    int saved_errno = errno;
    free(copy);
    errno = saved_errno;
    return rc;
}

static struct kvs *db_alloc(const struct kvs_options *opts)
{
    struct kvs *db = calloc(1, sizeof(*db));
    if (!db)
        return NULL;
    db->slots = calloc(KVS_SLOT_COUNT, sizeof(*db->slots));
    if (!db->slots || kvs__index_init(&db->index) != KVS_OK) {
        free(db->slots);
        free(db);
        return NULL;
    }
    kvs__order_init(&db->order);
    db->opts = *opts;
    db->dirfd = -1;
    db->lock_fd = -1;
    db->slot_next = 1;
    db->next_writer_epoch = KVS_EPOCH_WRITER_STEP;
    pthread_mutex_init(&db->seg_mutex, NULL);
    pthread_mutex_init(&db->write_mutex, NULL);
    pthread_mutex_init(&db->sync_mutex, NULL);
    pthread_mutex_init(&db->bg_mutex, NULL);
    pthread_mutex_init(&db->compact_mutex, NULL);
    pthread_mutex_init(&db->ahead_mutex, NULL);
    pthread_cond_init(&db->ahead_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&db->sync_cond, &ca);
    pthread_cond_init(&db->bg_cond, &ca);
    pthread_cond_init(&db->gather_cond, &ca);
    pthread_condattr_destroy(&ca);
    return db;
}

/* Free everything; segments are dropped without touching their files. */
static void db_free(struct kvs *db)
{
    kvs__order_release(db); /* its runs pin segments */
    kvs__order_destroy(&db->order);
    for (size_t i = 0; i < db->nsegs; i++)
        kvs__seg_unref(db->segs[i]);
    free(db->segs);
    free(db->slots);
    kvs__index_destroy(&db->index);
    if (db->lock_fd >= 0)
        kvs__unlock_dir(db->lock_fd);
    if (db->dirfd >= 0)
        kvs__io_close(db->dirfd);
    pthread_mutex_destroy(&db->seg_mutex);
    pthread_mutex_destroy(&db->write_mutex);
    pthread_mutex_destroy(&db->sync_mutex);
    pthread_mutex_destroy(&db->bg_mutex);
    pthread_mutex_destroy(&db->compact_mutex);
    pthread_mutex_destroy(&db->ahead_mutex);
    pthread_cond_destroy(&db->ahead_cond);
    pthread_cond_destroy(&db->sync_cond);
    pthread_cond_destroy(&db->bg_cond);
    pthread_cond_destroy(&db->gather_cond);
    free(db->dir);
    free(db);
}

/*
 * KVS_OK if the directory holds a store, else KVS_ENOENT: a store has its
 * LOCK file (created before anything else, never deleted) or a segment (a
 * copy made without the LOCK). Segments alone do not tell: an empty store
 * may have none (close deletes an active segment without records, open the
 * empty ones, compaction those without live records).
 */
static int holds_store(int dirfd)
{
    struct stat st;
    if (fstatat(dirfd, "LOCK", &st, 0) == 0)
        return KVS_OK;
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return KVS_EIO;
    }
    int rc = KVS_ENOENT;
    struct dirent *de;
    uint32_t id;
    while (rc == KVS_ENOENT && (de = readdir(d)) != NULL)
        if (kvs__seg_parse_name(de->d_name, "log", &id))
            rc = KVS_OK;
    closedir(d);
    return rc;
}

static int open_dir(struct kvs *db, const char *dir)
{
    if (db->opts.create_if_missing && !db->opts.read_only) {
        int rc = make_dirs(dir);
        if (rc != KVS_OK)
            return rc;
    }
    db->dirfd = kvs__io_open_dir(dir);
    if (db->dirfd < 0)
        return errno == ENOENT ? KVS_ENOENT : KVS_EIO;
    if (!db->opts.create_if_missing) {
        int rc = holds_store(db->dirfd); /* before the LOCK file is created */
        if (rc != KVS_OK)
            return rc;
    }
    return kvs__lock_dir(db->dirfd, db->opts.read_only, &db->lock_fd);
}

static int start_writer(struct kvs *db)
{
    uint64_t epoch = db->next_writer_epoch;
    db->next_writer_epoch += KVS_EPOCH_WRITER_STEP;
    return kvs__db_new_segment(db, epoch, 0, db->opts.segment_bytes, &db->active);
}

int kvs_open(const char *dir, const kvs_options_t *opts, kvs_t **out)
{
    uint64_t t0 = kvs__now_us();
    if (out)
        *out = NULL;
    if (!dir || !*dir || !out)
        return KVS_EINVAL;
    struct kvs_options o;
    if (opts)
        o = *opts;
    else
        kvs__options_defaults(&o);
    if (kvs__options_validate(&o) != KVS_OK)
        return KVS_EINVAL;

    struct kvs *db = db_alloc(&o);
    if (!db)
        return KVS_ENOMEM;
    db->dir = strdup(dir);
    int rc = db->dir ? open_dir(db, dir) : KVS_ENOMEM;
    if (rc == KVS_OK)
        rc = kvs__recover(db);
    if (rc == KVS_OK)
        rc = kvs__order_start(db);
    if (rc == KVS_OK && !o.read_only)
        rc = start_writer(db);
    if (rc == KVS_OK && !o.read_only)
        rc = kvs__sync_dir_if_dirty(db);
    if (rc == KVS_OK && !o.read_only)
        rc = kvs__sync_start(db);
    if (rc == KVS_OK && !o.read_only)
        rc = kvs__bg_start(db);
    if (rc != KVS_OK) {
        int saved = errno;
        kvs__sync_stop(db);
        kvs__bg_stop(db);
        kvs__ahead_stop(db);
        kvs__order_release(db); /* after compaction, which refreshes the order */
        if (db->active && db->active->tail == KVS_SEG_HEADER_SIZE) {
            char name[KVS_SEG_NAME_MAX];
            kvs__seg_name(name, db->active->id, "log");
            kvs__io_unlinkat(db->dirfd, name);
        }
        db_free(db);
        errno = saved;
        return rc;
    }
    atomic_store(&db->stats[KVS_STAT_OPEN_MICROS], kvs__now_us() - t0);
    *out = db;
    return KVS_OK;
}

/* Seal the active segment at close, or delete it if nothing was written. */
static int close_active(struct kvs *db)
{
    struct kvs_segment *s = db->active;
    db->active = NULL;
    if (s->tail == KVS_SEG_HEADER_SIZE) {
        char name[KVS_SEG_NAME_MAX];
        kvs__seg_name(name, s->id, "log");
        kvs__db_remove_segment(db, s);
        kvs__io_unlinkat(db->dirfd, name);
        pthread_mutex_lock(&db->seg_mutex);
        db->dir_dirty = true;
        pthread_mutex_unlock(&db->seg_mutex);
        kvs__seg_unref(s);
        return KVS_OK;
    }
    return kvs__seg_seal(s);
}


int kvs_close(kvs_t *db)
{
    if (!db)
        return KVS_OK;
    if (atomic_load_explicit(&db->order.handles, memory_order_acquire) > 0) {
        kvs__log(db, KVS_LOG_ERROR, "kvs_close: iterators or snapshots are still open");
        return KVS_EBUSY;
    }
    atomic_store(&db->compact_abort, true);
    kvs__bg_stop(db);
    kvs__ahead_stop(db);
    uint64_t seq = 0;
    if (!db->opts.read_only) {
        /* Sealed first, so that the garbage of the last segment written is
         * compacted too (a burst's own overwrites). */
        pthread_mutex_lock(&db->write_mutex);
        seq = ++db->write_seq; /* the seal, so that the sync below covers it */
        close_active(db);
        pthread_mutex_unlock(&db->write_mutex);
        /* a last, bounded compaction of its own (compact.h) */
        atomic_store(&db->compact_abort, false);
        kvs__compact_at_close(db);
        atomic_store(&db->compact_abort, true);
    }
    atomic_store(&db->order.stop, true); /* an unfinished first view is dropped */
    kvs__sync_stop(db);
    kvs__order_stop(db); /* after compaction, which refreshes the order */
    int rc = KVS_OK;
    if (!db->opts.read_only) {
        if (!atomic_load(&db->write_failed))
            rc = kvs__sync_upto(db, seq);
        else
            rc = kvs__refused(db);
        if (rc == KVS_OK) {
            kvs__write_pending_hints(db, SIZE_MAX);
            kvs__index_file_write(db);
            kvs__order_save(db);
        }
    }
    int saved = errno;
    db_free(db);
    errno = saved;
    return rc;
}
