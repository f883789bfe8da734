/*
 * Simulated power cuts, in the manner of ALICE and LazyFS.
 *
 * A kill -9 keeps the page cache; a power cut keeps only what was made
 * durable. A recorder watches every file system call of a scripted workload
 * through the I/O layer's observe hook (lib/io.h) and keeps a model of what
 * is durable:
 *
 *  - a file's data and length as they were when its last fdatasync began
 *    (read through a descriptor of our own, which also sees what was written
 *    through the store's shared mappings);
 *  - the directory as it was when its last fsync began, and the creations,
 *    renames and unlinks made since, in order.
 *
 * Before each durability point (fdatasync, directory fsync, rename, unlink,
 * file creation) it takes a crash point: the durable model, the current
 * contents, and what the workload had acknowledged. Afterwards, with the
 * hooks off, each crash point gives crash states, each built in a fresh
 * directory and opened with libkvs:
 *
 *  - everything not yet synced dropped; everything kept (as after kill -9);
 *  - the directory operations since its last fsync kept up to each point
 *    (a rename or unlink undone, a created file missing), with the data kept
 *    or dropped;
 *  - for each file with unsynced changes: a torn last write (every 512-byte
 *    sector-aligned prefix of the changed bytes, the rest zeros or the old
 *    bytes), unsynced 4 KiB pages lost in any order (every subset when there
 *    are up to four, else a sample), the file back at its synced content.
 *
 * Each state must open without repair, hold what the sync mode promises
 * (model.h: KVS_SYNC_ALWAYS every acknowledged write; otherwise every write
 * acknowledged before the last completed sync, as the store recorded it, or
 * before the last kvs_sync/kvs_close that returned), never a value that was
 * not written and never a removed key back, batches whole or absent; pass
 * kvs_verify; take a write; and open again to the same contents.
 *
 * The model of the file system is that of ext4 (data=ordered) and XFS:
 * metadata operations reach the disk in the order they were made, data
 * pages in any order, whole sectors at a time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/testutil.h"
#include "hash.h"
#include "index_file.h"
#include "io.h"
#include "model.h"
#include "store.h"

#define SECTOR 512u
#define PAGE 4096u
#define NAME_LEN 48
#define SEGMENT_BYTES (16u << 10)

static int write_all(int fd, const uint8_t *p, uint64_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (uint64_t)n;
    }
    return 0;
}

static char *fast_tmpdir(void);

/* ---- file contents, deduplicated ---- */

struct blob {
    uint64_t hash;
    size_t len; /* the bytes up to the last non-zero one; zeros follow */
    uint8_t *data;
    struct blob *next;
};

#define BLOB_BUCKETS 65536u
static struct blob *blobs[BLOB_BUCKETS];

static const struct blob *blob_get(const uint8_t *data, size_t len)
{
    static const uint8_t none[1];
    if (!data)
        data = none;
    while (len > 0 && data[len - 1] == 0)
        len--;
    uint64_t h = (len ? kvs__hash_sum(data, len) : 0) ^ (len * 0x9E3779B97F4A7C15ull);
    struct blob **slot = &blobs[h % BLOB_BUCKETS];
    for (struct blob *b = *slot; b; b = b->next)
        if (b->hash == h && b->len == len && memcmp(b->data, data, len) == 0)
            return b;
    struct blob *b = malloc(sizeof(*b));
    ck_assert_ptr_nonnull(b);
    b->hash = h;
    b->len = len;
    b->data = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(b->data);
    memcpy(b->data, data, len);
    b->next = *slot;
    *slot = b;
    return b;
}

static void blobs_free(void)
{
    for (unsigned i = 0; i < BLOB_BUCKETS; i++) {
        struct blob *b = blobs[i];
        while (b) {
            struct blob *next = b->next;
            free(b->data);
            free(b);
            b = next;
        }
        blobs[i] = NULL;
    }
}

/* A file's bytes: blob, then zeros up to size. */
struct content {
    const struct blob *b;
    uint64_t size;
};

static struct content empty_content(void)
{
    return (struct content){blob_get(NULL, 0), 0};
}

static bool content_eq(struct content a, struct content b)
{
    return a.b == b.b && a.size == b.size;
}

/* Whole file behind fd, as the page cache has it now. */
static struct content read_fd(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    ck_assert_ptr_nonnull(buf);
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* shrunk meanwhile: the rest reads as zeros */
        got += (size_t)n;
    }
    memset(buf + got, 0, size - got);
    struct content c = {blob_get(buf, size), size};
    free(buf);
    return c;
}

/* The bytes of c in a buffer of at least len bytes (zeros past c). */
static void materialize(struct content c, uint8_t *buf, uint64_t len)
{
    memset(buf, 0, len);
    memcpy(buf, c.b->data, KVS_MIN(c.b->len, len));
}

/* ---- the recorder ---- */

enum dirop_kind { DIROP_CREATE, DIROP_RENAME, DIROP_UNLINK };

struct dent {
    char name[NAME_LEN];
    int ino;
};

struct dirop {
    int kind;
    char name[NAME_LEN], name2[NAME_LEN];
};

