/* The OBSOLETE file (see obsolete.h). Layout in doc/FORMAT.md. */
#include "obsolete.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>

#include "crc32c.h"
#include "internal.h"
#include "io.h"
#include "segment.h"

#define OBSOLETE_TMP_NAME "OBSOLETE.tmp"
#define OBSOLETE_HEADER_SIZE 16u
#define OBSOLETE_MAX_IDS 65536u
/* The layout has not changed since format 1. */
#define OBSOLETE_VERSION 1u

static const uint8_t obsolete_magic[8] = {0x89, 'K', 'V', 'S', 'O', 'B', 'S', '\n'};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int kvs__obsolete_write(int dirfd, const uint32_t *ids, size_t n)
{
    return kvs__obsolete_write_listed(dirfd, ids, n, NULL, NULL);
}

int kvs__obsolete_write_listed(int dirfd, const uint32_t *new_ids, size_t n_new,
                               uint32_t **listed, size_t *nlisted)
{
    if (listed) {
        *listed = NULL;
        *nlisted = 0;
    }
    /* the ids an earlier OBSOLETE still lists stay listed: files it names
     * could not all be deleted, and the next open must still delete them */
    uint32_t *old = NULL;
    size_t n_old = 0;
    int rc = kvs__obsolete_read(dirfd, &old, &n_old);
    if (rc != KVS_OK && rc != KVS_NOT_FOUND && rc != KVS_ECORRUPT)
        return rc;
    if (rc != KVS_OK)
        n_old = 0;
    uint32_t *ids = malloc((n_old + n_new + 1) * sizeof(*ids));
    if (!ids) {
        free(old);
        return KVS_ENOMEM;
    }
    memcpy(ids, new_ids, n_new * sizeof(*ids));
    if (n_old)
        memcpy(ids + n_new, old, n_old * sizeof(*ids));
    free(old);
    size_t n = n_old + n_new;
    if (n > 1)
        qsort(ids, n, sizeof(*ids), cmp_u32);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ids[i] != ids[k - 1])
            ids[k++] = ids[i];
    n = k;
    if (n > OBSOLETE_MAX_IDS) {
        free(ids);
        return KVS_EINVAL;
    }
    size_t len = OBSOLETE_HEADER_SIZE + n * 4 + 4;
    uint8_t *buf = malloc(len);
    if (!buf) {
        free(ids);
        return KVS_ENOMEM;
    }
    memcpy(buf, obsolete_magic, sizeof(obsolete_magic));
    kvs__store32(buf + 8, OBSOLETE_VERSION);
    kvs__store32(buf + 12, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        kvs__store32(buf + OBSOLETE_HEADER_SIZE + i * 4, ids[i]);
    kvs__store32(buf + len - 4, kvs__crc32c(0, buf, len - 4));

    rc = KVS_EIO;
    int fd = kvs__io_openat(dirfd, OBSOLETE_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (kvs__io_pwrite_all(fd, buf, len, 0) == 0 && kvs__io_datasync(fd) == 0 &&
            kvs__io_renameat(dirfd, OBSOLETE_TMP_NAME, KVS_OBSOLETE_NAME) == 0 &&
            kvs__io_sync_dir(dirfd) == 0)
            rc = KVS_OK;
        kvs__io_close(fd);
    }
    free(buf);
    if (rc == KVS_OK && listed) {
        *listed = ids;
        *nlisted = n;
    } else {
        free(ids);
    }
    return rc;
}

static bool obsolete_valid(const uint8_t *buf, size_t len)
{
    return len >= OBSOLETE_HEADER_SIZE + 4 && memcmp(buf, obsolete_magic, 8) == 0 &&
           kvs__load32(buf + 8) == OBSOLETE_VERSION &&
           len == OBSOLETE_HEADER_SIZE + 4 + (uint64_t)kvs__load32(buf + 12) * 4 &&
           kvs__crc32c(0, buf, len - 4) == kvs__load32(buf + len - 4);
}

int kvs__obsolete_read(int dirfd, uint32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    uint8_t *buf;
    size_t len;
    uint64_t max_len = OBSOLETE_HEADER_SIZE + 4 + OBSOLETE_MAX_IDS * 4;
    if (kvs__io_read_file(dirfd, KVS_OBSOLETE_NAME, max_len, &buf, &len) < 0) {
        if (errno == ENOENT)
            return KVS_NOT_FOUND;
        if (errno == EFBIG)
            return KVS_ECORRUPT;
        return errno == ENOMEM ? KVS_ENOMEM : KVS_EIO;
    }
    int rc = obsolete_valid(buf, len) ? KVS_OK : KVS_ECORRUPT;
    if (rc == KVS_OK) {
        size_t count = kvs__load32(buf + 12);
        uint32_t *out = malloc((count ? count : 1) * sizeof(*out));
        if (!out) {
            rc = KVS_ENOMEM;
        } else {
            for (size_t i = 0; i < count; i++)
                out[i] = kvs__load32(buf + OBSOLETE_HEADER_SIZE + i * 4);
            *ids = out;
            *n = count;
        }
    }
    kvs__big_free(buf, len);
    return rc;
}

int kvs__obsolete_remove(int dirfd)
{
    if (kvs__io_unlinkat(dirfd, KVS_OBSOLETE_NAME) < 0 && errno != ENOENT)
        return KVS_EIO;
    return KVS_OK;
}
