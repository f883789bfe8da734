/*
 * A disk that is really full: a store on a 16 MiB tmpfs, and on a 24 MiB
 * ext4 file system on a loop device, mounted in a mount namespace of the
 * test's own (so that nothing outlives it). Exit 77 (skipped) when neither
 * can be mounted (not root, no CAP_SYS_ADMIN).
 *
 * Per file system and sync mode: write until writes fail; each failure is
 * KVS_EIO with errno ENOSPC, nothing crashes, and everything acknowledged
 * reads back; compaction on the full disk does not take space it does not
 * give back, nor lose anything; once space is freed, the same handle (or,
 * if a failed sync made it refuse writes, a reopened one) takes writes
 * again, compacts, closes, and a reopen holds every acknowledged write.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/testutil.h"

#define MAX_KEYS 20000

/* Segments of the stores under test. */
enum { SEGMENT_BYTES = 1 << 20 };

static char *root;                 /* holds the mount points */
static char *fs_dir[2];            /* mounted tmpfs, ext4 (NULL if not there) */
static const char *const fs_name[2] = {"tmpfs", "ext4"};

/* ---- mounts ---- */

static int mount_tmpfs(const char *dir)
{
    return mount("tmpfs", dir, "tmpfs", 0, "size=16m");
}

/* An ext4 image on a loop device that goes away with its last mount. */
static int mount_ext4(const char *dir, const char *image)
{
    int fd = open(image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, 24 << 20) != 0)
        return -1;
    close(fd);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -m 0 %s >/dev/null 2>&1", image);
    if (system(cmd) != 0)
        return -1;
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return -1;
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    close(ctl);
    if (n < 0)
        return -1;
    char dev[32];
    snprintf(dev, sizeof(dev), "/dev/loop%d", n);
    int lfd = open(dev, O_RDWR | O_CLOEXEC);
    int ifd = open(image, O_RDWR | O_CLOEXEC);
    int rc = -1;
    if (lfd >= 0 && ifd >= 0 && ioctl(lfd, LOOP_SET_FD, ifd) == 0) {
        struct loop_info64 info;
        memset(&info, 0, sizeof(info));
        info.lo_flags = LO_FLAGS_AUTOCLEAR;
        if (ioctl(lfd, LOOP_SET_STATUS64, &info) == 0 && mount(dev, dir, "ext4", 0, NULL) == 0)
            rc = 0;
        else
            ioctl(lfd, LOOP_CLR_FD, 0);
    }
    if (ifd >= 0)
        close(ifd);
    if (lfd >= 0)
        close(lfd);
    unlink(image); /* the loop device holds it */
    return rc;
}

/* A private mount namespace, and the file systems in it. Returns how many
 * could be mounted. */
static int setup(void)
{
    if (unshare(CLONE_NEWNS) != 0) {
        fprintf(stderr, "diskfull: no mount namespace (%s): skipped\n", strerror(errno));
        return 0;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "diskfull: cannot make mounts private (%s): skipped\n", strerror(errno));
        return 0;
    }
    root = tu_tmpdir();
    if (!root)
        return 0;
    int mounted = 0;
    for (int i = 0; i < 2; i++) {
        char *d = tu_path(root, fs_name[i]);
        char *img = tu_path(root, "ext4.img");
        if (mkdir(d, 0755) == 0 && (i == 0 ? mount_tmpfs(d) : mount_ext4(d, img)) == 0) {
            fs_dir[i] = d;
            mounted++;
        } else {
            fprintf(stderr, "diskfull: no %s here (%s)\n", fs_name[i], strerror(errno));
            rmdir(d);
            free(d);
        }
        free(img);
    }
    return mounted;
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++)
        if (fs_dir[i]) {
            umount2(fs_dir[i], MNT_DETACH);
            rmdir(fs_dir[i]);
            free(fs_dir[i]);
        }
    if (root)
        tu_rmdir(root);
}

/* ---- what was acknowledged ---- */

struct known {
    uint32_t version[MAX_KEYS]; /* acknowledged value, 0 none */
    uint32_t failed[MAX_KEYS];  /* a failed write that may have landed, 0 none */
    int nkeys;
};

static size_t value_len(int key, uint32_t version)
{
    return 500 + ((unsigned)key * 7919u + version * 104729u) % 7500;
}

static void value_of(int key, uint32_t version, char *buf, size_t len)
{
    uint64_t st = ((uint64_t)key << 32) | version;
    tu_fill(&st, buf, len);
    memcpy(buf, &version, sizeof(version));
}

static int put(kvs_t *db, struct known *k, int key, uint32_t version)
{
    char name[16], *v;
    size_t len = value_len(key, version);
    v = malloc(len);
    snprintf(name, sizeof(name), "d%06d", key);
    value_of(key, version, v, len);
    errno = 0;
    int rc = kvs_set(db, name, strlen(name), v, len);
    free(v);
    if (rc == KVS_OK) {
        k->version[key] = version;
        k->failed[key] = 0;
    } else {
        k->failed[key] = version;
    }
    if (key >= k->nkeys)
        k->nkeys = key + 1;
    return rc;
}