struct inode {
    ino_t st_ino;
    int fd;      /* our own descriptor: reads the inode whatever its names */
    bool synced; /* fdatasync'ed at least once, or there before recording */
    struct content durable;
};

struct crash_point {
    char label[112];
    size_t bound, issued;
    int ndur, nops, ninodes;
    struct dent *dur;     /* the directory as last synced */
    struct dirop *ops;    /* made since, in order */
    struct content *durable, *current;
    bool *synced;
};

struct recorder {
    pthread_mutex_t mu;
    char *dir;
    dev_t dev;
    ino_t dir_ino;
    struct model *m;
    kvs_t *_Atomic db; /* the open handle, for the sync mode's bound */
    bool always;       /* KVS_SYNC_ALWAYS: every acknowledged write is durable */
    struct inode *inodes;
    int ninodes, inodes_cap;
    struct dent *dur;
    int ndur, dur_cap;
    struct dirop *ops; /* ops[0, nops): made since the last directory fsync */
    int nops, ops_cap;
    uint64_t ops_applied; /* operations ever moved into dur */
    struct crash_point *cps;
    size_t ncps, cps_cap;
    int dirops_inflight;
    bool problem;
    char error[600];
};

static _Thread_local int tl_sync_ino = -1;
static _Thread_local struct content tl_sync_content;
static _Thread_local uint64_t tl_dir_mark;
static _Thread_local bool tl_in_dirop;

static void *grow(void *p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return p;
    int c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    p = realloc(p, (size_t)c * elem);
    ck_assert_ptr_nonnull(p);
    *cap = c;
    return p;
}

static void rec_problem(struct recorder *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rec_problem(struct recorder *r, const char *fmt, ...)
{
    if (r->problem)
        return;
    r->problem = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
}

static int find_dent(const struct dent *d, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(d[i].name, name) == 0)
            return i;
    return -1;
}

/* dur with the first k of ops applied, into out (room for n + k entries). */
static int apply_ops(const struct dent *dur, int ndur, const struct dirop *ops, int k,
                     const int *create_ino, struct dent *out)
{
    if (ndur)
        memcpy(out, dur, (size_t)ndur * sizeof(*out));
    int n = ndur;
    for (int i = 0; i < k; i++) {
        const struct dirop *o = &ops[i];
        int at = find_dent(out, n, o->name);
        if (o->kind == DIROP_CREATE) {
            if (at < 0)
                at = n++;
            snprintf(out[at].name, NAME_LEN, "%s", o->name);
            out[at].ino = create_ino[i];
        } else if (at >= 0) {
            int ino = out[at].ino;
            out[at] = out[--n];
            if (o->kind == DIROP_RENAME) {
                int to = find_dent(out, n, o->name2);
                if (to < 0)
                    to = n++;
                snprintf(out[to].name, NAME_LEN, "%s", o->name2);
                out[to].ino = ino;
            }
        }
    }
    return n;
}

/* The inode each create made (parallel to ops); creates store it in name2. */
static int *create_inos(const struct dirop *ops, int n)
{
    int *a = malloc((size_t)(n ? n : 1) * sizeof(*a));
    for (int i = 0; i < n; i++)
        a[i] = ops[i].kind == DIROP_CREATE ? atoi(ops[i].name2) : -1;
    return a;
}

static int current_map(struct recorder *r, struct dent **out)
{
    struct dent *m = malloc((size_t)(r->ndur + r->nops + 1) * sizeof(*m));
    int *ci = create_inos(r->ops, r->nops);
    int n = apply_ops(r->dur, r->ndur, r->ops, r->nops, ci, m);
    free(ci);
    *out = m;
    return n;
}

static bool is_store_dir(struct recorder *r, int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == r->dev &&
           st.st_ino == r->dir_ino;
}

static int inode_of_fd(struct recorder *r, int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != r->dev)
        return -1;
    for (int i = r->ninodes - 1; i >= 0; i--)
        if (r->inodes[i].st_ino == st.st_ino)
            return i;
    return -1;
}

static int add_inode(struct recorder *r, int fd_of_store, bool synced)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd_of_store);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "reopen %s: %s", path, strerror(errno));
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    r->inodes = grow(r->inodes, &r->inodes_cap, r->ninodes + 1, sizeof(*r->inodes));
    struct inode *in = &r->inodes[r->ninodes];
    in->st_ino = st.st_ino;
    in->fd = fd;
    in->synced = synced;
    in->durable = synced ? read_fd(fd) : empty_content();
    return r->ninodes++;
}

static void push_op(struct recorder *r, int kind, const char *name, const char *name2)
{
    r->ops = grow(r->ops, &r->ops_cap, r->nops + 1, sizeof(*r->ops));
    struct dirop *o = &r->ops[r->nops++];
    o->kind = kind;
    snprintf(o->name, NAME_LEN, "%s", name);
    snprintf(o->name2, NAME_LEN, "%s", name2 ? name2 : "");
}

/* The names in the real directory must be the model's: a call that went
 * around io.c would show here. */
