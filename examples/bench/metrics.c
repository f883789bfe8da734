/* The metric table: what each row of the report means and which
 * --benchmarks group turns it on. */
#include "bench.h"

#include <string.h>

static const bench_metric_info_t metrics[M_COUNT] = {
    [M_FILLSEQ] = {"fillseq", "fillseq", "fillseq", KIND_OPS},
    [M_FILLRANDOM] = {"fillrandom", "fillrandom", "fillrandom", KIND_OPS},
    [M_FILLBATCH] = {"fillbatch", "fillbatch", "fillbatch", KIND_OPS},
    [M_OVERWRITE] = {"overwrite", "overwrite", "overwrite", KIND_OPS},
    [M_READRANDOM] = {"readrandom", "readrandom", "readrandom", KIND_OPS_LAT},
    [M_MULTIGET] = {"multiget", "multiget", "multiget, B keys per call", KIND_OPS},
    [M_READMISSING] = {"readmissing", "readmissing", "readmissing", KIND_OPS_LAT},
    [M_READRANDOM_MT] = {"readrandom_mt", "readrandom_mt", "readrandom, T threads", KIND_OPS_LAT},
    [M_READSEQ] = {"readseq", "readseq", "readseq", KIND_OPS},
    [M_READREVERSE] = {"readreverse", "readreverse", "readreverse", KIND_OPS},
    [M_SEEKRANDOM] = {"seekrandom", "seekrandom", "seekrandom", KIND_OPS_LAT},
    [M_DELETERANDOM] = {"deleterandom", "deleterandom", "deleterandom", KIND_OPS},
    [M_FILLSYNC] = {"fillsync", "fillsync", "fillsync, 1 writer", KIND_OPS},
    [M_FILLSYNC_MT] = {"fillsync_mt", "fillsync_mt", "fillsync, W writers", KIND_OPS},
    [M_OPEN_FIRST] = {"open", "open_first_ms", "first reopen after fillrandom+overwrite (ms)",
                      KIND_MS},
    [M_OPEN_WARM] = {"open", "open_warm_ms", "open N keys, warm (ms)", KIND_MS},
    [M_OPEN_COLD] = {"open", "open_cold_ms", "open N keys, caches dropped (ms)", KIND_MS},
    [M_SPACE_1] = {"space", "disk_fill_overwrite",
                   "disk after fillrandom+overwrite (MB, amp)", KIND_SPACE},
    [M_SPACE_3] = {"space", "disk_fill_3overwrites",
                   "disk after fillrandom+3 overwrites, settled (MB, amp)", KIND_SPACE},
    [M_ANON_PER_KEY] = {"memory", "anon_rss_per_key", "anon RSS per key after open (B)",
                        KIND_PER_KEY},
    [M_INDEX_PER_KEY] = {"memory", "index_bytes_per_key", "index bytes per key (store's own count)",
                         KIND_PER_KEY},
    [M_ORDER_PER_KEY] = {"memory", "order_bytes_per_key",
                         "key order bytes per key after the reads (store's own count)",
                         KIND_PER_KEY},
    [M_PEAK_ANON_FILL] = {"memory", "peak_anon_per_key_fill",
                          "peak anon memory per key, fillrandom+overwrite (B)", KIND_PER_KEY},
    [M_PEAK_ANON_READ] = {"memory", "peak_anon_per_key_read",
                          "peak anon memory per key, reopen+reads (B)", KIND_PER_KEY},
    [M_PEAK_RSS] = {"memory", "peak_rss_bytes", "peak RSS of fill/read phase (MB)", KIND_BYTES},
};

const bench_metric_info_t *bench_metric(bench_metric_t m)
{
    return &metrics[m];
}

int bench_metric_is_throughput(bench_metric_t m)
{
    return metrics[m].kind == KIND_OPS || metrics[m].kind == KIND_OPS_LAT;
}

const char *bench_metric_groups(void)
{
    return "fillseq,fillrandom,fillbatch,overwrite,readrandom,multiget,readmissing,readrandom_mt,"
           "readseq,readreverse,seekrandom,deleterandom,fillsync,fillsync_mt,open,space,memory";
}

/* Marks every metric of one group; returns 0 if the name matched none. */
static int set_group(const char *name, size_t len, uint32_t *mask)
{
    int found = 0;
    for (int m = 0; m < M_COUNT; m++) {
        if (strlen(metrics[m].group) == len && strncmp(metrics[m].group, name, len) == 0) {
            *mask |= 1u << m;
            found = 1;
        }
    }
    return found;
}

int bench_metrics_parse(const char *list, uint32_t *mask)
{
    *mask = 0;
    if (strcmp(list, "all") == 0) {
        *mask = (1u << M_COUNT) - 1;
        return 0;
    }
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len && !set_group(p, len, mask))
            return -1;
        p += len + (p[len] == ',');
    }
    return *mask ? 0 : -1;
}
