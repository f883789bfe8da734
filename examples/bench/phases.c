/* What each child process does for one store. The order inside a phase
 * matters: overwrite runs on the store fillrandom built, the reads on the
 * store both left, and the open phases on the store the random phase leaves
 * behind (N keys, after the overwrites and compaction). */
#include "phases.h"

#include "keys.h"
#include "memsample.h"
#include "sysinfo.h"
#include "workloads.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MBIT(m) (1u << (m))

/* A stretch of a phase whose peak anonymous memory is reported, and the
 * store's own counts (index, key order) taken near its end. */
struct mem_span {
    bench_mem_sampler_t sampler;
    int on;
    uint64_t index, order, keys;
};

struct phase {
    const bench_config_t *cfg;
    const bench_adapter_t *ad;
    bench_sink_t *sink;
    void *db;
    bench_values_t values;
    uint32_t *perm; /* shuffled 0..nkeys-1 */
    uint64_t nkeys;
    char dir[PATH_MAX];
    uint32_t *lat_arena; /* latency samples of the reads, touched before base_anon */
    size_t lat_arena_len;
    uint64_t base_anon;  /* RssAnon before the store was first opened */
    struct mem_span span;
};

void bench_store_dir(const bench_config_t *cfg, const bench_adapter_t *ad, const char *set,
                     char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s-%s", cfg->dir, ad->name, set);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "kvs-bench: the path under %s is too long\n", cfg->dir);
        exit(2);
    }
}

static void emit(bench_sink_t *s, bench_metric_t m, bench_status_t st,
                 const bench_job_result_t *jr, double value, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Sends one result to the parent; fmt may be NULL (no note). */
static void emit(bench_sink_t *s, bench_metric_t m, bench_status_t st,
                 const bench_job_result_t *jr, double value, const char *fmt, ...)
{
    bench_result_t r;
    memset(&r, 0, sizeof r);
    r.store = s->store;
    r.metric = m;
    r.status = st;
    r.p50_us = r.p99_us = -1;
    r.value = value;
    if (jr) {
        r.ops = jr->ops;
        r.seconds = jr->seconds;
        r.p50_us = jr->p50_us;
        r.p99_us = jr->p99_us;
        r.flags = jr->flags;
    }
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r.note, sizeof r.note, fmt, ap);
        va_end(ap);
    }
    /* One record is far below PIPE_BUF, so this write is atomic. */
    while (write(s->fd, &r, sizeof r) < 0 && errno == EINTR)
        ;
}

static int phase_init(struct phase *p, const bench_config_t *cfg, const bench_adapter_t *ad,
                      bench_sink_t *sink, const char *set, uint64_t nkeys, int fresh)
{
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->ad = ad;
    p->sink = sink;
    p->nkeys = nkeys;
    bench_store_dir(cfg, ad, set, p->dir, sizeof p->dir);
    if (fresh && bench_fresh_dir(p->dir) != 0) {
        fprintf(stderr, "kvs-bench: cannot create %s: %s\n", p->dir, strerror(errno));
        return -1;
    }
    if (bench_values_init(&p->values, cfg->value_size, cfg->seed ^ 0x5EED) != 0)
        return -1;
    p->perm = bench_permutation(nkeys, cfg->seed + nkeys);
    return p->perm ? 0 : -1;
}

static void phase_free(struct phase *p, int remove_dir)
{
    bench_values_free(&p->values);
    free(p->perm);
    free(p->lat_arena);
    if (remove_dir)
        bench_rm_rf(p->dir);
}

static int open_store(struct phase *p, int sync)
{
    bench_open_opts_t o = {sync, p->nkeys, p->cfg->key_size, p->cfg->value_size};
    return p->ad->open(p->dir, &o, &p->db);
}

static int close_store(struct phase *p)
{
    int rc = p->db ? p->ad->close(p->db) : 0;
    p->db = NULL;
    return rc;
}

/* Runs one workload; reports it when `report` is set (a fill that only
 * prepares the store for another workload is run but not reported). */
