/* Options object: allocation, defaults, setters with range checks. */
#include "options.h"

#include <stdlib.h>

void kvs__options_defaults(struct kvs_options *o)
{
    *o = (struct kvs_options){
        .sync = KVS_SYNC_INTERVAL,
        .sync_interval_ms = KVS_DEFAULT_SYNC_INTERVAL_MS,
        .segment_bytes = KVS_DEFAULT_SEGMENT_BYTES,
        .compaction_trigger_percent = KVS_DEFAULT_COMPACTION_TRIGGER_PERCENT,
        .create_if_missing = 1,
        .read_only = 0,
        .repair = 0,
        .use_hints = 1,
        .write_through = -1,
        .log_fn = NULL,
        .log_ctx = NULL,
    };
}

int kvs__options_validate(const struct kvs_options *o)
{
    if (o->sync != KVS_SYNC_NONE && o->sync != KVS_SYNC_INTERVAL && o->sync != KVS_SYNC_ALWAYS)
        return KVS_EINVAL;
    if (o->sync_interval_ms < 1 || o->sync_interval_ms > 60000)
        return KVS_EINVAL;
    if (o->segment_bytes < KVS_SEGMENT_BYTES_MIN || o->segment_bytes > KVS_SEGMENT_BYTES_MAX)
        return KVS_EINVAL;
    if (o->compaction_trigger_percent < 1 || o->compaction_trigger_percent > 100)
        return KVS_EINVAL;
    return KVS_OK;
}

kvs_options_t *kvs_options_create(void)
{
    struct kvs_options *o = malloc(sizeof(*o));
    if (o)
        kvs__options_defaults(o);
    return o;
}

void kvs_options_destroy(kvs_options_t *opts)
{
    free(opts);
}

void kvs_options_set_sync(kvs_options_t *opts, kvs_sync_t mode)
{
    if (opts)
        opts->sync = mode;
}

int kvs_options_set_sync_interval_ms(kvs_options_t *opts, unsigned interval_ms)
{
    if (!opts || interval_ms < 1 || interval_ms > 60000)
        return KVS_EINVAL;
    opts->sync_interval_ms = interval_ms;
    return KVS_OK;
}

int kvs_options_set_segment_size(kvs_options_t *opts, size_t bytes)
{
    if (!opts || bytes < KVS_SEGMENT_BYTES_MIN || bytes > KVS_SEGMENT_BYTES_MAX)
        return KVS_EINVAL;
    opts->segment_bytes = bytes;
    return KVS_OK;
}

int kvs_options_set_compaction_trigger(kvs_options_t *opts, unsigned percent)
{
    if (!opts || percent < 1 || percent > 100)
        return KVS_EINVAL;
    opts->compaction_trigger_percent = percent;
    return KVS_OK;
}

void kvs_options_set_create_if_missing(kvs_options_t *opts, int on)
{
    if (opts)
        opts->create_if_missing = on != 0;
}

void kvs_options_set_read_only(kvs_options_t *opts, int on)
{
    if (opts)
        opts->read_only = on != 0;
}

void kvs_options_set_repair(kvs_options_t *opts, int on)
{
    if (opts)
        opts->repair = on != 0;
}

void kvs_options_set_use_hints(kvs_options_t *opts, int on)
{
    if (opts)
        opts->use_hints = on != 0;
}

void kvs_options_set_write_through(kvs_options_t *opts, int mode)
{
    if (opts)
        opts->write_through = mode == 0 || mode == 1 ? mode : -1;
}

void kvs_options_set_logger(kvs_options_t *opts, kvs_log_fn fn, void *ctx)
{
    if (opts) {
        opts->log_fn = fn;
        opts->log_ctx = ctx;
    }
}
