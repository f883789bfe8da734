/*
 * Recovery: persistence against a model, torn tails at every offset, damaged
 * bytes, crashes (kill -9 and simulated). The index saved at close is tested
 * in test-saved-index.c, injected I/O errors in test-io-errors.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"
#include "crc32c.h"
#include "internal.h"
#include "io.h"
#include "obsolete.h"
#include "record.h"
#include "segment.h"

/* ---- helpers ---- */

/* Run fn in a child that then dies without closing the store: what it wrote
 * is in the page cache, its segment is unsealed, as after kill -9. */
static void in_crashing_child(void (*fn)(const char *dir), const char *dir)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fn(dir);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- persistence against a model ---- */

enum { MODEL_KEYS = 300 };

struct model {
    char *val[MODEL_KEYS];
    size_t len[MODEL_KEYS];
};

static void model_key(int i, char *buf, size_t *len)
{
    /* binary keys: a NUL byte inside, varying length */
    int n = snprintf(buf, 32, "k%d", i);
    buf[n] = '\0';
    buf[n + 1] = (char)(i & 0xFF);
    *len = (size_t)n + 2;
}

static void model_check(kvs_t *db, const struct model *m)
{
    for (int i = 0; i < MODEL_KEYS; i++) {
        char key[40];
        size_t kl;
        model_key(i, key, &kl);
        void *v;
        size_t n;
        int rc = kvs_get(db, key, kl, &v, &n);
        if (!m->val[i]) {
            ck_assert_msg(rc == KVS_NOT_FOUND, "key %d: %s, want not found", i, kvs_strerror(rc));
            continue;
        }
        ck_assert_msg(rc == KVS_OK, "key %d: %s", i, kvs_strerror(rc));
        ck_assert_uint_eq(n, m->len[i]);
        ck_assert(memcmp(v, m->val[i], n) == 0);
        kvs_free(v);
    }
}

START_TEST(random_ops_survive_reopen)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    uint64_t st = tu_seed();
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 8192);
    for (int op = 0; op < 6000; op++) {
        int i = (int)(tu_rand(&st) % MODEL_KEYS);
        char key[40];
        size_t kl;
        model_key(i, key, &kl);
        unsigned what = (unsigned)(tu_rand(&st) % 10);
        if (what < 6) {
            size_t len = (size_t)(tu_rand(&st) % 300);
            free(m.val[i]);
            m.val[i] = malloc(len + 1);
            tu_fill(&st, m.val[i], len);
            m.len[i] = len;
            ck_assert_kvs(kvs_set(db, key, kl, m.val[i], len), KVS_OK);
        } else if (what < 9) {
            ck_assert_kvs(kvs_remove(db, key, kl), m.val[i] ? KVS_OK : KVS_NOT_FOUND);
            free(m.val[i]);
            m.val[i] = NULL;
        } else {
            /* reopen, with and without hints, and compact now and then */
            ck_assert_kvs(kvs_close(db), KVS_OK);
            db = op % 3 ? tu_open(tu_dir, KVS_SYNC_NONE, 8192)
                        : tu_open_opts(tu_dir, 0, 0, 0);
            model_check(db, &m);
            if (op % 7 == 0)
                ck_assert_kvs(kvs_compact(db), KVS_OK);
        }
    }
    model_check(db, &m);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 8192);
    model_check(db, &m);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    for (int i = 0; i < MODEL_KEYS; i++)
        free(m.val[i]);
}
END_TEST

/* ---- torn tails ---- */

static void write_three(const char *dir)
{
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
    tu_set_str(db, "alpha", "first value");
    tu_set_str(db, "beta", "second value");
    tu_set_str(db, "gamma", "the third and last value");
}

/* Cut the crashed segment at every byte of its last record: open must drop
 * exactly that record, keep the others, and leave a store that reopens. */
