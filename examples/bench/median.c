/* --repeat: several complete runs folded into one table by taking, per
 * cell, the median run. On a shared machine one slow moment can halve a
 * single run's number; the median of three is far steadier, and the note
 * keeps the range so the spread stays visible. */
#include "report.h"
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double cell_key(const bench_result_t *r)
{
    return bench_metric_is_throughput((bench_metric_t)r->metric) ? bench_ops_per_sec(r) : r->value;
}

static int cmp_cells(const void *a, const void *b)
{
    double x = cell_key(*(const bench_result_t *const *)a);
    double y = cell_key(*(const bench_result_t *const *)b);
    return (x > y) - (x < y);
}

/* "1.10 M–1.49 M ops/s", "64.3–68.5 ms", "178.7–180.4 MB": the spread of the runs. */
static void format_range(const bench_result_t *lo, const bench_result_t *hi, char *buf,
                         size_t len)
{
    char a[16], b[16];
    switch (bench_metric((bench_metric_t)lo->metric)->kind) {
    case KIND_OPS:
    case KIND_OPS_LAT:
        bench_format_ops(cell_key(lo), a, sizeof a);
        bench_format_ops(cell_key(hi), b, sizeof b);
        snprintf(buf, len, "%s–%s ops/s", a, b);
        break;
    case KIND_MS:
        snprintf(buf, len, "%.1f–%.1f ms", lo->value, hi->value);
        break;
    case KIND_PER_KEY:
        snprintf(buf, len, "%.1f–%.1f B", lo->value, hi->value);
        break;
    default:
        snprintf(buf, len, "%.1f–%.1f MB", lo->value / 1e6, hi->value / 1e6);
        break;
    }
}

/* The first cell that did not succeed, or NULL when all did. */
static const bench_result_t *first_bad(const bench_table_t *runs, unsigned n, int s, int m)
{
    for (unsigned i = 0; i < n; i++)
        if (runs[i].r[s][m].status != BENCH_RES_OK)
            return &runs[i].r[s][m];
    return NULL;
}

static void median_cell(const bench_config_t *cfg, const bench_table_t *runs, unsigned n, int s,
                        int m, bench_result_t *out)
{
    const bench_result_t *bad = first_bad(runs, n, s, m);
    if (bad) {
        *out = *bad;
        return;
    }
    const bench_result_t *cells[64];
    unsigned k = n < 64 ? n : 64;
    for (unsigned i = 0; i < k; i++)
        cells[i] = &runs[i].r[s][m];
    qsort(cells, k, sizeof cells[0], cmp_cells);
    *out = *cells[(k - 1) / 2];
    char range[48];
    format_range(cells[0], cells[k - 1], range, sizeof range);
    char note[sizeof out->note];
    snprintf(note, sizeof note, "median of %u (range %.40s)%s%.45s", k, range,
             out->note[0] ? "; " : "", out->note);
    memcpy(out->note, note, sizeof note);
    (void)cfg;
}

void bench_median(const bench_config_t *cfg, const bench_table_t *runs, unsigned n,
                  bench_table_t *out)
{
    memset(out, 0, sizeof *out);
    for (int s = 0; s < BENCH_MAX_STORES; s++)
        for (int m = 0; m < M_COUNT; m++)
            median_cell(cfg, runs, n, s, m, &out->r[s][m]);
    for (size_t i = 0; i < BENCH_PHASES; i++) {
        out->load[i] = -1;
        for (unsigned r = 0; r < n; r++)
            if (runs[r].load[i] > out->load[i])
                out->load[i] = runs[r].load[i];
    }
    for (unsigned r = 0; r < n; r++)
        if (runs[r].load_end > out->load_end)
            out->load_end = runs[r].load_end;
}
