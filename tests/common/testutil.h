/* Shared helpers for the Check suites: temp dirs, random data, run_suite(). */
#ifndef KVS_TESTUTIL_H
#define KVS_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "io.h"
#include "kvs.h"

/* Assert a libkvs status, printing names on failure. */
#define ck_assert_kvs(rc, expected)                                                         \
    do {                                                                                    \
        int rc_ = (rc), ex_ = (expected);                                                   \
        ck_assert_msg(rc_ == ex_, "%s returned %s (%d), expected %s (%d)", #rc,             \
                      kvs_status_name(rc_), rc_, kvs_status_name(ex_), ex_);                \
    } while (0)

/* A fresh empty directory under $TMPDIR (or /tmp); removed by tu_rmdir. */
char *tu_tmpdir(void);
void tu_rmdir(char *dir);

/* The per-test directory created by tu_dir_setup (a checked fixture). */
extern char *tu_dir;
void tu_dir_setup(void);
void tu_dir_teardown(void);

/* Deterministic pseudo-random numbers; the seed comes from $KVS_TEST_SEED or
 * the time, and is printed so that a failure can be replayed. */
uint64_t tu_seed(void);
uint64_t tu_rand(uint64_t *state);
void tu_fill(uint64_t *state, void *buf, size_t len);

/* An I/O fault hook (kvs__io_set_fault) that fails nothing but makes every
 * fdatasync 2 ms slower, so that a writer outpaces the syncs. */
int tu_slow_syncs(enum kvs_io_op op, void *ctx);

/* Seconds on the monotonic clock, for time bounds in tests (never for
 * asserting how fast something was). */
double tu_now(void);

/* Open with KVS_SYNC_NONE and the given options (asserts success). */
kvs_t *tu_open_opts(const char *dir, int repair, int use_hints, int read_only);
/* The status of kvs_open with the repair option as given (the store is
 * closed again if it opened). */
int tu_open_status(const char *dir, int repair);
/* kvs_set of C strings (asserts KVS_OK). */
void tu_set_str(kvs_t *db, const char *key, const char *val);
/* Assert key holds want (NULL: assert it is absent). */
void tu_expect_value(kvs_t *db, const char *key, const char *want);
/* Copy a file (asserts success). */
void tu_copy_file(const char *from, const char *to);

/* Open with small segments and no background sync, for fast tests. */
kvs_t *tu_open(const char *dir, kvs_sync_t sync, size_t segment_bytes);
/* The same with a compaction trigger in percent (0: the default). */
kvs_t *tu_open_trigger(const char *dir, kvs_sync_t sync, size_t segment_bytes, unsigned trigger);

/* Path of a file in a directory (static buffer per call site is not safe;
 * returns malloc'ed memory). */
char *tu_path(const char *dir, const char *name);

/* File helpers for damaging stores on purpose. */
long tu_file_size(const char *path);
void tu_truncate(const char *path, long len);
void tu_flip_byte(const char *path, long offset);
int tu_count_files(const char *dir, const char *suffix);
/* The newest (highest numbered) file with the suffix; malloc'ed path or NULL. */
char *tu_last_file(const char *dir, const char *suffix);
void tu_remove_files(const char *dir, const char *suffix);

/* Bytes of all regular files in dir. */
long tu_dir_bytes(const char *dir);

/* A child reports each acknowledged write as a uint32_t on the pipe fd. Read
 * until it acknowledged `want` of them (or stopped), SIGKILL it, read what it
 * acknowledged before the signal landed, reap it (it must have died of the
 * signal, not stopped on an error of its own). Returns the number of
 * acknowledgements and stores the last one in *last. */
uint32_t tu_kill_after_acks(pid_t pid, int fd, uint32_t want, uint32_t *last);

/* Run a suite (CK_ENV verbosity), return the process exit code. */
int tu_run(Suite *s);

#endif
