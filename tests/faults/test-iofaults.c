/*
 * I/O faults at every call site.
 *
 * A scripted workload (open with recovery work to do, reads, writes that roll
 * segments, a batch, kvs_sync, kvs_compact, a backup, close with hints and
 * INDEX) runs in a child process, once for every N: its N-th file system call
 * fails, with EIO, with ENOSPC, or, for writes and allocations, after doing
 * half of its bytes (a short write whose retry found the disk full). Each run
 * must end with statuses only: no crash, no hang (the parent kills a child
 * that takes too long), every status one the header documents; the handle
 * keeps working or refuses writes with KVS_EIO and KVS_STAT_WRITE_FAILED; what
 * it reads is what was written. Then the store must open without faults, hold
 * every acknowledged write (model.h), pass kvs_verify and take a write.
 *
 * The N-th call is counted over all calls (over writes and allocations only
 * for short writes) until a run finishes without reaching N. The output
 * lists every call site (library function and line) with the faults tried
 * there.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/testutil.h"
#include "index_file.h"
#include "io.h"
#include "model.h"
#include "obsolete.h"
#include "store.h"

#define SEGMENT_BYTES (16u << 10)
/* A run that takes longer than this hangs (the workload takes well under a
 * second; sanitizers and a loaded machine get a wide margin). */
#define RUN_DEADLINE_MS 60000

/* ---- what the child shares with the parent ---- */

enum fault_kind { FAULT_EIO, FAULT_ENOSPC, FAULT_SHORT, FAULT_KINDS };
static const char *const fault_names[FAULT_KINDS] = {"EIO", "ENOSPC", "short write"};

struct shared {
    /* set by the parent */
    long target;
    int kind;
    /* set by the child */
    _Atomic long calls;
    _Atomic int hit;
    enum kvs_io_op op;
    char func[48];
    int line;
    char problem[400]; /* the child's complaint, if any */
    struct model model;
};

static struct shared *shared_new(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    return p;
}

static int inject(const struct kvs_io_call *c, void *ctx)
{
    struct shared *sh = ctx;
    if (sh->kind == FAULT_SHORT && c->op != KVS_IO_WRITE && c->op != KVS_IO_ALLOCATE)
        return 0;
    long n = atomic_fetch_add(&sh->calls, 1) + 1;
    if (n != sh->target)
        return 0;
    sh->op = c->op;
    snprintf(sh->func, sizeof(sh->func), "%s", c->func);
    sh->line = c->line;
    atomic_store(&sh->hit, 1);
    switch (sh->kind) {
    case FAULT_EIO:
        return EIO;
    case FAULT_ENOSPC:
        return ENOSPC;
    default:
        return KVS_IO_FAULT_SHORT | ENOSPC;
    }
}

/* ---- the child's workload ---- */

