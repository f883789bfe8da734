/* Small process-wide helpers: clock, assertion failure, the allocator boundary. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint64_t kvs__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void kvs__assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "libkvs: %s:%d: %s: assertion failed: %s\n", file, line, func, expr);
    abort();
}

/* Buffers handed to callers come from malloc; they go back through here so a
 * program with its own allocator never frees our memory with it. */
void kvs_free(void *ptr)
{
    free(ptr);
}
