/*
 * The grow-ahead thread: grows the active segment's file by its next step and
 * faults the new pages in before the writer gets there.
 *
 * Faulting in a fresh step is the costliest thing a mapped append does: the
 * kernel allocates a 2 MiB folio (or 512 small pages) and zeroes it, about a
 * fifth of the writer's time in a random-overwrite run (perf, this VM). Done
 * here, on another CPU, the writer only copies records into pages that are
 * already there. If the thread falls behind, or cannot be started, the writer
 * grows the file itself (kvs__seg_reserve), exactly as without it: this
 * thread only ever saves time, correctness never depends on it.
 *
 * One request at a time: the writer asks once per step (kvs__seg_ahead_due),
 * a newer request replaces an older one not yet taken. The thread is started
 * by the first request, so read-only stores and write-through segments never
 * have it.
 */
#include "ahead.h"
#include "store.h"

static void *ahead_main(void *arg)
{
    struct kvs *db = arg;
    pthread_mutex_lock(&db->ahead_mutex);
    for (;;) {
        while (!db->ahead_stop && !db->ahead_seg)
            pthread_cond_wait(&db->ahead_cond, &db->ahead_mutex);
        if (db->ahead_stop)
            break;
        struct kvs_segment *s = db->ahead_seg;
        uint64_t to = db->ahead_to;
        db->ahead_seg = NULL;
        pthread_mutex_unlock(&db->ahead_mutex);
        /* A failure (disk full) is the writer's to report when it gets
         * there: it grows the file itself and sees the error. */
        (void)kvs__seg_grow(s, to);
        kvs__seg_unref(s);
        pthread_mutex_lock(&db->ahead_mutex);
    }
    pthread_mutex_unlock(&db->ahead_mutex);
    return NULL;
}

void kvs__ahead_ask(struct kvs *db, struct kvs_segment *s, uint64_t to)
{
    pthread_mutex_lock(&db->ahead_mutex);
    if (!db->ahead_running && !db->ahead_stop &&
        pthread_create(&db->ahead_thread, NULL, ahead_main, db) == 0)
        db->ahead_running = true;
    if (db->ahead_running) {
        if (db->ahead_seg)
            kvs__seg_unref(db->ahead_seg);
        kvs__seg_ref(s);
        db->ahead_seg = s;
        db->ahead_to = to;
        pthread_cond_signal(&db->ahead_cond);
    }
    pthread_mutex_unlock(&db->ahead_mutex);
}

void kvs__ahead_stop(struct kvs *db)
{
    pthread_mutex_lock(&db->ahead_mutex);
    db->ahead_stop = true;
    pthread_cond_signal(&db->ahead_cond);
    bool running = db->ahead_running;
    pthread_mutex_unlock(&db->ahead_mutex);
    if (running)
        pthread_join(db->ahead_thread, NULL);
    db->ahead_running = false;
    if (db->ahead_seg) {
        kvs__seg_unref(db->ahead_seg);
        db->ahead_seg = NULL;
    }
}