static int run_timed(struct phase *p, bench_metric_t m, const bench_job_t *spec, int report,
                     const char *note)
{
    bench_job_t j = *spec;
    j.ad = p->ad;
    j.db = p->db;
    j.values = &p->values;
    j.key_size = p->cfg->key_size;
    j.lat_arena = p->lat_arena;
    j.lat_arena_len = p->lat_arena_len;
    if (!j.seed)
        j.seed = p->cfg->seed * 1000003u + (uint64_t)m;
    bench_job_result_t r;
    int rc = bench_job_run(&j, &r);
    if ((j.op == OP_SCAN || j.op == OP_SCAN_BACK) && p->ad->iter->unordered)
        r.flags |= BENCH_RES_F_UNORDERED;
    if (rc != 0)
        emit(p->sink, m, BENCH_RES_FAILED, &r, 0, "store error after %llu ops (see stderr)",
             (unsigned long long)r.ops);
    else if (r.unexpected)
        emit(p->sink, m, BENCH_RES_FAILED, &r, 0,
             "%llu wrong outcomes (miss/hit/length/order/count)", (unsigned long long)r.unexpected);
    else if (report)
        emit(p->sink, m, BENCH_RES_OK, &r, 0, note ? "%s" : NULL, note);
    return rc == 0 && r.unexpected == 0 ? 0 : -1;
}

int bench_phase_seq(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink)
{
    struct phase p;
    int rc = phase_init(&p, cfg, ad, sink, "seq", cfg->num, 1);
    if (!rc)
        rc = open_store(&p, 0);
    if (!rc) {
        bench_job_t fill = {.op = OP_PUT, .keys = KEYS_SEQ, .ops = cfg->num};
        rc = run_timed(&p, M_FILLSEQ, &fill, bench_wants(cfg, M_FILLSEQ), NULL);
    }
    if (!rc && bench_wants(cfg, M_DELETERANDOM)) {
        bench_job_t del = {.op = OP_DEL, .keys = KEYS_ORDER, .order = p.perm, .ops = cfg->num,
                           .expect = EXPECT_FOUND};
        rc = run_timed(&p, M_DELETERANDOM, &del, 1, NULL);
    }
    rc |= close_store(&p);
    phase_free(&p, 1);
    return rc;
}

int bench_phase_batch(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink)
{
    if (!ad->batch) {
        emit(sink, M_FILLBATCH, BENCH_RES_SKIPPED, NULL, 0, "n/a: %.110s",
             ad->batch_desc ? ad->batch_desc : "the adapter has no write batch");
        return 0;
    }
    struct phase p;
    int rc = phase_init(&p, cfg, ad, sink, "batch", cfg->num, 1);
    if (!rc)
        rc = open_store(&p, 0);
    if (!rc) {
        /* fillrandom's keys in fillrandom's order (the same permutation). */
        bench_job_t fill = {.op = OP_BATCH_PUT, .keys = KEYS_ORDER, .order = p.perm,
                            .ops = cfg->num};
        rc = run_timed(&p, M_FILLBATCH, &fill, 1, NULL);
    }
    rc |= close_store(&p);
    phase_free(&p, 1);
    return rc;
}

static void emit_space(struct phase *p, bench_metric_t m, const char *note)
{
    uint64_t bytes = bench_dir_bytes(p->dir);
    double user = (double)p->cfg->num * (double)(p->cfg->key_size + p->cfg->value_size);
    emit(p->sink, m, BENCH_RES_OK, NULL, (double)bytes, "amp %.2f%s%s", bytes / user,
         note ? "; " : "", note ? note : "");
}

static int overwrite(struct phase *p, int report, uint64_t seed)
{
    bench_job_t ow = {.op = OP_PUT, .keys = KEYS_RANDOM, .universe = p->cfg->num,
                      .ops = p->cfg->num, .seed = seed};
    return run_timed(p, M_OVERWRITE, &ow, report, NULL);
}

/* Why a cursor workload cannot run on this store, or NULL if it can. */
static const char *cursor_missing(const bench_adapter_t *ad, bench_op_t op)
{
    const bench_iter_ops_t *io = ad->iter;
    if (!io)
        return "n/a: the adapter has no cursor";
    if (op == OP_SCAN_BACK && !io->last)
        return "n/a: the store's cursor cannot walk backward";
    if (op == OP_SEEK && (!io->seek || io->unordered))
        return "n/a: the store's cursor cannot seek in key order";
    return NULL;
}

/* readseq, readreverse or seekrandom; takes *note (sets it NULL) when it
 * reports a result that can carry it. */
