/*
 * One client connection: read, parse, execute, send; see conn.h.
 */
#include "conn.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commands.h"
#include "get_run.h"
#include "idle.h"
#include "log.h"
#include "worker.h"

static void conn_set_events(struct conn *c, uint32_t events)
{
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = events;
    else
        log_msg(LL_WARN, "epoll_ctl on client %llu: %s", (unsigned long long)c->sess.id,
                strerror(errno));
}

struct conn *conn_create(struct worker *w, int fd)
{
    struct server *srv = w->srv;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    bool need_auth = srv->cfg->requirepass != NULL;
    c->fd = fd;
    c->w = w;
    buf_init(&c->in, w->query_limit);
    buf_init(&c->out, 0); /* its limit is set before each request: see execute() */
    resp_parser_init(&c->parser, need_auth ? &w->limits_unauth : &w->limits);
    c->sess = (struct session){
        .srv = srv,
        .out = &c->out,
        .worker = w->index,
        .id = atomic_fetch_add(&srv->next_client_id, 1),
        .fd = fd,
        .created = time(NULL),
        .authed = !need_auth,
    };
    c->events = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        resp_parser_free(&c->parser);
        free(c);
        return NULL;
    }
    idle_link(w, c);
    w->nconns++;
    stat_add(&w->stats.connections, 1);
    log_msg(LL_DEBUG, "client %llu connected (fd %d)", (unsigned long long)c->sess.id, fd);
    return c;
}

void conn_free(struct conn *c)
{
    free(c);
}

void conn_close(struct conn *c)
{
    struct worker *w = c->w;
    if (c->flags & CONN_DEAD)
        return;
    c->flags |= CONN_DEAD;
    log_msg(LL_DEBUG, "client %llu closed", (unsigned long long)c->sess.id);
    close(c->fd); /* also removes it from the epoll set */
    idle_unlink(w, c);
    w->nconns--;
    atomic_fetch_sub(&w->srv->clients, 1);
    c->in.len = 0;
    c->out.len = 0;
    bufpool_give(&w->pool, &c->in);
    bufpool_give(&w->pool, &c->out);
    resp_parser_free(&c->parser);
    free(c->sess.name);
    free(c->sess.lib_name);
    free(c->sess.lib_ver);
    c->sess.name = c->sess.lib_name = c->sess.lib_ver = NULL;
    if (!(c->flags & CONN_PENDING))
        conn_free(c);
}

static void protocol_error(struct conn *c, const char *what)
{
    stat_add(&c->w->stats.protocol_errors, 1);
    log_msg(LL_DEBUG, "client %llu: protocol error: %s", (unsigned long long)c->sess.id, what);
    resp_add_errorf(&c->out, "ERR Protocol error: %s", what);
    c->sess.close_after_reply = true;
    c->in_pos = c->in.len; /* the rest of the stream cannot be trusted */
}

/*
 * The output limit (--client-output-limit) counts unsent bytes: the buffer
 * may hold that many beyond what was already sent. Requests run only below
 * CONN_OUT_SOFT_LIMIT unsent, which the limit is never below, so the new
 * limit is never under what the buffer holds.
 */
static void limit_output(struct conn *c)
{
    size_t lim = c->w->output_limit;
    c->out.limit = lim > SIZE_MAX - c->out_pos ? SIZE_MAX : c->out_pos + lim;
}

/*
 * After a request's reply was appended (from before): if it did not fit
 * (output limit or ENOMEM), then as Redis past its hard limit the client is
 * dropped; first it gets the replies to its earlier requests (less than
 * CONN_OUT_SOFT_LIMIT), none for this one. Returns true when it fitted.
 */
static bool reply_fitted(struct conn *c, size_t before)
{
    if (!buf_failed(&c->out))
        return true;
    log_msg(LL_WARN, "client %llu: replies over the output limit (%zu bytes) or out of "
                     "memory: closing it", (unsigned long long)c->sess.id, c->w->output_limit);
    stat_add(&c->w->stats.output_closed, 1);
    buf_truncate(&c->out, before);
    c->out.failed = false;
    c->sess.close_after_reply = true;
    return false;
}

