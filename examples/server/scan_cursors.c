/* SCAN cursors: see scan_cursors.h. */
#include "scan_cursors.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct entry {
    uint64_t cursor; /* 0: empty */
    uint64_t seq;    /* issue number, for eviction by age */
    uint8_t *key;
    size_t len;
};

struct scan_cursors {
    pthread_mutex_t lock;
    struct entry *slots;
    size_t mask;         /* slot count - 1 */
    size_t max_bytes, bytes;
    uint64_t first;      /* cursor of issue number 0 */
    uint64_t oldest;     /* issue number of the oldest entry that may be live */
    uint64_t live, issued, unknown;
};

/* A random first cursor in the lower half of the range, so a wrap takes 2^52 calls at least. */
static uint64_t random_first(void)
{
    uint64_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid() << 20;
    return r % (SCAN_CURSOR_MAX / 2) + 1;
}

struct scan_cursors *scan_cursors_create(size_t slots, size_t max_bytes, uint64_t first)
{
    if (slots == 0 || (slots & (slots - 1)) != 0 || first > SCAN_CURSOR_MAX)
        return NULL;
    struct scan_cursors *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->slots = calloc(slots, sizeof(*t->slots));
    if (!t->slots || pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->slots);
        free(t);
        return NULL;
    }
    t->mask = slots - 1;
    t->max_bytes = max_bytes;
    t->first = first ? first : random_first();
    return t;
}

static void drop(struct scan_cursors *t, struct entry *e)
{
    if (e->cursor == 0)
        return;
    free(e->key);
    t->bytes -= e->len;
    t->live--;
    *e = (struct entry){0};
}

void scan_cursors_destroy(struct scan_cursors *t)
{
    if (!t)
        return;
    for (size_t i = 0; i <= t->mask; i++)
        drop(t, &t->slots[i]);
    pthread_mutex_destroy(&t->lock);
    free(t->slots);
    free(t);
}

static uint64_t cursor_of(const struct scan_cursors *t, uint64_t seq)
{
    return (t->first - 1 + seq) % SCAN_CURSOR_MAX + 1;
}

static struct entry *slot_of(struct scan_cursors *t, uint64_t cursor)
{
    return &t->slots[cursor & t->mask];
}

/* Drop the oldest entries until len more bytes fit (never the one issued as seq). */
static void make_room(struct scan_cursors *t, size_t len, uint64_t seq)
{
    if (seq - t->oldest > t->mask + 1)
        t->oldest = seq - (t->mask + 1); /* older ones were overwritten by now */
    while (t->bytes + len > t->max_bytes && t->oldest < seq) {
        struct entry *e = slot_of(t, cursor_of(t, t->oldest));
        if (e->seq == t->oldest)
            drop(t, e);
        t->oldest++;
    }
}

uint64_t scan_cursors_put(struct scan_cursors *t, const void *key, size_t len)
{
    if (len > t->max_bytes)
        return 0;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    memcpy(copy, key, len);
    pthread_mutex_lock(&t->lock);
    uint64_t seq = t->issued++;
    uint64_t cursor = cursor_of(t, seq);
    struct entry *e = slot_of(t, cursor);
    drop(t, e);
    make_room(t, len, seq);
    *e = (struct entry){.cursor = cursor, .seq = seq, .key = copy, .len = len};
    t->bytes += len;
    t->live++;
    pthread_mutex_unlock(&t->lock);
    return cursor;
}

int scan_cursors_get(struct scan_cursors *t, uint64_t cursor, void **key, size_t *len)
{
    int rc = 0;
    *key = NULL;
    *len = 0;
    pthread_mutex_lock(&t->lock);
    struct entry *e = cursor && cursor <= SCAN_CURSOR_MAX ? slot_of(t, cursor) : NULL;
    if (e && e->cursor == cursor) {
        *key = malloc(e->len ? e->len : 1);
        rc = *key ? 1 : -1;
        if (*key) {
            memcpy(*key, e->key, e->len);
            *len = e->len;
        }
    } else {
        t->unknown++;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void scan_cursors_stats(struct scan_cursors *t, struct scan_cursors_stats *st)
{
    pthread_mutex_lock(&t->lock);
    *st = (struct scan_cursors_stats){
        .live = t->live, .bytes = t->bytes, .issued = t->issued, .unknown = t->unknown};
    pthread_mutex_unlock(&t->lock);
}