START_TEST(torn_tail_at_every_offset)
{
    char *pristine = tu_tmpdir();
    in_crashing_child(write_three, pristine);
    char *seg = tu_last_file(pristine, ".log");
    ck_assert_ptr_nonnull(seg);
    uint64_t last_off = KVS_SEG_HEADER_SIZE + kvs__rec_size(5, 11) + kvs__rec_size(4, 12);
    uint64_t last_size = kvs__rec_size(5, 24);
    const char *name = strrchr(seg, '/') + 1;
    for (uint64_t cut = 0; cut <= last_size; cut++) {
        char *work = tu_tmpdir();
        char *copy = tu_path(work, name);
        tu_copy_file(seg, copy);
        tu_truncate(copy, (long)(last_off + cut));
        kvs_t *db = tu_open(work, KVS_SYNC_NONE, 0);
        tu_expect_value(db, "alpha", "first value");
        tu_expect_value(db, "beta", "second value");
        tu_expect_value(db, "gamma", cut == last_size ? "the third and last value" : NULL);
        tu_set_str(db, "delta", "after recovery");
        ck_assert_kvs(kvs_close(db), KVS_OK);
        db = tu_open(work, KVS_SYNC_NONE, 0);
        tu_expect_value(db, "beta", "second value");
        tu_expect_value(db, "gamma", cut == last_size ? "the third and last value" : NULL);
        tu_expect_value(db, "delta", "after recovery");
        ck_assert_kvs(kvs_close(db), KVS_OK);
        free(copy);
        tu_rmdir(work);
    }
    free(seg);
    tu_rmdir(pristine);
}
END_TEST

/* Garbage instead of zeros after the cut (a torn write of a partial record):
 * still a torn tail, since no intact record follows it. */
START_TEST(torn_tail_with_garbage_bytes)
{
    in_crashing_child(write_three, tu_dir);
    char *seg = tu_last_file(tu_dir, ".log");
    uint64_t last_off = KVS_SEG_HEADER_SIZE + kvs__rec_size(5, 11) + kvs__rec_size(4, 12);
    int fd = open(seg, O_RDWR);
    uint8_t junk[20];
    uint64_t st = tu_seed();
    tu_fill(&st, junk, sizeof(junk));
    ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), (off_t)last_off + 3), (ssize_t)sizeof(junk));
    close(fd);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_expect_value(db, "beta", "second value");
    tu_expect_value(db, "gamma", NULL);
    uint64_t torn;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_RECOVERY_TORN_BYTES, &torn), KVS_OK);
    ck_assert_uint_gt(torn, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(seg);
}
END_TEST

/* Two values, then a batch of two more, then a crash. */
static void write_two_and_a_batch(const char *dir)
{
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
    tu_set_str(db, "alpha", "first value");
    tu_set_str(db, "beta", "second value");
    kvs_batch_t *b;
    ck_assert_kvs(kvs_batch_create(&b), KVS_OK);
    ck_assert_kvs(kvs_batch_set(b, "gamma", 5, "in the batch", 12), KVS_OK);
    ck_assert_kvs(kvs_batch_set(b, "delta", 5, "also in it", 10), KVS_OK);
    ck_assert_kvs(kvs_batch_apply(db, b), KVS_OK);
    kvs_batch_destroy(b);
}

/*
 * A process killed while it writes a batch: the payload (records that
 * verify on their own) was copied, the batch's header not yet, or only part
 * of the payload. That is a torn tail like any other, not damage: the store
 * opens without repair, without the batch (found by fuzz-recovery).
 */
START_TEST(batch_without_its_header_is_a_torn_tail)
{
    char *pristine = tu_tmpdir();
    in_crashing_child(write_two_and_a_batch, pristine);
    char *seg = tu_last_file(pristine, ".log");
    ck_assert_ptr_nonnull(seg);
    const char *name = strrchr(seg, '/') + 1;
    uint64_t batch_off = KVS_SEG_HEADER_SIZE + kvs__rec_size(5, 11) + kvs__rec_size(4, 12);
    uint64_t inner = batch_off + KVS_REC_HEADER_SIZE;
    /* bytes never written: [from, to) */
    uint64_t unwritten[][2] = {
        {batch_off, inner},                   /* header only */
        {batch_off, inner + 6},               /* and the start of the first record */
        {batch_off, inner + kvs__rec_size(5, 12) + 3}, /* and all but one record */
    };
    for (size_t v = 0; v < sizeof(unwritten) / sizeof(unwritten[0]); v++) {
        char *work = tu_tmpdir();
        char *copy = tu_path(work, name);
        tu_copy_file(seg, copy);
        int fd = open(copy, O_RDWR);
        ck_assert_int_ge(fd, 0);
        uint8_t zeros[64] = {0};
        size_t n = (size_t)(unwritten[v][1] - unwritten[v][0]);
        ck_assert_uint_le(n, sizeof(zeros));
        ck_assert_int_eq(pwrite(fd, zeros, n, (off_t)unwritten[v][0]), (ssize_t)n);
        close(fd);
        kvs_t *db = tu_open(work, KVS_SYNC_NONE, 0);
        tu_expect_value(db, "alpha", "first value");
        tu_expect_value(db, "beta", "second value");
        tu_expect_value(db, "gamma", NULL);
        tu_expect_value(db, "delta", NULL);
        uint64_t torn;
        ck_assert_kvs(kvs_stat(db, KVS_STAT_RECOVERY_TORN_BYTES, &torn), KVS_OK);
        ck_assert_uint_gt(torn, 0);
        ck_assert_kvs(kvs_close(db), KVS_OK);
        db = tu_open(work, KVS_SYNC_NONE, 0);
        tu_expect_value(db, "beta", "second value");
        tu_expect_value(db, "delta", NULL);
        ck_assert_kvs(kvs_close(db), KVS_OK);
        free(copy);
        tu_rmdir(work);
    }
    free(seg);
    tu_rmdir(pristine);
}
END_TEST

