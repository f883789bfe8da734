/*
 * Online backup and verification: a backup opens as an ordinary store with
 * the data of its moment, also while 4 threads write; the destination must
 * be absent or empty; a failed backup leaves nothing behind; kvs_verify
 * finds a flipped byte and names its file and offset.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/testutil.h"
#include "io.h"

static kvs_t *open_small(const char *dir)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    ck_assert_kvs(kvs_options_set_segment_size(o, 16 * 1024), KVS_OK);
    kvs_t *db = NULL;
    ck_assert_kvs(kvs_open(dir, o, &db), KVS_OK);
    kvs_options_destroy(o);
    return db;
}

static char *dest_path(const char *name)
{
    return tu_path(tu_dir, name);
}

START_TEST(backup_opens_with_the_data)
{
    char *src = dest_path("src"), *dst = dest_path("dst");
    kvs_t *db = open_small(src);
    char k[16], v[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof(k), "k%05d", i);
        snprintf(v, sizeof(v), "value %d", i);
        ck_assert_kvs(kvs_set(db, k, strlen(k), v, strlen(v)), KVS_OK);
    }
    ck_assert_kvs(kvs_remove(db, "k00007", 6), KVS_OK);
    ck_assert_kvs(kvs_backup(db, dst), KVS_OK);
    /* later writes are not in it */
    ck_assert_kvs(kvs_set(db, "later", 5, "x", 1), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_int_eq(tu_count_files(dst, ".tmp"), 0);
    /* a lock file, as in a store: a read-only open of the backup where it
     * cannot be written (a read-only medium, another user) needs one */
    char *lock = tu_path(dst, "LOCK");
    ck_assert_int_eq(access(lock, F_OK), 0);
    free(lock);
    db = open_small(dst);
    uint64_t keys;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, 2999);
    void *got;
    size_t gl;
    ck_assert_kvs(kvs_get(db, "k02999", 6, &got, &gl), KVS_OK);
    ck_assert(gl == 10 && memcmp(got, "value 2999", 10) == 0);
    kvs_free(got);
    ck_assert_kvs(kvs_exists(db, "k00007", 6), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_exists(db, "later", 5), KVS_NOT_FOUND);
    ck_assert_kvs(kvs_verify(db, NULL, NULL), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(src);
    free(dst);
}
END_TEST

START_TEST(destination_must_be_absent_or_empty)
{
    char *src = dest_path("src"), *dst = dest_path("dst");
    kvs_t *db = open_small(src);
    ck_assert_kvs(kvs_set(db, "k", 1, "v", 1), KVS_OK);
    /* an empty directory is fine, also named with a trailing slash */
    ck_assert_int_eq(mkdir(dst, 0755), 0);
    char *slashed = malloc(strlen(dst) + 2);
    sprintf(slashed, "%s/", dst);
    ck_assert_kvs(kvs_backup(db, slashed), KVS_OK);
    free(slashed);
    /* now it is not empty */
    ck_assert_kvs(kvs_backup(db, dst), KVS_EEXIST);
    /* a file is not a directory */
    char *file = dest_path("file");
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_kvs(kvs_backup(db, file), KVS_EEXIST);
    ck_assert_kvs(kvs_backup(db, ""), KVS_EINVAL);
    ck_assert_kvs(kvs_backup(NULL, dst), KVS_EINVAL);
    /* no parent: an error, and nothing left behind */
    char *orphan = dest_path("no/such/parent");
    ck_assert_kvs(kvs_backup(db, orphan), KVS_EIO);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(orphan);
    free(file);
    free(src);
    free(dst);
}
END_TEST

/* Fail the copy half-way: no destination, no temporary directory left. */
static int fail_links_and_writes(enum kvs_io_op op, void *ctx)
{
    atomic_int *calls = ctx;
    if ((op == KVS_IO_LINK || op == KVS_IO_WRITE) && atomic_fetch_add(calls, 1) >= 1)
        return 5; /* EIO */
    return 0;
}

