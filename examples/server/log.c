/* Leveled stderr logging; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static atomic_int current_level = LL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

int log_parse_level(const char *text, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {
        {"error", LL_ERROR}, {"warn", LL_WARN},   {"warning", LL_WARN},  {"info", LL_INFO},
        {"notice", LL_INFO}, {"debug", LL_DEBUG}, {"verbose", LL_DEBUG},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return level >= LL_ERROR && level <= LL_DEBUG ? level_names[level] : "notice";
}

__attribute__((format(printf, 2, 0))) static void vlog(enum log_level level, const char *fmt,
                                                       va_list ap)
{
    if ((int)level > atomic_load_explicit(&current_level, memory_order_relaxed))
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03ld [%ld] %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, (long)getpid(), log_level_name(level));
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line; a failing stderr is nothing we can report. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void log_from_kvs(void *ctx, kvs_log_level_t level, const char *msg)
{
    (void)ctx;
    enum log_level l = level == KVS_LOG_ERROR ? LL_ERROR
                       : level == KVS_LOG_WARN ? LL_WARN
                                               : LL_INFO;
    log_msg(l, "libkvs: %s", msg);
}
