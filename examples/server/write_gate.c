/* The write gate; see write_gate.h. */
#include "write_gate.h"

#include <pthread.h>
#include <stdlib.h>

#define CACHE_LINE 64

struct gate_slot {
    _Alignas(CACHE_LINE) pthread_mutex_t lock;
};

struct write_gate {
    unsigned n;
    struct gate_slot *slots;
};

struct write_gate *write_gate_create(unsigned slots)
{
    struct write_gate *g = calloc(1, sizeof(*g));
    if (!g || slots == 0)
        goto fail;
    g->slots = aligned_alloc(CACHE_LINE, sizeof(struct gate_slot) * slots);
    if (!g->slots)
        goto fail;
    for (g->n = 0; g->n < slots; g->n++)
        pthread_mutex_init(&g->slots[g->n].lock, NULL);
    return g;
fail:
    free(g);
    return NULL;
}

void write_gate_destroy(struct write_gate *g)
{
    if (!g)
        return;
    for (unsigned i = 0; i < g->n; i++)
        pthread_mutex_destroy(&g->slots[i].lock);
    free(g->slots);
    free(g);
}

void write_gate_enter(struct write_gate *g, unsigned slot)
{
    pthread_mutex_lock(&g->slots[slot].lock);
}

void write_gate_leave(struct write_gate *g, unsigned slot)
{
    pthread_mutex_unlock(&g->slots[slot].lock);
}

/* Always in slot order: two closers cannot deadlock. */
void write_gate_close(struct write_gate *g)
{
    for (unsigned i = 0; i < g->n; i++)
        pthread_mutex_lock(&g->slots[i].lock);
}

void write_gate_open(struct write_gate *g)
{
    for (unsigned i = g->n; i-- > 0;)
        pthread_mutex_unlock(&g->slots[i].lock);
}