static void check_listing(struct recorder *r, const struct dent *map, int n)
{
    DIR *d = opendir(r->dir);
    ck_assert_ptr_nonnull(d);
    int seen = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        seen++;
        if (find_dent(map, n, de->d_name) < 0)
            rec_problem(r, "%s is in the directory but no call through io.c made it",
                        de->d_name);
    }
    closedir(d);
    if (seen != n)
        rec_problem(r, "the directory holds %d names, the calls seen through io.c %d", seen, n);
}

static const char *const op_names[KVS_IO_OP_COUNT_] = {
    [KVS_IO_OPEN] = "create",      [KVS_IO_READ] = "read",        [KVS_IO_WRITE] = "write",
    [KVS_IO_ALLOCATE] = "allocate", [KVS_IO_TRUNCATE] = "truncate", [KVS_IO_SYNC] = "fdatasync",
    [KVS_IO_SYNC_DIR] = "fsync-dir", [KVS_IO_RENAME] = "rename",   [KVS_IO_UNLINK] = "unlink",
    [KVS_IO_MAP] = "mmap",         [KVS_IO_LINK] = "link",        [KVS_IO_STAT] = "stat",
    [KVS_IO_LIST] = "readdir",     [KVS_IO_LOCK] = "flock",       [KVS_IO_MKDIR] = "mkdir",
};

static void capture(struct recorder *r, const struct kvs_io_call *c)
{
    r->cps = grow(r->cps, (int *)&r->cps_cap, (int)r->ncps + 1, sizeof(*r->cps));
    struct crash_point *cp = &r->cps[r->ncps++];
    memset(cp, 0, sizeof(*cp));
    snprintf(cp->label, sizeof(cp->label), "before %s %s (%s:%d)", op_names[c->op],
             c->name ? c->name : "", c->func, c->line);
    /* first what must be there (acknowledged before any byte is read) */
    kvs_t *db = atomic_load(&r->db);
    uint64_t synced = r->always ? UINT64_MAX
                                : db ? atomic_load(&((struct kvs *)db)->synced_seq) : 0;
    cp->bound = model_bound(r->m, synced);
    cp->ndur = r->ndur;
    cp->dur = malloc((size_t)(r->ndur ? r->ndur : 1) * sizeof(*cp->dur));
    if (r->ndur)
        memcpy(cp->dur, r->dur, (size_t)r->ndur * sizeof(*cp->dur));
    cp->nops = r->nops;
    cp->ops = malloc((size_t)(r->nops ? r->nops : 1) * sizeof(*cp->ops));
    if (r->nops)
        memcpy(cp->ops, r->ops, (size_t)r->nops * sizeof(*cp->ops));
    cp->ninodes = r->ninodes;
    cp->durable = calloc((size_t)r->ninodes + 1, sizeof(*cp->durable));
    cp->current = calloc((size_t)r->ninodes + 1, sizeof(*cp->current));
    cp->synced = calloc((size_t)r->ninodes + 1, sizeof(*cp->synced));
    /* the inodes a crash state can name: in the synced directory or made since */
    bool *wanted = calloc((size_t)r->ninodes + 1, sizeof(*wanted));
    for (int i = 0; i < r->ndur; i++)
        wanted[r->dur[i].ino] = true;
    for (int i = 0; i < r->nops; i++)
        if (r->ops[i].kind == DIROP_CREATE)
            wanted[atoi(r->ops[i].name2)] = true;
    for (int i = 0; i < r->ninodes; i++) {
        cp->durable[i] = r->inodes[i].durable;
        cp->synced[i] = r->inodes[i].synced;
        cp->current[i] = wanted[i] ? read_fd(r->inodes[i].fd) : empty_content();
    }
    free(wanted);
    /* then what may be there */
    cp->issued = atomic_load(&r->m->issued);
    if (r->dirops_inflight == 0) {
        struct dent *map;
        int n = current_map(r, &map);
        check_listing(r, map, n);
        free(map);
    }
}