static void execute(struct conn *c, const struct resp_request *req)
{
    struct worker *w = c->w;
    bool was_authed = c->sess.authed;
    size_t before = c->out.len;
    limit_output(c);
    commands_execute(&c->sess, req);
    stat_add(&w->stats.commands, 1);
    if (!was_authed && c->sess.authed)
        resp_parser_set_limits(&c->parser, &w->limits);
    reply_fitted(c, before);
}

/*
 * Answer the GETs gathered (get_run.h), in order, as execute would one by
 * one: a reply that does not fit closes the client, and the GETs after it
 * are not answered. Their values are bounded by what the connection may
 * still buffer below CONN_OUT_SOFT_LIMIT; the GETs past it are parsed again
 * later: the input goes back to the first of them and true is returned.
 */
static bool answer_gets(struct conn *c, struct get_run *run)
{
    if (run->n == 0)
        return false;
    size_t unsent = c->out.len - c->out_pos;
    limit_output(c);
    get_run_read(&c->sess, run, unsent < CONN_OUT_SOFT_LIMIT ? CONN_OUT_SOFT_LIMIT - unsent : 1);
    bool rewound = false;
    size_t executed = 0;
    while (executed < run->n) {
        size_t before = c->out.len;
        if (!get_run_reply(&c->sess, run, executed)) {
            c->in_pos = run->start[executed];
            resp_parser_restart(&c->parser);
            rewound = true;
            break;
        }
        executed++;
        if (!reply_fitted(c, before))
            break;
    }
    stat_add(&c->w->stats.commands, executed);
    get_run_clear(run);
    return rewound;
}

/* Drop consumed input; give the buffer back to the pool when nothing is left. */
static void settle_input(struct conn *c)
{
    if (c->in_pos == c->in.len) {
        c->in.len = 0;
        c->in_pos = 0;
        bufpool_give(&c->w->pool, &c->in);
    } else if (c->in_pos > 0) {
        buf_consume(&c->in, c->in_pos);
        c->in_pos = 0;
    }
}

/* Answer the gathered GETs before another request. False when that request
 * must not run now: the input went back before it, or the client is being
 * closed (a reply did not fit). */
static bool gets_answered_before(struct conn *c, struct get_run *run)
{
    return !answer_gets(c, run) && !c->sess.close_after_reply;
}

/*
 * Parse the next request and execute it, or gather it if it is a GET
 * (get_run.h): gathered GETs are answered together just before whatever
 * comes next. Their keys stay where they are in the input buffer, which does
 * not move until settle_input. Returns false when nothing more can be done
 * until more input arrives, or ever (protocol error).
 */
static bool next_request(struct conn *c, struct get_run *run)
{
    size_t start = c->in_pos;
    bool multibulk = c->in.data[start] == '*';
    /* an inline request is unescaped in place by the parser, so it must
     * never be parsed twice: the GETs before it are answered first */
    if (run->n > 0 && !multibulk && !gets_answered_before(c, run))
        return true;
    struct resp_request req;
    enum resp_status st =
        resp_parse(&c->parser, c->in.data + start, c->in.len - start, &req);
    if (st == RESP_NEED_MORE)
        return false;
    if (st == RESP_ERROR) {
        if (!gets_answered_before(c, run))
            return true; /* the error comes again, after the GETs before it */
        protocol_error(c, resp_parser_error(&c->parser));
        return false;
    }
    c->in_pos += req.size;
    if (req.argc == 0)
        return true;
    if (multibulk && get_run_accepts(&c->sess, &req)) {
        if (get_run_add(run, &req, start))
            answer_gets(c, run);
        return true;
    }
    if (gets_answered_before(c, run)) /* else req is parsed again later, or never */
        execute(c, &req);
    return true;
}

/* Execute every complete request buffered, up to the output soft limit. */
static void process(struct conn *c)
{
    struct get_run run;
    run.n = 0;
    c->flags &= ~CONN_PAUSED;
    if (c->in_pos < c->in.len && !c->out.data)
        bufpool_take(&c->w->pool, &c->out);
    do {
        while (!c->sess.close_after_reply && c->in_pos < c->in.len) {
            if (c->out.len - c->out_pos >= CONN_OUT_SOFT_LIMIT) {
                c->flags |= CONN_PAUSED;
                break;
            }
            if (!next_request(c, &run))
                break;
        }
    } while (answer_gets(c, &run)); /* went back: carry on from there */
    settle_input(c);
}

