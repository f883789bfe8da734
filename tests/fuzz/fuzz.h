/*
 * Shared by the fuzz targets (fuzz-*.c), their plain regression runner
 * (runner.c) and the corpus generator (make-corpus.c).
 *
 * Each target defines LLVMFuzzerInitialize and LLVMFuzzerTestOneInput. Built
 * with clang -fsanitize=fuzzer (meson -Dfuzzing=true) they are libFuzzer
 * targets; built with runner.c (every test build, gcc too) they replay the
 * seed corpus and the crash reproducers as an ordinary test.
 */
#ifndef KVS_FUZZ_H
#define KVS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: report and abort (a crash to libFuzzer). */
#define FUZZ_CHECK(cond)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                            \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* Bytes of the input still to be taken, front to back. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(in) << 8);
}

/* A part of the input: a 16-bit little-endian length, then that many bytes
 * (fewer at the end of the input). */
static inline struct fuzz_in fuzz_part(struct fuzz_in *in)
{
    size_t len = fuzz_u16(in);
    if (len > in->n)
        len = in->n;
    struct fuzz_in part = {in->p, len};
    in->p += len;
    in->n -= len;
    return part;
}

/*
 * A fresh directory for one process's runs: under /dev/shm when it is
 * writable (no disk I/O), else $TMPDIR or /tmp. Removed with everything in
 * it at exit. Aborts if none can be made.
 */
char *fuzz_tmpdir(const char *tag);

/* Remove every file in dir (not the directory; no subdirectories expected). */
void fuzz_clear_dir(const char *dir);

/* Write a whole file dir/name; aborts on failure. */
void fuzz_write_file(const char *dir, const char *name, const void *p, size_t n);

#endif
