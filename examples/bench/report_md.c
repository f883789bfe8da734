/* The markdown report: run description, results, ratios, goals,
 * configurations and the notes attached to individual results. */
#include "report.h"

#include "adapter.h"
#include "workloads.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int selected(const bench_config_t *cfg, size_t s)
{
    return (cfg->stores >> s) & 1u;
}

static const char *fs_name(const char *dir)
{
    struct statfs st;
    if (statfs(dir, &st) != 0)
        return "unknown";
    switch ((unsigned long)st.f_type) {
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794c7630: return "overlayfs";
    default: return "other";
    }
}

static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(buf, len, "%s", colon + 2);
            buf[strcspn(buf, "\n")] = 0;
            break;
        }
    }
    fclose(f);
}

/* Other work on the machine skews every number, so say how busy it was. */
static void load_line(const bench_config_t *cfg, const bench_table_t *t, FILE *f)
{
    (void)cfg;
    fprintf(f, "- 1-minute load average as each round began:");
    for (size_t i = 0; i < BENCH_PHASES; i++)
        if (t->load[i] >= 0)
            fprintf(f, " [%s] %.2f;", bench_phase_names[i], t->load[i]);
    fprintf(f, " at the end %.2f (this program accounts for about 1; more means other "
               "processes shared the machine)\n",
            t->load_end);
}

static void header(const bench_config_t *cfg, const bench_table_t *t, const char *cmdline,
                   FILE *f)
{
    char repeat[64] = "one run";
    if (cfg->repeat > 1)
        snprintf(repeat, sizeof repeat, "each cell the median of %u complete runs", cfg->repeat);
    struct utsname u;
    uname(&u);
    char when[64], cpu[160];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    cpu_model(cpu, sizeof cpu);
    fprintf(f, "# kvs-bench results\n\n");
    fprintf(f, "- Finished %s on %s %s (%s), %ld CPUs, %s; data directory on %s%s\n", when,
            u.sysname, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), cpu,
            fs_name(cfg->dir), geteuid() == 0 ? "" : " (not root: cold open skipped)");
    fprintf(f, "- Command: `%s`\n", cmdline);
    fprintf(f, "- N = %llu keys of %zu bytes, values of %zu random bytes; fillsync: %llu ops; "
               "seekrandom: %llu seeks; readrandom threads = %u, fillsync writers = %u; "
               "seed %llu; %s\n",
            (unsigned long long)cfg->num, cfg->key_size, cfg->value_size,
            (unsigned long long)cfg->sync_num,
            (unsigned long long)(cfg->reads ? cfg->reads : cfg->num), cfg->threads,
            cfg->sync_threads, (unsigned long long)cfg->seed, repeat);
    load_line(cfg, t, f);
    fprintf(f, "\n");
}

/* The store columns of a table, from the first'th adapter on: each title
 * after prefix, then the separator row. The caller printed "| workload |". */
static void store_columns(const bench_config_t *cfg, size_t first, const char *prefix, FILE *f)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    for (size_t s = first; s < n; s++)
        if (selected(cfg, s))
            fprintf(f, " %s%s |", prefix, ads[s]->title);
    fprintf(f, "\n|---|");
    for (size_t s = first; s < n; s++)
        if (selected(cfg, s))
            fprintf(f, "---|");
    fprintf(f, "\n");
}

