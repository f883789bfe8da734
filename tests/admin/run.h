/*
 * Run a program with some bytes on its stdin and capture its stdout and
 * stderr, within a time limit: the kvs admin tool's tests drive it this way.
 */
#ifndef KVS_TESTS_ADMIN_RUN_H
#define KVS_TESTS_ADMIN_RUN_H

#include <stddef.h>

struct run {
    int status;     /* exit status; 128+signal if killed by one; -1 on timeout */
    char *out;      /* stdout, NUL-terminated (malloc'ed) */
    size_t out_len;
    char *err;      /* stderr, NUL-terminated */
    size_t err_len;
};

/*
 * Run argv (argv[0] a path), feeding it in_len bytes of in (stdin is empty
 * when in is NULL) while reading its output, so that neither side can block
 * the other. Killed after timeout_ms. Returns 0, or -1 if it could not start.
 */
int run_prog(const char *const *argv, const void *in, size_t in_len, int timeout_ms,
             struct run *r);
void run_free(struct run *r);

#endif
