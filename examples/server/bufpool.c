/* A worker's stock of I/O buffers; see bufpool.h. */
#include "bufpool.h"

#include <stdlib.h>

int bufpool_take(struct bufpool *pool, struct buf *b)
{
    if (b->data)
        return 0;
    char *chunk = pool->n ? pool->chunks[--pool->n] : malloc(BUFPOOL_CHUNK);
    if (!chunk) {
        b->failed = true;
        return -1;
    }
    b->data = chunk;
    b->cap = BUFPOOL_CHUNK;
    b->len = 0;
    return 0;
}

void bufpool_give(struct bufpool *pool, struct buf *b)
{
    if (!b->data)
        return;
    /* Only standard chunks go back; a buffer grown for a big request is freed. */
    if (b->cap == BUFPOOL_CHUNK && pool->n < BUFPOOL_KEEP)
        pool->chunks[pool->n++] = b->data;
    else
        free(b->data);
    b->data = NULL;
    b->cap = 0;
    b->len = 0;
}

void bufpool_destroy(struct bufpool *pool)
{
    while (pool->n)
        free(pool->chunks[--pool->n]);
}
