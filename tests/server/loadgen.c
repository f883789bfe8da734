/* Load generator for kvs-server tests; see loadgen.h. */
#include "loadgen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

#define KEYS_PER_CONN 16
#define MAX_DEPTH 64
#define BIG_VALUE 4096
#define CONNECT_MS 30000
/* Expected bytes already matched are dropped past this much. */
#define EXPECT_COMPACT (64 * 1024)

struct key_model {
    int len;        /* -1: absent */
    uint64_t vseed; /* the value's bytes come from this seed */
};

struct lconn {
    int fd;
    unsigned id;
    bool connected, closed;
    uint32_t events;
    struct buf out;       /* requests not yet sent */
    size_t out_pos;
    struct buf expect;    /* replies expected, in order */
    size_t exp_pos;       /* bytes of expect already received */
    size_t ends[MAX_DEPTH]; /* end offset in expect of each request in flight */
    unsigned head, inflight;
    uint64_t rng, nsets;
    struct key_model keys[KEYS_PER_CONN];
};

struct lg {
    const struct loadgen_config *cfg;
    struct loadgen_stats *st;
    int ep;
    struct lconn *conns;
    bool generating;
    uint64_t inflight;    /* over all connections */
    unsigned pending_connects;
};

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void note_error(struct lg *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_error(struct lg *g, const char *fmt, ...)
{
    if (g->st->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->st->first_error, sizeof(g->st->first_error), fmt, ap);
    va_end(ap);
}

static void add_fmt(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_fmt(struct buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    buf_append(b, tmp, (size_t)n);
}

/* "$<n>\r\n<bytes>\r\n": a request argument, or an expected bulk reply. */
static void add_bulk(struct buf *b, const void *p, size_t n)
{
    add_fmt(b, "$%zu\r\n", n);
    buf_append(b, p, n);
    buf_append(b, "\r\n", 2);
}

static void fill_bytes(uint64_t seed, char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(splitmix(&seed) >> 56);
}

static void add_key(struct buf *b, const struct lconn *c, unsigned k)
{
    char key[32];
    add_bulk(b, key, (size_t)snprintf(key, sizeof(key), "c%u:k%u", c->id, k));
}

/* The model's reply to GET k: a bulk string or nil. */
static void expect_get(struct buf *e, const struct lconn *c, unsigned k)
{
    static _Thread_local char val[BIG_VALUE];
    const struct key_model *m = &c->keys[k];
    if (m->len < 0) {
        buf_append(e, "$-1\r\n", 5);
        return;
    }
    fill_bytes(m->vseed, val, (size_t)m->len);
    add_bulk(e, val, (size_t)m->len);
}

static void gen_set(struct lconn *c, struct buf *o, struct buf *e, unsigned k)
{
    static _Thread_local char val[BIG_VALUE];
    uint64_t r = splitmix(&c->rng);
    int len = (int)(r % 50 == 0 ? (r >> 8) % BIG_VALUE : (r >> 8) % 65);
    c->keys[k] = (struct key_model){.len = len, .vseed = splitmix(&c->rng)};
    fill_bytes(c->keys[k].vseed, val, (size_t)len);
    buf_append(o, "*3\r\n$3\r\nSET\r\n", 13);
    add_key(o, c, k);
    add_bulk(o, val, (size_t)len);
    buf_append(e, "+OK\r\n", 5);
}

static void gen_multi(struct lconn *c, struct buf *o, struct buf *e, bool mget)
{
    unsigned n = mget ? 3 : 2, ks[3], found = 0;
    add_fmt(o, "*%u\r\n", n + 1);
    add_bulk(o, mget ? "MGET" : "EXISTS", mget ? 4 : 6);
    for (unsigned i = 0; i < n; i++) {
        ks[i] = (unsigned)(splitmix(&c->rng) % KEYS_PER_CONN);
        add_key(o, c, ks[i]);
        found += c->keys[ks[i]].len >= 0;
    }
    if (!mget) {
        add_fmt(e, ":%u\r\n", found);
        return;
    }
    buf_append(e, "*3\r\n", 4);
    for (unsigned i = 0; i < n; i++)
        expect_get(e, c, ks[i]);
}

static void gen_one_key(struct lconn *c, struct buf *o, struct buf *e, const char *cmd, unsigned k)
{
    struct key_model *m = &c->keys[k];
    buf_append(o, "*2\r\n", 4);
    add_bulk(o, cmd, strlen(cmd));
    add_key(o, c, k);
    if (strcmp(cmd, "GET") == 0) {
        expect_get(e, c, k);
    } else if (strcmp(cmd, "DEL") == 0) {
        add_fmt(e, ":%d\r\n", m->len >= 0);
        m->len = -1;
    } else {
        add_fmt(e, ":%d\r\n", m->len < 0 ? 0 : m->len);
    }
}

static void gen_mixed(struct lconn *c, struct buf *o, struct buf *e)
{
    unsigned r = (unsigned)(splitmix(&c->rng) % 100);
    unsigned k = (unsigned)(splitmix(&c->rng) % KEYS_PER_CONN);
    if (r < 30) {
        gen_set(c, o, e, k);
    } else if (r < 60) {
        gen_one_key(c, o, e, "GET", k);
    } else if (r < 68) {
        gen_one_key(c, o, e, "DEL", k);
    } else if (r < 84) {
        gen_multi(c, o, e, r < 76);
    } else if (r < 90) {
        gen_one_key(c, o, e, "STRLEN", k);
    } else if (r < 95) {
        buf_append(o, "*1\r\n$4\r\nPING\r\n", 14);
        buf_append(e, "+PONG\r\n", 7);
    } else {
        char msg[32];
        size_t n = splitmix(&c->rng) % sizeof(msg);
        fill_bytes(splitmix(&c->rng), msg, n);
        buf_append(o, "*2\r\n$4\r\nECHO\r\n", 14);
        add_bulk(o, msg, n);
        add_bulk(e, msg, n);
    }
}

size_t loadgen_value(unsigned c, uint64_t n, char *buf)
{
    int len = snprintf(buf, 40, "value-%u-%llu-", c, (unsigned long long)n);
    size_t pad = (c * 7u + (unsigned)n) % 24u;
    memset(buf + len, 'x', pad);
    return (size_t)len + pad;
}

static void gen_set_only(struct lconn *c, struct buf *o, struct buf *e)
{
    char key[48], val[64];
    size_t vl = loadgen_value(c->id, c->nsets, val);
    int kl = snprintf(key, sizeof(key), "lg:%u:%llu", c->id, (unsigned long long)c->nsets++);
    buf_append(o, "*3\r\n$3\r\nSET\r\n", 13);
    add_bulk(o, key, (size_t)kl);
    add_bulk(o, val, vl);
    buf_append(e, "+OK\r\n", 5);
}

static void push_request(struct lg *g, struct lconn *c)
{
    if (g->cfg->sets_only)
        gen_set_only(c, &c->out, &c->expect);
    else
        gen_mixed(c, &c->out, &c->expect);
    c->ends[(c->head + c->inflight) % MAX_DEPTH] = c->expect.len;
    c->inflight++;
    g->inflight++;
    g->st->requests++;
}

static void set_events(struct lg *g, struct lconn *c, uint32_t events)
{
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->events = events;
}

static void close_conn(struct lg *g, struct lconn *c, const char *why)
{
    if (c->closed)
        return;
    c->closed = true;
    close(c->fd);
    g->inflight -= c->inflight;
    if (!c->connected)
        g->pending_connects--;
    g->st->closed++;
    if (!g->cfg->sets_only)
        note_error(g, "connection %u closed: %s", c->id, why);
}

static void flush_out(struct lg *g, struct lconn *c)
{
    while (c->out_pos < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_pos += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(g, c, EPOLLIN | EPOLLOUT);
            return;
        } else if (n < 0 && errno != EINTR) {
            close_conn(g, c, strerror(errno));
            return;
        }
    }
    c->out.len = c->out_pos = 0;
    set_events(g, c, EPOLLIN);
}

static void refill(struct lg *g, struct lconn *c)
{
    while (g->generating && !c->closed && c->inflight < g->cfg->depth)
        push_request(g, c);
    if (!c->closed)
        flush_out(g, c);
}

/* Printable excerpt of n bytes at p, for error messages. */
static void excerpt(char *dst, size_t dstlen, const char *p, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n && w + 5 < dstlen; i++) {
        unsigned char ch = (unsigned char)p[i];
        w += (size_t)(ch >= 0x20 && ch < 0x7f ? snprintf(dst + w, dstlen - w, "%c", ch)
                                               : snprintf(dst + w, dstlen - w, "\\x%02x", ch));
    }
    dst[w] = '\0';
}