static void observe(const struct kvs_io_call *c, enum kvs_io_phase ph, int result, int err,
                    void *ctx)
{
    (void)err;
    struct recorder *r = ctx;
    bool dir_op = c->op == KVS_IO_RENAME || c->op == KVS_IO_UNLINK ||
                  c->op == KVS_IO_SYNC_DIR || (c->op == KVS_IO_OPEN && (c->flags & O_CREAT));
    if (!dir_op && c->op != KVS_IO_SYNC)
        return;
    if (dir_op && !is_store_dir(r, c->fd))
        return;
    pthread_mutex_lock(&r->mu);
    int ino = c->op == KVS_IO_SYNC ? inode_of_fd(r, c->fd) : -1;
    if (c->op == KVS_IO_SYNC && ino < 0) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (ph == KVS_IO_BEFORE) {
        capture(r, c);
        if (c->op == KVS_IO_SYNC) {
            tl_sync_ino = ino;
            tl_sync_content = read_fd(r->inodes[ino].fd);
        } else if (c->op == KVS_IO_SYNC_DIR) {
            tl_dir_mark = r->ops_applied + (uint64_t)r->nops;
        } else {
            r->dirops_inflight++;
            tl_in_dirop = true;
        }
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (tl_in_dirop) {
        r->dirops_inflight--;
        tl_in_dirop = false;
    }
    if (result < 0) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    switch (c->op) {
    case KVS_IO_SYNC:
        if (tl_sync_ino == ino) {
            r->inodes[ino].durable = tl_sync_content;
            r->inodes[ino].synced = true;
        }
        tl_sync_ino = -1;
        break;
    case KVS_IO_SYNC_DIR: {
        int k = (int)(tl_dir_mark - r->ops_applied);
        if (k > 0) {
            struct dent *m = malloc((size_t)(r->ndur + k + 1) * sizeof(*m));
            int *ci = create_inos(r->ops, k);
            int n = apply_ops(r->dur, r->ndur, r->ops, k, ci, m);
            free(ci);
            r->dur = grow(r->dur, &r->dur_cap, n, sizeof(*r->dur));
            memcpy(r->dur, m, (size_t)n * sizeof(*m));
            r->ndur = n;
            free(m);
            memmove(r->ops, r->ops + k, (size_t)(r->nops - k) * sizeof(*r->ops));
            r->nops -= k;
            r->ops_applied += (uint64_t)k;
        }
        break;
    }
    case KVS_IO_OPEN: {
        struct stat st;
        ck_assert_int_eq(fstat(result, &st), 0);
        struct dent *map;
        int n = current_map(r, &map);
        int at = find_dent(map, n, c->name);
        bool known = at >= 0 && r->inodes[map[at].ino].st_ino == st.st_ino;
        free(map);
        if (!known) {
            char id[16];
            snprintf(id, sizeof(id), "%d", add_inode(r, result, false));
            push_op(r, DIROP_CREATE, c->name, id);
        }
        break;
    }
    case KVS_IO_RENAME:
        push_op(r, DIROP_RENAME, c->name, c->name2);
        break;
    case KVS_IO_UNLINK:
        push_op(r, DIROP_UNLINK, c->name, NULL);
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&r->mu);
}

/* Start recording dir, whose present files count as durable. */
static void rec_start(struct recorder *r, char *dir, struct model *m, bool always)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->dir = dir;
    r->m = m;
    r->always = always;
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    r->dev = st.st_dev;
    r->dir_ino = st.st_ino;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        int ino = add_inode(r, fd, true);
        close(fd);
        r->dur = grow(r->dur, &r->dur_cap, r->ndur + 1, sizeof(*r->dur));
        ck_assert_uint_lt(strlen(de->d_name), NAME_LEN);
        memcpy(r->dur[r->ndur].name, de->d_name, strlen(de->d_name) + 1);
        r->dur[r->ndur++].ino = ino;
    }
    closedir(d);
    static struct kvs_io_hooks hooks;
    hooks = (struct kvs_io_hooks){.observe = observe, .ctx = r};
    kvs__io_set_hooks(&hooks);
}

static void rec_stop(struct recorder *r)
{
    kvs__io_set_hooks(NULL);
    ck_assert_msg(!r->problem, "recorder: %s", r->error);
}

static void rec_free(struct recorder *r)
{
    for (size_t i = 0; i < r->ncps; i++) {
        struct crash_point *cp = &r->cps[i];
        free(cp->dur);
        free(cp->ops);
        free(cp->durable);
        free(cp->current);
        free(cp->synced);
    }
    free(r->cps);
    for (int i = 0; i < r->ninodes; i++)
        close(r->inodes[i].fd);
    free(r->inodes);
    free(r->dur);
    free(r->ops);
    pthread_mutex_destroy(&r->mu);
}

/* ---- crash states ---- */

enum base { BASE_DURABLE, BASE_CURRENT };

/* One crash state: the directory with k of the operations, every file at
 * base, except file `over` whose bytes are given. */
struct variant {
    int k;
    enum base base;
    int over; /* inode, or -1 */
    const uint8_t *over_buf;
    uint64_t over_size;
    char what[96];
};

struct checker {
    const struct model *m;
    char *root;       /* where states are built */
    char *state;      /* root/state */
    int kept;         /* failing states kept for a look */
    unsigned checked, duplicates, failures;
    uint64_t *seen;   /* hashes of the states checked (open addressing) */
    size_t seen_cap;
    unsigned batch_sample;
    char log[8][200]; /* the library's last messages */
    unsigned nlog;
};

static void logger(void *ctx, kvs_log_level_t level, const char *msg)
{
    (void)level;
    struct checker *ck = ctx;
    snprintf(ck->log[ck->nlog++ % 8], sizeof(ck->log[0]), "%s", msg);
}

static bool seen_before(struct checker *ck, uint64_t h)
{
    if (h == 0)
        h = 1;
    size_t mask = ck->seen_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (ck->seen[i] == h)
            return true;
        if (ck->seen[i] == 0) {
            ck->seen[i] = h;
            return false;
        }
    }
}

static struct content file_content(const struct crash_point *cp, int ino, enum base base)
{
    if (base == BASE_CURRENT)
        return cp->current[ino];
    return cp->synced[ino] ? cp->durable[ino] : empty_content();
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0xBF58476D1CE4E5B9ull;
}

