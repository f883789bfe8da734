/*
 * Atomic batches: entries apply in order and survive reopening and
 * compaction; one of 1 and one of 100,000 entries work; an entry over the
 * limits poisons the batch (nothing written); one fdatasync per batch under
 * KVS_SYNC_ALWAYS; readers never see part of a batch; batches of overwrites
 * and removes beside compaction match a model; after kill -9 at any moment a
 * batch is on disk whole or not at all.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/testutil.h"

static kvs_t *open_with(const char *dir, kvs_sync_t sync, size_t segment)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, sync);
    ck_assert_kvs(kvs_options_set_segment_size(o, segment), KVS_OK);
    kvs_t *db = NULL;
    ck_assert_kvs(kvs_open(dir, o, &db), KVS_OK);
    kvs_options_destroy(o);
    return db;
}

static void expect(kvs_t *db, const char *key, const char *want)
{
    void *v;
    size_t vl;
    int rc = kvs_get(db, key, strlen(key), &v, &vl);
    if (!want) {
        ck_assert_msg(rc == KVS_NOT_FOUND, "%s: %s, expected absent", key, kvs_status_name(rc));
        return;
    }
    ck_assert_msg(rc == KVS_OK, "%s: %s", key, kvs_status_name(rc));
    ck_assert_msg(vl == strlen(want) && memcmp(v, want, vl) == 0, "%s: got %.*s, want %s", key,
                  (int)vl, (char *)v, want);
    kvs_free(v);
}

START_TEST(entries_apply_in_order_and_persist)
{
    kvs_t *db = open_with(tu_dir, KVS_SYNC_NONE, 4096);
    ck_assert_kvs(kvs_set(db, "gone", 4, "x", 1), KVS_OK);
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    ck_assert_kvs(kvs_batch_set(b, "a", 1, "1", 1), KVS_OK);
    ck_assert_kvs(kvs_batch_set(b, "b", 1, "2", 1), KVS_OK);
    ck_assert_kvs(kvs_batch_set(b, "a", 1, "3", 1), KVS_OK); /* later wins */
    ck_assert_kvs(kvs_batch_remove(b, "gone", 4), KVS_OK);
    ck_assert_kvs(kvs_batch_remove(b, "never", 5), KVS_OK); /* absent: fine */
    ck_assert_kvs(kvs_batch_set(b, "empty", 5, NULL, 0), KVS_OK);
    ck_assert_uint_eq(kvs_batch_count(b), 6);
    ck_assert_uint_gt(kvs_batch_bytes(b), 6 * 11);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
    expect(db, "a", "3");
    expect(db, "b", "2");
    expect(db, "gone", NULL);
    expect(db, "empty", "");
    /* applying again is allowed; clearing empties it */
    ck_assert_kvs(kvs_set(db, "b", 1, "changed", 7), KVS_OK);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
    expect(db, "b", "2");
    kvs_batch_clear(b);
    ck_assert_uint_eq(kvs_batch_count(b), 0);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);

    /* from the hint files, then from a scan, then after compaction */
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1)
            tu_remove_files(tu_dir, ".hint");
        db = open_with(tu_dir, KVS_SYNC_NONE, 4096);
        if (pass == 2)
            ck_assert_kvs(kvs_compact(db), KVS_OK);
        expect(db, "a", "3");
        expect(db, "b", "2");
        expect(db, "gone", NULL);
        expect(db, "empty", "");
        ck_assert_kvs(kvs_close(db), KVS_OK);
    }
    kvs_batch_destroy(b);
}
END_TEST

START_TEST(batches_of_one_and_of_100000)
{
    kvs_t *db = open_with(tu_dir, KVS_SYNC_NONE, 1u << 20);
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    ck_assert_kvs(kvs_batch_set(b, "one", 3, "1", 1), KVS_OK);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
    expect(db, "one", "1");
    kvs_batch_clear(b);
    char k[32], v[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(k, sizeof(k), "big-%06d", i);
        snprintf(v, sizeof(v), "v%d", i);
        ck_assert_kvs(kvs_batch_set(b, k, strlen(k), v, strlen(v)), KVS_OK);
    }
    /* larger than a segment: it gets one of its own */
    ck_assert_uint_gt(kvs_batch_bytes(b), 1u << 20);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
    uint64_t keys;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, 100001);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = open_with(tu_dir, KVS_SYNC_NONE, 1u << 20);
    for (int i = 0; i < 100000; i += 997) {
        snprintf(k, sizeof(k), "big-%06d", i);
        snprintf(v, sizeof(v), "v%d", i);
        expect(db, k, v);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
    kvs_batch_destroy(b);
}
END_TEST