static void mismatch(struct lg *g, struct lconn *c, const char *got, size_t n)
{
    char want[96], have[96];
    size_t avail = c->expect.len - c->exp_pos;
    excerpt(want, sizeof(want), c->expect.data + c->exp_pos, avail < 24 ? avail : 24);
    excerpt(have, sizeof(have), got, n < 24 ? n : 24);
    g->st->mismatches++;
    note_error(g, "connection %u, reply %llu: expected '%s', got '%s'", c->id,
               (unsigned long long)g->st->acked[c->id], want, have);
    close_conn(g, c, "reply mismatch");
}

/* Count the replies now complete; drop matched bytes now and then. */
static void complete_replies(struct lg *g, struct lconn *c)
{
    while (c->inflight && c->exp_pos >= c->ends[c->head]) {
        c->head = (c->head + 1) % MAX_DEPTH;
        c->inflight--;
        g->inflight--;
        g->st->replies++;
        g->st->acked[c->id]++;
    }
    if (c->inflight == 0) {
        c->expect.len = c->exp_pos = 0;
    } else if (c->exp_pos > EXPECT_COMPACT) {
        buf_consume(&c->expect, c->exp_pos);
        for (unsigned i = 0; i < c->inflight; i++)
            c->ends[(c->head + i) % MAX_DEPTH] -= c->exp_pos;
        c->exp_pos = 0;
    }
}