/*
 * The same crash through pwritev (write-through segments, the default of
 * KVS_SYNC_ALWAYS): the header goes first, so a write cut short leaves the
 * batch's header and only part of its records. Also a torn tail (found by
 * the batch kill -9 test under CI).
 */
START_TEST(batch_cut_after_its_header_is_a_torn_tail)
{
    char *pristine = tu_tmpdir();
    in_crashing_child(write_two_and_a_batch, pristine);
    char *seg = tu_last_file(pristine, ".log");
    ck_assert_ptr_nonnull(seg);
    const char *name = strrchr(seg, '/') + 1;
    uint64_t batch_off = KVS_SEG_HEADER_SIZE + kvs__rec_size(5, 11) + kvs__rec_size(4, 12);
    uint64_t inner = batch_off + KVS_REC_HEADER_SIZE;
    uint64_t batch_end = inner + kvs__rec_size(5, 12) + kvs__rec_size(5, 10);
    uint64_t written[] = {inner, inner + 6, inner + kvs__rec_size(5, 12), batch_end - 1};
    for (size_t v = 0; v < sizeof(written) / sizeof(written[0]); v++) {
        char *work = tu_tmpdir();
        char *copy = tu_path(work, name);
        tu_copy_file(seg, copy);
        int fd = open(copy, O_RDWR);
        ck_assert_int_ge(fd, 0);
        uint8_t zeros[64] = {0};
        size_t n = (size_t)(batch_end - written[v]);
        ck_assert_uint_le(n, sizeof(zeros));
        ck_assert_int_eq(pwrite(fd, zeros, n, (off_t)written[v]), (ssize_t)n);
        close(fd);
        kvs_t *db = tu_open(work, KVS_SYNC_NONE, 0);
        tu_expect_value(db, "beta", "second value");
        tu_expect_value(db, "gamma", NULL);
        tu_expect_value(db, "delta", NULL);
        ck_assert_kvs(kvs_close(db), KVS_OK);
        free(copy);
        tu_rmdir(work);
    }
    free(seg);
    tu_rmdir(pristine);
}
END_TEST

/* A whole batch damaged with a record after it is damage, not a tail. */
static void write_batch_then_one(const char *dir)
{
    write_two_and_a_batch(dir);
}

START_TEST(damaged_batch_before_a_record_is_damage)
{
    in_crashing_child(write_batch_then_one, tu_dir);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_set_str(db, "epsilon", "after the batch");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    tu_remove_files(tu_dir, ".hint");
    char *seg = tu_path(tu_dir, "0000000001.log");
    uint64_t batch_off = KVS_SEG_HEADER_SIZE + kvs__rec_size(5, 11) + kvs__rec_size(4, 12);
    tu_flip_byte(seg, (long)(batch_off + KVS_REC_HEADER_SIZE + 14)); /* in a value */
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_ECORRUPT);
    free(seg);
}
END_TEST

/* The same zero header in a sealed segment (a SEAL follows the batch's
 * records) is damage: something was written after it. */
START_TEST(zero_header_before_a_seal_is_damage)
{
    in_crashing_child(write_two_and_a_batch, tu_dir);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0); /* seals the crashed segment */
    ck_assert_kvs(kvs_close(db), KVS_OK);
    tu_remove_files(tu_dir, ".hint");
    char *seg = tu_path(tu_dir, "0000000001.log");
    uint64_t batch_off = KVS_SEG_HEADER_SIZE + kvs__rec_size(5, 11) + kvs__rec_size(4, 12);
    int fd = open(seg, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t zeros[KVS_REC_HEADER_SIZE] = {0};
    ck_assert_int_eq(pwrite(fd, zeros, sizeof(zeros), (off_t)batch_off), (ssize_t)sizeof(zeros));
    close(fd);
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_ECORRUPT);
    free(seg);
}
END_TEST