/* Every acknowledged value is there (or a later write that failed but may
 * have landed); no value that was not written. */
static void check_all(kvs_t *db, const struct known *k, const char *when)
{
    char *want = malloc(8192);
    for (int key = 0; key < k->nkeys; key++) {
        char name[16];
        snprintf(name, sizeof(name), "d%06d", key);
        void *got;
        size_t len;
        int rc = kvs_get(db, name, strlen(name), &got, &len);
        if (rc == KVS_NOT_FOUND) {
            ck_assert_msg(k->version[key] == 0, "%s: %s lost", when, name);
            continue;
        }
        ck_assert_msg(rc == KVS_OK, "%s: %s: %s", when, name, kvs_strerror(rc));
        uint32_t v = 0;
        memcpy(&v, got, len >= sizeof(v) ? sizeof(v) : 0);
        ck_assert_msg(v != 0 && (v == k->version[key] || v == k->failed[key]),
                      "%s: %s holds version %u, acknowledged %u", when, name, v,
                      k->version[key]);
        size_t wl = value_len(key, v);
        value_of(key, v, want, wl);
        ck_assert_msg(len == wl && memcmp(got, want, wl) == 0, "%s: %s: wrong bytes", when, name);
        kvs_free(got);
    }
    free(want);
}

static uint64_t free_bytes(const char *dir)
{
    struct statvfs sv;
    ck_assert_int_eq(statvfs(dir, &sv), 0);
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static void logger(void *ctx, kvs_log_level_t level, const char *msg)
{
    (void)ctx;
    if (level <= KVS_LOG_WARN && getenv("KVS_DISKFULL_LOG"))
        fprintf(stderr, "  kvs: %s\n", msg);
}

static kvs_t *open_store(const char *dir, kvs_sync_t mode, unsigned trigger)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_logger(o, logger, NULL);
    kvs_options_set_sync(o, mode);
    ck_assert_kvs(kvs_options_set_segment_size(o, SEGMENT_BYTES), KVS_OK);
    ck_assert_kvs(kvs_options_set_compaction_trigger(o, trigger), KVS_OK);
    kvs_t *db = NULL;
    int rc = kvs_open(dir, o, &db);
    kvs_options_destroy(o);
    ck_assert_msg(rc == KVS_OK, "kvs_open: %s (%s)", kvs_strerror(rc), strerror(errno));
    return db;
}

/* ---- the scenario ---- */

/* Wait until the free space and the store's files have not changed for
 * 2 s (at most 30 s). */
static void wait_until_quiet(const char *mnt, const char *dir)
{
    uint64_t last_free = 0;
    int last_files = -1;
    double quiet_since = tu_now(), give_up = tu_now() + 30.0;
    while (tu_now() < give_up) {
        uint64_t f = free_bytes(mnt);
        int files = tu_count_files(dir, "");
        if (f != last_free || files != last_files) {
            last_free = f;
            last_files = files;
            quiet_since = tu_now();
        } else if (tu_now() - quiet_since >= 2.0) {
            return;
        }
        usleep(100 * 1000);
    }
}

