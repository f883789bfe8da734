/*
 * Worker threads: an epoll loop each; see worker.h.
 */
#include "worker.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "idle.h"
#include "log.h"

/* Events taken from the kernel per epoll_wait. */
#define MAX_EVENTS 256
/* How long shutdown waits for clients to take their last replies. */
#define SHUTDOWN_GRACE_MS 5000

void worker_mark_pending(struct worker *w, struct conn *c)
{
    if (c->flags & CONN_PENDING)
        return;
    c->flags |= CONN_PENDING;
    c->pending_next = w->pending;
    w->pending = c;
}

/* Adopt the sockets the acceptor queued. */
static void take_handoff(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    int *fds = w->handoff;
    size_t n = w->nhandoff;
    w->handoff = NULL;
    w->nhandoff = 0;
    w->handoff_cap = 0;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        if (w->stopping || !conn_create(w, fds[i])) {
            close(fds[i]);
            atomic_fetch_sub(&w->srv->clients, 1);
        }
    }
    free(fds);
}

static void begin_stopping(struct worker *w)
{
    w->stopping = true;
    /* Every connection gets flushed once more; idle ones close there. */
    for (struct conn *c = w->conns; c; c = c->next)
        worker_mark_pending(w, c);
}

static void on_wakeup(struct worker *w)
{
    uint64_t n;
    if (read(w->event_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_msg(LL_WARN, "worker %u: eventfd read: %s", w->index, strerror(errno));
    take_handoff(w);
    if (!w->stopping && atomic_load(&w->stop))
        begin_stopping(w);
}

/* Execute requests of connections that were paused and have drained. */
static void resume_paused(struct worker *w)
{
    for (struct conn *c = w->pending; c; c = c->pending_next)
        if ((c->flags & (CONN_RESUME | CONN_DEAD)) == CONN_RESUME)
            conn_resume(c);
}

/*
 * --sync always: the iteration's writes were applied without syncing; one
 * kvs_sync() now covers all of them before any of their replies leaves.
 * If it fails, the affected clients are disconnected unanswered: they must
 * not believe in writes that may not be durable.
 */
static void sync_writes(struct worker *w)
{
    bool any = false;
    for (struct conn *c = w->pending; c && !any; c = c->pending_next)
        any = c->sess.wrote;
    if (!any)
        return;
    int rc = kvs_sync(w->srv->db);
    if (rc == KVS_OK)
        return;
    log_msg(LL_ERROR, "sync failed: %s; dropping the clients that wrote", kvs_strerror(rc));
    for (struct conn *c = w->pending; c; c = c->pending_next)
        if (c->sess.wrote)
            c->flags |= CONN_DISCARD;
}

static void flush_pending(struct worker *w)
{
    struct conn *list = w->pending;
    w->pending = NULL;
    while (list) {
        struct conn *c = list;
        list = c->pending_next;
        c->pending_next = NULL;
        c->flags &= ~CONN_PENDING;
        if (c->flags & CONN_DEAD)
            conn_free(c);
        else
            conn_flush(c);
    }
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long now_ms(void)
{
    return now_us() / 1000;
}

/* Close what is left once the loop ends. */
static void teardown(struct worker *w)
{
    if (w->nconns)
        log_msg(LL_WARN, "worker %u: closing %u clients that did not take their replies",
                w->index, w->nconns);
    while (w->conns)
        conn_close(w->conns);
    flush_pending(w); /* frees connections closed while pending */
    w->stopping = true;
    take_handoff(w);
}

/* Stopping: true once every client is gone or the grace period is over. */
static bool stopped(struct worker *w, long long *deadline)
{
    if (!*deadline)
        *deadline = w->now + SHUTDOWN_GRACE_MS;
    return w->nconns == 0 || w->now >= *deadline;
}

/* How long epoll_wait may sleep; closes idle clients first (--timeout),
 * also when the loop is busy. */
static int wait_ms(struct worker *w)
{
    int idle = idle_sweep(w);
    if (w->pending)
        return 0;
    return w->stopping ? 50 : idle;
}

/*
 * Polling before sleeping. When requests come close together, a worker that
 * sleeps in epoll_wait after each batch is woken for nearly every request,
 * and the wake-up is paid by the client's write: it runs the server's wait
 * queue, an inter-processor interrupt in a virtual machine. Unpipelined
 * redis-benchmark spent 15 % of its time there against kvs-server, 6 %
 * against redis-server (perf), and the client's CPU time per request set the
 * rate. So while events keep coming within BUSY_GAP_US of each other, the
 * worker polls (epoll_wait with no timeout) for up to POLL_US before it
 * sleeps; an idle or lightly loaded server never polls.
 */
#define POLL_US 30
#define BUSY_GAP_US 1000

static int wait_events(struct worker *w, struct epoll_event *evs, int timeout_ms)
{
    if (timeout_ms != 0 && w->busy) {
        long long until = now_us() + POLL_US;
        do {
            int n = epoll_wait(w->epfd, evs, MAX_EVENTS, 0);
            if (n != 0)
                return n;
        } while (now_us() < until);
    }
    long long slept_from = now_us();
    int n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout_ms);
    w->busy = n > 0 && now_us() - slept_from < BUSY_GAP_US;
    return n;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    long long deadline = 0;
    bool always = w->srv->cfg->sync == KVS_SYNC_ALWAYS;
    for (;;) {
        w->now = now_ms();
        if (w->stopping && stopped(w, &deadline))
            break;
        int n = wait_events(w, evs, wait_ms(w));
        if (n < 0 && errno != EINTR) {
            log_msg(LL_ERROR, "worker %u: epoll_wait: %s", w->index, strerror(errno));
            break;
        }
        w->now = now_ms();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                on_wakeup(w);
            else
                conn_on_event(evs[i].data.ptr, evs[i].events);
        }
        resume_paused(w);
        if (always)
            sync_writes(w);
        flush_pending(w);
    }
    teardown(w);
    return NULL;
}

static void init_limits(struct worker *w, const struct server_config *cfg)
{
    resp_limits_default(&w->limits);
    w->limits.max_bulk = cfg->max_bulk;
    /* Before AUTH, as Redis: small requests only, so strangers cannot make us allocate. */
    w->limits_unauth = w->limits;
    w->limits_unauth.max_args = 10;
    w->limits_unauth.max_bulk = cfg->max_bulk < 16384 ? cfg->max_bulk : 16384;
    w->limits_unauth.unauthenticated = true;
    w->query_limit = server_query_limit(cfg);
    /* Room for the largest value twice (MGET of big values) plus slack. */
    w->output_limit = cfg->client_output_limit ? cfg->client_output_limit : SIZE_MAX;
}

int worker_start(struct worker *w, struct server *srv, unsigned index)
{
    memset(w, 0, sizeof(*w));
    w->srv = srv;
    w->index = index;
    init_limits(w, srv->cfg);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (w->epfd < 0 || w->event_fd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->event_fd, &ev))
        goto fail;
    pthread_mutex_init(&w->lock, NULL);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc == 0)
        return 0;
    pthread_mutex_destroy(&w->lock);
    errno = rc;
fail:;
    int saved = errno;
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->event_fd >= 0)
        close(w->event_fd);
    errno = saved;
    return -1;
}

static void wake(struct worker *w)
{
    uint64_t one = 1;
    if (write(w->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_msg(LL_WARN, "worker %u: eventfd write: %s", w->index, strerror(errno));
}

int worker_hand_off(struct worker *w, int fd)
{
    pthread_mutex_lock(&w->lock);
    if (w->nhandoff == w->handoff_cap) {
        size_t cap = w->handoff_cap ? w->handoff_cap * 2 : 16;
        int *n = realloc(w->handoff, cap * sizeof(*n));
        if (!n) {
            pthread_mutex_unlock(&w->lock);
            return -1;
        }
        w->handoff = n;
        w->handoff_cap = cap;
    }
    w->handoff[w->nhandoff++] = fd;
    pthread_mutex_unlock(&w->lock);
    wake(w);
    return 0;
}

void worker_stop(struct worker *w)
{
    atomic_store(&w->stop, true);
    wake(w);
}

void worker_join(struct worker *w)
{
    pthread_join(w->thread, NULL);
    close(w->epfd);
    close(w->event_fd);
    pthread_mutex_destroy(&w->lock);
    bufpool_destroy(&w->pool);
}