/* ---- damaged bytes ---- */

static void write_many(const char *dir, int n)
{
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 0);
    for (int i = 0; i < n; i++) {
        char k[16], v[64];
        snprintf(k, sizeof(k), "key%04d", i);
        snprintf(v, sizeof(v), "value number %04d, some padding", i);
        tu_set_str(db, k, v);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
}

static uint64_t record_offset(int i)
{
    /* every record of write_many has the same size */
    return KVS_SEG_HEADER_SIZE + (uint64_t)i * kvs__rec_size(7, 31);
}

START_TEST(flipped_byte_with_hint_is_reported_by_get)
{
    write_many(tu_dir, 100);
    char *seg = tu_last_file(tu_dir, ".log");
    tu_flip_byte(seg, (long)record_offset(50) + 20); /* inside key0050's value */
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    void *v = (void *)0x1;
    size_t n;
    ck_assert_kvs(kvs_get(db, "key0050", 7, &v, &n), KVS_ECORRUPT);
    ck_assert_ptr_null(v);
    tu_expect_value(db, "key0049", "value number 0049, some padding");
    tu_expect_value(db, "key0051", "value number 0051, some padding");
    /* overwriting the damaged key heals it */
    tu_set_str(db, "key0050", "fresh");
    tu_expect_value(db, "key0050", "fresh");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(seg);
}
END_TEST

/* A large value is checked outside the index lock: damage is still caught. */
START_TEST(flipped_byte_in_a_large_value)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    size_t len = 300 * 1024;
    char *big = malloc(len);
    memset(big, 'z', len);
    ck_assert_kvs(kvs_set(db, "big", 3, big, len), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    char *seg = tu_last_file(tu_dir, ".log");
    tu_flip_byte(seg, KVS_SEG_HEADER_SIZE + 1000);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    void *v = (void *)0x1;
    size_t n = 1;
    ck_assert_kvs(kvs_get(db, "big", 3, &v, &n), KVS_ECORRUPT);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(seg);
    free(big);
}
END_TEST

START_TEST(flipped_byte_without_hint_fails_open_then_repairs)
{
    write_many(tu_dir, 100);
    tu_remove_files(tu_dir, ".hint");
    char *seg = tu_last_file(tu_dir, ".log");
    tu_flip_byte(seg, (long)record_offset(50) + 5); /* key0050's key length */
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_ECORRUPT);
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_ECORRUPT); /* nothing was changed */
    kvs_t *db = tu_open_opts(tu_dir, 1, 1, 0);
    uint64_t skipped;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_RECOVERY_SKIPPED_BYTES, &skipped), KVS_OK);
    ck_assert_uint_eq(skipped, kvs__rec_size(7, 31));
    tu_expect_value(db, "key0050", NULL);
    for (int i = 0; i < 100; i++) {
        if (i == 50)
            continue;
        char k[16], want[64];
        snprintf(k, sizeof(k), "key%04d", i);
        snprintf(want, sizeof(want), "value number %04d, some padding", i);
        tu_expect_value(db, k, want);
    }
    /* the damaged segment is rewritten: afterwards a strict open works */
    ck_assert_kvs(kvs_compact(db), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    tu_remove_files(tu_dir, ".hint");
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_OK);
    free(seg);
}
END_TEST