void conn_resume(struct conn *c)
{
    c->flags &= ~CONN_RESUME;
    process(c);
}

/*
 * Make room to read into. A request arriving in pieces grows the buffer at
 * most by doubling what has really arrived, whatever length it announced.
 * Returns 0, or -1 after queueing an error (the request is over the limit).
 */
static int prepare_input(struct conn *c)
{
    struct buf *in = &c->in;
    if (!in->data) {
        if (bufpool_take(&c->w->pool, in) == 0)
            return 0;
        c->flags |= CONN_DISCARD; /* out of memory */
        return -1;
    }
    size_t want = resp_parser_wanted(&c->parser, in->len);
    if (buf_room(in) >= 4096 && want <= in->cap)
        return 0;
    if (in->len >= c->w->query_limit) {
        protocol_error(c, "request too large");
        return -1;
    }
    size_t extra = want > in->len ? want - in->len : BUFPOOL_CHUNK;
    size_t most = in->len > BUFPOOL_CHUNK ? in->len : BUFPOOL_CHUNK;
    extra = extra < BUFPOOL_CHUNK ? BUFPOOL_CHUNK : extra > most ? most : extra;
    if (extra > c->w->query_limit - in->len)
        extra = c->w->query_limit - in->len;
    if (buf_reserve_exact(in, extra) != 0) {
        log_msg(LL_WARN, "client %llu: out of memory for its request, closing",
                (unsigned long long)c->sess.id);
        c->flags |= CONN_DISCARD;
        return -1;
    }
    return 0;
}

/* Read once (level-triggered epoll calls again if more is waiting) and execute. */
static void conn_read(struct conn *c)
{
    if (prepare_input(c) != 0)
        return;
    ssize_t n = read(c->fd, c->in.data + c->in.len, buf_room(&c->in));
    if (n > 0) {
        c->in.len += (size_t)n;
        stat_add(&c->w->stats.net_in, (uint64_t)n);
        idle_touch(c->w, c);
        process(c);
    } else if (n == 0) {
        c->flags |= CONN_EOF;
        settle_input(c);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->flags |= CONN_DISCARD;
    } else {
        settle_input(c);
    }
}

void conn_on_event(struct conn *c, uint32_t events)
{
    if (c->flags & CONN_DEAD)
        return;
    if ((c->events & EPOLLIN) && !c->w->stopping && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_read(c);
    worker_mark_pending(c->w, c);
}

/* Send what is buffered. Returns 1 when all is sent, 0 if the socket is full, -1 on error. */
static int send_output(struct conn *c)
{
    while (c->out_pos < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_pos, c->out.len - c->out_pos, MSG_NOSIGNAL);
        if (n >= 0) {
            c->out_pos += (size_t)n;
            stat_add(&c->w->stats.net_out, (uint64_t)n);
            idle_touch(c->w, c);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        } else if (errno != EINTR) {
            return -1;
        }
    }
    c->out.len = 0;
    c->out_pos = 0;
    bufpool_give(&c->w->pool, &c->out);
    return 1;
}

void conn_flush(struct conn *c)
{
    c->sess.wrote = false;
    if (c->flags & CONN_DISCARD) {
        conn_close(c);
        return;
    }
    int r = send_output(c);
    if (r < 0) {
        conn_close(c);
        return;
    }
    if (r == 0) {
        conn_set_events(c, EPOLLOUT); /* stop reading until the client catches up */
        return;
    }
    if (c->sess.close_after_reply) {
        conn_close(c);
    } else if (c->flags & CONN_PAUSED) {
        c->flags |= CONN_RESUME;
        conn_set_events(c, 0);
        worker_mark_pending(c->w, c);
    } else if ((c->flags & CONN_EOF) || c->w->stopping) {
        conn_close(c); /* nothing left to answer */
    } else {
        conn_set_events(c, EPOLLIN);
    }
}
