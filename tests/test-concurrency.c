/*
 * Threads and processes: many threads mixing operations on one handle,
 * group commit sharing fdatasync calls, the directory lock across processes.
 * Run under ThreadSanitizer in CI.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/testutil.h"
#include "io.h"

enum { THREADS = 8, KEYS_PER_THREAD = 400, OPS = 6000 };

struct worker {
    kvs_t *db;
    int id;
    /* each thread owns its keys, so it can keep an exact model */
    int version[KEYS_PER_THREAD]; /* 0 = absent */
};

static void key_of(int thread, int i, char *k, size_t *kl)
{
    *kl = (size_t)snprintf(k, 32, "t%d-key%d", thread, i);
}

/* Several of the thread's own keys in one kvs_multi_get, checked against
 * its model (a key may come twice). */
static void multi_get_own(struct worker *w, uint64_t *st)
{
    enum { N = 20 };
    char keys[N][32];
    int which[N];
    kvs_get_item_t items[N];
    for (int j = 0; j < N; j++) {
        which[j] = (int)(tu_rand(st) % KEYS_PER_THREAD);
        key_of(w->id, which[j], keys[j], &items[j].klen);
        items[j].key = keys[j];
    }
    ck_assert_kvs(kvs_multi_get(w->db, items, N, 0), KVS_OK);
    for (int j = 0; j < N; j++) {
        int version = w->version[which[j]];
        if (!version) {
            ck_assert_kvs(items[j].status, KVS_NOT_FOUND);
            ck_assert_ptr_null(items[j].val);
            continue;
        }
        char v[64];
        int vl = snprintf(v, sizeof(v), "t%d-k%d-v%d", w->id, which[j], version);
        ck_assert_kvs(items[j].status, KVS_OK);
        ck_assert_uint_eq(items[j].vlen, (size_t)vl);
        ck_assert_mem_eq(items[j].val, v, items[j].vlen);
        kvs_free(items[j].val);
    }
}

static void *mixed_worker(void *arg)
{
    struct worker *w = arg;
    uint64_t st = tu_seed() + (uint64_t)w->id * 7919;
    for (int op = 0; op < OPS; op++) {
        int i = (int)(tu_rand(&st) % KEYS_PER_THREAD);
        char k[32], v[64];
        size_t kl;
        key_of(w->id, i, k, &kl);
        unsigned what = (unsigned)(tu_rand(&st) % 10);
        if (what < 5) {
            int vl = snprintf(v, sizeof(v), "t%d-k%d-v%d", w->id, i, op + 1);
            ck_assert_kvs(kvs_set(w->db, k, kl, v, (size_t)vl), KVS_OK);
            w->version[i] = op + 1;
        } else if (what < 7) {
            ck_assert_kvs(kvs_remove(w->db, k, kl), w->version[i] ? KVS_OK : KVS_NOT_FOUND);
            w->version[i] = 0;
        } else if (what == 9) {
            multi_get_own(w, &st);
        } else {
            void *got;
            size_t n;
            int rc = kvs_get(w->db, k, kl, &got, &n);
            if (!w->version[i]) {
                ck_assert_kvs(rc, KVS_NOT_FOUND);
                continue;
            }
            ck_assert_kvs(rc, KVS_OK);
            int vl = snprintf(v, sizeof(v), "t%d-k%d-v%d", w->id, i, w->version[i]);
            ck_assert_uint_eq(n, (size_t)vl);
            ck_assert_mem_eq(got, v, n);
            kvs_free(got);
        }
    }
    return NULL;
}

static void check_workers(kvs_t *db, struct worker *w)
{
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < KEYS_PER_THREAD; i++) {
            char k[32], v[64];
            size_t kl;
            key_of(t, i, k, &kl);
            void *got;
            size_t n;
            int rc = kvs_get(db, k, kl, &got, &n);
            if (!w[t].version[i]) {
                ck_assert_kvs(rc, KVS_NOT_FOUND);
                continue;
            }
            ck_assert_kvs(rc, KVS_OK);
            int vl = snprintf(v, sizeof(v), "t%d-k%d-v%d", t, i, w[t].version[i]);
            ck_assert_uint_eq(n, (size_t)vl);
            ck_assert_mem_eq(got, v, n);
            kvs_free(got);
        }
}