static int cursor_job(struct phase *p, bench_metric_t m, bench_op_t op, const char **note)
{
    const bench_config_t *cfg = p->cfg;
    const char *why = cursor_missing(p->ad, op);
    if (why) {
        emit(p->sink, m, BENCH_RES_SKIPPED, NULL, 0, "%s", why);
        return 0;
    }
    bench_job_t j = {.op = op, .keys = KEYS_RANDOM, .universe = cfg->num, .ops = cfg->num,
                     .expect = EXPECT_FOUND, .sample_latency = op == OP_SEEK};
    if (op == OP_SEEK && cfg->reads)
        j.ops = cfg->reads;
    char text[128];
    snprintf(text, sizeof text, "%s%s%.90s",
             p->ad->iter->unordered ? "unordered walk (hash order)" : "",
             p->ad->iter->unordered && *note ? "; " : "", *note ? *note : "");
    *note = NULL;
    return run_timed(p, m, &j, 1, text[0] ? text : NULL);
}

/* The read workloads, on a store whose background work has settled; the
 * first one reported carries the settle note. */
static int reads(struct phase *p, const char *note)
{
    const bench_config_t *cfg = p->cfg;
    bench_job_t rd = {.op = OP_GET, .keys = KEYS_RANDOM, .universe = cfg->num, .ops = cfg->num,
                      .expect = EXPECT_FOUND, .sample_latency = 1};
    int rc = 0;
    if (bench_wants(cfg, M_READRANDOM)) {
        rc |= run_timed(p, M_READRANDOM, &rd, 1, note);
        note = NULL;
    }
    if (bench_wants(cfg, M_MULTIGET)) {
        /* No latency samples: an op is one key, but a call reads many. */
        bench_job_t mg = rd;
        mg.op = OP_MULTI_GET;
        mg.sample_latency = 0;
        rc |= run_timed(p, M_MULTIGET, &mg, 1, note);
        note = NULL;
    }
    if (bench_wants(cfg, M_READRANDOM_MT)) {
        bench_job_t mt = rd;
        mt.threads = cfg->threads;
        rc |= run_timed(p, M_READRANDOM_MT, &mt, 1, note);
        note = NULL;
    }
    if (bench_wants(cfg, M_READMISSING)) {
        bench_job_t miss = rd;
        miss.expect = EXPECT_MISSING;
        rc |= run_timed(p, M_READMISSING, &miss, 1, note);
        note = NULL;
    }
    static const struct {
        bench_metric_t m;
        bench_op_t op;
    } cursors[] = {{M_READSEQ, OP_SCAN}, {M_READREVERSE, OP_SCAN_BACK}, {M_SEEKRANDOM, OP_SEEK}};
    for (size_t i = 0; i < sizeof cursors / sizeof cursors[0]; i++)
        if (bench_wants(cfg, cursors[i].m))
            rc |= cursor_job(p, cursors[i].m, cursors[i].op, &note);
    return rc;
}

/* Waits for background work to finish: the store's own signal if it has one,
 * else a directory size that has not changed for 2 s. Bounded either way. */
static void settle(struct phase *p, char *note, size_t len)
{
    if (p->ad->settle) {
        p->ad->settle(p->db, 120.0, note, len);
        return;
    }
    uint64_t last = 0;
    long quiet = 0, waited = 0;
    while (waited < 120000 && quiet < 2000) {
        uint64_t now = bench_dir_bytes(p->dir);
        quiet = now == last ? quiet + 200 : 0;
        last = now;
        bench_sleep_ms(200);
        waited += 200;
    }
    snprintf(note, len, "directory size %s after %.1f s", quiet >= 2000 ? "stable" : "still moving",
             waited / 1000.0);
}

/* Two more overwrites (three in all), let compaction settle, close, measure. */
static int space_after_three(struct phase *p)
{
    char note[96];
    int rc = overwrite(p, 0, p->cfg->seed + 7);
    if (!rc)
        rc = overwrite(p, 0, p->cfg->seed + 11);
    if (!rc)
        settle(p, note, sizeof note);
    rc |= close_store(p);
    if (!rc)
        emit_space(p, M_SPACE_3, note);
    return rc;
}

static int wants_any(const bench_config_t *cfg, uint32_t mask)
{
    return (cfg->metrics & mask) != 0;
}

#define READ_METRICS                                                                      \
    (MBIT(M_READRANDOM) | MBIT(M_MULTIGET) | MBIT(M_READMISSING) | MBIT(M_READRANDOM_MT) | \
     MBIT(M_READSEQ) | MBIT(M_READREVERSE) | MBIT(M_SEEKRANDOM))
#define SPAN_METRICS (MBIT(M_PEAK_ANON_FILL) | MBIT(M_PEAK_ANON_READ) | MBIT(M_ORDER_PER_KEY))

