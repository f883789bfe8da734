/*
 * The runner of run.h: posix_spawn with three pipes and one poll loop that
 * writes stdin and drains stdout and stderr together (a tool that answers a
 * large input with a large output would otherwise deadlock against us).
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct sink {
    char *p;
    size_t len, cap;
};

static long long clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read what is there; 1 at EOF, 0 otherwise, -1 on failure. */
static int drain(int fd, struct sink *s)
{
    if (s->cap - s->len < 65536 + 1) {
        size_t cap = s->cap ? s->cap * 2 : 131072;
        char *p = realloc(s->p, cap);
        if (!p)
            return -1;
        s->p = p;
        s->cap = cap;
    }
    ssize_t n = read(fd, s->p + s->len, 65536);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    s->len += (size_t)n;
    s->p[s->len] = '\0';
    return n == 0;
}

static pid_t spawn(const char *const *argv, int in, int out, int err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, err, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

/* The poll loop; returns 1 if the time ran out. */
static int pump(int fds[3], const char *in, size_t in_len, long long deadline,
                struct sink *out, struct sink *err)
{
    size_t sent = 0;
    if (in_len == 0) {
        close(fds[0]);
        fds[0] = -1;
    }
    while (fds[1] >= 0 || fds[2] >= 0) {
        long long left = deadline - clock_ms();
        if (left <= 0)
            return 1;
        struct pollfd p[3] = {{fds[0], POLLOUT, 0}, {fds[1], POLLIN, 0}, {fds[2], POLLIN, 0}};
        if (poll(p, 3, (int)left) < 0 && errno != EINTR)
            return 1;
        if (fds[0] >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(fds[0], in + sent, in_len - sent);
            if (n > 0)
                sent += (size_t)n;
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == in_len) {
                close(fds[0]); /* done, or the program stopped reading */
                fds[0] = -1;
            }
        }
        for (int i = 1; i < 3; i++)
            if (fds[i] >= 0 && (p[i].revents & (POLLIN | POLLERR | POLLHUP)) &&
                drain(fds[i], i == 1 ? out : err) != 0) {
                close(fds[i]);
                fds[i] = -1;
            }
    }
    return 0;
}

int run_prog(const char *const *argv, const void *in, size_t in_len, int timeout_ms,
             struct run *r)
{
    memset(r, 0, sizeof(*r));
    int pin[2], pout[2], perr[2];
    if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC))
        return -1;
    signal(SIGPIPE, SIG_IGN); /* a tool that exits before reading all its input */
    pid_t pid = spawn(argv, pin[0], pout[1], perr[1]);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    if (pid < 0) {
        close(pin[1]);
        close(pout[0]);
        close(perr[0]);
        return -1;
    }
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    int fds[3] = {pin[1], pout[0], perr[0]};
    struct sink out = {0}, err = {0};
    int timed_out = pump(fds, in, in ? in_len : 0, clock_ms() + timeout_ms, &out, &err);
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (timed_out)
        kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    r->status = timed_out ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = out.p ? out.p : calloc(1, 1);
    r->out_len = out.len;
    r->err = err.p ? err.p : calloc(1, 1);
    r->err_len = err.len;
    return 0;
}

void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}
