/* Clock, process memory, directory size and page-cache control. */
#ifndef KVS_BENCH_SYSINFO_H
#define KVS_BENCH_SYSINFO_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A "Name:   123 kB" field of /proc/self/status, in bytes; 0 if absent. */
uint64_t bench_proc_status(const char *field);

/* Bytes allocated on disk (st_blocks * 512) under a directory, recursively. */
uint64_t bench_dir_bytes(const char *path);

/* rm -rf; 0 on success or if the path does not exist. */
int bench_rm_rf(const char *path);

/* Removes path if present and creates it empty. */
int bench_fresh_dir(const char *path);

/* sync, then drop the page cache; -1 (errno set) when not permitted. */
int bench_drop_caches(void);

void bench_sleep_ms(long ms);

/* Gives the heap's free pages back to the kernel (glibc malloc_trim), so
 * that memory freed by one part of a phase does not count in the next. */
void bench_trim_heap(void);

/* The 1-minute load average from /proc/loadavg; -1 if unreadable. */
double bench_loadavg(void);

#endif
