/*
 * kvs_backup: a consistent copy of an open store, made while it is used.
 *
 * The moment of the copy is taken with compaction paused (compact_mutex)
 * and the writer stopped for an instant (write_mutex): the segment list,
 * and how far the active segment is written. Sealed segments never change,
 * so they are hard-linked (copied where the file system refuses links);
 * the active segment's records up to that point are copied, and the copy
 * opens like a store after a crash (its last segment has no SEAL: recovery
 * seals it). Everything goes into a temporary directory beside the
 * destination, synced, then renamed onto it: a backup that fails leaves no
 * directory that looks like a store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compact.h"
#include "io.h"
#include "lock.h"
#include "store.h"

/* One segment to copy: referenced, with the length to take. */
struct part {
    struct kvs_segment *seg;
    uint64_t len;
    bool link; /* sealed and whole: a hard link will do */
};

/* The destination may be absent or an empty directory. */
static int check_destination(const char *dest)
{
    struct stat st;
    if (kvs__io_stat(AT_FDCWD, dest, &st) < 0)
        return errno == ENOENT ? KVS_OK : KVS_EIO;
    if (!S_ISDIR(st.st_mode))
        return KVS_EEXIST;
    int fd = kvs__io_open_dir(dest);
    struct kvs_io_dir *d = fd >= 0 ? kvs__io_dir_open(fd) : NULL;
    int rc = d ? KVS_OK : KVS_EIO;
    if (d) {
        errno = 0;
        if (kvs__io_dir_next(d))
            rc = KVS_EEXIST;
        else if (errno)
            rc = KVS_EIO;
    }
    kvs__io_dir_close(d);
    if (fd >= 0)
        kvs__io_close(fd);
    return rc;
}

/* The segments of this moment, referenced. */
static int take_moment(struct kvs *db, struct part **out, size_t *n)
{
    pthread_mutex_lock(&db->write_mutex);
    pthread_mutex_lock(&db->seg_mutex);
    int rc = KVS_OK;
    struct part *parts = calloc(db->nsegs ? db->nsegs : 1, sizeof(*parts));
    if (!parts)
        rc = KVS_ENOMEM;
    for (size_t i = 0; parts && i < db->nsegs; i++) {
        struct kvs_segment *s = db->segs[i];
        kvs__seg_ref(s);
        parts[i].seg = s;
        /* the writer is stopped: the active tail is stable right now */
        parts[i].len = s->tail;
        parts[i].link = atomic_load(&s->sealed);
    }
    *n = parts ? db->nsegs : 0;
    pthread_mutex_unlock(&db->seg_mutex);
    pthread_mutex_unlock(&db->write_mutex);
    *out = parts;
    return rc;
}

static void release_parts(struct part *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kvs__seg_unref(parts[i].seg);
    free(parts);
}

/* Write len bytes of s's mapping into a new file name in dir, synced. */
static int copy_prefix(int dirfd, const char *name, const struct kvs_segment *s, uint64_t len)
{
    int fd = kvs__io_openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return KVS_EIO;
    int rc = kvs__io_pwrite_all(fd, s->base, len, 0) == 0 && kvs__io_datasync(fd) == 0
                 ? KVS_OK
                 : KVS_EIO;
    kvs__io_close(fd);
    return rc;
}

static int copy_part(struct kvs *db, int dirfd, const struct part *p)
{
    char name[KVS_SEG_NAME_MAX];
    kvs__seg_name(name, p->seg->id, "log");
    if (p->link && kvs__io_linkat(db->dirfd, name, dirfd, name) == 0) {
        if (atomic_load(&p->seg->hinted)) { /* a hint only speeds the backup's open */
            char hint[KVS_SEG_NAME_MAX];
            kvs__seg_name(hint, p->seg->id, "hint");
            kvs__io_linkat(db->dirfd, hint, dirfd, hint);
        }
        return KVS_OK;
    }
    return copy_prefix(dirfd, name, p->seg, p->len);
}