START_TEST(flipped_bytes_everywhere_never_return_wrong_data)
{
    /* Flip each byte of a small sealed store in turn; open (strict, with and
     * without hints) either fails with ECORRUPT or every get returns either
     * the right value, NOT_FOUND or ECORRUPT: never a wrong value. */
    write_many(tu_dir, 5);
    char *seg = tu_last_file(tu_dir, ".log");
    long size = tu_file_size(seg);
    char *copy_dir = tu_tmpdir();
    const char *name = strrchr(seg, '/') + 1;
    for (long off = 0; off < size; off++) {
        for (int hints = 0; hints < 2; hints++) {
            tu_remove_files(copy_dir, "");
            char *c = tu_path(copy_dir, name);
            tu_copy_file(seg, c);
            if (hints) {
                char *h = tu_last_file(tu_dir, ".hint"), *hc = tu_path(copy_dir, strrchr(h, '/') + 1);
                tu_copy_file(h, hc);
                free(h);
                free(hc);
            }
            tu_flip_byte(c, off);
            free(c);
            kvs_options_t *o = kvs_options_create();
            kvs_options_set_use_hints(o, hints);
            kvs_options_set_read_only(o, 1);
            kvs_t *db = NULL;
            int rc = kvs_open(copy_dir, o, &db);
            kvs_options_destroy(o);
            if (rc != KVS_OK) {
                ck_assert_msg(rc == KVS_ECORRUPT, "offset %ld: open %s", off, kvs_strerror(rc));
                continue;
            }
            for (int i = 0; i < 5; i++) {
                char k[16], want[64];
                snprintf(k, sizeof(k), "key%04d", i);
                snprintf(want, sizeof(want), "value number %04d, some padding", i);
                void *v;
                size_t n;
                rc = kvs_get(db, k, 7, &v, &n);
                if (rc == KVS_OK) {
                    ck_assert_msg(n == strlen(want) && memcmp(v, want, n) == 0,
                                  "offset %ld: wrong value for %s", off, k);
                    kvs_free(v);
                } else {
                    ck_assert_msg(rc == KVS_NOT_FOUND || rc == KVS_ECORRUPT, "offset %ld: %s",
                                  off, kvs_strerror(rc));
                }
            }
            kvs_close(db);
        }
    }
    free(seg);
    tu_rmdir(copy_dir);
}
END_TEST

static void patch_header_version(const char *path, uint32_t version)
{
    int fd = open(path, O_RDWR);
    uint8_t h[KVS_SEG_HEADER_SIZE];
    ck_assert_int_eq(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
    kvs__store32(h + 8, version);
    kvs__store32(h + 60, kvs__crc32c(0, h, 60));
    ck_assert_int_eq(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
    close(fd);
}

/* write_many(100) into the first segment, then "newer" = "n" into a second,
 * newer one; the path of the first segment's file (its hint is written at
 * close). */
static char *first_of_two_segments(void)
{
    write_many(tu_dir, 100);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_set_str(db, "newer", "n");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    return tu_path(tu_dir, "0000000001.log");
}

/* A sealed segment cut short while its hint survived: not a torn write
 * (the hint proves it was complete and synced) but damage. */
START_TEST(truncated_sealed_segment_with_hint_is_damage)
{
    char *first = first_of_two_segments();
    tu_truncate(first, (long)record_offset(90));
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_ECORRUPT);
    kvs_t *db = tu_open_opts(tu_dir, 1, 1, 0);
    tu_expect_value(db, "key0089", "value number 0089, some padding");
    tu_expect_value(db, "key0090", NULL);
    tu_expect_value(db, "newer", "n");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(first);
}
END_TEST

/* Zero the first len bytes of a file (a lost first page or sector). */
static void zero_start(const char *path, size_t len)
{
    uint8_t zeros[4096] = {0};
    ck_assert_uint_le(len, sizeof(zeros));
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, zeros, len, 0), (ssize_t)len);
    close(fd);
}

/*
 * A sealed segment emptied, cut to a few bytes past its header, or whose
 * first bytes were zeroed, while its hint survived. Without the hint these
 * look like a segment a crash interrupted at its creation (nothing in it was
 * ever synced), which open deletes; the hint proves the segment was sealed
 * and synced, so it is damage: the open fails and deletes nothing, and a
 * repairing open does without the segment.
 */
START_TEST(sealed_segment_emptied_or_zeroed_with_hint_is_damage)
{
    char *first = first_of_two_segments();
    char *hint = tu_path(tu_dir, "0000000001.hint");
    ck_assert_int_eq(access(hint, F_OK), 0);
    switch (_i) {
    case 0: tu_truncate(first, 0); break;
    case 1: tu_truncate(first, KVS_SEG_HEADER_SIZE); break;
    case 2: tu_truncate(first, (long)record_offset(2)); break;
    case 3: zero_start(first, KVS_SEG_HEADER_SIZE); break;
    default: zero_start(first, 4096); break;
    }
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_ECORRUPT);
    ck_assert_int_eq(access(first, F_OK), 0);
    ck_assert_int_eq(access(hint, F_OK), 0);
    kvs_t *db = tu_open_opts(tu_dir, 1, 1, 0);
    tu_expect_value(db, "key0099", NULL);
    tu_expect_value(db, "newer", "n");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(first);
    free(hint);
}
END_TEST