static void run_mixed(kvs_sync_t sync, size_t segment, int compactions)
{
    kvs_t *db = tu_open_trigger(tu_dir, sync, segment, 10);
    static struct worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].db = db;
        w[i].id = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, mixed_worker, &w[i]), 0);
    }
    for (int c = 0; c < compactions; c++)
        ck_assert_kvs(kvs_compact(db), KVS_OK);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    check_workers(db, w);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_kvs(kvs_open(tu_dir, NULL, &db), KVS_OK);
    check_workers(db, w);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}

START_TEST(threads_mix_operations)
{
    run_mixed(KVS_SYNC_NONE, 16 * 1024, 5);
}
END_TEST

START_TEST(threads_mix_operations_interval_sync)
{
    run_mixed(KVS_SYNC_INTERVAL, 64 * 1024, 2);
}
END_TEST

/* Concurrent writers under KVS_SYNC_ALWAYS share fdatasync calls. */
struct syncer {
    kvs_t *db;
    int id;
    int writes;
};

static void *sync_writer(void *arg)
{
    struct syncer *s = arg;
    for (int i = 0; i < s->writes; i++) {
        char k[32];
        int kl = snprintf(k, sizeof(k), "w%d-%d", s->id, i);
        ck_assert_kvs(kvs_set(s->db, k, (size_t)kl, "v", 1), KVS_OK);
    }
    return NULL;
}

