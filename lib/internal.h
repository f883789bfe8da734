/*
 * Internal helpers shared by every file of the library.
 *
 * Naming: public symbols are kvs_*, internal symbols shared between files are
 * kvs__<module>_*, file-local ones are static. The build hides everything
 * that is not public (visibility + version script).
 */
#ifndef KVS_INTERNAL_H
#define KVS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <string.h>

#include "kvs.h"

#if UINTPTR_MAX < UINT64_MAX
#error "libkvs needs a 64-bit platform: segments are memory-mapped"
#endif

#define KVS_LIKELY(x) __builtin_expect(!!(x), 1)
#define KVS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KVS_COLD __attribute__((cold, noinline))
#define KVS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define KVS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KVS_MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * KVS_ASSERT checks invariants of our own code, in debug builds only. It is
 * never used on data read from disk or passed by a caller: those are input
 * and get a status code.
 */
#ifdef NDEBUG
#define KVS_ASSERT(expr) ((void)0)
#else
#define KVS_ASSERT(expr) \
    ((expr) ? (void)0 : kvs__assert_fail(#expr, __FILE__, __LINE__, __func__))
#endif
KVS_COLD void kvs__assert_fail(const char *expr, const char *file, int line, const char *func);

/* Little-endian loads and stores; the on-disk format is little-endian. */
static inline uint16_t kvs__load16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t kvs__load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t kvs__load64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void kvs__store16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static inline void kvs__store32(void *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, sizeof(v));
}

static inline void kvs__store64(void *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof(v));
}

/*
 * Large arrays (the key order's runs and sort buffers) are mapped directly
 * rather than taken from malloc: freed, they go back to the system at
 * once. glibc serves a large malloc with its own mapping only until the
 * first such free raises its threshold; after that it keeps freed memory in
 * the heap, and the process's memory grows by whatever was ever in use at
 * once. Small sizes still come from malloc. The size given to free and
 * realloc is the size last allocated.
 */
void *kvs__big_alloc(size_t bytes);
void *kvs__big_realloc(void *p, size_t old_bytes, size_t new_bytes);
void kvs__big_free(void *p, size_t bytes);

/* Monotonic clock in microseconds. */
uint64_t kvs__now_us(void);
/* Wall-clock time in milliseconds since the epoch, what expiry times are
 * measured in. Tests set another clock to move time (NULL: the real one). */
uint64_t kvs__now_ms(void);
void kvs__set_clock_ms(uint64_t (*fn)(void));
/* The CLOCK_MONOTONIC time us microseconds from now, as a deadline for the
 * condition variables (which use that clock, see db_alloc). */
struct timespec kvs__deadline_in_us(uint64_t us);

/* A spin-wait hint to the CPU. */
static inline void kvs__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* KVS_INTERNAL_H */