static void complain(struct shared *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void complain(struct shared *sh, const char *fmt, ...)
{
    if (sh->problem[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sh->problem, sizeof(sh->problem), fmt, ap);
    va_end(ap);
}

/* Statuses a call may return when a file operation fails under it. */
static bool status_ok(int rc)
{
    return rc == KVS_OK || rc == KVS_NOT_FOUND || rc == KVS_EIO;
}

static void expect_status(struct shared *sh, const char *call, int rc)
{
    if (!status_ok(rc))
        complain(sh, "%s returned %s", call, kvs_status_name(rc));
    if (rc == KVS_EIO && errno == 0)
        complain(sh, "%s returned KVS_EIO with errno 0", call);
}

static kvs_t *open_store(const char *dir, kvs_sync_t mode, int *rc)
{
    kvs_options_t *o = kvs_options_create();
    kvs_options_set_sync(o, mode);
    kvs_options_set_segment_size(o, SEGMENT_BYTES);
    kvs_options_set_compaction_trigger(o, 100);
    kvs_t *db = NULL;
    errno = 0;
    *rc = kvs_open(dir, o, &db);
    kvs_options_destroy(o);
    return db;
}

/* What the handle reads must be what was written: every acknowledged write. */
static void check_reads(struct shared *sh, kvs_t *db, const char *when)
{
    char err[300];
    size_t issued = atomic_load(&sh->model.issued);
    if (model_check(&sh->model, db, issued, issued, 0, NULL, err, sizeof(err)) < 0)
        complain(sh, "%s: %s", when, err);
}

static const uint32_t sizes[] = {40, 700, 90, 1500, 300, 2600, 64, 1100, 5000, 200};

static void writes(struct shared *sh, kvs_t *db, int from, int to)
{
    struct model *m = &sh->model;
    for (int i = from; i < to; i++) {
        int key = (i * 7) % 16;
        errno = 0;
        if (i % 6 == 5)
            expect_status(sh, "kvs_remove", model_remove(m, db, (i * 5) % 16));
        else
            expect_status(sh, "kvs_set", model_set(m, db, key, sizes[i % 10]));
        errno = 0;
        if (i % 11 == 4)
            expect_status(sh, "kvs_batch_apply", model_batch(m, db, 12, 200));
        errno = 0;
        if (i % 13 == 12)
            expect_status(sh, "kvs_sync", model_sync(m, db));
    }
}

/*
 * The handle keeps working, or refuses writes with KVS_EIO and says so in
 * KVS_STAT_WRITE_FAILED. Checked with the faults off.
 */
static void check_handle(struct shared *sh, kvs_t *db)
{
    errno = 0;
    int rc = model_set(&sh->model, db, 63, 100);
    uint64_t failed = 0;
    kvs_stat(db, KVS_STAT_WRITE_FAILED, &failed);
    if (rc != KVS_OK && !(rc == KVS_EIO && failed == 1))
        complain(sh, "after the fault a write returns %s with write_failed %llu",
                 kvs_status_name(rc), (unsigned long long)failed);
    if (rc == KVS_OK && failed)
        complain(sh, "write_failed is set but a write succeeded");
}

/* The workload, in the child, with the fault armed. */
static void workload(struct shared *sh, const char *dir, const char *backup, kvs_sync_t mode)
{
    static struct kvs_io_hooks hooks;
    hooks = (struct kvs_io_hooks){.inject = inject, .ctx = sh};
    kvs__io_set_hooks(&hooks);
    int rc;
    kvs_t *db = open_store(dir, mode, &rc);
    expect_status(sh, "kvs_open", rc);
    if (rc != KVS_OK)
        return;
    model_opened(&sh->model);
    check_reads(sh, db, "after open");
    writes(sh, db, 0, 30);
    errno = 0;
    expect_status(sh, "kvs_compact", kvs_compact(db));
    writes(sh, db, 30, 45);
    uint64_t bytes;
    expect_status(sh, "kvs_stat", kvs_stat(db, KVS_STAT_DISK_BYTES, &bytes));
    errno = 0;
    rc = kvs_backup(db, backup); /* an empty directory: it is looked into */
    if (rc != KVS_OK && rc != KVS_EIO)
        complain(sh, "kvs_backup returned %s", kvs_status_name(rc));
    check_reads(sh, db, "before close");
    kvs__io_set_hooks(NULL);
    check_handle(sh, db);
    check_reads(sh, db, "after the probe write");
    kvs__io_set_hooks(&hooks);
    errno = 0;
    expect_status(sh, "kvs_close", model_close(&sh->model, db));
}

/* ---- the parent ---- */

/* A call site and the faults tried there. */
struct site {
    enum kvs_io_op op;
    char func[48];
    int line;
    unsigned faults; /* bit per fault kind */
};

struct tally {
    struct site sites[256];
    int nsites;
    unsigned runs, pairs;
};

static void tally_add(struct tally *t, const struct shared *sh)
{
    for (int i = 0; i < t->nsites; i++) {
        struct site *s = &t->sites[i];
        if (s->op == sh->op && s->line == sh->line && strcmp(s->func, sh->func) == 0) {
            if (!(s->faults & (1u << sh->kind)))
                t->pairs++;
            s->faults |= 1u << sh->kind;
            return;
        }
    }
    ck_assert_int_lt(t->nsites, 256);
    struct site *s = &t->sites[t->nsites++];
    s->op = sh->op;
    snprintf(s->func, sizeof(s->func), "%s", sh->func);
    s->line = sh->line;
    s->faults = 1u << sh->kind;
    t->pairs++;
}

static void copy_dir(const char *from, const char *to)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s && cp -a %s/. %s/", to, to, from, to);
    ck_assert_int_eq(system(cmd), 0);
}

static void rm_dir(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", path);
    ck_assert_int_eq(system(cmd), 0);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for the child, killing it at the deadline. Returns its wait status,
 * or -1 if it hung. */
static int wait_bounded(pid_t pid)
{
    uint64_t deadline = now_ms() + RUN_DEADLINE_MS;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        ck_assert_int_eq(r, 0);
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(1000);
    }
}

static const char *const op_names[KVS_IO_OP_COUNT_] = {
    [KVS_IO_OPEN] = "open",        [KVS_IO_READ] = "pread",       [KVS_IO_WRITE] = "pwrite",
    [KVS_IO_ALLOCATE] = "fallocate", [KVS_IO_TRUNCATE] = "ftruncate", [KVS_IO_SYNC] = "fdatasync",
    [KVS_IO_SYNC_DIR] = "fsync(dir)", [KVS_IO_RENAME] = "rename",  [KVS_IO_UNLINK] = "unlink",
    [KVS_IO_MAP] = "mmap",         [KVS_IO_LINK] = "link",        [KVS_IO_STAT] = "fstat",
    [KVS_IO_LIST] = "readdir",     [KVS_IO_LOCK] = "flock",       [KVS_IO_MKDIR] = "mkdir",
};

/* After a run: the store opens without faults and holds what was acknowledged. */
static void check_after(const struct shared *sh, const char *dir, char *err, size_t len)
{
    int rc;
    kvs_t *db = open_store(dir, KVS_SYNC_NONE, &rc);
    if (rc != KVS_OK) {
        snprintf(err, len, "the store does not open after the run: %s", kvs_status_name(rc));
        return;
    }
    size_t issued = atomic_load(&sh->model.issued);
    if (model_check(&sh->model, db, issued, issued, 0, NULL, err, len) < 0) {
        kvs_close(db);
        return;
    }
    if (kvs_verify(db, NULL, NULL) != KVS_OK)
        snprintf(err, len, "kvs_verify finds problems after the run");
    else if (kvs_set(db, "after", 5, "x", 1) != KVS_OK)
        snprintf(err, len, "a write after reopening fails");
    rc = kvs_close(db);
    if (!err[0] && rc != KVS_OK)
        snprintf(err, len, "kvs_close after reopening: %s", kvs_status_name(rc));
}

/* One run with the N-th call failing. Returns 1 if the N-th call happened. */
static int run_one(struct shared *sh, const struct model *start, const char *tmpl,
                   const char *work, const char *backup, kvs_sync_t mode, int kind, long n,
                   struct tally *t, unsigned *failures)
{
    copy_dir(tmpl, work);
    rm_dir(backup);
    ck_assert_int_eq(mkdir(backup, 0755), 0);
    memset(sh, 0, offsetof(struct shared, model));
    memcpy(&sh->model, start, sizeof(*start));
    sh->target = n;
    sh->kind = kind;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        workload(sh, work, backup, mode);
        _exit(0);
    }
    int st = wait_bounded(pid);
    int hit = atomic_load(&sh->hit);
    char err[500] = "";
    if (st == -1)
        snprintf(err, sizeof(err), "hang: the run did not end within %d s", RUN_DEADLINE_MS / 1000);
    else if (WIFSIGNALED(st))
        snprintf(err, sizeof(err), "crash: killed by signal %d", WTERMSIG(st));
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        snprintf(err, sizeof(err), "the run exited with %d", WEXITSTATUS(st));
    else if (sh->problem[0])
        snprintf(err, sizeof(err), "%s", sh->problem);
    if (!err[0])
        check_after(sh, work, err, sizeof(err));
    t->runs++;
    if (hit)
        tally_add(t, sh);
    if (err[0]) {
        (*failures)++;
        if (*failures <= 60)
            fprintf(stderr, "FAULT RUN FAILS: %s failing call %ld (%s in %s:%d): %s\n",
                    fault_names[kind], n, hit ? op_names[sh->op] : "-", hit ? sh->func : "-",
                    hit ? sh->line : 0, err);
    }
    return hit;
}

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