/* Room for the latency samples of the largest read job, allocated and
 * touched before the memory baseline: the samples are the harness's memory,
 * not the store's. Without it (ENOMEM) the jobs use the heap as before. */
static void lat_arena_init(struct phase *p)
{
    const bench_config_t *cfg = p->cfg;
    uint64_t ops = cfg->reads > cfg->num ? cfg->reads : cfg->num;
    size_t len = bench_lat_arena_len(ops, cfg->threads + 1);
    p->lat_arena = malloc(len * sizeof *p->lat_arena);
    if (p->lat_arena) {
        memset(p->lat_arena, 0, len * sizeof *p->lat_arena);
        p->lat_arena_len = len;
    }
}

/* Starts sampling RssAnon when a row needs the span. */
static void span_start(struct phase *p)
{
    memset(&p->span, 0, sizeof p->span);
    if (!wants_any(p->cfg, SPAN_METRICS))
        return;
    bench_mem_sampler_start(&p->span.sampler); /* if it fails: start and stop samples only */
    p->span.on = 1;
}

/* The store's own counts, taken while it is open, near the span's end. */
static void span_count(struct phase *p)
{
    struct mem_span *s = &p->span;
    if (s->on && p->ad->index_bytes)
        p->ad->index_bytes(p->db, &s->index, &s->keys);
    if (s->on && p->ad->order_bytes)
        p->ad->order_bytes(p->db, &s->order);
}

/* Stops the sampler; reports the peak above the baseline, per key, as m. */
static void span_end(struct phase *p, bench_metric_t m, int ok)
{
    struct mem_span *s = &p->span;
    if (!s->on)
        return;
    s->on = 0;
    uint64_t peak = bench_mem_sampler_stop(&s->sampler);
    if (!ok || !bench_wants(p->cfg, m))
        return;
    double above = peak > p->base_anon ? (double)(peak - p->base_anon) : 0;
    char own[64] = "";
    if (s->keys)
        snprintf(own, sizeof own, "; own count: index %.1f + order %.1f B/key",
                 (double)s->index / (double)s->keys, (double)s->order / (double)s->keys);
    emit(p->sink, m, BENCH_RES_OK, NULL, above / (double)p->cfg->num,
         "peak RssAnon +%.1f MB over %.1f MB at start, %llu samples%s", above / 1e6,
         p->base_anon / 1e6, (unsigned long long)atomic_load(&s->sampler.samples), own);
}

/* The key order's size after the reads, from the counts of the read span. */
static void emit_order(struct phase *p)
{
    const struct mem_span *s = &p->span;
    if (!bench_wants(p->cfg, M_ORDER_PER_KEY))
        return;
    if (!p->ad->order_bytes || !s->keys) {
        emit(p->sink, M_ORDER_PER_KEY, BENCH_RES_SKIPPED, NULL, 0,
             "the store keeps no separate in-memory key order");
        return;
    }
    emit(p->sink, M_ORDER_PER_KEY, BENCH_RES_OK, NULL, (double)s->order / (double)s->keys,
         "%.1f MB for %llu keys", s->order / 1e6, (unsigned long long)s->keys);
}

/* The first open after the writes: an LSM store may replay its log here. */
static int reopen_timed(struct phase *p)
{
    uint64_t t0 = bench_now_ns();
    int rc = open_store(p, 0);
    uint64_t t1 = bench_now_ns();
    char note[120] = "";
    if (!rc && p->ad->open_note)
        p->ad->open_note(p->db, note, sizeof note);
    if (!rc && bench_wants(p->cfg, M_OPEN_FIRST))
        emit(p->sink, M_OPEN_FIRST, BENCH_RES_OK, NULL, (double)(t1 - t0) / 1e6,
             note[0] ? "%s" : NULL, note);
    return rc;
}

/* fillrandom + overwrite on a fresh store. */
static int fill_and_overwrite(struct phase *p)
{
    const bench_config_t *cfg = p->cfg;
    int rc = open_store(p, 0);
    if (!rc) {
        bench_job_t fill = {.op = OP_PUT, .keys = KEYS_ORDER, .order = p->perm, .ops = cfg->num};
        rc = run_timed(p, M_FILLRANDOM, &fill, bench_wants(cfg, M_FILLRANDOM), NULL);
    }
    if (!rc)
        rc = overwrite(p, bench_wants(cfg, M_OVERWRITE), 0);
    if (!rc)
        span_count(p);
    rc |= close_store(p);
    span_end(p, M_PEAK_ANON_FILL, rc == 0);
    if (!rc && bench_wants(cfg, M_SPACE_1))
        emit_space(p, M_SPACE_1, NULL);
    return rc;
}

