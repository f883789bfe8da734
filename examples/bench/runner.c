/* The parent side: one child process per (store, phase), run in rounds of
 * one phase for all stores. The parent itself
 * never opens a store or initialises a storage library, so every child
 * starts from the same clean state (no inherited library threads, no heap
 * left over from another store), and a crash in one store cannot take the
 * whole run down. */
#include "runner.h"

#include "adapter.h"
#include "phases.h"
#include "report.h"
#include "sysinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Phase order matters: the open phases use the store the random phase left,
 * and every warm open runs before the first cold one drops the page cache. */
static const bench_phase_fn phases[BENCH_PHASES] = {
    bench_phase_seq,       bench_phase_batch,     bench_phase_random, bench_phase_open_warm,
    bench_phase_open_cold, bench_phase_sync1,     bench_phase_syncn,
};

const char *const bench_phase_names[BENCH_PHASES] = {
    "fillseq, deleterandom",
    "fillbatch",
    "fillrandom, overwrite, reads, space",
    "open warm, memory",
    "open with caches dropped",
    "fillsync",
    "fillsync, W writers",
};

/* Reads result records until the child closes its end of the pipe. */
static void drain(int fd, const bench_config_t *cfg, bench_table_t *t)
{
    bench_result_t r;
    for (;;) {
        size_t got = 0;
        while (got < sizeof r) {
            ssize_t n = read(fd, (char *)&r + got, sizeof r - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return;
            got += (size_t)n;
        }
        if (r.store < 0 || r.store >= BENCH_MAX_STORES || r.metric < 0 || r.metric >= M_COUNT)
            continue;
        t->r[r.store][r.metric] = r;
        bench_report_progress(cfg, &r);
    }
}

static int run_child(const bench_config_t *cfg, int store, bench_phase_fn fn, bench_table_t *t)
{
    size_t n;
    const bench_adapter_t *ad = bench_adapters(&n)[store];
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        bench_sink_t sink = {fds[1], store};
        int rc = fn(cfg, ad, &sink);
        fflush(NULL);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    drain(fds[0], cfg, t);
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status))
        fprintf(stderr, "kvs-bench: [%s] child killed by signal %d\n", ad->title, WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Anything requested that never arrived is marked failed, so a crash shows
 * in the table instead of as an empty cell. */
static void mark_missing(const bench_config_t *cfg, int store, bench_table_t *t)
{
    for (int m = 0; m < M_COUNT; m++) {
        bench_result_t *r = &t->r[store][m];
        if (bench_wants(cfg, (bench_metric_t)m) && r->status == BENCH_RES_NONE) {
            r->store = store;
            r->metric = m;
            r->status = BENCH_RES_FAILED;
            snprintf(r->note, sizeof r->note, "no result (the phase failed earlier; see stderr)");
        }
    }
}

static void remove_store_dirs(const bench_config_t *cfg, const bench_adapter_t *ad)
{
    static const char *const sets[] = {"seq", "batch", "random", "sync1", "syncn"};
    char dir[PATH_MAX];
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        bench_store_dir(cfg, ad, sets[i], dir, sizeof dir);
        bench_rm_rf(dir);
    }
}

static void announce(const bench_config_t *cfg)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    for (size_t s = 0; s < n; s++)
        if ((cfg->stores >> s) & 1u)
            fprintf(stderr, "kvs-bench: [%s %s] %s\n", ads[s]->title, ads[s]->version(),
                    ads[s]->common_desc);
}

/* One round: one phase for every selected store, back to back, so that the
 * stores meet the same machine conditions within minutes of each other. */
static void run_round(const bench_config_t *cfg, size_t phase, uint32_t *failed, bench_table_t *t)
{
    size_t n;
    bench_adapters(&n);
    t->load[phase] = bench_loadavg();
    fprintf(stderr, "kvs-bench: round %zu of %zu: %s (load average %.2f)\n", phase + 1,
            sizeof phases / sizeof phases[0], bench_phase_names[phase], t->load[phase]);
    for (size_t s = 0; s < n; s++) {
        if (!((cfg->stores >> s) & 1u))
            continue;
        /* The open phases need the store the random phase builds. */
        int needs_random = phases[phase] == bench_phase_open_warm ||
                           phases[phase] == bench_phase_open_cold;
        if (needs_random && (*failed >> s) & 1u)
            continue;
        if (run_child(cfg, (int)s, phases[phase], t) != 0)
            *failed |= 1u << s;
    }
}

/* One complete pass of every round; returns the number of stores with a failure. */
static int run_once(const bench_config_t *cfg, bench_table_t *t)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    for (int s = 0; s < BENCH_MAX_STORES; s++)
        for (int m = 0; m < M_COUNT; m++)
            t->r[s][m].status = BENCH_RES_NONE;
    for (size_t i = 0; i < BENCH_PHASES; i++)
        t->load[i] = -1;
    uint32_t failed = 0;
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
        if (cfg->metrics & bench_phase_metrics(phases[i]))
            run_round(cfg, i, &failed, t);
    t->load_end = bench_loadavg();
    int failures = 0;
    for (size_t s = 0; s < n; s++) {
        if (!((cfg->stores >> s) & 1u))
            continue;
        remove_store_dirs(cfg, ads[s]);
        mark_missing(cfg, (int)s, t);
        failures += (failed >> s) & 1u;
    }
    return failures;
}

int bench_run_all(const bench_config_t *cfg, bench_table_t *t)
{
    announce(cfg);
    if (cfg->repeat <= 1)
        return run_once(cfg, t);
    bench_table_t *runs = calloc(cfg->repeat, sizeof *runs);
    if (!runs)
        return run_once(cfg, t);
    int failures = 0;
    for (unsigned r = 0; r < cfg->repeat; r++) {
        fprintf(stderr, "kvs-bench: repetition %u of %u\n", r + 1, cfg->repeat);
        int f = run_once(cfg, &runs[r]);
        failures = f > failures ? f : failures;
    }
    bench_median(cfg, runs, cfg->repeat, t);
    free(runs);
    return failures;
}
