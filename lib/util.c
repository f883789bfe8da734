/* Small process-wide helpers: clock, assertion failure, the allocator boundary. */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

uint64_t kvs__now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t (*_Atomic clock_ms)(void) = realtime_ms;

void kvs__set_clock_ms(uint64_t (*fn)(void))
{
    atomic_store(&clock_ms, fn ? fn : realtime_ms);
}

uint64_t kvs__now_ms(void)
{
    return atomic_load_explicit(&clock_ms, memory_order_relaxed)();
}

struct timespec kvs__deadline_in_us(uint64_t us)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t ns = (uint64_t)t.tv_nsec + us * 1000u;
    t.tv_sec += (time_t)(ns / 1000000000u);
    t.tv_nsec = (long)(ns % 1000000000u);
    return t;
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

/* ---- large arrays ---- */

/* 64 KiB: glibc's own threshold starts at 128 KiB, and the key order's
 * pending blocks and flushed runs (64 and 128 KiB, thousands of them in a
 * write burst) then stay out of the heap too. */
#define BIG_BYTES ((size_t)64 * 1024)

void *kvs__big_alloc(size_t bytes)
{
    if (bytes < BIG_BYTES)
        return malloc(bytes ? bytes : 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void kvs__big_free(void *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < BIG_BYTES)
        free(p);
    else
        munmap(p, bytes);
}

void *kvs__big_realloc(void *p, size_t old_bytes, size_t new_bytes)
{
    if (!p)
        return kvs__big_alloc(new_bytes);
    if (old_bytes < BIG_BYTES && new_bytes < BIG_BYTES)
        return realloc(p, new_bytes ? new_bytes : 1);
    if (old_bytes >= BIG_BYTES && new_bytes >= BIG_BYTES) {
        void *n = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);
        return n == MAP_FAILED ? NULL : n;
    }
    void *n = kvs__big_alloc(new_bytes);
    if (!n)
        return NULL;
    memcpy(n, p, old_bytes < new_bytes ? old_bytes : new_bytes);
    kvs__big_free(p, old_bytes);
    return n;
}
