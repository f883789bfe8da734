/* The PNG chart: for every throughput workload, libkvs ops/s divided by each
 * peer's, as clustered bars on a log scale (1 = parity). Drawn by gnuplot,
 * fed a script with the data inline on its standard input. */
#include "report.h"

#include "adapter.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static int peers(const bench_config_t *cfg, size_t n)
{
    int k = 0;
    for (size_t s = 1; s < n; s++)
        k += (cfg->stores >> s) & 1u;
    return k;
}

static void script_head(FILE *g, const char *path, const bench_config_t *cfg)
{
    fprintf(g, "set terminal pngcairo size 1280,720 font 'sans,10'\n");
    fprintf(g, "set output '%s'\n", path);
    fprintf(g, "set title 'libkvs throughput ÷ peer throughput (N = %llu, %zu B keys, %zu B "
               "values; > 1: libkvs faster)'\n",
            (unsigned long long)cfg->num, cfg->key_size, cfg->value_size);
    fprintf(g, "set style data histograms\nset style histogram clustered gap 1\n");
    fprintf(g, "set style fill solid 0.8 border -1\nset boxwidth 0.9\n");
    fprintf(g, "set logscale y 10\nset yrange [0.01:*]\nset grid ytics\n");
    fprintf(g, "set datafile missing 'NaN'\nset key outside right top\n");
    fprintf(g, "set xtics rotate by -25 noenhanced\nset ylabel 'libkvs ÷ peer (log)'\n");
    fprintf(g, "set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2\n");
}

static void script_data(FILE *g, const bench_config_t *cfg, const bench_table_t *t, size_t n)
{
    const bench_adapter_t *const *ads = bench_adapters(&n);
    fprintf(g, "$d << EOD\nworkload");
    for (size_t s = 1; s < n; s++)
        if ((cfg->stores >> s) & 1u)
            fprintf(g, " \"%s\"", ads[s]->title);
    fprintf(g, "\n");
    for (int m = 0; m < M_COUNT; m++) {
        if (!bench_metric_is_throughput((bench_metric_t)m) || !bench_wants(cfg, (bench_metric_t)m))
            continue;
        char label[96];
        bench_metric_label(cfg, (bench_metric_t)m, label, sizeof label);
        fprintf(g, "\"%s\"", label);
        for (size_t s = 1; s < n; s++) {
            if (!((cfg->stores >> s) & 1u))
                continue;
            double a = bench_kvs_advantage(t, (int)s, (bench_metric_t)m);
            fprintf(g, isnan(a) ? " NaN" : " %.4f", a);
        }
        fprintf(g, "\n");
    }
    fprintf(g, "EOD\n");
}

int bench_report_chart(const bench_config_t *cfg, const bench_table_t *t, const char *path)
{
    size_t n;
    bench_adapters(&n);
    int k = peers(cfg, n);
    if (!((cfg->stores >> 0) & 1u) || k == 0)
        return -1; /* nothing to compare */
    FILE *g = popen("gnuplot 2>&1", "w");
    if (!g)
        return -1;
    script_head(g, path, cfg);
    script_data(g, cfg, t, n);
    fprintf(g, "plot for [i=2:%d] $d using i:xtic(1) title columnheader(i)\n", k + 1);
    int st = pclose(g);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}