static void results(const bench_config_t *cfg, const bench_table_t *t, FILE *f)
{
    size_t n;
    bench_adapters(&n);
    fprintf(f, "## Results\n\nThroughput cells: ops/s and mean µs/op (wall time; with threads, "
               "all threads' ops together); reads add the sampled latency of one op in µs "
               "(p50, p99; every %dth op timed).\n\n| workload |", BENCH_SAMPLE_EVERY);
    store_columns(cfg, 0, "", f);
    for (int m = 0; m < M_COUNT; m++) {
        if (!bench_wants(cfg, (bench_metric_t)m))
            continue;
        char label[96], cell[128];
        bench_metric_label(cfg, (bench_metric_t)m, label, sizeof label);
        fprintf(f, "| %s |", label);
        for (size_t s = 0; s < n; s++) {
            if (!selected(cfg, s))
                continue;
            bench_format_cell(cfg, &t->r[s][m], cell, sizeof cell);
            fprintf(f, " %s |", cell);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void ratios(const bench_config_t *cfg, const bench_table_t *t, FILE *f)
{
    size_t n;
    bench_adapters(&n);
    if (!selected(cfg, 0) || cfg->stores == 1u)
        return;
    fprintf(f, "## libkvs against each peer\n\nTimes better (> 1: libkvs is better): "
               "libkvs ÷ peer for throughput, peer ÷ libkvs for time, space and memory.\n\n"
               "| workload |");
    store_columns(cfg, 1, "vs ", f);
    for (int m = 0; m < M_COUNT; m++) {
        if (!bench_wants(cfg, (bench_metric_t)m))
            continue;
        char label[96];
        bench_metric_label(cfg, (bench_metric_t)m, label, sizeof label);
        fprintf(f, "| %s |", label);
        for (size_t s = 1; s < n; s++) {
            if (!selected(cfg, s))
                continue;
            double a = bench_kvs_advantage(t, (int)s, (bench_metric_t)m);
            int unordered = (t->r[s][m].flags & BENCH_RES_F_UNORDERED) != 0;
            if (isnan(a) || isinf(a))
                fprintf(f, " — |");
            else
                fprintf(f, " %.2f×%s |", a, unordered ? " (vs an unordered walk)" : "");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
}

static void configs(const bench_config_t *cfg, FILE *f)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    fprintf(f, "## How each store is configured\n\n| store | version | non-sync workloads | "
               "fillsync | common settings |\n|---|---|---|---|---|\n");
    for (size_t s = 0; s < n; s++)
        if (selected(cfg, s))
            fprintf(f, "| %s | %s | %s | %s | %s |\n", ads[s]->title, ads[s]->version(),
                    ads[s]->nosync_desc, ads[s]->sync_desc, ads[s]->common_desc);
    fprintf(f, "\n");
}

/* How each store runs the cursor, batch and multi-key workloads, or why it
 * cannot. A store without a batched read still runs multiget (a get per key). */
static void hooks(const bench_config_t *cfg, FILE *f)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    fprintf(f, "## Cursors, write batches and multi-key reads\n\n| store | readseq, readreverse, "
               "seekrandom | fillbatch | multiget (%d keys per call) |\n|---|---|---|---|\n",
            BENCH_MULTI_GET_KEYS);
    for (size_t s = 0; s < n; s++)
        if (selected(cfg, s))
            fprintf(f, "| %s | %s | %s | %s |\n", ads[s]->title,
                    ads[s]->iter_desc ? ads[s]->iter_desc : (ads[s]->iter ? "?" : "n/a"),
                    ads[s]->batch_desc ? ads[s]->batch_desc : (ads[s]->batch ? "?" : "n/a"),
                    ads[s]->multi_get_desc ? ads[s]->multi_get_desc
                                           : (ads[s]->multi_get ? "?" : "a get per key"));
    fprintf(f, "\n");
}

static void notes(const bench_config_t *cfg, const bench_table_t *t, FILE *f)
{
    size_t n;
    const bench_adapter_t *const *ads = bench_adapters(&n);
    fprintf(f, "## Notes\n\n");
    for (size_t s = 0; s < n; s++) {
        for (int m = 0; m < M_COUNT; m++) {
            const bench_result_t *r = &t->r[s][m];
            if (!selected(cfg, s) || r->status == BENCH_RES_NONE || !r->note[0])
                continue;
            char label[96];
            bench_metric_label(cfg, (bench_metric_t)m, label, sizeof label);
            fprintf(f, "- %s, %s: %s\n", ads[s]->title, label, r->note);
        }
    }
    fprintf(f, "\n");
}

void bench_report_markdown(const bench_config_t *cfg, const bench_table_t *t, const char *cmdline,
                           FILE *f)
{
    header(cfg, t, cmdline, f);
    results(cfg, t, f);
    ratios(cfg, t, f);
    bench_report_goals(cfg, t, f);
    configs(cfg, f);
    hooks(cfg, f);
    notes(cfg, t, f);
}