static void fill_and_recover(int fs, kvs_sync_t mode, unsigned trigger)
{
    if (!fs_dir[fs])
        return;
    const char *mnt = fs_dir[fs];
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/*", mnt); /* what an earlier test left */
    ck_assert_int_eq(system(cmd), 0);
    char *dir = tu_path(mnt, "db"), *ballast = tu_path(mnt, "ballast");
    /* space to give back later: 3 MiB of real data (a compaction round
     * needs the copies of its inputs plus one growth step of its output) */
    int bfd = open(ballast, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(bfd, 0);
    char *chunk = calloc(1, 1 << 20);
    memset(chunk, 'b', 1 << 20);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(write(bfd, chunk, 1 << 20), 1 << 20);
    ck_assert_int_eq(fsync(bfd), 0);
    close(bfd);
    free(chunk);

    static struct known k;
    memset(&k, 0, sizeof(k));
    kvs_t *db = open_store(dir, mode, trigger);
    /* new keys, and every third write an overwrite (garbage to compact) */
    uint32_t version = 1;
    int failures = 0, acked = 0, key = 0;
    for (int i = 0; i < 3 * MAX_KEYS && failures < 30; i++) {
        int target = i % 3 == 2 && key > 0 ? (int)((unsigned)i * 2654435761u % (unsigned)key)
                                          : key++;
        if (key >= MAX_KEYS)
            break;
        int rc = put(db, &k, target, version++);
        if (rc == KVS_OK) {
            acked++;
            continue;
        }
        ck_assert_msg(rc == KVS_EIO, "a write on a full disk returned %s", kvs_status_name(rc));
        ck_assert_msg(errno == ENOSPC, "a write on a full disk failed with errno %d (%s)", errno,
                      strerror(errno));
        failures++;
    }
    ck_assert_msg(failures > 0, "%s: the disk never filled (%d writes)", fs_name[fs], acked);
    check_all(db, &k, "full disk");

    /* compaction on the full disk: no worse off afterwards. The background
     * thread may still be writing hints (a few per round) or running an
     * idle compaction (a second after the last write): measure once it is
     * done, or what it does counts as kvs_compact's. */
    wait_until_quiet(mnt, dir);
    uint64_t before = free_bytes(mnt);
    errno = 0;
    int rc = kvs_compact(db);
    ck_assert_msg(rc == KVS_OK || rc == KVS_EIO, "kvs_compact on a full disk: %s",
                  kvs_status_name(rc));
    uint64_t after = free_bytes(mnt);
    fprintf(stderr, "diskfull %s %s: %d writes, then %d failed; compaction on the full disk: "
                    "%s, free %llu -> %llu bytes\n",
            fs_name[fs], mode == KVS_SYNC_ALWAYS ? "always" : "interval", acked, failures,
            kvs_status_name(rc), (unsigned long long)before, (unsigned long long)after);
    /* kvs_compact seals the active segment (so that its garbage is
     * compacted too) and starts a new one, whose first growth step (here a
     * whole 1 MiB segment) is reserved for the writes to come, when it fits;
     * an idle compaction just before leaves room for it. Anything beyond that
     * step (and a few blocks of hints and file system metadata) would be
     * copies kept. */
    ck_assert_msg(after + SEGMENT_BYTES + 64 * 1024 >= before,
                  "compaction on the full disk took %llu bytes it kept",
                  (unsigned long long)(before - after));
    check_all(db, &k, "after compaction on the full disk");

    /* space back: the same handle writes again, or says why not */
    ck_assert_int_eq(unlink(ballast), 0);
    int next = k.nkeys;
    rc = put(db, &k, next, version++);
    uint64_t failed = 0;
    ck_assert_kvs(kvs_stat(db, KVS_STAT_WRITE_FAILED, &failed), KVS_OK);
    if (rc != KVS_OK) {
        ck_assert_msg(rc == KVS_EIO && failed == 1,
                      "with space back, a write returns %s (write_failed %llu)",
                      kvs_status_name(rc), (unsigned long long)failed);
        kvs_close(db);
        db = open_store(dir, mode, trigger);
        check_all(db, &k, "reopened");
    }
    for (int i = 0; i < 20; i++)
        ck_assert_kvs(put(db, &k, k.nkeys, version++), KVS_OK);
    fprintf(stderr, "  space back: %llu bytes free\n", (unsigned long long)free_bytes(mnt));
    ck_assert_kvs(kvs_compact(db), KVS_OK);
    check_all(db, &k, "space back");
    ck_assert_kvs(kvs_close(db), KVS_OK);
    db = open_store(dir, mode, trigger);
    check_all(db, &k, "reopened at the end");
    ck_assert_kvs(kvs_verify(db, NULL, NULL), KVS_OK);
    ck_assert_kvs(kvs_close(db), KVS_OK);
    tu_rmdir(dir);
    free(ballast);
}


START_TEST(full_tmpfs_interval)
{
    fill_and_recover(0, KVS_SYNC_INTERVAL, 100);
}
END_TEST

START_TEST(full_tmpfs_always)
{
    fill_and_recover(0, KVS_SYNC_ALWAYS, 100);
}
END_TEST

START_TEST(full_tmpfs_background_compaction)
{
    fill_and_recover(0, KVS_SYNC_INTERVAL, 20);
}
END_TEST

START_TEST(full_ext4_interval)
{
    fill_and_recover(1, KVS_SYNC_INTERVAL, 100);
}
END_TEST

START_TEST(full_ext4_always)
{
    fill_and_recover(1, KVS_SYNC_ALWAYS, 100);
}
END_TEST

START_TEST(full_ext4_background_compaction)
{
    fill_and_recover(1, KVS_SYNC_INTERVAL, 20);
}
END_TEST

static Suite *diskfull_suite(void)
{
    Suite *s = suite_create("diskfull");
    TCase *tc = tcase_create("tmpfs");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, full_tmpfs_interval);
    tcase_add_test(tc, full_tmpfs_always);
    tcase_add_test(tc, full_tmpfs_background_compaction);
    suite_add_tcase(s, tc);
    tc = tcase_create("ext4");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, full_ext4_interval);
    tcase_add_test(tc, full_ext4_always);
    tcase_add_test(tc, full_ext4_background_compaction);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (setup() == 0) {
        teardown();
        return 77;
    }
    int rc = tu_run(diskfull_suite());
    teardown();
    return rc;
}
