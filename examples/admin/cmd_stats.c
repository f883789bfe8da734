/*
 * kvs stats: every statistic kvs_stat() knows, by its kvs_stat_name(), as
 * "name value" lines (as mdb_stat prints) or as one JSON object. The store
 * is opened read-only for this, so the counters "since open" are those of
 * this open (0 but for open_micros and the recovery counters): the gauges
 * (keys, segments, bytes) are what describe the store.
 */
#include <inttypes.h>
#include <stdio.h>

#include "admin.h"

static int print_stats(kvs_t *db, bool json)
{
    if (json)
        puts("{");
    for (int i = 0; i < KVS_STAT_COUNT_; i++) {
        uint64_t v;
        const char *name = kvs_stat_name((kvs_stat_t)i);
        int rc = kvs_stat(db, (kvs_stat_t)i, &v);
        if (rc != KVS_OK || !name) {
            admin_status_error("kvs_stat", rc != KVS_OK ? rc : KVS_EINVAL);
            return EXIT_ERROR;
        }
        if (json)
            printf("  \"%s\": %" PRIu64 "%s\n", name, v, i + 1 < KVS_STAT_COUNT_ ? "," : "");
        else
            printf("%s %" PRIu64 "\n", name, v);
    }
    if (json)
        puts("}");
    return EXIT_OK;
}

int cmd_stats(const struct args *a)
{
    kvs_t *db;
    struct open_req req = {.dir = a->dir,
                           .mode = OPEN_READ,
                           .repair = (a->given & OPT_REPAIR) != 0,
                           .verbose = (a->given & OPT_VERBOSE) != 0};
    if (admin_open(&req, &db) != KVS_OK)
        return EXIT_ERROR;
    int status = print_stats(db, (a->given & OPT_JSON) != 0);
    if (admin_close(db, a->dir) != EXIT_OK)
        status = EXIT_ERROR;
    return admin_flush_stdout() == EXIT_OK ? status : EXIT_ERROR;
}