/*
 * The store the workload starts from, and its history: a session of writes
 * closed cleanly (sealed segments, hints, INDEX), then one that compacted,
 * wrote on and crashed (a segment to seal at open), and whose compaction's
 * deletions did not reach the disk: its inputs are back, with the OBSOLETE
 * file that lists them (deletions to finish at open).
 */
static void make_template(const char *dir, struct shared *sh)
{
    struct model *m = &sh->model;
    int rc;
    kvs_t *db = open_store(dir, KVS_SYNC_NONE, &rc);
    ck_assert_kvs(rc, KVS_OK);
    model_opened(m);
    for (int i = 0; i < 40; i++)
        ck_assert_int_ge(model_set(m, db, i % 20, sizes[i % 10]), 0);
    ck_assert_kvs(model_batch(m, db, 10, 100), KVS_OK);
    for (int i = 0; i < 20; i += 3)
        ck_assert_int_ge(model_remove(m, db, i), 0);
    ck_assert_kvs(model_close(m, db), KVS_OK);
    char *side = tu_tmpdir();
    copy_dir(dir, side);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        kvs_t *c = open_store(dir, KVS_SYNC_NONE, &rc);
        if (rc != KVS_OK)
            _exit(1);
        model_opened(m);
        if (kvs_compact(c) != KVS_OK)
            _exit(2);
        for (int i = 0; i < 12; i++)
            if (model_set(m, c, 20 + i % 6, sizes[(i + 3) % 10]) != KVS_OK)
                _exit(3);
        _exit(0); /* no close: the active segment is left unsealed */
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the compaction's inputs back, and the OBSOLETE that lists them */
    uint32_t ids[64];
    size_t n = 0;
    for (uint32_t id = 1; id < 64; id++) {
        char name[32];
        snprintf(name, sizeof(name), "%010u.log", id);
        char *was = tu_path(side, name), *now = tu_path(dir, name);
        if (access(was, F_OK) == 0 && access(now, F_OK) != 0) {
            char cmd[600];
            snprintf(cmd, sizeof(cmd), "cp -a %s/%010u.* %s/", side, id, dir);
            ck_assert_int_eq(system(cmd), 0);
            ids[n++] = id;
        }
        free(was);
        free(now);
    }
    ck_assert_uint_gt(n, 0);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    ck_assert_kvs(kvs__obsolete_write(dfd, ids, n), KVS_OK);
    /* and a hint the crash left half-written */
    int tfd = openat(dfd, "0000000002.hint.tmp", O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(tfd, 0);
    ck_assert_int_eq(write(tfd, "partial", 7), 7);
    close(tfd);
    close(dfd);
    tu_rmdir(side);
}

/* Every fault kind at every N over the workload from the template. */
static void every_call(kvs_sync_t mode, const char *tag)
{
    kvs__index_file_set_min_keys(8); /* the template saves its INDEX */
    struct shared *sh = shared_new();
    char *root = fast_tmpdir();
    char *tmpl = tu_path(root, "template"), *work = tu_path(root, "work"),
         *backup = tu_path(root, "backup");
    ck_assert_int_eq(mkdir(tmpl, 0755), 0);
    make_template(tmpl, sh);
    struct model *start = malloc(sizeof(*start));
    memcpy(start, &sh->model, sizeof(*start));
    struct tally *t = calloc(1, sizeof(*t));
    unsigned failures = 0;
    long calls[FAULT_KINDS] = {0};
    for (int kind = 0; kind < FAULT_KINDS; kind++) {
        long n = 1;
        /* bounded: the workload makes a few thousand calls at most */
        while (n < 20000 &&
               run_one(sh, start, tmpl, work, backup, mode, kind, n, t, &failures))
            n++;
        calls[kind] = n - 1;
    }
    fprintf(stderr, "iofaults %s: %u runs (%ld calls, %ld writes and allocations); %d call "
                    "sites, %u (call site, fault) pairs tried; %u runs failed\n",
            tag, t->runs, calls[FAULT_EIO], calls[FAULT_SHORT], t->nsites, t->pairs, failures);
    printf("%s: %u (call site, fault) pairs tried at %d call sites, %u runs\n", tag, t->pairs,
           t->nsites, t->runs);
    for (int i = 0; i < t->nsites; i++) {
        const struct site *s = &t->sites[i];
        printf("  %-11s %s:%d:%s%s%s\n", op_names[s->op], s->func, s->line,
               s->faults & 1 ? " EIO" : "", s->faults & 2 ? " ENOSPC" : "",
               s->faults & 4 ? " short" : "");
    }
    ck_assert_msg(failures == 0, "%u of %u runs failed", failures, t->runs);
    free(t);
    free(start);
    munmap(sh, sizeof(*sh));
    free(tmpl);
    free(work);
    free(backup);
    rm_dir(root);
    free(root);
}

START_TEST(every_call_fails_sync_interval)
{
    every_call(KVS_SYNC_INTERVAL, "interval");
}
END_TEST

START_TEST(every_call_fails_sync_always)
{
    every_call(KVS_SYNC_ALWAYS, "always");
}
END_TEST

static Suite *iofaults_suite(void)
{
    Suite *s = suite_create("iofaults");
    TCase *tc = tcase_create("interval");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, every_call_fails_sync_interval);
    suite_add_tcase(s, tc);
    tc = tcase_create("always");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, every_call_fails_sync_always);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(iofaults_suite());
}
