/* Backups for SAVE and BGSAVE; see saver.h. */
#include "saver.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

/* A backup whose name is taken (the clock went back) gets "-1" .. "-9". */
#define NAME_ATTEMPTS 10

/* What a SAVE caller waits on; lives on its stack while it waits. */
struct save_wait {
    bool done;
    int rc;
    int err; /* errno of a KVS_EIO */
};

struct saver {
    kvs_t *db;
    char *dir;               /* NULL: disabled */
    pthread_mutex_t lock;
    pthread_cond_t cond;     /* broadcast when a backup ends or on interrupt */
    pthread_t thread;
    bool joinable;           /* thread started and not joined */
    bool running;
    bool interrupted;        /* shutting down */
    struct timespec began;   /* of the running backup (monotonic) */
    struct save_wait *waiter;
    struct saver_status st;
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dir made absolute whether or not it exists yet (its parent must); NULL if not. */
static char *absolute(const char *dir)
{
    char *abs = realpath(dir, NULL);
    if (abs || errno != ENOENT)
        return abs;
    char *copy = strdup(dir), *slash = copy ? strrchr(copy, '/') : NULL;
    const char *parent = !slash ? "." : slash == copy ? "/" : copy;
    const char *base = slash ? slash + 1 : copy;
    if (slash && slash != copy)
        *slash = '\0';
    char *p = copy && *base ? realpath(parent, NULL) : NULL;
    size_t n = p ? strlen(p) + strlen(base) + 2 : 0;
    abs = p ? malloc(n) : NULL;
    if (abs)
        snprintf(abs, n, "%s/%s", strcmp(p, "/") ? p : "", base);
    free(p);
    free(copy);
    return abs;
}

char *saver_prepare_dir(const char *dir, const char *data_dir_abs)
{
    char *abs = absolute(dir);
    if (!abs) {
        fprintf(stderr, "kvs-server: --backup-dir: cannot resolve '%s': %s\n", dir,
                strerror(errno));
        return NULL;
    }
    size_t n = data_dir_abs ? strlen(data_dir_abs) : 0;
    if (n && strncmp(abs, data_dir_abs, n) == 0 && (abs[n] == '\0' || abs[n] == '/')) {
        fprintf(stderr, "kvs-server: --backup-dir: '%s' is inside the data directory; "
                        "choose a directory outside it\n", abs);
        free(abs);
        return NULL;
    }
    struct stat sb;
    if (mkdir(abs, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "kvs-server: --backup-dir: cannot create '%s': %s\n", abs,
                strerror(errno));
        free(abs);
        return NULL;
    }
    if (stat(abs, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "kvs-server: --backup-dir: '%s' is not a directory\n", abs);
        free(abs);
        return NULL;
    }
    return abs;
}

struct saver *saver_create(kvs_t *db, const char *backup_dir, time_t started)
{
    struct saver *sv = calloc(1, sizeof(*sv));
    if (!sv)
        return NULL;
    sv->db = db;
    if (backup_dir && !(sv->dir = strdup(backup_dir))) {
        free(sv);
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sv->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&sv->lock, NULL);
    sv->st = (struct saver_status){.enabled = backup_dir != NULL, .last_ok = true,
                                   .last_save = started, .last_secs = -1, .current_secs = -1};
    return sv;
}

/* "<dir>/backup-20241127T164016.681Z" (UTC), with "-<attempt>" after the first. */
static void backup_name(const struct saver *sv, const struct timespec *now, int attempt,
                        char *out, size_t n)
{
    struct tm tm;
    char stamp[32];
    gmtime_r(&now->tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
    char suffix[8] = "";
    if (attempt)
        snprintf(suffix, sizeof(suffix), "-%d", attempt);
    snprintf(out, n, "%s/backup-%s.%03ldZ%s", sv->dir, stamp, now->tv_nsec / 1000000, suffix);
}

/* One backup under a fresh name; the name used goes to path. */
static int backup_once(struct saver *sv, char *path, size_t n)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int rc = KVS_EEXIST;
    for (int attempt = 0; attempt < NAME_ATTEMPTS && rc == KVS_EEXIST; attempt++) {
        backup_name(sv, &now, attempt, path, n);
        rc = kvs_backup(sv->db, path);
    }
    return rc;
}

static void format_failure(int rc, int err, char *msg, size_t n)
{
    snprintf(msg, n, "backup failed: %s%s%s", kvs_strerror(rc), rc == KVS_EIO ? ": " : "",
             rc == KVS_EIO ? strerror(err) : "");
}

/* Record the outcome. Caller holds the lock. */
static void finish_locked(struct saver *sv, int rc, int err, const char *path, long long ms)
{
    sv->running = false;
    sv->st.in_progress = false;
    sv->st.current_secs = -1;
    sv->st.last_ok = rc == KVS_OK;
    sv->st.last_secs = ms / 1000;
    if (rc == KVS_OK) {
        sv->st.last_save = time(NULL);
        sv->st.saves++;
        snprintf(sv->st.last_path, sizeof(sv->st.last_path), "%s", path);
    }
    if (sv->waiter) {
        *sv->waiter = (struct save_wait){.done = true, .rc = rc, .err = err};
        sv->waiter = NULL;
    }
    pthread_cond_broadcast(&sv->cond);
}

static void *saver_main(void *arg)
{
    struct saver *sv = arg;
    char path[PATH_MAX];
    long long t0 = mono_ms();
    int rc = backup_once(sv, path, sizeof(path));
    int err = errno;
    long long ms = mono_ms() - t0;
    if (rc == KVS_OK) {
        log_msg(LL_INFO, "backup %s done in %lld ms", path, ms);
    } else {
        char msg[256];
        format_failure(rc, err, msg, sizeof(msg));
        log_msg(LL_ERROR, "%s (to %s)", msg, path);
    }
    pthread_mutex_lock(&sv->lock);
    finish_locked(sv, rc, err, path, ms);
    pthread_mutex_unlock(&sv->lock);
    return NULL;
}

/* Start the thread. Caller holds the lock. */
static enum saver_result start_locked(struct saver *sv, struct save_wait *waiter, char *msg,
                                      size_t n)
{
    if (!sv->dir)
        return SAVER_DISABLED;
    if (sv->interrupted)
        return SAVER_SHUTDOWN;
    if (sv->running)
        return SAVER_BUSY;
    if (sv->joinable) { /* the last backup's thread has ended or is just ending */
        pthread_join(sv->thread, NULL);
        sv->joinable = false;
    }
    sv->running = true;
    sv->waiter = waiter;
    clock_gettime(CLOCK_MONOTONIC, &sv->began);
    int rc = pthread_create(&sv->thread, NULL, saver_main, sv);
    if (rc != 0) {
        sv->running = false;
        sv->waiter = NULL;
        snprintf(msg, n, "cannot start the backup thread: %s", strerror(rc));
        return SAVER_FAILED;
    }
    sv->joinable = true;
    sv->st.in_progress = true;
    return SAVER_STARTED;
}

enum saver_result saver_start(struct saver *sv, char *msg, size_t n)
{
    pthread_mutex_lock(&sv->lock);
    enum saver_result r = start_locked(sv, NULL, msg, n);
    pthread_mutex_unlock(&sv->lock);
    if (r == SAVER_STARTED)
        log_msg(LL_INFO, "background backup started");
    return r;
}

enum saver_result saver_save(struct saver *sv, char *msg, size_t n)
{
    struct save_wait w = {0};
    pthread_mutex_lock(&sv->lock);
    enum saver_result r = start_locked(sv, &w, msg, n);
    while (r == SAVER_STARTED && !w.done && !sv->interrupted)
        pthread_cond_wait(&sv->cond, &sv->lock);
    if (r == SAVER_STARTED && !w.done) {
        sv->waiter = NULL; /* the thread must not write to w any more */
        r = SAVER_INTERRUPTED;
    } else if (r == SAVER_STARTED) {
        r = w.rc == KVS_OK ? SAVER_OK : SAVER_FAILED;
        if (w.rc != KVS_OK)
            format_failure(w.rc, w.err, msg, n);
    }
    pthread_mutex_unlock(&sv->lock);
    return r;
}

void saver_status(struct saver *sv, struct saver_status *st)
{
    pthread_mutex_lock(&sv->lock);
    *st = sv->st;
    if (sv->running) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        st->current_secs = (long long)(now.tv_sec - sv->began.tv_sec);
    }
    pthread_mutex_unlock(&sv->lock);
}

void saver_interrupt(struct saver *sv)
{
    pthread_mutex_lock(&sv->lock);
    sv->interrupted = true;
    pthread_cond_broadcast(&sv->cond);
    pthread_mutex_unlock(&sv->lock);
}

bool saver_finish(struct saver *sv, int timeout_ms)
{
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&sv->lock);
    sv->interrupted = true;
    if (sv->running)
        log_msg(LL_INFO, "waiting up to %d s for the running backup", timeout_ms / 1000);
    int rc = 0;
    while (sv->running && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&sv->cond, &sv->lock, &end);
    bool idle = !sv->running;
    if (idle && sv->joinable) {
        pthread_join(sv->thread, NULL);
        sv->joinable = false;
    }
    pthread_mutex_unlock(&sv->lock);
    return idle;
}

void saver_destroy(struct saver *sv)
{
    if (!sv)
        return;
    pthread_cond_destroy(&sv->cond);
    pthread_mutex_destroy(&sv->lock);
    free(sv->dir);
    free(sv);
}
