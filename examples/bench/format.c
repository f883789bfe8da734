/* Numbers to text, and the ratio arithmetic shared by every output. */
#include "report.h"

#include "adapter.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void bench_metric_label(const bench_config_t *cfg, bench_metric_t m, char *buf, size_t len)
{
    if (m == M_READRANDOM_MT)
        snprintf(buf, len, "readrandom, %u threads", cfg->threads);
    else if (m == M_FILLSYNC_MT)
        snprintf(buf, len, "fillsync, %u writers", cfg->sync_threads);
    else if (m == M_MULTIGET)
        snprintf(buf, len, "multiget, %d keys per call", BENCH_MULTI_GET_KEYS);
    else
        snprintf(buf, len, "%s", bench_metric(m)->label);
}

double bench_ops_per_sec(const bench_result_t *r)
{
    if (r->status != BENCH_RES_OK || r->seconds <= 0)
        return 0;
    return (double)r->ops / r->seconds;
}

static double cost(const bench_result_t *r)
{
    return r->status == BENCH_RES_OK ? r->value : NAN;
}

double bench_kvs_advantage(const bench_table_t *t, int peer, bench_metric_t m)
{
    const bench_result_t *k = &t->r[0][m], *p = &t->r[peer][m];
    if (bench_metric_is_throughput(m)) {
        double a = bench_ops_per_sec(k), b = bench_ops_per_sec(p);
        return a > 0 && b > 0 ? a / b : NAN;
    }
    double a = cost(k), b = cost(p);
    return a > 0 && b >= 0 ? b / a : NAN;
}

void bench_format_ops(double ops, char *buf, size_t len)
{
    if (ops >= 1e6)
        snprintf(buf, len, "%.2f M", ops / 1e6);
    else if (ops >= 1e3)
        snprintf(buf, len, "%.1f k", ops / 1e3);
    else
        snprintf(buf, len, "%.0f", ops);
}

/* "1.23 M/s, 0.81 µs" plus "p50 0.70 / p99 2.10" for sampled reads. */
static void format_throughput(const bench_result_t *r, char *buf, size_t len)
{
    char ops[32];
    double ps = bench_ops_per_sec(r);
    bench_format_ops(ps, ops, sizeof ops);
    int n = snprintf(buf, len, "%s/s, %.2f µs", ops, ps > 0 ? 1e6 / ps : 0);
    if (r->p50_us >= 0 && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " (p50 %.2f, p99 %.2f)", r->p50_us, r->p99_us);
}

void bench_format_cell(const bench_config_t *cfg, const bench_result_t *r, char *buf, size_t len)
{
    double user = (double)cfg->num * (double)(cfg->key_size + cfg->value_size);
    if (r->status == BENCH_RES_NONE) {
        snprintf(buf, len, "—");
        return;
    }
    if (r->status != BENCH_RES_OK) {
        snprintf(buf, len, "%s", r->status == BENCH_RES_SKIPPED ? "n/a" : "FAILED");
        return;
    }
    switch (bench_metric((bench_metric_t)r->metric)->kind) {
    case KIND_OPS:
    case KIND_OPS_LAT:
        format_throughput(r, buf, len);
        if (r->flags & BENCH_RES_F_UNORDERED)
            snprintf(buf + strlen(buf), len - strlen(buf), ", unordered walk");
        break;
    case KIND_MS:
        snprintf(buf, len, "%.1f ms", r->value);
        break;
    case KIND_SPACE:
        snprintf(buf, len, "%.1f MB (%.2f×)", r->value / 1e6, r->value / user);
        break;
    case KIND_PER_KEY:
        snprintf(buf, len, "%.1f B", r->value);
        break;
    case KIND_BYTES:
        snprintf(buf, len, "%.1f MB", r->value / 1e6);
        break;
    }
}

void bench_report_progress(const bench_config_t *cfg, const bench_result_t *r)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    char label[96], cell[128];
    bench_metric_label(cfg, (bench_metric_t)r->metric, label, sizeof label);
    bench_format_cell(cfg, r, cell, sizeof cell);
    fprintf(stderr, "kvs-bench: %-15s %-46s %s%s%s\n", ads[r->store]->title, label, cell,
            r->note[0] ? "  -- " : "", r->note);
}