/* Write the state into dir (emptied first); returns its hash. */
static uint64_t build_state(const struct crash_point *cp, const struct variant *v,
                            const char *dir, bool write)
{
    struct dent *map = malloc((size_t)(cp->ndur + cp->nops + 1) * sizeof(*map));
    int *ci = create_inos(cp->ops, cp->nops);
    int n = apply_ops(cp->dur, cp->ndur, cp->ops, v->k, ci, map);
    free(ci);
    if (write)
        tu_remove_files(dir, "");
    /* names in a fixed order, so that equal states hash alike */
    uint64_t h = mix64(cp->bound, cp->issued);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(map[j].name, map[i].name) < 0) {
                struct dent t = map[i];
                map[i] = map[j];
                map[j] = t;
            }
    for (int i = 0; i < n; i++) {
        const uint8_t *data;
        uint64_t len, size;
        if (map[i].ino == v->over) {
            data = v->over_buf;
            size = v->over_size;
            len = size;
            while (len > 0 && data[len - 1] == 0)
                len--;
        } else {
            struct content c = file_content(cp, map[i].ino, v->base);
            data = c.b->data;
            len = c.b->len;
            size = c.size;
        }
        len = KVS_MIN(len, size);
        h = mix64(h, kvs__hash_sum(map[i].name, strlen(map[i].name)));
        h = mix64(h, len ? kvs__hash_sum(data, len) : 0);
        h = mix64(h, size);
        if (!write)
            continue;
        char *path = tu_path(dir, map[i].name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
        ck_assert_int_eq(write_all(fd, data, len), 0);
        ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
        close(fd);
        free(path);
    }
    free(map);
    return h;
}

static kvs_t *open_state(struct checker *ck, const char *dir, int *rc)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, KVS_SYNC_NONE);
    ck_assert_kvs(kvs_options_set_segment_size(o, SEGMENT_BYTES), KVS_OK);
    ck_assert_kvs(kvs_options_set_compaction_trigger(o, 100), KVS_OK);
    kvs_options_set_logger(o, logger, ck);
    kvs_t *db = NULL;
    *rc = kvs_open(dir, o, &db);
    kvs_options_destroy(o);
    return db;
}

static void verify_problem(void *ctx, const char *file, uint64_t offset, const char *problem)
{
    char *err = ctx;
    if (!*err)
        snprintf(err, 300, "kvs_verify: %s at %llu: %s", file, (unsigned long long)offset,
                 problem);
}

/* Open the state, check it against the model, write, open again. 0 if it
 * holds, else -1 with a message. */
static int check_state(struct checker *ck, const struct crash_point *cp, char *err, size_t len)
{
    ck->nlog = 0;
    int rc;
    kvs_t *db = open_state(ck, ck->state, &rc);
    if (rc != KVS_OK) {
        snprintf(err, len, "kvs_open: %s", kvs_status_name(rc));
        return -1;
    }
    struct model_seen first, again;
    int bad = model_check(ck->m, db, cp->bound, cp->issued, ck->batch_sample, &first, err, len);
    if (!bad) {
        err[0] = 0;
        if (kvs_verify(db, verify_problem, err) != KVS_OK)
            bad = -1;
    }
    if (!bad && kvs_set(db, "probe", 5, "p", 1) != KVS_OK) {
        snprintf(err, len, "a write after recovery failed");
        bad = -1;
    }
    rc = kvs_close(db);
    if (!bad && rc != KVS_OK) {
        snprintf(err, len, "kvs_close after recovery: %s", kvs_status_name(rc));
        bad = -1;
    }
    if (bad)
        return -1;
    db = open_state(ck, ck->state, &rc);
    if (rc != KVS_OK) {
        snprintf(err, len, "second kvs_open: %s", kvs_status_name(rc));
        return -1;
    }
    bad = model_check(ck->m, db, cp->bound, cp->issued, ck->batch_sample, &again, err, len);
    if (!bad && memcmp(&first, &again, sizeof(first)) != 0) {
        snprintf(err, len, "the second open found other contents than the first");
        bad = -1;
    }
    if (!bad && kvs_exists(db, "probe", 5) != KVS_OK) {
        snprintf(err, len, "the write made after recovery is gone");
        bad = -1;
    }
    kvs_close(db);
    return bad;
}

static void try_variant(struct checker *ck, const struct crash_point *cp, const struct variant *v)
{
    uint64_t h = build_state(cp, v, ck->state, false);
    if (seen_before(ck, h)) {
        ck->duplicates++;
        return;
    }
    build_state(cp, v, ck->state, true);
    ck->checked++;
    char err[400];
    if (check_state(ck, cp, err, sizeof(err)) == 0)
        return;
    ck->failures++;
    if (ck->kept >= 10)
        return;
    char name[32];
    snprintf(name, sizeof(name), "failed-%d", ck->kept++);
    char *keep = tu_path(ck->root, name);
    ck_assert_int_eq(mkdir(keep, 0755), 0);
    build_state(cp, v, keep, true);
    fprintf(stderr, "CRASH STATE FAILS: %s\n  crash point: %s\n  state: %s (%d of %d directory "
                    "operations); acknowledged-durable ops: %zu, issued: %zu\n  kept in %s\n",
            err, cp->label, v->what, v->k, cp->nops, cp->bound, cp->issued, keep);
    for (unsigned i = ck->nlog > 8 ? ck->nlog - 8 : 0; i < ck->nlog; i++)
        fprintf(stderr, "  log: %s\n", ck->log[i % 8]);
    free(keep);
}