START_TEST(group_commit_shares_syncs)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_ALWAYS, 0);
    struct syncer s[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct syncer){db, i, 60};
        pthread_create(&t[i], NULL, sync_writer, &s[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t syncs, synced, sets;
    kvs_stat(db, KVS_STAT_SYNCS, &syncs);
    kvs_stat(db, KVS_STAT_SYNCED_WRITES, &synced);
    kvs_stat(db, KVS_STAT_SETS, &sets);
    ck_assert_uint_eq(sets, THREADS * 60);
    ck_assert_uint_ge(synced, sets); /* every write was covered by a sync */
    /* With 8 writers waiting, a sync covers several writes. */
    ck_assert_msg(syncs < sets, "%llu syncs for %llu writes: no sharing",
                  (unsigned long long)syncs, (unsigned long long)sets);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/*
 * The group shrinks: writers stop one after another (writer i writes 10 * i
 * records), so rounds gather fewer writers than the round before. Every
 * write still returns, durable, and survives a reopen.
 */
START_TEST(group_commit_group_shrinks)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_ALWAYS, 0);
    struct syncer s[THREADS];
    pthread_t t[THREADS];
    uint64_t total = 0;
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct syncer){db, i, 10 * (i + 1)};
        total += (uint64_t)s[i].writes;
        pthread_create(&t[i], NULL, sync_writer, &s[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t synced, keys;
    kvs_stat(db, KVS_STAT_SYNCED_WRITES, &synced);
    ck_assert_uint_ge(synced, total);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, total);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(second_process_gets_ebusy)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        kvs_t *other = NULL;
        int rc = kvs_open(tu_dir, NULL, &other);
        _exit(rc == KVS_EBUSY && other == NULL ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    close(fds[0]);
    close(fds[1]);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* The lock goes away with its process, even when that process is killed. */
START_TEST(lock_released_when_holder_dies)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        kvs_t *db = NULL;
        int rc = kvs_open(tu_dir, NULL, &db);
        char c = rc == KVS_OK ? 'y' : 'n';
        if (write(fds[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    char c = 0;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    kvs_t *db = NULL;
    ck_assert_kvs(kvs_open(tu_dir, NULL, &db), KVS_EBUSY);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_kvs(kvs_open(tu_dir, NULL, &db), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    close(fds[0]);
}
END_TEST

/* Writers of the same keys from many threads: the final value of each key
 * is one that some thread wrote, and the index matches after reopen. */
static void *same_keys_writer(void *arg)
{
    struct syncer *s = arg;
    for (int i = 0; i < 3000; i++) {
        char k[16], v[32];
        int kl = snprintf(k, sizeof(k), "shared%d", i % 50);
        int vl = snprintf(v, sizeof(v), "from%d-%d", s->id, i % 50);
        ck_assert_kvs(kvs_set(s->db, k, (size_t)kl, v, (size_t)vl), KVS_OK);
    }
    return NULL;
}

START_TEST(same_keys_from_many_threads)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 8192);
    struct syncer s[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct syncer){db, i, 60};
        pthread_create(&t[i], NULL, same_keys_writer, &s[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char before[50][32];
    for (int i = 0; i < 50; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "shared%d", i);
        void *v;
        size_t n;
        ck_assert_kvs(kvs_get(db, k, (size_t)kl, &v, &n), KVS_OK);
        ck_assert(n < sizeof(before[i]));
        memcpy(before[i], v, n + 1);
        char suffix[16];
        snprintf(suffix, sizeof(suffix), "-%d", i);
        ck_assert(strncmp(before[i], "from", 4) == 0);
        ck_assert_str_eq(strchr(before[i], '-'), suffix);
        kvs_free(v);
    }
    uint64_t keys;
    kvs_stat(db, KVS_STAT_KEYS, &keys);
    ck_assert_uint_eq(keys, 50);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 8192);
    for (int i = 0; i < 50; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "shared%d", i);
        void *v;
        size_t n;
        ck_assert_kvs(kvs_get(db, k, (size_t)kl, &v, &n), KVS_OK);
        ck_assert_str_eq(v, before[i]);
        kvs_free(v);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* ---- kvs_sync beside a writer that seals segments faster than they sync ---- */

struct roller {
    kvs_t *db;
    atomic_bool stop;
    atomic_bool finished; /* stopped on its own: time is up or a set failed */
    atomic_int sets;
};

/* Sets 1 KB values over 200 keys until told to stop, for 20 s at most. */
static void *roll_fast(void *arg)
{
    struct roller *r = arg;
    char v[1000];
    memset(v, 'r', sizeof(v));
    double until = tu_now() + 20.0;
    void *result = NULL;
    for (int i = 0; !atomic_load(&r->stop); i++) {
        if (i % 256 == 0 && tu_now() > until)
            break;
        char k[16];
        int kl = snprintf(k, sizeof(k), "r%d", i % 200);
        if (kvs_set(r->db, k, (size_t)kl, v, sizeof(v)) != KVS_OK) {
            result = (void *)1;
            break;
        }
        atomic_fetch_add(&r->sets, 1);
    }
    atomic_store(&r->finished, true);
    return result;
}

/*
 * kvs_sync makes every write acknowledged before it durable: the segments
 * sealed until then, and the active one. It synced every unsynced sealed
 * segment it could find, also those sealed while it ran, so a writer that
 * seals them faster than they are synced kept it from returning for as long
 * as it wrote (and compaction, which syncs before it deletes its inputs,
 * with it). Syncs made 2 ms slower make sure the writer is the faster here:
 * kvs_sync must return while the writer still writes.
 */
START_TEST(sync_returns_beside_a_writer_sealing_segments)
{
    kvs__io_set_fault(tu_slow_syncs, NULL);
    static struct roller r;
    r.db = tu_open_trigger(tu_dir, KVS_SYNC_NONE, 16 * 1024, 100);
    atomic_store(&r.stop, false);
    atomic_store(&r.finished, false);
    atomic_store(&r.sets, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, roll_fast, &r), 0);
    /* a backlog of sealed segments; bounded in case the writer fails */
    for (int waited = 0; atomic_load(&r.sets) < 2000 && waited < 30000; waited++)
        usleep(1000);
    ck_assert_kvs(kvs_sync(r.db), KVS_OK);
    bool writer_done_at_return = atomic_load(&r.finished);
    atomic_store(&r.stop, true);
    void *ret;
    ck_assert_int_eq(pthread_join(t, &ret), 0);
    ck_assert_ptr_null(ret);
    kvs__io_set_fault(NULL, NULL);
    ck_assert_msg(!writer_done_at_return, "kvs_sync returned only when the writer stopped");
    ck_assert_kvs(kvs_close(r.db), KVS_OK);
}
END_TEST

/*
 * kvs_multi_get reads its keys as of one moment. A writer sets x then y to
 * the same counter, and now and then a batch sets a and b together: at any
 * moment x is y or y + 1, and a equals b. A reader that read x before the
 * writer's two sets and y after them would see x < y.
 */
struct pair_writer {
    kvs_t *db;
    atomic_bool stop;
    atomic_long rounds;
};

static void set_number(kvs_t *db, const char *key, long n)
{
    char v[24];
    int vl = snprintf(v, sizeof(v), "%ld", n);
    ck_assert_kvs(kvs_set(db, key, strlen(key), v, (size_t)vl), KVS_OK);
}

static void *pair_writer_main(void *arg)
{
    struct pair_writer *w = arg;
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    for (long i = 1; !atomic_load(&w->stop) && i < 5000000; i++) {
        set_number(w->db, "x", i);
        set_number(w->db, "y", i);
        if (i % 8 == 0) {
            char v[24];
            int vl = snprintf(v, sizeof(v), "%ld", i);
            kvs_batch_clear(b);
            ck_assert_kvs(kvs_batch_set(b, "a", 1, v, (size_t)vl), KVS_OK);
            ck_assert_kvs(kvs_batch_set(b, "b", 1, v, (size_t)vl), KVS_OK);
            ck_assert_kvs(kvs_batch_apply(w->db, b), KVS_OK);
        }
        atomic_store(&w->rounds, i);
    }
    kvs_batch_destroy(b);
    return NULL;
}

static long number_of(const kvs_get_item_t *it)
{
    ck_assert_kvs(it->status, KVS_OK);
    return strtol(it->val, NULL, 10); /* values are NUL-terminated */
}

/* Keys read between the pair's first and last: enough that the writer's
 * sets land between the first reads and the last. */
enum { PAIR_FILL = 100, PAIR_ITEMS = PAIR_FILL + 4 };
static char pair_fill[PAIR_FILL][8];

/* Open the store, set x, a, y, b and the fill keys, start the writer. */
static void pair_start(struct pair_writer *w, pthread_t *t)
{
    w->db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    atomic_store(&w->stop, false);
    atomic_store(&w->rounds, 0);
    static const char *const names[4] = {"x", "a", "y", "b"};
    for (int i = 0; i < 4; i++)
        set_number(w->db, names[i], 0);
    for (int i = 0; i < PAIR_FILL; i++) {
        snprintf(pair_fill[i], sizeof(pair_fill[i]), "f%d", i);
        set_number(w->db, pair_fill[i], i);
    }
    ck_assert_int_eq(pthread_create(t, NULL, pair_writer_main, w), 0);
}

/* Keep reading until the writer has made enough rounds (bounded). */
static bool pair_reading(struct pair_writer *w, long reads)
{
    return reads < 20000 && (reads < 500 || atomic_load(&w->rounds) < 20000);
}

static void pair_stop(struct pair_writer *w, pthread_t t)
{
    atomic_store(&w->stop, true);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_kvs(kvs_close(w->db), KVS_OK);
}

/* first and second, the fill keys, then third and fourth. */
static void pair_items(kvs_get_item_t *it, const char *first, const char *second,
                       const char *third, const char *fourth)
{
    it[0] = (kvs_get_item_t){.key = first, .klen = 1};
    it[1] = (kvs_get_item_t){.key = second, .klen = 1};
    for (int i = 0; i < PAIR_FILL; i++)
        it[2 + i] = (kvs_get_item_t){.key = pair_fill[i], .klen = strlen(pair_fill[i])};
    it[PAIR_ITEMS - 2] = (kvs_get_item_t){.key = third, .klen = 1};
    it[PAIR_ITEMS - 1] = (kvs_get_item_t){.key = fourth, .klen = 1};
}

static void free_items(kvs_get_item_t *it, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kvs_free(it[i].val);
}

/* ---- point reads without the shard lock ---- */

/* Keys k0..k1999: every 97th with a value past the size read outside the
 * lock (64 KiB, read.c), every 89th with one just under it (copied inside
 * the read section, which then lasts long); new keys n0.. grow the index
 * from its smallest size, and are removed again in part. */
enum {
    RACE_KEYS = 2000,
    RACE_BIG_EVERY = 97,
    RACE_BIG = 70 * 1024,
    RACE_LONG_EVERY = 89,
    RACE_LONG = 60 * 1024,
    RACE_WRITES = 60000,
    RACE_READERS = 6
};

static size_t race_len(int k)
{
    return k % RACE_BIG_EVERY == 0 ? RACE_BIG : k % RACE_LONG_EVERY == 0 ? RACE_LONG : 64;
}

struct race {
    kvs_t *db;
    atomic_bool stop;
    _Atomic long version[RACE_KEYS]; /* the newest version set, or being set */
};

/* Value of key k at version v: "k<k>-v<v>;" then filler bytes of v. */
static size_t race_value(int k, long v, char *buf)
{
    int n = snprintf(buf, 64, "k%d-v%ld;", k, v);
    size_t len = race_len(k);
    memset(buf + n, 'a' + (int)(v % 26), len - (size_t)n);
    return len;
}

static void race_set(struct race *r, int k, long v, char *buf)
{
    char key[16];
    int kl = snprintf(key, sizeof(key), "k%d", k);
    atomic_store(&r->version[k], v);
    ck_assert_kvs(kvs_set(r->db, key, (size_t)kl, buf, race_value(k, v, buf)), KVS_OK);
}

/* Overwrites of the old keys, interleaved with new keys set and removed. */
static void *race_writer(void *arg)
{
    struct race *r = arg;
    static char buf[RACE_BIG];
    uint64_t st = 12345;
    for (long i = 0; i < RACE_WRITES; i++) {
        int k = (int)(tu_rand(&st) % RACE_KEYS);
        race_set(r, k, atomic_load(&r->version[k]) + 1, buf);
        char key[16];
        int kl = snprintf(key, sizeof(key), "n%ld", i);
        ck_assert_kvs(kvs_set(r->db, key, (size_t)kl, "new", 3), KVS_OK);
        if (i % 3 == 0)
            ck_assert_kvs(kvs_remove(r->db, key, (size_t)kl), KVS_OK);
    }
    atomic_store(&r->stop, true);
    return NULL;
}

static void *race_compactor(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 1000 && !atomic_load(&r->stop); i++)
        ck_assert_kvs(kvs_compact(r->db), KVS_OK);
    return NULL;
}

/* The value read is the key's, whole, of a version set, and never older
 * than one this reader saw before. */
static void race_check(struct race *r, int k, const char *val, size_t len, long *seen)
{
    long v;
    int kk, n;
    ck_assert_int_eq(sscanf(val, "k%d-v%ld;%n", &kk, &v, &n), 2);
    ck_assert_int_eq(kk, k);
    ck_assert_msg(v >= seen[k], "k%d went back from version %ld to %ld", k, seen[k], v);
    ck_assert_int_le(v, atomic_load(&r->version[k]));
    ck_assert_uint_eq(len, race_len(k));
    ck_assert_int_eq(val[len - 1], 'a' + (int)(v % 26));
    ck_assert_int_eq(val[n], val[len - 1]);
    seen[k] = v;
}

/* kvs_exists and kvs_get_expire (no checksum, no copy) of key k, which
 * always holds a value without expiry, and of "m<k>", which never exists. */
static void race_presence(struct race *r, int k, const char *key, size_t kl)
{
    uint64_t expire = 1;
    ck_assert_kvs(kvs_exists(r->db, key, kl), KVS_OK);
    ck_assert_kvs(kvs_get_expire(r->db, key, kl, &expire), KVS_OK);
    ck_assert_uint_eq(expire, 0);
    char missing[16];
    int ml = snprintf(missing, sizeof(missing), "m%d", k);
    ck_assert_kvs(kvs_exists(r->db, missing, (size_t)ml), KVS_NOT_FOUND);
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    long *seen = calloc(RACE_KEYS, sizeof(*seen));
    char *buf = malloc(RACE_BIG);
    uint64_t st = (uint64_t)(uintptr_t)seen;
    long reads = 0;
    while (!atomic_load(&r->stop) && reads < 5000000) {
        /* half the reads of keys with long values */
        uint64_t x = tu_rand(&st);
        int k = x & 1 ? (int)(x % RACE_KEYS)
                      : (int)(x % (RACE_KEYS / RACE_LONG_EVERY + 1)) * RACE_LONG_EVERY;
        char key[16];
        int kl = snprintf(key, sizeof(key), "k%d", k);
        size_t len;
        if (reads % 4 == 0)
            race_presence(r, k, key, (size_t)kl);
        if (reads++ % 2) {
            ck_assert_kvs(kvs_get_into(r->db, key, (size_t)kl, buf, RACE_BIG, &len), KVS_OK);
            race_check(r, k, buf, len, seen);
        } else {
            void *v;
            ck_assert_kvs(kvs_get(r->db, key, (size_t)kl, &v, &len), KVS_OK);
            race_check(r, k, v, len, seen);
            kvs_free(v);
        }
    }
    free(seen);
    free(buf);
    return NULL;
}

/* Gets (and kvs_exists, kvs_get_expire) made without the shard lock while
 * compaction moves keys and deletes their segments, and the index grows:
 * each reads a whole value of its key, never an older one than before, and
 * nothing freed (ASan, TSan in CI). */
START_TEST(unlocked_reads_beside_compaction_and_growth)
{
    struct race *r = calloc(1, sizeof(*r));
    r->db = tu_open_trigger(tu_dir, KVS_SYNC_NONE, 256 * 1024, 10);
    static char buf[RACE_BIG];
    for (int k = 0; k < RACE_KEYS; k++)
        race_set(r, k, 1, buf);
    /* more threads than this machine's CPUs: readers are preempted inside
     * their sections, which then last across a compaction's end */
    pthread_t w, c, rd[RACE_READERS];
    for (int i = 0; i < RACE_READERS; i++)
        ck_assert_int_eq(pthread_create(&rd[i], NULL, race_reader, r), 0);
    ck_assert_int_eq(pthread_create(&c, NULL, race_compactor, r), 0);
    ck_assert_int_eq(pthread_create(&w, NULL, race_writer, r), 0);
    pthread_join(w, NULL);
    pthread_join(c, NULL);
    for (int i = 0; i < RACE_READERS; i++)
        pthread_join(rd[i], NULL);
    uint64_t compactions;
    ck_assert_kvs(kvs_stat(r->db, KVS_STAT_COMPACTIONS, &compactions), KVS_OK);
    ck_assert_uint_ge(compactions, 2);
    ck_assert_kvs(kvs_close(r->db), KVS_OK);
    free(r);
}
END_TEST

/* ---- the gets counter ---- */

enum { COUNTING_THREADS = 40, COUNTED_GETS = 3000 };

struct counted {
    kvs_t *db;
    pthread_barrier_t start; /* so that the threads overlap */
};

/* Gets of present and missing keys, with kvs_get and kvs_get_into. */
static void *counted_reader(void *arg)
{
    struct counted *c = arg;
    kvs_t *db = c->db;
    pthread_barrier_wait(&c->start);
    for (int i = 0; i < COUNTED_GETS; i++) {
        char k[16], buf[16];
        int kl = snprintf(k, sizeof(k), "c%d", i % 100); /* c50..c99 missing */
        void *v;
        size_t n;
        int rc = i % 2 ? kvs_get_into(db, k, (size_t)kl, buf, sizeof(buf), &n)
                       : kvs_get(db, k, (size_t)kl, &v, &n);
        ck_assert_kvs(rc, i % 100 < 50 ? KVS_OK : KVS_NOT_FOUND);
        if (rc == KVS_OK && i % 2 == 0)
            kvs_free(v);
    }
    return NULL;
}

/* More threads than the counter has stripes (so some share one), each
 * counted exactly. */
START_TEST(gets_counted_from_many_threads)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    for (int i = 0; i < 50; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "c%d", i);
        ck_assert_kvs(kvs_set(db, k, (size_t)kl, "value", 5), KVS_OK);
    }
    uint64_t before, after;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_GETS, &before), KVS_OK);
    struct counted c = {.db = db};
    pthread_barrier_init(&c.start, NULL, COUNTING_THREADS);
    pthread_t t[COUNTING_THREADS];
    for (int i = 0; i < COUNTING_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, counted_reader, &c), 0);
    for (int i = 0; i < COUNTING_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&c.start);
    ck_assert_kvs(kvs_stat(db, KVS_STAT_GETS, &after), KVS_OK);
    ck_assert_uint_eq(after - before, (uint64_t)COUNTING_THREADS * COUNTED_GETS);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

