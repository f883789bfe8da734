/* Segment files and hint files on their own: names, headers, growth,
 * sealing, and hint validation against the segment they describe. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/testutil.h"
#include "crc32c.h"
#include "hint.h"
#include "internal.h"
#include "io.h"
#include "segment.h"

static int dirfd_of(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    return fd;
}

START_TEST(names_round_trip)
{
    char name[KVS_SEG_NAME_MAX];
    uint32_t id;
    kvs__seg_name(name, 42, "log");
    ck_assert_str_eq(name, "0000000042.log");
    ck_assert_int_eq(kvs__seg_parse_name(name, "log", &id), 1);
    ck_assert_uint_eq(id, 42);
    kvs__seg_name(name, UINT32_MAX, "hint");
    ck_assert_str_eq(name, "4294967295.hint");
    ck_assert_int_eq(kvs__seg_parse_name(name, "hint", &id), 1);
    ck_assert_uint_eq(id, UINT32_MAX);
    ck_assert_int_eq(kvs__seg_parse_name("0000000042.hint", "log", &id), 0);
    ck_assert_int_eq(kvs__seg_parse_name("000000042.log", "log", &id), 0);
    ck_assert_int_eq(kvs__seg_parse_name("00000000x2.log", "log", &id), 0);
    ck_assert_int_eq(kvs__seg_parse_name("9999999999.log", "log", &id), 0); /* > u32 */
    ck_assert_int_eq(kvs__seg_parse_name("0000000042.log.tmp", "log", &id), 0);
}
END_TEST

START_TEST(header_layout)
{
    uint8_t h[KVS_SEG_HEADER_SIZE];
    kvs__seg_header_encode(h, 7, 0x0102030405060708ull, 1, 0xAABBCCDDEEFF0011ull);
    static const uint8_t magic[8] = {0x89, 'K', 'V', 'S', 'L', 'O', 'G', '\n'};
    ck_assert_mem_eq(h, magic, 8);
    ck_assert_uint_eq(kvs__load32(h + 8), KVS_FORMAT_VERSION);
    ck_assert_uint_eq(kvs__load32(h + 12), 64);
    ck_assert_uint_eq(kvs__load32(h + 16), 7);
    ck_assert_uint_eq(kvs__load32(h + 20), 1);
    ck_assert_uint_eq(kvs__load64(h + 24), 0x0102030405060708ull);
    ck_assert_uint_eq(kvs__load64(h + 32), 0xAABBCCDDEEFF0011ull);
    for (int i = 40; i < 60; i++)
        ck_assert_uint_eq(h[i], 0);
    ck_assert_uint_eq(kvs__load32(h + 60), kvs__crc32c(0, h, 60));
}
END_TEST

START_TEST(create_append_seal_reopen)
{
    int dfd = dirfd_of(tu_dir);
    struct kvs_segment *s;
    ck_assert_kvs(kvs__seg_create(dfd, 3, 5ull << 32, 0, 99, 1 << 20, KVS_SEG_MAPPED, &s), KVS_OK);
    ck_assert_uint_eq(s->tail, KVS_SEG_HEADER_SIZE);
    ck_assert_kvs(kvs__seg_reserve(s, kvs__rec_size(3, 5)), KVS_OK);
    uint64_t off;
    ck_assert_kvs(kvs__seg_append(s, KVS_REC_PUT, "key", 3, "value", 5, &off), KVS_OK);
    ck_assert_uint_eq(off, KVS_SEG_HEADER_SIZE);
    ck_assert_kvs(kvs__seg_seal(s), KVS_OK);
    uint64_t end = s->tail;
    ck_assert_uint_eq(end, KVS_SEG_HEADER_SIZE + kvs__rec_size(3, 5) + KVS_REC_HEADER_SIZE);
    /* sealing trims the reserved blocks */
    char *path = tu_path(tu_dir, "0000000003.log");
    ck_assert_int_eq(tu_file_size(path), (long)end);
    kvs__seg_unref(s);

    uint64_t seed = 0;
    ck_assert_kvs(kvs__seg_open(dfd, 3, false, &s, &seed), KVS_OK);
    ck_assert_uint_eq(seed, 99);
    ck_assert_uint_eq(s->epoch, 5ull << 32);
    ck_assert_uint_eq(s->tail, end);
    struct kvs_rec r;
    ck_assert_int_eq(kvs__rec_decode(s->base + off, s->tail - off, &r), KVS_REC_OK);
    ck_assert_mem_eq(r.val, "value", 5);
    kvs__seg_unref(s);
    free(path);
    close(dfd);
}
END_TEST

