/* The RssAnon sampler (see memsample.h). One sample reads /proc/self/status
 * (~20-40 µs of CPU), so sampling every 10 ms costs well under 1 % of a CPU,
 * the same for every store. */
#include "memsample.h"

#include "sysinfo.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* RssAnon from an open /proc/self/status, in bytes; 0 if unreadable. */
static uint64_t read_rss_anon(int fd)
{
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = strstr(buf, "\nRssAnon:");
    return p ? strtoull(p + 9, NULL, 10) * 1024 : 0;
}

static void sample(bench_mem_sampler_t *s)
{
    uint64_t v = read_rss_anon(s->fd);
    uint_fast64_t peak = atomic_load(&s->peak);
    while (v > peak && !atomic_compare_exchange_weak(&s->peak, &peak, v))
        ;
    atomic_fetch_add(&s->samples, 1);
}

static void *sampler_main(void *arg)
{
    bench_mem_sampler_t *s = arg;
    while (!atomic_load(&s->stop)) {
        bench_sleep_ms(BENCH_MEM_SAMPLE_MS);
        sample(s);
    }
    return NULL;
}

int bench_mem_sampler_start(bench_mem_sampler_t *s)
{
    s->fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    atomic_init(&s->stop, 0);
    atomic_init(&s->peak, 0);
    atomic_init(&s->samples, 0);
    s->running = 0;
    if (s->fd < 0)
        return -1;
    sample(s);
    s->running = pthread_create(&s->thread, NULL, sampler_main, s) == 0;
    return s->running ? 0 : -1;
}

uint64_t bench_mem_sampler_stop(bench_mem_sampler_t *s)
{
    if (s->fd < 0)
        return 0;
    atomic_store(&s->stop, 1);
    if (s->running)
        pthread_join(s->thread, NULL);
    s->running = 0;
    sample(s);
    close(s->fd);
    s->fd = -1;
    return atomic_load(&s->peak);
}