START_TEST(multi_get_reads_one_moment)
{
    /* x and a first, y and b last */
    static struct pair_writer w;
    pthread_t t;
    pair_start(&w, &t);
    for (long reads = 0; pair_reading(&w, reads); reads++) {
        kvs_get_item_t it[PAIR_ITEMS];
        pair_items(it, "x", "a", "y", "b");
        ck_assert_kvs(kvs_multi_get(w.db, it, PAIR_ITEMS, 0), KVS_OK);
        long x = number_of(&it[0]), a = number_of(&it[1]), y = number_of(&it[PAIR_ITEMS - 2]),
             b = number_of(&it[PAIR_ITEMS - 1]);
        free_items(it, PAIR_ITEMS);
        ck_assert_msg(x == y || x == y + 1, "read %ld: x = %ld, y = %ld", reads, x, y);
        ck_assert_msg(a == b, "read %ld: a = %ld, b = %ld", reads, a, b);
    }
    pair_stop(&w, t);
}
END_TEST

/*
 * With KVS_MULTI_GET_EACH the keys are read in order, each at a moment of
 * its own: y read before x can never be ahead of it (the writer sets x
 * first), nor a ahead of b read after it, though the two of a pair may
 * differ. Reading them in any other order, or all at some earlier moment
 * for some and later for others, would show y > x.
 */
