/*
 * kvs compact and kvs backup: the library's maintenance calls on a store
 * that no process has open. compact says what it won: segment files and
 * bytes in the directory before the open and after the close (the handle's
 * own statistics would count the fresh active segment the open starts and
 * the close removes); with --repair the open skips damaged records and the
 * compaction rewrites their segments without them, which is how a damaged
 * store is mended. backup opens the source read-only: kvs_backup() needs
 * no write access, and a backup must never change what it copies.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"

struct usage {
    uint64_t segments; /* NNNNNNNNNN.log files */
    uint64_t bytes;    /* of all the regular files */
};

/* What the store takes in its directory; all zero if it cannot be read. */
static struct usage dir_usage(const char *dir)
{
    struct usage u = {0};
    DIR *d = opendir(dir);
    if (!d)
        return u;
    struct dirent *e;
    struct stat st;
    while ((e = readdir(d)) != NULL) {
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        u.bytes += (uint64_t)st.st_size;
        size_t n = strlen(e->d_name);
        u.segments += n > 4 && strcmp(e->d_name + n - 4, ".log") == 0;
    }
    closedir(d);
    return u;
}

int cmd_compact(const struct args *a)
{
    kvs_t *db;
    struct open_req req = {.dir = a->dir,
                           .mode = OPEN_WRITE,
                           .repair = (a->given & OPT_REPAIR) != 0,
                           .verbose = (a->given & OPT_VERBOSE) != 0};
    struct usage before = dir_usage(a->dir);
    if (admin_open(&req, &db) != KVS_OK)
        return EXIT_ERROR;
    int rc = kvs_compact(db);
    int status = EXIT_OK;
    if (rc != KVS_OK) {
        admin_status_error("compact", rc);
        status = EXIT_ERROR;
    }
    if (admin_close(db, a->dir) != EXIT_OK)
        status = EXIT_ERROR;
    struct usage after = dir_usage(a->dir);
    if (status == EXIT_OK)
        printf("segments %" PRIu64 " -> %" PRIu64 ", bytes %" PRIu64 " -> %" PRIu64 "\n",
               before.segments, after.segments, before.bytes, after.bytes);
    return admin_flush_stdout() == EXIT_OK ? status : EXIT_ERROR;
}

int cmd_backup(const struct args *a)
{
    const char *dest = a->pos[0];
    kvs_t *db;
    struct open_req req = {.dir = a->dir,
                           .mode = OPEN_READ,
                           .verbose = (a->given & OPT_VERBOSE) != 0};
    if (admin_open(&req, &db) != KVS_OK)
        return EXIT_ERROR;
    int rc = kvs_backup(db, dest);
    int status = EXIT_OK;
    if (rc == KVS_EEXIST) {
        fprintf(stderr, "kvs: backup: %s exists and is not an empty directory\n", dest);
        status = EXIT_ERROR;
    } else if (rc != KVS_OK) {
        char context[300];
        snprintf(context, sizeof(context), "backup to %s", dest);
        admin_status_error(context, rc);
        status = EXIT_ERROR;
    }
    if (admin_close(db, a->dir) != EXIT_OK)
        status = EXIT_ERROR;
    return status;
}
