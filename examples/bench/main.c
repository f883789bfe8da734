/* kvs-bench: libkvs side by side with LMDB, LevelDB, RocksDB, SQLite and
 * tkrzw on LevelDB db_bench-style workloads. See doc/BENCHMARKS.md. */
#include "bench.h"
#include "options.h"
#include "report.h"
#include "runner.h"
#include "sysinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int prepare_dir(bench_config_t *cfg)
{
    if (!cfg->dir[0]) {
        snprintf(cfg->dir, sizeof cfg->dir, "/tmp/kvs-bench-XXXXXX");
        if (!mkdtemp(cfg->dir))
            return -1;
        cfg->dir_is_temp = 1;
        return 0;
    }
    return mkdir(cfg->dir, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static void join_args(int argc, char **argv, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < argc && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Writes PREFIX.md, PREFIX.csv and PREFIX.png; the markdown also goes to stdout. */
static int write_outputs(const bench_config_t *cfg, const bench_table_t *t, const char *cmdline)
{
    char path[PATH_MAX];
    int rc = 0;
    snprintf(path, sizeof path, "%s.md", cfg->out);
    FILE *f = fopen(path, "w");
    if (f) {
        bench_report_markdown(cfg, t, cmdline, f);
        rc |= fclose(f);
    } else {
        rc = -1;
    }
    bench_report_markdown(cfg, t, cmdline, stdout);
    snprintf(path, sizeof path, "%s.csv", cfg->out);
    rc |= bench_report_csv(cfg, t, path);
    if (rc)
        fprintf(stderr, "kvs-bench: cannot write the outputs at %s: %s\n", cfg->out,
                strerror(errno));
    snprintf(path, sizeof path, "%s.png", cfg->out);
    if (!cfg->no_chart && bench_report_chart(cfg, t, path) != 0)
        fprintf(stderr, "kvs-bench: no chart written (gnuplot missing or failed, or no peer)\n");
    return rc;
}

int main(int argc, char **argv)
{
    static bench_config_t cfg;
    static bench_table_t table;
    int rc = bench_options_parse(argc, argv, &cfg);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (prepare_dir(&cfg) != 0) {
        fprintf(stderr, "kvs-bench: cannot create %s: %s\n", cfg.dir, strerror(errno));
        return 1;
    }
    char cmdline[2048];
    join_args(argc, argv, cmdline, sizeof cmdline);
    fprintf(stderr, "kvs-bench: N=%llu, data in %s\n", (unsigned long long)cfg.num, cfg.dir);
    int failures = bench_run_all(&cfg, &table);
    rc = write_outputs(&cfg, &table, cmdline);
    if (cfg.dir_is_temp)
        bench_rm_rf(cfg.dir);
    if (failures)
        fprintf(stderr, "kvs-bench: %d store(s) had failures; see the table and stderr\n", failures);
    return rc || failures ? 1 : 0;
}