/* Up to max indexes of [0, n), spread out, first and last included. */
static int spread(int n, int max, int *out)
{
    if (n <= max) {
        for (int i = 0; i < n; i++)
            out[i] = i;
        return n;
    }
    for (int i = 0; i < max; i++)
        out[i] = (int)((int64_t)i * (n - 1) / (max - 1));
    return max;
}

/* Variants of one file with unsynced changes; the others stay current. */
static void file_variants(struct checker *ck, const struct crash_point *cp, int ino,
                          const char *name, uint64_t *rng)
{
    struct content d = file_content(cp, ino, BASE_DURABLE), c = cp->current[ino];
    uint64_t span = KVS_MAX(d.size, c.size);
    span = (span + PAGE - 1) / PAGE * PAGE;
    uint8_t *db = malloc(span + 1), *cb = malloc(span + 1), *out = malloc(span + 1);
    materialize(d, db, span);
    materialize(c, cb, span);
    /* the sectors and pages the unsynced writes changed */
    int nsec = 0, npg = 0;
    int *secs = malloc((span / SECTOR + 1) * sizeof(int));
    int *pages = malloc((span / PAGE + 1) * sizeof(int));
    for (uint64_t s = 0; s < span / SECTOR; s++)
        if (memcmp(db + s * SECTOR, cb + s * SECTOR, SECTOR) != 0)
            secs[nsec++] = (int)s;
    for (uint64_t p = 0; p < span / PAGE; p++)
        if (memcmp(db + p * PAGE, cb + p * PAGE, PAGE) != 0)
            pages[npg++] = (int)p;
    struct variant v = {.k = cp->nops, .base = BASE_CURRENT, .over = ino, .over_buf = out};

    /* torn last write: the changed sectors below the cut made it, those
     * after it read back what was synced there (zeros past the synced
     * data); the file's new length made it, or only up to the cut */
    int cuts[12];
    int ncuts = spread(nsec, 10, cuts);
    for (int i = 0; i < ncuts; i++) {
        uint64_t cut = (uint64_t)secs[cuts[i]] * SECTOR;
        memcpy(out, cb, span);
        for (int j = cuts[i]; j < nsec; j++) {
            uint64_t at = (uint64_t)secs[j] * SECTOR;
            memcpy(out + at, db + at, SECTOR);
        }
        for (int shorter = 0; shorter < 2; shorter++) {
            v.over_size = shorter ? KVS_MAX(d.size, KVS_MIN(cut, c.size)) : c.size;
            snprintf(v.what, sizeof(v.what), "%s torn at %llu, %s length", name,
                     (unsigned long long)cut, shorter ? "cut" : "new");
            try_variant(ck, cp, &v);
        }
    }
    /* unsynced pages lost in any order: masks of the pages that made it */
    uint64_t masks[24];
    int nmasks = 0;
    if (npg >= 2 && npg <= 4) {
        for (uint64_t mk = 1; mk + 1 < (1ull << npg); mk++)
            masks[nmasks++] = mk;
    } else if (npg > 4) {
        int pick[4];
        int np = spread(npg, 4, pick);
        uint64_t all = npg >= 64 ? ~0ull : (1ull << npg) - 1;
        for (int i = 0; i < np; i++) {
            masks[nmasks++] = all & ~(1ull << (pick[i] % 64)); /* one page lost */
            masks[nmasks++] = 1ull << (pick[i] % 64);          /* only one made it */
        }
        for (int i = 0; i < 4; i++)
            masks[nmasks++] = tu_rand(rng) & all;
    }
    for (int i = 0; i < nmasks; i++) {
        materialize(d, out, span);
        for (int p = 0; p < npg; p++)
            if (masks[i] >> (p % 64) & 1)
                memcpy(out + (uint64_t)pages[p] * PAGE, cb + (uint64_t)pages[p] * PAGE, PAGE);
        v.over_size = c.size;
        snprintf(v.what, sizeof(v.what), "%s: pages made it by mask %#llx of %d", name,
                 (unsigned long long)masks[i], npg);
        try_variant(ck, cp, &v);
    }
    /* back at its synced content, the others kept */
    materialize(d, out, span);
    v.over_size = d.size;
    snprintf(v.what, sizeof(v.what), "%s at its synced content", name);
    try_variant(ck, cp, &v);
    free(db);
    free(cb);
    free(out);
    free(secs);
    free(pages);
}

static void check_point(struct checker *ck, const struct crash_point *cp, uint64_t *rng)
{
    int n = cp->nops;
    struct variant v = {.over = -1};
    /* the directory: everything, nothing, and points in between; data all
     * kept or all dropped */
    int ks[8];
    int nk = spread(n + 1, 8, ks);
    for (int i = 0; i < nk; i++)
        for (int b = 0; b < 2; b++) {
            v.k = ks[i];
            v.base = b ? BASE_CURRENT : BASE_DURABLE;
            snprintf(v.what, sizeof(v.what), "unsynced data %s", b ? "kept" : "dropped");
            try_variant(ck, cp, &v);
        }
    /* each file with unsynced changes, in the directory as it is */
    struct dent *map = malloc((size_t)(cp->ndur + cp->nops + 1) * sizeof(*map));
    int *ci = create_inos(cp->ops, cp->nops);
    int nm = apply_ops(cp->dur, cp->ndur, cp->ops, n, ci, map);
    free(ci);
    for (int i = 0; i < nm; i++) {
        int ino = map[i].ino;
        if (!content_eq(file_content(cp, ino, BASE_DURABLE), cp->current[ino]))
            file_variants(ck, cp, ino, map[i].name, rng);
    }
    free(map);
}

