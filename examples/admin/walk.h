/*
 * Walking a store in key order, for kvs dump and kvs scan: one iterator, so
 * one point in time; a range from --prefix or --start/--end; damaged
 * records reported and stepped over; each value's expiry.
 */
#ifndef KVS_ADMIN_WALK_H
#define KVS_ADMIN_WALK_H

#include "admin.h"

struct walk_range {
    struct dump_bytes prefix, start, end;
    bool has_prefix, has_start, has_end;
};

/* The range the options give. 0, or -1 after printing why. */
int walk_range_parse(const struct args *a, struct walk_range *r);
void walk_range_free(struct walk_range *r);

/* Called per entry: 0 to go on, 1 to stop (enough), -1 on an output error. */
typedef int (*walk_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t expire_at_ms);

struct walk_result {
    uint64_t entries; /* passed to fn */
    uint64_t damaged; /* records left out because they fail their checksum */
};

/*
 * Call fn for every key of the range, in order, with its value (NULL/0 when
 * !values: keys only, their values not read) and its expiry. A key whose
 * value expires during the walk is left out. Returns 0 (fn may have
 * stopped it), or -1: a store error (printed) or fn's -1.
 */
int walk(kvs_t *db, const char *dir, const struct walk_range *r, bool values, walk_fn fn,
         void *ctx, struct walk_result *res);

#endif
