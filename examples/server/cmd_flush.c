/*
 * FLUSHDB and FLUSHALL [ASYNC|SYNC]: remove every key (one database, so
 * both do the same).
 *
 * libkvs has no "remove everything" call: the keys are walked with an
 * iterator and removed in atomic batches of up to FLUSH_BATCH_KEYS keys or
 * FLUSH_BATCH_BYTES, with the write gate closed (write_gate.h), so no write
 * of any client comes between the first and the last batch: to writers the
 * flush is one step. Readers see each batch at once; a store with more keys
 * than one batch holds empties in several steps that a reader can see
 * between. Every key is visited (O(keys), in the calling worker thread,
 * while every write waits) and gets a tombstone record (11 bytes plus the
 * key).
 *
 * Then, as Redis's SYNC frees the memory before replying and ASYNC in the
 * background: SYNC (the default) runs kvs_compact() with the gate open
 * (writers go on; this worker's other clients wait), which gives the disk
 * space back now, reading every segment once, and drops keys that had
 * expired (the iterator does not show them, so they could not be removed,
 * and DBSIZE counts them until compaction); ASYNC leaves both to libkvs's
 * background compaction.
 */
#include <kvs.h>
#include <time.h>

#include "commands.h"
#include "write_gate.h"

#define FLUSH_BATCH_KEYS 1000000u
#define FLUSH_BATCH_BYTES ((size_t)64 << 20)

struct flush {
    kvs_iter_t *it;
    kvs_batch_t *batch;
    uint64_t removed, damaged;
};

/* Apply the batch if it is full (or last); KVS_OK or an error. */
static int flush_batch(kvs_t *db, struct flush *f, bool last)
{
    kvs_batch_t *b = f->batch;
    if (!last && kvs_batch_count(b) < FLUSH_BATCH_KEYS && kvs_batch_bytes(b) < FLUSH_BATCH_BYTES)
        return KVS_OK;
    int rc = kvs_batch_apply(db, b);
    if (rc == KVS_OK)
        f->removed += kvs_batch_count(b);
    kvs_batch_clear(b);
    return rc;
}

/* Walk every key into removal batches. */
static int flush_walk(kvs_t *db, struct flush *f)
{
    int rc = kvs_iter_first(f->it);
    for (; rc == KVS_OK; rc = kvs_iter_next(f->it)) {
        const void *key;
        size_t klen;
        if (kvs_iter_key(f->it, &key, &klen) != KVS_OK) {
            f->damaged++; /* a damaged record's key cannot be trusted: left alone */
            continue;
        }
        rc = kvs_batch_remove(f->batch, key, klen);
        if (rc == KVS_OK)
            rc = flush_batch(db, f, false);
        if (rc != KVS_OK)
            return rc;
    }
    return rc == KVS_NOT_FOUND ? flush_batch(db, f, true) : rc;
}

/* Remove every key the store shows, with the write gate closed. */
static int flush_keys(struct server *srv, struct flush *f)
{
    write_gate_close(srv->gate);
    int rc = kvs_iter_create(srv->db, NULL, &f->it);
    if (rc == KVS_OK)
        rc = kvs_batch_create(&f->batch);
    if (rc == KVS_OK)
        rc = flush_walk(srv->db, f);
    kvs_batch_destroy(f->batch);
    kvs_iter_destroy(f->it);
    write_gate_open(srv->gate);
    return rc;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CMD_EXCLUSIVE: the gate is closed in flush_keys() only, not for the compaction. */
static void flush(struct session *s, size_t argc, const struct resp_arg *argv, const char *name)
{
    bool async = argc == 2 && arg_is(&argv[1], "async");
    if (argc > 2 || (argc == 2 && !async && !arg_is(&argv[1], "sync"))) {
        reply_syntax_error(s);
        return;
    }
    struct flush f = {0};
    long long t0 = mono_ms();
    int rc = flush_keys(s->srv, &f);
    long long t1 = mono_ms();
    if (f.removed)
        s->wrote = true;
    if (rc == KVS_OK && !async)
        rc = kvs_compact(s->srv->db);
    log_msg(rc == KVS_OK ? LL_INFO : LL_ERROR,
            "%s by client %llu: %llu keys removed in %lld ms, %s in %lld ms: %s", name,
            (unsigned long long)s->id, (unsigned long long)f.removed, t1 - t0,
            async ? "no compaction" : "compacted", mono_ms() - t1, kvs_strerror(rc));
    if (f.damaged)
        log_msg(LL_WARN, "%s: %llu damaged records left in place", name,
                (unsigned long long)f.damaged);
    if (rc == KVS_OK)
        resp_add_simple(s->out, "OK");
    else
        reply_storage_error(s, rc);
}

void cmd_flushdb(struct session *s, size_t argc, const struct resp_arg *argv)
{
    flush(s, argc, argv, "FLUSHDB");
}

void cmd_flushall(struct session *s, size_t argc, const struct resp_arg *argv)
{
    flush(s, argc, argv, "FLUSHALL");
}