/* The same zeroed header without a hint, in a file of zeros: a crash
 * interrupted the segment's creation; open removes it. */
START_TEST(zeroed_segment_without_hint_is_a_crash_at_creation)
{
    write_many(tu_dir, 3);
    char *stray = tu_path(tu_dir, "0000000099.log");
    int fd = open(stray, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 2 << 20), 0); /* grown, header never written */
    close(fd);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_expect_value(db, "key0002", "value number 0002, some padding");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_int_eq(access(stray, F_OK), -1);
    free(stray);
}
END_TEST

START_TEST(damaged_header_and_unknown_version)
{
    write_many(tu_dir, 3);
    char *seg = tu_last_file(tu_dir, ".log");
    tu_flip_byte(seg, 2); /* magic */
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_ECORRUPT);
    tu_flip_byte(seg, 2);
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_OK);
    patch_header_version(seg, 3); /* format 2 is this library's */
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_EVERSION);
    ck_assert_kvs(tu_open_status(tu_dir, 1), KVS_EVERSION); /* repair never skips a newer format */
    free(seg);
}
END_TEST

START_TEST(repair_skips_a_segment_with_a_damaged_header)
{
    write_many(tu_dir, 3);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_set_str(db, "second", "segment");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    char *first = tu_path(tu_dir, "0000000001.log");
    tu_flip_byte(first, 20);
    ck_assert_kvs(tu_open_status(tu_dir, 0), KVS_ECORRUPT);
    db = tu_open_opts(tu_dir, 1, 1, 1);
    tu_expect_value(db, "key0001", NULL);
    tu_expect_value(db, "second", "segment");
    uint64_t skipped;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_RECOVERY_SKIPPED_BYTES, &skipped), KVS_OK);
    ck_assert_uint_gt(skipped, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(first);
}
END_TEST

START_TEST(damaged_hint_is_ignored)
{
    write_many(tu_dir, 50);
    char *hint = tu_last_file(tu_dir, ".hint");
    tu_flip_byte(hint, 60);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    uint64_t hinted;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_HINT_SEGMENTS, &hinted), KVS_OK);
    ck_assert_uint_eq(hinted, 0);
    tu_expect_value(db, "key0049", "value number 0049, some padding");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    /* a truncated hint too */
    tu_truncate(hint, 30);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_expect_value(db, "key0000", "value number 0000, some padding");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    free(hint);
}
END_TEST

START_TEST(empty_segment_file_from_a_crash_is_removed)
{
    write_many(tu_dir, 3);
    char *empty = tu_path(tu_dir, "0000000099.log");
    close(open(empty, O_CREAT | O_WRONLY, 0644));
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_expect_value(db, "key0002", "value number 0002, some padding");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_int_eq(access(empty, F_OK), -1);
    free(empty);
}
END_TEST

START_TEST(obsolete_file_finishes_deletions)
{
    write_many(tu_dir, 3);
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_set_str(db, "later", "x");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    char *first = tu_path(tu_dir, "0000000001.log");
    ck_assert_int_eq(access(first, F_OK), 0);
    int dirfd = open(tu_dir, O_RDONLY | O_DIRECTORY);
    uint32_t ids[] = {1};
    ck_assert_kvs(kvs__obsolete_write(dirfd, ids, 1), KVS_OK);
    close(dirfd);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_expect_value(db, "key0000", NULL);
    tu_expect_value(db, "later", "x");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_int_eq(access(first, F_OK), -1);
    char *marker = tu_path(tu_dir, "OBSOLETE");
    ck_assert_int_eq(access(marker, F_OK), -1);
    free(marker);
    free(first);
}
END_TEST

START_TEST(read_only_open_of_crashed_store_changes_nothing)
{
    in_crashing_child(write_three, tu_dir);
    char *seg = tu_last_file(tu_dir, ".log");
    long size = tu_file_size(seg);
    kvs_t *db = tu_open_opts(tu_dir, 0, 1, 1);
    tu_expect_value(db, "gamma", "the third and last value");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_int_eq(tu_file_size(seg), size);
    ck_assert_int_eq(tu_count_files(tu_dir, ".hint"), 0);
    free(seg);
}
END_TEST

/* ---- kill -9 while writing ---- */

/* The child writes key i = value i, reporting each acknowledged index on a
 * pipe; the parent kills it at a random moment and checks them all. */
