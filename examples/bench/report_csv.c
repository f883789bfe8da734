/* One CSV row per (store, metric), raw numbers only, for spreadsheets and plots. */
#include "report.h"

#include "adapter.h"

#include <stdio.h>
#include <string.h>

static const char *status_name(int st)
{
    return st == BENCH_RES_OK ? "ok" : st == BENCH_RES_SKIPPED ? "skipped" : "failed";
}

static const char *unit(bench_metric_t m)
{
    switch (bench_metric(m)->kind) {
    case KIND_MS: return "ms";
    case KIND_SPACE: return "bytes_on_disk";
    case KIND_PER_KEY: return "bytes_per_key";
    case KIND_BYTES: return "bytes";
    default: return "";
    }
}

/* Notes are free text: quote them, doubling any quote inside. */
static void quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int bench_report_csv(const bench_config_t *cfg, const bench_table_t *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    fprintf(f, "store,workload,status,num,key_size,value_size,threads,ops,seconds,ops_per_sec,"
               "us_per_op,p50_us,p99_us,value,unit,note\n");
    for (size_t s = 0; s < n; s++) {
        for (int m = 0; m < M_COUNT; m++) {
            const bench_result_t *r = &t->r[s][m];
            if (r->status == BENCH_RES_NONE)
                continue;
            double ps = bench_ops_per_sec(r);
            unsigned th = m == M_READRANDOM_MT ? cfg->threads
                          : m == M_FILLSYNC_MT ? cfg->sync_threads : 1;
            fprintf(f, "%s,%s,%s,%llu,%zu,%zu,%u,%llu,%.6f,%.1f,%.4f,",
                    ads[s]->name, bench_metric((bench_metric_t)m)->key, status_name(r->status),
                    (unsigned long long)cfg->num, cfg->key_size, cfg->value_size, th,
                    (unsigned long long)r->ops, r->seconds, ps, ps > 0 ? 1e6 / ps : 0.0);
            if (r->p50_us >= 0) /* empty when latency was not sampled */
                fprintf(f, "%.3f,%.3f,", r->p50_us, r->p99_us);
            else
                fprintf(f, ",,");
            fprintf(f, "%.3f,%s,", r->value, unit((bench_metric_t)m));
            quoted(f, r->note);
            fputc('\n', f);
        }
    }
    return fclose(f) == 0 ? 0 : -1;
}