START_TEST(a_refused_entry_poisons_the_batch)
{
    kvs_t *db = open_with(tu_dir, KVS_SYNC_NONE, 4096);
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    ck_assert_kvs(kvs_batch_set(b, "first", 5, "1", 1), KVS_OK);
    static char big_key[KVS_KEY_MAX + 1];
    memset(big_key, 'k', sizeof(big_key));
    ck_assert_kvs(kvs_batch_set(b, big_key, sizeof(big_key), "v", 1), KVS_ETOOBIG);
    ck_assert_kvs(kvs_batch_set(b, "", 0, "v", 1), KVS_EINVAL);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_ETOOBIG);
    expect(db, "first", NULL);
    kvs_batch_clear(b);
    ck_assert_kvs(kvs_batch_set(b, "first", 5, "1", 1), KVS_OK);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
    expect(db, "first", "1");
    ck_assert_kvs(kvs_batch_apply(NULL, b), KVS_EINVAL);
    ck_assert_kvs(kvs_batch_apply(db, NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_batch_create(NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_batch_set(NULL, "k", 1, "v", 1), KVS_EINVAL);
    kvs_batch_destroy(b);
    kvs_batch_destroy(NULL);
    ck_assert_kvs(kvs_close(db), KVS_OK);

    kvs_options_t *o = kvs_options_create();
    kvs_options_set_read_only(o, 1);
    ck_assert_kvs(kvs_open(tu_dir, o, &db), KVS_OK);
    kvs_options_destroy(o);
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    ck_assert_kvs(kvs_batch_set(b, "k", 1, "v", 1), KVS_OK);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_EREADONLY);
    kvs_batch_destroy(b);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* The limit: a batch whose entries add up past KVS_BATCH_MAX_BYTES. The
 * values are one untouched anonymous mapping, so the test costs the copy
 * into the batch only up to the limit. */
START_TEST(a_batch_past_the_limit_is_refused)
{
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    size_t vlen = KVS_VALUE_MAX / 2; /* 256 MiB: two fit, the third does not */
    char *v = calloc(1, vlen);
    ck_assert_ptr_nonnull(v);
    int rc = KVS_OK, added = 0;
    while (rc == KVS_OK) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", added);
        rc = kvs_batch_set(b, k, strlen(k), v, vlen);
        added += rc == KVS_OK;
    }
    ck_assert_kvs(rc, KVS_ETOOBIG);
    ck_assert_int_eq(added, 2);
    ck_assert_uint_le(kvs_batch_bytes(b), KVS_BATCH_MAX_BYTES);
    kvs_t *db = open_with(tu_dir, KVS_SYNC_NONE, 4096);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_ETOOBIG);
    uint64_t keys = 9;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, 0);
    ck_assert_int_eq(tu_dir_bytes(tu_dir) < 1024 * 1024, 1);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(v);
    kvs_batch_destroy(b);
}
END_TEST

START_TEST(one_sync_per_batch_under_sync_always)
{
    kvs_t *db = open_with(tu_dir, KVS_SYNC_ALWAYS, 1u << 20);
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    char k[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "k%04d", i);
        ck_assert_kvs(kvs_batch_set(b, k, strlen(k), "v", 1), KVS_OK);
    }
    uint64_t before, after;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_SYNCS, &before), KVS_OK);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
    ck_assert_kvs(kvs_stat(db, KVS_STAT_SYNCS, &after), KVS_OK);
    ck_assert_uint_eq(after - before, 1);
    kvs_batch_destroy(b);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/*
 * A writer applies batches that set keys g0..g99 to the same generation;
 * readers get them one by one in order: since a batch shows all at once,
 * the generations read must never go down. An iterator sees one whole
 * generation.
 */
#define GROUP 100

struct gen_race {
    kvs_t *db;
    atomic_bool stop;
    atomic_int reads;
};

static void *gen_writer(void *arg)
{
    struct gen_race *g = arg;
    kvs_batch_t *b;
    if (kvs_batch_create(&b) != KVS_OK)
        return (void *)1;
    for (unsigned gen = 1; !atomic_load(&g->stop) && gen < 1000000; gen++) {
        kvs_batch_clear(b);
        for (int i = 0; i < GROUP; i++) {
            char k[16], v[16];
            snprintf(k, sizeof(k), "g%02d", i);
            snprintf(v, sizeof(v), "%u", gen);
            kvs_batch_set(b, k, strlen(k), v, strlen(v));
        }
        if (kvs_batch_apply(g->db, b) != KVS_OK)
            return (void *)1;
    }
    kvs_batch_destroy(b);
    return NULL;
}