static void kill9_round(const char *dir, kvs_sync_t sync, uint64_t *st)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        kvs_t *db = tu_open(dir, sync, 16384);
        for (uint32_t i = 0;; i++) {
            char k[32], v[64];
            int kl = snprintf(k, sizeof(k), "key-%u", i % 5000);
            int vl = snprintf(v, sizeof(v), "value-%u-%u", i, (unsigned)getpid());
            if (kvs_set(db, k, (size_t)kl, v, (size_t)vl) != KVS_OK)
                _exit(3);
            if (write(fds[1], &i, sizeof(i)) != sizeof(i))
                _exit(4);
        }
    }
    close(fds[1]);
    /* let it run until it acknowledged a random number of writes */
    uint32_t last;
    uint32_t got = tu_kill_after_acks(pid, fds[0], 100 + (uint32_t)(tu_rand(st) % 3000), &last);
    ck_assert_uint_gt(got, 0);
    kvs_t *db = tu_open(dir, KVS_SYNC_NONE, 16384);
    /* Every key's latest acknowledged value is there. The one write in
     * flight at the kill (last + 1) may have landed or not. */
    for (uint32_t i = last >= 4999 ? last - 4999 : 0; i <= last; i++) {
        char k[32], v[64], inflight[64];
        snprintf(k, sizeof(k), "key-%u", i % 5000);
        snprintf(v, sizeof(v), "value-%u-%u", i, (unsigned)pid);
        snprintf(inflight, sizeof(inflight), "value-%u-%u", last + 1, (unsigned)pid);
        bool may_be_newer = i + 5000 == last + 1;
        void *gv;
        size_t n;
        int rc = kvs_get(db, k, strlen(k), &gv, &n);
        ck_assert_msg(rc == KVS_OK, "%s missing after kill -9: %s", k, kvs_strerror(rc));
        bool ok = n == strlen(v) && memcmp(gv, v, n) == 0;
        if (!ok && may_be_newer)
            ok = n == strlen(inflight) && memcmp(gv, inflight, n) == 0;
        ck_assert_msg(ok, "%s holds %.*s, want %s", k, (int)n, (char *)gv, v);
        kvs_free(gv);
    }
    ck_assert_kvs(kvs_close(db), KVS_OK);
}

START_TEST(kill9_every_sync_mode)
{
    uint64_t st = tu_seed();
    for (int mode = KVS_SYNC_NONE; mode <= KVS_SYNC_ALWAYS; mode++)
        for (int round = 0; round < 3; round++)
            kill9_round(tu_dir, (kvs_sync_t)mode, &st);
}
END_TEST

/* ---- a store with no data left ---- */

static int open_existing_rc(const char *dir)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_create_if_missing(o, 0);
    kvs_t *db = NULL;
    int rc = kvs_open(dir, o, &db);
    kvs_options_destroy(o);
    if (rc == KVS_OK)
        ck_assert_kvs(kvs_close(db), KVS_OK);
    return rc;
}

/* An empty store keeps no segment file (close deletes an active segment
 * without records, open drops empty segments, compaction deletes the ones
 * without live records), yet it is a store: kvs_open without
 * create_if_missing opens it. It answered KVS_ENOENT (found by the crash
 * loop: a child killed while it reopened an empty store). */
