/* getopt_long parsing and validation of the run parameters. */
#include "options.h"

#include "adapter.h"
#include "keys.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    fprintf(f,
            "usage: kvs-bench [options]\n"
            "  --num N            keys in the main workloads (default 1000000)\n"
            "  --sync-num N       ops of fillsync / fillsync_mt (default 10000)\n"
            "  --reads N          seeks of seekrandom (default: --num)\n"
            "  --key-size B       key bytes (default 16)\n"
            "  --value-size B     value bytes (default 100)\n"
            "  --threads T        readers of readrandom_mt (default 2)\n"
            "  --sync-threads W   writers of fillsync_mt (default 8)\n"
            "  --stores LIST      comma-separated stores (default: all built in)\n"
            "  --benchmarks LIST  comma-separated, or 'all' (default):\n"
            "                     %s\n"
            "  --dir PATH         work directory (default: a new directory in /tmp)\n"
            "  --out PREFIX       writes PREFIX.md, PREFIX.csv, PREFIX.png (default kvs-bench)\n"
            "  --seed S           random seed (default 1)\n"
            "  --repeat R         complete runs; each cell is the median (default 1)\n"
            "  --no-chart         do not run gnuplot\n"
            "  --list             print the stores built in and exit\n"
            "  -h, --help\n"
            "stores built in:",
            bench_metric_groups());
    for (size_t i = 0; i < n; i++)
        fprintf(f, " %s", ads[i]->name);
    fprintf(f, "\n");
}

static void list_stores(void)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    for (size_t i = 0; i < n; i++)
        printf("%-8s %s %s\n", ads[i]->name, ads[i]->title, ads[i]->version());
}

static int parse_u64(const char *s, const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "kvs-bench: %s must be a number from %" PRIu64 " to %" PRIu64 "\n", what,
                min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_stores(const char *list, uint32_t *mask)
{
    *mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int i = bench_adapter_find(tok);
        if (i < 0) {
            fprintf(stderr, "kvs-bench: store '%s' is unknown or not built in (see --list)\n", tok);
            return -1;
        }
        *mask |= 1u << i;
    }
    return *mask ? 0 : -1;
}

static void defaults(bench_config_t *cfg)
{
    size_t n;
    bench_adapters(&n);
    memset(cfg, 0, sizeof *cfg);
    cfg->num = 1000000;
    cfg->sync_num = 10000;
    cfg->key_size = 16;
    cfg->value_size = 100;
    cfg->threads = 2;
    cfg->sync_threads = 8;
    cfg->seed = 1;
    cfg->stores = (1u << n) - 1;
    cfg->metrics = (1u << M_COUNT) - 1;
    cfg->out = "kvs-bench";
    cfg->repeat = 1;
}

enum { O_NUM = 256, O_SYNC_NUM, O_KEY, O_VALUE, O_THREADS, O_SYNC_THREADS, O_STORES, O_BENCH,
       O_DIR, O_OUT, O_SEED, O_NO_CHART, O_LIST, O_REPEAT, O_READS };

static const struct option longopts[] = {
    {"num", required_argument, NULL, O_NUM},
    {"sync-num", required_argument, NULL, O_SYNC_NUM},
    {"reads", required_argument, NULL, O_READS},
    {"key-size", required_argument, NULL, O_KEY},
    {"value-size", required_argument, NULL, O_VALUE},
    {"threads", required_argument, NULL, O_THREADS},
    {"sync-threads", required_argument, NULL, O_SYNC_THREADS},
    {"stores", required_argument, NULL, O_STORES},
    {"benchmarks", required_argument, NULL, O_BENCH},
    {"dir", required_argument, NULL, O_DIR},
    {"out", required_argument, NULL, O_OUT},
    {"seed", required_argument, NULL, O_SEED},
    {"repeat", required_argument, NULL, O_REPEAT},
    {"no-chart", no_argument, NULL, O_NO_CHART},
    {"list", no_argument, NULL, O_LIST},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one option; 1 = exit now successfully, -1 = usage error. */
static int apply(int c, const char *arg, bench_config_t *cfg)
{
    uint64_t v;
    switch (c) {
    case O_NUM: return parse_u64(arg, "--num", 1, 1u << 30, &cfg->num);
    case O_SYNC_NUM: return parse_u64(arg, "--sync-num", 1, 1u << 30, &cfg->sync_num);
    case O_READS: return parse_u64(arg, "--reads", 1, 1u << 30, &cfg->reads);
    case O_KEY:
        if (parse_u64(arg, "--key-size", 1, 1024, &v))
            return -1;
        cfg->key_size = (size_t)v;
        return 0;
    case O_VALUE:
        if (parse_u64(arg, "--value-size", 1, 1u << 20, &v))
            return -1;
        cfg->value_size = (size_t)v;
        return 0;
    case O_THREADS:
        if (parse_u64(arg, "--threads", 1, 64, &v))
            return -1;
        cfg->threads = (unsigned)v;
        return 0;
    case O_SYNC_THREADS:
        if (parse_u64(arg, "--sync-threads", 1, 64, &v))
            return -1;
        cfg->sync_threads = (unsigned)v;
        return 0;
    case O_STORES: return parse_stores(arg, &cfg->stores);
    case O_BENCH:
        if (bench_metrics_parse(arg, &cfg->metrics) == 0)
            return 0;
        fprintf(stderr, "kvs-bench: --benchmarks takes 'all' or names from: %s\n",
                bench_metric_groups());
        return -1;
    case O_DIR: snprintf(cfg->dir, sizeof cfg->dir, "%s", arg); return 0;
    case O_OUT: cfg->out = arg; return 0;
    case O_SEED: return parse_u64(arg, "--seed", 0, UINT64_MAX, &cfg->seed);
    case O_REPEAT:
        if (parse_u64(arg, "--repeat", 1, 64, &v))
            return -1;
        cfg->repeat = (unsigned)v;
        return 0;
    case O_NO_CHART: cfg->no_chart = 1; return 0;
    case O_LIST: list_stores(); return 1;
    case 'h': usage(stdout); return 1;
    default: usage(stderr); return -1;
    }
}

int bench_options_parse(int argc, char **argv, bench_config_t *cfg)
{
    defaults(cfg);
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int rc = apply(c, optarg, cfg);
        if (rc)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "kvs-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    uint64_t most = cfg->num > cfg->sync_num ? cfg->num : cfg->sync_num;
    if (cfg->key_size < bench_key_digits(most)) {
        fprintf(stderr, "kvs-bench: --key-size %zu is too small for %llu distinct keys (need %zu)\n",
                cfg->key_size, (unsigned long long)most, bench_key_digits(most));
        return -1;
    }
    return 0;
}