/* Remove a half-made temporary directory. */
static void remove_tmp(const char *path)
{
    int fd = kvs__io_open_dir(path);
    struct kvs_io_dir *d = fd >= 0 ? kvs__io_dir_open(fd) : NULL;
    const char *name;
    /* bounded: each pass removes the name it read, or gives up */
    while (d && (name = kvs__io_dir_next(d)) != NULL)
        kvs__io_unlinkat(fd, name);
    kvs__io_dir_close(d);
    if (fd >= 0)
        kvs__io_close(fd);
    kvs__io_rmdir(path);
}

/* fsync the directory that holds path. */
static int sync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return KVS_ENOMEM;
    char *slash = strrchr(copy, '/');
    const char *parent = slash == copy ? "/" : slash ? (*slash = 0, copy) : ".";
    int fd = kvs__io_open_dir(parent);
    int rc = fd >= 0 && kvs__io_sync_dir(fd) == 0 ? KVS_OK : KVS_EIO;
    if (fd >= 0)
        kvs__io_close(fd);
    free(copy);
    return rc;
}

/* The lock file, as kvs_open makes it: a read-only open needs one where it
 * cannot create it (a backup kept in a read-only place). */
static int make_lock_file(int dirfd)
{
    int fd = kvs__io_openat(dirfd, KVS_LOCK_FILE_NAME, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        return KVS_EIO;
    kvs__io_close(fd);
    return KVS_OK;
}

/* Copy the parts into the temporary directory tmp, make it durable. */
static int fill(struct kvs *db, const char *tmp, const struct part *parts, size_t n)
{
    int dirfd = kvs__io_open_dir(tmp);
    if (dirfd < 0)
        return KVS_EIO;
    int rc = KVS_OK;
    for (size_t i = 0; i < n && rc == KVS_OK; i++)
        rc = copy_part(db, dirfd, &parts[i]);
    if (rc == KVS_OK)
        rc = make_lock_file(dirfd);
    if (rc == KVS_OK && kvs__io_sync_dir(dirfd) < 0)
        rc = KVS_EIO;
    kvs__io_close(dirfd);
    return rc;
}

int kvs_backup(kvs_t *db, const char *dest)
{
    if (!db || !dest || !*dest)
        return KVS_EINVAL;
    int rc = check_destination(dest);
    if (rc != KVS_OK)
        return rc;
    size_t len = strlen(dest);
    while (len > 1 && dest[len - 1] == '/') /* "dir/" names dir */
        len--;
    char *tmp = malloc(len + sizeof(".tmp-XXXXXX"));
    if (!tmp)
        return KVS_ENOMEM;
    snprintf(tmp, len + sizeof(".tmp-XXXXXX"), "%.*s.tmp-XXXXXX", (int)len, dest);
    if (kvs__io_mkdtemp(tmp) < 0) {
        free(tmp);
        return KVS_EIO;
    }
    struct part *parts = NULL;
    size_t n = 0;
    kvs__compact_lock(db); /* no segment changes hands meanwhile */
    rc = take_moment(db, &parts, &n);
    if (rc == KVS_OK)
        rc = fill(db, tmp, parts, n);
    pthread_mutex_unlock(&db->compact_mutex);
    release_parts(parts, n);
    char *target = strndup(dest, len); /* without trailing slashes */
    if (rc == KVS_OK && !target)
        rc = KVS_ENOMEM;
    if (rc == KVS_OK && kvs__io_renameat(AT_FDCWD, tmp, target) < 0)
        rc = errno == ENOTEMPTY || errno == EEXIST ? KVS_EEXIST : KVS_EIO;
    if (rc == KVS_OK)
        rc = sync_parent(target);
    else
        remove_tmp(tmp);
    free(target);
    int saved = errno;
    if (rc != KVS_OK)
        kvs__log(db, KVS_LOG_ERROR, "backup to %s failed: %s", dest, kvs_strerror(rc));
    free(tmp);
    errno = saved;
    return rc;
}
