/* The idle-client timeout; see idle.h. */
#include "idle.h"

#include <limits.h>

#include "conn.h"
#include "log.h"
#include "worker.h"

void idle_link(struct worker *w, struct conn *c)
{
    c->last_active = w->now;
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    else
        w->conns_tail = c;
    w->conns = c;
}

void idle_unlink(struct worker *w, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        w->conns_tail = c->prev;
    c->prev = c->next = NULL;
}

void idle_touch(struct worker *w, struct conn *c)
{
    c->last_active = w->now;
    if (w->conns == c)
        return;
    idle_unlink(w, c);
    idle_link(w, c);
}

int idle_sweep(struct worker *w)
{
    long long idle_ms = (long long)w->srv->cfg->timeout * 1000;
    if (idle_ms == 0 || w->stopping)
        return -1;
    struct conn *c;
    while ((c = w->conns_tail) != NULL && w->now - c->last_active >= idle_ms) {
        log_msg(LL_DEBUG, "client %llu idle for %u s: closing", (unsigned long long)c->sess.id,
                w->srv->cfg->timeout);
        stat_add(&w->stats.idle_closed, 1);
        conn_close(c);
    }
    if (!c)
        return -1;
    long long left = c->last_active + idle_ms - w->now;
    return left > INT_MAX ? INT_MAX : (int)left;
}