static unsigned read_gen(kvs_t *db, int i)
{
    char k[16];
    snprintf(k, sizeof(k), "g%02d", i);
    void *v;
    size_t vl;
    if (kvs_get(db, k, strlen(k), &v, &vl) != KVS_OK)
        return 0;
    unsigned gen = (unsigned)strtoul(v, NULL, 10);
    kvs_free(v);
    return gen;
}

static bool iterator_sees_one_generation(kvs_t *db)
{
    kvs_iter_t *it;
    if (kvs_iter_create(db, NULL, &it) != KVS_OK)
        return false;
    unsigned first = 0;
    int n = 0, rc;
    bool same = true;
    for (rc = kvs_iter_first(it); rc == KVS_OK; rc = kvs_iter_next(it), n++) {
        const void *v;
        size_t vl;
        char buf[16] = {0};
        if (kvs_iter_value(it, &v, &vl) != KVS_OK || vl >= sizeof(buf))
            return false;
        memcpy(buf, v, vl);
        unsigned gen = (unsigned)strtoul(buf, NULL, 10);
        if (n == 0)
            first = gen;
        same = same && gen == first;
    }
    kvs_iter_destroy(it);
    return rc == KVS_NOT_FOUND && n == GROUP && same;
}

static void *gen_reader(void *arg)
{
    struct gen_race *g = arg;
    while (!atomic_load(&g->stop)) {
        unsigned last = 0;
        for (int i = 0; i < GROUP; i++) {
            unsigned gen = read_gen(g->db, i);
            if (gen < last)
                return (void *)1;
            last = gen;
        }
        if (atomic_load(&g->reads) % 16 == 0 && !iterator_sees_one_generation(g->db))
            return (void *)2;
        atomic_fetch_add(&g->reads, 1);
    }
    return NULL;
}

START_TEST(readers_never_see_part_of_a_batch)
{
    struct gen_race g = {.db = open_with(tu_dir, KVS_SYNC_NONE, 64 * 1024)};
    /* generation 0 first, so that every key exists */
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    for (int i = 0; i < GROUP; i++) {
        char k[16];
        snprintf(k, sizeof(k), "g%02d", i);
        ck_assert_kvs(kvs_batch_set(b, k, strlen(k), "0", 1), KVS_OK);
    }
    ck_assert_kvs(kvs_batch_apply(g.db, b), KVS_OK);
    kvs_batch_destroy(b);
    pthread_t w, r[2];
    ck_assert_int_eq(pthread_create(&w, NULL, gen_writer, &g), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&r[i], NULL, gen_reader, &g), 0);
    for (int t = 0; t < 500 && atomic_load(&g.reads) < 2000; t++) /* at most 5 s */
        usleep(10000);
    atomic_store(&g.stop, true);
    void *ret;
    ck_assert_int_eq(pthread_join(w, &ret), 0);
    ck_assert_ptr_null(ret);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_join(r[i], &ret), 0);
        ck_assert_msg(ret == NULL, "a reader saw part of a batch (%p)", ret);
    }
    ck_assert_int_ge(atomic_load(&g.reads), 50);
    ck_assert_kvs(kvs_close(g.db), KVS_OK);
}
END_TEST

/*
 * A child applies batches (each sets b0..b999 to its generation) and reports
 * each one acknowledged; the parent kills it at a random moment. After
 * reopening, every key holds one and the same generation, at least the
 * last acknowledged one.
 */
static void batch_child(const char *dir, kvs_sync_t sync, int fd)
{
    kvs_t *db = open_with(dir, sync, 64 * 1024);
    kvs_batch_t *b;
    if (kvs_batch_create(&b) != KVS_OK)
        _exit(2);
    for (uint32_t gen = 1;; gen++) {
        kvs_batch_clear(b);
        for (int i = 0; i < 1000; i++) {
            char k[16], v[64];
            snprintf(k, sizeof(k), "b%03d", i);
            int vl = snprintf(v, sizeof(v), "%u-%0*d", gen, 20 + (int)(gen % 17), i);
            kvs_batch_set(b, k, strlen(k), v, (size_t)vl);
        }
        if (kvs_batch_apply(db, b) != KVS_OK)
            _exit(3);
        if (write(fd, &gen, sizeof(gen)) != sizeof(gen))
            _exit(4);
    }
}

static uint32_t stored_generation(kvs_t *db)
{
    uint32_t first = UINT32_MAX;
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "b%03d", i);
        void *v;
        size_t vl;
        int rc = kvs_get(db, k, strlen(k), &v, &vl);
        uint32_t gen = 0;
        if (rc == KVS_OK) {
            gen = (uint32_t)strtoul(v, NULL, 10);
            kvs_free(v);
        } else {
            ck_assert_kvs(rc, KVS_NOT_FOUND);
        }
        if (first == UINT32_MAX)
            first = gen;
        ck_assert_msg(gen == first, "key %d holds generation %u, key 0 holds %u", i, gen, first);
    }
    return first;
}

