/*
 * A growable byte buffer with a hard size limit and a sticky failure flag.
 *
 * Reply encoders append to a buffer many times per request; checking every
 * append for ENOMEM would bury the logic. Instead an append that cannot be
 * honoured (allocation failed, or the limit would be passed) marks the buffer
 * failed and is dropped; the owner checks buf_failed() once per request and
 * closes the connection.
 */
#ifndef KVS_EXAMPLES_BUF_H
#define KVS_EXAMPLES_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct buf {
    char *data;   /* NULL until the first append */
    size_t len;   /* bytes in use */
    size_t cap;   /* bytes allocated */
    size_t limit; /* hard cap on len; 0 means SIZE_MAX */
    bool failed;  /* an append was dropped */
};

/* An empty buffer that may grow up to limit bytes (0 = no limit). */
void buf_init(struct buf *b, size_t limit);

/* Release the memory; the buffer is empty (and not failed) afterwards. */
void buf_free(struct buf *b);

/*
 * Make room for extra more bytes. Grows by doubling so appends are amortised
 * O(1), or to exactly the size needed when that is more than double (one big
 * reply costs its size, not the next power of two), never past the limit.
 * Returns 0, or -1 and marks the buffer failed.
 */
int buf_reserve(struct buf *b, size_t extra);

/* Grow to exactly len + extra bytes if smaller (no doubling): for big payloads. */
int buf_reserve_exact(struct buf *b, size_t extra);

/* Drop the first n bytes, moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);

/*
 * Insert n bytes at offset at (at most b->len), moving what follows: for a
 * reply whose header depends on what was appended after it (an array whose
 * length is known only at the end). Marks the buffer failed if it cannot grow.
 */
void buf_insert(struct buf *b, size_t at, const void *p, size_t n);

/* Forget everything from offset len on (len at most b->len). */
static inline void buf_truncate(struct buf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
}

static inline bool buf_failed(const struct buf *b)
{
    return b->failed;
}

static inline size_t buf_room(const struct buf *b)
{
    return b->cap - b->len;
}

static inline void buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0 || buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

#endif
