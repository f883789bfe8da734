/* Shared test helpers (see testutil.h). */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *tu_dir;

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl;
    if (asprintf(&tmpl, "%s/kvs-test-XXXXXX", base && *base ? base : "/tmp") < 0)
        return NULL;
    if (!mkdtemp(tmpl)) {
        free(tmpl);
        return NULL;
    }
    return tmpl;
}

void tu_rmdir(char *dir)
{
    if (!dir)
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char *p = tu_path(dir, de->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                tu_rmdir(strdup(p));
            else
                unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

void tu_dir_setup(void)
{
    tu_dir = tu_tmpdir();
    ck_assert_ptr_nonnull(tu_dir);
}

void tu_dir_teardown(void)
{
    tu_rmdir(tu_dir);
    tu_dir = NULL;
}

int tu_slow_syncs(enum kvs_io_op op, void *ctx)
{
    (void)ctx;
    if (op == KVS_IO_SYNC)
        usleep(2000);
    return 0;
}

double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t tu_seed(void)
{
    static uint64_t seed;
    if (!seed) {
        const char *env = getenv("KVS_TEST_SEED");
        seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        if (!seed)
            seed = 1;
        fprintf(stderr, "KVS_TEST_SEED=%llu\n", (unsigned long long)seed);
    }
    return seed;
}

uint64_t tu_rand(uint64_t *state)
{
    /* splitmix64: tiny, good enough for test data */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tu_fill(uint64_t *state, void *buf, size_t len)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = tu_rand(state);
        memcpy(p + i, &r, len - i < 8 ? len - i : 8);
    }
}

kvs_t *tu_open(const char *dir, kvs_sync_t sync, size_t segment_bytes)
{
    return tu_open_trigger(dir, sync, segment_bytes, 0);
}

kvs_t *tu_open_trigger(const char *dir, kvs_sync_t sync, size_t segment_bytes, unsigned trigger)
{
    kvs_options_t *o = kvs_options_create();
    ck_assert_ptr_nonnull(o);
    kvs_options_set_sync(o, sync);
    if (segment_bytes)
        ck_assert_kvs(kvs_options_set_segment_size(o, segment_bytes), KVS_OK);
    if (trigger)
        ck_assert_kvs(kvs_options_set_compaction_trigger(o, trigger), KVS_OK);
    kvs_t *db = NULL;
    int rc = kvs_open(dir, o, &db);
    kvs_options_destroy(o);
    ck_assert_msg(rc == KVS_OK, "kvs_open(%s): %s", dir, kvs_strerror(rc));
    return db;
}

char *tu_path(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

long tu_file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (long)st.st_size;
}

void tu_truncate(const char *path, long len)
{
    ck_assert_int_eq(truncate(path, len), 0);
}

void tu_flip_byte(const char *path, long offset)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    unsigned char b;
    ck_assert_int_eq(pread(fd, &b, 1, offset), 1);
    b ^= 0xFF;
    ck_assert_int_eq(pwrite(fd, &b, 1, offset), 1);
    close(fd);
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

int tu_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += has_suffix(de->d_name, suffix);
    closedir(d);
    return n;
}

char *tu_last_file(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char best[256] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (has_suffix(de->d_name, suffix) && strcmp(de->d_name, best) > 0 &&
            strlen(de->d_name) < sizeof(best))
            strcpy(best, de->d_name);
    closedir(d);
    return best[0] ? tu_path(dir, best) : NULL;
}

void tu_remove_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (has_suffix(de->d_name, suffix)) {
            char *p = tu_path(dir, de->d_name);
            unlink(p);
            free(p);
        }
    closedir(d);
}

long tu_dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    long total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *p = tu_path(dir, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            total += (long)st.st_size;
        free(p);
    }
    closedir(d);
    return total;
}

uint32_t tu_kill_after_acks(pid_t pid, int fd, uint32_t want, uint32_t *last)
{
    uint32_t got = 0;
    *last = 0;
    while (got < want && read(fd, last, sizeof(*last)) == sizeof(*last))
        got++;
    kill(pid, SIGKILL);
    while (read(fd, last, sizeof(*last)) == sizeof(*last))
        got++;
    close(fd);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    /* it must have been killed, not have stopped on an error of its own */
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child stopped by itself (exit status %d)", WEXITSTATUS(status));
    return got;
}

int tu_run(Suite *s)
{
    /* No core files from tests that kill children on purpose. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    tu_seed();
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- store helpers ---- */

kvs_t *tu_open_opts(const char *dir, int repair, int use_hints, int read_only)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    kvs_options_set_repair(o, repair);
    kvs_options_set_use_hints(o, use_hints);
    kvs_options_set_read_only(o, read_only);
    kvs_t *db = NULL;
    int rc = kvs_open(dir, o, &db);
    kvs_options_destroy(o);
    ck_assert_msg(rc == KVS_OK, "open: %s", kvs_strerror(rc));
    return db;
}

int tu_open_status(const char *dir, int repair)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_repair(o, repair);
    kvs_t *db = NULL;
    int rc = kvs_open(dir, o, &db);
    kvs_options_destroy(o);
    kvs_close(db);
    return rc;
}

void tu_set_str(kvs_t *db, const char *key, const char *val)
{
    ck_assert_kvs(kvs_set(db, key, strlen(key), val, strlen(val)), KVS_OK);
}

void tu_expect_value(kvs_t *db, const char *key, const char *want)
{
    void *v;
    size_t n;
    int rc = kvs_get(db, key, strlen(key), &v, &n);
    if (!want) {
        ck_assert_msg(rc == KVS_NOT_FOUND, "%s: %s, expected not found", key, kvs_strerror(rc));
        return;
    }
    ck_assert_msg(rc == KVS_OK, "%s: %s", key, kvs_strerror(rc));
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_mem_eq(v, want, n);
    kvs_free(v);
}

void tu_copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        ck_assert_int_eq(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