static void on_readable(struct lg *g, struct lconn *c)
{
    static _Thread_local char tmp[64 * 1024];
    ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        close_conn(g, c, n == 0 ? "EOF" : strerror(errno));
        return;
    }
    if ((size_t)n > c->expect.len - c->exp_pos ||
        memcmp(tmp, c->expect.data + c->exp_pos, (size_t)n) != 0) {
        mismatch(g, c, tmp, (size_t)n);
        return;
    }
    c->exp_pos += (size_t)n;
    complete_replies(g, c);
    refill(g, c);
}

static void on_connected(struct lg *g, struct lconn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        note_error(g, "connection %u: connect: %s", c->id, strerror(err));
        close_conn(g, c, "connect failed");
        return;
    }
    c->connected = true;
    g->pending_connects--;
    g->st->connected++;
    set_events(g, c, EPOLLIN);
}

static void on_event(struct lg *g, struct lconn *c, uint32_t events)
{
    if (c->closed)
        return;
    if (!c->connected) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(g, c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(g, c);
    if (!c->closed && (events & EPOLLOUT))
        flush_out(g, c);
}

static int open_conn(struct lg *g, struct lconn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g->cfg->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        note_error(g, "socket %u: %s", c->id, strerror(errno));
        return -1;
    }
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        note_error(g, "connect %u: %s", c->id, strerror(errno));
        close(c->fd);
        return -1;
    }
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &ev);
    g->pending_connects++;
    return 0;
}

/* One pass of the loop: wait a little, handle what is ready. */
static void poll_once(struct lg *g)
{
    struct epoll_event evs[256];
    int n = epoll_wait(g->ep, evs, 256, 10);
    for (int i = 0; i < n; i++)
        on_event(g, evs[i].data.ptr, evs[i].events);
}

static int connect_all(struct lg *g)
{
    for (unsigned i = 0; i < g->cfg->clients; i++) {
        struct lconn *c = &g->conns[i];
        c->id = i;
        c->rng = g->cfg->seed ^ (0x5851f42d4c957f2dull * (i + 1));
        for (unsigned k = 0; k < KEYS_PER_CONN; k++)
            c->keys[k].len = -1;
        buf_init(&c->out, 0);
        buf_init(&c->expect, 0);
        if (open_conn(g, c) != 0) {
            c->closed = true;
            return -1;
        }
    }
    long long end = ms_now() + CONNECT_MS;
    while (g->pending_connects && ms_now() < end)
        poll_once(g);
    if (g->st->connected < g->cfg->clients) {
        note_error(g, "only %u of %u connections established", g->st->connected, g->cfg->clients);
        return -1;
    }
    return 0;
}

static void run_load(struct lg *g)
{
    long long start = ms_now(), stop_at = start + g->cfg->run_ms;
    g->generating = true;
    for (unsigned i = 0; i < g->cfg->clients; i++)
        refill(g, &g->conns[i]);
    while (ms_now() < stop_at && !(g->cfg->stop && atomic_load(g->cfg->stop)) && g->inflight)
        poll_once(g);
    g->generating = false;
    long long drain_end = ms_now() + g->cfg->drain_ms;
    while (g->inflight && ms_now() < drain_end)
        poll_once(g);
    g->st->elapsed_ms = ms_now() - start;
    for (unsigned i = 0; i < g->cfg->clients; i++)
        g->st->unfinished += !g->conns[i].closed && g->conns[i].inflight > 0;
}

int loadgen_run(const struct loadgen_config *cfg, struct loadgen_stats *st)
{
    memset(st, 0, sizeof(*st));
    struct lg g = {.cfg = cfg, .st = st};
    st->acked = calloc(cfg->clients, sizeof(*st->acked));
    g.conns = calloc(cfg->clients, sizeof(*g.conns));
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    int rc = -1;
    if (!st->acked || !g.conns || g.ep < 0 || cfg->depth < 1 || cfg->depth > MAX_DEPTH) {
        note_error(&g, "loadgen setup failed");
    } else if (connect_all(&g) == 0) {
        run_load(&g);
        rc = 0;
    }
    for (unsigned i = 0; g.conns && i < cfg->clients; i++) {
        if (!g.conns[i].closed && g.conns[i].fd > 0)
            close(g.conns[i].fd);
        buf_free(&g.conns[i].out);
        buf_free(&g.conns[i].expect);
    }
    free(g.conns);
    if (g.ep >= 0)
        close(g.ep);
    return rc;
}

unsigned long loadgen_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (unsigned long)rl.rlim_cur;
}