START_TEST(reserve_beyond_the_mapping_is_too_big)
{
    int dfd = dirfd_of(tu_dir);
    struct kvs_segment *s;
    ck_assert_kvs(kvs__seg_create(dfd, 1, 1, 0, 1, 4096, KVS_SEG_MAPPED, &s), KVS_OK);
    ck_assert_kvs(kvs__seg_reserve(s, 4096), KVS_ETOOBIG);
    ck_assert_kvs(kvs__seg_reserve(s, 4096 - KVS_SEG_HEADER_SIZE - KVS_REC_HEADER_SIZE), KVS_OK);
    kvs__seg_unref(s);
    close(dfd);
}
END_TEST

START_TEST(short_or_zero_files_are_empty_segments)
{
    int dfd = dirfd_of(tu_dir);
    char *path = tu_path(tu_dir, "0000000009.log");
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_eq(ftruncate(fd, 30), 0); /* zeros, shorter than a header */
    close(fd);
    struct kvs_segment *s;
    uint64_t seed;
    ck_assert_kvs(kvs__seg_open(dfd, 9, false, &s, &seed), KVS_NOT_FOUND);
    tu_truncate(path, 4096); /* a zero header */
    ck_assert_kvs(kvs__seg_open(dfd, 9, false, &s, &seed), KVS_NOT_FOUND);
    fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, "x", 1, 3), 1); /* not zeros: damage */
    close(fd);
    ck_assert_kvs(kvs__seg_open(dfd, 9, false, &s, &seed), KVS_ECORRUPT);
    /* a header naming another segment */
    uint8_t h[KVS_SEG_HEADER_SIZE];
    kvs__seg_header_encode(h, 10, 1, 0, 1);
    fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
    close(fd);
    ck_assert_kvs(kvs__seg_open(dfd, 9, false, &s, &seed), KVS_ECORRUPT);
    free(path);
    close(dfd);
}
END_TEST

/* A sealed segment with n puts and a tombstone, and its hint file. */
static struct kvs_segment *sealed_with_hint(int dfd, int n)
{
    struct kvs_segment *s;
    ck_assert_kvs(kvs__seg_create(dfd, 1, 1, 0, 7, 1 << 20, KVS_SEG_MAPPED, &s), KVS_OK);
    for (int i = 0; i < n; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "k%d", i);
        ck_assert_kvs(kvs__seg_reserve(s, kvs__rec_size((size_t)kl, 10)), KVS_OK);
        uint64_t off;
        ck_assert_kvs(kvs__seg_append(s, KVS_REC_PUT, k, (size_t)kl, "0123456789", 10, &off),
                      KVS_OK);
    }
    ck_assert_kvs(kvs__seg_reserve(s, kvs__rec_size(2, 0)), KVS_OK);
    uint64_t off;
    ck_assert_kvs(kvs__seg_append(s, KVS_REC_DEL, "k0", 2, NULL, 0, &off), KVS_OK);
    ck_assert_kvs(kvs__seg_seal(s), KVS_OK);
    ck_assert_kvs(kvs__hint_write(dfd, s, 7), KVS_OK);
    return s;
}

START_TEST(hint_round_trip)
{
    int dfd = dirfd_of(tu_dir);
    struct kvs_segment *s = sealed_with_hint(dfd, 50);
    struct kvs_hint h;
    ck_assert_kvs(kvs__hint_load(dfd, s, 7, &h), KVS_OK);
    ck_assert_uint_eq(h.count, 51);
    uint64_t off = KVS_SEG_HEADER_SIZE;
    for (uint64_t i = 0; i < h.count; i++) {
        struct kvs_hint_rec r;
        kvs__hint_get(&h, i, &r);
        struct kvs_rec rec;
        ck_assert_int_eq(kvs__rec_decode(s->base + off, s->tail - off, &rec), KVS_REC_OK);
        ck_assert_uint_eq(r.off, off);
        ck_assert_uint_eq(r.size, rec.size);
        ck_assert_int_eq(r.tombstone, rec.type == KVS_REC_DEL);
        ck_assert_uint_eq(r.hash & 0xFFFFFFFFu, 0);
        off += rec.size;
    }
    kvs__hint_free(&h);
    kvs__seg_unref(s);
    close(dfd);
}
END_TEST