/* Turn every crash point into states and check them. */
static void check_all(struct recorder *r, const char *tag, unsigned batch_sample)
{
    struct checker ck = {.m = r->m, .batch_sample = batch_sample};
    ck.root = fast_tmpdir();
    ck.state = tu_path(ck.root, "state");
    ck_assert_int_eq(mkdir(ck.state, 0755), 0);
    ck.seen_cap = 1u << 18;
    ck.seen = calloc(ck.seen_cap, sizeof(*ck.seen));
    uint64_t rng = tu_seed();
    for (size_t i = 0; i < r->ncps; i++)
        check_point(&ck, &r->cps[i], &rng);
    fprintf(stderr, "powercut %s: %zu crash points, %u crash states checked (%u duplicates "
                    "skipped), %u failed\n",
            tag, r->ncps, ck.checked, ck.duplicates, ck.failures);
    printf("%s: %u crash states checked\n", tag, ck.checked);
    ck_assert_msg(ck.failures == 0, "%u of %u crash states fail (first ones kept in %s)",
                  ck.failures, ck.checked, ck.root);
    free(ck.seen);
    free(ck.state);
    tu_rmdir(ck.root);
}

/* ---- the scripted workloads ---- */

static kvs_t *open_store(const char *dir, kvs_sync_t mode, unsigned trigger)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, mode);
    /* the interval thread then syncs at its own moments, not in the way of
     * the scripts that need something to stay unsynced for a while */
    if (trigger < 100)
        ck_assert_kvs(kvs_options_set_sync_interval_ms(o, 60000), KVS_OK);
    ck_assert_kvs(kvs_options_set_segment_size(o, SEGMENT_BYTES), KVS_OK);
    ck_assert_kvs(kvs_options_set_compaction_trigger(o, trigger), KVS_OK);
    kvs_t *db = NULL;
    int rc = kvs_open(dir, o, &db);
    kvs_options_destroy(o);
    ck_assert_msg(rc == KVS_OK, "kvs_open: %s", kvs_strerror(rc));
    return db;
}

static kvs_t *session(struct recorder *r, kvs_sync_t mode, unsigned trigger)
{
    kvs_t *db = open_store(r->dir, mode, trigger);
    model_opened(r->m);
    atomic_store(&r->db, db);
    return db;
}

static void end_session(struct recorder *r, kvs_t *db)
{
    ck_assert_kvs(model_close(r->m, db), KVS_OK);
    atomic_store(&r->db, NULL);
}

static const uint32_t sizes[] = {40, 700, 90, 1500, 300, 2600, 64, 1100, 5000, 200};

/* Writes, removals, batches over a few keys; values from 40 bytes to more
 * than a page. */
static void writes(struct model *m, kvs_t *db, int from, int to, kvs_sync_t mode)
{
    for (int i = from; i < to; i++) {
        int key = (i * 7) % 12;
        if (i % 6 == 5)
            ck_assert_int_ge(model_remove(m, db, (i * 5) % 12), 0);
        else
            ck_assert_kvs(model_set(m, db, key, sizes[i % 10]), KVS_OK);
        if (i % 17 == 3) /* 8 x 150 bytes: over two sectors */
            ck_assert_kvs(model_batch(m, db, 8, 150), KVS_OK);
        if (i % 23 == 11) /* 30 x 300 bytes: over two pages */
            ck_assert_kvs(model_batch(m, db, 30, 300), KVS_OK);
        if (i % 13 == 12 && mode != KVS_SYNC_ALWAYS)
            ck_assert_kvs(model_sync(m, db), KVS_OK);
    }
}

/*
 * Open, write (segments roll, hints are written), compact, write, close
 * (hints, INDEX); open again (INDEX loaded, then removed), write, compact,
 * close.
 */
static void script_main(struct recorder *r, kvs_sync_t mode)
{
    kvs_t *db = session(r, mode, 100);
    writes(r->m, db, 0, 40, mode);
    ck_assert_kvs(kvs_compact(db), KVS_OK);
    writes(r->m, db, 40, 60, mode);
    end_session(r, db);
    db = session(r, mode, 100);
    writes(r->m, db, 60, 75, mode);
    ck_assert_kvs(kvs_compact(db), KVS_OK);
    writes(r->m, db, 75, 80, mode);
    end_session(r, db);
}

/* A fresh directory on tmpfs when there is one: crash states are opened by
 * the thousand, and every open and close syncs. */
