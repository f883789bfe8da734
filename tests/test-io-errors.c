/*
 * Injected I/O errors (lib/io.c's fault hook): a full disk on a write, a
 * failed fsync, every operation failing once; each surfaces as a status and
 * leaves a store that reopens with every acknowledged write.
 * (tests/faults/ tries every call site of a scripted workload.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "common/testutil.h"
#include "io.h"

struct fault {
    enum kvs_io_op op;
    int err;
    int after; /* let this many calls of op succeed first; -1: never fail */
};

/* Called from the library's threads too (the grow-ahead thread allocates). */
static int fault_hook(enum kvs_io_op op, void *ctx)
{
    static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    struct fault *f = ctx;
    int err = 0;
    pthread_mutex_lock(&mutex);
    if (op == f->op && f->after == 0)
        err = f->err;
    else if (op == f->op && f->after > 0)
        f->after--;
    pthread_mutex_unlock(&mutex);
    return err;
}

/* Disk full while the active segment must grow: the write fails cleanly,
 * nothing half-written, and writing resumes once there is space again. */
START_TEST(disk_full_on_write)
{
    static struct fault f;
    f = (struct fault){.op = KVS_IO_ALLOCATE, .err = ENOSPC, .after = -1};
    kvs__io_set_fault(fault_hook, &f);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 4096);
    char val[1000];
    memset(val, 'v', sizeof(val));
    int ok = 0, failed = 0;
    f.after = 0; /* from now on every allocation fails */
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%02d", i);
        int rc = kvs_set(db, k, strlen(k), val, sizeof(val));
        if (rc == KVS_OK) {
            ok++;
            continue;
        }
        ck_assert_kvs(rc, KVS_EIO);
        ck_assert_int_eq(errno, ENOSPC);
        failed++;
        ck_assert_kvs(kvs_exists(db, k, strlen(k)), KVS_NOT_FOUND);
    }
    ck_assert_int_gt(failed, 0);
    f.after = -1; /* space is back */
    tu_set_str(db, "after", "space came back");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    kvs__io_set_fault(NULL, NULL);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 4096);
    uint64_t keys;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, (uint64_t)ok + 1);
    tu_expect_value(db, "after", "space came back");
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* fdatasync fails under KVS_SYNC_ALWAYS: the write reports it, the handle
 * refuses further writes, and a reopen still has every acknowledged write. */
START_TEST(fsync_failure)
{
    static struct fault f;
    f = (struct fault){.op = KVS_IO_SYNC, .err = EIO, .after = -1};
    kvs__io_set_fault(fault_hook, &f);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_ALWAYS, 0);
    tu_set_str(db, "one", "1");
    tu_set_str(db, "two", "2");
    f.after = 0;
    ck_assert_kvs(kvs_set(db, "three", 5, "3", 1), KVS_EIO);
    f.after = -1;
    ck_assert_kvs(kvs_set(db, "four", 4, "4", 1), KVS_EIO); /* sticky */
    ck_assert_kvs(kvs_remove(db, "one", 3), KVS_EIO);
    uint64_t failed;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_WRITE_FAILED, &failed), KVS_OK);
    ck_assert_uint_eq(failed, 1);
    tu_expect_value(db, "one", "1"); /* reads go on */
    ck_assert_kvs(kvs_close(db), KVS_EIO);
    kvs__io_set_fault(NULL, NULL);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_expect_value(db, "one", "1");
    tu_expect_value(db, "two", "2");
    tu_expect_value(db, "four", NULL);
    tu_set_str(db, "five", "5");
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/* Any failure of a file operation during kvs_close/open cycles with small
 * segments: each injected failure may fail the call, never lose
 * acknowledged data or crash. */
START_TEST(every_operation_failing_once)
{
    for (int op = 0; op < KVS_IO_OP_COUNT_; op++) {
        for (int after = 0; after < 6; after++) {
            char *dir = tu_tmpdir();
            static struct fault f;
            f = (struct fault){.op = (enum kvs_io_op)op, .err = EIO, .after = after};
            kvs__io_set_fault(fault_hook, &f);
            kvs_t *db = NULL;
            int acked[40] = {0};
            if (kvs_open(dir, NULL, &db) == KVS_OK) {
                for (int i = 0; i < 40; i++) {
                    char k[16], v[600];
                    snprintf(k, sizeof(k), "k%d", i);
                    memset(v, 'a' + i % 26, sizeof(v));
                    acked[i] = kvs_set(db, k, strlen(k), v, sizeof(v)) == KVS_OK;
                    if (i == 20)
                        kvs_compact(db);
                }
                kvs_close(db);
            }
            kvs__io_set_fault(NULL, NULL);
            db = tu_open(dir, KVS_SYNC_NONE, 0);
            for (int i = 0; i < 40; i++) {
                char k[16];
                snprintf(k, sizeof(k), "k%d", i);
                void *v;
                size_t n;
                int rc = kvs_get(db, k, strlen(k), &v, &n);
                if (acked[i])
                    ck_assert_msg(rc == KVS_OK, "op %d after %d: k%d lost: %s", op, after, i,
                                  kvs_strerror(rc));
                if (rc == KVS_OK) {
                    ck_assert_uint_eq(n, 600);
                    ck_assert_int_eq(((char *)v)[599], 'a' + i % 26);
                    kvs_free(v);
                }
            }
            ck_assert_kvs(kvs_close(db), KVS_OK);
            tu_rmdir(dir);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io-errors");
    TCase *tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, disk_full_on_write);
    tcase_add_test(tc, fsync_failure);
    tcase_add_test(tc, every_operation_failing_once);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