START_TEST(hint_checked_against_its_segment)
{
    int dfd = dirfd_of(tu_dir);
    struct kvs_segment *s = sealed_with_hint(dfd, 20);
    struct kvs_hint h;
    /* an intact hint for other bytes certifies that the segment changed */
    ck_assert_kvs(kvs__hint_load(dfd, s, 8, &h), KVS_ECORRUPT); /* other seed */
    uint64_t tail = s->tail;
    s->tail = tail + 1; /* the segment is not the size the hint describes */
    ck_assert_kvs(kvs__hint_load(dfd, s, 7, &h), KVS_ECORRUPT);
    s->tail = tail;
    /* a hint that is itself damaged is just unusable */
    char *path = tu_path(tu_dir, "0000000001.hint");
    long size = tu_file_size(path);
    for (long off = 0; off < size; off += 7) { /* any damaged byte */
        tu_flip_byte(path, off);
        ck_assert_kvs(kvs__hint_load(dfd, s, 7, &h), KVS_NOT_FOUND);
        tu_flip_byte(path, off);
    }
    ck_assert_kvs(kvs__hint_load(dfd, s, 7, &h), KVS_OK);
    kvs__hint_free(&h);
    tu_truncate(path, size - 1);
    ck_assert_kvs(kvs__hint_load(dfd, s, 7, &h), KVS_NOT_FOUND);
    unlink(path);
    ck_assert_kvs(kvs__hint_load(dfd, s, 7, &h), KVS_NOT_FOUND);
    free(path);
    kvs__seg_unref(s);
    close(dfd);
}
END_TEST

/* Append 1 KB records until the tail reaches at least end. */
static void append_until(struct kvs_segment *s, uint64_t end)
{
    char val[1000];
    memset(val, 'v', sizeof(val));
    uint64_t off;
    while (s->tail < end) {
        ck_assert_kvs(kvs__seg_reserve(s, kvs__rec_size(3, sizeof(val))), KVS_OK);
        ck_assert_kvs(kvs__seg_append(s, KVS_REC_PUT, "key", 3, val, sizeof(val), &off), KVS_OK);
    }
}

/* The grow-ahead protocol on its own: the owner asks for one more step
 * whenever its tail is within KVS_SEG_AHEAD_LEAD (two steps) of what was
 * grown or asked for, another thread grows the file, the owner adopts the
 * space without growing again, and sealing trims it all back. */
START_TEST(grow_ahead_is_adopted_and_trimmed_at_seal)
{
    const uint64_t step = KVS_SEG_GROW_BYTES;
    ck_assert_uint_eq(KVS_SEG_AHEAD_LEAD, 2 * step);
    int dfd = dirfd_of(tu_dir);
    struct kvs_segment *s;
    ck_assert_kvs(kvs__seg_create(dfd, 4, 1, 0, 1, 8 * step, KVS_SEG_MAPPED, &s), KVS_OK);
    char *path = tu_path(tu_dir, "0000000004.log");
    ck_assert_int_eq(tu_file_size(path), (long)step);
    /* a new segment: asked step by step until two steps past the tail */
    ck_assert_uint_eq(kvs__seg_ahead_due(s), 2 * step);
    ck_assert_uint_eq(kvs__seg_ahead_due(s), 3 * step);
    ck_assert_uint_eq(kvs__seg_ahead_due(s), 0); /* asked far enough */
    ck_assert_kvs(kvs__seg_grow(s, 3 * step), KVS_OK); /* what the thread does */
    ck_assert_int_eq(tu_file_size(path), (long)(3 * step));
    ck_assert_uint_eq(s->file_bytes, step); /* not adopted until needed */
    append_until(s, step + 1);
    ck_assert_uint_eq(s->file_bytes, 3 * step);
    ck_assert_int_eq(tu_file_size(path), (long)(3 * step)); /* the writer grew nothing */
    ck_assert_uint_eq(kvs__seg_ahead_due(s), 4 * step); /* tail + lead past 3 steps */
    ck_assert_uint_eq(kvs__seg_ahead_due(s), 0);
    append_until(s, 2 * step + 1);
    ck_assert_uint_eq(kvs__seg_ahead_due(s), 5 * step);
    ck_assert_kvs(kvs__seg_grow(s, 5 * step), KVS_OK);
    ck_assert_kvs(kvs__seg_seal(s), KVS_OK); /* space grown ahead, never adopted */
    ck_assert_int_eq(tu_file_size(path), (long)s->tail);
    ck_assert_kvs(kvs__seg_grow(s, 6 * step), KVS_OK); /* a late request: ignored */
    ck_assert_int_eq(tu_file_size(path), (long)s->tail);
    kvs__seg_unref(s);
    free(path);
    close(dfd);
}
END_TEST

/* Size of the newest *.log file in dir (the active segment), in bytes. */
static long newest_log_size(const char *dir)
{
    long largest = 0;
    char *path = tu_last_file(dir, ".log");
    if (path) {
        largest = tu_file_size(path);
        free(path);
    }
    return largest;
}

/* In a store, the grow-ahead thread keeps the active segment's file grown
 * to the first step boundary at least KVS_SEG_AHEAD_LEAD past the writer's
 * tail (three steps here, the tail being in the first), without the writer
 * writing another byte. */
