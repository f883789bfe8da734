/* Temporary directories and files for the fuzz targets (see fuzz.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_DIRS 8

static char *dirs[MAX_DIRS];
static int ndirs;

static void remove_dirs(void)
{
    for (int i = 0; i < ndirs; i++) {
        fuzz_clear_dir(dirs[i]);
        rmdir(dirs[i]);
        free(dirs[i]);
    }
    ndirs = 0;
}

static char *try_dir(const char *base, const char *tag)
{
    if (!base || !*base || access(base, W_OK) != 0)
        return NULL;
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    if (!path)
        return NULL;
    snprintf(path, n, "%s/kvs-fuzz-%s-XXXXXX", base, tag);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

char *fuzz_tmpdir(const char *tag)
{
    char *dir = try_dir("/dev/shm", tag);
    if (!dir)
        dir = try_dir(getenv("TMPDIR"), tag);
    if (!dir)
        dir = try_dir("/tmp", tag);
    FUZZ_CHECK(dir != NULL);
    FUZZ_CHECK(ndirs < MAX_DIRS);
    if (ndirs == 0)
        atexit(remove_dirs);
    dirs[ndirs++] = dir;
    return dir;
}

void fuzz_clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    int fd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlinkat(fd, de->d_name, 0);
    }
    closedir(d);
}

void fuzz_write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FUZZ_CHECK(fd >= 0);
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        FUZZ_CHECK(w > 0);
        c += w;
        n -= (size_t)w;
    }
    close(fd);
}
