/*
 * Leveled logging to stderr. Each message is formatted into one buffer and
 * written with a single write(2), so lines from different threads never mix.
 */
#ifndef KVS_SERVER_LOG_H
#define KVS_SERVER_LOG_H

#include <kvs.h>

enum log_level {
    LL_ERROR = 0,
    LL_WARN = 1,
    LL_INFO = 2,
    LL_DEBUG = 3,
    LL_ALWAYS = -1 /* startup banner: printed whatever the level */
};

/* Only messages at or below level are printed. Default LL_INFO. */
void log_set_level(enum log_level level);

/* "error", "warn"/"warning", "info"/"notice", "debug"/"verbose". Returns 0 or -1. */
int log_parse_level(const char *text, enum log_level *out);

/* Name of a level, as log_parse_level() reads it. */
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A kvs_log_fn: the library's diagnostics, at the matching level. */
void log_from_kvs(void *ctx, kvs_log_level_t level, const char *msg);

#endif