START_TEST(store_grows_the_active_segment_ahead)
{
    const long step = KVS_SEG_GROW_BYTES;
    kvs_t *db = tu_open(tu_dir, KVS_SYNC_NONE, 16 * (size_t)step);
    char key[16], val[1000];
    memset(val, 'v', sizeof(val));
    for (int i = 0; i * (long)sizeof(val) < step / 2 + 4096; i++) {
        snprintf(key, sizeof(key), "k%06d", i);
        ck_assert_kvs(kvs_set(db, key, strlen(key), val, sizeof(val)), KVS_OK);
    }
    /* bounded wait for the other thread: up to 10 s in steps of 1 ms */
    long size = newest_log_size(tu_dir);
    for (int i = 0; i < 10000 && size < 3 * step; i++) {
        usleep(1000);
        size = newest_log_size(tu_dir);
    }
    ck_assert_int_eq(size, 3 * step);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    ck_assert_int_lt(newest_log_size(tu_dir), step); /* sealed: trimmed to its records */
    db = tu_open(tu_dir, KVS_SYNC_NONE, 16 * (size_t)step);
    uint64_t keys;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_KEYS, &keys), KVS_OK);
    ck_assert_uint_eq(keys, (uint64_t)(step / 2 + 4096 + sizeof(val) - 1) / sizeof(val));
    ck_assert_kvs(kvs_close(db), KVS_OK);
}
END_TEST

/*
 * A store of many more segments than the process may have descriptors: a
 * segment keeps its mapping, not its file, once it is sealed and synced,
 * and one found at open keeps none. In a child whose limit is 64
 * descriptors, 400 segments are written (synced every 40, as the interval
 * sync or the background thread's hints do), read, closed, opened again
 * and read again; before, the 61st segment's creation failed with EMFILE
 * and so did every open of the store.
 */
#define FD_LIMIT 64
#define FD_SEGMENTS 400

static int fd_limited_child(const char *dir)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 10;
    lim.rlim_cur = FD_LIMIT;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 11;
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    kvs_options_set_segment_size(o, 4096);
    kvs_options_set_compaction_trigger(o, 100);
    kvs_t *db = NULL;
    if (kvs_open(dir, o, &db) != KVS_OK)
        return 12;
    char key[16], val[1000];
    memset(val, 'v', sizeof(val));
    /* three records of 1,000 bytes fill a 4 KiB segment */
    for (int i = 0; i < 3 * FD_SEGMENTS; i++) {
        snprintf(key, sizeof(key), "k%06d", i);
        val[0] = (char)i;
        if (kvs_set(db, key, strlen(key), val, sizeof(val)) != KVS_OK)
            return 13;
        if (i % 120 == 119 && kvs_sync(db) != KVS_OK)
            return 14;
    }
    uint64_t segments = 0;
    if (kvs_stat(db, KVS_STAT_SEGMENTS, &segments) != KVS_OK || segments < FD_SEGMENTS)
        return 15;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (kvs_close(db) != KVS_OK)
                return 16;
            if (kvs_open(dir, o, &db) != KVS_OK)
                return 17;
        }
        for (int i = 0; i < 3 * FD_SEGMENTS; i++) {
            void *v;
            size_t vl;
            snprintf(key, sizeof(key), "k%06d", i);
            if (kvs_get(db, key, strlen(key), &v, &vl) != KVS_OK)
                return 18;
            bool same = vl == sizeof(val) && ((char *)v)[0] == (char)i;
            kvs_free(v);
            if (!same)
                return 19;
        }
    }
    kvs_options_destroy(o);
    return kvs_close(db) == KVS_OK ? 0 : 20;
}

START_TEST(more_segments_than_descriptors)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fd_limited_child(tu_dir));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "the child died (signal %d)",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ck_assert_msg(WEXITSTATUS(status) == 0, "the child failed at step %d", WEXITSTATUS(status));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("segments");
    TCase *tc = tcase_create("segments");
    tcase_add_checked_fixture(tc, tu_dir_setup, tu_dir_teardown);
    tcase_add_test(tc, names_round_trip);
    tcase_add_test(tc, header_layout);
    tcase_add_test(tc, create_append_seal_reopen);
    tcase_add_test(tc, reserve_beyond_the_mapping_is_too_big);
    tcase_add_test(tc, grow_ahead_is_adopted_and_trimmed_at_seal);
    tcase_add_test(tc, store_grows_the_active_segment_ahead);
    tcase_add_test(tc, short_or_zero_files_are_empty_segments);
    tcase_add_test(tc, hint_round_trip);
    tcase_add_test(tc, hint_checked_against_its_segment);
    tcase_add_test(tc, more_segments_than_descriptors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