/* Reopened store: settle, reads (the end of the read memory span), more
 * overwrites; closed on return. */
static int after_reopen(struct phase *p)
{
    const bench_config_t *cfg = p->cfg;
    int rc = 0;
    if (wants_any(cfg, READ_METRICS)) {
        char note[128], settled[96];
        settle(p, settled, sizeof settled);
        snprintf(note, sizeof note, "reads after settling: %.90s", settled);
        rc = reads(p, note);
    }
    span_count(p);
    int any_read = wants_any(cfg, READ_METRICS);
    span_end(p, M_PEAK_ANON_READ, rc == 0 && any_read);
    if (!any_read && bench_wants(cfg, M_PEAK_ANON_READ))
        emit(p->sink, M_PEAK_ANON_READ, BENCH_RES_SKIPPED, NULL, 0, "no read workload selected");
    if (!rc)
        emit_order(p);
    if (!rc && bench_wants(cfg, M_SPACE_3))
        return space_after_three(p);
    rc |= close_store(p);
    return rc;
}

int bench_phase_random(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink)
{
    struct phase p;
    int rc = phase_init(&p, cfg, ad, sink, "random", cfg->num, 1);
    if (!rc)
        lat_arena_init(&p);
    uint64_t base_rss = bench_proc_status("VmRSS"); /* harness arrays already touched */
    p.base_anon = bench_proc_status("RssAnon");
    span_start(&p);
    if (!rc)
        rc = fill_and_overwrite(&p);
    span_end(&p, M_PEAK_ANON_FILL, 0); /* stops it if the fill failed early */
    /* What the fill freed but the allocator kept is not the reads' memory. */
    bench_trim_heap();
    span_start(&p);
    if (!rc)
        rc = reopen_timed(&p);
    if (!rc)
        rc = after_reopen(&p);
    span_end(&p, M_PEAK_ANON_READ, 0);
    if (!rc && bench_wants(cfg, M_PEAK_RSS)) {
        uint64_t peak = bench_proc_status("VmHWM");
        emit(sink, M_PEAK_RSS, BENCH_RES_OK, NULL, (double)(peak > base_rss ? peak - base_rss : 0),
             "VmHWM %.1f MB minus harness baseline %.1f MB", peak / 1e6, base_rss / 1e6);
    }
    /* One untimed open and close, so the open phases time a store that has
     * done any recovery work (log replay) already and was closed cleanly. */
    if (!rc && wants_any(cfg, MBIT(M_OPEN_WARM) | MBIT(M_OPEN_COLD) | MBIT(M_ANON_PER_KEY)))
        rc = open_store(&p, 0) || close_store(&p);
    phase_free(&p, rc != 0); /* kept for the open phases */
    return rc;
}

/* Reads one key that must be there, so an open that lost data is not timed as a success. */
static int check_one_key(struct phase *p)
{
    char key[1024], buf[16];
    size_t vl;
    bench_key(key, p->cfg->key_size, 2 * (p->cfg->num / 2));
    void *ctx = p->ad->attach(p->db);
    int rc = ctx ? p->ad->get(ctx, key, p->cfg->key_size, buf, sizeof buf, &vl) : BENCH_ERR;
    if (ctx)
        p->ad->detach(ctx);
    return rc == BENCH_FOUND ? 0 : -1;
}

static void emit_memory(struct phase *p, uint64_t anon_before, uint64_t anon_after)
{
    double n = (double)p->cfg->num;
    double anon = anon_after > anon_before ? (double)(anon_after - anon_before) : 0;
    emit(p->sink, M_ANON_PER_KEY, BENCH_RES_OK, NULL, anon / n, "RssAnon grew %.1f MB at open",
         anon / 1e6);
    if (!bench_wants(p->cfg, M_INDEX_PER_KEY))
        return;
    uint64_t bytes, keys;
    if (!p->ad->index_bytes || p->ad->index_bytes(p->db, &bytes, &keys) != 0 || !keys) {
        emit(p->sink, M_INDEX_PER_KEY, BENCH_RES_SKIPPED, NULL, 0, "the store reports no index size");
        return;
    }
    /* libkvs builds its key order in the background after the open, so
     * little or none of it exists yet: say how much, next to the index. */
    uint64_t order = 0;
    char also[64] = "";
    if (p->ad->order_bytes && p->ad->order_bytes(p->db, &order) == 0)
        snprintf(also, sizeof also, "; key order so far %.1f MB", order / 1e6);
    emit(p->sink, M_INDEX_PER_KEY, BENCH_RES_OK, NULL, (double)bytes / (double)keys,
         "%.1f MB for %llu keys%s", bytes / 1e6, (unsigned long long)keys, also);
}

