/* kvs_stat(): counters kept as the store runs, gauges computed on demand. */
#include <sys/stat.h>

#include "io.h"
#include "store.h"

static const char *const stat_names[KVS_STAT_COUNT_] = {
    [KVS_STAT_KEYS] = "keys",
    [KVS_STAT_SEGMENTS] = "segments",
    [KVS_STAT_DISK_BYTES] = "disk_bytes",
    [KVS_STAT_LIVE_BYTES] = "live_bytes",
    [KVS_STAT_DEAD_BYTES] = "dead_bytes",
    [KVS_STAT_INDEX_BYTES] = "index_bytes",
    [KVS_STAT_ORDER_BYTES] = "order_bytes",
    [KVS_STAT_ORDER_RUNS] = "order_runs",
    [KVS_STAT_ORDER_LOADED] = "order_loaded",
    [KVS_STAT_SETS] = "sets",
    [KVS_STAT_GETS] = "gets",
    [KVS_STAT_REMOVES] = "removes",
    [KVS_STAT_SYNCS] = "syncs",
    [KVS_STAT_SYNCED_WRITES] = "synced_writes",
    [KVS_STAT_COMPACTIONS] = "compactions",
    [KVS_STAT_COMPACTED_BYTES] = "compacted_bytes",
    [KVS_STAT_RECOVERY_TORN_BYTES] = "recovery_torn_bytes",
    [KVS_STAT_RECOVERY_SKIPPED_BYTES] = "recovery_skipped_bytes",
    [KVS_STAT_OPEN_MICROS] = "open_micros",
    [KVS_STAT_HINT_SEGMENTS] = "hint_segments",
    [KVS_STAT_WRITE_FAILED] = "write_failed",
    [KVS_STAT_INDEX_SNAPSHOT_LOADED] = "index_snapshot_loaded",
};

const char *kvs_stat_name(kvs_stat_t which)
{
    if ((unsigned)which >= KVS_STAT_COUNT_)
        return NULL;
    return stat_names[which];
}

/* Sizes of the segment files and their hints, as the file system reports them. */
static uint64_t disk_bytes(struct kvs *db)
{
    uint64_t total = 0;
    pthread_mutex_lock(&db->seg_mutex);
    for (size_t i = 0; i < db->nsegs; i++) {
        struct stat st;
        char name[KVS_SEG_NAME_MAX];
        kvs__seg_name(name, db->segs[i]->id, "log");
        if (kvs__io_stat(db->dirfd, name, &st) == 0)
            total += (uint64_t)st.st_size;
        kvs__seg_name(name, db->segs[i]->id, "hint");
        if (kvs__io_stat(db->dirfd, name, &st) == 0)
            total += (uint64_t)st.st_size;
    }
    pthread_mutex_unlock(&db->seg_mutex);
    return total;
}

/* Sum a per-segment counter. */
static uint64_t segment_sum(struct kvs *db, size_t field_offset)
{
    uint64_t total = 0;
    pthread_mutex_lock(&db->seg_mutex);
    for (size_t i = 0; i < db->nsegs; i++)
        total += atomic_load((_Atomic uint64_t *)((char *)db->segs[i] + field_offset));
    pthread_mutex_unlock(&db->seg_mutex);
    return total;
}

int kvs_stat(kvs_t *db, kvs_stat_t which, uint64_t *value)
{
    if (value)
        *value = 0;
    if (!db || !value || (unsigned)which >= KVS_STAT_COUNT_)
        return KVS_EINVAL;
    uint64_t keys, bytes;
    switch (which) {
    case KVS_STAT_KEYS:
    case KVS_STAT_INDEX_BYTES:
        kvs__index_usage(&db->index, &keys, &bytes);
        *value = which == KVS_STAT_KEYS ? keys : bytes;
        break;
    case KVS_STAT_SEGMENTS:
        pthread_mutex_lock(&db->seg_mutex);
        *value = db->nsegs;
        pthread_mutex_unlock(&db->seg_mutex);
        break;
    case KVS_STAT_DISK_BYTES:
        *value = disk_bytes(db);
        break;
    case KVS_STAT_LIVE_BYTES:
        *value = segment_sum(db, offsetof(struct kvs_segment, live_bytes));
        break;
    case KVS_STAT_DEAD_BYTES:
        *value = segment_sum(db, offsetof(struct kvs_segment, dead_bytes));
        break;
    case KVS_STAT_SETS:
    case KVS_STAT_REMOVES:
        pthread_mutex_lock(&db->write_mutex);
        *value = db->write_counts[which == KVS_STAT_SETS ? 0 : 1];
        pthread_mutex_unlock(&db->write_mutex);
        break;
    case KVS_STAT_GETS:
        *value = kvs__index_gets(&db->index);
        break;
    case KVS_STAT_WRITE_FAILED:
        *value = atomic_load(&db->write_failed);
        break;
    case KVS_STAT_ORDER_BYTES:
    case KVS_STAT_ORDER_RUNS:
        kvs__order_usage(db, &bytes, &keys);
        *value = which == KVS_STAT_ORDER_BYTES ? bytes : keys;
        break;
    default:
        *value = atomic_load_explicit(&db->stats[which], memory_order_relaxed);
        break;
    }
    return KVS_OK;
}
