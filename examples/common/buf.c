/* Growable byte buffer: see buf.h. */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>

/* First allocation; small enough that idle connections stay cheap. */
#define BUF_MIN_CAP 256

void buf_init(struct buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit ? limit : SIZE_MAX;
    b->failed = false;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}

static int grow_to(struct buf *b, size_t cap)
{
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > b->limit - b->len) { /* len + extra > limit, without overflow */
        b->failed = true;
        return -1;
    }
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    /* Double (amortised appends), but a large append that more than doubles
     * the buffer gets exactly its size: a 1 MiB reply takes 1 MiB, not 2. */
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    cap = cap > SIZE_MAX / 2 || cap * 2 < need ? need : cap * 2;
    if (cap > b->limit)
        cap = b->limit;
    return grow_to(b, cap);
}

int buf_reserve_exact(struct buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > b->limit - b->len) {
        b->failed = true;
        return -1;
    }
    size_t need = b->len + extra;
    return need <= b->cap ? 0 : grow_to(b, need);
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_insert(struct buf *b, size_t at, const void *p, size_t n)
{
    if (at > b->len) { /* a caller's mistake: never send a garbled stream */
        b->failed = true;
        return;
    }
    if (n == 0 || buf_reserve(b, n) != 0)
        return;
    memmove(b->data + at + n, b->data + at, b->len - at);
    memcpy(b->data + at, p, n);
    b->len += n;
}