static int open_probe(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink,
                      int cold)
{
    bench_metric_t m = cold ? M_OPEN_COLD : M_OPEN_WARM;
    if (cold && bench_drop_caches() != 0) {
        emit(sink, m, BENCH_RES_SKIPPED, NULL, 0, "dropping the page cache needs root (%s)",
             strerror(errno));
        return 0;
    }
    /* Nothing dirty left by earlier phases (of any store): stores that fsync
     * at open (libkvs, LevelDB, RocksDB) would otherwise wait for unrelated
     * writeback, and the time would depend on which store ran just before. */
    sync();
    struct phase p;
    if (phase_init(&p, cfg, ad, sink, "random", 1, 0) != 0)
        return -1;
    p.nkeys = cfg->num;
    uint64_t anon0 = bench_proc_status("RssAnon"), t0 = bench_now_ns();
    int rc = open_store(&p, 0);
    uint64_t t1 = bench_now_ns(), anon1 = bench_proc_status("RssAnon");
    if (!rc && check_one_key(&p) != 0) {
        fprintf(stderr, "kvs-bench: %s: a key is missing after reopening\n", ad->name);
        rc = -1;
    }
    char note[120] = "";
    if (!rc && ad->open_note)
        ad->open_note(p.db, note, sizeof note);
    if (!rc && !cold && wants_any(cfg, MBIT(M_ANON_PER_KEY) | MBIT(M_INDEX_PER_KEY)))
        emit_memory(&p, anon0, anon1);
    rc |= close_store(&p);
    if (!rc && bench_wants(cfg, m))
        emit(sink, m, BENCH_RES_OK, NULL, (double)(t1 - t0) / 1e6, note[0] ? "%s" : NULL, note);
    phase_free(&p, 0);
    return rc;
}

int bench_phase_open_warm(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink)
{
    return open_probe(cfg, ad, sink, 0);
}

int bench_phase_open_cold(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink)
{
    return open_probe(cfg, ad, sink, 1);
}

static int sync_phase(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink,
                      bench_metric_t m, unsigned threads, const char *set)
{
    struct phase p;
    int rc = phase_init(&p, cfg, ad, sink, set, cfg->sync_num, 1);
    if (!rc)
        rc = open_store(&p, 1);
    if (!rc) {
        bench_job_t fill = {.op = OP_PUT, .keys = KEYS_ORDER, .order = p.perm,
                            .ops = cfg->sync_num, .threads = threads};
        rc = run_timed(&p, m, &fill, 1, NULL);
    }
    rc |= close_store(&p);
    phase_free(&p, 1);
    return rc;
}

int bench_phase_sync1(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink)
{
    return sync_phase(cfg, ad, sink, M_FILLSYNC, 1, "sync1");
}

int bench_phase_syncn(const bench_config_t *cfg, const bench_adapter_t *ad, bench_sink_t *sink)
{
    return sync_phase(cfg, ad, sink, M_FILLSYNC_MT, cfg->sync_threads, "syncn");
}

uint32_t bench_phase_metrics(bench_phase_fn fn)
{
    const uint32_t open = MBIT(M_OPEN_WARM) | MBIT(M_ANON_PER_KEY) | MBIT(M_INDEX_PER_KEY);
    if (fn == bench_phase_seq)
        return MBIT(M_FILLSEQ) | MBIT(M_DELETERANDOM);
    if (fn == bench_phase_batch)
        return MBIT(M_FILLBATCH);
    if (fn == bench_phase_random)
        return MBIT(M_FILLRANDOM) | MBIT(M_OVERWRITE) | READ_METRICS | SPAN_METRICS |
               MBIT(M_SPACE_1) | MBIT(M_SPACE_3) | MBIT(M_PEAK_RSS) | MBIT(M_OPEN_FIRST) | open |
               MBIT(M_OPEN_COLD);
    if (fn == bench_phase_open_warm)
        return open;
    if (fn == bench_phase_open_cold)
        return MBIT(M_OPEN_COLD);
    if (fn == bench_phase_sync1)
        return MBIT(M_FILLSYNC);
    return MBIT(M_FILLSYNC_MT);
}
