/*
 * kvs-bench-floor: what one point read must cost on this machine, whatever
 * the store.
 *
 * A get from a store whose index and data are both larger than the CPU's
 * caches makes two dependent memory loads: the key's index slot (anonymous
 * memory), then the record that slot names (a file mapping). This program
 * makes exactly those loads, and reads the record's bytes as a checksum
 * would, for random keys, with no store around them, laid out as libkvs lays
 * them out (12-byte slots on huge pages; 136-byte records in a file mapped on
 * a 2 MiB boundary with MADV_HUGEPAGE, written through the mapping):
 *
 *   serialized: each read's slot depends on the previous record's bytes, so
 *               one read ends before the next begins, as with separate
 *               synchronous gets (the CPU cannot run ahead into the next
 *               call's misses);
 *   overlapped: independent reads, so that the CPU overlaps the misses of
 *               several, as a batched read (kvs_multi_get) arranges.
 *
 * And what an update of an existing key must cost in a log-structured store
 * (libkvs's overwrite): the same two loads, serialized (the record is read
 * to check its key), then a new 136-byte record appended to a log whose
 * pages are already in place (libkvs's grow-ahead thread faults them in),
 * and the slot pointed at it:
 *
 *   update:     one update after the other, as separate synchronous sets.
 *
 * usage: kvs-bench-floor [--dir PATH] [--records N] [--reads R]
 * Prints one line per mode: "serialized: X ns per read", ..., "update: X ns
 * per update" (N updates, as kvs-bench's overwrite). The files are created
 * in PATH (default: a new directory in /tmp) and removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BYTES 12
#define RECORD_BYTES 136
#define HUGE_PAGE ((size_t)2 << 20)

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Map len bytes of fd on a 2 MiB boundary, as libkvs maps its segments. */
static uint8_t *map_aligned(int fd, size_t len)
{
    uint8_t *res = mmap(NULL, len + HUGE_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED)
        return NULL;
    uint8_t *at = (uint8_t *)(((uintptr_t)res + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    uint8_t *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, len, MADV_HUGEPAGE); /* a hint: new folios of 2 MiB */
    return p;
}

/* A new file of len bytes in dir, unlinked at once and mapped as libkvs
 * maps its segments; NULL (with a message) on failure. */
static uint8_t *map_file(const char *dir, const char *name, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0) {
        fprintf(stderr, "kvs-bench-floor: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            unlink(path);
        return NULL;
    }
    unlink(path);
    return map_aligned(fd, len);
}

/* Every byte of a record, mixed as a checksum would read it. */
static uint64_t read_record(const uint8_t *rec)
{
    uint64_t h = 0;
    for (size_t i = 0; i + 8 <= RECORD_BYTES; i += 8) {
        uint64_t w;
        memcpy(&w, rec + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    return h;
}

/* One read: the slot of key number `key`, then the record it names. */
static uint64_t one_read(const uint8_t *slots, size_t nslots, const uint8_t *data, uint64_t key)
{
    uint32_t off;
    memcpy(&off, slots + (size_t)(key % nslots) * SLOT_BYTES + 4, sizeof(off));
    return read_record(data + off);
}

/* Two loops rather than one with a flag: a conditional carry would compile
 * to a conditional move, a dependency in both modes. */
static double run(const uint8_t *slots, size_t nslots, const uint8_t *data, size_t reads,
                  int serialized, uint64_t *sink)
{
    uint64_t x = 88172645463325252ull, sum = 0;
    double t0 = now_ns();
    if (serialized) {
        uint64_t carry = 0; /* the next key depends on this record */
        for (size_t r = 0; r < reads; r++) {
            uint64_t h = one_read(slots, nslots, data, next_rand(&x) ^ carry);
            carry = h & 1;
            sum += h;
        }
    } else {
        for (size_t r = 0; r < reads; r++)
            sum += one_read(slots, nslots, data, next_rand(&x));
    }
    double t1 = now_ns();
    *sink += sum;
    return (t1 - t0) / (double)reads;
}

/* Updates: read the slot and the record (the key check), append a new
 * record made from it at the log's tail, point the slot at it. The next key
 * depends on the record read, so one update ends before the next begins. */
static double run_updates(uint8_t *slots, size_t nslots, const uint8_t *data, uint8_t *log,
                          size_t updates, uint64_t *sink)
{
    uint64_t x = 2685821657736338717ull, carry = 0, sum = 0;
    double t0 = now_ns();
    for (size_t u = 0; u < updates; u++) {
        uint8_t *slot = slots + (size_t)((next_rand(&x) ^ carry) % nslots) * SLOT_BYTES;
        uint32_t off;
        memcpy(&off, slot + 4, sizeof(off));
        uint64_t h = read_record(data + off);
        uint8_t *rec = log + u * RECORD_BYTES;
        memcpy(rec, data + off, RECORD_BYTES); /* a record of the same size */
        memcpy(rec, &h, sizeof(h));            /* with a checksum of its own */
        /* The slot's store: into its first word, so that the reads keep
         * finding records in the data file (the log only takes appends). */
        uint32_t to = (uint32_t)(u * RECORD_BYTES);
        memcpy(slot, &to, sizeof(to));
        carry = h & 1;
        sum += h;
    }
    double t1 = now_ns();
    *sink += sum;
    return (t1 - t0) / (double)updates;
}

static int usage(void)
{
    fprintf(stderr, "usage: kvs-bench-floor [--dir PATH] [--records N] [--reads R]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    size_t records = 1000000, reads = 3000000;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return usage();
        if (strcmp(argv[i], "--dir") == 0)
            dir = argv[++i];
        else if (strcmp(argv[i], "--records") == 0)
            records = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reads") == 0)
            reads = strtoull(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (records < 1 || records > UINT32_MAX / RECORD_BYTES || reads < 1)
        return usage();
    char tmpl[] = "/tmp/kvs-bench-floor.XXXXXX";
    char made[4096] = "";
    if (!dir) {
        if (!mkdtemp(tmpl)) {
            perror("kvs-bench-floor: mkdtemp");
            return 1;
        }
        dir = tmpl;
        snprintf(made, sizeof(made), "%s", tmpl);
    }
    size_t data_len = records * RECORD_BYTES;
    uint8_t *data = map_file(dir, "floor.data", data_len);
    uint8_t *log = map_file(dir, "floor.log", data_len);
    if (made[0])
        rmdir(made);
    size_t nslots = records + records / 4; /* a hash table three quarters full */
    size_t slots_len = (nslots * SLOT_BYTES + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uint8_t *slots = aligned_alloc(HUGE_PAGE, slots_len);
    if (!data || !log || !slots) {
        fprintf(stderr, "kvs-bench-floor: out of memory\n");
        return 1;
    }
    madvise(slots, slots_len, MADV_HUGEPAGE);
    uint64_t x = 1;
    for (size_t i = 0; i < data_len; i += 8) {
        uint64_t w = next_rand(&x);
        memcpy(data + i, &w, data_len - i < 8 ? data_len - i : 8);
    }
    memset(log, 0, data_len); /* its pages in place before the updates */
    for (size_t s = 0; s < nslots; s++) {
        uint32_t off = (uint32_t)(next_rand(&x) % records) * RECORD_BYTES;
        memset(slots + s * SLOT_BYTES, 0, SLOT_BYTES);
        memcpy(slots + s * SLOT_BYTES + 4, &off, sizeof(off));
    }
    uint64_t sink = 0;
    printf("records: %zu of %d bytes (%.0f MB), slots: %zu of %d bytes (%.0f MB), reads: %zu\n",
           records, RECORD_BYTES, data_len / 1e6, nslots, SLOT_BYTES,
           (double)(nslots * SLOT_BYTES) / 1e6, reads);
    printf("serialized: %.1f ns per read\n", run(slots, nslots, data, reads, 1, &sink));
    printf("overlapped: %.1f ns per read\n", run(slots, nslots, data, reads, 0, &sink));
    printf("update: %.1f ns per update\n", run_updates(slots, nslots, data, log, records, &sink));
    volatile uint64_t keep = sink; /* the reads must not be optimised away */
    (void)keep;
    return 0;
}
