/* Listening socket and accept loop; see acceptor.h. */
#include "acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker.h"

#define BACKLOG 511
/* Connections accepted per wakeup, so signals are still noticed under a flood. */
#define ACCEPT_BATCH 128
/* TCP keepalive, as Redis's default tcp-keepalive 300: a peer that vanished
 * (half-open connection) is found after about 300 + 3 x 100 seconds. */
#define KEEPALIVE_IDLE_S 300
#define KEEPALIVE_INTERVAL_S 100
#define KEEPALIVE_PROBES 3

int acceptor_listen(const struct addr *a, struct addr *bound)
{
    char text[ADDR_STR_MAX];
    addr_format(a, text, sizeof(text));
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_msg(LL_ERROR, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->family == AF_INET6) /* [::] means IPv6 only; bind 0.0.0.0 for IPv4 */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 || listen(fd, BACKLOG) != 0) {
        log_msg(LL_ERROR, "cannot listen on %s: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        addr_from_sockaddr(bound, &ss, len) != 0) {
        log_msg(LL_ERROR, "getsockname: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Redis's answer when maxclients is reached, then close. */
static void refuse(struct server *srv, int fd)
{
    static const char msg[] = "-ERR max number of clients reached\r\n";
    ssize_t n = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    close(fd);
    atomic_fetch_sub(&srv->clients, 1);
    atomic_fetch_add(&srv->rejected, 1);
}

struct acceptor {
    struct server *srv;
    int listen_fd;
    int spare_fd;      /* held open to recover from EMFILE (see accept_one) */
    unsigned next;     /* round-robin position */
    bool emfile_logged;
};

/* No Nagle delay; keepalive probes to find peers that vanished. */
static void tune_socket(int fd)
{
    int one = 1, idle = KEEPALIVE_IDLE_S, intvl = KEEPALIVE_INTERVAL_S, cnt = KEEPALIVE_PROBES;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* Accept one connection. Returns 1 if one was handled, 0 when none is waiting. */
static int accept_one(struct acceptor *a)
{
    struct server *srv = a->srv;
    int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED)
            return 1;
        if ((errno == EMFILE || errno == ENFILE) && a->spare_fd >= 0) {
            /* Out of descriptors: free the spare to accept and drop the client,
             * else the listener stays readable and the loop spins. */
            if (!a->emfile_logged)
                log_msg(LL_WARN, "out of file descriptors: dropping new connections");
            a->emfile_logged = true;
            close(a->spare_fd);
            fd = accept(a->listen_fd, NULL, NULL);
            if (fd >= 0)
                close(fd);
            a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            return fd >= 0;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_msg(LL_WARN, "accept: %s", strerror(errno));
        return 0;
    }
    a->emfile_logged = false;
    if (atomic_fetch_add(&srv->clients, 1) >= srv->cfg->max_clients) {
        refuse(srv, fd);
        return 1;
    }
    tune_socket(fd);
    struct worker *w = srv->workers[a->next++ % srv->nworkers];
    if (worker_hand_off(w, fd) != 0) {
        close(fd);
        atomic_fetch_sub(&srv->clients, 1);
    }
    return 1;
}

static int watch(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void report_signal(int sfd)
{
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        log_msg(LL_INFO, "received %s, shutting down", strsignal((int)si.ssi_signo));
}

int acceptor_run(struct server *srv, int listen_fd, const sigset_t *sigs)
{
    struct acceptor a = {.srv = srv, .listen_fd = listen_fd};
    a.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int sfd = signalfd(-1, sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int rc = -1;
    if (sfd < 0 || epfd < 0 || watch(epfd, listen_fd) || watch(epfd, sfd) ||
        watch(epfd, srv->wake_fd)) {
        log_msg(LL_ERROR, "acceptor setup: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        struct epoll_event evs[4];
        int n = epoll_wait(epfd, evs, 4, -1);
        if (n < 0 && errno != EINTR) {
            log_msg(LL_ERROR, "epoll_wait: %s", strerror(errno));
            goto out;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == sfd) {
                report_signal(sfd);
                rc = 0;
                goto out;
            }
            if (evs[i].data.fd == srv->wake_fd) {
                rc = 0;
                goto out;
            }
            for (int k = 0; k < ACCEPT_BATCH && accept_one(&a); k++)
                ;
        }
    }
out:
    if (epfd >= 0)
        close(epfd);
    if (sfd >= 0)
        close(sfd);
    if (a.spare_fd >= 0)
        close(a.spare_fd);
    return rc;
}