START_TEST(multi_get_each_reads_in_order)
{
    static struct pair_writer w;
    pthread_t t;
    pair_start(&w, &t);
    for (long reads = 0; pair_reading(&w, reads); reads++) {
        kvs_get_item_t it[PAIR_ITEMS];
        pair_items(it, "y", "a", "x", "b");
        ck_assert_kvs(kvs_multi_get_ex(w.db, it, PAIR_ITEMS, 0, KVS_MULTI_GET_EACH), KVS_OK);
        long y = number_of(&it[0]), a = number_of(&it[1]), x = number_of(&it[PAIR_ITEMS - 2]),
             b = number_of(&it[PAIR_ITEMS - 1]);
        free_items(it, PAIR_ITEMS);
        ck_assert_msg(x >= y, "read %ld: y = %ld read before x = %ld", reads, y, x);
        ck_assert_msg(b >= a, "read %ld: a = %ld read before b = %ld", reads, a, b);
    }
    pair_stop(&w, t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("concurrency");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, threads_mix_operations);
    tcase_add_test(tc, threads_mix_operations_interval_sync);
    tcase_add_test(tc, group_commit_shares_syncs);
    tcase_add_test(tc, group_commit_group_shrinks);
    tcase_add_test(tc, same_keys_from_many_threads);
    tcase_add_test(tc, sync_returns_beside_a_writer_sealing_segments);
    tcase_add_test(tc, gets_counted_from_many_threads);
    tcase_add_test(tc, unlocked_reads_beside_compaction_and_growth);
    tcase_add_test(tc, multi_get_reads_one_moment);
    tcase_add_test(tc, multi_get_each_reads_in_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("processes");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, second_process_gets_ebusy);
    tcase_add_test(tc, lock_released_when_holder_dies);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
