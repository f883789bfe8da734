/*
 * Backups for SAVE and BGSAVE: kvs_backup() into a new, timestamped
 * directory under --backup-dir, on a thread of its own, one at a time.
 *
 * libkvs makes the copy online (sealed segments are hard-linked, the active
 * one copied up to the moment of the backup; readers and writers go on) and
 * atomically (built in a temporary directory that is renamed into place), so
 * a backup directory either holds a complete store or does not exist.
 * BGSAVE starts the thread and returns; SAVE starts it and waits. A backup
 * cannot be interrupted: at shutdown the server waits for a running one, up
 * to a bound (saver_finish).
 */
#ifndef KVS_SERVER_SAVER_H
#define KVS_SERVER_SAVER_H

#include <kvs.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct saver;

enum saver_result {
    SAVER_OK,          /* SAVE: the backup is complete */
    SAVER_STARTED,     /* BGSAVE: the backup runs in the background */
    SAVER_BUSY,        /* a backup is already running */
    SAVER_DISABLED,    /* no --backup-dir */
    SAVER_SHUTDOWN,    /* the server is stopping: no new backup */
    SAVER_FAILED,      /* the backup (or starting its thread) failed: see the message */
    SAVER_INTERRUPTED  /* SAVE stopped waiting because the server is stopping */
};

/* What INFO persistence and LASTSAVE report. */
struct saver_status {
    bool enabled;            /* --backup-dir given */
    bool in_progress;
    bool last_ok;            /* the last backup succeeded (true before the first) */
    time_t last_save;        /* unix time of the last successful backup; the start time before */
    long long last_secs;     /* how long the last backup took; -1 before the first */
    long long current_secs;  /* how long the running one has been going; -1 if none */
    uint64_t saves;          /* successful backups since start */
    char last_path[PATH_MAX]; /* the last successful backup's directory, or "" */
};

/*
 * Check --backup-dir: create it if missing (one level), make it absolute,
 * and refuse the data directory itself or a directory inside it. Returns
 * the absolute path (malloc'd), or NULL after printing why to stderr.
 */
char *saver_prepare_dir(const char *dir, const char *data_dir_abs);

/* A saver for db writing under backup_dir (absolute; NULL: backups disabled).
 * started is reported as the last save time until the first backup. */
struct saver *saver_create(kvs_t *db, const char *backup_dir, time_t started);

/* BGSAVE. On SAVER_FAILED, msg (n bytes) says why. */
enum saver_result saver_start(struct saver *sv, char *msg, size_t n);

/* SAVE: start a backup and wait for it. On SAVER_FAILED, msg says why. */
enum saver_result saver_save(struct saver *sv, char *msg, size_t n);

void saver_status(struct saver *sv, struct saver_status *st);

/* Shutdown, first step: refuse new backups and release SAVE waiters. */
void saver_interrupt(struct saver *sv);

/* Shutdown: wait up to timeout_ms for a running backup. True when none runs
 * any more (the saver may be destroyed); false if one is still running. */
bool saver_finish(struct saver *sv, int timeout_ms);

/* Only after saver_finish() returned true (or no backup ever ran). */
void saver_destroy(struct saver *sv);

#endif