static char *fast_tmpdir(void)
{
    struct stat st;
    if (!getenv("TMPDIR") && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0) {
        char *t = strdup("/dev/shm/kvs-faults-XXXXXX");
        if (t && mkdtemp(t))
            return t;
        free(t);
    }
    char *d = tu_tmpdir();
    ck_assert_ptr_nonnull(d);
    return d;
}

static uint64_t stat_of(kvs_t *db, kvs_stat_t which)
{
    uint64_t v;
    ck_assert_kvs(kvs_stat(db, which, &v), KVS_OK);
    return v;
}

/*
 * A removal made durable, the key written again (not synced), and then a
 * background compaction of the segment holding the removal, while the key's
 * older value stays in a segment the compaction leaves alone (it holds
 * little garbage). Sizes: 16 KiB segments take 13 records of 1200 bytes.
 */
static void script_tombstone(struct recorder *r, kvs_sync_t mode)
{
    struct model *m = r->m;
    kvs_t *db = session(r, mode, 20);
    ck_assert_kvs(model_set(m, db, 3, 1200), KVS_OK); /* segment 1: k3, 20..31 */
    for (int k = 20; k < 32; k++)
        ck_assert_kvs(model_set(m, db, k, 1200), KVS_OK);
    ck_assert_kvs(model_set(m, db, 40, 1200), KVS_OK); /* segment 2: 40, -k3, 41..52 */
    ck_assert_kvs(model_remove(m, db, 3), KVS_OK);
    for (int k = 41; k < 53; k++)
        ck_assert_kvs(model_set(m, db, k, 1200), KVS_OK);
    ck_assert_kvs(model_set(m, db, 53, 1200), KVS_OK); /* segment 3, active */
    ck_assert_kvs(model_sync(m, db), KVS_OK);            /* the removal is durable */
    ck_assert_kvs(model_set(m, db, 3, 100), KVS_OK);     /* k3 again, not synced */
    for (int k = 40; k < 53; k++)                        /* segment 2 all garbage */
        ck_assert_kvs(model_set(m, db, k, 16), KVS_OK);
    /* the background thread looks at least once a second (bounded wait) */
    for (int i = 0; i < 1000 && stat_of(db, KVS_STAT_COMPACTIONS) == 0; i++)
        usleep(10000);
    ck_assert_uint_ge(stat_of(db, KVS_STAT_COMPACTIONS), 1);
    ck_assert_kvs(model_set(m, db, 60, 100), KVS_OK);
    end_session(r, db);
}

static void run_main(kvs_sync_t mode, const char *tag)
{
    struct rlimit rl = {4096, 4096};
    setrlimit(RLIMIT_NOFILE, &rl);
    kvs__index_file_set_min_keys(8); /* small stores save their index too */
    struct model *m = model_new();
    ck_assert_ptr_nonnull(m);
    char *dir = fast_tmpdir();
    struct recorder r;
    rec_start(&r, dir, m, mode == KVS_SYNC_ALWAYS);
    script_main(&r, mode);
    rec_stop(&r);
    check_all(&r, tag, 0);
    rec_free(&r);
    blobs_free();
    model_free(m);
    tu_rmdir(dir);
}

static void run_tombstone(kvs_sync_t mode, const char *tag)
{
    struct model *m = model_new();
    ck_assert_ptr_nonnull(m);
    char *dir = fast_tmpdir();
    struct recorder r;
    rec_start(&r, dir, m, mode == KVS_SYNC_ALWAYS);
    script_tombstone(&r, mode);
    rec_stop(&r);
    /* the scenario happened: segment 1 (the old value) outlived segment 2 */
    char *one = tu_path(dir, "0000000001.log"), *two = tu_path(dir, "0000000002.log");
    ck_assert_msg(access(one, F_OK) == 0 && access(two, F_OK) != 0,
                  "the compaction did not take segment 2 alone");
    free(one);
    free(two);
    check_all(&r, tag, 0);
    rec_free(&r);
    blobs_free();
    model_free(m);
    tu_rmdir(dir);
}

START_TEST(removal_outlives_compaction_sync_none)
{
    run_tombstone(KVS_SYNC_NONE, "tombstone-none");
}
END_TEST

START_TEST(removal_outlives_compaction_sync_interval)
{
    run_tombstone(KVS_SYNC_INTERVAL, "tombstone-interval");
}
END_TEST

START_TEST(power_cuts_sync_always)
{
    run_main(KVS_SYNC_ALWAYS, "always");
}
END_TEST

START_TEST(power_cuts_sync_interval)
{
    run_main(KVS_SYNC_INTERVAL, "interval");
}
END_TEST

START_TEST(power_cuts_sync_none)
{
    run_main(KVS_SYNC_NONE, "none");
}
END_TEST

static Suite *powercut_suite(void)
{
    Suite *s = suite_create("powercut");
    TCase *tc = tcase_create("always");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, power_cuts_sync_always);
    suite_add_tcase(s, tc);
    tc = tcase_create("interval");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, power_cuts_sync_interval);
    suite_add_tcase(s, tc);
    tc = tcase_create("none");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, power_cuts_sync_none);
    suite_add_tcase(s, tc);
    tc = tcase_create("tombstone");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, removal_outlives_compaction_sync_none);
    tcase_add_test(tc, removal_outlives_compaction_sync_interval);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(powercut_suite());
}