START_TEST(a_failed_backup_leaves_nothing)
{
    char *src = dest_path("src"), *dst = dest_path("dst");
    kvs_t *db = open_small(src);
    char k[16];
    for (int i = 0; i < 2000; i++) { /* several segments */
        snprintf(k, sizeof(k), "k%05d", i);
        ck_assert_kvs(kvs_set(db, k, strlen(k), "0123456789abcdef", 16), KVS_OK);
    }
    atomic_int calls = 0;
    kvs__io_set_fault(fail_links_and_writes, &calls);
    int rc = kvs_backup(db, dst);
    kvs__io_set_fault(NULL, NULL);
    ck_assert_kvs(rc, KVS_EIO);
    struct stat st;
    ck_assert_int_ne(stat(dst, &st), 0);
    /* only the source directory is there */
    DIR *d = opendir(tu_dir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(entries, 1);
    /* and the store goes on */
    ck_assert_kvs(kvs_backup(db, dst), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(src);
    free(dst);
}
END_TEST

/* Four writers each write their keys t:0, t:1, ... in order, then t:last.
 * A backup is one moment: each writer's keys form a prefix, without hole,
 * and t:last names the last or the one before. */
struct writers {
    kvs_t *db;
    atomic_bool stop;
};

static void *writer(void *arg)
{
    struct writers *w = arg;
    static atomic_int next_id;
    int t = atomic_fetch_add(&next_id, 1) % 4;
    for (int i = 0; i < 20000 && !atomic_load(&w->stop); i++) {
        char k[32], v[32];
        snprintf(k, sizeof(k), "%d:%06d", t, i);
        snprintf(v, sizeof(v), "%d", i);
        if (kvs_set(w->db, k, strlen(k), v, strlen(v)) != KVS_OK)
            return (void *)1;
        snprintf(k, sizeof(k), "%d:last", t);
        if (kvs_set(w->db, k, strlen(k), v, strlen(v)) != KVS_OK)
            return (void *)1;
    }
    return NULL;
}

static void check_writer_prefix(kvs_t *db, int t)
{
    kvs_iter_t *it;
    ck_assert_kvs(kvs_iter_create(db, NULL, &it), KVS_OK);
    char prefix[8];
    snprintf(prefix, sizeof(prefix), "%d:", t);
    ck_assert_kvs(kvs_iter_set_prefix(it, prefix, strlen(prefix)), KVS_OK);
    int n = 0, rc;
    for (rc = kvs_iter_first(it); rc == KVS_OK; rc = kvs_iter_next(it)) {
        const void *k;
        size_t kl;
        ck_assert_kvs(kvs_iter_key(it, &k, &kl), KVS_OK);
        char want[32];
        snprintf(want, sizeof(want), "%d:%06d", t, n);
        if (kl == strlen(want) && memcmp(k, want, kl) == 0) {
            n++;
            continue;
        }
        ck_assert_msg(kl == strlen(prefix) + 4 && memcmp((const char *)k + strlen(prefix), "last", 4) == 0,
                      "writer %d: a hole before key %d", t, n);
    }
    ck_assert_kvs(rc, KVS_NOT_FOUND);
    kvs_iter_destroy(it);
    char k[16];
    snprintf(k, sizeof(k), "%d:last", t);
    void *v;
    size_t vl;
    rc = kvs_get(db, k, strlen(k), &v, &vl);
    if (n == 0) {
        ck_assert_kvs(rc, KVS_NOT_FOUND);
        return;
    }
    ck_assert_kvs(rc, KVS_OK);
    int last = atoi(v);
    kvs_free(v);
    ck_assert_msg(last == n - 1 || last == n - 2, "writer %d: %d keys, last says %d", t, n, last);
}

START_TEST(backup_during_writes_is_one_moment)
{
    char *src = dest_path("src"), *dst = dest_path("dst");
    struct writers w = {.db = open_small(src)};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer, &w), 0);
    usleep(100000); /* let them write for a while: the backup's moment is mid-stream */
    ck_assert_kvs(kvs_backup(w.db, dst), KVS_OK);
    atomic_store(&w.stop, true);
    for (int i = 0; i < 4; i++) {
        void *ret;
        ck_assert_int_eq(pthread_join(th[i], &ret), 0);
        ck_assert_ptr_null(ret);
    }
    ck_assert_kvs(kvs_close(w.db), KVS_OK);
    kvs_t *db = open_small(dst);
    uint64_t keys;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_gt(keys, 4);
    for (int t = 0; t < 4; t++)
        check_writer_prefix(db, t);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(src);
    free(dst);
}
END_TEST

struct found {
    int n;
    char file[64];
    uint64_t off;
};

static void collect(void *ctx, const char *file, uint64_t off, const char *problem)
{
    struct found *f = ctx;
    ck_assert_ptr_nonnull(problem);
    if (f->n++ == 0) {
        snprintf(f->file, sizeof(f->file), "%s", file);
        f->off = off;
    }
}

START_TEST(verify_names_a_flipped_byte)
{
    kvs_t *db = open_small(tu_dir);
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "k%05d", i);
        ck_assert_kvs(kvs_set(db, k, strlen(k), "some value", 10), KVS_OK);
    }
    struct found f = {0};
    ck_assert_kvs(kvs_verify(db, collect, &f), KVS_OK);
    ck_assert_int_eq(f.n, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    /* the third record: 64 + 2 * (11 + 6 + 10) */
    char *seg = tu_path(tu_dir, "0000000001.log");
    long at = 64 + 2 * 27 + 15;
    tu_flip_byte(seg, at);
    free(seg);
    db = open_small(tu_dir); /* the hint is trusted at open: damage stays unseen */
    ck_assert_kvs(kvs_verify(db, collect, &f), KVS_ECORRUPT);
    ck_assert_int_ge(f.n, 1);
    ck_assert_str_eq(f.file, "0000000001.log");
    ck_assert_uint_eq(f.off, 64 + 2 * 27);
    ck_assert_kvs(kvs_verify(db, NULL, NULL), KVS_ECORRUPT);
    ck_assert_kvs(kvs_verify(NULL, NULL, NULL), KVS_EINVAL);
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

static Suite *backup_suite(void)
{
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create("backup");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, backup_opens_with_the_data);
    tcase_add_test(tc, destination_must_be_absent_or_empty);
    tcase_add_test(tc, a_failed_backup_leaves_nothing);
    tcase_add_test(tc, backup_during_writes_is_one_moment);
    tcase_add_test(tc, verify_names_a_flipped_byte);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(backup_suite());
}
