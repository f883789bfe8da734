/* kvs_options_t: what kvs_open() can be told, with validated defaults. */
#ifndef KVS_OPTIONS_H
#define KVS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "kvs.h"

#define KVS_DEFAULT_SEGMENT_BYTES (64u * 1024u * 1024u)
#define KVS_SEGMENT_BYTES_MIN 4096u
#define KVS_SEGMENT_BYTES_MAX (1024u * 1024u * 1024u)
#define KVS_DEFAULT_SYNC_INTERVAL_MS 1000u
#define KVS_DEFAULT_COMPACTION_TRIGGER_PERCENT 20u

struct kvs_options {
    kvs_sync_t sync;
    unsigned sync_interval_ms;
    uint64_t segment_bytes;
    unsigned compaction_trigger_percent;
    int create_if_missing;
    int read_only;
    int repair;
    int use_hints;
    int write_through; /* -1: decide from the sync mode */
    kvs_log_fn log_fn;
    void *log_ctx;
};

/* Fill in the defaults. */
void kvs__options_defaults(struct kvs_options *o);

/* KVS_OK if every field is in range (setters validate too, but a caller can
 * pass any integer as a kvs_sync_t). */
int kvs__options_validate(const struct kvs_options *o);

#endif
