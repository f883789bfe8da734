/* kvs-bench: shared types (configuration, metrics, results).
 *
 * The program runs every store in forked child processes; children report
 * bench_result_t records to the parent through a pipe, so a record must stay
 * a plain fixed-size struct (no pointers) and smaller than PIPE_BUF, which
 * makes each write(2) of one record atomic. */
#ifndef KVS_BENCH_H
#define KVS_BENCH_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

enum { BENCH_MAX_STORES = 8 };

/* Every number the report can show, in table order. */
typedef enum {
    M_FILLSEQ,
    M_FILLRANDOM,
    M_FILLBATCH,     /* fillrandom's puts, 1,000 to a write batch */
    M_OVERWRITE,
    M_READRANDOM,
    M_MULTIGET,      /* readrandom's gets, BENCH_MULTI_GET_KEYS to a call */
    M_READMISSING,
    M_READRANDOM_MT,
    M_READSEQ,       /* one iterator over every key, forward */
    M_READREVERSE,   /* the same, backward */
    M_SEEKRANDOM,    /* a new iterator per op: seek, then 10 entries */
    M_DELETERANDOM,
    M_FILLSYNC,
    M_FILLSYNC_MT,
    M_OPEN_FIRST,    /* first open after the writes (may replay a log) */
    M_OPEN_WARM,     /* open of a cleanly closed store, page cache warm */
    M_OPEN_COLD,
    M_SPACE_1,       /* bytes on disk after fillrandom + overwrite */
    M_SPACE_3,       /* after fillrandom + 3 overwrites, settled */
    M_ANON_PER_KEY,  /* anonymous RSS per key after opening N keys */
    M_INDEX_PER_KEY, /* the store's own index size per key, if it reports one */
    M_ORDER_PER_KEY, /* the store's own key-order size per key (libkvs), after the reads */
    M_PEAK_ANON_FILL, /* sampled peak RssAnon per key over fillrandom + overwrite */
    M_PEAK_ANON_READ, /* the same over the reopen and the read workloads */
    M_PEAK_RSS,      /* peak RSS of the write/read phase above the harness baseline */
    M_COUNT
} bench_metric_t;

/* cfg->metrics is a bit mask of these. */
_Static_assert(M_COUNT <= 32, "bench_config_t.metrics has one bit per metric");

/* How a metric's value is shown and compared. */
typedef enum {
    KIND_OPS,       /* throughput: ops / seconds */
    KIND_OPS_LAT,   /* throughput plus sampled p50/p99 latency */
    KIND_MS,        /* value = milliseconds (lower is better) */
    KIND_SPACE,     /* value = bytes on disk (lower is better) */
    KIND_PER_KEY,   /* value = bytes per key (lower is better) */
    KIND_BYTES      /* value = bytes (lower is better) */
} bench_kind_t;

typedef struct bench_metric_info {
    const char *group; /* name accepted by --benchmarks */
    const char *key;   /* short identifier used in the CSV */
    const char *label; /* row label (bench_metric_label fills in T, W and B) */
    bench_kind_t kind;
} bench_metric_info_t;

const bench_metric_info_t *bench_metric(bench_metric_t m);
int bench_metric_is_throughput(bench_metric_t m);
/* Sets the bits of every metric in the comma-separated group list; -1 on an unknown name. */
int bench_metrics_parse(const char *list, uint32_t *mask);
const char *bench_metric_groups(void);

typedef struct bench_config {
    uint64_t num;          /* N: keys for the main workloads */
    uint64_t sync_num;     /* ops of fillsync and fillsync_mt */
    uint64_t reads;        /* ops of seekrandom (db_bench's --reads); 0: num */
    size_t key_size;
    size_t value_size;
    unsigned threads;      /* readers of readrandom_mt */
    unsigned sync_threads; /* writers of fillsync_mt */
    uint64_t seed;
    uint32_t stores;       /* bit i = adapter i of bench_adapters() */
    uint32_t metrics;      /* bit m = bench_metric_t m */
    char dir[PATH_MAX];    /* work directory; stores live in subdirectories */
    int dir_is_temp;       /* created by us: remove it at the end */
    const char *out;       /* output prefix */
    unsigned repeat;       /* complete runs; each cell reports the median */
    int no_chart;
} bench_config_t;

static inline int bench_wants(const bench_config_t *cfg, bench_metric_t m)
{
    return (cfg->metrics >> m) & 1u;
}

typedef enum {
    BENCH_RES_OK = 0,
    BENCH_RES_SKIPPED = 1, /* not measurable here (e.g. dropping caches needs root) */
    BENCH_RES_FAILED = 2,
    BENCH_RES_NONE = 3     /* not requested, or no result arrived */
} bench_status_t;

/* A walk that visited every key, but not in key order (a hash store's
 * iterator): shown as such wherever the number appears. */
#define BENCH_RES_F_UNORDERED 1u

typedef struct bench_result {
    int32_t store;
    int32_t metric;
    int32_t status;
    uint64_t ops;
    double seconds;
    double p50_us, p99_us; /* < 0 when not sampled */
    double value;          /* for non-throughput metrics, see bench_kind_t */
    uint32_t flags;        /* BENCH_RES_F_* */
    char note[120];
} bench_result_t;

_Static_assert(sizeof(bench_result_t) < 512, "a result must be written atomically to a pipe");

#endif
