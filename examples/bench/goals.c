/* The performance goals of issue 4, checked against this run. This is a
 * report, never an assertion: nothing fails when a goal is missed. */
#include "report.h"

#include "adapter.h"

#include <math.h>
#include <string.h>

typedef enum {
    VS_PEER,    /* libkvs metric / peer metric >= target */
    VS_SELF,    /* libkvs metric / libkvs `other` metric >= target */
    AT_MOST,    /* libkvs value <= target */
    SPACE_AMP,  /* libkvs bytes / user bytes <= target */
    PER_KEY_MAX, /* libkvs bytes per key <= key size + target */
    PEAK_MAX    /* the larger of libkvs's metric and `other` (bytes per key) <= target */
} goal_kind_t;

typedef struct goal {
    const char *text;
    goal_kind_t kind;
    bench_metric_t metric;
    const char *peer;     /* VS_PEER */
    bench_metric_t other; /* VS_SELF */
    double target;
} goal_t;

static const goal_t goals[] = {
    {"fillrandom ≥ 1.0× tkrzw", VS_PEER, M_FILLRANDOM, "tkrzw", 0, 1.0},
    {"fillrandom ≥ 4× LevelDB", VS_PEER, M_FILLRANDOM, "leveldb", 0, 4.0},
    {"overwrite ≥ 1.0× tkrzw", VS_PEER, M_OVERWRITE, "tkrzw", 0, 1.0},
    {"overwrite ≥ 4× LevelDB", VS_PEER, M_OVERWRITE, "leveldb", 0, 4.0},
    {"readrandom ≥ 1.2× tkrzw", VS_PEER, M_READRANDOM, "tkrzw", 0, 1.2},
    {"readrandom ≥ 1.5× LMDB", VS_PEER, M_READRANDOM, "lmdb", 0, 1.5},
    {"readrandom, T threads ≥ 1.0× LMDB", VS_PEER, M_READRANDOM_MT, "lmdb", 0, 1.0},
    {"fillsync ≥ 0.9× SQLite", VS_PEER, M_FILLSYNC, "sqlite", 0, 0.9},
    {"fillsync, W writers ≥ 5× own 1 writer", VS_SELF, M_FILLSYNC_MT, NULL, M_FILLSYNC, 5.0},
    {"open N keys warm ≤ 100 ms", AT_MOST, M_OPEN_WARM, NULL, 0, 100.0},
    {"space amp after 3 overwrites ≤ 1.4", SPACE_AMP, M_SPACE_3, NULL, 0, 1.4},
    {"index bytes per key ≤ key + 40", PER_KEY_MAX, M_INDEX_PER_KEY, NULL, 0, 40.0},
    {"anon RSS per key after open ≤ key + 40", PER_KEY_MAX, M_ANON_PER_KEY, NULL, 0, 40.0},
    {"readseq ≥ 0.5× LMDB", VS_PEER, M_READSEQ, "lmdb", 0, 0.5},
    {"readseq ≥ 1.0× LevelDB", VS_PEER, M_READSEQ, "leveldb", 0, 1.0},
    {"seekrandom ≥ 1.0× LevelDB", VS_PEER, M_SEEKRANDOM, "leveldb", 0, 1.0},
    {"fillbatch ≥ 1.0× LevelDB's WriteBatch", VS_PEER, M_FILLBATCH, "leveldb", 0, 1.0},
    {"peak anonymous memory per key (fill, reads) ≤ 56 B", PEAK_MAX, M_PEAK_ANON_FILL, NULL,
     M_PEAK_ANON_READ, 56.0},
};

/* A successful per-key value, or NAN. */
static double value_of(const bench_result_t *r)
{
    return r->status == BENCH_RES_OK ? r->value : NAN;
}

/* The measured value of a goal, or NAN when an input is missing. */
static double measure(const bench_config_t *cfg, const bench_table_t *t, const goal_t *g)
{
    const bench_result_t *k = &t->r[0][g->metric];
    int peer;
    switch (g->kind) {
    case VS_PEER:
        peer = bench_adapter_find(g->peer);
        return peer > 0 ? bench_kvs_advantage(t, peer, g->metric) : NAN;
    case VS_SELF: {
        double a = bench_ops_per_sec(k), b = bench_ops_per_sec(&t->r[0][g->other]);
        return a > 0 && b > 0 ? a / b : NAN;
    }
    case SPACE_AMP:
        return k->status == BENCH_RES_OK
                   ? k->value / ((double)cfg->num * (double)(cfg->key_size + cfg->value_size))
                   : NAN;
    case PEAK_MAX: /* fmax ignores a NAN: one span measured is enough */
        return fmax(value_of(k), value_of(&t->r[0][g->other]));
    default:
        return k->status == BENCH_RES_OK ? k->value : NAN;
    }
}

static int met(const bench_config_t *cfg, const goal_t *g, double v)
{
    switch (g->kind) {
    case VS_PEER:
    case VS_SELF:
        return v >= g->target;
    case PER_KEY_MAX:
        return v <= (double)cfg->key_size + g->target;
    default:
        return v <= g->target;
    }
}

static void format_value(const goal_t *g, double v, char *buf, size_t len)
{
    if (g->kind == VS_PEER || g->kind == VS_SELF || g->kind == SPACE_AMP)
        snprintf(buf, len, "%.2f×", v);
    else if (g->kind == AT_MOST)
        snprintf(buf, len, "%.1f ms", v);
    else
        snprintf(buf, len, "%.1f B", v);
}

void bench_report_goals(const bench_config_t *cfg, const bench_table_t *t, FILE *f)
{
    if (!((cfg->stores >> 0) & 1u))
        return;
    fprintf(f, "## Goals (libkvs; stated for N = 1,000,000)\n\n");
    fprintf(f, "| goal | measured | met |\n|---|---|---|\n");
    for (size_t i = 0; i < sizeof goals / sizeof goals[0]; i++) {
        const goal_t *g = &goals[i];
        double v = measure(cfg, t, g);
        char val[32];
        format_value(g, v, val, sizeof val);
        fprintf(f, "| %s | %s | %s |\n", g->text, isnan(v) ? "not measured" : val,
                isnan(v) ? "—" : met(cfg, g, v) ? "yes" : "**no**");
    }
    fprintf(f, "\nT = %u reader threads, W = %u writers, key = %zu bytes.\n\n", cfg->threads,
            cfg->sync_threads, cfg->key_size);
}
