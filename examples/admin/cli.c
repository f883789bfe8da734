/*
 * Small helpers for the commands: key arguments (as typed, or in the dump
 * encoding with --escaped), strict numbers, the clock expiry uses, status
 * messages, and checking that the output really got written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"

int arg_bytes(const struct args *a, const char *text, const char *what, size_t max,
              struct dump_bytes *out)
{
    *out = (struct dump_bytes){0};
    if (a->given & OPT_ESCAPED) {
        char err[256];
        if (dump_decode_text(text, max, out, err, sizeof(err)) == 0)
            return 0;
        fprintf(stderr, "kvs: %s: %s\n", what, err);
        dump_bytes_free(out);
        return -1;
    }
    size_t n = strlen(text);
    if (n > max) {
        fprintf(stderr, "kvs: %s: longer than %zu bytes\n", what, max);
        return -1;
    }
    out->p = malloc(n ? n : 1);
    if (!out->p) {
        fprintf(stderr, "kvs: out of memory\n");
        return -1;
    }
    memcpy(out->p, text, n);
    out->len = out->cap = n;
    return 0;
}

int parse_u64(const char *text, uint64_t *out)
{
    uint64_t v = 0;
    if (!*text)
        return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void admin_status_error(const char *context, int rc)
{
    int err = errno;
    if (rc == KVS_EIO)
        fprintf(stderr, "kvs: %s: I/O error: %s\n", context, strerror(err));
    else
        fprintf(stderr, "kvs: %s: %s (%s)\n", context, kvs_strerror(rc), kvs_status_name(rc));
}

int admin_flush_stdout(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return EXIT_OK;
    fprintf(stderr, "kvs: writing the output: %s\n", strerror(errno));
    return EXIT_ERROR;
}