START_TEST(kill_during_batches_keeps_whole_batches)
{
    uint64_t rng = tu_seed() + (uint64_t)_i;
    kvs_sync_t modes[] = {KVS_SYNC_NONE, KVS_SYNC_INTERVAL, KVS_SYNC_ALWAYS};
    for (int run = 0; run < 40; run++) {
        kvs_sync_t sync = modes[(run + _i) % 3];
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            batch_child(tu_dir, sync, p[1]);
        }
        close(p[1]);
        uint32_t last;
        tu_kill_after_acks(pid, p[0], 1 + (uint32_t)(tu_rand(&rng) % 8), &last);
        kvs_t *db = open_with(tu_dir, sync, 64 * 1024);
        uint32_t gen = stored_generation(db);
        ck_assert_msg(gen >= last, "run %d: generation %u stored, %u acknowledged", run, gen,
                      last);
        ck_assert_kvs(kvs_close(db), KVS_OK);
    }
}
END_TEST

/*
 * Batches that overwrite and remove keys already in the store (their index
 * changes fetch the replaced records ahead, read from segments compaction
 * may be deleting), with the background compaction running on small
 * segments and a low trigger: every key ends as the model says, before and
 * after reopening, and compaction did run meanwhile.
 */
#define MODEL_KEYS 2000
#define MODEL_BATCH 500
#define MODEL_ROUNDS 120

static void model_key(char *k, size_t size, uint64_t i)
{
    snprintf(k, size, "model-%05u", (unsigned)i);
}

static void expect_model(kvs_t *db, const uint32_t *model)
{
    for (uint64_t i = 0; i < MODEL_KEYS; i++) {
        char k[32], v[32];
        model_key(k, sizeof(k), i);
        if (model[i] == 0) {
            expect(db, k, NULL);
        } else {
            snprintf(v, sizeof(v), "v%u-%05u", model[i], (unsigned)i);
            expect(db, k, v);
        }
    }
}

START_TEST(batch_overwrites_beside_compaction_match_a_model)
{
    kvs_t *db = tu_open_trigger(tu_dir, KVS_SYNC_NONE, 64 * 1024, 5);
    static uint32_t model[MODEL_KEYS]; /* 0: absent, else the round that set it */
    memset(model, 0, sizeof(model));
    uint64_t rng = tu_seed();
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    for (uint32_t round = 1; round <= MODEL_ROUNDS; round++) {
        kvs_batch_clear(b);
        for (int n = 0; n < MODEL_BATCH; n++) {
            /* a key may come twice in a batch: the later entry wins */
            uint64_t i = tu_rand(&rng) % MODEL_KEYS;
            char k[32], v[32];
            model_key(k, sizeof(k), i);
            if (tu_rand(&rng) % 8 == 0) {
                ck_assert_kvs(kvs_batch_remove(b, k, strlen(k)), KVS_OK);
                model[i] = 0;
            } else {
                snprintf(v, sizeof(v), "v%u-%05u", round, (unsigned)i);
                ck_assert_kvs(kvs_batch_set(b, k, strlen(k), v, strlen(v)), KVS_OK);
                model[i] = round;
            }
        }
        ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
        if (round % 40 == 0)
            expect_model(db, model);
    }
    kvs_batch_destroy(b);
    expect_model(db, model);
    uint64_t compactions = 0;
    for (int t = 0; t < 500 && compactions == 0; t++) { /* at most 5 s */
        ck_assert_kvs(kvs_stat(db, KVS_STAT_COMPACTIONS, &compactions), KVS_OK);
        if (compactions == 0)
            usleep(10000);
    }
    ck_assert_uint_gt(compactions, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 64 * 1024);
    expect_model(db, model);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batches");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, entries_apply_in_order_and_persist);
    tcase_add_test(tc, batches_of_one_and_of_100000);
    tcase_add_test(tc, a_refused_entry_poisons_the_batch);
    tcase_add_test(tc, a_batch_past_the_limit_is_refused);
    tcase_add_test(tc, one_sync_per_batch_under_sync_always);
    suite_add_tcase(s, tc);

    tc = tcase_create("atomicity");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, readers_never_see_part_of_a_batch);
    tcase_add_test(tc, batch_overwrites_beside_compaction_match_a_model);
    /* 3 x 40 = 120 kill -9 runs */
    tcase_add_loop_test(tc, kill_during_batches_keeps_whole_batches, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(batch_suite());
}
