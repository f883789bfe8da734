/*
 * Opening a store for a command: options from the mode, the library's log
 * on stderr, and a message for every way an open can fail that tells the
 * user what to do (a store held by a running kvs-server is the common one).
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"

/* The logger's context must live until kvs_close returns (the library may
 * log from its threads until then); the tool opens one store per run, so a
 * single static one does. */
static struct {
    const char *dir;
    bool verbose;
    open_damage_fn damage;
    void *damage_ctx;
    atomic_bool opening;
} log_state;

static void on_log(void *ctx, kvs_log_level_t level, const char *msg)
{
    (void)ctx;
    if (level == KVS_LOG_ERROR && log_state.damage && atomic_load(&log_state.opening)) {
        log_state.damage(log_state.damage_ctx, msg);
        return;
    }
    if (level == KVS_LOG_ERROR)
        fprintf(stderr, "kvs: %s: %s\n", log_state.dir, msg);
    else if (log_state.verbose)
        fprintf(stderr, "kvs: %s: %s%s\n", log_state.dir,
                level == KVS_LOG_WARN ? "warning: " : "", msg);
}

/* NNNNNNNNNN.log: a segment file (doc/FORMAT.md). */
static bool is_segment_name(const char *name)
{
    return strlen(name) == 14 && strspn(name, "0123456789") == 10 && strcmp(name + 10, ".log") == 0;
}

/* Whether dir holds a store: its LOCK file (created by the first open and
 * never deleted) or a segment (a backup has no LOCK yet). 1, 0, or -1 with errno. */
static int holds_store(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL)
        found = strcmp(e->d_name, "LOCK") == 0 || is_segment_name(e->d_name);
    closedir(d);
    return found;
}

static void open_error(const struct open_req *req, int rc, int err)
{
    const char *dir = req->dir;
    switch (rc) {
    case KVS_EBUSY:
        fprintf(stderr,
                "kvs: %s: the store is open in another process (is a kvs-server running on it?)\n",
                dir);
        break;
    case KVS_ENOENT:
        fprintf(stderr, "kvs: %s: no store in this directory\n", dir);
        break;
    case KVS_ECORRUPT:
        fprintf(stderr,
                "kvs: %s: cannot open: data on disk is corrupt (kvs check lists the damage; "
                "--repair skips damaged records)\n",
                dir);
        break;
    case KVS_EVERSION:
        fprintf(stderr, "kvs: %s: cannot open: an on-disk format libkvs %s does not know\n", dir,
                kvs_version());
        break;
    case KVS_EIO:
        fprintf(stderr, "kvs: %s: cannot open: %s\n", dir, strerror(err));
        break;
    default:
        fprintf(stderr, "kvs: %s: cannot open: %s (%s)\n", dir, kvs_strerror(rc),
                kvs_status_name(rc));
    }
}

/* A store that is not to be created must be there before the library looks. */
static int require_store(const char *dir)
{
    int has = holds_store(dir);
    if (has > 0)
        return KVS_OK;
    if (has < 0) {
        fprintf(stderr, "kvs: %s: %s\n", dir, strerror(errno));
        return KVS_EIO;
    }
    fprintf(stderr, "kvs: %s: no store in this directory\n", dir);
    return KVS_ENOENT;
}

int admin_open(const struct open_req *req, kvs_t **db)
{
    *db = NULL;
    if (req->mode != OPEN_CREATE) {
        int rc = require_store(req->dir);
        if (rc != KVS_OK)
            return rc;
    }
    kvs_options_t *o = kvs_options_create();
    if (!o) {
        fprintf(stderr, "kvs: out of memory\n");
        return KVS_ENOMEM;
    }
    kvs_options_set_read_only(o, req->mode == OPEN_READ);
    /* On even where the store must exist (require_store saw to that): a
     * store that never got a write has no segment file, and the library
     * answers KVS_ENOENT for it when this is off. A read-only open creates
     * nothing either way. */
    kvs_options_set_create_if_missing(o, 1);
    kvs_options_set_repair(o, req->repair);
    /* One run is one session: kvs_close syncs everything before the tool
     * exits, so syncing along the way would only slow a load down. */
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    log_state.dir = req->dir;
    log_state.verbose = req->verbose;
    log_state.damage = req->damage;
    log_state.damage_ctx = req->damage_ctx;
    kvs_options_set_logger(o, on_log, NULL);

    atomic_store(&log_state.opening, true);
    int rc = kvs_open(req->dir, o, db);
    int err = errno;
    atomic_store(&log_state.opening, false);
    kvs_options_destroy(o);
    /* kvs check reports a store that cannot be opened as damage itself */
    if (rc != KVS_OK && !(rc == KVS_ECORRUPT && req->damage))
        open_error(req, rc, err);
    return rc;
}

int admin_close(kvs_t *db, const char *dir)
{
    int rc = kvs_close(db);
    if (rc == KVS_OK)
        return EXIT_OK;
    int err = errno;
    fprintf(stderr, "kvs: %s: closing the store: %s\n", dir,
            rc == KVS_EIO ? strerror(err) : kvs_strerror(rc));
    return EXIT_ERROR;
}