START_TEST(empty_store_opens_without_create)
{
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_int_eq(tu_count_files(tu_dir, ".log"), 0);
    ck_assert_kvs(open_existing_rc(tu_dir), KVS_OK);
    db = tu_open(tu_dir, KVS_SYNC_NONE, 0);
    tu_set_str(db, "gone", "soon");
    ck_assert_kvs(kvs_remove(db, "gone", 4), KVS_OK);
    ck_assert_kvs(kvs_compact(db), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_kvs(open_existing_rc(tu_dir), KVS_OK);
    /* a directory that holds no store is still none, and is left alone */
    char *other = tu_tmpdir();
    ck_assert_kvs(open_existing_rc(other), KVS_ENOENT);
    ck_assert_int_eq(tu_count_files(other, ""), 2); /* . and .. */
    tu_rmdir(other);
}
END_TEST

static void open_and_die(const char *dir)
{
    tu_open(dir, KVS_SYNC_NONE, 0); /* an active segment without records */
}

/* Dies at the first file created after a file was deleted. */
static int kill_at_create_after_unlink(enum kvs_io_op op, void *ctx)
{
    bool *unlinked = ctx;
    if (op == KVS_IO_UNLINK)
        *unlinked = true;
    if (op == KVS_IO_OPEN && *unlinked)
        raise(SIGKILL);
    return 0;
}

/* kill -9 while kvs_open replaces the only segment of an empty store: the
 * empty one deleted, the new active one not created yet. The directory
 * then holds no segment, and is still the store. */
START_TEST(kill9_while_an_empty_store_opens)
{
    in_crashing_child(open_and_die, tu_dir);
    ck_assert_int_eq(tu_count_files(tu_dir, ".log"), 1);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        static bool unlinked;
        kvs__io_set_fault(kill_at_create_after_unlink, &unlinked);
        tu_open(tu_dir, KVS_SYNC_NONE, 0);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_eq(tu_count_files(tu_dir, ".log"), 0);
    ck_assert_kvs(open_existing_rc(tu_dir), KVS_OK);
}
END_TEST

/* Pages of path resident in the page cache: first, last, of pages in all. */
static void residency(const char *path, bool *first, bool *last)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    size_t pages = ((size_t)st.st_size + 4095) / 4096;
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    unsigned char *vec = malloc(pages);
    ck_assert_int_eq(mincore(p, (size_t)st.st_size, vec), 0);
    *first = vec[0] & 1;
    *last = vec[pages - 1] & 1;
    free(vec);
    munmap(p, (size_t)st.st_size);
    close(fd);
}

/* The open starts its reads at once (kvs__io_read_ahead): a file's head and
 * tail come into the page cache without anyone reading them. */
START_TEST(read_ahead_loads_head_and_tail)
{
    char *path = tu_path(tu_dir, "cold");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    static char block[1 << 20];
    memset(block, 'x', sizeof(block));
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
    ck_assert_int_eq(fsync(fd), 0);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* clean pages: dropped */
    close(fd);
    bool first, last;
    residency(path, &first, &last);
    if (first || last) { /* a file system that keeps them (tmpfs) proves nothing */
        free(path);
        return;
    }
    int dirfd = open(tu_dir, O_RDONLY | O_DIRECTORY);
    ck_assert(!kvs__io_read_ahead(dirfd, "no-such-file", 4096, 8192));
    ck_assert(kvs__io_read_ahead(dirfd, "cold", 4096, 8192));
    for (int waited = 0; waited < 500 && !(first && last); waited++) {
        usleep(10000); /* the reads were only started */
        residency(path, &first, &last);
    }
    ck_assert_msg(first && last, "head resident %d, tail resident %d", first, last);
    close(dirfd);
    free(path);
}
END_TEST

static Suite *recovery_suite(void)
{
    Suite *s = suite_create("recovery");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, random_ops_survive_reopen);
    suite_add_tcase(s, tc);

    tc = tcase_create("torn");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, torn_tail_at_every_offset);
    tcase_add_test(tc, torn_tail_with_garbage_bytes);
    tcase_add_test(tc, batch_without_its_header_is_a_torn_tail);
    tcase_add_test(tc, batch_cut_after_its_header_is_a_torn_tail);
    tcase_add_test(tc, damaged_batch_before_a_record_is_damage);
    tcase_add_test(tc, zero_header_before_a_seal_is_damage);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, flipped_byte_with_hint_is_reported_by_get);
    tcase_add_test(tc, flipped_byte_without_hint_fails_open_then_repairs);
    tcase_add_test(tc, flipped_byte_in_a_large_value);
    tcase_add_test(tc, flipped_bytes_everywhere_never_return_wrong_data);
    tcase_add_test(tc, damaged_header_and_unknown_version);
    tcase_add_test(tc, truncated_sealed_segment_with_hint_is_damage);
    tcase_add_loop_test(tc, sealed_segment_emptied_or_zeroed_with_hint_is_damage, 0, 5);
    tcase_add_test(tc, zeroed_segment_without_hint_is_a_crash_at_creation);
    tcase_add_test(tc, damaged_hint_is_ignored);
    tcase_add_test(tc, repair_skips_a_segment_with_a_damaged_header);
    tcase_add_test(tc, empty_segment_file_from_a_crash_is_removed);
    tcase_add_test(tc, obsolete_file_finishes_deletions);
    tcase_add_test(tc, read_only_open_of_crashed_store_changes_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, kill9_every_sync_mode);
    tcase_add_test(tc, empty_store_opens_without_create);
    tcase_add_test(tc, kill9_while_an_empty_store_opens);
    tcase_add_test(tc, read_ahead_loads_head_and_tail);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(recovery_suite());
}
